//! Pieces of `docent bench llm`: timing prompt processing and decoding on a model, and running
//! llama.cpp's `llama-bench` (`scripts/bench-llm-reference`) on the same file, so the two speeds
//! can be printed side by side.
//!
//! Measured like `llama-bench`: prompt speed is a fresh `prompt_tokens`-token prompt processed
//! in one go; decode speed is `gen_tokens` single-token steps, each feeding the previous step's
//! most likely token (end-of-turn tokens included: nothing stops early). Each figure is the mean
//! over `repetitions` runs after a warm-up.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::{GenerateError, Llm, LoadOptions};

/// Deterministic prompt text: varied English-like prose that tokenizes like real documents.
const PROMPT_TEXT: &str = "The library keeps its catalogue in a small database, and every evening the \
    indexer walks the shared folders, reads the new reports, splits them into passages and stores \
    each passage with the page it came from. When a reader asks a question, the search engine ranks \
    the passages by the words they share with the question and by the meaning of their sentences, \
    then the assistant reads the best ones and writes a short answer that cites them by number. \
    In 1889 the tower was 312 metres tall; antennas added since then brought it to 330 metres. ";

/// One benchmark run's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmBench {
    /// Which backend ran (see [`Llm::backend`]).
    pub backend: String,
    pub threads: usize,
    pub load_ms: f64,
    pub prompt_tokens: usize,
    pub gen_tokens: usize,
    pub prompt_tokens_per_s: f64,
    pub decode_tokens_per_s: f64,
    /// Prompt processing plus choosing the first token.
    pub first_token_ms: f64,
}

/// llama.cpp's figures for the same file, from `scripts/bench-llm-reference`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct ReferenceBench {
    pub prompt_tokens_per_s: f64,
    pub decode_tokens_per_s: f64,
    pub threads: usize,
}

/// Loads `path` with Docent's CPU backend on `threads` threads and times it.
pub fn bench_llm(
    path: &Path,
    threads: usize,
    prompt_tokens: usize,
    gen_tokens: usize,
) -> Result<LlmBench, GenerateError> {
    let options = LoadOptions {
        threads: Some(threads),
        device: crate::DeviceChoice::Cpu,
        ..LoadOptions::default()
    };
    bench_llm_with(path, &options, prompt_tokens, gen_tokens, 3)
}

/// Loads `path` with `options` and times it, each figure the mean of `repetitions` runs.
pub fn bench_llm_with(
    path: &Path,
    options: &LoadOptions,
    prompt_tokens: usize,
    gen_tokens: usize,
    repetitions: usize,
) -> Result<LlmBench, GenerateError> {
    let llm = Llm::load(path, options)?;
    bench_loaded(
        &llm,
        options.threads.unwrap_or(0),
        prompt_tokens,
        gen_tokens,
        repetitions,
    )
}

/// Times an already loaded model.
pub fn bench_loaded(
    llm: &Llm,
    threads: usize,
    prompt_tokens: usize,
    gen_tokens: usize,
    repetitions: usize,
) -> Result<LlmBench, GenerateError> {
    let prompt = prompt_ids(llm, prompt_tokens)?;
    let repetitions = repetitions.max(1);
    // Warm-up: pages the weights in and sizes the buffers.
    llm.time_forward(&prompt[..prompt.len().min(16)], 2)?;
    let mut prompt_ms = 0.0;
    let mut first_token_ms = 0.0;
    let mut decode_ms = 0.0;
    for _ in 0..repetitions {
        let (prefill, first, _) = llm.time_forward(&prompt, 0)?;
        prompt_ms += prefill;
        first_token_ms += first;
        // Decoding is timed from a one-token prompt, as llama-bench's text-generation test does.
        let (_, _, decode) = llm.time_forward(&prompt[..1], gen_tokens)?;
        decode_ms += decode;
    }
    let n = repetitions as f64;
    Ok(LlmBench {
        backend: llm.backend().to_string(),
        threads,
        load_ms: llm.load_ms(),
        prompt_tokens: prompt.len(),
        gen_tokens,
        prompt_tokens_per_s: prompt.len() as f64 * 1000.0 / (prompt_ms / n).max(1e-9),
        decode_tokens_per_s: gen_tokens as f64 * 1000.0 / (decode_ms / n).max(1e-9),
        first_token_ms: first_token_ms / n,
    })
}

