//! Docent's own CPU forward pass for llama-family models: weights packed for integer kernels
//! (see [`packed`] and [`kernels`]), an f32 KV cache that grows as it is used, and a rayon pool of
//! the caller's size. It exists because candle's CPU path reaches a fifth of llama.cpp's speed on
//! the default model (no SIMD Q4_1 kernel, a copy of the whole KV cache every token); the numbers
//! are in the crate's benchmark notes.
//!
//! The maths is llama's: RMSNorm, rotary position embedding on adjacent pairs (llama.cpp's
//! "normal" RoPE, which GGUF conversion arranges the Q and K weights for), grouped-query
//! attention, SwiGLU feed-forward. Activations are quantized to 8 bits in blocks of 32 before
//! each matrix multiply, as llama.cpp does on the CPU.

pub mod attention;
pub mod kernels;
pub mod packed;

use std::fs::File;

use rayon::prelude::*;

use crate::GenerateError;
use crate::gguf::{GgmlType, GgufFile, TensorInfo};
use kernels::{Isa, matmul_rows};
use packed::{BLOCK, GROUP, PackedMatrix, QuantizedActivations};

/// Tokens per forward pass when a prompt is processed: bounds the activation memory
/// (`PREFILL_CHUNK x ffn` floats) whatever the prompt length.
pub const PREFILL_CHUNK: usize = 512;

/// Longer than any real model's context; a larger claim is a broken or hostile file.
const MAX_CONTEXT: usize = 1 << 24;

/// The hyper-parameters the forward pass needs, checked against the tensor shapes.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub n_layers: usize,
    pub dim: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub ffn_dim: usize,
    pub vocab: usize,
    pub rms_eps: f32,
    pub rope_dim: usize,
    pub rope_base: f32,
    /// Linear RoPE scaling: positions are divided by this.
    pub rope_scale: f32,
    pub context_length: usize,
}

impl Config {
    pub fn q_dim(&self) -> usize {
        self.n_heads * self.head_dim
    }

    pub fn kv_dim(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }

    /// Reads and checks the llama hyper-parameters of `file`.
    pub fn from_gguf(file: &GgufFile, context_limit: Option<usize>) -> Result<Self, GenerateError> {
        let bad = |reason: String| GenerateError::UnsupportedModel {
            path: file.path.clone(),
            reason,
        };
        let required = |suffix: &str| {
            file.arch_u64(suffix).ok_or_else(|| {
                bad(format!(
                    "metadata {}.{suffix} is missing",
                    file.architecture()
                ))
            })
        };
        let n_layers = required("block_count")? as usize;
        let dim = required("embedding_length")? as usize;
        let n_heads = required("attention.head_count")? as usize;
        let n_kv_heads = file
            .arch_u64("attention.head_count_kv")
            .unwrap_or(n_heads as u64) as usize;
        let ffn_dim = required("feed_forward_length")? as usize;
        let trained_context = required("context_length")? as usize;
        if !(1..=1024).contains(&n_layers)
            || !(1..=65536).contains(&dim)
            || !(1..=1024).contains(&n_heads)
        {
            return Err(bad(format!(
                "implausible sizes: {n_layers} layers, width {dim}, {n_heads} heads"
            )));
        }
        if n_kv_heads == 0 || !n_heads.is_multiple_of(n_kv_heads) || !dim.is_multiple_of(n_heads) {
            return Err(bad(format!(
                "{n_heads} heads, {n_kv_heads} key/value heads and width {dim} do not fit together"
            )));
        }
        let head_dim = dim / n_heads;
        let rope_dim = file
            .arch_u64("rope.dimension_count")
            .unwrap_or(head_dim as u64) as usize;
        if !head_dim.is_multiple_of(2) || !rope_dim.is_multiple_of(2) || rope_dim > head_dim {
            return Err(bad(format!(
                "rotary dimension {rope_dim} does not fit heads of {head_dim}"
            )));
        }
        if !dim.is_multiple_of(BLOCK)
            || !ffn_dim.is_multiple_of(BLOCK)
            || ffn_dim == 0
            || ffn_dim > 1 << 20
        {
            return Err(bad(format!(
                "widths {dim} and {ffn_dim} must be multiples of {BLOCK}"
            )));
        }
        if trained_context == 0 || trained_context > MAX_CONTEXT {
            return Err(bad(format!("implausible context length {trained_context}")));
        }
        let rope_scale = match file.get_str(&format!("{}.rope.scaling.type", file.architecture())) {
            Some("linear") => file.arch_f64("rope.scaling.factor").unwrap_or(1.0) as f32,
            _ => 1.0,
        };
        let vocab = file
            .tensor("token_embd.weight")
            .map_or(0, |t| t.rows_and_cols().0);
        Ok(Config {
            n_layers,
            dim,
            n_heads,
            n_kv_heads,
            head_dim,
            ffn_dim,
            vocab,
            rms_eps: file
                .arch_f64("attention.layer_norm_rms_epsilon")
                .unwrap_or(1e-5) as f32,
            rope_dim,
            rope_base: file.arch_f64("rope.freq_base").unwrap_or(10_000.0) as f32,
            rope_scale: if rope_scale > 0.0 { rope_scale } else { 1.0 },
            context_length: context_limit
                .map_or(trained_context, |limit| limit.clamp(1, trained_context)),
        })
    }

