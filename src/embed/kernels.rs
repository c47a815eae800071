//! The encoder's element-wise and row-wise steps as single-pass loops over
//! contiguous `f32` slices, written so the compiler vectorises them (no
//! branches in the inner loops, eight independent accumulators for sums).
//!
//! `exp` and `erf` are polynomial / rational approximations accurate to a
//! few units in the last place of `f32` over the ranges a transformer sees;
//! the tests below check them against `f64` references.

/// Lanes of the manual accumulators: one AVX register of `f32`.
const LANES: usize = 8;

/// `a·b + c`, fused when the build targets FMA (`.cargo/config.toml` builds
/// for the host CPU); without it `mul_add` would be a slow library call.
#[inline(always)]
pub fn fma(a: f32, b: f32, c: f32) -> f32 {
    if cfg!(target_feature = "fma") {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// 1.5 × 2^23: for |x| < 2^22, `x + ROUND` lands in [2^23, 2^24), where
/// `f32` steps are exactly 1, so the addition rounds `x` to the nearest
/// integer (ties to even) and leaves it in the low mantissa bits.
const ROUND: f32 = 12_582_912.0;

/// `x` rounded to the nearest integer (ties to even), as `f32` and as
/// `i32`, for |x| < 2^22. Two vector instructions, where `as i32` is a
/// scalar conversion with saturation checks per element that keeps a loop
/// from vectorising.
#[inline(always)]
pub fn round_int(x: f32) -> (f32, i32) {
    let t = x + ROUND;
    (t - ROUND, t.to_bits().wrapping_sub(ROUND.to_bits()) as i32)
}

/// `e^x` for `f32` (Cephes' `expf` polynomial after a `2^n` range reduction),
/// relative error below 2e-7 on [-87, 88]; inputs below that range give
/// `e^-87`.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.0, 88.0);
    let (n, ni) = round_int(x * LOG2E);
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4_f32;
    p = fma(p, r, 1.398_199_9e-3);
    p = fma(p, r, 8.333_452e-3);
    p = fma(p, r, 4.166_579_6e-2);
    p = fma(p, r, 1.666_666_5e-1);
    p = fma(p, r, 0.5); // Cephes: 5.0000001e-1, which is 0.5 in f32
    let e = fma(p * r, r, r) + 1.0;
    // n is in [-126, 127] after the clamp: a normal power of two.
    e * f32::from_bits(((ni + 127) as u32) << 23)
}

/// `erf(x)` for `f32`: the odd/even rational approximation Eigen and XLA
/// use, on x clamped to [-4, 4] (beyond it erf is ±1 in `f32`).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10_f32;
    p = fma(p, x2, 2.770_681_4e-8);
    p = fma(p, x2, -2.101_024e-6);
    p = fma(p, x2, -5.692_506_4e-5);
    p = fma(p, x2, -7.349_906_3e-4);
    p = fma(p, x2, -2.954_600_2e-3);
    p = fma(p, x2, -1.609_603_3e-2);
    let mut q = -1.456_607_2e-5_f32;
    q = fma(q, x2, -2.133_740_6e-4);
    q = fma(q, x2, -1.682_827e-3);
    q = fma(q, x2, -7.373_329_2e-3);
    q = fma(q, x2, -1.426_473_9e-2);
    x * p / q
}

