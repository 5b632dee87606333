//! The engine: Docent's API boundary. The CLI and the desktop shell call only this crate.
//!
//! An [`Engine`] owns a data folder: the SQLite store (source of truth), the tantivy BM25 index
//! and the hnsw_rs vector index (both derived, replayed from the store's op log), and lazily
//! loaded models. It indexes files ([`Engine::index_paths`]) and searches them
//! ([`Engine::search`]).
//!
//! ```no_run
//! use docent_engine::{CancelFlag, Engine, EngineConfig, NoProgress, SearchRequest};
//! let engine = Engine::open(EngineConfig::new("/tmp/docent-data".into()))?;
//! engine.index_paths(&["/home/me/notes".into()], &NoProgress, &CancelFlag::default())?;
//! for hit in engine.search(&SearchRequest::new("what did we decide about pricing?"))? {
//!     println!("{} {}", hit.path, hit.text);
//! }
//! # Ok::<(), docent_engine::EngineError>(())
//! ```

mod ask;
mod bench;
mod error;
mod locks;
mod pipeline;
mod private;
mod progress;
mod search;
mod settings;
mod sync;

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use docent_embed::{BertEmbedder, EmbedConfig};
use docent_index::{Bm25Index, VectorIndex};
pub use docent_ingest::chunk::ChunkConfig;
use docent_ingest::chunk::Chunker;
use docent_ingest::worker::{WorkerConfig, WorkerPool};
use docent_store::Store;

pub use ask::{
    Answer, AnswerTimings, AskRequest, Citation, LlmOptions, NOT_FOUND_ANSWER,
    NOT_FOUND_SIMILARITY, default_llm_path,
};
pub use ask::{
    AnswerStream, CitationMode, MAX_QUESTION_CHARS, Neutraliser, PromptLayout, REMOVED_TEXT_CHARS,
    Removed, RemovedKind, SourceDelimiters, check_question,
};
pub use bench::{
    AnswerBenchRow, AnswersBenchConfig, AnswersBenchReport, AnswersSummary, AnswersVariant,
    ThresholdReport, ThresholdRow, bench_answers, bench_threshold,
};
pub use bench::{
    BeirReport, EmbedBenchReport, LlmBenchRow, ModeScores, bench_beir, bench_embed, bench_llm,
    default_scratch_dir, peak_rss_bytes,
};
pub use bench::{
    InjectionBenchConfig, InjectionBenchReport, InjectionRow, InjectionSummary, InjectionVariant,
    bench_injection, holds_active_content,
};
pub use docent_generate::{
    DeviceChoice, GgufSummary, Llm, MemoryEstimate, SamplingParams, StopReason,
    inspect as inspect_gguf,
};
pub use docent_ingest::worker::serve_stdio as serve_parse_worker;
pub use docent_ingest::{PathPolicy, Refusal, Walked};
pub use docent_store::{
    ConversationId, ConversationRow, DocFilter, DocumentRow, MessageRow, Role as MessageRole, Stats,
};
pub use docent_types::{DocStatus, DocType};
pub use error::EngineError;
pub use pipeline::{FileOutcome, FileReport, IndexReport};
pub use progress::{CancelFlag, NoProgress, Progress, ProgressEvent};
pub use search::{SearchHit, SearchMode, SearchRequest};

/// The embedding model's folder name inside the models folder.
pub const EMBED_MODEL_DIR: &str = "all-MiniLM-L6-v2";
/// The default answer model inside the models folder.
pub const DEFAULT_LLM_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// Everything the engine needs to know, passed explicitly.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub data_dir: PathBuf,
    pub models_dir: PathBuf,
    /// The program (and its arguments) that serves parse requests on stdin/stdout; the CLI
    /// passes its own executable with `__parse-worker`.
    pub worker_program: PathBuf,
    pub worker_args: Vec<OsString>,
    pub parse_timeout: Duration,
    pub parse_memory_limit: u64,
    pub parse_workers: usize,
    pub chunk: ChunkConfig,
    /// The GGUF answer model and how to load it.
    pub llm_path: PathBuf,
    pub llm_options: LlmOptions,
}

impl EngineConfig {
    /// Defaults for a data folder: models from [`default_models_dir`], the current executable
    /// as the parse worker.
    pub fn new(data_dir: PathBuf) -> EngineConfig {
        let parallelism = std::thread::available_parallelism().map_or(2, |n| n.get());
        let models_dir = default_models_dir();
        EngineConfig {
            data_dir,
            llm_path: default_llm_path(&models_dir),
            llm_options: LlmOptions {
                // Longer prompts cost more to process than they help a small model.
                context_limit: Some(4096),
                ..LlmOptions::default()
            },
            models_dir,
            worker_program: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("docent")),
            worker_args: vec!["__parse-worker".into()],
            parse_timeout: Duration::from_secs(60),
            parse_memory_limit: 4 << 30,
            parse_workers: parallelism.clamp(1, 4),
            chunk: ChunkConfig::default(),
        }
    }
}

