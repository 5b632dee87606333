//! The crash campaign (SECURITY.md promise 2, "nothing lost"): index a generated corpus of every
//! format while files change, move and disappear between runs, and kill `docent index` with
//! SIGKILL again and again: after random delays, after a number of committed files, and
//! exactly inside a SQLite transaction, a tantivy commit and a vector-index dump (the
//! test-only `DOCENT_TEST_ABORT_AT` fault points, see `crates/types/src/fault.rs`).
//!
//! After every kill: the database passes `PRAGMA integrity_check`, every file the killed run
//! reported indexed is in the library, the derived indexes are in step once the engine opened.
//! At the end, after one run that is left to finish: the library holds exactly the files on
//! disk, once each; BM25 finds every live file by its code word and never a dead one; vector
//! search finds every live file by its topic sentence; `docent status` says the indexes are in
//! step.
//!
//! `DOCENT_CRASH_KILLS` (default 30) sets the number of kills and `DOCENT_CRASH_SEED` the
//! random seed (printed at the start, and in every failure). `scripts/crash-campaign N` runs it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use docent_engine::{Engine, EngineConfig, SearchMode, SearchRequest};
use serde_json::Value;

use crate::common::*;
use crate::corpus::{self, Kind};

const DEFAULT_KILLS: usize = 30;
const INITIAL_FILES: usize = 60;

/// splitmix64: a small, seedable generator, so a failing campaign can be replayed exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// One file on disk as the test knows it.
#[derive(Debug, Clone)]
struct Live {
    kind: Kind,
    file_id: usize,
    version: usize,
    sentence: String,
}

impl Live {
    fn token(&self) -> String {
        corpus::token(self.file_id, self.version)
    }
}

/// What is on disk, and every code word that once was and is no more.
struct Model {
    lib: PathBuf,
    files: BTreeMap<PathBuf, Live>,
    dead_tokens: BTreeSet<String>,
    dead_paths: BTreeSet<PathBuf>,
    next_file_id: usize,
    next_sentence: usize,
}

impl Model {
    fn new(lib: &Path) -> Model {
        std::fs::create_dir_all(lib).unwrap();
        Model {
            lib: lib.canonicalize().unwrap(),
            files: BTreeMap::new(),
            dead_tokens: BTreeSet::new(),
            dead_paths: BTreeSet::new(),
            next_file_id: 0,
            next_sentence: 0,
        }
    }

    fn take_sentence(&mut self) -> String {
        let sentence = corpus::sentence(self.next_sentence);
        self.next_sentence += 1;
        sentence
    }

    fn add(&mut self, rng: &mut Rng) {
        let file_id = self.next_file_id;
        self.next_file_id += 1;
        let kind = Kind::ALL[file_id % Kind::ALL.len()];
        let folder = ["", "notes", "notes/old", "reports"][rng.below(4)];
        let path = self
            .lib
            .join(folder)
            .join(format!("f{file_id}.{}", kind.extension()));
        let live = Live {
            kind,
            file_id,
            version: 0,
            sentence: self.take_sentence(),
        };
        corpus::write_file(&path, kind, &live.sentence, &live.token());
        self.dead_paths.remove(&path);
        self.files.insert(path, live);
    }

    fn pick(&self, rng: &mut Rng) -> Option<PathBuf> {
        if self.files.is_empty() {
            return None;
        }
        self.files.keys().nth(rng.below(self.files.len())).cloned()
    }

    fn modify(&mut self, path: &Path) {
        let sentence = self.take_sentence();
        let live = self.files.get_mut(path).unwrap();
        self.dead_tokens.insert(live.token());
        live.version += 1;
        live.sentence = sentence;
        corpus::write_file(path, live.kind, &live.sentence, &live.token());
    }

    fn rename(&mut self, path: &Path, rng: &mut Rng) {
        let live = self.files.remove(path).unwrap();
        let folder = ["moved", "notes", ""][rng.below(3)];
        let new_path = self.lib.join(folder).join(format!(
            "r{}-{}",
            self.next_sentence,
            path.file_name().unwrap().to_string_lossy()
        ));
        self.next_sentence += 1;
        std::fs::create_dir_all(new_path.parent().unwrap()).unwrap();
        std::fs::rename(path, &new_path).unwrap();
        self.dead_paths.insert(path.to_path_buf());
        self.dead_paths.remove(&new_path);
        self.files.insert(new_path, live);
    }

