//! Integer matrix-multiply kernels over [`PackedMatrix`] weights and [`QuantizedActivations`].
//!
//! Each kernel computes one group of 8 weight rows against a tile of up to [`MAX_TILE`] tokens:
//! per block of 32 inputs, 8 multiply-add steps each combine 4 weights of all 8 rows (one vector)
//! with 4 activation bytes of one token (broadcast), so the 8 dot products of a group advance
//! together and the block's scales apply to a whole vector. The weights of a block are unpacked
//! once per tile and reused for every token in it, which is what makes prompt processing fast.
//!
//! Variants, picked at run time: AVX-512 VNNI and AVX-VNNI (`vpdpbusd`: 4 byte products summed
//! into 32 bits in one instruction), AVX2 (`vpmaddubsw`, with 4-bit sums kept in 16 bits for a
//! whole block, which cannot overflow: 8 steps x 2 x 15 x 127 < 32768), and portable Rust.
//! Activations never hold -128 (see [`super::packed::quantize_block`]), which the AVX2 sign trick
//! for 8-bit weights needs.

// The SIMD kernels read packed buffers through raw pointers; every access is bounded by the
// matrix geometry that `run_tile` checks before calling them.
#![allow(unsafe_code)]

use super::packed::{
    BLOCK, Format, GROUP, I8_GROUP_BLOCK_BYTES, PackedMatrix, QuantizedActivations,
    U4_GROUP_BLOCK_BYTES,
};

/// Largest token tile a kernel handles at once.
pub const MAX_TILE: usize = 8;

/// Which kernels run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    Avx512Vnni,
    AvxVnni,
    Avx2,
    Portable,
}

impl Isa {
    /// The fastest kernels this CPU runs.
    pub fn detect() -> Self {
        Self::available()[0]
    }

    /// Every variant this CPU runs, fastest first (tests compare them).
    pub fn available() -> Vec<Self> {
        let mut isas = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            let avx2 = has!("avx2") && has!("fma") && has!("f16c");
            if avx2 && has!("avx512f") && has!("avx512vnni") && has!("avx512vl") && has!("avx512bw")
            {
                isas.push(Isa::Avx512Vnni);
            }
            if avx2 && has!("avxvnni") {
                isas.push(Isa::AvxVnni);
            }
            if avx2 {
                isas.push(Isa::Avx2);
            }
        }
        isas.push(Isa::Portable);
        isas
    }

    /// Tokens per tile: the VNNI variants have 32 vector registers (AVX-512VL) or need fewer.
    pub fn tile(self) -> usize {
        match self {
            Isa::Avx512Vnni => 8,
            Isa::AvxVnni | Isa::Avx2 => 4,
            Isa::Portable => 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512Vnni => "avx512-vnni",
            Isa::AvxVnni => "avx-vnni",
            Isa::Avx2 => "avx2",
            Isa::Portable => "portable",
        }
    }
}

/// `out[row][token]` for rows `first_group * 8 ..` (as many as `out` holds) of `weights` times
/// every token of `acts`. `out.len()` must be a whole number of rows of `acts.n_tokens` floats.
pub fn matmul_rows(
    isa: Isa,
    weights: &PackedMatrix,
    acts: &QuantizedActivations,
    first_group: usize,
    out: &mut [f32],
) {
    let n_tokens = acts.n_tokens;
    assert_eq!(
        acts.cols, weights.cols,
        "activation width vs weight columns"
    );
    assert!(
        n_tokens > 0 && out.len().is_multiple_of(n_tokens),
        "output is not whole rows"
    );
    let n_rows = out.len() / n_tokens;
    let first_row = first_group * GROUP;
    assert!(first_row + n_rows <= weights.rows, "rows past the matrix");
    let tile = isa.tile();
    let mut tile_out = [[0f32; GROUP]; MAX_TILE];
    for group_offset in 0..n_rows.div_ceil(GROUP) {
        let group = first_group + group_offset;
        let rows_here = (n_rows - group_offset * GROUP).min(GROUP);
        let mut token = 0;
        while token < n_tokens {
            let tile_tokens = (n_tokens - token).min(tile);
            run_tile(
                isa,
                weights,
                acts,
                group,
                token,
                &mut tile_out[..tile_tokens],
            );
            for (t, results) in tile_out[..tile_tokens].iter().enumerate() {
                for (r, &value) in results[..rows_here].iter().enumerate() {
                    out[(group_offset * GROUP + r) * n_tokens + token + t] = value;
                }
            }
            token += tile_tokens;
        }
    }
}