    /// Bytes of KV cache for `tokens` positions (keys and values, f32).
    pub fn kv_cache_bytes(&self, tokens: usize) -> u64 {
        [self.n_layers, tokens, self.kv_dim(), 2, 4]
            .iter()
            .fold(1u64, |bytes, &n| bytes.saturating_mul(n as u64))
    }
}

/// How weights are stored once loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    /// Keep 4-bit and 8-bit weights as they are, re-quantize anything else to 8 bits.
    AsShipped,
    /// Re-quantize every weight matrix to 8 bits (Q8_0).
    AllI8,
}

/// Whether Docent's kernels read `ggml_type` without re-quantizing it.
pub fn runs_natively(ggml_type: GgmlType) -> bool {
    matches!(ggml_type, GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q8_0)
}

/// Bytes a `rows x cols` matrix of `ggml_type` takes once packed.
pub fn packed_bytes(ggml_type: GgmlType, rows: usize, cols: usize, format: WeightFormat) -> u64 {
    let padded = (rows.div_ceil(GROUP) * GROUP * cols) as u64;
    match (ggml_type, format) {
        (GgmlType::Q4_0 | GgmlType::Q4_1, WeightFormat::AsShipped) => {
            padded / 2 + padded / BLOCK as u64 * 4
        }
        _ => padded + padded / BLOCK as u64 * 2,
    }
}

struct Layer {
    attn_norm: Vec<f32>,
    wq: PackedMatrix,
    wk: PackedMatrix,
    wv: PackedMatrix,
    wo: PackedMatrix,
    ffn_norm: Vec<f32>,
    w_gate: PackedMatrix,
    w_up: PackedMatrix,
    w_down: PackedMatrix,
}

/// A loaded llama model for the CPU.
pub struct NativeModel {
    config: Config,
    layers: Vec<Layer>,
    token_embd: PackedMatrix,
    output_norm: Vec<f32>,
    /// `None`: the output projection is the token embedding (tied weights).
    output: Option<PackedMatrix>,
    /// `[position][rope_dim / 2]`.
    rope_cos: Vec<f32>,
    rope_sin: Vec<f32>,
    isa: Isa,
    pool: rayon::ThreadPool,
    threads: usize,
    weight_bytes: u64,
    /// Tensors whose type the kernels do not read, re-quantized to 8 bits.
    requantized: Vec<(String, GgmlType)>,
}

/// The KV cache and the tokens it holds.
#[derive(Default)]
pub struct NativeState {
    /// Per layer, `[position][kv_dim]`.
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
    tokens: Vec<u32>,
}

impl NativeState {
    /// Tokens whose keys and values are cached.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// Forgets everything after the first `len` tokens.
    pub fn truncate(&mut self, len: usize, kv_dim: usize) {
        let len = len.min(self.tokens.len());
        self.tokens.truncate(len);
        for cache in self.keys.iter_mut().chain(self.values.iter_mut()) {
            cache.truncate(len * kv_dim);
        }
    }

    pub fn clear(&mut self) {
        self.tokens.clear();
        self.keys.clear();
        self.values.clear();
    }
}

