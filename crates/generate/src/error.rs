//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong while checking, loading or running a model.
///
/// Variants about a model file name it: a GGUF file is untrusted input and the person reading
/// the message needs to know which file to replace.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("model file {} is missing: run scripts/setup to fetch the default models", path.display())]
    MissingModelFile { path: PathBuf },
    #[error("cannot read {}", path.display())]
    WithPath {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a GGUF file (bad magic)", path.display())]
    NotGguf { path: PathBuf },
    #[error("{}: unsupported GGUF version {version} (Docent reads versions 2 and 3)", path.display())]
    UnsupportedGgufVersion { path: PathBuf, version: u32 },
    #[error("truncated GGUF file: {} ends inside {what}", path.display())]
    TruncatedGguf { path: PathBuf, what: String },
    #[error("GGUF {what} claims {count} entries but the file is only {file_bytes} bytes: {}", path.display())]
    ImplausibleGgufCount {
        path: PathBuf,
        what: &'static str,
        count: u64,
        file_bytes: u64,
    },
    #[error("tensor {tensor} lies past the end of the file {}", path.display())]
    TensorPastEnd { path: PathBuf, tensor: String },
    #[error("invalid GGUF file {}: {reason}", path.display())]
    BadGguf { path: PathBuf, reason: String },
    #[error("unsupported model architecture {architecture} (Docent runs llama-family GGUF models): {}", path.display())]
    UnsupportedArchitecture { path: PathBuf, architecture: String },
    #[error("{}: {reason}", path.display())]
    UnsupportedModel { path: PathBuf, reason: String },
    #[error(
        "{} needs about {} MiB of memory but only {} MiB are available: close other programs or choose a smaller model",
        path.display(), needed_bytes >> 20, available_bytes >> 20
    )]
    NotEnoughMemory {
        path: PathBuf,
        needed_bytes: u64,
        available_bytes: u64,
    },
    #[error("invalid tokenizer in {}: {reason}", path.display())]
    BadTokenizer { path: PathBuf, reason: String },
    #[error("tokenization failed: {reason}")]
    Tokenize { reason: String },
    #[error("cannot render the chat template: {reason}")]
    Template { reason: String },
    #[error("the prompt has {prompt_tokens} tokens but the model's context holds {context_length}")]
    PromptTooLong {
        prompt_tokens: usize,
        context_length: usize,
    },
    #[error("invalid sampling parameters: {reason}")]
    BadSamplingParams { reason: String },
    #[error("the {device} device is not available: {reason}")]
    DeviceUnavailable {
        device: &'static str,
        reason: String,
    },
    #[error("tensor operation failed")]
    Candle(#[from] candle_core::Error),
    #[error("cannot build the generation thread pool")]
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
