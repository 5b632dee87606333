//! Pieces of `docent bench embed`: deterministic sample texts, timing an [`Embedder`], and
//! running the sentence-transformers reference (`scripts/bench-embed-st.py`, in the virtualenv
//! that `scripts/bench-venv` makes) as a subprocess so both speeds can be printed side by side.
//!
//! Both sides embed the same texts after a warm-up, with the same thread count; compare them
//! in alternation and more than once on a machine that other work shares, since either side
//! slows down when another program takes a core (the crate's `bench_embed` example does this).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::{EmbedError, Embedder};

/// Texts per chunk: the benchmark's "sentences" are 40 to 60 words long.
const MIN_WORDS: usize = 40;
const MAX_WORDS: usize = 60;

/// Dimensions and vectors kept from each side to compare their output.
const SAMPLE_DIMS: usize = 8;
const SAMPLE_VECTORS: usize = 3;

/// `n` deterministic texts of 40 to 60 words. With `corpus` (a BEIR-style JSON-lines file such
/// as SciFact's `corpus.jsonl`, field `text`), the texts are consecutive word chunks of the
/// documents, in file order; pseudo-English fills up whatever the corpus does not cover.
pub fn sample_texts(corpus: Option<&Path>, n: usize) -> Result<Vec<String>, EmbedError> {
    let mut texts = match corpus {
        Some(path) => corpus_chunks(path, n)?,
        None => Vec::new(),
    };
    let mut generator = PseudoEnglish::new(texts.len() as u64);
    while texts.len() < n {
        let n_words = chunk_words(texts.len());
        texts.push(generator.text(n_words));
    }
    Ok(texts)
}

/// The word count of chunk `idx`: cycles through 40..=60 so lengths vary but repeat exactly.
fn chunk_words(idx: usize) -> usize {
    MIN_WORDS + (idx * 7) % (MAX_WORDS - MIN_WORDS + 1)
}

fn corpus_chunks(path: &Path, n: usize) -> Result<Vec<String>, EmbedError> {
    #[derive(serde::Deserialize)]
    struct CorpusLine {
        #[serde(default)]
        text: String,
    }
    let content = std::fs::read_to_string(path).map_err(|source| EmbedError::WithPath {
        path: path.to_path_buf(),
        source,
    })?;
    let mut chunks = Vec::with_capacity(n);
    for line in content.lines().filter(|line| !line.trim().is_empty()) {
        let parsed: CorpusLine =
            serde_json::from_str(line).map_err(|source| EmbedError::BadConfig {
                path: path.to_path_buf(),
                source,
            })?;
        let words: Vec<&str> = parsed.text.split_whitespace().collect();
        let mut start = 0;
        loop {
            if chunks.len() == n {
                return Ok(chunks);
            }
            let n_words = chunk_words(chunks.len());
            // A document's tail shorter than the minimum is dropped rather than padded.
            if words.len() - start < MIN_WORDS {
                break;
            }
            let end = (start + n_words).min(words.len());
            chunks.push(words[start..end].join(" "));
            start = end;
        }
    }
    Ok(chunks)
}

/// A deterministic generator of plausible English-looking prose (a fixed linear congruential
/// sequence over a small vocabulary), so runs compare on identical texts without any data file.
struct PseudoEnglish {
    state: u64,
}

