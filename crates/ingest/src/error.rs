//! The one error type of this crate, and the short per-file reasons shown to people.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Everything that can go wrong between a path and a list of chunks.
///
/// Most variants describe a bad file (the file's fault, shown to the person as
/// [`reason`](IngestError::reason)); [`Worker`](IngestError::Worker) and
/// [`Tokenizer`](IngestError::Tokenizer) are set-up problems of the app itself.
///
/// The type is serialisable because parse workers send it back to the parent process as is.
#[derive(Debug, thiserror::Error, Serialize, Deserialize)]
pub enum IngestError {
    #[error("could not read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        #[serde(with = "io_error_wire")]
        source: std::io::Error,
    },
    /// A problem met while walking a folder that is not a plain I/O error (a symlink loop).
    #[error("could not walk {}: {message}", path.display())]
    Walk { path: PathBuf, message: String },
    #[error("file too large ({} > {})", human_bytes(*size), human_bytes(*limit))]
    TooLarge { size: u64, limit: u64 },
    /// More extracted text than [`Limits::max_text_bytes`](crate::Limits::max_text_bytes);
    /// `size` is `None` when extraction stopped at the cap rather than measure it all.
    #[error("{}", too_much_text(*size, *limit))]
    TooMuchText { size: Option<u64>, limit: u64 },
    /// A parse worker's answer was longer than the protocol allows: the worker is killed, as
    /// it no longer speaks the protocol.
    #[error("parser answer too large (over {})", human_bytes(*limit))]
    AnswerTooLarge { limit: u64 },
    #[error("no text")]
    NoText,
    #[error("no text layer (scanned or image-only PDF)")]
    NoTextLayer,
    #[error("password-protected PDF")]
    PasswordProtected,
    #[error("invalid PDF: {detail}")]
    InvalidPdf { detail: String },
    #[error("invalid DOCX: {detail}")]
    InvalidDocx { detail: String },
    #[error("unsafe archive entry {name:?}")]
    UnsafeArchiveEntry { name: String },
    #[error("too many archive entries ({count} > {limit})")]
    TooManyArchiveEntries { count: u64, limit: u64 },
    #[error("archive too large when decompressed (over {})", human_bytes(*limit))]
    ArchiveTooLarge { limit: u64 },
    #[error("archive entry compressed too well (ratio {ratio} > {limit})")]
    ArchiveRatio { ratio: u64, limit: u64 },
    #[error("parser panicked: {message}")]
    Panicked { message: String },
    #[error("timed out after {}", human_duration(*after))]
    TimedOut { after: Duration },
    #[error("parser crashed (signal {signal})")]
    Crashed { signal: i32 },
    #[error("parser exited (code {code})")]
    Exited { code: i32 },
    /// The parse worker could not be started or spoke nonsense: a problem of the app, not of
    /// the file.
    #[error("parse worker failed: {detail}")]
    Worker { detail: String },
    #[error("could not load tokenizer {}: {detail}", path.display())]
    Tokenizer { path: PathBuf, detail: String },
}

impl IngestError {
    /// A short lowercase sentence for the per-file reason column: what went wrong, without the
    /// path (the row already shows it).
    pub fn reason(&self) -> String {
        match self {
            IngestError::Io { source, .. } => io_reason(source),
            IngestError::Walk { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    /// The file or folder the error is about, when it names one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            IngestError::Io { path, .. }
            | IngestError::Walk { path, .. }
            | IngestError::Tokenizer { path, .. } => {
                (!path.as_os_str().is_empty()).then_some(path.as_path())
            }
            _ => None,
        }
    }

    /// True when the parser process died. Such a death may be bad luck (the OOM killer, a
    /// worker that was already dead while idle), so it deserves one retry on a fresh worker.
    pub fn is_crash(&self) -> bool {
        matches!(
            self,
            IngestError::Crashed { .. } | IngestError::Exited { .. }
        )
    }

    /// True for problems of the app itself rather than of the file being read.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            IngestError::Worker { .. } | IngestError::Tokenizer { .. }
        )
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> IngestError {
        IngestError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// "permission denied", "file not found", "read error: input/output error".
pub(crate) fn io_reason(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::NotFound => "file not found".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => {
            let message = error.to_string();
            // "Input/output error (os error 5)" reads better without the number.
            let message = match message.find(" (os error ") {
                Some(cut) => &message[..cut],
                None => &message,
            };
            format!("read error: {}", lowercase_first(message))
        }
    }
}

pub(crate) fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn too_much_text(size: Option<u64>, limit: u64) -> String {
    match size {
        Some(size) => format!(
            "too much text ({}, limit {})",
            human_bytes(size),
            human_bytes(limit)
        ),
        None => format!("too much text (over the {} limit)", human_bytes(limit)),
    }
}

/// Binary units labelled the way people read them: "512 MB", "1.2 GB", "900 bytes".
pub fn human_bytes(n_bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KB", "MB", "GB", "TB", "PB"];
    if n_bytes < 1024 {
        return format!("{n_bytes} bytes");
    }
    let mut value = n_bytes as f64 / 1024.0;
    let mut unit_idx = 0;
    while value >= 1024.0 && unit_idx + 1 < UNITS.len() {
        value /= 1024.0;
        unit_idx += 1;
    }
    let rounded = format!("{value:.1}");
    let rounded = rounded.strip_suffix(".0").unwrap_or(&rounded);
    format!("{rounded} {}", UNITS[unit_idx])
}

/// "60 s" for whole seconds, "1.5 s", or "250 ms" below a second.
pub fn human_duration(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        return format!("{} ms", duration.as_millis());
    }
    let secs = duration.as_secs_f64();
    if duration.subsec_millis() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{secs:.1} s")
    }
}

