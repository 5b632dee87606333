//! The page's commands through Tauri's IPC on the mock runtime, with the app's real config
//! and capabilities, over a real library (real models, real parse workers).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use docent_desktop::app::Docent;
use docent_desktop::shell::Shell;
use docent_engine::{Engine, EngineConfig};
use docent_ipc::{
    AnswerResult, ApiError, AppInfo, ConversationInfo, DocumentInfo, ErrorKind, FolderInfo,
    IndexProgress, IndexState, MessageInfo, ModelInfo, Notice, PickKind, SearchResponse,
};
use serde_json::{Value, json};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{INVOKE_KEY, MockRuntime, mock_builder};
use tauri::webview::InvokeRequest;
use tauri::{App, WebviewWindow, WebviewWindowBuilder};

/// Records what the app asked of the desktop.
#[derive(Default)]
struct Recorder {
    picks: Mutex<Vec<PathBuf>>,
    log: Mutex<Vec<String>>,
    progress: Mutex<Vec<IndexProgress>>,
}

impl Recorder {
    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    fn record(&self, line: String) {
        self.log.lock().unwrap().push(line);
    }

    /// The indexing runs reported so far, in order.
    fn jobs(&self) -> Vec<u32> {
        let runs: std::collections::BTreeSet<u32> = self
            .progress
            .lock()
            .unwrap()
            .iter()
            .map(|p| p.job)
            .collect();
        runs.into_iter().collect()
    }
}

impl Shell for Recorder {
    fn pick(&self, _kind: PickKind) -> Vec<PathBuf> {
        std::mem::take(&mut *self.picks.lock().unwrap())
    }
    fn pick_model(&self) -> Option<PathBuf> {
        None
    }
    fn open_path(&self, path: &Path) -> Result<(), String> {
        self.record(format!("open {}", path.display()));
        Ok(())
    }
    fn reveal_path(&self, path: &Path) -> Result<(), String> {
        self.record(format!("reveal {}", path.display()));
        Ok(())
    }
    fn open_url(&self, url: &str) -> Result<(), String> {
        self.record(format!("url {url}"));
        Ok(())
    }
    fn index_progress(&self, progress: &IndexProgress) {
        self.progress.lock().unwrap().push(progress.clone());
    }
    fn library_changed(&self, reason: &str) {
        self.record(format!("changed {reason}"));
    }
    fn model_changed(&self, model: &ModelInfo) {
        self.record(format!("model {}", model.name));
    }
    fn notice(&self, notice: &Notice) {
        self.record(format!("notice {}", notice.message));
    }
}

struct Harness {
    _dir: tempfile::TempDir,
    docs: PathBuf,
    outside: PathBuf,
    recorder: Arc<Recorder>,
    docent: Docent,
    _app: App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
}

fn sample_docs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../assets/sample-docs")
}

fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    for entry in std::fs::read_dir(sample_docs()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), docs.join(entry.file_name())).unwrap();
    }
    let outside = dir.path().join("private.txt");
    std::fs::write(&outside, "not added").unwrap();
    let mut config = EngineConfig::new(dir.path().join("data"));
    config.worker_program = PathBuf::from(env!("CARGO_BIN_EXE_docent-desktop"));
    let engine = Engine::open(config).unwrap();
    let recorder = Arc::new(Recorder::default());
    let docent = Docent::new(engine, recorder.clone()).unwrap();
    let app = mock_builder()
        .manage(docent.clone())
        .invoke_handler(docent_desktop::handler!())
        .build(tauri::generate_context!())
        .unwrap();
    let window = WebviewWindowBuilder::new(&app, "main", Default::default())
        .build()
        .unwrap();
    Harness {
        docs: docs.canonicalize().unwrap(),
        outside,
        _dir: dir,
        recorder,
        docent,
        _app: app,
        window,
    }
}

