use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A `docent` command on a private data folder, with the default models.
pub fn docent(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_docent"));
    command
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("DOCENT_DATA_DIR")
        .env("DOCENT_LOG", "warn");
    command
}

/// Runs to completion and insists on success, showing what it printed otherwise.
pub fn run_ok(command: &mut Command) -> Output {
    let output = command.output().expect("docent runs");
    assert!(
        output.status.success(),
        "{command:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

pub fn run_json(command: &mut Command) -> Value {
    let output = run_ok(command.arg("--json"));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}):\n{}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

pub fn index(data_dir: &Path, paths: &[&Path]) -> String {
    let mut command = docent(data_dir);
    command.arg("index").args(paths);
    String::from_utf8(run_ok(&mut command).stdout).expect("utf-8 output")
}

pub fn search(data_dir: &Path, query: &str, mode: &str) -> Vec<Value> {
    let mut command = docent(data_dir);
    command.args(["search", query, "--mode", mode, "--top-k", "5"]);
    run_json(&mut command)["results"]
        .as_array()
        .expect("results array")
        .clone()
}

pub fn documents(data_dir: &Path) -> Vec<Value> {
    let mut command = docent(data_dir);
    command.arg("docs");
    run_json(&mut command)["documents"]
        .as_array()
        .expect("documents array")
        .clone()
}

pub fn status(data_dir: &Path) -> Value {
    let mut command = docent(data_dir);
    command.arg("status");
    run_json(&mut command)
}

/// The store, BM25 and the vector index hold the same live chunks and the same op `seq`.
pub fn assert_stores_agree(data_dir: &Path) {
    let status = status(data_dir);
    let chunks = &status["chunks"];
    let index = &status["index"];
    assert_eq!(&index["bm25_chunks"], chunks, "BM25 vs store: {status:#}");
    assert_eq!(
        &index["vector_chunks"], chunks,
        "vectors vs store: {status:#}"
    );
    assert_eq!(index["bm25_seq"], index["store_seq"], "{status:#}");
    assert_eq!(index["vector_seq"], index["store_seq"], "{status:#}");
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/eval` beside the repository: real data no one on the project wrote.
pub fn shared_eval() -> PathBuf {
    let dir = repo_root().join("../shared/eval");
    assert!(
        dir.is_dir(),
        "{} is missing: the shared evaluation data must sit beside the repository",
        dir.display()
    );
    dir
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// The results' file names, best first.
pub fn names(results: &[Value]) -> Vec<String> {
    results
        .iter()
        .map(|r| {
            Path::new(r["path"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

pub fn doc<'a>(docs: &'a [Value], name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["path"].as_str().unwrap().ends_with(name))
        .unwrap_or_else(|| panic!("{name} not in the library: {docs:#?}"))
}
