//! Keeping the derived indexes (BM25, vectors) in step with the store's op log.
//!
//! Each derived index records the last op `seq` it reflects. Bringing it up to date replays the
//! ops after that `seq`; a new or damaged index is rebuilt from the live chunks instead (no
//! re-embedding: the vectors live in the store).

use std::collections::HashSet;
use std::path::Path;

use docent_index::{Bm25Doc, Bm25Index, IndexError, VectorIndex};
use docent_store::ReplayChunk;
use docent_types::ChunkId;

use crate::{Engine, EngineError};

const OPS_PAGE: u32 = 4096;
const REBUILD_PAGE: u32 = 2048;

pub(crate) fn open_bm25(dir: &Path) -> Result<Bm25Index, EngineError> {
    match Bm25Index::open(dir) {
        Ok(index) => Ok(index),
        Err(error @ IndexError::Damaged { .. }) => {
            tracing::warn!(%error, "BM25 index damaged, rebuilding from the store");
            Ok(Bm25Index::recreate(dir)?)
        }
        Err(error) => Err(error.into()),
    }
}

pub(crate) fn open_vectors(dir: &Path, dim: usize) -> Result<VectorIndex, EngineError> {
    match VectorIndex::open(dir, dim) {
        Ok(index) => Ok(index),
        Err(error @ IndexError::Damaged { .. }) => {
            tracing::warn!(%error, "vector index damaged, rebuilding from the store");
            std::fs::remove_dir_all(dir).map_err(|source| EngineError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
            Ok(VectorIndex::open(dir, dim)?)
        }
        Err(error) => Err(error.into()),
    }
}

/// What `docent status` and the crash tests check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyReport {
    pub sqlite_ok: bool,
    pub live_chunks: u64,
    pub bm25_chunks: u64,
    pub vector_live: usize,
    pub store_seq: u64,
    pub bm25_seq: u64,
    pub vector_seq: u64,
}

impl ConsistencyReport {
    pub fn agrees(&self) -> bool {
        self.sqlite_ok
            && self.live_chunks == self.bm25_chunks
            && self.live_chunks == self.vector_live as u64
            && self.bm25_seq == self.store_seq
            && self.vector_seq == self.store_seq
    }
}

pub(crate) fn check_consistency(engine: &Engine) -> Result<ConsistencyReport, EngineError> {
    let store = engine.store();
    let sqlite_ok = engine.block_on(store.integrity_check())?;
    let live_chunks = engine.block_on(store.count_live_chunks())?;
    let store_seq = engine.block_on(store.max_seq())?;
    let bm25 = crate::locks::lock_index(&engine.inner.bm25, "the BM25 index")?;
    let vectors = crate::locks::lock_index(&engine.inner.vectors, "the vector index")?;
    Ok(ConsistencyReport {
        sqlite_ok,
        live_chunks,
        bm25_chunks: bm25.num_chunks(),
        vector_live: vectors.len_live(),
        store_seq,
        bm25_seq: bm25.applied_seq(),
        vector_seq: vectors.applied_seq(),
    })
}

impl Engine {
    /// Brings both derived indexes up to the store's latest op, then prunes the applied ops.
    pub(crate) fn sync_derived(&self) -> Result<(), EngineError> {
        let store_seq = self.block_on(self.store().max_seq())?;
        // Ops at or below this are gone: an index older than that cannot replay, only rebuild.
        let pruned = self.block_on(self.store().ops_pruned_through())?;
        let mut bm25 = crate::locks::lock_index(&self.inner.bm25, "the BM25 index")?;
        let mut vectors = crate::locks::lock_index(&self.inner.vectors, "the vector index")?;
        let must_rebuild = |applied: u64| applied == 0 || applied < pruned || applied > store_seq;
        let bm25_fresh = must_rebuild(bm25.applied_seq());
        let vectors_fresh = must_rebuild(vectors.applied_seq());

        if bm25_fresh && store_seq > 0 {
            self.rebuild_bm25(&mut bm25, store_seq)?;
        }
        if vectors_fresh && store_seq > 0 {
            self.rebuild_vectors(&mut vectors, store_seq)?;
        }
        let from = bm25.applied_seq().min(vectors.applied_seq());
        if from < store_seq {
            self.replay(&mut bm25, &mut vectors, from, store_seq)?;
        }
        // hnsw_rs cannot delete: once dead entries pile up, a rebuild is cheaper than the waste.
        let tombstones = vectors.tombstones();
        if tombstones > 1000 && tombstones * 4 > vectors.len() {
            self.rebuild_vectors(&mut vectors, store_seq)?;
        }
        let applied = bm25.applied_seq().min(vectors.applied_seq());
        drop((bm25, vectors));
        if applied > 0 {
            self.block_on(self.store().prune_ops_through(applied))?;
        }
        Ok(())
    }

