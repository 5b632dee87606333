//! Parsing in child processes, so that a hostile file costs one process, not the app.
//!
//! pdf-extract panics on purpose on fonts it does not support, and lopdf can overflow the stack
//! or abort on a huge allocation; neither of the last two can be caught in-process. A
//! [`WorkerPool`] keeps up to `workers` persistent child processes (`program args...`, in
//! practice the docent binary re-executed as `docent __parse-worker`, which calls
//! [`serve_stdio`]). Each speaks JSON lines over its stdin/stdout: one request (path, type,
//! limits) in, one response ([`ParsedDoc`] or [`IngestError`]) out.
//!
//! The parent caps the child's address space (`RLIMIT_AS`) and more (see [`Sandbox`]), waits
//! for each answer with a timeout, kills (and reaps) a worker that overruns or dies, and starts
//! a fresh one for the next file. [`WorkerPool::parse_with_retry`] gives a crashed parse one
//! more chance.
//!
//! Answers are bounded at both ends: a worker refuses a document with more text than
//! [`Limits::max_text_bytes`] and never sends an answer longer than [`answer_limit_bytes`];
//! the parent reads an answer as a stream, stops at that length, and checks the text cap again,
//! so a hostile file (or a hijacked worker) costs the app at most one capped document per
//! worker.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use docent_types::{DocType, ParsedDoc};
use serde::{Deserialize, Serialize};

use crate::sandbox::{self, ChildLimits};
pub use crate::sandbox::{HelperPolicy, Sandbox, SandboxReport};
use crate::{IngestError, Limits, parse_file};

/// The argument the docent binary recognises as "be a parse worker".
pub const WORKER_ARG: &str = "__parse-worker";

/// Parsers recurse on nested PDF objects; a big stack turns most would-be overflows into
/// successful parses (the memory is only reserved, not touched).
const PARSE_STACK_BYTES: usize = 256 << 20;

/// The share of the address-space cap the parse thread's stack may reserve.
const STACK_SHARE_OF_MEMORY_LIMIT: u64 = 4;

/// How long a worker that closed its output may take to exit before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// Longest request line a worker reads (a path and the limits; paths are at most 4 KiB).
const MAX_REQUEST_BYTES: u64 = 1 << 20;

/// The longest answer a worker may send for a document within `limits`: JSON doubles the
/// characters it escapes (quotes, backslashes, newlines, tabs) and adds about 100 bytes of
/// field names per block, so four times the text cap plus 16 MiB leaves room for any document
/// within the cap that is not made of millions of one-word blocks.
pub fn answer_limit_bytes(limits: &Limits) -> u64 {
    limits
        .max_text_bytes
        .saturating_mul(4)
        .saturating_add(16 << 20)
}

/// How to start workers and what they may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerConfig {
    /// The executable to start; it must call [`serve_stdio`] when given `args`.
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// Longest time one file may take; the worker is killed after it.
    pub timeout: Duration,
    /// Address-space cap of each worker (`RLIMIT_AS`); 0 for none.
    pub memory_limit_bytes: u64,
    /// Most worker processes alive at once (and so most files parsed at once).
    pub workers: usize,
    pub limits: Limits,
    /// Further limits and isolation of each worker.
    pub sandbox: Sandbox,
}

impl Default for WorkerConfig {
    /// The current executable with [`WORKER_ARG`], 60 s, 4 GiB, one worker per core.
    fn default() -> WorkerConfig {
        WorkerConfig {
            program: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("docent")),
            args: vec![OsString::from(WORKER_ARG)],
            timeout: Duration::from_secs(60),
            memory_limit_bytes: 4 << 30,
            workers: thread::available_parallelism().map_or(2, |n| n.get()),
            limits: Limits::default(),
            sandbox: Sandbox::default(),
        }
    }
}

#[derive(Serialize, Deserialize)]
enum Request {
    Parse {
        /// The path's raw bytes: paths need not be UTF-8.
        path: Vec<u8>,
        doc_type: DocType,
        limits: Limits,
    },
    /// "What are your limits?", for tests and diagnostics.
    ReportSandbox,
}

#[derive(Serialize, Deserialize)]
enum Response {
    Parsed(ParsedDoc),
    Failed(IngestError),
    Sandbox(SandboxReport),
}

