//! Weight matrices packed for the integer kernels, and activations quantized to match.
//!
//! A weight matrix (`rows` outputs x `cols` inputs, `cols` a multiple of 32) is cut into groups
//! of 8 rows and blocks of 32 inputs, the layout llama.cpp's `ggml` quants use, with the 8 rows of
//! a group interleaved 4 bytes at a time: one 32-byte vector then holds 4 consecutive weights of
//! each of the 8 rows, so one multiply-add instruction against 4 broadcast activation bytes
//! advances all 8 dot products at once, and a group's 8 results come out as one vector.
//!
//! Two formats, both lossless re-layouts of what GGUF files ship:
//! - [`Format::U4`] from Q4_0 and Q4_1: weight = scale * q + min with q in 0..16, two weights a
//!   byte (Q4_0's `d * (q - 8)` is `min = -8 d`). 0.625 bytes a weight, as in the file.
//! - [`Format::I8`] from Q8_0: weight = scale * q with q in -127..=127. 1.0625 bytes a weight.
//!
//! Any other tensor type is dequantized and re-quantized to `I8` at load (the memory cost is
//! reported by [`PackedMatrix::bytes`]). Scales stay f16 so decoding, which reads every weight
//! once a token, moves no more bytes than llama.cpp does.

use half::f16;

/// Weights in a quantization block (one scale).
pub const BLOCK: usize = 32;
/// Rows interleaved in a group.
pub const GROUP: usize = 8;
/// Bytes of packed 4-bit weights per group and block: 8 rows x 32 weights / 2.
pub const U4_GROUP_BLOCK_BYTES: usize = GROUP * BLOCK / 2;
/// Bytes of packed 8-bit weights per group and block.
pub const I8_GROUP_BLOCK_BYTES: usize = GROUP * BLOCK;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    U4,
    I8,
}

/// A weight matrix in the interleaved layout described in the module documentation.
#[derive(Debug, Clone)]
pub struct PackedMatrix {
    pub format: Format,
    /// Output rows (before padding to whole groups).
    pub rows: usize,
    /// Inputs per row, a multiple of [`BLOCK`].
    pub cols: usize,
    /// `[group][block][row in group]` f16 scales.
    pub scales: Vec<f16>,
    /// `[group][block][row in group]` f16 minimums (U4 only; empty for I8).
    pub mins: Vec<f16>,
    /// `[group][block]` packed weights: for U4, 4 vectors of 32 bytes whose lane `j` holds bytes
    /// `4k..4k+4` of row `j`'s ggml nibble array (low nibbles: weights `4k..4k+4`, high nibbles:
    /// weights `16+4k..16+4k+4`); for I8, 8 vectors whose lane `j` holds weights `4s..4s+4` of row `j`.
    pub quants: Vec<u8>,
}

impl PackedMatrix {
    pub fn groups(&self) -> usize {
        self.rows.div_ceil(GROUP)
    }

    pub fn blocks(&self) -> usize {
        self.cols / BLOCK
    }

    /// Memory the matrix takes.
    pub fn bytes(&self) -> usize {
        self.quants.len() + 2 * (self.scales.len() + self.mins.len())
    }

    fn empty(format: Format, rows: usize, cols: usize) -> Self {
        debug_assert_eq!(cols % BLOCK, 0);
        let n_scales = rows.div_ceil(GROUP) * (cols / BLOCK) * GROUP;
        let bytes_per = match format {
            Format::U4 => U4_GROUP_BLOCK_BYTES,
            Format::I8 => I8_GROUP_BLOCK_BYTES,
        };
        Self {
            format,
            rows,
            cols,
            scales: vec![f16::ZERO; n_scales],
            mins: if format == Format::U4 {
                vec![f16::ZERO; n_scales]
            } else {
                Vec::new()
            },
            quants: vec![0; rows.div_ceil(GROUP) * (cols / BLOCK) * bytes_per],
        }
    }

    /// From ggml Q4_0 blocks (f16 `d`, 16 bytes of nibbles), `rows x cols` row-major.
    pub fn from_q4_0(data: &[u8], rows: usize, cols: usize) -> Self {
        Self::from_4bit_blocks(data, rows, cols, 18, |block| {
            let d = f16::from_le_bytes([block[0], block[1]]);
            (d, f16::from_f32(-8.0 * d.to_f32()), &block[2..18])
        })
    }

