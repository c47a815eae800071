//! The SQLite file: its tables, opening a library on it (schema version and
//! model checked, the HNSW parameters read, catalog and graph loaded) and
//! bringing libraries made by older builds up to date.

use std::path::Path;
use std::sync::{Mutex, RwLock};

use rusqlite::{params, Connection, OptionalExtension};

use super::filter::place_key;
use super::search::TermFrequencies;
use super::{now_secs, place_at, DenseState, Inner};
use crate::index::dense::DenseParams;
use crate::index::{lexical, IndexError, Place, Result, SCHEMA_VERSION, STORE_FILE};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    doc_row      INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id       TEXT NOT NULL UNIQUE,
    file         TEXT NOT NULL,
    encoding     TEXT NOT NULL,
    script       TEXT NOT NULL,
    title        TEXT,
    district     TEXT,
    city         TEXT,
    province     TEXT,
    level        TEXT,
    year         INTEGER,
    review_year  INTEGER,
    doc_type     TEXT,
    meeting_date TEXT,
    speaker      TEXT,
    confidence   TEXT NOT NULL,           -- JSON object: field -> confidence
    ingested_at  INTEGER NOT NULL         -- seconds since the Unix epoch
);
CREATE TABLE IF NOT EXISTS cleaning_report (
    doc_row INTEGER NOT NULL REFERENCES documents(doc_row) ON DELETE CASCADE,
    kind    TEXT NOT NULL,
    removed INTEGER NOT NULL,
    PRIMARY KEY (doc_row, kind)
);
CREATE TABLE IF NOT EXISTS passages (
    passage_row     INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: the HNSW point id
    passage_id      TEXT NOT NULL UNIQUE,
    doc_row         INTEGER NOT NULL REFERENCES documents(doc_row) ON DELETE CASCADE,
    ordinal         INTEGER NOT NULL,
    text            TEXT NOT NULL,
    text_simplified TEXT NOT NULL,
    section_path    TEXT NOT NULL,        -- JSON array of headings
    section         TEXT NOT NULL,        -- the same headings joined with ' > ', for people
    term            TEXT,
    vector          BLOB NOT NULL         -- little-endian f32 x dim, L2-normalised
);
CREATE INDEX IF NOT EXISTS passages_by_doc ON passages(doc_row, ordinal);
CREATE INDEX IF NOT EXISTS documents_by_district ON documents(district, year);
CREATE VIEW IF NOT EXISTS passage_view AS
    SELECT p.passage_id, d.doc_id, d.title, d.district, d.city, d.province, d.year, d.doc_type,
           p.ordinal, p.section, p.term, p.text
    FROM passages p JOIN documents d ON d.doc_row = p.doc_row;
"#;

/// Metadata corrections given by users, kept apart from `documents` so a
/// document deleted and ingested again gets them back. Additive: created on
/// open for libraries made before it existed.
const CORRECTIONS_DDL: &str = r#"
CREATE TABLE IF NOT EXISTS meta_corrections (
    doc_id TEXT NOT NULL,
    field  TEXT NOT NULL,
    value  TEXT NOT NULL,                 -- '' clears the field
    PRIMARY KEY (doc_id, field)
);
"#;

/// A document's row, the fields its place key is computed from, and the key stored.
type PlaceRow = (i64, Place, Option<i32>, Option<i64>);