fn xdg_data_home() -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
            PathBuf::from(home).join(".local/share")
        })
}

/// `$DOCENT_MODELS_DIR`, else `$XDG_DATA_HOME/docent/models`.
pub fn default_models_dir() -> PathBuf {
    match std::env::var_os("DOCENT_MODELS_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => xdg_data_home().join("docent/models"),
    }
}

/// `$DOCENT_DATA_DIR`, else `$XDG_DATA_HOME/docent`.
pub fn default_data_dir() -> PathBuf {
    match std::env::var_os("DOCENT_DATA_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => xdg_data_home().join("docent"),
    }
}

/// A model file and whether it is present, for `docent status`.
#[derive(Debug, Clone)]
pub struct ModelStatus {
    pub name: String,
    pub path: PathBuf,
    pub present: bool,
}

/// Counts and sizes for `docent status`.
#[derive(Debug, Clone)]
pub struct EngineStatus {
    pub data_dir: PathBuf,
    pub stats: Stats,
    pub bm25_chunks: u64,
    pub vector_chunks: usize,
    pub vector_tombstones: usize,
    pub applied_seq_bm25: u64,
    pub applied_seq_vectors: u64,
    pub store_seq: u64,
    pub db_bytes: u64,
    pub bm25_bytes: u64,
    pub vector_bytes: u64,
    pub models: Vec<ModelStatus>,
}

/// Cheap to clone; every clone talks to the same data folder.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    config: EngineConfig,
    runtime: tokio::runtime::Runtime,
    store: Store,
    bm25: Mutex<Bm25Index>,
    vectors: Mutex<VectorIndex>,
    embedder: OnceLock<Arc<BertEmbedder>>,
    /// Built on first use from `chunk_config`; cleared when the settings change.
    chunker: Mutex<Option<Arc<Chunker>>>,
    chunk_config: Mutex<ChunkConfig>,
    /// The answer model's file and load options; starts as the config's, changed by
    /// [`Engine::set_llm`].
    llm_choice: Mutex<(PathBuf, LlmOptions)>,
    workers: OnceLock<Arc<WorkerPool>>,
    llm: Mutex<Option<Arc<docent_generate::Llm>>>,
    /// Held for the engine's lifetime: one writer per data folder.
    _lock: File,
    /// Why the data folder cannot be written, when it cannot: the engine then searches and
    /// lists, and refuses to index (with [`EngineError::ReadOnly`]).
    read_only: Option<ReadOnlyCause>,
    #[cfg(any(test, feature = "fault-injection"))]
    faults: Faults,
}

/// Faults a test can inject (feature `fault-injection`, always on in the engine's own tests).
#[cfg(any(test, feature = "fault-injection"))]
#[derive(Default)]
struct Faults {
    panic_next_load: std::sync::atomic::AtomicBool,
}

