//! Locking that survives a panic elsewhere.
//!
//! A panic while a `std::sync::Mutex` is held poisons it, and `lock().expect(..)` would then
//! panic in every later command: one failed answer would take every folder, settings and
//! indexing command down with it until the app restarts. The shell's locks guard values that
//! are replaced or edited in one step (the folder list, the settings, the watcher, the indexing
//! queue), so what a panicking holder left behind is still a valid value and the poison is
//! ignored. The panic itself reaches the page as an error (see `commands::blocking`).

use std::sync::{Mutex, MutexGuard, PoisonError};

pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The text a panic carried, for an error message.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_string())
}