/// The child side: answers requests from stdin until it closes.
///
/// Call this first thing in the worker process, while it has one thread. It keeps the real
/// stdout for the protocol and points file descriptor 1 at stderr, because parsers print to
/// stdout at times and would corrupt the protocol. It then confines the process (see
/// [`Sandbox`]) before reading the first request. Panics become "parser panicked" answers (the
/// panic hook is replaced by one that only logs at debug level).
pub fn serve_stdio() -> io::Result<()> {
    let mut protocol = take_stdout_for_protocol()?;
    panic::set_hook(Box::new(|info| {
        tracing::debug!(%info, "parser panicked");
    }));
    // Landlock binds the calling thread and those it starts later: confine before any other.
    let confinement = sandbox::confine_self();
    exit_when_orphaned();

    let mut requests = io::stdin().lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        let n_read = (&mut requests)
            .take(MAX_REQUEST_BYTES)
            .read_until(b'\n', &mut line)?;
        if n_read == 0 {
            return Ok(());
        }
        if line.trim_ascii().is_empty() {
            continue;
        }
        let (response, limits) = match serde_json::from_slice::<Request>(&line) {
            Ok(Request::Parse {
                path,
                doc_type,
                limits,
            }) => (parse_request(path, doc_type, limits), limits),
            Ok(Request::ReportSandbox) => (
                Response::Sandbox(sandbox::report(&confinement)),
                Limits::default(),
            ),
            Err(error) => (
                Response::Failed(IngestError::Worker {
                    detail: format!("unreadable request: {error}"),
                }),
                Limits::default(),
            ),
        };
        let mut encoded = encode_within(&response, answer_limit_bytes(&limits));
        drop(response);
        encoded.push(b'\n');
        protocol.write_all(&encoded)?;
        protocol.flush()?;
    }
}

fn parse_request(path: Vec<u8>, doc_type: DocType, limits: Limits) -> Response {
    let path = PathBuf::from(OsString::from_vec(path));
    tracing::debug!(path = %path.display(), %doc_type, "parsing");
    match run_guarded(move || parse_file(&path, doc_type, &limits)) {
        Ok(doc) => Response::Parsed(doc),
        Err(error) => Response::Failed(error),
    }
}

/// `response` as JSON, or an [`IngestError::AnswerTooLarge`] answer when that would be longer
/// than `limit` (encoding stops there: the worker never holds more).
fn encode_within(response: &Response, limit: u64) -> Vec<u8> {
    let mut writer = BoundedWriter {
        bytes: Vec::new(),
        limit,
    };
    match serde_json::to_writer(&mut writer, response) {
        Ok(()) => writer.bytes,
        Err(_) => {
            let refusal = Response::Failed(IngestError::AnswerTooLarge { limit });
            serde_json::to_vec(&refusal).expect("an error answer always encodes")
        }
    }
}

/// A `Vec` that refuses to grow past `limit`.
struct BoundedWriter {
    bytes: Vec<u8>,
    limit: u64,
}

impl Write for BoundedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if (self.bytes.len() + buf.len()) as u64 > self.limit {
            return Err(io::Error::other("answer too large"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Runs `parse` on a thread with a big stack and turns a panic into an error.
fn run_guarded<T: Send + 'static>(
    parse: impl FnOnce() -> Result<T, IngestError> + Send + 'static,
) -> Result<T, IngestError> {
    let handle = thread::Builder::new()
        .name("parse".to_owned())
        .stack_size(parse_stack_bytes())
        .spawn(move || panic::catch_unwind(AssertUnwindSafe(parse)))
        .map_err(|error| IngestError::Worker {
            detail: format!("could not start a parse thread: {error}"),
        })?;
    match handle.join() {
        Ok(Ok(result)) => result,
        Ok(Err(payload)) | Err(payload) => Err(IngestError::Panicked {
            message: crate::panic_message(payload.as_ref()),
        }),
    }
}

/// [`PARSE_STACK_BYTES`], or less under a small address-space cap, which a whole 256 MiB
/// reservation would exhaust before the parser allocates anything.
#[allow(unsafe_code)]
fn parse_stack_bytes() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given, which lives on this stack.
    let status = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) };
    if status != 0 || limit.rlim_cur == libc::RLIM_INFINITY {
        return PARSE_STACK_BYTES;
    }
    let share = (limit.rlim_cur / STACK_SHARE_OF_MEMORY_LIMIT) as usize;
    share.clamp(8 << 20, PARSE_STACK_BYTES)
}

