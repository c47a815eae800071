//! Writes: adding (or replacing) a document, updating metadata, deleting a
//! document. Each is one SQLite transaction; then the catalog and the dense
//! graph in memory follow it (`flush` persists the graph). Adding and
//! deleting bump the store generation; a metadata update changes no passage
//! and leaves it.

use std::sync::Arc;

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, OptionalExtension};

use super::catalog::{DocInfo, StoredVector};
use super::filter::place_key;
use super::{no_document, now_secs, poisoned, vec_to_blob, Inner};
use crate::corpus::{Document, DocumentMeta};
use crate::index::dense::normalize;
use crate::index::{lexical, AddOutcome, IndexError, MetaUpdate, Result};

/// The columns of `documents` a document's metadata is stored in, written
/// alike by adding a document and by updating its metadata, with the values
/// [`meta_values`] gives in this order.
const META_COLUMNS: &str = "title, district, city, province, level, year, review_year, doc_type, \
     meeting_date, speaker, confidence, place_key";

fn meta_values(m: &DocumentMeta, place_key: Option<i64>) -> [Value; 12] {
    let text = |v: &Option<String>| Value::from(v.clone());
    let confidence = serde_json::to_string(&m.confidence).unwrap_or_else(|_| "{}".into());
    [
        text(&m.title),
        text(&m.place.district),
        text(&m.place.city),
        text(&m.place.province),
        text(&m.level),
        m.year.into(),
        m.review_year.into(),
        text(&m.doc_type),
        text(&m.meeting_date),
        text(&m.speaker),
        confidence.into(),
        place_key.into(),
    ]
}

/// `?1, ?2, …` for `n` values from the first.
fn marks(from: usize, n: usize) -> Vec<String> {
    (from..from + n).map(|i| format!("?{i}")).collect()
}

impl Inner {
    /// The row `doc_id` is stored in, `None` when it is not stored.
    fn doc_row(tx: &rusqlite::Transaction, doc_id: &str) -> rusqlite::Result<Option<i64>> {
        tx.query_row(
            "SELECT doc_row FROM documents WHERE doc_id = ?1",
            [doc_id],
            |r| r.get(0),
        )
        .optional()
    }

    fn bump_generation(tx: &rusqlite::Transaction) -> rusqlite::Result<i64> {
        tx.execute(
            "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'",
            [],
        )?;
        tx.query_row(
            "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'generation'",
            [],
            |r| r.get(0),
        )
    }

