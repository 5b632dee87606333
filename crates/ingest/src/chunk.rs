//! Cutting a parsed document into chunks that fit the embedding model.
//!
//! A chunk is a window of at most `max_tokens` tokens (as the embedding model's tokenizer
//! counts them, without special tokens) made of whole blocks where possible. A block too long
//! for one window is cut at sentence ends (lines, for code), a sentence too long at word
//! boundaries, and a "word" too long (CJK text without spaces, a base64 blob) at token
//! boundaries. Chunks never cross a page or a heading section, and consecutive chunks of a
//! section overlap by about `overlap_tokens` of trailing text.
//!
//! Each block is tokenised exactly once, in pieces of at most [`TOKENIZE_PIECE_BYTES`] cut
//! after whitespace; every later count is a binary search over the block's token offsets.
//!
//! Offsets are characters into [`document_text`]: the chunk's text is exactly
//! `document_text(doc).chars().skip(char_start).take(char_end - char_start)`.

use std::ops::Range;
use std::path::Path;

use docent_types::{Block, BlockKind, ChunkDraft, ParsedDoc};
use serde::{Deserialize, Serialize};
use tokenizers::Tokenizer;

use crate::IngestError;

/// Separator between blocks in [`document_text`].
const BLOCK_SEPARATOR: &str = "\n\n";

/// Longest stretch of a block handed to the tokenizer in one call. A tokenizer keeps an
/// alignment entry per byte and a record per token (well over 100 bytes per input byte all
/// told), so a 32 MB block encoded whole would take gigabytes. Pieces cut after whitespace
/// tokenise exactly as the whole does (the tokenizer splits words at whitespace), and 64 KiB
/// keeps each call within a few MB.
pub const TOKENIZE_PIECE_BYTES: usize = 64 << 10;

/// Window sizes, in tokens of the embedding tokenizer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkConfig {
    /// Most tokens in a chunk, special tokens excluded (all-MiniLM-L6-v2 takes 256 with them).
    pub max_tokens: usize,
    /// About how many tokens of the previous chunk's end a chunk repeats.
    pub overlap_tokens: usize,
}

impl Default for ChunkConfig {
    fn default() -> ChunkConfig {
        ChunkConfig {
            max_tokens: 200,
            overlap_tokens: 30,
        }
    }
}

/// All blocks' text joined by blank lines: the text that chunk offsets point into.
pub fn document_text(doc: &ParsedDoc) -> String {
    let texts: Vec<&str> = doc.blocks.iter().map(|block| block.text.as_str()).collect();
    texts.join(BLOCK_SEPARATOR)
}

/// Cuts documents into [`ChunkDraft`]s; `Send + Sync`, share one between threads.
pub struct Chunker {
    tokenizer: Tokenizer,
    config: ChunkConfig,
    /// [`TOKENIZE_PIECE_BYTES`]; smaller in tests.
    piece_bytes: usize,
}

