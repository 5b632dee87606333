//! Indexing: walk -> plan (unchanged, moved, new) -> parse in sandboxed workers, chunk ->
//! embed in batches -> one writer commits each document to the store -> derived indexes replay.
//!
//! Every file ends with one [`FileOutcome`]; a bad file never stops the run.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant, SystemTime};

use docent_embed::Embedder;
use docent_ingest::{Detection, IngestError, PathPolicy, Refusal, Walked};
use docent_store::{DocFilter, NewChunk, NewDocument, OutcomeDocument};
use docent_types::{ChunkDraft, DocStatus, DocType, ParsedDoc};

use crate::progress::{CancelFlag, Progress, ProgressEvent};
use crate::{Engine, EngineError, absolute_path};

/// Files larger than this are skipped without being read.
const MAX_FILE_BYTES: u64 = 512 << 20;
/// Chunks gathered before one embedding call: big enough for length-sorted batching.
const EMBED_BATCH_CHUNKS: usize = 256;
/// How often the derived indexes catch up during a long run, so a crash loses little.
const SYNC_INTERVAL: Duration = Duration::from_secs(60);
/// Memory the parsed documents between the parse workers and the writer may take, all
/// together (see [`MemoryBudget`]). A document's share is [`DOC_MEMORY_PER_TEXT_BYTE`] times
/// its text: the document, the chunker's token tables (16 bytes per token, about 4 per byte of
/// text) and the chunks' own copy. With text capped at 32 MB per file
/// ([`docent_ingest::MAX_TEXT_BYTES`]), two documents at the cap fit at once.
const PARSED_MEMORY_BYTES: u64 = 512 << 20;
const DOC_MEMORY_PER_TEXT_BYTE: u64 = 6;

/// Where one file ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileOutcome {
    Indexed,
    Unchanged,
    /// Same content as a document whose file is gone: re-pointed, not embedded again.
    Moved,
    Skipped,
    Failed,
    /// Was in the library, is no longer on disk.
    Removed,
}

impl FileOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            FileOutcome::Indexed => "indexed",
            FileOutcome::Unchanged => "unchanged",
            FileOutcome::Moved => "moved",
            FileOutcome::Skipped => "skipped",
            FileOutcome::Failed => "failed",
            FileOutcome::Removed => "removed",
        }
    }
}

#[derive(Debug, Clone)]
pub struct FileReport {
    pub path: PathBuf,
    pub outcome: FileOutcome,
    pub reason: Option<String>,
    pub chunks: usize,
}

/// The summary of one indexing run.
#[derive(Debug, Clone, Default)]
pub struct IndexReport {
    pub files: Vec<FileReport>,
    pub chunks: usize,
    pub bytes: u64,
    pub elapsed: Duration,
    /// Wall time the writer spent embedding, and in the store.
    pub embed_time: Duration,
    pub store_time: Duration,
    pub cancelled: bool,
}

impl IndexReport {
    pub fn count(&self, outcome: FileOutcome) -> usize {
        self.files.iter().filter(|f| f.outcome == outcome).count()
    }

    fn push(&mut self, path: &Path, outcome: FileOutcome, reason: Option<String>, chunks: usize) {
        self.files.push(FileReport {
            path: path.to_path_buf(),
            outcome,
            reason,
            chunks,
        });
    }
}

/// A file that must be parsed.
struct Job {
    path: PathBuf,
    doc_type: DocType,
    size: u64,
    mtime_ns: i64,
    hash: String,
}

struct Parsed {
    job_idx: usize,
    result: Result<(ParsedDoc, Vec<ChunkDraft>), String>,
    /// Its share of the [`MemoryBudget`], handed back once it is written (or dropped).
    memory: u64,
}

struct Ready {
    job_idx: usize,
    doc: ParsedDoc,
    chunks: Vec<ChunkDraft>,
    memory: u64,
}

/// Bytes that documents in flight (parsed, being chunked, waiting for the writer) may hold.
///
/// The queue to the writer is bounded in documents, but documents differ a millionfold in
/// size: without this, a folder of big files could fill it with gigabytes. A parse thread takes
/// a document's share before chunking it and the writer gives it back once the document is
/// stored. A document larger than the whole budget still goes through, alone, so nothing
/// waits forever.
struct MemoryBudget {
    used: Mutex<u64>,
    freed: Condvar,
    limit: u64,
}

