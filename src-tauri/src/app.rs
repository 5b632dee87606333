//! The desktop app's state and every operation the commands expose, independent of Tauri so it
//! can be tested directly and through the mock runtime.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, TryLockError};
use std::time::{Duration, Instant};

use docent_engine::{
    AskRequest, CancelFlag, ChunkConfig, CitationMode, DeviceChoice, DocFilter, Engine,
    EngineError, Llm, LlmOptions, PathPolicy, Refusal, SamplingParams, SearchRequest,
    check_question, inspect_gguf,
};
use docent_ipc::{
    self as ipc, AnswerEvent, AnswerResult, AnswerStage, ApiError, AppInfo, ConversationInfo,
    Device, DocumentInfo, ErrorKind, FolderInfo, IndexProgress, MessageInfo, ModelInfo, Notice,
    NoticeLevel, PickKind, SearchResponse, Settings,
};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::convert;
use crate::indexer::Indexer;
use crate::locks::lock;
use crate::paths;
use crate::shell::Shell;
use crate::watch::{self, Watcher};

const ROOTS_KEY: &str = "desktop.roots";
const SETTINGS_KEY: &str = "desktop.settings";
/// The answer model's path, set only from the native dialog or a drop (never by the page).
const MODEL_KEY: &str = "desktop.model";
/// How long a removed folder can be brought back with Undo.
const UNDO_WINDOW: Duration = Duration::from_secs(120);
/// The command that fetches the default models.
pub const SETUP_COMMAND: &str = "scripts/setup --models";

/// A folder or file the user added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Root {
    /// Canonical.
    pub path: PathBuf,
    pub is_dir: bool,
    pub watching: bool,
}

/// Cheap to clone; every clone is the same app.
#[derive(Clone)]
pub struct Docent {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    shell: Arc<dyn Shell>,
    indexer: Indexer,
    roots: Mutex<Vec<Root>>,
    removed: Mutex<Vec<(Root, Instant)>>,
    settings: Mutex<Settings>,
    watcher: Mutex<Option<Watcher>>,
    answer_cancel: CancelFlag,
    answering: Mutex<()>,
}

fn engine_error(error: EngineError) -> ApiError {
    let kind = match &error {
        EngineError::ModelMissing { .. } => ErrorKind::ModelMissing,
        EngineError::Invalid(_) => ErrorKind::Invalid,
        EngineError::Io { .. } => ErrorKind::Io,
        _ if error.is_user_error() => ErrorKind::Invalid,
        _ => ErrorKind::Internal,
    };
    let mut message = error.to_string();
    if kind == ErrorKind::ModelMissing {
        message.push_str(&format!(
            " Fetch the default models with `{SETUP_COMMAND}`."
        ));
    }
    ApiError::new(kind, message)
}

type ApiResult<T> = Result<T, ApiError>;