impl std::fmt::Debug for Chunker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chunker")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Chunker {
    /// Uses `tokenizer` to count, without its padding and truncation (tokenizer files often
    /// ship fixed ones, which would make every count wrong). `max_tokens` is at least 1 and
    /// `overlap_tokens` at most half of it.
    pub fn new(mut tokenizer: Tokenizer, config: ChunkConfig) -> Chunker {
        tokenizer.with_padding(None);
        if let Err(error) = tokenizer.with_truncation(None) {
            // Only setting parameters can fail; clearing them cannot.
            tracing::warn!(%error, "could not clear the tokenizer's truncation");
        }
        let max_tokens = config.max_tokens.max(1);
        let config = ChunkConfig {
            max_tokens,
            overlap_tokens: config.overlap_tokens.min(max_tokens / 2),
        };
        Chunker {
            tokenizer,
            config,
            piece_bytes: TOKENIZE_PIECE_BYTES,
        }
    }

    /// Loads a `tokenizer.json` (the embedding model's own).
    pub fn from_tokenizer_file(path: &Path, config: ChunkConfig) -> Result<Chunker, IngestError> {
        let tokenizer = Tokenizer::from_file(path).map_err(|error| IngestError::Tokenizer {
            path: path.to_path_buf(),
            detail: error.to_string(),
        })?;
        Ok(Chunker::new(tokenizer, config))
    }

    pub fn config(&self) -> &ChunkConfig {
        &self.config
    }

    /// Tokens in `text` without special tokens, as chunk sizes are counted.
    pub fn count_tokens(&self, text: &str) -> usize {
        match self.tokenizer.encode(text, false) {
            Ok(encoding) => encoding.len(),
            Err(_) => fallback_token_starts(text).len(),
        }
    }

    /// Cuts `doc` into chunks, numbered from 0 in document order.
    pub fn chunk(&self, doc: &ParsedDoc) -> Vec<ChunkDraft> {
        let mut char_base = 0;
        let blocks: Vec<PreparedBlock<'_>> = doc
            .blocks
            .iter()
            .map(|block| {
                let prepared = self.prepare(block, char_base);
                char_base += prepared.n_chars() + BLOCK_SEPARATOR.len();
                prepared
            })
            .collect();

        let mut units = Vec::new();
        let mut block_units = Vec::with_capacity(blocks.len());
        for (block_idx, block) in blocks.iter().enumerate() {
            let first_unit = units.len();
            self.split_block(block_idx, block, &mut units);
            block_units.push(first_unit..units.len());
        }
        let block_tokens: Vec<usize> = block_units
            .iter()
            .map(|range| {
                let units = &units[range.clone()];
                // Pieces of one word are counted apart and re-encode to more tokens together:
                // a block holding such pieces is never taken whole.
                if units.iter().any(|unit| unit.starts_mid_word) {
                    usize::MAX
                } else {
                    units.iter().map(|unit| unit.n_tokens).sum()
                }
            })
            .collect();
        let packer = Packer {
            config: &self.config,
            blocks: &blocks,
            units: &units,
            block_units: &block_units,
            block_tokens: &block_tokens,
        };

        let mut windows = Vec::new();
        let mut section_first_block = 0;
        for block_idx in 1..=blocks.len() {
            let ends_section = block_idx == blocks.len()
                || !same_section(blocks[block_idx].block, blocks[section_first_block].block);
            if ends_section {
                let section_units =
                    block_units[section_first_block].start..block_units[block_idx - 1].end;
                packer.pack_section(section_units, &mut windows);
                section_first_block = block_idx;
            }
        }
        windows
            .into_iter()
            .enumerate()
            .map(|(ordinal, window)| packer.draft(ordinal as u32, &window))
            .collect()
    }

    fn prepare<'a>(&self, block: &'a Block, char_base: usize) -> PreparedBlock<'a> {
        let text = block.text.as_str();
        let mut tokens = Vec::new();
        for piece in tokenize_pieces(text, self.piece_bytes) {
            self.push_token_starts(text, piece, &mut tokens);
        }
        tokens.sort_by_key(|&(start, _)| start);
        let (token_starts, word_starts) = tokens.into_iter().unzip();
        let newlines = if block.line_start.is_some() {
            text.match_indices('\n').map(|(offset, _)| offset).collect()
        } else {
            Vec::new()
        };
        PreparedBlock {
            block,
            text,
            token_starts,
            word_starts,
            chars: CharIndex::new(text),
            char_base,
            newlines,
        }
    }

    /// Pushes (start byte in `text`, starts a word) of every token of `text[piece]`. Words are
    /// the tokenizer's own pre-tokenization: cutting between words keeps counts additive,
    /// cutting inside one does not (a word's tail reads differently once it stands alone).
    fn push_token_starts(&self, text: &str, piece: Range<usize>, tokens: &mut Vec<(usize, bool)>) {
        let piece_text = &text[piece.clone()];
        if piece_text.trim().is_empty() {
            return;
        }
        match self.tokenizer.encode(piece_text, false) {
            Ok(encoding) => {
                let word_ids = encoding.get_word_ids();
                let starts = encoding
                    .get_offsets()
                    .iter()
                    .enumerate()
                    .map(|(token_idx, &(start, _))| {
                        let word = word_ids.get(token_idx).copied().flatten();
                        let starts_word = token_idx == 0
                            || word.is_none()
                            || word_ids.get(token_idx - 1).copied().flatten() != word;
                        (piece.start + start, starts_word)
                    })
                    // Cuts happen at token starts: each must be a place a str can be cut.
                    .filter(|&(start, _)| start < piece.end && text.is_char_boundary(start));
                tokens.extend(starts);
            }
            Err(error) => {
                tracing::warn!(%error, "tokenizer failed; counting words instead");
                let starts = fallback_token_starts(piece_text)
                    .into_iter()
                    .map(|start| (piece.start + start, true));
                tokens.extend(starts);
            }
        }
    }

    /// Units of a block: sentences (lines for code), each cut further until it fits.
    fn split_block(&self, block_idx: usize, block: &PreparedBlock<'_>, units: &mut Vec<Unit>) {
        let pieces = if block.block.kind == BlockKind::Code {
            line_ranges(block.text)
        } else {
            sentence_ranges(block.text)
        };
        for piece in pieces {
            self.push_fitting(block_idx, block, piece, units);
        }
    }

    /// Pushes `range` as one unit if it fits, else as pieces cut at the latest word boundary
    /// (or CJK character, or punctuation) that keeps each piece within `max_tokens`, and at a
    /// token boundary inside a word only when a word alone is too long.
    fn push_fitting(
        &self,
        block_idx: usize,
        block: &PreparedBlock<'_>,
        range: Range<usize>,
        units: &mut Vec<Unit>,
    ) {
        let max_tokens = self.config.max_tokens;
        let text = block.text;
        let mut piece_start = range.start;
        // A piece cut inside a word is counted on its own: the tokenizer reads a word's tail
        // differently once it stands alone.
        let mut starts_mid_word = false;
        while piece_start < range.end {
            let first_token = block.first_token_at(piece_start);
            let end_token = block.first_token_at(range.end);
            let n_in_range = end_token - first_token;
            if n_in_range <= max_tokens {
                let n_tokens = if starts_mid_word {
                    self.count_tokens(&text[piece_start..range.end])
                } else {
                    n_in_range
                };
                if n_tokens <= max_tokens || n_in_range <= 1 {
                    units.push(Unit {
                        block: block_idx,
                        bytes: piece_start..range.end,
                        n_tokens,
                        starts_mid_word,
                    });
                    return;
                }
            }
            // The first token left out of this piece: at most `max_tokens` stay in, and at
            // least one is left for the next piece.
            let limit_token = first_token + max_tokens.min(n_in_range.saturating_sub(1)).max(1);
            let boundary = (first_token + 1..=limit_token)
                .rev()
                .map(|token_idx| block.token_starts[token_idx])
                .find(|&byte| byte > piece_start && block.is_word_start(byte));
            let (mut cut, mut ends_mid_word) = match boundary {
                Some(byte) => (byte, false),
                None => match block.next_token_start(piece_start, limit_token, range.end) {
                    Some(byte) => (byte, !block.is_word_start(byte)),
                    None => (range.end, false),
                },
            };
            loop {
                let piece = piece_start..trim_end(text, piece_start, cut);
                let n_tokens = if starts_mid_word || ends_mid_word {
                    self.count_tokens(&text[piece.clone()])
                } else {
                    block.count(piece.clone())
                };
                match block.previous_token_start(piece_start, cut) {
                    Some(earlier) if n_tokens > max_tokens => {
                        cut = earlier;
                        ends_mid_word = !block.is_word_start(cut);
                    }
                    _ => {
                        units.push(Unit {
                            block: block_idx,
                            bytes: piece,
                            n_tokens,
                            starts_mid_word,
                        });
                        break;
                    }
                }
            }
            starts_mid_word = ends_mid_word;
            piece_start = skip_whitespace(text, cut, range.end);
        }
    }
}