impl NativeModel {
    /// Reads the weights of `file` (already validated) and packs them.
    pub fn load(
        file: &GgufFile,
        config: Config,
        format: WeightFormat,
        threads: usize,
    ) -> Result<Self, GenerateError> {
        let bad = |reason: String| GenerateError::UnsupportedModel {
            path: file.path.clone(),
            reason,
        };
        if file.arch_u64("expert_count").unwrap_or(0) > 1 {
            return Err(bad(
                "mixture-of-experts models run on candle's backend only".into(),
            ));
        }
        let mut reader = File::open(&file.path).map_err(io(file))?;
        let mut vector_reader = File::open(&file.path).map_err(io(file))?;
        let mut requantized = Vec::new();
        let mut weight_bytes = 0u64;
        let mut matrix =
            |name: &str, rows: usize, cols: usize| -> Result<PackedMatrix, GenerateError> {
                let info = find(file, name)?;
                check_shape(file, info, &[cols, rows])?;
                let packed = pack_matrix(file, &mut reader, info, format, &mut requantized)?;
                weight_bytes += packed.bytes() as u64;
                Ok(packed)
            };
        let c = &config;
        let token_embd = {
            let info = find(file, "token_embd.weight")?;
            if info.dims.len() != 2 || info.dims[0] as usize != c.dim {
                return Err(bad(format!(
                    "token_embd.weight has shape {:?}, expected [{}, vocab]",
                    info.dims, c.dim
                )));
            }
            matrix("token_embd.weight", c.vocab, c.dim)?
        };
        let output = match file.tensor("output.weight") {
            Some(_) => Some(matrix("output.weight", c.vocab, c.dim)?),
            None => None,
        };
        let mut layers = Vec::with_capacity(c.n_layers);
        for layer_idx in 0..c.n_layers {
            let name = |suffix: &str| format!("blk.{layer_idx}.{suffix}.weight");
            layers.push(Layer {
                attn_norm: vector(file, &mut vector_reader, &name("attn_norm"), c.dim)?,
                wq: matrix(&name("attn_q"), c.q_dim(), c.dim)?,
                wk: matrix(&name("attn_k"), c.kv_dim(), c.dim)?,
                wv: matrix(&name("attn_v"), c.kv_dim(), c.dim)?,
                wo: matrix(&name("attn_output"), c.dim, c.q_dim())?,
                ffn_norm: vector(file, &mut vector_reader, &name("ffn_norm"), c.dim)?,
                w_gate: matrix(&name("ffn_gate"), c.ffn_dim, c.dim)?,
                w_up: matrix(&name("ffn_up"), c.ffn_dim, c.dim)?,
                w_down: matrix(&name("ffn_down"), c.dim, c.ffn_dim)?,
            });
        }
        let output_norm = vector(file, &mut vector_reader, "output_norm.weight", c.dim)?;
        let rope_factors = match file.tensor("rope_freqs.weight") {
            Some(_) => Some(vector(
                file,
                &mut vector_reader,
                "rope_freqs.weight",
                c.rope_dim / 2,
            )?),
            None => None,
        };
        let (rope_cos, rope_sin) = rope_table(c, rope_factors.as_deref());
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|idx| format!("docent-llm-{idx}"))
            .build()?;
        Ok(Self {
            config,
            layers,
            token_embd,
            output_norm,
            output,
            rope_cos,
            rope_sin,
            isa: Isa::detect(),
            pool,
            threads,
            weight_bytes,
            requantized,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    pub fn isa(&self) -> Isa {
        self.isa
    }

    /// Runs on the slower portable kernels (tests compare them with the SIMD ones).
    pub fn set_isa(&mut self, isa: Isa) {
        self.isa = isa;
    }

    pub fn weight_bytes(&self) -> u64 {
        self.weight_bytes
    }

    pub fn requantized(&self) -> &[(String, GgmlType)] {
        &self.requantized
    }

    /// Feeds `tokens` after what `state` holds and returns the logits of the last one.
    pub fn forward(
        &self,
        state: &mut NativeState,
        tokens: &[u32],
    ) -> Result<Vec<f32>, GenerateError> {
        let c = &self.config;
        assert!(!tokens.is_empty(), "forward needs at least one token");
        if state.tokens.len() + tokens.len() > c.context_length {
            return Err(GenerateError::PromptTooLong {
                prompt_tokens: state.tokens.len() + tokens.len(),
                context_length: c.context_length,
            });
        }
        if let Some(&bad) = tokens.iter().find(|&&id| id as usize >= c.vocab) {
            return Err(GenerateError::Tokenize {
                reason: format!("token id {bad} is outside the vocabulary of {}", c.vocab),
            });
        }
        if state.keys.len() != c.n_layers {
            state.keys = vec![Vec::new(); c.n_layers];
            state.values = vec![Vec::new(); c.n_layers];
            state.tokens.clear();
        }
        let mut logits = Vec::new();
        for chunk in tokens.chunks(PREFILL_CHUNK) {
            logits = self.pool.install(|| self.forward_chunk(state, chunk));
            state.tokens.extend_from_slice(chunk);
        }
        Ok(logits)
    }

    fn forward_chunk(&self, state: &mut NativeState, tokens: &[u32]) -> Vec<f32> {
        let c = &self.config;
        let n = tokens.len();
        let first_position = state.tokens.len();
        let (dim, q_dim, kv_dim, ffn_dim) = (c.dim, c.q_dim(), c.kv_dim(), c.ffn_dim);

        let mut x = vec![0f32; n * dim];
        for (row, &token) in x.chunks_exact_mut(dim).zip(tokens) {
            self.token_embd.dequantize_row(token as usize, row);
        }
        let mut normed = vec![0f32; n * dim];
        let mut acts = QuantizedActivations::default();
        let mut q_t = vec![0f32; n * q_dim];
        let mut k_t = vec![0f32; n * kv_dim];
        let mut v_t = vec![0f32; n * kv_dim];
        let mut q = vec![0f32; n * q_dim];
        let mut k = vec![0f32; n * kv_dim];
        let mut v = vec![0f32; n * kv_dim];
        let mut attention_out = vec![0f32; n * q_dim];
        let mut projected_t = vec![0f32; n * dim];
        let mut gate_t = vec![0f32; n * ffn_dim];
        let mut up_t = vec![0f32; n * ffn_dim];
        let mut hidden = vec![0f32; n * ffn_dim];

        for (layer_idx, layer) in self.layers.iter().enumerate() {
            self.by_tokens(&mut normed, dim, |first, out| {
                rms_norm(
                    &x[first * dim..][..out.len()],
                    &layer.attn_norm,
                    c.rms_eps,
                    out,
                )
            });
            acts.quantize(&normed, n, dim, self.parallel(n));
            self.matmul(
                &acts,
                &mut [
                    (&layer.wq, &mut q_t),
                    (&layer.wk, &mut k_t),
                    (&layer.wv, &mut v_t),
                ],
            );
            self.by_tokens(&mut q, q_dim, |first, out| transpose(&q_t, n, first, out));
            self.by_tokens(&mut k, kv_dim, |first, out| transpose(&k_t, n, first, out));
            self.by_tokens(&mut v, kv_dim, |first, out| transpose(&v_t, n, first, out));
            self.apply_rope(&mut q, c.n_heads, first_position);
            self.apply_rope(&mut k, c.n_kv_heads, first_position);
            state.keys[layer_idx].extend_from_slice(&k);
            state.values[layer_idx].extend_from_slice(&v);
            let heads = attention::Heads {
                n_heads: c.n_heads,
                n_kv_heads: c.n_kv_heads,
                head_dim: c.head_dim,
            };
            let (keys, values) = (&state.keys[layer_idx], &state.values[layer_idx]);
            attention::attention(
                heads,
                &q,
                keys,
                values,
                first_position,
                &mut attention_out,
                self.threads > 1,
            );

            acts.quantize(&attention_out, n, q_dim, self.parallel(n));
            self.matmul(&acts, &mut [(&layer.wo, &mut projected_t)]);
            self.by_tokens(&mut x, dim, |first, out| {
                add_transposed(&projected_t, n, first, out)
            });

            self.by_tokens(&mut normed, dim, |first, out| {
                rms_norm(
                    &x[first * dim..][..out.len()],
                    &layer.ffn_norm,
                    c.rms_eps,
                    out,
                )
            });
            acts.quantize(&normed, n, dim, self.parallel(n));
            self.matmul(
                &acts,
                &mut [(&layer.w_gate, &mut gate_t), (&layer.w_up, &mut up_t)],
            );
            let swiglu = |(g, u): (&mut f32, &f32)| *g = silu(*g) * u;
            if self.parallel(n) {
                gate_t
                    .par_iter_mut()
                    .zip(&up_t)
                    .with_min_len(4096)
                    .for_each(swiglu);
            } else {
                gate_t.iter_mut().zip(&up_t).for_each(swiglu);
            }
            self.by_tokens(&mut hidden, ffn_dim, |first, out| {
                transpose(&gate_t, n, first, out)
            });
            acts.quantize(&hidden, n, ffn_dim, self.parallel(n));
            self.matmul(&acts, &mut [(&layer.w_down, &mut projected_t)]);
            self.by_tokens(&mut x, dim, |first, out| {
                add_transposed(&projected_t, n, first, out)
            });
        }

        let last = &x[(n - 1) * dim..];
        let mut last_normed = vec![0f32; dim];
        rms_norm(last, &self.output_norm, c.rms_eps, &mut last_normed);
        acts.quantize(&last_normed, 1, dim, false);
        let mut logits = vec![0f32; c.vocab];
        self.matmul(
            &acts,
            &mut [(
                self.output.as_ref().unwrap_or(&self.token_embd),
                &mut logits,
            )],
        );
        logits
    }

    /// Whether element-wise work on `n_tokens` tokens is worth spreading over the threads.
    fn parallel(&self, n_tokens: usize) -> bool {
        self.threads > 1 && n_tokens >= 16
    }

    /// Runs `work(first_row, chunk)` over chunks of whole rows of `out` (rows of `width`),
    /// in parallel when there are enough rows.
    fn by_tokens(&self, out: &mut [f32], width: usize, work: impl Fn(usize, &mut [f32]) + Sync) {
        let n_rows = out.len() / width;
        if !self.parallel(n_rows) {
            work(0, out);
            return;
        }
        let rows_per_chunk = n_rows.div_ceil(self.threads * 4).max(1);
        out.par_chunks_mut(rows_per_chunk * width)
            .enumerate()
            .for_each(|(chunk_idx, chunk)| work(chunk_idx * rows_per_chunk, chunk));
    }

    /// `out[row][token]` for every job's matrix, all jobs in one parallel region.
    fn matmul(&self, acts: &QuantizedActivations, jobs: &mut [(&PackedMatrix, &mut Vec<f32>)]) {
        let n_tokens = acts.n_tokens;
        let total_groups: usize = jobs.iter().map(|(w, _)| w.groups()).sum();
        // A few chunks per thread balance the load; more only add scheduling.
        let chunk_groups = (total_groups / (self.threads * 4)).max(1);
        let mut tasks = Vec::new();
        for (weights, out) in jobs.iter_mut() {
            debug_assert_eq!(out.len(), weights.rows * n_tokens);
            for (chunk_idx, chunk) in out.chunks_mut(chunk_groups * GROUP * n_tokens).enumerate() {
                tasks.push((*weights, chunk_idx * chunk_groups, chunk));
            }
        }
        if self.threads == 1 {
            for (weights, first_group, chunk) in tasks {
                matmul_rows(self.isa, weights, acts, first_group, chunk);
            }
        } else {
            tasks
                .into_par_iter()
                .for_each(|(weights, first_group, chunk)| {
                    matmul_rows(self.isa, weights, acts, first_group, chunk);
                });
        }
    }

    /// Rotates adjacent pairs of each head's first `rope_dim` values by the token's position.
    fn apply_rope(&self, values: &mut [f32], n_heads: usize, first_position: usize) {
        let c = &self.config;
        let half = c.rope_dim / 2;
        for (t, token) in values.chunks_exact_mut(n_heads * c.head_dim).enumerate() {
            let position = first_position + t;
            let cos = &self.rope_cos[position * half..][..half];
            let sin = &self.rope_sin[position * half..][..half];
            for head in token.chunks_exact_mut(c.head_dim) {
                for (i, pair) in head[..c.rope_dim].chunks_exact_mut(2).enumerate() {
                    let (x0, x1) = (pair[0], pair[1]);
                    pair[0] = x0 * cos[i] - x1 * sin[i];
                    pair[1] = x0 * sin[i] + x1 * cos[i];
                }
            }
        }
    }
}

fn io(file: &GgufFile) -> impl Fn(std::io::Error) -> GenerateError + '_ {
    move |source| GenerateError::WithPath {
        path: file.path.clone(),
        source,
    }
}

fn find<'f>(file: &'f GgufFile, name: &str) -> Result<&'f TensorInfo, GenerateError> {
    file.tensor(name)
        .ok_or_else(|| GenerateError::UnsupportedModel {
            path: file.path.clone(),
            reason: format!("tensor {name} is missing"),
        })
}