impl Docent {
    /// Wraps an open engine: loads the saved folders and settings, applies the settings to the
    /// engine, starts the indexing queue and watches the watched folders.
    pub fn new(engine: Engine, shell: Arc<dyn Shell>) -> ApiResult<Docent> {
        let roots: Vec<Root> = engine
            .setting(ROOTS_KEY)
            .map_err(engine_error)?
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default();
        let defaults = default_settings(&engine);
        let (settings, legacy_model) = stored_settings(
            engine
                .setting(SETTINGS_KEY)
                .map_err(engine_error)?
                .as_deref(),
            defaults,
        );
        let model = match engine.setting(MODEL_KEY).map_err(engine_error)? {
            Some(model) => Some(model),
            None => {
                // Kept under its own key before the next save drops it from the settings.
                if let Some(legacy) = &legacy_model {
                    engine
                        .set_setting(MODEL_KEY, legacy)
                        .map_err(engine_error)?;
                }
                legacy_model
            }
        };
        // Without a stored choice the engine keeps its configured (default) model.
        if let Some(model) = model {
            let (_, options) = engine.llm_choice();
            engine.set_llm(PathBuf::from(model), options);
        }
        let indexer = Indexer::start(engine.clone(), shell.clone());
        let docent = Docent {
            inner: Arc::new(Inner {
                engine,
                shell,
                indexer,
                roots: Mutex::new(roots),
                removed: Mutex::new(Vec::new()),
                settings: Mutex::new(settings.clone()),
                watcher: Mutex::new(None),
                answer_cancel: CancelFlag::default(),
                answering: Mutex::new(()),
            }),
        };
        docent.apply_settings(&settings);
        Ok(docent)
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub fn indexer(&self) -> &Indexer {
        &self.inner.indexer
    }

    /// Starts watching the watched folders; changes are indexed through the queue.
    pub fn start_watching(&self) {
        let screen_weak = Arc::downgrade(&self.inner);
        let weak = Arc::downgrade(&self.inner);
        let watcher = Watcher::new(
            move |paths| match screen_weak.upgrade() {
                Some(inner) => Docent { inner }.screen_changes(paths),
                None => Vec::new(),
            },
            move |paths| {
                if let Some(inner) = weak.upgrade() {
                    Docent { inner }.on_changes(paths);
                }
            },
        );
        let watcher = match watcher {
            Ok(watcher) => watcher,
            Err(error) => {
                self.notice(
                    NoticeLevel::Warning,
                    format!("Folders cannot be watched: {error}"),
                );
                return;
            }
        };
        for root in self.roots() {
            if root.is_dir && root.watching {
                self.watch_root(&watcher, &root.path);
            }
        }
        *lock(&self.inner.watcher) = Some(watcher);
    }

    /// Starts watching an added folder whose toggle is on (once the watcher runs).
    fn watch_if_watched(&self, root: &Root) {
        if root.is_dir
            && root.watching
            && let Some(watcher) = lock(&self.inner.watcher).as_ref()
        {
            self.watch_root(watcher, &root.path);
        }
    }

    fn watch_root(&self, watcher: &Watcher, folder: &Path) {
        if let Err(error) = watcher.watch(folder) {
            self.notice(
                NoticeLevel::Warning,
                format!("{} cannot be watched: {error}", folder.display()),
            );
        }
    }

    /// The engine's path policy over the watched folders: a change counts only under one of
    /// them, by the walk's rules.
    fn watch_policy(&self) -> PathPolicy {
        let watched: Vec<PathBuf> = self
            .roots()
            .into_iter()
            .filter(|r| r.is_dir && r.watching)
            .map(|r| r.path)
            .collect();
        self.engine().path_policy(&watched)
    }

    /// Drops what the policy refuses from a batch of changes as soon as the OS reports it.
    fn screen_changes(&self, paths: Vec<PathBuf>) -> Vec<PathBuf> {
        let policy = self.watch_policy();
        paths
            .into_iter()
            .filter(|path| policy.screen(path).is_ok())
            .collect()
    }

    fn on_changes(&self, paths: Vec<PathBuf>) {
        let changes = watch::classify(paths, &self.watch_policy());
        if !changes.gone.is_empty() {
            // Only what the library holds at or under a gone path is removed.
            match self.engine().remove(&changes.gone) {
                Ok(removed) if !removed.is_empty() => self.inner.shell.library_changed("removed"),
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "removing deleted files"),
            }
        }
        if !changes.present.is_empty() {
            let label = label_for(&changes.present);
            self.inner
                .indexer
                .enqueue(label, self.root_paths(), changes.present);
        }
    }

    fn notice(&self, level: NoticeLevel, message: String) {
        self.inner.shell.notice(&Notice { level, message });
    }

    pub fn roots(&self) -> Vec<Root> {
        lock(&self.inner.roots).clone()
    }

    fn root_paths(&self) -> Vec<PathBuf> {
        self.roots().into_iter().map(|r| r.path).collect()
    }

    fn save_roots(&self, roots: &[Root]) -> ApiResult<()> {
        let json = serde_json::to_string(roots).expect("roots serialise");
        self.engine()
            .set_setting(ROOTS_KEY, &json)
            .map_err(engine_error)
    }

