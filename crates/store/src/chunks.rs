//! The `chunks` table: text, location and embedding of every live chunk.
//!
//! Lookups by id take the ids as one JSON array bound to a single parameter
//! (`id IN (SELECT value FROM json_each(?))`): one fixed statement, whatever the number of ids,
//! so SQLite's limit on bound variables never applies and the statement cache holds one entry.

use std::collections::HashMap;

use docent_types::{ChunkDraft, ChunkId, DocId, DocType};
use sqlx::SqliteConnection;
use sqlx::sqlite::SqliteRow;

use crate::Store;
use crate::error::{QueryContext, StoreError};
use crate::rows::{self, column, to_sql_integer};

/// A chunk to store: the chunker's draft and its embedding.
#[derive(Debug, Clone, Copy)]
pub struct NewChunk<'a> {
    pub draft: &'a ChunkDraft,
    pub embedding: &'a [f32],
}

/// A live chunk with what a citation needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkHit {
    pub chunk_id: ChunkId,
    pub doc_id: DocId,
    pub path: String,
    pub title: Option<String>,
    pub doc_type: DocType,
    pub ordinal: u32,
    pub text: String,
    pub page: Option<u32>,
    pub line_start: Option<u32>,
    pub line_end: Option<u32>,
    pub char_start: u64,
    pub char_end: u64,
    pub heading_path: Vec<String>,
}

/// A live chunk with what a derived index needs to (re)build its entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayChunk {
    pub chunk_id: ChunkId,
    pub doc_id: DocId,
    pub path: String,
    pub title: Option<String>,
    pub doc_type: DocType,
    pub text: String,
    pub embedding: Vec<f32>,
}

fn chunk_hit_from_row(row: &SqliteRow) -> Result<ChunkHit, StoreError> {
    Ok(ChunkHit {
        chunk_id: column(row, "chunk_id")?,
        doc_id: column(row, "doc_id")?,
        path: column(row, "path")?,
        title: column(row, "title")?,
        doc_type: rows::doc_type_column(row, "doc_type")?,
        ordinal: rows::u32_column(row, "ordinal")?,
        text: column(row, "text")?,
        page: rows::optional_u32_column(row, "page")?,
        line_start: rows::optional_u32_column(row, "line_start")?,
        line_end: rows::optional_u32_column(row, "line_end")?,
        char_start: rows::u64_column(row, "char_start")?,
        char_end: rows::u64_column(row, "char_end")?,
        heading_path: rows::heading_path_column(row, "heading_path")?,
    })
}

fn replay_chunk_from_row(row: &SqliteRow) -> Result<ReplayChunk, StoreError> {
    Ok(ReplayChunk {
        chunk_id: column(row, "chunk_id")?,
        doc_id: column(row, "doc_id")?,
        path: column(row, "path")?,
        title: column(row, "title")?,
        doc_type: rows::doc_type_column(row, "doc_type")?,
        text: column(row, "text")?,
        embedding: rows::embedding_column(row, "embedding")?,
    })
}

/// Puts found rows back in the order the caller asked for; ids not found (dead chunks) and
/// repeated ids are skipped.
fn in_requested_order<T>(ids: &[ChunkId], found: Vec<T>, id_of: impl Fn(&T) -> ChunkId) -> Vec<T> {
    let mut by_id: HashMap<ChunkId, T> =
        found.into_iter().map(|item| (id_of(&item), item)).collect();
    ids.iter().filter_map(|id| by_id.remove(id)).collect()
}

fn ids_as_json(ids: &[ChunkId]) -> String {
    // A list of integers always serialises.
    serde_json::to_string(ids).unwrap_or_else(|_| "[]".to_owned())
}

/// Inserts one chunk of `doc_id` and returns its new id. The caller logs the op.
pub(crate) async fn insert_chunk(
    connection: &mut SqliteConnection,
    doc_id: DocId,
    chunk: &NewChunk<'_>,
) -> Result<ChunkId, StoreError> {
    let draft = chunk.draft;
    sqlx::query_scalar(
        "INSERT INTO chunks \
             (doc_id, ordinal, text, page, line_start, line_end, char_start, char_end, \
              heading_path, n_tokens, embedding) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
         RETURNING id",
    )
    .bind(doc_id)
    .bind(i64::from(draft.ordinal))
    .bind(&draft.text)
    .bind(draft.page.map(i64::from))
    .bind(draft.line_start.map(i64::from))
    .bind(draft.line_end.map(i64::from))
    .bind(to_sql_integer("chunk start offset", draft.char_start)?)
    .bind(to_sql_integer("chunk end offset", draft.char_end)?)
    .bind(rows::heading_path_to_json(&draft.heading_path))
    .bind(i64::from(draft.n_tokens))
    .bind(rows::embedding_to_bytes(chunk.embedding))
    .fetch_one(&mut *connection)
    .await
    .context("insert a chunk")
}