fn check_shape(
    file: &GgufFile,
    info: &TensorInfo,
    expected: &[usize],
) -> Result<(), GenerateError> {
    let dims: Vec<usize> = info.dims.iter().map(|&d| d as usize).collect();
    if dims != expected {
        return Err(GenerateError::UnsupportedModel {
            path: file.path.clone(),
            reason: format!(
                "tensor {} has shape {dims:?}, expected {expected:?}",
                info.name
            ),
        });
    }
    Ok(())
}

/// Checks, from the file's directory alone and in the order the native loader reads them, that
/// every tensor the llama forward pass reads has the shape `config` implies: run before either
/// backend loads anything (and before memory is estimated), so a hostile or broken file is
/// refused with the tensor's name rather than met by a panic or a shape error deep in a
/// backend (candle's llama takes tensors as they come). GGUF lists the row length first, so a
/// `rows x cols` matrix has dims `[cols, rows]`. A mixture-of-experts model (candle's backend
/// only) has a router and per-expert feed-forward tensors instead of the dense ones.
pub fn check_llama_shapes(file: &GgufFile, config: &Config) -> Result<(), GenerateError> {
    let c = config;
    let check = |name: &str, expected: &[usize]| check_shape(file, find(file, name)?, expected);
    let embedding = find(file, "token_embd.weight")?;
    if embedding.dims.len() != 2 || embedding.dims[0] as usize != c.dim || c.vocab == 0 {
        return Err(GenerateError::UnsupportedModel {
            path: file.path.clone(),
            reason: format!(
                "tensor token_embd.weight has shape {:?}, expected [{}, vocab]",
                embedding.dims, c.dim
            ),
        });
    }
    if file.tensor("output.weight").is_some() {
        check("output.weight", &[c.dim, c.vocab])?;
    }
    let n_experts = file.arch_u64("expert_count").unwrap_or(0) as usize;
    for layer_idx in 0..c.n_layers {
        let name = |suffix: &str| format!("blk.{layer_idx}.{suffix}.weight");
        check(&name("attn_norm"), &[c.dim])?;
        check(&name("attn_q"), &[c.dim, c.q_dim()])?;
        check(&name("attn_k"), &[c.dim, c.kv_dim()])?;
        check(&name("attn_v"), &[c.dim, c.kv_dim()])?;
        check(&name("attn_output"), &[c.q_dim(), c.dim])?;
        check(&name("ffn_norm"), &[c.dim])?;
        if n_experts > 1 {
            check(&name("ffn_gate_inp"), &[c.dim, n_experts])?;
            for expert in 0..n_experts {
                check(&name(&format!("ffn_gate.{expert}")), &[c.dim, c.ffn_dim])?;
                check(&name(&format!("ffn_up.{expert}")), &[c.dim, c.ffn_dim])?;
                check(&name(&format!("ffn_down.{expert}")), &[c.ffn_dim, c.dim])?;
            }
        } else {
            check(&name("ffn_gate"), &[c.dim, c.ffn_dim])?;
            check(&name("ffn_up"), &[c.dim, c.ffn_dim])?;
            check(&name("ffn_down"), &[c.ffn_dim, c.dim])?;
        }
    }
    check("output_norm.weight", &[c.dim])?;
    if file.tensor("rope_freqs.weight").is_some() {
        check("rope_freqs.weight", &[c.rope_dim / 2])?;
    }
    Ok(())
}

