//! The base layer as a table, and the layer-0 search that walks it.
//!
//! Added in the vendored copy (see PATCHED.md). hnsw_rs keeps each point
//! in an `Arc<Point>` whose lists, behind an `Arc<RwLock>`, hold one
//! `Arc<PointWithOrder>` per link: expanding a candidate on layer 0 took a
//! lock and four dependent loads before its first neighbour id, then two
//! more (the link, the point) before each neighbour's vector. hnswlib does
//! the same search with one load per neighbour (its id, in one block with
//! the candidate's vector) plus a visited flag in a flat array. On 100k
//! clustered 384-d vectors both compute the same number of distances at
//! every ef (724 against 741 at ef 48, counted by replaying hnswlib's search
//! on its own saved graph), yet hnsw_rs took 1.57× its time.
//!
//! So every point also gets a number, in the order points are created, and
//! the `BaseLayer` keeps by number: the point's vector and `Point` addresses,
//! and a copy of its layer-0 list as numbers. The `Arc` lists stay the
//! graph (insertion, pruning, dumps); each write of a layer-0 list, under
//! that list's write lock, is copied here. A search then reads a
//! candidate's list in one record without a lock, marks visits in a
//! per-search array of epochs, and goes from a neighbour's number straight
//! to its vector.
//!
//! Records are read without taking the point's lock, under a sequence
//! counter (a seqlock): a search running beside an insertion sees each list
//! as it was before or after a write, never half of it, as with the lock.

use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicUsize, Ordering as Mem, fence};

use std::sync::OnceLock;

use super::*;

/// The first chunk holds 2^10 points and chunk k holds 2^(10 + k): tables
/// grow without moving what readers may be looking at.
const FIRST_CHUNK_BITS: u32 = 10;
/// Enough chunks for every `u32` number.
const NB_CHUNKS: usize = 23;

/// A number no point has: points not (yet) in the table.
pub(crate) const NO_NUM: u32 = u32::MAX;

#[inline(always)]
fn locate(i: usize) -> (usize, usize) {
    let j = (i >> FIRST_CHUNK_BITS) + 1;
    let k = (usize::BITS - 1 - j.leading_zeros()) as usize;
    (k, i - (((1usize << k) - 1) << FIRST_CHUNK_BITS))
}

#[inline(always)]
fn chunk_len(k: usize) -> usize {
    1usize << (FIRST_CHUNK_BITS as usize + k)
}

/// From this size on, chunks are mapped with transparent huge pages
/// advised (the system's default here is `madvise`). A search reads
/// vectors all over the table: with 4 KiB pages nearly every one costs a
/// TLB miss, a two-level page walk inside a virtual machine.
const HUGE_PAGE_MIN: usize = 2 << 20;

/// Zeroed memory for one chunk of a table.
pub(crate) struct Region {
    ptr: std::ptr::NonNull<u8>,
    layout: std::alloc::Layout,
    /// The mapping, when the memory is not the allocator's.
    map: Option<mmap_rs::MmapMut>,
}

// SAFETY: the region is plain memory; what is stored in it is shared only
// through atomics or written once before it is shared (see `BaseLayer`).
unsafe impl Send for Region {}
unsafe impl Sync for Region {}

impl Region {
    fn zeroed(layout: std::alloc::Layout) -> Region {
        if layout.size() >= HUGE_PAGE_MIN && layout.align() <= 4096 {
            let mapped = mmap_rs::MmapOptions::new(layout.size())
                .map(|o| o.with_flags(mmap_rs::MmapFlags::TRANSPARENT_HUGE_PAGES))
                .and_then(|o| o.map_mut());
            if let Ok(mut m) = mapped {
                if let Some(ptr) = std::ptr::NonNull::new(m.as_mut_ptr()) {
                    return Region {
                        ptr,
                        layout,
                        map: Some(m),
                    };
                }
            }
        }
        // SAFETY: every table's chunks have a non-zero size.
        let p = unsafe { std::alloc::alloc_zeroed(layout) };
        let ptr =
            std::ptr::NonNull::new(p).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        Region {
            ptr,
            layout,
            map: None,
        }
    }

