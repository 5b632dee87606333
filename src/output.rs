//! What the CLI prints: progress, tables and the stable JSON shapes documented in the README.
//!
//! Every string that comes from outside (file names, document text, titles, reasons, model
//! output, error messages) goes through [`terminal_safe`] or [`terminal_safe_line`] before it
//! is printed for a person; `--json` output goes through [`print_json`].

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use docent_engine::{
    AnswersBenchReport, AnswersSummary, BeirReport, DocumentRow, EmbedBenchReport, EngineStatus,
    FileOutcome, IndexReport, InjectionBenchReport, LlmBenchRow, Progress, ProgressEvent,
    SearchHit, ThresholdReport, ThresholdRow,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};

/// Text from outside made safe to print for a person, lines kept: control characters (C0 but
/// newline and tab, DEL, C1) and bidi controls are shown as Rust escapes (`\u{1b}`).
///
/// A file name, a passage or a model token could otherwise drive the terminal: ESC and OSC
/// sequences set colours, clear the screen, write the clipboard (OSC 52) or show a link that
/// opens somewhere else (OSC 8); a lone `\r` or backspace overwrites what was printed; U+202E
/// and the other bidi controls reorder what is shown ("report\u{202e}fdp.exe" shows as
/// "reportexe.pdf"). The escape is readable and names the character; a name holding the six
/// characters `\u{1b}` itself looks the same, which is acceptable for display (`--json` keeps
/// exact values).
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    escape_for_terminal(text, |c| c == '\n' || c == '\t')
}

/// [`terminal_safe`] for one-line fields (paths, titles, reasons): newlines and tabs are
/// escaped too, so a file name cannot print a line of its own that looks like Docent's.
pub fn terminal_safe_line(text: &str) -> Cow<'_, str> {
    escape_for_terminal(text, |_| false)
}

fn escape_for_terminal(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    let escaped = |c: char| (c.is_control() || is_bidi_control(c)) && !keep(c);
    if !text.chars().any(escaped) {
        return Cow::Borrowed(text);
    }
    let mut safe = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if escaped(c) {
            let _ = write!(safe, "\\u{{{:x}}}", c as u32);
        } else {
            safe.push(c);
        }
    }
    Cow::Owned(safe)
}

/// Characters that change the display order of the text around them.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// The log's writer: stderr, with the same escaping as everything else the CLI prints, so a
/// path or reason in a log field cannot drive the terminal either (tracing-subscriber escapes
/// ESC, BEL and C1 itself, but not `\r`, backspace, the other C0 controls or bidi controls).
/// With `colours` (stderr is a terminal), the colour sequences the log formatter writes
/// (`ESC [ digits m`, SGR) pass; without, there are none to pass.
pub struct LogWriter {
    pub colours: bool,
}

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        // The formatter writes each event whole, so a colour sequence is never cut in two.
        let text = String::from_utf8_lossy(bytes);
        std::io::stderr().write_all(escape_log(&text, self.colours).as_bytes())?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

fn escape_log(text: &str, colours: bool) -> String {
    let mut safe = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let Some(len) = colours.then(|| sgr_len(rest)).flatten() {
            safe.push_str(&rest[..len]);
            rest = &rest[len..];
            continue;
        }
        safe.push_str(&terminal_safe(&rest[..c.len_utf8()]));
        rest = &rest[c.len_utf8()..];
    }
    safe
}

/// Length of the SGR (colour) sequence `ESC [ params m` at the start of `text`.
fn sgr_len(text: &str) -> Option<usize> {
    let params = text.strip_prefix("\x1b[")?;
    let n_params = params.find(|c: char| !(c.is_ascii_digit() || c == ';'))?;
    params[n_params..]
        .starts_with('m')
        .then_some(2 + n_params + 1)
}

/// A path for display, on one line.
pub fn shown_path(path: &std::path::Path) -> String {
    terminal_safe_line(&path.to_string_lossy()).into_owned()
}

