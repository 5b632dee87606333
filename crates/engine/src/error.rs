use std::path::{Path, PathBuf};

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
    /// A write to the data folder failed for lack of space. What was committed before stays.
    #[error(
        "the disk holding the library {data_dir} is full (no space left on device or database \
         or disk is full): free some space, then index again; what was indexed before is kept"
    )]
    DiskFull {
        data_dir: PathBuf,
        #[source]
        source: Box<EngineError>,
    },
    /// The data folder (or a file in it) cannot be written.
    #[error(
        "the library {data_dir} is read-only: Docent cannot write there; check the folder's \
         permissions or choose another with --data-dir"
    )]
    ReadOnly {
        data_dir: PathBuf,
        #[source]
        source: Box<EngineError>,
    },
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
            EngineError::ModelMissing { .. }
                | EngineError::Busy { .. }
                | EngineError::Invalid(_)
                | EngineError::DiskFull { .. }
                | EngineError::ReadOnly { .. }
        )
    }

    /// Names a full disk or a read-only data folder as such, wrapping the low-level error
    /// (`SQLITE_FULL`, `ENOSPC`, `EROFS`...) so a person reads the cause first; any other error
    /// is returned as it is.
    pub(crate) fn with_storage_cause(self, data_dir: &Path) -> EngineError {
        let data_dir = data_dir.to_path_buf();
        // Only writes to the data folder count: a model file that cannot be read is another
        // story, told by its own error.
        let in_data_folder = match &self {
            EngineError::Store(_) | EngineError::Index(_) => true,
            EngineError::Io { path, .. } => path.starts_with(&data_dir),
            _ => false,
        };
        if !in_data_folder {
            return self;
        }
        match storage_fault(&self) {
            Some(StorageFault::Full) => EngineError::DiskFull {
                data_dir,
                source: Box::new(self),
            },
            Some(StorageFault::ReadOnly) => EngineError::ReadOnly {
                data_dir,
                source: Box::new(self),
            },
            None => self,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StorageFault {
    Full,
    ReadOnly,
}

/// Looks through an error's causes for a full disk or a read-only file system.
fn storage_fault(error: &EngineError) -> Option<StorageFault> {
    // `Store` and `Index` are transparent: their own `source()` skips them, so start inside.
    let mut cause: Option<&(dyn std::error::Error + 'static)> = match error {
        EngineError::Store(store_error) => {
            if store_error.is_disk_full() {
                return Some(StorageFault::Full);
            }
            if store_error.is_read_only() {
                return Some(StorageFault::ReadOnly);
            }
            Some(store_error)
        }
        EngineError::Index(index_error) => Some(index_error),
        other => Some(other),
    };
    while let Some(current) = cause {
        let io_error = current.downcast_ref::<std::io::Error>().or_else(|| {
            current
                .downcast_ref::<std::sync::Arc<std::io::Error>>()
                .map(|arc| &**arc)
        });
        if let Some(fault) = io_error.and_then(io_fault) {
            return Some(fault);
        }
        // Some libraries (hnsw_rs's dump) hand back only the message of the I/O error.
        let text = current.to_string().to_lowercase();
        if text.contains("no space left on device") || text.contains("disk quota exceeded") {
            return Some(StorageFault::Full);
        }
        if text.contains("read-only file system") {
            return Some(StorageFault::ReadOnly);
        }
        cause = current.source();
    }
    None
}

fn io_fault(error: &std::io::Error) -> Option<StorageFault> {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => Some(StorageFault::Full),
        ErrorKind::ReadOnlyFilesystem | ErrorKind::PermissionDenied => Some(StorageFault::ReadOnly),
        _ => None,
    }
}
