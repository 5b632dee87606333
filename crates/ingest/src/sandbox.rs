//! What a parse worker may do besides parsing: the operating-system fences around it.
//!
//! Two halves. The parent sets resource limits and namespaces in the forked child before
//! `exec` ([`restrict_child`]), so they hold before the worker runs a single instruction of
//! its own. The worker then confines itself ([`confine_self`]) before it reads any request,
//! that is before any untrusted byte reaches it: a seccomp filter (no network sockets, no new
//! programs or processes, threads still allowed) and, where the kernel has Landlock, no file
//! system writes outside its scratch folder.
//!
//! A worker can be asked to report what it sees ([`SandboxReport`]), so tests check the
//! fences from inside rather than trust that the calls were made.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The environment variable that tells a worker which folder is its scratch folder.
pub(crate) const SCRATCH_ENV: &str = "DOCENT_PARSE_SCRATCH";

/// Limits and isolation of each parse worker, on top of its address-space cap and timeout
/// (which live in [`WorkerConfig`](crate::worker::WorkerConfig)). `None` leaves a limit as
/// the worker inherits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sandbox {
    /// `RLIMIT_NOFILE`: a parser needs its input file and a few descriptors of its own.
    pub max_open_files: Option<u64>,
    /// `RLIMIT_FSIZE`: 0 means no byte may be written to any file (pipes are not files).
    pub max_file_write_bytes: Option<u64>,
    /// `RLIMIT_NPROC`, the worker's tasks (threads included). Linux counts this per user, so
    /// the limit is only set where the worker has a user namespace of its own, in which the
    /// count starts from the worker alone; elsewhere the user's own processes would eat it
    /// and the worker could not start its parse thread. The seccomp filter refuses new
    /// processes anyway.
    pub max_tasks: Option<u64>,
    /// `RLIMIT_CPU` of a worker over its whole life; the pool retires a worker that has used
    /// half of it, so the limit only ever kills a parser that spins out of the timeout's
    /// reach (raised to twice the timeout when that is longer).
    pub cpu_seconds: Option<u64>,
    /// On Linux: a network namespace of its own (no interface but a down loopback). Created
    /// with a user namespace where possible, else alone (needs root); the seccomp filter
    /// refusing network sockets applies either way.
    pub isolate_network: bool,
    /// Room for the OCR helpers of a later issue; not used yet.
    pub helpers: HelperPolicy,
}

impl Default for Sandbox {
    fn default() -> Sandbox {
        Sandbox {
            max_open_files: Some(64),
            max_file_write_bytes: Some(0),
            max_tasks: Some(16),
            cpu_seconds: Some(600),
            isolate_network: true,
            helpers: HelperPolicy::default(),
        }
    }
}

impl Sandbox {
    /// No limit beyond what the worker inherits (tests that run shell scripts as workers).
    pub fn none() -> Sandbox {
        Sandbox {
            max_open_files: None,
            max_file_write_bytes: None,
            max_tasks: None,
            cpu_seconds: None,
            isolate_network: false,
            helpers: HelperPolicy::default(),
        }
    }
}

/// Helper programs a worker may run: reserved for OCR (Poppler, Tesseract).
///
/// Not implemented: today a worker starts no program, and its seccomp filter refuses `execve`
/// and process creation outright. When helpers arrive they are meant to be started only from
/// `allowed_programs` (absolute paths, checked before the filter is installed), to exchange
/// data over pipes rather than files (the scratch folder is the only writable place), and to
/// get `page_time_budget` per page on top of the file's timeout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HelperPolicy {
    pub allowed_programs: Vec<PathBuf>,
    pub page_time_budget: Option<std::time::Duration>,
}

/// Everything [`restrict_child`] needs, copied before `fork` so that the child allocates
/// nothing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChildLimits {
    pub memory_bytes: u64,
    pub open_files: Option<u64>,
    pub file_write_bytes: Option<u64>,
    pub tasks: Option<u64>,
    pub cpu_seconds: Option<u64>,
    pub isolate_network: bool,
}

/// The type `getrlimit` takes its resource as (an enum in glibc, an int elsewhere).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
type Resource = libc::__rlimit_resource_t;
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
type Resource = libc::c_int;

/// Runs in the forked child before `exec`: only system calls, no allocation, no locks.
#[allow(unsafe_code)]
pub(crate) fn restrict_child(limits: ChildLimits) -> io::Result<()> {
    let own_user_namespace = limits.isolate_network && isolate_network();
    if limits.memory_bytes > 0 {
        set_limit(libc::RLIMIT_AS, limits.memory_bytes)?;
    }
    if let Some(n) = limits.open_files {
        set_limit(libc::RLIMIT_NOFILE, n)?;
    }
    if let Some(n) = limits.file_write_bytes {
        set_limit(libc::RLIMIT_FSIZE, n)?;
    }
    if let Some(n) = limits.cpu_seconds {
        set_limit(libc::RLIMIT_CPU, n)?;
    }
    if let Some(n) = limits.tasks
        && own_user_namespace
    {
        set_limit(libc::RLIMIT_NPROC, n)?;
    }
    // A crashing parser should not leave core files of untrusted input behind.
    set_limit(libc::RLIMIT_CORE, 0)?;
    Ok(())
}

