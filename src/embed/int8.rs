//! Matrix products of a few rows of `f32` activations with int8 weights:
//! the dense layers of a short pass (one search query, a handful of tokens).
//!
//! Why: a pass of ~15 tokens through the f32 GEMM is bound by reading the
//! weights (≈ 85 MB for multilingual-e5-small, more than the 32 MB L3), not
//! by arithmetic. The same weights as int8 with one `f32` scale per block of
//! 32 inputs are ≈ 24 MB: they stay in L3 from one query to the next.
//!
//! Exactness: the bundled model was imported from Q4_0 blocks (scale `d`
//! times an integer in [-8, 7], 32 consecutive inputs per block), so its f32
//! weights are such products and an int8 copy with the block's own scale is
//! **lossless**: [`Int8Matrix::from_rows`] recovers `d` (the block's largest
//! magnitude divided by 8, 7, …, 1, whichever makes every value an exact
//! integer multiple). Weights that are on no such grid (a full-precision
//! checkpoint) fall back to ordinary symmetric int8 (`max |w| / 127`), which
//! is then an approximation; [`Int8Matrix::exact`] says which it was.
//!
//! Activations stay `f32` (more accurate than quantising them too):
//!
//! `y[m][n] = bias[n] + Σ_b scale[n][b] · Σ_{k ∈ b} x[m][k] · q[n][k]`
//!
//! Layout: output columns are packed in groups of [`GROUP`] = 16; a group
//! holds its weights as `[k][16]` bytes, so one 8-byte load widened
//! i8 → i32 → f32 gives 8 output columns of one input, and a group's strip
//! (K × 16 bytes, 24 KB at K = 1536) stays in L1 while every row tile of the
//! activations runs over it. Scales are `[block][16]` per group.
//!
//! The AVX2/FMA micro-kernel keeps a tile of up to 6 rows × 16 columns of
//! per-block partial sums in 12 registers (the classic 6 × 16 shape: 2
//! weight registers + 1 broadcast make 15 of the 16), and folds them into
//! the running totals with the block scale after each 32-input block; the
//! scale multiply is then 1/32 of the work instead of one per weight. A
//! portable scalar kernel (same layout and summation order) runs elsewhere
//! and is what the tests compare the vector kernel against.

use rayon::prelude::*;

/// Inputs per scale block: Q4_0's block length.
pub const BLOCK: usize = 32;
/// Output columns per packed group: two AVX registers of `f32`.
pub const GROUP: usize = 16;
/// Rows one micro-kernel call holds in registers.
const MAX_ROWS: usize = 6;
/// Multiply-adds (rows × K × N) below which a product runs on the calling
/// thread alone: handing work to rayon's other worker costs microseconds,
/// about what ~100k multiply-adds take.
const PARALLEL_MIN_WORK: usize = 1 << 18;

/// A weight matrix `[n outputs][k inputs]` as int8 with per-block scales,
/// packed for [`Int8Matrix::matmul`].
pub struct Int8Matrix {
    k: usize,
    n: usize,
    blocks: usize,
    /// `[group][k][GROUP]`; columns past `n` in the last group are zero.
    q: Vec<i8>,
    /// `[group][block][GROUP]`.
    scales: Vec<f32>,
    exact: bool,
}

/// Quantises one block to `q`, returning its scale and whether the int8
/// values times the scale give back `v` exactly.
fn quantize_block(v: &[f32], q: &mut [i8]) -> (f32, bool) {
    let maxabs = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    if maxabs == 0.0 || !maxabs.is_finite() {
        q.fill(0);
        return (0.0, maxabs == 0.0);
    }
    // A Q4_0 block's largest magnitude is j·d for some j in 1..=8 (8 when
    // the block uses the code -8, as nearly all do). The check is exact
    // f32 equality, so a grid that passes it reproduces every weight.
    for j in (1..=8).rev() {
        let d = maxabs / j as f32;
        if v.iter().all(|&x| (x / d).round() * d == x) {
            for (o, &x) in q.iter_mut().zip(v) {
                *o = (x / d).round() as i8;
            }
            return (d, true);
        }
    }
    let d = maxabs / 127.0;
    for (o, &x) in q.iter_mut().zip(v) {
        *o = (x / d).round().clamp(-127.0, 127.0) as i8;
    }
    (d, false)
}

