//! The page reaches only what it is given (SECURITY.md, promise 5), through Tauri's IPC on the
//! mock runtime: it cannot name a model file, odd links and over-long questions are clear
//! errors, and a panic (in a model loader, in a command) is one failed action, not a broken app.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use docent_desktop::app::Docent;
use docent_desktop::shell::Shell;
use docent_engine::{Engine, EngineConfig};
use docent_ipc::{
    AnswerResult, ApiError, AppInfo, ConversationInfo, ErrorKind, IndexProgress, ModelInfo, Notice,
    PickKind, SearchResponse,
};
use serde_json::{Value, json};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{INVOKE_KEY, MockRuntime, mock_builder};
use tauri::webview::InvokeRequest;
use tauri::{App, WebviewWindow, WebviewWindowBuilder};

/// A URL whose opening panics inside the shell, as a bug in a desktop integration would.
const PANICKING_URL: &str = "https://panic.example/";

/// Records what the app asked of the desktop; the "native dialog" for a model returns what the
/// test put in `model_pick`.
#[derive(Default)]
struct Recorder {
    model_pick: Mutex<Option<PathBuf>>,
    log: Mutex<Vec<String>>,
}

impl Recorder {
    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    fn record(&self, line: String) {
        self.log.lock().unwrap().push(line);
    }
}

impl Shell for Recorder {
    fn pick(&self, _kind: PickKind) -> Vec<PathBuf> {
        Vec::new()
    }
    fn pick_model(&self) -> Option<PathBuf> {
        self.model_pick.lock().unwrap().take()
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
        if url == PANICKING_URL {
            panic!("the opener broke");
        }
        self.record(format!("url {url}"));
        Ok(())
    }
    fn index_progress(&self, _progress: &IndexProgress) {}
    fn library_changed(&self, reason: &str) {
        self.record(format!("changed {reason}"));
    }
    fn model_changed(&self, model: &ModelInfo) {
        self.record(format!("model {}", model.path));
    }
    fn notice(&self, notice: &Notice) {
        self.record(format!("notice {}", notice.message));
    }
}

struct Harness {
    dir: tempfile::TempDir,
    recorder: Arc<Recorder>,
    docent: Docent,
    _app: App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
}

/// An app over an empty library (no folder added: nothing here needs documents).
fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
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
        dir,
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

    fn ask(&self, question: &str) -> Result<Value, Value> {
        self.invoke(
            "ask",
            json!({"question": question, "conversationId": null, "onEvent": "__CHANNEL__:7"}),
        )
    }

    /// A copy of the default model under the test's folder (its own path, not the default's).
    fn model_copy(&self, name: &str) -> PathBuf {
        let default = self.docent.model_info();
        assert!(default.present, "run scripts/setup --models first");
        let copy = self.dir.path().join(name);
        if std::fs::hard_link(&default.path, &copy).is_err() {
            std::fs::copy(&default.path, &copy).unwrap();
        }
        copy.canonicalize().unwrap()
    }
}

#[test]
fn the_page_cannot_name_a_model_file() {
    let h = harness();
    let before: AppInfo = h.call("app_info", json!({}));
    let mut sent = serde_json::to_value(&before.settings).unwrap();
    assert!(sent.get("modelPath").is_none(), "settings carry no model");

    // A real GGUF outside anything the user chose, a missing file, and a non-model file: each
    // is refused the same way, so the page learns nothing about what exists on disk.
    let outside = h.model_copy("outside.gguf");
    let mut errors = Vec::new();
    for path in [
        outside.to_string_lossy().into_owned(),
        "/nowhere/model.gguf".to_string(),
        "/etc/passwd".to_string(),
    ] {
        sent["modelPath"] = json!(path);
        let error = h
            .invoke("save_settings", json!({"settings": sent}))
            .expect_err("a model path from the page is refused");
        let text = error.to_string();
        assert!(text.contains("unknown field `modelPath`"), "{text}");
        errors.push(text.replace(&path, "PATH"));
    }
    assert!(errors.windows(2).all(|w| w[0] == w[1]), "{errors:?}");

    let after: AppInfo = h.call("app_info", json!({}));
    assert_eq!(after.model.path, before.model.path);
    assert!(
        !h.recorder.log().iter().any(|l| l.starts_with("model ")),
        "{:?}",
        h.recorder.log()
    );

    // The page's own settings still save, and leave the model alone.
    let mut settings = before.settings.clone();
    settings.top_k = 3;
    let saved: AppInfo = h.call("save_settings", json!({"settings": settings}));
    assert_eq!(saved.settings.top_k, 3);
    assert_eq!(saved.model.path, before.model.path);
}

