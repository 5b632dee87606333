//! What a file is (type detection); which files to read is [`crate::policy`]'s.

use std::ffi::OsStr;
use std::io::Read;
use std::path::Path;

use docent_types::DocType;

use crate::IngestError;

/// How many leading bytes detection looks at.
const SNIFF_BYTES: usize = 8 * 1024;

const TEXT_EXTENSIONS: &[&str] = &["txt", "text", "log"];
const MARKDOWN_EXTENSIONS: &[&str] = &["md", "markdown"];
const HTML_EXTENSIONS: &[&str] = &["html", "htm", "xhtml"];
const CODE_EXTENSIONS: &[&str] = &[
    "rs", "py", "js", "mjs", "cjs", "ts", "jsx", "tsx", "go", "java", "c", "cpp", "cc", "cxx", "h",
    "hh", "hpp", "cs", "rb", "php", "swift", "kt", "kts", "scala", "sh", "bash", "zsh", "fish",
    "json", "toml", "yaml", "yml", "csv", "tsv", "xml", "sql", "ini", "cfg", "conf", "lua", "r",
    "m", "css", "scss", "sass", "less", "pl", "hs", "ml", "ex", "exs", "erl", "clj", "dart", "jl",
    "vue", "svelte", "proto", "gradle", "cmake", "mk", "tex", "rst", "org", "adoc",
];

/// The verdict on one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detection {
    Supported(DocType),
    /// Not indexed; `reason` is a short lowercase sentence for the library view.
    Unsupported {
        reason: String,
    },
}

impl Detection {
    fn unsupported(reason: &str) -> Detection {
        Detection::Unsupported {
            reason: reason.to_owned(),
        }
    }
}

/// Decides the type of the file at `path` from its extension and its first 8 KiB.
///
/// Content wins over names where it is unambiguous: a file starting with `%PDF-` is a PDF
/// whatever it is called, a `.docx` that is not a zip is refused, and a text-ish file full of
/// NUL bytes is binary.
pub fn detect(path: &Path) -> Result<Detection, IngestError> {
    let mut head = Vec::with_capacity(SNIFF_BYTES);
    std::fs::File::open(path)
        .and_then(|file| file.take(SNIFF_BYTES as u64).read_to_end(&mut head))
        .map_err(|source| IngestError::io(path, source))?;
    Ok(detect_bytes(path, &head))
}

