//! Find-similar: passages like a stored passage or pasted text, from other
//! districts. See [`similar`].

use std::collections::{HashMap, HashSet};

use crate::index::{Filter, IndexError, Library, PassageKey, ScoredPassage, StoredPassage};

use super::{
    check_count, check_filter, check_text, lexical_weight, make_hit, reciprocal_rank_fusion, unit,
    Hit, QueryEncoder, SearchError, SimilarRequest, SimilarResponse, SimilarSource, DEFAULT_RRF_K,
    MAX_DEPTH, MAX_K, MAX_NEGATIVES, MAX_PER_GROUP, NEGATIVE_WEIGHT,
};

/// Finds passages similar to a stored passage or to pasted text.
///
/// The source is a stored passage (by id) or pasted text; pasted text that
/// was copied from a stored passage (its character 4-grams mostly found
/// there, in either script) is recognised as that passage, so that the
/// same rules apply: the source document is always left out and, unless
/// `include_same_district`, its whole district (the point is to see how
/// *other* districts handle the same thing). At most `per_district`
/// passages per district are kept.
///
/// Candidates come from the dense index and from the lexical index (BM25
/// over the source's words, weighted as in [`search`]), fused by reciprocal
/// rank. The dense side encodes the source text as a *query*, for an id as
/// for pasted text: e5 is trained to find passages for queries, and on the
/// dev set's find-similar queries the query side put the first relevant
/// passage at rank 1–3 where the passage side (symmetric similarity of a
/// short text to long passages) put it at rank 4–7. It also makes "similar
/// to this id" and "similar to this passage's text" the same request. Negative examples (passage ids or
/// texts) steer away twice: the query vector moves away from their mean
/// before retrieval, and each candidate then loses
/// `0.5 × its highest similarity to a negative` from its cosine, which
/// reorders the dense list before fusion.
pub fn similar(
    lib: &Library,
    encoder: &dyn QueryEncoder,
    req: &SimilarRequest,
) -> Result<SimilarResponse, SearchError> {
    check_count("k", req.k, MAX_K)?;
    check_count("per_district", req.per_district, MAX_PER_GROUP)?;
    check_filter(&req.filter)?;
    if req.negative.len() > MAX_NEGATIVES {
        return Err(SearchError::BadRequest(format!(
            "at most {MAX_NEGATIVES} negative examples are accepted, not {}",
            req.negative.len()
        )));
    }
    let source = Source::resolve(lib, encoder, req)?;
    let negatives = negative_vectors(lib, encoder, &req.negative)?;
    let steered = steer(&source.query, &negatives);
    let lexical_weight = lexical_weight(lib, &source.text)?;
    let source_doc = source.passage.as_ref().map(|p| p.doc_id.clone());
    let source_district = source
        .passage
        .as_ref()
        .and_then(|p| p.place.district.clone());
    let excluded = |p: &StoredPassage| {
        Some(&p.doc_id) == source_doc.as_ref()
            || (!req.include_same_district
                && source_district.is_some()
                && p.place.district == source_district)
    };
    let wanted = req.k * req.per_district;
    let mut depth = (wanted * 8).clamp(100, MAX_DEPTH);
    loop {
        let found = lib.dense_search(&steered, depth, &req.filter)?;
        let lexical = if lexical_weight > 0.0 {
            lib.lexical_search(&source.text, depth, &req.filter)?
        } else {
            Vec::new()
        };
        let exhausted = found.len() < depth || depth >= MAX_DEPTH * 4;
        let round = Round::score(lib, &found, &lexical, &source.query, &negatives, &excluded)?;
        let hits = round.take(lexical_weight, req.k, req.per_district);
        if hits.len() == req.k || exhausted {
            return Ok(SimilarResponse {
                hits,
                source: source.passage.map(|p| SimilarSource {
                    passage_id: p.passage_id,
                    doc_id: p.doc_id,
                    district: p.place.district,
                }),
            });
        }
        depth *= 4;
    }
}

