//! The `documents` table: one row per file the indexer has seen, whatever became of it.
//!
//! Every write that adds or drops chunks logs the matching ops in the same transaction, so the
//! op log never disagrees with the chunks table.

use docent_types::{ChunkId, DocId, DocStatus, DocType};
use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteRow;

use crate::Store;
use crate::chunks::NewChunk;
use crate::error::{QueryContext, StoreError};
use crate::rows::{self, PathRange, column, to_sql_integer};

/// A row of the `documents` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRow {
    pub id: DocId,
    pub path: String,
    pub size: u64,
    pub mtime_ns: i64,
    /// blake3 of the content, hex; `None` when the file was never read.
    pub hash: Option<String>,
    /// `None` when the file type is not supported.
    pub doc_type: Option<DocType>,
    pub title: Option<String>,
    pub status: DocStatus,
    /// Why the file was skipped or failed, in words.
    pub reason: Option<String>,
    pub pages: u32,
    pub n_chunks: u32,
    /// Unix seconds of the last outcome (indexed, skipped or failed).
    pub indexed_at: i64,
}

/// Which documents `list_documents` returns; the default returns all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocFilter {
    pub status: Option<DocStatus>,
    /// Only this path and the paths under it, matching whole components (`/a/b` matches
    /// `/a/b/c.txt`, not `/a/bc.txt`).
    pub path_prefix: Option<String>,
}

/// A document that was parsed, chunked and embedded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDocument {
    pub path: String,
    pub size: u64,
    pub mtime_ns: i64,
    pub hash: String,
    pub doc_type: DocType,
    pub title: Option<String>,
    pub pages: u32,
}

/// A document that was skipped or failed: what is known about it without its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeDocument {
    pub path: String,
    pub size: u64,
    pub mtime_ns: i64,
    pub hash: Option<String>,
    pub doc_type: Option<DocType>,
}

/// The column list every document query selects, in the order `document_from_row` reads.
macro_rules! document_columns {
    () => {
        "id, path, size, mtime_ns, hash, doc_type, title, status, reason, pages, n_chunks, \
         indexed_at"
    };
}

/// Matches `path` against a [`PathRange`] bound as three parameters (exact, low, high).
macro_rules! path_under {
    () => {
        "(path = ? OR (path >= ? AND path < ?))"
    };
}

fn document_from_row(row: &SqliteRow) -> Result<DocumentRow, StoreError> {
    Ok(DocumentRow {
        id: column(row, "id")?,
        path: column(row, "path")?,
        size: rows::u64_column(row, "size")?,
        mtime_ns: column(row, "mtime_ns")?,
        hash: column(row, "hash")?,
        doc_type: rows::optional_doc_type_column(row, "doc_type")?,
        title: column(row, "title")?,
        status: rows::doc_status_column(row, "status")?,
        reason: column(row, "reason")?,
        pages: rows::u32_column(row, "pages")?,
        n_chunks: rows::u32_column(row, "n_chunks")?,
        indexed_at: column(row, "indexed_at")?,
    })
}

fn documents_from_rows(found: &[SqliteRow]) -> Result<Vec<DocumentRow>, StoreError> {
    found.iter().map(document_from_row).collect()
}

/// Logs a 'remove' op for each chunk of `doc_id` and deletes the chunks; returns how many.
async fn remove_chunks_of(
    connection: &mut SqliteConnection,
    doc_id: DocId,
) -> Result<u64, StoreError> {
    sqlx::query(
        "INSERT INTO ops (kind, chunk_id, doc_id) \
         SELECT 'remove', id, doc_id FROM chunks WHERE doc_id = ? ORDER BY id",
    )
    .bind(doc_id)
    .execute(&mut *connection)
    .await
    .context("log removed chunks")?;
    let deleted = sqlx::query("DELETE FROM chunks WHERE doc_id = ?")
        .bind(doc_id)
        .execute(&mut *connection)
        .await
        .context("delete chunks")?;
    Ok(deleted.rows_affected())
}

/// Logs an op of `kind` for each chunk of `doc_id`, in chunk id order.
async fn log_chunks_of(
    connection: &mut SqliteConnection,
    doc_id: DocId,
    kind: &'static str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO ops (kind, chunk_id, doc_id) \
         SELECT ?, id, doc_id FROM chunks WHERE doc_id = ? ORDER BY id",
    )
    .bind(kind)
    .bind(doc_id)
    .execute(&mut *connection)
    .await
    .context("log chunk ops")?;
    Ok(())
}

