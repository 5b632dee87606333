//! The indexing queue: one engine-owned thread runs indexing jobs in order, reports progress
//! to the page (throttled), and can be paused, resumed and cancelled.
//!
//! Pausing holds the indexing thread inside its progress callback; the parse workers then fill
//! their bounded queue and wait, so a paused run uses no CPU and resumes where it stopped.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use docent_engine::{CancelFlag, Engine, EngineError, FileOutcome, Progress, ProgressEvent};
use docent_ipc::{IndexProgress, IndexState};

use crate::shell::Shell;

/// Progress events closer together than this are merged (state changes always go out).
const EMIT_INTERVAL: Duration = Duration::from_millis(100);
/// No ETA before this much of a run has passed.
const ETA_AFTER: Duration = Duration::from_secs(2);

struct Job {
    id: u32,
    label: String,
    /// The folders and files the user added when the job was queued: `paths` are indexed by
    /// the rules of a walk of these, never as roots of their own.
    roots: Vec<PathBuf>,
    paths: Vec<PathBuf>,
}

struct Queue {
    jobs: VecDeque<Job>,
    paused: bool,
    /// The running (or last) run's snapshot.
    current: Option<IndexProgress>,
    last_emit: Option<Instant>,
}

struct Shared {
    engine: Engine,
    shell: Arc<dyn Shell>,
    queue: Mutex<Queue>,
    wake: Condvar,
    cancel: CancelFlag,
    next_id: AtomicU32,
}

/// Cheap to clone; all clones drive the same queue.
#[derive(Clone)]
pub struct Indexer {
    shared: Arc<Shared>,
}

impl Indexer {
    /// Starts the queue's thread.
    pub fn start(engine: Engine, shell: Arc<dyn Shell>) -> Indexer {
        let shared = Arc::new(Shared {
            engine,
            shell,
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                paused: false,
                current: None,
                last_emit: None,
            }),
            wake: Condvar::new(),
            cancel: CancelFlag::default(),
            next_id: AtomicU32::new(1),
        });
        let worker = shared.clone();
        std::thread::Builder::new()
            .name("docent-indexer".into())
            .spawn(move || run(&worker))
            .expect("spawn indexing thread");
        Indexer { shared }
    }

    /// Queues an indexing run of `paths` (roots, or files and folders inside them) under
    /// `roots`; returns its job number.
    pub fn enqueue(&self, label: String, roots: Vec<PathBuf>, paths: Vec<PathBuf>) -> u32 {
        let id = self.shared.next_id.fetch_add(1, Ordering::SeqCst);
        let mut queue = self
            .shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        queue.jobs.push_back(Job {
            id,
            label,
            roots,
            paths,
        });
        let queued = queue.jobs.len() as u32;
        // A run that is already showing reports the longer queue.
        if let Some(current) = queue.current.as_mut()
            && is_active(current.state)
        {
            current.queued = queued;
            let snapshot = current.clone();
            self.shared.shell.index_progress(&snapshot);
        }
        self.shared.wake.notify_all();
        id
    }

    pub fn pause(&self) {
        self.set_paused(true);
    }

    pub fn resume(&self) {
        self.set_paused(false);
    }

    fn set_paused(&self, paused: bool) {
        let mut queue = self
            .shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        queue.paused = paused;
        if let Some(current) = queue.current.as_mut()
            && is_active(current.state)
        {
            current.state = if paused {
                IndexState::Paused
            } else {
                IndexState::Indexing
            };
            let snapshot = current.clone();
            self.shared.shell.index_progress(&snapshot);
        }
        self.shared.wake.notify_all();
    }

    /// Stops the running run at the next file and drops the queued ones.
    pub fn cancel(&self) {
        let mut queue = self
            .shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let dropped: Vec<Job> = queue.jobs.drain(..).collect();
        queue.paused = false;
        let running = queue.current.as_ref().is_some_and(|c| is_active(c.state));
        if running {
            self.shared.cancel.cancel();
        } else if let Some(first) = dropped.first() {
            // Nothing had started: report the dropped run as cancelled.
            let snapshot = IndexProgress {
                queued: 0,
                state: IndexState::Cancelled,
                ..starting(first)
            };
            self.shared.shell.index_progress(&snapshot);
            queue.current = Some(snapshot);
        }
        self.shared.wake.notify_all();
    }

    /// The running or last run.
    pub fn state(&self) -> Option<IndexProgress> {
        self.shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .current
            .clone()
    }

    /// Waits until the queue is empty and nothing runs (tests).
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut queue = self
            .shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            let running = queue.current.as_ref().is_some_and(|c| is_active(c.state));
            if queue.jobs.is_empty() && !running {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            queue = self
                .shared
                .wake
                .wait_timeout(queue, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// A run that is about to walk its folders.
fn starting(job: &Job) -> IndexProgress {
    IndexProgress {
        job: job.id,
        queued: 0,
        state: IndexState::Scanning,
        label: job.label.clone(),
        files_done: 0,
        files_total: 0,
        bytes_done: 0,
        bytes_total: 0,
        current_file: None,
        eta_seconds: None,
        indexed: 0,
        unchanged: 0,
        skipped: 0,
        failed: 0,
        message: None,
    }
}

fn is_active(state: IndexState) -> bool {
    matches!(
        state,
        IndexState::Scanning | IndexState::Indexing | IndexState::Paused | IndexState::Committing
    )
}

fn run(shared: &Shared) {
    loop {
        let job = {
            let mut queue = shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if let Some(job) = queue.jobs.pop_front() {
                    // Under the lock, so a cancel is either before this run (and dropped it
                    // from the queue) or meant for it.
                    shared.cancel.reset();
                    let snapshot = IndexProgress {
                        queued: queue.jobs.len() as u32,
                        ..starting(&job)
                    };
                    shared.shell.index_progress(&snapshot);
                    queue.current = Some(snapshot);
                    queue.last_emit = Some(Instant::now());
                    break job;
                }
                queue = shared
                    .wake
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        let progress = JobProgress {
            shared,
            started: Instant::now(),
        };
        // A panic (a bug met on some file) fails this run with its message; the queue thread
        // lives on for the next run instead of leaving the page showing "indexing" forever.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            shared
                .engine
                .index_within(&job.roots, &job.paths, &progress, &shared.cancel)
        }))
        .unwrap_or_else(|payload| {
            Err(EngineError::Panicked {
                what: "indexing",
                message: crate::locks::panic_message(payload.as_ref()),
            })
        });
        let mut queue = shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let queued = queue.jobs.len() as u32;
        if let Some(current) = queue.current.as_mut() {
            current.queued = queued;
            current.current_file = None;
            current.eta_seconds = None;
            match &result {
                Ok(report) if report.cancelled => current.state = IndexState::Cancelled,
                Ok(_) => {
                    current.state = IndexState::Done;
                    current.files_done = current.files_total;
                    current.bytes_done = current.bytes_total;
                }
                Err(error) => {
                    current.state = IndexState::Failed;
                    current.message = Some(error.to_string());
                }
            }
            let snapshot = current.clone();
            shared.shell.index_progress(&snapshot);
        }
        shared.wake.notify_all();
        drop(queue);
        shared.shell.library_changed("indexed");
        if let Err(error) = result {
            tracing::warn!(%error, "indexing failed");
        }
    }
}