pub fn error_chain(error: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

/// Prints one JSON document. Values stay exact; the C1 controls, DEL and bidi controls that
/// serde_json writes raw are written as `\u` escapes instead (the same string to any JSON
/// reader), so `--json` on a terminal cannot drive it either. C0 controls serde_json escapes
/// itself.
pub fn print_json(value: &Value) {
    let json = serde_json::to_string_pretty(value).expect("JSON values always serialise");
    println!("{}", escape_json_controls(&json));
}

/// Raw characters in serialised JSON can only sit inside strings, where `\uXXXX` means the
/// same character.
fn escape_json_controls(json: &str) -> Cow<'_, str> {
    // serde_json already escapes every C0 control inside strings, so a raw newline (or space)
    // is the pretty printer's own layout and stays; C1, DEL and bidi controls are escaped.
    let escaped = |c: char| (c.is_control() && c != '\n') || is_bidi_control(c);
    if !json.chars().any(escaped) {
        return Cow::Borrowed(json);
    }
    let mut safe = String::with_capacity(json.len() + 8);
    for c in json.chars() {
        if escaped(c) {
            let _ = write!(safe, "\\u{:04x}", c as u32);
        } else {
            safe.push(c);
        }
    }
    Cow::Owned(safe)
}

/// Indexing progress: a bar on a terminal, plain lines otherwise.
pub struct IndexProgress {
    bar: Option<ProgressBar>,
    state: Mutex<ProgressState>,
}

struct ProgressState {
    started: Instant,
    files: usize,
    done: usize,
    chunks: usize,
    bytes: u64,
}

impl IndexProgress {
    pub fn new() -> IndexProgress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30.cyan/blue} {pos}/{len} files  {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        IndexProgress {
            bar,
            state: Mutex::new(ProgressState {
                started: Instant::now(),
                files: 0,
                done: 0,
                chunks: 0,
                bytes: 0,
            }),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    fn message(state: &ProgressState, current: &str) -> String {
        let secs = state.started.elapsed().as_secs_f64().max(1e-3);
        let mb_per_s = state.bytes as f64 / 1e6 / secs;
        let eta = if state.done > 0 && state.files > state.done {
            let per_file = secs / state.done as f64;
            format!(
                "ETA {}",
                format_duration(per_file * (state.files - state.done) as f64)
            )
        } else {
            "ETA --".to_string()
        };
        format!(
            "{} chunks  {mb_per_s:.1} MB/s  {eta}  {current}",
            state.chunks
        )
    }
}

fn format_duration(secs: f64) -> String {
    let secs = secs.round() as u64;
    if secs >= 3600 {
        format!("{}h{:02}m", secs / 3600, secs % 3600 / 60)
    } else if secs >= 60 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{secs}s")
    }
}

fn short_name(path: &std::path::Path) -> String {
    match path.file_name() {
        Some(name) => terminal_safe_line(&name.to_string_lossy()).into_owned(),
        None => shown_path(path),
    }
}

impl Progress for IndexProgress {
    fn event(&self, event: &ProgressEvent<'_>) {
        let mut state = self.state.lock().expect("progress lock");
        match event {
            ProgressEvent::Scanning { found } => {
                if let Some(bar) = &self.bar {
                    bar.set_message(format!("scanning: {found} files found"));
                }
            }
            ProgressEvent::Planned { files, bytes } => {
                state.files = *files;
                state.started = Instant::now();
                match &self.bar {
                    Some(bar) => bar.set_length(*files as u64),
                    None => eprintln!(
                        "docent: {files} files ({:.1} MB) to look at",
                        *bytes as f64 / 1e6
                    ),
                }
            }
            ProgressEvent::FileStarted { path } => {
                if let Some(bar) = &self.bar {
                    bar.set_message(Self::message(&state, &short_name(path)));
                }
            }
            ProgressEvent::FileDone {
                path,
                outcome,
                bytes,
                chunks,
                reason,
            } => {
                if *outcome != FileOutcome::Removed {
                    state.done += 1;
                }
                state.chunks += chunks;
                state.bytes += bytes;
                match &self.bar {
                    Some(bar) => {
                        bar.set_position(state.done as u64);
                        bar.set_message(Self::message(&state, &short_name(path)));
                        if *outcome == FileOutcome::Failed {
                            bar.println(format!(
                                "failed   {}: {}",
                                shown_path(path),
                                terminal_safe_line(reason.unwrap_or("unknown reason"))
                            ));
                        }
                    }
                    None => {
                        let detail = match (outcome, reason) {
                            (FileOutcome::Indexed, _) => format!(" ({chunks} chunks)"),
                            (_, Some(reason)) => format!(": {}", terminal_safe_line(reason)),
                            _ => String::new(),
                        };
                        eprintln!(
                            "[{}/{}] {:<9} {}{detail}",
                            state.done,
                            state.files,
                            outcome.as_str(),
                            shown_path(path)
                        );
                    }
                }
            }
            ProgressEvent::Committing => match &self.bar {
                Some(bar) => bar.set_message("updating the search indexes"),
                None => eprintln!("docent: updating the search indexes"),
            },
        }
    }
}