#[allow(unsafe_code)]
fn set_limit(resource: Resource, value: u64) -> io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: value as libc::rlim_t,
        rlim_max: value as libc::rlim_t,
    };
    // SAFETY: setrlimit only changes this process's own limits; the struct is initialised.
    if unsafe { libc::setrlimit(resource, &limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A network namespace for this process; true when it came with a user namespace of its own.
/// A user namespace works unprivileged on most distributions and also makes the count of
/// `RLIMIT_NPROC` start from this process alone; without one (user namespaces disabled), a
/// bare network namespace needs root. Failure is not an error: the seccomp filter still
/// refuses network sockets.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn isolate_network() -> bool {
    // SAFETY: unshare only moves this single-threaded child into new namespaces.
    unsafe {
        if libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) == 0 {
            return true;
        }
        libc::unshare(libc::CLONE_NEWNET);
    }
    false
}

#[cfg(not(target_os = "linux"))]
fn isolate_network() -> bool {
    false
}

/// What [`confine_self`] managed to put in place.
#[derive(Debug, Clone, Default)]
pub(crate) struct Confinement {
    pub seccomp: bool,
    pub landlock: String,
    pub scratch: Option<PathBuf>,
}

/// Confines the calling worker; call it while the process has one thread, before reading
/// any request. What cannot be set up is logged and reported, never fatal: the resource
/// limits and the timeout still hold.
pub(crate) fn confine_self() -> Confinement {
    let scratch = std::env::var_os(SCRATCH_ENV)
        .map(PathBuf::from)
        .filter(|path| path.is_absolute());
    let landlock = restrict_writes(scratch.as_deref());
    let seccomp = match install_seccomp() {
        Ok(()) => true,
        Err(detail) => {
            tracing::warn!(%detail, "parse worker runs without its seccomp filter");
            false
        }
    };
    Confinement {
        seccomp,
        landlock,
        scratch,
    }
}

