//! Text generation for Docent: a quantized llama-family model from a GGUF file, its tokenizer and
//! chat template, sampling and streaming.
//!
//! - [`gguf::inspect`] reads and checks a model file's header (a GGUF file is untrusted input:
//!   every count, length and offset is checked against the file size) and summarises it.
//! - [`Llm::load`] refuses a model that would not fit in memory, then loads it on the CPU with
//!   Docent's own integer kernels ([`native`]) or, on a GPU, with candle's quantized llama.
//! - [`Llm::generate`] renders a conversation with the model's chat template ([`template`]),
//!   encodes it so that message contents can never become control tokens ([`tokenizer`]),
//!   and streams the answer token by token until the end of the turn, a length limit, a full
//!   context or cancellation.
//! - [`bench`] holds the pieces of `docent bench llm`.
//!
//! ```no_run
//! use std::sync::atomic::AtomicBool;
//! use docent_generate::{ChatMessage, Llm, LoadOptions, SamplingParams, default_model_path};
//!
//! let llm = Llm::load(&default_model_path(), &LoadOptions::default())?;
//! let messages = [
//!     ChatMessage::system("Answer from the context only."),
//!     ChatMessage::user("Context: The Eiffel Tower is 330 metres tall.\n\nHow tall is the Eiffel Tower?"),
//! ];
//! let cancel = AtomicBool::new(false);
//! let answer = llm.generate(&messages, &SamplingParams::default(), &mut |piece| print!("{piece}"), &cancel)?;
//! assert!(answer.text.contains("330"));
//! # Ok::<(), docent_generate::GenerateError>(())
//! ```

pub mod bench;
mod candle_backend;
mod error;
pub mod gguf;
pub mod memory;
pub mod native;
pub mod template;
pub mod tokenizer;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};

pub use error::GenerateError;
pub use gguf::{GgufSummary, inspect};
pub use memory::MemoryEstimate;
pub use template::{BuiltinTemplate, ChatMessage, Role, render_chat};
pub use tokenizer::{GgufTokenizer, Segment, TokenStream};

use candle_backend::{CANDLE_MAX_CONTEXT, CandleModel};
use gguf::GgufFile;
use native::{Config, NativeModel, NativeState, PREFILL_CHUNK, WeightFormat};
use template::PromptPiece;

/// The file name of the default model inside the models folder.
pub const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// The models folder: `$DOCENT_MODELS_DIR`, else `$XDG_DATA_HOME/docent/models`, else
/// `~/.local/share/docent/models`.
pub fn models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DOCENT_MODELS_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".local/share")
        });
    data.join("docent").join("models")
}

/// The default model file in [`models_dir`].
pub fn default_model_path() -> PathBuf {
    models_dir().join(DEFAULT_MODEL_FILE)
}

/// Where the model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// A GPU when this build supports one and it is there, else the CPU.
    #[default]
    Auto,
    Cpu,
    Cuda,
    Metal,
}

/// Whether weights are re-quantized at load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Requantize {
    /// Keep what the CPU kernels read directly (Q4_0, Q4_1, Q8_0); re-quantize other types to
    /// Q8_0 (more memory, same speed class).
    #[default]
    Auto,
    /// Use the weights exactly as shipped: a file with types the CPU kernels do not read runs on
    /// candle's backend instead.
    Never,
    /// Re-quantize every weight matrix to Q8_0.
    Q8_0,
}

/// Which implementation runs the model on the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CpuBackend {
    /// Docent's integer kernels ([`native`]).
    #[default]
    Docent,
    /// candle's quantized llama (for comparison and benchmarks).
    Candle,
}

/// How to load a model.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LoadOptions {
    pub device: DeviceChoice,
    /// Worker threads on the CPU; `None`: one per core.
    pub threads: Option<usize>,
    pub requantize: Requantize,
    /// Cap on the context (prompt + answer) in tokens; `None`: the model's training context.
    pub context_limit: Option<usize>,
    pub cpu_backend: CpuBackend,
}