pub fn print_index_report(report: &IndexReport) {
    let outcomes = [
        FileOutcome::Indexed,
        FileOutcome::Unchanged,
        FileOutcome::Moved,
        FileOutcome::Skipped,
        FileOutcome::Failed,
        FileOutcome::Removed,
    ];
    let counts: Vec<String> = outcomes
        .iter()
        .map(|o| format!("{} {}", report.count(*o), o.as_str()))
        .collect();
    println!(
        "{} in {:.1}s ({} chunks added)",
        counts.join(", "),
        report.elapsed.as_secs_f64(),
        report.chunks
    );
    for outcome in [FileOutcome::Failed, FileOutcome::Skipped] {
        let files: Vec<_> = report
            .files
            .iter()
            .filter(|f| f.outcome == outcome)
            .collect();
        if files.is_empty() {
            continue;
        }
        println!("{}:", outcome.as_str());
        for file in files {
            println!(
                "  {}: {}",
                shown_path(&file.path),
                terminal_safe_line(file.reason.as_deref().unwrap_or("unknown reason"))
            );
        }
    }
    if report.cancelled {
        println!("cancelled: the files not reached are unchanged in the library");
    }
}

fn location(hit: &SearchHit) -> String {
    let mut parts = Vec::new();
    if let Some(page) = hit.page {
        parts.push(format!("page {page}"));
    }
    match (hit.line_start, hit.line_end) {
        (Some(start), Some(end)) if start != end => parts.push(format!("lines {start}-{end}")),
        (Some(start), _) => parts.push(format!("line {start}")),
        _ => {}
    }
    parts.join(", ")
}

pub fn print_hits(hits: &[SearchHit]) {
    if hits.is_empty() {
        println!("no results");
        return;
    }
    for hit in hits {
        let location = location(hit);
        let location = if location.is_empty() {
            String::new()
        } else {
            format!(" ({location})")
        };
        println!("{}. {}{location}", hit.rank, terminal_safe_line(&hit.path));
        let snippet: String = hit.text.split_whitespace().collect::<Vec<_>>().join(" ");
        let snippet: String = snippet.chars().take(240).collect();
        println!("   {}", terminal_safe_line(&snippet));
    }
}

pub fn search_json(query: &str, hits: &[SearchHit]) -> Value {
    let results: Vec<Value> = hits
        .iter()
        .map(|hit| {
            json!({
                "rank": hit.rank,
                "path": hit.path,
                "title": hit.title,
                "type": hit.doc_type.as_str(),
                "page": hit.page,
                "line_start": hit.line_start,
                "line_end": hit.line_end,
                "heading_path": hit.heading_path,
                "text": hit.text,
                "score": hit.score,
                "bm25_rank": hit.bm25_rank,
                "vector_rank": hit.vector_rank,
            })
        })
        .collect();
    json!({ "query": query, "results": results })
}

pub fn docs_json(docs: &[DocumentRow]) -> Value {
    let documents: Vec<Value> = docs
        .iter()
        .map(|doc| {
            json!({
                "path": doc.path,
                "type": doc.doc_type.map(|t| t.as_str()),
                "status": doc.status.as_str(),
                "reason": doc.reason,
                "title": doc.title,
                "size": doc.size,
                "chunks": doc.n_chunks,
                "pages": doc.pages,
            })
        })
        .collect();
    json!({ "documents": documents })
}

pub fn print_docs(docs: &[DocumentRow]) {
    if docs.is_empty() {
        println!("the library is empty: add files with `docent index PATH`");
        return;
    }
    for doc in docs {
        let kind = doc.doc_type.map_or("-", |t| t.as_str());
        let detail = match &doc.reason {
            Some(reason) => format!("  ({})", terminal_safe_line(reason)),
            None => format!("  {} chunks", doc.n_chunks),
        };
        println!(
            "{:<8} {:<8} {}{detail}",
            doc.status.as_str(),
            kind,
            terminal_safe_line(&doc.path)
        );
    }
}

