//! A full disk or a read-only data folder (SECURITY.md, faults): `docent index` stops with a
//! message that names the cause, nothing stored is lost or damaged, search still works on what
//! was indexed before (full disk), and indexing resumes once there is space.
//!
//! The full database is forced on every run with `PRAGMA max_page_count` (the test-only
//! `DOCENT_TEST_MAX_PAGE_COUNT`). The read-only folder is a read-only tmpfs when the tests run
//! as root (permissions do not stop root), and a chmod a-w folder otherwise.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::*;
use crate::corpus::{self, Kind};

/// A file of the test corpus: where it is, its code word and its topic sentence.
struct File {
    path: PathBuf,
    token: String,
    sentence: String,
}

/// `count` files in `dir`, ids from `first_id`; `paragraphs` filler paragraphs make each file
/// several chunks long, so it takes room in the database.
fn write_files(dir: &Path, first_id: usize, count: usize, paragraphs: usize) -> Vec<File> {
    (first_id..first_id + count)
        .map(|file_id| {
            let kind = [Kind::Text, Kind::Markdown, Kind::Html][file_id % 3];
            let path = dir.join(format!("f{file_id}.{}", kind.extension()));
            let token = corpus::token(file_id, 0);
            let mut sentence = corpus::sentence(file_id);
            for paragraph in 0..paragraphs {
                sentence.push_str(&format!(
                    "\n\nParagraph {paragraph} of file {file_id} goes on about {} at length, \
                     with every detail the inspectors wrote down in their long report.",
                    corpus::sentence(1000 + file_id * 31 + paragraph)
                ));
            }
            corpus::write_file(&path, kind, &sentence, &token);
            File {
                path,
                token,
                sentence: corpus::sentence(file_id),
            }
        })
        .collect()
}

fn output(command: &mut Command) -> Output {
    command.output().expect("docent runs")
}

fn text(output: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// BM25 finds each file by its code word, and vector search by its sentence.
fn assert_findable(data: &Path, files: &[File], env: &[(&str, &str)]) {
    check_findable(data, files, env, true);
}

/// BM25 only: for files whose sentence is one paragraph among many (vector search matches
/// whole passages).
fn assert_findable_by_code(data: &Path, files: &[File]) {
    check_findable(data, files, &[], false);
}

fn check_findable(data: &Path, files: &[File], env: &[(&str, &str)], vector: bool) {
    for file in files {
        let mut queries = vec![(&file.token, "bm25")];
        if vector {
            queries.push((&file.sentence, "vector"));
        }
        for (query, mode) in queries {
            let mut command = docent(data);
            command
                .envs(env.iter().copied())
                .args(["search", query, "--mode", mode, "--top-k", "5"]);
            let results = run_json(&mut command)["results"]
                .as_array()
                .unwrap()
                .clone();
            let want = file.path.to_str().unwrap();
            assert!(
                results.iter().any(|r| r["path"] == want),
                "{mode} search for {query:?} missed {want}: {results:#?}"
            );
        }
    }
}

fn assert_intact(data: &Path, env: &[(&str, &str)]) {
    let mut command = docent(data);
    command
        .envs(env.iter().copied())
        .args(["status", "--check"]);
    let status = run_json(&mut command);
    assert_eq!(status["integrity"], "ok", "{status:#}");
}

#[test]
fn a_full_database_stops_indexing_clearly_and_resumes_when_there_is_room() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let lib = tmp.path().join("library");
    let first = write_files(&lib.join("a"), 0, 4, 0);
    let second = write_files(&lib.join("b"), 100, 30, 6);
    index(&data, &[&lib.join("a")]);

    // Room for a few more pages only: SQLite answers SQLITE_FULL part-way through `b`.
    let used = status(&data)["sizes"]["database_used_bytes"]
        .as_u64()
        .unwrap();
    let cap = (used / 4096 + 3).to_string();
    let env = [("DOCENT_TEST_MAX_PAGE_COUNT", cap.as_str())];
    let full = output(docent(&data).envs(env).arg("index").arg(&lib));
    let shown = text(&full);
    assert!(!full.status.success(), "{shown}");
    let stderr = String::from_utf8_lossy(&full.stderr);
    assert!(
        stderr.contains("docent: the disk holding the library")
            && stderr.contains("is full")
            && stderr.contains("database or disk is full"),
        "{shown}"
    );
    assert!(!stderr.contains("panicked"), "{shown}");

    // Still full: what was indexed before is intact and found by both retrievers.
    assert_intact(&data, &env);
    assert_findable(&data, &first, &env);
    let docs = documents(&data);
    assert!(docs.len() < first.len() + second.len(), "the cap never bit");
    assert!(docs.iter().all(|d| d["status"] == "indexed"), "{docs:#?}");

    // Room again: the next run finishes the job.
    let summary = index(&data, &[&lib]);
    assert!(summary.contains("0 failed"), "{summary}");
    assert_eq!(documents(&data).len(), first.len() + second.len());
    assert_stores_agree(&data);
    assert_intact(&data, &[]);
    assert_findable_by_code(&data, &second);
}

#[allow(unsafe_code)]
fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and touches no memory.
    unsafe { libc::geteuid() == 0 }
}

/// A tmpfs mounted for the length of a test; unmounted (lazily, so a busy mount cannot fail the
/// test) when dropped.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        if !is_root() {
            return Err("not running as root".to_string());
        }
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs {
            dir: dir.to_path_buf(),
        })
    }

    fn remount(&self, options: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

#[test]
fn a_read_only_library_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("library");
    let first = write_files(&lib.join("a"), 0, 3, 0);
    let later = write_files(&lib.join("b"), 100, 2, 0);

    // As root, permissions do not stop writes: a read-only mount does. Otherwise, modes do.
    let mount = if is_root() {
        match Tmpfs::mount(&tmp.path().join("disk"), "24m") {
            Ok(mount) => Some(mount),
            Err(reason) => {
                eprintln!("skipped the read-only library test: {reason}");
                return;
            }
        }
    } else {
        None
    };
    let data = match &mount {
        Some(mount) => mount.dir.join("data"),
        None => tmp.path().join("data"),
    };
    index(&data, &[&lib.join("a")]);
    let restore_modes = match &mount {
        Some(mount) => {
            mount.remount("ro");
            None
        }
        None => Some(make_read_only(&data)),
    };

    let result = output(docent(&data).arg("index").arg(&lib));
    let shown = text(&result);
    assert!(!result.status.success(), "{shown}");
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.contains("docent: the library") && stderr.contains("is read-only"),
        "{shown}"
    );
    assert!(!stderr.contains("panicked"), "{shown}");

    // Searching needs tantivy's lock file to be writable: not possible yet, but the error says
    // why, and nothing was written.
    let search = output(docent(&data).args(["search", &first[0].token]));
    let shown = text(&search);
    assert!(!search.status.success(), "{shown}");
    assert!(
        String::from_utf8_lossy(&search.stderr).contains("is read-only"),
        "{shown}"
    );
    let _ = later;

    if let Some(modes) = restore_modes {
        for (path, mode) in modes {
            set_mode(&path, mode);
        }
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// chmod a-w over the data folder; returns the modes to put back.
fn make_read_only(data: &Path) -> Vec<(PathBuf, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut modes = Vec::new();
    let mut stack = vec![data.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
        }
        modes.push((path, meta.permissions().mode()));
    }
    // Children first, so a folder keeps its write bit until its contents are done.
    for (path, mode) in modes.iter().rev() {
        set_mode(path, mode & !0o222);
    }
    modes
}