/// How to pick each next token.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// 0 picks the most likely token (greedy), which suits grounded answers from a small model.
    pub temperature: f64,
    /// Nucleus sampling mass (1 = off); used when `temperature > 0`.
    pub top_p: f64,
    /// Keep only the `top_k` most likely tokens (0 = off); used when `temperature > 0`.
    pub top_k: usize,
    /// Divides the logits of recently seen tokens (1 = off).
    pub repeat_penalty: f32,
    /// How many recent tokens (prompt included) the penalty looks at.
    pub repeat_last_n: usize,
    pub seed: u64,
    pub max_new_tokens: usize,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.0,
            top_p: 0.95,
            top_k: 40,
            repeat_penalty: 1.1,
            repeat_last_n: 64,
            seed: 299_792_458,
            max_new_tokens: 512,
        }
    }
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The model ended its turn (or the text).
    EndOfTurn,
    MaxTokens,
    /// The context (prompt + answer) is full.
    ContextFull,
    Cancelled,
}

/// A finished (or stopped) answer and its timings.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    pub text: String,
    pub prompt_tokens: usize,
    /// Prompt tokens whose keys and values were still cached from the previous call.
    pub reused_prompt_tokens: usize,
    pub generated_tokens: usize,
    pub stop_reason: StopReason,
    /// Time to process the (new part of the) prompt.
    pub prompt_ms: f64,
    /// From the call to the first generated token.
    pub first_token_ms: f64,
    pub total_ms: f64,
    pub prompt_tokens_per_s: f64,
    /// Tokens per second after the first one.
    pub decode_tokens_per_s: f64,
}

enum Engine {
    Native {
        model: Box<NativeModel>,
        state: NativeState,
    },
    Candle {
        model: Box<CandleModel>,
        pool: Option<rayon::ThreadPool>,
    },
}

impl Engine {
    /// Processes `prompt` and returns the logits after its last token, reusing the cached prefix
    /// it shares with the previous call. `None` when cancelled.
    fn prefill(
        &mut self,
        prompt: &[u32],
        cancel: &AtomicBool,
    ) -> Result<Option<(Vec<f32>, usize)>, GenerateError> {
        match self {
            Engine::Native { model, state } => {
                let kv_dim = model.config().kv_dim();
                let shared = state
                    .tokens()
                    .iter()
                    .zip(prompt)
                    .take_while(|(a, b)| a == b)
                    .count();
                // At least the last prompt token is fed again: its logits are needed.
                let reused = shared.min(prompt.len() - 1);
                state.truncate(reused, kv_dim);
                // The last prompt token always goes through on its own, so that its logits (and
                // so a seeded sample) are the same whether or not the rest came from the cache:
                // batched and single-token attention round differently.
                let (body, last) = prompt.split_at(prompt.len() - 1);
                let mut logits = Vec::new();
                for chunk in body[reused..].chunks(PREFILL_CHUNK).chain([last]) {
                    if cancel.load(Ordering::Relaxed) {
                        state.clear();
                        return Ok(None);
                    }
                    logits = model.forward(state, chunk)?;
                }
                Ok(Some((logits, reused)))
            }
            Engine::Candle { model, pool } => {
                model.clear();
                let mut logits = Vec::new();
                for chunk in prompt.chunks(PREFILL_CHUNK) {
                    if cancel.load(Ordering::Relaxed) {
                        return Ok(None);
                    }
                    logits = match pool {
                        Some(pool) => pool.install(|| model.forward(chunk))?,
                        None => model.forward(chunk)?,
                    };
                }
                Ok(Some((logits, 0)))
            }
        }
    }

    fn decode(&mut self, token: u32) -> Result<Vec<f32>, GenerateError> {
        match self {
            Engine::Native { model, state } => model.forward(state, &[token]),
            Engine::Candle { model, pool } => match pool {
                Some(pool) => pool.install(|| model.forward(&[token])),
                None => model.forward(&[token]),
            },
        }
    }

    /// Forgets cached tokens (after an error the cache may be half-written).
    fn reset(&mut self) {
        match self {
            Engine::Native { state, .. } => state.clear(),
            Engine::Candle { model, .. } => model.clear(),
        }
    }
}

/// A loaded model, ready to answer. Calls are serialised on an internal lock (one generation
/// at a time); the type is `Send + Sync` so it can sit in an `Arc` shared by threads.
pub struct Llm {
    summary: GgufSummary,
    tokenizer: GgufTokenizer,
    chat_template: String,
    builtin_template: Option<BuiltinTemplate>,
    context_length: usize,
    engine: Mutex<Engine>,
    notices: Vec<String>,
    load_ms: f64,
    memory: MemoryEstimate,
    backend: String,
}

impl std::fmt::Debug for Llm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Llm")
            .field("path", &self.summary.path)
            .field("backend", &self.backend)
            .field("context_length", &self.context_length)
            .finish_non_exhaustive()
    }
}

