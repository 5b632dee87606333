//! End-to-end tests of the `docent` binary with the real default models.

mod answers;
mod ask;
mod common;
mod crash;
mod injection;
mod library;
mod pdf_corpus;