    pub fn add_document(&self, doc: &Document, vectors: &[Vec<f32>]) -> Result<AddOutcome> {
        if doc.id.trim().is_empty() {
            return Err(IndexError::Invalid("document id is empty".into()));
        }
        if vectors.len() != doc.passages.len() {
            return Err(IndexError::Invalid(format!(
                "{}: {} passages but {} vectors",
                doc.file,
                doc.passages.len(),
                vectors.len()
            )));
        }
        let mut normed: Vec<Vec<f32>> = Vec::with_capacity(vectors.len());
        for (p, v) in doc.passages.iter().zip(vectors) {
            if v.len() != self.dim {
                return Err(IndexError::Invalid(format!(
                    "{}: passage {} has a {}-d vector, the index is {}-d",
                    doc.file,
                    p.id,
                    v.len(),
                    self.dim
                )));
            }
            if v.iter().any(|x| !x.is_finite()) || v.iter().all(|x| *x == 0.0) {
                return Err(IndexError::Invalid(format!(
                    "{}: passage {} has a zero or non-finite vector",
                    doc.file, p.id
                )));
            }
            let mut v = v.clone();
            normalize(&mut v);
            normed.push(v);
        }
        let segmented: Vec<String> = doc
            .passages
            .iter()
            .map(|p| lexical::segment_for_index(&p.text_simplified))
            .collect();

        let mut conn = self.writer.lock().map_err(|_| poisoned())?;
        let err = |e| self.sql_err(e);
        let tx = conn.transaction().map_err(err)?;
        let old_row = Self::doc_row(&tx, &doc.id).map_err(err)?;
        let mut removed_keys = Vec::new();
        if let Some(row) = old_row {
            removed_keys = Self::delete_rows(&tx, row).map_err(err)?;
        }
        let m = &doc.meta;
        let doc_place = place_key(&m.place, m.year);
        let file_values = [
            Value::from(doc.id.clone()),
            doc.file.clone().into(),
            doc.encoding.clone().into(),
            doc.script.clone().into(),
            now_secs().into(),
        ];
        let meta = meta_values(m, doc_place);
        let insert = format!(
            "INSERT INTO documents(doc_id, file, encoding, script, ingested_at, {META_COLUMNS})
             VALUES ({})",
            marks(1, file_values.len() + meta.len()).join(", ")
        );
        tx.execute(
            &insert,
            params_from_iter(file_values.into_iter().chain(meta)),
        )
        .map_err(err)?;
        let doc_row = tx.last_insert_rowid();
        for (kind, n) in &doc.removed {
            tx.execute(
                "INSERT INTO cleaning_report(doc_row, kind, removed) VALUES (?1, ?2, ?3)",
                params![doc_row, kind, *n as i64],
            )
            .map_err(err)?;
        }
        let mut keys = Vec::with_capacity(doc.passages.len());
        {
            let mut ins = tx
                .prepare(
                    "INSERT INTO passages(passage_id, doc_row, ordinal, text, text_simplified,
                         section_path, section, term, vector) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
                )
                .map_err(err)?;
            let mut fts = tx
                .prepare("INSERT INTO passages_fts(rowid, tokens) VALUES (?1, ?2)")
                .map_err(err)?;
            for ((p, v), seg) in doc.passages.iter().zip(&normed).zip(&segmented) {
                ins.execute(params![
                    p.id,
                    doc_row,
                    p.ordinal,
                    p.text,
                    p.text_simplified,
                    serde_json::to_string(&p.section_path).unwrap_or_else(|_| "[]".into()),
                    p.section_path.join(" > "),
                    p.term,
                    vec_to_blob(v),
                ])
                .map_err(|e| match e {
                    rusqlite::Error::SqliteFailure(f, _)
                        if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                    {
                        IndexError::Invalid(format!(
                            "{}: passage id {} is already stored (in another document)",
                            doc.file, p.id
                        ))
                    }
                    e => self.sql_err(e),
                })?;
                let key = tx.last_insert_rowid();
                fts.execute(params![key, seg]).map_err(err)?;
                keys.push(key);
            }
        }
        let generation = Self::bump_generation(&tx).map_err(err)?;
        tx.commit().map_err(err)?;
        drop(conn);