/// What a find-similar request starts from: the stored passage it names or
/// was pasted from (if any), its query vector and its text.
struct Source {
    passage: Option<StoredPassage>,
    query: Vec<f32>,
    text: String,
}

impl Source {
    fn resolve(
        lib: &Library,
        encoder: &dyn QueryEncoder,
        req: &SimilarRequest,
    ) -> Result<Source, SearchError> {
        let passage_id = req
            .passage_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let text = req.text.as_deref().filter(|s| !s.trim().is_empty());
        let (passage, query, text) = match (passage_id, text) {
            (Some(id), None) => {
                let p = lib.passage(id)?;
                let v = encoder.encode_query(&p.text)?;
                let t = p.text.clone();
                (Some(p), v, t)
            }
            (None, Some(t)) => {
                check_text("text", t)?;
                let v = unit(encoder.encode_query(t)?);
                let source = source_of_text(lib, t, &v)?;
                (source, v, t.to_string())
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
        Ok(Source {
            passage,
            query: unit(query),
            text,
        })
    }
}

/// Unit vectors of the negative examples: a stored passage's own vector
/// when one is named by id, else the text encoded as a passage.
fn negative_vectors(
    lib: &Library,
    encoder: &dyn QueryEncoder,
    negative: &[String],
) -> Result<Vec<Vec<f32>>, SearchError> {
    let mut out = Vec::with_capacity(negative.len());
    for n in negative {
        check_text("negative example", n)?;
        let v = match lib.passage(n.trim()) {
            Ok(p) => lib.passage_vector(p.key)?,
            Err(IndexError::NotFound { .. }) => encoder.encode_passage(n)?,
            Err(e) => return Err(e.into()),
        };
        out.push(unit(v));
    }
    Ok(out)
}

/// The query moved away from the negatives' mean, for retrieval.
fn steer(query: &[f32], negatives: &[Vec<f32>]) -> Vec<f32> {
    if negatives.is_empty() {
        return query.to_vec();
    }
    let mut q = query.to_vec();
    for n in negatives {
        for (x, y) in q.iter_mut().zip(n) {
            *x -= NEGATIVE_WEIGHT * y / negatives.len() as f32;
        }
    }
    unit(q)
}

/// One retrieval round's candidates, scored: the dense list re-ranked by
/// cosine less the penalty for the nearest negative, the lexical list as
/// found, both without excluded passages.
struct Round {
    in_dense: HashSet<PassageKey>,
    dense_ranked: Vec<ScoredPassage>,
    lexical_ranked: Vec<ScoredPassage>,
    candidates: HashMap<PassageKey, StoredPassage>,
}

impl Round {
    fn score(
        lib: &Library,
        found: &[ScoredPassage],
        lexical: &[ScoredPassage],
        query: &[f32],
        negatives: &[Vec<f32>],
        excluded: &dyn Fn(&StoredPassage) -> bool,
    ) -> Result<Round, SearchError> {
        let mut keys: Vec<PassageKey> = found.iter().map(|s| s.key).collect();
        let in_dense: HashSet<PassageKey> = keys.iter().copied().collect();
        keys.extend(
            lexical
                .iter()
                .map(|s| s.key)
                .filter(|k| !in_dense.contains(k)),
        );
        let mut cosine: HashMap<PassageKey, f32> = HashMap::new();
        let mut candidates: HashMap<PassageKey, StoredPassage> = HashMap::new();
        for p in lib.passages_by_key(&keys)? {
            if excluded(&p) {
                continue;
            }
            let v = lib.passage_vector(p.key)?;
            let mut score = crate::index::dense::dot(query, &v);
            if let Some(worst) = negatives
                .iter()
                .map(|n| crate::index::dense::dot(n, &v))
                .max_by(f32::total_cmp)
            {
                score -= NEGATIVE_WEIGHT * worst.max(0.0);
            }
            cosine.insert(p.key, score);
            candidates.insert(p.key, p);
        }
        let mut dense_ranked: Vec<ScoredPassage> = found
            .iter()
            .filter_map(|s| {
                cosine
                    .get(&s.key)
                    .map(|&score| ScoredPassage { key: s.key, score })
            })
            .collect();
        dense_ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.key.cmp(&b.key)));
        let lexical_ranked: Vec<ScoredPassage> = lexical
            .iter()
            .filter(|s| candidates.contains_key(&s.key))
            .copied()
            .collect();
        Ok(Round {
            in_dense,
            dense_ranked,
            lexical_ranked,
            candidates,
        })
    }