const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "a",
    "is",
    "that",
    "for",
    "it",
    "as",
    "was",
    "with",
    "be",
    "by",
    "on",
    "not",
    "he",
    "this",
    "are",
    "or",
    "his",
    "from",
    "at",
    "which",
    "but",
    "have",
    "an",
    "had",
    "they",
    "you",
    "were",
    "their",
    "one",
    "all",
    "we",
    "can",
    "her",
    "has",
    "there",
    "been",
    "if",
    "more",
    "when",
    "will",
    "would",
    "who",
    "so",
    "no",
    "study",
    "cells",
    "patients",
    "protein",
    "expression",
    "results",
    "analysis",
    "increased",
    "effect",
    "treatment",
    "model",
    "data",
    "method",
    "system",
    "growth",
    "level",
    "response",
    "function",
    "disease",
    "clinical",
    "significant",
    "observed",
    "associated",
    "between",
    "during",
    "after",
    "however",
    "these",
    "within",
    "factor",
    "activity",
    "human",
    "mice",
    "gene",
    "signal",
    "pathway",
    "cancer",
    "risk",
    "population",
    "sample",
    "measured",
    "compared",
    "reduced",
    "higher",
    "lower",
    "structure",
    "process",
    "network",
    "memory",
    "language",
    "library",
    "document",
    "search",
    "answer",
    "question",
    "history",
    "river",
    "mountain",
    "city",
    "government",
    "market",
    "energy",
    "water",
    "climate",
    "research",
    "evidence",
    "theory",
    "experiment",
    "university",
    "computer",
    "software",
    "algorithm",
    "performance",
    "quality",
    "design",
    "development",
    "community",
    "school",
];

impl PseudoEnglish {
    fn new(seed: u64) -> Self {
        Self {
            state: seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407),
        }
    }

    fn next(&mut self) -> usize {
        self.state = self
            .state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.state >> 33) as usize
    }

    fn text(&mut self, n_words: usize) -> String {
        let mut text = String::new();
        let mut sentence_len = 0;
        for word_idx in 0..n_words {
            let word = WORDS[self.next() % WORDS.len()];
            if sentence_len == 0 {
                if word_idx > 0 {
                    text.push(' ');
                }
                let mut chars = word.chars();
                if let Some(first) = chars.next() {
                    text.extend(first.to_uppercase());
                    text.push_str(chars.as_str());
                }
            } else {
                text.push(' ');
                text.push_str(word);
            }
            sentence_len += 1;
            let last_word = word_idx + 1 == n_words;
            if last_word || (sentence_len >= 6 && self.next().is_multiple_of(8)) {
                text.push('.');
                sentence_len = 0;
            } else if self.next().is_multiple_of(15) {
                text.push(',');
            }
        }
        text
    }
}

/// The speed of one run, and the start of its output to compare with another implementation.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct BenchResult {
    pub sentences_per_s: f64,
    pub seconds: f64,
    /// The first 8 dimensions of the first 3 vectors.
    pub vectors_sample: Vec<Vec<f32>>,
}

/// Times `embedder` on `texts` after one warm-up batch (the first 32 texts).
pub fn bench_candle(embedder: &dyn Embedder, texts: &[String]) -> Result<BenchResult, EmbedError> {
    let text_refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    embedder.embed(&text_refs[..text_refs.len().min(32)])?;
    let start = Instant::now();
    let vectors = embedder.embed(&text_refs)?;
    let seconds = start.elapsed().as_secs_f64();
    Ok(BenchResult {
        sentences_per_s: texts.len() as f64 / seconds.max(1e-9),
        seconds,
        vectors_sample: vectors_sample(&vectors),
    })
}

fn vectors_sample(vectors: &[Vec<f32>]) -> Vec<Vec<f32>> {
    vectors
        .iter()
        .take(SAMPLE_VECTORS)
        .map(|v| v.iter().take(SAMPLE_DIMS).copied().collect())
        .collect()
}

/// What `scripts/bench-embed-st.py` prints.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct ReferenceResult {
    pub sentences_per_s: f64,
    pub seconds: f64,
    /// CPU time of the reference process over the timed run, all threads together, when the
    /// script reports it.
    #[serde(default)]
    pub cpu_seconds: Option<f64>,
    pub threads: usize,
    /// The first 8 dimensions of the first 3 vectors.
    pub vectors_sample: Vec<Vec<f32>>,
}

