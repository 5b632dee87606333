//! Plain data shared by every Docent crate: document types, parsed documents, chunks and the
//! places they point at. No I/O lives here (except [`fault`], the test-only kill points).
//!
//! A loader turns a file into a [`ParsedDoc`] (a list of [`Block`]s, each knowing its page, lines
//! and heading path); the chunker turns that into [`ChunkDraft`]s; the store gives them ids.
//!
//! ```
//! use docent_types::{Block, DocType, ParsedDoc};
//! let doc = ParsedDoc {
//!     doc_type: DocType::Text,
//!     title: None,
//!     pages: 0,
//!     blocks: vec![Block::text("Hello there.")],
//! };
//! assert_eq!(doc.blocks.len(), 1);
//! assert_eq!(DocType::Pdf.as_str(), "pdf");
//! ```

pub mod fault;

use serde::{Deserialize, Serialize};

/// The kind of a supported file, decided by extension and content sniffing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocType {
    Text,
    Markdown,
    Pdf,
    Html,
    Docx,
    Code,
}

impl DocType {
    pub const ALL: [DocType; 6] = [
        DocType::Text,
        DocType::Markdown,
        DocType::Pdf,
        DocType::Html,
        DocType::Docx,
        DocType::Code,
    ];

    /// The stable name used in the database, the CLI and JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            DocType::Text => "text",
            DocType::Markdown => "markdown",
            DocType::Pdf => "pdf",
            DocType::Html => "html",
            DocType::Docx => "docx",
            DocType::Code => "code",
        }
    }

    pub fn parse(name: &str) -> Option<DocType> {
        DocType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl std::fmt::Display for DocType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a block of text is; the chunker prefers to break before headings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BlockKind {
    #[default]
    Paragraph,
    Heading,
    Code,
}

/// One paragraph-like unit of a parsed document, with where it came from.
///
/// `page` is 1-based and set for paged formats (PDF); `line_start`/`line_end` are 1-based and
/// inclusive, set for line-oriented formats (text, Markdown, code). `heading_path` lists the
/// enclosing headings, outermost first (Markdown, DOCX, HTML).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Block {
    pub text: String,
    pub kind: BlockKind,
    pub page: Option<u32>,
    pub line_start: Option<u32>,
    pub line_end: Option<u32>,
    pub heading_path: Vec<String>,
}

impl Block {
    /// A plain paragraph with no location: handy in tests.
    pub fn text(text: impl Into<String>) -> Block {
        Block {
            text: text.into(),
            ..Block::default()
        }
    }
}

/// A document as a loader returns it: normalised text in reading order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParsedDoc {
    pub doc_type: DocType,
    pub title: Option<String>,
    /// Number of pages for paged formats, 0 otherwise.
    pub pages: u32,
    pub blocks: Vec<Block>,
}

/// A chunk before it is stored: the unit that is embedded, indexed and cited.
///
/// `char_start`/`char_end` are character offsets (not bytes) into the document's text as the
/// blocks joined by blank lines (`"\n\n"`), so a citation can point at the exact place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkDraft {
    pub ordinal: u32,
    pub text: String,
    pub page: Option<u32>,
    pub line_start: Option<u32>,
    pub line_end: Option<u32>,
    pub char_start: u64,
    pub char_end: u64,
    pub heading_path: Vec<String>,
    /// Tokens in `text` as the embedding model's tokenizer counts them (without specials).
    pub n_tokens: u32,
}

/// Where a file ended after an indexing run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocStatus {
    Pending,
    Indexed,
    Skipped,
    Failed,
}

impl DocStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DocStatus::Pending => "pending",
            DocStatus::Indexed => "indexed",
            DocStatus::Skipped => "skipped",
            DocStatus::Failed => "failed",
        }
    }

    pub fn parse(name: &str) -> Option<DocStatus> {
        [
            DocStatus::Pending,
            DocStatus::Indexed,
            DocStatus::Skipped,
            DocStatus::Failed,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }
}

impl std::fmt::Display for DocStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Row id of a document in the store.
pub type DocId = i64;
/// Row id of a chunk in the store; never reused, so derived indexes can hold stale ids safely.
pub type ChunkId = i64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in DocType::ALL {
            assert_eq!(DocType::parse(t.as_str()), Some(t));
        }
        assert_eq!(DocType::parse("exe"), None);
        assert_eq!(DocStatus::parse("failed"), Some(DocStatus::Failed));
        assert_eq!(
            serde_json::to_string(&DocType::Markdown).unwrap(),
            "\"markdown\""
        );
    }
}