/// GELU, exact (erf) form: `x/2 · (1 + erf(x/√2))`.
#[inline(always)]
pub fn gelu_erf(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// GELU, tanh form (`gelu_new`, `gelu_pytorch_tanh`).
#[inline(always)]
pub fn gelu_tanh(x: f32) -> f32 {
    const C: f32 = 0.797_884_6; // sqrt(2/pi)
    let y = C * (x + 0.044_715 * x * x * x);
    // tanh(y) = 1 - 2 / (e^{2y} + 1), saturating cleanly for large |y|.
    let t = 1.0 - 2.0 / (exp(2.0 * y) + 1.0);
    0.5 * x * (1.0 + t)
}

/// Applies GELU to every element.
pub fn gelu_in_place(xs: &mut [f32], tanh: bool) {
    if tanh {
        xs.iter_mut().for_each(|x| *x = gelu_tanh(*x));
    } else {
        xs.iter_mut().for_each(|x| *x = gelu_erf(*x));
    }
}

#[inline(always)]
fn sum(xs: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let mut chunks = xs.chunks_exact(LANES);
    for c in &mut chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    acc.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

/// `out[c] = Σ_t w[t] · m[t·stride + c]`: a weighted sum of `w.len()` rows
/// of `m`, in column chunks of 32, 16 and 8 whose sums sit in fixed-size
/// arrays the compiler keeps in registers (accumulating in `out` instead
/// would chain every step through a store and a load).
#[inline]
pub fn weighted_rows(out: &mut [f32], w: &[f32], m: &[f32], stride: usize) {
    let n = out.len();
    let mut c0 = 0;
    while n - c0 >= 4 * LANES {
        weighted_chunk::<{ 4 * LANES }>(&mut out[c0..], w, &m[c0..], stride);
        c0 += 4 * LANES;
    }
    if n - c0 >= 2 * LANES {
        weighted_chunk::<{ 2 * LANES }>(&mut out[c0..], w, &m[c0..], stride);
        c0 += 2 * LANES;
    }
    if n - c0 >= LANES {
        weighted_chunk::<LANES>(&mut out[c0..], w, &m[c0..], stride);
        c0 += LANES;
    }
    let rest = n - c0;
    if rest > 0 {
        // Fewer than 8 columns: independent sums, one per column.
        let mut acc = [0f32; LANES];
        for (t, &wt) in w.iter().enumerate() {
            for (a, &x) in acc.iter_mut().zip(&m[t * stride + c0..][..rest]) {
                *a = fma(wt, x, *a);
            }
        }
        out[c0..].copy_from_slice(&acc[..rest]);
    }
}

/// The first `C` columns of [`weighted_rows`].
#[inline(always)]
fn weighted_chunk<const C: usize>(out: &mut [f32], w: &[f32], m: &[f32], stride: usize) {
    let mut acc = [0f32; C];
    for (t, &wt) in w.iter().enumerate() {
        let row: &[f32; C] = m[t * stride..][..C].try_into().unwrap();
        for (a, &x) in acc.iter_mut().zip(row) {
            *a = fma(wt, x, *a);
        }
    }
    out[..C].copy_from_slice(&acc);
}

#[inline(always)]
fn max(xs: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let mut chunks = xs.chunks_exact(LANES);
    for c in &mut chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a = if x > *a { x } else { *a };
        }
    }
    chunks
        .remainder()
        .iter()
        .chain(&acc)
        .fold(f32::NEG_INFINITY, |m, &x| if x > m { x } else { m })
}

/// `row ← LayerNorm(row)` with weight `w` and bias `b` (mean and variance
/// in two passes, as candle and PyTorch compute them).
#[inline]
pub fn layer_norm(row: &mut [f32], w: &[f32], b: &[f32], eps: f32) {
    let n = row.len() as f32;
    let mean = sum(row) / n;
    let mut acc = [0f32; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for c in &mut chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            let d = x - mean;
            *a += d * d;
        }
    }
    let rest: f32 = chunks
        .remainder()
        .iter()
        .map(|x| (x - mean) * (x - mean))
        .sum();
    let var = (acc.iter().sum::<f32>() + rest) / n;
    let inv = 1.0 / (var + eps).sqrt();
    for ((x, w), b) in row.iter_mut().zip(w).zip(b) {
        *x = (*x - mean) * inv * w + b;
    }
}

/// `row ← LayerNorm(row + add)`: the residual connection and the norm in
/// one pass over the row.
#[inline]
pub fn add_layer_norm(row: &mut [f32], add: &[f32], w: &[f32], b: &[f32], eps: f32) {
    for (x, a) in row.iter_mut().zip(add) {
        *x += a;
    }
    layer_norm(row, w, b, eps);
}

/// `row ← softmax(row)`.
#[inline]
pub fn softmax_in_place(row: &mut [f32]) {
    let m = max(row);
    row.iter_mut().for_each(|x| *x = exp(*x - m));
    let inv = 1.0 / sum(row);
    row.iter_mut().for_each(|x| *x *= inv);
}

/// An output matrix the parallel workers of one kernel share (the int8
/// matmul's column groups, attention's (sequence, head) blocks): each
/// work item writes a region no other touches.
#[derive(Clone, Copy)]
pub(super) struct SharedMut(pub(super) *mut f32);
// SAFETY: every user hands each work item a disjoint region of the matrix
// and keeps the matrix alive until the workers are joined.
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

impl SharedMut {
    /// Taking `self` makes closures capture the whole wrapper (which is
    /// `Sync`), not its raw-pointer field.
    pub(super) fn ptr(self) -> *mut f32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(lo: f32, hi: f32, n: usize) -> impl Iterator<Item = f32> {
        (0..=n).map(move |i| lo + (hi - lo) * i as f32 / n as f32)
    }