struct JobProgress<'a> {
    shared: &'a Shared,
    started: Instant,
}

impl JobProgress<'_> {
    /// Holds the indexing thread while paused (until resumed or cancelled).
    fn wait_while_paused(&self) {
        let mut queue = self
            .shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !queue.paused {
            return;
        }
        if let Some(current) = queue.current.as_mut()
            && current.state != IndexState::Paused
        {
            current.state = IndexState::Paused;
            let snapshot = current.clone();
            self.shared.shell.index_progress(&snapshot);
        }
        while queue.paused && !self.shared.cancel.is_cancelled() {
            queue = self
                .shared
                .wake
                .wait_timeout(queue, Duration::from_millis(250))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl Progress for JobProgress<'_> {
    fn event(&self, event: &ProgressEvent<'_>) {
        self.wait_while_paused();
        let mut queue = self
            .shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let paused = queue.paused;
        let Some(current) = queue.current.as_mut() else {
            return;
        };
        let before = current.state;
        match event {
            ProgressEvent::Scanning { found } => {
                current.state = IndexState::Scanning;
                current.files_total = *found as u32;
            }
            ProgressEvent::Planned { files, bytes } => {
                current.state = IndexState::Indexing;
                current.files_total = *files as u32;
                current.bytes_total = *bytes;
            }
            ProgressEvent::FileStarted { path } => {
                current.state = IndexState::Indexing;
                current.current_file = Some(display(path));
            }
            ProgressEvent::FileDone {
                path,
                outcome,
                bytes,
                ..
            } => {
                current.files_done += 1;
                current.bytes_done += bytes;
                match outcome {
                    FileOutcome::Indexed | FileOutcome::Moved => current.indexed += 1,
                    FileOutcome::Unchanged => current.unchanged += 1,
                    FileOutcome::Skipped => current.skipped += 1,
                    FileOutcome::Failed => current.failed += 1,
                    FileOutcome::Removed => {}
                }
                current.current_file = Some(display(path));
                current.eta_seconds = eta(
                    self.started.elapsed(),
                    current.bytes_done,
                    current.bytes_total,
                );
            }
            ProgressEvent::Committing => current.state = IndexState::Committing,
        }
        if paused && current.state == IndexState::Indexing {
            current.state = IndexState::Paused;
        }
        let now = Instant::now();
        let due = queue
            .last_emit
            .is_none_or(|last| now.duration_since(last) >= EMIT_INTERVAL);
        let current = queue.current.as_ref().expect("current run");
        if due || current.state != before {
            let snapshot = current.clone();
            queue.last_emit = Some(now);
            drop(queue);
            self.shared.shell.index_progress(&snapshot);
        }
    }
}

fn display(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Seconds left at the rate so far, by bytes.
fn eta(elapsed: Duration, done: u64, total: u64) -> Option<f64> {
    if elapsed < ETA_AFTER || done == 0 || total <= done {
        return None;
    }
    let rate = done as f64 / elapsed.as_secs_f64();
    Some((total - done) as f64 / rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_waits_for_enough_data_then_extrapolates() {
        assert_eq!(eta(Duration::from_secs(1), 50, 100), None);
        assert_eq!(eta(Duration::from_secs(10), 0, 100), None);
        assert_eq!(eta(Duration::from_secs(10), 100, 100), None);
        let left = eta(Duration::from_secs(10), 25, 100).unwrap();
        assert!((left - 30.0).abs() < 1e-9, "{left}");
    }
}