impl Store {
    /// The live chunks among `ids`, in the order of `ids`; dead or unknown ids are skipped, and
    /// a repeated id is returned once. Any number of ids is fine.
    pub async fn chunks_by_ids(&self, ids: &[ChunkId]) -> Result<Vec<ChunkHit>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let found = sqlx::query(
            "SELECT chunks.id AS chunk_id, chunks.doc_id, documents.path, documents.title, \
                    documents.doc_type, chunks.ordinal, chunks.text, chunks.page, \
                    chunks.line_start, chunks.line_end, chunks.char_start, chunks.char_end, \
                    chunks.heading_path \
             FROM chunks JOIN documents ON documents.id = chunks.doc_id \
             WHERE chunks.id IN (SELECT value FROM json_each(?))",
        )
        .bind(ids_as_json(ids))
        .fetch_all(&self.pool)
        .await
        .context("look up chunks by id")?;
        let hits = found
            .iter()
            .map(chunk_hit_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(in_requested_order(ids, hits, |hit| hit.chunk_id))
    }

    /// The live chunks among `ids` with their embeddings, in the order of `ids`; dead or
    /// unknown ids are skipped. This is what replaying an 'add' op reads.
    pub async fn chunks_for_replay(&self, ids: &[ChunkId]) -> Result<Vec<ReplayChunk>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let found = sqlx::query(
            "SELECT chunks.id AS chunk_id, chunks.doc_id, documents.path, documents.title, \
                    documents.doc_type, chunks.text, chunks.embedding \
             FROM chunks JOIN documents ON documents.id = chunks.doc_id \
             WHERE chunks.id IN (SELECT value FROM json_each(?))",
        )
        .bind(ids_as_json(ids))
        .fetch_all(&self.pool)
        .await
        .context("read chunks for replay")?;
        let chunks = found
            .iter()
            .map(replay_chunk_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(in_requested_order(ids, chunks, |chunk| chunk.chunk_id))
    }

    /// Up to `limit` live chunks with ids greater than `after_id`, by id: a rebuild reads the
    /// whole table page by page, passing the last id it got (start with 0).
    pub async fn live_chunks_after(
        &self,
        after_id: ChunkId,
        limit: u32,
    ) -> Result<Vec<ReplayChunk>, StoreError> {
        let found = sqlx::query(
            "SELECT chunks.id AS chunk_id, chunks.doc_id, documents.path, documents.title, \
                    documents.doc_type, chunks.text, chunks.embedding \
             FROM chunks JOIN documents ON documents.id = chunks.doc_id \
             WHERE chunks.id > ? ORDER BY chunks.id LIMIT ?",
        )
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .context("page through live chunks")?;
        found.iter().map(replay_chunk_from_row).collect()
    }

    pub async fn count_live_chunks(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM chunks")
            .fetch_one(&self.pool)
            .await
            .context("count chunks")?;
        u64::try_from(count).map_err(|_| StoreError::InvalidValue {
            what: "chunk count",
            value: count.to_string(),
        })
    }

