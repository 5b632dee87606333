//! A BERT encoder forward over *packed* sequences: the tokens of every sequence in a batch are
//! stacked into one `n_tokens x hidden` matrix, so the linear layers run as one large matmul
//! with no padding rows at all, and attention runs per sequence over exactly its own tokens
//! (no mask needed). Mean pooling and L2 normalisation follow.
//!
//! Why not `candle_transformers::models::bert::BertModel`: with padding, every batch pays for
//! its longest sequence; candle's f32 matmul reached 30 to 50 GFLOP/s per core where the
//! kernels of [`crate::linear`] reach about 120; its exact GELU calls a scalar `erf` (11% of a
//! profile); and each op dispatches onto a spin-waiting thread pool (8%). Here one batch runs
//! on one thread while other batches run on the others, the GELU is fused into the
//! intermediate matmul, softmax and layer norm vectorise, and QKV is one matmul. The arithmetic
//! is BERT's, in f32 throughout; tests compare it with candle's `BertModel` and with
//! sentence-transformers' vectors.

use std::collections::HashMap;

use candle_core::Tensor;

use crate::EmbedError;
use crate::kernels;
use crate::linear::{Activation, PackedMatrix, Rows};

/// The shape of a BERT encoder, read from the model's `config.json`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub(crate) struct BertShape {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub layer_norm_eps: f64,
    pub hidden_act: String,
}

/// Activations of one batch, kept from batch to batch so the pages are not faulted in again.
#[derive(Default)]
pub(crate) struct Buffers {
    states: Vec<f32>,
    qkv: Vec<f32>,
    context: Vec<f32>,
    projected: Vec<f32>,
    expanded: Vec<f32>,
}

struct LayerWeights {
    /// Query, key and value projections side by side: one `hidden -> 3*hidden` layer.
    qkv: PackedMatrix,
    attention_out: PackedMatrix,
    attention_norm_gamma: Vec<f32>,
    attention_norm_beta: Vec<f32>,
    intermediate: PackedMatrix,
    output: PackedMatrix,
    output_norm_gamma: Vec<f32>,
    output_norm_beta: Vec<f32>,
}

/// BERT weights laid out for [`PackedBert::embed_batch`]: linear layers packed for the kernels
/// of [`crate::linear`].
pub(crate) struct PackedBert {
    shape: BertShape,
    word_embeddings: Vec<f32>,
    position_embeddings: Vec<f32>,
    /// Row 0 of the token-type table: single-segment inputs only ever use type 0.
    token_type_embedding: Vec<f32>,
    embedding_norm_gamma: Vec<f32>,
    embedding_norm_beta: Vec<f32>,
    layers: Vec<LayerWeights>,
}

/// Reads tensors out of a loaded safetensors map, checking names and shapes.
struct WeightReader<'a> {
    tensors: &'a HashMap<String, Tensor>,
    prefix: &'a str,
}

impl WeightReader<'_> {
    fn get(&self, name: &str, dims: &[usize]) -> Result<Vec<f32>, EmbedError> {
        let full_name = format!("{}{name}", self.prefix);
        let tensor = self
            .tensors
            .get(&full_name)
            .ok_or_else(|| EmbedError::BadWeights {
                reason: format!("tensor {full_name} is missing"),
            })?;
        if tensor.dims() != dims {
            return Err(EmbedError::BadWeights {
                reason: format!(
                    "tensor {full_name} has shape {:?}, expected {dims:?}",
                    tensor.dims()
                ),
            });
        }
        Ok(tensor
            .to_dtype(candle_core::DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?)
    }

    /// The `nn.Linear` layer `name` (`name.weight` is `n_out x n_in`, `name.bias` is `n_out`).
    fn linear(&self, name: &str, n_in: usize, n_out: usize) -> Result<PackedMatrix, EmbedError> {
        let weight = self.get(&format!("{name}.weight"), &[n_out, n_in])?;
        let bias = self.get(&format!("{name}.bias"), &[n_out])?;
        Ok(PackedMatrix::from_torch_layout(&weight, &bias, n_in, n_out))
    }
}

