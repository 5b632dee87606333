//! `y = x * W + b` for the BERT linear layers, with `W` packed once at load time.
//!
//! Why not `gemm` (candle's matmul): on the machine Docent was measured on, one core reached
//! about 50 GFLOP/s with `gemm` 0.19 (30 with its AVX-512 kernels) for these shapes, where MKL
//! inside PyTorch reached 130 and the kernels here reach 120 to 140; the matmuls are nearly all
//! of an embedding's work. The weights never change, so they are packed into column panels of
//! `PANEL` floats laid out row after row, which lets a register-blocked micro-kernel stream
//! them with plain vector loads while it broadcasts the activations (packed per block by
//! [`pack_rows`]). Kernels: AVX-512F (14 x 32 block: 28 of the 32 registers hold sums),
//! AVX2+FMA (6 x 16), and portable Rust for everything else; the fastest the CPU supports is
//! picked at run time.

use rayon::prelude::*;

/// Columns per packed weight panel (two AVX-512 registers).
const PANEL: usize = 32;
/// Columns per chunk of packed activations (see [`pack_rows`]).
const CHUNK: usize = 16;
/// Inner-dimension block: BERT's 384-wide inputs take one pass; a `KC x PANEL` weight panel
/// (64 KiB at most) streams from L2.
const KC: usize = 512;
/// Row block, at most: an `MC x KC` slice of activations (768 KiB) stays in L2 while every
/// panel passes over it.
const MC: usize = 384;
/// Output floats of a row block, at most: its outputs (512 KiB) stay in L2 between the passes
/// over the inner dimension instead of going out to memory and back.
const MC_OUTPUT_FLOATS: usize = 128 * 1024;

/// Which micro-kernel runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Isa {
    Avx512,
    Avx2Fma,
    Portable,
}

impl Isa {
    /// The best kernel this CPU runs.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Isa::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Isa::Avx2Fma;
            }
        }
        Isa::Portable
    }

    /// Every kernel this CPU can run, fastest first (tests compare them).
    #[cfg(test)]
    pub fn available() -> Vec<Self> {
        let mut isas = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                isas.push(Isa::Avx512);
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                isas.push(Isa::Avx2Fma);
            }
        }
        isas.push(Isa::Portable);
        isas
    }

    fn block_rows(self) -> usize {
        match self {
            Isa::Avx512 => 14,
            Isa::Avx2Fma => 6,
            Isa::Portable => 4,
        }
    }
}

/// The right-hand side `B` (`k x n`) of `x * B + bias`, packed for the kernels: a linear
/// layer's weight, or one attention head's keys or values.
pub(crate) struct PackedMatrix {
    k: usize,
    n: usize,
    /// `ceil(n / PANEL)` panels, each `k x PANEL` row-major, zero-padded past `n`.
    panels: Vec<f32>,
    /// `n` rounded up to whole panels, zero-padded.
    bias: Vec<f32>,
    /// Applied to each output as it leaves the registers.
    activation: Activation,
}

/// A function applied to every output of a product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Activation {
    Identity,
    /// Exact GELU, `x * (1 + erf(x / sqrt 2)) / 2`: fused here, it saves a pass over the
    /// widest activations of the model.
    Gelu,
}

/// A row-major matrix of `rows` rows whose rows start `stride` floats apart.
pub(crate) struct Rows<T> {
    pub data: T,
    pub rows: usize,
    pub stride: usize,
}

impl PackedMatrix {
    /// Empty, to be filled by [`PackedMatrix::pack_rows_of`] or [`PackedMatrix::pack_transposed_of`].
    pub fn new() -> Self {
        Self {
            k: 0,
            n: 0,
            panels: Vec::new(),
            bias: Vec::new(),
            activation: Activation::Identity,
        }
    }

    /// From an `nn.Linear` weight (`n_out x n_in`, row-major, so `B` is its transpose) and bias.
    pub fn from_torch_layout(weight: &[f32], bias: &[f32], n_in: usize, n_out: usize) -> Self {
        assert_eq!(weight.len(), n_in * n_out, "weight size");
        assert_eq!(bias.len(), n_out, "bias size");
        let mut packed = Self::new();
        packed.pack_transposed_of(
            &Rows {
                data: weight,
                rows: n_out,
                stride: n_in,
            },
            n_in,
            1.0,
        );
        packed.bias[..n_out].copy_from_slice(bias);
        packed
    }