/// Row counts of the tiles `m` rows are cut into: as few tiles as
/// [`MAX_ROWS`] allows, sizes differing by at most one (15 → 5, 5, 5).
fn row_tiles(m: usize) -> impl Iterator<Item = usize> {
    let tiles = m.div_ceil(MAX_ROWS);
    let base = m.checked_div(tiles).unwrap_or(0);
    let extra = m - base * tiles;
    (0..tiles).map(move |i| base + usize::from(i < extra))
}

/// The output matrix shared by the parallel workers; each writes only the
/// columns of its own groups.
#[derive(Clone, Copy)]
struct Out(*mut f32);
// SAFETY: workers write disjoint column ranges (their groups), see `matmul`.
unsafe impl Send for Out {}
unsafe impl Sync for Out {}

impl Out {
    /// Taking `self` makes closures capture the whole (Sync) wrapper.
    fn ptr(self) -> *mut f32 {
        self.0
    }
}

impl Int8Matrix {
    /// Packs `w`, row-major `[n][k]` (PyTorch's `[out, in]` layout, blocks
    /// running along each row as Q4_0's do).
    pub fn from_rows(w: &[f32], n: usize, k: usize) -> Int8Matrix {
        assert_eq!(w.len(), n * k, "weights are not [n, k]");
        let groups = n.div_ceil(GROUP);
        let blocks = k.div_ceil(BLOCK);
        let mut q = vec![0i8; groups * k * GROUP];
        let mut scales = vec![0f32; groups * blocks * GROUP];
        if k == 0 {
            return Int8Matrix {
                k,
                n,
                blocks,
                q,
                scales,
                exact: true,
            };
        }
        let exact = q
            .par_chunks_mut(k * GROUP)
            .zip(scales.par_chunks_mut(blocks * GROUP))
            .enumerate()
            .map(|(g, (qg, sg))| {
                let mut exact = true;
                let mut codes = [0i8; BLOCK];
                for j in 0..GROUP.min(n - g * GROUP) {
                    let row = &w[(g * GROUP + j) * k..(g * GROUP + j + 1) * k];
                    for (b, vals) in row.chunks(BLOCK).enumerate() {
                        let (d, ex) = quantize_block(vals, &mut codes[..vals.len()]);
                        exact &= ex;
                        sg[b * GROUP + j] = d;
                        for (i, &c) in codes[..vals.len()].iter().enumerate() {
                            qg[(b * BLOCK + i) * GROUP + j] = c;
                        }
                    }
                }
                exact
            })
            .reduce(|| true, |a, b| a && b);
        Int8Matrix {
            k,
            n,
            blocks,
            q,
            scales,
            exact,
        }
    }

    /// Whether every weight is represented exactly (true for weights that
    /// came from Q4_0 blocks).
    pub fn exact(&self) -> bool {
        self.exact
    }

    /// Bytes of codes and scales.
    pub fn bytes(&self) -> usize {
        self.q.len() + 4 * self.scales.len()
    }

    /// The weight `[n][k]` the codes stand for (tests, reference products).
    #[cfg(test)]
    pub fn dequantized(&self) -> Vec<f32> {
        let mut w = vec![0f32; self.n * self.k];
        for c in 0..self.n {
            let (g, j) = (c / GROUP, c % GROUP);
            for i in 0..self.k {
                let code = self.q[(g * self.k + i) * GROUP + j];
                let s = self.scales[(g * self.blocks + i / BLOCK) * GROUP + j];
                w[c * self.k + i] = code as f32 * s;
            }
        }
        w
    }

