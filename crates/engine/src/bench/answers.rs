//! `docent bench answers`: answer quality on a small committed corpus and question set
//! (`tests/data/answers`), through `Engine::ask` exactly as users get it, and the data that
//! calibrates the not-found threshold. `docent bench threshold` measures the same threshold on
//! a BEIR data set, at a larger scale.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Deserialize;

use crate::ask::{Answer, AskRequest, CitationMode, PromptLayout};
use crate::pipeline::FileOutcome;
use crate::progress::{CancelFlag, Progress};
use crate::search::{SearchMode, SearchRequest};
use crate::{Engine, EngineConfig, EngineError};

#[derive(Debug, Deserialize)]
struct QuestionSet {
    questions: Vec<BenchQuestion>,
}

#[derive(Debug, Clone, Deserialize)]
struct BenchQuestion {
    id: String,
    question: String,
    answerable: bool,
    /// Accepted spellings of the expected fact (answerable questions).
    #[serde(default)]
    answers: Vec<String>,
    /// The expected file name (answerable questions).
    #[serde(default)]
    file: Option<String>,
    /// "related" or "off-topic" (unanswerable questions).
    #[serde(default)]
    kind: Option<String>,
}

/// What to run: the data set folder (`questions.json` and `corpus/`) and the variants.
#[derive(Debug, Clone)]
pub struct AnswersBenchConfig {
    pub dataset: PathBuf,
    pub top_k: Vec<usize>,
    pub focus: Vec<bool>,
    pub layouts: Vec<PromptLayout>,
    /// Longest answer, in tokens (short answers keep the run to a few minutes).
    pub max_new_tokens: usize,
}

/// One question under one variant.
#[derive(Debug, Clone)]
pub struct AnswerBenchRow {
    pub id: String,
    pub question: String,
    pub answerable: bool,
    /// "related" or "off-topic" for unanswerable questions.
    pub kind: Option<String>,
    pub best_similarity: Option<f32>,
    pub found: bool,
    pub answer: String,
    /// The answer contains one of the accepted strings (answerable questions).
    pub fact: bool,
    pub citation_mode: CitationMode,
    /// The model cited, or Docent attributed, the expected file (or, with neither, the top
    /// source is the expected file).
    pub correct_source: bool,
    /// The best-ranked source is the expected file.
    pub top_source_correct: bool,
    pub prompt_tokens: usize,
    pub first_token_ms: f64,
    pub tokens_per_s: f64,
}

/// Rates over one variant's rows. Rates over no questions are `None`.
#[derive(Debug, Clone, Default)]
pub struct AnswersSummary {
    pub answerable: usize,
    pub unanswerable: usize,
    /// Answerable questions whose answer contains the fact.
    pub fact_rate: f64,
    /// Answerable questions, answered, where the model wrote a valid `[n]`.
    pub citation_rate: f64,
    /// Answerable questions whose cited (else attributed, else top) source is the expected file.
    pub correct_source_rate: f64,
    /// Answerable questions whose model citations include the expected file, among those the
    /// model cited.
    pub model_citation_accuracy: Option<f64>,
    /// Answers with attributed sources, and how many of those include the expected file.
    pub attributed: usize,
    pub attribution_accuracy: Option<f64>,
    /// Every question: found for answerable ones, not found for unanswerable ones.
    pub not_found_accuracy: f64,
    pub answerable_found_rate: f64,
    pub unanswerable_not_found_rate: f64,
    pub mean_prompt_tokens: f64,
    pub mean_first_token_ms: f64,
    pub mean_tokens_per_s: f64,
    pub seconds: f64,
}

#[derive(Debug, Clone)]
pub struct AnswersVariant {
    pub top_k: usize,
    pub focus: bool,
    pub layout: PromptLayout,
    pub summary: AnswersSummary,
    pub rows: Vec<AnswerBenchRow>,
}

/// One candidate threshold: the share of answerable questions still answered and of
/// unanswerable ones refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThresholdRow {
    pub threshold: f32,
    pub answerable_found: f64,
    pub unanswerable_not_found: f64,
    pub balanced_accuracy: f64,
}

#[derive(Debug, Clone)]
pub struct AnswersBenchReport {
    pub documents: usize,
    pub chunks: usize,
    pub variants: Vec<AnswersVariant>,
    /// Over the top-1 similarities of the first variant's questions (retrieval is the same in
    /// every variant with the same top-k).
    pub threshold_sweep: Vec<ThresholdRow>,
    pub best_threshold: Option<ThresholdRow>,
}

