use std::path::PathBuf;

/// What can go wrong in the engine. User errors (a missing model, a busy data folder, a path
/// that does not exist) are separate variants from internal ones so a shell can word them.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("model file missing: {path} (run scripts/setup to fetch the default models)")]
    ModelMissing { path: PathBuf },
    #[error(
        "another Docent process is using the data folder {data_dir}; close it or use --data-dir"
    )]
    Busy { data_dir: PathBuf },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] docent_store::StoreError),
    #[error(transparent)]
    Index(#[from] docent_index::IndexError),
    #[error(transparent)]
    Embed(#[from] docent_embed::EmbedError),
    #[error(transparent)]
    Ingest(docent_ingest::IngestError),
    #[error(transparent)]
    Generate(#[from] docent_generate::GenerateError),
    /// A panic was caught (in work on untrusted input, such as loading a model file).
    #[error("{what} failed unexpectedly: {message}")]
    Panicked { what: &'static str, message: String },
    /// A derived index was being changed when a panic struck; it is rebuilt at the next start.
    #[error("{0} is unusable after an internal error; restart Docent to repair it")]
    Poisoned(&'static str),
}

impl EngineError {
    /// True for errors a person can fix themselves (as opposed to bugs or disk faults).
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            EngineError::ModelMissing { .. } | EngineError::Busy { .. } | EngineError::Invalid(_)
        )
    }
}
