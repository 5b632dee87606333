//! DOCX: a zip archive read under caps, `word/document.xml` read as a stream of XML events.
//!
//! Zip bombs are stopped three ways: the entry count, the sizes the headers declare (summed),
//! and the bytes actually inflated (a header may lie). The XML reader never expands entities
//! beyond the five predefined ones and character references, so "billion laughs" stays a few
//! literal `&lol9;` strings.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{Cursor, Read};

use docent_types::{Block, BlockKind, DocType, ParsedDoc};
use quick_xml::XmlVersion;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::reader::Reader;
use zip::ZipArchive;
use zip::result::ZipError;

use super::{HeadingStack, Limits, collapse_whitespace};
use crate::{IngestError, clean_text};

/// Entries smaller than this are not held to the compression ratio: tiny files of repeated
/// markup compress very well without being bombs.
const RATIO_EXEMPT_BYTES: u64 = 1 << 20;

/// Heading level given to the "Title" style: above every "Heading N".
const TITLE_LEVEL: u8 = 0;

pub(super) fn parse_docx(bytes: &[u8], limits: &Limits) -> Result<ParsedDoc, IngestError> {
    check_declared_entry_count(bytes, limits)?;
    let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(invalid)?;
    check_entries(&mut archive, limits)?;

    let mut budget = limits.docx_max_uncompressed;
    let document =
        read_entry(&mut archive, "word/document.xml", &mut budget, limits)?.ok_or_else(|| {
            IngestError::InvalidDocx {
                detail: "no word/document.xml".to_owned(),
            }
        })?;
    let styles = match read_entry(&mut archive, "word/styles.xml", &mut budget, limits)? {
        Some(xml) => heading_styles(&xml)?,
        None => HashMap::new(),
    };
    let core_title = match read_entry(&mut archive, "docProps/core.xml", &mut budget, limits)? {
        Some(xml) => core_title(&xml)?,
        None => None,
    };

    let (blocks, title_paragraph) = document_blocks(&document, &styles, limits.max_text_bytes)?;
    Ok(ParsedDoc {
        doc_type: DocType::Docx,
        title: core_title.or(title_paragraph),
        pages: 0,
        blocks,
    })
}

fn invalid(error: ZipError) -> IngestError {
    IngestError::InvalidDocx {
        detail: crate::error::lowercase_first(&error.to_string()),
    }
}

/// Reads the entry count from the end-of-central-directory record before the zip reader
/// allocates its table for every entry.
fn check_declared_entry_count(bytes: &[u8], limits: &Limits) -> Result<(), IngestError> {
    const EOCD_SIGNATURE: &[u8] = b"PK\x05\x06";
    const EOCD_LEN: usize = 22;
    // The record sits at the end, followed by a comment of at most 64 KiB.
    let search_from = bytes.len().saturating_sub(EOCD_LEN + u16::MAX as usize);
    let tail = &bytes[search_from..];
    let Some(eocd) = tail
        .windows(EOCD_SIGNATURE.len())
        .rposition(|window| window == EOCD_SIGNATURE)
    else {
        return Ok(()); // the zip reader gives the precise error
    };
    let Some(count_bytes) = tail.get(eocd + 10..eocd + 12) else {
        return Ok(());
    };
    let count = u16::from_le_bytes([count_bytes[0], count_bytes[1]]);
    // 0xFFFF means "see the zip64 record"; the zip reader's count is checked afterwards.
    if count != u16::MAX && count as usize > limits.docx_max_entries {
        return Err(IngestError::TooManyArchiveEntries {
            count: count as u64,
            limit: limits.docx_max_entries as u64,
        });
    }
    Ok(())
}

/// Entry count, names, declared sizes and ratios, from the headers alone.
fn check_entries(
    archive: &mut ZipArchive<Cursor<&[u8]>>,
    limits: &Limits,
) -> Result<(), IngestError> {
    let n_entries = archive.len();
    if n_entries > limits.docx_max_entries {
        return Err(IngestError::TooManyArchiveEntries {
            count: n_entries as u64,
            limit: limits.docx_max_entries as u64,
        });
    }
    let mut total_size: u64 = 0;
    for entry_idx in 0..n_entries {
        let entry = archive.by_index_raw(entry_idx).map_err(invalid)?;
        let name = entry.name().map_err(invalid)?;
        check_entry_name(&name)?;
        total_size = total_size.saturating_add(entry.size());
        if total_size > limits.docx_max_uncompressed {
            return Err(IngestError::ArchiveTooLarge {
                limit: limits.docx_max_uncompressed,
            });
        }
        check_ratio(entry.size(), entry.compressed_size(), limits)?;
    }
    Ok(())
}

