//! Query → ranked, filtered, grouped hits; find-similar.
//!
//! Hybrid ranking is reciprocal-rank fusion (RRF) of the dense and lexical
//! lists: it needs no score calibration between cosine similarity and BM25,
//! which live on unrelated scales, and one constant (`rrf_k`, default 60)
//! controls how much the top ranks dominate.

pub mod crosslingual;
pub mod places;
pub mod relevance;
mod similar;

use serde::{Deserialize, Serialize};

use crate::embed::{EmbedError, Embedder};
use std::collections::{HashMap, HashSet};

use crate::index::{
    highlight_spans, lexical::query_terms, Filter, Highlight, IndexError, Library, PassageKey,
    Place, ScoredPassage, StoredPassage,
};
pub use places::{InferredPlace, PlaceLevel};
pub use relevance::{Features, QueryEvidence, RELEVANT};
pub use similar::similar;

// The bounds on what one request may ask for, here and in the API (whose
// description states them; `api::openapi` checks it says these numbers).
/// Upper bound on `k` (hits, or districts when grouped) accepted by
/// [`search`] and [`similar`].
pub const MAX_K: usize = 100;
/// Upper bound on `per_group` ([`search`]) and `per_district` ([`similar`]).
pub const MAX_PER_GROUP: usize = 20;
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
    /// Narrow the search to a place the query names (see [`places`]) when
    /// the filter does not already restrict the place.
    pub infer_places: bool,
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
            infer_places: true,
        }
    }
}

/// One found passage with everything needed to show and cite it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub passage_id: String,
    /// Original script.
    pub text: String,
    #[serde(flatten)]
    pub place: Place,
    pub year: Option<i32>,
    pub doc_id: String,
    pub section_path: Vec<String>,
    /// Ranking score, higher is better: cosine similarity (dense), BM25
    /// (lexical) or the weighted RRF sum (hybrid, and find-similar unless the
    /// lexical side found nothing, when it is the cosine).
    pub score: f32,
    pub title: Option<String>,
    pub doc_type: Option<String>,
    pub ordinal: u32,
    pub term: Option<String>,
    /// Spans of `text` matching query terms (byte offsets into `text`).
    pub highlights: Vec<Highlight>,
    /// Which retrievers found it: "dense", "lexical".
    pub retrievers: Vec<String>,
    /// Estimated probability that the passage addresses the question
    /// (see [`relevance`]); 0.5 and above counts as relevant. Estimated for
    /// questions, not for find-similar (`None`).
    pub relevance: Option<f32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// The district as its best hit's report names it.
    pub district: String,
    /// Other names the same place has in the group's reports (its former or
    /// later names, or units merged into it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_names: Vec<String>,
    /// Whether the district's reports address the question: one of its hits
    /// is estimated relevant. Groups that do come first; the others only
    /// hold the nearest passages.
    pub relevant: bool,
    pub hits: Vec<Hit>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResponse {
    /// Flat list, best first (with grouping: the groups' hits, concatenated
    /// in group order).
    pub hits: Vec<Hit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<Group>>,
    /// The place read out of the query and applied as a filter, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub place: Option<InferredPlace>,
    /// Weight of the lexical list in the fusion (0–1): the share of the
    /// query's idf mass whose words occur in the library at all, so stray
    /// matches on a year or a number do not outvote the dense retriever.
    /// An English question is searched through its Chinese translations
    /// (see [`crosslingual`]), scaled by the share of its English words
    /// that found one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lexical_weight: Option<f32>,
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
    /// The stored passage the request started from: the one asked for by
    /// id, or the one pasted text was recognised as (then its document and
    /// district are left out as for an id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SimilarSource>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimilarSource {
    pub passage_id: String,
    pub doc_id: String,
    pub district: Option<String>,
}

/// How many of a hybrid search's first fused hits are ordered by their
/// relevance estimate. On the development sets (`eval/README.md`) 20
/// ranked as well as 30 and better than 10.
const RERANK_DEPTH: usize = 20;
/// Most candidates one retriever contributes to a fused or grouped ranking.
const MAX_DEPTH: usize = 2000;
/// How strongly negative examples push results away (see [`similar`]).
const NEGATIVE_WEIGHT: f32 = 0.5;
/// Most negative examples accepted.
pub const MAX_NEGATIVES: usize = 10;

/// Whether `group` (`group=` in the API, `--group` in the CLI) asks for
/// grouping by district, the only grouping there is; blank or `none` is a
/// flat list.
pub fn group_by_district(group: Option<&str>) -> Result<bool, SearchError> {
    match group {
        None | Some("") | Some("none") => Ok(false),
        Some("district") => Ok(true),
        Some(other) => Err(SearchError::BadRequest(format!(
            "group `{other}` is not supported; use group=district"
        ))),
    }
}

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