/// A 1-D tensor (norm weights, RoPE factors) as f32.
fn vector(
    file: &GgufFile,
    reader: &mut File,
    name: &str,
    len: usize,
) -> Result<Vec<f32>, GenerateError> {
    let info = find(file, name)?;
    check_shape(file, info, &[len])?;
    let bytes = file.read_tensor_bytes(reader, info)?;
    dequantize(file, info, &bytes)
}

/// Any tensor type candle knows, as f32.
fn dequantize(file: &GgufFile, info: &TensorInfo, bytes: &[u8]) -> Result<Vec<f32>, GenerateError> {
    if info.ggml_type == GgmlType::F32 {
        return Ok(bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect());
    }
    let dtype = info
        .ggml_type
        .to_candle()
        .ok_or_else(|| GenerateError::UnsupportedModel {
            path: file.path.clone(),
            reason: format!(
                "tensor {} has type {}, which Docent cannot read",
                info.name,
                info.ggml_type.name()
            ),
        })?;
    let device = candle_core::Device::Cpu;
    let storage = candle_core::quantized::QStorage::from_data(
        std::borrow::Cow::Borrowed(bytes),
        &device,
        dtype,
    )?;
    let shape: Vec<usize> = info.dims.iter().rev().map(|&d| d as usize).collect();
    let tensor = candle_core::quantized::QTensor::new(storage, shape)?;
    Ok(tensor
        .dequantize(&device)?
        .flatten_all()?
        .to_vec1::<f32>()?)
}

