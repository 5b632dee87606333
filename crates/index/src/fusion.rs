//! Merging ranked lists (reciprocal rank fusion) and dropping near-duplicate passages.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use docent_types::ChunkId;

/// The `k` of Cormack et al.'s reciprocal rank fusion; it damps the lead of the very first ranks.
pub const DEFAULT_RRF_K: f32 = 60.0;

/// Word-shingle Jaccard similarity at or above which a passage counts as a repeat.
pub const DEFAULT_NEAR_DUPLICATE_THRESHOLD: f32 = 0.9;

/// Words per shingle in [`collapse_near_duplicates`].
const SHINGLE_WORDS: usize = 3;

/// One ranked input to [`reciprocal_rank_fusion`]: chunk ids best first, and how much the list
/// counts.
#[derive(Debug, Clone, Copy)]
pub struct RankedList<'a> {
    pub ids: &'a [ChunkId],
    pub weight: f32,
}

/// A fused result: `ranks[i]` is the 1-based rank in input list `i`, `None` where it is absent.
#[derive(Debug, Clone, PartialEq)]
pub struct Fused {
    pub chunk_id: ChunkId,
    pub score: f32,
    pub ranks: Vec<Option<u32>>,
}

/// Merges `lists` by reciprocal rank fusion: each chunk scores `sum(weight / (k + rank))` over
/// the lists it appears in. Best first; equal scores are ordered by best rank in any list, then
/// by chunk id, so the output never depends on hashing. An id repeated within a list counts at
/// its first (best) rank only.
pub fn reciprocal_rank_fusion(lists: &[RankedList<'_>], k: f32) -> Vec<Fused> {
    let mut position_by_chunk: HashMap<ChunkId, usize> = HashMap::new();
    let mut fused: Vec<Fused> = Vec::new();
    for (list_idx, list) in lists.iter().enumerate() {
        for (rank_idx, &chunk_id) in list.ids.iter().enumerate() {
            let rank = u32::try_from(rank_idx + 1).unwrap_or(u32::MAX);
            let position = *position_by_chunk.entry(chunk_id).or_insert_with(|| {
                fused.push(Fused {
                    chunk_id,
                    score: 0.0,
                    ranks: vec![None; lists.len()],
                });
                fused.len() - 1
            });
            let entry = &mut fused[position];
            if entry.ranks[list_idx].is_none() {
                entry.ranks[list_idx] = Some(rank);
            }
        }
    }
    // Scores are summed in list order, so equal inputs give bit-equal scores.
    for entry in &mut fused {
        entry.score = entry
            .ranks
            .iter()
            .zip(lists)
            .filter_map(|(rank, list)| rank.map(|rank| list.weight / (k + rank as f32)))
            .sum();
    }
    fused.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| best_rank(a).cmp(&best_rank(b)))
            .then_with(|| a.chunk_id.cmp(&b.chunk_id))
    });
    fused
}

fn best_rank(fused: &Fused) -> u32 {
    fused
        .ranks
        .iter()
        .flatten()
        .copied()
        .min()
        .unwrap_or(u32::MAX)
}

/// Keeps `items` in order but drops each one whose text is a near repeat of an item already
/// kept: the Jaccard similarity of their word-shingle sets (3 words, case-insensitive) is at
/// least `threshold`. Texts shorter than a shingle compare as one shingle of all their words.
pub fn collapse_near_duplicates<T>(
    items: Vec<T>,
    text: impl Fn(&T) -> &str,
    threshold: f32,
) -> Vec<T> {
    let mut kept_shingles: Vec<Vec<u64>> = Vec::new();
    let mut kept = Vec::with_capacity(items.len());
    for item in items {
        let shingles = shingle_hashes(text(&item));
        let is_repeat = kept_shingles
            .iter()
            .any(|earlier| jaccard(earlier, &shingles) >= threshold);
        if !is_repeat {
            kept_shingles.push(shingles);
            kept.push(item);
        }
    }
    kept
}

/// Sorted, distinct hashes of the lowercased word shingles of `text`.
fn shingle_hashes(text: &str) -> Vec<u64> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect();
    let window = SHINGLE_WORDS.min(words.len()).max(1);
    let mut hashes: Vec<u64> = words
        .windows(window)
        .map(|shingle| {
            // DefaultHasher::new has fixed keys, so hashes are stable within a process.
            let mut hasher = DefaultHasher::new();
            shingle.hash(&mut hasher);
            hasher.finish()
        })
        .collect();
    hashes.sort_unstable();
    hashes.dedup();
    hashes
}

