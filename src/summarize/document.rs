//! One report in a page: the most central sentences of each top-level section,
//! in document order.
//!
//! Centrality is LexRank over TF-IDF vectors of jieba words (Erkan & Radev,
//! 2004) rather than over model embeddings: a report holds hundreds of
//! sentences, and embedding them all per request would cost seconds, while
//! word overlap ranks "which sentence says what its section says" well and is
//! deterministic.

use std::collections::HashMap;

use serde::Serialize;

use super::text::{sentence_spans, words};
use crate::corpus::Passage;

/// A sentence chosen for a summary, with the citation that lets a reader check it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummarySentence {
    /// Verbatim from the passage (original script).
    pub text: String,
    pub passage_id: String,
    pub doc_id: String,
    pub district: Option<String>,
    pub section_path: Vec<String>,
    pub score: f32,
}

/// Key sentences of one top-level section.
#[derive(Debug, Clone, Serialize)]
pub struct SectionSummary {
    /// The top-level heading, or `None` for text before the first heading.
    pub heading: Option<String>,
    pub sentences: Vec<SummarySentence>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DocumentSummary {
    pub doc_id: String,
    pub district: Option<String>,
    pub sections: Vec<SectionSummary>,
}

/// Summarises one document's passages (in document order) into at most
/// `max_sentences` sentences, shared among its top-level sections by size.
pub fn summarize_document(
    doc_id: &str,
    district: Option<&str>,
    passages: &[Passage],
    max_sentences: usize,
) -> DocumentSummary {
    // Candidate sentences grouped by top-level heading, in order of first appearance.
    let mut sections: Vec<(Option<String>, Vec<Candidate>)> = Vec::new();
    for p in passages {
        let heading = p.section_path.first().cloned();
        if sections.last().map(|s| &s.0) != Some(&heading) {
            sections.push((heading, Vec::new()));
        }
        let bucket = &mut sections.last_mut().expect("just pushed").1;
        for (start, end) in sentence_spans(&p.text) {
            let text = p.text[start..end].trim();
            // Fragments (a heading echo, "各位代表:") carry no statement.
            if text.chars().count() < 8 {
                continue;
            }
            bucket.push(Candidate {
                passage: p,
                text: text.to_string(),
                words: words(&crate::corpus::to_simplified(text)),
            });
        }
    }
    sections.retain(|s| !s.1.is_empty());
    let total: usize = sections.iter().map(|s| s.1.len()).sum();
    let budgets = share_budget(
        &sections.iter().map(|s| s.1.len()).collect::<Vec<_>>(),
        max_sentences,
    );

    let sections = sections
        .into_iter()
        .zip(budgets)
        .filter(|(_, budget)| *budget > 0)
        .map(|((heading, candidates), budget)| {
            let scores = lexrank(&candidates.iter().map(|c| &c.words).collect::<Vec<_>>());
            let mut order: Vec<usize> = (0..candidates.len()).collect();
            // Ties break by position so the output is deterministic.
            order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
            let mut chosen: Vec<usize> = order.into_iter().take(budget).collect();
            chosen.sort_unstable();
            SectionSummary {
                heading,
                sentences: chosen
                    .into_iter()
                    .map(|i| {
                        let c = &candidates[i];
                        SummarySentence {
                            text: c.text.clone(),
                            passage_id: c.passage.id.clone(),
                            doc_id: doc_id.to_string(),
                            district: district.map(str::to_string),
                            section_path: c.passage.section_path.clone(),
                            score: scores[i] * total as f32,
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    DocumentSummary {
        doc_id: doc_id.to_string(),
        district: district.map(str::to_string),
        sections,
    }
}

struct Candidate<'a> {
    passage: &'a Passage,
    text: String,
    words: Vec<String>,
}

/// Shares `budget` among sections in proportion to their sizes (largest
/// remainders), giving every section one sentence first while the budget lasts.
fn share_budget(sizes: &[usize], budget: usize) -> Vec<usize> {
    let mut out = vec![0usize; sizes.len()];
    let total: usize = sizes.iter().sum();
    if total == 0 || budget == 0 {
        return out;
    }
    let budget = budget.min(total);
    // One each, biggest sections first, while the budget lasts.
    let mut by_size: Vec<usize> = (0..sizes.len()).collect();
    by_size.sort_by(|&a, &b| sizes[b].cmp(&sizes[a]).then(a.cmp(&b)));
    let mut left = budget;
    for &i in &by_size {
        if left == 0 || sizes[i] == 0 {
            break;
        }
        out[i] = 1;
        left -= 1;
    }
    // The rest in proportion to what remains of each section.
    let remaining: Vec<usize> = sizes.iter().zip(&out).map(|(s, o)| s - o).collect();
    let rem_total: usize = remaining.iter().sum();
    if left == 0 || rem_total == 0 {
        return out;
    }
    let mut fractions: Vec<(usize, f64)> = Vec::new();
    let mut given = 0;
    for (i, &r) in remaining.iter().enumerate() {
        let exact = left as f64 * r as f64 / rem_total as f64;
        let whole = exact.floor() as usize;
        out[i] += whole;
        given += whole;
        fractions.push((i, exact - whole as f64));
    }
    fractions.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    for (i, _) in fractions.into_iter().take(left - given) {
        out[i] += 1;
    }
    out
}

/// LexRank scores (summing to 1) of sentences given as word lists.
fn lexrank(sentences: &[&Vec<String>]) -> Vec<f32> {
    let n = sentences.len();
    if n == 0 {
        return Vec::new();
    }
    let mut df: HashMap<&str, usize> = HashMap::new();
    for s in sentences {
        let mut seen: Vec<&str> = s.iter().map(String::as_str).collect();
        seen.sort_unstable();
        seen.dedup();
        for w in seen {
            *df.entry(w).or_default() += 1;
        }
    }
    let vectors: Vec<HashMap<&str, f32>> = sentences
        .iter()
        .map(|s| {
            let mut v: HashMap<&str, f32> = HashMap::new();
            for w in s.iter() {
                *v.entry(w.as_str()).or_default() += 1.0;
            }
            for (w, x) in v.iter_mut() {
                let idf = ((n as f32 + 1.0) / (df[w] as f32 + 0.5)).ln();
                *x *= idf;
            }
            let norm = v.values().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
            v.values_mut().for_each(|x| *x /= norm);
            v
        })
        .collect();
    // Similarity graph: edges above a threshold, as in LexRank's "degree" variant.
    const THRESHOLD: f32 = 0.1;
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); n];
    for i in 0..n {
        for j in (i + 1)..n {
            let (a, b) = if vectors[i].len() < vectors[j].len() {
                (&vectors[i], &vectors[j])
            } else {
                (&vectors[j], &vectors[i])
            };
            let sim: f32 = a.iter().filter_map(|(w, x)| b.get(w).map(|y| x * y)).sum();
            if sim > THRESHOLD {
                edges[i].push(j);
                edges[j].push(i);
            }
        }
    }
    const DAMPING: f32 = 0.85;
    let mut rank = vec![1.0 / n as f32; n];
    for _ in 0..50 {
        let mut next = vec![(1.0 - DAMPING) / n as f32; n];
        for i in 0..n {
            if edges[i].is_empty() {
                // A sentence tied to nothing spreads its weight evenly.
                let share = DAMPING * rank[i] / n as f32;
                next.iter_mut().for_each(|x| *x += share);
            } else {
                let share = DAMPING * rank[i] / edges[i].len() as f32;
                for &j in &edges[i] {
                    next[j] += share;
                }
            }
        }
        let delta: f32 = next.iter().zip(&rank).map(|(a, b)| (a - b).abs()).sum();
        rank = next;
        if delta < 1e-6 {
            break;
        }
    }
    rank
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passage(id: &str, section: &str, text: &str) -> Passage {
        Passage {
            id: id.into(),
            ordinal: 0,
            text: text.into(),
            text_simplified: text.into(),
            section_path: vec![section.into()],
            term: None,
        }
    }

    #[test]
    fn budget_is_shared_by_size_and_covers_every_section_first() {
        assert_eq!(share_budget(&[10, 1, 5], 3), vec![1, 1, 1]);
        assert_eq!(share_budget(&[10, 2, 0], 6), vec![5, 1, 0]);
        assert_eq!(share_budget(&[2, 2], 10), vec![2, 2]);
        assert_eq!(share_budget(&[3, 3], 0), vec![0, 0]);
    }

    #[test]
    fn central_sentence_wins_and_order_is_kept() {
        let ps = vec![
            passage(
                "p1",
                "一、产业",
                "全力推动工业经济发展壮大。推动工业经济提质增效，工业经济总量再上台阶。今天天气晴朗适合出游踏青。",
            ),
            passage(
                "p2",
                "二、民生",
                "办好民生实事，提升教育医疗水平。扩大民生投入，教育医疗持续改善。",
            ),
        ];
        let s = summarize_document("d", Some("某区"), &ps, 2);
        assert_eq!(s.sections.len(), 2);
        let first = &s.sections[0].sentences[0];
        assert!(first.text.contains("工业经济"), "{first:?}");
        for sec in &s.sections {
            for sent in &sec.sentences {
                let p = ps.iter().find(|p| p.id == sent.passage_id).unwrap();
                assert!(p.text.contains(&sent.text));
            }
        }
        // Deterministic.
        let again = summarize_document("d", Some("某区"), &ps, 2);
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            serde_json::to_string(&again).unwrap()
        );
    }
}
