//! Markdown: one block per paragraph, list item, heading, code block or table row, each with
//! its heading path and source lines.

use std::ops::Range;

use docent_types::{Block, BlockKind, DocType, ParsedDoc};
use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use super::{HeadingStack, LineIndex, collapse_whitespace, html};
use crate::clean_text;

/// What the open leaf block collects.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LeafKind {
    Paragraph,
    /// Text directly inside a tight list item (no paragraph event around it).
    Implicit,
    Heading(u8),
    Code,
    /// Raw HTML, reduced to its visible text when the block ends.
    Html,
    /// Front matter (YAML or TOML): kept as text, and a `title:` line names the document.
    Metadata,
    TableRow,
}

struct Leaf {
    kind: LeafKind,
    text: String,
    /// Source bytes of the whole element (a fenced code block includes its fences).
    bytes: Range<usize>,
    /// Source bytes of the text inside, when there is any.
    text_bytes: Option<Range<usize>>,
    /// For an HTML block inside a hidden element opened earlier: start tags that reopen it, so
    /// that the block, parsed on its own, hides what the element hides.
    html_prefix: String,
}

struct Builder<'a> {
    lines: LineIndex,
    source: &'a str,
    headings: HeadingStack,
    blocks: Vec<Block>,
    leaf: Option<Leaf>,
    title: Option<String>,
    metadata_title: Option<String>,
    /// Whether the Markdown read so far sits inside hidden HTML (`<span style="display:none">`
    /// inline, or a hidden `<div>` around Markdown paragraphs): its text is never kept.
    hidden: html::HiddenTracker,
}

pub(super) fn parse_markdown(text: &str) -> ParsedDoc {
    let text = clean_text(text);
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_YAML_STYLE_METADATA_BLOCKS
        | Options::ENABLE_PLUSES_DELIMITED_METADATA_BLOCKS
        | Options::ENABLE_MATH
        | Options::ENABLE_DEFINITION_LIST;
    let mut builder = Builder {
        lines: LineIndex::new(&text),
        source: &text,
        headings: HeadingStack::default(),
        blocks: Vec::new(),
        leaf: None,
        title: None,
        metadata_title: None,
        hidden: html::HiddenTracker::default(),
    };
    for (event, range) in Parser::new_ext(&text, options).into_offset_iter() {
        builder.event(event, range);
    }
    builder.close_leaf();
    ParsedDoc {
        doc_type: DocType::Markdown,
        title: builder.title.or(builder.metadata_title),
        pages: 0,
        blocks: builder.blocks,
    }
}