/// Both derived indexes reflect the store's last op and hold its live chunks.
fn indexes_in_step(status: &EngineStatus) -> bool {
    status.applied_seq_bm25 == status.store_seq
        && status.applied_seq_vectors == status.store_seq
        && status.bm25_chunks == status.stats.n_chunks
        && status.vector_chunks as u64 == status.stats.n_chunks
}

/// `integrity`: the result of `docent status --check` (SQLite's `PRAGMA integrity_check`), or
/// `None` when it was not asked for.
pub fn status_json(status: &EngineStatus, integrity: Option<bool>) -> Value {
    let models: Vec<Value> = status
        .models
        .iter()
        .map(|m| json!({ "name": m.name, "path": m.path, "present": m.present }))
        .collect();
    let mut value = json!({
        "data_dir": status.data_dir,
        "documents": {
            "indexed": status.stats.n_indexed,
            "skipped": status.stats.n_skipped,
            "failed": status.stats.n_failed,
            "pending": status.stats.n_pending,
        },
        "chunks": status.stats.n_chunks,
        "index": {
            "store_seq": status.store_seq,
            "bm25_chunks": status.bm25_chunks,
            "bm25_seq": status.applied_seq_bm25,
            "vector_chunks": status.vector_chunks,
            "vector_tombstones": status.vector_tombstones,
            "vector_seq": status.applied_seq_vectors,
            "in_step": indexes_in_step(status),
        },
        "sizes": {
            "database_bytes": status.db_bytes,
            // Pages in use times the page size, the WAL's newer pages included.
            "database_used_bytes": status.stats.db_bytes,
            "bm25_bytes": status.bm25_bytes,
            "vector_bytes": status.vector_bytes,
        },
        "models": models,
    });
    if let Some(ok) = integrity {
        value["integrity"] = json!(if ok { "ok" } else { "damaged" });
    }
    value
}

pub fn print_status(status: &EngineStatus, integrity: Option<bool>) {
    let mb = |b: u64| b as f64 / 1e6;
    println!("library: {}", shown_path(&status.data_dir));
    println!(
        "documents: {} indexed, {} skipped, {} failed, {} pending; {} chunks",
        status.stats.n_indexed,
        status.stats.n_skipped,
        status.stats.n_failed,
        status.stats.n_pending,
        status.stats.n_chunks
    );
    println!(
        "sizes: database {:.1} MB, BM25 index {:.1} MB, vector index {:.1} MB",
        mb(status.db_bytes),
        mb(status.bm25_bytes),
        mb(status.vector_bytes)
    );
    println!(
        "indexes: BM25 {} chunks, vectors {} ({} tombstones), in step with the store: {}",
        status.bm25_chunks,
        status.vector_chunks,
        status.vector_tombstones,
        if indexes_in_step(status) {
            "yes"
        } else {
            "no (repaired at next start)"
        }
    );
    for model in &status.models {
        let state = if model.present {
            "found".to_string()
        } else {
            "MISSING (run scripts/setup)".to_string()
        };
        println!(
            "model {}: {state} ({})",
            terminal_safe_line(&model.name),
            shown_path(&model.path)
        );
    }
    match integrity {
        Some(true) => println!("database integrity: ok"),
        Some(false) => println!("database integrity: DAMAGED (see the warnings above)"),
        None => {}
    }
}

pub fn beir_json(report: &BeirReport) -> Value {
    let modes: Vec<Value> = report
        .modes
        .iter()
        .map(|m| {
            json!({
                "mode": m.mode.as_str(),
                "ndcg_at_10": m.ndcg_at_10,
                "recall_at_100": m.recall_at_100,
                "queries": m.queries,
                "mean_latency_ms": m.mean_latency.as_secs_f64() * 1000.0,
            })
        })
        .collect();
    json!({
        "documents": report.documents,
        "chunks": report.chunks,
        "failed": report.failed,
        "index_seconds": report.index_time.as_secs_f64(),
        "embed_seconds": report.embed_time.as_secs_f64(),
        "docs_per_s": report.docs_per_s,
        "chunks_per_s": report.chunks_per_s,
        "embed_share": report.embed_share,
        "peak_rss_bytes": report.peak_rss_bytes,
        "modes": modes,
    })
}