impl Harness {
    /// Invokes a command as the page would; `Err` carries the command's error value.
    fn invoke(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        let response = tauri::test::get_ipc_response(
            &self.window,
            InvokeRequest {
                cmd: cmd.into(),
                callback: CallbackFn(0),
                error: CallbackFn(1),
                url: "tauri://localhost".parse().unwrap(),
                body: InvokeBody::Json(args),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.to_string(),
            },
        )?;
        Ok(response.deserialize::<Value>().unwrap())
    }

    fn call<T: serde::de::DeserializeOwned>(&self, cmd: &str, args: Value) -> T {
        let value = self
            .invoke(cmd, args)
            .unwrap_or_else(|e| panic!("{cmd} failed: {e}"));
        serde_json::from_value(value).unwrap()
    }

    fn error(&self, cmd: &str, args: Value) -> ApiError {
        let value = self
            .invoke(cmd, args)
            .expect_err(&format!("{cmd} should fail"));
        serde_json::from_value(value.clone()).unwrap_or_else(|_| panic!("not an ApiError: {value}"))
    }

    fn add_docs_and_wait(&self) {
        self.recorder.picks.lock().unwrap().push(self.docs.clone());
        let added: Vec<String> = self.call("pick_and_add", json!({"kind": "folder"}));
        assert_eq!(added, vec![self.docs.to_string_lossy().to_string()]);
        assert!(
            self.docent.indexer().wait_idle(Duration::from_secs(300)),
            "indexing did not finish"
        );
    }
}

#[test]
fn library_commands_index_list_search_and_guard_paths() {
    let h = harness();
    let info: AppInfo = h.call("app_info", json!({}));
    assert!(info.first_run);
    assert!(info.embed_model_present, "run scripts/setup --models first");

    h.add_docs_and_wait();
    let last = h.recorder.progress.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last.state, IndexState::Done);
    assert_eq!((last.files_done, last.files_total, last.indexed), (4, 4, 4));
    let state: Option<IndexProgress> = h.call("index_state", json!({}));
    assert_eq!(state.unwrap().state, IndexState::Done);

    let documents: Vec<DocumentInfo> = h.call("list_documents", json!({}));
    let mut names: Vec<&str> = documents.iter().map(|d| d.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "meeting-notes.txt",
            "ownership.rs",
            "solar.html",
            "sourdough.md"
        ]
    );
    assert!(documents.iter().all(|d| d.chunks > 0));
    let folders: Vec<FolderInfo> = h.call("list_folders", json!({}));
    assert_eq!(folders.len(), 1);
    assert!(folders[0].watching && folders[0].exists);
    assert_eq!(folders[0].documents, 4);
    let info: AppInfo = h.call("app_info", json!({}));
    assert!(!info.first_run);

    let found: SearchResponse = h.call(
        "search",
        json!({"query": "sourdough starter hydration", "limit": 5}),
    );
    assert_eq!(found.results[0].name, "sourdough.md");
    assert!(found.terms.contains(&"hydration".to_string()));

    // Paths are checked against the added folder.
    let doc = h.docs.join("sourdough.md");
    let _: Value = h.call(
        "open_path",
        json!({"path": doc, "page": null, "line": null}),
    );
    let _: Value = h.call("reveal_path", json!({"path": doc}));
    assert!(
        h.recorder
            .log()
            .contains(&format!("open {}", doc.display()))
    );
    assert!(
        h.recorder
            .log()
            .contains(&format!("reveal {}", doc.display()))
    );
    for path in [
        h.outside.to_string_lossy().to_string(),
        format!("{}/../private.txt", h.docs.display()),
        "/etc/passwd".to_string(),
        "sourdough.md".to_string(),
    ] {
        let err = h.error("open_path", json!({"path": path, "page": 1, "line": null}));
        assert_eq!(err.kind, ErrorKind::NotAllowed, "{path}: {}", err.message);
    }
    // Every command that takes a path refuses paths outside the user's folders.
    let link_out = h.docs.join("link-out.txt");
    std::os::unix::fs::symlink(&h.outside, &link_out).unwrap();
    for path in [
        h.outside.to_string_lossy().to_string(),
        format!("{}/../private.txt", h.docs.display()),
        link_out.to_string_lossy().to_string(),
        "/".to_string(),
    ] {
        for (cmd, args) in [
            ("remove_paths", json!({"paths": [path]})),
            ("reindex", json!({"paths": [path]})),
            ("reveal_path", json!({"path": path})),
            ("open_path", json!({"path": path, "page": null, "line": 3})),
            ("set_watching", json!({"path": path, "watching": false})),
        ] {
            let err = h.error(cmd, args);
            assert_eq!(
                err.kind,
                ErrorKind::NotAllowed,
                "{cmd} {path}: {}",
                err.message
            );
        }
    }
    std::fs::remove_file(&link_out).unwrap();
    // Links: https only.
    let _: Value = h.call("open_link", json!({"url": "https://example.org/x"}));
    let err = h.error("open_link", json!({"url": "javascript:alert(1)"}));
    assert_eq!(err.kind, ErrorKind::NotAllowed);
    assert_eq!(
        h.recorder
            .log()
            .iter()
            .filter(|l| l.starts_with("url "))
            .count(),
        1
    );

    // Remove the folder, then undo.
    let removed: u32 = h.call("remove_paths", json!({"paths": [h.docs]}));
    assert_eq!(removed, 4);
    let documents: Vec<DocumentInfo> = h.call("list_documents", json!({}));
    assert!(documents.is_empty());
    let folders: Vec<FolderInfo> = h.call("list_folders", json!({}));
    assert!(folders.is_empty());
    let _: Value = h.call("reindex", json!({"paths": [h.docs]}));
    assert!(h.docent.indexer().wait_idle(Duration::from_secs(300)));
    let documents: Vec<DocumentInfo> = h.call("list_documents", json!({}));
    assert_eq!(documents.len(), 4);
    let folders: Vec<FolderInfo> = h.call("list_folders", json!({}));
    assert_eq!(folders.len(), 1);
}