fn check_entry_name(name: &str) -> Result<(), IngestError> {
    let is_absolute = name.starts_with(['/', '\\'])
        || name.as_bytes().get(1) == Some(&b':')
        || name.contains('\0');
    let climbs = name.split(['/', '\\']).any(|part| part == "..");
    if is_absolute || climbs {
        let shown: String = clean_text(name).chars().take(80).collect();
        return Err(IngestError::UnsafeArchiveEntry { name: shown });
    }
    Ok(())
}

fn check_ratio(size: u64, compressed_size: u64, limits: &Limits) -> Result<(), IngestError> {
    if size <= RATIO_EXEMPT_BYTES {
        return Ok(());
    }
    let ratio = size / compressed_size.max(1);
    if ratio > limits.docx_max_ratio {
        return Err(IngestError::ArchiveRatio {
            ratio,
            limit: limits.docx_max_ratio,
        });
    }
    Ok(())
}

/// Inflates one entry, never past the remaining `budget` of uncompressed bytes, whatever its
/// header claims. `None` when the archive has no such entry.
fn read_entry(
    archive: &mut ZipArchive<Cursor<&[u8]>>,
    name: &str,
    budget: &mut u64,
    limits: &Limits,
) -> Result<Option<String>, IngestError> {
    let entry = match archive.by_name(name) {
        Ok(entry) => entry,
        Err(ZipError::FileNotFound) => return Ok(None),
        Err(error) => return Err(invalid(error)),
    };
    let compressed_size = entry.compressed_size();
    let mut bytes = Vec::new();
    entry
        .take(budget.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|error| IngestError::InvalidDocx {
            detail: format!(
                "{name}: {}",
                crate::error::lowercase_first(&error.to_string())
            ),
        })?;
    let n_bytes = bytes.len() as u64;
    if n_bytes > *budget {
        return Err(IngestError::ArchiveTooLarge {
            limit: limits.docx_max_uncompressed,
        });
    }
    check_ratio(n_bytes, compressed_size, limits)?;
    *budget -= n_bytes;
    // Valid UTF-8 (the norm) is kept as is rather than copied: an entry can be hundreds of MB.
    let text = String::from_utf8(bytes)
        .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned());
    Ok(Some(text))
}

fn xml_error(part: &str, error: impl std::fmt::Display) -> IngestError {
    IngestError::InvalidDocx {
        detail: format!(
            "{part}: {}",
            crate::error::lowercase_first(&error.to_string())
        ),
    }
}