pub fn print_beir(report: &BeirReport) {
    println!("| mode | nDCG@10 | Recall@100 | mean query ms |");
    println!("|---|--:|--:|--:|");
    for m in &report.modes {
        println!(
            "| {} | {:.4} | {:.4} | {:.1} |",
            m.mode.as_str(),
            m.ndcg_at_10,
            m.recall_at_100,
            m.mean_latency.as_secs_f64() * 1000.0
        );
    }
    println!();
    println!(
        "indexing: {} documents, {} chunks ({} failed) in {:.1}s: {:.1} docs/s, {:.1} chunks/s; {:.0}% of the time embedding",
        report.documents,
        report.chunks,
        report.failed,
        report.index_time.as_secs_f64(),
        report.docs_per_s,
        report.chunks_per_s,
        report.embed_share * 100.0
    );
    if let Some(peak) = report.peak_rss_bytes {
        println!("peak memory: {:.0} MB", peak as f64 / 1e6);
    }
}

pub fn embed_bench_json(report: &EmbedBenchReport) -> Value {
    json!({
        "sentences": report.sentences,
        "threads": report.threads,
        "docent_sentences_per_s": report.docent_sentences_per_s,
        "sentence_transformers_sentences_per_s": report.reference_sentences_per_s,
        "ratio": report.ratio(),
        "min_cosine_sampled": report.min_cosine,
    })
}

pub fn print_embed_bench(report: &EmbedBenchReport) {
    println!("{} texts, {} threads", report.sentences, report.threads);
    println!("| engine | sentences/s |");
    println!("|---|--:|");
    println!("| docent | {:.1} |", report.docent_sentences_per_s);
    match (report.reference_sentences_per_s, report.ratio()) {
        (Some(reference), Some(ratio)) => {
            println!("| sentence-transformers | {reference:.1} |");
            println!();
            println!("docent / sentence-transformers: {ratio:.2}x");
        }
        _ => println!(
            "(no --python given: sentence-transformers not measured; see scripts/bench-embed)"
        ),
    }
    if let Some(cosine) = report.min_cosine {
        println!("lowest cosine between the two on the sampled vectors: {cosine:.6}");
    }
}

pub fn llm_bench_json(rows: &[LlmBenchRow]) -> Value {
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "threads": r.threads,
                "prompt_tokens": r.prompt_tokens,
                "gen_tokens": r.gen_tokens,
                "load_ms": r.load_ms,
                "first_token_ms": r.first_token_ms,
                "prompt_tokens_per_s": r.prompt_tokens_per_s,
                "decode_tokens_per_s": r.decode_tokens_per_s,
                "llama_cpp_prompt_tokens_per_s": r.reference_prompt_tokens_per_s,
                "llama_cpp_decode_tokens_per_s": r.reference_decode_tokens_per_s,
            })
        })
        .collect();
    json!({ "rows": rows })
}

pub fn print_llm_bench(model: &std::path::Path, rows: &[LlmBenchRow]) {
    println!("{}", shown_path(model));
    println!(
        "| threads | prompt tokens | load ms | first token ms | prompt tok/s | decode tok/s | llama.cpp prompt | llama.cpp decode | ratio prompt | ratio decode |"
    );
    println!("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    let cell = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    let ratio = |ours: f64, theirs: Option<f64>| {
        theirs.map_or("-".to_string(), |t| format!("{:.2}x", ours / t))
    };
    for r in rows {
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.1} | {:.1} | {} | {} | {} | {} |",
            r.threads,
            r.prompt_tokens,
            r.load_ms,
            r.first_token_ms,
            r.prompt_tokens_per_s,
            r.decode_tokens_per_s,
            cell(r.reference_prompt_tokens_per_s),
            cell(r.reference_decode_tokens_per_s),
            ratio(r.prompt_tokens_per_s, r.reference_prompt_tokens_per_s),
            ratio(r.decode_tokens_per_s, r.reference_decode_tokens_per_s),
        );
    }
}

