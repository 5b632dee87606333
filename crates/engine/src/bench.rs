//! `docent bench beir`: retrieval quality (nDCG@10, Recall@100) and indexing throughput on a
//! BEIR-layout data set, through the same pipeline users get (files on disk, worker parsing,
//! chunking, embedding, the store and both indexes).

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::pipeline::FileOutcome;
use crate::progress::{CancelFlag, Progress};
use crate::search::{SearchMode, SearchRequest};
use crate::{Engine, EngineConfig, EngineError};

mod answers;
mod injection;

pub use answers::{
    AnswerBenchRow, AnswersBenchConfig, AnswersBenchReport, AnswersSummary, AnswersVariant,
    ThresholdReport, ThresholdRow, bench_answers, bench_threshold,
};
pub use injection::{
    InjectionBenchConfig, InjectionBenchReport, InjectionRow, InjectionSummary, InjectionVariant,
    bench_injection, holds_active_content,
};

/// Scores of one retrieval mode over the test queries.
#[derive(Debug, Clone)]
pub struct ModeScores {
    pub mode: SearchMode,
    pub ndcg_at_10: f64,
    pub recall_at_100: f64,
    pub queries: usize,
    pub mean_latency: Duration,
}

#[derive(Debug, Clone)]
pub struct BeirReport {
    pub documents: usize,
    pub chunks: usize,
    pub failed: usize,
    pub index_time: Duration,
    pub embed_time: Duration,
    pub docs_per_s: f64,
    pub chunks_per_s: f64,
    /// Share of the indexing wall time spent embedding.
    pub embed_share: f64,
    pub peak_rss_bytes: Option<u64>,
    pub modes: Vec<ModeScores>,
}

#[derive(Deserialize)]
struct CorpusLine {
    #[serde(rename = "_id")]
    id: String,
    #[serde(default)]
    title: String,
    text: String,
}

#[derive(Deserialize)]
struct QueryLine {
    #[serde(rename = "_id")]
    id: String,
    text: String,
}

/// Indexes `beir_dir/corpus.jsonl` into `config.data_dir` (which should be a scratch folder)
/// and scores the `qrels/test.tsv` queries in every mode.
pub fn bench_beir(
    config: EngineConfig,
    beir_dir: &Path,
    progress: &dyn Progress,
) -> Result<BeirReport, EngineError> {
    let corpus_dir = config.data_dir.join("corpus");
    let file_to_id = write_corpus(&beir_dir.join("corpus.jsonl"), &corpus_dir)?;
    let queries = read_queries(&beir_dir.join("queries.jsonl"))?;
    let qrels = read_qrels(&beir_dir.join("qrels/test.tsv"))?;

    let engine = Engine::open(config)?;
    let report = engine.index_paths(
        std::slice::from_ref(&corpus_dir),
        progress,
        &CancelFlag::default(),
    )?;
    let index_time = report.elapsed;
    let indexed = report.count(FileOutcome::Indexed) + report.count(FileOutcome::Unchanged);

    let mut query_ids: Vec<&String> = qrels.keys().collect();
    query_ids.sort();
    let mut modes = Vec::new();
    for mode in [SearchMode::Bm25, SearchMode::Vector, SearchMode::Hybrid] {
        let mut ndcg = 0.0;
        let mut recall = 0.0;
        let mut latency = Duration::ZERO;
        let mut scored = 0;
        for query_id in &query_ids {
            let Some(text) = queries.get(*query_id) else {
                continue;
            };
            let relevant = &qrels[*query_id];
            let mut request = SearchRequest::new(text.as_str());
            request.top_k = 100;
            request.mode = mode;
            let started = Instant::now();
            let hits = engine.search(&request)?;
            latency += started.elapsed();
            let mut seen = HashSet::new();
            let ranked: Vec<&str> = hits
                .iter()
                .filter_map(|hit| {
                    let name = Path::new(&hit.path).file_name()?.to_str()?;
                    file_to_id.get(name).map(String::as_str)
                })
                .filter(|id| seen.insert(*id))
                .collect();
            ndcg += ndcg_at(&ranked, relevant, 10);
            recall += recall_at(&ranked, relevant, 100);
            scored += 1;
        }
        let n = scored.max(1) as f64;
        modes.push(ModeScores {
            mode,
            ndcg_at_10: ndcg / n,
            recall_at_100: recall / n,
            queries: scored,
            mean_latency: latency / scored.max(1) as u32,
        });
    }

    let secs = index_time.as_secs_f64().max(1e-9);
    Ok(BeirReport {
        documents: indexed,
        chunks: report.chunks,
        failed: report.count(FileOutcome::Failed),
        index_time,
        embed_time: report.embed_time,
        docs_per_s: report.count(FileOutcome::Indexed) as f64 / secs,
        chunks_per_s: report.chunks as f64 / secs,
        embed_share: report.embed_time.as_secs_f64() / secs,
        peak_rss_bytes: peak_rss_bytes(),
        modes,
    })
}