    /// Adds files and folders the user chose (dialog or drop) and queues their indexing.
    /// Dropped `.gguf` files become the answer model instead. Returns the paths added.
    pub fn add_paths(&self, paths: Vec<PathBuf>) -> ApiResult<Vec<String>> {
        let mut added = Vec::new();
        let mut new_roots = Vec::new();
        for path in paths {
            let canonical = match path.canonicalize() {
                Ok(canonical) => canonical,
                Err(error) => {
                    self.notice(
                        NoticeLevel::Error,
                        format!("{} cannot be added: {error}", path.display()),
                    );
                    continue;
                }
            };
            let is_dir = canonical.is_dir();
            if !is_dir && has_extension(&canonical, "gguf") {
                self.use_model(&canonical)?;
                continue;
            }
            let own = self.engine().path_policy(std::slice::from_ref(&canonical));
            if let Err(refusal @ Refusal::DataFolder) = own.screen(&canonical) {
                self.notice(
                    NoticeLevel::Error,
                    format!("{} cannot be added: {refusal}", path.display()),
                );
                continue;
            }
            new_roots.push(Root {
                path: canonical.clone(),
                is_dir,
                watching: is_dir,
            });
            added.push(canonical);
        }
        if added.is_empty() {
            return Ok(Vec::new());
        }
        {
            let mut roots = lock(&self.inner.roots);
            for root in new_roots {
                // A path already covered by a folder adds nothing new to the list.
                if roots
                    .iter()
                    .any(|r| r.is_dir && paths::is_under(&root.path, &r.path))
                {
                    continue;
                }
                // A folder that contains earlier roots replaces them.
                if root.is_dir {
                    roots.retain(|r| !paths::is_under(&r.path, &root.path));
                }
                self.watch_if_watched(&root);
                roots.push(root);
            }
            self.save_roots(&roots)?;
        }
        // A path inside a folder already added is indexed by that folder's rules.
        let label = label_for(&added);
        self.inner
            .indexer
            .enqueue(label, self.root_paths(), added.clone());
        self.inner.shell.library_changed("added");
        Ok(added
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect())
    }

    pub fn pick_and_add(&self, kind: PickKind) -> ApiResult<Vec<String>> {
        let picked = self.inner.shell.pick(kind);
        self.add_paths(picked)
    }

    pub fn documents(&self) -> ApiResult<Vec<DocumentInfo>> {
        let rows = self
            .engine()
            .documents(&DocFilter::default())
            .map_err(engine_error)?;
        Ok(rows.into_iter().map(convert::document).collect())
    }

    pub fn folders(&self) -> ApiResult<Vec<FolderInfo>> {
        let documents = self.documents()?;
        Ok(self
            .roots()
            .into_iter()
            .filter(|r| r.is_dir)
            .map(|r| FolderInfo {
                documents: documents
                    .iter()
                    .filter(|d| paths::is_under(Path::new(&d.path), &r.path))
                    .count() as u32,
                exists: r.path.is_dir(),
                path: r.path.to_string_lossy().into_owned(),
                watching: r.watching,
            })
            .collect())
    }

    pub fn set_watching(&self, path: &str, watching: bool) -> ApiResult<()> {
        let path = paths::allowed(path, &self.root_paths())?;
        let mut roots = lock(&self.inner.roots);
        let Some(root) = roots.iter_mut().find(|r| r.is_dir && r.path == path) else {
            return Err(ApiError::new(
                ErrorKind::Invalid,
                format!("{} is not one of your folders.", path.display()),
            ));
        };
        root.watching = watching;
        if let Some(watcher) = lock(&self.inner.watcher).as_ref() {
            if watching {
                self.watch_root(watcher, &path);
            } else {
                watcher.unwatch(&path);
            }
        }
        self.save_roots(&roots)?;
        drop(roots);
        if watching {
            // Catch up with what changed while the folder was not watched.
            self.inner.indexer.enqueue(
                label_for(std::slice::from_ref(&path)),
                self.root_paths(),
                vec![path],
            );
        }
        self.inner.shell.library_changed("folders");
        Ok(())
    }