    /// The ids of a document's chunks, in reading order (by ordinal).
    pub async fn live_chunk_ids_of_doc(&self, doc_id: DocId) -> Result<Vec<ChunkId>, StoreError> {
        sqlx::query_scalar("SELECT id FROM chunks WHERE doc_id = ? ORDER BY ordinal")
            .bind(doc_id)
            .fetch_all(&self.pool)
            .await
            .context("list the chunks of a document")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewDocument;
    use crate::test_support::{embedding_for, open_test_store, save_text_document};
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

    #[sqlx::test(migrations = "../../migrations")]
    async fn chunk_fields_and_embedding_round_trip(
        _pool: SqlitePoolOptions,
        connect: SqliteConnectOptions,
    ) {
        let store = open_test_store(connect).await;
        let draft = ChunkDraft {
            ordinal: 0,
            text: "Café — naïve\u{1F600}".to_owned(),
            page: Some(3),
            line_start: Some(10),
            line_end: Some(14),
            char_start: 100,
            char_end: 117,
            heading_path: vec!["Intro".to_owned(), "Goals \"quoted\"".to_owned()],
            n_tokens: 9,
        };
        let plain = ChunkDraft {
            ordinal: 1,
            text: "plain".to_owned(),
            page: None,
            line_start: None,
            line_end: None,
            char_start: 119,
            char_end: 124,
            heading_path: vec![],
            n_tokens: 1,
        };
        let odd_values = vec![
            -0.0f32,
            f32::MIN_POSITIVE / 3.0,
            f32::from_bits(0x7fa0_0001),
            f32::NEG_INFINITY,
            0.1,
            -1.0e-30,
        ];
        let unit = embedding_for("plain");
        let document = NewDocument {
            path: "/d/paper.pdf".to_owned(),
            size: 1,
            mtime_ns: 1,
            hash: "h".to_owned(),
            doc_type: DocType::Pdf,
            title: Some("Paper".to_owned()),
            pages: 5,
        };
        let chunks = [
            NewChunk {
                draft: &draft,
                embedding: &odd_values,
            },
            NewChunk {
                draft: &plain,
                embedding: &unit,
            },
        ];
        let (doc_id, ids) = store.save_indexed(&document, &chunks).await.unwrap();

        let hits = store.chunks_by_ids(&ids).await.unwrap();
        assert_eq!(
            hits[0],
            ChunkHit {
                chunk_id: ids[0],
                doc_id,
                path: "/d/paper.pdf".to_owned(),
                title: Some("Paper".to_owned()),
                doc_type: DocType::Pdf,
                ordinal: 0,
                text: draft.text.clone(),
                page: Some(3),
                line_start: Some(10),
                line_end: Some(14),
                char_start: 100,
                char_end: 117,
                heading_path: draft.heading_path.clone(),
            }
        );
        assert_eq!(
            (hits[1].page, hits[1].line_start, hits[1].heading_path.len()),
            (None, None, 0)
        );

        let replay = store.chunks_for_replay(&ids).await.unwrap();
        let bits = |values: &[f32]| values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&replay[0].embedding), bits(&odd_values));
        assert_eq!(bits(&replay[1].embedding), bits(&unit));
        assert_eq!(replay[0].text, draft.text);
        assert_eq!(replay[1].title.as_deref(), Some("Paper"));
        assert_eq!(replay[1].doc_type, DocType::Pdf);
    }

    #[sqlx::test(migrations = "../../migrations")]
    async fn chunks_by_ids_keeps_request_order_and_skips_dead_ids(
        _pool: SqlitePoolOptions,
        connect: SqliteConnectOptions,
    ) {
        let store = open_test_store(connect).await;
        let texts: Vec<String> = (0..1500).map(|i| format!("chunk {i}")).collect();
        let text_refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let (_, ids) = save_text_document(&store, "/d/big.txt", &text_refs).await;
        let (dead_doc, dead_ids) = save_text_document(&store, "/d/dead.txt", &["gone"]).await;
        store.delete_document(dead_doc).await.unwrap();

        // Reverse order, a dead id in the middle, unknown ids and a repeat, 1503 ids in all.
        let mut asked: Vec<ChunkId> = ids.iter().rev().copied().collect();
        asked.insert(700, dead_ids[0]);
        asked.push(-5);
        asked.push(ids[1499] + 10_000);
        asked.push(ids[0]);
        let hits = store.chunks_by_ids(&asked).await.unwrap();
        let got: Vec<ChunkId> = hits.iter().map(|hit| hit.chunk_id).collect();
        let expected: Vec<ChunkId> = ids.iter().rev().copied().collect();
        assert_eq!(got, expected);
        assert_eq!(hits[0].text, "chunk 1499");
        assert_eq!(hits[1499].text, "chunk 0");

        let replay = store.chunks_for_replay(&asked).await.unwrap();
        let got: Vec<ChunkId> = replay.iter().map(|chunk| chunk.chunk_id).collect();
        assert_eq!(got, expected);
        assert!(store.chunks_by_ids(&[]).await.unwrap().is_empty());
        assert!(store.chunks_for_replay(&dead_ids).await.unwrap().is_empty());
    }

    #[sqlx::test(migrations = "../../migrations")]
    async fn live_chunks_after_pages_by_id(
        _pool: SqlitePoolOptions,
        connect: SqliteConnectOptions,
    ) {
        let store = open_test_store(connect).await;
        let (_, a_ids) = save_text_document(&store, "/d/a.txt", &["a0", "a1", "a2"]).await;
        let (dead_doc, _) = save_text_document(&store, "/d/dead.txt", &["x", "y"]).await;
        let (b_doc, b_ids) = save_text_document(&store, "/d/b.txt", &["b0", "b1"]).await;
        store.delete_document(dead_doc).await.unwrap();

        let mut seen = Vec::new();
        let mut after_id = 0;
        loop {
            let page = store.live_chunks_after(after_id, 2).await.unwrap();
            if page.is_empty() {
                break;
            }
            assert!(page.len() <= 2);
            after_id = page.last().unwrap().chunk_id;
            seen.extend(page.into_iter().map(|chunk| (chunk.chunk_id, chunk.text)));
        }
        let expected: Vec<(ChunkId, String)> = a_ids
            .iter()
            .chain(&b_ids)
            .zip(["a0", "a1", "a2", "b0", "b1"])
            .map(|(id, text)| (*id, text.to_owned()))
            .collect();
        assert_eq!(seen, expected);
        assert_eq!(store.count_live_chunks().await.unwrap(), 5);
        assert_eq!(store.live_chunk_ids_of_doc(b_doc).await.unwrap(), b_ids);
        assert!(
            store
                .live_chunk_ids_of_doc(dead_doc)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn requested_order_skips_missing_and_repeated() {
        fn check(ids: &[ChunkId], found: &[ChunkId], expected: &[ChunkId]) {
            let got = in_requested_order(ids, found.to_vec(), |id| *id);
            assert_eq!(got, expected, "ids {ids:?}, found {found:?}");
        }
        check(&[], &[], &[]);
        check(&[3, 1, 2], &[1, 2, 3], &[3, 1, 2]);
        check(&[3, 9, 1], &[1, 3], &[3, 1]);
        check(&[2, 2, 1, 2], &[1, 2], &[2, 1]);
    }
}
