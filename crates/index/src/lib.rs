//! Docent's derived search indexes and the glue that merges their answers.
//!
//! SQLite (the store) is the source of truth; everything here can be rebuilt from it. Each index
//! remembers the last op-log `seq` it reflects, so the engine replays what an index missed, or
//! rebuilds it when it is missing or [`IndexError::Damaged`].
//!
//! - [`Bm25Index`]: a tantivy index of chunk text, document title and path, with English
//!   stemming. Queries are user text and never fail to parse; a [`Filter`] narrows by path prefix
//!   and document type. The applied `seq` lives in tantivy's commit payload.
//! - [`VectorIndex`]: an hnsw_rs graph over the chunk embeddings (cosine). hnsw_rs cannot delete,
//!   so removals are tombstones that searches skip. Saving writes a new generation folder and
//!   switches an atomically replaced `manifest.json`, so a crash leaves the old or the new
//!   generation, never a mix.
//! - [`reciprocal_rank_fusion`] merges ranked lists; [`collapse_near_duplicates`] drops passages
//!   that repeat one already kept.
//!
//! ```
//! use docent_index::{reciprocal_rank_fusion, RankedList, DEFAULT_RRF_K};
//! let lexical = [7, 3, 9];
//! let semantic = [3, 8];
//! let fused = reciprocal_rank_fusion(
//!     &[
//!         RankedList { ids: &lexical, weight: 1.0 },
//!         RankedList { ids: &semantic, weight: 1.0 },
//!     ],
//!     DEFAULT_RRF_K,
//! );
//! assert_eq!(fused[0].chunk_id, 3);
//! assert_eq!(fused[0].ranks, vec![Some(2), Some(1)]);
//! ```

mod bm25;
mod fusion;
mod vector;

use std::path::PathBuf;

use docent_types::ChunkId;

pub use bm25::{Bm25Doc, Bm25Index, Filter};
pub use fusion::{
    DEFAULT_NEAR_DUPLICATE_THRESHOLD, DEFAULT_RRF_K, Fused, RankedList, collapse_near_duplicates,
    reciprocal_rank_fusion,
};
pub use vector::VectorIndex;

/// One hit of either index: higher `score` is better. BM25 scores are unbounded; vector scores
/// are cosine similarities in [-1, 1].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub chunk_id: ChunkId,
    pub score: f32,
}

/// What can go wrong in the derived indexes.
///
/// [`IndexError::Damaged`] is the one the engine acts on: wipe the folder and rebuild from the
/// store. The others are disk faults, a second writer, or a caller's bug.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("index at {path} is damaged and must be rebuilt: {reason}")]
    Damaged { path: PathBuf, reason: String },
    #[error("index at {path} is already open for writing by another index writer")]
    Locked { path: PathBuf },
    #[error("index at {path} was opened read-only and cannot be changed")]
    ReadOnly { path: PathBuf },
    #[error("{path}: {source}")]
    WithPath {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("search index at {path}: {source}")]
    Tantivy {
        path: PathBuf,
        #[source]
        source: tantivy::TantivyError,
    },
    #[error("could not write the vector graph to {path}: {reason}")]
    VectorDump { path: PathBuf, reason: String },
    #[error("{} has {actual} dimensions but the vector index expects {expected}", vector_name(*chunk_id))]
    WrongDimension {
        chunk_id: Option<ChunkId>,
        expected: usize,
        actual: usize,
    },
    #[error("{} cannot be indexed: {reason}", vector_name(*chunk_id))]
    InvalidVector {
        chunk_id: Option<ChunkId>,
        reason: &'static str,
    },
}

/// Names the vector an error is about: a chunk's, or the query's when there is no chunk.
fn vector_name(chunk_id: Option<ChunkId>) -> String {
    match chunk_id {
        Some(chunk_id) => format!("the vector of chunk {chunk_id}"),
        None => "the query vector".to_string(),
    }
}

#[cfg(test)]
mod tests {
    //! A model-based test of both indexes together, in the style of tantivy's `index_writer.rs`:
    //! random adds, re-adds, removals, commits and reopens (a reopen without a commit is a crash)
    //! checked against a plain map of what was committed.

    use std::collections::{BTreeMap, BTreeSet};

    use docent_types::{ChunkId, DocType};
    use proptest::prelude::*;

    use super::*;

    const DIM: usize = 8;

    #[derive(Debug, Clone)]
    enum Op {
        Add(u8),
        Readd(usize),
        Remove(usize),
        Commit,
        Reopen,
    }

