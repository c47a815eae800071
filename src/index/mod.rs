//! The library of indexed reports: one SQLite store (the source of truth),
//! a dense HNSW index over passage vectors and a Chinese BM25 index.
//!
//! Layout of a data directory:
//! - `zhengce.sqlite` — documents, passages (text, metadata, vectors as
//!   little-endian f32 blobs), cleaning reports, the FTS5 lexical index and a
//!   `meta` table (`schema_version`, `model_id`, `dim`, `generation`, the HNSW
//!   parameters `hnsw_m`, `hnsw_ef_construction`, `hnsw_ef_search`). Any
//!   SQLite tool can open it; every write is one transaction.
//! - `hnsw-<generation>/` — the dumped HNSW graph for the store generation it
//!   was built from. It is written to a temporary directory and renamed, and
//!   only trusted when its generation equals the store's; otherwise it is
//!   rebuilt from the stored vectors (never by re-embedding). A kill during
//!   ingest therefore leaves either the old or the new committed state.
//!
//! Lexical search uses SQLite FTS5 over jieba-segmented, simplified-folded
//! text rather than tantivy: it lives in the same file and the same
//! transactions as the passages, so a document's insertion or deletion is
//! atomic across store and lexical index with no second commit protocol, and
//! it adds no dependency; BM25 ranking is built in (`bm25()`).

pub mod dense;
pub mod lexical;
mod store;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::corpus::{check_meta_text, check_meta_year, Document};

pub use crate::corpus::Place;
pub use dense::DenseIndex;

/// Version of the SQLite schema written by this build; stores with another
/// version are refused rather than silently misread.
pub const SCHEMA_VERSION: i64 = 1;

/// File name of the store inside the data directory.
pub const STORE_FILE: &str = "zhengce.sqlite";

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("store {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the index in {data_dir} was built with model {stored} ({stored_dim}-d) but the loaded model \
         is {given} ({given_dim}-d); use the same model or a new --data-dir"
    )]
    ModelMismatch {
        data_dir: PathBuf,
        stored: String,
        stored_dim: usize,
        given: String,
        given_dim: usize,
    },
    #[error(
        "the store in {data_dir} has schema version {found}, this build reads version {expected}"
    )]
    SchemaVersion {
        data_dir: PathBuf,
        found: i64,
        expected: i64,
    },
    #[error("no {what} with id {id}")]
    NotFound { what: &'static str, id: String },
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("dense index: {0}")]
    Dense(String),
}

pub type Result<T, E = IndexError> = std::result::Result<T, E>;

/// Metadata restrictions shared by every retriever. `None` means "any"; text
/// fields match exactly (after trimming), years are inclusive.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Filter {
    pub district: Option<String>,
    pub city: Option<String>,
    pub province: Option<String>,
    pub year_from: Option<i32>,
    pub year_to: Option<i32>,
    pub doc_type: Option<String>,
}

impl Filter {
    /// True when nothing is restricted.
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }
    /// Restricts to one year (`year=` in the API).
    pub fn with_year(mut self, year: i32) -> Self {
        self.year_from = Some(year);
        self.year_to = Some(year);
        self
    }

    /// The filter for values as a person types them (the API's query
    /// parameters, the CLI's flags): a blank value means any, others are
    /// trimmed and follow the metadata rules ([`check_meta_text`]); a year
    /// range with its ends reversed means the years between them.
    pub fn from_values(
        district: Option<&str>,
        city: Option<&str>,
        province: Option<&str>,
        years: YearRange,
        doc_type: Option<&str>,
    ) -> Result<Filter, FilterError> {
        let text = |field: &str, v: Option<&str>| -> Result<Option<String>, FilterError> {
            let Some(v) = v else {
                return Ok(None);
            };
            check_meta_text(field, v).map_err(FilterError::Text)?;
            let v = v.trim();
            Ok((!v.is_empty()).then(|| v.to_string()))
        };
        let years = years.ordered();
        Ok(Filter {
            district: text("district", district)?,
            city: text("city", city)?,
            province: text("province", province)?,
            year_from: years.from,
            year_to: years.to,
            doc_type: text("doc_type", doc_type)?,
        })
    }
}

/// A filter value that cannot be used, saying why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// A text value against the metadata rules.
    #[error("{0}")]
    Text(String),
    /// A year or range that is not one.
    #[error("{0}")]
    Year(String),
}

/// An inclusive year range; `None` ends are open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct YearRange {
    pub from: Option<i32>,
    pub to: Option<i32>,
}

