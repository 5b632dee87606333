//! Retrieval: BM25, vectors, or both fused by reciprocal rank; hits joined back to the store so
//! a dead chunk is never shown.

use std::collections::HashMap;

use docent_embed::Embedder;
use docent_index::{Filter, RankedList, Scored};
use docent_types::{ChunkId, DocType};

use crate::{Engine, EngineError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SearchMode {
    #[default]
    Hybrid,
    Bm25,
    Vector,
}

impl SearchMode {
    pub fn parse(name: &str) -> Option<SearchMode> {
        match name {
            "hybrid" => Some(SearchMode::Hybrid),
            "bm25" => Some(SearchMode::Bm25),
            "vector" => Some(SearchMode::Vector),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SearchMode::Hybrid => "hybrid",
            SearchMode::Bm25 => "bm25",
            SearchMode::Vector => "vector",
        }
    }
}

#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub query: String,
    pub top_k: usize,
    pub mode: SearchMode,
    /// Only documents at or under this absolute path.
    pub path_prefix: Option<String>,
    /// Only these types; empty means all.
    pub doc_types: Vec<DocType>,
    pub bm25_weight: f32,
    pub vector_weight: f32,
    pub rrf_k: f32,
    /// Drop a hit that repeats an earlier one almost word for word.
    pub collapse_duplicates: bool,
}

impl SearchRequest {
    pub fn new(query: impl Into<String>) -> SearchRequest {
        SearchRequest {
            query: query.into(),
            top_k: 10,
            mode: SearchMode::Hybrid,
            path_prefix: None,
            doc_types: Vec::new(),
            bm25_weight: 1.0,
            vector_weight: 1.0,
            rrf_k: docent_index::DEFAULT_RRF_K,
            collapse_duplicates: true,
        }
    }
}

/// One retrieved passage with everything needed to cite it.
#[derive(Debug, Clone)]
pub struct SearchHit {
    pub rank: usize,
    pub chunk_id: ChunkId,
    pub path: String,
    pub title: Option<String>,
    pub doc_type: DocType,
    pub page: Option<u32>,
    pub line_start: Option<u32>,
    pub line_end: Option<u32>,
    pub heading_path: Vec<String>,
    pub text: String,
    pub score: f32,
    pub bm25_rank: Option<u32>,
    pub vector_rank: Option<u32>,
    /// Cosine similarity between the query and the passage, when the vector retriever ran.
    pub similarity: Option<f32>,
}

/// Similarity at or above which two passages count as the same.
const DUPLICATE_JACCARD: f32 = 0.9;

impl Engine {
    pub fn search(&self, request: &SearchRequest) -> Result<Vec<SearchHit>, EngineError> {
        let query = request.query.trim();
        if query.is_empty() {
            return Err(EngineError::Invalid(
                "the search query is empty".to_string(),
            ));
        }
        if request.top_k == 0 {
            return Ok(Vec::new());
        }
        let filter = Filter {
            path_prefix: request.path_prefix.clone(),
            doc_types: request.doc_types.clone(),
        };
        let filtered = filter.path_prefix.is_some() || !filter.doc_types.is_empty();
        // Candidates per retriever: enough depth for fusion and for dropping duplicates.
        let depth = (request.top_k * 3).max(50);

        let bm25_hits = match request.mode {
            SearchMode::Bm25 | SearchMode::Hybrid => {
                let bm25 = crate::locks::lock_index(&self.inner.bm25, "the BM25 index")?;
                bm25.search(query, depth, &filter)?
            }
            SearchMode::Vector => Vec::new(),
        };
        let vector_hits = match request.mode {
            SearchMode::Vector | SearchMode::Hybrid => {
                let embedder = self.embedder()?;
                let vector = embedder
                    .embed(&[query])?
                    .pop()
                    .expect("one vector per query");
                // The graph has no filters: fetch deeper and filter after the join.
                let vector_depth = if filtered { depth * 4 } else { depth };
                let vectors = crate::locks::lock_index(&self.inner.vectors, "the vector index")?;
                vectors.search(&vector, vector_depth)?
            }
            SearchMode::Bm25 => Vec::new(),
        };

        let similarity: HashMap<ChunkId, f32> = vector_hits
            .iter()
            .map(|hit| (hit.chunk_id, hit.score))
            .collect();
        let candidates = fuse(request, &bm25_hits, &vector_hits);
        let ids: Vec<ChunkId> = candidates.iter().map(|c| c.chunk_id).collect();
        let rows = self.block_on(self.store().chunks_by_ids(&ids))?;
        let mut rows: HashMap<ChunkId, docent_store::ChunkHit> =
            rows.into_iter().map(|row| (row.chunk_id, row)).collect();

        let mut hits: Vec<SearchHit> = candidates
            .into_iter()
            .filter_map(|candidate| {
                let row = rows.remove(&candidate.chunk_id)?;
                let keep = request
                    .path_prefix
                    .as_deref()
                    .is_none_or(|prefix| is_under(&row.path, prefix))
                    && (request.doc_types.is_empty() || request.doc_types.contains(&row.doc_type));
                keep.then_some(SearchHit {
                    rank: 0,
                    chunk_id: row.chunk_id,
                    path: row.path,
                    title: row.title,
                    doc_type: row.doc_type,
                    page: row.page,
                    line_start: row.line_start,
                    line_end: row.line_end,
                    heading_path: row.heading_path,
                    text: row.text,
                    score: candidate.score,
                    bm25_rank: candidate.bm25_rank,
                    vector_rank: candidate.vector_rank,
                    similarity: similarity.get(&candidate.chunk_id).copied(),
                })
            })
            .collect();
        if request.collapse_duplicates {
            hits = docent_index::collapse_near_duplicates(
                hits,
                |hit| hit.text.as_str(),
                DUPLICATE_JACCARD,
            );
        }
        hits.truncate(request.top_k);
        for (idx, hit) in hits.iter_mut().enumerate() {
            hit.rank = idx + 1;
        }
        Ok(hits)
    }
}