#[cfg(any(test, feature = "fault-injection"))]
impl Engine {
    /// Makes the next answer-model load panic inside the loader, as a model file that trips a
    /// bug in it would.
    pub fn inject_load_panic(&self) {
        self.inner
            .faults
            .panic_next_load
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The error that showed the data folder to be read-only (`std::io::Error` is not `Clone`).
#[derive(Debug, Clone)]
struct ReadOnlyCause {
    path: PathBuf,
    kind: std::io::ErrorKind,
    message: String,
}

impl ReadOnlyCause {
    fn error(&self, data_dir: &Path) -> EngineError {
        EngineError::ReadOnly {
            data_dir: data_dir.to_path_buf(),
            source: Box::new(EngineError::Io {
                path: self.path.clone(),
                source: std::io::Error::new(self.kind, self.message.clone()),
            }),
        }
    }
}

/// all-MiniLM-L6-v2's output dimension.
const EMBED_DIM: usize = 384;

impl Engine {
    /// Opens (creating if needed) the data folder, repairs the derived indexes from the store,
    /// and takes the folder's lock. The folder and what the engine keeps in it are private to
    /// the user (no group or other access), also when they existed with looser modes.
    pub fn open(config: EngineConfig) -> Result<Engine, EngineError> {
        let data_dir = config.data_dir.clone();
        Engine::open_unchecked(config).map_err(|error| error.with_storage_cause(&data_dir))
    }

    fn open_unchecked(config: EngineConfig) -> Result<Engine, EngineError> {
        let data_dir = &config.data_dir;
        private::create_private_dir(data_dir)?;
        let (lock, read_only) = take_lock(data_dir)?;
        if read_only.is_none() {
            private::restrict_tree(&data_dir.join("lock"))?;
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("docent-store")
            .enable_all()
            .build()
            .map_err(|source| EngineError::Io {
                path: data_dir.clone(),
                source,
            })?;
        let (store, bm25, vectors) = if let Some(cause) = &read_only {
            tracing::warn!(
                data_dir = %data_dir.display(),
                reason = %cause.message,
                "the library is read-only: searching only"
            );
            let store = runtime.block_on(Store::open_read_only(&data_dir.join("docent.db")))?;
            // tantivy's reader takes a lock file it must be able to write, so on a read-only
            // folder it cannot open: say why in the user's terms.
            let bm25 = Bm25Index::open_read_only(&data_dir.join("bm25")).map_err(|error| {
                tracing::warn!(%error, "cannot open the BM25 index read-only");
                cause.error(data_dir)
            })?;
            let vectors = VectorIndex::open(&data_dir.join("vectors"), EMBED_DIM)?;
            (store, bm25, vectors)
        } else {
            let store = runtime.block_on(Store::open(&data_dir.join("docent.db")))?;
            let bm25 = sync::open_bm25(&data_dir.join("bm25"))?;
            let vectors = sync::open_vectors(&data_dir.join("vectors"), EMBED_DIM)?;
            // The indexes hold the documents' words; files they add later sit in the private
            // folder and are unreachable to others whatever their own modes.
            private::restrict_tree(&data_dir.join("bm25"))?;
            private::restrict_tree(&data_dir.join("vectors"))?;
            (store, bm25, vectors)
        };
        let chunk_config = config.chunk.clone();
        let llm_choice = (config.llm_path.clone(), config.llm_options.clone());
        let engine = Engine {
            inner: Arc::new(Inner {
                config,
                runtime,
                store,
                bm25: Mutex::new(bm25),
                vectors: Mutex::new(vectors),
                embedder: OnceLock::new(),
                chunker: Mutex::new(None),
                chunk_config: Mutex::new(chunk_config),
                llm_choice: Mutex::new(llm_choice),
                workers: OnceLock::new(),
                llm: Mutex::new(None),
                _lock: lock,
                read_only,
                #[cfg(any(test, feature = "fault-injection"))]
                faults: Faults::default(),
            }),
        };
        if engine.inner.read_only.is_some() {
            // Nothing can be repaired; hits are joined back to the store all the same.
            return Ok(engine);
        }
        if let Err(error) = engine.sync_derived() {
            // On a full disk the repair cannot be written, but the store is intact and every
            // hit is joined back to it: searching what the indexes hold still works. The next
            // start (or indexing run) with space repairs.
            match error.with_storage_cause(&engine.inner.config.data_dir) {
                error @ EngineError::DiskFull { .. } => {
                    tracing::warn!(%error, "search indexes not repaired");
                }
                error => return Err(error),
            }
        }
        Ok(engine)
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.inner.runtime.block_on(future)
    }

    fn store(&self) -> &Store {
        &self.inner.store
    }

    fn embed_model_dir(&self) -> PathBuf {
        self.inner.config.models_dir.join(EMBED_MODEL_DIR)
    }

    /// The embedding model, loaded on first use.
    fn embedder(&self) -> Result<Arc<BertEmbedder>, EngineError> {
        if let Some(embedder) = self.inner.embedder.get() {
            return Ok(embedder.clone());
        }
        let loaded = Arc::new(BertEmbedder::load(
            &self.embed_model_dir(),
            EmbedConfig::default(),
        )?);
        Ok(self.inner.embedder.get_or_init(|| loaded).clone())
    }

    fn chunker(&self) -> Result<Arc<Chunker>, EngineError> {
        let mut slot = crate::locks::lock(&self.inner.chunker);
        if let Some(chunker) = slot.as_ref() {
            return Ok(chunker.clone());
        }
        let tokenizer = self.embed_model_dir().join("tokenizer.json");
        if !tokenizer.is_file() {
            return Err(EngineError::ModelMissing { path: tokenizer });
        }
        let config = self.chunk_config();
        let chunker = Arc::new(
            Chunker::from_tokenizer_file(&tokenizer, config).map_err(EngineError::Ingest)?,
        );
        *slot = Some(chunker.clone());
        Ok(chunker)
    }

    fn workers(&self) -> Arc<WorkerPool> {
        self.inner
            .workers
            .get_or_init(|| {
                let config = &self.inner.config;
                Arc::new(WorkerPool::new(WorkerConfig {
                    program: config.worker_program.clone(),
                    args: config.worker_args.clone(),
                    timeout: config.parse_timeout,
                    memory_limit_bytes: config.parse_memory_limit,
                    workers: config.parse_workers,
                    ..WorkerConfig::default()
                }))
            })
            .clone()
    }

    /// Documents known to the store, filtered.
    pub fn documents(&self, filter: &DocFilter) -> Result<Vec<DocumentRow>, EngineError> {
        Ok(self.block_on(self.store().list_documents(filter))?)
    }

    /// Removes the given files or folders (every document at or under each path) from the
    /// library. Returns the removed paths.
    pub fn remove(&self, paths: &[PathBuf]) -> Result<Vec<String>, EngineError> {
        self.check_writable()?;
        let mut removed = Vec::new();
        for path in paths {
            let absolute = absolute_path(path);
            let prefix = absolute.to_string_lossy();
            removed.extend(self.block_on(self.store().delete_under(&prefix))?);
        }
        self.sync_derived()?;
        Ok(removed)
    }

    /// Fails with [`EngineError::ReadOnly`] when the data folder cannot be written.
    pub(crate) fn check_writable(&self) -> Result<(), EngineError> {
        match &self.inner.read_only {
            Some(cause) => Err(cause.error(&self.inner.config.data_dir)),
            None => Ok(()),
        }
    }

    /// Counts, index sizes and model presence.
    pub fn status(&self) -> Result<EngineStatus, EngineError> {
        let stats = self.block_on(self.store().stats())?;
        let store_seq = self.block_on(self.store().max_seq())?;
        let (bm25_chunks, applied_seq_bm25) = {
            let bm25 = crate::locks::lock_index(&self.inner.bm25, "the BM25 index")?;
            (bm25.num_chunks(), bm25.applied_seq())
        };
        let (vector_chunks, vector_tombstones, applied_seq_vectors) = {
            let vectors = crate::locks::lock_index(&self.inner.vectors, "the vector index")?;
            (
                vectors.len_live(),
                vectors.tombstones(),
                vectors.applied_seq(),
            )
        };
        let data_dir = &self.inner.config.data_dir;
        let models_dir = &self.inner.config.models_dir;
        let models = [
            (
                "embedding: all-MiniLM-L6-v2",
                models_dir.join(EMBED_MODEL_DIR).join("model.safetensors"),
            ),
            (
                "answers: SmolLM2-135M-Instruct Q4_1",
                models_dir.join(DEFAULT_LLM_FILE),
            ),
        ]
        .into_iter()
        .map(|(name, path)| ModelStatus {
            name: name.to_string(),
            present: path.is_file(),
            path,
        })
        .collect();
        Ok(EngineStatus {
            data_dir: data_dir.clone(),
            stats,
            bm25_chunks,
            vector_chunks,
            vector_tombstones,
            applied_seq_bm25,
            applied_seq_vectors,
            store_seq,
            db_bytes: dir_size(data_dir, |name| name.starts_with("docent.db")),
            bm25_bytes: dir_size(&data_dir.join("bm25"), |_| true),
            vector_bytes: dir_size(&data_dir.join("vectors"), |_| true),
            models,
        })
    }

    /// SQLite's own check plus agreement between the store and the derived indexes.
    pub fn check_consistency(&self) -> Result<ConsistencyReport, EngineError> {
        sync::check_consistency(self)
    }
}

pub use sync::ConsistencyReport;

/// Takes the data folder's lock. A folder that cannot be written (a read-only disk, no write
/// permission) but holds a lock file is opened read-only: no one can write there anyway, so
/// readers need no lock against a writer.
fn take_lock(data_dir: &Path) -> Result<(File, Option<ReadOnlyCause>), EngineError> {
    use std::io::ErrorKind;
    let path = data_dir.join("lock");
    let mut options = File::options();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let opened = options.open(&path);
    let file = match opened {
        Ok(file) => file,
        Err(error)
            if matches!(
                error.kind(),
                ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem
            ) && path.is_file() =>
        {
            let cause = ReadOnlyCause {
                path: path.clone(),
                kind: error.kind(),
                message: error.to_string(),
            };
            let file = File::open(&path).map_err(|source| EngineError::Io {
                path: path.clone(),
                source,
            })?;
            return Ok((file, Some(cause)));
        }
        Err(source) => {
            return Err(EngineError::Io {
                path: path.clone(),
                source,
            });
        }
    };
    match file.try_lock() {
        Ok(()) => Ok((file, None)),
        Err(std::fs::TryLockError::WouldBlock) => Err(EngineError::Busy {
            data_dir: data_dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(EngineError::Io { path, source }),
    }
}

/// Absolute and canonical where possible (the file may be gone, as for `remove`).
pub(crate) fn absolute_path(path: &Path) -> PathBuf {
    if let Ok(canonical) = path.canonicalize() {
        return canonical;
    }
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn dir_size(dir: &Path, keep: fn(&str) -> bool) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            match entry.metadata() {
                Ok(meta) if meta.is_dir() => dir_size(&entry.path(), |_| true),
                Ok(meta) if keep(&name) => meta.len(),
                _ => 0,
            }
        })
        .sum()
}