impl PackedBert {
    pub fn from_tensors(
        tensors: &HashMap<String, Tensor>,
        shape: BertShape,
    ) -> Result<Self, EmbedError> {
        if shape.hidden_act != "gelu" {
            return Err(EmbedError::BadWeights {
                reason: format!(
                    "hidden_act {:?} is not supported (only \"gelu\")",
                    shape.hidden_act
                ),
            });
        }
        if shape.num_attention_heads == 0
            || !shape.hidden_size.is_multiple_of(shape.num_attention_heads)
        {
            return Err(EmbedError::BadWeights {
                reason: format!(
                    "hidden size {} is not a multiple of {} heads",
                    shape.hidden_size, shape.num_attention_heads
                ),
            });
        }
        let prefix = if tensors.contains_key("bert.embeddings.word_embeddings.weight") {
            "bert."
        } else {
            ""
        };
        let reader = WeightReader { tensors, prefix };
        let hidden = shape.hidden_size;
        let intermediate = shape.intermediate_size;
        // Single-segment inputs only ever use token type 0, whatever the table's size.
        let token_type_rows = tensors
            .get(&format!("{prefix}embeddings.token_type_embeddings.weight"))
            .and_then(|t| t.dims().first().copied())
            .unwrap_or(0);
        let token_types = reader.get(
            "embeddings.token_type_embeddings.weight",
            &[token_type_rows, hidden],
        )?;
        if token_types.len() < hidden {
            return Err(EmbedError::BadWeights {
                reason: "the token-type embedding table is empty".into(),
            });
        }
        let mut layers = Vec::with_capacity(shape.num_hidden_layers);
        for layer_idx in 0..shape.num_hidden_layers {
            let layer = |name: &str| format!("encoder.layer.{layer_idx}.{name}");
            let qkv = PackedMatrix::concat(&[
                reader.linear(&layer("attention.self.query"), hidden, hidden)?,
                reader.linear(&layer("attention.self.key"), hidden, hidden)?,
                reader.linear(&layer("attention.self.value"), hidden, hidden)?,
            ]);
            layers.push(LayerWeights {
                qkv,
                attention_out: reader.linear(&layer("attention.output.dense"), hidden, hidden)?,
                attention_norm_gamma: reader
                    .get(&layer("attention.output.LayerNorm.weight"), &[hidden])?,
                attention_norm_beta: reader
                    .get(&layer("attention.output.LayerNorm.bias"), &[hidden])?,
                intermediate: reader
                    .linear(&layer("intermediate.dense"), hidden, intermediate)?
                    .with_activation(Activation::Gelu),
                output: reader.linear(&layer("output.dense"), intermediate, hidden)?,
                output_norm_gamma: reader.get(&layer("output.LayerNorm.weight"), &[hidden])?,
                output_norm_beta: reader.get(&layer("output.LayerNorm.bias"), &[hidden])?,
            });
        }
        Ok(Self {
            word_embeddings: reader.get(
                "embeddings.word_embeddings.weight",
                &[shape.vocab_size, hidden],
            )?,
            position_embeddings: reader.get(
                "embeddings.position_embeddings.weight",
                &[shape.max_position_embeddings, hidden],
            )?,
            token_type_embedding: token_types[..hidden].to_vec(),
            embedding_norm_gamma: reader.get("embeddings.LayerNorm.weight", &[hidden])?,
            embedding_norm_beta: reader.get("embeddings.LayerNorm.bias", &[hidden])?,
            layers,
            shape,
        })
    }

    pub fn dim(&self) -> usize {
        self.shape.hidden_size
    }

