//! Locks that survive a panic elsewhere, and model loading that turns a panic into an error.
//!
//! A panic while a `std::sync::Mutex` is held poisons it, and `lock().expect(..)` then panics in
//! every later caller: one bad model file would take down every answer, settings change and
//! status call until the app restarts. Each lock here is one of two kinds:
//! - a slot or setting that is only ever replaced whole ([`lock`]): a panicking holder cannot
//!   leave it half-changed, so the poison carries no information and is ignored;
//! - a derived index ([`lock_index`]), which a panic may leave half-updated in memory: it gives
//!   a clear error instead of a guess, and the next start rebuilds it from the store.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::EngineError;

/// Locks a mutex whose value is only ever replaced whole (see the module docs).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Locks a derived index; after a panic while it was held, a clear error names it.
pub(crate) fn lock_index<'a, T>(
    mutex: &'a Mutex<T>,
    what: &'static str,
) -> Result<MutexGuard<'a, T>, EngineError> {
    mutex.lock().map_err(|_| EngineError::Poisoned(what))
}

/// Runs `work` and turns a panic inside it into [`EngineError::Panicked`]. For work on
/// untrusted input (a model file) whose result is only kept when it succeeds.
pub(crate) fn catch_panic<T>(
    what: &'static str,
    work: impl FnOnce() -> Result<T, EngineError>,
) -> Result<T, EngineError> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_string());
        tracing::error!(what, %message, "panic caught");
        Err(EngineError::Panicked { what, message })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poisoned(value: u32) -> Mutex<u32> {
        let mutex = Mutex::new(value);
        let _ = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let _guard = mutex.lock().unwrap();
                    panic!("holder panics");
                })
                .join()
        });
        assert!(mutex.is_poisoned());
        mutex
    }

    #[test]
    fn a_replaced_whole_value_is_usable_after_a_panic() {
        let mutex = poisoned(7);
        assert_eq!(*lock(&mutex), 7);
        *lock(&mutex) = 8;
        assert_eq!(*lock(&mutex), 8);
    }

    #[test]
    fn a_poisoned_index_gives_a_clear_error() {
        let mutex = poisoned(7);
        let message = lock_index(&mutex, "the BM25 index")
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "the BM25 index is unusable after an internal error; restart Docent to repair it"
        );
    }

    #[test]
    fn a_panic_while_loading_the_model_is_an_error_and_the_next_load_works() {
        let dir = tempfile::tempdir().unwrap();
        let engine =
            crate::Engine::open(crate::EngineConfig::new(dir.path().join("data"))).unwrap();
        engine.inject_load_panic();
        let message = engine.llm().unwrap_err().to_string();
        assert_eq!(
            message,
            "loading the model failed unexpectedly: injected fault: the model loader panicked"
        );
        assert!(!engine.llm_is_loaded());

        // A panic elsewhere while the model slot was held (it cannot leave the slot half
        // changed) does not stop later loads or settings changes.
        let _ = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let _slot = engine.inner.llm.lock().unwrap();
                    panic!("holder panics");
                })
                .join()
        });
        assert!(engine.inner.llm.is_poisoned());
        let (path, options) = engine.llm_choice();
        engine.set_llm(path, options);
        engine.llm().expect("the next load works");
        assert!(engine.llm_is_loaded());
    }

    #[test]
    fn a_panic_becomes_an_error_with_its_message() {
        let error = catch_panic("loading the model", || -> Result<(), EngineError> {
            panic!("tensor shape {} is odd", 3)
        })
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "loading the model failed unexpectedly: tensor shape 3 is odd"
        );
        assert!(!error.is_user_error());
        assert_eq!(catch_panic("x", || Ok(5)).unwrap(), 5);
    }
}