impl YearRange {
    /// `year` as text: a year from 1900 to 2200 (`2024`), or a range
    /// `2022-2024` / `2022..2024` with either end open; nothing is any year.
    pub fn parse(text: &str) -> Result<YearRange, FilterError> {
        let year = |t: &str| -> Option<Option<i32>> {
            if t.is_empty() {
                return Some(None);
            }
            if t.len() != 4 || !t.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            check_meta_year("year", t.parse().ok()?).ok().map(Some)
        };
        let split = text
            .find("..")
            .map(|i| (&text[..i], &text[i + 2..]))
            .or_else(|| text.find('-').map(|i| (&text[..i], &text[i + 1..])));
        let range = match split {
            None => year(text).map(|y| YearRange { from: y, to: y }),
            Some((a, b)) => year(a)
                .zip(year(b))
                .map(|(from, to)| YearRange { from, to }),
        };
        range.ok_or_else(|| {
            FilterError::Year(format!(
                "year `{text}` is neither a year from 1900 to 2200 (2024) nor a range (2022-2024)"
            ))
        })
    }

    /// The years between the ends, whichever order they were given in: no
    /// schema can say "from ≤ to" across two fields, and every value the
    /// API's description allows must be answered.
    pub fn ordered(self) -> YearRange {
        match (self.from, self.to) {
            (Some(a), Some(b)) if a > b => YearRange {
                from: Some(b),
                to: Some(a),
            },
            _ => self,
        }
    }
}

/// Internal handle of a stored passage (its SQLite rowid). Never reused after
/// a deletion, so it is safe as the HNSW point id.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct PassageKey(pub i64);

/// One retriever's result: a passage and its score (higher is better; the
/// scale depends on the retriever: cosine similarity for dense, BM25 for
/// lexical).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredPassage {
    pub key: PassageKey,
    pub score: f32,
}

/// A document as listed: metadata and counts, no passages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentSummary {
    pub doc_id: String,
    pub file: String,
    pub title: Option<String>,
    #[serde(flatten)]
    pub place: Place,
    pub level: Option<String>,
    pub year: Option<i32>,
    pub review_year: Option<i32>,
    pub doc_type: Option<String>,
    pub meeting_date: Option<String>,
    pub speaker: Option<String>,
    pub encoding: String,
    pub script: String,
    pub passages: usize,
    /// What cleaning removed, by kind.
    pub removed: BTreeMap<String, u64>,
    /// Seconds since the Unix epoch when it was ingested.
    pub ingested_at: i64,
    /// Confidence of each inferred field (1.0 for a corrected one).
    pub confidence: BTreeMap<String, f32>,
    /// The fields `confidence` puts below
    /// [`crate::corpus::UNCERTAIN_BELOW`], computed when read.
    #[serde(default)]
    pub uncertain: Vec<String>,
}

/// New metadata for one stored document, and the corrections (field,
/// value; '' clears) that gave it, kept so a later ingest of the same
/// content gets them again.
#[derive(Debug, Clone)]
pub struct MetaUpdate {
    pub doc_id: String,
    pub meta: crate::corpus::DocumentMeta,
    pub corrections: Vec<(String, String)>,
}

/// A stored passage with the metadata of its document: the unit every hit,
/// export row and find-similar source is built from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredPassage {
    pub passage_id: String,
    pub doc_id: String,
    pub ordinal: u32,
    /// Original script, as users read it.
    pub text: String,
    pub text_simplified: String,
    pub section_path: Vec<String>,
    pub term: Option<String>,
    pub title: Option<String>,
    #[serde(flatten)]
    pub place: Place,
    pub year: Option<i32>,
    pub doc_type: Option<String>,
    #[serde(skip)]
    pub key: PassageKey,
}

/// A document with all its passages in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocumentRecord {
    #[serde(flatten)]
    pub summary: DocumentSummary,
    pub passages: Vec<StoredPassage>,
}

/// Number of passages per value of each facet under a filter. Passages whose
/// document lacks the field are counted under no value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Facets {
    pub district: BTreeMap<String, usize>,
    pub city: BTreeMap<String, usize>,
    pub province: BTreeMap<String, usize>,
    pub year: BTreeMap<i32, usize>,
    pub doc_type: BTreeMap<String, usize>,
    /// Passages matching the filter.
    pub total_passages: usize,
    /// Documents with at least one matching passage.
    pub total_documents: usize,
}

/// What `add_document` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddOutcome {
    /// A new document.
    Added,
    /// A document with the same id (same content) was already stored and has
    /// been replaced (its metadata may have changed through a sidecar).
    Replaced,
}

/// Document frequencies of lexical terms (same order as asked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermStatistics {
    /// Passages in the library.
    pub passages: usize,
    pub document_frequency: Vec<usize>,
}