    /// Repacks `B = src` (`k x n`, rows `stride` apart) with a zero bias, reusing the buffers:
    /// attention packs each head's values this way.
    pub fn pack_rows_of(&mut self, src: &Rows<&[f32]>, n: usize) {
        let k = src.rows;
        self.reset(k, n);
        for (panel_idx, panel) in self.panels.chunks_exact_mut(k * PANEL).enumerate() {
            let col_start = panel_idx * PANEL;
            let cols = PANEL.min(n - col_start);
            for (row, panel_row) in panel.chunks_exact_mut(PANEL).enumerate() {
                panel_row[..cols]
                    .copy_from_slice(&src.data[row * src.stride + col_start..][..cols]);
            }
        }
    }

    /// Repacks `B = scale * src^T` (`src` is `n x k`, rows `stride` apart) with a zero bias:
    /// attention packs each head's keys this way, the score scale folded in.
    pub fn pack_transposed_of(&mut self, src: &Rows<&[f32]>, k: usize, scale: f32) {
        let n = src.rows;
        self.reset(k, n);
        for (panel_idx, panel) in self.panels.chunks_exact_mut(k * PANEL).enumerate() {
            let col_start = panel_idx * PANEL;
            for col in 0..PANEL.min(n - col_start) {
                let src_row = &src.data[(col_start + col) * src.stride..][..k];
                for (panel_row, value) in panel.chunks_exact_mut(PANEL).zip(src_row) {
                    panel_row[col] = value * scale;
                }
            }
        }
    }

    /// Sizes the buffers for a `k x n` matrix: panels zeroed (padding columns must be zero),
    /// bias zero.
    fn reset(&mut self, k: usize, n: usize) {
        let n_panels = n.div_ceil(PANEL);
        self.k = k;
        self.n = n;
        // The callers write every column below `n`: only the padding of the last panel needs
        // zeroing, which saves clearing the whole buffer once per attention head.
        self.panels.resize(n_panels * k * PANEL, 0.0);
        let padding_start = n - (n_panels.max(1) - 1) * PANEL;
        if !n.is_multiple_of(PANEL) {
            let last_panel = &mut self.panels[(n_panels - 1) * k * PANEL..];
            for row in last_panel.chunks_exact_mut(PANEL) {
                row[padding_start..].fill(0.0);
            }
        }
        self.bias.clear();
        self.bias.resize(n_panels * PANEL, 0.0);
    }

    /// The same matrix with `activation` applied to its outputs.
    pub fn with_activation(self, activation: Activation) -> Self {
        Self { activation, ..self }
    }

    /// Stacks matrices with the same `k` side by side (query, key and value into one layer).
    pub fn concat(parts: &[PackedMatrix]) -> Self {
        let k = parts[0].k;
        assert!(
            parts.iter().all(|p| p.k == k && p.n % PANEL == 0),
            "concat needs whole panels"
        );
        assert!(
            parts.iter().all(|p| p.activation == parts[0].activation),
            "concat needs one activation"
        );
        Self {
            k,
            n: parts.iter().map(|p| p.n).sum(),
            panels: parts
                .iter()
                .flat_map(|p| p.panels.iter().copied())
                .collect(),
            bias: parts.iter().flat_map(|p| p.bias.iter().copied()).collect(),
            activation: parts[0].activation,
        }
    }

    /// `out = x * B + bias` for contiguous `x` (`rows x k`) and `out` (`rows x n`).
    /// `threads > 1` splits the rows over the current rayon pool.
    pub fn forward(&self, x: &[f32], out: &mut [f32], threads: usize) {
        self.forward_with(Isa::detect(), x, out, threads);
    }

    pub(crate) fn forward_with(&self, isa: Isa, x: &[f32], out: &mut [f32], threads: usize) {
        let rows = x.len() / self.k.max(1);
        assert_eq!(
            x.len(),
            rows * self.k,
            "input is not a whole number of rows"
        );
        assert_eq!(out.len(), rows * self.n, "output size");
        if rows == 0 || self.n == 0 {
            return;
        }
        if threads > 1 && rows >= 2 * isa.block_rows() {
            let rows_per_task = rows.div_ceil(threads).next_multiple_of(isa.block_rows());
            x.par_chunks(rows_per_task * self.k)
                .zip(out.par_chunks_mut(rows_per_task * self.n))
                .for_each(|(x, out)| {
                    let rows = x.len() / self.k;
                    let x = Rows {
                        data: x,
                        rows,
                        stride: self.k,
                    };
                    self.multiply_with(
                        isa,
                        &x,
                        &mut Rows {
                            data: out,
                            rows,
                            stride: self.n,
                        },
                        OutputPadding::Keep,
                    );
                });
        } else {
            let x = Rows {
                data: x,
                rows,
                stride: self.k,
            };
            self.multiply_with(
                isa,
                &x,
                &mut Rows {
                    data: out,
                    rows,
                    stride: self.n,
                },
                OutputPadding::Keep,
            );
        }
    }

