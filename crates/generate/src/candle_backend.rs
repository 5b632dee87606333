//! candle's own quantized llama (`candle_transformers::models::quantized_llama`): the GPU path
//! (CUDA, Metal), and on the CPU a second implementation to check and benchmark Docent's against.

use std::fs::File;

use candle_core::quantized::gguf_file;
use candle_core::{DType, Device, Tensor};
use candle_transformers::models::quantized_llama::{MAX_SEQ_LEN, ModelWeights};

use crate::GenerateError;
use crate::gguf::GgufFile;
use crate::native::Config;

/// candle's llama precomputes rotary tables for this many positions.
pub const CANDLE_MAX_CONTEXT: usize = MAX_SEQ_LEN;

pub struct CandleModel {
    weights: ModelWeights,
    device: Device,
    /// Tokens in candle's KV cache.
    position: usize,
}

impl CandleModel {
    /// Loads `file` (already validated by [`GgufFile::open`], its tensor shapes checked
    /// against `config` by [`crate::native::check_llama_shapes`]) onto `device`.
    pub fn load(file: &GgufFile, config: &Config, device: &Device) -> Result<Self, GenerateError> {
        // candle's llama rotates whole heads: a partial rotary dimension, which Docent's own
        // backend handles, would fail every answer with a shape error.
        if config.rope_dim != config.head_dim {
            return Err(GenerateError::UnsupportedModel {
                path: file.path.clone(),
                reason: format!(
                    "rotary dimension {} differs from the head size {}, which candle's backend \
                     does not support",
                    config.rope_dim, config.head_dim
                ),
            });
        }
        let io = |source| GenerateError::WithPath {
            path: file.path.clone(),
            source,
        };
        let mut reader = File::open(&file.path).map_err(io)?;
        let content =
            gguf_file::Content::read(&mut reader).map_err(|error| GenerateError::BadGguf {
                path: file.path.clone(),
                reason: error.to_string(),
            })?;
        let weights = ModelWeights::from_gguf(content, &mut reader, device).map_err(|error| {
            GenerateError::UnsupportedModel {
                path: file.path.clone(),
                reason: error.to_string(),
            }
        })?;
        Ok(Self {
            weights,
            device: device.clone(),
            position: 0,
        })
    }

    /// Forgets the cached conversation.
    pub fn clear(&mut self) {
        self.weights.clear_kv_cache();
        self.position = 0;
    }

    /// Feeds `tokens` after the cached ones and returns the last token's logits.
    pub fn forward(&mut self, tokens: &[u32]) -> Result<Vec<f32>, GenerateError> {
        let input = Tensor::new(tokens, &self.device)?.unsqueeze(0)?;
        let logits = self.weights.forward(&input, self.position)?;
        self.position += tokens.len();
        Ok(logits.squeeze(0)?.to_dtype(DType::F32)?.to_vec1::<f32>()?)
    }
}
