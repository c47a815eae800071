//! Activation buffers a thread keeps from one encoder pass to the next
//! while an ingestion runs.
//!
//! A pass over a batch of passages needs tens of megabytes of activations
//! (the hidden states, the attention and feed-forward outputs, and each
//! dense layer's quantised input). The allocator hands blocks that large
//! out as fresh mappings (its threshold is fixed low on purpose, see
//! `tune_allocator` in `main.rs`), so every pass faulted in and zeroed every
//! page again: a tenth of an ingestion's time under `perf`. While a
//! [`KeepBuffers`] lives, each thread therefore keeps a few buffers for its
//! next pass. A serving process must not hold them, though (find-similar
//! and summaries ran its RSS up by 140 MB when every pass kept them), so
//! outside an ingestion a thread frees what it kept at its next pass.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Largest buffer a thread keeps (bytes): a pass of the embedder's whole
/// token budget (2,048 tokens) needs 12.6 MB for the feed-forward
/// activations, its largest buffer.
const KEEP_BYTES: usize = 16 << 20;

/// Buffers kept per thread and element type.
const KEEP_COUNT: usize = 8;

/// Live [`KeepBuffers`] guards.
static KEEPING: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static FLOATS: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
    static BYTES: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// While one lives (an ingestion), threads keep their activation buffers
/// from pass to pass.
pub struct KeepBuffers(());

impl KeepBuffers {
    #[allow(clippy::new_without_default)]
    pub fn new() -> KeepBuffers {
        KEEPING.fetch_add(1, Ordering::SeqCst);
        KeepBuffers(())
    }
}

impl Drop for KeepBuffers {
    fn drop(&mut self) {
        KEEPING.fetch_sub(1, Ordering::SeqCst);
    }
}

fn keeping() -> bool {
    KEEPING.load(Ordering::Relaxed) > 0
}

/// The kept buffer that fits `len` most tightly, else the largest one, else
/// a new one; with `keeping` off whatever was kept is freed first.
fn take<T: Copy>(pool: &mut Vec<Vec<T>>, len: usize, fill: T, keeping: bool) -> Vec<T> {
    if !keeping {
        pool.clear();
    }
    let fits = (0..pool.len())
        .filter(|&i| pool[i].capacity() >= len)
        .min_by_key(|&i| pool[i].capacity());
    let pick = fits.or_else(|| (0..pool.len()).max_by_key(|&i| pool[i].capacity()));
    let mut v = pick.map(|i| pool.swap_remove(i)).unwrap_or_default();
    v.clear();
    v.resize(len, fill);
    v
}

fn give<T>(pool: &mut Vec<Vec<T>>, v: Vec<T>, keeping: bool) {
    if keeping && v.capacity() * std::mem::size_of::<T>() <= KEEP_BYTES && pool.len() < KEEP_COUNT {
        pool.push(v);
    }
}

/// `len` floats set to `fill`, in a buffer this thread kept if it has one.
pub fn floats(len: usize, fill: f32) -> Vec<f32> {
    FLOATS.with(|p| take(&mut p.borrow_mut(), len, fill, keeping()))
}

/// Hands a buffer from [`floats`] back for this thread's next pass.
pub fn keep_floats(v: Vec<f32>) {
    FLOATS.with(|p| give(&mut p.borrow_mut(), v, keeping()));
}

/// `len` bytes set to `fill`, in a buffer this thread kept if it has one.
pub fn bytes(len: usize, fill: u8) -> Vec<u8> {
    BYTES.with(|p| take(&mut p.borrow_mut(), len, fill, keeping()))
}

/// Hands a buffer from [`bytes`] back for this thread's next pass.
pub fn keep_bytes(v: Vec<u8>) {
    BYTES.with(|p| give(&mut p.borrow_mut(), v, keeping()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_buffer_comes_back_filled_and_sized() {
        let mut pool: Vec<Vec<f32>> = Vec::new();
        let mut v = take(&mut pool, 1000, 1.0, true);
        v[3] = 7.0;
        let ptr = v.as_ptr();
        give(&mut pool, v, true);
        // The same allocation, cleared to the new fill.
        let w = take(&mut pool, 800, 0.0, true);
        assert_eq!(w.as_ptr(), ptr);
        assert_eq!(w.len(), 800);
        assert!(w.iter().all(|&x| x == 0.0));
        give(&mut pool, w, true);
        // The tightest fit is chosen.
        let big = take(&mut pool, 5000, 0.0, true);
        let small = take(&mut pool, 100, 0.0, true);
        let (pb, ps) = (big.as_ptr(), small.as_ptr());
        give(&mut pool, big, true);
        give(&mut pool, small, true);
        let (s2, b2) = (
            take(&mut pool, 90, 0.0, true),
            take(&mut pool, 4000, 0.0, true),
        );
        assert_eq!((s2.as_ptr(), b2.as_ptr()), (ps, pb));
    }

    #[test]
    fn nothing_is_kept_outside_an_ingestion_or_past_the_limit() {
        let mut pool: Vec<Vec<u8>> = Vec::new();
        give(&mut pool, vec![0u8; 10], false);
        assert!(pool.is_empty());
        give(&mut pool, vec![0u8; KEEP_BYTES + 1], true);
        assert!(pool.is_empty());
        give(&mut pool, vec![0u8; 10], true);
        assert_eq!(pool.len(), 1);
        // The next pass outside an ingestion frees what was kept.
        let v = take(&mut pool, 5, 1, false);
        assert!(pool.is_empty());
        assert_eq!(v, vec![1u8; 5]);
    }

    #[test]
    fn a_guard_turns_keeping_on_for_its_lifetime() {
        let guard = KeepBuffers::new();
        assert!(keeping());
        drop(guard);
    }
}