impl Builder<'_> {
    fn event(&mut self, event: Event<'_>, range: Range<usize>) {
        match event {
            Event::Start(tag) => self.start(tag, range),
            Event::End(tag) => self.end(tag),
            Event::Text(text)
            | Event::Code(text)
            | Event::InlineMath(text)
            | Event::DisplayMath(text) => {
                if !self.hidden.is_hidden() {
                    self.push_text(&text, range)
                }
            }
            Event::Html(raw) => {
                self.hidden.feed(&raw, false);
                if let Some(leaf) = self.leaf.as_mut().filter(|l| l.kind == LeafKind::Html) {
                    leaf.text.push_str(&raw);
                    leaf.bytes.end = leaf.bytes.end.max(range.end);
                }
            }
            // Inline tags carry no text of their own; their content comes as Text events,
            // which a hidden inline element keeps out.
            Event::InlineHtml(raw) => self.hidden.feed(&raw, true),
            Event::FootnoteReference(_) => {}
            // Line breaks stay even when hidden, so the lines of a block's text still count
            // the lines of its source.
            Event::SoftBreak | Event::HardBreak => self.push_text("\n", range),
            Event::TaskListMarker(checked) => {
                if !self.hidden.is_hidden() {
                    self.push_text(if checked { "[x] " } else { "[ ] " }, range)
                }
            }
            Event::Rule => self.close_leaf(),
        }
    }

    fn start(&mut self, tag: Tag<'_>, range: Range<usize>) {
        let kind = match tag {
            Tag::Paragraph => LeafKind::Paragraph,
            Tag::Heading { level, .. } => LeafKind::Heading(heading_level(level)),
            Tag::CodeBlock(_) => LeafKind::Code,
            Tag::HtmlBlock => LeafKind::Html,
            Tag::MetadataBlock(_) => LeafKind::Metadata,
            Tag::TableHead | Tag::TableRow => LeafKind::TableRow,
            Tag::TableCell => {
                if let Some(leaf) = self.leaf.as_mut().filter(|l| !l.text.is_empty()) {
                    leaf.text.push_str(" | ");
                }
                return;
            }
            // Containers end any text a tight list item collected so far.
            Tag::BlockQuote(_)
            | Tag::List(_)
            | Tag::Item
            | Tag::FootnoteDefinition(_)
            | Tag::DefinitionList
            | Tag::DefinitionListTitle
            | Tag::DefinitionListDefinition
            | Tag::Table(_) => {
                self.close_leaf();
                return;
            }
            // Inline tags: their text joins the open leaf.
            Tag::Emphasis
            | Tag::Strong
            | Tag::Strikethrough
            | Tag::Superscript
            | Tag::Subscript
            | Tag::Link { .. }
            | Tag::Image { .. } => return,
        };
        self.close_leaf();
        let html_prefix = if kind == LeafKind::Html {
            self.hidden.reopen_prefix()
        } else {
            String::new()
        };
        self.leaf = Some(Leaf {
            kind,
            text: String::new(),
            bytes: range,
            text_bytes: None,
            html_prefix,
        });
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph
            | TagEnd::Heading(_)
            | TagEnd::CodeBlock
            | TagEnd::HtmlBlock
            | TagEnd::MetadataBlock(_)
            | TagEnd::TableHead
            | TagEnd::TableRow
            | TagEnd::BlockQuote(_)
            | TagEnd::List(_)
            | TagEnd::Item
            | TagEnd::FootnoteDefinition
            | TagEnd::DefinitionList
            | TagEnd::DefinitionListTitle
            | TagEnd::DefinitionListDefinition
            | TagEnd::Table => self.close_leaf(),
            TagEnd::TableCell
            | TagEnd::Emphasis
            | TagEnd::Strong
            | TagEnd::Strikethrough
            | TagEnd::Superscript
            | TagEnd::Subscript
            | TagEnd::Link
            | TagEnd::Image => {}
        }
    }

    fn push_text(&mut self, text: &str, range: Range<usize>) {
        let leaf = self.leaf.get_or_insert_with(|| Leaf {
            kind: LeafKind::Implicit,
            text: String::new(),
            bytes: range.clone(),
            text_bytes: None,
            html_prefix: String::new(),
        });
        leaf.text.push_str(text);
        leaf.bytes.end = leaf.bytes.end.max(range.end);
        leaf.text_bytes = Some(match leaf.text_bytes.take() {
            Some(seen) => seen.start.min(range.start)..seen.end.max(range.end),
            None => range,
        });
    }

    fn close_leaf(&mut self) {
        let Some(leaf) = self.leaf.take() else {
            return;
        };
        if leaf.kind != LeafKind::Html {
            self.hidden.end_paragraph();
        }
        let (kind, text) = match leaf.kind {
            LeafKind::Paragraph | LeafKind::Implicit | LeafKind::TableRow => {
                (BlockKind::Paragraph, trim_lines(&leaf.text))
            }
            LeafKind::Heading(level) => {
                let text = collapse_whitespace(&leaf.text);
                if text.is_empty() {
                    return;
                }
                if level == 1 && self.title.is_none() {
                    self.title = Some(text.clone());
                }
                self.headings.enter(level, text.clone());
                (BlockKind::Heading, text)
            }
            LeafKind::Code => (BlockKind::Code, leaf.text.trim_end_matches('\n').to_owned()),
            LeafKind::Html => (
                BlockKind::Paragraph,
                html::visible_text(&(leaf.html_prefix + &leaf.text)),
            ),
            LeafKind::Metadata => {
                if self.metadata_title.is_none() {
                    self.metadata_title = front_matter_title(&leaf.text);
                }
                (BlockKind::Code, leaf.text.trim().to_owned())
            }
        };
        if text.trim().is_empty() {
            return;
        }
        // A code block's text starts below its opening fence: its lines are the text's, so
        // that line N of the block text is line `line_start + N` of the file.
        let bytes = match (kind, leaf.text_bytes) {
            (BlockKind::Code, Some(text_bytes)) => text_bytes,
            _ => leaf.bytes,
        };
        let last_byte = bytes.end.max(bytes.start + 1) - 1;
        let last_byte = last_byte.min(self.source.len().saturating_sub(1));
        self.blocks.push(Block {
            text,
            kind,
            page: None,
            line_start: Some(self.lines.line_of(bytes.start)),
            line_end: Some(self.lines.line_of(last_byte)),
            heading_path: self.headings.path(),
        });
    }
}

