//! Small f32 kernels for the packed BERT forward: row-wise layer norm, softmax and GELU,
//! written as plain loops that LLVM vectorises.
//!
//! `erf` and `exp` are polynomial approximations without branches or libm calls, because the
//! scalar libm versions kept the loops from vectorising and `erf` alone took 11% of a profile.

/// `x = layer_norm(x + residual) * gamma + beta`, row by row (rows are `gamma.len()` wide).
pub(crate) fn add_layer_norm(
    x: &mut [f32],
    residual: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) {
    let width = gamma.len();
    for (row, res) in x.chunks_exact_mut(width).zip(residual.chunks_exact(width)) {
        for (value, r) in row.iter_mut().zip(res) {
            *value += r;
        }
        layer_norm_row(row, gamma, beta, eps);
    }
}

/// `x = layer_norm(x) * gamma + beta`, row by row.
pub(crate) fn layer_norm(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    for row in x.chunks_exact_mut(gamma.len()) {
        layer_norm_row(row, gamma, beta, eps);
    }
}

fn layer_norm_row(row: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let inv_width = 1.0 / row.len() as f32;
    let mean = sum(row) * inv_width;
    let variance = sum_of_squared_deviations(row, mean) * inv_width;
    let inv_std = 1.0 / (variance + eps).sqrt();
    for ((value, g), b) in row.iter_mut().zip(gamma).zip(beta) {
        *value = (*value - mean) * inv_std * g + b;
    }
}

/// Independent partial results per reduction: a plain `iter().sum()` is one chain of dependent
/// adds (f32 addition is not reassociated), which made layer norm and softmax latency-bound.
const LANES: usize = 16;