/// Indexes `dataset/corpus` into `config.data_dir` (a scratch folder) and asks every question
/// of `dataset/questions.json` under every variant.
pub fn bench_answers(
    config: EngineConfig,
    bench: &AnswersBenchConfig,
    progress: &dyn Progress,
) -> Result<AnswersBenchReport, EngineError> {
    let questions_path = bench.dataset.join("questions.json");
    let text = std::fs::read_to_string(&questions_path).map_err(|source| EngineError::Io {
        path: questions_path.clone(),
        source,
    })?;
    let set: QuestionSet = serde_json::from_str(&text)
        .map_err(|e| EngineError::Invalid(format!("{}: {e}", questions_path.display())))?;

    let engine = Engine::open(config)?;
    let corpus = bench.dataset.join("corpus");
    let report = engine.index_paths(
        std::slice::from_ref(&corpus),
        progress,
        &CancelFlag::default(),
    )?;
    let failed = report.count(FileOutcome::Failed);
    if failed > 0 {
        return Err(EngineError::Invalid(format!(
            "{failed} file(s) of {} failed to index",
            corpus.display()
        )));
    }

    let mut variants = Vec::new();
    for &top_k in &bench.top_k {
        for &layout in &bench.layouts {
            for &focus in &bench.focus {
                let started = Instant::now();
                let mut rows = Vec::new();
                for question in &set.questions {
                    let mut request = AskRequest::new(question.question.as_str());
                    request.top_k = top_k;
                    request.focus = focus;
                    request.layout = layout;
                    request.sampling.max_new_tokens = bench.max_new_tokens;
                    let answer = engine.ask(&request, &mut |_| {}, &CancelFlag::default())?;
                    rows.push(score(question, &answer));
                }
                let mut summary = summarise(&rows);
                summary.seconds = started.elapsed().as_secs_f64();
                variants.push(AnswersVariant {
                    top_k,
                    focus,
                    layout,
                    summary,
                    rows,
                });
            }
        }
    }

    let (answerable, unanswerable) = match variants.first() {
        Some(variant) => similarities(&variant.rows),
        None => {
            // No variant asked anything: measure retrieval alone.
            let mut rows = Vec::new();
            for question in &set.questions {
                let mut request = SearchRequest::new(question.question.as_str());
                request.top_k = 5;
                request.mode = SearchMode::Hybrid;
                let best = engine
                    .search(&request)?
                    .iter()
                    .filter_map(|h| h.similarity)
                    .reduce(f32::max);
                rows.push((question.answerable, best.unwrap_or(0.0)));
            }
            split_similarities(&rows)
        }
    };
    let threshold_sweep = threshold_sweep(&answerable, &unanswerable, 0.05);
    let best_threshold = best_threshold(&answerable, &unanswerable);
    Ok(AnswersBenchReport {
        documents: report.count(FileOutcome::Indexed) + report.count(FileOutcome::Unchanged),
        chunks: report.chunks,
        variants,
        threshold_sweep,
        best_threshold,
    })
}

fn file_name(path: &str) -> &str {
    Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(path)
}

fn normalise(text: &str) -> String {
    text.to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn score(question: &BenchQuestion, answer: &Answer) -> AnswerBenchRow {
    let expected = question.file.as_deref();
    let is_expected = |path: &str| expected.is_some_and(|name| file_name(path) == name);
    let text = normalise(&answer.answer);
    let fact = question.answerable
        && answer.found
        && question
            .answers
            .iter()
            .any(|accepted| text.contains(&normalise(accepted)));
    let top_source_correct = answer.sources.first().is_some_and(|s| is_expected(&s.path));
    let correct_source = answer.found
        && match answer.citation_mode {
            CitationMode::Model => answer.citations.iter().any(|c| is_expected(&c.path)),
            CitationMode::Attributed => answer.attributed.iter().any(|c| is_expected(&c.path)),
            CitationMode::None => top_source_correct,
        };
    AnswerBenchRow {
        id: question.id.clone(),
        question: question.question.clone(),
        answerable: question.answerable,
        kind: question.kind.clone(),
        best_similarity: answer.best_similarity,
        found: answer.found,
        answer: answer.answer.clone(),
        fact,
        citation_mode: answer.citation_mode,
        correct_source: question.answerable && correct_source,
        top_source_correct: question.answerable && top_source_correct,
        prompt_tokens: answer.timings.prompt_tokens,
        first_token_ms: answer.timings.first_token_ms,
        tokens_per_s: answer.timings.tokens_per_s,
    }
}

fn rate(hits: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        hits as f64 / total as f64
    }
}

