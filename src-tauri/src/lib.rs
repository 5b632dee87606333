//! Docent's desktop app: a Tauri window over the engine.
//!
//! - [`app::Docent`] holds the state and implements every operation, without Tauri.
//! - `commands` are thin `#[tauri::command]` wrappers, run on blocking threads.
//! - [`shell::Shell`] is what the app asks of the desktop (dialogs, opener, events), so the
//!   commands can be tested on Tauri's mock runtime.
//! - Long work runs on engine-owned threads: the indexing queue ([`indexer`]) and the answer
//!   thread of each `ask`; answer tokens stream over the request's `Channel`, indexing progress
//!   and "library changed" are broadcast as events (indexing also starts from native drops and
//!   folder watches, which have no request).

pub mod app;
pub mod command_names;
pub mod commands;
pub mod convert;
pub mod indexer;
pub mod instance;
mod locks;
pub mod open;
pub mod paths;
pub mod shell;
pub mod watch;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use docent_engine::{Engine, EngineConfig};
use docent_ipc::{IndexProgress, ModelInfo, Notice, NoticeLevel, PickKind, events};
use tauri::{AppHandle, DragDropEvent, Emitter, Manager, Runtime, WindowEvent};
use tauri_plugin_dialog::DialogExt;
use tauri_plugin_opener::OpenerExt;

use crate::app::Docent;
use crate::instance::Instance;

/// The desktop around a running app.
pub struct TauriShell<R: Runtime> {
    app: AppHandle<R>,
}

impl<R: Runtime> TauriShell<R> {
    pub fn new(app: AppHandle<R>) -> TauriShell<R> {
        TauriShell { app }
    }

    fn emit<T: serde::Serialize + Clone>(&self, event: &str, payload: &T) {
        if let Err(error) = self.app.emit(event, payload) {
            tracing::warn!(%error, event, "cannot emit");
        }
    }
}

impl<R: Runtime> shell::Shell for TauriShell<R> {
    fn pick(&self, kind: PickKind) -> Vec<PathBuf> {
        let dialog = self.app.dialog().file().set_title(match kind {
            PickKind::Folder => "Add a folder to Docent",
            PickKind::Files => "Add files to Docent",
        });
        let picked = match kind {
            PickKind::Folder => dialog.blocking_pick_folder().into_iter().collect(),
            PickKind::Files => dialog.blocking_pick_files().unwrap_or_default(),
        };
        picked
            .into_iter()
            .filter_map(|p| p.into_path().ok())
            .collect()
    }

    fn pick_model(&self) -> Option<PathBuf> {
        self.app
            .dialog()
            .file()
            .set_title("Choose a GGUF model")
            .add_filter("GGUF model", &["gguf"])
            .blocking_pick_file()
            .and_then(|p| p.into_path().ok())
    }

    fn open_path(&self, path: &Path) -> Result<(), String> {
        self.app
            .opener()
            .open_path(path.to_string_lossy(), None::<&str>)
            .map_err(|e| e.to_string())
    }

    fn reveal_path(&self, path: &Path) -> Result<(), String> {
        self.app
            .opener()
            .reveal_item_in_dir(path)
            .map_err(|e| e.to_string())
    }

    fn open_url(&self, url: &str) -> Result<(), String> {
        self.app
            .opener()
            .open_url(url, None::<&str>)
            .map_err(|e| e.to_string())
    }

    fn index_progress(&self, progress: &IndexProgress) {
        self.emit(events::INDEX_PROGRESS, progress);
    }

    fn library_changed(&self, reason: &str) {
        self.emit(
            events::LIBRARY_CHANGED,
            &docent_ipc::LibraryChanged {
                reason: reason.to_string(),
            },
        );
    }

    fn model_changed(&self, model: &ModelInfo) {
        self.emit(events::MODEL_CHANGED, model);
    }

    fn notice(&self, notice: &Notice) {
        self.emit(events::NOTICE, notice);
    }
}

/// Whether a graphical session is reachable.
pub fn has_display() -> bool {
    if cfg!(target_os = "linux") {
        ["DISPLAY", "WAYLAND_DISPLAY"]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
    } else {
        true
    }
}

/// Opens the data folder's engine and runs the app until its window closes.
pub fn run(config: EngineConfig) -> Result<(), String> {
    let listener = match instance::claim(&config.data_dir) {
        Ok(Instance::First(listener)) => listener,
        Ok(Instance::Focused) => {
            eprintln!(
                "Docent is already open on {}; brought it to the front.",
                config.data_dir.display()
            );
            return Ok(());
        }
        Err(error) => {
            return Err(format!(
                "cannot use the data folder {}: {error}",
                config.data_dir.display()
            ));
        }
    };
    let engine = Engine::open(config).map_err(|e| e.to_string())?;

    tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_opener::init())
        .setup(move |app| {
            let handle = app.handle().clone();
            let shell = Arc::new(TauriShell::new(handle.clone()));
            let docent = Docent::new(engine, shell).map_err(|e| e.message)?;
            docent.start_watching();
            app.manage(docent);
            let focus = handle.clone();
            instance::serve(listener, move || {
                if let Some(window) = focus.get_webview_window("main") {
                    let _ = window.unminimize();
                    let _ = window.show();
                    let _ = window.set_focus();
                }
            });
            Ok(())
        })
        .on_window_event(|window, event| {
            if let WindowEvent::DragDrop(DragDropEvent::Drop { paths, .. }) = event {
                let docent = window.state::<Docent>().inner().clone();
                let paths = paths.clone();
                let dialog_app = window.app_handle().clone();
                std::thread::spawn(move || {
                    if let Err(error) = docent.add_paths(paths) {
                        let _ = dialog_app.emit(
                            events::NOTICE,
                            Notice {
                                level: NoticeLevel::Error,
                                message: error.message,
                            },
                        );
                    }
                });
            }
        })
        .invoke_handler(handler!())
        .run(tauri::generate_context!())
        .map_err(|e| e.to_string())
}
