//! Builders shared by the store's tests.

use docent_types::{ChunkDraft, ChunkId, DocId, DocType};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use crate::ops::OpKind;
use crate::{NewChunk, NewDocument, OutcomeDocument, Store};

/// Opens the database a `#[sqlx::test]` prepared, with the store's own pragmas and pool.
pub(crate) async fn open_test_store(connect: SqliteConnectOptions) -> Store {
    let path = connect.get_filename().to_owned();
    // sqlx deletes a test's database file after a passing run but not its WAL and shared-memory
    // files, and a stale WAL would be replayed into the fresh database once it switches to WAL.
    // sqlx created the new file in rollback-journal mode, so removing them here is safe.
    for suffix in ["-wal", "-shm"] {
        let mut side_file = path.clone().into_os_string();
        side_file.push(suffix);
        match std::fs::remove_file(&side_file) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => panic!("cannot remove stale {side_file:?}: {error}"),
        }
    }
    Store::connect(&path, connect, SqlitePoolOptions::new())
        .await
        .expect("open the test database")
}

pub(crate) fn draft(ordinal: u32, text: &str) -> ChunkDraft {
    ChunkDraft {
        ordinal,
        text: text.to_owned(),
        page: None,
        line_start: Some(ordinal + 1),
        line_end: Some(ordinal + 1),
        char_start: 0,
        char_end: text.chars().count() as u64,
        heading_path: vec![],
        n_tokens: 1,
    }
}

/// A small embedding that differs from text to text.
pub(crate) fn embedding_for(text: &str) -> Vec<f32> {
    let seed = text.bytes().fold(7u32, |acc, byte| {
        acc.wrapping_mul(31).wrapping_add(byte.into())
    });
    (0..8)
        .map(|i| ((seed >> i) & 0xff) as f32 / 255.0 - 0.5)
        .collect()
}

pub(crate) fn new_document(path: &str) -> NewDocument {
    NewDocument {
        path: path.to_owned(),
        size: 10,
        mtime_ns: 1_000,
        hash: format!("hash of {path}"),
        doc_type: DocType::Text,
        title: None,
        pages: 0,
    }
}

pub(crate) fn outcome(path: &str) -> OutcomeDocument {
    OutcomeDocument {
        path: path.to_owned(),
        size: 10,
        mtime_ns: 1_000,
        hash: None,
        doc_type: None,
    }
}

/// Saves `path` as an indexed text document with one chunk per text.
pub(crate) async fn save_text_document(
    store: &Store,
    path: &str,
    texts: &[&str],
) -> (DocId, Vec<ChunkId>) {
    let drafts: Vec<ChunkDraft> = texts
        .iter()
        .enumerate()
        .map(|(ordinal, text)| draft(ordinal as u32, text))
        .collect();
    let embeddings: Vec<Vec<f32>> = texts.iter().map(|text| embedding_for(text)).collect();
    let chunks: Vec<NewChunk<'_>> = drafts
        .iter()
        .zip(&embeddings)
        .map(|(draft, embedding)| NewChunk { draft, embedding })
        .collect();
    store
        .save_indexed(&new_document(path), &chunks)
        .await
        .expect("save a test document")
}

/// The whole op log as (kind, chunk id, doc id).
pub(crate) async fn all_ops(store: &Store) -> Vec<(OpKind, ChunkId, DocId)> {
    store
        .ops_after(0, u32::MAX)
        .await
        .expect("read the op log")
        .into_iter()
        .map(|op| (op.kind, op.chunk_id, op.doc_id))
        .collect()
}
