//! The vector index: an hnsw_rs graph over chunk embeddings, saved in generations.
//!
//! Layout of the index folder:
//!
//! ```text
//! manifest.json        {"gen": N, "seq": S, "count": C, "dim": D, "checksum": "<blake3 hex>"}
//! gen-N/ids.json       the chunk ids in the graph and the tombstoned ones
//! gen-N/graph.hnsw.*   hnsw_rs's dump (absent while the graph is empty)
//! ```
//!
//! A save writes and fsyncs `gen-(N+1)/` completely before it replaces `manifest.json` by an
//! atomic rename; only then is `gen-N/` deleted. A crash at any point leaves a manifest that
//! names a complete generation, and the checksum catches a generation that was damaged later.

use std::collections::HashSet;
use std::fs::File;
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use docent_types::ChunkId;
use hnsw_rs::api::AnnT;
use hnsw_rs::hnsw::Hnsw;
use hnsw_rs::hnswio::HnswIo;
use hnsw_rs::prelude::DistL2;
use serde::{Deserialize, Serialize};

use crate::{IndexError, Scored};

/// Neighbours kept per node and layer (hnsw_rs keeps twice as many on layer 0). On 10k
/// structureless 384-dimensional vectors, the hardest case, 24 gave recall@10 of 0.98 where 16
/// gave 0.94, for a build about 1.4 times slower; real embeddings do better than either.
const MAX_NB_CONNECTION: usize = 24;
const EF_CONSTRUCTION: usize = 200;
/// hnsw_rs only dumps graphs built with its maximum number of layers, which is 16.
const MAX_LAYERS: usize = 16;
/// The smallest candidate list a search explores, whatever `k` is: a few milliseconds at 100k.
const EF_SEARCH_MIN: usize = 100;
/// The capacity a new graph reserves up front; it grows past this as needed.
const EXPECTED_ELEMENTS: usize = 10_000;
/// Below this many new vectors, inserting on one thread beats fanning out to rayon.
const PARALLEL_INSERT_MIN: usize = 64;
/// How many vectors a rebuild holds in memory before inserting them into the graph.
const REBUILD_BATCH: usize = 4096;

const MANIFEST_FILE: &str = "manifest.json";
const MANIFEST_TEMP_FILE: &str = "manifest.json.tmp";
const IDS_FILE: &str = "ids.json";
const GRAPH_BASENAME: &str = "graph";
const GENERATION_PREFIX: &str = "gen-";

// hnsw_rs names points by `usize`; chunk ids are `i64` and map onto it one to one through the
// same 64 bits.
const _: () = assert!(
    usize::BITS == 64,
    "chunk ids are stored as 64-bit usize point ids"
);

fn point_id(chunk_id: ChunkId) -> usize {
    chunk_id as u64 as usize
}

fn chunk_id(point_id: usize) -> ChunkId {
    point_id as u64 as ChunkId
}

/// Vectors are stored at unit length, where the Euclidean distance `sqrt(2 - 2 cos)` orders
/// neighbours exactly as the cosine distance does, so every comparison HNSW makes is the same.
/// anndists's L2 is SIMD (AVX2, the `simdeez_f` feature) and compiled optimised even in debug
/// builds, whereas its `DistCosine` is scalar f64 arithmetic: building a graph of 384-dimensional
/// vectors is about 2.5 times faster this way.
type CosineHnsw<'io> = Hnsw<'io, f32, DistL2>;

/// The cosine similarity of two unit vectors at Euclidean distance `distance`.
fn cosine_from_distance(distance: f32) -> f32 {
    1.0 - 0.5 * distance * distance
}

self_cell::self_cell!(
    /// A graph together with the `HnswIo` it was loaded through.
    ///
    /// hnsw_rs ties a reloaded `Hnsw<'io, ..>` to the `HnswIo` it came from, because with mmap
    /// on the points borrow the mapped file. We reload without mmap, so nothing is really
    /// borrowed, but the type says otherwise; self_cell keeps both in one heap cell so the
    /// borrow is honest and needs no unsafe code here. A new graph gets an empty `HnswIo`.
    struct Graph {
        owner: HnswIo,
        #[not_covariant]
        dependent: CosineHnsw,
    }
);

impl Graph {
    fn empty() -> Graph {
        Graph::new(HnswIo::default(), |_| {
            Hnsw::new(
                MAX_NB_CONNECTION,
                EXPECTED_ELEMENTS,
                MAX_LAYERS,
                EF_CONSTRUCTION,
                DistL2,
            )
        })
    }