    /// `out = x * B + bias` on the calling thread, for strided rows: the first `k` floats of
    /// each row of `x` are read and the first `n` floats of each row of `out` are written.
    pub fn multiply(&self, x: &Rows<&[f32]>, out: &mut Rows<&mut [f32]>) {
        self.multiply_with(Isa::detect(), x, out, OutputPadding::Keep);
    }

    /// [`PackedMatrix::multiply`] into rows at least `n` rounded up to whole panels wide, whose
    /// columns past `n` may be overwritten (with zeros times the input): a last, partial panel
    /// is then stored directly instead of through a scratch tile.
    pub fn multiply_into_padded(&self, x: &Rows<&[f32]>, out: &mut Rows<&mut [f32]>) {
        assert!(
            out.stride >= self.n.next_multiple_of(PANEL),
            "output rows not padded"
        );
        assert!(out.data.len() >= out.rows * out.stride, "output too short");
        self.multiply_with(Isa::detect(), x, out, OutputPadding::Overwrite);
    }

    fn multiply_with(
        &self,
        isa: Isa,
        x: &Rows<&[f32]>,
        out: &mut Rows<&mut [f32]>,
        padding: OutputPadding,
    ) {
        let (k, n, rows) = (self.k, self.n, x.rows);
        assert_eq!(out.rows, rows, "row counts differ");
        assert!(x.stride >= k && out.stride >= n, "rows overlap");
        if rows == 0 || n == 0 {
            return;
        }
        assert!(x.data.len() >= (rows - 1) * x.stride + k, "input too short");
        assert!(
            out.data.len() >= (rows - 1) * out.stride + n,
            "output too short"
        );
        let ldc = out.stride;
        let block_rows = isa.block_rows();
        let mut scratch = [0.0_f32; 14 * PANEL];
        let row_block = (MC_OUTPUT_FLOATS / n.next_multiple_of(PANEL)).clamp(block_rows, MC)
            / block_rows
            * block_rows;
        PACKED_ROWS.with_borrow_mut(|packed_rows| {
            for row_start in (0..rows).step_by(row_block) {
                let row_end = (row_start + row_block).min(rows);
                for k_start in (0..k.max(1)).step_by(KC) {
                    let k_len = KC.min(k - k_start);
                    pack_rows(
                        x,
                        row_start..row_end,
                        k_start..k_start + k_len,
                        block_rows,
                        packed_rows,
                    );
                    for panel in 0..n.div_ceil(PANEL) {
                        let col_start = panel * PANEL;
                        let cols = PANEL.min(n - col_start);
                        let weights =
                            &self.panels[(panel * k + k_start) * PANEL..][..k_len * PANEL];
                        let bias = &self.bias[col_start..col_start + PANEL];
                        let init = if k_start == 0 {
                            Init::Bias(bias)
                        } else {
                            Init::Accumulate
                        };
                        let is_last_k_block = k_start + k_len == k;
                        let activation = if is_last_k_block {
                            self.activation
                        } else {
                            Activation::Identity
                        };
                        let micro_panels =
                            packed_rows.chunks_exact(k_len.div_ceil(CHUNK) * block_rows * CHUNK);
                        for (block_start, a) in
                            (row_start..row_end).step_by(block_rows).zip(micro_panels)
                        {
                            let block_len = block_rows.min(row_end - block_start);
                            let tile = Tile {
                                a,
                                block_rows,
                                k_len,
                                weights,
                                block_len,
                                activation,
                            };
                            let c = &mut out.data[block_start * ldc + col_start..];
                            if cols == PANEL || padding == OutputPadding::Overwrite {
                                tile.run(isa, c, ldc, init);
                            } else {
                                // A last, partial panel: compute all PANEL columns into scratch, keep `cols`.
                                let scratch = &mut scratch[..block_len * PANEL];
                                for (r, row) in scratch.chunks_exact_mut(PANEL).enumerate() {
                                    row[..cols].copy_from_slice(&c[r * ldc..][..cols]);
                                }
                                tile.run(isa, scratch, PANEL, init);
                                for (r, row) in scratch.chunks_exact(PANEL).enumerate() {
                                    c[r * ldc..][..cols].copy_from_slice(&row[..cols]);
                                }
                            }
                        }
                    }
                }
            }
        });
    }
}