/// One block with everything needed to count and locate cuts inside it.
struct PreparedBlock<'a> {
    block: &'a Block,
    text: &'a str,
    /// Byte offset where each token starts, sorted.
    token_starts: Vec<usize>,
    /// Whether each token begins a word (as the tokenizer splits words).
    word_starts: Vec<bool>,
    chars: CharIndex,
    /// Character offset of the block's start in the document text.
    char_base: usize,
    /// Byte offsets of the newlines, for blocks that know their lines.
    newlines: Vec<usize>,
}

impl PreparedBlock<'_> {
    /// Tokens that start inside `bytes`. Adjacent ranges add up exactly.
    fn count(&self, bytes: Range<usize>) -> usize {
        self.first_token_at(bytes.end) - self.first_token_at(bytes.start)
    }

    fn first_token_at(&self, byte: usize) -> usize {
        self.token_starts.partition_point(|&start| start < byte)
    }

    /// True when a token begins a word at `byte`: a cut there splits no word.
    fn is_word_start(&self, byte: usize) -> bool {
        let token_idx = self.first_token_at(byte);
        self.token_starts.get(token_idx) == Some(&byte) && self.word_starts[token_idx]
    }

    /// Where token `token_idx` starts, or the first token start after `after` when several
    /// tokens start at `after` (one character read as several tokens); `None` when that would
    /// be at or past `end`.
    fn next_token_start(&self, after: usize, token_idx: usize, end: usize) -> Option<usize> {
        let byte = self.token_starts[token_idx];
        let byte = if byte > after {
            byte
        } else {
            let idx = self.token_starts.partition_point(|&start| start <= after);
            *self.token_starts.get(idx)?
        };
        (byte < end).then_some(byte)
    }

    /// The last token start strictly between `after` and `before`.
    fn previous_token_start(&self, after: usize, before: usize) -> Option<usize> {
        let idx = self.first_token_at(before);
        idx.checked_sub(1)
            .map(|idx| self.token_starts[idx])
            .filter(|&start| start > after)
    }

    fn n_chars(&self) -> usize {
        self.chars.chars_before(self.text, self.text.len())
    }

    fn char_offset(&self, byte: usize) -> usize {
        self.char_base + self.chars.chars_before(self.text, byte)
    }

    /// The line holding the byte at `byte`, for blocks with lines.
    fn line_at(&self, byte: usize) -> Option<u32> {
        let first_line = self.block.line_start?;
        let n_newlines_before = self.newlines.partition_point(|&newline| newline < byte);
        let line = first_line.saturating_add(n_newlines_before as u32);
        Some(match self.block.line_end {
            Some(last_line) => line.min(last_line),
            None => line,
        })
    }
}

/// Byte-to-character offsets without recounting from the start each time.
struct CharIndex {
    /// (byte offset, characters before it) every [`CharIndex::STRIDE`] bytes or so; empty for
    /// ASCII text, where the two are the same.
    checkpoints: Vec<(usize, usize)>,
}

impl CharIndex {
    const STRIDE: usize = 1024;

    fn new(text: &str) -> CharIndex {
        if text.is_ascii() {
            return CharIndex {
                checkpoints: Vec::new(),
            };
        }
        let mut checkpoints = vec![(0, 0)];
        let mut next_checkpoint = CharIndex::STRIDE;
        for (n_chars, (byte, _)) in text.char_indices().enumerate() {
            if byte >= next_checkpoint {
                checkpoints.push((byte, n_chars));
                next_checkpoint = byte + CharIndex::STRIDE;
            }
        }
        CharIndex { checkpoints }
    }

    fn chars_before(&self, text: &str, byte: usize) -> usize {
        if self.checkpoints.is_empty() {
            return byte;
        }
        let idx = self.checkpoints.partition_point(|&(at, _)| at <= byte) - 1;
        let (at, n_chars) = self.checkpoints[idx];
        n_chars + text[at..byte].chars().count()
    }
}

/// A piece of one block that fits in a chunk: a sentence, a line of code, or a cut of one.
struct Unit {
    block: usize,
    bytes: Range<usize>,
    n_tokens: usize,
    /// The unit continues a word cut at a token boundary: it never shares a window with the
    /// piece before it, whose count would not add up with its own.
    starts_mid_word: bool,
}

/// A chunk before it becomes a draft: from a place in one block to a place in another.
struct Window {
    start_block: usize,
    start_byte: usize,
    end_block: usize,
    end_byte: usize,
    n_tokens: usize,
}

/// Where the next window starts when it repeats the end of the previous one.
struct Lead {
    block: usize,
    byte: usize,
    n_tokens: usize,
}

struct Packer<'a> {
    config: &'a ChunkConfig,
    blocks: &'a [PreparedBlock<'a>],
    units: &'a [Unit],
    block_units: &'a [Range<usize>],
    block_tokens: &'a [usize],
}

