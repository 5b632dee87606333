//! What the CLI prints: progress, tables and the stable JSON shapes documented in the README.

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

pub fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON values always serialise")
    );
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
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
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
                                path.display(),
                                reason.unwrap_or("unknown reason")
                            ));
                        }
                    }
                    None => {
                        let detail = match (outcome, reason) {
                            (FileOutcome::Indexed, _) => format!(" ({chunks} chunks)"),
                            (_, Some(reason)) => format!(": {reason}"),
                            _ => String::new(),
                        };
                        eprintln!(
                            "[{}/{}] {:<9} {}{detail}",
                            state.done,
                            state.files,
                            outcome.as_str(),
                            path.display()
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
                file.path.display(),
                file.reason.as_deref().unwrap_or("unknown reason")
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
        println!("{}. {}{location}", hit.rank, hit.path);
        let snippet: String = hit.text.split_whitespace().collect::<Vec<_>>().join(" ");
        let snippet: String = snippet.chars().take(240).collect();
        println!("   {snippet}");
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
            Some(reason) => format!("  ({reason})"),
            None => format!("  {} chunks", doc.n_chunks),
        };
        println!(
            "{:<8} {:<8} {}{detail}",
            doc.status.as_str(),
            kind,
            doc.path
        );
    }
}

pub fn status_json(status: &EngineStatus) -> Value {
    let models: Vec<Value> = status
        .models
        .iter()
        .map(|m| json!({ "name": m.name, "path": m.path, "present": m.present }))
        .collect();
    json!({
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
        },
        "sizes": {
            "database_bytes": status.db_bytes,
            "bm25_bytes": status.bm25_bytes,
            "vector_bytes": status.vector_bytes,
        },
        "models": models,
    })
}

pub fn print_status(status: &EngineStatus) {
    let mb = |b: u64| b as f64 / 1e6;
    println!("library: {}", status.data_dir.display());
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
        if status.applied_seq_bm25 == status.store_seq
            && status.applied_seq_vectors == status.store_seq
        {
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
        println!("model {}: {state} ({})", model.name, model.path.display());
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
    println!("{}", model.display());
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
            println!(
                "| {} | {} | {:.3} | {} | {} | {} | {} |",
                r.id,
                if r.answerable {
                    "yes"
                } else {
                    r.kind.as_deref().unwrap_or("no")
                },
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
            println!(
                "| {} | {} | {} | {} | {} | {} |",
                r.id,
                r.attack,
                if r.followed_word { "yes" } else { "-" },
                if flags.is_empty() { "-".to_string() } else { flags.join(", ") },
                if r.wrong_citation { "yes" } else { "-" },
                answer
            );
        }
    }
}
