//! The caps that keep one file from taking the app's memory, and the fences around a parse
//! worker, checked from inside the real worker.

use std::io::{Cursor, Write};
use std::path::PathBuf;
use std::time::Duration;

use docent_ingest::worker::{WorkerConfig, WorkerPool, answer_limit_bytes};
use docent_ingest::{Limits, MAX_TEXT_BYTES, parse_bytes};
use docent_types::DocType;

const WORKER: &str = env!("CARGO_BIN_EXE_docent-parse-worker");

fn limits_with_text_cap(max_text_bytes: u64) -> Limits {
    Limits {
        max_text_bytes,
        ..Limits::default()
    }
}

fn docx_of(document_body: &str) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    writer.start_file("word/document.xml", options).unwrap();
    let xml = format!(
        r#"<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{document_body}</w:body></w:document>"#
    );
    writer.write_all(xml.as_bytes()).unwrap();
    writer.finish().unwrap().into_inner()
}

#[test]
fn the_default_text_cap_is_32_mb() {
    assert_eq!(Limits::default().max_text_bytes, 32 << 20);
    assert_eq!(MAX_TEXT_BYTES, 32 << 20);
    // The answer limit leaves room for JSON escaping and field names.
    assert_eq!(answer_limit_bytes(&Limits::default()), 144 << 20);
}

#[test]
fn too_much_text_fails_with_the_reason() {
    let check = |bytes: &[u8], doc_type: DocType, cap: u64, expected: &str| {
        let error = parse_bytes(bytes, doc_type, &limits_with_text_cap(cap)).unwrap_err();
        assert_eq!(error.reason(), expected, "{doc_type}");
    };
    let text = "word ".repeat(1000);
    // Plain text and code are refused on their decoded size, before any copy.
    check(
        text.as_bytes(),
        DocType::Text,
        1024,
        "too much text (4.9 KB, limit 1 KB)",
    );
    check(
        text.as_bytes(),
        DocType::Code,
        1024,
        "too much text (4.9 KB, limit 1 KB)",
    );
    // Markup is not text: the cap counts what the loader extracts.
    let markdown = format!("# Title\n\n{text}");
    check(
        markdown.as_bytes(),
        DocType::Markdown,
        1024,
        "too much text (4.9 KB, limit 1 KB)",
    );
    let html = format!("<html><body><p>{text}</p></body></html>");
    check(
        html.as_bytes(),
        DocType::Html,
        1024,
        "too much text (4.9 KB, limit 1 KB)",
    );
    // DOCX text is refused as soon as it passes the cap, without extracting the rest.
    let paragraphs = format!("<w:p><w:r><w:t>{text}</w:t></w:r></w:p>").repeat(20);
    check(
        &docx_of(&paragraphs),
        DocType::Docx,
        1024,
        "too much text (over the 1 KB limit)",
    );

    // Within the cap, the same documents parse.
    for (bytes, doc_type) in [
        (text.as_bytes(), DocType::Text),
        (markdown.as_bytes(), DocType::Markdown),
        (html.as_bytes(), DocType::Html),
        (&docx_of(&paragraphs)[..], DocType::Docx),
    ] {
        let doc = parse_bytes(bytes, doc_type, &limits_with_text_cap(1 << 20)).unwrap();
        assert!(!doc.blocks.is_empty(), "{doc_type}");
    }
}

#[test]
fn heading_paths_count_toward_the_cap() {
    // A long heading is repeated in every block under it: 100 blocks of one word each carry
    // the 2 KB heading 100 times.
    let heading = "h".repeat(2000);
    let body = format!("# {heading}\n\n") + &"word\n\n".repeat(100);
    let error = parse_bytes(
        body.as_bytes(),
        DocType::Markdown,
        &limits_with_text_cap(100 << 10),
    )
    .unwrap_err();
    assert!(
        error.reason() == "too much text (201.6 KB, limit 100 KB)",
        "{}",
        error.reason()
    );
}

#[test]
fn a_worker_refuses_too_much_text_before_sending_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.txt");
    std::fs::write(&path, "many words here ".repeat(100_000)).unwrap();
    let pool = WorkerPool::new(WorkerConfig {
        program: PathBuf::from(WORKER),
        args: Vec::new(),
        timeout: Duration::from_secs(20),
        workers: 1,
        limits: limits_with_text_cap(1 << 20),
        ..WorkerConfig::default()
    });
    let error = pool.parse(&path, DocType::Text).unwrap_err();
    assert_eq!(error.reason(), "too much text (1.5 MB, limit 1 MB)");
    // A refusal is an answer: the worker stays for the next file.
    assert_eq!(pool.live_workers(), 1);
    std::fs::write(&path, "a few words").unwrap();
    assert_eq!(
        pool.parse(&path, DocType::Text).unwrap().blocks[0].text,
        "a few words"
    );
}

/// Whether this machine lets a process make a user and network namespace (the worker's way
/// to lose the network); containers often forbid it.
fn namespaces_available() -> bool {
    std::process::Command::new("unshare")
        .args(["--user", "--net", "true"])
        .status()
        .is_ok_and(|status| status.success())
}

#[test]
fn the_worker_reports_its_fences_from_inside() {
    let pool = WorkerPool::new(WorkerConfig {
        program: PathBuf::from(WORKER),
        args: Vec::new(),
        timeout: Duration::from_secs(20),
        memory_limit_bytes: 1 << 30,
        workers: 1,
        ..WorkerConfig::default()
    });
    let report = pool.sandbox_report().unwrap();
    eprintln!("{report:#?}");
    assert_eq!(report.address_space_bytes, Some(1 << 30));
    assert_eq!(report.open_files, Some(64));
    assert_eq!(report.file_size_bytes, Some(0));
    assert_eq!(report.core_file_bytes, Some(0));
    assert_eq!(report.cpu_seconds, Some(600));
    let scratch = report.scratch.as_ref().expect("a scratch folder");
    assert!(scratch.is_dir(), "{}", scratch.display());

    if cfg!(target_os = "linux") {
        assert!(report.seccomp, "no seccomp filter");
        assert!(!report.can_open_inet_socket, "the worker can open a socket");
        assert!(!report.can_start_programs, "the worker can start programs");
        if namespaces_available() {
            assert_eq!(report.network_interfaces, ["lo"]);
            // Counted in the worker's own user namespace, so the limit holds for it alone.
            assert_eq!(report.tasks, Some(16));
        } else {
            eprintln!("no user namespaces here: network isolation rests on seccomp alone");
        }
        if report.landlock.ends_with("enforced") && !report.landlock.starts_with("not") {
            assert!(
                !report.can_write_outside_scratch,
                "landlock {} but a file was created outside the scratch folder",
                report.landlock
            );
        } else {
            eprintln!("landlock: {}", report.landlock);
        }
    }

    // The fences leave parsing alone: the same worker parses a file next.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.md");
    std::fs::write(&path, "# Notes\n\nStill parses.\n").unwrap();
    let doc = pool.parse(&path, DocType::Markdown).unwrap();
    assert_eq!(doc.blocks[1].text, "Still parses.");
    assert_eq!(pool.live_workers(), 1);
}