    /// Loads the dump `GRAPH_BASENAME` in `generation_dir`; hnsw_rs asserts rather than errs on
    /// some malformed input, so its panics count as load failures too.
    fn load(generation_dir: &Path) -> Result<Graph, String> {
        let io = HnswIo::new(generation_dir, GRAPH_BASENAME);
        let loaded = catch_unwind(AssertUnwindSafe(|| {
            Graph::try_new(io, |io| io.load_hnsw_with_dist::<f32, DistL2>(DistL2))
        }));
        match loaded {
            Ok(Ok(graph)) => Ok(graph),
            Ok(Err(error)) => Err(format!("hnsw_rs could not load the graph: {error}")),
            Err(_) => Err("hnsw_rs panicked while loading the graph".to_string()),
        }
    }

    fn n_points(&self) -> usize {
        self.with_dependent(|_, hnsw| hnsw.get_nb_point())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Manifest {
    /// `gen` on disk; a reserved word in Rust 2024.
    #[serde(rename = "gen")]
    generation: u64,
    seq: u64,
    count: usize,
    dim: usize,
    checksum: String,
}

/// The ids sidecar of a generation: what hnsw_rs's dump does not know about.
#[derive(Debug, Default, Serialize, Deserialize)]
struct IdsFile {
    ids: Vec<ChunkId>,
    tombstones: Vec<ChunkId>,
}

/// Approximate nearest neighbours by cosine similarity over chunk embeddings.
///
/// Changes (`insert`, `mark_removed`) live in memory until [`VectorIndex::save`]; after a crash
/// the index reopens as of the last save and the engine replays the rest. hnsw_rs cannot delete,
/// so a removed chunk becomes a tombstone: still in the graph, never returned. When
/// [`VectorIndex::tombstones`] grows large, [`VectorIndex::rebuild`] from the store.
pub struct VectorIndex {
    dir: PathBuf,
    dim: usize,
    graph: Graph,
    /// Every chunk id in the graph, live or tombstoned.
    ids: HashSet<ChunkId>,
    tombstones: HashSet<ChunkId>,
    generation: u64,
    applied_seq: u64,
}

impl std::fmt::Debug for VectorIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorIndex")
            .field("dir", &self.dir)
            .field("dim", &self.dim)
            .field("len", &self.ids.len())
            .field("tombstones", &self.tombstones.len())
            .field("generation", &self.generation)
            .field("applied_seq", &self.applied_seq)
            .finish_non_exhaustive()
    }
}