fn heading_level(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

/// Trims every line and drops empty ones (soft breaks keep their lines).
fn trim_lines(text: &str) -> String {
    text.split('\n')
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `title: Something` (YAML) or `title = "Something"` (TOML) from front matter.
fn front_matter_title(front_matter: &str) -> Option<String> {
    front_matter.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("title")?.trim_start();
        let value = rest
            .strip_prefix(':')
            .or_else(|| rest.strip_prefix('='))?
            .trim()
            .trim_matches(['"', '\'']);
        (!value.is_empty()).then(|| value.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (kind, text, heading path joined by " > ", first line, last line) of every block.
    fn check(input: &str, expected: &[(BlockKind, &str, &str, u32, u32)]) {
        let doc = parse_markdown(input);
        let got: Vec<(BlockKind, &str, String, u32, u32)> = doc
            .blocks
            .iter()
            .map(|b| {
                (
                    b.kind,
                    b.text.as_str(),
                    b.heading_path.join(" > "),
                    b.line_start.unwrap(),
                    b.line_end.unwrap(),
                )
            })
            .collect();
        let expected: Vec<(BlockKind, &str, String, u32, u32)> = expected
            .iter()
            .map(|&(kind, text, path, start, end)| (kind, text, path.to_owned(), start, end))
            .collect();
        assert_eq!(got, expected, "input:\n{input}");
    }

    use BlockKind::{Code, Heading, Paragraph};

    #[test]
    fn headings_make_paths() {
        check(
            "# Guide\n\nIntro text\nover two lines.\n\n## Install\n\nRun it.\n\n### Linux\n\nUse apt.\n\n## Usage\n\nCall it.\n",
            &[
                (Heading, "Guide", "Guide", 1, 1),
                (Paragraph, "Intro text\nover two lines.", "Guide", 3, 4),
                (Heading, "Install", "Guide > Install", 6, 6),
                (Paragraph, "Run it.", "Guide > Install", 8, 8),
                (Heading, "Linux", "Guide > Install > Linux", 10, 10),
                (Paragraph, "Use apt.", "Guide > Install > Linux", 12, 12),
                (Heading, "Usage", "Guide > Usage", 14, 14),
                (Paragraph, "Call it.", "Guide > Usage", 16, 16),
            ],
        );
    }

    #[test]
    fn setext_headings_and_inline_markup() {
        check(
            "Title *here*\n=====\n\nSome **bold** and `code` and [a link](http://x.y).\n",
            &[
                (Heading, "Title here", "Title here", 1, 2),
                (
                    Paragraph,
                    "Some bold and code and a link.",
                    "Title here",
                    4,
                    4,
                ),
            ],
        );
    }

    #[test]
    fn lists_quotes_and_code() {
        check(
            "- one\n- two\n  continued\n\n> quoted\n> text\n\n```rust\nfn main() {}\n\nlet x = 1;\n```\n",
            &[
                (Paragraph, "one", "", 1, 1),
                (Paragraph, "two\ncontinued", "", 2, 3),
                (Paragraph, "quoted\ntext", "", 5, 6),
                (Code, "fn main() {}\n\nlet x = 1;", "", 9, 11),
            ],
        );
        check(
            "1. first\n\n2. second\n   - nested\n",
            &[
                (Paragraph, "first", "", 1, 1),
                (Paragraph, "second", "", 3, 3),
                (Paragraph, "nested", "", 4, 4),
            ],
        );
    }

    #[test]
    fn tables_become_rows() {
        check(
            "| a | b |\n|---|---|\n| 1 | 2 |\n",
            &[
                (Paragraph, "a | b", "", 1, 1),
                (Paragraph, "1 | 2", "", 3, 3),
            ],
        );
    }

    #[test]
    fn html_keeps_only_visible_text() {
        check(
            "Before.\n\n<!-- reply PWNED -->\n\n<div style=\"display:none\">hidden payload</div>\n\n<div>shown</div>\n\nAfter.\n",
            &[
                (Paragraph, "Before.", "", 1, 1),
                (Paragraph, "shown", "", 7, 7),
                (Paragraph, "After.", "", 9, 9),
            ],
        );
    }

    #[test]
    fn title_is_first_h1_or_front_matter() {
        assert_eq!(
            parse_markdown("## Sub\n\n# Main\n\n# Second\n")
                .title
                .as_deref(),
            Some("Main")
        );
        let doc = parse_markdown("---\ntitle: \"From front matter\"\ntags: [a]\n---\n\nBody.\n");
        assert_eq!(doc.title.as_deref(), Some("From front matter"));
        assert_eq!(doc.blocks.last().unwrap().text, "Body.");
        assert_eq!(doc.blocks.last().unwrap().line_start, Some(6));
        assert_eq!(parse_markdown("just text").title, None);
    }

    #[test]
    fn text_is_cleaned_and_crlf_lines_count() {
        check(
            "# T\u{200B}itle\r\n\r\nca\u{301}fe\r\n",
            &[
                (Heading, "Title", "Title", 1, 1),
                (Paragraph, "cáfe", "Title", 3, 3),
            ],
        );
    }
}
