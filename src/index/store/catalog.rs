//! The catalog: what the dense side keeps in memory, loaded at open (the
//! documents and passage rows from SQLite, the vectors shared with the
//! graph) and kept in step by every write. Dense search filters and scans
//! by it, and the graph is rebuilt from its vectors.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::Connection;
use rustc_hash::FxHashMap;

use super::{blob_to_vec, place_at, Inner};
use crate::index::dense::{DenseIndex, GraphVector};
use crate::index::Place;

#[derive(Debug, Clone)]
pub(super) struct DocInfo {
    pub(super) doc_id: String,
    pub(super) place: Place,
    pub(super) year: Option<i32>,
    pub(super) doc_type: Option<String>,
    /// The current division the document's place leads to (see
    /// [`place_key`](super::filter::place_key)).
    pub(super) place_key: Option<i64>,
    pub(super) keys: Vec<i64>,
}

/// What the dense side needs in memory: which points are alive, their
/// document (for filters) and their vectors (for exact scans and rebuilds).
/// Keyed by row ids with Fx hashing: a search asks `passages` about every
/// point it visits when the graph holds deleted ones, and std's SipHash was
/// a tenth of a cached search's CPU there. The keys are our own row ids, so
/// the hash-flooding SipHash guards against cannot come from outside.
pub(super) struct Catalog {
    pub(super) docs: FxHashMap<i64, Arc<DocInfo>>,
    /// passage_row → (doc_row, vector)
    pub(super) passages: FxHashMap<i64, (i64, StoredVector)>,
}

/// A passage's vector: the graph's own copy when the graph was loaded or
/// built with it, or one of its own for passages added since. Sharing the
/// graph's copy means opening a library reads no vector from SQLite and
/// allocates none: at a million passages the blobs are 1.5 GB spread over
/// a table of several GB, and a second in-memory copy as much again.
pub(super) enum StoredVector {
    Graph(GraphVector),
    Owned(Box<[f32]>),
}

impl StoredVector {
    pub(super) fn as_slice(&self) -> &[f32] {
        match self {
            StoredVector::Graph(v) => v.as_slice(),
            StoredVector::Owned(v) => v,
        }
    }
}

impl Catalog {
    pub(super) fn vector(&self, key: i64) -> Option<&[f32]> {
        self.passages.get(&key).map(|(_, v)| v.as_slice())
    }

    /// Points every passage at `graph`'s copy of its vector; false when
    /// the graph lacks one of them. After a rebuild this also lets go of
    /// the previous graph's points and of the catalog's own copies.
    pub(super) fn share_vectors_of(&mut self, graph: &DenseIndex) -> bool {
        let mut shared = 0;
        graph.for_each_vector(|id, v| {
            if let Some((_, stored)) = self.passages.get_mut(&(id as i64)) {
                *stored = StoredVector::Graph(v);
                shared += 1;
            }
        });
        shared == self.passages.len()
    }

    /// The catalog of `docs` and their passages (`(passage_row, doc_row)`,
    /// in reading order) with `graph`'s vectors, or the documents back when
    /// the graph lacks a live passage.
    pub(super) fn from_graph(
        docs: HashMap<i64, DocInfo>,
        rows: &[(i64, i64)],
        graph: &DenseIndex,
    ) -> std::result::Result<Catalog, HashMap<i64, DocInfo>> {
        let mut passages: FxHashMap<i64, (i64, StoredVector)> =
            FxHashMap::with_capacity_and_hasher(rows.len(), Default::default());
        let doc_of: FxHashMap<i64, i64> = rows.iter().copied().collect();
        graph.for_each_vector(|id, v| {
            if let Some(doc_row) = doc_of.get(&(id as i64)) {
                passages.insert(id as i64, (*doc_row, StoredVector::Graph(v)));
            }
        });
        if passages.len() != doc_of.len() {
            return Err(docs);
        }
        Ok(Catalog {
            docs: with_keys(docs, rows, |key| passages.contains_key(&key)),
            passages,
        })
    }

    /// The catalog with every vector read from the store, for a library
    /// whose graph is missing or stale (and is then rebuilt from it).
    /// Passages whose vector has another dimension are left out.
    pub(super) fn from_store(
        conn: &Connection,
        docs: HashMap<i64, DocInfo>,
        rows: &[(i64, i64)],
        dim: usize,
    ) -> rusqlite::Result<Catalog> {
        let doc_of: FxHashMap<i64, i64> = rows.iter().copied().collect();
        let mut passages = FxHashMap::default();
        let mut st = conn.prepare("SELECT passage_row, vector FROM passages")?;
        let mut found = st.query([])?;
        while let Some(r) = found.next()? {
            let key: i64 = r.get(0)?;
            let v = blob_to_vec(r.get_ref(1)?.as_blob()?);
            if let (Some(doc_row), true) = (doc_of.get(&key), v.len() == dim) {
                passages.insert(key, (*doc_row, StoredVector::Owned(v.into_boxed_slice())));
            }
        }
        Ok(Catalog {
            docs: with_keys(docs, rows, |key| passages.contains_key(&key)),
            passages,
        })
    }
}

/// `docs` with their passage keys (in `rows`' order, which is each
/// document's reading order) where `has` holds.
fn with_keys(
    mut docs: HashMap<i64, DocInfo>,
    rows: &[(i64, i64)],
    has: impl Fn(i64) -> bool,
) -> FxHashMap<i64, Arc<DocInfo>> {
    for (key, doc_row) in rows {
        if let (Some(d), true) = (docs.get_mut(doc_row), has(*key)) {
            d.keys.push(*key);
        }
    }
    docs.into_iter().map(|(k, d)| (k, Arc::new(d))).collect()
}

impl Inner {
    /// Every document (for filters) and every passage as
    /// `(passage_row, doc_row)` in reading order. The passages come from
    /// the `passages_by_doc` index alone, without touching the table's rows.
    #[allow(clippy::type_complexity)]
    pub(super) fn load_documents(
        conn: &Connection,
    ) -> rusqlite::Result<(HashMap<i64, DocInfo>, Vec<(i64, i64)>)> {
        let mut st = conn.prepare(
            "SELECT doc_row, doc_id, district, city, province, year, doc_type, place_key
             FROM documents",
        )?;
        let docs = st.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                DocInfo {
                    doc_id: r.get(1)?,
                    place: place_at(r, 2)?,
                    year: r.get(5)?,
                    doc_type: r.get(6)?,
                    place_key: r.get(7)?,
                    keys: Vec::new(),
                },
            ))
        })?;
        let docs: HashMap<i64, DocInfo> = docs.collect::<rusqlite::Result<_>>()?;
        let mut st =
            conn.prepare("SELECT passage_row, doc_row FROM passages ORDER BY doc_row, ordinal")?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<(i64, i64)>>>()?;
        Ok((docs, rows))
    }
}