/// Duplicates stdout to a new descriptor for the protocol and points stdout at stderr.
#[allow(unsafe_code)]
fn take_stdout_for_protocol() -> io::Result<File> {
    io::stdout().flush()?;
    // SAFETY: fcntl and dup2 only duplicate descriptors this process owns (1 and 2); the new
    // descriptor is owned by nothing else, so handing it to a File is sound.
    unsafe {
        let protocol_fd = libc::fcntl(libc::STDOUT_FILENO, libc::F_DUPFD_CLOEXEC, 3);
        if protocol_fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let protocol = <File as std::os::fd::FromRawFd>::from_raw_fd(protocol_fd);
        if libc::dup2(libc::STDERR_FILENO, libc::STDOUT_FILENO) < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(protocol)
    }
}

/// A worker whose parent died (killed with -9, say) would otherwise keep parsing a hanging
/// file forever: it only notices the closed stdin between files.
fn exit_when_orphaned() {
    let parent = std::os::unix::process::parent_id();
    let watcher = thread::Builder::new()
        .name("parent-watch".to_owned())
        .spawn(move || {
            loop {
                thread::sleep(Duration::from_millis(500));
                if std::os::unix::process::parent_id() != parent {
                    std::process::exit(0);
                }
            }
        });
    if let Err(error) = watcher {
        tracing::warn!(%error, "could not watch the parent process");
    }
}

/// Child processes that parse files; cheap to share between threads (`Send + Sync`).
///
/// Workers start lazily, up to `config.workers`; a call waits while all are busy. Dropping the
/// pool kills and reaps every worker.
pub struct WorkerPool {
    config: WorkerConfig,
    state: Mutex<PoolState>,
    slot_freed: Condvar,
    /// The workers' working directory and the only folder they may write to; removed with
    /// the pool. `None` when it could not be made (the workers then may write nowhere).
    scratch: Option<tempfile::TempDir>,
}

struct PoolState {
    idle: Vec<WorkerProcess>,
    /// Workers alive: idle ones plus those lent to a call.
    n_live: usize,
}

impl WorkerPool {
    /// Starts nothing yet: the first call starts the first worker.
    pub fn new(config: WorkerConfig) -> WorkerPool {
        let scratch = tempfile::Builder::new()
            .prefix("docent-parse-")
            .tempdir()
            .inspect_err(|error| tracing::warn!(%error, "no scratch folder for parse workers"))
            .ok();
        WorkerPool {
            config,
            state: Mutex::new(PoolState {
                idle: Vec::new(),
                n_live: 0,
            }),
            slot_freed: Condvar::new(),
            scratch,
        }
    }

    pub fn config(&self) -> &WorkerConfig {
        &self.config
    }

    /// Worker processes alive right now (idle or busy).
    pub fn live_workers(&self) -> usize {
        self.lock_state().n_live
    }

    /// Parses `path` in a worker. A timeout, a crash or a garbled answer costs that worker
    /// (killed and reaped); the next call starts a fresh one.
    pub fn parse(&self, path: &Path, doc_type: DocType) -> Result<ParsedDoc, IngestError> {
        let request = Request::Parse {
            path: path.as_os_str().as_bytes().to_vec(),
            doc_type,
            limits: self.config.limits,
        };
        let max_text_bytes = self.config.limits.max_text_bytes;
        match self.ask(&request, path)? {
            (Response::Parsed(doc), lease) => {
                // A worker within the protocol never sends more text than the cap; one that
                // does is not trusted with another file (the dropped lease kills it).
                if let Err(error) = crate::parse::check_text_size(&doc, max_text_bytes) {
                    tracing::warn!(path = %path.display(), "worker sent more text than the cap");
                    drop(lease);
                    return Err(error);
                }
                lease.give_back();
                Ok(doc)
            }
            (Response::Failed(error), lease) => {
                lease.give_back();
                Err(error)
            }
            (Response::Sandbox(_), _) => Err(IngestError::Worker {
                detail: "answer to another question".to_owned(),
            }),
        }
    }