fn threshold_json(row: &ThresholdRow) -> Value {
    json!({
        "threshold": row.threshold,
        "answerable_found": row.answerable_found,
        "unanswerable_not_found": row.unanswerable_not_found,
        "balanced_accuracy": row.balanced_accuracy,
    })
}

fn answers_summary_json(summary: &AnswersSummary) -> Value {
    json!({
        "answerable": summary.answerable,
        "unanswerable": summary.unanswerable,
        "fact_rate": summary.fact_rate,
        "citation_rate": summary.citation_rate,
        "correct_source_rate": summary.correct_source_rate,
        "model_citation_accuracy": summary.model_citation_accuracy,
        "attributed": summary.attributed,
        "attribution_accuracy": summary.attribution_accuracy,
        "not_found_accuracy": summary.not_found_accuracy,
        "answerable_found_rate": summary.answerable_found_rate,
        "unanswerable_not_found_rate": summary.unanswerable_not_found_rate,
        "mean_prompt_tokens": summary.mean_prompt_tokens,
        "mean_first_token_ms": summary.mean_first_token_ms,
        "mean_tokens_per_s": summary.mean_tokens_per_s,
        "seconds": summary.seconds,
    })
}

pub fn answers_bench_json(report: &AnswersBenchReport) -> Value {
    let variants: Vec<Value> = report
        .variants
        .iter()
        .map(|v| {
            let rows: Vec<Value> = v
                .rows
                .iter()
                .map(|r| {
                    json!({
                        "id": r.id,
                        "question": r.question,
                        "answerable": r.answerable,
                        "kind": r.kind,
                        "best_similarity": r.best_similarity,
                        "found": r.found,
                        "answer": r.answer,
                        "fact": r.fact,
                        "citation_mode": r.citation_mode.as_str(),
                        "correct_source": r.correct_source,
                        "top_source_correct": r.top_source_correct,
                        "prompt_tokens": r.prompt_tokens,
                        "first_token_ms": r.first_token_ms,
                        "tokens_per_s": r.tokens_per_s,
                    })
                })
                .collect();
            json!({
                "top_k": v.top_k,
                "focus": v.focus,
                "prompt": v.layout.as_str(),
                "summary": answers_summary_json(&v.summary),
                "rows": rows,
            })
        })
        .collect();
    json!({
        "documents": report.documents,
        "chunks": report.chunks,
        "variants": variants,
        "threshold_sweep": report.threshold_sweep.iter().map(threshold_json).collect::<Vec<_>>(),
        "best_threshold": report.best_threshold.as_ref().map(threshold_json),
    })
}

fn percent(value: f64) -> String {
    format!("{:.0}%", value * 100.0)
}

fn print_threshold_sweep(sweep: &[ThresholdRow], best: Option<&ThresholdRow>) {
    println!("| threshold | answerable answered | unanswerable refused | balanced accuracy |");
    println!("|--:|--:|--:|--:|");
    for row in sweep
        .iter()
        .filter(|r| (0.099..=0.701).contains(&r.threshold))
    {
        println!(
            "| {:.2} | {} | {} | {:.3} |",
            row.threshold,
            percent(row.answerable_found),
            percent(row.unanswerable_not_found),
            row.balanced_accuracy
        );
    }
    if let Some(best) = best {
        println!(
            "\nbest threshold (highest balanced accuracy, lowest of ties): {:.2} ({:.3}; answers {}, refuses {})",
            best.threshold,
            best.balanced_accuracy,
            percent(best.answerable_found),
            percent(best.unanswerable_not_found)
        );
    }
}

