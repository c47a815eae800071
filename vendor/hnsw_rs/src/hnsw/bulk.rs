//! A graph as flat arrays, and an `Hnsw` built back from them in bulk.
//!
//! Added in the vendored copy (see PATCHED.md). `HnswIo::load_hnsw`
//! re-derives the graph point by point: many small reads, one hash-map entry
//! per point and one write lock per neighbour link, about 44 s for a million
//! points. Here the caller keeps the arrays wherever it likes (a mapped
//! file, say), checks them with `from_flat`, and gets the same graph in two
//! parallel passes: points, then their neighbour lists.
//!
//! A child module of `hnsw` so that it can fill the private fields of
//! `Point`, `PointWithOrder` and `LayerGenerator` exactly as they were.

use super::*;

/// A graph's structure without its vectors, as exported by
/// [`Hnsw::to_flat`].
///
/// Points are numbered by position: the points whose top layer is 0 in
/// rank order, then those whose top layer is 1, and so on (the order of
/// `points_by_layer`). Every point has one neighbour list per layer in use
/// (`layer_len.len()`), not only up to its own top layer: insertion can
/// give the first point, the lone entry point at the time, lists on layers
/// above its own. `list_len` holds the lengths, point by point and layer by
/// layer, and `neighbours`/`distances` the lists end to end.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlatGraph {
    pub max_nb_connection: usize,
    pub ef_construction: usize,
    pub max_layer: usize,
    pub level_scale: f64,
    /// Number of points whose top layer is `l`, for each `l` up to the
    /// highest layer that holds a point.
    pub layer_len: Vec<u64>,
    pub origin_ids: Vec<u64>,
    pub list_len: Vec<u32>,
    pub neighbours: Vec<u32>,
    pub distances: Vec<f32>,
    /// Position of the entry point; meaningless when there are no points.
    pub entry: u64,
}

/// Borrowed arrays to build an `Hnsw` from: a [`FlatGraph`]'s fields plus
/// the vectors, `dim` values per point in position order.
#[derive(Debug, Clone, Copy)]
pub struct FlatGraphView<'a, T> {
    pub max_nb_connection: usize,
    pub ef_construction: usize,
    pub max_layer: usize,
    pub level_scale: f64,
    pub layer_len: &'a [u64],
    pub origin_ids: &'a [u64],
    pub list_len: &'a [u32],
    pub neighbours: &'a [u32],
    pub distances: &'a [f32],
    pub entry: u64,
    pub dim: usize,
    pub vectors: &'a [T],
}

impl FlatGraph {
    pub fn view<'a, T>(&'a self, dim: usize, vectors: &'a [T]) -> FlatGraphView<'a, T> {
        FlatGraphView {
            max_nb_connection: self.max_nb_connection,
            ef_construction: self.ef_construction,
            max_layer: self.max_layer,
            level_scale: self.level_scale,
            layer_len: &self.layer_len,
            origin_ids: &self.origin_ids,
            list_len: &self.list_len,
            neighbours: &self.neighbours,
            distances: &self.distances,
            entry: self.entry,
            dim,
            vectors,
        }
    }
}

/// Below this many points the parallel passes cost more than they save.
const PAR_MIN_POINTS: usize = 4096;

impl<'b, T: Clone + Send + Sync, D: Distance<T> + Send + Sync> Hnsw<'b, T, D> {
    /// The graph's structure as flat arrays. Must not run beside an
    /// insertion (the caller holds the graph exclusively).
    pub fn to_flat(&self) -> FlatGraph {
        let pi = &self.layer_indexed_points;
        let layers = pi.points_by_layer.read();
        let top = layers
            .iter()
            .rposition(|l| !l.is_empty())
            .map_or(0, |t| t + 1);
        let layer_len: Vec<u64> = layers[..top].iter().map(|l| l.len() as u64).collect();
        let mut first = Vec::with_capacity(top);
        let mut n = 0u64;
        for len in &layer_len {
            first.push(n);
            n += len;
        }
        let position = |p: &Point<T>| first[p.p_id.0 as usize] + p.p_id.1 as u64;
        let mut flat = FlatGraph {
            max_nb_connection: self.max_nb_connection,
            ef_construction: self.ef_construction,
            max_layer: self.max_layer,
            level_scale: pi.layer_g.scale,
            layer_len,
            origin_ids: Vec::with_capacity(n as usize),
            list_len: Vec::new(),
            neighbours: Vec::new(),
            distances: Vec::new(),
            entry: pi.entry_point.read().as_ref().map_or(0, |p| position(p)),
        };
        for layer in &layers[..top] {
            for p in layer {
                flat.origin_ids.push(p.origin_id as u64);
                let lists = p.neighbours.read();
                // No point lives above `top`, so no list there has links.
                debug_assert!(lists.iter().skip(top).all(|v| v.is_empty()));
                for list in lists.iter().take(top) {
                    flat.list_len.push(list.len() as u32);
                    for n in list {
                        flat.neighbours.push(position(&n.point_ref) as u32);
                        flat.distances.push(n.dist_to_ref);
                    }
                }
            }
        }
        flat
    }