impl TermStatistics {
    /// BM25's idf of the i-th term; an unseen term gets the largest idf.
    pub fn idf(&self, i: usize) -> f32 {
        let n = self.passages as f32;
        let df = self.document_frequency.get(i).copied().unwrap_or(0) as f32;
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }
}

/// The passages holding each of some words, among a window of the library
/// (see [`Library::passages_with`]), as one bit per passage row of the
/// window so that counting the passages two words share is a pass of
/// word-wide ANDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WordPassages {
    /// Passages in the window.
    pub passages: usize,
    /// Bits per word: the window's row span, in 64-bit words.
    words_per_set: usize,
    sets: Vec<u64>,
    counts: Vec<usize>,
}

impl WordPassages {
    /// No words yet, over a window of `passages` passages whose rows span
    /// `span` row ids.
    pub fn new(passages: usize, span: usize) -> Self {
        WordPassages {
            passages,
            words_per_set: span.div_ceil(64),
            sets: Vec::new(),
            counts: Vec::new(),
        }
    }

    /// Adds a word by the offsets of its passages' rows in the window.
    pub fn push(&mut self, offsets: &[usize]) {
        let start = self.sets.len();
        self.sets.resize(start + self.words_per_set, 0);
        let mut n = 0;
        for &o in offsets {
            if let Some(w) = self.sets.get_mut(start + o / 64) {
                n += usize::from(*w & (1 << (o % 64)) == 0);
                *w |= 1 << (o % 64);
            }
        }
        self.counts.push(n);
    }

    /// Passages of the window holding the i-th word.
    pub fn count(&self, i: usize) -> usize {
        self.counts[i]
    }

    /// Passages of the window holding both the i-th and the j-th word.
    pub fn both(&self, i: usize, j: usize) -> usize {
        let set = |k: usize| &self.sets[k * self.words_per_set..(k + 1) * self.words_per_set];
        set(i)
            .iter()
            .zip(set(j))
            .map(|(a, b)| (a & b).count_ones() as usize)
            .sum()
    }
}

/// Library-wide figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub data_dir: PathBuf,
    pub schema_version: i64,
    pub model_id: String,
    pub dim: usize,
    pub documents: usize,
    pub passages: usize,
    pub districts: usize,
    /// Points in the HNSW graph, including deleted ones not yet rebuilt away.
    pub dense_points: usize,
    /// Deleted passages still in the HNSW graph (skipped at query time).
    pub dense_tombstones: usize,
    pub store_bytes: u64,
    pub dense_bytes: u64,
    /// Store generation (bumped by every committed write).
    pub generation: i64,
}

/// The indexed reports: store + dense + lexical, shared across threads
/// (`Library: Send + Sync`; wrap it in an `Arc` to share). Reads run
/// concurrently; writes are serialised internally.
pub struct Library {
    inner: store::Inner,
}

impl Library {
    /// Opens (or creates) the library in `data_dir` for the given model.
    ///
    /// Refuses, with [`IndexError::ModelMismatch`], a store built with another
    /// model id or dimension, and with [`IndexError::SchemaVersion`] one of
    /// another schema. Reloads the dumped HNSW graph when it matches the
    /// store's generation, else rebuilds it from the stored vectors.
    pub fn open(data_dir: &Path, model_id: &str, dim: usize) -> Result<Library> {
        Ok(Library {
            inner: store::Inner::open(data_dir, model_id, dim)?,
        })
    }

    /// Stores a document with one vector per passage (same order as
    /// `doc.passages`), atomically: on error nothing is changed. A document
    /// with the same id is replaced. The dense index is updated in memory;
    /// call [`Library::flush`] (or drop the library) to persist the graph.
    pub fn add_document(&self, doc: &Document, vectors: &[Vec<f32>]) -> Result<AddOutcome> {
        self.inner.add_document(doc, vectors)
    }

    /// A stored document's metadata with its confidences.
    pub fn document_meta(&self, doc_id: &str) -> Result<crate::corpus::DocumentMeta> {
        self.inner.document_meta(doc_id)
    }

    /// The corrections stored for a document: (field, value), '' clearing.
    pub fn corrections(&self, doc_id: &str) -> Result<Vec<(String, String)>> {
        self.inner.corrections(doc_id)
    }

    /// Replaces stored documents' metadata in one transaction, without
    /// re-embedding; see [`MetaUpdate`].
    pub fn update_metadata(&self, updates: &[MetaUpdate]) -> Result<()> {
        self.inner.update_metadata(updates)
    }

    /// True when a document with this id is stored (lets ingestion skip
    /// embedding a file it already has).
    pub fn contains_document(&self, doc_id: &str) -> Result<bool> {
        self.inner.contains_document(doc_id)
    }