    #[inline(always)]
    fn ptr<E>(&self) -> *mut E {
        self.ptr.as_ptr() as *mut E
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        if self.map.is_none() {
            // SAFETY: allocated with this layout in `zeroed`.
            unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) }
        }
    }
}

/// A point's vector in the base layer's vector table. Points hold an
/// `Arc` of their chunk, so a point kept past its graph keeps its vector.
pub(crate) struct TableVector<T> {
    chunk: Arc<Region>,
    ptr: *const T,
    len: usize,
}

// SAFETY: a shared view of values in a chunk it keeps alive.
unsafe impl<T: Send + Sync> Send for TableVector<T> {}
unsafe impl<T: Send + Sync> Sync for TableVector<T> {}

impl<T> Clone for TableVector<T> {
    fn clone(&self) -> Self {
        TableVector {
            chunk: Arc::clone(&self.chunk),
            ptr: self.ptr,
            len: self.len,
        }
    }
}

impl<T> std::fmt::Debug for TableVector<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TableVector({:p}, {})", self.ptr, self.len)
    }
}

impl<T> TableVector<T> {
    #[inline(always)]
    pub(crate) fn get(&self) -> &[T] {
        // SAFETY: `len` values written at `ptr` before this was made, in a
        // chunk `self.chunk` keeps alive.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// Where a point's vector and the point itself are, by number.
struct Entry<'b, T: Clone + Send + Sync> {
    vector: AtomicPtr<T>,
    point: AtomicPtr<Point<'b, T>>,
}

/// A search's visited marks: `marks[num] == epoch` means visited. A new
/// search bumps the epoch instead of clearing the array.
pub(crate) struct Visited {
    marks: Vec<u16>,
    epoch: u16,
}

impl Visited {
    fn start(&mut self, nb: usize) {
        if self.marks.len() < nb {
            self.marks.resize(nb, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.marks.fill(0);
            self.epoch = 1;
        }
    }

    #[inline(always)]
    fn mark_ptr(&self, num: u32) -> *const u16 {
        self.marks.as_ptr().wrapping_add(num as usize)
    }

    /// True the first time `num` is seen in this search.
    #[inline(always)]
    fn insert(&mut self, num: u32) -> bool {
        let i = num as usize;
        if i >= self.marks.len() {
            // A point created since the search started.
            self.marks.resize((i + 1).max(2 * self.marks.len()), 0);
        }
        let m = &mut self.marks[i];
        if *m == self.epoch {
            false
        } else {
            *m = self.epoch;
            true
        }
    }
}

/// The layer-0 lists and vectors of all points, by number (see the module
/// documentation).
pub(crate) struct BaseLayer<'b, T: Clone + Send + Sync> {
    /// `Entry`s, chunk by chunk.
    entries: [OnceLock<Region>; NB_CHUNKS],
    /// Per point `stride` `AtomicU32`s: sequence counter, list length, links.
    records: [OnceLock<Region>; NB_CHUNKS],
    /// The vectors of points made by `new_point_at`, `dim` values each.
    vectors: [OnceLock<Arc<Region>>; NB_CHUNKS],
    /// Links a record holds.
    cap: usize,
    stride: usize,
    /// Numbers handed out.
    len: AtomicUsize,
    /// Dimension of every vector; 0 until the first point.
    dim: AtomicUsize,
    /// False once a list did not fit or a vector had another dimension:
    /// searches then take `search_layer`'s walk over the `Arc` lists.
    usable: AtomicBool,
    /// Off: searches take `search_layer` (to compare both walks).
    on: AtomicBool,
    visited: Mutex<Vec<Visited>>,
    _points: std::marker::PhantomData<Entry<'b, T>>,
}

// SAFETY: the raw pointers are to chunks this table owns and to points
// and vectors the indexation keeps alive; every shared access is atomic.
unsafe impl<T: Clone + Send + Sync> Send for BaseLayer<'_, T> {}
unsafe impl<T: Clone + Send + Sync> Sync for BaseLayer<'_, T> {}

impl<'b, T: Clone + Send + Sync> BaseLayer<'b, T> {
    /// A table whose records hold up to `cap` links (2·M on layer 0).
    pub(crate) fn new(cap: usize) -> Self {
        BaseLayer {
            entries: std::array::from_fn(|_| OnceLock::new()),
            records: std::array::from_fn(|_| OnceLock::new()),
            vectors: std::array::from_fn(|_| OnceLock::new()),
            cap,
            stride: cap + 2,
            len: AtomicUsize::new(0),
            dim: AtomicUsize::new(0),
            usable: AtomicBool::new(true),
            on: AtomicBool::new(true),
            visited: Mutex::new(Vec::new()),
            _points: std::marker::PhantomData,
        }
    }