    /// Removes documents (and, for an added folder or file, forgets it). Returns how many
    /// documents left the library.
    pub fn remove_paths(&self, requested: &[String]) -> ApiResult<u32> {
        let roots = self.root_paths();
        let checked = requested
            .iter()
            .map(|p| paths::allowed(p, &roots))
            .collect::<ApiResult<Vec<_>>>()?;
        let removed = self.engine().remove(&checked).map_err(engine_error)?;
        {
            let mut roots = lock(&self.inner.roots);
            let mut undo = lock(&self.inner.removed);
            let watcher = lock(&self.inner.watcher);
            roots.retain(|root| {
                let forget = checked.contains(&root.path);
                if forget {
                    if let Some(watcher) = watcher.as_ref() {
                        watcher.unwatch(&root.path);
                    }
                    undo.push((root.clone(), Instant::now()));
                }
                !forget
            });
            self.save_roots(&roots)?;
        }
        self.inner.shell.library_changed("removed");
        Ok(removed.len() as u32)
    }

    /// Indexes files or folders inside the user's folders again; a folder or file removed in
    /// the last two minutes is added back (the Undo of a removal).
    pub fn reindex(&self, requested: &[String]) -> ApiResult<()> {
        let mut restored = Vec::new();
        {
            let mut undo = lock(&self.inner.removed);
            undo.retain(|(_, at)| at.elapsed() < UNDO_WINDOW);
            for path in requested {
                if let Some(idx) = undo
                    .iter()
                    .position(|(root, _)| root.path.as_os_str() == path.as_str())
                {
                    restored.push(undo.remove(idx).0);
                }
            }
        }
        if !restored.is_empty() {
            let mut roots = lock(&self.inner.roots);
            for root in restored {
                self.watch_if_watched(&root);
                roots.push(root);
            }
            self.save_roots(&roots)?;
        }
        let roots = self.root_paths();
        let checked = requested
            .iter()
            .map(|p| paths::allowed(p, &roots))
            .collect::<ApiResult<Vec<_>>>()?;
        if checked.is_empty() {
            return Ok(());
        }
        self.inner
            .indexer
            .enqueue(label_for(&checked), roots, checked);
        self.inner.shell.library_changed("reindex");
        Ok(())
    }

    pub fn index_state(&self) -> Option<IndexProgress> {
        self.inner.indexer.state()
    }

    pub fn open_path(&self, path: &str, page: Option<u32>, line: Option<u32>) -> ApiResult<()> {
        let path = paths::allowed(path, &self.root_paths())?;
        if !path.exists() {
            return Err(ApiError::new(
                ErrorKind::Io,
                format!("{} is no longer on disk.", path.display()),
            ));
        }
        if crate::open::open_at(&path, page, line) {
            return Ok(());
        }
        self.inner.shell.open_path(&path).map_err(|e| {
            ApiError::new(
                ErrorKind::Io,
                format!("Cannot open {}: {e}", path.display()),
            )
        })
    }

    pub fn reveal_path(&self, path: &str) -> ApiResult<()> {
        let path = paths::allowed(path, &self.root_paths())?;
        self.inner.shell.reveal_path(&path).map_err(|e| {
            ApiError::new(
                ErrorKind::Io,
                format!("Cannot show {}: {e}", path.display()),
            )
        })
    }

    /// Opens a link from an answer, after the user confirmed it in the page: https only.
    pub fn open_link(&self, url: &str) -> ApiResult<()> {
        let Some(parsed) = https_url(url) else {
            return Err(ApiError::new(
                ErrorKind::NotAllowed,
                format!(
                    "Docent only opens https links to a web address, not {}.",
                    shorten(url, 200)
                ),
            ));
        };
        self.inner.shell.open_url(parsed.as_str()).map_err(|e| {
            ApiError::new(
                ErrorKind::Io,
                format!("Cannot open {}: {e}", shorten(parsed.as_str(), 200)),
            )
        })
    }

    pub fn search(&self, query: &str, limit: u32) -> ApiResult<SearchResponse> {
        let query = query.trim();
        if query.is_empty() {
            return Ok(SearchResponse {
                query: String::new(),
                terms: Vec::new(),
                results: Vec::new(),
            });
        }
        let mut request = SearchRequest::new(query);
        request.top_k = limit.clamp(1, 100) as usize;
        let hits = self.engine().search(&request).map_err(engine_error)?;
        Ok(SearchResponse {
            query: query.to_string(),
            terms: convert::terms(query),
            results: hits
                .into_iter()
                .map(|hit| ipc::Passage {
                    n: 0,
                    name: convert::file_name(&hit.path),
                    path: hit.path,
                    title: hit.title,
                    page: hit.page,
                    line_start: hit.line_start,
                    line_end: hit.line_end,
                    text: hit.text,
                    score: hit.score,
                })
                .collect(),
        })
    }