/// `std::io::Error` is not serialisable; a worker sends the OS error number when there is one
/// (so the parent rebuilds the very same error) and the message otherwise.
mod io_error_wire {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct WireIoError {
        os_code: Option<i32>,
        message: String,
    }

    pub fn serialize<S: Serializer>(
        error: &std::io::Error,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        WireIoError {
            os_code: error.raw_os_error(),
            message: error.to_string(),
        }
        .serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<std::io::Error, D::Error> {
        let wire = WireIoError::deserialize(deserializer)?;
        Ok(match wire.os_code {
            Some(code) => std::io::Error::from_raw_os_error(code),
            None => std::io::Error::other(wire.message),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(error: IngestError, expected_reason: &str) {
        assert_eq!(error.reason(), expected_reason);
        // Every error survives the trip through a worker's JSON unchanged in meaning.
        let json = serde_json::to_string(&error).unwrap();
        let back: IngestError = serde_json::from_str(&json).unwrap();
        assert_eq!(back.reason(), expected_reason);
    }

    #[test]
    fn reasons_are_short_sentences() {
        check(
            IngestError::TooLarge {
                size: 1_288_490_189,
                limit: 512 << 20,
            },
            "file too large (1.2 GB > 512 MB)",
        );
        check(
            IngestError::TimedOut {
                after: Duration::from_secs(60),
            },
            "timed out after 60 s",
        );
        check(
            IngestError::TimedOut {
                after: Duration::from_millis(5),
            },
            "timed out after 5 ms",
        );
        check(
            IngestError::Crashed { signal: 11 },
            "parser crashed (signal 11)",
        );
        check(IngestError::Exited { code: 3 }, "parser exited (code 3)");
        check(IngestError::PasswordProtected, "password-protected PDF");
        check(
            IngestError::TooMuchText {
                size: Some(300 << 20),
                limit: 32 << 20,
            },
            "too much text (300 MB, limit 32 MB)",
        );
        check(
            IngestError::TooMuchText {
                size: None,
                limit: 32 << 20,
            },
            "too much text (over the 32 MB limit)",
        );
        check(
            IngestError::AnswerTooLarge { limit: 80 << 20 },
            "parser answer too large (over 80 MB)",
        );
        check(
            IngestError::NoTextLayer,
            "no text layer (scanned or image-only PDF)",
        );
        check(
            IngestError::io(
                Path::new("/x/y.txt"),
                std::io::Error::from_raw_os_error(libc::EACCES),
            ),
            "permission denied",
        );
        check(
            IngestError::io(
                Path::new("/x/y.txt"),
                std::io::Error::from_raw_os_error(libc::EIO),
            ),
            "read error: input/output error",
        );
    }

    #[test]
    fn sizes_read_naturally() {
        for (n_bytes, expected) in [
            (0, "0 bytes"),
            (1023, "1023 bytes"),
            (1024, "1 KB"),
            (1536, "1.5 KB"),
            (512 << 20, "512 MB"),
            (3 << 30, "3 GB"),
        ] {
            assert_eq!(human_bytes(n_bytes), expected, "{n_bytes}");
        }
    }
}