impl Llm {
    /// Checks `path`, refuses it when it would not fit in memory, and loads it.
    pub fn load(path: &Path, options: &LoadOptions) -> Result<Self, GenerateError> {
        let started = Instant::now();
        let file = GgufFile::open(path)?;
        let summary = file.summary();
        let tokenizer = check_model(&file, &summary)?;
        let threads = options.threads.unwrap_or_else(default_threads).max(1);
        let mut notices = Vec::new();
        let device = pick_device(options.device, &mut notices)?;
        let Plan {
            config,
            use_candle,
            format,
            memory,
        } = plan(&file, options, device.is_cpu())?;
        if device.is_cpu() {
            memory::ensure_fits(path, &memory, memory::available_memory())?;
        }

        let context_length = config.context_length;
        let (engine, backend) = if use_candle {
            let model = CandleModel::load(&file, &config, &device)?;
            let pool = if device.is_cpu() {
                Some(
                    rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .build()?,
                )
            } else {
                None
            };
            let where_ = if device.is_cpu() {
                format!("cpu, {threads} threads")
            } else {
                format!("{device:?}")
            };
            (
                Engine::Candle {
                    model: Box::new(model),
                    pool,
                },
                format!("candle ({where_})"),
            )
        } else {
            let model = NativeModel::load(&file, config, format, threads)?;
            if !model.requantized().is_empty() {
                let types: std::collections::BTreeSet<&str> =
                    model.requantized().iter().map(|(_, t)| t.name()).collect();
                notices.push(format!(
                    "re-quantized {} weight tensors ({}) to Q8_0 for the CPU kernels",
                    model.requantized().len(),
                    types.into_iter().collect::<Vec<_>>().join(", ")
                ));
            }
            let backend = format!(
                "docent cpu ({}, {threads} threads, {:.0} MiB of weights)",
                model.isa().name(),
                model.weight_bytes() as f64 / (1 << 20) as f64
            );
            (
                Engine::Native {
                    model: Box::new(model),
                    state: NativeState::default(),
                },
                backend,
            )
        };

        let (chat_template, builtin_template) = choose_template(&summary, &tokenizer, &mut notices);
        Ok(Self {
            summary,
            tokenizer,
            chat_template,
            builtin_template,
            context_length,
            engine: Mutex::new(engine),
            notices,
            load_ms: started.elapsed().as_secs_f64() * 1000.0,
            memory,
            backend,
        })
    }

    /// What [`Llm::load`] would need in memory for `path` with `options` (on the CPU unless
    /// `options.device` names a GPU), without loading any weights.
    pub fn estimate_memory(
        path: &Path,
        options: &LoadOptions,
    ) -> Result<MemoryEstimate, GenerateError> {
        let file = GgufFile::open(path)?;
        check_model(&file, &file.summary())?;
        let on_gpu = matches!(options.device, DeviceChoice::Cuda | DeviceChoice::Metal);
        Ok(plan(&file, options, !on_gpu)?.memory)
    }

    pub fn info(&self) -> &GgufSummary {
        &self.summary
    }

    pub fn tokenizer(&self) -> &GgufTokenizer {
        &self.tokenizer
    }

    /// Tokens of prompt plus answer the model can hold: the training context, capped by
    /// [`LoadOptions::context_limit`] (and by 4096 on candle's backend).
    pub fn context_length(&self) -> usize {
        self.context_length
    }

    /// Tokens `text` takes as untrusted prompt text.
    pub fn count_tokens(&self, text: &str) -> Result<usize, GenerateError> {
        self.tokenizer.count_tokens(text)
    }

    /// One-line notes for the person running Docent (CPU fallback, re-quantization, template).
    pub fn notices(&self) -> &[String] {
        &self.notices
    }

    pub fn load_ms(&self) -> f64 {
        self.load_ms
    }

    /// The memory estimate the load was checked against.
    pub fn memory_estimate(&self) -> MemoryEstimate {
        self.memory
    }

    /// Which backend runs the model, in words (for `docent bench` and logs).
    pub fn backend(&self) -> &str {
        &self.backend
    }

    /// The chat template in use (the model's own, or a built-in one).
    pub fn chat_template(&self) -> &str {
        &self.chat_template
    }

    /// The built-in template in use, when the model's own was missing or unusable.
    pub fn builtin_template(&self) -> Option<BuiltinTemplate> {
        self.builtin_template
    }