impl Store {
    pub async fn document_by_path(&self, path: &str) -> Result<Option<DocumentRow>, StoreError> {
        let found = sqlx::query(concat!(
            "SELECT ",
            document_columns!(),
            " FROM documents WHERE path = ?"
        ))
        .bind(path)
        .fetch_optional(&self.pool)
        .await
        .context("look up a document by path")?;
        found.as_ref().map(document_from_row).transpose()
    }

    pub async fn document_by_id(&self, doc_id: DocId) -> Result<Option<DocumentRow>, StoreError> {
        let found = sqlx::query(concat!(
            "SELECT ",
            document_columns!(),
            " FROM documents WHERE id = ?"
        ))
        .bind(doc_id)
        .fetch_optional(&self.pool)
        .await
        .context("look up a document by id")?;
        found.as_ref().map(document_from_row).transpose()
    }

    /// Documents whose content hash is `hash`, ordered by path: how a moved file is recognised.
    pub async fn documents_by_hash(&self, hash: &str) -> Result<Vec<DocumentRow>, StoreError> {
        let found = sqlx::query(concat!(
            "SELECT ",
            document_columns!(),
            " FROM documents WHERE hash = ? ORDER BY path"
        ))
        .bind(hash)
        .fetch_all(&self.pool)
        .await
        .context("look up documents by hash")?;
        documents_from_rows(&found)
    }

    /// Documents matching `filter`, ordered by path.
    pub async fn list_documents(&self, filter: &DocFilter) -> Result<Vec<DocumentRow>, StoreError> {
        let range = match filter.path_prefix.as_deref() {
            Some(prefix) => match PathRange::under(prefix) {
                Some(range) => Some(range),
                // An empty prefix names no folder.
                None => return Ok(Vec::new()),
            },
            None => None,
        };
        let (exact, low, high) = match &range {
            Some(range) => (
                Some(range.exact.as_str()),
                Some(range.low.as_str()),
                Some(range.high.as_str()),
            ),
            None => (None, None, None),
        };
        let status = filter.status.map(DocStatus::as_str);
        let found = sqlx::query(concat!(
            "SELECT ",
            document_columns!(),
            " FROM documents \
              WHERE (?1 IS NULL OR status = ?1) \
                AND (?2 IS NULL OR path = ?2 OR (path >= ?3 AND path < ?4)) \
              ORDER BY path"
        ))
        .bind(status)
        .bind(exact)
        .bind(low)
        .bind(high)
        .fetch_all(&self.pool)
        .await
        .context("list documents")?;
        documents_from_rows(&found)
    }