    /// Mean-pooled, L2-normalised embeddings of `sequences` (token ids, special tokens included),
    /// one vector per sequence. `threads > 1` splits each matmul over the current rayon pool.
    pub fn embed_batch(
        &self,
        sequences: &[&[u32]],
        threads: usize,
        buffers: &mut Buffers,
    ) -> Vec<Vec<f32>> {
        let hidden = self.shape.hidden_size;
        let eps = self.shape.layer_norm_eps as f32;
        let n_tokens: usize = sequences.iter().map(|s| s.len()).sum();
        if n_tokens == 0 {
            return sequences.iter().map(|_| vec![0.0; hidden]).collect();
        }
        let Buffers {
            states,
            qkv,
            context,
            projected,
            expanded,
        } = buffers;
        for (buffer, width) in [
            (&mut *qkv, 3 * hidden),
            (&mut *context, hidden),
            (&mut *projected, hidden),
            (&mut *expanded, self.shape.intermediate_size),
        ] {
            buffer.resize(n_tokens * width, 0.0);
        }

        self.embed_tokens(sequences, states);
        kernels::layer_norm(
            states,
            &self.embedding_norm_gamma,
            &self.embedding_norm_beta,
            eps,
        );
        for layer in &self.layers {
            layer.qkv.forward(states, qkv, threads);
            self.attention(sequences, qkv, context);
            layer.attention_out.forward(context, projected, threads);
            // states = LayerNorm(projected + states): computed in `projected`, then swapped.
            kernels::add_layer_norm(
                projected,
                states,
                &layer.attention_norm_gamma,
                &layer.attention_norm_beta,
                eps,
            );
            std::mem::swap(states, projected);

            layer.intermediate.forward(states, expanded, threads);
            layer.output.forward(expanded, projected, threads);
            kernels::add_layer_norm(
                projected,
                states,
                &layer.output_norm_gamma,
                &layer.output_norm_beta,
                eps,
            );
            std::mem::swap(states, projected);
        }
        mean_pool_normalised(states, sequences, hidden)
    }

    /// Word + position + token-type embeddings of every packed token, `n_tokens x hidden`.
    fn embed_tokens(&self, sequences: &[&[u32]], states: &mut Vec<f32>) {
        let hidden = self.shape.hidden_size;
        states.clear();
        for sequence in sequences {
            for (position, &token_id) in sequence.iter().enumerate() {
                // Out-of-range ids cannot come from the model's own tokenizer; map them to [UNK]-like
                // row 0 rather than panicking on a foreign tokenizer file.
                let token = if (token_id as usize) < self.shape.vocab_size {
                    token_id as usize
                } else {
                    0
                };
                let word = &self.word_embeddings[token * hidden..(token + 1) * hidden];
                let position =
                    &self.position_embeddings[position * hidden..(position + 1) * hidden];
                states.extend(
                    word.iter()
                        .zip(position)
                        .zip(&self.token_type_embedding)
                        .map(|((w, p), t)| w + p + t),
                );
            }
        }
    }

    /// Multi-head self-attention of each sequence over its own rows of `qkv`, into `context`.
    fn attention(&self, sequences: &[&[u32]], qkv: &[f32], context: &mut [f32]) {
        let hidden = self.shape.hidden_size;
        let head_dim = hidden / self.shape.num_attention_heads;
        let mut scratch = AttentionScratch::new();
        let mut first_row = 0;
        for sequence in sequences {
            let len = sequence.len();
            let qkv_rows = &qkv[first_row * 3 * hidden..(first_row + len) * 3 * hidden];
            let context_rows = &mut context[first_row * hidden..(first_row + len) * hidden];
            for head_start in (0..hidden).step_by(head_dim) {
                let input = HeadInput {
                    qkv_rows,
                    hidden,
                    len,
                    head_cols: head_start..head_start + head_dim,
                };
                attention_head(&input, &mut scratch, context_rows);
            }
            first_row += len;
        }
    }
}

/// One attention head's view of a sequence: `qkv_rows` holds `len` rows of `3 * hidden` values
/// (query, key, value side by side); the head reads columns `head_cols` of each part.
struct HeadInput<'a> {
    qkv_rows: &'a [f32],
    hidden: usize,
    len: usize,
    head_cols: std::ops::Range<usize>,
}

/// Buffers reused from head to head.
struct AttentionScratch {
    scores: Vec<f32>,
    keys: PackedMatrix,
    values: PackedMatrix,
}

impl AttentionScratch {
    fn new() -> Self {
        Self {
            scores: Vec::new(),
            keys: PackedMatrix::new(),
            values: PackedMatrix::new(),
        }
    }
}