fn sum(values: &[f32]) -> f32 {
    let mut lanes = [0.0_f32; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().sum();
    for chunk in chunks {
        for (lane, value) in lanes.iter_mut().zip(chunk) {
            *lane += value;
        }
    }
    lanes.iter().sum::<f32>() + tail
}

fn sum_of_squared_deviations(values: &[f32], mean: f32) -> f32 {
    let mut lanes = [0.0_f32; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail: f32 = chunks
        .remainder()
        .iter()
        .map(|v| (v - mean) * (v - mean))
        .sum();
    for chunk in chunks {
        for (lane, value) in lanes.iter_mut().zip(chunk) {
            *lane += (value - mean) * (value - mean);
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// The largest value (NaN-free input: these are attention logits).
fn max(values: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |a, &b| if b > a { b } else { a });
    for chunk in chunks {
        for (lane, &value) in lanes.iter_mut().zip(chunk) {
            *lane = if value > *lane { value } else { *lane };
        }
    }
    lanes.iter().fold(tail, |a, &b| if b > a { b } else { a })
}

/// Softmax of every `width`-wide row, in place.
pub(crate) fn softmax_rows(x: &mut [f32], width: usize) {
    for row in x.chunks_exact_mut(width) {
        let max = max(row);
        // exp and its sum in one pass, the sum spread over lanes as in `sum`.
        let mut lanes = [0.0_f32; LANES];
        let mut chunks = row.chunks_exact_mut(LANES);
        for chunk in &mut chunks {
            for (lane, value) in lanes.iter_mut().zip(chunk) {
                *value = exp(*value - max);
                *lane += *value;
            }
        }
        let mut tail = 0.0;
        for value in chunks.into_remainder() {
            *value = exp(*value - max);
            tail += *value;
        }
        let inv_sum = 1.0 / (lanes.iter().sum::<f32>() + tail);
        for value in row.iter_mut() {
            *value *= inv_sum;
        }
    }
}

/// Exact (erf-based) GELU in place, as BERT's `hidden_act = "gelu"` asks.
pub(crate) fn gelu_erf(x: &mut [f32]) {
    const INV_SQRT2: f32 = std::f32::consts::FRAC_1_SQRT_2;
    for value in x.iter_mut() {
        let v = *value;
        *value = 0.5 * v * (1.0 + erf(v * INV_SQRT2));
    }
}

/// `erf` as a rational function of odd/even polynomials on [-4, 4] (outside, erf is +-1 in f32).
/// The coefficients are Eigen's single-precision `erf`, highest power first: the numerator's
/// (times x) and the denominator's, in powers of x^2; the unit test bounds the error.
#[allow(clippy::excessive_precision)]
pub(crate) const ERF_COEFFICIENTS: [[f32; 7]; 2] = [
    [
        -2.72614225801306e-10,
        2.77068142495902e-08,
        -2.10102402082508e-06,
        -5.69250639462346e-05,
        -7.34990630326855e-04,
        -2.95459980854025e-03,
        -1.60960333262415e-02,
    ],
    // Five coefficients; the last two entries are unused padding.
    [
        -1.45660718464996e-05,
        -2.13374055278905e-04,
        -1.68282697438203e-03,
        -7.37332916720468e-03,
        -1.42647390514189e-02,
        0.0,
        0.0,
    ],
];

/// `erf(x)` within 1e-6 (see [`ERF_COEFFICIENTS`]), in plain arithmetic that vectorises.
#[inline(always)]
pub(crate) fn erf(x: f32) -> f32 {
    let [p, q] = ERF_COEFFICIENTS;
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let numerator = p[1..].iter().fold(p[0], |acc, &c| acc * x2 + c);
    let denominator = q[1..5].iter().fold(q[0], |acc, &c| acc * x2 + c);
    x * numerator / denominator
}

/// `exp` by the Cephes reduction: `2^n * e^r` with `|r| <= ln 2 / 2` and a degree-6 polynomial.
#[inline(always)]
#[allow(clippy::excessive_precision)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2E + 0.5).floor();
    let r = x - n * 0.693359375 + n * 2.12194440e-4;
    let mut p = 1.9875691500e-4_f32;
    p = p * r + 1.3981999507e-3;
    p = p * r + 8.3334519073e-3;
    p = p * r + 4.1665795894e-2;
    p = p * r + 1.6666665459e-1;
    p = p * r + 5.0000001201e-1;
    let y = p * r * r + r + 1.0;
    // 2^n built from bits without a float-to-int cast (Rust's saturating cast does not
    // vectorise): adding 2^23 puts the integer n + 127 (1..=215 after the clamp) in the low
    // mantissa bits, and shifting those into the exponent field gives 2^n.
    const MAGIC: f32 = 8_388_608.0;
    let biased_exponent = (n + (127.0 + MAGIC)).to_bits() - MAGIC.to_bits();
    y * f32::from_bits(biased_exponent << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// erf by its Taylor series (small x) or continued fraction (large x), in f64.
    fn erf_reference(x: f64) -> f64 {
        if x.abs() < 2.5 {
            let mut sum = 0.0;
            let mut term = x;
            let mut n = 0.0;
            while term.abs() > 1e-17 {
                sum += term / (2.0 * n + 1.0);
                n += 1.0;
                term *= -x * x / n;
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...)))).
            let ax = x.abs();
            let mut fraction = ax;
            for k in (1..60).rev() {
                fraction = ax + (k as f64 / 2.0) / fraction;
            }
            let erfc = (-ax * ax).exp() / std::f64::consts::PI.sqrt() / fraction;
            (1.0 - erfc).copysign(x)
        }
    }

    #[test]
    fn erf_matches_reference_within_float_precision() {
        let mut worst = 0.0_f64;
        for i in -6000..=6000 {
            let x = i as f64 / 1000.0;
            let error = (erf(x as f32) as f64 - erf_reference(x)).abs();
            worst = worst.max(error);
        }
        assert!(worst < 1e-6, "worst erf error {worst}");
    }

    #[test]
    fn exp_matches_std_within_float_precision() {
        let mut worst = 0.0_f64;
        for i in -8000..=8000 {
            let x = i as f32 / 100.0;
            let relative = ((exp(x) as f64 - (x as f64).exp()) / (x as f64).exp()).abs();
            worst = worst.max(relative);
        }
        assert!(worst < 1e-6, "worst relative exp error {worst}");
    }

    #[test]
    fn lane_reductions_match_plain_ones() {
        for len in [0, 1, 15, 16, 17, 40, 384] {
            let values: Vec<f32> = (0..len)
                .map(|i| ((i * 31 % 17) as f32 - 8.0) * 0.25)
                .collect();
            let plain_sum: f32 = values.iter().sum();
            assert!((sum(&values) - plain_sum).abs() < 1e-4, "sum of {len}");
            let mean = if len > 0 { plain_sum / len as f32 } else { 0.0 };
            let plain_squares: f32 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
            let squares = sum_of_squared_deviations(&values, mean);
            assert!(
                (squares - plain_squares).abs() <= 1e-5 * plain_squares.max(1.0),
                "squares of {len}"
            );
            let plain_max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            assert_eq!(max(&values), plain_max, "max of {len}");
        }
    }

    #[test]
    fn softmax_rows_sum_to_one_and_keep_order() {
        let mut x = vec![1.0, 2.0, 3.0, -1000.0, 0.0, 0.0];
        softmax_rows(&mut x, 3);
        let expected_first = [0.090_030_57, 0.244_728_48, 0.665_240_94];
        for (got, want) in x[..3].iter().zip(expected_first) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
        assert!(x[3].abs() < 1e-30);
        assert!((x[4] - 0.5).abs() < 1e-6 && (x[5] - 0.5).abs() < 1e-6);
    }

    #[test]
    fn layer_norm_normalises_each_row() {
        let mut x = vec![1.0, 2.0, 3.0, 4.0, 10.0, 10.0, 10.0, 10.0];
        layer_norm(&mut x, &[1.0; 4], &[0.5; 4], 1e-12);
        let std = (1.25_f32).sqrt();
        let expected = [
            -1.5 / std + 0.5,
            -0.5 / std + 0.5,
            0.5 / std + 0.5,
            1.5 / std + 0.5,
        ];
        for (got, want) in x[..4].iter().zip(expected) {
            assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        }
        assert_eq!(&x[4..], &[0.5; 4]);
    }
}
