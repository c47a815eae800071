//! Query → ranked, filtered, grouped hits; find-similar.
//!
//! Hybrid ranking is reciprocal-rank fusion (RRF) of the dense and lexical
//! lists: it needs no score calibration between cosine similarity and BM25,
//! which live on unrelated scales, and one constant (`rrf_k`, default 60)
//! controls how much the top ranks dominate.

use serde::{Deserialize, Serialize};

use crate::embed::{EmbedError, Embedder};
use std::collections::{HashMap, HashSet};

use crate::index::{
    highlight_spans, lexical::query_terms, Filter, Highlight, IndexError, Library, PassageKey,
    ScoredPassage, StoredPassage,
};

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

/// Most candidates one retriever contributes to a fused or grouped ranking.
const MAX_DEPTH: usize = 2000;
/// How strongly negative examples push results away (see [`similar`]).
const NEGATIVE_WEIGHT: f32 = 0.5;
/// Most negative examples accepted.
pub const MAX_NEGATIVES: usize = 20;

fn check_text(what: &str, text: &str) -> Result<(), SearchError> {
    if text.trim().is_empty() {
        return Err(SearchError::BadRequest(format!("{what} is empty")));
    }
    let n = text.chars().count();
    if n > MAX_QUERY_CHARS {
        return Err(SearchError::BadRequest(format!(
            "{what} is {n} characters long; the limit is {MAX_QUERY_CHARS}"
        )));
    }
    Ok(())
}

fn check_count(what: &str, n: usize) -> Result<(), SearchError> {
    if n == 0 || n > MAX_K {
        return Err(SearchError::BadRequest(format!(
            "{what} must be between 1 and {MAX_K}, not {n}"
        )));
    }
    Ok(())
}

fn check_filter(f: &Filter) -> Result<(), SearchError> {
    if let (Some(a), Some(b)) = (f.year_from, f.year_to) {
        if a > b {
            return Err(SearchError::BadRequest(format!(
                "year range {a}..{b} is empty"
            )));
        }
    }
    Ok(())
}

fn make_hit(p: StoredPassage, score: f32, terms: &[String], retrievers: Vec<String>) -> Hit {
    let highlights = highlight_spans(&p.text, &p.text_simplified, terms);
    Hit {
        passage_id: p.passage_id,
        text: p.text,
        district: p.district,
        city: p.city,
        province: p.province,
        year: p.year,
        doc_id: p.doc_id,
        section_path: p.section_path,
        score,
        title: p.title,
        doc_type: p.doc_type,
        ordinal: p.ordinal,
        term: p.term,
        highlights,
        retrievers,
    }
}

/// Reciprocal-rank fusion: each list adds `1 / (rrf_k + rank)` (rank from 1)
/// to the passages it holds. Ties break on the key so results are stable.
pub fn reciprocal_rank_fusion(lists: &[&[ScoredPassage]], rrf_k: f32) -> Vec<ScoredPassage> {
    let mut fused: HashMap<PassageKey, f32> = HashMap::new();
    for list in lists {
        for (rank, sp) in list.iter().enumerate() {
            *fused.entry(sp.key).or_default() += 1.0 / (rrf_k + rank as f32 + 1.0);
        }
    }
    let mut out: Vec<ScoredPassage> = fused
        .into_iter()
        .map(|(key, score)| ScoredPassage { key, score })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.key.cmp(&b.key)));
    out
}