    /// Calls `f` with each point's vector, in the positions' order of
    /// [`Hnsw::to_flat`], and its origin id.
    pub fn for_each_flat_vector<E>(
        &self,
        mut f: impl FnMut(u64, &[T]) -> Result<(), E>,
    ) -> Result<(), E> {
        let layers = self.layer_indexed_points.points_by_layer.read();
        for layer in layers.iter() {
            for p in layer {
                f(p.origin_id as u64, p.get_v())?;
            }
        }
        Ok(())
    }

    /// Builds the graph the arrays describe, or says why they describe no
    /// valid graph. Every count, position and distance is checked before
    /// anything is built, so damaged arrays give `Err`, never a panic or
    /// a graph with dangling links.
    pub fn from_flat(flat: FlatGraphView<'_, T>, dist_f: D) -> Result<Self, String> {
        let nb_layer = flat.layer_len.len();
        if flat.max_layer == 0
            || flat.max_layer > NB_LAYER_MAX as usize
            || nb_layer > flat.max_layer
        {
            return Err(format!(
                "{nb_layer} layers used of {}, at most {NB_LAYER_MAX} allowed",
                flat.max_layer
            ));
        }
        if flat.max_nb_connection == 0 || flat.max_nb_connection > 256 {
            return Err(format!("max_nb_connection {}", flat.max_nb_connection));
        }
        if !(flat.level_scale.is_finite() && flat.level_scale > 0.0) {
            return Err(format!("level scale {}", flat.level_scale));
        }
        let n = flat.origin_ids.len();
        // Each point's top layer and the start of its first list.
        let mut level = Vec::with_capacity(n);
        for (l, &len) in flat.layer_len.iter().enumerate() {
            if len > i32::MAX as u64 || level.len() as u64 + len > n as u64 {
                return Err(format!("layer {l} claims {len} points of {n}"));
            }
            level.extend(std::iter::repeat_n(l as u8, len as usize));
        }
        let nb_lists = n * nb_layer;
        if level.len() != n {
            return Err(format!("layers hold {} points, ids {n}", level.len()));
        }
        if n > u32::MAX as usize {
            return Err(format!("{n} points do not fit 32-bit positions"));
        }
        if flat.list_len.len() != nb_lists {
            return Err(format!(
                "{} list lengths, {nb_lists} lists",
                flat.list_len.len()
            ));
        }
        if flat.dim == 0 || n.checked_mul(flat.dim) != Some(flat.vectors.len()) {
            return Err(format!(
                "{} vector values for {n} points of dimension {}",
                flat.vectors.len(),
                flat.dim
            ));
        }
        // Where each list starts among the links.
        let mut link_start = Vec::with_capacity(nb_lists + 1);
        let mut nb_links = 0usize;
        for &len in flat.list_len {
            link_start.push(nb_links);
            nb_links += len as usize;
        }
        link_start.push(nb_links);
        if flat.neighbours.len() != nb_links || flat.distances.len() != nb_links {
            return Err(format!(
                "{} neighbours and {} distances for {nb_links} links",
                flat.neighbours.len(),
                flat.distances.len()
            ));
        }
        if n > 0 {
            let entry = flat.entry as usize;
            if flat.entry >= n as u64 || level[entry] as usize + 1 != nb_layer {
                return Err(format!(
                    "entry point {} is not on the top layer",
                    flat.entry
                ));
            }
        }
        // A link must lead to a point, and a NaN distance would panic when
        // an insertion sorts the list. A link may lead to a point below the
        // list's layer: hnsw_rs's insertion links the first point, entry
        // point while it was alone, on upper layers it never reaches (its
        // lists there are empty, which searches handle).
        let check_point = |i: usize| -> Result<(), String> {
            for l in 0..nb_layer {
                let list = i * nb_layer + l;
                let links = link_start[list]..link_start[list + 1];
                for (&j, &d) in flat.neighbours[links.clone()]
                    .iter()
                    .zip(&flat.distances[links])
                {
                    if j as usize >= n || d.is_nan() {
                        return Err(format!(
                            "point {i} has a bad link on layer {l} (to {j}, distance {d})"
                        ));
                    }
                }
            }
            Ok(())
        };
        if n >= PAR_MIN_POINTS {
            (0..n).into_par_iter().try_for_each(check_point)?;
        } else {
            (0..n).try_for_each(check_point)?;
        }

        let mut layer_first = vec![0usize; nb_layer];
        for l in 1..nb_layer {
            layer_first[l] = layer_first[l - 1] + flat.layer_len[l - 1] as usize;
        }
        // Point numbers are positions, so the layer-0 records are copied
        // from the arrays below without touching the linked points.
        let longest0 = (0..n)
            .map(|i| flat.list_len[i * nb_layer] as usize)
            .max()
            .unwrap_or(0);
        let base = BaseLayer::new(longest0.max(2 * flat.max_nb_connection));
        base.reserve(n);
        let make_point = |i: usize| {
            let l = level[i] as usize;
            let v = &flat.vectors[i * flat.dim..(i + 1) * flat.dim];
            let p_id = PointId(l as u8, (i - layer_first[l]) as i32);
            base.new_point_at(Some(i as u32), v, flat.origin_ids[i] as DataId, p_id)
        };
        let points: Vec<Arc<Point<'b, T>>> = if n >= PAR_MIN_POINTS {
            (0..n).into_par_iter().map(make_point).collect()
        } else {
            (0..n).map(make_point).collect()
        };
        // Every link holds an `Arc` of its target. Cloning one per link
        // writes the target's count: a cache miss per link, tens of millions
        // at 1M points. Instead each point's count is raised by its number
        // of incoming links while it is in cache, and the links' `Arc`s are
        // made from the raw pointer, each taking one of those counts.
        let mut incoming = vec![0u32; n];
        for &j in flat.neighbours {
            incoming[j as usize] += 1;
        }
        let raise = |(p, &k): (&Arc<Point<'b, T>>, &u32)| {
            for _ in 0..k {
                // SAFETY: `p` is alive (held by `points`).
                unsafe { Arc::increment_strong_count(Arc::as_ptr(p)) };
            }
        };
        if n >= PAR_MIN_POINTS {
            points.par_iter().zip(&incoming).for_each(raise);
        } else {
            points.iter().zip(&incoming).for_each(raise);
        }
        drop(incoming);
        // Addresses as integers so the closure below can be shared.
        let raw: Vec<usize> = points.iter().map(|p| Arc::as_ptr(p) as usize).collect();
        let link_point = |(i, p): (usize, &Arc<Point<'b, T>>)| {
            let mut lists = p.neighbours.write();
            if nb_layer > 0 {
                let links = link_start[i * nb_layer]..link_start[i * nb_layer + 1];
                base.set_links_from(
                    i as u32,
                    links.len(),
                    flat.neighbours[links].iter().copied(),
                );
            }
            for l in 0..nb_layer {
                let list = i * nb_layer + l;
                let links = link_start[list]..link_start[list + 1];
                if links.is_empty() {
                    continue;
                }
                lists[l] = flat.neighbours[links.clone()]
                    .iter()
                    .zip(&flat.distances[links])
                    .map(|(&j, &d)| {
                        // SAFETY: one of the counts raised above for this
                        // target, for this one link (each link is made once).
                        let point_ref =
                            unsafe { Arc::from_raw(raw[j as usize] as *const Point<'b, T>) };
                        Arc::new(PointWithOrder {
                            point_ref,
                            dist_to_ref: d,
                        })
                    })
                    .collect();
            }
        };
        if n >= PAR_MIN_POINTS {
            points.par_iter().enumerate().for_each(link_point);
        } else {
            points.iter().enumerate().for_each(link_point);
        }

        let entry = (n > 0).then(|| Arc::clone(&points[flat.entry as usize]));
        let mut points_by_layer: Vec<Vec<Arc<Point<'b, T>>>> = Vec::with_capacity(flat.max_layer);
        let mut rest = points.into_iter();
        for l in 0..flat.max_layer {
            let len = flat.layer_len.get(l).map_or(0, |&len| len as usize);
            points_by_layer.push(rest.by_ref().take(len).collect());
        }
        let mut layer_g = LayerGenerator::new(flat.max_nb_connection, flat.max_layer);
        layer_g.scale = flat.level_scale;
        let layer_indexed_points = PointIndexation {
            max_nb_connection: flat.max_nb_connection,
            max_layer: flat.max_layer,
            points_by_layer: Arc::new(RwLock::new(points_by_layer)),
            layer_g,
            nb_point: Arc::new(RwLock::new(n)),
            entry_point: Arc::new(RwLock::new(entry)),
            base,
        };
        // The flags a graph built by `Hnsw::new` has (`HnswIo` sets
        // `extend_candidates`, which changes later insertions).
        Ok(Hnsw {
            max_nb_connection: flat.max_nb_connection,
            ef_construction: flat.ef_construction,
            extend_candidates: false,
            keep_pruned: false,
            max_layer: flat.max_layer,
            layer_indexed_points,
            data_dimension: if n > 0 { flat.dim } else { 0 },
            dist_f,
            searching: false,
            datamap_opt: false,
        })
    }
}
