//! The SQLite store (source of truth) behind [`super::Library`]: [`Inner`]
//! holds the write connection and a pool of read connections, the in-memory
//! catalog and dense graph (behind one lock), and the caches that follow the
//! store generation. Each concern is one file:
//! - `schema`: the tables, opening a library (schema and model checks, the
//!   stored HNSW parameters) and bringing older libraries up to date;
//! - `catalog`: what the dense side keeps in memory, loaded at open;
//! - `filter`: a [`super::Filter`] in SQL and over the catalog, with the
//!   place keys both match on;
//! - `graph`: the dense graph's persistence protocol (one dump per store
//!   generation, reloaded or rebuilt at open, written by `flush`);
//! - `write`: adding, replacing and deleting documents, updating metadata;
//! - `read`: documents, passages, facets, stats;
//! - `search`: dense and lexical search, term statistics and the background
//!   sample of vectors.
//!
//! Here: `Inner` itself, connections, and the vector blob encoding.

mod catalog;
mod filter;
mod graph;
mod read;
mod schema;
mod search;
mod write;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use rusqlite::Connection;

use super::dense::{DenseIndex, DenseParams};
use super::{IndexError, Place, Result};
use catalog::Catalog;
use search::TermFrequencies;

struct DenseState {
    catalog: Catalog,
    dense: DenseIndex,
    /// Store generation the in-memory graph reflects.
    generation: i64,
    /// Generation of the graph on disk.
    dumped_generation: Option<i64>,
}

pub(super) struct Inner {
    data_dir: PathBuf,
    db_path: PathBuf,
    model_id: String,
    dim: usize,
    params: DenseParams,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    state: RwLock<DenseState>,
    /// A fixed sample of passage vectors and the generation it was drawn at
    /// (see [`Inner::background_sample`]).
    background: Mutex<Option<(i64, Arc<Vec<f32>>)>>,
    /// Document frequencies already read, and the generation they hold for
    /// (see [`Inner::term_statistics`]).
    frequencies: Mutex<TermFrequencies>,
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn vec_to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The place in a row's columns `first`, `first + 1`, `first + 2`
/// (district, city, province), as every query reading one selects them.
fn place_at(r: &rusqlite::Row, first: usize) -> rusqlite::Result<Place> {
    Ok(Place {
        district: r.get(first)?,
        city: r.get(first + 1)?,
        province: r.get(first + 2)?,
    })
}

fn blob_to_vec(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

impl Inner {
    fn sql_err(&self, e: rusqlite::Error) -> IndexError {
        IndexError::Sqlite {
            path: self.db_path.clone(),
            source: e,
        }
    }

    fn connect(db_path: &Path) -> Result<Connection> {
        let err = |e| IndexError::Sqlite {
            path: db_path.to_path_buf(),
            source: e,
        };
        let conn = Connection::open(db_path).map_err(err)?;
        // WAL: readers never block the writer; a killed writer's transaction
        // is rolled back on next open. NORMAL sync is durable across process
        // crashes (only an OS crash can lose the last commit).
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;",
        )
        .map_err(err)?;
        Ok(conn)
    }

    /// Runs `f` with a pooled read connection (WAL lets readers run beside
    /// the writer and each other).
    fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let conn = self.readers.lock().ok().and_then(|mut p| p.pop());
        let conn = match conn {
            Some(c) => c,
            None => Self::connect(&self.db_path)?,
        };
        let out = f(&conn).map_err(|e| self.sql_err(e));
        if let Ok(mut pool) = self.readers.lock() {
            if pool.len() < 16 {
                pool.push(conn);
            }
        }
        out
    }

    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    pub fn dense_params(&self) -> DenseParams {
        self.params
    }

    pub fn dim(&self) -> usize {
        self.dim
    }
}

/// What reading, correcting or deleting a document the store does not hold answers.
fn no_document(doc_id: &str) -> IndexError {
    IndexError::NotFound {
        what: "document",
        id: doc_id.to_string(),
    }
}

fn poisoned() -> IndexError {
    IndexError::Dense("an earlier panic left the index lock poisoned".into())
}
