//! Watched folders: file changes under a watched folder are debounced, then the changed files
//! are indexed (or removed when gone) through the indexing queue.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::RecursiveMode;
use notify_debouncer_mini::{DebounceEventResult, Debouncer, new_debouncer};

/// Quiet time after the last change before indexing starts.
pub const DEBOUNCE: Duration = Duration::from_millis(1500);

/// What a batch of changes means for the library.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Files or folders to (re)index.
    pub present: Vec<PathBuf>,
    /// Paths gone from disk: remove from the library.
    pub gone: Vec<PathBuf>,
}

/// Splits changed paths into what to index and what to remove, ignoring Docent's own data
/// folder, hidden files and editors' temporary files.
pub fn classify(paths: impl IntoIterator<Item = PathBuf>, data_dir: &Path) -> Changes {
    let unique: BTreeSet<PathBuf> = paths
        .into_iter()
        .filter(|p| !p.starts_with(data_dir) && !is_noise(p))
        .collect();
    let mut changes = Changes::default();
    for path in unique {
        if path.exists() {
            changes.present.push(path);
        } else {
            changes.gone.push(path);
        }
    }
    changes
}

fn is_noise(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return true;
    };
    name.starts_with('.')
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".tmp")
        || name.ends_with(".part")
        || name.starts_with(".~lock")
}

/// Owns the OS watches; dropping it stops them.
pub struct Watcher {
    debouncer: Mutex<Debouncer<notify::RecommendedWatcher>>,
}

impl Watcher {
    /// `on_changes` runs on the debouncer's thread with each quiet batch of changed paths.
    pub fn new(on_changes: impl Fn(Vec<PathBuf>) + Send + 'static) -> notify::Result<Watcher> {
        let debouncer = new_debouncer(DEBOUNCE, move |result: DebounceEventResult| match result {
            Ok(events) => on_changes(events.into_iter().map(|e| e.path).collect()),
            Err(error) => tracing::warn!(%error, "folder watch error"),
        })?;
        Ok(Watcher {
            debouncer: Mutex::new(debouncer),
        })
    }

    pub fn watch(&self, folder: &Path) -> notify::Result<()> {
        let mut debouncer = self.debouncer.lock().expect("watcher lock");
        debouncer.watcher().watch(folder, RecursiveMode::Recursive)
    }

    pub fn unwatch(&self, folder: &Path) {
        let mut debouncer = self.debouncer.lock().expect("watcher lock");
        let _ = debouncer.watcher().unwatch(folder);
    }
}

pub type SharedWatcher = Arc<Watcher>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn changes_are_split_and_noise_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let kept = dir.path().join("notes.md");
        std::fs::write(&kept, "x").unwrap();
        let changes = classify(
            vec![
                kept.clone(),
                kept.clone(),
                dir.path().join("gone.pdf"),
                dir.path().join(".hidden"),
                dir.path().join("draft.md~"),
                data.join("docent.db"),
            ],
            &data,
        );
        assert_eq!(changes.present, vec![kept]);
        assert_eq!(changes.gone, vec![dir.path().join("gone.pdf")]);
    }

    #[test]
    fn a_write_in_a_watched_folder_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().canonicalize().unwrap();
        let (tx, rx) = mpsc::channel();
        let watcher = Watcher::new(move |paths| {
            let _ = tx.send(paths);
        })
        .unwrap();
        watcher.watch(&folder).unwrap();
        let file = folder.join("new.txt");
        std::fs::write(&file, "hello").unwrap();
        let mut seen = Vec::new();
        while let Ok(paths) = rx.recv_timeout(Duration::from_secs(20)) {
            seen.extend(paths);
            if seen.contains(&file) {
                break;
            }
        }
        assert!(seen.contains(&file), "saw {seen:?}");
    }
}
