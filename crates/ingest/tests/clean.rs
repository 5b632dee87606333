//! Clean text is clean after decoding: whatever a document encodes (character references,
//! XML entities, PDF text strings, hidden markup), what [`parse_bytes`] returns holds no
//! invisible or control character and no hidden text, in block text, titles and heading paths.

use std::io::{Cursor, Write};

use docent_ingest::{Limits, parse_bytes};
use docent_types::{DocType, ParsedDoc};

fn parse(bytes: &[u8], doc_type: DocType) -> ParsedDoc {
    parse_bytes(bytes, doc_type, &Limits::default())
        .unwrap_or_else(|error| panic!("{doc_type} failed: {error}\n{bytes:?}"))
}

/// (title, then each block as "heading > path | text").
fn summary(doc: &ParsedDoc) -> (Option<String>, Vec<String>) {
    let blocks = doc
        .blocks
        .iter()
        .map(|block| format!("{} | {}", block.heading_path.join(" > "), block.text))
        .collect();
    (doc.title.clone(), blocks)
}

fn check(source: &str, doc_type: DocType, title: Option<&str>, blocks: &[&str]) {
    let doc = parse(source.as_bytes(), doc_type);
    assert_no_invisible(&doc);
    let expected = (
        title.map(str::to_owned),
        blocks.iter().map(|b| b.to_string()).collect::<Vec<_>>(),
    );
    assert_eq!(summary(&doc), expected, "{doc_type}:\n{source}");
}

/// No string of `doc` holds a control character (but newline and tab) or an invisible one.
fn assert_no_invisible(doc: &ParsedDoc) {
    let strings = doc
        .title
        .iter()
        .chain(doc.blocks.iter().map(|b| &b.text))
        .chain(doc.blocks.iter().flat_map(|b| &b.heading_path));
    for text in strings {
        for c in text.chars() {
            let invisible = matches!(c,
                '\u{AD}' | '\u{34F}' | '\u{61C}' | '\u{115F}' | '\u{1160}' | '\u{180E}'
                | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}'
                | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
                | '\u{FFF9}'..='\u{FFFB}' | '\u{E0000}'..='\u{E0FFF}');
            let control = c.is_control() && c != '\n' && c != '\t';
            assert!(
                !invisible && !control,
                "U+{:04X} left in {text:?}",
                c as u32
            );
        }
    }
}

/// Character references for every kind of character that must go, as `&#x...;`. (C1 controls
/// are not among them: HTML maps `&#x85;` to "…" by the Windows-1252 table; Markdown's own
/// test has them.)
const REFERENCES: &str = "&#x200B;&#x202E;&#x2066;&#x2069;&#xE0001;&#xE0041;&#xE007F;&#x61C;\
                          &#x180E;&#xFFF9;&#xFFFB;&#xFEFF;&#xFE0F;&#xE0100;&#x34F;&#x115F;\
                          &#x3164;&#xFFA0;&#xAD;&#x1b;&#x7;&#x7f;";

#[test]
fn html_references_are_cleaned_after_decoding() {
    let html = format!(
        "<html><head><title>Ti{REFERENCES}tle</title></head><body>\
         <h1>Main{REFERENCES} heading</h1><h2>Sub&ZeroWidthSpace;&zwj;&lrm;&rlm;&shy;section</h2>\
         <p>pass{REFERENCES}word &#x1b;]52;c;ZXZpbA==&#x7; and &#x1b;]8;;https://evil&#x1b;\\link</p>\
         </body></html>"
    );
    check(
        &html,
        DocType::Html,
        Some("Title"),
        &[
            "Main heading | Main heading",
            "Main heading > Subsection | Subsection",
            "Main heading > Subsection | password ]52;c;ZXZpbA== and ]8;;https://evil\\link",
        ],
    );
}

#[test]
fn markdown_references_are_cleaned_after_decoding() {
    let markdown = format!(
        "# Main{REFERENCES} heading\n\n## Sub&ZeroWidthSpace;&zwj;&lrm;&rlm;&shy;section\n\n\
         pass{REFERENCES}&#x85;&#x9B;word &#x1b;]52;c;ZXZpbA==&#x7; and &#x1b;]8;;https://evil&#x1b;\\\\link\n"
    );
    check(
        &markdown,
        DocType::Markdown,
        Some("Main heading"),
        &[
            "Main heading | Main heading",
            "Main heading > Subsection | Subsection",
            "Main heading > Subsection | password ]52;c;ZXZpbA== and ]8;;https://evil\\link",
        ],
    );
    // Inline HTML in Markdown goes through the HTML parser, which decodes too.
    check(
        &format!("<p>in{REFERENCES}line</p>\n"),
        DocType::Markdown,
        None,
        &[" | inline"],
    );
}

