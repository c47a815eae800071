//! Query → ranked, filtered, grouped hits; find-similar.
//!
//! Hybrid ranking is reciprocal-rank fusion (RRF) of the dense and lexical
//! lists: it needs no score calibration between cosine similarity and BM25,
//! which live on unrelated scales, and one constant (`rrf_k`, default 60)
//! controls how much the top ranks dominate.

use serde::{Deserialize, Serialize};

use crate::embed::{EmbedError, Embedder};
use crate::index::{Filter, Highlight, IndexError, Library};

/// Upper bound on `k` / `per_group` accepted by [`search`] and [`similar`].
pub const MAX_K: usize = 200;
/// Upper bound on query / pasted text length, in characters.
pub const MAX_QUERY_CHARS: usize = 2000;
/// Default RRF constant.
pub const DEFAULT_RRF_K: f32 = 60.0;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The request itself is wrong (empty query, k out of range…): a 4xx.
    #[error("{0}")]
    BadRequest(String),
    /// A referenced passage or document does not exist: a 404.
    #[error("no {what} with id {id}")]
    NotFound { what: &'static str, id: String },
    #[error(transparent)]
    Index(IndexError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
}

impl From<IndexError> for SearchError {
    fn from(e: IndexError) -> Self {
        match e {
            IndexError::NotFound { what, id } => SearchError::NotFound { what, id },
            IndexError::Invalid(m) => SearchError::BadRequest(m),
            e => SearchError::Index(e),
        }
    }
}

/// Turns text into vectors in the index's space. [`Embedder`] implements it;
/// tests implement it with synthetic vectors.
pub trait QueryEncoder: Send + Sync {
    /// Vector for a search question (the model's query side).
    fn encode_query(&self, text: &str) -> Result<Vec<f32>, EmbedError>;
    /// Vector for pasted passage-like text (find-similar), comparable with
    /// stored passage vectors.
    fn encode_passage(&self, text: &str) -> Result<Vec<f32>, EmbedError>;
}

impl QueryEncoder for Embedder {
    fn encode_query(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        Ok(self.embed_queries(&[text])?.remove(0))
    }
    fn encode_passage(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        Ok(self.embed_passages(&[text])?.remove(0))
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Dense,
    Lexical,
    #[default]
    Hybrid,
}

impl std::str::FromStr for Mode {
    type Err = SearchError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "dense" => Ok(Mode::Dense),
            "lexical" | "bm25" => Ok(Mode::Lexical),
            "hybrid" => Ok(Mode::Hybrid),
            other => Err(SearchError::BadRequest(format!(
                "mode must be dense, lexical or hybrid, not {other:?}"
            ))),
        }
    }
}

/// A search. `k` bounds the flat hit list; with `group_by_district`, up to
/// `k` districts with up to `per_group` hits each are returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchRequest {
    pub query: String,
    pub k: usize,
    pub mode: Mode,
    pub filter: Filter,
    pub group_by_district: bool,
    pub per_group: usize,
    pub rrf_k: f32,
}

impl Default for SearchRequest {
    fn default() -> Self {
        SearchRequest {
            query: String::new(),
            k: 10,
            mode: Mode::Hybrid,
            filter: Filter::default(),
            group_by_district: false,
            per_group: 3,
            rrf_k: DEFAULT_RRF_K,
        }
    }
}

/// One found passage with everything needed to show and cite it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub passage_id: String,
    /// Original script.
    pub text: String,
    pub district: Option<String>,
    pub city: Option<String>,
    pub province: Option<String>,
    pub year: Option<i32>,
    pub doc_id: String,
    pub section_path: Vec<String>,
    /// Ranking score, higher is better: cosine similarity (dense, similar),
    /// BM25 (lexical) or the RRF sum (hybrid).
    pub score: f32,
    pub title: Option<String>,
    pub doc_type: Option<String>,
    pub ordinal: u32,
    pub term: Option<String>,
    /// Spans of `text` matching query terms (byte offsets into `text`).
    pub highlights: Vec<Highlight>,
    /// Which retrievers found it: "dense", "lexical".
    pub retrievers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub district: String,
    pub hits: Vec<Hit>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResponse {
    /// Flat list, best first (with grouping: the groups' hits, concatenated
    /// in group order).
    pub hits: Vec<Hit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<Group>>,
}

/// Find passages like a given one (by id) or like pasted text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimilarRequest {
    pub passage_id: Option<String>,
    pub text: Option<String>,
    pub k: usize,
    /// Best passages kept per district.
    pub per_district: usize,
    /// Passage ids or texts to steer away from.
    pub negative: Vec<String>,
    /// Keep hits from the source passage's district (excluded by default).
    pub include_same_district: bool,
    pub filter: Filter,
}

impl Default for SimilarRequest {
    fn default() -> Self {
        SimilarRequest {
            passage_id: None,
            text: None,
            k: 10,
            per_district: 1,
            negative: Vec::new(),
            include_same_district: false,
            filter: Filter::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimilarResponse {
    pub hits: Vec<Hit>,
}

/// Runs a search request against the library.
pub fn search(
    lib: &Library,
    encoder: &dyn QueryEncoder,
    req: &SearchRequest,
) -> Result<SearchResponse, SearchError> {
    let _ = (lib, encoder, req);
    todo!()
}

/// Finds passages similar to a stored passage or to pasted text.
pub fn similar(
    lib: &Library,
    encoder: &dyn QueryEncoder,
    req: &SimilarRequest,
) -> Result<SimilarResponse, SearchError> {
    let _ = (lib, encoder, req);
    todo!()
}
