//! Docent's source of truth: documents, chunks (with their text and embedding BLOBs), the ordered
//! log of index operations, and settings, in one SQLite file (WAL) reached through sqlx.
//!
//! [`Store`] is a cheap `Clone` handle around a connection pool. Every multi-statement write is a
//! single `BEGIN IMMEDIATE` transaction, so a process killed at any moment leaves each document
//! either as it was or as it was meant to become, never half-written.
//!
//! The derived indexes (tantivy and the vector index) never read documents directly: they apply
//! the [`Op`]s logged by every write (`ops_after`), or rebuild from `live_chunks_after`, and join
//! their hits back through `chunks_by_ids`, which only returns live chunks.
//!
//! ```no_run
//! # async fn example() -> Result<(), docent_store::StoreError> {
//! use docent_store::{NewChunk, NewDocument, Store};
//! use docent_types::{ChunkDraft, DocType};
//!
//! let store = Store::open(std::path::Path::new("/tmp/docent.sqlite")).await?;
//! let draft = ChunkDraft {
//!     ordinal: 0,
//!     text: "Hello there.".to_owned(),
//!     page: None,
//!     line_start: Some(1),
//!     line_end: Some(1),
//!     char_start: 0,
//!     char_end: 12,
//!     heading_path: vec![],
//!     n_tokens: 3,
//! };
//! let document = NewDocument {
//!     path: "/home/me/notes.txt".to_owned(),
//!     size: 12,
//!     mtime_ns: 0,
//!     hash: "af1349b9".to_owned(),
//!     doc_type: DocType::Text,
//!     title: None,
//!     pages: 0,
//! };
//! let embedding = vec![0.0f32; 384];
//! let chunks = [NewChunk { draft: &draft, embedding: &embedding }];
//! let (doc_id, chunk_ids) = store.save_indexed(&document, &chunks).await?;
//! let ops = store.ops_after(0, 100).await?; // one `Add` per chunk, for the derived indexes
//! assert_eq!(ops.len(), chunk_ids.len());
//! # let _ = doc_id;
//! # Ok(())
//! # }
//! ```

mod chunks;
mod conversations;
mod documents;
mod error;
mod ops;
mod private;
mod rows;
#[cfg(test)]
mod test_support;

use std::path::Path;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Row, Transaction};

pub use chunks::{ChunkHit, NewChunk, ReplayChunk};
pub use conversations::{ConversationId, ConversationRow, MessageRow, Role};
pub use documents::{DocFilter, DocumentRow, NewDocument, OutcomeDocument};
pub use error::StoreError;
pub use ops::{Op, OpKind};

use error::QueryContext;

static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// How long a connection waits for another writer before giving up with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Readers run side by side under WAL; writers queue on SQLite's lock.
const MAX_CONNECTIONS: u32 = 4;

/// A handle to the database. Clones share one pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
}

/// Counts for the status view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    pub n_documents: u64,
    pub n_pending: u64,
    pub n_indexed: u64,
    pub n_skipped: u64,
    pub n_failed: u64,
    /// Live chunks.
    pub n_chunks: u64,
    /// Ops still in the log (not yet pruned).
    pub n_ops: u64,
    /// The last op sequence number ever written.
    pub max_seq: u64,
    /// Size of the database in bytes: page count times page size, counting pages still in the
    /// WAL (cheap: no file system call).
    pub db_bytes: u64,
}

/// Test-only: `DOCENT_TEST_MAX_PAGE_COUNT=N` caps the database at N pages on every connection
/// (`PRAGMA max_page_count`), so the disk-full tests get `SQLITE_FULL` without filling a disk.
/// SQLite never lowers the cap below the pages already in use. Release builds ignore it.
fn with_test_page_limit(options: SqliteConnectOptions) -> SqliteConnectOptions {
    #[cfg(debug_assertions)]
    if let Some(pages) = std::env::var("DOCENT_TEST_MAX_PAGE_COUNT")
        .ok()
        .and_then(|value| value.parse::<u64>().ok())
    {
        return options.pragma("max_page_count", pages.to_string());
    }
    options
}