#[test]
fn raw_controls_and_invisibles_go_from_plain_text() {
    let text = "pass\u{200B}word\x1b]52;c;ZXZpbA==\x07 end\u{E0041}\u{FE0F}\u{180E}\n";
    check(
        text,
        DocType::Text,
        None,
        &[" | password]52;c;ZXZpbA== end"],
    );
    check(
        text,
        DocType::Code,
        None,
        &[" | password]52;c;ZXZpbA== end"],
    );
    // The same in UTF-16 (decoded before cleaning, like any other encoding).
    let utf16: Vec<u8> = b"\xFF\xFE"
        .iter()
        .copied()
        .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let doc = parse(&utf16, DocType::Text);
    assert_eq!(doc.blocks[0].text, "password]52;c;ZXZpbA== end");
}

/// Every way an inline style (or attribute) hides text, as an HTML element and as HTML inside
/// Markdown, inline and around Markdown blocks.
const HIDING: &[&str] = &[
    r#"style="display:none""#,
    r#"style="DISPLAY : NONE""#,
    r#"style="display:none !important""#,
    r#"style="display: none!IMPORTANT""#,
    r#"style="display: none ! important;""#,
    r#"style="display:/* comment */none""#,
    r#"style="color: red; display: none""#,
    r#"style="	display	:	none	;	""#,
    r#"style="display&colon;none""#,
    r#"style=display:none"#,
    r#"style='visibility:hidden'"#,
    r#"style="Visibility: Hidden !important""#,
    r#"style="visibility:collapse""#,
    r#"style="font-size:0""#,
    r#"style="font-size: 0px""#,
    r#"style="FONT-SIZE:0.0em !important""#,
    r#"style="font-size:.5px""#,
    r#"style="font-size:0%""#,
    r#"style="opacity:0""#,
    r#"style="opacity: 0.0""#,
    r#"style="opacity:.01""#,
    r#"style="opacity:0%""#,
    r#"style="OPACITY:0 !important""#,
    "hidden",
    r#"hidden="hidden""#,
    r#"aria-hidden="true""#,
    r#"aria-hidden="TRUE""#,
];

/// Styles that leave text readable.
const SHOWING: &[&str] = &[
    r#"style="opacity:0.5""#,
    r#"style="font-size:0.9em""#,
    r#"style="font-size:12px""#,
    r#"style="display:block""#,
    r#"style="visibility:visible""#,
    r#"style="color:red""#,
    r#"aria-hidden="false""#,
];

#[test]
fn html_hidden_by_style_contributes_no_text() {
    for attributes in HIDING {
        // Not `p`: a heading inside a `p` closes it, so a browser shows the heading.
        for tag in ["span", "div"] {
            let html = format!(
                "<body><p>Shown <{tag} {attributes}>SECRET <b>nested</b></{tag}>end.</p>\
                 <{tag} {attributes}><h2>SECRET heading</h2><p>SECRET</p></{tag}><p>After.</p></body>"
            );
            let doc = parse(html.as_bytes(), DocType::Html);
            let (title, blocks) = summary(&doc);
            let all = format!("{title:?} {blocks:?}");
            assert!(!all.contains("SECRET"), "{attributes} on {tag}: {all}");
            assert!(all.contains("After."), "{attributes} on {tag}: {all}");
        }
    }
    for attributes in SHOWING {
        let html = format!("<p>Shown <span {attributes}>VISIBLE</span>.</p>");
        let doc = parse(html.as_bytes(), DocType::Html);
        assert_eq!(doc.blocks[0].text, "Shown VISIBLE.", "{attributes}");
    }
}