impl MemoryBudget {
    fn new(limit: u64) -> MemoryBudget {
        MemoryBudget {
            used: Mutex::new(0),
            freed: Condvar::new(),
            limit,
        }
    }

    fn take(&self, bytes: u64) {
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        while *used > 0 && used.saturating_add(bytes) > self.limit {
            used = self
                .freed
                .wait(used)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *used += bytes;
    }

    fn give_back(&self, bytes: u64) {
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        *used = used.saturating_sub(bytes);
        self.freed.notify_all();
    }
}

/// Bytes of text in `doc`'s blocks.
fn doc_text_bytes(doc: &ParsedDoc) -> u64 {
    doc.blocks.iter().map(|block| block.text.len() as u64).sum()
}

impl Engine {
    /// Indexes files and folders, each one a root the user chose. Returns when every file has
    /// an outcome (or on cancel); per-file failures are in the report, not errors.
    ///
    /// A full disk or a read-only data folder stops the run with [`EngineError::DiskFull`] or
    /// [`EngineError::ReadOnly`]: every document committed before stays, and the derived indexes
    /// are brought up to it where the disk still allows, so searches find it.
    pub fn index_paths(
        &self,
        paths: &[PathBuf],
        progress: &dyn Progress,
        cancel: &CancelFlag,
    ) -> Result<IndexReport, EngineError> {
        self.with_storage_errors(progress, || {
            self.index_paths_unchecked(paths, progress, cancel)
        })
    }

    /// Runs an indexing job, turning a full disk or a read-only data folder into its clear
    /// error, and after a full disk brings the derived indexes up to what was committed.
    fn with_storage_errors(
        &self,
        progress: &dyn Progress,
        job: impl FnOnce() -> Result<IndexReport, EngineError>,
    ) -> Result<IndexReport, EngineError> {
        self.check_writable()?;
        let data_dir = &self.inner.config.data_dir;
        job().map_err(|error| {
            let error = error.with_storage_cause(data_dir);
            if let EngineError::DiskFull { .. } = error {
                progress.event(&ProgressEvent::Committing);
                if let Err(sync_error) = self.sync_derived() {
                    tracing::warn!(%sync_error, "could not update the search indexes either");
                }
            }
            error
        })
    }

    fn index_paths_unchecked(
        &self,
        paths: &[PathBuf],
        progress: &dyn Progress,
        cancel: &CancelFlag,
    ) -> Result<IndexReport, EngineError> {
        let mut report = IndexReport::default();
        let mut roots = Vec::new();
        for path in paths {
            match path.canonicalize() {
                Ok(root) => roots.push(root),
                Err(error) => report.push(
                    &absolute_path(path),
                    FileOutcome::Failed,
                    Some(io_reason(&error)),
                    0,
                ),
            }
        }
        self.index_targets(&roots, &roots, report, progress, cancel)
    }

    /// Indexes `paths` (files or folders that changed, or a part of a root to index again)
    /// by the rules of a walk of `roots`, the folders and files the user added: see
    /// [`Engine::path_policy`]. A path that is not under a root is skipped with a reason and
    /// never becomes a root of its own; a document at or under a path that the walk no longer
    /// finds (gone, or now refused) leaves the library.
    pub fn index_within(
        &self,
        roots: &[PathBuf],
        paths: &[PathBuf],
        progress: &dyn Progress,
        cancel: &CancelFlag,
    ) -> Result<IndexReport, EngineError> {
        let targets: Vec<PathBuf> = paths
            .iter()
            .map(|path| std::path::absolute(path).unwrap_or_else(|_| path.clone()))
            .collect();
        self.with_storage_errors(progress, || {
            self.index_targets(roots, &targets, IndexReport::default(), progress, cancel)
        })
    }

    /// The one rule for which paths may be read, for every caller: under one of `roots`, the
    /// walk's skip rules (hidden, `.git`, `node_modules`, `target`, ignore files) on every
    /// component below the root, symlinks only to places under a root, and never this
    /// engine's data folder.
    pub fn path_policy(&self, roots: &[PathBuf]) -> PathPolicy {
        PathPolicy::new(roots).excluding(&self.inner.config.data_dir)
    }