#[test]
fn the_page_cannot_reach_plugins_or_unknown_commands() {
    let h = harness();
    for cmd in [
        "plugin:opener|open_url",
        "plugin:opener|open_path",
        "plugin:dialog|open",
        "plugin:fs|read_file",
        "no_such_command",
    ] {
        let err = h
            .invoke(
                cmd,
                json!({"url": "https://example.org", "path": "/etc/passwd"}),
            )
            .expect_err(cmd);
        assert!(err.to_string().len() > 2, "{cmd}: {err}");
    }
    assert!(h.recorder.log().is_empty(), "{:?}", h.recorder.log());
}

#[test]
fn conversations_settings_and_a_streamed_answer() {
    let h = harness();
    h.add_docs_and_wait();
    let answer: AnswerResult = h.call(
        "ask",
        json!({
            "question": "How often should I feed a sourdough starter?",
            "conversationId": null,
            "onEvent": "__CHANNEL__:7",
        }),
    );
    assert!(answer.found);
    assert!(!answer.answer.is_empty());
    assert!(!answer.sources.is_empty());
    assert!(answer.sources.iter().any(|s| s.name == "sourdough.md"));
    assert!(!answer.stopped);

    // An off-topic question later in the same chat is not pulled back to the chat's topic.
    let off_topic: AnswerResult = h.call(
        "ask",
        json!({
            "question": "What is the boiling point of tungsten?",
            "conversationId": answer.conversation_id,
            "onEvent": "__CHANNEL__:9",
        }),
    );
    assert!(!off_topic.found, "{}", off_topic.answer);
    assert_eq!(off_topic.conversation_id, answer.conversation_id);

    let conversations: Vec<ConversationInfo> = h.call("list_conversations", json!({}));
    assert_eq!(conversations.len(), 1);
    assert_eq!(conversations[0].id, answer.conversation_id);
    assert_eq!(
        conversations[0].title,
        "How often should I feed a sourdough starter?"
    );
    let messages: Vec<MessageInfo> = h.call(
        "conversation_messages",
        json!({"id": answer.conversation_id}),
    );
    assert_eq!(messages.len(), 4);
    assert_eq!(messages[1].content, answer.answer);
    assert_eq!(messages[3].found, Some(false));
    assert!(!messages[1].citations.is_empty());

    let _: Value = h.call(
        "rename_conversation",
        json!({"id": answer.conversation_id, "title": "Bread"}),
    );
    let fresh: ConversationInfo = h.call("new_conversation", json!({}));
    let conversations: Vec<ConversationInfo> = h.call("list_conversations", json!({}));
    assert_eq!(conversations.len(), 2);
    assert!(conversations.iter().any(|c| c.title == "Bread"));
    let _: Value = h.call("delete_conversation", json!({"id": fresh.id}));
    let err = h.error("delete_conversation", json!({"id": fresh.id}));
    assert_eq!(err.kind, ErrorKind::Invalid);
    let err = h.error(
        "rename_conversation",
        json!({"id": answer.conversation_id, "title": " "}),
    );
    assert_eq!(err.kind, ErrorKind::Invalid);

    // Settings round-trip (a missing model and the page's model path: tests/page_reach.rs).
    let info: AppInfo = h.call("app_info", json!({}));
    assert!(info.model.present && info.model.error.is_none());
    assert_eq!(info.model.quantization.as_deref(), Some("Q4_1"));
    assert!(info.model.context_length.unwrap() >= 2048);
    let mut settings = info.settings.clone();
    settings.top_k = 3;
    let saved: AppInfo = h.call("save_settings", json!({"settings": settings}));
    assert_eq!(saved.settings.top_k, 3);
    settings.top_k = 0;
    let err = h.error("save_settings", json!({"settings": settings}));
    assert_eq!(err.kind, ErrorKind::Invalid);
}