    /// The prompt text for `messages`, as the model will see it (for display and debugging).
    pub fn render_prompt(&self, messages: &[ChatMessage]) -> Result<String, GenerateError> {
        render_chat(
            &self.chat_template,
            messages,
            true,
            self.tokenizer.bos_token(),
            self.tokenizer.eos_token(),
        )
    }

    /// The prompt token ids for `messages`: the template's control tokens count, while message
    /// contents are encoded as plain text whatever they contain.
    pub fn encode_chat(&self, messages: &[ChatMessage]) -> Result<Vec<u32>, GenerateError> {
        let pieces = template::render_chat_pieces(
            &self.chat_template,
            messages,
            true,
            self.tokenizer.bos_token(),
            self.tokenizer.eos_token(),
        )?;
        let segments: Vec<Segment<'_>> = pieces
            .iter()
            .map(|piece| match piece {
                PromptPiece::Template(text) => Segment::Template(text),
                PromptPiece::Content(idx) => Segment::Untrusted(&messages[*idx].content),
            })
            .collect();
        self.tokenizer.encode_prompt(&segments)
    }

    /// Answers the conversation `prompt`, calling `on_token` with each new piece of text.
    /// Cancellation (`cancel` set) is checked before every token and returns what was produced.
    pub fn generate(
        &self,
        prompt: &[ChatMessage],
        params: &SamplingParams,
        on_token: &mut dyn FnMut(&str),
        cancel: &AtomicBool,
    ) -> Result<Generation, GenerateError> {
        let started = Instant::now();
        let ids = self.encode_chat(prompt)?;
        self.generate_from(started, &ids, params, on_token, cancel)
    }

    /// Continues from prompt token ids as they are (benchmarks, tests).
    pub fn generate_raw(
        &self,
        prompt_ids: &[u32],
        params: &SamplingParams,
        on_token: &mut dyn FnMut(&str),
        cancel: &AtomicBool,
    ) -> Result<Generation, GenerateError> {
        self.generate_from(Instant::now(), prompt_ids, params, on_token, cancel)
    }

    fn generate_from(
        &self,
        started: Instant,
        prompt_ids: &[u32],
        params: &SamplingParams,
        on_token: &mut dyn FnMut(&str),
        cancel: &AtomicBool,
    ) -> Result<Generation, GenerateError> {
        validate(params)?;
        if prompt_ids.is_empty() {
            return Err(GenerateError::Tokenize {
                reason: "the prompt is empty".into(),
            });
        }
        if prompt_ids.len() >= self.context_length {
            return Err(GenerateError::PromptTooLong {
                prompt_tokens: prompt_ids.len(),
                context_length: self.context_length,
            });
        }
        let mut engine = self
            .engine
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let result = run_generation(
            &mut engine,
            &self.tokenizer,
            self.context_length,
            started,
            prompt_ids,
            params,
            on_token,
            cancel,
        );
        if result.is_err() {
            engine.reset();
        }
        result
    }
}