/// Runs a search request against the library.
pub fn search(
    lib: &Library,
    encoder: &dyn QueryEncoder,
    req: &SearchRequest,
) -> Result<SearchResponse, SearchError> {
    check_text("query", &req.query)?;
    check_count("k", req.k)?;
    check_filter(&req.filter)?;
    if req.group_by_district {
        check_count("per_group", req.per_group)?;
    }
    if !(req.rrf_k.is_finite() && req.rrf_k > 0.0) {
        return Err(SearchError::BadRequest(format!(
            "rrf_k must be a positive number, not {}",
            req.rrf_k
        )));
    }
    let wanted = if req.group_by_district {
        req.k * req.per_group
    } else {
        req.k
    };
    // Fusion and grouping both need more than the final count from each
    // retriever: a passage ranked 30th by one list can win overall, and a
    // district's best passage may sit far down the flat list.
    let depth = if req.group_by_district {
        (wanted * 10).clamp(200, MAX_DEPTH)
    } else {
        (wanted * 3).clamp(50, MAX_DEPTH)
    };
    let dense = if req.mode != Mode::Lexical {
        let v = encoder.encode_query(&req.query)?;
        lib.dense_search(&v, depth, &req.filter)?
    } else {
        Vec::new()
    };
    let lexical = if req.mode != Mode::Dense {
        lib.lexical_search(&req.query, depth, &req.filter)?
    } else {
        Vec::new()
    };
    let ranked: Vec<ScoredPassage> = match req.mode {
        Mode::Dense => dense.clone(),
        Mode::Lexical => lexical.clone(),
        Mode::Hybrid => reciprocal_rank_fusion(&[&dense, &lexical], req.rrf_k),
    };
    let dense_keys: HashSet<PassageKey> = dense.iter().map(|s| s.key).collect();
    let lexical_keys: HashSet<PassageKey> = lexical.iter().map(|s| s.key).collect();
    let retrievers = |key: &PassageKey| {
        let mut r = Vec::new();
        if dense_keys.contains(key) {
            r.push("dense".to_string());
        }
        if lexical_keys.contains(key) {
            r.push("lexical".to_string());
        }
        r
    };
    let terms = query_terms(&req.query);
    let to_load: Vec<PassageKey> = if req.group_by_district {
        ranked.iter().map(|s| s.key).collect()
    } else {
        ranked.iter().take(req.k).map(|s| s.key).collect()
    };
    let scores: HashMap<PassageKey, f32> = ranked.iter().map(|s| (s.key, s.score)).collect();
    let passages = lib.passages_by_key(&to_load)?;
    if !req.group_by_district {
        let hits = passages
            .into_iter()
            .map(|p| {
                let key = p.key;
                make_hit(p, scores[&key], &terms, retrievers(&key))
            })
            .collect();
        return Ok(SearchResponse { hits, groups: None });
    }
    // Passages arrive best first, so a district's first passage fixes its
    // place; passages of unknown district cannot be grouped and are left out.
    let mut groups: Vec<Group> = Vec::new();
    let mut index_of: HashMap<String, usize> = HashMap::new();
    for p in passages {
        let Some(district) = p.district.clone() else {
            continue;
        };
        let gi = match index_of.get(&district) {
            Some(&i) => i,
            None => {
                if groups.len() == req.k {
                    continue;
                }
                index_of.insert(district.clone(), groups.len());
                groups.push(Group {
                    district,
                    hits: Vec::new(),
                });
                groups.len() - 1
            }
        };
        if groups[gi].hits.len() < req.per_group {
            let key = p.key;
            groups[gi]
                .hits
                .push(make_hit(p, scores[&key], &terms, retrievers(&key)));
        }
    }
    let hits = groups.iter().flat_map(|g| g.hits.iter().cloned()).collect();
    Ok(SearchResponse {
        hits,
        groups: Some(groups),
    })
}