impl Packer<'_> {
    /// The next thing to add at `unit_idx`: a whole block when it starts there and fits a
    /// window, else one unit. Returns (the unit after it, its tokens).
    fn item(&self, unit_idx: usize) -> (usize, usize) {
        let block_idx = self.units[unit_idx].block;
        let units = &self.block_units[block_idx];
        if units.start == unit_idx && self.block_tokens[block_idx] <= self.config.max_tokens {
            (units.end, self.block_tokens[block_idx])
        } else {
            (unit_idx + 1, self.units[unit_idx].n_tokens)
        }
    }

    fn pack_section(&self, section: Range<usize>, windows: &mut Vec<Window>) {
        let max_tokens = self.config.max_tokens;
        let mut unit_idx = section.start;
        let mut lead: Option<Lead> = None;
        while unit_idx < section.end {
            let first_unit = unit_idx;
            let first = &self.units[first_unit];
            let (start_block, start_byte, mut n_tokens) = match &lead {
                Some(lead) => (lead.block, lead.byte, lead.n_tokens),
                None => (first.block, first.bytes.start, 0),
            };
            while unit_idx < section.end {
                let (item_end, item_tokens) = self.item(unit_idx);
                if unit_idx > first_unit
                    && (n_tokens + item_tokens > max_tokens || self.units[unit_idx].starts_mid_word)
                {
                    break;
                }
                n_tokens += item_tokens;
                unit_idx = item_end;
            }
            let last = &self.units[unit_idx - 1];
            windows.push(Window {
                start_block,
                start_byte,
                end_block: last.block,
                end_byte: last.bytes.end,
                n_tokens,
            });
            lead = if unit_idx < section.end {
                self.lead(first_unit, unit_idx)
            } else {
                None
            };
        }
    }

    /// The overlap for the window starting at `next_unit`, taken from the end of the window
    /// that began at `first_unit`: trailing whole sentences when they fit the overlap budget,
    /// else the trailing words of the last sentence. It never starts at or before the
    /// previous window's start, and leaves room for the next item.
    fn lead(&self, first_unit: usize, next_unit: usize) -> Option<Lead> {
        if self.units[next_unit].starts_mid_word {
            // The rest of a cut word joins no earlier text (see `Unit::starts_mid_word`).
            return None;
        }
        let (_, next_tokens) = self.item(next_unit);
        let budget = self
            .config
            .overlap_tokens
            .min(self.config.max_tokens.saturating_sub(next_tokens));
        if budget == 0 {
            return None;
        }
        let mut lead_unit = next_unit;
        let mut n_tokens = 0;
        while lead_unit - 1 > first_unit && n_tokens + self.units[lead_unit - 1].n_tokens <= budget
        {
            lead_unit -= 1;
            n_tokens += self.units[lead_unit].n_tokens;
        }
        if lead_unit < next_unit {
            let unit = &self.units[lead_unit];
            return Some(Lead {
                block: unit.block,
                byte: unit.bytes.start,
                n_tokens,
            });
        }
        // The last sentence alone is too long: repeat its last words.
        let unit = &self.units[next_unit - 1];
        let block = &self.blocks[unit.block];
        let first_token = block.first_token_at(unit.bytes.start);
        let end_token = block.first_token_at(unit.bytes.end);
        let earliest = end_token.saturating_sub(budget).max(first_token + 1);
        (earliest..end_token)
            .map(|token_idx| block.token_starts[token_idx])
            .find(|&byte| byte > unit.bytes.start && block.is_word_start(byte))
            .map(|byte| Lead {
                block: unit.block,
                byte,
                n_tokens: block.count(byte..unit.bytes.end),
            })
    }

    fn draft(&self, ordinal: u32, window: &Window) -> ChunkDraft {
        let first = &self.blocks[window.start_block];
        let last = &self.blocks[window.end_block];
        let mut text = String::new();
        let mut line_start: Option<u32> = None;
        let mut line_end: Option<u32> = None;
        for block_idx in window.start_block..=window.end_block {
            let block = &self.blocks[block_idx];
            let from = if block_idx == window.start_block {
                window.start_byte
            } else {
                0
            };
            let to = if block_idx == window.end_block {
                window.end_byte
            } else {
                block.text.len()
            };
            if block_idx > window.start_block {
                text.push_str(BLOCK_SEPARATOR);
            }
            text.push_str(&block.text[from..to]);
            if let Some(line) = block.line_at(from) {
                line_start = Some(line_start.map_or(line, |l| l.min(line)));
            }
            if let Some(line) = block.line_at(to.saturating_sub(1).max(from)) {
                line_end = Some(line_end.map_or(line, |l| l.max(line)));
            }
        }
        ChunkDraft {
            ordinal,
            text,
            page: first.block.page,
            line_start,
            line_end,
            char_start: first.char_offset(window.start_byte) as u64,
            char_end: last.char_offset(window.end_byte) as u64,
            heading_path: first.block.heading_path.clone(),
            n_tokens: window.n_tokens as u32,
        }
    }
}

/// Consecutive ranges covering `text`, each at most `max_bytes` long (or one character, if
/// longer), cut just after the last whitespace that leaves a piece at least half full, else
/// at the last character boundary (a base64 blob or CJK text without spaces).
fn tokenize_pieces(text: &str, max_bytes: usize) -> Vec<Range<usize>> {
    let max_bytes = max_bytes.max(8);
    let mut pieces = Vec::with_capacity(text.len() / max_bytes + 1);
    let mut start = 0;
    while text.len() - start > max_bytes {
        let mut limit = start + max_bytes;
        while !text.is_char_boundary(limit) {
            limit -= 1;
        }
        let window = &text[start..limit];
        let after_space = window
            .rfind(char::is_whitespace)
            .map(|at| start + at + window[at..].chars().next().map_or(1, char::len_utf8))
            .filter(|&cut| cut - start >= max_bytes / 2);
        let cut = match after_space {
            Some(cut) => cut,
            None if limit > start => limit,
            // One character longer than the piece size: take it whole.
            None => start + text[start..].chars().next().map_or(1, char::len_utf8),
        };
        pieces.push(start..cut);
        start = cut;
    }
    if start < text.len() {
        pieces.push(start..text.len());
    }
    pieces
}

fn same_section(a: &Block, b: &Block) -> bool {
    a.page == b.page && a.heading_path == b.heading_path
}

/// Sentences of `text`, trimmed, covering every non-blank character. A sentence ends after
/// `.`, `!` or `?` (and any closing quotes or brackets) followed by whitespace, or after a
/// CJK full stop, exclamation or question mark.
fn sentence_ranges(text: &str) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let mut sentence_start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((byte, c)) = chars.next() {
        let is_cjk_end = matches!(c, '。' | '！' | '？' | '｡');
        if !(is_cjk_end || matches!(c, '.' | '!' | '?')) {
            continue;
        }
        let mut end = byte + c.len_utf8();
        while let Some(&(next_byte, next)) = chars.peek() {
            if !matches!(
                next,
                '"' | '\'' | ')' | ']' | '”' | '’' | '»' | '」' | '』' | '）' | '】'
            ) {
                break;
            }
            end = next_byte + next.len_utf8();
            chars.next();
        }
        let at_break = chars.peek().is_none_or(|&(_, next)| next.is_whitespace());
        if is_cjk_end || at_break {
            push_trimmed(text, sentence_start..end, &mut ranges);
            sentence_start = end;
        }
    }
    push_trimmed(text, sentence_start..text.len(), &mut ranges);
    ranges
}