impl VectorIndex {
    /// Opens the generation that `dir/manifest.json` names, or an empty index (`applied_seq` 0)
    /// when there is no manifest. A manifest that cannot be read, names missing or altered files
    /// (checksum), or was built for another dimension is [`IndexError::Damaged`]: the engine
    /// deletes the folder and rebuilds from the store.
    pub fn open(dir: &Path, dim: usize) -> Result<VectorIndex, IndexError> {
        create_dir_all(dir)?;
        let manifest = match read_manifest(dir)? {
            None => {
                remove_stale_generations(dir, None);
                return Ok(VectorIndex::empty(dir, dim, 0));
            }
            Some(manifest) => manifest,
        };
        let damaged = |reason: String| {
            tracing::warn!(dir = %dir.display(), %reason, "the vector index is damaged");
            IndexError::Damaged {
                path: dir.to_path_buf(),
                reason,
            }
        };
        if manifest.dim != dim {
            return Err(damaged(format!(
                "built for {} dimensions, the embedding model has {dim}",
                manifest.dim
            )));
        }
        let generation_dir = generation_dir(dir, manifest.generation);
        let files = generation_files(manifest.count);
        let checksum = checksum(&generation_dir, &files).map_err(|error| {
            damaged(format!(
                "cannot read generation {}: {error}",
                manifest.generation
            ))
        })?;
        if checksum != manifest.checksum {
            return Err(damaged(format!(
                "generation {} does not match its checksum",
                manifest.generation
            )));
        }
        let ids_path = generation_dir.join(IDS_FILE);
        let ids_file: IdsFile = std::fs::read(&ids_path)
            .map_err(|error| error.to_string())
            .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|error| error.to_string()))
            .map_err(|error| damaged(format!("cannot read {}: {error}", ids_path.display())))?;
        let ids: HashSet<ChunkId> = ids_file.ids.into_iter().collect();
        let tombstones: HashSet<ChunkId> = ids_file.tombstones.into_iter().collect();
        if ids.len() != manifest.count || !tombstones.is_subset(&ids) {
            return Err(damaged(format!(
                "generation {} lists {} ids for a count of {}",
                manifest.generation,
                ids.len(),
                manifest.count
            )));
        }
        let graph = if manifest.count == 0 {
            Graph::empty()
        } else {
            Graph::load(&generation_dir).map_err(&damaged)?
        };
        if graph.n_points() != manifest.count {
            return Err(damaged(format!(
                "the graph has {} points for a count of {}",
                graph.n_points(),
                manifest.count
            )));
        }
        remove_stale_generations(dir, Some(manifest.generation));
        tracing::debug!(
            dir = %dir.display(),
            generation = manifest.generation,
            seq = manifest.seq,
            count = manifest.count,
            "opened the vector index"
        );
        Ok(VectorIndex {
            dir: dir.to_path_buf(),
            dim,
            graph,
            ids,
            tombstones,
            generation: manifest.generation,
            applied_seq: manifest.seq,
        })
    }

    /// Builds a fresh graph from `items` (the live chunks of the store) and saves it as a new
    /// generation reflecting `seq`. Whatever `dir` held before, damaged or not, is replaced.
    /// Drop any [`VectorIndex`] open on `dir` before using the returned one.
    pub fn rebuild(
        dir: &Path,
        dim: usize,
        items: impl IntoIterator<Item = (ChunkId, Vec<f32>)>,
        seq: u64,
    ) -> Result<VectorIndex, IndexError> {
        create_dir_all(dir)?;
        // Number past every generation already there, so none of them can be mistaken for ours.
        let newest_generation = existing_generations(dir).into_iter().max().unwrap_or(0);
        let mut index = VectorIndex::empty(dir, dim, newest_generation);
        let mut batch: Vec<(ChunkId, Vec<f32>)> = Vec::with_capacity(REBUILD_BATCH);
        let mut items = items.into_iter();
        loop {
            batch.clear();
            batch.extend(items.by_ref().take(REBUILD_BATCH));
            if batch.is_empty() {
                break;
            }
            let borrowed: Vec<(ChunkId, &[f32])> = batch
                .iter()
                .map(|(chunk_id, vector)| (*chunk_id, vector.as_slice()))
                .collect();
            index.insert(&borrowed)?;
        }
        index.save(seq)?;
        tracing::info!(dir = %dir.display(), n_vectors = index.len(), seq, "rebuilt the vector index");
        Ok(index)
    }

    fn empty(dir: &Path, dim: usize, generation: u64) -> VectorIndex {
        VectorIndex {
            dir: dir.to_path_buf(),
            dim,
            graph: Graph::empty(),
            ids: HashSet::new(),
            tombstones: HashSet::new(),
            generation,
            applied_seq: 0,
        }
    }

    /// Adds vectors to the graph. An id already in the graph (live or tombstoned) is skipped:
    /// chunk ids are never reused, so its vector cannot have changed. Every vector is checked
    /// first; if one has the wrong dimension, a non-finite value or zero length, nothing is
    /// inserted.
    pub fn insert(&mut self, items: &[(ChunkId, &[f32])]) -> Result<(), IndexError> {
        for &(chunk_id, vector) in items {
            self.check_vector(Some(chunk_id), vector)?;
        }
        let mut unit_vectors: Vec<(Vec<f32>, usize)> = Vec::new();
        for &(chunk_id, vector) in items {
            if self.ids.insert(chunk_id) {
                unit_vectors.push((unit_length(vector), point_id(chunk_id)));
            }
        }
        if unit_vectors.is_empty() {
            return Ok(());
        }
        let fresh: Vec<(&[f32], usize)> = unit_vectors
            .iter()
            .map(|(vector, point_id)| (vector.as_slice(), *point_id))
            .collect();
        self.graph.with_dependent(|_, hnsw| {
            if fresh.len() >= PARALLEL_INSERT_MIN {
                hnsw.parallel_insert_slice(&fresh);
            } else {
                for &item in &fresh {
                    hnsw.insert_slice(item);
                }
            }
        });
        Ok(())
    }

    /// Tombstones `chunk_ids`: they stay in the graph but are never returned again. Ids that are
    /// not in the graph are ignored.
    pub fn mark_removed(&mut self, chunk_ids: &[ChunkId]) {
        for chunk_id in chunk_ids {
            if self.ids.contains(chunk_id) {
                self.tombstones.insert(*chunk_id);
            }
        }
    }

    /// The `k` live chunks nearest to `vector`, best first; `score` is the cosine similarity.
    /// The search is approximate (HNSW); ask for more than you show if you filter afterwards.
    pub fn search(&self, vector: &[f32], k: usize) -> Result<Vec<Scored>, IndexError> {
        self.check_vector(None, vector)?;
        let vector = unit_length(vector);
        let vector = vector.as_slice();
        let n_points = self.ids.len();
        if k == 0 || self.len_live() == 0 {
            return Ok(Vec::new());
        }
        // Tombstones take places in the graph's answer, so ask for more until k live ones come
        // back or the whole graph was asked for.
        let mut n_fetch = k.saturating_add(self.tombstones.len().min(k)).min(n_points);
        loop {
            let neighbours = self
                .graph
                .with_dependent(|_, hnsw| hnsw.search(vector, n_fetch, n_fetch.max(EF_SEARCH_MIN)));
            let hits: Vec<Scored> = neighbours
                .iter()
                .map(|neighbour| Scored {
                    chunk_id: chunk_id(neighbour.d_id),
                    score: cosine_from_distance(neighbour.distance),
                })
                .filter(|hit| !self.tombstones.contains(&hit.chunk_id))
                .take(k)
                .collect();
            if hits.len() >= k || n_fetch >= n_points {
                return Ok(hits);
            }
            n_fetch = n_fetch.saturating_mul(2).min(n_points);
        }
    }

    /// Writes the graph as a new generation reflecting op-log `seq` and makes it current.
    pub fn save(&mut self, seq: u64) -> Result<(), IndexError> {
        let new_generation = self.generation + 1;
        let new_dir = generation_dir(&self.dir, new_generation);
        // A folder by that name can only be left over from a save that crashed before its
        // manifest switch: nothing refers to it.
        remove_dir_all_if_present(&new_dir)?;
        create_dir_all(&new_dir)?;

        let count = self.ids.len();
        if count > 0 {
            self.dump_graph(&new_dir)?;
        }
        let mut ids_file = IdsFile {
            ids: self.ids.iter().copied().collect(),
            tombstones: self.tombstones.iter().copied().collect(),
        };
        ids_file.ids.sort_unstable();
        ids_file.tombstones.sort_unstable();
        let ids_bytes = serde_json::to_vec(&ids_file).expect("ids serialise to JSON");
        write_synced(&new_dir.join(IDS_FILE), &ids_bytes)?;
        let files = generation_files(count);
        for name in &files {
            sync_file(&new_dir.join(name))?;
        }
        sync_dir(&new_dir)?;

        let manifest = Manifest {
            generation: new_generation,
            seq,
            count,
            dim: self.dim,
            checksum: checksum(&new_dir, &files).map_err(|source| IndexError::WithPath {
                path: new_dir.clone(),
                source,
            })?,
        };
        let manifest_bytes = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
        let temp_path = self.dir.join(MANIFEST_TEMP_FILE);
        write_synced(&temp_path, &manifest_bytes)?;
        // The new generation and its manifest are written, not yet current: the crash campaign
        // kills here.
        docent_types::fault::point(docent_types::fault::VECTOR_DUMP);
        let manifest_path = self.dir.join(MANIFEST_FILE);
        std::fs::rename(&temp_path, &manifest_path).map_err(|source| IndexError::WithPath {
            path: manifest_path,
            source,
        })?;
        sync_dir(&self.dir)?;

        self.generation = new_generation;
        self.applied_seq = seq;
        remove_stale_generations(&self.dir, Some(new_generation));
        tracing::debug!(
            dir = %self.dir.display(),
            generation = new_generation,
            seq,
            count,
            "saved the vector index"
        );
        Ok(())
    }

    fn dump_graph(&self, new_dir: &Path) -> Result<(), IndexError> {
        let dump_error = |reason: String| IndexError::VectorDump {
            path: new_dir.to_path_buf(),
            reason,
        };
        // hnsw_rs panics instead of returning an error when it cannot create its files.
        let dumped = catch_unwind(AssertUnwindSafe(|| {
            self.graph
                .with_dependent(|_, hnsw| hnsw.file_dump(new_dir, GRAPH_BASENAME))
        }))
        .map_err(|_| dump_error("hnsw_rs panicked while writing the graph".to_string()))?
        .map_err(|error| dump_error(error.to_string()))?;
        if dumped != GRAPH_BASENAME {
            return Err(dump_error(format!(
                "hnsw_rs wrote {dumped:?} instead of {GRAPH_BASENAME:?}"
            )));
        }
        Ok(())
    }

    fn check_vector(&self, chunk_id: Option<ChunkId>, vector: &[f32]) -> Result<(), IndexError> {
        if vector.len() != self.dim {
            return Err(IndexError::WrongDimension {
                chunk_id,
                expected: self.dim,
                actual: vector.len(),
            });
        }
        // hnsw_rs panics on NaN distances, and a zero vector is at distance 0 from everything.
        if !vector.iter().all(|value| value.is_finite()) {
            return Err(IndexError::InvalidVector {
                chunk_id,
                reason: "it has a value that is not a finite number",
            });
        }
        if vector.iter().all(|&value| value == 0.0) {
            return Err(IndexError::InvalidVector {
                chunk_id,
                reason: "it is all zeros",
            });
        }
        Ok(())
    }

    /// True when `chunk_id` is in the graph, live or tombstoned.
    pub fn contains(&self, chunk_id: ChunkId) -> bool {
        self.ids.contains(&chunk_id)
    }

    /// Chunks in the graph, tombstoned ones included.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Chunks that searches can return.
    pub fn len_live(&self) -> usize {
        self.ids.len() - self.tombstones.len()
    }

    /// Dead chunks still taking space (and search effort) in the graph.
    pub fn tombstones(&self) -> usize {
        self.tombstones.len()
    }

    /// The live chunk ids, in no particular order.
    pub fn live_ids(&self) -> impl Iterator<Item = ChunkId> + '_ {
        self.ids
            .iter()
            .copied()
            .filter(|chunk_id| !self.tombstones.contains(chunk_id))
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The op-log `seq` of the last save; 0 for a new index.
    pub fn applied_seq(&self) -> u64 {
        self.applied_seq
    }
}