/// Landlock: no file system writes (create, remove, rename, write) except beneath `scratch`.
#[cfg(target_os = "linux")]
fn restrict_writes(scratch: Option<&Path>) -> String {
    use landlock::{
        ABI, Access, AccessFs, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus,
        path_beneath_rules,
    };
    // The newest file-system rights this crate knows; older kernels get what they support.
    let abi = ABI::V5;
    let writable: Vec<&Path> = scratch.into_iter().collect();
    let status = Ruleset::default()
        .handle_access(AccessFs::from_write(abi))
        .and_then(|ruleset| ruleset.create())
        .and_then(|ruleset| {
            ruleset.add_rules(path_beneath_rules(&writable, AccessFs::from_all(abi)))
        })
        // Some libraries open /dev/null for writing; it stores nothing.
        .and_then(|ruleset| {
            ruleset.add_rules(path_beneath_rules(["/dev/null"], AccessFs::WriteFile))
        })
        .and_then(|ruleset| ruleset.restrict_self());
    match status {
        Ok(status) => match status.ruleset {
            RulesetStatus::FullyEnforced => "fully enforced".to_owned(),
            RulesetStatus::PartiallyEnforced => "partially enforced".to_owned(),
            RulesetStatus::NotEnforced => "not supported by this kernel".to_owned(),
        },
        Err(error) => {
            tracing::warn!(%error, "parse worker runs without its landlock rules");
            format!("failed: {error}")
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn restrict_writes(_scratch: Option<&Path>) -> String {
    "not available on this system".to_owned()
}

/// Refuses network sockets (any family but Unix), `execve`, and process creation (`fork`,
/// `vfork`, `clone` without `CLONE_THREAD`); `clone3` answers "not implemented", so the C
/// library falls back to `clone`, whose flags the filter can see.
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
fn install_seccomp() -> Result<(), String> {
    use seccompiler::{
        BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
        SeccompRule,
    };
    use std::collections::BTreeMap;

    let arch = std::env::consts::ARCH
        .try_into()
        .map_err(|error| format!("{error}"))?;
    let condition = |arg_index, operator, value| {
        SeccompCondition::new(arg_index, SeccompCmpArgLen::Dword, operator, value)
            .and_then(|condition| SeccompRule::new(vec![condition]))
            .map_err(|error| error.to_string())
    };
    let mut refused: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    refused.insert(
        libc::SYS_socket,
        vec![condition(0, SeccompCmpOp::Ne, libc::AF_UNIX as u64)?],
    );
    refused.insert(libc::SYS_execve, Vec::new());
    refused.insert(libc::SYS_execveat, Vec::new());
    #[cfg(target_arch = "x86_64")]
    {
        refused.insert(libc::SYS_fork, Vec::new());
        refused.insert(libc::SYS_vfork, Vec::new());
    }
    let clone_thread = libc::CLONE_THREAD as u64;
    refused.insert(
        libc::SYS_clone,
        vec![condition(0, SeccompCmpOp::MaskedEq(clone_thread), 0)?],
    );
    let mut no_clone3 = BTreeMap::new();
    no_clone3.insert(libc::SYS_clone3, Vec::new());

    let compile = |rules, errno: i32| -> Result<BpfProgram, String> {
        let filter = SeccompFilter::new(
            rules,
            SeccompAction::Allow,
            SeccompAction::Errno(errno as u32),
            arch,
        )
        .map_err(|error| error.to_string())?;
        filter
            .try_into()
            .map_err(|error: seccompiler::BackendError| error.to_string())
    };
    let refuse = compile(refused, libc::EPERM)?;
    let clone3 = compile(no_clone3, libc::ENOSYS)?;
    for program in [&clone3, &refuse] {
        seccompiler::apply_filter_all_threads(program).map_err(|error| error.to_string())?;
    }
    Ok(())
}

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
fn install_seccomp() -> Result<(), String> {
    Err("seccomp is not available on this system".to_owned())
}

/// The fences as seen from inside a worker: its limits, and what it tried and could do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxReport {
    /// Soft resource limits (`getrlimit`); `None` is unlimited.
    pub address_space_bytes: Option<u64>,
    pub open_files: Option<u64>,
    pub file_size_bytes: Option<u64>,
    pub tasks: Option<u64>,
    pub cpu_seconds: Option<u64>,
    pub core_file_bytes: Option<u64>,
    /// Network interfaces visible to the worker (only `lo` in a namespace of its own).
    pub network_interfaces: Vec<String>,
    /// Whether `socket(AF_INET, SOCK_DGRAM)` succeeded.
    pub can_open_inet_socket: bool,
    /// Whether starting `/bin/true` succeeded.
    pub can_start_programs: bool,
    /// Whether a file could be created in the system temporary folder (removed again).
    pub can_write_outside_scratch: bool,
    pub scratch: Option<PathBuf>,
    pub seccomp: bool,
    pub landlock: String,
}

/// Looks at this process's limits and tries what a hostile parser would try.
pub(crate) fn report(confinement: &Confinement) -> SandboxReport {
    let outside = std::env::temp_dir().join(format!("docent-sandbox-probe-{}", std::process::id()));
    let can_write_outside_scratch = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&outside)
        .is_ok();
    if can_write_outside_scratch {
        let _ = std::fs::remove_file(&outside);
    }
    SandboxReport {
        address_space_bytes: get_limit(libc::RLIMIT_AS),
        open_files: get_limit(libc::RLIMIT_NOFILE),
        file_size_bytes: get_limit(libc::RLIMIT_FSIZE),
        tasks: get_limit(libc::RLIMIT_NPROC),
        cpu_seconds: get_limit(libc::RLIMIT_CPU),
        core_file_bytes: get_limit(libc::RLIMIT_CORE),
        network_interfaces: network_interfaces(),
        can_open_inet_socket: std::net::UdpSocket::bind(("0.0.0.0", 0)).is_ok(),
        can_start_programs: std::process::Command::new("/bin/true")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok(),
        can_write_outside_scratch,
        scratch: confinement.scratch.clone(),
        seccomp: confinement.seccomp,
        landlock: confinement.landlock.clone(),
    }
}

#[allow(unsafe_code)]
fn get_limit(resource: Resource) -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given, which lives on this stack.
    let status = unsafe { libc::getrlimit(resource, &mut limit) };
    (status == 0 && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur as u64)
}

/// Interface names from `/proc/self/net/dev` (empty where there is no such file).
fn network_interfaces() -> Vec<String> {
    let table = std::fs::read_to_string("/proc/self/net/dev").unwrap_or_default();
    table
        .lines()
        .skip(2)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, _)| name.trim().to_owned())
        .collect()
}

/// CPU seconds (user + system) a live child has used, from `/proc/<pid>/stat`; `None` where
/// that file does not exist (not Linux) or reads oddly.
#[allow(unsafe_code)]
pub(crate) fn cpu_seconds_of(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after its ')' do not.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime are fields 14 and 15, that is 11 and 12 after the state (field 3).
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks_per_second = u64::try_from(ticks_per_second).ok().filter(|&t| t > 0)?;
    Some((user + system) / ticks_per_second)
}