/// One group of 8 rows against tokens `first_token .. first_token + out.len()`.
fn run_tile(
    isa: Isa,
    weights: &PackedMatrix,
    acts: &QuantizedActivations,
    group: usize,
    first_token: usize,
    out: &mut [[f32; GROUP]],
) {
    let n_blocks = weights.blocks();
    // The bounds every kernel relies on.
    assert!(
        group < weights.groups()
            && first_token + out.len() <= acts.n_tokens
            && out.len() <= MAX_TILE
    );
    assert!(
        acts.quants.len() >= acts.n_tokens * acts.cols
            && acts.scales.len() >= acts.n_tokens * n_blocks
    );
    let group_bytes = match weights.format {
        Format::U4 => U4_GROUP_BLOCK_BYTES,
        Format::I8 => I8_GROUP_BLOCK_BYTES,
    };
    assert!(weights.quants.len() >= (group + 1) * n_blocks * group_bytes);
    assert!(weights.scales.len() >= (group + 1) * n_blocks * GROUP);

    macro_rules! dispatch {
        ($u4:ident, $i8:ident) => {
            match (weights.format, out.len()) {
                (Format::U4, 1) => unsafe { x86::$u4::<1>(weights, acts, group, first_token, out) },
                (Format::U4, 2) => unsafe { x86::$u4::<2>(weights, acts, group, first_token, out) },
                (Format::U4, 3) => unsafe { x86::$u4::<3>(weights, acts, group, first_token, out) },
                (Format::U4, 4) => unsafe { x86::$u4::<4>(weights, acts, group, first_token, out) },
                (Format::U4, 5) => unsafe { x86::$u4::<5>(weights, acts, group, first_token, out) },
                (Format::U4, 6) => unsafe { x86::$u4::<6>(weights, acts, group, first_token, out) },
                (Format::U4, 7) => unsafe { x86::$u4::<7>(weights, acts, group, first_token, out) },
                (Format::U4, _) => unsafe { x86::$u4::<8>(weights, acts, group, first_token, out) },
                (Format::I8, 1) => unsafe { x86::$i8::<1>(weights, acts, group, first_token, out) },
                (Format::I8, 2) => unsafe { x86::$i8::<2>(weights, acts, group, first_token, out) },
                (Format::I8, 3) => unsafe { x86::$i8::<3>(weights, acts, group, first_token, out) },
                (Format::I8, 4) => unsafe { x86::$i8::<4>(weights, acts, group, first_token, out) },
                (Format::I8, 5) => unsafe { x86::$i8::<5>(weights, acts, group, first_token, out) },
                (Format::I8, 6) => unsafe { x86::$i8::<6>(weights, acts, group, first_token, out) },
                (Format::I8, 7) => unsafe { x86::$i8::<7>(weights, acts, group, first_token, out) },
                (Format::I8, _) => unsafe { x86::$i8::<8>(weights, acts, group, first_token, out) },
            }
        };
    }
    match isa {
        // SAFETY (all three): `Isa::available` only offers a variant when the CPU has its
        // features, and the asserts above bound every pointer the kernels form.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Vnni => dispatch!(u4_avx512vnni, i8_avx512vnni),
        #[cfg(target_arch = "x86_64")]
        Isa::AvxVnni => dispatch!(u4_avxvnni, i8_avxvnni),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => dispatch!(u4_avx2, i8_avx2),
        _ => portable(weights, acts, group, first_token, out),
    }
}

