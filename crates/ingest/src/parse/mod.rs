//! Loaders: bytes of one supported type in, a [`ParsedDoc`] of cleaned blocks out.
//!
//! Every loader cleans its raw text with [`clean_text`](crate::clean_text); [`parse_bytes`]
//! cleans again everything the loaders decoded (block text, titles, heading paths) and drops
//! empty blocks; a document with no text left is an error ([`IngestError::NoText`]).

mod docx;
mod html;
mod markdown;
mod pdf;
mod text;

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

use docent_types::{Block, DocType, ParsedDoc};
use serde::{Deserialize, Serialize};

use crate::{IngestError, clean_line, clean_text};

/// Caps that keep a hostile file from eating the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Larger files are refused before reading ([`IngestError::TooLarge`]).
    pub max_file_bytes: u64,
    /// Most entries a DOCX (zip) may hold.
    pub docx_max_entries: usize,
    /// Most bytes a DOCX may expand to, all entries together.
    pub docx_max_uncompressed: u64,
    /// Highest uncompressed/compressed ratio of a DOCX entry (zip bombs go far beyond).
    pub docx_max_ratio: u64,
    /// Most text one file may yield (UTF-8 bytes of its blocks, heading paths and title);
    /// more is [`IngestError::TooMuchText`]. This bounds what a parse worker sends back and
    /// what the app then chunks and embeds, whatever the file holds.
    pub max_text_bytes: u64,
}

/// The default of [`Limits::max_text_bytes`]: 32 MB is about 10,000 pages of prose, and the
/// app's peak memory for one document stays in the hundreds of MB (its chunks, their
/// embeddings and the store's transaction).
pub const MAX_TEXT_BYTES: u64 = 32 << 20;

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_file_bytes: 512 << 20,
            docx_max_entries: 10_000,
            docx_max_uncompressed: 256 << 20,
            docx_max_ratio: 100,
            max_text_bytes: MAX_TEXT_BYTES,
        }
    }
}

/// Reads and parses the file at `path` in this process.
///
/// PDF parsing can panic, overflow the stack or abort on a huge allocation; untrusted PDFs
/// belong in a [`WorkerPool`](crate::worker::WorkerPool), which calls this in a child process.
pub fn parse_file(
    path: &Path,
    doc_type: DocType,
    limits: &Limits,
) -> Result<ParsedDoc, IngestError> {
    let bytes = read_capped(path, limits.max_file_bytes)?;
    parse_bytes(&bytes, doc_type, limits)
}

/// Parses a whole file already in memory.
pub fn parse_bytes(
    bytes: &[u8],
    doc_type: DocType,
    limits: &Limits,
) -> Result<ParsedDoc, IngestError> {
    let size = bytes.len() as u64;
    if size > limits.max_file_bytes {
        return Err(IngestError::TooLarge {
            size,
            limit: limits.max_file_bytes,
        });
    }
    let doc = match doc_type {
        DocType::Text => text::parse_text(&decoded_within(bytes, limits)?),
        DocType::Code => text::parse_code(&decoded_within(bytes, limits)?),
        DocType::Markdown => markdown::parse_markdown(&decode_text(bytes)),
        DocType::Html => html::parse_html(&decode_text(bytes)),
        DocType::Docx => docx::parse_docx(bytes, limits)?,
        DocType::Pdf => pdf::parse_pdf(bytes)?,
    };
    finish(doc, limits)
}

/// The decoded text of a plain text or code file, refused before any further copy when it
/// alone is over the text cap: its blocks would hold all of it.
fn decoded_within<'a>(bytes: &'a [u8], limits: &Limits) -> Result<Cow<'a, str>, IngestError> {
    let text = decode_text(bytes);
    let size = text.len() as u64;
    if size > limits.max_text_bytes {
        return Err(IngestError::TooMuchText {
            size: Some(size),
            limit: limits.max_text_bytes,
        });
    }
    Ok(text)
}

/// Reads at most `max_bytes`; the size is checked before and while reading, since a file can
/// grow between the two.
fn read_capped(path: &Path, max_bytes: u64) -> Result<Vec<u8>, IngestError> {
    let file = std::fs::File::open(path).map_err(|source| IngestError::io(path, source))?;
    let size = file
        .metadata()
        .map_err(|source| IngestError::io(path, source))?
        .len();
    if size > max_bytes {
        return Err(IngestError::TooLarge {
            size,
            limit: max_bytes,
        });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| IngestError::io(path, source))?;
    if bytes.len() as u64 > max_bytes {
        return Err(IngestError::TooLarge {
            size: bytes.len() as u64,
            limit: max_bytes,
        });
    }
    Ok(bytes)
}

/// UTF-8 (invalid sequences replaced), or UTF-16 when a byte order mark says so. Valid UTF-8
/// is borrowed, not copied: a big file is in memory once.
fn decode_text(bytes: &[u8]) -> Cow<'_, str> {
    let utf16 = |rest: &[u8], from: fn([u8; 2]) -> u16| {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|pair| from([pair[0], pair[1]]))
            .collect();
        Cow::Owned(String::from_utf16_lossy(&units))
    };
    if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        utf16(rest, u16::from_le_bytes)
    } else if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        utf16(rest, u16::from_be_bytes)
    } else {
        String::from_utf8_lossy(bytes)
    }
}