/// The five predefined entities and character references; anything else (a custom entity
/// from a DTD) stays literal text, never expanded.
fn resolve_reference(reference: &BytesRef<'_>) -> Cow<'static, str> {
    if let Ok(Some(c)) = reference.resolve_char_ref() {
        return Cow::Owned(c.to_string());
    }
    match &**reference {
        "amp" => Cow::Borrowed("&"),
        "lt" => Cow::Borrowed("<"),
        "gt" => Cow::Borrowed(">"),
        "apos" => Cow::Borrowed("'"),
        "quot" => Cow::Borrowed("\""),
        other => Cow::Owned(format!("&{other};")),
    }
}

/// The value of the attribute whose local name is `local_name` (`w:val` -> "val").
fn attribute(element: &BytesStart<'_>, local_name: &str) -> Option<String> {
    element.attributes().flatten().find_map(|attribute| {
        (attribute.key.local_name().as_ref() == local_name).then(|| {
            attribute
                .normalized_value(XmlVersion::Implicit1_0)
                .map(Cow::into_owned)
                .unwrap_or_else(|_| attribute.value.into_owned())
        })
    })
}

/// Heading level of a paragraph style, from its id or its name: "Heading1"/"heading 1" -> 1,
/// "Title" -> 0.
fn heading_level_of_style(style: &str) -> Option<u8> {
    let lower = style.to_ascii_lowercase();
    if lower == "title" {
        return Some(TITLE_LEVEL);
    }
    let digits = lower.strip_prefix("heading")?.trim();
    match digits.parse::<u8>() {
        Ok(level @ 1..=9) => Some(level),
        _ => None,
    }
}

/// Style id -> heading level, for styles whose name or outline level makes them headings
/// (localised Word names its heading styles "Überschrift1" but keeps the name "heading 1").
fn heading_styles(xml: &str) -> Result<HashMap<String, u8>, IngestError> {
    let mut reader = Reader::from_str(xml);
    let mut styles = HashMap::new();
    let mut current: Option<(String, Option<u8>)> = None;
    loop {
        match reader.read_event() {
            Ok(Event::Start(element)) | Ok(Event::Empty(element)) => {
                match element.local_name().as_ref() {
                    "style" => {
                        current = attribute(&element, "styleId").map(|id| {
                            let level = heading_level_of_style(&id);
                            (id, level)
                        });
                    }
                    "name" => {
                        if let Some((_, level)) = current.as_mut()
                            && let Some(name) = attribute(&element, "val")
                        {
                            *level = level.or(heading_level_of_style(&name));
                        }
                    }
                    "outlineLvl" => {
                        if let Some((_, level)) = current.as_mut() {
                            let outline = attribute(&element, "val").and_then(|v| v.parse().ok());
                            if let Some(outline @ 0..=8) = outline {
                                *level = level.or(Some(outline + 1));
                            }
                        }
                    }
                    _ => {}
                }
            }
            Ok(Event::End(element)) if element.local_name().as_ref() == "style" => {
                if let Some((id, Some(level))) = current.take() {
                    styles.insert(id, level);
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(error) => return Err(xml_error("word/styles.xml", error)),
        }
    }
    Ok(styles)
}

/// `dc:title` from `docProps/core.xml`.
fn core_title(xml: &str) -> Result<Option<String>, IngestError> {
    let mut reader = Reader::from_str(xml);
    let mut in_title = false;
    let mut title = String::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(element)) if element.local_name().as_ref() == "title" => {
                in_title = true;
            }
            Ok(Event::End(element)) if element.local_name().as_ref() == "title" => break,
            Ok(Event::Text(text)) if in_title => {
                title.push_str(&text.xml_content(XmlVersion::Implicit1_0));
            }
            Ok(Event::GeneralRef(reference)) if in_title => {
                title.push_str(&resolve_reference(&reference));
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(error) => return Err(xml_error("docProps/core.xml", error)),
        }
    }
    let title = collapse_whitespace(&clean_text(&title));
    Ok((!title.is_empty()).then_some(title))
}

#[derive(Default)]
struct Paragraph {
    text: String,
    style: Option<String>,
    outline_level: Option<u8>,
}

/// The state of a walk through `word/document.xml`.
struct DocumentReader<'a> {
    styles: &'a HashMap<String, u8>,
    /// Paragraphs nest: a text box inside a paragraph holds paragraphs of its own.
    open: Vec<Paragraph>,
    blocks: Vec<Block>,
    headings: HeadingStack,
    title_paragraph: Option<String>,
    in_text: bool,
    in_paragraph_properties: bool,
    in_run_properties: bool,
    run_hidden: bool,
    /// Run text gathered so far, against [`Limits::max_text_bytes`]: a document of a few MB
    /// can inflate to hundreds, and its text is refused as soon as it passes the cap.
    n_text_bytes: u64,
    max_text_bytes: u64,
}

