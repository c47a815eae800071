//! Retrieval: dense search (the graph, or an exact scan of the catalog when
//! a filter leaves few passages), lexical BM25 search over FTS5, and what
//! scoring builds on: term statistics (remembered per store generation) and
//! the background sample of vectors.

use std::sync::Arc;

use rusqlite::OptionalExtension;
use rustc_hash::{FxHashMap, FxHashSet};

use super::catalog::DocInfo;
use super::filter::{filter_sql, PlaceKeys};
use super::{poisoned, Inner};
use crate::index::dense::{exact_search, normalize};
use crate::index::{
    lexical, Filter, IndexError, PassageKey, Result, ScoredPassage, TermStatistics, WordPassages,
};

/// Below this many allowed passages a filtered dense search scans them
/// exactly: cheaper than a graph walk that rejects most of what it visits,
/// and never returns fewer than `k` when `k` exist.
const EXACT_SCAN_MAX: usize = 5000;

/// Document frequencies of the terms searches have asked about, valid for
/// one store generation. A search asks for its words' frequencies up to
/// three times (the lexical weight, English senses, relevance), each an
/// fts5vocab lookup; these were a sixth of a repeated search's CPU.
#[derive(Default)]
pub(super) struct TermFrequencies {
    generation: i64,
    df: FxHashMap<String, usize>,
}

/// Terms remembered per generation at most; past it the memory starts over
/// (a query's words are few, and common words come back at once).
const MAX_REMEMBERED_TERMS: usize = 200_000;

impl Inner {
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
            out.extend_from_slice(st.catalog.vector(key).unwrap_or_default());
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
                    .filter_map(|key| cat.vector(*key).map(|v| (*key as usize, v))),
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

    pub fn passages_with(&self, words: &[String], window: usize) -> Result<WordPassages> {
        let total = self
            .state
            .read()
            .map_err(|_| poisoned())?
            .catalog
            .passages
            .len();
        self.read(|c| {
            // The window's last row id, read from FTS5's small per-row table
            // (the passages table itself holds the vectors: slow to walk).
            let bound: Option<i64> = if total > window {
                c.query_row(
                    "SELECT id FROM passages_fts_docsize ORDER BY id LIMIT 1 OFFSET ?1",
                    [window.saturating_sub(1) as i64],
                    |r| r.get(0),
                )
                .optional()?
            } else {
                None
            };
            let passages = if bound.is_some() { window } else { total };
            let (first, last): (Option<i64>, Option<i64>) = c.query_row(
                "SELECT min(id), max(id) FROM passages_fts_docsize",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let first = first.unwrap_or(0);
            let span = (bound.or(last).unwrap_or(first) - first + 1).max(0) as usize;
            let mut st = c.prepare_cached(
                "SELECT rowid FROM passages_fts WHERE passages_fts MATCH ?1 AND rowid <= ?2 \
                 ORDER BY rowid",
            )?;
            let mut found = WordPassages::new(passages, span);
            for w in words {
                let mut rows = Vec::new();
                if let Some(expr) = lexical::word_expression(w) {
                    for row in st
                        .query_map(rusqlite::params![expr, bound.unwrap_or(i64::MAX)], |r| {
                            r.get::<_, i64>(0)
                        })?
                    {
                        rows.push((row? - first) as usize);
                    }
                }
                found.push(&rows);
            }
            Ok(found)
        })
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
}