/// `vector` scaled to length 1, which the L2 graph relies on. Embedders normalise already;
/// doing it again is cheap and keeps scores true cosines whatever the caller passes.
fn unit_length(vector: &[f32]) -> Vec<f32> {
    let norm = vector
        .iter()
        .map(|&value| f64::from(value) * f64::from(value))
        .sum::<f64>()
        .sqrt();
    vector
        .iter()
        .map(|&value| (f64::from(value) / norm) as f32)
        .collect()
}

fn generation_dir(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("{GENERATION_PREFIX}{generation}"))
}

/// The files of a generation with `count` points, in checksum order.
fn generation_files(count: usize) -> Vec<String> {
    let mut files = vec![IDS_FILE.to_string()];
    if count > 0 {
        files.push(format!("{GRAPH_BASENAME}.hnsw.graph"));
        files.push(format!("{GRAPH_BASENAME}.hnsw.data"));
    }
    files
}

/// blake3 over each file's name, length and bytes, so a renamed, truncated or altered file
/// all change it.
fn checksum(generation_dir: &Path, files: &[String]) -> std::io::Result<String> {
    let mut hasher = blake3::Hasher::new();
    for name in files {
        let file = File::open(generation_dir.join(name))?;
        let length = file.metadata()?.len();
        hasher.update(name.as_bytes());
        hasher.update(&[0]);
        hasher.update(&length.to_le_bytes());
        hasher.update_reader(file)?;
    }
    Ok(hasher.finalize().to_hex().to_string())
}

