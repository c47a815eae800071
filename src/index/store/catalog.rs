//! The catalog: what the dense side keeps in memory, loaded from SQLite at
//! open and kept in step by every write. Dense search filters and scans by
//! it, and the graph is rebuilt from its vectors.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::Connection;
use rustc_hash::FxHashMap;

use super::{blob_to_vec, Inner};
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
#[derive(Default)]
pub(super) struct Catalog {
    pub(super) docs: FxHashMap<i64, Arc<DocInfo>>,
    /// passage_row → (doc_row, vector)
    pub(super) passages: FxHashMap<i64, (i64, Box<[f32]>)>,
}

impl Inner {
    pub(super) fn load_catalog(conn: &Connection, dim: usize) -> rusqlite::Result<Catalog> {
        let mut cat = Catalog::default();
        let mut st = conn.prepare(
            "SELECT doc_row, doc_id, district, city, province, year, doc_type, place_key
             FROM documents",
        )?;
        let docs = st.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                DocInfo {
                    doc_id: r.get(1)?,
                    place: Place {
                        district: r.get(2)?,
                        city: r.get(3)?,
                        province: r.get(4)?,
                    },
                    year: r.get(5)?,
                    doc_type: r.get(6)?,
                    place_key: r.get(7)?,
                    keys: Vec::new(),
                },
            ))
        })?;
        let mut docs: HashMap<i64, DocInfo> = docs.collect::<rusqlite::Result<_>>()?;
        let mut st = conn.prepare(
            "SELECT passage_row, doc_row, vector FROM passages ORDER BY doc_row, ordinal",
        )?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let key: i64 = r.get(0)?;
            let doc_row: i64 = r.get(1)?;
            let blob: Vec<u8> = r.get(2)?;
            let v = blob_to_vec(&blob);
            if v.len() != dim {
                continue;
            }
            if let Some(d) = docs.get_mut(&doc_row) {
                d.keys.push(key);
            }
            cat.passages.insert(key, (doc_row, v.into_boxed_slice()));
        }
        cat.docs = docs.into_iter().map(|(k, d)| (k, Arc::new(d))).collect();
        Ok(cat)
    }
}