/// [`detect`] on bytes already read: `path` only provides the name, `head` the first bytes
/// (up to 8 KiB are looked at).
pub fn detect_bytes(path: &Path, head: &[u8]) -> Detection {
    let head = &head[..head.len().min(SNIFF_BYTES)];
    if head.starts_with(b"%PDF-") {
        return Detection::Supported(DocType::Pdf);
    }
    let extension = path
        .extension()
        .and_then(OsStr::to_str)
        .map(str::to_ascii_lowercase);
    let Some(extension) = extension else {
        return match text_quality(head) {
            TextQuality::Clean => Detection::Supported(DocType::Text),
            TextQuality::Mostly | TextQuality::Binary => Detection::unsupported("unsupported type"),
        };
    };
    let extension = extension.as_str();
    let text_type = if TEXT_EXTENSIONS.contains(&extension) {
        DocType::Text
    } else if MARKDOWN_EXTENSIONS.contains(&extension) {
        DocType::Markdown
    } else if HTML_EXTENSIONS.contains(&extension) {
        DocType::Html
    } else if CODE_EXTENSIONS.contains(&extension) {
        DocType::Code
    } else if extension == "pdf" {
        // A broken header gets the PDF parser's precise reason ("invalid PDF: ...") rather
        // than a vague "unsupported type".
        return Detection::Supported(DocType::Pdf);
    } else if extension == "docx" {
        return if head.starts_with(b"PK\x03\x04") {
            Detection::Supported(DocType::Docx)
        } else {
            Detection::unsupported("not a DOCX (zip) file")
        };
    } else {
        return Detection::unsupported("unsupported type");
    };
    match text_quality(head) {
        TextQuality::Clean | TextQuality::Mostly => Detection::Supported(text_type),
        TextQuality::Binary => Detection::unsupported("binary content"),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum TextQuality {
    /// Valid UTF-8 (or UTF-16 with a byte order mark).
    Clean,
    /// A few invalid bytes, as in a Latin-1 file: readable once decoded lossily.
    Mostly,
    Binary,
}

fn text_quality(head: &[u8]) -> TextQuality {
    if head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") {
        return TextQuality::Clean;
    }
    if head.contains(&0) {
        return TextQuality::Binary;
    }
    let mut n_invalid = 0;
    let mut chunks = head.utf8_chunks().peekable();
    while let Some(chunk) = chunks.next() {
        let is_last = chunks.peek().is_none();
        // A multi-byte character cut by the 8 KiB window is not a fault of the file.
        let cut_at_window = is_last && head.len() == SNIFF_BYTES && chunk.invalid().len() < 4;
        if !cut_at_window {
            n_invalid += chunk.invalid().len();
        }
    }
    if n_invalid == 0 {
        TextQuality::Clean
    } else if n_invalid * 10 < head.len() * 3 {
        TextQuality::Mostly
    } else {
        TextQuality::Binary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, content: &[u8], expected: Detection) {
        assert_eq!(
            detect_bytes(Path::new(name), content),
            expected,
            "{name} with {content:?}"
        );
    }

    fn supported(doc_type: DocType) -> Detection {
        Detection::Supported(doc_type)
    }

    #[test]
    fn by_extension() {
        check("notes.txt", b"hello", supported(DocType::Text));
        check("server.LOG", b"hello", supported(DocType::Text));
        check("README.md", b"# Title", supported(DocType::Markdown));
        check("page.htm", b"<p>hi</p>", supported(DocType::Html));
        check("page.XHTML", b"<p>hi</p>", supported(DocType::Html));
        check("main.rs", b"fn main() {}", supported(DocType::Code));
        check("data.csv", b"a,b\n1,2", supported(DocType::Code));
        check("paper.pdf", b"%PDF-1.7\n", supported(DocType::Pdf));
        check("report.docx", b"PK\x03\x04rest", supported(DocType::Docx));
        check("empty.txt", b"", supported(DocType::Text));
    }

    #[test]
    fn content_overrides_names() {
        check("renamed.txt", b"%PDF-1.4\n%", supported(DocType::Pdf));
        check("no_extension", b"%PDF-1.4\n%", supported(DocType::Pdf));
        check(
            "fake.docx",
            b"just text",
            Detection::unsupported("not a DOCX (zip) file"),
        );
        check(
            "binary.md",
            b"\x7fELF\x02\x01\x01\0\0\0",
            Detection::unsupported("binary content"),
        );
        check(
            "noise.txt",
            &[0xff, 0xfd, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0x80],
            Detection::unsupported("binary content"),
        );
        // A Latin-1 file: a few invalid bytes, decoded lossily later.
        check(
            "latin1.txt",
            b"caf\xe9 cr\xe8me br\xfbl\xe9e and more words here",
            supported(DocType::Text),
        );
        check("utf16.txt", b"\xff\xfeh\0i\0", supported(DocType::Text));
    }

    #[test]
    fn no_extension_needs_clean_text() {
        check("README", b"plain words", supported(DocType::Text));
        check("Makefile", b"all:\n\tcc x.c", supported(DocType::Text));
        check(
            "program",
            b"\x7fELF\x02\x01\x01\0",
            Detection::unsupported("unsupported type"),
        );
        check(
            "latin1",
            b"caf\xe9",
            Detection::unsupported("unsupported type"),
        );
    }

    #[test]
    fn unknown_types() {
        check(
            "photo.jpg",
            b"\xff\xd8\xff",
            Detection::unsupported("unsupported type"),
        );
        check(
            "old.doc",
            b"\xd0\xcf\x11\xe0",
            Detection::unsupported("unsupported type"),
        );
        check(
            "archive.zip",
            b"PK\x03\x04",
            Detection::unsupported("unsupported type"),
        );
    }

    #[test]
    fn a_character_cut_by_the_window_is_not_binary() {
        let mut head = vec![b'a'; SNIFF_BYTES - 1];
        head.push(0xc3); // first byte of "é", the rest beyond the window
        assert_eq!(text_quality(&head), TextQuality::Clean);
    }

    #[test]
    fn detect_reads_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("doc.txt");
        std::fs::write(&path, "hello").unwrap();
        assert_eq!(detect(&path).unwrap(), supported(DocType::Text));
        let missing = detect(&dir.path().join("missing.txt")).unwrap_err();
        assert_eq!(missing.reason(), "file not found");
    }
}