fn read_manifest(dir: &Path) -> Result<Option<Manifest>, IndexError> {
    let path = dir.join(MANIFEST_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(IndexError::WithPath { path, source }),
    };
    match serde_json::from_slice(&bytes) {
        Ok(manifest) => Ok(Some(manifest)),
        Err(error) => {
            let reason = format!("unreadable {MANIFEST_FILE}: {error}");
            tracing::warn!(dir = %dir.display(), %reason, "the vector index is damaged");
            Err(IndexError::Damaged {
                path: dir.to_path_buf(),
                reason,
            })
        }
    }
}

fn existing_generations(dir: &Path) -> Vec<u64> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            entry
                .file_name()
                .to_str()?
                .strip_prefix(GENERATION_PREFIX)?
                .parse::<u64>()
                .ok()
        })
        .collect()
}

/// Deletes generations other than `current` (leftovers of interrupted saves, or the previous
/// generation). Failing to delete wastes disk but breaks nothing, so it is only logged.
fn remove_stale_generations(dir: &Path, current: Option<u64>) {
    for generation in existing_generations(dir) {
        if Some(generation) == current {
            continue;
        }
        let stale = generation_dir(dir, generation);
        if let Err(error) = std::fs::remove_dir_all(&stale) {
            tracing::warn!(dir = %stale.display(), %error, "could not delete an old vector generation");
        }
    }
}

fn create_dir_all(dir: &Path) -> Result<(), IndexError> {
    std::fs::create_dir_all(dir).map_err(|source| IndexError::WithPath {
        path: dir.to_path_buf(),
        source,
    })
}