#[test]
fn the_model_changes_through_the_native_dialog_and_stays_chosen() {
    let h = harness();
    let chosen = h.model_copy("chosen.gguf");

    // Cancelling the dialog changes nothing.
    let none: Option<ModelInfo> = h.call("pick_model", json!({}));
    assert!(none.is_none());

    *h.recorder.model_pick.lock().unwrap() = Some(chosen.clone());
    let picked: Option<ModelInfo> = h.call("pick_model", json!({}));
    let picked = picked.unwrap();
    assert_eq!(Path::new(&picked.path), chosen);
    assert!(picked.present && picked.error.is_none());
    assert!(
        h.recorder
            .log()
            .contains(&format!("model {}", chosen.display())),
        "{:?}",
        h.recorder.log()
    );
    let info: AppInfo = h.call("app_info", json!({}));
    assert_eq!(Path::new(&info.model.path), chosen);

    // Saving the page's settings keeps the chosen model, also for the next start.
    let _: AppInfo = h.call("save_settings", json!({"settings": info.settings}));
    let restarted = Docent::new(h.docent.engine().clone(), h.recorder.clone()).unwrap();
    assert_eq!(Path::new(&restarted.model_info().path), chosen);

    // A model file that disappears is reported, not loaded.
    std::fs::remove_file(&chosen).unwrap();
    let info: AppInfo = h.call("app_info", json!({}));
    assert!(!info.model.present);
    assert!(info.model.error.unwrap().contains("scripts/setup"));
    assert!(info.model.size_bytes.is_none());
    let error = h.error(
        "ask",
        json!({"question": "How often?", "conversationId": null, "onEvent": "__CHANNEL__:8"}),
    );
    assert_eq!(error.kind, ErrorKind::ModelMissing, "{}", error.message);
}

#[test]
fn links_with_any_text_are_opened_or_refused_never_a_panic() {
    let h = harness();
    for url in [
        "ééééé://a.org",
        "httpsé://a.org",
        "ü",
        "日本語のリンク",
        "http://a.org",
        "javascript:alert(1)",
        "https://bank.example@evil.example/",
        "https://a.org/\nfile:///etc/passwd",
        "",
    ] {
        let error = h.error("open_link", json!({"url": url}));
        assert_eq!(
            error.kind,
            ErrorKind::NotAllowed,
            "{url:?}: {}",
            error.message
        );
        assert!(error.message.contains("https"), "{}", error.message);
    }
    // A long refused link is quoted shortened.
    let long = format!("ftp://{}", "é".repeat(10_000));
    let error = h.error("open_link", json!({"url": long}));
    assert!(error.message.chars().count() < 300, "{}", error.message);

    // International https links open, in the form a browser sends.
    let _: Value = h.call(
        "open_link",
        json!({"url": "https://bücher.example/über?q=ä"}),
    );
    assert_eq!(
        h.recorder.log(),
        ["url https://xn--bcher-kva.example/%C3%BCber?q=%C3%A4"]
    );
}

