//! Test-only fault injection: kill the process at a named point, so the crash campaign
//! (`tests/e2e/crash_campaign.rs`, `scripts/crash-campaign`) can stop Docent exactly inside a
//! SQLite transaction, a tantivy commit or a vector-index dump instead of only at random times.
//!
//! `DOCENT_TEST_ABORT_AT=POINT[:N]` makes the N-th call (default the first) of
//! [`point`]`(POINT)` in this process send SIGKILL to the process itself: nothing is flushed,
//! no destructor runs, exactly like `kill -9` from outside. The variable is read once.
//!
//! Only debug builds (tests) look at the variable; in a release build [`point`] is an empty
//! inline function, so shipping binaries cannot be killed through the environment.

/// Fault points, named in `DOCENT_TEST_ABORT_AT`.
pub const SQLITE_TX: &str = "sqlite_tx";
pub const TANTIVY_COMMIT: &str = "tantivy_commit";
pub const VECTOR_DUMP: &str = "vector_dump";

/// Kills the process here if `DOCENT_TEST_ABORT_AT` names `name` and this is its N-th hit.
#[inline]
pub fn point(name: &str) {
    #[cfg(debug_assertions)]
    armed::point(name);
    #[cfg(not(debug_assertions))]
    let _ = name;
}

#[cfg(debug_assertions)]
mod armed {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    struct Target {
        name: String,
        nth: u64,
        hits: AtomicU64,
    }

    fn target() -> Option<&'static Target> {
        static TARGET: OnceLock<Option<Target>> = OnceLock::new();
        TARGET
            .get_or_init(|| {
                let value = std::env::var("DOCENT_TEST_ABORT_AT").ok()?;
                let (name, nth) = match value.split_once(':') {
                    Some((name, nth)) => (name, nth.parse().ok()?),
                    None => (value.as_str(), 1),
                };
                Some(Target {
                    name: name.to_string(),
                    nth,
                    hits: AtomicU64::new(0),
                })
            })
            .as_ref()
    }

    pub(super) fn point(name: &str) {
        let Some(target) = target() else { return };
        if target.name != name || target.hits.fetch_add(1, Ordering::SeqCst) + 1 != target.nth {
            return;
        }
        kill_self();
    }

    #[cfg(unix)]
    #[allow(unsafe_code)]
    fn kill_self() {
        // SAFETY: kill(2) with our own pid and a valid signal number has no memory effects.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
        // SIGKILL is delivered before kill(2) returns to a single-threaded target, but other
        // threads may run for an instant: never go on past the fault point.
        loop {
            std::thread::park();
        }
    }

    #[cfg(not(unix))]
    fn kill_self() {
        std::process::abort();
    }
}
