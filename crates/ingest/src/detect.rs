//! Which files to read (walking folders) and what they are (type detection).

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// Folders that are never worth indexing, whatever the ignore files say.
const SKIPPED_DIR_NAMES: &[&str] = &[".git", "node_modules", "target"];

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

/// Every regular file under `roots`, in walk order.
///
/// Hidden files and folders, `.git`, `node_modules` and `target` are skipped. `.gitignore` and
/// `.ignore` files inside the roots are honoured, but nothing above a root is read (no parent
/// ignore files, no global git excludes). Symlinks are followed only when they point inside one
/// of the roots (loops are reported). A root that is a file is yielded as is. Problems (an
/// unreadable folder, a loop) come out as errors naming the path; the walk goes on.
pub fn walk(roots: &[PathBuf]) -> impl Iterator<Item = Result<PathBuf, IngestError>> + use<> {
    let mut direct = Vec::new();
    let mut folders = Vec::new();
    for root in roots {
        match std::fs::metadata(root) {
            Ok(meta) if meta.is_dir() => folders.push(root.clone()),
            Ok(meta) if meta.is_file() => direct.push(Ok(root.clone())),
            Ok(_) => tracing::debug!(path = %root.display(), "root is neither file nor folder"),
            Err(source) => direct.push(Err(IngestError::io(root, source))),
        }
    }

    let walker = folders.first().map(|first| {
        let canonical_roots: Arc<Vec<PathBuf>> = Arc::new(
            folders
                .iter()
                .filter_map(|folder| folder.canonicalize().ok())
                .collect(),
        );
        let mut builder = ignore::WalkBuilder::new(first);
        for folder in &folders[1..] {
            builder.add(folder);
        }
        builder
            .standard_filters(false)
            .hidden(true)
            .parents(false)
            .ignore(true)
            .git_ignore(true)
            .git_exclude(true)
            .git_global(false)
            .require_git(true)
            .follow_links(true)
            .filter_entry(move |entry| keep_entry(entry, &canonical_roots));
        builder.build()
    });

    direct.into_iter().chain(
        walker
            .into_iter()
            .flatten()
            .filter_map(|entry| match entry {
                Ok(entry) if entry.file_type().is_some_and(|t| t.is_file()) => {
                    Some(Ok(entry.into_path()))
                }
                Ok(_) => None,
                Err(error) => match walk_error(error, None) {
                    error if is_dangling_symlink(&error) => {
                        tracing::debug!(%error, "skipping a dangling symlink");
                        None
                    }
                    error => Some(Err(error)),
                },
            }),
    )
}

fn keep_entry(entry: &ignore::DirEntry, canonical_roots: &[PathBuf]) -> bool {
    if entry.depth() == 0 {
        return true;
    }
    let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
    if is_dir
        && entry
            .file_name()
            .to_str()
            .is_some_and(|name| SKIPPED_DIR_NAMES.contains(&name))
    {
        return false;
    }
    if entry.path_is_symlink() {
        // A link may point anywhere; only follow it when the target stays in the user's
        // folders, so adding ~/notes never indexes /etc through a stray link.
        return match entry.path().canonicalize() {
            Ok(target) => canonical_roots.iter().any(|root| target.starts_with(root)),
            Err(_) => false,
        };
    }
    true
}

/// A link to nothing is not a file the person can fix by reading its reason; skip it.
fn is_dangling_symlink(error: &IngestError) -> bool {
    let IngestError::Io { path, source } = error else {
        return false;
    };
    source.kind() == std::io::ErrorKind::NotFound
        && std::fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_symlink())
}

/// Flattens the nested `ignore` error into one error naming the path it is about.
fn walk_error(error: ignore::Error, path: Option<PathBuf>) -> IngestError {
    match error {
        ignore::Error::WithPath { path, err } => walk_error(*err, Some(path)),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            walk_error(*err, path)
        }
        ignore::Error::Partial(mut errors) if !errors.is_empty() => {
            walk_error(errors.swap_remove(0), path)
        }
        ignore::Error::Loop { ancestor, child } => IngestError::Walk {
            message: format!("symlink loop (points back to {})", ancestor.display()),
            path: child,
        },
        ignore::Error::Io(source) => IngestError::Io {
            path: path.unwrap_or_default(),
            source,
        },
        other => IngestError::Walk {
            path: path.unwrap_or_default(),
            message: crate::error::lowercase_first(&other.to_string()),
        },
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

    fn relative_paths(root: &Path, roots: &[PathBuf]) -> (Vec<String>, Vec<IngestError>) {
        let mut found = Vec::new();
        let mut errors = Vec::new();
        for item in walk(roots) {
            match item {
                Ok(path) => found.push(
                    path.strip_prefix(root)
                        .unwrap_or(&path)
                        .to_string_lossy()
                        .into_owned(),
                ),
                Err(error) => errors.push(error),
            }
        }
        found.sort();
        (found, errors)
    }

    #[test]
    fn walk_skips_hidden_and_build_folders() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        for file in [
            "a.txt",
            "sub/b.md",
            ".hidden.txt",
            ".secret/c.txt",
            ".git/config",
            "node_modules/x/index.js",
            "target/debug/out.txt",
            "sub/deeper/d.rs",
            "ignored/e.txt",
        ] {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "x").unwrap();
        }
        // An ignore file inside the root is honoured...
        std::fs::write(root.join(".ignore"), "ignored/\n").unwrap();
        // ...but one above the root is not.
        std::fs::write(dir.path().join(".ignore"), "*.md\n").unwrap();

        let (found, errors) = relative_paths(&root, std::slice::from_ref(&root));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(found, ["a.txt", "sub/b.md", "sub/deeper/d.rs"]);
    }

    #[test]
    fn walk_yields_a_file_root_and_reports_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".hidden-but-chosen.txt");
        std::fs::write(&file, "x").unwrap();
        let missing = dir.path().join("missing");
        let results: Vec<_> = walk(&[file.clone(), missing.clone()]).collect();
        assert_eq!(results.len(), 2);
        assert_eq!(results[0].as_ref().unwrap(), &file);
        let error = results[1].as_ref().unwrap_err();
        assert_eq!(error.path(), Some(missing.as_path()));
        assert_eq!(error.reason(), "file not found");
    }

    #[test]
    fn walk_follows_symlinks_only_inside_the_roots() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(root.join("docs")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root.join("docs/in.txt"), "x").unwrap();
        std::fs::write(outside.join("secret.txt"), "x").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link-out")).unwrap();
        std::os::unix::fs::symlink(outside.join("secret.txt"), root.join("file-out.txt")).unwrap();
        std::os::unix::fs::symlink(root.join("docs"), root.join("link-in")).unwrap();
        std::os::unix::fs::symlink(root.join("nowhere"), root.join("dangling.txt")).unwrap();

        let (found, errors) = relative_paths(&root, std::slice::from_ref(&root));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(found, ["docs/in.txt", "link-in/in.txt"]);
    }

    #[test]
    fn walk_reports_symlink_loops() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::fs::write(root.join("a/file.txt"), "x").unwrap();
        std::os::unix::fs::symlink(&root, root.join("a/loop")).unwrap();

        let (found, errors) = relative_paths(&root, std::slice::from_ref(&root));
        assert_eq!(found, ["a/file.txt"]);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].reason().starts_with("symlink loop"),
            "{}",
            errors[0]
        );
        assert_eq!(errors[0].path(), Some(root.join("a/loop").as_path()));
    }
}
