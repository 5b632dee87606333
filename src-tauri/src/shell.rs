//! What the app asks of the desktop around it: native dialogs, opening files and links, and
//! telling the page something happened. Behind a trait so command tests run without a window.

use std::path::{Path, PathBuf};

use docent_ipc::{IndexProgress, ModelInfo, Notice, PickKind};

pub trait Shell: Send + Sync + 'static {
    /// The native "Add folder…" / "Add files…" dialog; empty when cancelled.
    fn pick(&self, kind: PickKind) -> Vec<PathBuf>;
    /// The native dialog for a `.gguf` model file.
    fn pick_model(&self) -> Option<PathBuf>;
    /// Opens a file with the system's default app.
    fn open_path(&self, path: &Path) -> Result<(), String>;
    /// Shows a file in its folder.
    fn reveal_path(&self, path: &Path) -> Result<(), String>;
    /// Opens an https link in the system browser.
    fn open_url(&self, url: &str) -> Result<(), String>;

    fn index_progress(&self, progress: &IndexProgress);
    fn library_changed(&self, reason: &str);
    fn model_changed(&self, model: &ModelInfo);
    fn notice(&self, notice: &Notice);
}