fn pack_matrix(
    file: &GgufFile,
    reader: &mut File,
    info: &TensorInfo,
    format: WeightFormat,
    requantized: &mut Vec<(String, GgmlType)>,
) -> Result<PackedMatrix, GenerateError> {
    let (rows, cols) = info.rows_and_cols();
    if cols % BLOCK != 0 {
        return Err(GenerateError::UnsupportedModel {
            path: file.path.clone(),
            reason: format!(
                "tensor {} has rows of {cols}, not a multiple of {BLOCK}",
                info.name
            ),
        });
    }
    let bytes = file.read_tensor_bytes(reader, info)?;
    Ok(match (info.ggml_type, format) {
        (GgmlType::Q4_0, WeightFormat::AsShipped) => PackedMatrix::from_q4_0(&bytes, rows, cols),
        (GgmlType::Q4_1, WeightFormat::AsShipped) => PackedMatrix::from_q4_1(&bytes, rows, cols),
        (GgmlType::Q8_0, _) => PackedMatrix::from_q8_0(&bytes, rows, cols),
        (other, _) => {
            requantized.push((info.name.clone(), other));
            PackedMatrix::quantize_i8(&dequantize(file, info, &bytes)?, rows, cols)
        }
    })
}

/// cos and sin of every position's rotation angles, `[position][rope_dim / 2]`.
fn rope_table(c: &Config, factors: Option<&[f32]>) -> (Vec<f32>, Vec<f32>) {
    let half = c.rope_dim / 2;
    let inverse_frequencies: Vec<f64> = (0..half)
        .map(|i| {
            let base = (c.rope_base as f64).powf(-2.0 * i as f64 / c.rope_dim as f64);
            base / factors.map_or(1.0, |f| f[i] as f64)
        })
        .collect();
    let mut cos = Vec::with_capacity(c.context_length * half);
    let mut sin = Vec::with_capacity(c.context_length * half);
    for position in 0..c.context_length {
        let position = position as f64 / c.rope_scale as f64;
        for &frequency in &inverse_frequencies {
            let angle = position * frequency;
            cos.push(angle.cos() as f32);
            sin.push(angle.sin() as f32);
        }
    }
    (cos, sin)
}

fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let dim = weight.len();
    for (row, out_row) in x.chunks_exact(dim).zip(out.chunks_exact_mut(dim)) {
        let scale = 1.0 / (dot(row, row) / dim as f32 + eps).sqrt();
        for ((o, &v), &w) in out_row.iter_mut().zip(row).zip(weight) {
            *o = v * scale * w;
        }
    }
}

/// Side of the square tiles the transposes move: both a tile's reads and its writes stay in a
/// few cache lines, where a plain loop would stride across the whole matrix on every write.
const TRANSPOSE_TILE: usize = 16;

/// Tokens `first_token ..` of `[row][token]` data, written `[token][row]` into `out`.
fn transpose(rows_by_token: &[f32], n_tokens: usize, first_token: usize, out: &mut [f32]) {
    if n_tokens == 1 {
        out.copy_from_slice(rows_by_token);
        return;
    }
    for_each_transposed(rows_by_token, n_tokens, first_token, out, |slot, value| {
        *slot = value
    });
}

/// `x[token][row] += rows_by_token[row][token]` for tokens `first_token ..` (`x` holds those).
fn add_transposed(rows_by_token: &[f32], n_tokens: usize, first_token: usize, x: &mut [f32]) {
    for_each_transposed(rows_by_token, n_tokens, first_token, x, |slot, value| {
        *slot += value
    });
}

/// Calls `apply(&mut out[token - first_token][row], rows_by_token[row][token])` tile by tile.
#[inline(always)]
fn for_each_transposed(
    rows_by_token: &[f32],
    n_tokens: usize,
    first_token: usize,
    out: &mut [f32],
    apply: impl Fn(&mut f32, f32),
) {
    let n_rows = rows_by_token.len() / n_tokens;
    let out_tokens = out.len() / n_rows;
    for row_start in (0..n_rows).step_by(TRANSPOSE_TILE) {
        let row_end = (row_start + TRANSPOSE_TILE).min(n_rows);
        for token_start in (0..out_tokens).step_by(TRANSPOSE_TILE) {
            let token_end = (token_start + TRANSPOSE_TILE).min(out_tokens);
            for token in token_start..token_end {
                let out_row = &mut out[token * n_rows..][..n_rows];
                for row in row_start..row_end {
                    apply(
                        &mut out_row[row],
                        rows_by_token[row * n_tokens + first_token + token],
                    );
                }
            }
        }
    }
}

fn silu(x: f32) -> f32 {
    x / (1.0 + exp_approx(-x))
}

