//! A topic across districts: per district whose reports speak about it, the
//! few sentences that best cover it without repeating each other; the
//! districts searched where nothing relevant was found; then what two or
//! more districts say alike.
//!
//! Retrieval is the search module's (hybrid, grouped by district), and only
//! hits that search estimates relevant ([`crate::search::relevance`]) are
//! summarised: a district whose nearest passages are not about the topic is
//! listed as not mentioning it rather than summarised with whatever came
//! closest. Within those hits, sentences are scored with the model's own
//! embeddings and the query's words; a sentence that carries none of the
//! query's words while others do is about something else in the same
//! passage. Selection is MMR (Carbonell & Goldstein, 1998): relevance minus
//! redundancy with what is already chosen.

use std::collections::BTreeSet;

use serde::Serialize;

use super::document::SummarySentence;
use super::text::sentence_spans;
use super::SummarizeError;
use crate::embed::Embedder;
use crate::index::{Filter, Library};
use crate::search::{self, places, Mode, QueryEncoder, SearchRequest};

/// Weight of relevance against novelty in MMR. Even: multilingual-e5 packs
/// both relevance and sentence-to-sentence similarity into a narrow band
/// (about 0.75–0.95), so neither spread dwarfs the other.
const MMR_LAMBDA: f32 = 0.5;
/// Cosine between two sentences of different districts above which they are
/// taken to make the same statement. multilingual-e5 puts unrelated sentences
/// of one genre near 0.8, so "the same statement" must sit well above that.
const SAME_STATEMENT: f32 = 0.93;
/// How far below a district's most relevant sentence another may score and
/// still be summarised (cosine; e5's scale is compressed).
const RELEVANCE_MARGIN: f32 = 0.03;
/// Relevance a hit needs before its sentences are summarised. Stricter than
/// search's 0.5 ("addresses the question"): the estimate is fitted on
/// judgements where a passing mention counts, and a summary that quotes a
/// passing mention tells the reader a district has a policy it does not.
/// Chosen on the train split of `eval/topics.jsonl` (0.5 → district
/// precision 0.77, 0.7 → 0.94 at recall 0.81 → 0.73; 0.8 and above cost
/// recall and gained no precision).
const SPEAKS: f32 = 0.7;
/// Passages retrieved per district, sentences considered per district.
const PASSAGES_PER_DISTRICT: usize = 3;
const CANDIDATES_PER_DISTRICT: usize = 12;