    /// `y[m, n] = x[m, k] · Wᵀ + bias`, all row-major. Work is split over
    /// rayon's threads by column groups when it is large enough to pay for
    /// the hand-off.
    pub fn matmul(&self, x: &[f32], bias: &[f32], y: &mut [f32]) {
        self.matmul_with(x, bias, y, Kernel::best());
    }

    pub(crate) fn matmul_with(&self, x: &[f32], bias: &[f32], y: &mut [f32], kernel: Kernel) {
        let (k, n) = (self.k, self.n);
        assert_eq!(bias.len(), n, "bias length");
        let m = x.len().checked_div(k).unwrap_or(y.len() / n.max(1));
        assert_eq!(x.len(), m * k, "x is not [m, k]");
        assert_eq!(y.len(), m * n, "y is not [m, n]");
        if m == 0 || n == 0 {
            return;
        }
        let groups = n.div_ceil(GROUP);
        let out = Out(y.as_mut_ptr());
        let threads = rayon::current_num_threads();
        if threads == 1 || m * k * n < PARALLEL_MIN_WORK {
            // SAFETY: x is [m, k] and y [m, n] (asserted above).
            unsafe { self.run_groups(0..groups, x, m, bias, out, kernel) };
            return;
        }
        // A few items per thread so a worker the shared machine
        // preempts does not hold the others up.
        let items = (threads * 2).min(groups);
        let per = groups.div_ceil(items);
        (0..groups.div_ceil(per)).into_par_iter().for_each(|i| {
            let gs = i * per..((i + 1) * per).min(groups);
            // SAFETY: as above; items own disjoint group (column) ranges.
            unsafe { self.run_groups(gs, x, m, bias, out, kernel) };
        });
    }

    /// Computes the columns of groups `gs` for all `m` rows.
    ///
    /// # Safety
    /// `x` is `[m, k]`, `out` points to a `[m, n]` matrix nobody else writes
    /// these columns of.
    unsafe fn run_groups(
        &self,
        gs: std::ops::Range<usize>,
        x: &[f32],
        m: usize,
        bias: &[f32],
        out: Out,
        kernel: Kernel,
    ) {
        let (k, n) = (self.k, self.n);
        let mut tile = [[0f32; GROUP]; MAX_ROWS];
        for g in gs {
            let q = &self.q[g * k * GROUP..(g + 1) * k * GROUP];
            let s = &self.scales[g * self.blocks * GROUP..(g + 1) * self.blocks * GROUP];
            let c0 = g * GROUP;
            let cols = GROUP.min(n - c0);
            let bias = &bias[c0..c0 + cols];
            let mut r0 = 0;
            for rows in row_tiles(m) {
                let xs = &x[r0 * k..(r0 + rows) * k];
                let dst = out.ptr().add(r0 * n + c0);
                if cols == GROUP {
                    // Totals accumulate in place, starting from the bias.
                    for r in 0..rows {
                        std::slice::from_raw_parts_mut(dst.add(r * n), GROUP).copy_from_slice(bias);
                    }
                    kernel.tile(xs, k, q, s, dst, n, rows);
                } else {
                    // The last, partial group: through a full-width tile.
                    for t in &mut tile[..rows] {
                        t.fill(0.0);
                        t[..cols].copy_from_slice(bias);
                    }
                    kernel.tile(xs, k, q, s, tile.as_mut_ptr().cast(), GROUP, rows);
                    for (r, t) in tile[..rows].iter().enumerate() {
                        std::slice::from_raw_parts_mut(dst.add(r * n), cols)
                            .copy_from_slice(&t[..cols]);
                    }
                }
                r0 += rows;
            }
        }
    }
}

/// Which micro-kernel runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kernel {
    Scalar,
    #[cfg(target_arch = "x86_64")]
    Avx2,
}