    fn delete(&mut self, path: &Path) {
        let live = self.files.remove(path).unwrap();
        std::fs::remove_file(path).unwrap();
        self.dead_tokens.insert(live.token());
        self.dead_paths.insert(path.to_path_buf());
    }

    /// A few random changes, as a user makes between two indexing runs.
    fn mutate(&mut self, rng: &mut Rng) {
        for _ in 0..1 + rng.below(3) {
            match rng.below(4) {
                0 => self.add(rng),
                1 => {
                    if let Some(path) = self.pick(rng) {
                        self.modify(&path);
                    }
                }
                2 => {
                    if let Some(path) = self.pick(rng) {
                        self.rename(&path, rng);
                    }
                }
                _ => {
                    // Deletions only while the corpus stays near its size.
                    if self.files.len() + 5 > INITIAL_FILES
                        && let Some(path) = self.pick(rng)
                    {
                        self.delete(&path);
                    }
                }
            }
        }
    }
}

/// How a run is to be interrupted.
#[derive(Debug, Clone)]
enum Kill {
    /// SIGKILL from outside this long after the start.
    After(Duration),
    /// SIGKILL from outside once the run has reported this many files done.
    AfterFiles(usize),
    /// The process kills itself at the N-th hit of a fault point (`DOCENT_TEST_ABORT_AT`).
    At(&'static str, u32),
}

impl Kill {
    fn choose(rng: &mut Rng, typical_run: Duration) -> Kill {
        match rng.below(100) {
            0..40 => {
                let max_ms = typical_run.as_millis().max(200) as u64;
                Kill::After(Duration::from_millis(rng.next() % max_ms))
            }
            40..55 => Kill::AfterFiles(1 + rng.below(8)),
            55..70 => Kill::At("sqlite_tx", 1 + rng.below(4) as u32),
            70..85 => Kill::At("tantivy_commit", 1 + rng.below(2) as u32),
            _ => Kill::At("vector_dump", 1 + rng.below(2) as u32),
        }
    }
}

struct RunResult {
    killed: bool,
    /// Paths the run reported as indexed or moved (each was committed before it was printed).
    done: Vec<PathBuf>,
    stderr: Vec<String>,
    elapsed: Duration,
}

fn run_index(data: &Path, lib: &Path, kill: Option<&Kill>) -> RunResult {
    let started = Instant::now();
    let mut command = docent(data);
    command
        .arg("index")
        .arg(lib)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(Kill::At(point, nth)) = kill {
        command.env("DOCENT_TEST_ABORT_AT", format!("{point}:{nth}"));
    }
    let mut child = command.spawn().expect("docent starts");
    let stderr = child.stderr.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });

    let mut stderr_lines = Vec::new();
    let mut done = Vec::new();
    let mut take = |line: String, done: &mut Vec<PathBuf>| {
        if let Some(path) = done_path(&line) {
            done.push(path);
        }
        stderr_lines.push(line);
    };
    let deadline = match kill {
        Some(Kill::After(delay)) => Some(started + *delay),
        _ => None,
    };
    let mut kill_now = false;
    loop {
        let wait = match deadline {
            Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                Some(left) => left,
                None => {
                    kill_now = true;
                    break;
                }
            },
            None => Duration::from_secs(120),
        };
        match receiver.recv_timeout(wait) {
            Ok(line) => {
                take(line, &mut done);
                if let Some(Kill::AfterFiles(n)) = kill
                    && done.len() >= *n
                {
                    kill_now = true;
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if deadline.is_none() {
                    panic!("docent index printed nothing for two minutes");
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    if kill_now {
        // SIGKILL; harmless when the process already exited (it is not reaped yet).
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    reader.join().unwrap();
    for line in receiver.try_iter() {
        take(line, &mut done);
    }
    let killed = status.signal() == Some(libc::SIGKILL);
    assert!(
        killed || status.success(),
        "docent index ended with {status}:\n{}",
        stderr_lines.join("\n")
    );
    RunResult {
        killed,
        done,
        stderr: stderr_lines,
        elapsed: started.elapsed(),
    }
}

/// The path of a progress line `[3/60] indexed   /lib/f3.md (1 chunks)` for a file whose
/// outcome is committed: indexed or moved.
fn done_path(line: &str) -> Option<PathBuf> {
    let mut words = line.split_whitespace();
    let counter = words.next()?;
    if !(counter.starts_with('[') && counter.ends_with(']')) {
        return None;
    }
    match words.next()? {
        "indexed" | "moved" => {}
        _ => return None,
    }
    Some(PathBuf::from(words.next()?.trim_end_matches(':')))
}

fn status_checked(data: &Path) -> Value {
    let mut command = docent(data);
    command.args(["status", "--check"]);
    run_json(&mut command)
}

fn library(data: &Path) -> BTreeMap<PathBuf, Value> {
    let docs = documents(data);
    let mut by_path = BTreeMap::new();
    for doc in docs {
        let path = PathBuf::from(doc["path"].as_str().unwrap());
        assert!(
            by_path.insert(path.clone(), doc).is_none(),
            "{} listed twice",
            path.display()
        );
    }
    by_path
}

fn campaign_settings() -> (usize, u64) {
    let kills = std::env::var("DOCENT_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_KILLS);
    let seed = std::env::var("DOCENT_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    (kills, seed)
}

#[test]
fn crash_campaign_loses_nothing_and_duplicates_nothing() {
    let (kills_wanted, seed) = campaign_settings();
    let replay = format!("replay with DOCENT_CRASH_SEED={seed} DOCENT_CRASH_KILLS={kills_wanted}");
    eprintln!("crash campaign: {kills_wanted} kills, seed {seed} ({replay})");
    let started = Instant::now();
    let mut rng = Rng(seed);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut model = Model::new(&tmp.path().join("library"));
    for _ in 0..INITIAL_FILES {
        model.add(&mut rng);
    }
    let lib = model.lib.clone();

    let mut kills = 0;
    let mut kills_by_kind: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut runs = 0;
    let mut typical_run = Duration::from_secs(3);
    while kills < kills_wanted {
        runs += 1;
        assert!(
            runs <= kills_wanted * 4 + 10,
            "too few runs were killed ({kills} of {runs}); {replay}"
        );
        let kill = Kill::choose(&mut rng, typical_run);
        let result = run_index(&data, &lib, Some(&kill));
        let context = format!("run {runs}, {kill:?}; {replay}");
        if result.killed {
            kills += 1;
            let kind = match kill {
                Kill::After(_) => "random delay",
                Kill::AfterFiles(_) => "after committed files",
                Kill::At(point, _) => point,
            };
            *kills_by_kind.entry(kind).or_default() += 1;
            check_after_kill(&data, &model, &result, &context);
        } else {
            typical_run = (typical_run + result.elapsed) / 2;
        }
        if rng.chance(60) {
            model.mutate(&mut rng);
        }
    }

    // A run left to finish brings the library to exactly what is on disk.
    let last = run_index(&data, &lib, None);
    assert!(!last.killed);
    check_final(&data, &model, &format!("final run; {replay}"));
    eprintln!(
        "crash campaign: {kills} kills in {runs} runs ({kills_by_kind:?}), {} files live, \
         {} dead code words, {:.1}s; seed {seed}",
        model.files.len(),
        model.dead_tokens.len(),
        started.elapsed().as_secs_f64()
    );
}

/// Right after a kill: the store is intact, every file the run reported done is there, and
/// once the engine has opened (repairing) the indexes are in step.
fn check_after_kill(data: &Path, model: &Model, result: &RunResult, context: &str) {
    let status = status_checked(data);
    assert_eq!(status["integrity"], "ok", "{context}: {status:#}");
    assert_eq!(status["index"]["in_step"], true, "{context}: {status:#}");
    let docs = library(data);
    for path in &result.done {
        let doc = docs.get(path).unwrap_or_else(|| {
            panic!(
                "{context}: {} was reported indexed before the kill but is not in the \
                 library\nstderr:\n{}",
                path.display(),
                result.stderr.join("\n")
            )
        });
        assert_eq!(doc["status"], "indexed", "{context}: {doc:#}");
    }
    for (path, doc) in &docs {
        assert_eq!(doc["status"], "indexed", "{context}: {doc:#}");
        assert!(
            model.files.contains_key(path) || model.dead_paths.contains(path),
            "{context}: {} was never a file of the corpus",
            path.display()
        );
    }
}

fn check_final(data: &Path, model: &Model, context: &str) {
    let status = status_checked(data);
    assert_eq!(status["integrity"], "ok", "{context}: {status:#}");
    assert_eq!(status["index"]["in_step"], true, "{context}: {status:#}");
    assert_stores_agree(data);

    // Exactly the files on disk, each once, each indexed.
    let docs = library(data);
    let in_library: Vec<&PathBuf> = docs.keys().collect();
    let on_disk: Vec<&PathBuf> = model.files.keys().collect();
    assert_eq!(in_library, on_disk, "{context}");
    for (path, doc) in &docs {
        assert_eq!(doc["status"], "indexed", "{context}: {doc:#}");
        assert!(doc["chunks"].as_u64().unwrap() >= 1, "{context}: {doc:#}");
        assert!(
            !model.dead_paths.contains(path) || model.files.contains_key(path),
            "{context}: dead path {}",
            path.display()
        );
    }

    // The searches, in this process: one model load for all of them.
    let engine = Engine::open(EngineConfig::new(data.to_path_buf())).unwrap();
    let search = |query: &str, mode: SearchMode, top_k: usize| {
        let mut request = SearchRequest::new(query);
        request.mode = mode;
        request.top_k = top_k;
        engine.search(&request).unwrap()
    };
    let live_tokens: BTreeSet<String> = model.files.values().map(Live::token).collect();
    for (path, live) in &model.files {
        let token = live.token();
        let path_str = path.to_string_lossy();
        let hits = search(&token, SearchMode::Bm25, 5);
        let with_token: Vec<_> = hits
            .iter()
            .filter(|h| corpus::tokens_in(&h.text).contains(&token))
            .collect();
        assert_eq!(
            with_token.len(),
            1,
            "{context}: BM25 for {token} ({}) found {} passages: {hits:#?}",
            path.display(),
            with_token.len()
        );
        assert_eq!(with_token[0].path, path_str, "{context}: {token}");

        let hits = search(&live.sentence, SearchMode::Vector, 5);
        assert!(
            hits.iter().any(|h| h.path == path_str),
            "{context}: vector search for {:?} missed {}: {:#?}",
            live.sentence,
            path.display(),
            hits.iter()
                .map(|h| (&h.path, h.similarity))
                .collect::<Vec<_>>()
        );
        for hit in &hits {
            for found in corpus::tokens_in(&hit.text) {
                assert!(
                    live_tokens.contains(&found),
                    "{context}: vector search returned dead passage {found} at {}",
                    hit.path
                );
            }
        }
    }
    for token in &model.dead_tokens {
        let hits = search(token, SearchMode::Bm25, 5);
        for hit in &hits {
            assert!(
                !corpus::tokens_in(&hit.text).contains(token),
                "{context}: BM25 found dead code word {token} at {}",
                hit.path
            );
        }
    }
    let report = engine.check_consistency().unwrap();
    assert!(report.agrees(), "{context}: {report:?}");
    assert_eq!(
        report.live_chunks as usize,
        docs.values()
            .map(|d| d["chunks"].as_u64().unwrap() as usize)
            .sum::<usize>()
    );
    drop(engine);

    // And once through the binary, as a user would.
    let (path, live) = model.files.iter().next().unwrap();
    let hits = crate::common::search(data, &live.token(), "bm25");
    assert_eq!(
        hits.first().and_then(|h| h["path"].as_str()),
        Some(path.to_str().unwrap()),
        "{context}"
    );
}

#[test]
fn progress_lines_are_parsed() {
    assert_eq!(
        done_path("[3/60] indexed   /lib/f3.md (1 chunks)"),
        Some(PathBuf::from("/lib/f3.md"))
    );
    assert_eq!(
        done_path("[4/60] moved     /lib/r1-f3.md: moved from /lib/f3.md"),
        Some(PathBuf::from("/lib/r1-f3.md"))
    );
    assert_eq!(done_path("[5/60] unchanged /lib/f4.md"), None);
    assert_eq!(done_path("docent: 60 files (0.1 MB) to look at"), None);
}