    /// Answers a question, streaming through `send`; starts a conversation when none is given.
    pub fn ask(
        &self,
        question: &str,
        conversation: Option<i64>,
        send: &mut dyn FnMut(AnswerEvent),
    ) -> ApiResult<AnswerResult> {
        // Checked before anything is stored or loaded: an empty or over-long question (a pasted
        // megabyte) is refused at once, with the engine's reason.
        let question = check_question(question).map_err(engine_error)?;
        let _answering = match self.inner.answering.try_lock() {
            Ok(guard) => guard,
            // An earlier answer panicked (the command reported it); the lock guards nothing
            // but "one answer at a time", which still holds.
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => {
                return Err(ApiError::new(
                    ErrorKind::Busy,
                    "Docent is still answering the previous question.",
                ));
            }
        };
        self.inner.answer_cancel.reset();
        let engine = self.engine();
        let conversation_id = match conversation {
            Some(id) => id,
            None => engine
                .create_conversation(&conversation_title(question))
                .map_err(engine_error)?,
        };
        if !engine.llm_is_loaded() {
            send(AnswerEvent::Stage {
                stage: AnswerStage::LoadingModel,
            });
            engine.llm().map_err(engine_error)?;
        }
        send(AnswerEvent::Stage {
            stage: AnswerStage::Retrieving,
        });
        let settings = self.settings();
        let mut request = AskRequest::new(question);
        request.top_k = settings.top_k.max(1) as usize;
        request.conversation = Some(conversation_id);
        request.sampling = SamplingParams {
            temperature: f64::from(settings.temperature.max(0.0)),
            ..request.sampling
        };
        let mut first = true;
        let answer = engine
            .ask(
                &request,
                &mut |text: &str| {
                    if first {
                        first = false;
                        send(AnswerEvent::Stage {
                            stage: AnswerStage::Generating,
                        });
                    }
                    send(AnswerEvent::Token {
                        text: text.to_string(),
                    });
                },
                &self.inner.answer_cancel,
            )
            .map_err(engine_error)?;
        let stopped = self.inner.answer_cancel.is_cancelled();
        Ok(AnswerResult {
            conversation_id,
            question: question.to_string(),
            terms: convert::terms(&answer.query),
            citations: match answer.citation_mode {
                CitationMode::Attributed => &answer.attributed,
                _ => &answer.citations,
            }
            .iter()
            .map(convert::passage)
            .collect(),
            citation_mode: match answer.citation_mode {
                CitationMode::Model => ipc::CitationMode::Model,
                CitationMode::Attributed => ipc::CitationMode::Attributed,
                CitationMode::None => ipc::CitationMode::None,
            },
            sources: answer.sources.iter().map(convert::passage).collect(),
            cited: answer.cited,
            found: answer.found,
            stopped,
            timings: ipc::AnswerTimings {
                retrieve_ms: answer.timings.retrieve_ms,
                prompt_tokens: answer.timings.prompt_tokens as u32,
                first_token_ms: answer.timings.first_token_ms,
                tokens_per_s: answer.timings.tokens_per_s,
            },
            removed: answer.removed.iter().map(convert::removed).collect(),
            answer: answer.answer,
        })
    }

    pub fn stop_answer(&self) {
        self.inner.answer_cancel.cancel();
    }

    pub fn conversations(&self) -> ApiResult<Vec<ConversationInfo>> {
        let rows = self.engine().conversations().map_err(engine_error)?;
        Ok(rows.into_iter().map(convert::conversation).collect())
    }

    pub fn conversation_messages(&self, id: i64) -> ApiResult<Vec<MessageInfo>> {
        let rows = self
            .engine()
            .conversation_messages(id)
            .map_err(engine_error)?;
        Ok(rows.into_iter().map(convert::message).collect())
    }