impl Inner {
    pub fn open(data_dir: &Path, model_id: &str, dim: usize) -> Result<Inner> {
        if dim == 0 {
            return Err(IndexError::Invalid(
                "vector dimension must be positive".into(),
            ));
        }
        std::fs::create_dir_all(data_dir).map_err(|e| IndexError::Io {
            path: data_dir.to_path_buf(),
            source: e,
        })?;
        let db_path = data_dir.join(STORE_FILE);
        let conn = Self::connect(&db_path)?;
        let err = |e| IndexError::Sqlite {
            path: db_path.clone(),
            source: e,
        };
        let get_meta = |conn: &Connection, key: &str| -> Result<Option<String>> {
            let has_meta: bool = conn
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='meta'",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(err)?
                > 0;
            if !has_meta {
                return Ok(None);
            }
            conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()
                .map_err(err)
        };
        match get_meta(&conn, "schema_version")? {
            Some(v) => {
                let found: i64 = v.parse().unwrap_or(-1);
                if found != SCHEMA_VERSION {
                    return Err(IndexError::SchemaVersion {
                        data_dir: data_dir.to_path_buf(),
                        found,
                        expected: SCHEMA_VERSION,
                    });
                }
                let stored = get_meta(&conn, "model_id")?.unwrap_or_default();
                let stored_dim: usize = get_meta(&conn, "dim")?
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(0);
                if stored != model_id || stored_dim != dim {
                    return Err(IndexError::ModelMismatch {
                        data_dir: data_dir.to_path_buf(),
                        stored,
                        stored_dim,
                        given: model_id.to_string(),
                        given_dim: dim,
                    });
                }
            }
            None => {
                let tx = conn.unchecked_transaction().map_err(err)?;
                tx.execute_batch(SCHEMA).map_err(err)?;
                tx.execute_batch(lexical::FTS_DDL).map_err(err)?;
                for (k, v) in [
                    ("schema_version", SCHEMA_VERSION.to_string()),
                    ("model_id", model_id.to_string()),
                    ("dim", dim.to_string()),
                    ("generation", "0".to_string()),
                    ("created_at", now_secs().to_string()),
                ] {
                    tx.execute(
                        "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)",
                        params![k, v],
                    )
                    .map_err(err)?;
                }
                tx.commit().map_err(err)?;
            }
        }
        Self::migrate_place_keys(&conn).map_err(err)?;
        conn.execute_batch(CORRECTIONS_DDL).map_err(err)?;
        let generation: i64 = get_meta(&conn, "generation")?
            .and_then(|g| g.parse().ok())
            .unwrap_or(0);
        // The graph's parameters live with the library: a graph is searched
        // with the `ef` it was tuned for, whatever this build's defaults. A
        // library made before they were stored was built with the defaults,
        // which are recorded on its first open.
        let defaults = DenseParams::default();
        let stored_param = |key: &str, default: usize| -> Result<usize> {
            match get_meta(&conn, key)? {
                Some(v) => v
                    .parse()
                    .map_err(|_| IndexError::Invalid(format!("meta {key} is not a count: {v:?}"))),
                None => {
                    conn.execute(
                        "INSERT OR IGNORE INTO meta(key, value) VALUES (?1, ?2)",
                        params![key, default.to_string()],
                    )
                    .map_err(err)?;
                    Ok(default)
                }
            }
        };
        let params = DenseParams {
            m: stored_param("hnsw_m", defaults.m)?,
            ef_construction: stored_param("hnsw_ef_construction", defaults.ef_construction)?,
            ef_search: stored_param("hnsw_ef_search", defaults.ef_search)?,
        };
        let (catalog, dense, dumped_generation) =
            Self::load_graph(&conn, &db_path, data_dir, generation, dim, params)?;
        let inner = Inner {
            data_dir: data_dir.to_path_buf(),
            db_path: db_path.clone(),
            model_id: model_id.to_string(),
            dim,
            params,
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
            state: RwLock::new(DenseState {
                catalog,
                dense,
                generation,
                dumped_generation,
            }),
            background: Mutex::new(None),
            frequencies: Mutex::new(TermFrequencies::default()),
        };
        inner.flush()?;
        Ok(inner)
    }

    /// Adds the `place_key` column to libraries made before it and
    /// (re)computes every document's key, so that keys follow the embedded
    /// divisions table of this build.
    fn migrate_place_keys(conn: &Connection) -> rusqlite::Result<()> {
        let has_column = conn
            .prepare("SELECT 1 FROM pragma_table_info('documents') WHERE name = 'place_key'")?
            .exists([])?;
        let tx = conn.unchecked_transaction()?;
        if !has_column {
            tx.execute_batch("ALTER TABLE documents ADD COLUMN place_key INTEGER")?;
        }
        tx.execute_batch(
            "CREATE INDEX IF NOT EXISTS documents_by_place ON documents(place_key, year)",
        )?;
        let rows: Vec<PlaceRow> = {
            let mut st = tx.prepare(
                "SELECT doc_row, district, city, province, year, place_key FROM documents",
            )?;
            let rows = st.query_map([], |r| {
                Ok((r.get(0)?, place_at(r, 1)?, r.get(4)?, r.get(5)?))
            })?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let mut changed = 0;
        for (row, place, year, old) in rows {
            let key = place_key(&place, year);
            if key != old {
                tx.execute(
                    "UPDATE documents SET place_key = ?1 WHERE doc_row = ?2",
                    params![key, row],
                )?;
                changed += 1;
            }
        }
        tx.commit()?;
        if changed > 0 {
            tracing::info!("place keys set for {changed} documents");
        }
        Ok(())
    }
}