#[test]
fn markdown_inline_html_hidden_by_style_contributes_no_text() {
    for attributes in HIDING {
        let markdown = format!(
            "# Title <span {attributes}>SECRET</span>\n\n\
             Shown <span {attributes}>SECRET *emphasis* `code`</span> end.\n\n\
             <div {attributes}>SECRET html block</div>\n\n\
             <div {attributes}>\n\n\
             ## SECRET heading\n\n\
             SECRET paragraph with <span>inner</span> html.\n\n\
             - SECRET item\n\n\
             ```\nSECRET code\n```\n\n\
             </div>\n\n\
             After.\n"
        );
        check(
            &markdown,
            DocType::Markdown,
            Some("Title"),
            &["Title | Title", "Title | Shown  end.", "Title | After."],
        );
    }
    for attributes in SHOWING {
        let markdown = format!("Shown <span {attributes}>VISIBLE</span>.\n");
        check(&markdown, DocType::Markdown, None, &[" | Shown VISIBLE."]);
    }
}

#[test]
fn markdown_hidden_html_edge_cases() {
    let check_md = |markdown: &str, expected: &[&str]| {
        check(markdown, DocType::Markdown, None, expected);
    };
    // Nested elements of the hidden one's name, and other elements inside it.
    check_md(
        "a <span style=\"display:none\">x <span>y</span> <b>z</b> w</span> b\n",
        &[" | a  b"],
    );
    // Scripts and styles inline in a paragraph, and comments.
    check_md(
        "a <script>SECRET()</script> b <style>SECRET</style> c <!-- SECRET --> d\n",
        &[" | a  b  c  d"],
    );
    // An unclosed hidden inline element ends with its paragraph, as in a browser.
    check_md(
        "a <span style=\"display:none\">SECRET\n\nnext paragraph\n",
        &[" | a", " | next paragraph"],
    );
    // A hidden block left open hides the rest (a browser would too).
    check_md(
        "shown\n\n<div hidden>\n\nSECRET one\n\nSECRET two\n",
        &[" | shown"],
    );
    // A tag split over lines, and `>` inside a quoted attribute.
    check_md(
        "a <span\nstyle=\"display:none\" title=\"x > y\">SECRET</span> b\n",
        &[" | a  b"],
    );
    // Void elements never open a hidden stretch.
    check_md(
        "a <img style=\"display:none\" src=x> b <br hidden> c\n",
        &[" | a  b  c"],
    );
    // A hidden block closed inside an HTML block that shows more after it.
    check_md(
        "<div style=\"display:none\">\n\nSECRET\n\n</div><p>shown</p>\n\nafter\n",
        &[" | shown", " | after"],
    );
}

fn zip_of(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, content) in entries {
        writer
            .start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        writer.write_all(content.as_bytes()).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

#[test]
fn docx_entities_are_cleaned_after_decoding() {
    const W: &str = r#"xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main""#;
    let document = format!(
        r#"<w:document {W}><w:body>
        <w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Head&#x200B;&#xE0041;ing&#x202E;</w:t></w:r></w:p>
        <w:p><w:r><w:t>pass&#x200B;&#x2066;word&#xFE0F;&#x180E;&#x61C;&#xFFF9;</w:t></w:r></w:p>
        </w:body></w:document>"#
    );
    let core = r#"<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Ann&#x200B;ual&#x202E; &#xE0041;Report</dc:title></cp:coreProperties>"#;
    let bytes = zip_of(&[
        ("word/document.xml", &document),
        ("docProps/core.xml", core),
    ]);
    let doc = parse(&bytes, DocType::Docx);
    assert_no_invisible(&doc);
    assert_eq!(
        summary(&doc),
        (
            Some("Annual Report".to_owned()),
            vec![
                "Heading | Heading".to_owned(),
                "Heading | password".to_owned()
            ]
        )
    );
}

#[test]
fn pdf_title_strings_are_cleaned() {
    use lopdf::content::{Content, Operation};
    use lopdf::{Document, Object, Stream, dictionary};

    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let content = Content {
        operations: vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 12.into()]),
            Operation::new("Td", vec![72.into(), 700.into()]),
            Operation::new("Tj", vec![Object::string_literal("Body\x1b text")]),
            Operation::new("ET", vec![]),
        ],
    };
    let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
            "Resources" => dictionary! { "Font" => dictionary! { "F1" => font_id } },
            "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let info_id = doc.add_object(dictionary! {
        "Title" => lopdf::text_string("Re\u{202E}port\u{1b}]52;c;eA==\u{7}\u{E0041}\u{FE0F}"),
    });
    doc.trailer.set("Info", info_id);
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).unwrap();

    let parsed = parse(&bytes, DocType::Pdf);
    assert_no_invisible(&parsed);
    assert_eq!(parsed.title.as_deref(), Some("Report]52;c;eA=="));
    assert_eq!(parsed.blocks[0].text, "Body text");
}