thread_local! {
    /// Activations packed by [`pack_rows`], reused from call to call on each thread.
    static PACKED_ROWS: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Copies `x[rows][cols]` into micro-panels of `block_rows` rows for the kernels: each
/// micro-panel is a run of chunks of `CHUNK` columns, and each chunk holds `block_rows` row
/// pieces of `CHUNK` floats (rows and columns past the end are zero). Copying whole row pieces
/// keeps the packing a plain copy, and the kernel still finds the activations of one column at
/// fixed offsets from one pointer.
fn pack_rows(
    x: &Rows<&[f32]>,
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
    block_rows: usize,
    packed: &mut Vec<f32>,
) {
    let n_blocks = rows.len().div_ceil(block_rows);
    let n_chunks = cols.len().div_ceil(CHUNK);
    // No clearing first: every float is written below, padding included, so the buffer is
    // written once rather than zeroed and then written.
    packed.resize(n_blocks * n_chunks * block_rows * CHUNK, 0.0);
    for (block_idx, micro_panel) in packed
        .chunks_exact_mut(n_chunks * block_rows * CHUNK)
        .enumerate()
    {
        let first_row = rows.start + block_idx * block_rows;
        let n_rows = block_rows.min(rows.end - first_row);
        for r in 0..block_rows {
            let pieces = micro_panel.chunks_exact_mut(block_rows * CHUNK);
            if r >= n_rows {
                pieces.for_each(|chunk| chunk[r * CHUNK..(r + 1) * CHUNK].fill(0.0));
                continue;
            }
            let row = &x.data[(first_row + r) * x.stride + cols.start..][..cols.len()];
            for (chunk, piece) in pieces.zip(row.chunks(CHUNK)) {
                let destination = &mut chunk[r * CHUNK..(r + 1) * CHUNK];
                // Whole pieces as fixed-size copies: a slice copy of unknown length calls memmove.
                match <&[f32; CHUNK]>::try_from(piece) {
                    Ok(piece) => {
                        *<&mut [f32; CHUNK]>::try_from(destination).expect("CHUNK long") = *piece
                    }
                    Err(_) => {
                        destination[..piece.len()].copy_from_slice(piece);
                        destination[piece.len()..].fill(0.0);
                    }
                }
            }
        }
    }
}

/// Whether a product may write past `n` in its output rows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OutputPadding {
    Keep,
    Overwrite,
}

/// What the accumulators start from.
#[derive(Clone, Copy)]
enum Init<'a> {
    /// The bias (first block of the inner dimension).
    Bias(&'a [f32]),
    /// The partial sums already in the output.
    Accumulate,
}

/// One micro-kernel call: the first `block_len` rows of a micro-panel `a` packed by
/// [`pack_rows`] for `block_rows` rows, times one `k_len x PANEL` weight panel.
struct Tile<'a> {
    a: &'a [f32],
    block_rows: usize,
    k_len: usize,
    weights: &'a [f32],
    block_len: usize,
    activation: Activation,
}

