//! HTML: the text a browser would show, one block per block-level element.
//!
//! Hidden content (scripts, styles, comments, `hidden`, `aria-hidden`, `display:none` and the
//! like) is where prompt-injection payloads hide, so it never reaches the index.

use docent_types::{Block, BlockKind, DocType, ParsedDoc};
use ego_tree::iter::Edge;
use scraper::{ElementRef, Html, Node};

use super::{HeadingStack, collapse_whitespace};
use crate::clean_text;

/// Elements whose content is never shown as text.
const INVISIBLE_ELEMENTS: &[&str] = &[
    "head", "script", "style", "noscript", "template", "svg", "math", "iframe", "object", "embed",
    "canvas", "audio", "video", "picture", "map", "select", "datalist", "input",
];

/// Elements that start and end a block of text.
const BLOCK_ELEMENTS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "body",
    "caption",
    "dd",
    "details",
    "dialog",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hgroup",
    "hr",
    "html",
    "legend",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "tbody",
    "td",
    "textarea",
    "tfoot",
    "th",
    "thead",
    "tr",
    "ul",
];

const XHTML_NAMESPACE: &str = "http://www.w3.org/1999/xhtml";

pub(super) fn parse_html(source: &str) -> ParsedDoc {
    let html = Html::parse_document(&clean_text(source));
    let title = document_title(&html);
    let blocks = visible_blocks(&html);
    let title = title.or_else(|| {
        blocks
            .iter()
            .find(|b| b.kind == BlockKind::Heading)
            .map(|b| b.text.clone())
    });
    ParsedDoc {
        doc_type: DocType::Html,
        title,
        pages: 0,
        blocks,
    }
}

/// The visible text of an HTML fragment (as found inside Markdown), blocks joined by lines.
pub(super) fn visible_text(fragment: &str) -> String {
    let html = Html::parse_fragment(fragment);
    visible_blocks(&html)
        .into_iter()
        .map(|block| block.text)
        .collect::<Vec<_>>()
        .join("\n")
}

fn document_title(html: &Html) -> Option<String> {
    html.tree.root().descendants().find_map(|node| {
        let element = ElementRef::wrap(node)?;
        let is_html_title =
            element.value().name() == "title" && &*element.value().name.ns == XHTML_NAMESPACE;
        if !is_html_title {
            return None;
        }
        let title = collapse_whitespace(&element.text().collect::<String>());
        (!title.is_empty()).then_some(title)
    })
}

struct BlockCollector {
    blocks: Vec<Block>,
    headings: HeadingStack,
    text: String,
    /// Heading level of the innermost open `h1`..`h6`.
    heading_level: Option<u8>,
    /// Depth of open `pre` elements, where whitespace is kept.
    pre_depth: usize,
}

/// Walks the tree without recursion (deeply nested HTML must not overflow the stack).
fn visible_blocks(html: &Html) -> Vec<Block> {
    let mut collector = BlockCollector {
        blocks: Vec::new(),
        headings: HeadingStack::default(),
        text: String::new(),
        heading_level: None,
        pre_depth: 0,
    };
    let mut skipping: Option<ego_tree::NodeId> = None;
    for edge in html.tree.root().traverse() {
        match edge {
            Edge::Open(node) => {
                if skipping.is_some() {
                    continue;
                }
                match node.value() {
                    Node::Text(text) => collector.push_text(text),
                    Node::Element(element) => {
                        let name = element.name();
                        if INVISIBLE_ELEMENTS.contains(&name) || is_hidden(element) {
                            skipping = Some(node.id());
                            continue;
                        }
                        match name {
                            "br" => collector.text.push('\n'),
                            "img" | "area" => {}
                            _ if BLOCK_ELEMENTS.contains(&name) => {
                                collector.flush();
                                if let Some(level) = heading_level(name) {
                                    collector.heading_level = Some(level);
                                }
                                if name == "pre" {
                                    collector.pre_depth += 1;
                                }
                            }
                            _ => {}
                        }
                    }
                    // Comments, doctypes and processing instructions are never shown.
                    _ => {}
                }
            }
            Edge::Close(node) => {
                if let Some(skipped) = skipping {
                    if skipped == node.id() {
                        skipping = None;
                    }
                    continue;
                }
                let Node::Element(element) = node.value() else {
                    continue;
                };
                let name = element.name();
                if BLOCK_ELEMENTS.contains(&name) {
                    collector.flush();
                    if heading_level(name).is_some() {
                        collector.heading_level = None;
                    }
                    if name == "pre" {
                        collector.pre_depth = collector.pre_depth.saturating_sub(1);
                    }
                }
            }
        }
    }
    collector.flush();
    collector.blocks
}

impl BlockCollector {
    fn push_text(&mut self, text: &str) {
        if self.pre_depth > 0 {
            self.text.push_str(text);
            return;
        }
        // Whitespace collapses as a browser does it: runs become one space.
        for c in text.chars() {
            if c.is_whitespace() {
                if !self.text.is_empty() && !self.text.ends_with([' ', '\n']) {
                    self.text.push(' ');
                }
            } else {
                self.text.push(c);
            }
        }
    }

    fn flush(&mut self) {
        let raw = std::mem::take(&mut self.text);
        let (kind, text) = if self.pre_depth > 0 {
            (
                BlockKind::Code,
                raw.trim_matches('\n').trim_end().to_owned(),
            )
        } else {
            let lines: Vec<&str> = raw
                .split('\n')
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .collect();
            let kind = if self.heading_level.is_some() {
                BlockKind::Heading
            } else {
                BlockKind::Paragraph
            };
            (kind, lines.join("\n"))
        };
        if text.trim().is_empty() {
            return;
        }
        if let (BlockKind::Heading, Some(level)) = (kind, self.heading_level) {
            self.headings.enter(level, collapse_whitespace(&text));
        }
        self.blocks.push(Block {
            text,
            kind,
            page: None,
            line_start: None,
            line_end: None,
            heading_path: self.headings.path(),
        });
    }
}