/// Writes each corpus entry as a Markdown file (title as the heading) and returns
/// file name -> corpus id.
fn write_corpus(corpus: &Path, dir: &Path) -> Result<HashMap<String, String>, EngineError> {
    write_corpus_filtered(corpus, dir, &mut |_| true)
}

/// [`write_corpus`] for the entries whose id `keep` accepts (called once per entry, in order).
fn write_corpus_filtered(
    corpus: &Path,
    dir: &Path,
    keep: &mut dyn FnMut(&str) -> bool,
) -> Result<HashMap<String, String>, EngineError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| EngineError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let reader = BufReader::new(std::fs::File::open(corpus).map_err(io(corpus))?);
    let mut file_to_id = HashMap::new();
    for (line_idx, line) in reader.lines().enumerate() {
        let line = line.map_err(io(corpus))?;
        if line.trim().is_empty() {
            continue;
        }
        let entry: CorpusLine = serde_json::from_str(&line).map_err(|e| {
            EngineError::Invalid(format!("{}:{}: {e}", corpus.display(), line_idx + 1))
        })?;
        if !keep(&entry.id) {
            continue;
        }
        let name = format!("{}.md", file_stem_for(&entry.id));
        let path = dir.join(&name);
        if !path.exists() {
            let mut file = std::fs::File::create(&path).map_err(io(&path))?;
            let body = if entry.title.trim().is_empty() {
                format!("{}\n", entry.text)
            } else {
                format!("# {}\n\n{}\n", entry.title.trim(), entry.text)
            };
            file.write_all(body.as_bytes()).map_err(io(&path))?;
        }
        file_to_id.insert(name, entry.id);
    }
    Ok(file_to_id)
}

/// A file name that round-trips any id: safe characters kept, anything else hex-escaped.
fn file_stem_for(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_string()
            } else {
                format!("%{:02x}", c as u32)
            }
        })
        .collect()
}

fn read_queries(path: &Path) -> Result<HashMap<String, String>, EngineError> {
    let text = std::fs::read_to_string(path).map_err(|source| EngineError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            serde_json::from_str::<QueryLine>(line)
                .map(|q| (q.id, q.text))
                .map_err(|e| EngineError::Invalid(format!("{}: {e}", path.display())))
        })
        .collect()
}

/// query id -> (corpus id -> relevance), skipping the header and zero grades.
fn read_qrels(path: &Path) -> Result<HashMap<String, HashMap<String, u32>>, EngineError> {
    let text = std::fs::read_to_string(path).map_err(|source| EngineError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut qrels: HashMap<String, HashMap<String, u32>> = HashMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        let [query, doc, grade] = fields[..] else {
            continue;
        };
        let Ok(grade) = grade.trim().parse::<u32>() else {
            continue; // the header line
        };
        if grade > 0 {
            qrels
                .entry(query.to_string())
                .or_default()
                .insert(doc.to_string(), grade);
        }
    }
    Ok(qrels)
}

/// nDCG with linear gains, as pytrec_eval computes `ndcg_cut`.
fn ndcg_at(ranked: &[&str], relevant: &HashMap<String, u32>, k: usize) -> f64 {
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .map(|(idx, id)| {
            let gain = relevant.get(*id).copied().unwrap_or(0) as f64;
            gain / ((idx + 2) as f64).log2()
        })
        .sum();
    let mut ideal: Vec<u32> = relevant.values().copied().collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(k)
        .enumerate()
        .map(|(idx, gain)| *gain as f64 / ((idx + 2) as f64).log2())
        .sum();
    if idcg == 0.0 { 0.0 } else { dcg / idcg }
}

fn recall_at(ranked: &[&str], relevant: &HashMap<String, u32>, k: usize) -> f64 {
    if relevant.is_empty() {
        return 0.0;
    }
    let found = ranked
        .iter()
        .take(k)
        .filter(|id| relevant.contains_key(**id))
        .count();
    found as f64 / relevant.len() as f64
}