    /// Records an indexed document and replaces its chunks, in one transaction.
    ///
    /// The row is found by path (kept id) or created; its old chunks are deleted with a
    /// 'remove' op each, then `chunks` are inserted in order with an 'add' op each. Returns the
    /// document id and the new chunk ids in the order of `chunks`.
    pub async fn save_indexed(
        &self,
        document: &NewDocument,
        chunks: &[NewChunk<'_>],
    ) -> Result<(DocId, Vec<ChunkId>), StoreError> {
        let size = to_sql_integer("document size", document.size)?;
        let n_chunks = i64::try_from(chunks.len()).map_err(|_| StoreError::TooLarge {
            what: "chunk count",
            value: chunks.len() as u64,
        })?;
        let mut transaction = self.begin_write("save an indexed document").await?;
        let doc_id: DocId = sqlx::query_scalar(
            "INSERT INTO documents \
                 (path, size, mtime_ns, hash, doc_type, title, status, reason, pages, n_chunks, \
                  indexed_at) \
             VALUES (?, ?, ?, ?, ?, ?, 'indexed', NULL, ?, ?, ?) \
             ON CONFLICT(path) DO UPDATE SET \
                 size = excluded.size, mtime_ns = excluded.mtime_ns, hash = excluded.hash, \
                 doc_type = excluded.doc_type, title = excluded.title, status = 'indexed', \
                 reason = NULL, pages = excluded.pages, n_chunks = excluded.n_chunks, \
                 indexed_at = excluded.indexed_at \
             RETURNING id",
        )
        .bind(&document.path)
        .bind(size)
        .bind(document.mtime_ns)
        .bind(&document.hash)
        .bind(document.doc_type.as_str())
        .bind(document.title.as_deref())
        .bind(i64::from(document.pages))
        .bind(n_chunks)
        .bind(rows::unix_seconds_now())
        .fetch_one(&mut *transaction)
        .await
        .context("save an indexed document")?;

        let n_removed = remove_chunks_of(&mut transaction, doc_id).await?;
        let mut chunk_ids = Vec::with_capacity(chunks.len());
        for chunk in chunks {
            chunk_ids.push(crate::chunks::insert_chunk(&mut transaction, doc_id, chunk).await?);
        }
        log_chunks_of(&mut transaction, doc_id, "add").await?;
        docent_types::fault::point(docent_types::fault::SQLITE_TX);
        transaction
            .commit()
            .await
            .context("commit an indexed document")?;
        tracing::debug!(
            path = %document.path,
            doc_id,
            n_removed,
            n_added = chunk_ids.len(),
            "saved indexed document"
        );
        Ok((doc_id, chunk_ids))
    }

    /// Records a document that was skipped or failed (or is pending), with the reason in
    /// words. If it had chunks they are deleted, each with a 'remove' op, in the same
    /// transaction.
    pub async fn save_outcome(
        &self,
        document: &OutcomeDocument,
        status: DocStatus,
        reason: &str,
    ) -> Result<DocId, StoreError> {
        let size = to_sql_integer("document size", document.size)?;
        let mut transaction = self.begin_write("save a document outcome").await?;
        let doc_id: DocId = sqlx::query_scalar(
            "INSERT INTO documents \
                 (path, size, mtime_ns, hash, doc_type, title, status, reason, pages, n_chunks, \
                  indexed_at) \
             VALUES (?, ?, ?, ?, ?, NULL, ?, ?, 0, 0, ?) \
             ON CONFLICT(path) DO UPDATE SET \
                 size = excluded.size, mtime_ns = excluded.mtime_ns, hash = excluded.hash, \
                 doc_type = excluded.doc_type, title = NULL, status = excluded.status, \
                 reason = excluded.reason, pages = 0, n_chunks = 0, \
                 indexed_at = excluded.indexed_at \
             RETURNING id",
        )
        .bind(&document.path)
        .bind(size)
        .bind(document.mtime_ns)
        .bind(document.hash.as_deref())
        .bind(document.doc_type.map(DocType::as_str))
        .bind(status.as_str())
        .bind(reason)
        .bind(rows::unix_seconds_now())
        .fetch_one(&mut *transaction)
        .await
        .context("save a document outcome")?;
        let n_removed = remove_chunks_of(&mut transaction, doc_id).await?;
        docent_types::fault::point(docent_types::fault::SQLITE_TX);
        transaction
            .commit()
            .await
            .context("commit a document outcome")?;
        tracing::debug!(path = %document.path, doc_id, %status, reason, n_removed, "saved outcome");
        Ok(doc_id)
    }

    /// Records a new size and mtime for a document whose content did not change.
    pub async fn touch_document(
        &self,
        doc_id: DocId,
        size: u64,
        mtime_ns: i64,
    ) -> Result<(), StoreError> {
        let size = to_sql_integer("document size", size)?;
        let updated = sqlx::query("UPDATE documents SET size = ?, mtime_ns = ? WHERE id = ?")
            .bind(size)
            .bind(mtime_ns)
            .bind(doc_id)
            .execute(&self.pool)
            .await
            .context("touch a document")?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::UnknownDocument { doc_id });
        }
        Ok(())
    }

    /// Gives a document a new path (its content is unchanged, so chunk ids stay the same).
    ///
    /// Each chunk gets a 'remove' then an 'add' op so the BM25 index, which stores the path,
    /// re-reads it. A different document already recorded at `new_path` (the file that was
    /// overwritten by the move) is deleted first, with its own 'remove' ops.
    pub async fn move_document(
        &self,
        doc_id: DocId,
        new_path: &str,
        size: u64,
        mtime_ns: i64,
    ) -> Result<(), StoreError> {
        let size = to_sql_integer("document size", size)?;
        let mut transaction = self.begin_write("move a document").await?;
        let old_path: Option<String> =
            sqlx::query_scalar("SELECT path FROM documents WHERE id = ?")
                .bind(doc_id)
                .fetch_optional(&mut *transaction)
                .await
                .context("move a document")?;
        let Some(old_path) = old_path else {
            return Err(StoreError::UnknownDocument { doc_id });
        };
        let path_changed = old_path != new_path;
        if path_changed {
            let occupant: Option<DocId> =
                sqlx::query_scalar("SELECT id FROM documents WHERE path = ?")
                    .bind(new_path)
                    .fetch_optional(&mut *transaction)
                    .await
                    .context("move a document")?;
            if let Some(occupant) = occupant {
                remove_chunks_of(&mut transaction, occupant).await?;
                sqlx::query("DELETE FROM documents WHERE id = ?")
                    .bind(occupant)
                    .execute(&mut *transaction)
                    .await
                    .context("replace the document at the destination of a move")?;
            }
        }
        sqlx::query("UPDATE documents SET path = ?, size = ?, mtime_ns = ? WHERE id = ?")
            .bind(new_path)
            .bind(size)
            .bind(mtime_ns)
            .bind(doc_id)
            .execute(&mut *transaction)
            .await
            .context("move a document")?;
        if path_changed {
            log_chunks_of(&mut transaction, doc_id, "remove").await?;
            log_chunks_of(&mut transaction, doc_id, "add").await?;
        }
        docent_types::fault::point(docent_types::fault::SQLITE_TX);
        transaction
            .commit()
            .await
            .context("commit a moved document")?;
        tracing::debug!(doc_id, from = %old_path, to = new_path, "moved document");
        Ok(())
    }

    /// Deletes a document and its chunks, logging a 'remove' op per chunk. Returns the number
    /// of chunks removed; deleting an id that does not exist removes nothing.
    pub async fn delete_document(&self, doc_id: DocId) -> Result<u32, StoreError> {
        let mut transaction = self.begin_write("delete a document").await?;
        let n_removed = remove_chunks_of(&mut transaction, doc_id).await?;
        sqlx::query("DELETE FROM documents WHERE id = ?")
            .bind(doc_id)
            .execute(&mut *transaction)
            .await
            .context("delete a document")?;
        docent_types::fault::point(docent_types::fault::SQLITE_TX);
        transaction
            .commit()
            .await
            .context("commit a deleted document")?;
        u32::try_from(n_removed).map_err(|_| StoreError::TooLarge {
            what: "removed chunk count",
            value: n_removed,
        })
    }

    /// Deletes every document at or under `path_prefix` (whole components: `/a/b` covers
    /// `/a/b` and `/a/b/c.txt`, not `/a/bc.txt`), logging a 'remove' op per chunk. Returns the
    /// removed paths, sorted. An empty prefix removes nothing.
    pub async fn delete_under(&self, path_prefix: &str) -> Result<Vec<String>, StoreError> {
        let Some(range) = PathRange::under(path_prefix) else {
            return Ok(Vec::new());
        };
        let mut transaction = self.begin_write("delete documents under a folder").await?;
        sqlx::query(concat!(
            "INSERT INTO ops (kind, chunk_id, doc_id) \
             SELECT 'remove', chunks.id, chunks.doc_id FROM chunks \
             WHERE chunks.doc_id IN (SELECT id FROM documents WHERE ",
            path_under!(),
            ") ORDER BY chunks.id"
        ))
        .bind(&range.exact)
        .bind(&range.low)
        .bind(&range.high)
        .execute(&mut *transaction)
        .await
        .context("log chunks removed under a folder")?;
        // Chunks go with their documents (ON DELETE CASCADE).
        let mut removed_paths: Vec<String> = sqlx::query_scalar(concat!(
            "DELETE FROM documents WHERE ",
            path_under!(),
            " RETURNING path"
        ))
        .bind(&range.exact)
        .bind(&range.low)
        .bind(&range.high)
        .fetch_all(&mut *transaction)
        .await
        .context("delete documents under a folder")?;
        transaction
            .commit()
            .await
            .context("commit documents deleted under a folder")?;
        removed_paths.sort_unstable();
        tracing::debug!(
            prefix = path_prefix,
            n_documents = removed_paths.len(),
            "deleted documents under folder"
        );
        Ok(removed_paths)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::OpKind::{Add, Remove};
    use crate::test_support::{
        all_ops, draft, embedding_for, new_document, open_test_store, outcome, save_text_document,
    };
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

    #[sqlx::test(migrations = "../../migrations")]
    async fn resave_replaces_chunks_and_logs_removes_then_adds(
        _pool: SqlitePoolOptions,
        connect: SqliteConnectOptions,
    ) {
        let store = open_test_store(connect).await;
        let (doc_id, first_ids) = save_text_document(&store, "/d/a.md", &["one", "two"]).await;
        assert_eq!(
            all_ops(&store).await,
            [(Add, first_ids[0], doc_id), (Add, first_ids[1], doc_id)]
        );
        let seen_seq = store.max_seq().await.unwrap();

        let (same_doc_id, second_ids) =
            save_text_document(&store, "/d/a.md", &["uno", "dos", "tres"]).await;
        assert_eq!(same_doc_id, doc_id, "the row is kept by path");
        assert!(
            second_ids.iter().all(|id| *id > first_ids[1]),
            "ids are never reused"
        );
        let new_ops: Vec<_> = store
            .ops_after(seen_seq, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|op| (op.kind, op.chunk_id, op.doc_id))
            .collect();
        assert_eq!(
            new_ops,
            [
                (Remove, first_ids[0], doc_id),
                (Remove, first_ids[1], doc_id),
                (Add, second_ids[0], doc_id),
                (Add, second_ids[1], doc_id),
                (Add, second_ids[2], doc_id),
            ]
        );
        assert!(store.chunks_by_ids(&first_ids).await.unwrap().is_empty());
        let texts: Vec<String> = store
            .chunks_by_ids(&second_ids)
            .await
            .unwrap()
            .into_iter()
            .map(|hit| hit.text)
            .collect();
        assert_eq!(texts, ["uno", "dos", "tres"]);
        let row = store.document_by_path("/d/a.md").await.unwrap().unwrap();
        assert_eq!(
            (row.n_chunks, row.status, row.reason),
            (3, DocStatus::Indexed, None)
        );
        assert_eq!(store.count_live_chunks().await.unwrap(), 3);
    }

    #[sqlx::test(migrations = "../../migrations")]
    async fn saved_document_row_reads_back(
        _pool: SqlitePoolOptions,
        connect: SqliteConnectOptions,
    ) {
        let store = open_test_store(connect).await;
        let document = NewDocument {
            path: "/d/report.pdf".to_owned(),
            size: 123_456,
            mtime_ns: 1_700_000_000_123_456_789,
            hash: "abc123".to_owned(),
            doc_type: DocType::Pdf,
            title: Some("Annual report".to_owned()),
            pages: 12,
        };
        let (doc_id, _) = store.save_indexed(&document, &[]).await.unwrap();
        let row = store
            .document_by_path("/d/report.pdf")
            .await
            .unwrap()
            .unwrap();
        assert!(row.indexed_at > 1_600_000_000, "{}", row.indexed_at);
        assert_eq!(
            row,
            DocumentRow {
                id: doc_id,
                path: document.path.clone(),
                size: 123_456,
                mtime_ns: 1_700_000_000_123_456_789,
                hash: Some("abc123".to_owned()),
                doc_type: Some(DocType::Pdf),
                title: Some("Annual report".to_owned()),
                status: DocStatus::Indexed,
                reason: None,
                pages: 12,
                n_chunks: 0,
                indexed_at: row.indexed_at,
            }
        );
        assert_eq!(store.document_by_id(doc_id).await.unwrap(), Some(row));
        assert_eq!(store.document_by_path("/d/other.pdf").await.unwrap(), None);
        assert_eq!(store.document_by_id(doc_id + 1).await.unwrap(), None);
    }

    #[sqlx::test(migrations = "../../migrations")]
    async fn failed_save_leaves_the_old_state(
        _pool: SqlitePoolOptions,
        connect: SqliteConnectOptions,
    ) {
        let store = open_test_store(connect).await;
        let (_, old_ids) = save_text_document(&store, "/d/a.txt", &["kept"]).await;
        let ops_before = all_ops(&store).await;
        // Two chunks with the same ordinal break UNIQUE (doc_id, ordinal) half-way through.
        let first = draft(0, "new one");
        let clash = draft(0, "new two");
        let embedding = embedding_for("x");
        let chunks = [
            NewChunk {
                draft: &first,
                embedding: &embedding,
            },
            NewChunk {
                draft: &clash,
                embedding: &embedding,
            },
        ];
        let mut document = new_document("/d/a.txt");
        document.title = Some("changed".to_owned());
        let error = store.save_indexed(&document, &chunks).await.unwrap_err();
        assert!(matches!(error, StoreError::Query { .. }), "{error}");
        assert_eq!(all_ops(&store).await, ops_before);
        let hits = store.chunks_by_ids(&old_ids).await.unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].text, "kept");
        let row = store.document_by_path("/d/a.txt").await.unwrap().unwrap();
        assert_eq!((row.title, row.n_chunks), (None, 1));
    }

    #[sqlx::test(migrations = "../../migrations")]
    async fn outcome_on_indexed_document_drops_its_chunks(
        _pool: SqlitePoolOptions,
        connect: SqliteConnectOptions,
    ) {
        let store = open_test_store(connect).await;
        let (doc_id, chunk_ids) = save_text_document(&store, "/d/a.pdf", &["p1", "p2"]).await;
        let seen_seq = store.max_seq().await.unwrap();
        let outcome_doc_id = store
            .save_outcome(&outcome("/d/a.pdf"), DocStatus::Failed, "pdf is encrypted")
            .await
            .unwrap();
        assert_eq!(outcome_doc_id, doc_id);
        let ops: Vec<_> = store
            .ops_after(seen_seq, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|op| (op.kind, op.chunk_id))
            .collect();
        assert_eq!(ops, [(Remove, chunk_ids[0]), (Remove, chunk_ids[1])]);
        let row = store.document_by_id(doc_id).await.unwrap().unwrap();
        assert_eq!(row.status, DocStatus::Failed);
        assert_eq!(row.reason.as_deref(), Some("pdf is encrypted"));
        assert_eq!((row.n_chunks, row.pages, row.title), (0, 0, None));
        assert_eq!(store.count_live_chunks().await.unwrap(), 0);

        // A fresh outcome logs nothing; indexing it later clears the reason.
        let before = store.max_seq().await.unwrap();
        store
            .save_outcome(&outcome("/d/b.bin"), DocStatus::Skipped, "binary file")
            .await
            .unwrap();
        assert_eq!(store.max_seq().await.unwrap(), before);
        save_text_document(&store, "/d/a.pdf", &["p1"]).await;
        let row = store.document_by_id(doc_id).await.unwrap().unwrap();
        assert_eq!((row.status, row.reason), (DocStatus::Indexed, None));
    }

    #[sqlx::test(migrations = "../../migrations")]
    async fn touch_updates_size_and_mtime_only(
        _pool: SqlitePoolOptions,
        connect: SqliteConnectOptions,
    ) {
        let store = open_test_store(connect).await;
        let (doc_id, _) = save_text_document(&store, "/d/a.txt", &["x"]).await;
        let seq = store.max_seq().await.unwrap();
        store.touch_document(doc_id, 99, 42).await.unwrap();
        let row = store.document_by_id(doc_id).await.unwrap().unwrap();
        assert_eq!((row.size, row.mtime_ns, row.n_chunks), (99, 42, 1));
        assert_eq!(store.max_seq().await.unwrap(), seq, "no ops for a touch");
        let error = store.touch_document(doc_id + 7, 1, 1).await.unwrap_err();
        assert!(
            matches!(error, StoreError::UnknownDocument { .. }),
            "{error}"
        );
        let error = store.touch_document(doc_id, u64::MAX, 1).await.unwrap_err();
        assert!(matches!(error, StoreError::TooLarge { .. }), "{error}");
    }

    #[sqlx::test(migrations = "../../migrations")]
    async fn move_keeps_chunk_ids_and_logs_remove_then_add(
        _pool: SqlitePoolOptions,
        connect: SqliteConnectOptions,
    ) {
        let store = open_test_store(connect).await;
        let (doc_id, chunk_ids) = save_text_document(&store, "/d/old.txt", &["a", "b"]).await;
        let seen_seq = store.max_seq().await.unwrap();
        store
            .move_document(doc_id, "/e/new.txt", 5, 77)
            .await
            .unwrap();
        let ops: Vec<_> = store
            .ops_after(seen_seq, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|op| (op.kind, op.chunk_id, op.doc_id))
            .collect();
        assert_eq!(
            ops,
            [
                (Remove, chunk_ids[0], doc_id),
                (Remove, chunk_ids[1], doc_id),
                (Add, chunk_ids[0], doc_id),
                (Add, chunk_ids[1], doc_id),
            ]
        );
        assert_eq!(store.document_by_path("/d/old.txt").await.unwrap(), None);
        let row = store.document_by_path("/e/new.txt").await.unwrap().unwrap();
        assert_eq!((row.id, row.size, row.mtime_ns), (doc_id, 5, 77));
        let hits = store.chunks_by_ids(&chunk_ids).await.unwrap();
        assert!(hits.iter().all(|hit| hit.path == "/e/new.txt"));
        assert_eq!(hits.len(), 2);

        // Moving to the same path logs nothing.
        let seq = store.max_seq().await.unwrap();
        store
            .move_document(doc_id, "/e/new.txt", 6, 78)
            .await
            .unwrap();
        assert_eq!(store.max_seq().await.unwrap(), seq);

        let error = store
            .move_document(doc_id + 100, "/x", 0, 0)
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::UnknownDocument { .. }),
            "{error}"
        );
    }

    #[sqlx::test(migrations = "../../migrations")]
    async fn move_over_a_recorded_file_replaces_it(
        _pool: SqlitePoolOptions,
        connect: SqliteConnectOptions,
    ) {
        let store = open_test_store(connect).await;
        let (moved_id, moved_chunks) = save_text_document(&store, "/d/a.txt", &["a"]).await;
        let (target_id, target_chunks) = save_text_document(&store, "/d/b.txt", &["b"]).await;
        let seen_seq = store.max_seq().await.unwrap();
        store
            .move_document(moved_id, "/d/b.txt", 1, 1)
            .await
            .unwrap();
        let ops: Vec<_> = store
            .ops_after(seen_seq, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|op| (op.kind, op.chunk_id, op.doc_id))
            .collect();
        assert_eq!(
            ops,
            [
                (Remove, target_chunks[0], target_id),
                (Remove, moved_chunks[0], moved_id),
                (Add, moved_chunks[0], moved_id),
            ]
        );
        assert_eq!(store.document_by_id(target_id).await.unwrap(), None);
        let all = store.list_documents(&DocFilter::default()).await.unwrap();
        let paths: Vec<(&str, DocId)> = all.iter().map(|d| (d.path.as_str(), d.id)).collect();
        assert_eq!(paths, [("/d/b.txt", moved_id)]);
    }

    #[sqlx::test(migrations = "../../migrations")]
    async fn delete_document_logs_removes(_pool: SqlitePoolOptions, connect: SqliteConnectOptions) {
        let store = open_test_store(connect).await;
        let (doc_id, chunk_ids) = save_text_document(&store, "/d/a.txt", &["a", "b", "c"]).await;
        let (_, kept_ids) = save_text_document(&store, "/d/b.txt", &["z"]).await;
        let seen_seq = store.max_seq().await.unwrap();
        assert_eq!(store.delete_document(doc_id).await.unwrap(), 3);
        let removed: Vec<_> = store
            .ops_after(seen_seq, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|op| (op.kind, op.chunk_id))
            .collect();
        assert_eq!(
            removed,
            [
                (Remove, chunk_ids[0]),
                (Remove, chunk_ids[1]),
                (Remove, chunk_ids[2])
            ]
        );
        assert_eq!(store.document_by_id(doc_id).await.unwrap(), None);
        assert_eq!(store.count_live_chunks().await.unwrap(), 1);
        assert_eq!(store.chunks_by_ids(&kept_ids).await.unwrap().len(), 1);
        assert_eq!(
            store.delete_document(doc_id).await.unwrap(),
            0,
            "idempotent"
        );
    }

    /// Stores a fixed set of paths, each with one chunk, deletes under `prefix`, and compares
    /// the removed paths, the remaining paths and the logged ops.
    async fn check_delete_under(prefix: &str, expected_removed: &[&str]) {
        const PATHS: [&str; 9] = [
            "/a/b",
            "/a/b/c.txt",
            "/a/b/d/e.txt",
            "/a/bc.txt",
            "/a/b%/x.txt",
            "/a/b_/x.txt",
            "/a/B/x.txt",
            "/a/b.txt",
            "/z/a/b/c.txt",
        ];
        let store = Store::open_in_memory().await.unwrap();
        for path in PATHS {
            save_text_document(&store, path, &[path]).await;
        }
        let seen_seq = store.max_seq().await.unwrap();
        let removed = store.delete_under(prefix).await.unwrap();
        assert_eq!(removed, expected_removed, "removed under {prefix:?}");
        let remaining: Vec<String> = store
            .list_documents(&DocFilter::default())
            .await
            .unwrap()
            .into_iter()
            .map(|row| row.path)
            .collect();
        let mut expected_remaining: Vec<&str> = PATHS
            .into_iter()
            .filter(|path| !expected_removed.contains(path))
            .collect();
        expected_remaining.sort_unstable();
        assert_eq!(remaining, expected_remaining, "remaining after {prefix:?}");
        let ops = store.ops_after(seen_seq, 100).await.unwrap();
        assert_eq!(ops.len(), expected_removed.len(), "one remove per chunk");
        assert!(ops.iter().all(|op| op.kind == Remove));
        assert_eq!(
            store.count_live_chunks().await.unwrap(),
            expected_remaining.len() as u64
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn delete_under_matches_whole_components() {
        check_delete_under("/a/b", &["/a/b", "/a/b/c.txt", "/a/b/d/e.txt"]).await;
        check_delete_under("/a/b/", &["/a/b", "/a/b/c.txt", "/a/b/d/e.txt"]).await;
        check_delete_under("/a/b/d", &["/a/b/d/e.txt"]).await;
        check_delete_under("/a/b%", &["/a/b%/x.txt"]).await;
        check_delete_under("/a/b_", &["/a/b_/x.txt"]).await;
        check_delete_under("/a/b.txt", &["/a/b.txt"]).await;
        check_delete_under("/a/b/c", &[]).await;
        check_delete_under("/nothing", &[]).await;
        check_delete_under("", &[]).await;
        let mut everything = vec![
            "/a/B/x.txt",
            "/a/b",
            "/a/b%/x.txt",
            "/a/b.txt",
            "/a/b/c.txt",
            "/a/b/d/e.txt",
            "/a/b_/x.txt",
            "/a/bc.txt",
            "/z/a/b/c.txt",
        ];
        everything.sort_unstable();
        check_delete_under("/", &everything).await;
    }

    #[sqlx::test(migrations = "../../migrations")]
    async fn list_documents_filters_and_sorts(
        _pool: SqlitePoolOptions,
        connect: SqliteConnectOptions,
    ) {
        let store = open_test_store(connect).await;
        save_text_document(&store, "/d/z.txt", &["z"]).await;
        save_text_document(&store, "/d/a.txt", &["a"]).await;
        save_text_document(&store, "/e/b.txt", &["b"]).await;
        save_text_document(&store, "/dd/c.txt", &["c"]).await;
        store
            .save_outcome(&outcome("/d/m.bin"), DocStatus::Skipped, "binary")
            .await
            .unwrap();

        async fn paths(
            store: &Store,
            status: Option<DocStatus>,
            prefix: Option<&str>,
        ) -> Vec<String> {
            let filter = DocFilter {
                status,
                path_prefix: prefix.map(str::to_owned),
            };
            let rows = store.list_documents(&filter).await.unwrap();
            rows.into_iter().map(|row| row.path).collect()
        }
        assert_eq!(
            paths(&store, None, None).await,
            ["/d/a.txt", "/d/m.bin", "/d/z.txt", "/dd/c.txt", "/e/b.txt"]
        );
        assert_eq!(
            paths(&store, None, Some("/d")).await,
            ["/d/a.txt", "/d/m.bin", "/d/z.txt"]
        );
        assert_eq!(
            paths(&store, Some(DocStatus::Indexed), Some("/d")).await,
            ["/d/a.txt", "/d/z.txt"]
        );
        assert_eq!(
            paths(&store, Some(DocStatus::Skipped), None).await,
            ["/d/m.bin"]
        );
        assert!(
            paths(&store, Some(DocStatus::Failed), None)
                .await
                .is_empty()
        );
        assert!(paths(&store, None, Some("")).await.is_empty());
    }

    #[sqlx::test(migrations = "../../migrations")]
    async fn documents_by_hash_finds_copies(
        _pool: SqlitePoolOptions,
        connect: SqliteConnectOptions,
    ) {
        let store = open_test_store(connect).await;
        let mut document = new_document("/d/b.txt");
        document.hash = "same".to_owned();
        store.save_indexed(&document, &[]).await.unwrap();
        document.path = "/d/a.txt".to_owned();
        store.save_indexed(&document, &[]).await.unwrap();
        save_text_document(&store, "/d/c.txt", &["other"]).await;
        let found: Vec<String> = store
            .documents_by_hash("same")
            .await
            .unwrap()
            .into_iter()
            .map(|row| row.path)
            .collect();
        assert_eq!(found, ["/d/a.txt", "/d/b.txt"]);
        assert!(store.documents_by_hash("none").await.unwrap().is_empty());
    }
}