    fn replay(
        &self,
        bm25: &mut Bm25Index,
        vectors: &mut VectorIndex,
        from: u64,
        to: u64,
    ) -> Result<(), EngineError> {
        let mut after = from;
        while after < to {
            let ops = self.block_on(self.store().ops_after(after, OPS_PAGE))?;
            let Some(last) = ops.last() else { break };
            let last_seq = last.seq.min(to);
            // A chunk's final state is simply whether it is still live: ids are never reused and
            // a live chunk's text and vector never change, only its document's path may.
            let mut touched: Vec<ChunkId> = ops
                .iter()
                .filter(|op| op.seq <= to)
                .map(|op| op.chunk_id)
                .collect();
            touched.sort_unstable();
            touched.dedup();
            let live = self.block_on(self.store().chunks_for_replay(&touched))?;
            let live_ids: HashSet<ChunkId> = live.iter().map(|c| c.chunk_id).collect();
            let dead: Vec<ChunkId> = touched
                .iter()
                .copied()
                .filter(|id| !live_ids.contains(id))
                .collect();

            if bm25.applied_seq() < last_seq {
                bm25.remove_chunks(&dead)?;
                bm25.add(&bm25_docs(&live))?;
                bm25.commit(last_seq)?;
            }
            if vectors.applied_seq() < last_seq {
                vectors.mark_removed(&dead);
                let fresh: Vec<(ChunkId, &[f32])> = live
                    .iter()
                    .filter(|c| !vectors.contains(c.chunk_id))
                    .map(|c| (c.chunk_id, c.embedding.as_slice()))
                    .collect();
                vectors.insert(&fresh)?;
            }
            after = last_seq;
        }
        if vectors.applied_seq() < to {
            vectors.save(to)?;
        }
        Ok(())
    }

    fn rebuild_bm25(&self, bm25: &mut Bm25Index, seq: u64) -> Result<(), EngineError> {
        tracing::info!("rebuilding the BM25 index from the store");
        bm25.clear()?;
        let mut after = 0;
        loop {
            let page = self.block_on(self.store().live_chunks_after(after, REBUILD_PAGE))?;
            let Some(last) = page.last() else { break };
            after = last.chunk_id;
            bm25.add(&bm25_docs(&page))?;
        }
        bm25.commit(seq)?;
        Ok(())
    }

    fn rebuild_vectors(&self, vectors: &mut VectorIndex, seq: u64) -> Result<(), EngineError> {
        tracing::info!("rebuilding the vector index from the store");
        let mut items = Vec::new();
        let mut after = 0;
        loop {
            let page = self.block_on(self.store().live_chunks_after(after, REBUILD_PAGE))?;
            let Some(last) = page.last() else { break };
            after = last.chunk_id;
            items.extend(page.into_iter().map(|c| (c.chunk_id, c.embedding)));
        }
        let dir = self.inner.config.data_dir.join("vectors");
        *vectors = VectorIndex::rebuild(&dir, vectors.dim(), items, seq)?;
        Ok(())
    }
}

fn bm25_docs(chunks: &[ReplayChunk]) -> Vec<Bm25Doc<'_>> {
    chunks
        .iter()
        .map(|c| Bm25Doc {
            chunk_id: c.chunk_id,
            doc_id: c.doc_id,
            path: &c.path,
            title: c.title.as_deref().unwrap_or(""),
            doc_type: c.doc_type,
            text: &c.text,
        })
        .collect()
}