#[test]
fn a_panic_in_a_command_is_an_internal_error_and_the_app_goes_on() {
    let h = harness();
    let error = h.error("open_link", json!({"url": PANICKING_URL}));
    assert_eq!(error.kind, ErrorKind::Internal);
    assert!(
        error.message.contains("internal error") && error.message.contains("the opener broke"),
        "{}",
        error.message
    );
    let _: Value = h.call("open_link", json!({"url": "https://a.org/"}));
    let _: AppInfo = h.call("app_info", json!({}));
}

#[test]
fn a_panic_while_loading_the_model_is_a_clear_error_and_the_next_ask_works() {
    let h = harness();
    h.docent.engine().inject_load_panic();
    let error = h.error(
        "ask",
        json!({"question": "What is in my notes?", "conversationId": null, "onEvent": "__CHANNEL__:7"}),
    );
    assert_eq!(error.kind, ErrorKind::Internal);
    assert!(
        error
            .message
            .contains("loading the model failed unexpectedly: injected fault"),
        "{}",
        error.message
    );

    // A panic in the middle of an answer (here in the page's stream) leaves the "one answer at
    // a time" lock poisoned; the next question must still be answered, not called busy.
    let docent = h.docent.clone();
    let panicked = std::thread::spawn(move || {
        let _ = docent.ask("What is in my notes?", None, &mut |_| {
            panic!("the stream broke")
        });
    })
    .join();
    assert!(panicked.is_err(), "the stream's panic went through ask");

    let answer: AnswerResult = serde_json::from_value(
        h.ask("What is in my notes?")
            .unwrap_or_else(|e| panic!("the next ask fails: {e}")),
    )
    .unwrap();
    assert!(!answer.found, "an empty library finds nothing");
    assert!(h.docent.engine().llm_is_loaded());
}

#[test]
fn a_megabyte_question_is_refused_at_once_and_a_megabyte_search_is_answered() {
    let h = harness();
    let megabyte: String = (0..150_000).map(|i| format!("w{i} ")).collect();
    assert!(megabyte.len() > 1_000_000);
    let error: ApiError = serde_json::from_value(h.ask(&megabyte).unwrap_err()).unwrap();
    assert_eq!(error.kind, ErrorKind::Invalid);
    assert!(
        error.message.contains("the question is too long")
            && error
                .message
                .contains(&megabyte.trim().chars().count().to_string()),
        "{}",
        error.message
    );
    // Refused before anything was stored or loaded.
    let conversations: Vec<ConversationInfo> = h.call("list_conversations", json!({}));
    assert!(conversations.is_empty());
    assert!(!h.docent.engine().llm_is_loaded());

    // Search takes any text; the terms the page highlights stop at the search's own cap.
    let found: SearchResponse = h.call("search", json!({"query": megabyte, "limit": 10}));
    assert!(found.results.is_empty());
    assert_eq!(found.terms.len(), 64);
    assert_eq!(found.terms[0], "w0");
}

#[test]
fn a_model_chosen_in_an_earlier_version_is_kept_across_saves() {
    let h = harness();
    let earlier = h.model_copy("earlier.gguf");
    // The settings as versions that kept the model among them stored them.
    let legacy = json!({
        "modelPath": earlier, "device": "cpu", "threads": 0, "temperature": 0.0,
        "topK": 4, "chunkTokens": 200,
    });
    let engine = h.docent.engine().clone();
    engine
        .set_setting("desktop.settings", &legacy.to_string())
        .unwrap();
    let upgraded = Docent::new(engine.clone(), h.recorder.clone()).unwrap();
    assert_eq!(Path::new(&upgraded.model_info().path), earlier);
    assert_eq!(upgraded.settings().top_k, 4);
    let mut settings = upgraded.settings();
    settings.top_k = 6;
    upgraded.save_settings(settings).unwrap();
    let again = Docent::new(engine, h.recorder.clone()).unwrap();
    assert_eq!(Path::new(&again.model_info().path), earlier);
    assert_eq!(again.settings().top_k, 6);
}