    fn op_strategy() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (1u8..5).prop_map(Op::Add),
            1 => any::<usize>().prop_map(Op::Readd),
            2 => any::<usize>().prop_map(Op::Remove),
            2 => Just(Op::Commit),
            1 => Just(Op::Reopen),
        ]
    }

    /// A deterministic, non-zero vector per chunk so the test needs no random source of its own.
    fn vector_for(chunk_id: ChunkId) -> Vec<f32> {
        (0..DIM)
            .map(|i| ((chunk_id as f32 + 1.0) * (i as f32 + 1.3)).sin() + 0.05)
            .collect()
    }

    fn unique_token(chunk_id: ChunkId) -> String {
        format!("zq{chunk_id}uniq")
    }

    struct Indexes {
        bm25: Bm25Index,
        vectors: VectorIndex,
    }

    fn open(dir: &std::path::Path) -> Indexes {
        Indexes {
            bm25: Bm25Index::open(&dir.join("bm25")).unwrap(),
            vectors: VectorIndex::open(&dir.join("vectors"), DIM).unwrap(),
        }
    }

    fn check_against_model(
        indexes: &Indexes,
        model: &BTreeMap<ChunkId, u32>,
        seq: u64,
        n_versions: u32,
    ) {
        assert_eq!(indexes.bm25.applied_seq(), seq);
        assert_eq!(indexes.vectors.applied_seq(), seq);
        assert_eq!(indexes.bm25.num_chunks(), model.len() as u64);

        let everything: BTreeSet<ChunkId> = indexes
            .bm25
            .search("common", 1000, &Filter::default())
            .unwrap()
            .into_iter()
            .map(|hit| hit.chunk_id)
            .collect();
        let expected: BTreeSet<ChunkId> = model.keys().copied().collect();
        assert_eq!(everything, expected);

        for &chunk_id in model.keys() {
            let hits = indexes
                .bm25
                .search(&unique_token(chunk_id), 10, &Filter::default())
                .unwrap();
            let ids: Vec<ChunkId> = hits.iter().map(|hit| hit.chunk_id).collect();
            assert_eq!(ids, vec![chunk_id]);
        }
        // Each text version is found exactly where it is current: a re-added chunk replaced its
        // older text rather than sitting beside it.
        for version in 0..n_versions {
            let found: BTreeSet<ChunkId> = indexes
                .bm25
                .search(&format!("version{version}x"), 1000, &Filter::default())
                .unwrap()
                .into_iter()
                .map(|hit| hit.chunk_id)
                .collect();
            let expected: BTreeSet<ChunkId> = model
                .iter()
                .filter(|&(_, &v)| v == version)
                .map(|(&id, _)| id)
                .collect();
            assert_eq!(found, expected, "version {version}");
        }

        let live: BTreeSet<ChunkId> = indexes.vectors.live_ids().collect();
        assert_eq!(live, expected);
        assert_eq!(indexes.vectors.len_live(), model.len());
        for &chunk_id in model.keys() {
            let hits = indexes.vectors.search(&vector_for(chunk_id), 1).unwrap();
            assert_eq!(hits[0].chunk_id, chunk_id);
        }
        if let Some(&any_chunk) = model.keys().next() {
            let found: BTreeSet<ChunkId> = indexes
                .vectors
                .search(&vector_for(any_chunk), model.len() + 10)
                .unwrap()
                .into_iter()
                .map(|hit| hit.chunk_id)
                .collect();
            assert_eq!(found, expected);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
        #[test]
        fn indexes_agree_with_a_plain_model(ops in proptest::collection::vec(op_strategy(), 1..24)) {
            let dir = tempfile::tempdir().unwrap();
            let mut indexes = open(dir.path());
            // Chunk id -> text version, as committed and as pending in the open writers.
            let mut committed: BTreeMap<ChunkId, u32> = BTreeMap::new();
            let mut pending = committed.clone();
            let mut committed_seq = 0u64;
            let mut next_chunk_id: ChunkId = 1;
            let mut next_version = 0u32;

            for op in ops {
                match op {
                    Op::Add(n_chunks) => {
                        let ids: Vec<ChunkId> = (0..n_chunks as i64).map(|i| next_chunk_id + i).collect();
                        next_chunk_id += n_chunks as i64;
                        let texts: Vec<String> = ids
                            .iter()
                            .map(|&id| format!("common {} version{next_version}x", unique_token(id)))
                            .collect();
                        let docs: Vec<Bm25Doc<'_>> = ids
                            .iter()
                            .zip(&texts)
                            .map(|(&chunk_id, text)| Bm25Doc {
                                chunk_id,
                                doc_id: chunk_id / 3,
                                path: "/notes/a.md",
                                title: "notes",
                                doc_type: DocType::Markdown,
                                text,
                            })
                            .collect();
                        indexes.bm25.add(&docs).unwrap();
                        let vectors: Vec<Vec<f32>> = ids.iter().map(|&id| vector_for(id)).collect();
                        let items: Vec<(ChunkId, &[f32])> =
                            ids.iter().copied().zip(vectors.iter().map(Vec::as_slice)).collect();
                        indexes.vectors.insert(&items).unwrap();
                        for id in ids {
                            pending.insert(id, next_version);
                        }
                        next_version += 1;
                    }
                    Op::Readd(pick) => {
                        if pending.is_empty() {
                            continue;
                        }
                        let chunk_id = *pending.keys().nth(pick % pending.len()).unwrap();
                        let text = format!("common {} version{next_version}x", unique_token(chunk_id));
                        indexes.bm25.add(&[Bm25Doc {
                            chunk_id,
                            doc_id: chunk_id / 3,
                            path: "/notes/a.md",
                            title: "notes",
                            doc_type: DocType::Markdown,
                            text: &text,
                        }]).unwrap();
                        // The vector index skips an id it already holds.
                        let vector = vector_for(chunk_id);
                        indexes.vectors.insert(&[(chunk_id, vector.as_slice())]).unwrap();
                        pending.insert(chunk_id, next_version);
                        next_version += 1;
                    }
                    Op::Remove(pick) => {
                        if pending.is_empty() {
                            continue;
                        }
                        let chunk_id = *pending.keys().nth(pick % pending.len()).unwrap();
                        indexes.bm25.remove_chunks(&[chunk_id]).unwrap();
                        indexes.vectors.mark_removed(&[chunk_id]);
                        pending.remove(&chunk_id);
                    }
                    Op::Commit => {
                        committed_seq += 1;
                        indexes.bm25.commit(committed_seq).unwrap();
                        indexes.vectors.save(committed_seq).unwrap();
                        committed = pending.clone();
                        check_against_model(&indexes, &committed, committed_seq, next_version);
                    }
                    Op::Reopen => {
                        drop(indexes);
                        indexes = open(dir.path());
                        // Whatever was not committed is lost, exactly as after a crash.
                        pending = committed.clone();
                        check_against_model(&indexes, &committed, committed_seq, next_version);
                    }
                }
            }
        }
    }
}
