//! The worker pool against the real worker binary: normal files, hostile PDFs from the shared
//! corpus, timeouts, crashes and retries.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use docent_ingest::worker::{WorkerConfig, WorkerPool};
use docent_types::DocType;

const WORKER: &str = env!("CARGO_BIN_EXE_docent-parse-worker");

fn pool(timeout: Duration, workers: usize) -> WorkerPool {
    WorkerPool::new(WorkerConfig {
        program: PathBuf::from(WORKER),
        args: Vec::new(),
        timeout,
        workers,
        ..WorkerConfig::default()
    })
}

fn corpus_pdf(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/eval/pdfs")
        .join(name);
    assert!(path.is_file(), "{} is missing", path.display());
    path
}

fn reason_of(pool: &WorkerPool, path: &Path) -> String {
    match pool.parse_with_retry(path, DocType::Pdf) {
        Ok(doc) => panic!("{} parsed: {doc:?}", path.display()),
        Err(error) => error.reason(),
    }
}

#[test]
fn a_normal_file_parses_and_the_worker_is_reused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("guide.md");
    std::fs::write(&path, "# Guide\n\nInstall it.\n").unwrap();
    let pool = pool(Duration::from_secs(20), 2);
    for _ in 0..3 {
        let doc = pool.parse(&path, DocType::Markdown).unwrap();
        assert_eq!(doc.title.as_deref(), Some("Guide"));
        assert_eq!(doc.blocks[1].text, "Install it.");
    }
    // One call at a time needs one worker, however many files it parses.
    assert_eq!(pool.live_workers(), 1);
}

#[test]
fn pdf_outcomes_have_clear_reasons() {
    let pool = pool(Duration::from_secs(20), 2);
    let doc = pool
        .parse(&corpus_pdf("pysample__pdflatex-4-pages.pdf"), DocType::Pdf)
        .unwrap();
    assert_eq!(doc.pages, 4);
    assert!(
        doc.blocks
            .iter()
            .all(|b| b.page.is_some_and(|p| (1..=4).contains(&p)))
    );
    assert!(doc.blocks.iter().any(|b| b.page == Some(4)));

    // pdf-extract panics on this CMap; the panic comes back as a reason.
    assert_eq!(
        reason_of(&pool, &corpus_pdf("pdfjs__noembed-eucjp.pdf")),
        "parser panicked: unsupported encoding EUC-H"
    );
    // Here the panic comes mid-page: the text before it is kept.
    let doc = pool
        .parse(&corpus_pdf("pdfjs__90ms_rksj_h_sample.pdf"), DocType::Pdf)
        .unwrap();
    assert_eq!(doc.blocks[0].text, "Hello ASCII");
    assert_eq!(
        reason_of(
            &pool,
            &corpus_pdf("pysample__libreoffice-writer-password.pdf")
        ),
        "password-protected PDF"
    );
    assert_eq!(
        reason_of(
            &pool,
            &corpus_pdf("pysample__imagemagick-CCITTFaxDecode.pdf")
        ),
        "no text layer (scanned or image-only PDF)"
    );
    let reason = reason_of(&pool, &corpus_pdf("qpdf__bad1.pdf"));
    assert!(reason.starts_with("invalid PDF: "), "{reason}");
    assert_eq!(
        reason_of(&pool, Path::new("/nonexistent/file.pdf")),
        "file not found"
    );
    // Failures cost no worker: every answer above came from a live one.
    assert!(pool.live_workers() >= 1);
}

#[test]
fn a_small_memory_cap_still_parses_and_a_huge_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "Small caps are fine.").unwrap();
    let pool = WorkerPool::new(WorkerConfig {
        program: PathBuf::from(WORKER),
        args: Vec::new(),
        memory_limit_bytes: 200 << 20,
        workers: 1,
        limits: docent_ingest::Limits {
            max_file_bytes: 10,
            ..docent_ingest::Limits::default()
        },
        ..WorkerConfig::default()
    });
    let error = pool.parse(&path, DocType::Text).unwrap_err();
    assert_eq!(error.reason(), "file too large (20 bytes > 10 bytes)");
    std::fs::write(&path, "Fits.").unwrap();
    assert_eq!(
        pool.parse(&path, DocType::Text).unwrap().blocks[0].text,
        "Fits."
    );
}

#[test]
fn paths_need_not_be_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let name = OsString::from_vec(b"caf\xe9 notes.txt".to_vec());
    let path = dir.path().join(name);
    std::fs::write(&path, "Latin-1 names exist.").unwrap();
    let doc = pool(Duration::from_secs(20), 1)
        .parse(&path, DocType::Text)
        .unwrap();
    assert_eq!(doc.blocks[0].text, "Latin-1 names exist.");
}

#[test]
fn a_slow_parse_times_out_and_the_pool_recovers() {
    let big = corpus_pdf("pdfjs__tracemonkey.pdf");
    let impatient = pool(Duration::from_millis(1), 1);
    let started = Instant::now();
    let error = impatient.parse_with_retry(&big, DocType::Pdf).unwrap_err();
    assert_eq!(error.reason(), "timed out after 1 ms");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "timeouts are not retried"
    );
    assert_eq!(impatient.live_workers(), 0);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.txt");
    std::fs::write(&path, "still fine").unwrap();
    let patient = pool(Duration::from_secs(20), 1);
    assert!(patient.parse(&big, DocType::Pdf).is_ok());
    assert_eq!(
        patient.parse(&path, DocType::Text).unwrap().blocks[0].text,
        "still fine"
    );
}

#[test]
fn a_crash_is_retried_once_on_a_fresh_worker() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("crashed-once");
    // The first worker dies of SIGSEGV; the second is a real worker.
    let script = format!(
        "if [ -e '{marker}' ]; then exec '{WORKER}'; else touch '{marker}'; kill -SEGV $$; fi",
        marker = marker.display()
    );
    let pool = WorkerPool::new(WorkerConfig {
        program: PathBuf::from("/bin/sh"),
        args: vec!["-c".into(), script.into()],
        timeout: Duration::from_secs(20),
        workers: 1,
        ..WorkerConfig::default()
    });
    let file = dir.path().join("a.txt");
    std::fs::write(&file, "survived").unwrap();
    assert_eq!(
        pool.parse(&file, DocType::Text).unwrap_err().reason(),
        "parser crashed (signal 11)"
    );
    std::fs::remove_file(&marker).unwrap();
    let doc = pool.parse_with_retry(&file, DocType::Text).unwrap();
    assert_eq!(doc.blocks[0].text, "survived");
}

#[test]
fn many_threads_share_a_few_workers() {
    let dir = tempfile::tempdir().unwrap();
    let pool = Arc::new(pool(Duration::from_secs(20), 2));
    let threads: Vec<_> = (0..6)
        .map(|n| {
            let pool = Arc::clone(&pool);
            let path = dir.path().join(format!("{n}.txt"));
            std::fs::write(&path, format!("file number {n}")).unwrap();
            std::thread::spawn(move || {
                for _ in 0..5 {
                    let doc = pool.parse(&path, DocType::Text).unwrap();
                    assert_eq!(doc.blocks[0].text, format!("file number {n}"));
                    assert!(pool.live_workers() <= 2);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert!(pool.live_workers() <= 2);
}
