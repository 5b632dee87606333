//! Watched folders: file changes under a watched folder are screened by the engine's path
//! policy as they arrive (so a burst inside `node_modules` or `.git` is dropped at once),
//! debounced, then indexed within their roots (or removed when gone) through the indexing
//! queue. A changed path never becomes a root of its own.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use docent_engine::PathPolicy;
use notify::RecursiveMode;
use notify_debouncer_mini::{DebounceEventResult, Debouncer, new_debouncer_opt};

/// Quiet time after the last change before indexing starts.
pub const DEBOUNCE: Duration = Duration::from_millis(1500);
/// How long the OS watcher lets one path settle (its events are then coalesced).
const OS_DEBOUNCE: Duration = Duration::from_millis(500);

/// What a batch of changes means for the library.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Files or folders to (re)index.
    pub present: Vec<PathBuf>,
    /// Paths gone from disk: remove from the library.
    pub gone: Vec<PathBuf>,
}

/// Splits changed paths into what to index and what to remove, keeping only paths that pass
/// the policy's screen (under a watched root, no hidden or skipped folder on the way, not in
/// Docent's data folder) and are not editors' temporary files.
pub fn classify(paths: impl IntoIterator<Item = PathBuf>, policy: &PathPolicy) -> Changes {
    let unique: BTreeSet<PathBuf> = paths
        .into_iter()
        .filter(|p| !is_noise(p) && policy.screen(p).is_ok())
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

/// Gathers changed paths until nothing has changed for a quiet period, then hands them over
/// in one batch. The OS debouncer settles each path on its own clock, so a burst of writes
/// (a git checkout) reaches us as several batches; this makes them one indexing run.
pub struct Coalescer {
    state: Arc<(Mutex<Pending>, Condvar)>,
}

#[derive(Default)]
struct Pending {
    paths: BTreeSet<PathBuf>,
    last_change: Option<Instant>,
    closed: bool,
}

impl Coalescer {
    /// `on_flush` runs on the coalescer's own thread.
    pub fn new(quiet: Duration, on_flush: impl Fn(Vec<PathBuf>) + Send + 'static) -> Coalescer {
        let state = Arc::new((Mutex::new(Pending::default()), Condvar::new()));
        let shared = state.clone();
        std::thread::Builder::new()
            .name("docent-watch".into())
            .spawn(move || {
                let (lock, wake) = &*shared;
                let mut pending = lock.lock().unwrap_or_else(PoisonError::into_inner);
                loop {
                    if pending.closed {
                        return;
                    }
                    let Some(last) = pending.last_change else {
                        pending = wake.wait(pending).unwrap_or_else(PoisonError::into_inner);
                        continue;
                    };
                    let quiet_for = last.elapsed();
                    if quiet_for < quiet {
                        pending = wake
                            .wait_timeout(pending, quiet - quiet_for)
                            .unwrap_or_else(PoisonError::into_inner)
                            .0;
                        continue;
                    }
                    let paths: Vec<PathBuf> =
                        std::mem::take(&mut pending.paths).into_iter().collect();
                    pending.last_change = None;
                    drop(pending);
                    on_flush(paths);
                    pending = lock.lock().unwrap_or_else(PoisonError::into_inner);
                }
            })
            .expect("spawn watch thread");
        Coalescer { state }
    }

    pub fn push(&self, paths: impl IntoIterator<Item = PathBuf>) {
        let (lock, wake) = &*self.state;
        let mut pending = lock.lock().unwrap_or_else(PoisonError::into_inner);
        pending.paths.extend(paths);
        pending.last_change = Some(Instant::now());
        wake.notify_all();
    }
}

impl Drop for Coalescer {
    fn drop(&mut self) {
        let (lock, wake) = &*self.state;
        lock.lock().unwrap_or_else(PoisonError::into_inner).closed = true;
        wake.notify_all();
    }
}

/// Owns the OS watches; dropping it stops them.
pub struct Watcher {
    debouncer: Mutex<Debouncer<notify::RecommendedWatcher>>,
}

impl Watcher {
    /// `screen` runs on each batch the OS reports and keeps the paths worth gathering, so a
    /// flood of refused paths neither grows the pending set nor postpones the next run.
    /// `on_changes` runs on a thread of the watcher's with each batch of kept paths, once
    /// nothing has changed for [`DEBOUNCE`].
    pub fn new(
        screen: impl Fn(Vec<PathBuf>) -> Vec<PathBuf> + Send + 'static,
        on_changes: impl Fn(Vec<PathBuf>) + Send + 'static,
    ) -> notify::Result<Watcher> {
        let coalescer = Coalescer::new(DEBOUNCE, on_changes);
        // Not following links: a link to `/` in a watched folder would otherwise put a watch
        // on every folder of the disk. Links inside the roots are walked by the indexer.
        let config = notify_debouncer_mini::Config::default()
            .with_timeout(OS_DEBOUNCE)
            .with_notify_config(notify::Config::default().with_follow_symlinks(false));
        let debouncer = new_debouncer_opt::<_, notify::RecommendedWatcher>(
            config,
            move |result: DebounceEventResult| match result {
                Ok(events) => {
                    let kept = screen(events.into_iter().map(|e| e.path).collect());
                    if !kept.is_empty() {
                        coalescer.push(kept);
                    }
                }
                Err(error) => tracing::warn!(%error, "folder watch error"),
            },
        )?;
        Ok(Watcher {
            debouncer: Mutex::new(debouncer),
        })
    }

    pub fn watch(&self, folder: &Path) -> notify::Result<()> {
        let mut debouncer = self
            .debouncer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        debouncer.watcher().watch(folder, RecursiveMode::Recursive)
    }

    pub fn unwatch(&self, folder: &Path) {
        let mut debouncer = self
            .debouncer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let _ = debouncer.watcher().unwatch(folder);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn changes_are_split_and_noise_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let data = root.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let kept = root.join("notes.md");
        std::fs::write(&kept, "x").unwrap();
        let policy = PathPolicy::new(std::slice::from_ref(&root)).excluding(&data);
        let changes = classify(
            vec![
                kept.clone(),
                kept.clone(),
                root.join("gone.pdf"),
                root.join(".hidden"),
                root.join("draft.md~"),
                root.join(".git/config"),
                root.join("web/node_modules/left-pad/index.js"),
                data.join("docent.db"),
                PathBuf::from("/etc/passwd"),
            ],
            &policy,
        );
        assert_eq!(changes.present, vec![kept]);
        assert_eq!(changes.gone, vec![root.join("gone.pdf")]);
    }

    #[test]
    fn batches_close_together_flush_once() {
        let (tx, rx) = mpsc::channel();
        let coalescer = Coalescer::new(Duration::from_millis(300), move |paths| {
            tx.send(paths).unwrap();
        });
        for batch in 0..5 {
            coalescer.push([
                PathBuf::from(format!("/f/{batch}")),
                PathBuf::from("/f/same"),
            ]);
            std::thread::sleep(Duration::from_millis(50));
        }
        let flushed = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(flushed.len(), 6, "{flushed:?}");
        assert!(
            rx.recv_timeout(Duration::from_millis(600)).is_err(),
            "one flush only"
        );
        // Later changes make a new batch.
        coalescer.push([PathBuf::from("/f/late")]);
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(10)).unwrap(),
            vec![PathBuf::from("/f/late")]
        );
    }

    #[test]
    fn a_write_in_a_watched_folder_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().canonicalize().unwrap();
        let (tx, rx) = mpsc::channel();
        let watcher = Watcher::new(
            |paths: Vec<PathBuf>| {
                paths
                    .into_iter()
                    .filter(|p| !p.ends_with("skipped.txt"))
                    .collect()
            },
            move |paths| {
                let _ = tx.send(paths);
            },
        )
        .unwrap();
        watcher.watch(&folder).unwrap();
        std::fs::write(folder.join("skipped.txt"), "dropped by the screen").unwrap();
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
        assert!(!seen.contains(&folder.join("skipped.txt")), "saw {seen:?}");
    }
}