/// The process's peak resident memory (Linux `VmHWM`).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Where `docent bench` puts its scratch data by default.
pub fn default_scratch_dir() -> PathBuf {
    std::env::temp_dir().join(format!("docent-bench-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(pairs: &[(&str, u32)]) -> HashMap<String, u32> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn ndcg_and_recall_match_hand_computed_values() {
        let relevant = rel(&[("a", 1), ("b", 1)]);
        assert!((ndcg_at(&["a", "b", "c"], &relevant, 10) - 1.0).abs() < 1e-12);
        // One hit at rank 2: (1/log2(3)) / (1 + 1/log2(3)).
        let expected = (1.0 / 3f64.log2()) / (1.0 + 1.0 / 3f64.log2());
        assert!((ndcg_at(&["x", "a"], &relevant, 10) - expected).abs() < 1e-12);
        assert_eq!(ndcg_at(&["x", "y"], &relevant, 10), 0.0);
        assert_eq!(recall_at(&["x", "a"], &relevant, 100), 0.5);
        assert_eq!(recall_at(&["x", "a"], &relevant, 1), 0.0);
    }

    #[test]
    fn file_stems_are_safe_and_distinct() {
        assert_eq!(file_stem_for("4983"), "4983");
        assert_eq!(file_stem_for("a/b"), "a%2fb");
        assert_ne!(file_stem_for("a.b"), file_stem_for("a_b"));
    }
}

/// The sentence-transformers side of `docent bench embed`, shipped inside the binary so the
/// benchmark needs only a Python with sentence-transformers (see `scripts/bench-embed`).
const SENTENCE_TRANSFORMERS_SCRIPT: &str = include_str!("../../../scripts/bench-embed-st.py");

/// Docent's embedder and, when a Python is given, sentence-transformers on the same texts and
/// thread count.
#[derive(Debug, Clone)]
pub struct EmbedBenchReport {
    pub sentences: usize,
    pub threads: usize,
    pub docent_sentences_per_s: f64,
    pub reference_sentences_per_s: Option<f64>,
    /// Lowest cosine between the two implementations' vectors over the compared sample.
    pub min_cosine: Option<f64>,
}

impl EmbedBenchReport {
    pub fn ratio(&self) -> Option<f64> {
        self.reference_sentences_per_s
            .map(|reference| self.docent_sentences_per_s / reference)
    }
}

pub fn bench_embed(
    models_dir: &Path,
    corpus: Option<&Path>,
    sentences: usize,
    threads: usize,
    python: Option<&Path>,
) -> Result<EmbedBenchReport, EngineError> {
    let model_dir = models_dir.join(crate::EMBED_MODEL_DIR);
    let texts = docent_embed::bench::sample_texts(corpus, sentences)?;
    let config = docent_embed::EmbedConfig {
        threads,
        ..docent_embed::EmbedConfig::default()
    };
    let embedder = docent_embed::BertEmbedder::load(&model_dir, config)?;
    let ours = docent_embed::bench::bench_candle(&embedder, &texts)?;
    let mut report = EmbedBenchReport {
        sentences: texts.len(),
        threads,
        docent_sentences_per_s: ours.sentences_per_s,
        reference_sentences_per_s: None,
        min_cosine: None,
    };
    if let Some(python) = python {
        let script =
            std::env::temp_dir().join(format!("docent-bench-embed-st-{}.py", std::process::id()));
        std::fs::write(&script, SENTENCE_TRANSFORMERS_SCRIPT).map_err(|source| {
            EngineError::Io {
                path: script.clone(),
                source,
            }
        })?;
        let reference =
            docent_embed::bench::run_reference(python, &script, &model_dir, &texts, threads);
        let _ = std::fs::remove_file(&script);
        let reference = reference?;
        report.reference_sentences_per_s = Some(reference.sentences_per_s);
        report.min_cosine = ours
            .vectors_sample
            .iter()
            .zip(&reference.vectors_sample)
            .map(|(a, b)| cosine(a, b))
            .reduce(f64::min);
    }
    Ok(report)
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b)).max(1e-12)
}

/// One row of `docent bench llm`: Docent and, when a reference script is given, llama.cpp on the
/// same GGUF, prompt length and thread count.
#[derive(Debug, Clone)]
pub struct LlmBenchRow {
    pub threads: usize,
    pub prompt_tokens: usize,
    pub gen_tokens: usize,
    pub load_ms: f64,
    pub first_token_ms: f64,
    pub prompt_tokens_per_s: f64,
    pub decode_tokens_per_s: f64,
    pub reference_prompt_tokens_per_s: Option<f64>,
    pub reference_decode_tokens_per_s: Option<f64>,
}

/// Times the answer model at each thread count and prompt length; `reference` is
/// `scripts/bench-llm-reference` (llama.cpp's llama-bench), run back to back with Docent.
pub fn bench_llm(
    model: &Path,
    threads: &[usize],
    prompt_tokens: &[usize],
    gen_tokens: usize,
    reference: Option<&Path>,
) -> Result<Vec<LlmBenchRow>, EngineError> {
    let mut rows = Vec::new();
    for &n_threads in threads {
        for &n_prompt in prompt_tokens {
            let ours = docent_generate::bench::bench_llm(model, n_threads, n_prompt, gen_tokens)?;
            let theirs = reference
                .map(|script| {
                    docent_generate::bench::reference_llm(
                        script, model, n_threads, n_prompt, gen_tokens,
                    )
                })
                .transpose()?;
            rows.push(LlmBenchRow {
                threads: n_threads,
                prompt_tokens: n_prompt,
                gen_tokens,
                load_ms: ours.load_ms,
                first_token_ms: ours.first_token_ms,
                prompt_tokens_per_s: ours.prompt_tokens_per_s,
                decode_tokens_per_s: ours.decode_tokens_per_s,
                reference_prompt_tokens_per_s: theirs.as_ref().map(|r| r.prompt_tokens_per_s),
                reference_decode_tokens_per_s: theirs.as_ref().map(|r| r.decode_tokens_per_s),
            });
        }
    }
    Ok(rows)
}