/// Exactly `n` prompt tokens of [`PROMPT_TEXT`], repeated as needed.
pub fn prompt_ids(llm: &Llm, n: usize) -> Result<Vec<u32>, GenerateError> {
    let unit = llm.tokenizer().encode_text(PROMPT_TEXT)?;
    let mut ids = Vec::with_capacity(n);
    while ids.len() < n {
        ids.extend_from_slice(&unit[..unit.len().min(n - ids.len())]);
    }
    if ids.is_empty() {
        return Err(GenerateError::Tokenize {
            reason: "a benchmark needs at least one prompt token".into(),
        });
    }
    Ok(ids)
}

/// Runs `script` (`scripts/bench-llm-reference`) on `model` and parses its JSON line.
pub fn reference_llm(
    script: &Path,
    model: &Path,
    threads: usize,
    prompt_tokens: usize,
    gen_tokens: usize,
) -> Result<ReferenceBench, GenerateError> {
    let output = Command::new(script)
        .arg(model)
        .args([
            "--prompt",
            &prompt_tokens.to_string(),
            "--gen",
            &gen_tokens.to_string(),
            "--threads",
            &threads.to_string(),
        ])
        .output()
        .map_err(|source| GenerateError::ReferenceSpawn {
            program: script.to_path_buf(),
            source,
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: String = stderr
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        return Err(GenerateError::ReferenceFailed {
            status: output.status.to_string(),
            stderr: tail,
        });
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|line| line.trim_start().starts_with('{'))
        .unwrap_or("");
    serde_json::from_str(line).map_err(|source| GenerateError::ReferenceOutput {
        output: line.to_string(),
        source,
    })
}

impl Llm {
    /// The logits after `prompt`, processed from an empty cache (tests compare backends with it).
    pub fn logits_after(&self, prompt: &[u32]) -> Result<Vec<f32>, GenerateError> {
        let never = std::sync::atomic::AtomicBool::new(false);
        let mut engine = self
            .engine
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        engine.reset();
        let result = engine.prefill(prompt, &never);
        engine.reset();
        Ok(result?.map(|(logits, _)| logits).unwrap_or_default())
    }

    /// Benchmark primitive: processes `prompt` from an empty cache, then `gen_tokens` greedy
    /// single-token steps. Returns (prompt ms, first-token ms, decode ms).
    pub fn time_forward(
        &self,
        prompt: &[u32],
        gen_tokens: usize,
    ) -> Result<(f64, f64, f64), GenerateError> {
        let never = std::sync::atomic::AtomicBool::new(false);
        let mut engine = self
            .engine
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        engine.reset();
        let started = Instant::now();
        let Some((mut logits, _)) = engine.prefill(prompt, &never)? else {
            unreachable!("the benchmark never cancels");
        };
        let prompt_ms = started.elapsed().as_secs_f64() * 1000.0;
        let mut next = argmax(&logits);
        let first_token_ms = started.elapsed().as_secs_f64() * 1000.0;
        let decode_started = Instant::now();
        for step in 0..gen_tokens {
            if prompt.len() + step + 1 > self.context_length() {
                break;
            }
            logits = engine.decode(next)?;
            next = argmax(&logits);
        }
        let decode_ms = decode_started.elapsed().as_secs_f64() * 1000.0;
        engine.reset();
        Ok((prompt_ms, first_token_ms, decode_ms))
    }
}

fn argmax(logits: &[f32]) -> u32 {
    logits
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0 as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_picks_the_first_largest() {
        assert_eq!(argmax(&[0.5, 2.0, -1.0, 2.0]), 1);
        assert_eq!(argmax(&[-3.0]), 0);
    }

    #[test]
    fn reference_output_parses() {
        let parsed: ReferenceBench =
            serde_json::from_str(r#"{"prompt_tokens_per_s": 323.5, "decode_tokens_per_s": 116.0, "threads": 2, "prompt_tokens": 128}"#).unwrap();
        assert_eq!(
            parsed,
            ReferenceBench {
                prompt_tokens_per_s: 323.5,
                decode_tokens_per_s: 116.0,
                threads: 2
            }
        );
    }
}