#[test]
fn capabilities_grant_exactly_the_registered_commands() {
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("capabilities/default.json"),
    )
    .unwrap();
    let capability: Value = serde_json::from_str(&text).unwrap();
    let mut granted: Vec<String> = capability["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .filter(|p| !p.starts_with("core:"))
        .collect();
    granted.sort();
    let mut expected: Vec<String> = docent_desktop::command_names::NAMES
        .iter()
        .map(|n| format!("allow-{}", n.replace('_', "-")))
        .collect();
    expected.sort();
    assert_eq!(granted, expected);
    let core: Vec<&str> = capability["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str())
        .filter(|p| p.starts_with("core:"))
        .collect();
    assert_eq!(
        core,
        ["core:event:allow-listen", "core:event:allow-unlisten"]
    );
    let config: Value = serde_json::from_str(
        &std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tauri.conf.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(config["app"]["withGlobalTauri"], json!(false));
    let csp = config["app"]["security"]["csp"].as_object().unwrap();
    for (directive, sources) in csp {
        // The IPC endpoint is the app itself, not a remote origin.
        let sources = sources
            .as_str()
            .unwrap()
            .replace("http://ipc.localhost", "");
        assert!(
            !sources.contains("http:") && !sources.contains("https:") && !sources.contains('*'),
            "{directive} allows a remote origin: {sources}"
        );
    }
}

/// A folder of `n` small notes, each with its own fact.
fn notes_folder(parent: &Path, n: usize) -> PathBuf {
    let folder = parent.join("notes");
    std::fs::create_dir_all(&folder).unwrap();
    for i in 0..n {
        std::fs::write(
            folder.join(format!("note-{i:02}.md")),
            format!("# Note {i}\n\nLocker {i} holds box number {}.\n", i * 7),
        )
        .unwrap();
    }
    folder.canonicalize().unwrap()
}

#[test]
fn indexing_can_be_paused_resumed_and_cancelled() {
    let h = harness();
    let notes = notes_folder(h._dir.path(), 12);
    let indexer = h.docent.indexer();

    // Paused before it starts: the run holds at its first step and indexes nothing.
    let _: Value = h.call("pause_indexing", json!({}));
    h.docent.add_paths(vec![notes.clone()]).unwrap();
    let paused = (0..100)
        .find_map(|_| {
            std::thread::sleep(Duration::from_millis(50));
            let state: Option<IndexProgress> = h.call("index_state", json!({}));
            state.filter(|s| s.state == IndexState::Paused)
        })
        .expect("the run shows as paused");
    assert_eq!(paused.files_done, 0);
    assert!(
        !indexer.wait_idle(Duration::from_millis(500)),
        "a paused run is still running"
    );
    let documents: Vec<DocumentInfo> = h.call("list_documents", json!({}));
    assert!(documents.is_empty());

    let _: Value = h.call("resume_indexing", json!({}));
    assert!(indexer.wait_idle(Duration::from_secs(300)));
    let done: Option<IndexProgress> = h.call("index_state", json!({}));
    let done = done.unwrap();
    assert_eq!(
        (done.state, done.files_done, done.indexed),
        (IndexState::Done, 12, 12)
    );

    // Cancelled while paused: the run ends as cancelled and queued runs are dropped.
    for i in 0..3 {
        std::fs::write(
            notes.join(format!("extra-{i}.md")),
            format!("Extra note {i}."),
        )
        .unwrap();
    }
    let _: Value = h.call("pause_indexing", json!({}));
    let _: Value = h.call("reindex", json!({"paths": [notes]}));
    let _: Value = h.call("reindex", json!({"paths": [notes.join("extra-0.md")]}));
    let _: Value = h.call("cancel_indexing", json!({}));
    assert!(indexer.wait_idle(Duration::from_secs(60)));
    let last: Option<IndexProgress> = h.call("index_state", json!({}));
    assert_eq!(last.unwrap().state, IndexState::Cancelled);
    let documents: Vec<DocumentInfo> = h.call("list_documents", json!({}));
    assert_eq!(
        documents.len(),
        12,
        "nothing new was indexed after the cancel"
    );
}

#[test]
fn a_dropped_gguf_becomes_the_model_and_a_bad_one_is_refused() {
    let h = harness();
    let model = h.docent.model_info();
    assert!(model.present, "run scripts/setup --models first");
    // A file of its own (not a symlink, which would resolve to the default model's path).
    let link = h._dir.path().join("my-model.gguf");
    if std::fs::hard_link(&model.path, &link).is_err() {
        std::fs::copy(&model.path, &link).unwrap();
    }
    assert_ne!(Path::new(&model.path), link);
    let added = h.docent.add_paths(vec![link.clone()]).unwrap();
    assert!(added.is_empty(), "a model is not added to the library");
    let info: AppInfo = h.call("app_info", json!({}));
    assert_eq!(Path::new(&info.model.path), link.canonicalize().unwrap());
    assert!(
        h.recorder
            .log()
            .iter()
            .any(|l| l.starts_with("notice Answers now come from"))
    );

    let bad = h._dir.path().join("broken.gguf");
    std::fs::write(&bad, b"GGUF\x03\x00\x00\x00 but nothing else").unwrap();
    let err = h.docent.add_paths(vec![bad]).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(err.message.contains("broken.gguf"), "{}", err.message);
    let info: AppInfo = h.call("app_info", json!({}));
    assert_eq!(
        Path::new(&info.model.path),
        link.canonicalize().unwrap(),
        "the working model is kept"
    );
}

#[test]
fn watched_folders_pick_up_new_files_and_debounce_bursts() {
    let h = harness();
    h.add_docs_and_wait();
    h.docent.start_watching();
    let jobs_before = *h.recorder.jobs().last().unwrap();
    // A burst of changes, like a git checkout.
    for i in 0..30 {
        std::fs::write(
            h.docs.join(format!("burst-{i:02}.md")),
            format!("# Burst {i}\n\nShelf {i} is painted teal."),
        )
        .unwrap();
    }
    std::fs::remove_file(h.docs.join("meeting-notes.txt")).unwrap();
    let documents = (0..300)
        .find_map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            let docs: Vec<DocumentInfo> = h.call("list_documents", json!({}));
            let settled = docs.len() == 33
                && docs.iter().all(|d| d.name != "meeting-notes.txt")
                && h.docent.indexer().wait_idle(Duration::ZERO);
            settled.then_some(docs)
        })
        .expect("the watched folder's changes reached the library");
    assert!(documents.iter().any(|d| d.name == "burst-29.md"));
    let jobs: Vec<u32> = h
        .recorder
        .jobs()
        .into_iter()
        .filter(|job| *job > jobs_before)
        .collect();
    assert!(
        (1..=2).contains(&jobs.len()),
        "30 quick writes became {} indexing runs",
        jobs.len()
    );

    // Unwatched: changes wait for a re-index.
    let _: Value = h.call("set_watching", json!({"path": h.docs, "watching": false}));
    std::fs::write(h.docs.join("late.md"), "Written while not watched.").unwrap();
    std::thread::sleep(watch_quiet_time());
    assert!(h.docent.indexer().wait_idle(Duration::from_secs(60)));
    let docs: Vec<DocumentInfo> = h.call("list_documents", json!({}));
    assert!(docs.iter().all(|d| d.name != "late.md"));
}