    fn index_targets(
        &self,
        roots: &[PathBuf],
        targets: &[PathBuf],
        mut report: IndexReport,
        progress: &dyn Progress,
        cancel: &CancelFlag,
    ) -> Result<IndexReport, EngineError> {
        let started = Instant::now();
        // Models are needed before any file is looked at: fail early and clearly.
        let embedder = self.embedder()?;
        let chunker = self.chunker()?;
        let policy = self.path_policy(roots);

        let files = walk_targets(&policy, targets, &mut report, progress);

        // Documents at or under a target that were not seen again are gone (or moved, or now
        // refused). Nothing outside the roots is touched.
        let seen: HashSet<&Path> = files.iter().map(PathBuf::as_path).collect();
        let mut gone: HashMap<String, docent_store::DocumentRow> = HashMap::new();
        let in_scope = |target: &&PathBuf| {
            !matches!(
                policy.screen(target),
                Err(Refusal::Outside | Refusal::NotPlain)
            )
        };
        for target in targets.iter().filter(in_scope) {
            let filter = DocFilter {
                status: None,
                path_prefix: Some(target.to_string_lossy().into_owned()),
            };
            for doc in self.block_on(self.store().list_documents(&filter))? {
                if !seen.contains(Path::new(&doc.path)) {
                    gone.insert(doc.path.clone(), doc);
                }
            }
        }

        let total_bytes = files
            .iter()
            .filter_map(|f| f.metadata().ok())
            .map(|m| m.len())
            .sum();
        progress.event(&ProgressEvent::Planned {
            files: files.len(),
            bytes: total_bytes,
        });

        let mut jobs = Vec::new();
        for path in &files {
            if cancel.is_cancelled() {
                report.cancelled = true;
                break;
            }
            match self.plan_file(path, &mut gone) {
                Ok(Planned::Parse(job)) => jobs.push(job),
                Ok(Planned::Done { outcome, reason }) => {
                    let bytes = path.metadata().map_or(0, |m| m.len());
                    report.bytes += bytes;
                    progress.event(&ProgressEvent::FileDone {
                        path,
                        outcome,
                        bytes,
                        chunks: 0,
                        reason: reason.as_deref(),
                    });
                    report.push(path, outcome, reason, 0);
                }
                Err(PlanError::File(reason)) => {
                    progress.event(&ProgressEvent::FileDone {
                        path,
                        outcome: FileOutcome::Failed,
                        bytes: 0,
                        chunks: 0,
                        reason: Some(&reason),
                    });
                    report.push(path, FileOutcome::Failed, Some(reason), 0);
                }
                Err(PlanError::Engine(error)) => return Err(error),
            }
        }

        if !report.cancelled {
            self.parse_and_store(&jobs, &*embedder, &chunker, progress, cancel, &mut report)?;
            report.cancelled = cancel.is_cancelled();
        }

        if !report.cancelled {
            for (path, doc) in gone {
                self.block_on(self.store().delete_document(doc.id))?;
                let path = PathBuf::from(path);
                progress.event(&ProgressEvent::FileDone {
                    path: &path,
                    outcome: FileOutcome::Removed,
                    bytes: 0,
                    chunks: 0,
                    reason: None,
                });
                report.push(&path, FileOutcome::Removed, None, 0);
            }
        }

        progress.event(&ProgressEvent::Committing);
        self.sync_derived()?;
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// Decides what a file needs without parsing it.
    fn plan_file(
        &self,
        path: &Path,
        gone: &mut HashMap<String, docent_store::DocumentRow>,
    ) -> Result<Planned, PlanError> {
        let store = self.store();
        let meta = path
            .metadata()
            .map_err(|e| PlanError::File(io_reason(&e)))?;
        let size = meta.len();
        let mtime_ns = mtime_ns(&meta);
        let path_str = path.to_string_lossy();
        let existing = self.block_on(store.document_by_path(&path_str))?;

        if let Some(doc) = &existing
            && doc.size == size
            && doc.mtime_ns == mtime_ns
            && doc.status != DocStatus::Pending
        {
            return Ok(Planned::Done {
                outcome: FileOutcome::Unchanged,
                reason: None,
            });
        }

        let outcome_doc = |hash: Option<String>, doc_type: Option<DocType>| OutcomeDocument {
            path: path_str.to_string(),
            size,
            mtime_ns,
            hash,
            doc_type,
        };

        if size > MAX_FILE_BYTES {
            let reason = format!(
                "file too large ({} > {})",
                human_bytes(size),
                human_bytes(MAX_FILE_BYTES)
            );
            self.block_on(store.save_outcome(
                &outcome_doc(None, None),
                DocStatus::Skipped,
                &reason,
            ))?;
            return Ok(Planned::Done {
                outcome: FileOutcome::Skipped,
                reason: Some(reason),
            });
        }

        let doc_type = match docent_ingest::detect(path) {
            Ok(Detection::Supported(doc_type)) => doc_type,
            Ok(Detection::Unsupported { reason }) => {
                self.block_on(store.save_outcome(
                    &outcome_doc(None, None),
                    DocStatus::Skipped,
                    &reason,
                ))?;
                return Ok(Planned::Done {
                    outcome: FileOutcome::Skipped,
                    reason: Some(reason),
                });
            }
            Err(error) => return Err(PlanError::File(error.reason())),
        };

        let hash = hash_file(path).map_err(|e| PlanError::File(io_reason(&e)))?;
        if let Some(doc) = &existing
            && doc.hash.as_deref() == Some(hash.as_str())
            && doc.status == DocStatus::Indexed
        {
            self.block_on(store.touch_document(doc.id, size, mtime_ns))?;
            return Ok(Planned::Done {
                outcome: FileOutcome::Unchanged,
                reason: None,
            });
        }

        if existing.is_none() {
            let twins = self.block_on(store.documents_by_hash(&hash))?;
            let moved_from = twins.into_iter().find(|doc| {
                doc.status == DocStatus::Indexed
                    && (gone.contains_key(&doc.path) || !Path::new(&doc.path).exists())
            });
            if let Some(doc) = moved_from {
                gone.remove(&doc.path);
                self.block_on(store.move_document(doc.id, &path_str, size, mtime_ns))?;
                return Ok(Planned::Done {
                    outcome: FileOutcome::Moved,
                    reason: Some(format!("moved from {}", doc.path)),
                });
            }
        }

        Ok(Planned::Parse(Job {
            path: path.to_path_buf(),
            doc_type,
            size,
            mtime_ns,
            hash,
        }))
    }

    /// Parses `jobs` on worker threads (each driving a sandboxed parser process) while this
    /// thread embeds and writes: the single writer.
    fn parse_and_store(
        &self,
        jobs: &[Job],
        embedder: &dyn Embedder,
        chunker: &docent_ingest::chunk::Chunker,
        progress: &dyn Progress,
        cancel: &CancelFlag,
        report: &mut IndexReport,
    ) -> Result<(), EngineError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let workers = self.workers();
        let next_job = AtomicUsize::new(0);
        let n_threads = self.inner.config.parse_workers.clamp(1, jobs.len());
        let (sender, receiver) = mpsc::sync_channel::<Parsed>(n_threads * 8);
        let budget = MemoryBudget::new(PARSED_MEMORY_BYTES);

        std::thread::scope(|scope| {
            for _ in 0..n_threads {
                let sender = sender.clone();
                let workers = &workers;
                let next_job = &next_job;
                let budget = &budget;
                scope.spawn(move || {
                    loop {
                        let job_idx = next_job.fetch_add(1, Ordering::Relaxed);
                        if job_idx >= jobs.len() || cancel.is_cancelled() {
                            break;
                        }
                        let job = &jobs[job_idx];
                        progress.event(&ProgressEvent::FileStarted { path: &job.path });
                        let mut memory = 0;
                        let result = workers
                            .parse_with_retry(&job.path, job.doc_type)
                            .map_err(|e: IngestError| e.reason())
                            .map(|doc| {
                                memory = doc_text_bytes(&doc) * DOC_MEMORY_PER_TEXT_BYTE;
                                budget.take(memory);
                                let chunks = chunker.chunk(&doc);
                                (doc, chunks)
                            });
                        let parsed = Parsed {
                            job_idx,
                            result,
                            memory,
                        };
                        if let Err(mpsc::SendError(parsed)) = sender.send(parsed) {
                            budget.give_back(parsed.memory);
                            break;
                        }
                    }
                });
            }
            drop(sender);
            let written = self.write_parsed(jobs, &receiver, &budget, embedder, progress, report);
            // On an error the writer stops reading: parse threads waiting for memory or for
            // room in the queue must not wait for it forever.
            budget.give_back(u64::MAX);
            drop(receiver);
            written
        })
    }