/// Blocks of the main document, and the text of its first "Title" paragraph.
fn document_blocks(
    xml: &str,
    styles: &HashMap<String, u8>,
    max_text_bytes: u64,
) -> Result<(Vec<Block>, Option<String>), IngestError> {
    let mut reader = Reader::from_str(xml);
    let mut document = DocumentReader {
        styles,
        open: Vec::new(),
        blocks: Vec::new(),
        headings: HeadingStack::default(),
        title_paragraph: None,
        in_text: false,
        in_paragraph_properties: false,
        in_run_properties: false,
        run_hidden: false,
        n_text_bytes: 0,
        max_text_bytes,
    };
    loop {
        if document.n_text_bytes > max_text_bytes {
            return Err(IngestError::TooMuchText {
                size: None,
                limit: max_text_bytes,
            });
        }
        let event = reader
            .read_event()
            .map_err(|error| xml_error("word/document.xml", error))?;
        match event {
            Event::Start(element) => document.open_element(&element, false),
            // An empty element (`<w:p/>`, `<w:t/>`) opens nothing that an end tag closes.
            Event::Empty(element) => document.open_element(&element, true),
            Event::End(element) => document.close_element(element.local_name().as_ref()),
            Event::Text(text) if document.in_text => {
                document.push_run_text(&text.xml_content(XmlVersion::Implicit1_0));
            }
            Event::GeneralRef(reference) if document.in_text => {
                document.push_run_text(&resolve_reference(&reference));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok((document.blocks, document.title_paragraph))
}

impl DocumentReader<'_> {
    fn open_element(&mut self, element: &BytesStart<'_>, is_empty: bool) {
        match element.local_name().as_ref() {
            "p" if !is_empty => self.open.push(Paragraph::default()),
            "pPr" if !is_empty => self.in_paragraph_properties = true,
            "rPr" if !is_empty => self.in_run_properties = true,
            "t" if !is_empty => self.in_text = true,
            "r" => self.run_hidden = false,
            "pStyle" if self.in_paragraph_properties => {
                if let Some(paragraph) = self.open.last_mut() {
                    paragraph.style = attribute(element, "val");
                }
            }
            "outlineLvl" if self.in_paragraph_properties => {
                if let Some(paragraph) = self.open.last_mut() {
                    let level = attribute(element, "val").and_then(|v| v.parse().ok());
                    paragraph.outline_level = level.filter(|l: &u8| *l <= 8);
                }
            }
            // Hidden text ("vanish") is invisible in Word: keep it out like HTML's
            // display:none. In paragraph properties it only hides the paragraph mark.
            "vanish" | "specVanish" if self.in_run_properties && !self.in_paragraph_properties => {
                self.run_hidden = attribute(element, "val")
                    .is_none_or(|v| !matches!(v.as_str(), "false" | "0" | "off"));
            }
            // Tab stops are declared in paragraph properties under the same name.
            "tab" if !self.in_paragraph_properties => self.push_run_text("\t"),
            "br" | "cr" => self.push_run_text("\n"),
            "noBreakHyphen" => self.push_run_text("-"),
            _ => {}
        }
    }

    fn close_element(&mut self, local_name: &str) {
        match local_name {
            "t" => self.in_text = false,
            "pPr" => self.in_paragraph_properties = false,
            "rPr" => self.in_run_properties = false,
            "p" => self.close_paragraph(),
            _ => {}
        }
    }

    fn push_run_text(&mut self, text: &str) {
        if self.run_hidden {
            return;
        }
        if let Some(paragraph) = self.open.last_mut() {
            self.n_text_bytes += text.len() as u64;
            if self.n_text_bytes <= self.max_text_bytes {
                paragraph.text.push_str(text);
            }
        }
    }

    fn close_paragraph(&mut self) {
        let Some(paragraph) = self.open.pop() else {
            return;
        };
        let level = paragraph
            .style
            .as_deref()
            .and_then(|style| {
                self.styles
                    .get(style)
                    .copied()
                    .or_else(|| heading_level_of_style(style))
            })
            .or(paragraph.outline_level.map(|level| level + 1));
        let text = trim_lines(&clean_text(&paragraph.text));
        if text.is_empty() {
            return;
        }
        let kind = match level {
            Some(level) => {
                let heading = collapse_whitespace(&text);
                if level == TITLE_LEVEL && self.title_paragraph.is_none() {
                    self.title_paragraph = Some(heading.clone());
                }
                self.headings.enter(level, heading);
                BlockKind::Heading
            }
            None => BlockKind::Paragraph,
        };
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

fn trim_lines(text: &str) -> String {
    text.split('\n')
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use zip::write::SimpleFileOptions;

    use super::*;

    const W_NS: &str = r#"xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main""#;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default();
        for (name, content) in entries {
            writer.start_file(*name, options).unwrap();
            writer.write_all(content).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    fn document_xml(body: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document {W_NS}><w:body>{body}</w:body></w:document>"#
        )
    }

    fn paragraph(style: Option<&str>, runs: &str) -> String {
        let properties = style
            .map(|style| format!(r#"<w:pPr><w:pStyle w:val="{style}"/></w:pPr>"#))
            .unwrap_or_default();
        format!("<w:p>{properties}{runs}</w:p>")
    }

    fn run(text: &str) -> String {
        format!(r#"<w:r><w:t xml:space="preserve">{text}</w:t></w:r>"#)
    }

    fn parse(entries: &[(&str, &[u8])]) -> Result<ParsedDoc, IngestError> {
        parse_docx(&zip_of(entries), &Limits::default())
    }

    /// (kind, text, heading path joined by " > ") of every block.
    fn check(body: &str, expected: &[(BlockKind, &str, &str)]) {
        let xml = document_xml(body);
        let doc = parse(&[("word/document.xml", xml.as_bytes())]).unwrap();
        let got: Vec<(BlockKind, &str, String)> = doc
            .blocks
            .iter()
            .map(|b| (b.kind, b.text.as_str(), b.heading_path.join(" > ")))
            .collect();
        let expected: Vec<(BlockKind, &str, String)> = expected
            .iter()
            .map(|&(kind, text, path)| (kind, text, path.to_owned()))
            .collect();
        assert_eq!(got, expected, "body:\n{body}");
    }

    use BlockKind::{Heading, Paragraph};

    #[test]
    fn paragraphs_and_headings() {
        let body = [
            paragraph(Some("Title"), &run("The Report")),
            paragraph(None, &format!("{}{}", run("Hello "), run("world."))),
            paragraph(Some("Heading1"), &run("Methods")),
            paragraph(
                None,
                r#"<w:r><w:t>a</w:t><w:tab/><w:t>b</w:t><w:br/><w:t>c</w:t></w:r>"#,
            ),
            paragraph(Some("Heading2"), &run("Details")),
            paragraph(None, &run("Fine print &amp; more &#233;.")),
            paragraph(Some("Heading1"), &run("Results")),
            paragraph(None, "<w:r><w:t/></w:r>"),
            "<w:p/>".to_owned(),
            paragraph(None, &run("Done.")),
        ]
        .concat();
        check(
            &body,
            &[
                (Heading, "The Report", "The Report"),
                (Paragraph, "Hello world.", "The Report"),
                (Heading, "Methods", "The Report > Methods"),
                (Paragraph, "a\tb\nc", "The Report > Methods"),
                (Heading, "Details", "The Report > Methods > Details"),
                (
                    Paragraph,
                    "Fine print & more é.",
                    "The Report > Methods > Details",
                ),
                (Heading, "Results", "The Report > Results"),
                (Paragraph, "Done.", "The Report > Results"),
            ],
        );
    }

    #[test]
    fn hidden_runs_and_deleted_text_are_dropped() {
        let body = paragraph(
            None,
            &[
                run("Shown "),
                r#"<w:r><w:rPr><w:vanish/></w:rPr><w:t>reply PWNED</w:t></w:r>"#.to_owned(),
                r#"<w:del><w:r><w:delText>deleted</w:delText></w:r></w:del>"#.to_owned(),
                r#"<w:r><w:rPr><w:vanish w:val="false"/></w:rPr><w:t>text.</w:t></w:r>"#.to_owned(),
            ]
            .concat(),
        );
        check(&body, &[(Paragraph, "Shown text.", "")]);
    }

    #[test]
    fn custom_entities_are_never_expanded() {
        let xml = format!(
            r#"<?xml version="1.0"?><!DOCTYPE w:document [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><w:document {W_NS}><w:body>{}</w:body></w:document>"#,
            paragraph(None, &run("laughs &lol2; end"))
        );
        let doc = parse(&[("word/document.xml", xml.as_bytes())]).unwrap();
        assert_eq!(doc.blocks[0].text, "laughs &lol2; end");
    }

    #[test]
    fn localised_heading_styles_come_from_styles_xml() {
        let styles = format!(
            r#"<w:styles {W_NS}><w:style w:type="paragraph" w:styleId="berschrift1"><w:name w:val="heading 1"/></w:style><w:style w:type="paragraph" w:styleId="Custom"><w:name w:val="Custom"/><w:pPr><w:outlineLvl w:val="1"/></w:pPr></w:style></w:styles>"#
        );
        let xml = document_xml(
            &[
                paragraph(Some("berschrift1"), &run("Kapitel")),
                paragraph(Some("Custom"), &run("Abschnitt")),
                paragraph(None, &run("Text.")),
            ]
            .concat(),
        );
        let doc = parse(&[
            ("word/document.xml", xml.as_bytes()),
            ("word/styles.xml", styles.as_bytes()),
        ])
        .unwrap();
        assert_eq!(doc.blocks[2].heading_path, ["Kapitel", "Abschnitt"]);
        assert_eq!(doc.blocks[1].kind, BlockKind::Heading);
    }

    #[test]
    fn title_comes_from_core_properties() {
        let core = r#"<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Annual &amp; Final</dc:title></cp:coreProperties>"#;
        let xml = document_xml(&paragraph(Some("Title"), &run("Body title")));
        let doc = parse(&[
            ("word/document.xml", xml.as_bytes()),
            ("docProps/core.xml", core.as_bytes()),
        ])
        .unwrap();
        assert_eq!(doc.title.as_deref(), Some("Annual & Final"));

        let doc = parse(&[("word/document.xml", xml.as_bytes())]).unwrap();
        assert_eq!(doc.title.as_deref(), Some("Body title"));
    }

    fn check_error(bytes: &[u8], limits: &Limits, expected_prefix: &str) {
        let error = parse_docx(bytes, limits).unwrap_err();
        assert!(
            error.reason().starts_with(expected_prefix),
            "expected {expected_prefix:?}, got {:?}",
            error.reason()
        );
    }

    #[test]
    fn unsafe_entry_names_are_refused() {
        let xml = document_xml(&paragraph(None, &run("x")));
        for name in [
            "../evil",
            "word/../../evil",
            "/etc/passwd",
            "C:/evil",
            "a\\..\\b",
        ] {
            let bytes = zip_of(&[("word/document.xml", xml.as_bytes()), (name, b"x")]);
            check_error(&bytes, &Limits::default(), "unsafe archive entry");
        }
    }

    #[test]
    fn too_many_entries_are_refused() {
        let names: Vec<String> = (0..20_000).map(|n| format!("f{n}")).collect();
        let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
        let bytes = zip_of(&entries);
        check_error(
            &bytes,
            &Limits::default(),
            "too many archive entries (20000 > 10000)",
        );
        // The zip reader's own count is checked too (here below the declared-count check).
        let bytes = zip_of(&entries[..20]);
        let limits = Limits {
            docx_max_entries: 10,
            ..Limits::default()
        };
        check_error(&bytes, &limits, "too many archive entries (20 > 10)");
        assert!(
            check_entries(
                &mut ZipArchive::new(Cursor::new(&bytes[..])).unwrap(),
                &limits
            )
            .is_err()
        );
    }

    #[test]
    fn bombs_are_refused() {
        let xml = document_xml(&paragraph(None, &run("x")));
        let zeros = vec![0u8; 3 << 20];
        let bytes = zip_of(&[
            ("word/document.xml", xml.as_bytes()),
            ("word/media/zeros.bin", &zeros),
        ]);
        // Too well compressed for its size.
        check_error(
            &bytes,
            &Limits::default(),
            "archive entry compressed too well",
        );
        // Over the total, as the headers declare it.
        let limits = Limits {
            docx_max_uncompressed: 2 << 20,
            docx_max_ratio: u64::MAX,
            ..Limits::default()
        };
        check_error(&bytes, &limits, "archive too large when decompressed");
    }

    #[test]
    fn inflating_stops_at_the_budget_whatever_the_header_says() {
        let big = "<w:p/>".repeat(100_000);
        let bytes = zip_of(&[("word/document.xml", big.as_bytes())]);
        let mut archive = ZipArchive::new(Cursor::new(&bytes[..])).unwrap();
        let mut budget = 1000;
        let error = read_entry(
            &mut archive,
            "word/document.xml",
            &mut budget,
            &Limits::default(),
        )
        .unwrap_err();
        assert!(
            error
                .reason()
                .starts_with("archive too large when decompressed")
        );
    }

    #[test]
    fn not_a_docx() {
        check_error(
            b"PK\x03\x04 truncated",
            &Limits::default(),
            "invalid DOCX: ",
        );
        let bytes = zip_of(&[("other.xml", b"<x/>")]);
        check_error(
            &bytes,
            &Limits::default(),
            "invalid DOCX: no word/document.xml",
        );
        let bytes = zip_of(&[("word/document.xml", b"<w:document><w:body><w:p></w:body>")]);
        check_error(
            &bytes,
            &Limits::default(),
            "invalid DOCX: word/document.xml: ",
        );
    }
}
