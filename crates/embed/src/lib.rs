//! Sentence embeddings for Docent: the [`Embedder`] trait and [`BertEmbedder`], which runs
//! all-MiniLM-L6-v2 (a 6-layer BERT, 384 dimensions) on the CPU, offline, from a model folder
//! holding `model.safetensors`, `tokenizer.json` and `config.json`.
//!
//! Vectors are mean-pooled over the tokens and L2-normalised, exactly as sentence-transformers
//! computes them (the tests compare against its vectors), so a dot product is a cosine.
//! [`BertEmbedder`] packs the tokens of many texts into one matrix (no padding) and spreads
//! batches over its own thread pool; [`CandleBertEmbedder`] is the plain
//! `candle_transformers` `BertModel` path, kept as a second implementation to check and
//! benchmark against. [`bench`] holds the pieces of `docent bench embed`.
//!
//! ```no_run
//! use docent_embed::{BertEmbedder, EmbedConfig, Embedder, default_model_dir};
//!
//! let embedder = BertEmbedder::load(&default_model_dir(), EmbedConfig::default())?;
//! let vectors = embedder.embed(&["A man is eating food.", "A man is eating a piece of bread."])?;
//! let cosine: f32 = vectors[0].iter().zip(&vectors[1]).map(|(a, b)| a * b).sum();
//! assert!(cosine > 0.7);
//! # Ok::<(), docent_embed::EmbedError>(())
//! ```

pub mod bench;
mod candle_bert;
mod kernels;
mod linear;
mod packed;

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use tokenizers::Tokenizer;

pub use candle_bert::CandleBertEmbedder;

/// The folder name of the default embedding model inside the models folder.
pub const DEFAULT_MODEL_NAME: &str = "all-MiniLM-L6-v2";