    /// From ggml Q4_1 blocks (f16 `d`, f16 `m`, 16 bytes of nibbles).
    pub fn from_q4_1(data: &[u8], rows: usize, cols: usize) -> Self {
        Self::from_4bit_blocks(data, rows, cols, 20, |block| {
            (
                f16::from_le_bytes([block[0], block[1]]),
                f16::from_le_bytes([block[2], block[3]]),
                &block[4..20],
            )
        })
    }

    fn from_4bit_blocks(
        data: &[u8],
        rows: usize,
        cols: usize,
        block_bytes: usize,
        split: impl Fn(&[u8]) -> (f16, f16, &[u8]),
    ) -> Self {
        let mut packed = Self::empty(Format::U4, rows, cols);
        let n_blocks = cols / BLOCK;
        assert_eq!(
            data.len(),
            rows * n_blocks * block_bytes,
            "4-bit tensor size"
        );
        for row in 0..rows {
            let (group, lane) = (row / GROUP, row % GROUP);
            for block_idx in 0..n_blocks {
                let block = &data[(row * n_blocks + block_idx) * block_bytes..][..block_bytes];
                let (scale, min, nibbles) = split(block);
                let group_block = group * n_blocks + block_idx;
                packed.scales[group_block * GROUP + lane] = scale;
                packed.mins[group_block * GROUP + lane] = min;
                let out = &mut packed.quants[group_block * U4_GROUP_BLOCK_BYTES..]
                    [..U4_GROUP_BLOCK_BYTES];
                for k in 0..4 {
                    out[k * 32 + lane * 4..][..4].copy_from_slice(&nibbles[k * 4..k * 4 + 4]);
                }
            }
        }
        packed
    }

    /// From ggml Q8_0 blocks (f16 `d`, 32 signed bytes).
    pub fn from_q8_0(data: &[u8], rows: usize, cols: usize) -> Self {
        let mut packed = Self::empty(Format::I8, rows, cols);
        let n_blocks = cols / BLOCK;
        assert_eq!(data.len(), rows * n_blocks * 34, "Q8_0 tensor size");
        for row in 0..rows {
            let (group, lane) = (row / GROUP, row % GROUP);
            for block_idx in 0..n_blocks {
                let block = &data[(row * n_blocks + block_idx) * 34..][..34];
                let group_block = group * n_blocks + block_idx;
                packed.scales[group_block * GROUP + lane] =
                    f16::from_le_bytes([block[0], block[1]]);
                let out = &mut packed.quants[group_block * I8_GROUP_BLOCK_BYTES..]
                    [..I8_GROUP_BLOCK_BYTES];
                for step in 0..8 {
                    out[step * 32 + lane * 4..][..4]
                        .copy_from_slice(&block[2 + step * 4..2 + step * 4 + 4]);
                }
            }
        }
        packed
    }

    /// Quantizes f32 weights (`rows x cols`, row-major) to I8, as ggml's Q8_0 does.
    pub fn quantize_i8(weights: &[f32], rows: usize, cols: usize) -> Self {
        assert_eq!(weights.len(), rows * cols, "f32 tensor size");
        let mut packed = Self::empty(Format::I8, rows, cols);
        let n_blocks = cols / BLOCK;
        let mut quants = [0i8; BLOCK];
        for row in 0..rows {
            let (group, lane) = (row / GROUP, row % GROUP);
            for block_idx in 0..n_blocks {
                let values = &weights[row * cols + block_idx * BLOCK..][..BLOCK];
                let scale = quantize_block(values, &mut quants);
                let group_block = group * n_blocks + block_idx;
                packed.scales[group_block * GROUP + lane] = f16::from_f32(scale);
                let out = &mut packed.quants[group_block * I8_GROUP_BLOCK_BYTES..]
                    [..I8_GROUP_BLOCK_BYTES];
                for step in 0..8 {
                    for i in 0..4 {
                        out[step * 32 + lane * 4 + i] = quants[step * 4 + i] as u8;
                    }
                }
            }
        }
        packed
    }