/// `e^x` to a few millionths relative error, in a form the compiler vectorizes.
#[inline(always)]
fn exp_approx(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let t = x * std::f32::consts::LOG2_E;
    let whole = t.floor();
    let f = t - whole;
    // 2^f on [0, 1): Taylor series of e^(f ln 2) to the 7th power.
    let p = 1.0
        + f * (std::f32::consts::LN_2
            + f * (0.240_226_5
                + f * (0.055_504_11
                    + f * (0.009_618_129
                        + f * (0.001_333_355_8 + f * (0.000_154_035_3 + f * 0.000_015_252_73))))));
    f32::from_bits(((whole as i32 + 127) as u32) << 23) * p
}

/// In place. Reductions run in 8 lanes so that the compiler vectorizes them (a plain float
/// sum or max must keep its order and stays scalar).
fn softmax(values: &mut [f32]) {
    let mut lanes = [f32::NEG_INFINITY; 8];
    let chunks = values.chunks_exact(8);
    let mut max = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    for chunk in chunks {
        for i in 0..8 {
            lanes[i] = lanes[i].max(chunk[i]);
        }
    }
    max = lanes.iter().fold(max, |m, &v| m.max(v));
    for v in values.iter_mut() {
        *v = exp_approx(*v - max);
    }
    let inverse = 1.0 / sum(values);
    for v in values.iter_mut() {
        *v *= inverse;
    }
}

fn sum(values: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let chunks = values.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().sum();
    for chunk in chunks {
        for i in 0..8 {
            lanes[i] += chunk[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for i in 0..8 {
            lanes[i] = x[i].mul_add(y[i], lanes[i]);
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[inline]
fn axpy(alpha: f32, x: &[f32], y: &mut [f32]) {
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi = alpha.mul_add(xi, *yi);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_approx_is_accurate() {
        for i in -8700..=8800 {
            let x = i as f32 / 100.0;
            let (got, want) = (exp_approx(x), x.exp());
            // Rounding x * log2(e) in f32 costs up to a few millionths relative at the ends of the range.
            assert!(
                (got - want).abs() <= 8e-6 * want,
                "exp({x}) = {got}, want {want}"
            );
        }
        assert_eq!(exp_approx(-1000.0), exp_approx(-87.0));
        assert!(silu(-1000.0).abs() < 1e-30 && (silu(1000.0) - 1000.0).abs() < 1e-3);
    }

    #[test]
    fn softmax_and_norm_match_the_definitions() {
        let mut values = vec![1.0, 2.0, 3.0, -50.0];
        softmax(&mut values);
        let denominator: f32 = [1f32, 2.0, 3.0, -50.0].iter().map(|v| v.exp()).sum();
        for (got, x) in values.iter().zip([1f32, 2.0, 3.0, -50.0]) {
            assert!((got - x.exp() / denominator).abs() < 1e-6);
        }
        let mut out = [0f32; 4];
        rms_norm(
            &[1.0, -2.0, 3.0, -4.0],
            &[1.0, 1.0, 2.0, 0.5],
            0.0,
            &mut out,
        );
        let rms = (30f32 / 4.0).sqrt();
        assert_eq!(
            out.map(|v| (v * 1e4).round()),
            [1.0 / rms, -2.0 / rms, 6.0 / rms, -2.0 / rms].map(|v| (v * 1e4).round())
        );
    }

    #[test]
    fn transposes_round_trip() {
        let rows_by_token: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let mut by_token = vec![0f32; 12];
        transpose(&rows_by_token, 3, 0, &mut by_token);
        assert_eq!(
            by_token,
            [0.0, 3.0, 6.0, 9.0, 1.0, 4.0, 7.0, 10.0, 2.0, 5.0, 8.0, 11.0]
        );
        let mut x = vec![1f32; 12];
        add_transposed(&rows_by_token, 3, 0, &mut x);
        assert_eq!(x, by_token.iter().map(|v| v + 1.0).collect::<Vec<_>>());
        // A later range of tokens only.
        let mut tail = vec![0f32; 4];
        transpose(&rows_by_token, 3, 2, &mut tail);
        assert_eq!(tail, by_token[8..]);
        let big: Vec<f32> = (0..40 * 37).map(|v| v as f32).collect();
        let mut whole = vec![0f32; big.len()];
        transpose(&big, 37, 0, &mut whole);
        assert!(
            (0..40)
                .all(|row| (0..37).all(|token| whole[token * 40 + row] == big[row * 37 + token]))
        );
        assert_eq!(
            dot(&by_token, &by_token),
            (0..12).map(|v| (v * v) as f32).sum::<f32>()
        );
    }
}