impl Kernel {
    /// The fastest the CPU supports (checked once by std, then cached).
    pub(crate) fn best() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            return Kernel::Avx2;
        }
        Kernel::Scalar
    }

    /// `t[r][j] += Σ_b s[b][j] · Σ_{i ∈ b} xs[r][i] · q[i][j]` for the
    /// `rows` (≤ 6) rows of `xs` (`[rows, k]`) and one column group, where
    /// `t[r]` is the 16 floats at `t + r·ldt`.
    ///
    /// # Safety
    /// Those `rows` runs of 16 floats are valid for reads and writes and
    /// nobody else touches them meanwhile.
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile(
        self,
        xs: &[f32],
        k: usize,
        q: &[i8],
        s: &[f32],
        t: *mut f32,
        ldt: usize,
        rows: usize,
    ) {
        assert!((1..=MAX_ROWS).contains(&rows) && xs.len() == rows * k);
        assert!(q.len() == k * GROUP && s.len() == k.div_ceil(BLOCK) * GROUP);
        match self {
            Kernel::Scalar => tile_scalar(xs, k, q, s, t, ldt),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `best` checked the CPU has AVX2 and FMA; the slices
            // have the lengths asserted above, which is all the kernel
            // reads, and `t` is the caller's promise.
            Kernel::Avx2 => match rows {
                1 => avx2::tile::<1>(xs, k, q, s, t, ldt),
                2 => avx2::tile::<2>(xs, k, q, s, t, ldt),
                3 => avx2::tile::<3>(xs, k, q, s, t, ldt),
                4 => avx2::tile::<4>(xs, k, q, s, t, ldt),
                5 => avx2::tile::<5>(xs, k, q, s, t, ldt),
                _ => avx2::tile::<6>(xs, k, q, s, t, ldt),
            },
        }
    }
}