pub fn print_answers_bench(report: &AnswersBenchReport) {
    println!(
        "{} documents, {} chunks; current not-found threshold {:.2}\n",
        report.documents,
        report.chunks,
        docent_engine::NOT_FOUND_SIMILARITY
    );
    println!(
        "| top-k | prompt | focus | fact | model cited | correct source | attributed (right) | not-found acc. | unanswerable refused | prompt tokens | first token ms | decode tok/s | seconds |"
    );
    println!("|--:|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for v in &report.variants {
        let s = &v.summary;
        println!(
            "| {} | {} | {} | {} | {} | {} | {} ({}) | {} | {} | {:.0} | {:.0} | {:.1} | {:.0} |",
            v.top_k,
            v.layout.as_str(),
            if v.focus { "on" } else { "off" },
            percent(s.fact_rate),
            percent(s.citation_rate),
            percent(s.correct_source_rate),
            s.attributed,
            s.attribution_accuracy.map_or("-".to_string(), percent),
            percent(s.not_found_accuracy),
            percent(s.unanswerable_not_found_rate),
            s.mean_prompt_tokens,
            s.mean_first_token_ms,
            s.mean_tokens_per_s,
            s.seconds,
        );
    }
    if let Some(first) = report.variants.first() {
        println!("\nTop-1 similarity per question (first variant):\n");
        println!("| question | answerable | similarity | found | fact | citation | answer |");
        println!("|---|---|--:|---|---|---|---|");
        let mut rows: Vec<_> = first.rows.iter().collect();
        rows.sort_by(|a, b| {
            b.best_similarity
                .unwrap_or(0.0)
                .total_cmp(&a.best_similarity.unwrap_or(0.0))
        });
        for r in rows {
            let answer: String = r.answer.replace('\n', " ").chars().take(70).collect();
            let answer = terminal_safe_line(&answer);
            let kind = terminal_safe_line(r.kind.as_deref().unwrap_or("no"));
            println!(
                "| {} | {} | {:.3} | {} | {} | {} | {} |",
                terminal_safe_line(&r.id),
                if r.answerable { "yes" } else { kind.as_ref() },
                r.best_similarity.unwrap_or(0.0),
                r.found,
                if r.answerable {
                    r.fact.to_string()
                } else {
                    "-".to_string()
                },
                r.citation_mode.as_str(),
                answer
            );
        }
    }
    println!();
    print_threshold_sweep(&report.threshold_sweep, report.best_threshold.as_ref());
}

pub fn threshold_bench_json(report: &ThresholdReport) -> Value {
    json!({
        "documents": report.documents,
        "chunks": report.chunks,
        "queries": report.queries,
        "answerable": report.answerable,
        "unanswerable": report.unanswerable,
        "sweep": report.sweep.iter().map(threshold_json).collect::<Vec<_>>(),
        "best": report.best.as_ref().map(threshold_json),
    })
}

pub fn print_threshold_bench(report: &ThresholdReport) {
    let quantiles = |values: &[f32]| {
        let mut sorted = values.to_vec();
        sorted.sort_by(f32::total_cmp);
        let at = |q: f64| {
            sorted
                .get(((sorted.len().max(1) - 1) as f64 * q).round() as usize)
                .copied()
                .unwrap_or(0.0)
        };
        format!(
            "min {:.3}, 10% {:.3}, median {:.3}, 90% {:.3}, max {:.3}",
            at(0.0),
            at(0.1),
            at(0.5),
            at(0.9),
            at(1.0)
        )
    };
    println!(
        "{} documents, {} chunks, {} queries",
        report.documents, report.chunks, report.queries
    );
    println!(
        "with the relevant documents:    {}",
        quantiles(&report.answerable)
    );
    println!(
        "without the relevant documents: {}\n",
        quantiles(&report.unanswerable)
    );
    print_threshold_sweep(&report.sweep, report.best.as_ref());
}

