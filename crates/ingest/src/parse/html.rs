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

/// Elements that never have content, so never open a hidden stretch.
const VOID_ELEMENTS: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];

/// A tag cut across pieces is kept this long at most; past it the `<` was not a tag.
const MAX_PENDING_TAG: usize = 64 << 10;

/// Follows the raw HTML that Markdown hands over piece by piece (HTML blocks and inline tags)
/// to tell whether the Markdown between the pieces sits inside a hidden element:
/// `<div style="display:none">`, a blank line, Markdown paragraphs, `</div>` renders the
/// paragraphs inside the hidden `div`, yet the Markdown parser sees three separate things.
///
/// Only the outermost hidden element is followed, by counting the open elements of its name,
/// as a browser would for well-formed HTML; for malformed HTML this errs towards hiding.
#[derive(Default)]
pub(super) struct HiddenTracker {
    /// The open hidden element: its name, how many elements of that name are open (itself
    /// included), and whether an inline tag opened it.
    open: Option<(String, usize, bool)>,
    /// The start of a tag or comment cut by the end of a piece, waiting for the rest.
    pending: String,
}

impl HiddenTracker {
    pub(super) fn is_hidden(&self) -> bool {
        self.open.is_some()
    }

    /// Start tags that reopen the hidden element, to put in front of an HTML block parsed on
    /// its own (its closing tags then close them, and the text before them stays hidden).
    pub(super) fn reopen_prefix(&self) -> String {
        match &self.open {
            Some((name, depth, _)) => format!("<{name} hidden>").repeat(*depth),
            None => String::new(),
        }
    }

    /// Ends a hidden stretch that an inline tag opened: a browser closes an unclosed inline
    /// element with its paragraph, and the next paragraph shows again.
    pub(super) fn end_paragraph(&mut self) {
        if self.open.as_ref().is_some_and(|(_, _, inline)| *inline) {
            self.open = None;
        }
        self.pending.clear();
    }

    /// Reads one piece of raw HTML; `inline` says it came from inside a paragraph.
    pub(super) fn feed(&mut self, raw: &str, inline: bool) {
        let joined;
        let mut rest = if self.pending.is_empty() {
            raw
        } else {
            joined = std::mem::take(&mut self.pending) + raw;
            joined.as_str()
        };
        while let Some(open) = rest.find('<') {
            rest = &rest[open..];
            let (end, tag) = match next_tag(rest) {
                TagScan::Tag { len, tag } => (len, tag),
                TagScan::NotATag => (1, None),
                TagScan::Cut => {
                    if rest.len() <= MAX_PENDING_TAG {
                        self.pending = rest.to_owned();
                    }
                    return;
                }
            };
            if let Some(tag) = tag {
                self.apply(tag, inline);
            }
            rest = &rest[end..];
        }
    }

    fn apply(&mut self, tag: RawTag<'_>, inline: bool) {
        let name = tag.name.to_ascii_lowercase();
        if VOID_ELEMENTS.contains(&name.as_str()) {
            return;
        }
        match &mut self.open {
            Some((open_name, depth, _)) => {
                if *open_name == name {
                    if tag.closing {
                        *depth -= 1;
                        if *depth == 0 {
                            self.open = None;
                        }
                    } else {
                        *depth += 1;
                    }
                }
            }
            None => {
                if !tag.closing && start_tag_hides(&name, tag.attributes) {
                    self.open = Some((name, 1, inline));
                }
            }
        }
    }
}

struct RawTag<'a> {
    name: &'a str,
    closing: bool,
    /// The source text between the name and the `>` (or `/>`).
    attributes: &'a str,
}

enum TagScan<'a> {
    /// A tag (`Some`) or a comment, doctype or processing instruction (`None`), `len` bytes.
    Tag { len: usize, tag: Option<RawTag<'a>> },
    /// A `<` that starts nothing: text.
    NotATag,
    /// The piece ends inside a tag or comment.
    Cut,
}

