//! The straightforward path: `candle_transformers::models::bert::BertModel` on padded,
//! length-sorted batches, then masked mean pooling. Kept as an independent implementation to
//! check [`crate::BertEmbedder`] against and as the baseline of the benchmark; it uses candle's
//! own thread pool (`RAYON_NUM_THREADS`, read once).

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::Tokenizer;

use crate::{
    EmbedConfig, EmbedError, Embedder, ModelFiles, TokenizerPadding, check_max_tokens, normalised,
};

/// all-MiniLM-L6-v2 through candle's `BertModel`.
pub struct CandleBertEmbedder {
    model: BertModel,
    tokenizer: Tokenizer,
    dim: usize,
    config: EmbedConfig,
}

impl CandleBertEmbedder {
    /// Loads the model folder; `config.threads` is ignored (candle sizes its own pool).
    pub fn load(model_dir: &Path, config: EmbedConfig) -> Result<Self, EmbedError> {
        if config.batch_size == 0 {
            return Err(EmbedError::BadEmbedConfig {
                reason: "batch_size must be at least 1".into(),
            });
        }
        let files = ModelFiles::find(model_dir)?;
        let bert_config: Config = files.read_config()?;
        check_max_tokens(config.max_tokens, bert_config.max_position_embeddings)?;
        // Read, not memory-mapped: 90 MB once, and no unsafe.
        let tensors = candle_core::safetensors::load(&files.weights, &Device::Cpu)?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
        let model = BertModel::load(vb, &bert_config)?;
        let tokenizer =
            files.load_tokenizer(config.max_tokens, TokenizerPadding::LongestInBatch)?;
        Ok(Self {
            model,
            tokenizer,
            dim: bert_config.hidden_size,
            config,
        })
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let encodings = self
            .tokenizer
            .encode_batch_fast(texts.to_vec(), true)
            .map_err(|source| EmbedError::Tokenize { source })?;
        let len = encodings.first().map_or(0, |e| e.get_ids().len());
        let ids: Vec<u32> = encodings
            .iter()
            .flat_map(|e| e.get_ids().iter().copied())
            .collect();
        let mask: Vec<u32> = encodings
            .iter()
            .flat_map(|e| e.get_attention_mask().iter().copied())
            .collect();
        let input_ids = Tensor::from_vec(ids, (texts.len(), len), &Device::Cpu)?;
        let attention_mask = Tensor::from_vec(mask, (texts.len(), len), &Device::Cpu)?;
        let token_type_ids = input_ids.zeros_like()?;
        let hidden = self
            .model
            .forward(&input_ids, &token_type_ids, Some(&attention_mask))?;
        let mask = attention_mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        // Dividing by the token count does not change the direction; normalising does the rest.
        Ok(summed
            .to_vec2::<f32>()?
            .into_iter()
            .map(normalised)
            .collect())
    }
}

impl Embedder for CandleBertEmbedder {
    fn dim(&self) -> usize {
        self.dim
    }

    fn max_tokens(&self) -> usize {
        self.config.max_tokens
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        // Sort by character length, a cheap stand-in for token length, so padding stays small.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&idx| texts[idx].len());
        let mut vectors = vec![Vec::new(); texts.len()];
        for batch in order.chunks(self.config.batch_size) {
            let batch_texts: Vec<&str> = batch.iter().map(|&idx| texts[idx]).collect();
            for (&idx, vector) in batch.iter().zip(self.embed_batch(&batch_texts)?) {
                vectors[idx] = vector;
            }
        }
        Ok(vectors)
    }
}