/// Non-blank lines of `text`, keeping their indentation.
fn line_ranges(text: &str) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let mut line_start = 0;
    for line in text.split('\n') {
        let trimmed = line.trim_end();
        if !trimmed.trim_start().is_empty() {
            ranges.push(line_start..line_start + trimmed.len());
        }
        line_start += line.len() + 1;
    }
    ranges
}

fn push_trimmed(text: &str, range: Range<usize>, ranges: &mut Vec<Range<usize>>) {
    let piece = &text[range.clone()];
    let trimmed_start = piece.len() - piece.trim_start().len();
    let trimmed_end = piece.trim_end().len();
    if trimmed_start < trimmed_end {
        ranges.push(range.start + trimmed_start..range.start + trimmed_end);
    }
}

/// `end` moved back over whitespace, not before `start`.
fn trim_end(text: &str, start: usize, end: usize) -> usize {
    start + text[start..end].trim_end().len()
}

/// `from` moved forward over whitespace, not past `limit`.
fn skip_whitespace(text: &str, from: usize, limit: usize) -> usize {
    limit - text[from..limit].trim_start().len()
}

/// CJK characters, which the fallback counts one by one (CJK text has no spaces).
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF     // hiragana, katakana
        | 0x3400..=0x4DBF   // CJK extension A
        | 0x4E00..=0x9FFF   // CJK unified ideographs
        | 0xAC00..=0xD7AF   // hangul syllables
        | 0xF900..=0xFAFF   // CJK compatibility ideographs
        | 0x20000..=0x2FA1F // CJK extensions B-F, compatibility supplement
    )
}

