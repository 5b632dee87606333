//! Every PDF of the shared malformed-and-real corpus goes through the worker pool: each ends
//! with text or with a clear reason, and the pool still works afterwards.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use docent_ingest::worker::{WorkerConfig, WorkerPool};
use docent_types::DocType;

fn corpus_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/eval/pdfs");
    assert!(
        dir.is_dir(),
        "the PDF corpus is missing at {} (it lives in the shared folder)",
        dir.display()
    );
    dir
}

/// What plain pdf-extract did with each file: `name -> (status, characters)`.
fn probe(dir: &Path) -> BTreeMap<String, (String, usize)> {
    let probe = std::fs::read_to_string(dir.join("PROBE_pdf-extract-0.12.1.tsv")).unwrap();
    probe
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let n_chars = fields.get(2)?.parse().unwrap_or(0);
            Some((fields[0].to_owned(), (fields[1].to_owned(), n_chars)))
        })
        .collect()
}

#[test]
fn every_corpus_pdf_ends_with_text_or_a_reason() {
    let dir = corpus_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "pdf"))
        .collect();
    files.sort();
    assert!(files.len() >= 50, "only {} PDFs in the corpus", files.len());

    let pool = WorkerPool::new(WorkerConfig {
        program: PathBuf::from(env!("CARGO_BIN_EXE_docent-parse-worker")),
        args: Vec::new(),
        timeout: Duration::from_secs(20),
        workers: 2,
        ..WorkerConfig::default()
    });
    let started = Instant::now();
    let next_file = AtomicUsize::new(0);
    let outcomes: Mutex<Vec<(String, Result<usize, String>)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                loop {
                    let file_idx = next_file.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = files.get(file_idx) else {
                        return;
                    };
                    let name = path.file_name().unwrap().to_string_lossy().into_owned();
                    let outcome = match pool.parse_with_retry(path, DocType::Pdf) {
                        Ok(doc) => {
                            let n_chars: usize =
                                doc.blocks.iter().map(|b| b.text.chars().count()).sum();
                            assert!(n_chars > 0, "{name} parsed without text");
                            assert!(doc.blocks.iter().all(|b| {
                                !b.text.trim().is_empty()
                                    && b.page.is_some_and(|p| p >= 1 && p <= doc.pages)
                            }));
                            Ok(n_chars)
                        }
                        Err(error) => {
                            assert!(!error.reason().trim().is_empty(), "{name}: empty reason");
                            assert!(!error.is_internal(), "{name}: {error}");
                            Err(error.reason())
                        }
                    };
                    outcomes.lock().unwrap().push((name, outcome));
                }
            });
        }
    });
    let elapsed = started.elapsed();
    let mut outcomes = outcomes.into_inner().unwrap();
    outcomes.sort();

    let probe = probe(&dir);
    let mut regressions = Vec::new();
    let mut n_ok = 0;
    let mut failures: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (name, outcome) in &outcomes {
        match outcome {
            Ok(_) => n_ok += 1,
            Err(reason) => {
                // Group by the reason's kind, not its detail.
                let kind = reason.split(':').next().unwrap_or(reason).to_owned();
                failures.entry(kind).or_default().push(name);
            }
        }
        // Where plain pdf-extract found text, so must we. (It starts every page with two
        // newlines, so two characters or fewer is no text at all.)
        if let Some((status, n_chars)) = probe.get(name)
            && status == "OK"
            && *n_chars > 2
            && outcome.is_err()
        {
            regressions.push(format!(
                "{name}: {outcome:?} (pdf-extract: {n_chars} chars)"
            ));
        }
    }
    eprintln!(
        "corpus: {} PDFs in {elapsed:.1?}: {n_ok} ok, {} failed",
        outcomes.len(),
        outcomes.len() - n_ok
    );
    for (kind, names) in &failures {
        eprintln!("  {:3} {kind}: {}", names.len(), names.join(", "));
    }

    assert!(
        regressions.is_empty(),
        "pdf-extract alone found text in: {regressions:#?}"
    );

    // The pool still parses a normal file.
    let normal = tempfile::tempdir().unwrap();
    let path = normal.path().join("after.txt");
    std::fs::write(&path, "the pool survived").unwrap();
    let doc = pool.parse(&path, DocType::Text).unwrap();
    assert_eq!(doc.blocks[0].text, "the pool survived");
}