    /// Asks a worker what its limits are and what it can do, from inside it.
    pub fn sandbox_report(&self) -> Result<SandboxReport, IngestError> {
        match self.ask(&Request::ReportSandbox, Path::new(""))? {
            (Response::Sandbox(report), lease) => {
                lease.give_back();
                Ok(report)
            }
            _ => Err(IngestError::Worker {
                detail: "answer to another question".to_owned(),
            }),
        }
    }

    /// Sends `request` to a worker and waits for its answer. On success the lease is handed
    /// back with the answer: the caller decides whether the worker may be reused.
    fn ask(&self, request: &Request, path: &Path) -> Result<(Response, Lease<'_>), IngestError> {
        let mut request = serde_json::to_vec(request).map_err(|error| IngestError::Worker {
            detail: format!("could not encode a request: {error}"),
        })?;
        request.push(b'\n');

        let mut lease = self.lease()?;
        let worker = lease.worker();
        match worker.exchange(&request, self.config.timeout) {
            Exchange::Answered(Answer::Response(response)) => Ok((response, lease)),
            // Dropping the lease kills a worker that speaks nonsense or says too much.
            Exchange::Answered(Answer::TooLarge) => {
                tracing::warn!(path = %path.display(), "parse worker answer too large");
                Err(IngestError::AnswerTooLarge {
                    limit: answer_limit_bytes(&self.config.limits),
                })
            }
            Exchange::Answered(Answer::Unreadable(detail)) => Err(IngestError::Worker {
                detail: format!("unreadable answer: {detail}"),
            }),
            Exchange::TimedOut => {
                tracing::warn!(path = %path.display(), "parser timed out; killing its worker");
                Err(IngestError::TimedOut {
                    after: self.config.timeout,
                })
            }
            Exchange::Died => {
                let error = death_error(worker.wait_for_exit());
                tracing::warn!(path = %path.display(), %error, "parse worker died");
                Err(error)
            }
        }
    }

    /// The CPU limit of each worker: the configured one, but never below twice the timeout.
    fn cpu_limit_seconds(&self) -> Option<u64> {
        let timeout_seconds = self.config.timeout.as_secs().saturating_add(1);
        self.config
            .sandbox
            .cpu_seconds
            .map(|seconds| seconds.max(timeout_seconds.saturating_mul(2)))
    }

    /// [`parse`](WorkerPool::parse), with one retry on a fresh worker when the worker died
    /// (bad luck such as the OOM killer should not fail a file). Timeouts are not retried: a
    /// file that hangs once hangs again.
    pub fn parse_with_retry(
        &self,
        path: &Path,
        doc_type: DocType,
    ) -> Result<ParsedDoc, IngestError> {
        match self.parse(path, doc_type) {
            Err(error) if error.is_crash() => {
                tracing::info!(path = %path.display(), %error, "retrying once on a fresh worker");
                self.parse(path, doc_type)
            }
            other => other,
        }
    }

    fn lock_state(&self) -> MutexGuard<'_, PoolState> {
        // A panic while holding the lock leaves the state consistent (plain pushes and
        // counters), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An idle worker, a new one if fewer than `workers` are alive, or a wait for either.
    fn lease(&self) -> Result<Lease<'_>, IngestError> {
        let mut state = self.lock_state();
        loop {
            if let Some(worker) = state.idle.pop() {
                return Ok(Lease {
                    pool: self,
                    worker: Some(worker),
                });
            }
            if state.n_live < self.config.workers.max(1) {
                state.n_live += 1;
                drop(state);
                // Until the lease exists the slot must be handed back by hand.
                let scratch = self.scratch.as_ref().map(tempfile::TempDir::path);
                return match spawn_worker(&self.config, scratch, self.cpu_limit_seconds()) {
                    Ok(worker) => Ok(Lease {
                        pool: self,
                        worker: Some(worker),
                    }),
                    Err(error) => {
                        self.release_slot();
                        Err(error)
                    }
                };
            }
            state = self
                .slot_freed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn release_slot(&self) {
        self.lock_state().n_live -= 1;
        self.slot_freed.notify_one();
    }
}

/// A worker lent to one call. Unless given back, it is killed when the lease drops, which
/// covers every failure path (and panics) at once.
struct Lease<'pool> {
    pool: &'pool WorkerPool,
    worker: Option<WorkerProcess>,
}