fn summarise(rows: &[AnswerBenchRow]) -> AnswersSummary {
    let answerable: Vec<&AnswerBenchRow> = rows.iter().filter(|r| r.answerable).collect();
    let unanswerable: Vec<&AnswerBenchRow> = rows.iter().filter(|r| !r.answerable).collect();
    let count = |rows: &[&AnswerBenchRow], keep: &dyn Fn(&AnswerBenchRow) -> bool| {
        rows.iter().filter(|r| keep(r)).count()
    };
    let answered: Vec<&AnswerBenchRow> = answerable.iter().copied().filter(|r| r.found).collect();
    let model_cited: Vec<&AnswerBenchRow> = answered
        .iter()
        .copied()
        .filter(|r| r.citation_mode == CitationMode::Model)
        .collect();
    let attributed: Vec<&AnswerBenchRow> = answered
        .iter()
        .copied()
        .filter(|r| r.citation_mode == CitationMode::Attributed)
        .collect();
    let generated: Vec<&AnswerBenchRow> = rows.iter().filter(|r| r.prompt_tokens > 0).collect();
    let mean = |value: &dyn Fn(&AnswerBenchRow) -> f64| {
        if generated.is_empty() {
            0.0
        } else {
            generated.iter().map(|r| value(r)).sum::<f64>() / generated.len() as f64
        }
    };
    let right_outcome = count(&answerable, &|r| r.found) + count(&unanswerable, &|r| !r.found);
    AnswersSummary {
        answerable: answerable.len(),
        unanswerable: unanswerable.len(),
        fact_rate: rate(count(&answerable, &|r| r.fact), answerable.len()),
        citation_rate: rate(model_cited.len(), answered.len()),
        correct_source_rate: rate(count(&answerable, &|r| r.correct_source), answerable.len()),
        model_citation_accuracy: (!model_cited.is_empty()).then(|| {
            rate(
                count(&model_cited, &|r| r.correct_source),
                model_cited.len(),
            )
        }),
        attributed: attributed.len(),
        attribution_accuracy: (!attributed.is_empty())
            .then(|| rate(count(&attributed, &|r| r.correct_source), attributed.len())),
        not_found_accuracy: rate(right_outcome, rows.len()),
        answerable_found_rate: rate(count(&answerable, &|r| r.found), answerable.len()),
        unanswerable_not_found_rate: rate(count(&unanswerable, &|r| !r.found), unanswerable.len()),
        mean_prompt_tokens: mean(&|r| r.prompt_tokens as f64),
        mean_first_token_ms: mean(&|r| r.first_token_ms),
        mean_tokens_per_s: mean(&|r| r.tokens_per_s),
        seconds: 0.0,
    }
}

fn similarities(rows: &[AnswerBenchRow]) -> (Vec<f32>, Vec<f32>) {
    let pairs: Vec<(bool, f32)> = rows
        .iter()
        .map(|r| (r.answerable, r.best_similarity.unwrap_or(0.0)))
        .collect();
    split_similarities(&pairs)
}

fn split_similarities(rows: &[(bool, f32)]) -> (Vec<f32>, Vec<f32>) {
    let answerable = rows.iter().filter(|r| r.0).map(|r| r.1).collect();
    let unanswerable = rows.iter().filter(|r| !r.0).map(|r| r.1).collect();
    (answerable, unanswerable)
}

fn threshold_row(answerable: &[f32], unanswerable: &[f32], threshold: f32) -> ThresholdRow {
    let found = answerable.iter().filter(|&&s| s >= threshold).count();
    let refused = unanswerable.iter().filter(|&&s| s < threshold).count();
    let answerable_found = rate(found, answerable.len());
    let unanswerable_not_found = rate(refused, unanswerable.len());
    ThresholdRow {
        threshold,
        answerable_found,
        unanswerable_not_found,
        balanced_accuracy: (answerable_found + unanswerable_not_found) / 2.0,
    }
}

/// The outcome at thresholds 0, `step`, 2 `step`, ... up to 1.
pub fn threshold_sweep(answerable: &[f32], unanswerable: &[f32], step: f32) -> Vec<ThresholdRow> {
    let steps = (1.0 / step).round() as usize;
    // Dividing (not multiplying by `step`) gives the f32 nearest each grid value.
    (0..=steps)
        .map(|idx| threshold_row(answerable, unanswerable, idx as f32 / steps as f32))
        .collect()
}