impl Tile<'_> {
    /// `c[r][0..PANEL] = init + a[r] * weights` for each of the block's rows (row stride `ldc`).
    fn run(&self, isa: Isa, c: &mut [f32], ldc: usize, init: Init<'_>) {
        assert!(
            self.block_len >= 1
                && self.block_len <= self.block_rows
                && self.block_rows == isa.block_rows()
        );
        assert!(
            self.a.len() >= self.k_len.div_ceil(CHUNK) * self.block_rows * CHUNK,
            "activations too short"
        );
        assert!(
            self.weights.len() >= self.k_len * PANEL,
            "weights too short"
        );
        assert!(
            c.len() >= (self.block_len - 1) * ldc + PANEL,
            "output too short"
        );
        if let Init::Bias(bias) = init {
            assert!(bias.len() >= PANEL, "bias too short");
        }
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => x86::run_avx512(self, c, ldc, init),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => x86::run_avx2(self, c, ldc, init),
            _ => self.run_portable(c, ldc, init),
        }
    }

    fn run_portable(&self, c: &mut [f32], ldc: usize, init: Init<'_>) {
        for r in 0..self.block_len {
            let mut acc = [0.0_f32; PANEL];
            match init {
                Init::Bias(bias) => acc.copy_from_slice(&bias[..PANEL]),
                Init::Accumulate => acc.copy_from_slice(&c[r * ldc..r * ldc + PANEL]),
            }
            let a_row = self
                .a
                .chunks_exact(self.block_rows * CHUNK)
                .flat_map(|chunk| &chunk[r * CHUNK..(r + 1) * CHUNK]);
            for (a_value, w_row) in a_row.zip(self.weights.chunks_exact(PANEL).take(self.k_len)) {
                for (acc, w) in acc.iter_mut().zip(w_row) {
                    *acc += a_value * w;
                }
            }
            if self.activation == Activation::Gelu {
                crate::kernels::gelu_erf(&mut acc);
            }
            c[r * ldc..r * ldc + PANEL].copy_from_slice(&acc);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    //! The SIMD micro-kernels. `Tile::run` has checked every bound these read or write.

    use std::arch::x86_64::*;

    use super::{Activation, CHUNK, Init, PANEL, Tile};

    macro_rules! dispatch_rows {
        ($rows:expr, $kernel:ident, $($arg:expr),*) => {
            match $rows {
                1 => $kernel::<1>($($arg),*),
                2 => $kernel::<2>($($arg),*),
                3 => $kernel::<3>($($arg),*),
                4 => $kernel::<4>($($arg),*),
                5 => $kernel::<5>($($arg),*),
                6 => $kernel::<6>($($arg),*),
                7 => $kernel::<7>($($arg),*),
                8 => $kernel::<8>($($arg),*),
                9 => $kernel::<9>($($arg),*),
                10 => $kernel::<10>($($arg),*),
                11 => $kernel::<11>($($arg),*),
                12 => $kernel::<12>($($arg),*),
                13 => $kernel::<13>($($arg),*),
                14 => $kernel::<14>($($arg),*),
                _ => unreachable!("block rows are at most 14"),
            }
        };
    }

    /// Pointers for one kernel call; `init_stride` 0 broadcasts the bias row to every row.
    struct Raw {
        a: *const f32,
        /// Floats from one chunk of the packed activations to the next.
        a_chunk_stride: usize,
        k_len: usize,
        w: *const f32,
        c: *mut f32,
        ldc: usize,
        init: *const f32,
        init_stride: usize,
    }

    fn raw(tile: &Tile<'_>, c: &mut [f32], ldc: usize, init: Init<'_>) -> Raw {
        let (init, init_stride) = match init {
            Init::Bias(bias) => (bias.as_ptr(), 0),
            Init::Accumulate => (c.as_ptr(), ldc),
        };
        Raw {
            a: tile.a.as_ptr(),
            a_chunk_stride: tile.block_rows * CHUNK,
            k_len: tile.k_len,
            w: tile.weights.as_ptr(),
            c: c.as_mut_ptr(),
            ldc,
            init,
            init_stride,
        }
    }

    pub(super) fn run_avx512(tile: &Tile<'_>, c: &mut [f32], ldc: usize, init: Init<'_>) {
        assert!(std::arch::is_x86_feature_detected!("avx512f"));
        let raw = raw(tile, c, ldc, init);
        // SAFETY: the CPU has AVX-512F (checked above); `Tile::run` checked that every row and
        // column the kernel touches lies inside `a`, `weights`, `c` and the bias.
        unsafe { dispatch_rows!(tile.block_len, kernel_avx512, &raw) }
        if tile.activation == Activation::Gelu {
            // SAFETY: as above. A separate pass while the tile is still in L1: inside the
            // kernel, the constants would be hoisted into the registers the accumulators need.
            unsafe { gelu_tile_avx512(c, ldc, tile.block_len) }
        }
    }

    #[target_feature(enable = "avx512f")]
    fn gelu_tile_avx512(c: &mut [f32], ldc: usize, rows: usize) {
        for row in 0..rows {
            for half in [0, 16] {
                let values: &mut [f32; 16] = (&mut c[row * ldc + half..row * ldc + half + 16])
                    .try_into()
                    .unwrap();
                // SAFETY: `values` is 16 floats, as one unaligned vector load and store need.
                unsafe {
                    let gelu = gelu_avx512(_mm512_loadu_ps(values.as_ptr()));
                    _mm512_storeu_ps(values.as_mut_ptr(), gelu);
                }
            }
        }
    }

    pub(super) fn run_avx2(tile: &Tile<'_>, c: &mut [f32], ldc: usize, init: Init<'_>) {
        assert!(
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
        );
        // The 6 x 16 kernel covers a 32-wide panel in two halves.
        for half in 0..2 {
            let mut raw = raw(tile, c, ldc, init);
            // SAFETY: the CPU has AVX2 and FMA (checked above); the half-panel offsets stay
            // inside the ranges `Tile::run` checked.
            unsafe {
                raw.c = raw.c.add(half * 16);
                raw.w = raw.w.add(half * 16);
                raw.init = raw.init.add(half * 16);
                dispatch_rows!(tile.block_len, kernel_avx2, &raw);
            }
        }
        if tile.activation == Activation::Gelu {
            // SAFETY: the CPU has AVX2 and FMA (checked above).
            unsafe { gelu_tile_avx2(c, ldc, tile.block_len) }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    fn gelu_tile_avx2(c: &mut [f32], ldc: usize, rows: usize) {
        for row in 0..rows {
            for eighth in (0..PANEL).step_by(8) {
                let values: &mut [f32; 8] = (&mut c[row * ldc + eighth..row * ldc + eighth + 8])
                    .try_into()
                    .unwrap();
                // SAFETY: `values` is 8 floats, as one unaligned vector load and store need.
                unsafe {
                    let gelu = gelu_avx2(_mm256_loadu_ps(values.as_ptr()));
                    _mm256_storeu_ps(values.as_mut_ptr(), gelu);
                }
            }
        }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn kernel_avx512<const ROWS: usize>(raw: &Raw) {
        unsafe {
            let mut acc = [[_mm512_setzero_ps(); 2]; ROWS];
            for (r, acc) in acc.iter_mut().enumerate() {
                let init = raw.init.add(r * raw.init_stride);
                acc[0] = _mm512_loadu_ps(init);
                acc[1] = _mm512_loadu_ps(init.add(16));
            }
            let mut w = raw.w;
            let mut chunk = raw.a;
            let mut k_left = raw.k_len;
            while k_left > 0 {
                // Column `kk` of this chunk sits at `chunk[r * CHUNK + kk]` for row `r`.
                for kk in 0..CHUNK.min(k_left) {
                    let w0 = _mm512_loadu_ps(w);
                    let w1 = _mm512_loadu_ps(w.add(16));
                    for (r, acc) in acc.iter_mut().enumerate() {
                        let a = _mm512_set1_ps(*chunk.add(r * CHUNK + kk));
                        acc[0] = _mm512_fmadd_ps(a, w0, acc[0]);
                        acc[1] = _mm512_fmadd_ps(a, w1, acc[1]);
                    }
                    w = w.add(PANEL);
                }
                k_left -= CHUNK.min(k_left);
                chunk = chunk.add(raw.a_chunk_stride);
            }
            for (r, acc) in acc.iter().enumerate() {
                let c = raw.c.add(r * raw.ldc);
                _mm512_storeu_ps(c, acc[0]);
                _mm512_storeu_ps(c.add(16), acc[1]);
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn kernel_avx2<const ROWS: usize>(raw: &Raw) {
        unsafe {
            let mut acc = [[_mm256_setzero_ps(); 2]; ROWS];
            for (r, acc) in acc.iter_mut().enumerate() {
                let init = raw.init.add(r * raw.init_stride);
                acc[0] = _mm256_loadu_ps(init);
                acc[1] = _mm256_loadu_ps(init.add(8));
            }
            let mut w = raw.w;
            let mut chunk = raw.a;
            let mut k_left = raw.k_len;
            while k_left > 0 {
                // Column `kk` of this chunk sits at `chunk[r * CHUNK + kk]` for row `r`.
                for kk in 0..CHUNK.min(k_left) {
                    let w0 = _mm256_loadu_ps(w);
                    let w1 = _mm256_loadu_ps(w.add(8));
                    for (r, acc) in acc.iter_mut().enumerate() {
                        let a = _mm256_set1_ps(*chunk.add(r * CHUNK + kk));
                        acc[0] = _mm256_fmadd_ps(a, w0, acc[0]);
                        acc[1] = _mm256_fmadd_ps(a, w1, acc[1]);
                    }
                    w = w.add(PANEL);
                }
                k_left -= CHUNK.min(k_left);
                chunk = chunk.add(raw.a_chunk_stride);
            }
            for (r, acc) in acc.iter().enumerate() {
                let c = raw.c.add(r * raw.ldc);
                _mm256_storeu_ps(c, acc[0]);
                _mm256_storeu_ps(c.add(8), acc[1]);
            }
        }
    }

    /// [`crate::kernels::gelu_erf`] on 16 lanes, with the same erf approximation.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn gelu_avx512(x: __m512) -> __m512 {
        let [p, q] = crate::kernels::ERF_COEFFICIENTS;
        let z = _mm512_mul_ps(x, _mm512_set1_ps(std::f32::consts::FRAC_1_SQRT_2));
        let z = _mm512_min_ps(_mm512_max_ps(z, _mm512_set1_ps(-4.0)), _mm512_set1_ps(4.0));
        let z2 = _mm512_mul_ps(z, z);
        let mut numerator = _mm512_set1_ps(p[0]);
        for &c in &p[1..] {
            numerator = _mm512_fmadd_ps(numerator, z2, _mm512_set1_ps(c));
        }
        let mut denominator = _mm512_set1_ps(q[0]);
        for &c in &q[1..5] {
            denominator = _mm512_fmadd_ps(denominator, z2, _mm512_set1_ps(c));
        }
        let erf = _mm512_div_ps(_mm512_mul_ps(z, numerator), denominator);
        let half_x = _mm512_mul_ps(x, _mm512_set1_ps(0.5));
        _mm512_fmadd_ps(half_x, erf, half_x)
    }

    /// [`crate::kernels::gelu_erf`] on 8 lanes, with the same erf approximation.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn gelu_avx2(x: __m256) -> __m256 {
        let [p, q] = crate::kernels::ERF_COEFFICIENTS;
        let z = _mm256_mul_ps(x, _mm256_set1_ps(std::f32::consts::FRAC_1_SQRT_2));
        let z = _mm256_min_ps(_mm256_max_ps(z, _mm256_set1_ps(-4.0)), _mm256_set1_ps(4.0));
        let z2 = _mm256_mul_ps(z, z);
        let mut numerator = _mm256_set1_ps(p[0]);
        for &c in &p[1..] {
            numerator = _mm256_fmadd_ps(numerator, z2, _mm256_set1_ps(c));
        }
        let mut denominator = _mm256_set1_ps(q[0]);
        for &c in &q[1..5] {
            denominator = _mm256_fmadd_ps(denominator, z2, _mm256_set1_ps(c));
        }
        let erf = _mm256_div_ps(_mm256_mul_ps(z, numerator), denominator);
        let half_x = _mm256_mul_ps(x, _mm256_set1_ps(0.5));
        _mm256_fmadd_ps(half_x, erf, half_x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(weight: &[f32], bias: &[f32], x: &[f32], n_in: usize, n_out: usize) -> Vec<f32> {
        let rows = x.len() / n_in;
        let mut out = vec![0.0; rows * n_out];
        for r in 0..rows {
            for o in 0..n_out {
                let dot: f64 = (0..n_in)
                    .map(|i| x[r * n_in + i] as f64 * weight[o * n_in + i] as f64)
                    .sum();
                out[r * n_out + o] = (dot + bias[o] as f64) as f32;
            }
        }
        out
    }

    fn check(rows: usize, n_in: usize, n_out: usize, threads: usize, activation: Activation) {
        let weight: Vec<f32> = (0..n_in * n_out)
            .map(|i| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * 0.1)
            .collect();
        let bias: Vec<f32> = (0..n_out).map(|i| i as f32 * 0.01).collect();
        let x: Vec<f32> = (0..rows * n_in)
            .map(|i| (i * 104_729 % 997) as f32 / 498.5 - 1.0)
            .collect();
        let mut expected = naive(&weight, &bias, &x, n_in, n_out);
        if activation == Activation::Gelu {
            crate::kernels::gelu_erf(&mut expected);
        }
        let layer = PackedMatrix::from_torch_layout(&weight, &bias, n_in, n_out)
            .with_activation(activation);
        for isa in Isa::available() {
            let mut out = vec![f32::NAN; rows * n_out];
            layer.forward_with(isa, &x, &mut out, threads);
            for (idx, (got, want)) in out.iter().zip(&expected).enumerate() {
                assert!(
                    (got - want).abs() < 1e-4,
                    "{isa:?} {activation:?} rows {rows} in {n_in} out {n_out}: [{idx}] {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn packed_linear_matches_a_naive_product() {
        use Activation::{Gelu, Identity};
        check(1, 1, 1, 1, Identity);
        check(5, 3, 7, 1, Identity);
        check(13, 40, 64, 1, Identity);
        // Rows over a row block, a partial last panel, several threads.
        check(400, 300, 70, 2, Identity);
        // Inner dimension over KC: the activation applies after the last inner block only.
        check(37, 600, 96, 3, Identity);
        check(37, 600, 96, 1, Gelu);
        check(30, 20, 40, 1, Gelu);
    }

    #[test]
    fn strided_multiply_reads_and_writes_column_blocks() {
        // x: 5 rows of 3 inside rows of 8 (offset 2); B: 3 x 40 from a closure; out: 40 of 50.
        let big: Vec<f32> = (0..5 * 8).map(|i| i as f32 * 0.1 - 1.0).collect();
        let x = Rows {
            data: &big[2..],
            rows: 5,
            stride: 8,
        };
        let element = |row: usize, col: usize| (row * 40 + col) as f32 * 0.01 - 0.5;
        let b_rows: Vec<f32> = (0..3 * 45).map(|i| element(i / 45, i % 45)).collect();
        let mut b = PackedMatrix::new();
        b.pack_rows_of(
            &Rows {
                data: &b_rows,
                rows: 3,
                stride: 45,
            },
            40,
        );
        let mut out = vec![7.0_f32; 5 * 50];
        b.multiply(
            &x,
            &mut Rows {
                data: &mut out[..],
                rows: 5,
                stride: 50,
            },
        );
        for r in 0..5 {
            for c in 0..50 {
                let want = if c < 40 {
                    (0..3)
                        .map(|k| big[2 + r * 8 + k] * element(k, c))
                        .sum::<f32>()
                } else {
                    7.0
                };
                let got = out[r * 50 + c];
                assert!((got - want).abs() < 1e-5, "[{r}][{c}] {got} vs {want}");
            }
        }
    }

    #[test]
    fn repacked_matrices_multiply_into_padded_rows() {
        // One PackedMatrix reused for shapes of different size, as attention reuses its scratch.
        let mut b = PackedMatrix::new();
        for (k, n, rows) in [(5, 70, 3), (3, 40, 4), (7, 33, 2)] {
            let source: Vec<f32> = (0..n * k).map(|i| (i % 11) as f32 * 0.1 - 0.4).collect();
            b.pack_transposed_of(
                &Rows {
                    data: &source,
                    rows: n,
                    stride: k,
                },
                k,
                0.5,
            );
            let x: Vec<f32> = (0..rows * k).map(|i| i as f32 * 0.25 - 1.0).collect();
            let stride = n.next_multiple_of(PANEL);
            let mut out = vec![f32::NAN; rows * stride];
            b.multiply_into_padded(
                &Rows {
                    data: &x,
                    rows,
                    stride: k,
                },
                &mut Rows {
                    data: &mut out,
                    rows,
                    stride,
                },
            );
            for r in 0..rows {
                for c in 0..n {
                    let want: f32 = (0..k).map(|i| x[r * k + i] * 0.5 * source[c * k + i]).sum();
                    let got = out[r * stride + c];
                    assert!(
                        (got - want).abs() < 1e-5,
                        "k {k} n {n}: [{r}][{c}] {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn concat_stacks_outputs_side_by_side() {
        let (n_in, n_out) = (4, 32);
        let weight_a: Vec<f32> = (0..n_in * n_out).map(|i| i as f32 * 0.01).collect();
        let weight_b: Vec<f32> = (0..n_in * n_out).map(|i| -(i as f32) * 0.02).collect();
        let bias = vec![0.5; n_out];
        let a = PackedMatrix::from_torch_layout(&weight_a, &bias, n_in, n_out);
        let b = PackedMatrix::from_torch_layout(&weight_b, &bias, n_in, n_out);
        let both = PackedMatrix::concat(&[a, b]);
        let x = [1.0, 2.0, 3.0, 4.0];
        let mut out = vec![0.0; 2 * n_out];
        both.forward(&x, &mut out, 1);
        let mut expected = naive(&weight_a, &bias, &x, n_in, n_out);
        expected.extend(naive(&weight_b, &bias, &x, n_in, n_out));
        for (got, want) in out.iter().zip(&expected) {
            assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        }
    }
}
