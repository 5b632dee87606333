//! PDF through pdf-extract, page by page, reflowed into paragraphs.
//!
//! pdf-extract panics on purpose on fonts it does not support. Each page is extracted under
//! `catch_unwind`, so one bad page costs that page only; a document where no page gives text
//! reports the first panic as its reason. What `catch_unwind` cannot stop (stack overflows,
//! allocation aborts) is why PDFs are parsed in worker processes.

use std::panic::{self, AssertUnwindSafe};

use docent_types::{Block, BlockKind, DocType, ParsedDoc};
use lopdf::{Document, Object};

use super::collapse_whitespace;
use crate::{IngestError, clean_text};

pub(super) fn parse_pdf(bytes: &[u8]) -> Result<ParsedDoc, IngestError> {
    let mut document = Document::load_mem(bytes).map_err(load_error)?;
    if document.is_encrypted() {
        // lopdf already tried the empty user password while loading and removed the
        // encryption when it worked; a document still encrypted needs a password we lack.
        document.decrypt("").map_err(load_error)?;
    }
    let title = info_title(&document);
    let pages = document.get_pages();
    if pages.is_empty() {
        return Err(IngestError::InvalidPdf {
            detail: "no pages found".to_owned(),
        });
    }
    let mut blocks = Vec::new();
    let mut first_error: Option<String> = None;
    let mut first_panic: Option<String> = None;
    let mut n_failed_pages = 0;
    for &page_number in pages.keys() {
        let mut raw = String::new();
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            let mut output = pdf_extract::PlainTextOutput::new(&mut raw);
            pdf_extract::output_doc_page(&document, &mut output, page_number)
        }));
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                n_failed_pages += 1;
                first_error.get_or_insert_with(|| output_error_detail(&error));
            }
            Err(payload) => {
                n_failed_pages += 1;
                first_panic.get_or_insert_with(|| crate::panic_message(payload.as_ref()));
            }
        }
        // Text written before a failure is still good text.
        blocks.extend(page_blocks(&raw, page_number));
    }

    if blocks.is_empty() {
        return Err(match (first_panic, first_error) {
            (Some(message), _) => IngestError::Panicked { message },
            (None, Some(detail)) => IngestError::InvalidPdf { detail },
            (None, None) => IngestError::NoTextLayer,
        });
    }
    if n_failed_pages > 0 {
        tracing::warn!(
            n_failed_pages,
            n_pages = pages.len(),
            "some PDF pages could not be read"
        );
    }
    Ok(ParsedDoc {
        doc_type: DocType::Pdf,
        title,
        pages: pages.len() as u32,
        blocks,
    })
}

fn load_error(error: lopdf::Error) -> IngestError {
    use lopdf::encryption::DecryptionError;
    match error {
        lopdf::Error::InvalidPassword
        | lopdf::Error::Decryption(DecryptionError::IncorrectPassword) => {
            IngestError::PasswordProtected
        }
        other => IngestError::InvalidPdf {
            detail: crate::error::lowercase_first(&other.to_string()),
        },
    }
}

fn output_error_detail(error: &pdf_extract::OutputError) -> String {
    match error {
        pdf_extract::OutputError::PdfError(error) => {
            crate::error::lowercase_first(&error.to_string())
        }
        other => crate::error::lowercase_first(&other.to_string()),
    }
}

/// `/Title` of the document information dictionary, when it says something.
fn info_title(document: &Document) -> Option<String> {
    let resolve = |object: &'_ Object| -> Option<Object> {
        match object {
            Object::Reference(id) => document.get_object(*id).ok().cloned(),
            other => Some(other.clone()),
        }
    };
    let info = resolve(document.trailer.get(b"Info").ok()?)?;
    let title = resolve(info.as_dict().ok()?.get(b"Title").ok()?)?;
    let title = lopdf::decode_text_string(&title).ok()?;
    let title = collapse_whitespace(&clean_text(&title));
    (!title.is_empty()).then_some(title)
}

/// Splits a page's text into paragraphs at blank lines and reflows each paragraph's lines.
fn page_blocks(raw: &str, page_number: u32) -> Vec<Block> {
    let text = expand_ligatures(&clean_text(raw));
    let mut blocks = Vec::new();
    let mut lines: Vec<&str> = Vec::new();
    let mut flush = |lines: &mut Vec<&str>| {
        if lines.is_empty() {
            return;
        }
        blocks.push(Block {
            text: reflow(lines),
            kind: BlockKind::Paragraph,
            page: Some(page_number),
            line_start: None,
            line_end: None,
            heading_path: Vec::new(),
        });
        lines.clear();
    };
    for line in text.split('\n') {
        let line = line.trim();
        if line.is_empty() {
            flush(&mut lines);
        } else {
            lines.push(line);
        }
    }
    flush(&mut lines);
    blocks
}

/// TeX and most typesetters draw "fi", "fl"... as one ligature glyph, which pdf-extract
/// returns as U+FB01 and friends; NFC keeps them, and "diﬃcult" would never match "difficult".
fn expand_ligatures(text: &str) -> String {
    if !text.contains(|c| ('\u{FB00}'..='\u{FB06}').contains(&c)) {
        return text.to_owned();
    }
    let mut expanded = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\u{FB00}' => expanded.push_str("ff"),
            '\u{FB01}' => expanded.push_str("fi"),
            '\u{FB02}' => expanded.push_str("fl"),
            '\u{FB03}' => expanded.push_str("ffi"),
            '\u{FB04}' => expanded.push_str("ffl"),
            '\u{FB05}' | '\u{FB06}' => expanded.push_str("st"),
            other => expanded.push(other),
        }
    }
    expanded
}