    pub(crate) fn usable(&self) -> bool {
        self.usable.load(Mem::Relaxed) && self.on.load(Mem::Relaxed)
    }

    fn disable(&self) {
        self.usable.store(false, Mem::Relaxed);
    }

    /// Numbers handed out so far.
    pub(crate) fn len(&self) -> usize {
        self.len.load(Mem::Acquire)
    }

    /// Allocates the chunks holding number `i` if they are not there yet.
    fn ensure(&self, i: usize) {
        let (k, _) = locate(i);
        self.entries[k].get_or_init(|| {
            Region::zeroed(std::alloc::Layout::array::<Entry<'b, T>>(chunk_len(k)).unwrap())
        });
        self.records[k].get_or_init(|| {
            Region::zeroed(
                std::alloc::Layout::array::<AtomicU32>(chunk_len(k) * self.stride).unwrap(),
            )
        });
    }

    #[inline(always)]
    fn entry(&self, num: u32) -> Option<&Entry<'b, T>> {
        let (k, off) = locate(num as usize);
        let c = self.entries.get(k)?.get()?;
        // SAFETY: zeroed memory is a valid `Entry` (null addresses), the
        // chunk lives as long as the table, and `off` is inside it.
        Some(unsafe { &*c.ptr::<Entry<'b, T>>().add(off) })
    }

    #[inline(always)]
    fn record(&self, num: u32) -> Option<&[AtomicU32]> {
        let (k, off) = locate(num as usize);
        let c = self.records.get(k)?.get()?;
        // SAFETY: as in `entry`; a record is `stride` words.
        Some(unsafe {
            std::slice::from_raw_parts(c.ptr::<AtomicU32>().add(off * self.stride), self.stride)
        })
    }

    /// Hands out the numbers `0..n` at once, for `register_at`.
    pub(crate) fn reserve(&self, n: usize) {
        debug_assert_eq!(self.len(), 0);
        if n > NO_NUM as usize {
            self.disable();
            return;
        }
        if n > 0 {
            for k in 0..=locate(n - 1).0 {
                self.ensure(((1usize << k) - 1) << FIRST_CHUNK_BITS);
            }
        }
        self.len.store(n, Mem::Release);
    }

    /// Chunk `k` of the vector table, for vectors of `dim` values.
    fn vec_chunk(&self, k: usize, dim: usize) -> &Arc<Region> {
        self.vectors[k].get_or_init(|| {
            Arc::new(Region::zeroed(
                std::alloc::Layout::array::<T>(chunk_len(k) * dim).unwrap(),
            ))
        })
    }

    /// A new point with number `i` (handed out by `reserve`, or taken
    /// here when `None`), its vector stored beside those of the numbers
    /// around it. Vectors allocated one by one during a build end up
    /// scattered between the lists allocated with them: on 100k 384-d
    /// vectors, the same graph answered at ef 48 in 0.26–0.28 ms as built
    /// and 0.19 ms once reloaded with its vectors allocated in a row.
    pub(crate) fn new_point_at(
        &self,
        i: Option<u32>,
        data: &[T],
        origin_id: DataId,
        p_id: PointId,
    ) -> Arc<Point<'b, T>> {
        let i = match i {
            Some(i) => i as usize,
            None => {
                let i = self.len.fetch_add(1, Mem::AcqRel);
                if i >= NO_NUM as usize {
                    self.disable();
                    return Arc::new(Point::new(data.to_vec(), origin_id, p_id));
                }
                self.ensure(i);
                i
            }
        };
        let dim = match self
            .dim
            .compare_exchange(0, data.len(), Mem::AcqRel, Mem::Acquire)
        {
            Ok(_) => data.len(),
            Err(d) => d,
        };
        let point = if data.len() == dim && dim > 0 && !std::mem::needs_drop::<T>() {
            let (k, off) = locate(i);
            let chunk = self.vec_chunk(k, dim);
            // SAFETY: `off * dim + dim <= chunk_len(k) * dim`, and number `i`
            // is this caller's alone, so nothing else writes or reads here.
            let dst = unsafe { chunk.ptr::<T>().add(off * dim) };
            for (j, x) in data.iter().enumerate() {
                // SAFETY: as above; `T` needs no drop, so overwriting
                // uninitialised memory leaks nothing.
                unsafe { dst.add(j).write(x.clone()) };
            }
            let v = TableVector {
                chunk: Arc::clone(chunk),
                ptr: dst,
                len: dim,
            };
            Point::new_in_table(v, origin_id, p_id)
        } else {
            Point::new(data.to_vec(), origin_id, p_id)
        };
        let point = Arc::new(point);
        self.register_at(i as u32, &point);
        point
    }

    /// Gives `point` the next number. `point` must be where it stays (in
    /// its `Arc`) and be kept alive by the indexation as long as the table.
    pub(crate) fn register(&self, point: &Point<'b, T>) {
        let i = self.len.fetch_add(1, Mem::AcqRel);
        if i >= NO_NUM as usize {
            self.disable();
            return;
        }
        self.ensure(i);
        self.register_at(i as u32, point);
    }

    /// Gives `point` the number `i`, handed out by `reserve`.
    pub(crate) fn register_at(&self, i: u32, point: &Point<'b, T>) {
        let v = point.get_v();
        let dim_ok = match self
            .dim
            .compare_exchange(0, v.len(), Mem::AcqRel, Mem::Acquire)
        {
            Ok(_) => true,
            Err(d) => d == v.len(),
        };
        let Some(e) = self.entry(i) else {
            self.disable();
            return;
        };
        if dim_ok && !v.is_empty() {
            e.vector.store(v.as_ptr() as *mut T, Mem::Release);
        } else {
            // A search reads `dim` values from every vector: leave this
            // one unreachable from the table and stop using it.
            self.disable();
        }
        e.point
            .store(point as *const Point<'b, T> as *mut _, Mem::Release);
        point.num.store(i, Mem::Release);
    }

    /// Copies a layer-0 list into `owner`'s record. The caller holds the
    /// owner's list write lock (one writer per record).
    pub(crate) fn set_links(&self, owner: &Point<'b, T>, list: &[Arc<PointWithOrder<'b, T>>]) {
        self.set_links_from(
            owner.num.load(Mem::Acquire),
            list.len(),
            list.iter().map(|n| n.point_ref.num.load(Mem::Acquire)),
        );
    }

    pub(crate) fn set_links_from(&self, num: u32, len: usize, links: impl Iterator<Item = u32>) {
        if num == NO_NUM || len > self.cap {
            self.disable();
            return;
        }
        let Some(rec) = self.record(num) else {
            self.disable();
            return;
        };
        let seq = rec[0].load(Mem::Relaxed);
        rec[0].store(seq.wrapping_add(1), Mem::Relaxed);
        fence(Mem::Release);
        rec[1].store(len as u32, Mem::Relaxed);
        for (slot, l) in rec[2..2 + len].iter().zip(links) {
            if l == NO_NUM {
                self.disable();
            }
            slot.store(l, Mem::Relaxed);
        }
        rec[0].store(seq.wrapping_add(2), Mem::Release);
    }

    /// `num`'s layer-0 list as one consistent copy into `out`.
    #[inline(always)]
    fn read_links(&self, num: u32, out: &mut Vec<u32>) {
        out.clear();
        let Some(rec) = self.record(num) else {
            return;
        };
        loop {
            let s1 = rec[0].load(Mem::Acquire);
            if s1 & 1 == 0 {
                let len = (rec[1].load(Mem::Relaxed) as usize).min(self.cap);
                out.extend(rec[2..2 + len].iter().map(|l| l.load(Mem::Relaxed)));
                fence(Mem::Acquire);
                if rec[0].load(Mem::Relaxed) == s1 {
                    return;
                }
                out.clear();
            }
            std::hint::spin_loop();
        }
    }

    #[inline(always)]
    fn prefetch_record(&self, num: u32) {
        if let Some(rec) = self.record(num) {
            prefetch_lines(rec.as_ptr() as *const u8, std::mem::size_of_val(rec));
        }
    }

    #[inline(always)]
    fn prefetch_entry(&self, num: u32) {
        if let Some(e) = self.entry(num) {
            prefetch(e as *const Entry<'b, T> as *const u8);
        }
    }

    /// The point with number `num`. `num` came from a record or a point.
    #[inline(always)]
    pub(crate) fn point(&self, num: u32) -> &Point<'b, T> {
        let p = self
            .entry(num)
            .map_or(std::ptr::null_mut(), |e| e.point.load(Mem::Acquire));
        assert!(!p.is_null(), "point {num} not in the base layer");
        // SAFETY: registered points live as long as the indexation.
        unsafe { &*p }
    }

    fn take_visited(&self) -> Visited {
        self.visited.lock().pop().unwrap_or(Visited {
            marks: Vec::new(),
            epoch: 0,
        })
    }

    fn give_visited(&self, v: Visited) {
        self.visited.lock().push(v);
    }
}

/// A candidate of the layer-0 search: distance and number, ordered by
/// distance alone (as `ByDist`, so the heaps behave as `search_layer`'s).
#[derive(Clone, Copy)]
pub(crate) struct Near(pub(crate) f32, pub(crate) u32);

impl PartialEq for Near {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Near {}

impl PartialOrd for Near {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Near {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

impl<'b, T: Clone + Send + Sync, D: Distance<T> + Send + Sync> Hnsw<'b, T, D> {
    /// Turns the layer-0 search through the point table on or off (on by
    /// default; off, searches and insertions walk the `Arc` lists as
    /// upstream does). The table is kept current either way. For tests and
    /// measurements that compare both walks on one graph.
    #[doc(hidden)]
    pub fn set_base_layer_search(&self, on: bool) {
        self.layer_indexed_points.base.on.store(on, Mem::Relaxed);
    }