    #[test]
    fn exp_is_accurate_to_a_few_ulps() {
        let mut worst = 0f64;
        for x in grid(-80.0, 80.0, 200_000) {
            let want = (x as f64).exp();
            let rel = ((exp(x) as f64 - want) / want).abs();
            worst = worst.max(rel);
        }
        assert!(worst < 5e-7, "worst relative error {worst:e}");
        assert_eq!(exp(-200.0), exp(-87.0));
        assert!(exp(-200.0) < 1e-37);
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn round_int_rounds_to_nearest_even() {
        for (x, want) in [
            (0.0f32, 0),
            (0.4, 0),
            (0.5, 0),
            (1.5, 2),
            (2.5, 2),
            (-0.5, 0),
            (-1.5, -2),
            (-126.7, -127),
            (127.2, 127),
            (-4_000_000.3, -4_000_000),
        ] {
            assert_eq!(round_int(x), (want as f32, want), "{x}");
        }
        for x in grid(-300.0, 300.0, 100_000) {
            assert_eq!(round_int(x).1, x.round_ties_even() as i32, "{x}");
        }
    }

    #[test]
    fn erf_matches_candles_f64_erf() {
        let mut worst = 0f64;
        for x in grid(-6.0, 6.0, 120_000) {
            let want = candle_core::cpu::erf::erf_f64(x as f64);
            worst = worst.max((erf(x) as f64 - want).abs());
        }
        assert!(worst < 1e-6, "worst absolute error {worst:e}");
    }

    #[test]
    fn gelu_forms_match_their_definitions() {
        for x in grid(-12.0, 12.0, 24_000) {
            let xd = x as f64;
            let exact = 0.5 * xd * (1.0 + candle_core::cpu::erf::erf_f64(xd / 2f64.sqrt()));
            assert!((gelu_erf(x) as f64 - exact).abs() < 2e-6 * xd.abs().max(1.0));
            let c = (2.0 / std::f64::consts::PI).sqrt();
            let tanh = 0.5 * xd * (1.0 + (c * (xd + 0.044715 * xd * xd * xd)).tanh());
            assert!((gelu_tanh(x) as f64 - tanh).abs() < 2e-6 * xd.abs().max(1.0));
        }
    }

    #[test]
    fn weighted_rows_matches_plain_f64() {
        for (n, rows, stride) in [
            (32, 5, 40),
            (16, 16, 16),
            (45, 3, 50),
            (7, 1, 7),
            (64, 9, 96),
            (27, 27, 27),
        ] {
            let m: Vec<f32> = (0..rows * stride)
                .map(|i| ((i * 7919) % 101) as f32 * 0.01 - 0.5)
                .collect();
            let w: Vec<f32> = (0..rows).map(|t| (t as f32 * 0.7).cos()).collect();
            let mut out = vec![f32::NAN; n];
            weighted_rows(&mut out, &w, &m, stride);
            for (c, &o) in out.iter().enumerate() {
                let want: f64 = (0..rows)
                    .map(|t| w[t] as f64 * m[t * stride + c] as f64)
                    .sum();
                assert!((o as f64 - want).abs() < 1e-5, "n={n} c={c}: {o} vs {want}");
            }
        }
    }

    #[test]
    fn layer_norm_and_softmax_match_plain_f64() {
        let row: Vec<f32> = (0..37)
            .map(|i| ((i * 7919) % 97) as f32 * 0.3 - 11.0)
            .collect();
        let add: Vec<f32> = (0..37).map(|i| (i as f32).sin()).collect();
        let w: Vec<f32> = (0..37).map(|i| 0.5 + i as f32 * 0.01).collect();
        let b: Vec<f32> = (0..37).map(|i| i as f32 * -0.02).collect();
        let mut got = row.clone();
        add_layer_norm(&mut got, &add, &w, &b, 1e-12);
        let s: Vec<f64> = row.iter().zip(&add).map(|(a, b)| (a + b) as f64).collect();
        let mean = s.iter().sum::<f64>() / 37.0;
        let var = s.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 37.0;
        for (i, &g) in got.iter().enumerate() {
            let want = (s[i] - mean) / (var + 1e-12).sqrt() * w[i] as f64 + b[i] as f64;
            assert!((g as f64 - want).abs() < 1e-5, "{i}: {g} vs {want}");
        }

        let mut got = row.clone();
        softmax_in_place(&mut got);
        let m = row.iter().cloned().fold(f32::MIN, f32::max) as f64;
        let z: f64 = row.iter().map(|&x| (x as f64 - m).exp()).sum();
        for (i, &g) in got.iter().enumerate() {
            let want = (row[i] as f64 - m).exp() / z;
            assert!((g as f64 - want).abs() < 1e-7, "{i}: {g} vs {want}");
        }
        assert!((got.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }
}