/// Cleans every string that leaves a loader, drops blank blocks; a document without any text
/// left, or with more than the text cap, is an error.
///
/// Loaders clean raw text before parsing, but decoders make new characters: `&#x200B;` in
/// HTML and Markdown, `\u202E` in a PDF string or a DOCX entity only exist once decoded. This
/// is the one place every loader passes through, so the rule holds whatever a loader does.
fn finish(mut doc: ParsedDoc, limits: &Limits) -> Result<ParsedDoc, IngestError> {
    for block in &mut doc.blocks {
        block.text = clean_text(&block.text);
        block.heading_path = block
            .heading_path
            .iter()
            .map(|heading| clean_line(heading))
            .filter(|heading| !heading.is_empty())
            .collect();
    }
    doc.blocks.retain(|block| !block.text.trim().is_empty());
    if doc.blocks.is_empty() {
        return Err(IngestError::NoText);
    }
    doc.title = doc
        .title
        .map(|title| clean_line(&title))
        .filter(|title| !title.is_empty());
    check_text_size(&doc, limits.max_text_bytes)?;
    Ok(doc)
}

/// [`IngestError::TooMuchText`] when `doc` holds more than `limit` bytes of text.
pub(crate) fn check_text_size(doc: &ParsedDoc, limit: u64) -> Result<(), IngestError> {
    let size = text_bytes(doc);
    if size > limit {
        return Err(IngestError::TooMuchText {
            size: Some(size),
            limit,
        });
    }
    Ok(())
}

/// The bytes of text `doc` carries: block texts, every block's heading path (each block
/// repeats its own, so a huge heading over many blocks counts every time) and the title.
pub(crate) fn text_bytes(doc: &ParsedDoc) -> u64 {
    let block_bytes = |block: &Block| {
        let heading_bytes: usize = block.heading_path.iter().map(String::len).sum();
        (block.text.len() + heading_bytes) as u64
    };
    let title_bytes = doc.title.as_ref().map_or(0, String::len) as u64;
    doc.blocks.iter().map(block_bytes).sum::<u64>() + title_bytes
}

/// Runs of whitespace become one space; the ends are trimmed.
pub(crate) fn collapse_whitespace(text: &str) -> String {
    let mut collapsed = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !collapsed.is_empty() {
            collapsed.push(' ');
        }
        collapsed.push_str(word);
    }
    collapsed
}

/// Maps byte offsets of a text to 1-based line numbers.
pub(crate) struct LineIndex {
    line_starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(text: &str) -> LineIndex {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(offset, _)| offset + 1));
        LineIndex { line_starts }
    }

    pub(crate) fn line_of(&self, byte_offset: usize) -> u32 {
        let line_idx = self
            .line_starts
            .partition_point(|&start| start <= byte_offset);
        line_idx as u32
    }
}

/// Keeps the nesting of headings seen so far, to give each block its heading path.
#[derive(Default)]
pub(crate) struct HeadingStack {
    levels: Vec<(u8, String)>,
}

impl HeadingStack {
    /// Enters a heading of `level` (smaller is outer): closes same-level and deeper headings.
    pub(crate) fn enter(&mut self, level: u8, text: String) {
        while self.levels.last().is_some_and(|(open, _)| *open >= level) {
            self.levels.pop();
        }
        self.levels.push((level, text));
    }

    pub(crate) fn path(&self) -> Vec<String> {
        self.levels.iter().map(|(_, text)| text.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_cap_applies_before_parsing() {
        let limits = Limits {
            max_file_bytes: 10,
            ..Limits::default()
        };
        let error = parse_bytes(b"hello world, too long", DocType::Text, &limits).unwrap_err();
        assert_eq!(error.reason(), "file too large (21 bytes > 10 bytes)");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.txt");
        std::fs::write(&path, vec![b'a'; 2048]).unwrap();
        let limits = Limits {
            max_file_bytes: 1024,
            ..Limits::default()
        };
        let error = parse_file(&path, DocType::Text, &limits).unwrap_err();
        assert_eq!(error.reason(), "file too large (2 KB > 1 KB)");
    }

    #[test]
    fn empty_documents_are_errors() {
        for (bytes, doc_type) in [
            (&b""[..], DocType::Text),
            (b"\n\n   \n\t\n", DocType::Text),
            (b"\xE2\x80\x8B\xE2\x80\x8B", DocType::Text), // zero-width spaces only
            (b"<html><script>x()</script></html>", DocType::Html),
            (b"<!-- only a comment -->", DocType::Markdown),
            (b"", DocType::Code),
        ] {
            let error = parse_bytes(bytes, doc_type, &Limits::default()).unwrap_err();
            assert_eq!(error.reason(), "no text", "{bytes:?} as {doc_type}");
        }
    }

    #[test]
    fn text_decoding() {
        assert_eq!(decode_text(b"caf\xc3\xa9"), "café");
        assert_eq!(decode_text(b"caf\xe9"), "caf\u{FFFD}");
        assert_eq!(decode_text(b"\xff\xfeh\0i\0"), "hi");
        assert_eq!(decode_text(b"\xfe\xff\0h\0i"), "hi");
    }

    #[test]
    fn line_index() {
        let index = LineIndex::new("ab\ncd\n\nef");
        let lines: Vec<u32> = (0..9).map(|offset| index.line_of(offset)).collect();
        assert_eq!(lines, [1, 1, 1, 2, 2, 2, 3, 4, 4]);
    }
}