struct Candidate {
    chunk_id: ChunkId,
    score: f32,
    bm25_rank: Option<u32>,
    vector_rank: Option<u32>,
}

fn fuse(request: &SearchRequest, bm25: &[Scored], vector: &[Scored]) -> Vec<Candidate> {
    let ranked = |hits: &[Scored], is_bm25: bool| -> Vec<Candidate> {
        hits.iter()
            .enumerate()
            .map(|(idx, hit)| {
                let rank = Some(idx as u32 + 1);
                Candidate {
                    chunk_id: hit.chunk_id,
                    score: hit.score,
                    bm25_rank: if is_bm25 { rank } else { None },
                    vector_rank: if is_bm25 { None } else { rank },
                }
            })
            .collect()
    };
    match request.mode {
        SearchMode::Bm25 => ranked(bm25, true),
        SearchMode::Vector => ranked(vector, false),
        SearchMode::Hybrid => {
            let bm25_ids: Vec<ChunkId> = bm25.iter().map(|h| h.chunk_id).collect();
            let vector_ids: Vec<ChunkId> = vector.iter().map(|h| h.chunk_id).collect();
            let lists = [
                RankedList {
                    ids: &bm25_ids,
                    weight: request.bm25_weight,
                },
                RankedList {
                    ids: &vector_ids,
                    weight: request.vector_weight,
                },
            ];
            docent_index::reciprocal_rank_fusion(&lists, request.rrf_k)
                .into_iter()
                .map(|fused| Candidate {
                    chunk_id: fused.chunk_id,
                    score: fused.score,
                    bm25_rank: fused.ranks[0],
                    vector_rank: fused.ranks[1],
                })
                .collect()
        }
    }
}

/// `path` is `prefix` itself or inside it, component-wise ("/a/b" holds "/a/b/c", not "/a/bc").
pub(crate) fn is_under(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return true;
    }
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_matches_whole_components() {
        let check = |path: &str, prefix: &str, expected: bool| {
            assert_eq!(is_under(path, prefix), expected, "{path} under {prefix}");
        };
        check("/a/b/c.txt", "/a/b", true);
        check("/a/b/c.txt", "/a/b/", true);
        check("/a/b", "/a/b", true);
        check("/a/bc.txt", "/a/b", false);
        check("/x/b/c.txt", "/a", false);
        check("/a/b", "/", true);
    }

    #[test]
    fn modes_parse() {
        for mode in [SearchMode::Hybrid, SearchMode::Bm25, SearchMode::Vector] {
            assert_eq!(SearchMode::parse(mode.as_str()), Some(mode));
        }
        assert_eq!(SearchMode::parse("fuzzy"), None);
    }
}