impl Lease<'_> {
    fn worker(&mut self) -> &mut WorkerProcess {
        self.worker
            .as_mut()
            .expect("a lease holds its worker until given back or dropped")
    }

    /// Returns the worker to the pool, or retires it (killed; the next call starts a fresh
    /// one) once it has used half its CPU limit, so that limit never strikes mid-file.
    fn give_back(mut self) {
        let worn_out = match (self.worker.as_ref(), self.pool.cpu_limit_seconds()) {
            (Some(worker), Some(limit)) => sandbox::cpu_seconds_of(worker.child.id())
                .is_some_and(|used| used.saturating_mul(2) >= limit),
            _ => false,
        };
        if worn_out {
            tracing::debug!("retiring a parse worker that used half its CPU limit");
            return; // the drop kills it and frees the slot
        }
        if let Some(worker) = self.worker.take() {
            self.pool.lock_state().idle.push(worker);
            self.pool.slot_freed.notify_one();
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(worker) = self.worker.take() {
            drop(worker);
            self.pool.release_slot();
        }
    }
}

enum Exchange {
    Answered(Answer),
    TimedOut,
    Died,
}

/// One answer as the reading thread saw it.
enum Answer {
    Response(Response),
    /// Longer than [`answer_limit_bytes`]: reading stopped there.
    TooLarge,
    Unreadable(String),
}

/// One child process and the pipes to it. Dropping it kills and reaps the process.
struct WorkerProcess {
    child: Child,
    stdin: ChildStdin,
    answers: Receiver<Answer>,
    reaped: bool,
}

fn spawn_worker(
    config: &WorkerConfig,
    scratch: Option<&Path>,
    cpu_seconds: Option<u64>,
) -> Result<WorkerProcess, IngestError> {
    let cannot_start = |error: io::Error| IngestError::Worker {
        detail: format!("could not start {}: {error}", config.program.display()),
    };
    let mut command = Command::new(&config.program);
    command
        .args(&config.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a kill also reaches anything the worker started.
        .process_group(0);
    if let Some(scratch) = scratch {
        command
            .current_dir(scratch)
            .env(sandbox::SCRATCH_ENV, scratch);
    }
    let limits = ChildLimits {
        memory_bytes: config.memory_limit_bytes,
        open_files: config.sandbox.max_open_files,
        file_write_bytes: config.sandbox.max_file_write_bytes,
        tasks: config.sandbox.max_tasks,
        cpu_seconds,
        isolate_network: config.sandbox.isolate_network,
    };
    #[allow(unsafe_code)]
    // SAFETY: the hook runs in the forked child before exec; it only makes system calls
    // (setrlimit, unshare), which are async-signal-safe, and allocates nothing.
    unsafe {
        command.pre_exec(move || sandbox::restrict_child(limits));
    }
    let answer_limit = answer_limit_bytes(&config.limits);
    let mut child = command.spawn().map_err(cannot_start)?;
    let pipes = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let (sender, answers) = mpsc::channel();
    let (Some(stdin), Some(stdout), Some(stderr)) = pipes else {
        // Unreachable with piped stdio; still, never leave a child behind.
        let _ = child.kill();
        let _ = child.wait();
        return Err(IngestError::Worker {
            detail: "worker pipes missing".to_owned(),
        });
    };
    let pid = child.id();
    let worker = WorkerProcess {
        child,
        stdin,
        answers,
        reaped: false,
    };
    // The threads end by themselves when the worker's pipes close; nobody joins them, so a
    // stray grandchild holding a pipe open can never block the pool.
    thread::Builder::new()
        .name(format!("parse-worker-{pid}-out"))
        .spawn(move || read_answers(stdout, sender, answer_limit))
        .map_err(cannot_start)?;
    thread::Builder::new()
        .name(format!("parse-worker-{pid}-err"))
        .spawn(move || forward_logs(stderr, pid))
        .map_err(cannot_start)?;
    tracing::debug!(pid, "started a parse worker");
    Ok(worker)
}

/// Decodes answers straight from the pipe, each at most `limit` bytes: the answer is never
/// held as a line next to the document decoded from it. Stops at the end of the output, or
/// after an answer it could not read (nothing after it can be trusted).
fn read_answers(stdout: impl Read, answers: Sender<Answer>, limit: u64) {
    let mut reader = BufReader::new(stdout);
    loop {
        match skip_whitespace(&mut reader) {
            Ok(true) => {}
            Ok(false) | Err(_) => return,
        }
        let mut bounded = BoundedReader {
            inner: &mut reader,
            remaining: limit,
            exceeded: false,
        };
        let decoded =
            Response::deserialize(&mut serde_json::Deserializer::from_reader(&mut bounded));
        let answer = match decoded {
            Ok(response) => Answer::Response(response),
            Err(_) if bounded.exceeded => Answer::TooLarge,
            // The worker died mid-answer: the closed channel says so.
            Err(error) if error.is_eof() || error.is_io() => return,
            Err(error) => Answer::Unreadable(error.to_string()),
        };
        let go_on = matches!(answer, Answer::Response(_));
        if answers.send(answer).is_err() || !go_on {
            return;
        }
    }
}

/// Consumes whitespace; false at the end of the stream.
fn skip_whitespace(reader: &mut impl BufRead) -> io::Result<bool> {
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok(false);
        }
        let n_blank = buffer
            .iter()
            .take_while(|byte| byte.is_ascii_whitespace())
            .count();
        let found = n_blank < buffer.len();
        reader.consume(n_blank);
        if found {
            return Ok(true);
        }
    }
}