/// Finds passages similar to a stored passage or to pasted text.
///
/// Candidates come from the dense index; the source document is always left
/// out and, unless `include_same_district`, its whole district (the point is
/// to see how *other* districts handle the same thing). At most
/// `per_district` passages per district are kept. Negative examples (passage
/// ids or texts) steer away twice: the query vector moves away from their
/// mean before retrieval, and each candidate then loses
/// `0.5 × its highest similarity to a negative` from its score.
pub fn similar(
    lib: &Library,
    encoder: &dyn QueryEncoder,
    req: &SimilarRequest,
) -> Result<SimilarResponse, SearchError> {
    check_count("k", req.k)?;
    check_count("per_district", req.per_district)?;
    check_filter(&req.filter)?;
    if req.negative.len() > MAX_NEGATIVES {
        return Err(SearchError::BadRequest(format!(
            "at most {MAX_NEGATIVES} negative examples are accepted, not {}",
            req.negative.len()
        )));
    }
    let passage_id = req
        .passage_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let text = req.text.as_deref().filter(|s| !s.trim().is_empty());
    let (source, query) = match (passage_id, text) {
        (Some(id), None) => {
            let p = lib.passage(id)?;
            let v = lib.passage_vector(p.key)?;
            (Some(p), v)
        }
        (None, Some(t)) => {
            check_text("text", t)?;
            (None, encoder.encode_passage(t)?)
        }
        (Some(_), Some(_)) => {
            return Err(SearchError::BadRequest(
                "give either passage_id or text, not both".into(),
            ))
        }
        (None, None) => {
            return Err(SearchError::BadRequest(
                "give a passage_id or a text to find similar passages".into(),
            ))
        }
    };
    let query = unit(query);
    let mut negatives: Vec<Vec<f32>> = Vec::new();
    for n in &req.negative {
        check_text("negative example", n)?;
        let v = match lib.passage(n.trim()) {
            Ok(p) => lib.passage_vector(p.key)?,
            Err(IndexError::NotFound { .. }) => encoder.encode_passage(n)?,
            Err(e) => return Err(e.into()),
        };
        negatives.push(unit(v));
    }
    let steered = if negatives.is_empty() {
        query.clone()
    } else {
        let mut q = query.clone();
        for n in &negatives {
            for (x, y) in q.iter_mut().zip(n) {
                *x -= NEGATIVE_WEIGHT * y / negatives.len() as f32;
            }
        }
        unit(q)
    };
    let source_doc = source.as_ref().map(|p| p.doc_id.clone());
    let source_district = source.as_ref().and_then(|p| p.district.clone());
    let excluded = |p: &StoredPassage| {
        Some(&p.doc_id) == source_doc.as_ref()
            || (!req.include_same_district
                && source_district.is_some()
                && p.district == source_district)
    };
    let wanted = req.k * req.per_district;
    let mut depth = (wanted * 8).clamp(100, MAX_DEPTH);
    loop {
        let found = lib.dense_search(&steered, depth, &req.filter)?;
        let exhausted = found.len() < depth || depth >= MAX_DEPTH * 4;
        let keys: Vec<PassageKey> = found.iter().map(|s| s.key).collect();
        let mut scored: Vec<(StoredPassage, f32)> = Vec::new();
        for p in lib.passages_by_key(&keys)? {
            if excluded(&p) {
                continue;
            }
            let v = lib.passage_vector(p.key)?;
            let mut score = crate::index::dense::dot(&query, &v);
            if let Some(worst) = negatives
                .iter()
                .map(|n| crate::index::dense::dot(n, &v))
                .max_by(f32::total_cmp)
            {
                score -= NEGATIVE_WEIGHT * worst.max(0.0);
            }
            scored.push((p, score));
        }
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.key.cmp(&b.0.key)));
        let mut per: HashMap<String, usize> = HashMap::new();
        let mut hits = Vec::new();
        for (p, score) in scored {
            // A passage of unknown district is its own group (by document).
            let group = p
                .district
                .clone()
                .unwrap_or_else(|| format!("doc:{}", p.doc_id));
            let n = per.entry(group).or_default();
            if *n >= req.per_district {
                continue;
            }
            *n += 1;
            hits.push(make_hit(p, score, &[], vec!["dense".to_string()]));
            if hits.len() == req.k {
                break;
            }
        }
        if hits.len() == req.k || exhausted {
            return Ok(SimilarResponse { hits });
        }
        depth *= 4;
    }
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    crate::index::dense::normalize(&mut v);
    v
}
