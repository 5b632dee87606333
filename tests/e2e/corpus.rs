//! A generated corpus of small files of every supported format, each carrying a unique code word
//! (for BM25) and a distinct topic sentence (for vector search), for the crash and disk-full
//! tests.

use std::io::Write;
use std::path::Path;

/// The formats the corpus cycles through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Markdown,
    Html,
    Docx,
    Code,
    Pdf,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Text,
        Kind::Markdown,
        Kind::Html,
        Kind::Docx,
        Kind::Code,
        Kind::Pdf,
    ];

    pub fn extension(self) -> &'static str {
        match self {
            Kind::Text => "txt",
            Kind::Markdown => "md",
            Kind::Html => "html",
            Kind::Docx => "docx",
            Kind::Code => "py",
            Kind::Pdf => "pdf",
        }
    }
}

const SUBJECTS: [&str; 12] = [
    "The beekeeper",
    "A marine biologist",
    "The night baker",
    "An astronomer",
    "The railway engineer",
    "A violin maker",
    "The glacier guide",
    "A tax accountant",
    "The lighthouse keeper",
    "A chess coach",
    "The vineyard owner",
    "A submarine cook",
];
const ACTIONS: [&str; 10] = [
    "repaired",
    "photographed",
    "painted",
    "measured",
    "sold",
    "cleaned",
    "catalogued",
    "guarded",
    "designed",
    "rescued",
];
const OBJECTS: [&str; 12] = [
    "an old wooden canoe",
    "the copper telescope",
    "a field of sunflowers",
    "the broken clock tower",
    "a crate of lemons",
    "the frozen waterfall",
    "a stack of jazz records",
    "the desert weather station",
    "a nest of owls",
    "the marble staircase",
    "a fleet of kites",
    "the volcano observatory",
];
const PLACES: [&str; 8] = [
    "in Lisbon",
    "near the harbour at dawn",
    "during the winter storm",
    "on a quiet Sunday",
    "before the carnival",
    "behind the old mill",
    "under the northern lights",
    "after the harvest festival",
];

/// The `n`-th topic sentence: every `n` below 11,520 gives a different combination.
pub fn sentence(n: usize) -> String {
    // Stepping each list at a different rate keeps neighbours apart in every part.
    let subject = SUBJECTS[n % SUBJECTS.len()];
    let action = ACTIONS[(n / 3 + n) % ACTIONS.len()];
    let object = OBJECTS[(n * 7 + n / 12) % OBJECTS.len()];
    let place = PLACES[(n * 5 + n / 96) % PLACES.len()];
    format!("{subject} {action} {object} {place}.")
}

/// A code word the BM25 tokenizer keeps whole and no other file contains.
pub fn token(file_id: usize, version: usize) -> String {
    format!("qx{file_id}v{version}z")
}

/// Writes a file of `kind` whose text is `sentence` followed by `Reference code {token}.`.
pub fn write_file(path: &Path, kind: Kind, sentence: &str, token: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    let code_line = format!("Reference code {token}.");
    let bytes = match kind {
        Kind::Text => format!("{sentence}\n\n{code_line}\n").into_bytes(),
        Kind::Markdown => format!("# Field notes\n\n{sentence}\n\n{code_line}\n").into_bytes(),
        Kind::Html => format!(
            "<!doctype html><html><head><title>Field notes</title></head>\
             <body><p>{sentence}</p><p>{code_line}</p></body></html>\n"
        )
        .into_bytes(),
        Kind::Code => {
            format!("# {sentence}\n# {code_line}\n\n\ndef answer():\n    return 42\n").into_bytes()
        }
        Kind::Docx => docx(&[sentence, &code_line]),
        Kind::Pdf => pdf(&[sentence, &code_line]),
    };
    // Write beside and rename, as editors do, so a run never sees half a file.
    let temp = path.with_extension("partial");
    std::fs::write(&temp, bytes).unwrap();
    std::fs::rename(&temp, path).unwrap();
}

/// A minimal DOCX: one paragraph per line.
pub fn docx(paragraphs: &[&str]) -> Vec<u8> {
    let body: String = paragraphs
        .iter()
        .map(|text| format!("<w:p><w:r><w:t>{text}</w:t></w:r></w:p>"))
        .collect();
    let document = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}</w:body></w:document>"#
    );
    let content_types = r#"<?xml version="1.0" encoding="UTF-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    for (name, text) in [
        ("[Content_Types].xml", content_types.to_string()),
        ("word/document.xml", document),
    ] {
        zip.start_file(name, options).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// A one-page PDF with one line of 12 pt Helvetica per entry, written by hand with a correct
/// cross-reference table.
pub fn pdf(lines: &[&str]) -> Vec<u8> {
    let mut content = String::from("BT /F1 12 Tf 72 720 Td 14 TL");
    for line in lines {
        let escaped = line
            .replace('\\', "\\\\")
            .replace('(', "\\(")
            .replace(')', "\\)");
        content.push_str(&format!(" ({escaped}) Tj T*"));
    }
    content.push_str(" ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] \
         /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>"
            .to_string(),
        format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        ),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_string(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (idx, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", idx + 1).as_bytes());
    }
    let xref_at = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n", objects.len() + 1).as_bytes());
    out.extend_from_slice(b"0000000000 65535 f \n");
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref_at}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// The code words (`qx…z`) in a passage.
pub fn tokens_in(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| {
            word.len() > 3
                && word.starts_with("qx")
                && word.ends_with('z')
                && word[2..word.len() - 1]
                    .split_once('v')
                    .is_some_and(|(id, version)| {
                        !id.is_empty()
                            && !version.is_empty()
                            && id.bytes().all(|b| b.is_ascii_digit())
                            && version.bytes().all(|b| b.is_ascii_digit())
                    })
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn sentences_are_distinct_and_tokens_are_recognised() {
    let mut seen = std::collections::HashSet::new();
    for n in 0..600 {
        assert!(seen.insert(sentence(n)), "sentence {n} repeats");
    }
    assert_eq!(
        tokens_in("Reference code qx12v3z. qx1z qxv2z ab"),
        ["qx12v3z"]
    );
}