/// Reads the tag, comment or declaration at the start of `text` (which starts with `<`).
fn next_tag(text: &str) -> TagScan<'_> {
    if let Some(body) = text.strip_prefix("<!--") {
        return match body.find("-->") {
            Some(close) => TagScan::Tag {
                len: 4 + close + 3,
                tag: None,
            },
            None => TagScan::Cut,
        };
    }
    if text.starts_with("<!") || text.starts_with("<?") {
        return match text.find('>') {
            Some(close) => TagScan::Tag {
                len: close + 1,
                tag: None,
            },
            None => TagScan::Cut,
        };
    }
    let (closing, after) = match text.strip_prefix("</") {
        Some(after) => (true, after),
        None => (false, &text[1..]),
    };
    if !after.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return TagScan::NotATag;
    }
    let name_len = after
        .find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')
        .unwrap_or(after.len());
    let (name, attributes) = after.split_at(name_len);
    // The `>` that ends the tag is the first one outside a quoted attribute value.
    let mut quote = None;
    for (offset, c) in attributes.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => {
                let attributes = &attributes[..offset];
                return TagScan::Tag {
                    len: text.len() - after.len() + name_len + offset + 1,
                    tag: Some(RawTag {
                        name,
                        closing,
                        attributes: attributes.strip_suffix('/').unwrap_or(attributes),
                    }),
                };
            }
            (None, _) => {}
        }
    }
    TagScan::Cut
}

/// Whether a start tag opens content no one sees. Its attributes are read by the HTML parser
/// itself (on a stand-in element), so character references in them (`style="display&colon;
/// none"`) count as a browser counts them.
fn start_tag_hides(name: &str, attributes: &str) -> bool {
    if INVISIBLE_ELEMENTS.contains(&name) {
        return true;
    }
    if attributes.trim().is_empty() {
        return false;
    }
    let probe = Html::parse_fragment(&format!("<docent-probe{attributes}>"));
    probe
        .tree
        .root()
        .descendants()
        .filter_map(ElementRef::wrap)
        .find(|element| element.value().name() == "docent-probe")
        .is_some_and(|element| is_hidden(element.value()))
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

/// True for inline styles that make text invisible: `display:none`, `visibility:hidden` (or
/// `collapse`), and an `opacity` or `font-size` of zero, or so close to it that no one can
/// read the text (an opacity under 0.05, a font under 1px, 1pt, 0.1em or 10%).
///
/// Property names and values are compared without case, with CSS comments, whitespace and
/// `!important` ignored, since a browser ignores them too. The last declaration of a property
/// wins in CSS, but a hiding declaration anywhere counts here: dropping a little visible text
/// is cheaper than indexing a hidden payload.
fn style_hides(style: &str) -> bool {
    let style = strip_css_comments(style).to_ascii_lowercase();
    style.split(';').any(|declaration| {
        let Some((property, value)) = declaration.split_once(':') else {
            return false;
        };
        let property = property.trim();
        let value = value.trim();
        let value = value
            .strip_suffix("important")
            .and_then(|rest| rest.trim_end().strip_suffix('!'))
            .unwrap_or(value)
            .trim();
        match property {
            "display" => value == "none",
            "visibility" => value == "hidden" || value == "collapse",
            "opacity" => css_number(value).is_some_and(|(n, unit)| match unit {
                "" => n < 0.05,
                "%" => n < 5.0,
                _ => false,
            }),
            "font-size" => css_number(value).is_some_and(|(n, unit)| {
                n == 0.0
                    || match unit {
                        "px" | "pt" => n < 1.0,
                        "em" | "rem" | "ex" | "ch" | "vw" | "vh" => n < 0.1,
                        "%" => n < 10.0,
                        _ => false,
                    }
            }),
            _ => false,
        }
    })
}

/// A CSS number and its unit: "0.5em" -> (0.5, "em"). Negative values are invalid for the
/// properties asked about, and come back as `None` like anything else that is not a number.
fn css_number(value: &str) -> Option<(f64, &str)> {
    let digits = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+'))
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(digits);
    let number: f64 = number.parse().ok()?;
    Some((number, unit.trim()))
}

fn strip_css_comments(style: &str) -> std::borrow::Cow<'_, str> {
    if !style.contains("/*") {
        return std::borrow::Cow::Borrowed(style);
    }
    let mut stripped = String::with_capacity(style.len());
    let mut rest = style;
    while let Some(open) = rest.find("/*") {
        stripped.push_str(&rest[..open]);
        // A comment is whitespace to CSS; an unclosed one runs to the end.
        stripped.push(' ');
        rest = match rest[open + 2..].find("*/") {
            Some(close) => &rest[open + 2 + close + 2..],
            None => "",
        };
    }
    stripped.push_str(rest);
    std::borrow::Cow::Owned(stripped)
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
