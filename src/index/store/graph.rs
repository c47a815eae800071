//! The dense graph's persistence: one dump directory per store generation
//! (`hnsw-<generation>/`, written to a temporary directory and renamed),
//! trusted at open only when it is the store's generation, else rebuilt from
//! the stored vectors (never by re-embedding); older dumps are removed.

use std::path::Path;

use rusqlite::Connection;

use super::catalog::Catalog;
use super::{poisoned, Inner};
use crate::index::dense::{DenseIndex, DenseParams, DumpFormat};
use crate::index::{IndexError, Result};

/// Rebuild the dense graph when deleted points exceed this share of it.
const TOMBSTONE_REBUILD_SHARE: f64 = 0.2;

pub(super) fn dump_dir_name(generation: i64) -> String {
    format!("hnsw-{generation}")
}

const DUMP_BASENAME: &str = "dense";

impl Inner {
    /// The catalog and the graph for store generation `generation`: the
    /// dumped graph when it can be that generation's, its vectors shared
    /// with the catalog; else the catalog read from the store and a graph
    /// built from it. With the generation of the graph on disk when it needs
    /// no re-dump.
    pub(super) fn load_graph(
        conn: &Connection,
        db_path: &Path,
        data_dir: &Path,
        generation: i64,
        dim: usize,
        params: DenseParams,
    ) -> Result<(Catalog, DenseIndex, Option<i64>)> {
        let err = |e| IndexError::Sqlite {
            path: db_path.to_path_buf(),
            source: e,
        };
        let (docs, rows) = Self::load_documents(conn).map_err(err)?;
        let dump_dir = data_dir.join(dump_dir_name(generation));
        // A graph with fewer points than live passages cannot be this
        // generation's; one with more only holds tombstones. The vectors
        // of a graph that holds every live passage are the stored ones.
        let loaded = DenseIndex::load(&dump_dir, DUMP_BASENAME, dim, params)
            .ok()
            .filter(|d| d.len() >= rows.len());
        let docs = match loaded {
            Some(dense) => match Catalog::from_graph(docs, &rows, &dense) {
                Ok(catalog) => {
                    // A graph in hnsw_rs's own format is re-dumped (by the
                    // flush that ends `open`) in the flat one, which reloads
                    // many times faster.
                    let flat =
                        DenseIndex::dump_format(&dump_dir, DUMP_BASENAME) == Some(DumpFormat::Flat);
                    return Ok((catalog, dense, flat.then_some(generation)));
                }
                Err(docs) => docs,
            },
            None => docs,
        };
        let mut catalog = Catalog::from_store(conn, docs, &rows, dim).map_err(err)?;
        if !catalog.passages.is_empty() {
            tracing::info!(
                "rebuilding the dense index from {} stored vectors",
                catalog.passages.len()
            );
        }
        let dense = Self::build_dense(&mut catalog, dim, params)?;
        Ok((catalog, dense, None))
    }

    /// A graph of the catalog's passages, whose vectors the catalog then
    /// shares.
    fn build_dense(catalog: &mut Catalog, dim: usize, params: DenseParams) -> Result<DenseIndex> {
        let dense = DenseIndex::new(dim, params, catalog.passages.len());
        let mut items: Vec<(&[f32], usize)> = catalog
            .passages
            .iter()
            .map(|(k, (_, v))| (v.as_slice(), *k as usize))
            .collect();
        items.sort_by_key(|(_, k)| *k);
        dense.insert_batch(&items)?;
        if !catalog.share_vectors_of(&dense) {
            return Err(IndexError::Dense(
                "a rebuilt graph lacks some of the passages it was built from".into(),
            ));
        }
        Ok(dense)
    }

    pub fn flush(&self) -> Result<()> {
        let mut st = self.state.write().map_err(|_| poisoned())?;
        let live = st.catalog.passages.len();
        let tombstones = st.dense.len().saturating_sub(live);
        if tombstones > 0 && tombstones as f64 > TOMBSTONE_REBUILD_SHARE * st.dense.len() as f64 {
            let st = &mut *st;
            st.dense = Self::build_dense(&mut st.catalog, self.dim, self.params)?;
            st.dumped_generation = None;
        }
        if st.dumped_generation == Some(st.generation) {
            return Ok(());
        }
        let generation = st.generation;
        let final_dir = self.data_dir.join(dump_dir_name(generation));
        if !st.dense.is_empty() {
            let tmp = self
                .data_dir
                .join(format!("{}.tmp", dump_dir_name(generation)));
            let io = |e| IndexError::Io {
                path: tmp.clone(),
                source: e,
            };
            if tmp.exists() {
                std::fs::remove_dir_all(&tmp).map_err(io)?;
            }
            std::fs::create_dir_all(&tmp).map_err(io)?;
            // `dump` syncs the file it writes before the rename below.
            st.dense.dump(&tmp, DUMP_BASENAME)?;
            if final_dir.exists() {
                std::fs::remove_dir_all(&final_dir).map_err(io)?;
            }
            std::fs::rename(&tmp, &final_dir).map_err(io)?;
        }
        // Older generations' graphs are now stale.
        if let Ok(entries) = std::fs::read_dir(&self.data_dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if name.starts_with("hnsw-") && e.path() != final_dir {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        // Passages added since the open keep their own copies until now;
        // from here the graph's serve (a long ingestion would otherwise
        // hold every vector twice).
        let st = &mut *st;
        st.catalog.share_vectors_of(&st.dense);
        st.dumped_generation = Some(generation);
        Ok(())
    }
}