fn check_count(what: &str, n: usize, max: usize) -> Result<(), SearchError> {
    if n == 0 || n > max {
        return Err(SearchError::BadRequest(format!(
            "{what} must be between 1 and {max}, not {n}"
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

fn make_hit(
    p: StoredPassage,
    score: f32,
    terms: &[String],
    retrievers: Vec<String>,
    relevance: Option<f32>,
) -> Hit {
    let highlights = highlight_spans(&p.text, &p.text_simplified, terms);
    Hit {
        passage_id: p.passage_id,
        text: p.text,
        place: p.place,
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
        relevance,
    }
}

/// Weighted reciprocal-rank fusion: each list adds `weight / (rrf_k + rank)`
/// (rank from 1) to the passages it holds. Ties break on the key so results
/// are stable.
pub fn reciprocal_rank_fusion(lists: &[(&[ScoredPassage], f32)], rrf_k: f32) -> Vec<ScoredPassage> {
    let mut fused: HashMap<PassageKey, f32> = HashMap::new();
    for (list, weight) in lists {
        for (rank, sp) in list.iter().enumerate() {
            *fused.entry(sp.key).or_default() += weight / (rrf_k + rank as f32 + 1.0);
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
    check_count("k", req.k, MAX_K)?;
    check_filter(&req.filter)?;
    if req.group_by_district {
        check_count("per_group", req.per_group, MAX_PER_GROUP)?;
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
    let (query, filter, place) = narrow_to_place(lib, req)?;
    // The query vector is needed in every mode: relevance is judged densely
    // too.
    let vector = encoder.encode_query(&query)?;
    let dense = if req.mode != Mode::Lexical {
        lib.dense_search(&vector, depth, &filter)?
    } else {
        Vec::new()
    };
    // English words are read through the bilingual lexicon, in the senses
    // the first dense hits use; relevance weighs the same words.
    let lq = crosslingual::lexical_query(lib, &query, &dense)?;
    let (lexical, lexical_weight) = if req.mode != Mode::Dense {
        (
            lib.lexical_search(&lq.text, depth, &filter)?,
            Some(lq.weight),
        )
    } else {
        (Vec::new(), None)
    };
    let evidence = QueryEvidence::new(lib, &vector, &lq.groups, &query, &filter)?;
    let relevance_of = |p: &StoredPassage| -> Result<f32, SearchError> {
        Ok(evidence.features(p, &lib.passage_vector(p.key)?).estimate())
    };
    let ranked: Vec<ScoredPassage> = match req.mode {
        Mode::Dense => dense.clone(),
        Mode::Lexical => lexical.clone(),
        Mode::Hybrid => reciprocal_rank_fusion(
            &[(&dense, 1.0), (&lexical, lexical_weight.unwrap_or(1.0))],
            req.rrf_k,
        ),
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
    // Highlight the query's words and the Chinese words standing in for its
    // English ones.
    let terms = query_terms(&format!("{} {}", req.query, lq.translations.join(" ")));
    let scores: HashMap<PassageKey, f32> = ranked.iter().map(|s| (s.key, s.score)).collect();
    if !req.group_by_district {
        // The fused list's head is put in the order of the relevance each
        // hit shows: the estimate weighs evidence the rank fusion cannot
        // see (coverage of the question's words, headings, the year asked).
        let head = if req.mode == Mode::Hybrid {
            req.k.max(RERANK_DEPTH)
        } else {
            req.k
        };
        let keys: Vec<PassageKey> = ranked.iter().take(head).map(|s| s.key).collect();
        let mut judged = lib
            .passages_by_key(&keys)?
            .into_iter()
            .map(|p| Ok((relevance_of(&p)?, p)))
            .collect::<Result<Vec<_>, SearchError>>()?;
        if req.mode == Mode::Hybrid {
            // Stable: equal estimates keep the fused order.
            judged.sort_by(|a, b| b.0.total_cmp(&a.0));
        }
        judged.truncate(req.k);
        let hits = judged
            .into_iter()
            .map(|(relevance, p)| {
                let key = p.key;
                make_hit(p, scores[&key], &terms, retrievers(&key), Some(relevance))
            })
            .collect();
        return Ok(SearchResponse {
            hits,
            groups: None,
            place,
            lexical_weight,
        });
    }
    let keys: Vec<PassageKey> = ranked.iter().map(|s| s.key).collect();
    let passages = lib.passages_by_key(&keys)?;
    // Passages arrive best first, so a district's first passage fixes its
    // place; passages of unknown district cannot be grouped and are left out.
    // A place is grouped over time by its key in the divisions' history
    // (清苑县 of 2003 with 清苑区 of 2024), by its label when it has none.
    let mut groups: Vec<Group> = Vec::new();
    let mut index_of: HashMap<String, usize> = HashMap::new();
    let history = crate::corpus::divisions::history().ok();
    for p in passages {
        let Some(district) = p.place.district.clone() else {
            continue;
        };
        let group_key = history
            .and_then(|h| {
                h.place_key_of(
                    p.place.district.as_deref(),
                    p.place.city.as_deref(),
                    p.place.province.as_deref(),
                    p.year.and_then(|y| u16::try_from(y).ok()),
                )
            })
            .map_or_else(|| format!("name:{district}"), |k| format!("code:{k}"));
        let gi = match index_of.get(&group_key) {
            Some(&i) => {
                let g = &mut groups[i];
                if g.district != district && !g.other_names.contains(&district) {
                    g.other_names.push(district);
                }
                i
            }
            None => {
                index_of.insert(group_key, groups.len());
                groups.push(Group {
                    district,
                    other_names: Vec::new(),
                    relevant: false,
                    hits: Vec::new(),
                });
                groups.len() - 1
            }
        };
        if groups[gi].hits.len() < req.per_group {
            let key = p.key;
            let relevance = relevance_of(&p)?;
            let g = &mut groups[gi];
            g.relevant |= relevance >= RELEVANT;
            g.hits.push(make_hit(
                p,
                scores[&key],
                &terms,
                retrievers(&key),
                Some(relevance),
            ));
        }
    }
    // Districts whose reports address the question first, each part in
    // rank order (the sort is stable); then the k best.
    groups.sort_by_key(|g| !g.relevant);
    groups.truncate(req.k);
    let hits = groups.iter().flat_map(|g| g.hits.iter().cloned()).collect();
    Ok(SearchResponse {
        hits,
        groups: Some(groups),
        place,
        lexical_weight,
    })
}

/// The query's words and filter after reading a place out of the query
/// (see [`SearchRequest::infer_places`]).
fn narrow_to_place(
    lib: &Library,
    req: &SearchRequest,
) -> Result<(String, Filter, Option<InferredPlace>), SearchError> {
    let mut filter = req.filter.clone();
    let mut query = req.query.clone();
    let mut place = None;
    if req.infer_places
        && filter.district.is_none()
        && filter.city.is_none()
        && filter.province.is_none()
    {
        let known = lib.places()?;
        if let Some((p, rest)) = places::narrow(&req.query, &known) {
            // A query that is nothing but the place ("麒麟区") keeps its words.
            if rest.chars().any(char::is_alphanumeric) {
                query = rest;
            }
            p.apply(&mut filter);
            place = Some(p);
        }
    }
    Ok((query, filter, place))
}

/// What [`search`] judges the relevance of `req`'s hits against: the query
/// read as search reads it (the place it names taken out, English words
/// through the lexicon in the senses of the first dense hits).
pub fn query_evidence(
    lib: &Library,
    encoder: &dyn QueryEncoder,
    req: &SearchRequest,
) -> Result<QueryEvidence, SearchError> {
    check_text("query", &req.query)?;
    let (query, filter, _) = narrow_to_place(lib, req)?;
    let vector = encoder.encode_query(&query)?;
    let dense = lib.dense_search(&vector, crosslingual::FEEDBACK_DEPTH, &filter)?;
    let lq = crosslingual::lexical_query(lib, &query, &dense)?;
    QueryEvidence::new(lib, &vector, &lq.groups, &query, &filter)
}

/// The relevance evidence (see [`relevance`]) for stored passages, by id,
/// as [`search`] would judge them for `req`: what `scripts/fit-relevance.py`
/// fits and evaluates the estimate on. Unknown ids are skipped.
pub fn relevance_features(
    lib: &Library,
    encoder: &dyn QueryEncoder,
    req: &SearchRequest,
    passage_ids: &[String],
) -> Result<Vec<(String, Features)>, SearchError> {
    let evidence = query_evidence(lib, encoder, req)?;
    let mut out = Vec::new();
    for id in passage_ids {
        let p = match lib.passage(id) {
            Ok(p) => p,
            Err(IndexError::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        let v = lib.passage_vector(p.key)?;
        out.push((id.clone(), evidence.features(&p, &v)));
    }
    Ok(out)
}

/// Share of the query's idf mass carried by words the library contains (see
/// [`SearchResponse::lexical_weight`]); 0 when the query has no words.
pub fn lexical_weight(lib: &Library, query: &str) -> Result<f32, SearchError> {
    let terms = query_terms(query);
    if terms.is_empty() {
        return Ok(0.0);
    }
    let stats = lib.term_statistics(&terms)?;
    let (mut seen, mut total) = (0.0f32, 0.0f32);
    for (i, df) in stats.document_frequency.iter().enumerate() {
        let idf = stats.idf(i);
        total += idf;
        if *df > 0 {
            seen += idf;
        }
    }
    Ok(if total > 0.0 { seen / total } else { 0.0 })
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    crate::index::dense::normalize(&mut v);
    v
}