/// Portable kernel: the same blocks and summation order as the AVX2 one.
///
/// # Safety
/// As [`Kernel::tile`].
unsafe fn tile_scalar(xs: &[f32], k: usize, q: &[i8], s: &[f32], t: *mut f32, ldt: usize) {
    for (r, xr) in xs.chunks_exact(k.max(1)).enumerate() {
        let t = std::slice::from_raw_parts_mut(t.add(r * ldt), GROUP);
        for (b, xb) in xr.chunks(BLOCK).enumerate() {
            let mut part = [0f32; GROUP];
            for (i, &xv) in xb.iter().enumerate() {
                let qi = &q[(b * BLOCK + i) * GROUP..][..GROUP];
                for (p, &c) in part.iter_mut().zip(qi) {
                    *p += xv * c as f32;
                }
            }
            for ((tj, p), sj) in t.iter_mut().zip(part).zip(&s[b * GROUP..][..GROUP]) {
                *tj += p * sj;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{BLOCK, GROUP};
    use std::arch::x86_64::*;

    /// `R` rows × 16 columns: 2R accumulators of per-block partial sums,
    /// two widened weight registers, one broadcast activation; after each
    /// block the partial sums are scaled into the totals at `t`.
    ///
    /// # Safety
    /// AVX2 and FMA are available; `xs` is `[R, k]`, `q` is `[k][16]`,
    /// `s` is `[ceil(k/32)][16]`, and `R` runs of 16 floats at `t + r·ldt`
    /// are valid for reads and writes.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn tile<const R: usize>(
        xs: &[f32],
        k: usize,
        q: &[i8],
        s: &[f32],
        t: *mut f32,
        ldt: usize,
    ) {
        let x = xs.as_ptr();
        let qp = q.as_ptr();
        let mut k0 = 0;
        let mut b = 0;
        while k0 < k {
            let end = (k0 + BLOCK).min(k);
            let mut acc = [[_mm256_setzero_ps(); 2]; R];
            for i in k0..end {
                let w = qp.add(i * GROUP);
                let w0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(w.cast())));
                let w1 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(w.add(8).cast())));
                for (r, a) in acc.iter_mut().enumerate() {
                    let xv = _mm256_broadcast_ss(&*x.add(r * k + i));
                    a[0] = _mm256_fmadd_ps(xv, w0, a[0]);
                    a[1] = _mm256_fmadd_ps(xv, w1, a[1]);
                }
            }
            let sp = s.as_ptr().add(b * GROUP);
            let s0 = _mm256_loadu_ps(sp);
            let s1 = _mm256_loadu_ps(sp.add(8));
            for (r, a) in acc.iter().enumerate() {
                let t = t.add(r * ldt);
                _mm256_storeu_ps(t, _mm256_fmadd_ps(a[0], s0, _mm256_loadu_ps(t)));
                _mm256_storeu_ps(
                    t.add(8),
                    _mm256_fmadd_ps(a[1], s1, _mm256_loadu_ps(t.add(8))),
                );
            }
            k0 = end;
            b += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::embed::tests::Lcg;

    /// Weights on a Q4_0 grid: per block of 32 along each row, an f16
    /// scale times integers in [-8, 7].
    fn q4_rows(rng: &mut Lcg, n: usize, k: usize) -> Vec<f32> {
        let mut w = Vec::with_capacity(n * k);
        for _ in 0..n {
            for b in 0..k.div_ceil(BLOCK) {
                let d = half::f16::from_f32(0.001 + rng.next().abs() * 0.05).to_f32();
                for _ in b * BLOCK..((b + 1) * BLOCK).min(k) {
                    let code = ((rng.next() + 0.5) * 16.0).floor().clamp(0.0, 15.0) - 8.0;
                    w.push(code * d);
                }
            }
        }
        w
    }

    /// `x · Wᵀ + bias` in f64.
    fn reference(x: &[f32], w: &[f32], bias: &[f32], k: usize) -> Vec<f64> {
        let n = bias.len();
        let m = x.len() / k.max(1);
        let mut y = vec![0f64; m * n];
        for r in 0..m {
            for c in 0..n {
                let dot: f64 = (0..k)
                    .map(|i| x[r * k + i] as f64 * w[c * k + i] as f64)
                    .sum();
                y[r * n + c] = dot + bias[c] as f64;
            }
        }
        y
    }

    fn kernels() -> Vec<Kernel> {
        let mut v = vec![Kernel::Scalar];
        if Kernel::best() != Kernel::Scalar {
            v.push(Kernel::best());
        }
        v
    }

    /// |got − want| within f32 rounding of the terms summed and the result.
    fn check(got: &[f32], want: &[f64], x: &[f32], w: &[f32], k: usize, what: &str) {
        let n = want.len() / (x.len() / k.max(1)).max(1);
        for (idx, (&g, &e)) in got.iter().zip(want).enumerate() {
            let (r, c) = (idx / n.max(1), idx % n.max(1));
            let mag: f64 = (0..k)
                .map(|i| (x[r * k + i] as f64 * w[c * k + i] as f64).abs())
                .sum::<f64>()
                + 1e-3;
            assert!(
                (g as f64 - e).abs() <= 1e-5 * (mag + e.abs()),
                "{what}: y[{r}][{c}] = {g}, want {e} (scale {mag})"
            );
        }
    }

    #[test]
    fn q4_grids_are_recovered_exactly() {
        let mut rng = Lcg(3);
        let (n, k) = (37, 100);
        let w = q4_rows(&mut rng, n, k);
        let m = Int8Matrix::from_rows(&w, n, k);
        assert!(m.exact());
        assert_eq!(m.dequantized(), w);
    }

    #[test]
    fn other_weights_fall_back_to_symmetric_int8() {
        let mut rng = Lcg(5);
        let (n, k) = (20, 70);
        let w = rng.vec(n * k);
        let m = Int8Matrix::from_rows(&w, n, k);
        assert!(!m.exact());
        let back = m.dequantized();
        for (c, (row, brow)) in w.chunks(k).zip(back.chunks(k)).enumerate() {
            for (b, (blk, bb)) in row.chunks(BLOCK).zip(brow.chunks(BLOCK)).enumerate() {
                let maxabs = blk.iter().fold(0f32, |a, x| a.max(x.abs()));
                for (x, y) in blk.iter().zip(bb) {
                    assert!(
                        (x - y).abs() <= maxabs / 127.0 * 0.5 + 1e-7,
                        "row {c} block {b}: {x} vs {y}"
                    );
                }
            }
        }
        // Zero blocks and zero rows are exact.
        let z = Int8Matrix::from_rows(&vec![0.0; 3 * 40], 3, 40);
        assert!(z.exact());
    }

    #[test]
    fn products_match_f64_on_ragged_sizes() {
        let mut rng = Lcg(11);
        for &(n, k) in &[
            (16, 32),
            (8, 32),
            (17, 33),
            (40, 100),
            (1, 1),
            (5, 7),
            (48, 96),
            (33, 65),
        ] {
            let w = q4_rows(&mut rng, n, k);
            let mat = Int8Matrix::from_rows(&w, n, k);
            assert!(mat.exact());
            let bias = rng.vec(n);
            for m in 1..=40 {
                let x = rng.vec(m * k);
                let want = reference(&x, &w, &bias, k);
                for kernel in kernels() {
                    let mut y = vec![f32::NAN; m * n];
                    mat.matmul_with(&x, &bias, &mut y, kernel);
                    check(
                        &y,
                        &want,
                        &x,
                        &w,
                        k,
                        &format!("{kernel:?} m={m} n={n} k={k}"),
                    );
                }
            }
        }
    }

    #[test]
    fn vector_and_scalar_kernels_agree_and_parallel_splits_change_nothing() {
        let mut rng = Lcg(13);
        // Large enough to take the parallel path.
        let (n, k, m) = (200, 384, 20);
        let w = q4_rows(&mut rng, n, k);
        let mat = Int8Matrix::from_rows(&w, n, k);
        let bias = rng.vec(n);
        let x = rng.vec(m * k);
        assert!(m * k * n >= PARALLEL_MIN_WORK);
        let want = reference(&x, &w, &bias, k);
        let mut results = Vec::new();
        for kernel in kernels() {
            let mut y = vec![f32::NAN; m * n];
            mat.matmul_with(&x, &bias, &mut y, kernel);
            check(&y, &want, &x, &w, k, &format!("{kernel:?}"));
            // One thread, no split: bit-identical (each column's sum is
            // computed the same way whoever computes it).
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap();
            let mut y1 = vec![f32::NAN; m * n];
            pool.install(|| mat.matmul_with(&x, &bias, &mut y1, kernel));
            assert_eq!(y, y1);
            results.push(y);
        }
        for r in &results[1..] {
            let worst = r
                .iter()
                .zip(&results[0])
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(worst < 1e-4, "kernels differ by {worst}");
        }
    }

    #[test]
    fn approximate_weights_still_give_close_products() {
        let mut rng = Lcg(17);
        let (n, k, m) = (24, 64, 3);
        let w = rng.vec(n * k);
        let mat = Int8Matrix::from_rows(&w, n, k);
        let bias = rng.vec(n);
        let x = rng.vec(m * k);
        // Exact against the weights the codes stand for…
        let deq = mat.dequantized();
        let mut y = vec![0f32; m * n];
        mat.matmul(&x, &bias, &mut y);
        check(
            &y,
            &reference(&x, &deq, &bias, k),
            &x,
            &deq,
            k,
            "dequantized",
        );
        // …and within int8 rounding of the originals.
        let want = reference(&x, &w, &bias, k);
        for (g, e) in y.iter().zip(&want) {
            assert!((*g as f64 - e).abs() < 0.02, "{g} vs {e}");
        }
    }

    #[test]
    fn row_tiles_cover_every_row_in_balanced_tiles() {
        for m in 0..100 {
            let t: Vec<usize> = row_tiles(m).collect();
            assert_eq!(t.iter().sum::<usize>(), m);
            assert!(t.iter().all(|&r| (1..=MAX_ROWS).contains(&r)));
            if let (Some(a), Some(b)) = (t.iter().max(), t.iter().min()) {
                assert!(a - b <= 1);
            }
        }
    }
}