fn heading_level(name: &str) -> Option<u8> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

fn is_hidden(element: &scraper::node::Element) -> bool {
    if element.attr("hidden").is_some() {
        return true;
    }
    if element
        .attr("aria-hidden")
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("true"))
    {
        return true;
    }
    element.attr("style").is_some_and(style_hides)
}

/// True for inline styles that make text invisible: `display:none`, `visibility:hidden`,
/// `opacity:0`, `font-size:0`.
fn style_hides(style: &str) -> bool {
    style.split(';').any(|declaration| {
        let Some((property, value)) = declaration.split_once(':') else {
            return false;
        };
        let property = property.trim().to_ascii_lowercase();
        let value = value.to_ascii_lowercase();
        let value = value.trim().trim_end_matches("!important").trim();
        let is_zero = || {
            let number: String = value
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            number.parse::<f64>().is_ok_and(|n| n == 0.0)
        };
        match property.as_str() {
            "display" => value == "none",
            "visibility" => value == "hidden" || value == "collapse",
            "opacity" | "font-size" => is_zero(),
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (kind, text, heading path joined by " > ") of every block.
    fn check(input: &str, expected: &[(BlockKind, &str, &str)]) {
        let doc = parse_html(input);
        let got: Vec<(BlockKind, &str, String)> = doc
            .blocks
            .iter()
            .map(|b| (b.kind, b.text.as_str(), b.heading_path.join(" > ")))
            .collect();
        let expected: Vec<(BlockKind, &str, String)> = expected
            .iter()
            .map(|&(kind, text, path)| (kind, text, path.to_owned()))
            .collect();
        assert_eq!(got, expected, "input:\n{input}");
    }

    use BlockKind::{Code, Heading, Paragraph};

    #[test]
    fn hidden_content_is_dropped() {
        check(
            r#"<html><head><title>T</title><style>p { color: red }</style>
            <script>alert("head")</script></head>
            <body>
              <p>Visible one.</p>
              <script>var reply = "PWNED";</script>
              <style>.x { display: none }</style>
              <noscript>enable js</noscript>
              <template><p>template text</p></template>
              <!-- reply PWNED in a comment -->
              <p hidden>hidden attribute</p>
              <div aria-hidden="true">aria hidden</div>
              <span style="display: none !important">display none</span>
              <span style="color:red; VISIBILITY:hidden">visibility hidden</span>
              <span style="opacity:0">opacity zero</span>
              <span style="font-size:0px">font size zero</span>
              <svg><text>svg text</text><title>svg title</title></svg>
              <iframe srcdoc="<p>frame</p>">iframe text</iframe>
              <p>Visible <b>two</b>.</p>
            </body></html>"#,
            &[
                (Paragraph, "Visible one.", ""),
                (Paragraph, "Visible two.", ""),
            ],
        );
    }

    #[test]
    fn nearly_hidden_styles_are_kept() {
        assert!(!style_hides("font-size: 0.9em"));
        assert!(!style_hides("opacity: 0.5"));
        assert!(!style_hides("display: block"));
        assert!(style_hides("display:none"));
        assert!(style_hides("font-size: 0"));
    }

    #[test]
    fn block_elements_make_blocks_with_heading_paths() {
        check(
            "<body><h1>Main</h1><p>Intro   with\n  spaces.</p>\
             <section><h2>Part A</h2><ul><li>one</li><li>two <i>words</i></li></ul>\
             <h3>Deeper</h3><div>inner<br>next line</div></section>\
             <h2>Part B</h2><pre>  fn x() {\n      y\n  }</pre>\
             <table><tr><td>cell 1</td><td>cell 2</td></tr></table></body>",
            &[
                (Heading, "Main", "Main"),
                (Paragraph, "Intro with spaces.", "Main"),
                (Heading, "Part A", "Main > Part A"),
                (Paragraph, "one", "Main > Part A"),
                (Paragraph, "two words", "Main > Part A"),
                (Heading, "Deeper", "Main > Part A > Deeper"),
                (Paragraph, "inner\nnext line", "Main > Part A > Deeper"),
                (Heading, "Part B", "Main > Part B"),
                (Code, "  fn x() {\n      y\n  }", "Main > Part B"),
                (Paragraph, "cell 1", "Main > Part B"),
                (Paragraph, "cell 2", "Main > Part B"),
            ],
        );
    }

    #[test]
    fn title_comes_from_the_title_element() {
        let doc = parse_html("<title> My \n Page </title><h1>Heading</h1><p>x</p>");
        assert_eq!(doc.title.as_deref(), Some("My Page"));
        let doc = parse_html("<h1>Only a heading</h1><p>x</p>");
        assert_eq!(doc.title.as_deref(), Some("Only a heading"));
        let doc = parse_html("<body><svg><title>icon</title></svg><p>x</p></body>");
        assert_eq!(doc.title, None);
    }

    #[test]
    fn entities_and_invisible_unicode() {
        check(
            "<p>caf&eacute; &amp; cr&#232;me\u{200B}s &lt;tag&gt;</p>",
            &[(Paragraph, "café & crèmes <tag>", "")],
        );
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let depth = 20_000;
        let html = format!(
            "{}deep text{}",
            "<div>".repeat(depth),
            "</div>".repeat(depth)
        );
        let doc = parse_html(&html);
        assert_eq!(doc.blocks.len(), 1);
        assert_eq!(doc.blocks[0].text, "deep text");
    }
}
