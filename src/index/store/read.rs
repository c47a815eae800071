//! Reads of what is stored: documents (listed under a filter, one with its
//! passages, its metadata and corrections), passages (by id, by key, all
//! under a filter for export, a passage's vector), facets, stats, places and
//! a document's passage keys.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::OptionalExtension;

use super::filter::filter_sql;
use super::graph::dump_dir_name;
use super::{no_document, place_at, poisoned, Inner};
use crate::index::{
    DocumentRecord, DocumentSummary, Facets, Filter, IndexError, PassageKey, Place, Result, Stats,
    StoredPassage, SCHEMA_VERSION,
};

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
        place: place_at(r, 9)?,
        year: r.get(12)?,
        doc_type: r.get(13)?,
    })
}

impl Inner {
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
                        place: place_at(r, 1)?,
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
        found.ok_or_else(|| no_document(doc_id))
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
            place: place_at(r, 3)?,
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
        found.ok_or_else(|| no_document(doc_id))
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
            .vector(key.0)
            .map(<[f32]>::to_vec)
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

    pub fn places(&self) -> Result<Vec<Place>> {
        let st = self.state.read().map_err(|_| poisoned())?;
        let mut out: Vec<Place> = st.catalog.docs.values().map(|d| d.place.clone()).collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    pub fn document_keys(&self, doc_id: &str) -> Result<Vec<PassageKey>> {
        let st = self.state.read().map_err(|_| poisoned())?;
        st.catalog
            .docs
            .values()
            .find(|d| d.doc_id == doc_id)
            .map(|d| d.keys.iter().map(|k| PassageKey(*k)).collect())
            .ok_or_else(|| no_document(doc_id))
    }
}