    pub fn new_conversation(&self) -> ApiResult<ConversationInfo> {
        let engine = self.engine();
        let id = engine
            .create_conversation("New chat")
            .map_err(engine_error)?;
        self.conversations()?
            .into_iter()
            .find(|c| c.id == id)
            .ok_or_else(|| ApiError::new(ErrorKind::Internal, "the new conversation is missing"))
    }

    pub fn rename_conversation(&self, id: i64, title: &str) -> ApiResult<()> {
        let title = title.trim();
        if title.is_empty() {
            return Err(ApiError::new(ErrorKind::Invalid, "A chat needs a name."));
        }
        let renamed = self
            .engine()
            .rename_conversation(id, title)
            .map_err(engine_error)?;
        if renamed {
            Ok(())
        } else {
            Err(no_conversation(id))
        }
    }

    pub fn delete_conversation(&self, id: i64) -> ApiResult<()> {
        let deleted = self
            .engine()
            .delete_conversation(id)
            .map_err(engine_error)?;
        if deleted {
            Ok(())
        } else {
            Err(no_conversation(id))
        }
    }

    pub fn settings(&self) -> Settings {
        lock(&self.inner.settings).clone()
    }

    /// Saves the page's settings. They never name the model: see [`Docent::use_model`].
    pub fn save_settings(&self, settings: Settings) -> ApiResult<AppInfo> {
        validate_settings(&settings)?;
        let json = serde_json::to_string(&settings).expect("settings serialise");
        self.engine()
            .set_setting(SETTINGS_KEY, &json)
            .map_err(engine_error)?;
        self.apply_settings(&settings);
        *lock(&self.inner.settings) = settings;
        self.app_info()
    }

    fn apply_settings(&self, settings: &Settings) {
        let (model_path, mut options) = self.engine().llm_choice();
        options.threads = (settings.threads > 0).then_some(settings.threads as usize);
        options.device = match settings.device {
            Device::Auto => DeviceChoice::Auto,
            Device::Cpu => DeviceChoice::Cpu,
            Device::Cuda => DeviceChoice::Cuda,
            Device::Metal => DeviceChoice::Metal,
        };
        self.engine().set_llm(model_path, options);
        let chunk = self.engine().chunk_config();
        let max_tokens = settings.chunk_tokens as usize;
        if chunk.max_tokens != max_tokens {
            self.engine().set_chunk_config(ChunkConfig {
                max_tokens,
                overlap_tokens: (max_tokens * 3 / 20).max(8),
            });
        }
    }

    /// Makes `path` the answer model if it is a usable GGUF file. Only the native dialog
    /// ([`Docent::pick_model`]) and a native drop call this: the user chose the file, so the
    /// app may look at it and report what it found.
    pub fn use_model(&self, path: &Path) -> ApiResult<ModelInfo> {
        let path = path.canonicalize().map_err(|error| {
            ApiError::new(
                ErrorKind::Io,
                format!("{} cannot be used as the model: {error}", path.display()),
            )
        })?;
        let (_, options) = self.engine().llm_choice();
        let info = model_info(&path, &options);
        if let Some(error) = &info.error {
            return Err(ApiError::new(
                ErrorKind::Invalid,
                format!("{} cannot be used as the model: {error}", path.display()),
            ));
        }
        self.engine()
            .set_setting(MODEL_KEY, &path.to_string_lossy())
            .map_err(engine_error)?;
        self.engine().set_llm(path, options);
        self.inner.shell.model_changed(&info);
        self.notice(
            NoticeLevel::Info,
            format!("Answers now come from {}.", info.name),
        );
        Ok(info)
    }

    pub fn pick_model(&self) -> ApiResult<Option<ModelInfo>> {
        match self.inner.shell.pick_model() {
            Some(path) => self.use_model(&path).map(Some),
            None => Ok(None),
        }
    }

    pub fn model_info(&self) -> ModelInfo {
        let (path, options) = self.engine().llm_choice();
        model_info(&path, &options)
    }