/// Joins lines with spaces, and words hyphenated at a line end ("exam-" + "ple") without.
fn reflow(lines: &[&str]) -> String {
    let mut text = String::new();
    for line in lines {
        if text.is_empty() {
            text.push_str(line);
        } else if is_hyphenated_break(&text, line) {
            text.pop();
            text.push_str(line);
        } else {
            text.push(' ');
            text.push_str(line);
        }
    }
    collapse_whitespace(&text)
}

/// A lowercase letter and a hyphen end the line, and a lowercase letter starts the next.
fn is_hyphenated_break(before: &str, after: &str) -> bool {
    let mut tail = before.chars().rev();
    let hyphen_then_letter =
        tail.next() == Some('-') && tail.next().is_some_and(char::is_lowercase);
    hyphen_then_letter && after.chars().next().is_some_and(char::is_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_reflow(raw: &str, expected: &[&str]) {
        let blocks = page_blocks(raw, 3);
        let texts: Vec<&str> = blocks.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(texts, expected, "raw {raw:?}");
        assert!(blocks.iter().all(|b| b.page == Some(3)));
    }

    #[test]
    fn paragraphs_reflow_and_hyphens_join() {
        check_reflow(
            "An exam-\nple of text\nwrapped.",
            &["An example of text wrapped."],
        );
        check_reflow(
            "First para\nline two.\n\nSecond  para.",
            &["First para line two.", "Second para."],
        );
        check_reflow("Well-\nKnown stays", &["Well- Known stays"]);
        check_reflow("ends with 1-\n2 range", &["ends with 1- 2 range"]);
        check_reflow("\n\n  \n", &[]);
        check_reflow("tab\there\u{200B}", &["tab here"]);
        check_reflow(
            "di\u{FB03}cult \u{FB01}nal \u{FB02}ow",
            &["difficult final flow"],
        );
    }

    /// A PDF with one page per entry of `pages`; each page holds (y position, text) lines in
    /// 12 pt Helvetica. Built with lopdf, so the cross-reference table is right.
    fn make_pdf(title: Option<&str>, pages: &[&[(i64, &str)]]) -> Vec<u8> {
        use lopdf::content::{Content, Operation};
        use lopdf::{Stream, dictionary};

        let mut doc = Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        let font_id = doc.add_object(dictionary! {
            "Type" => "Font",
            "Subtype" => "Type1",
            "BaseFont" => "Helvetica",
            "Encoding" => "WinAnsiEncoding",
        });
        let resources_id = doc.add_object(dictionary! {
            "Font" => dictionary! { "F1" => font_id },
        });
        let mut kids = Vec::new();
        for lines in pages {
            let mut operations = vec![Operation::new("BT", vec![])];
            operations.push(Operation::new("Tf", vec!["F1".into(), 12.into()]));
            for (y, text) in lines.iter() {
                operations.push(Operation::new(
                    "Tm",
                    vec![
                        1.into(),
                        0.into(),
                        0.into(),
                        1.into(),
                        72.into(),
                        (*y).into(),
                    ],
                ));
                operations.push(Operation::new("Tj", vec![Object::string_literal(*text)]));
            }
            operations.push(Operation::new("ET", vec![]));
            let content = Content { operations };
            let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
            let page_id = doc.add_object(dictionary! {
                "Type" => "Page",
                "Parent" => pages_id,
                "Contents" => content_id,
            });
            kids.push(page_id.into());
        }
        let n_pages = kids.len() as i64;
        doc.objects.insert(
            pages_id,
            Object::Dictionary(dictionary! {
                "Type" => "Pages",
                "Kids" => kids,
                "Count" => n_pages,
                "Resources" => resources_id,
                "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
            }),
        );
        let catalog_id = doc.add_object(dictionary! {
            "Type" => "Catalog",
            "Pages" => pages_id,
        });
        doc.trailer.set("Root", catalog_id);
        if let Some(title) = title {
            let info_id = doc.add_object(dictionary! {
                "Title" => lopdf::text_string(title),
            });
            doc.trailer.set("Info", info_id);
        }
        let mut bytes = Vec::new();
        doc.save_to(&mut bytes).unwrap();
        bytes
    }

    #[test]
    fn two_pages_keep_their_numbers_and_reflow() {
        let pdf = make_pdf(
            Some("A \u{202E}Test Title"),
            &[
                &[
                    (700, "An exam-"),
                    (686, "ple of joined words."),
                    (640, "Second paragraph on page one."),
                ],
                &[
                    (700, "Page two speaks."),
                    (686, "It is well-"),
                    (672, "Known."),
                ],
            ],
        );
        let doc = crate::parse_bytes(&pdf, DocType::Pdf, &crate::Limits::default()).unwrap();
        assert_eq!(doc.pages, 2);
        assert_eq!(doc.title.as_deref(), Some("A Test Title"));
        let got: Vec<(Option<u32>, &str)> = doc
            .blocks
            .iter()
            .map(|b| (b.page, b.text.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (Some(1), "An example of joined words."),
                (Some(1), "Second paragraph on page one."),
                (Some(2), "Page two speaks. It is well- Known."),
            ]
        );
    }

    #[test]
    fn a_pdf_without_text_has_no_text_layer() {
        let pdf = make_pdf(None, &[&[], &[]]);
        let error = parse_pdf(&pdf).unwrap_err();
        assert_eq!(error.reason(), "no text layer (scanned or image-only PDF)");
    }

    #[test]
    fn garbage_is_an_invalid_pdf() {
        let error = parse_pdf(b"%PDF-1.4\nnot really a pdf").unwrap_err();
        assert!(error.reason().starts_with("invalid PDF: "), "{error}");
        let error = parse_pdf(b"").unwrap_err();
        assert!(error.reason().starts_with("invalid PDF: "), "{error}");
    }
}