        let mut st = self.state.write().map_err(|_| poisoned())?;
        for k in &removed_keys {
            st.catalog.passages.remove(k);
        }
        if let Some(row) = old_row {
            st.catalog.docs.remove(&row);
        }
        st.catalog.docs.insert(
            doc_row,
            Arc::new(DocInfo {
                doc_id: doc.id.clone(),
                place: m.place.clone(),
                year: m.year,
                doc_type: m.doc_type.clone(),
                place_key: doc_place,
                keys: keys.clone(),
            }),
        );
        let items: Vec<(&[f32], usize)> = normed
            .iter()
            .zip(&keys)
            .map(|(v, k)| (&v[..], *k as usize))
            .collect();
        if items.len() > 64 {
            st.dense.insert_batch(&items)?;
        } else {
            for (v, k) in &items {
                st.dense.insert(*k, v)?;
            }
        }
        for (v, k) in normed.into_iter().zip(keys) {
            st.catalog
                .passages
                .insert(k, (doc_row, StoredVector::Owned(v.into_boxed_slice())));
        }
        st.generation = generation;
        Ok(if old_row.is_some() {
            AddOutcome::Replaced
        } else {
            AddOutcome::Added
        })
    }

    /// Deletes a document's rows (passages, FTS entries, report) inside a
    /// transaction; returns the deleted passage keys.
    fn delete_rows(tx: &rusqlite::Transaction, doc_row: i64) -> rusqlite::Result<Vec<i64>> {
        let keys: Vec<i64> = {
            let mut st = tx.prepare("SELECT passage_row FROM passages WHERE doc_row = ?1")?;
            let rows = st.query_map([doc_row], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        {
            let mut del = tx.prepare("DELETE FROM passages_fts WHERE rowid = ?1")?;
            for k in &keys {
                del.execute([k])?;
            }
        }
        tx.execute("DELETE FROM passages WHERE doc_row = ?1", [doc_row])?;
        tx.execute("DELETE FROM cleaning_report WHERE doc_row = ?1", [doc_row])?;
        tx.execute("DELETE FROM documents WHERE doc_row = ?1", [doc_row])?;
        Ok(keys)
    }

    /// Replaces the metadata of stored documents and records the corrections
    /// that produced it, all in one transaction. Passages, their vectors and
    /// the lexical index hold no document metadata (queries join
    /// `documents`), so only `documents` and the in-memory filter catalog
    /// change.
    pub fn update_metadata(&self, updates: &[MetaUpdate]) -> Result<()> {
        let mut conn = self.writer.lock().map_err(|_| poisoned())?;
        let err = |e| self.sql_err(e);
        let tx = conn.transaction().map_err(err)?;
        let mut rows = Vec::with_capacity(updates.len());
        for u in updates {
            let m = &u.meta;
            let Some(row) = Self::doc_row(&tx, &u.doc_id).map_err(err)? else {
                return Err(no_document(&u.doc_id));
            };
            let key = place_key(&m.place, m.year);
            let meta = meta_values(m, key);
            let sets: Vec<String> = (META_COLUMNS.split(',').zip(marks(1, meta.len())))
                .map(|(column, mark)| format!("{} = {mark}", column.trim()))
                .collect();
            let update = format!(
                "UPDATE documents SET {} WHERE doc_row = ?{}",
                sets.join(", "),
                meta.len() + 1
            );
            tx.execute(
                &update,
                params_from_iter(meta.into_iter().chain([Value::from(row)])),
            )
            .map_err(err)?;
            for (field, value) in &u.corrections {
                tx.execute(
                    "INSERT OR REPLACE INTO meta_corrections(doc_id, field, value)
                     VALUES (?1, ?2, ?3)",
                    params![u.doc_id, field, value],
                )
                .map_err(err)?;
            }
            rows.push((row, key));
        }
        tx.commit().map_err(err)?;
        drop(conn);
        let mut st = self.state.write().map_err(|_| poisoned())?;
        for (u, (row, key)) in updates.iter().zip(rows) {
            let keys = st
                .catalog
                .docs
                .get(&row)
                .map(|d| d.keys.clone())
                .unwrap_or_default();
            st.catalog.docs.insert(
                row,
                Arc::new(DocInfo {
                    doc_id: u.doc_id.clone(),
                    place: u.meta.place.clone(),
                    year: u.meta.year,
                    doc_type: u.meta.doc_type.clone(),
                    place_key: key,
                    keys,
                }),
            );
        }
        Ok(())
    }

    pub fn delete_document(&self, doc_id: &str) -> Result<()> {
        let mut conn = self.writer.lock().map_err(|_| poisoned())?;
        let err = |e| self.sql_err(e);
        let tx = conn.transaction().map_err(err)?;
        let Some(row) = Self::doc_row(&tx, doc_id).map_err(err)? else {
            return Err(no_document(doc_id));
        };
        let keys = Self::delete_rows(&tx, row).map_err(err)?;
        let generation = Self::bump_generation(&tx).map_err(err)?;
        tx.commit().map_err(err)?;
        drop(conn);
        let mut st = self.state.write().map_err(|_| poisoned())?;
        for k in keys {
            st.catalog.passages.remove(&k);
        }
        st.catalog.docs.remove(&row);
        st.generation = generation;
        Ok(())
    }
}