    fn write_parsed(
        &self,
        jobs: &[Job],
        receiver: &mpsc::Receiver<Parsed>,
        budget: &MemoryBudget,
        embedder: &dyn Embedder,
        progress: &dyn Progress,
        report: &mut IndexReport,
    ) -> Result<(), EngineError> {
        let mut batch: Vec<Ready> = Vec::new();
        let mut batch_chunks = 0;
        let mut last_sync = Instant::now();
        let mut open = true;
        while open || !batch.is_empty() {
            let mut idle = false;
            let message = if open {
                match receiver.recv_timeout(Duration::from_millis(500)) {
                    Ok(message) => Some(message),
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        idle = true;
                        None
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        open = false;
                        None
                    }
                }
            } else {
                None
            };
            if let Some(Parsed {
                job_idx,
                result,
                memory,
            }) = message
            {
                let job = &jobs[job_idx];
                match result {
                    Ok((_, chunks)) if chunks.is_empty() => {
                        budget.give_back(memory);
                        self.record_failure(job, "no text", progress, report)?
                    }
                    Ok((doc, chunks)) => {
                        batch_chunks += chunks.len();
                        batch.push(Ready {
                            job_idx,
                            doc,
                            chunks,
                            memory,
                        });
                    }
                    Err(reason) => self.record_failure(job, &reason, progress, report)?,
                }
            }
            // Flush when the batch is big enough, when the parsers are done, or when they
            // are slow (nothing arrived within the timeout).
            let flush =
                batch_chunks >= EMBED_BATCH_CHUNKS || (!batch.is_empty() && (!open || idle));
            if flush {
                self.embed_and_save(jobs, &batch, embedder, progress, report)?;
                budget.give_back(batch.iter().map(|ready| ready.memory).sum());
                batch.clear();
                batch_chunks = 0;
                if last_sync.elapsed() > SYNC_INTERVAL {
                    progress.event(&ProgressEvent::Committing);
                    self.sync_derived()?;
                    last_sync = Instant::now();
                }
            }
        }
        Ok(())
    }