#[allow(clippy::too_many_arguments)]
fn run_generation(
    engine: &mut Engine,
    tokenizer: &GgufTokenizer,
    context_length: usize,
    started: Instant,
    prompt_ids: &[u32],
    params: &SamplingParams,
    on_token: &mut dyn FnMut(&str),
    cancel: &AtomicBool,
) -> Result<Generation, GenerateError> {
    let elapsed_ms = |since: Instant| since.elapsed().as_secs_f64() * 1000.0;
    let mut generation = Generation {
        text: String::new(),
        prompt_tokens: prompt_ids.len(),
        reused_prompt_tokens: 0,
        generated_tokens: 0,
        stop_reason: StopReason::Cancelled,
        prompt_ms: 0.0,
        first_token_ms: 0.0,
        total_ms: 0.0,
        prompt_tokens_per_s: 0.0,
        decode_tokens_per_s: 0.0,
    };
    let prompt_started = Instant::now();
    let Some((mut logits, reused)) = engine.prefill(prompt_ids, cancel)? else {
        generation.total_ms = elapsed_ms(started);
        return Ok(generation);
    };
    generation.reused_prompt_tokens = reused;
    generation.prompt_ms = elapsed_ms(prompt_started);
    generation.prompt_tokens_per_s = per_second(prompt_ids.len() - reused, generation.prompt_ms);

    let mut processor = LogitsProcessor::from_sampling(params.seed, sampling(params));
    let mut history: Vec<u32> = prompt_ids.to_vec();
    let mut stream = tokenizer.stream();
    let mut first_token_at: Option<Instant> = None;
    let stop_reason = loop {
        if cancel.load(Ordering::Relaxed) {
            break StopReason::Cancelled;
        }
        if generation.generated_tokens >= params.max_new_tokens {
            break StopReason::MaxTokens;
        }
        let recent = &history[history.len().saturating_sub(params.repeat_last_n)..];
        apply_repeat_penalty(&mut logits, params.repeat_penalty, recent);
        let vocab = logits.len();
        let next = processor.sample(&Tensor::from_vec(
            std::mem::take(&mut logits),
            vocab,
            &Device::Cpu,
        )?)?;
        if first_token_at.is_none() {
            first_token_at = Some(Instant::now());
            generation.first_token_ms = elapsed_ms(started);
        }
        if tokenizer.is_stop(next) {
            break StopReason::EndOfTurn;
        }
        generation.generated_tokens += 1;
        history.push(next);
        if let Some(piece) = stream.push(next)? {
            generation.text.push_str(&piece);
            on_token(&piece);
        }
        if history.len() >= context_length {
            break StopReason::ContextFull;
        }
        if generation.generated_tokens >= params.max_new_tokens || cancel.load(Ordering::Relaxed) {
            // Skip the forward pass whose logits nobody would read.
            continue;
        }
        logits = engine.decode(next)?;
    };
    if let Some(rest) = stream.finish()? {
        generation.text.push_str(&rest);
        on_token(&rest);
    }
    generation.stop_reason = stop_reason;
    generation.total_ms = elapsed_ms(started);
    if let Some(first) = first_token_at
        && generation.generated_tokens > 1
    {
        generation.decode_tokens_per_s =
            per_second(generation.generated_tokens - 1, elapsed_ms(first));
    }
    Ok(generation)
}

/// Refuses files that are not llama-family models with a tokenizer; returns the tokenizer.
fn check_model(file: &GgufFile, summary: &GgufSummary) -> Result<GgufTokenizer, GenerateError> {
    let path = &file.path;
    if summary.architecture != "llama" {
        return Err(GenerateError::UnsupportedArchitecture {
            path: path.clone(),
            architecture: if summary.architecture.is_empty() {
                "(none)".into()
            } else {
                summary.architecture.clone()
            },
        });
    }
    let tokenizer = GgufTokenizer::from_gguf(file)?;
    let unsupported = |reason: String| GenerateError::UnsupportedModel {
        path: path.clone(),
        reason,
    };
    let Some(embedding) = file.tensor("token_embd.weight") else {
        return Err(unsupported("tensor token_embd.weight is missing".into()));
    };
    let vocab = embedding.rows_and_cols().0;
    if vocab < tokenizer.vocab_size() {
        return Err(unsupported(format!(
            "the tokenizer has {} tokens but the embedding {vocab}",
            tokenizer.vocab_size()
        )));
    }
    Ok(tokenizer)
}

/// How a model will be loaded.
struct Plan {
    config: Config,
    use_candle: bool,
    format: WeightFormat,
    memory: MemoryEstimate,
}

fn plan(file: &GgufFile, options: &LoadOptions, on_cpu: bool) -> Result<Plan, GenerateError> {
    let mut config = Config::from_gguf(file, options.context_limit)?;
    // Before any size is derived from the tensors, and for both backends.
    native::check_llama_shapes(file, &config)?;
    let use_candle = !on_cpu
        || options.cpu_backend == CpuBackend::Candle
        || (options.requantize == Requantize::Never && !memory::all_native(file))
        || cfg!(not(target_arch = "x86_64"))
        || file.arch_u64("expert_count").unwrap_or(0) > 1;
    if use_candle {
        config.context_length = config.context_length.min(CANDLE_MAX_CONTEXT);
    }
    let format = match options.requantize {
        Requantize::Q8_0 => WeightFormat::AllI8,
        Requantize::Auto | Requantize::Never => WeightFormat::AsShipped,
    };
    let memory = if use_candle {
        MemoryEstimate::for_candle(file, &config)
    } else {
        MemoryEstimate::for_native(file, &config, format)
    };
    Ok(Plan {
        config,
        use_candle,
        format,
        memory,
    })
}

fn per_second(count: usize, ms: f64) -> f64 {
    if ms > 0.0 {
        count as f64 * 1000.0 / ms
    } else {
        0.0
    }
}