fn watch_quiet_time() -> Duration {
    docent_desktop::watch::DEBOUNCE * 3
}

#[test]
fn stop_ends_an_answer_at_the_next_token() {
    let h = harness();
    h.add_docs_and_wait();
    let docent = h.docent.clone();
    let mut tokens = 0;
    let answer = h
        .docent
        .ask(
            "Explain everything about sourdough starters in detail.",
            None,
            &mut |event| {
                if let docent_ipc::AnswerEvent::Token { .. } = event {
                    tokens += 1;
                    docent.stop_answer();
                }
            },
        )
        .unwrap();
    assert!(answer.stopped);
    assert!(tokens <= 2, "{tokens} tokens after Stop");
    // The next question is answered normally.
    let next = h
        .docent
        .ask(
            "How often is the starter fed?",
            Some(answer.conversation_id),
            &mut |_| {},
        )
        .unwrap();
    assert!(!next.stopped);
    assert!(!next.answer.is_empty());
}

#[test]
fn search_and_answers_work_while_a_folder_indexes() {
    let h = harness();
    h.add_docs_and_wait();
    let notes = notes_folder(h._dir.path(), 400);
    h.docent.add_paths(vec![notes]).unwrap();
    // Held in the middle of the run (some files done, the writer inside its loop).
    let mid_run = (0..20_000)
        .find_map(|_| {
            let state = h.docent.index_state().filter(|s| {
                s.state == IndexState::Indexing && s.files_done >= 1 && s.files_done < 300
            });
            if state.is_some() {
                h.docent.indexer().pause();
            } else {
                std::thread::sleep(Duration::from_millis(1));
            }
            state
        })
        .expect("caught the run in the middle");
    let found: SearchResponse = h.call(
        "search",
        json!({"query": "feeding the starter", "limit": 3}),
    );
    assert_eq!(found.results[0].name, "sourdough.md");
    let answer = h
        .docent
        .ask(
            "How often should I feed a sourdough starter?",
            None,
            &mut |_| {},
        )
        .unwrap();
    assert!(answer.found);
    let still = h.docent.index_state().unwrap();
    assert_eq!(still.state, IndexState::Paused);
    assert!(
        still.files_done < 400,
        "{} of 400 done at {}",
        still.files_done,
        mid_run.files_done
    );
    h.docent.indexer().resume();
    assert!(h.docent.indexer().wait_idle(Duration::from_secs(300)));
    let documents: Vec<DocumentInfo> = h.call("list_documents", json!({}));
    assert_eq!(documents.len(), 404);
}
