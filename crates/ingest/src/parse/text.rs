//! Plain text and source code: blocks of consecutive lines.

use docent_types::{Block, BlockKind, DocType, ParsedDoc};

use crate::clean_text;

/// A block never spans more lines than this, so a citation points at a screenful at most.
const MAX_BLOCK_LINES: usize = 60;

pub(super) fn parse_text(text: &str) -> ParsedDoc {
    ParsedDoc {
        doc_type: DocType::Text,
        title: None,
        pages: 0,
        blocks: line_blocks(&clean_text(text), BlockKind::Paragraph),
    }
}

pub(super) fn parse_code(text: &str) -> ParsedDoc {
    ParsedDoc {
        doc_type: DocType::Code,
        title: None,
        pages: 0,
        blocks: line_blocks(&clean_text(text), BlockKind::Code),
    }
}

/// Splits at blank lines and every [`MAX_BLOCK_LINES`] lines; each block knows its lines.
fn line_blocks(text: &str, kind: BlockKind) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut lines: Vec<&str> = Vec::new();
    let mut first_line = 0;
    let mut flush = |lines: &mut Vec<&str>, first_line: usize| {
        if lines.is_empty() {
            return;
        }
        blocks.push(Block {
            text: lines.join("\n"),
            kind,
            page: None,
            line_start: Some(first_line as u32),
            line_end: Some((first_line + lines.len() - 1) as u32),
            heading_path: Vec::new(),
        });
        lines.clear();
    };
    for (line_idx, line) in text.split('\n').enumerate() {
        let line_number = line_idx + 1;
        if line.trim().is_empty() {
            flush(&mut lines, first_line);
            continue;
        }
        if lines.len() == MAX_BLOCK_LINES {
            flush(&mut lines, first_line);
        }
        if lines.is_empty() {
            first_line = line_number;
        }
        lines.push(line.trim_end());
    }
    flush(&mut lines, first_line);
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (text, first line, last line) of each block.
    fn check(input: &str, expected: &[(&str, u32, u32)]) {
        let doc = parse_text(input);
        let got: Vec<(&str, u32, u32)> = doc
            .blocks
            .iter()
            .map(|b| (b.text.as_str(), b.line_start.unwrap(), b.line_end.unwrap()))
            .collect();
        assert_eq!(got, expected, "input {input:?}");
    }

    #[test]
    fn blocks_split_on_blank_lines() {
        check("one", &[("one", 1, 1)]);
        check("a\nb\n\nc", &[("a\nb", 1, 2), ("c", 4, 4)]);
        check(
            "\n\n  \nfirst\n\t\n\nsecond\nthird\n",
            &[("first", 4, 4), ("second\nthird", 7, 8)],
        );
        check(
            "crlf\r\nline\r\n\r\nnext",
            &[("crlf\nline", 1, 2), ("next", 4, 4)],
        );
        check("trailing   \nspaces", &[("trailing\nspaces", 1, 2)]);
    }

    #[test]
    fn text_is_cleaned() {
        check(
            "zero\u{200B}width\n\nbi\u{202E}di",
            &[("zerowidth", 1, 1), ("bidi", 3, 3)],
        );
    }

    #[test]
    fn long_runs_are_capped() {
        let lines: Vec<String> = (1..=130).map(|n| format!("let x{n} = {n};")).collect();
        let doc = parse_code(&lines.join("\n"));
        let ranges: Vec<(u32, u32)> = doc
            .blocks
            .iter()
            .map(|b| (b.line_start.unwrap(), b.line_end.unwrap()))
            .collect();
        assert_eq!(ranges, [(1, 60), (61, 120), (121, 130)]);
        assert!(doc.blocks.iter().all(|b| b.kind == BlockKind::Code));
        assert_eq!(doc.blocks[2].text.lines().next(), Some("let x121 = 121;"));
    }

    #[test]
    fn indentation_is_kept_in_code() {
        let doc = parse_code("fn main() {\n    println!(\"hi\");\n}\n");
        assert_eq!(doc.blocks[0].text, "fn main() {\n    println!(\"hi\");\n}");
    }
}