    /// Deletes a document and its passages from store, lexical and dense
    /// indexes (dense: tombstoned at once, rebuilt away when they pile up).
    pub fn delete_document(&self, doc_id: &str) -> Result<()> {
        self.inner.delete_document(doc_id)
    }

    /// Persists the dense graph for the current generation if it changed
    /// (temp dir + rename; older dumps removed).
    pub fn flush(&self) -> Result<()> {
        self.inner.flush()
    }

    /// All documents, ordered by district then year then file.
    pub fn documents(&self) -> Result<Vec<DocumentSummary>> {
        self.inner.documents(&Filter::default())
    }

    /// The documents matching `filter` (as a search under it would see
    /// them: a place by its name or its divisions key), in the same order.
    pub fn documents_matching(&self, filter: &Filter) -> Result<Vec<DocumentSummary>> {
        self.inner.documents(filter)
    }

    /// One document with its passages.
    pub fn document(&self, doc_id: &str) -> Result<DocumentRecord> {
        self.inner.document(doc_id)
    }

    /// A passage by its public id (e.g. `3f2a9c1b0d4e5f60-0012`).
    pub fn passage(&self, passage_id: &str) -> Result<StoredPassage> {
        self.inner.passage(passage_id)
    }

    /// Passages by internal key, in the order given (missing keys skipped).
    pub fn passages_by_key(&self, keys: &[PassageKey]) -> Result<Vec<StoredPassage>> {
        self.inner.passages_by_key(keys)
    }

    /// The stored vector of a passage.
    pub fn passage_vector(&self, key: PassageKey) -> Result<Vec<f32>> {
        self.inner.passage_vector(key)
    }

    /// Facet counts over the passages matching `filter`.
    pub fn facets(&self, filter: &Filter) -> Result<Facets> {
        self.inner.facets(filter)
    }

    /// Calls `f` with every passage matching `filter`, in document then
    /// ordinal order, without loading them all at once (for export).
    pub fn for_each_passage(
        &self,
        filter: &Filter,
        f: &mut dyn FnMut(StoredPassage) -> Result<()>,
    ) -> Result<()> {
        self.inner.for_each_passage(filter, f)
    }

    pub fn stats(&self) -> Result<Stats> {
        self.inner.stats()
    }

    /// The model id this library was built with.
    pub fn model_id(&self) -> &str {
        self.inner.model_id()
    }

    /// The HNSW parameters stored with this library.
    pub fn dense_params(&self) -> dense::DenseParams {
        self.inner.dense_params()
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// Nearest passages to a (normalised) query vector among those matching
    /// `filter`, best first, score = cosine similarity.
    pub fn dense_search(
        &self,
        query: &[f32],
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<ScoredPassage>> {
        self.inner.dense_search(query, k, filter)
    }

    /// Up to `n` stored vectors (concatenated, `dim` floats each), spread
    /// evenly over the library and fixed until it changes: a background
    /// against which a query's similarities can be judged.
    pub fn background_sample(&self, n: usize) -> Result<std::sync::Arc<Vec<f32>>> {
        self.inner.background_sample(n)
    }

    /// The passages holding each word (an index term, or a word the index
    /// holds as several: see [`lexical::word_expression`]) among the
    /// library's first `window` passages: a sample of bounded cost on which
    /// words' association is counted.
    pub fn passages_with(&self, words: &[String], window: usize) -> Result<WordPassages> {
        self.inner.passages_with(words, window)
    }

    /// BM25 search of a query (any script; folded to simplified and
    /// segmented here) among passages matching `filter`, best first.
    pub fn lexical_search(
        &self,
        query: &str,
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<ScoredPassage>> {
        self.inner.lexical_search(query, k, filter)
    }

    /// The distinct places (district, city, province) of the stored
    /// documents: what a query may name to narrow itself down.
    pub fn places(&self) -> Result<Vec<Place>> {
        self.inner.places()
    }

    /// How many passages contain each lexical term (simplified, as
    /// [`lexical::query_terms`] gives them), and how many passages there are:
    /// the inputs of an idf.
    pub fn term_statistics(&self, terms: &[String]) -> Result<TermStatistics> {
        self.inner.term_statistics(terms)
    }

    /// Passage keys and vectors of a document (used by find-similar to
    /// exclude it and by tests).
    pub fn document_keys(&self, doc_id: &str) -> Result<Vec<PassageKey>> {
        self.inner.document_keys(doc_id)
    }
}

impl Drop for Library {
    fn drop(&mut self) {
        if let Err(e) = self.inner.flush() {
            tracing::warn!("could not persist the dense index on close: {e}");
        }
    }
}

/// Re-exported so callers can build highlights without touching jieba.
pub use lexical::{highlight_spans, Highlight};

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Library>();
}

#[cfg(test)]
pub(crate) mod tests;
