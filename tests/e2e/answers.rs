//! The engine's `ask` over the committed answer corpus (`tests/data/answers`), with the real
//! default models and greedy decoding: the context budget, the not-found threshold, the focus
//! step and attribution.

use std::path::{Path, PathBuf};

use docent_engine::{
    AskRequest, CancelFlag, CitationMode, Engine, EngineConfig, EngineError, NOT_FOUND_SIMILARITY,
    NoProgress, SearchRequest,
};

use crate::common::*;

fn answer_corpus() -> PathBuf {
    repo_root().join("tests/data/answers/corpus")
}

/// An engine on a private data folder whose parse workers are the `docent` binary.
fn open_engine(data: &Path, context_limit: Option<usize>) -> Engine {
    let mut config = EngineConfig::new(data.to_path_buf());
    config.worker_program = PathBuf::from(env!("CARGO_BIN_EXE_docent"));
    config.llm_options.context_limit = context_limit;
    config.llm_options.threads = Some(2);
    Engine::open(config).unwrap()
}

fn indexed_engine(data: &Path, context_limit: Option<usize>) -> Engine {
    let engine = open_engine(data, context_limit);
    let report = engine
        .index_paths(&[answer_corpus()], &NoProgress, &CancelFlag::default())
        .unwrap();
    assert_eq!(report.count(docent_engine::FileOutcome::Failed), 0);
    engine
}

fn ask(engine: &Engine, request: &AskRequest) -> docent_engine::Answer {
    let mut streamed = String::new();
    let answer = engine
        .ask(
            request,
            &mut |piece| streamed.push_str(piece),
            &CancelFlag::default(),
        )
        .unwrap();
    assert_eq!(streamed.trim(), answer.answer, "the stream is the answer");
    answer
}

#[test]
fn a_small_context_drops_the_lowest_ranked_sources_but_never_the_question() {
    const CONTEXT: usize = 420;
    let tmp = tempfile::tempdir().unwrap();
    let engine = indexed_engine(&tmp.path().join("data"), Some(CONTEXT));
    let question = "How many parking spaces does the new Lisbon office have?";

    let mut search = SearchRequest::new(question);
    search.top_k = 5;
    let hits = engine.search(&search).unwrap();
    assert_eq!(hits.len(), 5);

    let mut request = AskRequest::new(question);
    request.top_k = 5;
    request.sampling.max_new_tokens = 48;
    let answer = ask(&engine, &request);
    assert!(answer.found, "{answer:#?}");
    let n = answer.sources.len();
    assert!((1..5).contains(&n), "{n} of 5 sources fitted: {answer:#?}");
    // The sources kept are the best-ranked ones, in rank order.
    for (source, hit) in answer.sources.iter().zip(&hits) {
        assert_eq!((&source.path, &source.text), (&hit.path, &hit.text));
    }
    assert!(!answer.answer.is_empty(), "{answer:#?}");
    assert!(
        answer.timings.prompt_tokens + 48 <= CONTEXT,
        "{} prompt tokens",
        answer.timings.prompt_tokens
    );

    // A question that cannot fit whole is refused, not cut.
    // (The same question repeated: still on topic, so retrieval finds it and the model would be
    // called.)
    let long = format!("{question} ").repeat(40);
    let error = engine
        .ask(&AskRequest::new(long), &mut |_| {}, &CancelFlag::default())
        .unwrap_err();
    assert!(matches!(error, EngineError::Invalid(_)), "{error}");
    assert!(error.to_string().contains("too long"), "{error}");
}