/// The reference: plain Rust over the same layout.
fn portable(
    weights: &PackedMatrix,
    acts: &QuantizedActivations,
    group: usize,
    first_token: usize,
    out: &mut [[f32; GROUP]],
) {
    let n_blocks = weights.blocks();
    for (t, results) in out.iter_mut().enumerate() {
        let token = first_token + t;
        *results = [0.0; GROUP];
        for block in 0..n_blocks {
            let group_block = group * n_blocks + block;
            let a = &acts.quants[token * acts.cols + block * BLOCK..][..BLOCK];
            let a_scale = acts.scales[token * n_blocks + block];
            let a_sum = acts.sums[token * n_blocks + block];
            for (lane, result) in results.iter_mut().enumerate() {
                let scale = weights.scales[group_block * GROUP + lane].to_f32();
                let mut isum = 0i32;
                match weights.format {
                    Format::U4 => {
                        let bytes = &weights.quants[group_block * U4_GROUP_BLOCK_BYTES..];
                        for k in 0..4 {
                            for i in 0..4 {
                                let byte = bytes[k * 32 + lane * 4 + i];
                                isum += (byte & 0x0F) as i32 * a[4 * k + i] as i32;
                                isum += (byte >> 4) as i32 * a[16 + 4 * k + i] as i32;
                            }
                        }
                        let min = weights.mins[group_block * GROUP + lane].to_f32();
                        *result += scale * a_scale * isum as f32 + min * a_sum;
                    }
                    Format::I8 => {
                        let bytes = &weights.quants[group_block * I8_GROUP_BLOCK_BYTES..];
                        for step in 0..8 {
                            for i in 0..4 {
                                isum += (bytes[step * 32 + lane * 4 + i] as i8) as i32
                                    * a[4 * step + i] as i32;
                            }
                        }
                        *result += scale * a_scale * isum as f32;
                    }
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::super::packed::{
        BLOCK, GROUP, I8_GROUP_BLOCK_BYTES, PackedMatrix, QuantizedActivations,
        U4_GROUP_BLOCK_BYTES,
    };

    /// Sum over a block of 4-bit weights (8 unpacked vectors) times one token's 32 activation
    /// bytes at `$a`: AVX2 keeps the products in 16 bits for the whole block.
    macro_rules! u4_block_avx2 {
        ($w:ident, $a:ident) => {{
            let mut sum16 = _mm256_maddubs_epi16($w[0], _mm256_set1_epi32($a.read_unaligned()));
            for step in 1..8 {
                let a = _mm256_set1_epi32($a.add(step).read_unaligned());
                sum16 = _mm256_add_epi16(sum16, _mm256_maddubs_epi16($w[step], a));
            }
            _mm256_madd_epi16(sum16, _mm256_set1_epi16(1))
        }};
    }

    macro_rules! u4_block_vnni {
        ($w:ident, $a:ident, $dpbusd:ident) => {{
            let mut sum = _mm256_setzero_si256();
            for step in 0..8 {
                sum = $dpbusd(
                    sum,
                    $w[step],
                    _mm256_set1_epi32($a.add(step).read_unaligned()),
                );
            }
            sum
        }};
    }

    /// 8-bit weights: the sign of each weight moves onto the activation so that the unsigned
    /// by signed byte product applies.
    macro_rules! i8_block_avx2 {
        ($w:ident, $abs:ident, $a:ident) => {{
            let ones = _mm256_set1_epi16(1);
            let mut sum = _mm256_setzero_si256();
            for step in 0..8 {
                let a =
                    _mm256_sign_epi8(_mm256_set1_epi32($a.add(step).read_unaligned()), $w[step]);
                sum = _mm256_add_epi32(
                    sum,
                    _mm256_madd_epi16(_mm256_maddubs_epi16($abs[step], a), ones),
                );
            }
            sum
        }};
    }

    macro_rules! i8_block_vnni {
        ($w:ident, $abs:ident, $a:ident, $dpbusd:ident) => {{
            let mut sum = _mm256_setzero_si256();
            for step in 0..8 {
                let a =
                    _mm256_sign_epi8(_mm256_set1_epi32($a.add(step).read_unaligned()), $w[step]);
                sum = $dpbusd(sum, $abs[step], a);
            }
            sum
        }};
    }

    macro_rules! kernels {
        ($u4:ident, $i8:ident, $features:literal, |$w:ident, $abs:ident, $a:ident| $u4_block:expr, $i8_block:expr) => {
            /// # Safety
            /// The CPU has the enabled features; `run_tile` checked the bounds.
            #[target_feature(enable = $features)]
            pub(super) unsafe fn $u4<const T: usize>(
                weights: &PackedMatrix,
                acts: &QuantizedActivations,
                group: usize,
                first_token: usize,
                out: &mut [[f32; GROUP]],
            ) {
                let n_blocks = weights.blocks();
                let cols = acts.cols;
                unsafe {
                    let quants = weights
                        .quants
                        .as_ptr()
                        .add(group * n_blocks * U4_GROUP_BLOCK_BYTES);
                    let scales =
                        weights.scales.as_ptr().add(group * n_blocks * GROUP) as *const __m128i;
                    let mins =
                        weights.mins.as_ptr().add(group * n_blocks * GROUP) as *const __m128i;
                    let a_quants = acts.quants.as_ptr().add(first_token * cols);
                    let a_scales = acts.scales.as_ptr().add(first_token * n_blocks);
                    let a_sums = acts.sums.as_ptr().add(first_token * n_blocks);
                    let low = _mm256_set1_epi8(0x0F);
                    let mut acc = [_mm256_setzero_ps(); T];
                    for block in 0..n_blocks {
                        let packed = quants.add(block * U4_GROUP_BLOCK_BYTES) as *const __m256i;
                        let p = [
                            _mm256_loadu_si256(packed),
                            _mm256_loadu_si256(packed.add(1)),
                            _mm256_loadu_si256(packed.add(2)),
                            _mm256_loadu_si256(packed.add(3)),
                        ];
                        let $w = [
                            _mm256_and_si256(p[0], low),
                            _mm256_and_si256(p[1], low),
                            _mm256_and_si256(p[2], low),
                            _mm256_and_si256(p[3], low),
                            _mm256_and_si256(_mm256_srli_epi16(p[0], 4), low),
                            _mm256_and_si256(_mm256_srli_epi16(p[1], 4), low),
                            _mm256_and_si256(_mm256_srli_epi16(p[2], 4), low),
                            _mm256_and_si256(_mm256_srli_epi16(p[3], 4), low),
                        ];
                        let w_scale = _mm256_cvtph_ps(_mm_loadu_si128(scales.add(block)));
                        let w_min = _mm256_cvtph_ps(_mm_loadu_si128(mins.add(block)));
                        for t in 0..T {
                            let $a = a_quants.add(t * cols + block * BLOCK) as *const i32;
                            let isum = $u4_block;
                            let scale = _mm256_mul_ps(
                                w_scale,
                                _mm256_set1_ps(*a_scales.add(t * n_blocks + block)),
                            );
                            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), scale, acc[t]);
                            acc[t] = _mm256_fmadd_ps(
                                w_min,
                                _mm256_set1_ps(*a_sums.add(t * n_blocks + block)),
                                acc[t],
                            );
                        }
                    }
                    for t in 0..T {
                        _mm256_storeu_ps(out[t].as_mut_ptr(), acc[t]);
                    }
                }
            }

            /// # Safety
            /// The CPU has the enabled features; `run_tile` checked the bounds.
            #[target_feature(enable = $features)]
            pub(super) unsafe fn $i8<const T: usize>(
                weights: &PackedMatrix,
                acts: &QuantizedActivations,
                group: usize,
                first_token: usize,
                out: &mut [[f32; GROUP]],
            ) {
                let n_blocks = weights.blocks();
                let cols = acts.cols;
                unsafe {
                    let quants = weights
                        .quants
                        .as_ptr()
                        .add(group * n_blocks * I8_GROUP_BLOCK_BYTES);
                    let scales =
                        weights.scales.as_ptr().add(group * n_blocks * GROUP) as *const __m128i;
                    let a_quants = acts.quants.as_ptr().add(first_token * cols);
                    let a_scales = acts.scales.as_ptr().add(first_token * n_blocks);
                    let mut acc = [_mm256_setzero_ps(); T];
                    for block in 0..n_blocks {
                        let packed = quants.add(block * I8_GROUP_BLOCK_BYTES) as *const __m256i;
                        let mut $w = [_mm256_setzero_si256(); 8];
                        let mut $abs = [_mm256_setzero_si256(); 8];
                        for step in 0..8 {
                            $w[step] = _mm256_loadu_si256(packed.add(step));
                            $abs[step] = _mm256_abs_epi8($w[step]);
                        }
                        let w_scale = _mm256_cvtph_ps(_mm_loadu_si128(scales.add(block)));
                        for t in 0..T {
                            let $a = a_quants.add(t * cols + block * BLOCK) as *const i32;
                            let isum = $i8_block;
                            let scale = _mm256_mul_ps(
                                w_scale,
                                _mm256_set1_ps(*a_scales.add(t * n_blocks + block)),
                            );
                            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), scale, acc[t]);
                        }
                    }
                    for t in 0..T {
                        _mm256_storeu_ps(out[t].as_mut_ptr(), acc[t]);
                    }
                }
            }
        };
    }

    kernels!(
        u4_avx2,
        i8_avx2,
        "avx2,fma,f16c",
        |w, abs, a| u4_block_avx2!(w, a),
        i8_block_avx2!(w, abs, a)
    );
    kernels!(
        u4_avxvnni,
        i8_avxvnni,
        "avx2,fma,f16c,avxvnni",
        |w, abs, a| u4_block_vnni!(w, a, _mm256_dpbusd_avx_epi32),
        i8_block_vnni!(w, abs, a, _mm256_dpbusd_avx_epi32)
    );
    kernels!(
        u4_avx512vnni,
        i8_avx512vnni,
        "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni",
        |w, abs, a| u4_block_vnni!(w, a, _mm256_dpbusd_epi32),
        i8_block_vnni!(w, abs, a, _mm256_dpbusd_epi32)
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::f16;

    /// A Q4_1 matrix and its dense f32 values.
    fn u4_matrix(rows: usize, cols: usize) -> (PackedMatrix, Vec<f32>) {
        let mut bytes = Vec::new();
        for row in 0..rows {
            for block in 0..cols / BLOCK {
                bytes.extend_from_slice(
                    &f16::from_f32(0.02 + 0.01 * ((row * 5 + block) % 7) as f32).to_le_bytes(),
                );
                bytes.extend_from_slice(
                    &f16::from_f32(-0.1 * ((row + 2 * block) % 3) as f32).to_le_bytes(),
                );
                for i in 0..16 {
                    bytes.push(((row * 3 + block * 7 + i * 11) % 256) as u8);
                }
            }
        }
        let packed = PackedMatrix::from_q4_1(&bytes, rows, cols);
        let dense = packed.dequantize();
        (packed, dense)
    }

    fn i8_matrix(rows: usize, cols: usize) -> (PackedMatrix, Vec<f32>) {
        let weights: Vec<f32> = (0..rows * cols)
            .map(|i| (((i * 7919) % 255) as f32 - 127.0) / 50.0)
            .collect();
        let packed = PackedMatrix::quantize_i8(&weights, rows, cols);
        let dense = packed.dequantize();
        (packed, dense)
    }

    fn activations(n_tokens: usize, cols: usize) -> (QuantizedActivations, Vec<f32>) {
        let values: Vec<f32> = (0..n_tokens * cols)
            .map(|i| ((i * 131 % 97) as f32 - 48.0) / 13.0)
            .collect();
        let mut acts = QuantizedActivations::default();
        acts.quantize(&values, n_tokens, cols, false);
        // The dense reference uses the quantized activations, so the kernels must match it to
        // float rounding.
        let mut dense = Vec::with_capacity(values.len());
        for (block, scale) in acts.quants.chunks_exact(BLOCK).zip(&acts.scales) {
            dense.extend(block.iter().map(|&q| q as f32 * scale));
        }
        (acts, dense)
    }

    fn check(packed: &PackedMatrix, dense: &[f32], n_tokens: usize) {
        let (rows, cols) = (packed.rows, packed.cols);
        let (acts, dense_acts) = activations(n_tokens, cols);
        let mut expected = vec![0f32; rows * n_tokens];
        for row in 0..rows {
            for token in 0..n_tokens {
                expected[row * n_tokens + token] = (0..cols)
                    .map(|c| dense[row * cols + c] as f64 * dense_acts[token * cols + c] as f64)
                    .sum::<f64>() as f32;
            }
        }
        for isa in Isa::available() {
            let mut out = vec![0f32; rows * n_tokens];
            matmul_rows(isa, packed, &acts, 0, &mut out);
            for (idx, (got, want)) in out.iter().zip(&expected).enumerate() {
                assert!(
                    (got - want).abs() <= 1e-3 * (1.0 + want.abs()),
                    "{isa:?} {:?} row {} token {}: {got} vs {want}",
                    packed.format,
                    idx / n_tokens,
                    idx % n_tokens
                );
            }
            // A slice of the rows, starting at a later group, gives the same numbers.
            if rows > GROUP {
                let mut part = vec![0f32; (rows - GROUP) * n_tokens];
                matmul_rows(isa, packed, &acts, 1, &mut part);
                assert_eq!(part, out[GROUP * n_tokens..], "{isa:?} row slice");
            }
        }
    }

    #[test]
    fn every_kernel_matches_the_dense_product() {
        for n_tokens in [1, 2, 3, 4, 5, 7, 8, 9, 17] {
            let (packed, dense) = u4_matrix(21, 96);
            check(&packed, &dense, n_tokens);
            let (packed, dense) = i8_matrix(19, 64);
            check(&packed, &dense, n_tokens);
        }
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        // All-15 nibbles against all-127 activations: the largest 16-bit partial sums.
        let rows = 8;
        let cols = 64;
        let mut bytes = Vec::new();
        for _ in 0..rows * cols / BLOCK {
            bytes.extend_from_slice(&f16::ONE.to_le_bytes());
            bytes.extend_from_slice(&f16::ZERO.to_le_bytes());
            bytes.extend_from_slice(&[0xFF; 16]);
        }
        let packed = PackedMatrix::from_q4_1(&bytes, rows, cols);
        let mut acts = QuantizedActivations::default();
        acts.quantize(&vec![-1.0; cols], 1, cols, false);
        for isa in Isa::available() {
            let mut out = vec![0f32; rows];
            matmul_rows(isa, &packed, &acts, 0, &mut out);
            assert!(
                out.iter().all(|&v| (v + 15.0 * cols as f32).abs() < 1e-2),
                "{isa:?}: {out:?}"
            );
        }
        let weights = vec![-3.0f32; rows * cols];
        let packed = PackedMatrix::quantize_i8(&weights, rows, cols);
        for isa in Isa::available() {
            let mut out = vec![0f32; rows];
            matmul_rows(isa, &packed, &acts, 0, &mut out);
            // The f16 weight scale rounds 3/127 by about 6e-5.
            assert!(
                out.iter().all(|&v| (v - 3.0 * cols as f32).abs() < 0.05),
                "{isa:?}: {out:?}"
            );
        }
    }
}