/// Runs the sentence-transformers benchmark script with `python` (the bench virtualenv's, see
/// `scripts/bench-venv`) on the same texts, offline, and parses its JSON line.
pub fn run_reference(
    python: &Path,
    script: &Path,
    model_dir: &Path,
    texts: &[String],
    threads: usize,
) -> Result<ReferenceResult, EmbedError> {
    let texts_file = TempTextsFile::write(texts)?;
    let output = Command::new(python)
        .arg(script)
        .arg("--texts")
        .arg(&texts_file.path)
        .arg("--threads")
        .arg(threads.to_string())
        .arg("--model")
        .arg(model_dir)
        .env("HF_HUB_OFFLINE", "1")
        .env("TRANSFORMERS_OFFLINE", "1")
        .output()
        .map_err(|source| EmbedError::ReferenceSpawn {
            program: python.to_path_buf(),
            source,
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
        return Err(EmbedError::ReferenceFailed {
            status: output.status.to_string(),
            stderr: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        });
    }
    parse_reference_output(&String::from_utf8_lossy(&output.stdout))
}

/// The last non-empty line of the script's output is its JSON result; libraries may log above it.
fn parse_reference_output(stdout: &str) -> Result<ReferenceResult, EmbedError> {
    let line = stdout
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("");
    serde_json::from_str(line).map_err(|source| EmbedError::ReferenceOutput {
        output: line.to_string(),
        source,
    })
}

/// The texts as a JSON array in the temp folder (JSON, not lines: texts may hold newlines),
/// removed on drop.
struct TempTextsFile {
    path: PathBuf,
}

impl TempTextsFile {
    fn write(texts: &[String]) -> Result<Self, EmbedError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!(
            "docent-bench-texts-{}-{nanos}.json",
            std::process::id()
        ));
        let json = serde_json::to_string(texts).expect("a list of strings always serialises");
        std::fs::write(&path, json).map_err(|source| EmbedError::WithPath {
            path: path.clone(),
            source,
        })?;
        Ok(Self { path })
    }
}

impl Drop for TempTextsFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_texts_are_deterministic_and_40_to_60_words() {
        let texts = sample_texts(None, 50).unwrap();
        assert_eq!(texts.len(), 50);
        assert_eq!(texts, sample_texts(None, 50).unwrap());
        for text in &texts {
            let n_words = text.split_whitespace().count();
            assert!(
                (MIN_WORDS..=MAX_WORDS).contains(&n_words),
                "{n_words} words: {text}"
            );
            assert!(text.ends_with('.'), "{text}");
        }
        assert_ne!(texts[0], texts[1]);
    }

    #[test]
    fn sample_texts_chunk_the_corpus_then_fill_up() {
        let dir = std::env::temp_dir().join(format!("docent-embed-corpus-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let corpus = dir.join("corpus.jsonl");
        let long_doc: Vec<String> = (0..130).map(|i| format!("w{i}")).collect();
        let lines = [
            serde_json::json!({"_id": "1", "title": "t", "text": long_doc.join(" ")}).to_string(),
            serde_json::json!({"_id": "2", "text": "too short to make a chunk"}).to_string(),
        ];
        std::fs::write(&corpus, lines.join("\n")).unwrap();
        let texts = sample_texts(Some(&corpus), 4).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        // Chunk 0 has 40 words, chunk 1 has 47, and the 43 left make chunk 2 (at most 54).
        let expected_first: Vec<String> = long_doc[..40].to_vec();
        assert_eq!(texts[0], expected_first.join(" "));
        assert_eq!(texts[1], long_doc[40..87].join(" "));
        assert_eq!(texts[2], long_doc[87..].join(" "));
        assert!(
            !texts[3].starts_with('w'),
            "the fourth text is generated: {}",
            texts[3]
        );
        assert_eq!(texts.len(), 4);
    }

    #[test]
    fn sample_texts_reports_an_unreadable_corpus() {
        let err = sample_texts(Some(Path::new("/nonexistent/corpus.jsonl")), 3).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/corpus.jsonl"),
            "{err}"
        );
    }

    #[test]
    fn reference_output_is_read_from_the_last_line() {
        let stdout = "some warning\n{\"sentences_per_s\": 95.5, \"seconds\": 10.47, \"threads\": 2, \
                      \"vectors_sample\": [[0.1, -0.2]]}\n";
        let parsed = parse_reference_output(stdout).unwrap();
        assert_eq!(parsed.threads, 2);
        assert_eq!(parsed.vectors_sample, vec![vec![0.1, -0.2]]);
        assert!(parse_reference_output("Traceback: boom").is_err());
    }
}