    fn record_failure(
        &self,
        job: &Job,
        reason: &str,
        progress: &dyn Progress,
        report: &mut IndexReport,
    ) -> Result<(), EngineError> {
        let doc = OutcomeDocument {
            path: job.path.to_string_lossy().into_owned(),
            size: job.size,
            mtime_ns: job.mtime_ns,
            hash: Some(job.hash.clone()),
            doc_type: Some(job.doc_type),
        };
        self.block_on(self.store().save_outcome(&doc, DocStatus::Failed, reason))?;
        tracing::info!(path = %job.path.display(), reason, "file failed");
        report.bytes += job.size;
        progress.event(&ProgressEvent::FileDone {
            path: &job.path,
            outcome: FileOutcome::Failed,
            bytes: job.size,
            chunks: 0,
            reason: Some(reason),
        });
        report.push(&job.path, FileOutcome::Failed, Some(reason.to_string()), 0);
        Ok(())
    }

    fn embed_and_save(
        &self,
        jobs: &[Job],
        batch: &[Ready],
        embedder: &dyn Embedder,
        progress: &dyn Progress,
        report: &mut IndexReport,
    ) -> Result<(), EngineError> {
        let texts: Vec<String> = batch
            .iter()
            .flat_map(|ready| {
                let title = ready.doc.title.as_deref();
                ready.chunks.iter().map(move |c| embedding_text(title, c))
            })
            .collect();
        let text_refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let embed_started = Instant::now();
        let vectors = embedder.embed(&text_refs)?;
        report.embed_time += embed_started.elapsed();
        tracing::debug!(
            chunks = texts.len(),
            seconds = embed_started.elapsed().as_secs_f64(),
            "embedded a batch"
        );

        let store_started = Instant::now();
        let mut vectors = vectors.iter();
        for ready in batch {
            let job = &jobs[ready.job_idx];
            let chunks: Vec<NewChunk<'_>> = ready
                .chunks
                .iter()
                .map(|draft| NewChunk {
                    draft,
                    embedding: vectors.next().expect("one vector per chunk"),
                })
                .collect();
            let doc = NewDocument {
                path: job.path.to_string_lossy().into_owned(),
                size: job.size,
                mtime_ns: job.mtime_ns,
                hash: job.hash.clone(),
                doc_type: job.doc_type,
                title: ready.doc.title.clone(),
                pages: ready.doc.pages,
            };
            self.block_on(self.store().save_indexed(&doc, &chunks))?;
            report.chunks += chunks.len();
            report.bytes += job.size;
            progress.event(&ProgressEvent::FileDone {
                path: &job.path,
                outcome: FileOutcome::Indexed,
                bytes: job.size,
                chunks: chunks.len(),
                reason: None,
            });
            report.push(&job.path, FileOutcome::Indexed, None, chunks.len());
        }
        report.store_time += store_started.elapsed();
        Ok(())
    }
}