    /// Fuses the two lists and keeps up to `k` hits, at most
    /// `per_district` from any one district.
    fn take(mut self, lexical_weight: f32, k: usize, per_district: usize) -> Vec<Hit> {
        let ranked = if self.lexical_ranked.is_empty() {
            std::mem::take(&mut self.dense_ranked)
        } else {
            reciprocal_rank_fusion(
                &[
                    (&self.dense_ranked, 1.0),
                    (&self.lexical_ranked, lexical_weight),
                ],
                DEFAULT_RRF_K,
            )
        };
        let lexical_keys: HashSet<PassageKey> = self.lexical_ranked.iter().map(|s| s.key).collect();
        let mut per: HashMap<String, usize> = HashMap::new();
        let mut hits = Vec::new();
        for sp in ranked {
            let Some(p) = self.candidates.remove(&sp.key) else {
                continue;
            };
            // A passage of unknown district is its own group (by document).
            let group = p
                .place
                .district
                .clone()
                .unwrap_or_else(|| format!("doc:{}", p.doc_id));
            let n = per.entry(group).or_default();
            if *n >= per_district {
                continue;
            }
            *n += 1;
            let mut retrievers = Vec::new();
            if self.in_dense.contains(&sp.key) {
                retrievers.push("dense".to_string());
            }
            if lexical_keys.contains(&sp.key) {
                retrievers.push("lexical".to_string());
            }
            hits.push(make_hit(p, sp.score, &[], retrievers, None));
            if hits.len() == k {
                break;
            }
        }
        hits
    }
}

/// Share of a pasted text's character 4-grams (simplified, letters and
/// digits only) that a stored passage must hold to count as its source.
const SOURCE_OVERLAP: f32 = 0.8;

/// The stored passage pasted text was copied from, if any: among the
/// passages nearest to it densely and lexically, the one sharing the most
/// character 4-grams with it, when the shared grams cover at least
/// [`SOURCE_OVERLAP`] of the text or of the passage (text pasted with the
/// surrounding sentences still contains the whole passage).
fn source_of_text(
    lib: &Library,
    text: &str,
    vector: &[f32],
) -> Result<Option<StoredPassage>, SearchError> {
    const CANDIDATES: usize = 8;
    let any = Filter::default();
    let mut keys: Vec<PassageKey> = lib
        .dense_search(vector, CANDIDATES, &any)?
        .iter()
        .map(|s| s.key)
        .collect();
    for s in lib.lexical_search(text, CANDIDATES, &any)? {
        if !keys.contains(&s.key) {
            keys.push(s.key);
        }
    }
    let grams = char_grams(&crate::corpus::to_simplified(text));
    if grams.is_empty() {
        return Ok(None);
    }
    let mut best: Option<(f32, StoredPassage)> = None;
    for p in lib.passages_by_key(&keys)? {
        let theirs = char_grams(&p.text_simplified);
        if theirs.is_empty() {
            continue;
        }
        let shared = grams.intersection(&theirs).count() as f32;
        let overlap = (shared / grams.len() as f32).max(shared / theirs.len() as f32);
        if overlap >= SOURCE_OVERLAP && best.as_ref().is_none_or(|(o, _)| overlap > *o) {
            best = Some((overlap, p));
        }
    }
    Ok(best.map(|(_, p)| p))
}

/// Distinct 4-grams of the letters and digits of `text`, lower-cased.
fn char_grams(text: &str) -> HashSet<[char; 4]> {
    let chars: Vec<char> = text
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    chars.windows(4).map(|w| [w[0], w[1], w[2], w[3]]).collect()
}