#[derive(Debug, Clone)]
pub struct TopicRequest {
    pub query: String,
    pub filter: Filter,
    /// Sentences per district.
    pub max_sentences: usize,
    /// Districts at most.
    pub max_districts: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct DistrictSummary {
    pub district: String,
    pub sentences: Vec<SummarySentence>,
}

/// A statement made by two or more districts: one sentence of each.
#[derive(Debug, Clone, Serialize)]
pub struct CommonStatement {
    pub districts: Vec<String>,
    pub sentences: Vec<SummarySentence>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TopicSummary {
    pub query: String,
    /// Districts whose reports speak about the topic, most relevant first.
    /// Empty when no report in scope does.
    pub districts: Vec<DistrictSummary>,
    /// Districts in scope (the filter, or the place the query names) whose
    /// reports were searched and say nothing relevant (未提及).
    pub not_mentioned: Vec<String>,
    pub in_common: Vec<CommonStatement>,
}

/// `embedder` encodes the candidate sentences in one batch; `encoder` the
/// question, for the search, the sentences' relevance and the evidence.
pub fn summarize_topic(
    lib: &Library,
    embedder: &Embedder,
    encoder: &dyn QueryEncoder,
    req: &TopicRequest,
) -> Result<TopicSummary, SummarizeError> {
    if req.max_sentences == 0 || req.max_districts == 0 {
        return Err(SummarizeError::BadRequest(
            "max_sentences and max_districts must be at least 1".into(),
        ));
    }
    let request = SearchRequest {
        query: req.query.clone(),
        k: req.max_districts,
        mode: Mode::Hybrid,
        filter: req.filter.clone(),
        group_by_district: true,
        per_group: PASSAGES_PER_DISTRICT,
        ..SearchRequest::default()
    };
    let found = search::search(lib, encoder, &request)?;
    let groups = found.groups.unwrap_or_default();

    // Candidate sentences, per district, in retrieval order: from the hits
    // estimated relevant only.
    let mut candidates: Vec<(String, Vec<SummarySentence>)> = Vec::new();
    for g in groups.iter().filter(|g| g.relevant) {
        let mut sentences = Vec::new();
        for hit in g
            .hits
            .iter()
            .filter(|h| h.relevance.is_some_and(|r| r >= SPEAKS))
        {
            for (a, b) in sentence_spans(&hit.text) {
                let text = hit.text[a..b].trim();
                if text.chars().count() < 8 {
                    continue;
                }
                sentences.push(SummarySentence {
                    text: text.to_string(),
                    passage_id: hit.passage_id.clone(),
                    doc_id: hit.doc_id.clone(),
                    district: hit.place.district.clone(),
                    section_path: hit.section_path.clone(),
                    score: 0.0,
                });
            }
        }
        sentences.truncate(CANDIDATES_PER_DISTRICT);
        if !sentences.is_empty() {
            candidates.push((g.district.clone(), sentences));
        }
    }
    let not_mentioned = unmentioned(lib, req, found.place.as_ref(), &groups, &candidates)?;

    // One batch for every sentence: the model is fastest on batches.
    let texts: Vec<&str> = candidates
        .iter()
        .flat_map(|(_, s)| s.iter().map(|x| x.text.as_str()))
        .collect();
    let vectors = embedder.embed_passages(&texts)?;
    let query = encoder.encode_query(&req.query)?;
    let evidence = search::query_evidence(lib, encoder, &request)?;

    let mut districts = Vec::new();
    let mut chosen_all: Vec<(usize, SummarySentence, Vec<f32>)> = Vec::new();
    let mut offset = 0;
    for (d, (district, sentences)) in candidates.into_iter().enumerate() {
        let vecs = &vectors[offset..offset + sentences.len()];
        offset += sentences.len();
        let relevance: Vec<f32> = vecs.iter().map(|v| dot(v, &query)).collect();
        let coverage: Vec<f32> = sentences
            .iter()
            .map(|s| evidence.coverage(&crate::corpus::to_simplified(&s.text)))
            .collect();
        let on_topic = on_topic(&relevance, &coverage);
        let picked: Vec<usize> = mmr(
            &on_topic.iter().map(|&i| relevance[i]).collect::<Vec<_>>(),
            &on_topic
                .iter()
                .map(|&i| vecs[i].clone())
                .collect::<Vec<_>>(),
            req.max_sentences,
        )
        .into_iter()
        .map(|j| on_topic[j])
        .collect();
        let mut out = Vec::new();
        for i in picked {
            let mut s = sentences[i].clone();
            s.score = relevance[i];
            chosen_all.push((d, s.clone(), vecs[i].clone()));
            out.push(s);
        }
        districts.push(DistrictSummary {
            district,
            sentences: out,
        });
    }

    let in_common = common_statements(&chosen_all);
    Ok(TopicSummary {
        query: req.query.clone(),
        districts,
        not_mentioned,
        in_common,
    })
}

/// The sentences of one district that are about the topic. Where some carry
/// the query's words, those with at least half the best share of them
/// (a sentence without them, in a passage about the topic, is about its
/// neighbour); where none do (a paraphrase, another language), those within
/// [`RELEVANCE_MARGIN`] of the best similarity. Either way, sentences far
/// below the best similarity are dropped: MMR alone would fill the quota
/// with novel but off-topic ones.
fn on_topic(relevance: &[f32], coverage: &[f32]) -> Vec<usize> {
    let best = relevance.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let most = coverage.iter().copied().fold(0.0f32, f32::max);
    (0..relevance.len())
        .filter(|&i| {
            if most > 0.0 {
                coverage[i] > 0.0
                    && coverage[i] >= 0.5 * most
                    && relevance[i] >= best - 2.0 * RELEVANCE_MARGIN
            } else {
                relevance[i] >= best - RELEVANCE_MARGIN
            }
        })
        .collect()
}

/// Districts in scope that the summary does not cover: every district of the
/// documents the filter (with the place the query names) admits, less those
/// summarised, by name or by another name of the same place.
fn unmentioned(
    lib: &Library,
    req: &TopicRequest,
    place: Option<&places::InferredPlace>,
    groups: &[search::Group],
    covered: &[(String, Vec<SummarySentence>)],
) -> Result<Vec<String>, SummarizeError> {
    let mut filter = req.filter.clone();
    if let Some(p) = place {
        p.apply(&mut filter);
    }
    let facets = lib.facets(&filter)?;
    let covered_names: Vec<&str> = covered
        .iter()
        .flat_map(|(d, _)| {
            let g = groups.iter().find(|g| &g.district == d);
            std::iter::once(d.as_str()).chain(
                g.into_iter()
                    .flat_map(|g| g.other_names.iter().map(String::as_str)),
            )
        })
        .collect();
    Ok(facets
        .district
        .keys()
        .filter(|d| !covered_names.contains(&d.as_str()))
        .cloned()
        .collect())
}

/// Maximal marginal relevance: indices of up to `n` items, each the best
/// trade of relevance against similarity to those already picked.
fn mmr(relevance: &[f32], vectors: &[Vec<f32>], n: usize) -> Vec<usize> {
    let mut picked: Vec<usize> = Vec::new();
    let mut left: Vec<usize> = (0..relevance.len()).collect();
    while picked.len() < n && !left.is_empty() {
        let (pos, _) = left
            .iter()
            .enumerate()
            .map(|(pos, &i)| {
                let redundancy = picked
                    .iter()
                    .map(|&j| dot(&vectors[i], &vectors[j]))
                    .fold(0.0f32, f32::max);
                (
                    pos,
                    MMR_LAMBDA * relevance[i] - (1.0 - MMR_LAMBDA) * redundancy,
                )
            })
            .fold(
                (0, f32::NEG_INFINITY),
                |best, x| {
                    if x.1 > best.1 {
                        x
                    } else {
                        best
                    }
                },
            );
        picked.push(left.remove(pos));
    }
    picked
}

/// Finds statements that several districts make alike. Star clusters, not
/// single links: a chain of "each like the next" drifts from 老年助餐 to
/// 生活性服务业, while every member of a star is close to its centre. Centres
/// are taken by relevance; each other district joins with its closest
/// sentence when that is within [`SAME_STATEMENT`] of the centre.
fn common_statements(chosen: &[(usize, SummarySentence, Vec<f32>)]) -> Vec<CommonStatement> {
    let mut order: Vec<usize> = (0..chosen.len()).collect();
    order.sort_by(|&a, &b| {
        chosen[b]
            .1
            .score
            .total_cmp(&chosen[a].1.score)
            .then(a.cmp(&b))
    });
    let mut used = vec![false; chosen.len()];
    let mut out = Vec::new();
    for &centre in &order {
        if used[centre] {
            continue;
        }
        let mut members = vec![centre];
        let mut districts = BTreeSet::from([chosen[centre].0]);
        let mut others: Vec<(usize, f32)> = order
            .iter()
            .filter(|&&i| !used[i] && chosen[i].0 != chosen[centre].0)
            .map(|&i| (i, dot(&chosen[centre].2, &chosen[i].2)))
            .filter(|&(_, sim)| sim >= SAME_STATEMENT)
            .collect();
        others.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        for (i, _) in others {
            if districts.insert(chosen[i].0) {
                members.push(i);
            }
        }
        if members.len() < 2 {
            continue;
        }
        for &i in &members {
            used[i] = true;
        }
        let sentences: Vec<SummarySentence> =
            members.iter().map(|&i| chosen[i].1.clone()).collect();
        out.push(CommonStatement {
            districts: sentences
                .iter()
                .map(|s| s.district.clone().unwrap_or_default())
                .collect(),
            sentences,
        });
    }
    out
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn mmr_skips_a_near_duplicate() {
        let vecs = vec![unit(&[1.0, 0.0]), unit(&[0.99, 0.01]), unit(&[0.6, 0.8])];
        let rel = vec![0.9, 0.89, 0.6];
        assert_eq!(mmr(&rel, &vecs, 2), vec![0, 2]);
    }

    fn sentence(district: &str, score: f32) -> SummarySentence {
        SummarySentence {
            text: format!("{district}的句子"),
            passage_id: format!("{district}-p"),
            doc_id: district.into(),
            district: Some(district.into()),
            section_path: vec![],
            score,
        }
    }

    #[test]
    fn common_statements_need_two_districts() {
        let chosen = vec![
            (0, sentence("甲区", 0.9), unit(&[1.0, 0.0, 0.0])),
            (0, sentence("甲区", 0.8), unit(&[1.0, 0.01, 0.0])),
            (1, sentence("乙区", 0.7), unit(&[1.0, 0.02, 0.0])),
            (2, sentence("丙区", 0.9), unit(&[0.0, 0.0, 1.0])),
        ];
        let common = common_statements(&chosen);
        assert_eq!(common.len(), 1);
        assert_eq!(common[0].districts, vec!["甲区", "乙区"]);
        assert_eq!(common[0].sentences[0].score, 0.9);
    }
}