    /// Row `row` as f32 (token embeddings are looked up this way).
    pub fn dequantize_row(&self, row: usize, out: &mut [f32]) {
        assert!(
            row < self.rows && out.len() == self.cols,
            "row {row} of {} x {}",
            self.rows,
            self.cols
        );
        let (group, lane) = (row / GROUP, row % GROUP);
        let n_blocks = self.blocks();
        for block_idx in 0..n_blocks {
            let group_block = group * n_blocks + block_idx;
            let scale = self.scales[group_block * GROUP + lane].to_f32();
            let values = &mut out[block_idx * BLOCK..][..BLOCK];
            match self.format {
                Format::U4 => {
                    let min = self.mins[group_block * GROUP + lane].to_f32();
                    let bytes =
                        &self.quants[group_block * U4_GROUP_BLOCK_BYTES..][..U4_GROUP_BLOCK_BYTES];
                    for k in 0..4 {
                        for i in 0..4 {
                            let byte = bytes[k * 32 + lane * 4 + i];
                            values[4 * k + i] = scale * (byte & 0x0F) as f32 + min;
                            values[16 + 4 * k + i] = scale * (byte >> 4) as f32 + min;
                        }
                    }
                }
                Format::I8 => {
                    let bytes =
                        &self.quants[group_block * I8_GROUP_BLOCK_BYTES..][..I8_GROUP_BLOCK_BYTES];
                    for step in 0..8 {
                        for i in 0..4 {
                            values[4 * step + i] =
                                scale * (bytes[step * 32 + lane * 4 + i] as i8) as f32;
                        }
                    }
                }
            }
        }
    }

    /// The whole matrix as f32, row-major (for tests and re-quantization).
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.rows * self.cols];
        for (row, values) in out.chunks_exact_mut(self.cols).enumerate() {
            self.dequantize_row(row, values);
        }
        out
    }
}

/// Symmetric 8-bit quantization of one block: returns the scale, fills `quants` with values in
/// -127..=127 (never -128, which the kernels' 16-bit sums rely on).
pub fn quantize_block(values: &[f32], quants: &mut [i8]) -> f32 {
    // Eight lanes and ties-to-even rounding (one instruction, as ggml's AVX2 path rounds) keep
    // this vectorized: it runs on every activation before every matrix multiply.
    let mut lanes = [0f32; 8];
    for chunk in values.chunks_exact(8) {
        for i in 0..8 {
            lanes[i] = lanes[i].max(chunk[i].abs());
        }
    }
    let amax = values
        .chunks_exact(8)
        .remainder()
        .iter()
        .fold(lanes.iter().fold(0f32, |m, &v| m.max(v)), |m, v| {
            m.max(v.abs())
        });
    let scale = amax / 127.0;
    let inverse = if scale > 0.0 { 1.0 / scale } else { 0.0 };
    for (q, v) in quants.iter_mut().zip(values) {
        *q = (v * inverse).round_ties_even().clamp(-127.0, 127.0) as i8;
    }
    scale
}

/// Activations of `n_tokens` tokens quantized in blocks of 32, like ggml's Q8_1.
#[derive(Debug, Default)]
pub struct QuantizedActivations {
    pub n_tokens: usize,
    pub cols: usize,
    /// `[token][col]`.
    pub quants: Vec<i8>,
    /// `[token][block]`: the scale `d`.
    pub scales: Vec<f32>,
    /// `[token][block]`: `d * sum(q)`, for the minimum term of U4 weights.
    pub sums: Vec<f32>,
}