fn remove_dir_all_if_present(dir: &Path) -> Result<(), IndexError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(IndexError::WithPath {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), IndexError> {
    let with_path = |source| IndexError::WithPath {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::create(path).map_err(with_path)?;
    file.write_all(bytes).map_err(with_path)?;
    file.sync_all().map_err(with_path)
}

fn sync_file(path: &Path) -> Result<(), IndexError> {
    File::open(path)
        .and_then(|file| file.sync_all())
        .map_err(|source| IndexError::WithPath {
            path: path.to_path_buf(),
            source,
        })
}

/// Makes the names in `dir` durable (new files, a rename). Only Unix can fsync a directory;
/// on Windows, NTFS journals the metadata itself.
fn sync_dir(dir: &Path) -> Result<(), IndexError> {
    if cfg!(unix) {
        File::open(dir)
            .and_then(|file| file.sync_all())
            .map_err(|source| IndexError::WithPath {
                path: dir.to_path_buf(),
                source,
            })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*: the tests need many reproducible vectors and no extra dependency.
    struct Rng(u64);

    impl Rng {
        fn next_f32(&mut self) -> f32 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let bits = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40;
            bits as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        }

        fn unit_vector(&mut self, dim: usize) -> Vec<f32> {
            let mut vector: Vec<f32> = (0..dim).map(|_| self.next_f32()).collect();
            let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
            vector.iter_mut().for_each(|v| *v /= norm);
            vector
        }
    }

    fn random_items(n: usize, dim: usize, seed: u64) -> Vec<(ChunkId, Vec<f32>)> {
        let mut rng = Rng(seed);
        (0..n)
            .map(|i| (i as ChunkId * 3 + 1, rng.unit_vector(dim)))
            .collect()
    }

    fn borrowed(items: &[(ChunkId, Vec<f32>)]) -> Vec<(ChunkId, &[f32])> {
        items.iter().map(|(id, v)| (*id, v.as_slice())).collect()
    }

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    fn exact_top_k(items: &[(ChunkId, Vec<f32>)], query: &[f32], k: usize) -> Vec<ChunkId> {
        let mut scored: Vec<(f32, ChunkId)> = items
            .iter()
            .map(|(id, v)| (cosine(v, query), *id))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored.into_iter().take(k).map(|(_, id)| id).collect()
    }

    fn search_ids(index: &VectorIndex, query: &[f32], k: usize) -> Vec<ChunkId> {
        index
            .search(query, k)
            .unwrap()
            .into_iter()
            .map(|hit| hit.chunk_id)
            .collect()
    }

    #[test]
    fn recall_at_10_beats_brute_force_95_percent() {
        let dim = 64;
        let items = random_items(2000, dim, 7);
        let dir = tempfile::tempdir().unwrap();
        let mut index = VectorIndex::open(dir.path(), dim).unwrap();
        index.insert(&borrowed(&items)).unwrap();
        let mut rng = Rng(99);
        let (mut found, mut wanted) = (0, 0);
        for _ in 0..100 {
            let query = rng.unit_vector(dim);
            let exact = exact_top_k(&items, &query, 10);
            let approximate = search_ids(&index, &query, 10);
            found += approximate.iter().filter(|id| exact.contains(id)).count();
            wanted += exact.len();
        }
        let recall = found as f64 / wanted as f64;
        assert!(recall >= 0.95, "recall@10 is {recall}");
    }

    #[test]
    fn scores_are_cosine_similarities_best_first() {
        let dim = 16;
        let items = random_items(200, dim, 3);
        let dir = tempfile::tempdir().unwrap();
        let mut index = VectorIndex::open(dir.path(), dim).unwrap();
        index.insert(&borrowed(&items)).unwrap();
        let (target_id, target) = &items[17];
        let hits = index.search(target, 5).unwrap();
        assert_eq!(hits.len(), 5);
        assert_eq!(hits[0].chunk_id, *target_id);
        assert!((hits[0].score - 1.0).abs() < 1e-4, "{hits:?}");
        for hit in &hits {
            let vector = &items.iter().find(|(id, _)| *id == hit.chunk_id).unwrap().1;
            assert!((hit.score - cosine(vector, target)).abs() < 1e-4);
        }
        assert!(hits.windows(2).all(|pair| pair[0].score >= pair[1].score));
        assert!(index.search(target, 0).unwrap().is_empty());
    }

    #[test]
    fn save_and_open_round_trip() {
        let dim = 32;
        let items = random_items(300, dim, 11);
        let dir = tempfile::tempdir().unwrap();
        let queries: Vec<Vec<f32>> = items.iter().take(20).map(|(_, v)| v.clone()).collect();
        let before: Vec<Vec<ChunkId>>;
        {
            let mut index = VectorIndex::open(dir.path(), dim).unwrap();
            assert_eq!(index.applied_seq(), 0);
            index.insert(&borrowed(&items)).unwrap();
            index.mark_removed(&[items[0].0, items[1].0]);
            index.save(12).unwrap();
            before = queries.iter().map(|q| search_ids(&index, q, 10)).collect();
        }
        let mut index = VectorIndex::open(dir.path(), dim).unwrap();
        assert_eq!(index.applied_seq(), 12);
        assert_eq!(index.len(), 300);
        assert_eq!(index.tombstones(), 2);
        assert_eq!(index.len_live(), 298);
        assert!(index.contains(items[5].0));
        assert!(index.contains(items[0].0));
        let after: Vec<Vec<ChunkId>> = queries.iter().map(|q| search_ids(&index, q, 10)).collect();
        assert_eq!(before, after);

        // A reloaded graph keeps growing and saving.
        let more = random_items(50, dim, 12)
            .into_iter()
            .map(|(id, v)| (id + 100_000, v))
            .collect::<Vec<_>>();
        index.insert(&borrowed(&more)).unwrap();
        index.save(13).unwrap();
        let index = VectorIndex::open(dir.path(), dim).unwrap();
        assert_eq!(index.len(), 350);
        assert_eq!(search_ids(&index, &more[3].1, 1), vec![more[3].0]);
        // Only the current generation is left on disk.
        assert_eq!(existing_generations(dir.path()), vec![2]);
    }

    #[test]
    fn an_empty_index_saves_and_opens() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = VectorIndex::open(dir.path(), 8).unwrap();
        assert!(index.is_empty());
        assert!(index.search(&[1.0; 8], 5).unwrap().is_empty());
        index.save(3).unwrap();
        let index = VectorIndex::open(dir.path(), 8).unwrap();
        assert_eq!(index.applied_seq(), 3);
        assert!(index.is_empty());
    }

    #[test]
    fn tombstoned_ids_are_never_returned() {
        let dim = 16;
        let items = random_items(400, dim, 5);
        let dir = tempfile::tempdir().unwrap();
        let mut index = VectorIndex::open(dir.path(), dim).unwrap();
        index.insert(&borrowed(&items)).unwrap();
        // Remove every other chunk, including each query's own nearest neighbour.
        let removed: Vec<ChunkId> = items.iter().step_by(2).map(|(id, _)| *id).collect();
        index.mark_removed(&removed);
        index.mark_removed(&[-5, 1_000_000]);
        assert_eq!(index.tombstones(), 200);
        for (_, query) in items.iter().take(40) {
            let hits = search_ids(&index, query, 10);
            assert_eq!(hits.len(), 10);
            assert!(hits.iter().all(|id| !removed.contains(id)), "{hits:?}");
        }
        // Asking for more than are alive returns exactly the live ones.
        let hits = search_ids(&index, &items[0].1, 1000);
        assert_eq!(hits.len(), 200);
        assert_eq!(search_ids(&index, &items[0].1, usize::MAX), hits);
        // Inserting a tombstoned id again does not bring it back.
        index
            .insert(&[(items[0].0, items[0].1.as_slice())])
            .unwrap();
        assert_eq!(index.len(), 400);
        assert!(!search_ids(&index, &items[0].1, 10).contains(&items[0].0));
        assert_eq!(index.live_ids().count(), 200);
    }

    #[test]
    fn vectors_need_not_be_unit_length() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = VectorIndex::open(dir.path(), 2).unwrap();
        index
            .insert(&[(1, &[3.0, 0.0]), (2, &[0.0, 0.5]), (3, &[-2.0, -2.0])])
            .unwrap();
        let hits = index.search(&[10.0, 10.0], 3).unwrap();
        let half_sqrt_2 = std::f32::consts::FRAC_1_SQRT_2;
        let expected = [(1, half_sqrt_2), (2, half_sqrt_2), (3, -1.0)];
        assert_eq!(hits.len(), 3);
        for (hit, (chunk_id, score)) in hits.iter().zip(expected) {
            assert!((hit.score - score).abs() < 1e-5, "{hits:?}");
            if score < 0.0 {
                assert_eq!(hit.chunk_id, chunk_id);
            }
        }
    }

    #[test]
    fn inserting_an_existing_id_is_skipped() {
        let dim = 4;
        let dir = tempfile::tempdir().unwrap();
        let mut index = VectorIndex::open(dir.path(), dim).unwrap();
        index
            .insert(&[(1, &[1.0, 0.0, 0.0, 0.0]), (1, &[0.0, 1.0, 0.0, 0.0])])
            .unwrap();
        index.insert(&[(1, &[0.0, 0.0, 1.0, 0.0])]).unwrap();
        assert_eq!(index.len(), 1);
        let hits = index.search(&[1.0, 0.0, 0.0, 0.0], 5).unwrap();
        assert_eq!(hits.len(), 1);
        assert!((hits[0].score - 1.0).abs() < 1e-6);
    }

    #[test]
    fn bad_vectors_are_refused_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = VectorIndex::open(dir.path(), 3).unwrap();
        let good = [1.0, 0.0, 0.0];
        let cases: [(&[f32], &str); 4] = [
            (&[1.0, 0.0], "WrongDimension"),
            (&[f32::NAN, 0.0, 0.0], "InvalidVector"),
            (&[f32::INFINITY, 0.0, 0.0], "InvalidVector"),
            (&[0.0, 0.0, 0.0], "InvalidVector"),
        ];
        for (bad, expected) in cases {
            let error = index.insert(&[(1, &good), (2, bad)]).unwrap_err();
            assert!(format!("{error:?}").starts_with(expected), "{error:?}");
            assert!(error.to_string().contains("chunk 2"), "{error}");
            let error = index.search(bad, 3).unwrap_err();
            assert!(format!("{error:?}").starts_with(expected), "{error:?}");
            assert!(error.to_string().contains("query vector"), "{error}");
        }
        assert!(index.is_empty());
    }

    fn saved_index(dim: usize, seq: u64) -> (tempfile::TempDir, Vec<(ChunkId, Vec<f32>)>) {
        let dir = tempfile::tempdir().unwrap();
        let items = random_items(100, dim, 21);
        let mut index = VectorIndex::open(dir.path(), dim).unwrap();
        index.insert(&borrowed(&items)).unwrap();
        index.save(seq).unwrap();
        (dir, items)
    }

    #[test]
    fn a_half_written_generation_is_ignored() {
        let dim = 8;
        let (dir, items) = saved_index(dim, 4);
        // A save that crashed before its manifest switch: the next generation is there, maybe
        // incomplete, but the manifest still names the old one.
        let half = generation_dir(dir.path(), 2);
        std::fs::create_dir_all(&half).unwrap();
        std::fs::write(half.join("graph.hnsw.graph"), b"half a graph").unwrap();
        std::fs::write(dir.path().join(MANIFEST_TEMP_FILE), b"{\"gen\": 2").unwrap();

        let mut index = VectorIndex::open(dir.path(), dim).unwrap();
        assert_eq!(index.applied_seq(), 4);
        assert_eq!(index.len(), 100);
        assert_eq!(search_ids(&index, &items[9].1, 1), vec![items[9].0]);
        assert!(!half.exists(), "the leftover generation is cleaned up");
        // The next save reuses the number safely.
        index.save(5).unwrap();
        let index = VectorIndex::open(dir.path(), dim).unwrap();
        assert_eq!(index.applied_seq(), 5);
        assert_eq!(existing_generations(dir.path()), vec![2]);
    }

    fn assert_damaged(dir: &Path, dim: usize) {
        let error = VectorIndex::open(dir, dim).unwrap_err();
        assert!(matches!(error, IndexError::Damaged { .. }), "{error:?}");
    }

    fn rewrite_manifest(dir: &Path, change: impl FnOnce(&mut Manifest)) {
        let path = dir.join(MANIFEST_FILE);
        let mut manifest: Manifest =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        change(&mut manifest);
        std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    }

    #[test]
    fn a_wrong_checksum_is_damage() {
        let (dir, _) = saved_index(8, 1);
        rewrite_manifest(dir.path(), |m| m.checksum = "00".repeat(32));
        assert_damaged(dir.path(), 8);
    }

    #[test]
    fn altered_or_missing_files_are_damage() {
        for name in ["graph.hnsw.graph", "graph.hnsw.data", IDS_FILE] {
            let (dir, _) = saved_index(8, 1);
            let path = generation_dir(dir.path(), 1).join(name);
            let mut bytes = std::fs::read(&path).unwrap();
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0x40;
            std::fs::write(&path, &bytes).unwrap();
            assert_damaged(dir.path(), 8);

            std::fs::remove_file(&path).unwrap();
            assert_damaged(dir.path(), 8);
        }
    }

    #[test]
    fn a_manifest_that_lies_is_damage() {
        let (dir, _) = saved_index(8, 1);
        // Another dimension than the model's.
        assert_damaged(dir.path(), 16);
        // A generation that does not exist.
        rewrite_manifest(dir.path(), |m| m.generation = 7);
        assert_damaged(dir.path(), 8);
        // Garbage.
        std::fs::write(dir.path().join(MANIFEST_FILE), b"\x00\x01 not json").unwrap();
        assert_damaged(dir.path(), 8);
    }

    #[test]
    fn a_wrong_count_is_damage_even_with_a_good_checksum() {
        let (dir, _) = saved_index(8, 1);
        rewrite_manifest(dir.path(), |m| m.count = 99);
        assert_damaged(dir.path(), 8);
    }

    #[test]
    fn rebuild_replaces_a_damaged_folder() {
        let dim = 8;
        let (dir, items) = saved_index(dim, 1);
        std::fs::write(dir.path().join(MANIFEST_FILE), b"garbage").unwrap();
        assert_damaged(dir.path(), dim);
        let live: Vec<(ChunkId, Vec<f32>)> = items.iter().skip(50).cloned().collect();
        let index = VectorIndex::rebuild(dir.path(), dim, live.clone(), 30).unwrap();
        assert_eq!(index.len(), 50);
        assert_eq!(index.tombstones(), 0);
        drop(index);
        let index = VectorIndex::open(dir.path(), dim).unwrap();
        assert_eq!(index.applied_seq(), 30);
        assert_eq!(index.len_live(), 50);
        assert_eq!(search_ids(&index, &live[7].1, 1), vec![live[7].0]);
        assert_eq!(existing_generations(dir.path()), vec![2]);
    }

    #[test]
    fn chunk_ids_map_to_point_ids_and_back() {
        for id in [0, 1, -1, i64::MIN, i64::MAX, 123_456_789] {
            assert_eq!(chunk_id(point_id(id)), id);
        }
    }

    #[test]
    fn indexes_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<VectorIndex>();
        assert_send_sync::<crate::Bm25Index>();
    }
}
