//! What can change while the engine is open: the answer model, chunking, and the key/value
//! settings the desktop app keeps in the store.

use std::path::PathBuf;

use docent_ingest::chunk::ChunkConfig;

use crate::{Engine, EngineError, LlmOptions};

impl Engine {
    /// The answer model's file and load options now in use.
    pub fn llm_choice(&self) -> (PathBuf, LlmOptions) {
        crate::locks::lock(&self.inner.llm_choice).clone()
    }

    /// Switches the answer model (or its load options); it is loaded on the next answer.
    pub fn set_llm(&self, path: PathBuf, options: LlmOptions) {
        let mut choice = crate::locks::lock(&self.inner.llm_choice);
        if *choice != (path.clone(), options.clone()) {
            *choice = (path, options);
            *crate::locks::lock(&self.inner.llm) = None;
        }
    }

    /// How files indexed from now on are chunked.
    pub fn chunk_config(&self) -> ChunkConfig {
        crate::locks::lock(&self.inner.chunk_config).clone()
    }

    /// Changes chunking for files indexed from now on (already indexed files keep theirs until
    /// they change or are re-indexed).
    pub fn set_chunk_config(&self, config: ChunkConfig) {
        let mut current = crate::locks::lock(&self.inner.chunk_config);
        *current = config;
        *crate::locks::lock(&self.inner.chunker) = None;
    }

    /// A value from the library's key/value settings.
    pub fn setting(&self, key: &str) -> Result<Option<String>, EngineError> {
        Ok(self.block_on(self.store().get_setting(key))?)
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), EngineError> {
        Ok(self.block_on(self.store().set_setting(key, value))?)
    }
}

impl Engine {
    /// Whether the answer model is in memory (the next answer starts without loading it).
    pub fn llm_is_loaded(&self) -> bool {
        crate::locks::lock(&self.inner.llm).is_some()
    }
}