    /// `search_layer` on layer 0 through the `BaseLayer`: the same
    /// candidates in the same order, so the same results. `None` when the
    /// table cannot serve (see `BaseLayer::usable`); the caller then takes
    /// `search_layer`.
    pub(crate) fn search_base(
        &self,
        point: &[T],
        entry_point: &Point<'b, T>,
        ef: usize,
        filter: Option<&dyn FilterT>,
    ) -> Option<Vec<Near>> {
        let base = &self.layer_indexed_points.base;
        let entry_num = entry_point.num.load(Mem::Acquire);
        if !base.usable() || entry_num == NO_NUM || entry_point.p_id.1 < 0 {
            return None;
        }
        let dim = base.dim.load(Mem::Acquire);
        let mut visited = base.take_visited();
        visited.start(base.len());
        visited.insert(entry_num);
        let vector_of = |num: u32| -> Option<&[T]> {
            let v = base.entry(num)?.vector.load(Mem::Acquire);
            // SAFETY: a stored vector has `dim` values and lives as long
            // as its point.
            (!v.is_null()).then(|| unsafe { std::slice::from_raw_parts(v as *const T, dim) })
        };
        let origin = |num: u32| base.point(num).origin_id;
        let accept = |n: &Near| filter.is_none_or(|f| f.hnsw_filter(&origin(n.1)));

        let d0 = self.dist_f.eval(point, entry_point.data.get_v());
        let mut candidates = BinaryHeap::<std::cmp::Reverse<Near>>::with_capacity(ef.max(2));
        let mut results = BinaryHeap::<Near>::with_capacity(ef.max(2) + 1);
        candidates.push(std::cmp::Reverse(Near(d0, entry_num)));
        results.push(Near(d0, entry_num));
        let mut links: Vec<u32> = Vec::with_capacity(base.cap);
        let mut fresh: Vec<(u32, *const T)> = Vec::with_capacity(base.cap);
        let vec_bytes = dim * std::mem::size_of::<T>();
        while let Some(std::cmp::Reverse(c)) = candidates.pop() {
            let f_dist = results.peek().map(|f| f.0).unwrap_or(f32::INFINITY);
            if c.0 > f_dist {
                if filter.is_none() {
                    break;
                } else if results.len() >= ef {
                    results.retain(|p| accept(p));
                }
            }
            // The next candidate's list is likely read next.
            if let Some(std::cmp::Reverse(n)) = candidates.peek() {
                base.prefetch_record(n.1);
            }
            base.read_links(c.1, &mut links);
            for &l in &links {
                prefetch(visited.mark_ptr(l) as *const u8);
                base.prefetch_entry(l);
            }
            fresh.clear();
            for &l in &links {
                if visited.insert(l) {
                    if let Some(v) = vector_of(l) {
                        prefetch_lines(v.as_ptr() as *const u8, vec_bytes);
                        fresh.push((l, v.as_ptr()));
                    }
                }
            }
            for &(num, v) in &fresh {
                // SAFETY: as in `vector_of`.
                let v = unsafe { std::slice::from_raw_parts(v, dim) };
                let e_dist = self.dist_f.eval(point, v);
                let f_dist = results.peek().map(|f| f.0).unwrap_or(f32::INFINITY);
                if e_dist < f_dist || results.len() < ef {
                    let e = Near(e_dist, num);
                    candidates.push(std::cmp::Reverse(e));
                    if accept(&e) {
                        if let Some(f) = filter {
                            if results.len() == 1
                                && !results
                                    .peek()
                                    .is_some_and(|only| f.hnsw_filter(&origin(only.1)))
                            {
                                results.clear();
                            }
                        }
                        results.push(e);
                    }
                    if results.len() > ef {
                        results.pop();
                    }
                }
            }
        }
        base.give_visited(visited);
        Some(results.into_vec())
    }
}

/// `Near` ordered as `PointWithOrder` orders (`partial_cmp`), so that
/// sorting the results gives `search_filter`'s order, ties included.
struct AsPointWithOrder(Near);

impl PartialEq for AsPointWithOrder {
    fn eq(&self, other: &Self) -> bool {
        self.0.0 == other.0.0
    }
}

impl Eq for AsPointWithOrder {}

impl PartialOrd for AsPointWithOrder {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for AsPointWithOrder {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0
            .0
            .partial_cmp(&other.0.0)
            .expect("got a NaN in a distance")
    }
}

impl<'b, T: Clone + Send + Sync, D: Distance<T> + Send + Sync> Hnsw<'b, T, D> {
    /// The first `k` of `search_base`'s results as `search_filter` returns
    /// them (nearest first, filtered again), without making an `Arc` per
    /// result as `search_layer`'s heap does.
    pub(crate) fn base_neighbours(
        &self,
        found: Vec<Near>,
        k: usize,
        filter: Option<&dyn FilterT>,
    ) -> Vec<Neighbour> {
        let base = &self.layer_indexed_points.base;
        // Pushed one by one as `search_layer` builds its heap: a heap made
        // at once could order equal distances differently.
        let mut heap = BinaryHeap::with_capacity(found.len());
        for n in found {
            heap.push(AsPointWithOrder(n));
        }
        let sorted = heap.into_sorted_vec();
        sorted
            .iter()
            .take(k)
            .filter_map(|n| {
                let p = base.point(n.0.1);
                filter
                    .is_none_or(|f| f.hnsw_filter(&p.origin_id))
                    .then(|| Neighbour::new(p.origin_id, n.0.0, p.p_id))
            })
            .collect()
    }
}
