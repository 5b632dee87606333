//! Causal grouped-query attention over the KV cache.
//!
//! A single new token (decoding) takes the direct route: one dot product per cached position,
//! a softmax, a weighted sum. A prompt takes blocks of up to [`QUERY_BLOCK`] queries of one head
//! and runs both products as f32 matrix multiplies (`gemm`): scores = Q Kᵀ, then softmax over
//! each row's visible prefix, then out = P V. Only the keys a block can see are multiplied, so
//! the causal mask wastes at most half a block's square.

// `gemm` takes raw pointers and strides; `matmul_f32` checks every extent before calling it.
#![allow(unsafe_code)]

use rayon::prelude::*;

use super::{axpy, dot, softmax};

/// Queries per block in prompt processing.
pub const QUERY_BLOCK: usize = 64;

/// The geometry of one layer's attention.
#[derive(Debug, Clone, Copy)]
pub struct Heads {
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
}

impl Heads {
    fn q_dim(&self) -> usize {
        self.n_heads * self.head_dim
    }

    fn kv_dim(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }
}

/// `out[token][head]` for `q[token][head]` (tokens at positions `first_position ..`) over
/// `keys` and `values` (`[position][kv_head][head_dim]`, the new tokens included).
pub fn attention(
    heads: Heads,
    q: &[f32],
    keys: &[f32],
    values: &[f32],
    first_position: usize,
    out: &mut [f32],
    parallel: bool,
) {
    let n_tokens = q.len() / heads.q_dim();
    assert_eq!(
        keys.len(),
        (first_position + n_tokens) * heads.kv_dim(),
        "keys cover every position"
    );
    assert_eq!(values.len(), keys.len());
    assert_eq!(out.len(), q.len());
    if n_tokens < 4 {
        direct(heads, q, keys, values, first_position, out, parallel);
    } else {
        blocked(heads, q, keys, values, first_position, out, parallel);
    }
}

fn direct(
    heads: Heads,
    q: &[f32],
    keys: &[f32],
    values: &[f32],
    first_position: usize,
    out: &mut [f32],
    parallel: bool,
) {
    let Heads {
        n_heads, head_dim, ..
    } = heads;
    let kv_dim = heads.kv_dim();
    let heads_per_kv = n_heads / heads.n_kv_heads;
    let scale = 1.0 / (head_dim as f32).sqrt();
    let one_head = |scores: &mut Vec<f32>, idx: usize, out_head: &mut [f32]| {
        let (t, head) = (idx / n_heads, idx % n_heads);
        let kv_offset = (head / heads_per_kv) * head_dim;
        let query = &q[idx * head_dim..][..head_dim];
        scores.clear();
        scores.extend(
            keys.chunks_exact(kv_dim)
                .take(first_position + t + 1)
                .map(|key| dot(query, &key[kv_offset..kv_offset + head_dim]) * scale),
        );
        softmax(scores);
        out_head.fill(0.0);
        for (&weight, value) in scores.iter().zip(values.chunks_exact(kv_dim)) {
            axpy(weight, &value[kv_offset..kv_offset + head_dim], out_head);
        }
    };
    if parallel {
        out.par_chunks_exact_mut(head_dim)
            .enumerate()
            .for_each_init(Vec::new, |scores, (idx, out_head)| {
                one_head(scores, idx, out_head)
            });
    } else {
        let mut scores = Vec::new();
        for (idx, out_head) in out.chunks_exact_mut(head_dim).enumerate() {
            one_head(&mut scores, idx, out_head);
        }
    }
}

