//! Everything between "a path on disk" and "a list of chunks ready to embed".
//!
//! - [`PathPolicy`] decides which paths may be read at all (under a root the user added, the
//!   walk's skip rules on every component, no symlink out, never the data folder) and walks
//!   them; [`detect`] decides what each file is (a [`Detection`]).
//! - [`parse_file`] / [`parse_bytes`] turn a file into a [`ParsedDoc`]: cleaned text blocks
//!   (see [`clean_text`]) that know their page, lines and heading path. Untrusted files, PDFs
//!   above all, go through a [`worker::WorkerPool`] instead: the same parsers in child
//!   processes with a time limit and a memory cap.
//! - [`chunk::Chunker`] cuts a parsed document into [`ChunkDraft`]s that fit the embedding
//!   model, with exact character offsets for citations.
//!
//! Every failure is an [`IngestError`] whose [`reason`](IngestError::reason) is a short
//! sentence fit for the per-file status column.
//!
//! ```
//! use docent_ingest::{Detection, Limits, detect_bytes, parse_bytes};
//! use docent_types::DocType;
//! use std::path::Path;
//!
//! let markdown = b"# Guide\n\nInstall it.\n";
//! let detection = detect_bytes(Path::new("guide.md"), markdown);
//! assert_eq!(detection, Detection::Supported(DocType::Markdown));
//!
//! let doc = parse_bytes(markdown, DocType::Markdown, &Limits::default()).unwrap();
//! assert_eq!(doc.title.as_deref(), Some("Guide"));
//! assert_eq!(doc.blocks[1].text, "Install it.");
//! assert_eq!(doc.blocks[1].heading_path, ["Guide"]);
//! assert_eq!(doc.blocks[1].line_start, Some(3));
//! ```
//!
//! [`ParsedDoc`]: docent_types::ParsedDoc
//! [`ChunkDraft`]: docent_types::ChunkDraft

pub mod chunk;
mod clean;
mod detect;
mod error;
mod parse;
mod policy;
#[cfg(unix)]
mod sandbox;
#[cfg(unix)]
pub mod worker;

pub use clean::{clean_line, clean_text};
pub use detect::{Detection, detect, detect_bytes};
pub use error::{IngestError, human_bytes, human_duration};
pub use parse::{Limits, MAX_TEXT_BYTES, parse_bytes, parse_file};
pub use policy::{PathPolicy, Refusal, Walked};

/// The text of a panic payload (`panic!` carries a `&str` or a `String`), first line only and
/// kept short, since it ends up in a per-file reason.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let message = if let Some(text) = payload.downcast_ref::<&str>() {
        text
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.as_str()
    } else {
        "unknown panic"
    };
    let first_line = message.lines().next().unwrap_or_default();
    let mut short: String = first_line.chars().take(200).collect();
    if short.len() < first_line.len() {
        short.push('…');
    }
    short
}
