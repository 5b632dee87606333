//! The engine's one path policy (SECURITY.md promise 4, "Watchers" cases): a walk of a root
//! and a batch of changed paths read the same files, never through a symlink out of the
//! roots, never `.git`, `node_modules`, `.venv`, gitignored files or Docent's own data folder.

use std::collections::BTreeSet;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use docent_engine::{
    CancelFlag, Engine, EngineConfig, FileOutcome, IndexReport, NoProgress, SearchMode,
    SearchRequest,
};

/// Words that appear only in files that must never be read.
const SECRETS: &[&str] = &[
    "quokkasecretkey",
    "fjordfoldertoken",
    "gitremotetoken",
    "leftpadtoken",
    "venvtoken",
    "gitignoredtoken",
    "datafoldertoken",
];

struct Library {
    _dir: tempfile::TempDir,
    docs: PathBuf,
    outside: PathBuf,
    engine: Engine,
}

/// A watched-folder-like root `docs` whose data folder lies inside it (reached by the engine
/// through a link, so only a canonical comparison recognises it), a folder `outside` holding
/// secrets, and one ordinary note.
fn library() -> Library {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().canonicalize().unwrap();
    let docs = base.join("docs");
    let outside = base.join("outside");
    write(&docs.join("readme.md"), "# Harbour\n\nThe tide tables hang by the door.\n");
    write(
        &outside.join("id_ed25519"),
        "-----BEGIN OPENSSH PRIVATE KEY----- quokkasecretkey",
    );
    write(&outside.join("folder/plans.md"), "Plans: fjordfoldertoken.");
    std::fs::create_dir_all(docs.join("app-data")).unwrap();
    symlink(docs.join("app-data"), base.join("data-link")).unwrap();
    let mut config = EngineConfig::new(base.join("data-link"));
    config.worker_program = PathBuf::from(env!("CARGO_BIN_EXE_docent"));
    let engine = Engine::open(config).unwrap();
    Library {
        _dir: dir,
        docs,
        outside,
        engine,
    }
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// What a hostile checkout or a careless tool leaves in a watched folder. Returns the paths a
/// watcher would report.
fn plant(docs: &Path, outside: &Path) -> Vec<PathBuf> {
    symlink(outside.join("id_ed25519"), docs.join("notes.txt")).unwrap();
    symlink(outside.join("folder"), docs.join("linked")).unwrap();
    symlink(docs, docs.join("loop")).unwrap();
    write(
        &docs.join(".git/config"),
        "[remote \"origin\"]\n\turl = https://me:gitremotetoken@example.org/r.git\n",
    );
    write(&docs.join("node_modules/left-pad/index.js"), "// leftpadtoken");
    write(&docs.join(".venv/lib/x.py"), "# venvtoken");
    // A repository made by `git init`: the `ignore` walker only needs its `.git` folder.
    std::fs::create_dir_all(docs.join("repo/.git")).unwrap();
    write(&docs.join("repo/.gitignore"), "secret.txt\n");
    write(&docs.join("repo/secret.txt"), "API key gitignoredtoken");
    write(&docs.join("app-data/planted.txt"), "datafoldertoken");
    vec![
        docs.join("notes.txt"),
        docs.join("linked"),
        docs.join("linked/plans.md"),
        docs.join("loop"),
        docs.join(".git/config"),
        docs.join("node_modules/left-pad/index.js"),
        docs.join(".venv/lib/x.py"),
        docs.join("repo/secret.txt"),
        docs.join("repo/.gitignore"),
        docs.join("app-data/planted.txt"),
        docs.join("app-data/docent.db"),
    ]
}

fn documents(engine: &Engine, docs: &Path) -> BTreeSet<String> {
    engine
        .documents(&Default::default())
        .unwrap()
        .into_iter()
        .map(|d| {
            Path::new(&d.path)
                .strip_prefix(docs)
                .unwrap_or_else(|_| panic!("{} is outside the folder", d.path))
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

/// Every hit for `word` by BM25 (which only finds the word itself).
fn hits(engine: &Engine, word: &str) -> Vec<String> {
    let mut request = SearchRequest::new(word);
    request.mode = SearchMode::Bm25;
    engine
        .search(&request)
        .unwrap()
        .into_iter()
        .map(|hit| hit.path)
        .collect()
}

fn reason(report: &IndexReport, path: &Path) -> Option<(FileOutcome, String)> {
    report
        .files
        .iter()
        .find(|f| f.path == path)
        .map(|f| (f.outcome, f.reason.clone().unwrap_or_default()))
}

fn assert_no_secret_found(engine: &Engine) {
    for secret in SECRETS {
        assert_eq!(hits(engine, secret), Vec::<String>::new(), "{secret}");
    }
}

#[test]
fn a_walk_and_a_batch_of_changes_read_only_what_the_policy_allows() {
    let lib = library();
    let engine = &lib.engine;
    let docs = &lib.docs;
    let changed = plant(docs, &lib.outside);
    write(&docs.join("repo/kept.md"), "Kept: the ferry leaves at noon.");

    // The walk of the whole folder.
    let report = engine
        .index_paths(
            std::slice::from_ref(docs),
            &NoProgress,
            &CancelFlag::default(),
        )
        .unwrap();
    assert_eq!(
        documents(engine, docs),
        BTreeSet::from(["readme.md".to_string(), "repo/kept.md".to_string()])
    );
    let (outcome, why) = reason(&report, &docs.join("notes.txt")).expect("notes.txt reported");
    assert_eq!(outcome, FileOutcome::Skipped);
    assert!(why.contains("outside the folders you added"), "{why}");
    let (outcome, _) = reason(&report, &docs.join("linked")).expect("linked reported");
    assert_eq!(outcome, FileOutcome::Skipped);
    let (outcome, why) = reason(&report, &docs.join("app-data")).expect("data folder reported");
    assert_eq!(outcome, FileOutcome::Skipped);
    assert!(why.contains("data folder"), "{why}");
    assert_no_secret_found(engine);

    // The same paths as a watcher reports them, with a new ordinary file among them and a path
    // outside every root: only the new file is read, nothing becomes a root of its own.
    write(&docs.join("fresh.md"), "Fresh: the lighthouse keeper sings.");
    let mut batch = changed.clone();
    batch.push(docs.join("fresh.md"));
    batch.push(lib.outside.join("id_ed25519"));
    let report = engine
        .index_within(
            std::slice::from_ref(docs),
            &batch,
            &NoProgress,
            &CancelFlag::default(),
        )
        .unwrap();
    assert_eq!(report.count(FileOutcome::Indexed), 1, "{:#?}", report.files);
    assert_eq!(
        documents(engine, docs),
        BTreeSet::from([
            "fresh.md".to_string(),
            "readme.md".to_string(),
            "repo/kept.md".to_string()
        ])
    );
    let (outcome, why) =
        reason(&report, &lib.outside.join("id_ed25519")).expect("outside path reported");
    assert_eq!(outcome, FileOutcome::Skipped);
    assert_eq!(why, "outside the folders you added");
    assert_no_secret_found(engine);
    // The check can fail: the ordinary new file is found by its word.
    assert_eq!(hits(engine, "lighthouse").len(), 1);

    // An indexed file swapped for a link out of the folder leaves the library; its target is
    // never read.
    std::fs::remove_file(docs.join("fresh.md")).unwrap();
    symlink(lib.outside.join("id_ed25519"), docs.join("fresh.md")).unwrap();
    let report = engine
        .index_within(
            std::slice::from_ref(docs),
            &[docs.join("fresh.md")],
            &NoProgress,
            &CancelFlag::default(),
        )
        .unwrap();
    assert_eq!(report.count(FileOutcome::Removed), 1, "{:#?}", report.files);
    assert!(!documents(engine, docs).contains("fresh.md"));
    assert_no_secret_found(engine);
}