/// Reads at most `remaining` bytes, then fails (and says so), so a decoder on top of it
/// never sees more.
struct BoundedReader<'a, R> {
    inner: &'a mut R,
    remaining: u64,
    exceeded: bool,
}

impl<R: Read> Read for BoundedReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            self.exceeded = true;
            return Err(io::Error::other("answer too large"));
        }
        let max = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n_read = self.inner.read(&mut buf[..max])?;
        self.remaining -= n_read as u64;
        Ok(n_read)
    }
}

/// Whatever the worker (or a parser in it) writes to stderr or stdout ends up in our logs,
/// never on our own terminal.
fn forward_logs(stderr: impl Read, pid: u32) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        // Bytes, not lines of UTF-8: a worker stuck writing to a full pipe would hang.
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                tracing::debug!(pid, "worker: {}", text.trim_end());
            }
        }
    }
}

impl WorkerProcess {
    fn exchange(&mut self, request: &[u8], timeout: Duration) -> Exchange {
        let sent = self
            .stdin
            .write_all(request)
            .and_then(|()| self.stdin.flush());
        if sent.is_err() {
            return Exchange::Died;
        }
        match self.answers.recv_timeout(timeout) {
            Ok(line) => Exchange::Answered(line),
            Err(RecvTimeoutError::Timeout) => Exchange::TimedOut,
            Err(RecvTimeoutError::Disconnected) => Exchange::Died,
        }
    }

    /// The exit status of a worker that closed its output, killing it if it lingers.
    fn wait_for_exit(&mut self) -> Option<ExitStatus> {
        let deadline = Instant::now() + EXIT_GRACE;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.reaped = true;
                    return Some(status);
                }
                Ok(None) => thread::sleep(Duration::from_millis(5)),
                Err(_) => break,
            }
        }
        self.kill_and_reap()
    }

    fn kill_and_reap(&mut self) -> Option<ExitStatus> {
        if self.reaped {
            return None;
        }
        if let Ok(Some(status)) = self.child.try_wait() {
            self.reaped = true;
            return Some(status);
        }
        kill_process_group(self.child.id());
        let _ = self.child.kill();
        let status = self.child.wait().ok();
        self.reaped = true;
        status
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.kill_and_reap();
    }
}

#[allow(unsafe_code)]
fn kill_process_group(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: kill has no memory-safety preconditions. The group id is the worker's pid (it
    // was started with process_group(0)) and the worker is not reaped yet, so the id cannot
    // have been reused by an unrelated process group.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
}

