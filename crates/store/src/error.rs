//! The one error type of the crate, and a small helper that names the failing step.

use std::path::PathBuf;

use docent_types::DocId;

/// Everything that can go wrong in the store. Messages are lowercase and name what was being
/// done, so a caller can show them as they are.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database file could not be opened or created (missing folder, permissions, locked).
    #[error("cannot open database {}: {source}", path.display())]
    Open { path: PathBuf, source: sqlx::Error },

    /// The file exists but SQLite does not recognise it, or its pages are corrupt.
    #[error(
        "database {} is damaged or is not a docent database: {source}",
        path.display()
    )]
    Damaged { path: PathBuf, source: sqlx::Error },

    /// The schema could not be brought up to date, for example because the file was written by a
    /// newer docent whose migrations this build does not know.
    #[error("cannot update the schema of database {}: {source}", path.display())]
    Migrate {
        path: PathBuf,
        source: sqlx::migrate::MigrateError,
    },

    /// A statement failed; `what` says what the store was doing ("save an indexed document").
    #[error("cannot {what}: {source}")]
    Query {
        what: &'static str,
        source: sqlx::Error,
    },

    /// A column could not be read as the expected type.
    #[error("cannot read column {column}: {source}")]
    Decode {
        column: &'static str,
        source: sqlx::Error,
    },

    /// A column holds a value this build does not understand (an unknown status, a negative
    /// size, an embedding whose length is not a multiple of four bytes).
    #[error("database holds an invalid {what}: {value}")]
    InvalidValue { what: &'static str, value: String },

    /// A number given to the store does not fit in a SQLite integer.
    #[error("{what} {value} is too large to store")]
    TooLarge { what: &'static str, value: u64 },

    /// The document id given to an update does not exist (any more).
    #[error("no document with id {doc_id}")]
    UnknownDocument { doc_id: DocId },
}

impl StoreError {
    /// True when SQLite could not write because the disk (or the test page cap) is full:
    /// `SQLITE_FULL`, which SQLite also returns for `ENOSPC`.
    pub fn is_disk_full(&self) -> bool {
        const SQLITE_FULL: i32 = 13;
        self.sqlite_primary_code() == Some(SQLITE_FULL)
    }

    /// True when the database or its folder cannot be written: `SQLITE_READONLY`, or a file
    /// SQLite could not open for writing (`SQLITE_CANTOPEN`, `SQLITE_PERM`).
    pub fn is_read_only(&self) -> bool {
        const SQLITE_PERM: i32 = 3;
        const SQLITE_READONLY: i32 = 8;
        const SQLITE_CANTOPEN: i32 = 14;
        matches!(
            self.sqlite_primary_code(),
            Some(SQLITE_PERM | SQLITE_READONLY | SQLITE_CANTOPEN)
        )
    }

    fn sqlite_primary_code(&self) -> Option<i32> {
        let source = match self {
            StoreError::Open { source, .. }
            | StoreError::Damaged { source, .. }
            | StoreError::Query { source, .. } => source,
            StoreError::Migrate { source, .. } => match source {
                sqlx::migrate::MigrateError::Execute(inner)
                | sqlx::migrate::MigrateError::ExecuteMigration(inner, _) => inner,
                _ => return None,
            },
            _ => return None,
        };
        sqlite_primary_code(source)
    }
}

/// The primary SQLite result code of a database error (the low byte of the extended code the
/// store reports).
fn sqlite_primary_code(error: &sqlx::Error) -> Option<i32> {
    let sqlx::Error::Database(database_error) = error else {
        return None;
    };
    let code = database_error.code()?.parse::<i32>().ok()?;
    Some(code & 0xff)
}

/// Attaches the step being performed to a sqlx error.
pub(crate) trait QueryContext<T> {
    fn context(self, what: &'static str) -> Result<T, StoreError>;
}

impl<T> QueryContext<T> for Result<T, sqlx::Error> {
    fn context(self, what: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Query { what, source })
    }
}

/// True when SQLite says the file is not a database (`SQLITE_NOTADB`) or is corrupt
/// (`SQLITE_CORRUPT` and its extended codes).
pub(crate) fn is_damaged_database(error: &sqlx::Error) -> bool {
    const SQLITE_CORRUPT: i32 = 11;
    const SQLITE_NOTADB: i32 = 26;
    matches!(
        sqlite_primary_code(error),
        Some(SQLITE_CORRUPT | SQLITE_NOTADB)
    )
}

/// Turns a failure to connect into `Damaged` or `Open`, both naming the file.
pub(crate) fn open_error(path: PathBuf, source: sqlx::Error) -> StoreError {
    if is_damaged_database(&source) {
        StoreError::Damaged { path, source }
    } else {
        StoreError::Open { path, source }
    }
}

/// Turns a failed migration into `Damaged` when the cause is a corrupt file, else `Migrate`.
pub(crate) fn migrate_error(path: PathBuf, source: sqlx::migrate::MigrateError) -> StoreError {
    use sqlx::migrate::MigrateError;
    match source {
        MigrateError::Execute(inner) | MigrateError::ExecuteMigration(inner, _)
            if is_damaged_database(&inner) =>
        {
            StoreError::Damaged {
                path,
                source: inner,
            }
        }
        other => StoreError::Migrate {
            path,
            source: other,
        },
    }
}