    pub fn app_info(&self) -> ApiResult<AppInfo> {
        let engine = self.engine();
        let config = engine.config();
        let no_documents = engine
            .documents(&DocFilter::default())
            .map_err(engine_error)?
            .is_empty();
        let no_conversations = engine.conversations().map_err(engine_error)?.is_empty();
        let mut devices = vec![Device::Auto, Device::Cpu];
        if cfg!(feature = "cuda") {
            devices.push(Device::Cuda);
        }
        if cfg!(feature = "metal") {
            devices.push(Device::Metal);
        }
        Ok(AppInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            data_dir: config.data_dir.to_string_lossy().into_owned(),
            first_run: no_documents && no_conversations && self.roots().is_empty(),
            model: self.model_info(),
            embed_model_present: config
                .models_dir
                .join(docent_engine::EMBED_MODEL_DIR)
                .join("model.safetensors")
                .is_file(),
            models_dir: config.models_dir.to_string_lossy().into_owned(),
            setup_command: SETUP_COMMAND.to_string(),
            devices,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()) as u32,
            settings: self.settings(),
        })
    }
}

fn no_conversation(id: i64) -> ApiError {
    ApiError::new(ErrorKind::Invalid, format!("There is no chat {id}."))
}

fn default_settings(engine: &Engine) -> Settings {
    Settings {
        device: Device::Auto,
        threads: 0,
        temperature: 0.0,
        top_k: AskRequest::new("").top_k as u32,
        chunk_tokens: engine.chunk_config().max_tokens as u32,
    }
}

fn validate_settings(settings: &Settings) -> ApiResult<()> {
    let invalid = |what: &str| Err(ApiError::new(ErrorKind::Invalid, what.to_string()));
    if !(0.0..=2.0).contains(&settings.temperature) {
        return invalid("Temperature must be between 0 and 2.");
    }
    if !(1..=20).contains(&settings.top_k) {
        return invalid("Sources per answer must be between 1 and 20.");
    }
    if !(64..=254).contains(&settings.chunk_tokens) {
        return invalid("Chunk size must be between 64 and 254 tokens.");
    }
    if settings.threads > 256 {
        return invalid("Threads must be 0 (all cores) or a core count.");
    }
    Ok(())
}

/// The settings stored in the library, else `defaults`. Versions before the model left the
/// settings kept its path among them: that path is taken out and returned, so a library
/// keeps its model across the upgrade.
fn stored_settings(json: Option<&str>, defaults: Settings) -> (Settings, Option<String>) {
    let Some(mut value) =
        json.and_then(|json| serde_json::from_str::<serde_json::Value>(json).ok())
    else {
        return (defaults, None);
    };
    let legacy_model = value
        .as_object_mut()
        .and_then(|fields| fields.remove("modelPath"))
        .and_then(|path| path.as_str().map(str::to_string))
        .filter(|path| !path.trim().is_empty());
    let settings = serde_json::from_value(value).unwrap_or(defaults);
    (settings, legacy_model)
}

/// What the settings page shows about a model file, without loading it.
pub fn model_info(path: &Path, options: &LlmOptions) -> ModelInfo {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut info = ModelInfo {
        path: path.to_string_lossy().into_owned(),
        name,
        present: path.is_file(),
        size_bytes: std::fs::metadata(path).ok().map(|m| m.len()),
        quantization: None,
        architecture: None,
        context_length: None,
        estimated_ram_bytes: None,
        error: None,
    };
    if !info.present {
        info.error = Some(format!(
            "The model file is missing. Fetch the default models with `{SETUP_COMMAND}`, or \
             choose a .gguf file."
        ));
        return info;
    }
    match inspect_gguf(path) {
        Ok(summary) => {
            info.quantization = Some(summary.quantization);
            info.architecture = Some(summary.architecture);
            info.context_length = summary.context_length.map(|c| c as u32);
            match Llm::estimate_memory(path, options) {
                Ok(memory) => info.estimated_ram_bytes = Some(memory.total_bytes()),
                Err(error) => info.error = Some(error.to_string()),
            }
        }
        Err(error) => info.error = Some(error.to_string()),
    }
    info
}

fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

/// `url` parsed, when it is an https link to a host with no user name or password in it (which
/// could make `https://bank.example@evil.example` look like a bank). Control characters and
/// whitespace are refused rather than silently dropped by the parser. Any text is accepted as
/// input, non-ASCII included: an international host name comes back in its ASCII form.
fn https_url(url: &str) -> Option<Url> {
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return None;
    }
    let parsed = Url::parse(url).ok()?;
    (parsed.scheme() == "https"
        && parsed.host().is_some()
        && parsed.username().is_empty()
        && parsed.password().is_none())
    .then_some(parsed)
}