/// Turns texts into unit-length vectors of `dim()` floats.
pub trait Embedder: Send + Sync {
    /// Length of every vector.
    fn dim(&self) -> usize;
    /// Tokens per text (special tokens included) beyond which a text is truncated.
    fn max_tokens(&self) -> usize;
    /// One vector per text, in input order.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("model file {} is missing: run scripts/setup to fetch the default models", path.display())]
    MissingModelFile { path: PathBuf },
    #[error("cannot read {}", path.display())]
    WithPath {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid model config {}", path.display())]
    BadConfig {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid tokenizer {}", path.display())]
    BadTokenizer {
        path: PathBuf,
        #[source]
        source: tokenizers::Error,
    },
    #[error("invalid model weights: {reason}")]
    BadWeights { reason: String },
    #[error("invalid embedding config: {reason}")]
    BadEmbedConfig { reason: String },
    #[error("tokenization failed")]
    Tokenize {
        #[source]
        source: tokenizers::Error,
    },
    #[error("tensor operation failed")]
    Candle(#[from] candle_core::Error),
    #[error("cannot build the embedding thread pool")]
    ThreadPool(#[from] rayon::ThreadPoolBuildError),
    #[error("cannot run the reference benchmark {}", program.display())]
    ReferenceSpawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the reference benchmark failed ({status}): {stderr}")]
    ReferenceFailed { status: String, stderr: String },
    #[error("cannot parse the reference benchmark output {output:?}")]
    ReferenceOutput {
        output: String,
        #[source]
        source: serde_json::Error,
    },
}

/// How [`BertEmbedder`] batches and threads its work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedConfig {
    /// Texts per packed batch. Texts are sorted by token count first, so a batch holds texts of
    /// similar length; each batch runs on one thread while others run on the other threads.
    pub batch_size: usize,
    /// Tokens per text, `[CLS]` and `[SEP]` included; longer texts are truncated. 256 is the
    /// length all-MiniLM-L6-v2 was trained with.
    pub max_tokens: usize,
    /// Worker threads; 0 means `RAYON_NUM_THREADS` if set, else the number of physical cores.
    pub threads: usize,
}

impl Default for EmbedConfig {
    fn default() -> Self {
        // batch_size 8 (about 450 tokens of 40-60-word texts) measured fastest: a batch's
        // activations stay close to the size of a core's L2 cache; 16 and 32 ran 5 to 15%
        // slower, 1 and 2 slower still.
        Self {
            batch_size: 8,
            max_tokens: 256,
            threads: 0,
        }
    }
}

/// The models folder: `$DOCENT_MODELS_DIR`, else `$XDG_DATA_HOME/docent/models`, else
/// `$HOME/.local/share/docent/models`.
pub fn default_models_dir() -> PathBuf {
    models_dir_from(|name| std::env::var_os(name))
}

/// [`default_models_dir`] with the environment passed in; empty variables count as unset.
fn models_dir_from(lookup: impl Fn(&str) -> Option<std::ffi::OsString>) -> PathBuf {
    let var = |name: &str| {
        lookup(name)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = var("DOCENT_MODELS_DIR") {
        return dir;
    }
    if let Some(dir) = var("XDG_DATA_HOME") {
        return dir.join("docent").join("models");
    }
    let home = var("HOME").unwrap_or_else(|| PathBuf::from("."));
    home.join(".local")
        .join("share")
        .join("docent")
        .join("models")
}

/// The default embedding model's folder inside [`default_models_dir`].
pub fn default_model_dir() -> PathBuf {
    default_models_dir().join(DEFAULT_MODEL_NAME)
}

/// The three files of a BERT model folder, checked to exist.
pub(crate) struct ModelFiles {
    pub weights: PathBuf,
    pub tokenizer: PathBuf,
    pub config: PathBuf,
}

impl ModelFiles {
    pub fn find(model_dir: &Path) -> Result<Self, EmbedError> {
        let file = |name: &str| {
            let path = model_dir.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(EmbedError::MissingModelFile { path })
            }
        };
        Ok(Self {
            weights: file("model.safetensors")?,
            tokenizer: file("tokenizer.json")?,
            config: file("config.json")?,
        })
    }

    pub fn read_config<T: serde::de::DeserializeOwned>(&self) -> Result<T, EmbedError> {
        let text =
            std::fs::read_to_string(&self.config).map_err(|source| EmbedError::WithPath {
                path: self.config.clone(),
                source,
            })?;
        serde_json::from_str(&text).map_err(|source| EmbedError::BadConfig {
            path: self.config.clone(),
            source,
        })
    }

    /// The tokenizer with the file's fixed 128-token padding and truncation replaced: truncate at
    /// `max_tokens`, pad as `padding` says.
    pub fn load_tokenizer(
        &self,
        max_tokens: usize,
        padding: TokenizerPadding,
    ) -> Result<Tokenizer, EmbedError> {
        let bad = |source| EmbedError::BadTokenizer {
            path: self.tokenizer.clone(),
            source,
        };
        let mut tokenizer = Tokenizer::from_file(&self.tokenizer).map_err(bad)?;
        let truncation = tokenizers::TruncationParams {
            max_length: max_tokens,
            ..Default::default()
        };
        tokenizer.with_truncation(Some(truncation)).map_err(bad)?;
        let padding = match padding {
            TokenizerPadding::None => None,
            TokenizerPadding::LongestInBatch => {
                let mut params = tokenizer.get_padding().cloned().unwrap_or_default();
                params.strategy = tokenizers::PaddingStrategy::BatchLongest;
                Some(params)
            }
        };
        tokenizer.with_padding(padding);
        Ok(tokenizer)
    }
}

/// How a batch of encodings is padded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenizerPadding {
    /// Packed batches need no padding at all.
    None,
    /// Padded batches pad to their longest text, never to a fixed length.
    LongestInBatch,
}

pub(crate) fn check_max_tokens(max_tokens: usize, max_positions: usize) -> Result<(), EmbedError> {
    if max_tokens < 2 || max_tokens > max_positions {
        return Err(EmbedError::BadEmbedConfig {
            reason: format!(
                "max_tokens {max_tokens} must lie between 2 and the model's {max_positions} positions"
            ),
        });
    }
    Ok(())
}

/// `v / max(|v|, 1e-12)`, as `torch.nn.functional.normalize` computes it.
pub(crate) fn normalised(mut vector: Vec<f32>) -> Vec<f32> {
    let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
    for value in &mut vector {
        *value /= norm;
    }
    vector
}

/// all-MiniLM-L6-v2 (or another BERT encoder folder) with a packed, multi-threaded forward.
pub struct BertEmbedder {
    model: packed::PackedBert,
    tokenizer: Tokenizer,
    config: EmbedConfig,
    threads: usize,
    pool: rayon::ThreadPool,
}

impl BertEmbedder {
    /// Loads the model folder (`model.safetensors`, `tokenizer.json`, `config.json`).
    pub fn load(model_dir: &Path, config: EmbedConfig) -> Result<Self, EmbedError> {
        if config.batch_size == 0 {
            return Err(EmbedError::BadEmbedConfig {
                reason: "batch_size must be at least 1".into(),
            });
        }
        let files = ModelFiles::find(model_dir)?;
        let shape: packed::BertShape = files.read_config()?;
        check_max_tokens(config.max_tokens, shape.max_position_embeddings)?;
        let tensors = candle_core::safetensors::load(&files.weights, &candle_core::Device::Cpu)?;
        let model = packed::PackedBert::from_tensors(&tensors, shape)?;
        let tokenizer = files.load_tokenizer(config.max_tokens, TokenizerPadding::None)?;
        let threads = if config.threads == 0 {
            candle_core::utils::get_num_threads()
        } else {
            config.threads
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|idx| format!("docent-embed-{idx}"))
            .build()?;
        tracing::debug!(
            model = %model_dir.display(),
            threads,
            batch_size = config.batch_size,
            "embedder loaded"
        );
        Ok(Self {
            model,
            tokenizer,
            config,
            threads,
            pool,
        })
    }

    /// The threads this embedder spreads its work over.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Token ids of each text, special tokens included, truncated at `max_tokens`.
    fn token_ids(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>, EmbedError> {
        let encodings = self
            .tokenizer
            .encode_batch_fast(texts.to_vec(), true)
            .map_err(|source| EmbedError::Tokenize { source })?;
        Ok(encodings
            .into_iter()
            .map(|encoding| encoding.get_ids().to_vec())
            .collect())
    }
}

impl Embedder for BertEmbedder {
    fn dim(&self) -> usize {
        self.model.dim()
    }

    fn max_tokens(&self) -> usize {
        self.config.max_tokens
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        self.pool.install(|| {
            let token_ids = self.token_ids(texts)?;
            // Sorting by length keeps the per-sequence work of a batch alike, so batches finish
            // at similar times; packing means no batch pays for padding.
            let mut order: Vec<usize> = (0..texts.len()).collect();
            order.sort_by_key(|&idx| token_ids[idx].len());
            let batches: Vec<&[usize]> = order.chunks(self.config.batch_size).collect();
            // Few batches: split each matmul over the threads instead of running batches side by side.
            let threads_per_batch = if batches.len() < self.threads {
                self.threads
            } else {
                1
            };
            let batch_vectors: Vec<Vec<Vec<f32>>> = batches
                .par_iter()
                .map_init(packed::Buffers::default, |buffers, batch| {
                    let sequences: Vec<&[u32]> =
                        batch.iter().map(|&idx| token_ids[idx].as_slice()).collect();
                    self.model
                        .embed_batch(&sequences, threads_per_batch, buffers)
                })
                .collect();
            let mut vectors = vec![Vec::new(); texts.len()];
            for (batch, batch_vectors) in batches.iter().zip(batch_vectors) {
                for (&idx, vector) in batch.iter().zip(batch_vectors) {
                    vectors[idx] = vector;
                }
            }
            Ok(vectors)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalised_gives_unit_length_and_keeps_zero() {
        let v = normalised(vec![3.0, 4.0]);
        assert_eq!(v, vec![0.6, 0.8]);
        assert_eq!(normalised(vec![0.0, 0.0]), vec![0.0, 0.0]);
    }

    #[test]
    fn models_dir_follows_the_environment_in_order() {
        let check = |vars: &[(&str, &str)], expected: &str| {
            let lookup = |name: &str| {
                vars.iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| value.into())
            };
            assert_eq!(models_dir_from(lookup), PathBuf::from(expected), "{vars:?}");
        };
        check(
            &[
                ("DOCENT_MODELS_DIR", "/m"),
                ("XDG_DATA_HOME", "/x"),
                ("HOME", "/h"),
            ],
            "/m",
        );
        check(
            &[
                ("DOCENT_MODELS_DIR", ""),
                ("XDG_DATA_HOME", "/x"),
                ("HOME", "/h"),
            ],
            "/x/docent/models",
        );
        check(&[("HOME", "/h")], "/h/.local/share/docent/models");
        check(&[], "./.local/share/docent/models");
    }

    #[test]
    fn missing_model_file_names_the_file_and_the_fix() {
        let dir = std::env::temp_dir().join(format!("docent-embed-missing-{}", std::process::id()));
        let err = BertEmbedder::load(&dir, EmbedConfig::default())
            .err()
            .expect("an error");
        let message = err.to_string();
        assert!(message.contains("model.safetensors"), "{message}");
        assert!(message.contains("run scripts/setup"), "{message}");
    }

    #[test]
    fn max_tokens_must_fit_the_model() {
        let check = |max_tokens, ok: bool| {
            assert_eq!(
                check_max_tokens(max_tokens, 512).is_ok(),
                ok,
                "{max_tokens}"
            )
        };
        check(0, false);
        check(1, false);
        check(2, true);
        check(256, true);
        check(512, true);
        check(513, false);
    }
}