#[test]
fn the_threshold_decides_found_the_focus_step_keeps_full_citations() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = indexed_engine(&tmp.path().join("data"), None);

    // Off-topic: under the threshold, the model is not called, the closest passages are listed.
    let answer = ask(
        &engine,
        &AskRequest::new("Who won the football World Cup in 1998?"),
    );
    assert!(!answer.found, "{answer:#?}");
    let similarity = answer.best_similarity.unwrap();
    assert!(similarity < NOT_FOUND_SIMILARITY, "{similarity}");
    assert_eq!(answer.timings.prompt_tokens, 0);
    assert_eq!(answer.citation_mode, CitationMode::None);
    assert!(!answer.sources.is_empty());

    // On-topic, with the focus step: the model gets trimmed sources, the citations keep the
    // passages as stored.
    let question = "Who was the best-known keeper of the Harrow Point lighthouse?";
    for focus in [false, true] {
        let mut request = AskRequest::new(question);
        request.focus = focus;
        request.sampling.max_new_tokens = 128;
        let answer = ask(&engine, &request);
        assert!(answer.found, "{answer:#?}");
        assert!(answer.best_similarity.unwrap() >= NOT_FOUND_SIMILARITY);
        assert!(
            answer.answer.contains("Agnes Morrow"),
            "focus {focus}: {answer:#?}"
        );
        let mut search = SearchRequest::new(question);
        search.top_k = 5;
        let hits = engine.search(&search).unwrap();
        for (source, hit) in answer.sources.iter().zip(&hits) {
            assert_eq!(source.text, hit.text, "focus {focus}");
        }
        assert!(answer.sources[0].path.ends_with("lighthouse-history.md"));
        // Whatever the model did, the mode says where the citations came from.
        match answer.citation_mode {
            CitationMode::Model => assert!(answer.cited && !answer.citations.is_empty()),
            CitationMode::Attributed => {
                assert!(!answer.cited && !answer.attributed.is_empty());
                assert!(answer.attributed[0].path.ends_with("lighthouse-history.md"));
            }
            CitationMode::None => assert!(!answer.cited && answer.attributed.is_empty()),
        }
    }
}

/// Ctrl-C during an answer stops that answer; the session goes on to the next question.
#[test]
fn ctrl_c_in_chat_stops_the_answer_without_leaving() {
    use std::io::{Read, Write};
    use std::process::Stdio;
    use std::sync::mpsc;
    use std::time::Duration;

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    index(&data, &[&answer_corpus()]);

    let mut child = docent(&data)
        .args(["chat", "--max-tokens", "400", "--threads", "2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (sender, output) = mpsc::channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buffer = [0u8; 256];
        while let Ok(n) = stdout.read(&mut buffer) {
            if n == 0 || sender.send(buffer[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = String::new();
    // Reads output until `done` holds for it; the limit only keeps a broken build from hanging.
    let read_until = |seen: &mut String, done: &dyn Fn(&str) -> bool, what: &str| {
        while !done(seen) {
            let piece = output
                .recv_timeout(Duration::from_secs(120))
                .unwrap_or_else(|_| panic!("no {what} in the chat output:\n{seen}"));
            seen.push_str(&String::from_utf8_lossy(&piece));
        }
    };

    // A question whose (greedy) answer is long, so that the signal lands while it streams.
    writeln!(
        stdin,
        "Tell me everything about the Harrow Point lighthouse, its keepers and its light, in detail."
    )
    .unwrap();
    read_until(&mut seen, &|s| !s.trim().is_empty(), "answer");
    let pid = child.id() as libc::pid_t;
    // SAFETY: sends a signal to our own child process, which is still running.
    #[allow(unsafe_code)]
    let sent = unsafe { libc::kill(pid, libc::SIGINT) };
    assert_eq!(sent, 0);
    read_until(&mut seen, &|s| s.contains("(stopped)"), "\"(stopped)\"");

    let before_second = seen.len();
    writeln!(stdin, "When was the Harrow Point lighthouse completed?").unwrap();
    writeln!(stdin, "/quit").unwrap();
    drop(stdin);
    let status = child.wait().unwrap();
    reader.join().unwrap();
    while let Ok(piece) = output.try_recv() {
        seen.push_str(&String::from_utf8_lossy(&piece));
    }
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        status.success(),
        "{status}\nstdout:\n{seen}\nstderr:\n{stderr}"
    );
    // The session went on: the next question got a whole answer.
    let second = &seen[before_second..];
    assert!(
        !second.trim().is_empty() && !second.contains("(stopped)"),
        "the second answer:\n{second}\nstderr:\n{stderr}"
    );
}
