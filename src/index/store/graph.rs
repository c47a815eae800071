//! The dense graph's persistence: one dump directory per store generation
//! (`hnsw-<generation>/`, written to a temporary directory and renamed),
//! trusted at open only when it is the store's generation, else rebuilt from
//! the stored vectors (never by re-embedding); older dumps are removed.

use std::path::Path;

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
    /// The graph for store generation `generation`: the dumped one when it
    /// can be that generation's, else one built from the catalog's vectors;
    /// with the generation of the graph on disk when it needs no re-dump.
    pub(super) fn load_graph(
        data_dir: &Path,
        generation: i64,
        catalog: &Catalog,
        dim: usize,
        params: DenseParams,
    ) -> Result<(DenseIndex, Option<i64>)> {
        let dump_dir = data_dir.join(dump_dir_name(generation));
        let mut dumped_generation = None;
        let dense = match DenseIndex::load(&dump_dir, DUMP_BASENAME, dim, params) {
            // A graph with fewer points than live passages cannot be this
            // generation's; one with more only holds tombstones.
            Ok(d) if d.len() >= catalog.passages.len() => {
                // A graph in hnsw_rs's own format is re-dumped (by the flush
                // that ends `open`) in the flat one, which reloads many times
                // faster.
                if DenseIndex::dump_format(&dump_dir, DUMP_BASENAME) == Some(DumpFormat::Flat) {
                    dumped_generation = Some(generation);
                }
                d
            }
            Ok(_) | Err(_) => {
                if !catalog.passages.is_empty() {
                    tracing::info!(
                        "rebuilding the dense index from {} stored vectors",
                        catalog.passages.len()
                    );
                }
                Self::build_dense(catalog, dim, params)?
            }
        };
        Ok((dense, dumped_generation))
    }

    fn build_dense(catalog: &Catalog, dim: usize, params: DenseParams) -> Result<DenseIndex> {
        let dense = DenseIndex::new(dim, params, catalog.passages.len());
        let mut items: Vec<(&[f32], usize)> = catalog
            .passages
            .iter()
            .map(|(k, (_, v))| (&v[..], *k as usize))
            .collect();
        items.sort_by_key(|(_, k)| *k);
        dense.insert_batch(&items)?;
        Ok(dense)
    }

    pub fn flush(&self) -> Result<()> {
        let mut st = self.state.write().map_err(|_| poisoned())?;
        let live = st.catalog.passages.len();
        let tombstones = st.dense.len().saturating_sub(live);
        if tombstones > 0 && tombstones as f64 > TOMBSTONE_REBUILD_SHARE * st.dense.len() as f64 {
            st.dense = Self::build_dense(&st.catalog, self.dim, self.params)?;
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
        st.dumped_generation = Some(generation);
        Ok(())
    }
}
