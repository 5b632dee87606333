//! `kill -9` part-way through indexing loses nothing and duplicates nothing: the next run
//! finishes the job and the derived indexes agree with the store.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use crate::common::*;

const FILES: usize = 120;

fn write_files(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let topics = [
        "harbour", "glacier", "orchard", "foundry", "library", "vineyard",
    ];
    for i in 0..FILES {
        let topic = topics[i % topics.len()];
        let text = format!(
            "Report number {i} about the {topic}.\n\nThe inspection code for this report is \
             zq{i}x. The {topic} was visited in the morning and the findings were written down \
             the same afternoon. Nothing unusual was found apart from some wear on the old \
             equipment, which will be replaced next season.\n"
        );
        std::fs::write(dir.join(format!("report-{i:03}.txt")), text).unwrap();
    }
}

/// Starts indexing and kills it with SIGKILL once `after` files have been written.
fn index_and_kill(data: &Path, lib: &Path, after: usize) {
    let mut child = docent(data)
        .arg("index")
        .arg(lib)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut done = 0;
    for line in stderr.lines() {
        let line = line.unwrap();
        if line.contains("] indexed") || line.contains("] unchanged") {
            done += 1;
            if done >= after {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

#[test]
fn killed_indexing_resumes_without_loss_or_duplicates() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let lib = tmp.path().join("reports");
    write_files(&lib);

    index_and_kill(&data, &lib, 10);
    index_and_kill(&data, &lib, 50);
    let summary = index(&data, &[&lib]);
    assert!(summary.contains("0 failed"), "{summary}");

    let docs = documents(&data);
    assert_eq!(docs.len(), FILES, "each file exactly once");
    let mut paths: Vec<&str> = docs.iter().map(|d| d["path"].as_str().unwrap()).collect();
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len(), FILES);
    assert!(docs.iter().all(|d| d["status"] == "indexed"), "{docs:#?}");
    assert_stores_agree(&data);

    // Every file is findable, once, through BM25 and through vectors.
    for i in [0, 9, 10, 49, 50, 77, FILES - 1] {
        let hits = search(&data, &format!("zq{i}x"), "bm25");
        let want = format!("report-{i:03}.txt");
        assert_eq!(names(&hits).first(), Some(&want), "zq{i}x");
        assert_eq!(names(&hits).iter().filter(|n| **n == want).count(), 1);
    }
    let status = status(&data);
    assert_eq!(status["chunks"].as_u64().unwrap() as usize, FILES);
}

#[test]
fn damaged_derived_indexes_are_rebuilt_from_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let lib = tmp.path().join("reports");
    write_files(&lib);
    index(&data, &[&lib]);

    std::fs::remove_dir_all(data.join("vectors")).unwrap();
    for entry in std::fs::read_dir(data.join("bm25")).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() == "meta.json" {
            std::fs::write(&path, b"{ not json").unwrap();
        }
    }
    assert_stores_agree(&data);
    let hits = search(&data, "zq42x", "bm25");
    assert_eq!(names(&hits)[0], "report-042.txt");
    let hits = search(&data, "report number 42 about the glacier", "vector");
    assert!(!hits.is_empty());
}