/// Token starts when the tokenizer fails: each word and each CJK character.
fn fallback_token_starts(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut previous: Option<char> = None;
    for (byte, c) in text.char_indices() {
        let starts_token = !c.is_whitespace()
            && (previous.is_none_or(char::is_whitespace)
                || is_cjk(c)
                || previous.is_some_and(is_cjk));
        if starts_token {
            starts.push(byte);
        }
        previous = Some(c);
    }
    starts
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;
    use std::time::Instant;

    use docent_types::DocType;
    use proptest::prelude::*;

    use super::*;

    /// The embedding model's tokenizer, found the way the app finds it.
    fn tokenizer() -> Tokenizer {
        static TOKENIZER: OnceLock<Tokenizer> = OnceLock::new();
        TOKENIZER
            .get_or_init(|| {
                let models = std::env::var_os("DOCENT_MODELS_DIR")
                    .filter(|v| !v.is_empty())
                    .map(std::path::PathBuf::from)
                    .or_else(|| {
                        std::env::var_os("XDG_DATA_HOME")
                            .filter(|v| !v.is_empty())
                            .map(|d| std::path::PathBuf::from(d).join("docent/models"))
                    })
                    .unwrap_or_else(|| {
                        let home = std::env::var_os("HOME").expect("HOME is set");
                        std::path::PathBuf::from(home).join(".local/share/docent/models")
                    });
                let path = models.join("all-MiniLM-L6-v2/tokenizer.json");
                assert!(
                    path.is_file(),
                    "{} is missing: run scripts/setup to fetch the default models",
                    path.display()
                );
                Tokenizer::from_file(&path).unwrap()
            })
            .clone()
    }

    fn chunker(max_tokens: usize, overlap_tokens: usize) -> Chunker {
        Chunker::new(
            tokenizer(),
            ChunkConfig {
                max_tokens,
                overlap_tokens,
            },
        )
    }

    fn block(text: &str, page: Option<u32>, heading_path: &[&str]) -> Block {
        Block {
            text: text.to_owned(),
            kind: BlockKind::Paragraph,
            page,
            line_start: None,
            line_end: None,
            heading_path: heading_path.iter().map(|h| h.to_string()).collect(),
        }
    }

    fn make_doc(doc_type: DocType, blocks: Vec<Block>) -> ParsedDoc {
        ParsedDoc {
            doc_type,
            title: None,
            pages: 0,
            blocks,
        }
    }

    /// Every property a list of chunks must have, whatever the document.
    fn check_invariants(chunker: &Chunker, doc: &ParsedDoc, chunks: &[ChunkDraft]) {
        let max_tokens = chunker.config().max_tokens;
        let text = document_text(doc);
        let chars: Vec<char> = text.chars().collect();
        // Character range of each block in the document text.
        let mut block_ranges = Vec::new();
        let mut offset = 0;
        for block in &doc.blocks {
            let n_chars = block.text.chars().count();
            block_ranges.push(offset..offset + n_chars);
            offset += n_chars + 2;
        }
        let mut covered = vec![false; chars.len()];
        for (idx, chunk) in chunks.iter().enumerate() {
            assert_eq!(chunk.ordinal as usize, idx);
            let (start, end) = (chunk.char_start as usize, chunk.char_end as usize);
            assert!(start < end && end <= chars.len(), "{chunk:?}");
            let slice: String = chars[start..end].iter().collect();
            assert_eq!(
                slice, chunk.text,
                "chunk {idx} text differs from its offsets"
            );
            assert_eq!(
                chunk.text,
                chunk.text.trim_end(),
                "chunk {idx} ends with whitespace"
            );
            // Code keeps the indentation of its first line; other text starts at a word.
            let starts_code = doc
                .blocks
                .iter()
                .zip(&block_ranges)
                .any(|(block, range)| block.kind == BlockKind::Code && range.contains(&start));
            if !starts_code {
                assert_eq!(
                    chunk.text,
                    chunk.text.trim_start(),
                    "chunk {idx} starts with space"
                );
            }
            assert!(chunk.n_tokens as usize <= max_tokens, "{chunk:?}");
            let recount = chunker.count_tokens(&chunk.text);
            assert!(
                recount <= max_tokens,
                "chunk {idx} re-encodes to {recount} tokens: {chunk:?}"
            );
            if idx > 0 {
                assert!(
                    chunk.char_start > chunks[idx - 1].char_start,
                    "chunks go forward"
                );
            }
            for (block, range) in doc.blocks.iter().zip(&block_ranges) {
                if range.start < end && start < range.end {
                    assert_eq!(block.page, chunk.page, "chunk {idx} crosses a page");
                    assert_eq!(
                        block.heading_path, chunk.heading_path,
                        "chunk {idx} crosses a section"
                    );
                }
            }
            covered[start..end].iter_mut().for_each(|c| *c = true);
        }
        for (idx, c) in chars.iter().enumerate() {
            assert!(
                c.is_whitespace() || covered[idx],
                "character {idx} ({c:?}) is in no chunk"
            );
        }
    }

    #[test]
    fn short_blocks_share_a_chunk() {
        let chunker = chunker(200, 30);
        let doc = make_doc(
            DocType::Text,
            vec![
                block("First paragraph.", None, &[]),
                block("Second paragraph.", None, &[]),
            ],
        );
        let chunks = chunker.chunk(&doc);
        check_invariants(&chunker, &doc, &chunks);
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].text, "First paragraph.\n\nSecond paragraph.");
        assert_eq!(chunks[0].n_tokens, 6);
        assert_eq!((chunks[0].char_start, chunks[0].char_end), (0, 35));
    }

    #[test]
    fn long_text_is_cut_at_sentences_with_overlap() {
        let chunker = chunker(40, 10);
        let sentences: Vec<String> = (0..30)
            .map(|n| format!("Sentence number {n} talks about topic {n}."))
            .collect();
        let doc = make_doc(DocType::Text, vec![block(&sentences.join(" "), None, &[])]);
        let chunks = chunker.chunk(&doc);
        check_invariants(&chunker, &doc, &chunks);
        assert!(chunks.len() > 5);
        for pair in chunks.windows(2) {
            // Every chunk ends at a sentence end and the next repeats its last sentence.
            assert!(pair[0].text.ends_with('.'), "{:?}", pair[0].text);
            assert!(
                pair[1].char_start < pair[0].char_end,
                "no overlap: {pair:?}"
            );
            let repeated = &pair[0].text
                [pair[0].text.len() - (pair[0].char_end - pair[1].char_start) as usize..];
            assert!(pair[1].text.starts_with(repeated));
            assert!(chunker.count_tokens(repeated) <= 10);
        }
    }

    #[test]
    fn overlong_sentences_are_cut_at_words_then_tokens() {
        let chunker = chunker(20, 5);
        let words: Vec<String> = (0..200).map(|n| format!("word{n}")).collect();
        // One "word" of many word pieces (BERT turns words over 100 characters into [UNK]).
        let blob: String = (0..99u32)
            .map(|n| char::from(b'a' + (n * 7 % 26) as u8))
            .collect();
        let doc = make_doc(
            DocType::Text,
            vec![block(&words.join(" "), None, &[]), block(&blob, None, &[])],
        );
        let chunks = chunker.chunk(&doc);
        check_invariants(&chunker, &doc, &chunks);
        assert!(
            chunks
                .iter()
                .filter(|c| c.text.starts_with("word"))
                .all(|c| {
                    // Whole words only: every chunk of the first block ends with a complete word.
                    c.text
                        .split(' ')
                        .all(|w| w.starts_with("word") && w.len() > 4)
                })
        );
        let blob_pieces = chunks
            .iter()
            .filter(|c| blob.contains(c.text.as_str()) && c.text != blob)
            .count();
        assert!(blob_pieces >= 2, "the long word was not cut: {chunks:?}");
    }

    #[test]
    fn cjk_without_spaces_is_split() {
        let chunker = chunker(50, 10);
        let text = "日本語のテキストには空白がありません".repeat(40);
        let doc = make_doc(DocType::Text, vec![block(&text, None, &[])]);
        let chunks = chunker.chunk(&doc);
        check_invariants(&chunker, &doc, &chunks);
        assert!(chunks.len() > 10, "{} chunks", chunks.len());
        let sentences = "我们今天去公园。天气很好！你来吗？".repeat(30);
        let with_stops = make_doc(DocType::Text, vec![block(&sentences, None, &[])]);
        let chunks = chunker.chunk(&with_stops);
        check_invariants(&chunker, &with_stops, &chunks);
        assert!(chunks.iter().all(|c| c.text.ends_with(['。', '！', '？'])));
    }

    #[test]
    fn pages_and_sections_are_never_crossed() {
        let chunker = chunker(200, 30);
        let doc = make_doc(
            DocType::Pdf,
            vec![
                block("Page one text.", Some(1), &[]),
                block("More on page one.", Some(1), &[]),
                block("Page two text.", Some(2), &[]),
                block("Intro", Some(2), &["Intro"]),
                block("Under intro.", Some(2), &["Intro"]),
                block("Setup", Some(2), &["Intro", "Setup"]),
            ],
        );
        let chunks = chunker.chunk(&doc);
        check_invariants(&chunker, &doc, &chunks);
        let got: Vec<(Option<u32>, &str)> =
            chunks.iter().map(|c| (c.page, c.text.as_str())).collect();
        assert_eq!(
            got,
            [
                (Some(1), "Page one text.\n\nMore on page one."),
                (Some(2), "Page two text."),
                (Some(2), "Intro\n\nUnder intro."),
                (Some(2), "Setup"),
            ]
        );
        assert_eq!(chunks[3].heading_path, ["Intro", "Setup"]);
    }

    #[test]
    fn lines_follow_the_pieces() {
        let chunker = chunker(30, 0);
        let source: Vec<String> = (1..=80).map(|n| format!("let value_{n} = {n};")).collect();
        let parsed = crate::parse_bytes(
            source.join("\n").as_bytes(),
            DocType::Code,
            &crate::Limits::default(),
        )
        .unwrap();
        let chunks = chunker.chunk(&parsed);
        check_invariants(&chunker, &parsed, &chunks);
        assert!(chunks.len() > 3);
        for chunk in &chunks {
            let (first, last) = (chunk.line_start.unwrap(), chunk.line_end.unwrap());
            let lines: Vec<&str> = chunk.text.lines().collect();
            assert_eq!(lines.first().unwrap(), &source[first as usize - 1]);
            assert_eq!(lines.last().unwrap(), &source[last as usize - 1]);
        }
    }

    #[test]
    fn markdown_lines_follow_the_pieces() {
        let chunker = chunker(25, 5);
        let mut source = String::from("# Title\n\nIntro line one\nand line two. Short.\n\n```\n");
        for n in 1..=40 {
            source.push_str(&format!("call_{n}(argument_{n});\n"));
        }
        source.push_str("```\n\n");
        for n in 1..=30 {
            source.push_str(&format!("Wrapped prose line {n} goes on\n"));
        }
        let parsed = crate::parse_bytes(
            source.as_bytes(),
            DocType::Markdown,
            &crate::Limits::default(),
        )
        .unwrap();
        let chunks = chunker.chunk(&parsed);
        check_invariants(&chunker, &parsed, &chunks);
        let source_lines: Vec<&str> = source.lines().collect();
        assert!(chunks.len() > 6);
        for chunk in &chunks {
            let (first, last) = (chunk.line_start.unwrap(), chunk.line_end.unwrap());
            let text_lines: Vec<&str> = chunk.text.lines().collect();
            let first_text = text_lines.first().unwrap().trim();
            let last_text = text_lines.last().unwrap().trim();
            assert!(
                source_lines[first as usize - 1].contains(first_text),
                "{chunk:?}"
            );
            assert!(
                source_lines[last as usize - 1].contains(last_text),
                "{chunk:?}"
            );
        }
    }

    #[test]
    fn empty_documents_have_no_chunks() {
        let chunker = chunker(200, 30);
        assert!(chunker.chunk(&make_doc(DocType::Text, vec![])).is_empty());
        let blank = make_doc(
            DocType::Text,
            vec![block("  ", None, &[]), block("", None, &[])],
        );
        assert!(chunker.chunk(&blank).is_empty());
    }

    #[test]
    fn a_megabyte_chunks_quickly() {
        let chunker = chunker(200, 30);
        let paragraph = "The quick brown fox jumps over the lazy dog near the riverbank. \
            Researchers measured the speed of indexing on ordinary laptops! \
            Does the chunker keep up with the parser? It should.\n";
        let mut text = String::new();
        let mut n_paragraphs = 0;
        while text.len() < 1 << 20 {
            text.push_str(paragraph);
            n_paragraphs += 1;
            if n_paragraphs % 5 == 0 {
                text.push('\n');
            }
        }
        let parsed =
            crate::parse_bytes(text.as_bytes(), DocType::Text, &crate::Limits::default()).unwrap();
        let started = Instant::now();
        let chunks = chunker.chunk(&parsed);
        let elapsed = started.elapsed();
        let started = Instant::now();
        let n_tokens: usize = parsed
            .blocks
            .iter()
            .map(|b| chunker.count_tokens(&b.text))
            .sum();
        let tokenizing = started.elapsed();
        eprintln!(
            "chunked {} bytes ({n_tokens} tokens) into {} chunks in {elapsed:?}; \
             tokenizing alone takes {tokenizing:?}",
            text.len(),
            chunks.len()
        );
        assert!(chunks.len() > 1000);
        assert!(
            elapsed.as_secs_f64() < 3.0,
            "chunking 1 MB took {elapsed:?}"
        );
    }

    /// Text made of pieces that stress the cutter: words, numbers, punctuation, sentence ends,
    /// line breaks, CJK runs, long words and odd whitespace.
    fn text_strategy() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            4 => "[a-zA-Z]{1,8}".prop_map(|w| format!("{w} ")),
            1 => "[0-9]{1,4}".prop_map(|n| format!("{n} ")),
            2 => Just(". ".to_owned()),
            1 => Just("! ".to_owned()),
            1 => Just(", ".to_owned()),
            1 => Just("\n".to_owned()),
            1 => "[一-龥ぁ-ん]{1,30}",
            1 => Just("。".to_owned()),
            1 => "[a-z]{20,120}",
            1 => Just("  \t ".to_owned()),
            1 => Just("café naïve élan ".to_owned()),
        ];
        prop::collection::vec(piece, 0..60).prop_map(|pieces| pieces.concat())
    }

    fn doc_strategy() -> impl Strategy<Value = ParsedDoc> {
        let block = (
            text_strategy(),
            prop_oneof![
                Just(BlockKind::Paragraph),
                Just(BlockKind::Code),
                Just(BlockKind::Heading)
            ],
            0u32..3,
            0usize..3,
        )
            .prop_map(|(text, kind, page, n_headings)| Block {
                text,
                kind,
                page: Some(page),
                line_start: Some(1),
                line_end: Some(50),
                heading_path: ["A", "B", "C"][..n_headings]
                    .iter()
                    .map(|h| h.to_string())
                    .collect(),
            });
        prop::collection::vec(block, 0..8).prop_map(|blocks| ParsedDoc {
            doc_type: DocType::Text,
            title: None,
            pages: 3,
            blocks,
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn chunks_hold_their_invariants(doc in doc_strategy(), max_tokens in 4usize..60, overlap in 0usize..20) {
            let chunker = chunker(max_tokens, overlap);
            let chunks = chunker.chunk(&doc);
            check_invariants(&chunker, &doc, &chunks);
        }
    }

    #[test]
    fn sentences() {
        fn check(text: &str, expected: &[&str]) {
            let got: Vec<&str> = sentence_ranges(text)
                .into_iter()
                .map(|r| &text[r])
                .collect();
            assert_eq!(got, expected, "text {text:?}");
        }
        check("One. Two! Three? Four", &["One.", "Two!", "Three?", "Four"]);
        check("  Padded.   Again.  ", &["Padded.", "Again."]);
        check(
            "He said \"Stop.\" Then left.",
            &["He said \"Stop.\"", "Then left."],
        );
        check("Version 1.5 is out.", &["Version 1.5 is out."]);
        check(
            "今天天气很好。我们去公园吧！好吗？",
            &["今天天气很好。", "我们去公园吧！", "好吗？"],
        );
        check("Line one.\nLine two.", &["Line one.", "Line two."]);
        check("", &[]);
        check("   ", &[]);
    }

    #[test]
    fn lines() {
        let text = "fn a() {\n    x();\n\n}   \n";
        let got: Vec<&str> = line_ranges(text).into_iter().map(|r| &text[r]).collect();
        assert_eq!(got, ["fn a() {", "    x();", "}"]);
    }

    #[test]
    fn word_starts_follow_the_tokenizer() {
        let chunker = chunker(200, 30);
        let text_block = block("hello world,x 日本語 らぎdm", None, &[]);
        let prepared = chunker.prepare(&text_block, 0);
        let text = prepared.text;
        let cuts: Vec<&str> = (1..text.len())
            .filter(|&b| prepared.is_word_start(b))
            .map(|b| &text[b..])
            .collect();
        // Words, punctuation and each CJK ideograph start words; a kana run glued to Latin
        // letters is one word to BERT, so "dm" is no place to cut.
        assert_eq!(
            cuts,
            [
                "world,x 日本語 らぎdm",
                ",x 日本語 らぎdm",
                "x 日本語 らぎdm",
                "日本語 らぎdm",
                "本語 らぎdm",
                "語 らぎdm",
                "らぎdm",
            ]
        );
    }

    #[test]
    fn char_index_matches_counting() {
        let text = "aé日本".repeat(700);
        let index = CharIndex::new(&text);
        for byte in (0..=text.len()).filter(|&b| text.is_char_boundary(b)) {
            assert_eq!(
                index.chars_before(&text, byte),
                text[..byte].chars().count()
            );
        }
    }

    #[test]
    fn fallback_counts_words_and_cjk() {
        assert_eq!(fallback_token_starts("two words"), [0, 4]);
        assert_eq!(fallback_token_starts(" 日本 x"), [1, 4, 8]);
    }

    #[test]
    fn tokenize_pieces_are_bounded_and_cover_the_text() {
        let check = |text: &str, max_bytes: usize, expected: &[&str]| {
            let pieces = tokenize_pieces(text, max_bytes);
            let got: Vec<&str> = pieces.iter().map(|range| &text[range.clone()]).collect();
            assert_eq!(got, expected, "{text:?} in pieces of {max_bytes}");
        };
        check("", 8, &[]);
        check("short", 8, &["short"]);
        check("one two three four", 8, &["one two ", "three ", "four"]);
        // No whitespace in the latter half: a cut at a character boundary.
        check("abcdefghijklmnopq", 8, &["abcdefgh", "ijklmnop", "q"]);
        check("日本語の文章です", 8, &["日本", "語の", "文章", "です"]);

        let text = "word ".repeat(10_000) + &"x".repeat(5_000) + "日本語".repeat(3000).as_str();
        let pieces = tokenize_pieces(&text, 1000);
        assert!(pieces.iter().all(|range| range.len() <= 1000));
        assert_eq!(pieces.first().unwrap().start, 0);
        assert_eq!(pieces.last().unwrap().end, text.len());
        assert!(pieces.windows(2).all(|pair| pair[0].end == pair[1].start));
    }

    /// One block of about 1 MB on one line, as a minified JSON file gives: tokenised in pieces,
    /// it is chunked exactly as when tokenised whole, and its chunks cover all its words.
    #[test]
    fn a_huge_block_is_tokenized_in_pieces_with_the_same_chunks() {
        let words = [
            "alpha",
            "beta,",
            "gamma.",
            "delta",
            "\"epsilon\":",
            "zeta!",
            "42",
        ];
        let mut text = String::new();
        for n in 0..200_000 {
            text.push_str(words[n * 3 % words.len()]);
            text.push(' ');
        }
        let text = text.trim_end().to_owned();
        assert!(text.len() > 1_000_000);
        let doc = ParsedDoc {
            doc_type: DocType::Code,
            title: None,
            pages: 0,
            blocks: vec![block(&text, None, &[])],
        };
        // Small pieces: hundreds of cuts, each a place where the two could differ.
        let mut in_small_pieces = chunker(200, 30);
        in_small_pieces.piece_bytes = 4 << 10;
        let in_pieces = in_small_pieces.chunk(&doc);
        let mut whole = chunker(200, 30);
        whole.piece_bytes = usize::MAX;
        let spans = |chunks: &[ChunkDraft]| -> Vec<(u64, u64, u32)> {
            chunks
                .iter()
                .map(|c| (c.char_start, c.char_end, c.n_tokens))
                .collect()
        };
        assert_eq!(spans(&in_pieces), spans(&whole.chunk(&doc)));
        assert!(in_pieces.len() > 1000);
        assert!(in_pieces.iter().all(|c| c.n_tokens as usize <= 200));
        assert_eq!(in_pieces.first().unwrap().char_start, 0);
        assert_eq!(in_pieces.last().unwrap().char_end, text.len() as u64);
        // Consecutive chunks overlap or touch: no text falls between two of them.
        assert!(
            in_pieces
                .windows(2)
                .all(|pair| pair[1].char_start <= pair[0].char_end)
        );
    }
}