fn validate(params: &SamplingParams) -> Result<(), GenerateError> {
    let bad = |reason: &str| {
        Err(GenerateError::BadSamplingParams {
            reason: reason.into(),
        })
    };
    if !params.temperature.is_finite() || params.temperature < 0.0 {
        return bad("temperature must be 0 or more");
    }
    if !(params.top_p > 0.0 && params.top_p <= 1.0) {
        return bad("top_p must be in (0, 1]");
    }
    if !(params.repeat_penalty.is_finite() && params.repeat_penalty > 0.0) {
        return bad("repeat_penalty must be more than 0");
    }
    Ok(())
}

fn sampling(params: &SamplingParams) -> Sampling {
    let temperature = params.temperature;
    if temperature <= 0.0 {
        return Sampling::ArgMax;
    }
    match (params.top_k > 0, params.top_p < 1.0) {
        (true, true) => Sampling::TopKThenTopP {
            k: params.top_k,
            p: params.top_p,
            temperature,
        },
        (true, false) => Sampling::TopK {
            k: params.top_k,
            temperature,
        },
        (false, true) => Sampling::TopP {
            p: params.top_p,
            temperature,
        },
        (false, false) => Sampling::All { temperature },
    }
}

/// llama.cpp's and candle's repeat penalty: each distinct recent token's logit moves toward
/// less likely by the factor `penalty`.
fn apply_repeat_penalty(logits: &mut [f32], penalty: f32, recent: &[u32]) {
    if penalty == 1.0 {
        return;
    }
    let mut seen = std::collections::HashSet::new();
    for &token in recent {
        if seen.insert(token)
            && let Some(logit) = logits.get_mut(token as usize)
        {
            *logit = if *logit >= 0.0 {
                *logit / penalty
            } else {
                *logit * penalty
            };
        }
    }
}

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn pick_device(choice: DeviceChoice, notices: &mut Vec<String>) -> Result<Device, GenerateError> {
    let cuda =
        || Device::new_cuda(0).map_err(|error| unavailable("cuda", cfg!(feature = "cuda"), error));
    let metal = || {
        Device::new_metal(0).map_err(|error| unavailable("metal", cfg!(feature = "metal"), error))
    };
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Cuda => cuda(),
        DeviceChoice::Metal => metal(),
        DeviceChoice::Auto => {
            if cfg!(feature = "cuda") {
                match cuda() {
                    Ok(device) => return Ok(device),
                    Err(error) => notices.push(format!("running on the CPU: {error}")),
                }
            } else if cfg!(feature = "metal") {
                match metal() {
                    Ok(device) => return Ok(device),
                    Err(error) => notices.push(format!("running on the CPU: {error}")),
                }
            } else {
                notices.push("running on the CPU (this build has no GPU support)".into());
            }
            Ok(Device::Cpu)
        }
    }
}

fn unavailable(device: &'static str, compiled: bool, error: candle_core::Error) -> GenerateError {
    let reason = if compiled {
        error.to_string()
    } else {
        format!("this build has no {device} support")
    };
    GenerateError::DeviceUnavailable { device, reason }
}