/// Jaccard similarity of two sorted, distinct sets; two empty texts are the same text.
fn jaccard(a: &[u64], b: &[u64]) -> f32 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let (mut i, mut j, mut shared) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - shared;
    shared as f32 / union as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `lists` are (ids, weight); `expected` are (chunk id, ranks) best first.
    fn check(lists: &[(&[ChunkId], f32)], expected: &[(ChunkId, &[Option<u32>])]) {
        let lists: Vec<RankedList<'_>> = lists
            .iter()
            .map(|&(ids, weight)| RankedList { ids, weight })
            .collect();
        let fused = reciprocal_rank_fusion(&lists, DEFAULT_RRF_K);
        let actual: Vec<(ChunkId, Vec<Option<u32>>)> = fused
            .iter()
            .map(|f| (f.chunk_id, f.ranks.clone()))
            .collect();
        let expected: Vec<(ChunkId, Vec<Option<u32>>)> = expected
            .iter()
            .map(|&(id, ranks)| (id, ranks.to_vec()))
            .collect();
        assert_eq!(actual, expected);
        for f in &fused {
            let score: f32 = f
                .ranks
                .iter()
                .zip(&lists)
                .filter_map(|(rank, list)| rank.map(|r| list.weight / (DEFAULT_RRF_K + r as f32)))
                .sum();
            assert_eq!(f.score, score, "score of {}", f.chunk_id);
        }
        assert!(fused.windows(2).all(|pair| pair[0].score >= pair[1].score));
    }

    #[test]
    fn fusion_cases() {
        check(&[], &[]);
        check(&[(&[], 1.0), (&[], 1.0)], &[]);
        check(&[(&[5, 6], 1.0)], &[(5, &[Some(1)]), (6, &[Some(2)])]);
        // Found by both lists beats first in one list only.
        check(
            &[(&[1, 2, 3], 1.0), (&[3, 4], 1.0)],
            &[
                (3, &[Some(3), Some(1)]),
                (1, &[Some(1), None]),
                (2, &[Some(2), None]),
                (4, &[None, Some(2)]),
            ],
        );
        // Ties (same ranks, mirrored) fall back to the best rank, then the chunk id.
        check(
            &[(&[10, 20], 1.0), (&[20, 10], 1.0)],
            &[(10, &[Some(1), Some(2)]), (20, &[Some(2), Some(1)])],
        );
        check(
            &[(&[7], 1.0), (&[3], 1.0)],
            &[(3, &[None, Some(1)]), (7, &[Some(1), None])],
        );
        // Weights: a heavier second list wins the tie of first places.
        check(
            &[(&[1, 2], 1.0), (&[2, 1], 2.0)],
            &[(2, &[Some(2), Some(1)]), (1, &[Some(1), Some(2)])],
        );
        // A zero-weight list contributes ranks but no score.
        check(
            &[(&[1], 1.0), (&[9, 1], 0.0)],
            &[(1, &[Some(1), Some(2)]), (9, &[None, Some(1)])],
        );
        // A repeated id counts at its first rank.
        check(&[(&[4, 5, 4], 1.0)], &[(4, &[Some(1)]), (5, &[Some(2)])]);
        // Negative ids are ids like any other.
        check(
            &[(&[-1, 2], 1.0), (&[2], 1.0)],
            &[(2, &[Some(2), Some(1)]), (-1, &[Some(1), None])],
        );
    }

    #[test]
    fn fusion_uses_k() {
        let first = [1, 2];
        let second = [2, 1];
        let lists = [
            RankedList {
                ids: &first,
                weight: 1.0,
            },
            RankedList {
                ids: &second,
                weight: 1.0,
            },
        ];
        let fused = reciprocal_rank_fusion(&lists, 0.0);
        assert_eq!(fused[0].score, 1.0 / 1.0 + 1.0 / 2.0);
    }

    fn check_dedup(texts: &[&str], threshold: f32, expected: &[&str]) {
        let kept = collapse_near_duplicates(texts.to_vec(), |text| text, threshold);
        assert_eq!(kept, expected);
    }

    #[test]
    fn dedup_cases() {
        let base = "the quick brown fox jumps over the lazy dog near the river bank today";
        let one_word_changed =
            "the quick brown fox jumps over the lazy dog near the river bank tonight";
        let different = "an entirely different passage about baking sourdough bread at home";
        let shouty = "THE QUICK BROWN FOX, jumps over the lazy dog; near the river bank today!";

        check_dedup(&[], 0.9, &[]);
        check_dedup(&[base], 0.9, &[base]);
        check_dedup(&[base, base], 0.9, &[base]);
        // Case and punctuation do not make a passage new.
        check_dedup(&[base, shouty], 0.9, &[base]);
        check_dedup(&[base, different, base], 0.9, &[base, different]);
        // One changed word out of 14 changes 1 of 12 shingles: Jaccard 11/13 = 0.85.
        check_dedup(&[base, one_word_changed], 0.9, &[base, one_word_changed]);
        check_dedup(&[base, one_word_changed], 0.8, &[base]);
        // The first one seen is kept, wherever the repeat comes.
        check_dedup(
            &[different, base, one_word_changed],
            0.8,
            &[different, base],
        );
        // Short and empty texts.
        check_dedup(&["hello world", "Hello, world"], 0.9, &["hello world"]);
        check_dedup(
            &["hello world", "hello there"],
            0.9,
            &["hello world", "hello there"],
        );
        check_dedup(&["", "  ", "text"], 0.9, &["", "text"]);
        // A threshold above 1 keeps everything.
        check_dedup(&[base, base], 1.1, &[base, base]);
    }

    #[test]
    fn dedup_keeps_the_items_themselves() {
        let items = vec![
            (1, "same words in here"),
            (2, "same words in here"),
            (3, "other"),
        ];
        let kept = collapse_near_duplicates(items, |item| item.1, DEFAULT_NEAR_DUPLICATE_THRESHOLD);
        assert_eq!(kept, vec![(1, "same words in here"), (3, "other")]);
    }
}