/// At most `max` characters of `text` for a message, marked when cut.
fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// A conversation's first title: the question's start.
fn conversation_title(question: &str) -> String {
    const MAX: usize = 60;
    let line = question.lines().next().unwrap_or(question).trim();
    if line.chars().count() <= MAX {
        return line.to_string();
    }
    let cut: String = line.chars().take(MAX).collect();
    format!("{}…", cut.trim_end())
}

/// "Papers" for one folder, "3 items" for several.
fn label_for(paths: &[PathBuf]) -> String {
    match paths {
        [one] => convert::file_name(&one.to_string_lossy()),
        many => format!("{} items", many.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_https_links_open() {
        let opens = |url: &str| https_url(url).map(|u| u.to_string());
        assert_eq!(
            opens("https://example.org/a?b=c").as_deref(),
            Some("https://example.org/a?b=c")
        );
        assert_eq!(
            opens("HTTPS://Example.org").as_deref(),
            Some("https://example.org/")
        );
        // International names and paths, in the form a browser sends.
        assert_eq!(
            opens("https://bücher.example/über").as_deref(),
            Some("https://xn--bcher-kva.example/%C3%BCber")
        );
        for refused in [
            "http://example.org",
            "javascript:alert(1)",
            "https://",
            "https://a.org/\nfile:///etc/passwd",
            "https://a.org/\tx",
            "https://a.org/ x",
            "file:///etc/passwd",
            "https://bank.example@evil.example/",
            "https://user:pw@a.org/",
            // Non-ASCII where the scheme would be; once a panic on `url[..8]`.
            "ééééé://a.org",
            "httpsé://a.org",
            "ü",
            "",
        ] {
            assert_eq!(opens(refused), None, "{refused:?}");
        }
    }

    #[test]
    fn messages_quote_at_most_a_short_start() {
        assert_eq!(shorten("abc", 5), "abc");
        assert_eq!(shorten("ééééééé", 3), "ééé…");
    }

    #[test]
    fn settings_stored_with_a_model_path_keep_it_apart() {
        let defaults = Settings {
            device: Device::Auto,
            threads: 0,
            temperature: 0.0,
            top_k: 5,
            chunk_tokens: 200,
        };
        let (settings, model) = stored_settings(
            Some(
                r#"{"modelPath":"/m/a.gguf","device":"cpu","threads":2,"temperature":0.5,"topK":3,"chunkTokens":128}"#,
            ),
            defaults.clone(),
        );
        assert_eq!(model.as_deref(), Some("/m/a.gguf"));
        assert_eq!((settings.device, settings.top_k), (Device::Cpu, 3));
        let (settings, model) = stored_settings(
            Some(&serde_json::to_string(&settings).unwrap()),
            defaults.clone(),
        );
        assert_eq!((settings.threads, model), (2, None));
        assert_eq!(
            stored_settings(Some("garbage"), defaults.clone()).0,
            defaults
        );
        assert_eq!(stored_settings(None, defaults.clone()).0, defaults);
    }

    #[test]
    fn titles_are_the_first_line_shortened() {
        assert_eq!(conversation_title("  What is X?\nmore"), "What is X?");
        let long = "word ".repeat(30);
        let title = conversation_title(&long);
        assert!(
            title.ends_with('…') && title.chars().count() <= 61,
            "{title}"
        );
    }

    #[test]
    fn settings_out_of_range_are_refused() {
        let good = Settings {
            device: Device::Auto,
            threads: 0,
            temperature: 0.0,
            top_k: 5,
            chunk_tokens: 200,
        };
        assert!(validate_settings(&good).is_ok());
        for bad in [
            Settings {
                temperature: 3.0,
                ..good.clone()
            },
            Settings {
                top_k: 0,
                ..good.clone()
            },
            Settings {
                chunk_tokens: 300,
                ..good.clone()
            },
        ] {
            assert_eq!(
                validate_settings(&bad).unwrap_err().kind,
                ErrorKind::Invalid
            );
        }
    }
}