impl Store {
    /// Opens the database at `path`, creating it if missing, and brings its schema up to date.
    ///
    /// The journal is WAL with `synchronous = NORMAL`: a killed process loses nothing that was
    /// committed; a power cut may lose the last transactions but never corrupts the file.
    ///
    /// The database holds the text of every indexed document: it and its `-wal` and `-shm`
    /// files are private to the user (0600), also when they existed with looser modes.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        private::create_private_file(path)
            .map_err(|source| error::open_error(path.to_owned(), sqlx::Error::Io(source)))?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        let store = Store::connect(path, options, SqlitePoolOptions::new()).await?;
        // SQLite gives a new `-wal` and `-shm` the database's own mode; ones left by an
        // earlier run keep theirs until made private here.
        for suffix in ["", "-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            private::restrict(Path::new(&name));
        }
        Ok(store)
    }

    /// Opens an existing database for reading only: for a data folder that cannot be written
    /// (a read-only disk, no write permission). No schema change is attempted, and every write
    /// fails with SQLite's "attempt to write a readonly database".
    pub async fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(|source| error::open_error(path.to_owned(), source))?;
        tracing::debug!(path = %path.display(), "opened store read-only");
        Ok(Store { pool })
    }

    /// A private database in memory, for tests of code built on the store.
    pub async fn open_in_memory() -> Result<Store, StoreError> {
        let name = Path::new(":memory:");
        // "sqlite::memory:" gives each call its own shared-cache database; one connection that
        // never expires keeps it alive for as long as the store.
        let options: SqliteConnectOptions = "sqlite::memory:"
            .parse()
            .map_err(|source| error::open_error(name.to_owned(), source))?;
        let pool_options = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None);
        let pool = pool_options
            .connect_with(options.foreign_keys(true))
            .await
            .map_err(|source| error::open_error(name.to_owned(), source))?;
        Store::migrate(name, pool).await
    }

    /// Applies the store's pragmas to `options` and connects. Split out so tests can open the
    /// databases `#[sqlx::test]` prepares.
    async fn connect(
        path: &Path,
        options: SqliteConnectOptions,
        pool_options: SqlitePoolOptions,
    ) -> Result<Store, StoreError> {
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let options = with_test_page_limit(options);
        // `connect_with` opens one connection at once, so a damaged file fails here, naming
        // the path, rather than at the first query.
        let pool = pool_options
            .max_connections(MAX_CONNECTIONS)
            .connect_with(options)
            .await
            .map_err(|source| error::open_error(path.to_owned(), source))?;
        Store::migrate(path, pool).await
    }

    async fn migrate(path: &Path, pool: SqlitePool) -> Result<Store, StoreError> {
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|source| error::migrate_error(path.to_owned(), source))?;
        tracing::debug!(path = %path.display(), "opened store");
        Ok(Store { pool })
    }

    /// Closes every connection, checkpointing the WAL into the main file. Clones of this store
    /// stop working too.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a write transaction that takes SQLite's write lock at once.
    ///
    /// A deferred transaction that reads and then writes can fail with "database is locked"
    /// without waiting when another connection wrote in between; taking the lock first makes
    /// concurrent writers simply queue behind `busy_timeout`.
    async fn begin_write(
        &self,
        what: &'static str,
    ) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.pool.begin_with("BEGIN IMMEDIATE").await.context(what)
    }

    pub async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .context("read a setting")
    }

    pub async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES (?, ?) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await
        .context("write a setting")?;
        Ok(())
    }

    pub async fn stats(&self) -> Result<Stats, StoreError> {
        let mut stats = Stats::default();
        let status_rows =
            sqlx::query("SELECT status, COUNT(*) AS n FROM documents GROUP BY status")
                .fetch_all(&self.pool)
                .await
                .context("count documents")?;
        for row in &status_rows {
            let n_documents = rows::u64_column(row, "n")?;
            let count = match rows::doc_status_column(row, "status")? {
                docent_types::DocStatus::Pending => &mut stats.n_pending,
                docent_types::DocStatus::Indexed => &mut stats.n_indexed,
                docent_types::DocStatus::Skipped => &mut stats.n_skipped,
                docent_types::DocStatus::Failed => &mut stats.n_failed,
            };
            *count = n_documents;
            stats.n_documents += n_documents;
        }
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM chunks) AS n_chunks, \
                    (SELECT COUNT(*) FROM ops) AS n_ops, \
                    (SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()) \
                        AS db_bytes",
        )
        .fetch_one(&self.pool)
        .await
        .context("count chunks and ops")?;
        stats.n_chunks = rows::u64_column(&row, "n_chunks")?;
        stats.n_ops = rows::u64_column(&row, "n_ops")?;
        stats.db_bytes = rows::u64_column(&row, "db_bytes")?;
        stats.max_seq = self.max_seq().await?;
        Ok(stats)
    }

    /// Runs `PRAGMA integrity_check`; `false` means SQLite found damage (logged as warnings).
    pub async fn integrity_check(&self) -> Result<bool, StoreError> {
        let problems = sqlx::query("PRAGMA integrity_check")
            .fetch_all(&self.pool)
            .await
            .context("check database integrity")?;
        let mut lines = Vec::with_capacity(problems.len());
        for row in &problems {
            let line: String = row.try_get(0).map_err(|source| StoreError::Decode {
                column: "integrity_check",
                source,
            })?;
            lines.push(line);
        }
        if lines == ["ok"] {
            return Ok(true);
        }
        for line in lines.iter().take(20) {
            tracing::warn!(problem = %line, "database integrity check failed");
        }
        Ok(false)
    }

    /// Lets tests look at pragmas and raw tables.
    #[cfg(test)]
    fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{self, open_test_store, save_text_document};
    use docent_types::DocStatus;

    #[sqlx::test(migrations = "../../migrations")]
    async fn settings_round_trip(_pool: SqlitePoolOptions, connect: SqliteConnectOptions) {
        let store = open_test_store(connect).await;
        assert_eq!(store.get_setting("model").await.unwrap(), None);
        store.set_setting("model", "a").await.unwrap();
        store.set_setting("model", "b").await.unwrap();
        store.set_setting("other", "").await.unwrap();
        assert_eq!(
            store.get_setting("model").await.unwrap().as_deref(),
            Some("b")
        );
        assert_eq!(
            store.get_setting("other").await.unwrap().as_deref(),
            Some("")
        );
    }

    #[sqlx::test(migrations = "../../migrations")]
    async fn opened_with_wal_and_foreign_keys(
        _pool: SqlitePoolOptions,
        connect: SqliteConnectOptions,
    ) {
        let store = open_test_store(connect).await;
        let pool = store.pool();
        let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(pool)
            .await
            .unwrap();
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(pool)
            .await
            .unwrap();
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(journal_mode, "wal");
        assert_eq!(synchronous, 1, "NORMAL");
        assert_eq!(foreign_keys, 1);
        assert!(store.integrity_check().await.unwrap());
    }

    #[sqlx::test(migrations = "../../migrations")]
    async fn stats_count_documents_chunks_and_ops(
        _pool: SqlitePoolOptions,
        connect: SqliteConnectOptions,
    ) {
        let store = open_test_store(connect).await;
        assert_eq!(
            store.stats().await.unwrap(),
            Stats {
                db_bytes: store.stats().await.unwrap().db_bytes,
                ..Stats::default()
            }
        );
        save_text_document(&store, "/d/a.txt", &["one", "two"]).await;
        save_text_document(&store, "/d/b.txt", &["three"]).await;
        let outcome = test_support::outcome("/d/c.pdf");
        store
            .save_outcome(&outcome, DocStatus::Failed, "no text layer")
            .await
            .unwrap();
        store
            .save_outcome(
                &test_support::outcome("/d/d.bin"),
                DocStatus::Skipped,
                "binary",
            )
            .await
            .unwrap();
        let stats = store.stats().await.unwrap();
        assert!(stats.db_bytes > 0);
        assert_eq!(
            stats,
            Stats {
                n_documents: 4,
                n_pending: 0,
                n_indexed: 2,
                n_skipped: 1,
                n_failed: 1,
                n_chunks: 3,
                n_ops: 3,
                max_seq: 3,
                db_bytes: stats.db_bytes,
            }
        );
    }

    #[tokio::test]
    async fn reopen_keeps_data() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("docent.sqlite");
        let (doc_id, chunk_ids) = {
            let store = Store::open(&path).await.unwrap();
            store.set_setting("k", "v").await.unwrap();
            let ids = save_text_document(&store, "/d/a.txt", &["alpha", "beta"]).await;
            store.close().await;
            ids
        };
        let store = Store::open(&path).await.unwrap();
        assert!(store.integrity_check().await.unwrap());
        assert_eq!(store.get_setting("k").await.unwrap().as_deref(), Some("v"));
        let document = store.document_by_path("/d/a.txt").await.unwrap().unwrap();
        assert_eq!(document.id, doc_id);
        assert_eq!(document.n_chunks, 2);
        let hits = store.chunks_by_ids(&chunk_ids).await.unwrap();
        let texts: Vec<&str> = hits.iter().map(|hit| hit.text.as_str()).collect();
        assert_eq!(texts, ["alpha", "beta"]);
        assert_eq!(store.max_seq().await.unwrap(), 2);
    }

    /// Writers on several pooled connections must queue on the write lock, not fail with
    /// "database is locked" (which a deferred read-then-write transaction can do).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writers_all_succeed() {
        let folder = tempfile::tempdir().unwrap();
        let store = Store::open(&folder.path().join("docent.sqlite"))
            .await
            .unwrap();
        let mut writers = tokio::task::JoinSet::new();
        for writer_idx in 0..8 {
            let store = store.clone();
            writers.spawn(async move {
                for round in 0..5 {
                    let path = format!("/w/{writer_idx}.txt");
                    let text = format!("round {round}");
                    let (doc_id, _) = save_text_document(&store, &path, &[&text, "same"]).await;
                    // A move reads before it writes.
                    let moved_path = format!("{path}.moved");
                    store
                        .move_document(doc_id, &moved_path, 1, 1)
                        .await
                        .unwrap();
                    store.move_document(doc_id, &path, 1, 1).await.unwrap();
                    store.set_setting(&path, &text).await.unwrap();
                }
            });
        }
        while let Some(joined) = writers.join_next().await {
            joined.unwrap();
        }
        let stats = store.stats().await.unwrap();
        assert_eq!((stats.n_indexed, stats.n_chunks), (8, 16));
        // Per writer: 2 adds each round, 2 removes each round after the first, and two moves
        // of 2 removes and 2 adds each round.
        assert_eq!(stats.n_ops, 8 * (5 * 2 + 4 * 2 + 5 * 8));
        assert!(store.integrity_check().await.unwrap());
    }

    #[tokio::test]
    async fn garbage_file_is_reported_as_damaged_with_its_path() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("docent.sqlite");
        std::fs::write(&path, vec![0x5au8; 8192]).unwrap();
        let error = Store::open(&path).await.unwrap_err();
        assert!(matches!(error, StoreError::Damaged { .. }), "{error:?}");
        let message = error.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.starts_with("database "), "{message}");
    }

    #[tokio::test]
    async fn missing_folder_is_an_open_error_with_its_path() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("no such folder").join("docent.sqlite");
        let error = Store::open(&path).await.unwrap_err();
        assert!(matches!(error, StoreError::Open { .. }), "{error:?}");
        assert!(error.to_string().contains("no such folder"), "{error}");
    }

    #[tokio::test]
    async fn in_memory_store_keeps_data_between_calls() {
        let store = Store::open_in_memory().await.unwrap();
        save_text_document(&store, "/m/a.txt", &["x"]).await;
        assert_eq!(store.count_live_chunks().await.unwrap(), 1);
        let other = Store::open_in_memory().await.unwrap();
        assert_eq!(
            other.count_live_chunks().await.unwrap(),
            0,
            "stores are private"
        );
        assert!(store.integrity_check().await.unwrap());
    }
}