/// The threshold (on a 0.01 grid) that maximises balanced accuracy; among equals, the lowest,
/// since refusing an answerable question costs the user more than a "not in the sources" from
/// the model.
pub fn best_threshold(answerable: &[f32], unanswerable: &[f32]) -> Option<ThresholdRow> {
    if answerable.is_empty() || unanswerable.is_empty() {
        return None;
    }
    threshold_sweep(answerable, unanswerable, 0.01)
        .into_iter()
        .reduce(|best, row| {
            if row.balanced_accuracy > best.balanced_accuracy + 1e-12 {
                row
            } else {
                best
            }
        })
}

/// `docent bench threshold`: top-1 similarities of a BEIR data set's test queries with their
/// relevant documents in the corpus ("answerable") and with them left out ("unanswerable").
#[derive(Debug, Clone)]
pub struct ThresholdReport {
    pub documents: usize,
    pub chunks: usize,
    pub queries: usize,
    pub answerable: Vec<f32>,
    pub unanswerable: Vec<f32>,
    pub sweep: Vec<ThresholdRow>,
    pub best: Option<ThresholdRow>,
}

/// Indexes the documents relevant to the test queries plus `distractors` others (in corpus
/// order) from `beir_dir` into `config.data_dir` (a scratch folder), then, for each query,
/// takes the best vector similarity over the whole index and over the index without the
/// query's relevant documents: the same queries, answerable and not.
pub fn bench_threshold(
    config: EngineConfig,
    beir_dir: &Path,
    distractors: usize,
    progress: &dyn Progress,
) -> Result<ThresholdReport, EngineError> {
    let queries = super::read_queries(&beir_dir.join("queries.jsonl"))?;
    let qrels = super::read_qrels(&beir_dir.join("qrels/test.tsv"))?;
    let relevant_ids: HashSet<&str> = qrels
        .values()
        .flat_map(|docs| docs.keys().map(String::as_str))
        .collect();
    let mut n_distractors = 0;
    let corpus_dir = config.data_dir.join("corpus");
    let file_to_id =
        super::write_corpus_filtered(&beir_dir.join("corpus.jsonl"), &corpus_dir, &mut |id| {
            if relevant_ids.contains(id) {
                return true;
            }
            n_distractors += 1;
            n_distractors <= distractors
        })?;

    let engine = Engine::open(config)?;
    let report = engine.index_paths(
        std::slice::from_ref(&corpus_dir),
        progress,
        &CancelFlag::default(),
    )?;

    let mut query_ids: Vec<&String> = qrels.keys().collect();
    query_ids.sort();
    let mut answerable = Vec::new();
    let mut unanswerable = Vec::new();
    for query_id in query_ids {
        let Some(text) = queries.get(query_id) else {
            continue;
        };
        let relevant = &qrels[query_id];
        let mut request = SearchRequest::new(text.as_str());
        request.top_k = 100;
        request.mode = SearchMode::Vector;
        request.collapse_duplicates = false;
        let hits = engine.search(&request)?;
        let is_relevant = |path: &str| {
            file_to_id
                .get(file_name(path))
                .is_some_and(|id| relevant.contains_key(id))
        };
        let best_all = hits.iter().filter_map(|h| h.similarity).reduce(f32::max);
        let best_without = hits
            .iter()
            .filter(|h| !is_relevant(&h.path))
            .filter_map(|h| h.similarity)
            .reduce(f32::max);
        if let (Some(all), Some(without)) = (best_all, best_without) {
            answerable.push(all);
            unanswerable.push(without);
        }
    }
    Ok(ThresholdReport {
        documents: report.count(FileOutcome::Indexed) + report.count(FileOutcome::Unchanged),
        chunks: report.chunks,
        queries: answerable.len(),
        sweep: threshold_sweep(&answerable, &unanswerable, 0.05),
        best: best_threshold(&answerable, &unanswerable),
        answerable,
        unanswerable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_threshold_maximises_balanced_accuracy_and_prefers_answering() {
        // Separable: any threshold in (0.40, 0.50] is perfect; the lowest is taken.
        let best = best_threshold(&[0.5, 0.6, 0.7], &[0.2, 0.3, 0.4]).unwrap();
        assert!((best.threshold - 0.41).abs() < 1e-6, "{best:?}");
        assert_eq!(best.balanced_accuracy, 1.0);
        // Overlapping: 0.45 keeps 2/3 answerable and refuses 3/3 unanswerable (0.833); 0.31
        // keeps 3/3 and refuses 1/3 (0.667).
        let best = best_threshold(&[0.3, 0.5, 0.6], &[0.2, 0.4, 0.45]).unwrap();
        assert!((best.threshold - 0.46).abs() < 1e-6, "{best:?}");
        assert!((best.balanced_accuracy - 5.0 / 6.0).abs() < 1e-9);
        assert_eq!(best_threshold(&[], &[0.1]), None);
    }

    #[test]
    fn sweep_rows_count_both_sides() {
        let rows = threshold_sweep(&[0.5, 0.7], &[0.2, 0.6], 0.25);
        let at = |t: f32| {
            *rows
                .iter()
                .find(|r| (r.threshold - t).abs() < 1e-6)
                .unwrap()
        };
        assert_eq!(rows.len(), 5);
        assert_eq!(at(0.0).answerable_found, 1.0);
        assert_eq!(at(0.0).unanswerable_not_found, 0.0);
        assert_eq!(at(0.5).answerable_found, 1.0);
        assert_eq!(at(0.5).unanswerable_not_found, 0.5);
        assert_eq!(at(0.75).answerable_found, 0.0);
        assert_eq!(at(0.75).unanswerable_not_found, 1.0);
    }

    fn row(
        answerable: bool,
        found: bool,
        fact: bool,
        mode: CitationMode,
        correct: bool,
    ) -> AnswerBenchRow {
        AnswerBenchRow {
            id: String::new(),
            question: String::new(),
            answerable,
            kind: None,
            best_similarity: Some(0.5),
            found,
            answer: String::new(),
            fact,
            citation_mode: mode,
            correct_source: correct,
            top_source_correct: correct,
            prompt_tokens: if found { 100 } else { 0 },
            first_token_ms: 10.0,
            tokens_per_s: 50.0,
        }
    }

    #[test]
    fn summary_rates_use_the_right_denominators() {
        let rows = [
            row(true, true, true, CitationMode::Model, true),
            row(true, true, false, CitationMode::Attributed, false),
            row(true, false, false, CitationMode::None, false),
            row(false, false, false, CitationMode::None, false),
            row(false, true, false, CitationMode::None, false),
        ];
        let summary = summarise(&rows);
        assert_eq!((summary.answerable, summary.unanswerable), (3, 2));
        assert!((summary.fact_rate - 1.0 / 3.0).abs() < 1e-9);
        // Two answerable questions were answered; one was cited by the model.
        assert_eq!(summary.citation_rate, 0.5);
        assert_eq!(summary.model_citation_accuracy, Some(1.0));
        assert_eq!(summary.attributed, 1);
        assert_eq!(summary.attribution_accuracy, Some(0.0));
        // Right outcomes: two answerable found, one unanswerable refused.
        assert!((summary.not_found_accuracy - 3.0 / 5.0).abs() < 1e-9);
        assert_eq!(summary.unanswerable_not_found_rate, 0.5);
        assert_eq!(summary.mean_prompt_tokens, 100.0);
    }

    #[test]
    fn the_committed_question_set_parses_and_names_corpus_files() {
        let dataset = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/answers");
        let text = std::fs::read_to_string(dataset.join("questions.json")).unwrap();
        let set: QuestionSet = serde_json::from_str(&text).unwrap();
        let mut ids = HashSet::new();
        for question in &set.questions {
            assert!(
                ids.insert(question.id.as_str()),
                "duplicate id {}",
                question.id
            );
            if question.answerable {
                let file = question
                    .file
                    .as_deref()
                    .expect("answerable questions name a file");
                assert!(dataset.join("corpus").join(file).is_file(), "{file}");
                assert!(!question.answers.is_empty(), "{}", question.id);
                let body = std::fs::read_to_string(dataset.join("corpus").join(file)).unwrap();
                let body = normalise(&body);
                assert!(
                    question
                        .answers
                        .iter()
                        .any(|a| body.contains(&normalise(a))),
                    "{}: no accepted answer appears in {file}",
                    question.id
                );
            } else {
                assert!(question.file.is_none() && question.answers.is_empty());
            }
        }
        assert!(set.questions.iter().filter(|q| q.answerable).count() >= 25);
        assert!(set.questions.iter().filter(|q| !q.answerable).count() >= 10);
    }
}
