//! The SQLite store (source of truth), the in-memory catalog used to filter
//! dense results, and the dense graph's persistence protocol.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use rusqlite::{Connection, OptionalExtension};
use rustc_hash::{FxHashMap, FxHashSet};

mod catalog;
mod filter;
mod graph;
mod schema;
mod write;

use super::dense::{exact_search, normalize, DenseIndex, DenseParams};
use super::lexical;
use super::*;
use catalog::{Catalog, DocInfo};
use filter::{filter_sql, PlaceKeys};
use graph::dump_dir_name;

/// Below this many allowed passages a filtered dense search scans them
/// exactly: cheaper than a graph walk that rejects most of what it visits,
/// and never returns fewer than `k` when `k` exist.
const EXACT_SCAN_MAX: usize = 5000;

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

/// Document frequencies of the terms searches have asked about, valid for
/// one store generation. A search asks for its words' frequencies up to
/// three times (the lexical weight, English senses, relevance), each an
/// fts5vocab lookup; these were a sixth of a repeated search's CPU.
#[derive(Default)]
struct TermFrequencies {
    generation: i64,
    df: FxHashMap<String, usize>,
}

/// Terms remembered per generation at most; past it the memory starts over
/// (a query's words are few, and common words come back at once).
const MAX_REMEMBERED_TERMS: usize = 200_000;

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn vec_to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn blob_to_vec(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

const PASSAGE_COLUMNS: &str = "p.passage_row, p.passage_id, d.doc_id, p.ordinal, p.text, \
     p.text_simplified, p.section_path, p.term, d.title, d.district, d.city, d.province, d.year, \
     d.doc_type";

fn passage_from_row(r: &rusqlite::Row) -> rusqlite::Result<StoredPassage> {
    let section_json: String = r.get(6)?;
    Ok(StoredPassage {
        key: PassageKey(r.get(0)?),
        passage_id: r.get(1)?,
        doc_id: r.get(2)?,
        ordinal: r.get(3)?,
        text: r.get(4)?,
        text_simplified: r.get(5)?,
        section_path: serde_json::from_str(&section_json).unwrap_or_default(),
        term: r.get(7)?,
        title: r.get(8)?,
        place: Place {
            district: r.get(9)?,
            city: r.get(10)?,
            province: r.get(11)?,
        },
        year: r.get(12)?,
        doc_type: r.get(13)?,
    })
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

    /// A stored document's metadata with its confidences.
    pub fn document_meta(&self, doc_id: &str) -> Result<crate::corpus::DocumentMeta> {
        let found = self.read(|c| {
            c.query_row(
                "SELECT title, district, city, province, level, year, review_year, doc_type,
                        meeting_date, speaker, confidence FROM documents WHERE doc_id = ?1",
                [doc_id],
                |r| {
                    let conf: String = r.get(10)?;
                    Ok(crate::corpus::DocumentMeta {
                        title: r.get(0)?,
                        place: Place {
                            district: r.get(1)?,
                            city: r.get(2)?,
                            province: r.get(3)?,
                        },
                        level: r.get(4)?,
                        year: r.get(5)?,
                        review_year: r.get(6)?,
                        doc_type: r.get(7)?,
                        meeting_date: r.get(8)?,
                        speaker: r.get(9)?,
                        confidence: serde_json::from_str(&conf).unwrap_or_default(),
                    })
                },
            )
            .optional()
        })?;
        found.ok_or_else(|| IndexError::NotFound {
            what: "document",
            id: doc_id.to_string(),
        })
    }

    /// The corrections stored for a document: (field, value), '' clearing.
    pub fn corrections(&self, doc_id: &str) -> Result<Vec<(String, String)>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT field, value FROM meta_corrections WHERE doc_id = ?1 ORDER BY field",
            )?;
            let rows = st.query_map([doc_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }

    pub fn contains_document(&self, doc_id: &str) -> Result<bool> {
        self.read(|c| {
            c.query_row(
                "SELECT count(*) FROM documents WHERE doc_id = ?1",
                [doc_id],
                |r| r.get::<_, i64>(0),
            )
        })
        .map(|n| n > 0)
    }

    fn summary_sql(where_clause: &str) -> String {
        format!(
            "SELECT d.doc_id, d.file, d.title, d.district, d.city, d.province, d.level, d.year,
                    d.review_year, d.doc_type, d.meeting_date, d.speaker, d.encoding, d.script,
                    (SELECT count(*) FROM passages p WHERE p.doc_row = d.doc_row),
                    (SELECT json_group_object(kind, removed) FROM cleaning_report c
                       WHERE c.doc_row = d.doc_row),
                    d.ingested_at, d.confidence
             FROM documents d WHERE {where_clause}
             ORDER BY d.district IS NULL, d.district, d.year, d.file"
        )
    }

    fn summary_from_row(r: &rusqlite::Row) -> rusqlite::Result<DocumentSummary> {
        let removed: Option<String> = r.get(15)?;
        let confidence: BTreeMap<String, f32> = r
            .get::<_, Option<String>>(17)?
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default();
        Ok(DocumentSummary {
            doc_id: r.get(0)?,
            file: r.get(1)?,
            title: r.get(2)?,
            place: Place {
                district: r.get(3)?,
                city: r.get(4)?,
                province: r.get(5)?,
            },
            level: r.get(6)?,
            year: r.get(7)?,
            review_year: r.get(8)?,
            doc_type: r.get(9)?,
            meeting_date: r.get(10)?,
            speaker: r.get(11)?,
            encoding: r.get(12)?,
            script: r.get(13)?,
            passages: r.get::<_, i64>(14)? as usize,
            removed: removed
                .and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or_default(),
            ingested_at: r.get(16)?,
            uncertain: crate::corpus::uncertain_in(&confidence),
            confidence,
        })
    }

    pub fn documents(&self, filter: &Filter) -> Result<Vec<DocumentSummary>> {
        let (cond, vals) = filter_sql(filter);
        self.read(|c| {
            let mut st = c.prepare(&Self::summary_sql(&cond))?;
            let rows = st.query_map(
                rusqlite::params_from_iter(vals.iter()),
                Self::summary_from_row,
            )?;
            rows.collect()
        })
    }

    pub fn document(&self, doc_id: &str) -> Result<DocumentRecord> {
        let found = self.read(|c| {
            let summary = c
                .query_row(
                    &Self::summary_sql("d.doc_id = ?1"),
                    [doc_id],
                    Self::summary_from_row,
                )
                .optional()?;
            let Some(summary) = summary else {
                return Ok(None);
            };
            let mut st = c.prepare(&format!(
                "SELECT {PASSAGE_COLUMNS} FROM passages p JOIN documents d ON d.doc_row = p.doc_row
                 WHERE d.doc_id = ?1 ORDER BY p.ordinal"
            ))?;
            let passages = st
                .query_map([doc_id], passage_from_row)?
                .collect::<rusqlite::Result<_>>()?;
            Ok(Some(DocumentRecord { summary, passages }))
        })?;
        found.ok_or_else(|| IndexError::NotFound {
            what: "document",
            id: doc_id.to_string(),
        })
    }

    pub fn passage(&self, passage_id: &str) -> Result<StoredPassage> {
        self.read(|c| {
            c.query_row(
                &format!(
                    "SELECT {PASSAGE_COLUMNS} FROM passages p JOIN documents d ON d.doc_row = p.doc_row
                     WHERE p.passage_id = ?1"
                ),
                [passage_id],
                passage_from_row,
            )
            .optional()
        })?
        .ok_or_else(|| IndexError::NotFound {
            what: "passage",
            id: passage_id.to_string(),
        })
    }

    pub fn passages_by_key(&self, keys: &[PassageKey]) -> Result<Vec<StoredPassage>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {PASSAGE_COLUMNS} FROM passages p JOIN documents d ON d.doc_row = p.doc_row
                 WHERE p.passage_row = ?1"
            ))?;
            let mut out = Vec::with_capacity(keys.len());
            for k in keys {
                if let Some(p) = st.query_row([k.0], passage_from_row).optional()? {
                    out.push(p);
                }
            }
            Ok(out)
        })
    }

    pub fn passage_vector(&self, key: PassageKey) -> Result<Vec<f32>> {
        let st = self.state.read().map_err(|_| poisoned())?;
        st.catalog
            .passages
            .get(&key.0)
            .map(|(_, v)| v.to_vec())
            .ok_or_else(|| IndexError::NotFound {
                what: "passage",
                id: format!("#{}", key.0),
            })
    }

    pub fn facets(&self, filter: &Filter) -> Result<Facets> {
        let (cond, vals) = filter_sql(filter);
        self.read(|c| {
            let mut st = c.prepare(&format!(
                "SELECT d.district, d.city, d.province, d.year, d.doc_type, count(p.passage_row)
                 FROM documents d JOIN passages p ON p.doc_row = d.doc_row
                 WHERE {cond} GROUP BY d.doc_row"
            ))?;
            let mut rows = st.query(rusqlite::params_from_iter(vals.iter()))?;
            let mut f = Facets::default();
            while let Some(r) = rows.next()? {
                let n = r.get::<_, i64>(5)? as usize;
                let add = |m: &mut BTreeMap<String, usize>, v: Option<String>| {
                    if let Some(v) = v {
                        *m.entry(v).or_default() += n;
                    }
                };
                add(&mut f.district, r.get(0)?);
                add(&mut f.city, r.get(1)?);
                add(&mut f.province, r.get(2)?);
                if let Some(y) = r.get::<_, Option<i32>>(3)? {
                    *f.year.entry(y).or_default() += n;
                }
                add(&mut f.doc_type, r.get(4)?);
                f.total_passages += n;
                f.total_documents += 1;
            }
            Ok(f)
        })
    }

    pub fn for_each_passage(
        &self,
        filter: &Filter,
        f: &mut dyn FnMut(StoredPassage) -> Result<()>,
    ) -> Result<()> {
        let (cond, vals) = filter_sql(filter);
        let conn = Self::connect(&self.db_path)?;
        let mut st = conn
            .prepare(&format!(
                "SELECT {PASSAGE_COLUMNS} FROM passages p JOIN documents d ON d.doc_row = p.doc_row
                 WHERE {cond} ORDER BY d.district IS NULL, d.district, d.year, d.file, p.ordinal"
            ))
            .map_err(|e| self.sql_err(e))?;
        let mut rows = st
            .query(rusqlite::params_from_iter(vals.iter()))
            .map_err(|e| self.sql_err(e))?;
        while let Some(r) = rows.next().map_err(|e| self.sql_err(e))? {
            f(passage_from_row(r).map_err(|e| self.sql_err(e))?)?;
        }
        Ok(())
    }

    pub fn stats(&self) -> Result<Stats> {
        let (documents, passages, districts) = self.read(|c| {
            c.query_row(
                "SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM passages),
                        (SELECT count(DISTINCT district) FROM documents)",
                [],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)? as usize,
                        r.get::<_, i64>(1)? as usize,
                        r.get::<_, i64>(2)? as usize,
                    ))
                },
            )
        })?;
        let st = self.state.read().map_err(|_| poisoned())?;
        let file_size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let store_bytes = file_size(&self.db_path)
            + file_size(&self.db_path.with_extension("sqlite-wal"))
            + file_size(&self.db_path.with_extension("sqlite-shm"));
        let dense_dir = self
            .data_dir
            .join(dump_dir_name(st.dumped_generation.unwrap_or(-1)));
        let dense_bytes = std::fs::read_dir(&dense_dir)
            .map(|it| it.flatten().map(|e| file_size(&e.path())).sum())
            .unwrap_or(0);
        Ok(Stats {
            data_dir: self.data_dir.clone(),
            schema_version: SCHEMA_VERSION,
            model_id: self.model_id.clone(),
            dim: self.dim,
            documents,
            passages,
            districts,
            dense_points: st.dense.len(),
            dense_tombstones: st.dense.len().saturating_sub(st.catalog.passages.len()),
            store_bytes,
            dense_bytes,
            generation: st.generation,
        })
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

    /// Up to `n` stored passage vectors, concatenated, spread evenly over
    /// the passages in rowid order: the same sample for every query until
    /// the library changes, so a query's background (and every relevance
    /// estimate built on it) is reproducible.
    pub fn background_sample(&self, n: usize) -> Result<Arc<Vec<f32>>> {
        let st = self.state.read().map_err(|_| poisoned())?;
        let mut cached = self.background.lock().map_err(|_| poisoned())?;
        if let Some((g, v)) = cached.as_ref() {
            if *g == st.generation && v.len() == n.min(st.catalog.passages.len()) * self.dim {
                return Ok(Arc::clone(v));
            }
        }
        let mut keys: Vec<i64> = st.catalog.passages.keys().copied().collect();
        keys.sort_unstable();
        let take = n.min(keys.len());
        let mut out = Vec::with_capacity(take * self.dim);
        for i in 0..take {
            let key = keys[i * keys.len() / take];
            out.extend_from_slice(&st.catalog.passages[&key].1);
        }
        let out = Arc::new(out);
        *cached = Some((st.generation, Arc::clone(&out)));
        Ok(out)
    }

    pub fn dense_search(
        &self,
        query: &[f32],
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<ScoredPassage>> {
        if query.len() != self.dim {
            return Err(IndexError::Invalid(format!(
                "query vector has {} dimensions, the index has {}",
                query.len(),
                self.dim
            )));
        }
        let mut q = query.to_vec();
        normalize(&mut q);
        let st = self.state.read().map_err(|_| poisoned())?;
        let cat = &st.catalog;
        if k == 0 || cat.passages.is_empty() {
            return Ok(Vec::new());
        }
        let exact = |allowed: &[&Arc<DocInfo>]| -> Vec<(usize, f32)> {
            exact_search(
                &q,
                k,
                allowed
                    .iter()
                    .flat_map(|d| d.keys.iter())
                    .filter_map(|key| cat.passages.get(key).map(|(_, v)| (*key as usize, &v[..]))),
            )
        };
        let found = if filter.is_empty() {
            let keep = |id: usize| cat.passages.contains_key(&(id as i64));
            let ef = self.params.ef_search.max(k * 2);
            // Without tombstones every point is live: skip the per-point check.
            let keep: Option<&dyn Fn(usize) -> bool> = if st.dense.len() > cat.passages.len() {
                Some(&keep)
            } else {
                None
            };
            let mut found = st.dense.search(&q, k, Some(ef), keep)?;
            if found.len() < k.min(cat.passages.len()) {
                let all: Vec<&Arc<DocInfo>> = cat.docs.values().collect();
                found = exact(&all);
            }
            found
        } else {
            let places = PlaceKeys::of(filter);
            let allowed: Vec<&Arc<DocInfo>> = cat
                .docs
                .values()
                .filter(|d| d.matches(filter, &places))
                .collect();
            let n_allowed: usize = allowed.iter().map(|d| d.keys.len()).sum();
            if n_allowed <= EXACT_SCAN_MAX {
                exact(&allowed)
            } else {
                let rows: FxHashSet<i64> = cat
                    .docs
                    .iter()
                    .filter(|(_, d)| d.matches(filter, &places))
                    .map(|(r, _)| *r)
                    .collect();
                let keep = |id: usize| {
                    cat.passages
                        .get(&(id as i64))
                        .is_some_and(|(doc_row, _)| rows.contains(doc_row))
                };
                let ef = self.params.ef_search.max(k * 4);
                let found = st.dense.search(&q, k, Some(ef), Some(&keep))?;
                if found.len() < k.min(n_allowed) {
                    exact(&allowed)
                } else {
                    found
                }
            }
        };
        Ok(found
            .into_iter()
            .map(|(id, score)| ScoredPassage {
                key: PassageKey(id as i64),
                score,
            })
            .collect())
    }

    pub fn lexical_search(
        &self,
        query: &str,
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<ScoredPassage>> {
        let terms = lexical::query_terms(query);
        let Some(expr) = lexical::match_expression(&terms) else {
            return Ok(Vec::new());
        };
        if k == 0 {
            return Ok(Vec::new());
        }
        let (cond, vals) = filter_sql(filter);
        let sql = if filter.is_empty() {
            lexical::unfiltered_query_sql(k)
        } else {
            format!(
                "SELECT f.rowid, bm25(passages_fts) AS s FROM passages_fts f
                 JOIN passages p ON p.passage_row = f.rowid
                 JOIN documents d ON d.doc_row = p.doc_row
                 WHERE passages_fts MATCH ?1 AND {cond} ORDER BY s LIMIT {k}"
            )
        };
        self.read(|c| {
            let mut st = c.prepare_cached(&sql)?;
            // The filter's positional `?`s number on from `?1`.
            let mut all: Vec<rusqlite::types::Value> =
                vec![rusqlite::types::Value::Text(expr.clone())];
            if !filter.is_empty() {
                all.extend(vals.iter().cloned());
            }
            let rows = st.query_map(rusqlite::params_from_iter(all.iter()), |r| {
                Ok(ScoredPassage {
                    key: PassageKey(r.get(0)?),
                    score: -(r.get::<_, f64>(1)? as f32),
                })
            })?;
            rows.collect()
        })
    }

    pub fn places(&self) -> Result<Vec<Place>> {
        let st = self.state.read().map_err(|_| poisoned())?;
        let mut out: Vec<Place> = st.catalog.docs.values().map(|d| d.place.clone()).collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    pub fn term_statistics(&self, terms: &[String]) -> Result<TermStatistics> {
        let (passages, generation) = {
            let st = self.state.read().map_err(|_| poisoned())?;
            (st.catalog.passages.len(), st.generation)
        };
        let mut document_frequency = vec![0usize; terms.len()];
        let mut missing: Vec<usize> = Vec::new();
        {
            let mut known = self.frequencies.lock().map_err(|_| poisoned())?;
            if known.generation != generation {
                known.generation = generation;
                known.df.clear();
            }
            for (i, t) in terms.iter().enumerate() {
                match known.df.get(t.as_str()) {
                    Some(&df) => document_frequency[i] = df,
                    None => missing.push(i),
                }
            }
        }
        if missing.is_empty() {
            return Ok(TermStatistics {
                passages,
                document_frequency,
            });
        }
        let read = self.read(|c| {
            // fts5vocab over the lexical table, in the connection's temp schema so
            // that reading statistics never writes to the store.
            c.execute_batch(
                "CREATE VIRTUAL TABLE IF NOT EXISTS temp.passages_fts_terms \
                 USING fts5vocab(main, passages_fts, row)",
            )?;
            let mut st =
                c.prepare_cached("SELECT doc FROM temp.passages_fts_terms WHERE term = ?1")?;
            missing
                .iter()
                .map(|&i| {
                    st.query_row([&terms[i]], |r| r.get::<_, i64>(0))
                        .optional()
                        .map(|n| n.unwrap_or(0).max(0) as usize)
                })
                .collect::<rusqlite::Result<Vec<usize>>>()
        })?;
        let mut known = self.frequencies.lock().map_err(|_| poisoned())?;
        // A write that landed meanwhile may or may not be in what was read;
        // remember it only under the generation it was asked at.
        let remember = known.generation == generation;
        if remember && known.df.len() + missing.len() > MAX_REMEMBERED_TERMS {
            known.df.clear();
        }
        for (&i, df) in missing.iter().zip(read) {
            document_frequency[i] = df;
            if remember {
                known.df.insert(terms[i].clone(), df);
            }
        }
        Ok(TermStatistics {
            passages,
            document_frequency,
        })
    }

    pub fn document_keys(&self, doc_id: &str) -> Result<Vec<PassageKey>> {
        let st = self.state.read().map_err(|_| poisoned())?;
        st.catalog
            .docs
            .values()
            .find(|d| d.doc_id == doc_id)
            .map(|d| d.keys.iter().map(|k| PassageKey(*k)).collect())
            .ok_or_else(|| IndexError::NotFound {
                what: "document",
                id: doc_id.to_string(),
            })
    }
}

fn poisoned() -> IndexError {
    IndexError::Dense("an earlier panic left the index lock poisoned".into())
}
