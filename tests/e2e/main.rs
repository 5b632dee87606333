//! End-to-end tests of the `docent` binary with the real default models.

mod answers;
mod ask;
mod common;
mod corpus;
mod crash;
mod crash_campaign;
mod disk_full;
mod injection;
mod library;
mod memory;
mod pdf_corpus;
mod terminal;
