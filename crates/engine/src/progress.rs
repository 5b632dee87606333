use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::pipeline::FileOutcome;

/// Set from any thread to stop long work at the next file boundary.
#[derive(Debug, Clone, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Clears the flag so the same flag can stop the next piece of work.
    pub fn reset(&self) {
        self.0.store(false, Ordering::SeqCst);
    }

    pub fn as_atomic(&self) -> &AtomicBool {
        &self.0
    }
}

/// The steps of an indexing run, in order.
#[derive(Debug, Clone)]
pub enum ProgressEvent<'a> {
    /// Walking the folders; `found` files so far.
    Scanning { found: usize },
    /// The walk is done: this many files, this many bytes will be looked at.
    Planned { files: usize, bytes: u64 },
    /// A file is being parsed.
    FileStarted { path: &'a Path },
    /// A file reached its outcome.
    FileDone {
        path: &'a Path,
        outcome: FileOutcome,
        bytes: u64,
        chunks: usize,
        reason: Option<&'a str>,
    },
    /// Bringing the BM25 and vector indexes up to date.
    Committing,
}

/// Receives progress; called from the indexing thread.
pub trait Progress: Send + Sync {
    fn event(&self, event: &ProgressEvent<'_>);
}

/// Ignores progress.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn event(&self, _event: &ProgressEvent<'_>) {}
}