/// `softmax(q k^T / sqrt(head_dim)) v` for one head, written into `head_cols` of `context_rows`
/// (row stride `hidden`). Both products run on the linear layers' kernels: the keys (scaled)
/// and the values are packed as right-hand sides, which costs a copy of `len x head_dim`.
fn attention_head(input: &HeadInput<'_>, scratch: &mut AttentionScratch, context_rows: &mut [f32]) {
    let HeadInput {
        qkv_rows,
        hidden,
        len,
        ref head_cols,
    } = *input;
    let head_dim = head_cols.len();
    let stride = 3 * hidden;
    let scale = 1.0 / (head_dim as f32).sqrt();
    let (key_start, value_start) = (hidden + head_cols.start, 2 * hidden + head_cols.start);
    let keys = Rows {
        data: &qkv_rows[key_start..],
        rows: len,
        stride,
    };
    scratch.keys.pack_transposed_of(&keys, head_dim, scale);
    let values = Rows {
        data: &qkv_rows[value_start..],
        rows: len,
        stride,
    };
    scratch.values.pack_rows_of(&values, head_dim);
    // Score rows padded to whole panels: the keys' last, partial panel is stored directly.
    let scores_stride = len.next_multiple_of(32);
    scratch.scores.resize(len * scores_stride, 0.0);
    let queries = Rows {
        data: &qkv_rows[head_cols.start..],
        rows: len,
        stride,
    };
    let mut scores = Rows {
        data: &mut scratch.scores[..],
        rows: len,
        stride: scores_stride,
    };
    scratch.keys.multiply_into_padded(&queries, &mut scores);
    for row in scratch.scores.chunks_exact_mut(scores_stride) {
        kernels::softmax_rows(&mut row[..len], len);
    }
    let probabilities = Rows {
        data: &scratch.scores[..],
        rows: len,
        stride: scores_stride,
    };
    let out = &mut context_rows[head_cols.start..];
    scratch.values.multiply(
        &probabilities,
        &mut Rows {
            data: out,
            rows: len,
            stride: hidden,
        },
    );
}

/// Mean of each sequence's rows of `states`, scaled to unit length.
fn mean_pool_normalised(states: &[f32], sequences: &[&[u32]], hidden: usize) -> Vec<Vec<f32>> {
    let mut first_row = 0;
    let mut pooled = Vec::with_capacity(sequences.len());
    for sequence in sequences {
        let mut sum = vec![0.0_f32; hidden];
        for row in
            states[first_row * hidden..(first_row + sequence.len()) * hidden].chunks_exact(hidden)
        {
            for (s, v) in sum.iter_mut().zip(row) {
                *s += v;
            }
        }
        first_row += sequence.len();
        pooled.push(crate::normalised(sum));
    }
    pooled
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attention_head_matches_the_textbook_formula() {
        // Two heads of width 2 over 3 tokens: hidden 4, rows of q|k|v.
        let (hidden, len) = (4, 3);
        let qkv: Vec<f32> = (0..len * 3 * hidden)
            .map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.3)
            .collect();
        let mut context = vec![0.0; len * hidden];
        for head in 0..2 {
            let head_cols = head * 2..head * 2 + 2;
            let input = HeadInput {
                qkv_rows: &qkv,
                hidden,
                len,
                head_cols,
            };
            attention_head(&input, &mut AttentionScratch::new(), &mut context);
        }
        let at = |row: usize, col: usize| qkv[row * 3 * hidden + col] as f64;
        for head in 0..2 {
            for i in 0..len {
                let logits: Vec<f64> = (0..len)
                    .map(|j| {
                        (0..2)
                            .map(|d| at(i, head * 2 + d) * at(j, hidden + head * 2 + d))
                            .sum::<f64>()
                            / 2f64.sqrt()
                    })
                    .collect();
                let total: f64 = logits.iter().map(|l| l.exp()).sum();
                for d in 0..2 {
                    let want: f64 = (0..len)
                        .map(|j| logits[j].exp() / total * at(j, 2 * hidden + head * 2 + d))
                        .sum();
                    let got = context[i * hidden + head * 2 + d] as f64;
                    assert!(
                        (got - want).abs() < 1e-5,
                        "head {head} row {i} dim {d}: {got} vs {want}"
                    );
                }
            }
        }
    }
}