fn death_error(status: Option<ExitStatus>) -> IngestError {
    match status {
        Some(status) => match (status.signal(), status.code()) {
            (Some(signal), _) => IngestError::Crashed { signal },
            (None, Some(code)) => IngestError::Exited { code },
            (None, None) => IngestError::Worker {
                detail: format!("worker ended oddly ({status})"),
            },
        },
        None => IngestError::Worker {
            detail: "worker vanished".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pool whose worker is a shell script; the scripts write files, so no sandbox.
    fn shell_pool(script: &str, timeout: Duration) -> WorkerPool {
        WorkerPool::new(WorkerConfig {
            program: PathBuf::from("/bin/sh"),
            args: vec!["-c".into(), script.into()],
            timeout,
            workers: 1,
            sandbox: Sandbox::none(),
            ..WorkerConfig::default()
        })
    }

    fn assert_sync_send<T: Send + Sync>() {}

    #[test]
    fn pool_is_shareable() {
        assert_sync_send::<WorkerPool>();
    }

    #[test]
    fn guarded_runs_turn_panics_into_errors() {
        let error = run_guarded::<()>(|| panic!("boom\nsecond line")).unwrap_err();
        assert_eq!(error.reason(), "parser panicked: boom");
        let error = run_guarded::<()>(|| panic!("{}", String::from("owned message"))).unwrap_err();
        assert_eq!(error.reason(), "parser panicked: owned message");
        assert_eq!(run_guarded(|| Ok(7)).unwrap(), 7);
    }

    #[test]
    fn deep_recursion_fits_the_big_stack() {
        fn depth(n: u64) -> u64 {
            // Frames with some weight, which the optimiser may not remove.
            let padding = std::hint::black_box([n; 16]);
            if n == 0 {
                0
            } else {
                1 + depth(n - 1) + padding[15] - n
            }
        }
        // About 50 MB of stack: far beyond a default 8 MB thread.
        assert_eq!(run_guarded(|| Ok(depth(300_000))).unwrap(), 300_000);
    }

    #[test]
    fn a_silent_worker_times_out_and_is_reaped() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let script = format!("echo $$ > '{}'; exec sleep 30", pid_file.display());
        let pool = shell_pool(&script, Duration::from_millis(300));
        let started = Instant::now();
        let error = pool.parse(Path::new("/x.pdf"), DocType::Pdf).unwrap_err();
        assert_eq!(error.reason(), "timed out after 300 ms");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(pool.live_workers(), 0);
        let pid = std::fs::read_to_string(&pid_file).unwrap();
        // Reaped, not a zombie: the process is gone from /proc entirely.
        assert!(
            !Path::new(&format!("/proc/{}", pid.trim())).exists(),
            "worker {pid} still exists"
        );
    }

    #[test]
    fn a_crashing_worker_reports_its_signal() {
        let pool = shell_pool("kill -SEGV $$", Duration::from_secs(10));
        let error = pool.parse(Path::new("/x.pdf"), DocType::Pdf).unwrap_err();
        assert_eq!(error.reason(), "parser crashed (signal 11)");
        assert!(error.is_crash());
        assert_eq!(pool.live_workers(), 0);

        let pool = shell_pool("exit 3", Duration::from_secs(10));
        let error = pool
            .parse_with_retry(Path::new("/x.pdf"), DocType::Pdf)
            .unwrap_err();
        assert_eq!(error.reason(), "parser exited (code 3)");
    }

    #[test]
    fn a_worker_speaking_nonsense_is_dropped() {
        let pool = shell_pool(
            "read line; echo not-json; exec sleep 30",
            Duration::from_secs(10),
        );
        let error = pool.parse(Path::new("/x.pdf"), DocType::Pdf).unwrap_err();
        assert!(error.is_internal(), "{error}");
        assert!(error.reason().contains("unreadable answer"), "{error}");
        assert_eq!(pool.live_workers(), 0);
    }

    #[test]
    fn workers_get_the_resource_limits() {
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("ulimit");
        // `ulimit -v` reports the address-space cap in KiB, `-t` CPU seconds. The script
        // writes its report to a file, so this sandbox allows file writes.
        let script = format!(
            "ulimit -v > '{0}'; ulimit -c >> '{0}'; ulimit -n >> '{0}'; ulimit -t >> '{0}'",
            report.display()
        );
        let pool = WorkerPool::new(WorkerConfig {
            program: PathBuf::from("/bin/sh"),
            args: vec!["-c".into(), script.into()],
            memory_limit_bytes: 512 << 20,
            workers: 1,
            timeout: Duration::from_secs(10),
            sandbox: Sandbox {
                max_file_write_bytes: None,
                cpu_seconds: Some(5),
                ..Sandbox::default()
            },
            ..WorkerConfig::default()
        });
        let error = pool.parse(Path::new("/x.pdf"), DocType::Pdf).unwrap_err();
        assert_eq!(error.reason(), "parser exited (code 0)");
        let report = std::fs::read_to_string(&report).unwrap();
        // The CPU limit is raised to twice the timeout (plus a second).
        assert_eq!(
            report.split_whitespace().collect::<Vec<_>>(),
            ["524288", "0", "64", "22"]
        );
    }

    #[test]
    fn answers_are_bounded_when_written() {
        let doc = ParsedDoc {
            doc_type: DocType::Text,
            title: None,
            pages: 0,
            blocks: vec![docent_types::Block {
                text: "\"quoted\"\n".repeat(1000),
                kind: docent_types::BlockKind::Paragraph,
                page: None,
                line_start: None,
                line_end: None,
                heading_path: Vec::new(),
            }],
        };
        let response = Response::Parsed(doc);
        let full = encode_within(&response, u64::MAX);
        // 9,000 bytes of text; escaping the quotes and newlines adds 3,000.
        assert!(full.len() > 12_000, "{}", full.len());
        assert_eq!(encode_within(&response, full.len() as u64), full);
        let refused = encode_within(&response, full.len() as u64 - 1);
        match serde_json::from_slice::<Response>(&refused).unwrap() {
            Response::Failed(error) => assert_eq!(
                error.reason(),
                format!(
                    "parser answer too large (over {})",
                    crate::human_bytes(full.len() as u64 - 1)
                )
            ),
            _ => panic!("expected a refusal"),
        }
    }

    #[test]
    fn answers_are_bounded_when_read() {
        let limit = 200;
        let small = serde_json::to_vec(&Response::Failed(IngestError::NoText)).unwrap();
        let mut stream = Vec::new();
        // Two answers within the limit, then one beyond it, then one that is never read.
        for _ in 0..2 {
            stream.extend_from_slice(&small);
            stream.extend_from_slice(b"\n");
        }
        let big = Response::Failed(IngestError::Worker {
            detail: "x".repeat(10_000),
        });
        stream.extend_from_slice(&serde_json::to_vec(&big).unwrap());
        stream.extend_from_slice(b"\n");
        stream.extend_from_slice(&small);
        let (sender, receiver) = mpsc::channel();
        read_answers(io::Cursor::new(stream), sender, limit);
        let answers: Vec<Answer> = receiver.iter().collect();
        assert_eq!(answers.len(), 3);
        assert!(matches!(
            answers[0],
            Answer::Response(Response::Failed(IngestError::NoText))
        ));
        assert!(matches!(answers[1], Answer::Response(_)));
        assert!(matches!(answers[2], Answer::TooLarge));
    }

    #[test]
    fn a_worker_saying_too_much_is_killed() {
        // The start of a valid answer whose string goes on for 200 MB, far past the answer
        // limit of a 1 KB text cap.
        let script = r#"read line; printf '{"Failed":{"Worker":{"detail":"'
            head -c 200000000 /dev/zero | tr '\0' x; exec sleep 30"#;
        let pool = WorkerPool::new(WorkerConfig {
            program: PathBuf::from("/bin/sh"),
            args: vec!["-c".into(), script.into()],
            timeout: Duration::from_secs(20),
            workers: 1,
            limits: Limits {
                max_text_bytes: 1024,
                ..Limits::default()
            },
            sandbox: Sandbox::none(),
            ..WorkerConfig::default()
        });
        let started = Instant::now();
        let error = pool.parse(Path::new("/x.txt"), DocType::Text).unwrap_err();
        assert_eq!(error.reason(), "parser answer too large (over 16 MB)");
        assert!(!error.is_crash() && !error.is_internal());
        assert!(started.elapsed() < Duration::from_secs(15));
        assert_eq!(pool.live_workers(), 0);
    }

    #[test]
    fn a_missing_program_is_an_internal_error() {
        let pool = WorkerPool::new(WorkerConfig {
            program: PathBuf::from("/nonexistent/docent"),
            ..WorkerConfig::default()
        });
        let error = pool.parse(Path::new("/x.pdf"), DocType::Pdf).unwrap_err();
        assert!(error.is_internal());
        assert!(
            error
                .reason()
                .starts_with("parse worker failed: could not start")
        );
        assert_eq!(pool.live_workers(), 0);
    }
}