/// One task: a head and a block of query tokens; writes `[token][head_dim]` into its own buffer.
fn blocked(
    heads: Heads,
    q: &[f32],
    keys: &[f32],
    values: &[f32],
    first_position: usize,
    out: &mut [f32],
    parallel: bool,
) {
    let Heads {
        n_heads, head_dim, ..
    } = heads;
    let (q_dim, kv_dim) = (heads.q_dim(), heads.kv_dim());
    let heads_per_kv = n_heads / heads.n_kv_heads;
    let n_tokens = q.len() / q_dim;
    let scale = 1.0 / (head_dim as f32).sqrt();
    let n_blocks = n_tokens.div_ceil(QUERY_BLOCK);
    let task = |scores: &mut Vec<f32>, head: usize, block: usize| -> Vec<f32> {
        let first_token = block * QUERY_BLOCK;
        let block_tokens = (n_tokens - first_token).min(QUERY_BLOCK);
        let visible = first_position + first_token + block_tokens;
        let kv_offset = (head / heads_per_kv) * head_dim;
        scores.clear();
        scores.resize(block_tokens * visible, 0.0);
        // scores[i][j] = q[first_token + i][head] . keys[j][kv_head]
        matmul_f32(
            Operand {
                data: q,
                offset: first_token * q_dim + head * head_dim,
                row_stride: q_dim,
                col_stride: 1,
            },
            Operand {
                data: keys,
                offset: kv_offset,
                row_stride: 1,
                col_stride: kv_dim,
            },
            (block_tokens, head_dim, visible),
            scale,
            scores,
            visible,
        );
        for (i, row) in scores.chunks_exact_mut(visible).enumerate() {
            let seen = first_position + first_token + i + 1;
            softmax(&mut row[..seen]);
            row[seen..].fill(0.0);
        }
        let mut block_out = vec![0f32; block_tokens * head_dim];
        matmul_f32(
            Operand {
                data: scores,
                offset: 0,
                row_stride: visible,
                col_stride: 1,
            },
            Operand {
                data: values,
                offset: kv_offset,
                row_stride: kv_dim,
                col_stride: 1,
            },
            (block_tokens, visible, head_dim),
            1.0,
            &mut block_out,
            head_dim,
        );
        block_out
    };
    let tasks: Vec<(usize, usize)> = (0..n_heads)
        .flat_map(|head| (0..n_blocks).map(move |block| (head, block)))
        .collect();
    let results: Vec<Vec<f32>> = if parallel {
        tasks
            .par_iter()
            .map_init(Vec::new, |scores, &(head, block)| task(scores, head, block))
            .collect()
    } else {
        let mut scores = Vec::new();
        tasks
            .iter()
            .map(|&(head, block)| task(&mut scores, head, block))
            .collect()
    };
    for (&(head, block), block_out) in tasks.iter().zip(&results) {
        for (i, row) in block_out.chunks_exact(head_dim).enumerate() {
            let token = block * QUERY_BLOCK + i;
            out[token * q_dim + head * head_dim..][..head_dim].copy_from_slice(row);
        }
    }
}

/// A strided view of a matrix inside a slice: element (r, c) is
/// `data[offset + r * row_stride + c * col_stride]`.
struct Operand<'a> {
    data: &'a [f32],
    offset: usize,
    row_stride: usize,
    col_stride: usize,
}

impl Operand<'_> {
    /// Checks that every element of a `rows x cols` view lies inside `data`.
    fn check(&self, rows: usize, cols: usize) {
        assert!(rows > 0 && cols > 0);
        let last = self.offset + (rows - 1) * self.row_stride + (cols - 1) * self.col_stride;
        assert!(last < self.data.len(), "matrix view past its slice");
    }
}

/// `dst (m x n, rows dst_stride apart) = scale * lhs (m x k) * rhs (k x n)`, single-threaded
/// (the callers run many of these in parallel).
fn matmul_f32(
    lhs: Operand<'_>,
    rhs: Operand<'_>,
    (m, k, n): (usize, usize, usize),
    scale: f32,
    dst: &mut [f32],
    dst_stride: usize,
) {
    lhs.check(m, k);
    rhs.check(k, n);
    assert!(
        n <= dst_stride && (m - 1) * dst_stride + n <= dst.len(),
        "destination too small"
    );
    // SAFETY: the checks above keep every element gemm reads or writes inside its slice, and the
    // destination does not alias the operands (it is a distinct `&mut`).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_stride as isize,
            false,
            lhs.data.as_ptr().add(lhs.offset),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr().add(rhs.offset),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            0.0,
            scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo_random(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (((i * 7919 + seed * 104729) % 1000) as f32 / 500.0) - 1.0)
            .collect()
    }

    #[test]
    fn blocked_matches_direct() {
        let heads = Heads {
            n_heads: 6,
            n_kv_heads: 2,
            head_dim: 16,
        };
        for (first_position, n_tokens) in [(0, 5), (0, 70), (13, 64), (100, 130)] {
            let total = first_position + n_tokens;
            let q = pseudo_random(n_tokens * heads.q_dim(), 1);
            let keys = pseudo_random(total * heads.kv_dim(), 2);
            let values = pseudo_random(total * heads.kv_dim(), 3);
            let mut expected = vec![0f32; q.len()];
            direct(
                heads,
                &q,
                &keys,
                &values,
                first_position,
                &mut expected,
                false,
            );
            for parallel in [false, true] {
                let mut got = vec![0f32; q.len()];
                blocked(
                    heads,
                    &q,
                    &keys,
                    &values,
                    first_position,
                    &mut got,
                    parallel,
                );
                for (idx, (a, b)) in got.iter().zip(&expected).enumerate() {
                    assert!(
                        (a - b).abs() < 1e-4,
                        "{first_position}+{n_tokens} element {idx}: {a} vs {b}"
                    );
                }
            }
        }
    }

    #[test]
    fn one_position_attends_to_itself() {
        let heads = Heads {
            n_heads: 2,
            n_kv_heads: 1,
            head_dim: 8,
        };
        let q = pseudo_random(heads.q_dim(), 4);
        let keys = pseudo_random(heads.kv_dim(), 5);
        let values: Vec<f32> = (0..8).map(|v| v as f32).collect();
        let mut out = vec![0f32; q.len()];
        attention(heads, &q, &keys, &values, 0, &mut out, false);
        assert_eq!(out, [values.clone(), values].concat());
    }
}