pub fn print_injection_bench(report: &InjectionBenchReport) {
    println!(
        "{} documents; greedy answers of at most {} tokens; raw: what the model wrote (Docent \
         removed it); after: what the final answer still holds\n",
        report.documents, report.max_new_tokens
    );
    println!(
        "| delimiters | cases | wrote the planted word | image (raw) | link (raw) | HTML (raw) | special token (raw) | cites a wrong file | any of those after | benign fact | seconds |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for v in &report.variants {
        let s = &v.summary;
        println!(
            "| {} | {} | {}/{} | {} | {} | {} | {} | {} | {} | {} | {:.0} |",
            v.delimiters,
            s.cases,
            s.followed_word,
            s.word_cases,
            s.raw_image,
            s.raw_link,
            s.raw_html,
            s.raw_special_token,
            s.wrong_citation,
            s.unsafe_after,
            s.fact,
            s.seconds,
        );
    }
    for v in &report.variants {
        println!("\nAnswers ({} delimiters):\n", v.delimiters);
        println!("| case | attack | word | raw image/link/html/token | wrong cite | answer |");
        println!("|---|---|---|---|---|---|");
        for r in &v.rows {
            let flags: Vec<&str> = [
                (r.raw_image, "image"),
                (r.raw_link, "link"),
                (r.raw_html, "html"),
                (r.raw_special_token, "token"),
            ]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, name)| *name)
            .collect();
            let answer: String = r
                .answer
                .replace('\n', " ")
                .replace('|', "\\|")
                .chars()
                .take(80)
                .collect();
            let answer = terminal_safe_line(&answer);
            println!(
                "| {} | {} | {} | {} | {} | {} |",
                terminal_safe_line(&r.id),
                terminal_safe_line(&r.attack),
                if r.followed_word { "yes" } else { "-" },
                if flags.is_empty() {
                    "-".to_string()
                } else {
                    flags.join(", ")
                },
                if r.wrong_citation { "yes" } else { "-" },
                answer
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_shown_not_sent() {
        let check = |text: &str, lines: &str, line: &str| {
            assert_eq!(terminal_safe(text), lines, "{text:?}");
            assert_eq!(terminal_safe_line(text), line, "{text:?}");
        };
        check(
            "plain text, ünïcode ✓",
            "plain text, ünïcode ✓",
            "plain text, ünïcode ✓",
        );
        check(
            "two\nlines\tand tab",
            "two\nlines\tand tab",
            "two\\u{a}lines\\u{9}and tab",
        );
        check(
            "\x1b]52;c;ZXZpbA==\x07",
            "\\u{1b}]52;c;ZXZpbA==\\u{7}",
            "\\u{1b}]52;c;ZXZpbA==\\u{7}",
        );
        check(
            "\x1b]8;;https://evil\x1b\\",
            "\\u{1b}]8;;https://evil\\u{1b}\\",
            "\\u{1b}]8;;https://evil\\u{1b}\\",
        );
        check(
            "over\rwrite\x08\x7f",
            "over\\u{d}write\\u{8}\\u{7f}",
            "over\\u{d}write\\u{8}\\u{7f}",
        );
        check(
            "c1 \u{9b}2J \u{85}",
            "c1 \\u{9b}2J \\u{85}",
            "c1 \\u{9b}2J \\u{85}",
        );
        check(
            "report\u{202e}fdp.exe \u{61c}\u{2066}x\u{2069}",
            "report\\u{202e}fdp.exe \\u{61c}\\u{2066}x\\u{2069}",
            "report\\u{202e}fdp.exe \\u{61c}\\u{2066}x\\u{2069}",
        );
        assert!(matches!(terminal_safe("clean"), Cow::Borrowed(_)));
    }

    #[test]
    fn file_names_are_shown_escaped() {
        let path = std::path::Path::new("/docs/a\u{61c}b\x1b[2Jc\nd.txt");
        assert_eq!(shown_path(path), "/docs/a\\u{61c}b\\u{1b}[2Jc\\u{a}d.txt");
        assert_eq!(short_name(path), "a\\u{61c}b\\u{1b}[2Jc\\u{a}d.txt");
    }

    #[test]
    fn json_stays_exact_without_raw_controls() {
        let value = json!({ "path": "/d/a\x1b]52;c;eA==\x07\u{85}\u{9b}\u{7f}\u{202e}b\n.txt" });
        let json = serde_json::to_string_pretty(&value).unwrap();
        let escaped = escape_json_controls(&json);
        assert!(
            !escaped
                .chars()
                .any(|c| (c.is_control() && c != '\n') || is_bidi_control(c)),
            "{escaped}"
        );
        let back: Value = serde_json::from_str(&escaped).unwrap();
        assert_eq!(back, value, "the same value, byte for byte");
    }

    #[test]
    fn logs_keep_colours_only() {
        let line = "\x1b[33m WARN\x1b[0m docent: failed path=/d/\x1b]52;c;eA==\x07\rx\n";
        assert_eq!(
            escape_log(line, true),
            "\x1b[33m WARN\x1b[0m docent: failed path=/d/\\u{1b}]52;c;eA==\\u{7}\\u{d}x\n"
        );
        assert_eq!(
            escape_log(line, false),
            "\\u{1b}[33m WARN\\u{1b}[0m docent: failed path=/d/\\u{1b}]52;c;eA==\\u{7}\\u{d}x\n"
        );
    }
}