enum Planned {
    Parse(Job),
    Done {
        outcome: FileOutcome,
        reason: Option<String>,
    },
}

enum PlanError {
    /// This file cannot be looked at; the run goes on.
    File(String),
    Engine(EngineError),
}

impl<E: Into<EngineError>> From<E> for PlanError {
    fn from(error: E) -> PlanError {
        PlanError::Engine(error.into())
    }
}

/// What the embedding model sees: the chunk with its section (or the title) in front, so a
/// passage is found by what it is about as well as by what it says.
pub(crate) fn embedding_text(title: Option<&str>, chunk: &ChunkDraft) -> String {
    let context = match chunk.heading_path.last() {
        Some(heading) if chunk.text.starts_with(heading.as_str()) => None,
        Some(_) => Some(chunk.heading_path.join(" > ")),
        None => title
            .filter(|t| !t.is_empty() && !chunk.text.starts_with(t))
            .map(str::to_string),
    };
    match context {
        Some(context) => format!("{context}\n{}", chunk.text),
        None => chunk.text.clone(),
    }
}

fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut hasher = blake3::Hasher::new();
    hasher.update_reader(std::fs::File::open(path)?)?;
    Ok(hasher.finalize().to_hex().to_string())
}

pub(crate) fn io_reason(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => error.to_string().to_lowercase(),
    }
}

pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The files the policy lets through under `targets`, sorted and de-duplicated; refused paths
/// and walk errors go into the report with their reasons.
fn walk_targets(
    policy: &PathPolicy,
    targets: &[PathBuf],
    report: &mut IndexReport,
    progress: &dyn Progress,
) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for item in policy.walk(targets) {
        match item {
            Walked::File(path) => files.push(path),
            Walked::Refused { path, refusal } => {
                tracing::info!(path = %path.display(), reason = %refusal, "not indexed");
                report.push(&path, FileOutcome::Skipped, Some(refusal.reason()), 0);
            }
            Walked::Error(error) => {
                let path = error.path().map(Path::to_path_buf).unwrap_or_default();
                report.push(&path, FileOutcome::Failed, Some(error.reason()), 0);
            }
        }
        if files.len() % 256 == 0 {
            progress.event(&ProgressEvent::Scanning { found: files.len() });
        }
    }
    files.sort();
    files.dedup();
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(text: &str, heading_path: &[&str]) -> ChunkDraft {
        ChunkDraft {
            ordinal: 0,
            text: text.to_string(),
            page: None,
            line_start: None,
            line_end: None,
            char_start: 0,
            char_end: text.chars().count() as u64,
            heading_path: heading_path.iter().map(|s| s.to_string()).collect(),
            n_tokens: 0,
        }
    }

    #[test]
    fn embedding_text_adds_missing_context_once() {
        let check = |title: Option<&str>, c: ChunkDraft, expected: &str| {
            assert_eq!(embedding_text(title, &c), expected);
        };
        check(None, chunk("body", &[]), "body");
        check(Some("Title"), chunk("body", &[]), "Title\nbody");
        check(
            Some("Title"),
            chunk("Title and body", &[]),
            "Title and body",
        );
        check(Some("T"), chunk("body", &["A", "B"]), "A > B\nbody");
        check(Some("T"), chunk("B\n\nbody", &["A", "B"]), "B\n\nbody");
    }

    #[test]
    fn human_bytes_reads_well() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_200_000_000), "1.2 GB");
    }
}