impl QuantizedActivations {
    /// Quantizes `values` (`n_tokens x cols`, row-major), reusing this buffer's memory, on the
    /// current rayon pool when `parallel`.
    pub fn quantize(&mut self, values: &[f32], n_tokens: usize, cols: usize, parallel: bool) {
        assert_eq!(values.len(), n_tokens * cols, "activation size");
        assert_eq!(
            cols % BLOCK,
            0,
            "activation width {cols} is not a multiple of {BLOCK}"
        );
        let n_blocks = cols / BLOCK;
        self.n_tokens = n_tokens;
        self.cols = cols;
        self.quants.resize(n_tokens * cols, 0);
        self.scales.resize(n_tokens * n_blocks, 0.0);
        self.sums.resize(n_tokens * n_blocks, 0.0);
        let one = |row: usize, quants: &mut [i8], scale: &mut f32, sum: &mut f32| {
            *scale = quantize_block(&values[row * BLOCK..][..BLOCK], quants);
            *sum = *scale * quants.iter().map(|&q| q as i32).sum::<i32>() as f32;
        };
        if parallel {
            use rayon::prelude::*;
            self.quants
                .par_chunks_exact_mut(BLOCK)
                .zip(self.scales.par_iter_mut())
                .zip(self.sums.par_iter_mut())
                .enumerate()
                .with_min_len(64)
                .for_each(|(row, ((quants, scale), sum))| one(row, quants, scale, sum));
        } else {
            for (row, ((quants, scale), sum)) in self
                .quants
                .chunks_exact_mut(BLOCK)
                .zip(self.scales.iter_mut())
                .zip(self.sums.iter_mut())
                .enumerate()
            {
                one(row, quants, scale, sum);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ggml blocks for `rows x cols` weights from a deterministic pattern.
    fn q4_1_bytes(rows: usize, cols: usize) -> (Vec<u8>, Vec<f32>) {
        let mut bytes = Vec::new();
        let mut expected = Vec::new();
        for row in 0..rows {
            for block in 0..cols / BLOCK {
                let d = f16::from_f32(0.01 * (1 + (row + block) % 5) as f32);
                let m = f16::from_f32(-0.05 * ((row * 3 + block) % 4) as f32);
                bytes.extend_from_slice(&d.to_le_bytes());
                bytes.extend_from_slice(&m.to_le_bytes());
                let q = |i: usize| ((row * 7 + block * 3 + i * 5) % 16) as u8;
                for i in 0..16 {
                    bytes.push(q(i) | (q(i + 16) << 4));
                }
                for i in 0..32 {
                    expected.push(d.to_f32() * q(i) as f32 + m.to_f32());
                }
            }
        }
        (bytes, expected)
    }

    #[test]
    fn q4_1_packs_losslessly() {
        let (rows, cols) = (13, 64);
        let (bytes, expected) = q4_1_bytes(rows, cols);
        let packed = PackedMatrix::from_q4_1(&bytes, rows, cols);
        assert_eq!(packed.groups(), 2);
        assert_eq!(packed.dequantize(), expected);
    }

    #[test]
    fn q4_0_and_q8_0_pack_losslessly() {
        let (rows, cols) = (9, 32);
        let mut q4_0 = Vec::new();
        let mut q8_0 = Vec::new();
        let mut expected4 = Vec::new();
        let mut expected8 = Vec::new();
        for row in 0..rows {
            let d = f16::from_f32(0.25 + row as f32);
            q4_0.extend_from_slice(&d.to_le_bytes());
            q8_0.extend_from_slice(&d.to_le_bytes());
            for i in 0..16 {
                q4_0.push(((row + i) % 16) as u8 | ((((row + i + 16) % 16) as u8) << 4));
            }
            for i in 0..32 {
                expected4.push(d.to_f32() * (((row + i) % 16) as f32 - 8.0));
                let q = (row as i32 * 11 + i as i32 * 9) % 255 - 127;
                q8_0.push(q as i8 as u8);
                expected8.push(d.to_f32() * q as f32);
            }
        }
        assert_eq!(
            PackedMatrix::from_q4_0(&q4_0, rows, cols).dequantize(),
            expected4
        );
        assert_eq!(
            PackedMatrix::from_q8_0(&q8_0, rows, cols).dequantize(),
            expected8
        );
    }

    #[test]
    fn quantize_i8_is_close_and_never_uses_minus_128() {
        let (rows, cols) = (8, 64);
        let weights: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect();
        let packed = PackedMatrix::quantize_i8(&weights, rows, cols);
        for (a, b) in packed.dequantize().iter().zip(&weights) {
            assert!((a - b).abs() <= 50.0 / 7.0 / 127.0, "{a} vs {b}");
        }
        assert!(packed.quants.iter().all(|&q| q as i8 != -128));
        let mut quants = [0i8; BLOCK];
        assert_eq!(quantize_block(&[0.0; BLOCK], &mut quants), 0.0);
        assert_eq!(quants, [0; BLOCK]);
    }
}