/// The model's own template when it renders a probe conversation and keeps contents apart;
/// otherwise the built-in one that fits its vocabulary.
fn choose_template(
    summary: &GgufSummary,
    tokenizer: &GgufTokenizer,
    notices: &mut Vec<String>,
) -> (String, Option<BuiltinTemplate>) {
    let probe = [
        ChatMessage::system("s"),
        ChatMessage::user("u"),
        ChatMessage::assistant("a"),
        ChatMessage::user("v"),
    ];
    if let Some(template) = &summary.chat_template {
        match template::render_chat_pieces(
            template,
            &probe,
            true,
            tokenizer.bos_token(),
            tokenizer.eos_token(),
        ) {
            Ok(_) => return (template.clone(), None),
            Err(error) => notices.push(format!(
                "the model's chat template is unusable ({error}); using a built-in one"
            )),
        }
    }
    let builtin = BuiltinTemplate::for_vocabulary(
        |token| tokenizer.token_id(token).is_some(),
        summary.name.as_deref().unwrap_or(""),
    );
    (builtin.source().to_string(), Some(builtin))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_built(metadata: &[(&str, gguf::testing::Value<'_>)]) -> Result<Llm, GenerateError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("built.gguf");
        let embedding = gguf::testing::Tensor {
            name: "token_embd.weight",
            dims: vec![64, 3],
            type_id: 0,
            data: vec![0; 64 * 3 * 4],
        };
        std::fs::write(&path, gguf::testing::build(metadata, &[embedding])).unwrap();
        Llm::load(&path, &LoadOptions::default())
    }

    #[test]
    fn refuses_other_architectures_and_absurd_hyper_parameters() {
        use gguf::testing::Value;
        let message = load_built(&[("general.architecture", Value::Str("gpt2"))])
            .unwrap_err()
            .to_string();
        assert!(
            message.contains(
                "unsupported model architecture gpt2 (Docent runs llama-family GGUF models)"
            ),
            "{message}"
        );
        let message = load_built(&[]).unwrap_err().to_string();
        assert!(
            message.contains("unsupported model architecture (none)"),
            "{message}"
        );
        let tokenizer = [
            ("general.architecture", Value::Str("llama")),
            ("tokenizer.ggml.model", Value::Str("gpt2")),
            (
                "tokenizer.ggml.tokens",
                Value::Strings(vec!["a".into(), "b".into(), "ab".into()]),
            ),
            ("tokenizer.ggml.merges", Value::Strings(vec!["a b".into()])),
        ];
        let hyper = |context: u64| {
            [
                ("llama.block_count", Value::U32(1)),
                ("llama.embedding_length", Value::U32(64)),
                ("llama.attention.head_count", Value::U32(2)),
                ("llama.feed_forward_length", Value::U32(64)),
                ("llama.context_length", Value::U64(context)),
            ]
        };
        for (context, expected) in [
            (u64::MAX, "implausible context length"),
            (0, "implausible context length"),
            (512, "tensor blk.0.attn_norm.weight is missing"),
        ] {
            let metadata: Vec<_> = tokenizer.iter().cloned().chain(hyper(context)).collect();
            let message = load_built(&metadata).unwrap_err().to_string();
            assert!(message.contains(expected), "context {context}: {message}");
        }
    }

    /// A complete one-layer llama (width 32, two heads, zero f32 weights) whose tensor
    /// `wrong` (if any) has the shape `dims` instead of its own.
    fn tiny_llama(wrong: Option<(&str, Vec<u64>)>) -> Vec<u8> {
        use gguf::testing::{Tensor, Value};
        let metadata = [
            ("general.architecture", Value::Str("llama")),
            ("tokenizer.ggml.model", Value::Str("gpt2")),
            (
                "tokenizer.ggml.tokens",
                Value::Strings(vec!["a".into(), "b".into(), "ab".into()]),
            ),
            ("tokenizer.ggml.merges", Value::Strings(vec!["a b".into()])),
            ("llama.block_count", Value::U32(1)),
            ("llama.embedding_length", Value::U32(32)),
            ("llama.attention.head_count", Value::U32(2)),
            ("llama.attention.head_count_kv", Value::U32(2)),
            ("llama.feed_forward_length", Value::U32(32)),
            ("llama.context_length", Value::U32(64)),
            ("llama.rope.dimension_count", Value::U32(16)),
            ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
        ];
        let shapes: Vec<(&str, Vec<u64>)> = vec![
            ("token_embd.weight", vec![32, 3]),
            ("output_norm.weight", vec![32]),
            ("blk.0.attn_norm.weight", vec![32]),
            ("blk.0.attn_q.weight", vec![32, 32]),
            ("blk.0.attn_k.weight", vec![32, 32]),
            ("blk.0.attn_v.weight", vec![32, 32]),
            ("blk.0.attn_output.weight", vec![32, 32]),
            ("blk.0.ffn_norm.weight", vec![32]),
            ("blk.0.ffn_gate.weight", vec![32, 32]),
            ("blk.0.ffn_up.weight", vec![32, 32]),
            ("blk.0.ffn_down.weight", vec![32, 32]),
        ];
        let tensors: Vec<Tensor<'_>> = shapes
            .into_iter()
            .map(|(name, dims)| {
                let dims = match &wrong {
                    Some((bad, bad_dims)) if *bad == name => bad_dims.clone(),
                    _ => dims,
                };
                let n: u64 = dims.iter().product();
                Tensor {
                    name,
                    dims,
                    type_id: 0,
                    data: vec![0; n as usize * 4],
                }
            })
            .collect();
        gguf::testing::build(&metadata, &tensors)
    }

    #[test]
    fn both_backends_refuse_a_tensor_of_the_wrong_shape_before_loading() {
        let dir = tempfile::tempdir().unwrap();
        let load = |bytes: Vec<u8>, cpu_backend: CpuBackend| {
            let path = dir.path().join("tiny.gguf");
            std::fs::write(&path, bytes).unwrap();
            let options = LoadOptions {
                cpu_backend,
                ..LoadOptions::default()
            };
            Llm::load(&path, &options)
        };
        for backend in [CpuBackend::Candle, CpuBackend::Docent] {
            let llm = load(tiny_llama(None), backend).expect("the well-formed model loads");
            assert_eq!(llm.context_length(), 64);
            for (name, dims, expected) in [
                (
                    "blk.0.attn_k.weight",
                    vec![32, 16],
                    "tensor blk.0.attn_k.weight has shape [32, 16], expected [32, 32]",
                ),
                (
                    "blk.0.ffn_down.weight",
                    vec![32, 32, 1],
                    "tensor blk.0.ffn_down.weight has shape [32, 32, 1], expected [32, 32]",
                ),
                (
                    "output_norm.weight",
                    vec![16],
                    "tensor output_norm.weight has shape [16], expected [32]",
                ),
                (
                    "token_embd.weight",
                    vec![16, 6],
                    "tensor token_embd.weight has shape [16, 6], expected [32, vocab]",
                ),
            ] {
                let message = load(tiny_llama(Some((name, dims))), backend)
                    .unwrap_err()
                    .to_string();
                assert!(message.contains(expected), "{backend:?}: {message}");
                assert!(message.contains("tiny.gguf"), "{message}");
            }
        }
    }

    #[test]
    fn candle_refuses_a_partial_rotary_dimension() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.gguf");
        let mut bytes = tiny_llama(None);
        // Same length, so the directory stays valid: 16 becomes 08 in the one U32 after the key.
        let key = b"llama.rope.dimension_count";
        let at = bytes
            .windows(key.len())
            .position(|w| w == key)
            .expect("key in file")
            + key.len()
            + 4;
        assert_eq!(bytes[at..at + 4], 16u32.to_le_bytes());
        bytes[at..at + 4].copy_from_slice(&8u32.to_le_bytes());
        std::fs::write(&path, bytes).unwrap();
        let options = LoadOptions {
            cpu_backend: CpuBackend::Candle,
            ..LoadOptions::default()
        };
        let message = Llm::load(&path, &options).unwrap_err().to_string();
        assert!(
            message.contains("rotary dimension 8 differs from the head size 16"),
            "{message}"
        );
    }

    #[test]
    fn a_loaded_model_can_be_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Llm>();
    }

    #[test]
    fn repeat_penalty_moves_seen_tokens_down_once() {
        let mut logits = vec![2.0, -2.0, 1.0, 0.5];
        apply_repeat_penalty(&mut logits, 2.0, &[0, 1, 0, 0]);
        assert_eq!(logits, [1.0, -4.0, 1.0, 0.5]);
        apply_repeat_penalty(&mut logits, 1.0, &[2]);
        assert_eq!(logits, [1.0, -4.0, 1.0, 0.5]);
    }

    #[test]
    fn sampling_params_pick_the_sampler_and_are_validated() {
        let params = |temperature: f64, top_k: usize, top_p: f64| SamplingParams {
            temperature,
            top_k,
            top_p,
            ..SamplingParams::default()
        };
        assert!(matches!(
            sampling(&SamplingParams::default()),
            Sampling::ArgMax
        ));
        assert!(matches!(
            sampling(&params(0.8, 40, 0.9)),
            Sampling::TopKThenTopP { k: 40, .. }
        ));
        assert!(matches!(
            sampling(&params(0.8, 0, 0.9)),
            Sampling::TopP { .. }
        ));
        assert!(matches!(
            sampling(&params(0.8, 10, 1.0)),
            Sampling::TopK { k: 10, .. }
        ));
        assert!(matches!(
            sampling(&params(0.8, 0, 1.0)),
            Sampling::All { .. }
        ));
        for bad in [
            params(-1.0, 0, 1.0),
            params(f64::NAN, 0, 1.0),
            params(0.5, 0, 0.0),
            params(0.5, 0, 1.5),
        ] {
            assert!(validate(&bad).is_err(), "{bad:?}");
        }
        assert!(
            validate(&SamplingParams {
                repeat_penalty: 0.0,
                ..SamplingParams::default()
            })
            .is_err()
        );
    }
}
