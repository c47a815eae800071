//! How likely a hit is to address the question: a probability in [0, 1].
//!
//! Ranking only orders passages; every query has a first hit, whether or
//! not any report speaks to it. The estimate here says whether the hit is
//! *about* the question, so that grouped answers and summaries can tell
//! places whose reports address it from places that merely hold the nearest
//! text. It combines what the service already knows about a hit:
//!
//! - **Dense similarity against the query's own background.** multilingual-e5
//!   puts almost any two passages of one genre at cosine 0.75–0.9, and the
//!   band moves from query to query, so a raw cosine says little. The query
//!   is also scored against a fixed sample of the library's passages
//!   ([`BACKGROUND`]); a hit's standing is its z-score against that sample.
//! - **Lexical evidence**: the share of the query's content words (weighted
//!   by idf, with the words the library never uses counted as missing) that
//!   occur in the passage, and in its section headings; and the share of the
//!   words' character pairs, which credits a report that writes 老年助餐点
//!   where the question says 老年食堂.
//! - **Standing among the query's own best**: how far the hit's cosine is
//!   below the best the library (under the search's filter) has for it.
//! - **Where the words meet**: the best coverage within one sentence, since
//!   words scattered over a passage about several things say less than one
//!   sentence holding them together.
//! - **The year asked about**: a question that names a year is not answered
//!   by a report of another year (the plan of that year, or the review of it
//!   a year later, is what it asks for).
//! - **How much of the query the library speaks at all** (the share of its
//!   idf mass found anywhere): an English question shares no words with a
//!   Chinese report, and the dense side must then carry the estimate alone.
//!
//! The combination is a logistic regression fitted on judged query–passage
//! pairs (`eval/relevance-judged.jsonl`, train split) by
//! `scripts/fit-relevance.py`, which also reports ROC AUC and calibration on
//! the held-out split; the coefficients below are its output.

use std::sync::LazyLock;

use regex::Regex;

use crate::corpus::to_simplified;
use crate::index::{Filter, Library, StoredPassage};

use super::SearchError;

/// Passages in the background sample. 512 keeps the z-score's standard
/// error small (the sample's mean and spread move < 5% between samples)
/// while costing ~0.2 M multiply-adds per query.
pub const BACKGROUND: usize = 512;

/// A hit counts as addressing the question at this estimate and above.
pub const RELEVANT: f32 = 0.5;

/// Logistic coefficients: intercept, then one per [`Features`] input in the
/// order of [`Features::inputs`].
const COEFFICIENTS: [f32; 10] = [
    -3.4723, 0.7590, 1.8086, -0.7376, -0.1706, 1.2422, 1.3334, 0.7623, -0.1294, -2.9210,
];

/// The evidence about one hit, as the estimate sees it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Features {
    /// Cosine similarity of query and passage vectors.
    pub cosine: f32,
    /// `cosine` against the query's background: (cosine − mean) / sd.
    pub z: f32,
    /// Share of the query's idf mass whose words occur in the passage.
    pub lexical: f32,
    /// The same for the passage's section headings.
    pub heading: f32,
    /// Share of the character pairs of the query's words found in the
    /// passage.
    pub pairs: f32,
    /// The best `lexical` of any one sentence of the passage.
    pub sentence: f32,
    /// The best cosine under the search's filter minus this one.
    pub gap: f32,
    /// 1 when the query names years and the passage's report is neither of
    /// one of them nor of the year after (which reviews it), else 0.
    pub other_year: f32,
    /// Share of the query's idf mass whose words occur in the library.
    pub lexical_weight: f32,
}

impl Features {
    /// The regression's inputs (see [`COEFFICIENTS`]).
    pub fn inputs(&self) -> [f32; 9] {
        [
            self.z,
            self.lexical,
            self.heading,
            self.lexical_weight,
            self.lexical * self.lexical_weight,
            self.pairs,
            self.sentence,
            self.gap,
            self.other_year,
        ]
    }

    /// The probability that the passage addresses the query.
    pub fn estimate(&self) -> f32 {
        let logit = COEFFICIENTS[0]
            + self
                .inputs()
                .iter()
                .zip(&COEFFICIENTS[1..])
                .map(|(x, w)| x * w)
                .sum::<f32>();
        1.0 / (1.0 + (-logit).exp())
    }
}

/// What every hit of one query is judged against.
pub struct QueryEvidence {
    vector: Vec<f32>,
    mean: f32,
    sd: f32,
    /// Content words (simplified, lower-case; alternatives that stand for
    /// one word) with their idf.
    terms: Vec<(Vec<String>, f32)>,
    /// Distinct character pairs of the words the library uses.
    pairs: Vec<String>,
    idf_total: f32,
    lexical_weight: f32,
    /// Best cosine among the passages the filter admits.
    top: f32,
    /// Years the query names.
    years: Vec<i32>,
}

/// A year in a question: `2024年`, or `2024` standing alone in Latin text
/// (not `2000亿`, not part of a longer number).
static YEAR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[^\d])((?:19[5-9]|20\d)\d)(?:\s*年|[^\d\p{Han}]|$)").expect("valid regex")
});

/// The years a question names.
pub fn query_years(query: &str) -> Vec<i32> {
    let mut out: Vec<i32> = YEAR
        .captures_iter(query)
        .filter_map(|c| c[1].parse().ok())
        .collect();
    out.dedup();
    out
}

impl QueryEvidence {
    /// `vector` is the query's (unit) vector, `lexical_query` the text whose
    /// words the lexical side searched for.
    /// `words` are the query's words as [`crosslingual::LexicalQuery::groups`]
    /// gives them (alternatives that stand for one word), `filter` the
    /// search's, place included, `query` the question (for the years it
    /// names).
    ///
    /// [`crosslingual::LexicalQuery::groups`]: super::crosslingual::LexicalQuery::groups
    pub fn new(
        lib: &Library,
        vector: &[f32],
        words: &[Vec<String>],
        query: &str,
        filter: &Filter,
    ) -> Result<QueryEvidence, SearchError> {
        let dim = vector.len();
        let sample = lib.background_sample(BACKGROUND)?;
        let sims: Vec<f32> = sample
            .chunks_exact(dim.max(1))
            .map(|v| crate::index::dense::dot(vector, v))
            .collect();
        let n = sims.len().max(1) as f32;
        let mean = sims.iter().sum::<f32>() / n;
        let var = sims.iter().map(|s| (s - mean).powi(2)).sum::<f32>() / n;
        // A library of one passage has no spread; keep z finite.
        let sd = var.sqrt().max(1e-3);
        let flat: Vec<String> = words.iter().flatten().map(|w| w.to_lowercase()).collect();
        let stats = lib.term_statistics(&flat)?;
        let mut terms = Vec::with_capacity(words.len());
        let mut pairs: Vec<String> = Vec::new();
        let (mut seen, mut idf_total) = (0.0f32, 0.0f32);
        let mut i = 0;
        for group in words {
            // A word counts once, at the idf of its rarest spelling.
            let mut idf = 0.0f32;
            let mut used = false;
            let mut alternatives = Vec::with_capacity(group.len());
            for w in group {
                idf = idf.max(stats.idf(i));
                if stats.document_frequency[i] > 0 {
                    used = true;
                }
                // Pairs of every word, the library's or not: they are the
                // evidence for a word the reports spell otherwise.
                let chars: Vec<char> = flat[i].chars().collect();
                for p in chars.windows(2) {
                    let p: String = p.iter().collect();
                    if !pairs.contains(&p) {
                        pairs.push(p);
                    }
                }
                alternatives.push(w.to_lowercase());
                i += 1;
            }
            idf_total += idf;
            if used {
                seen += idf;
            }
            terms.push((alternatives, idf));
        }
        let top = lib
            .dense_search(vector, 1, filter)?
            .first()
            .map_or(0.0, |s| s.score);
        Ok(QueryEvidence {
            top,
            years: query_years(query),
            vector: vector.to_vec(),
            mean,
            sd,
            terms,
            pairs,
            idf_total,
            lexical_weight: if idf_total > 0.0 {
                seen / idf_total
            } else {
                0.0
            },
        })
    }

    /// The evidence about passage `p` with stored vector `v`.
    pub fn features(&self, p: &StoredPassage, v: &[f32]) -> Features {
        let cosine = crate::index::dense::dot(&self.vector, v);
        let text = p.text_simplified.to_lowercase();
        let heading = to_simplified(&p.section_path.join(" ")).to_lowercase();
        Features {
            cosine,
            z: (cosine - self.mean) / self.sd,
            lexical: self.coverage_lower(&text),
            heading: self.coverage_lower(&heading),
            pairs: if self.pairs.is_empty() {
                0.0
            } else {
                self.pairs
                    .iter()
                    .filter(|p| text.contains(p.as_str()))
                    .count() as f32
                    / self.pairs.len() as f32
            },
            sentence: text
                .split(['。', '！', '？', '；', '!', '?', ';'])
                .map(|s| self.coverage_lower(s))
                .fold(0.0, f32::max),
            gap: (self.top - cosine).max(0.0),
            other_year: match p.year {
                Some(y) if !self.years.is_empty() => {
                    let asked = self.years.iter().any(|&q| y == q || y == q + 1);
                    if asked {
                        0.0
                    } else {
                        1.0
                    }
                }
                _ => 0.0,
            },
            lexical_weight: self.lexical_weight,
        }
    }

    /// Share of the query's idf mass whose words occur in `text` (already
    /// simplified): the lexical evidence, for any span of text.
    pub fn coverage(&self, text: &str) -> f32 {
        self.coverage_lower(&text.to_lowercase())
    }

    /// Whether the query has words the library uses at all (else lexical
    /// coverage says nothing and only the dense side can judge).
    pub fn has_lexical_evidence(&self) -> bool {
        self.lexical_weight > 0.0
    }

    /// Cosine of the query with a vector.
    pub fn cosine(&self, v: &[f32]) -> f32 {
        crate::index::dense::dot(&self.vector, v)
    }

    fn coverage_lower(&self, text: &str) -> f32 {
        if self.idf_total <= 0.0 {
            return 0.0;
        }
        let found: f32 = self
            .terms
            .iter()
            .filter(|(alternatives, _)| alternatives.iter().any(|w| text.contains(w.as_str())))
            .map(|(_, idf)| idf)
            .sum();
        found / self.idf_total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(z: f32, lexical: f32) -> Features {
        Features {
            cosine: 0.85,
            z,
            lexical,
            heading: 0.0,
            pairs: lexical,
            sentence: lexical,
            gap: 0.0,
            other_year: 0.0,
            lexical_weight: 1.0,
        }
    }

    #[test]
    fn estimate_is_a_probability_that_grows_with_the_evidence() {
        let low = features(0.0, 0.0).estimate();
        let dense = features(5.0, 0.0).estimate();
        let both = features(5.0, 1.0).estimate();
        for p in [low, dense, both] {
            assert!((0.0..=1.0).contains(&p), "{p}");
        }
        assert!(low < RELEVANT, "an average passage is not relevant: {low}");
        assert!(low < dense && dense < both, "{low} {dense} {both}");
    }

    #[test]
    fn years_are_read_from_questions_in_either_language() {
        assert_eq!(
            query_years("六盘水市2024年地区生产总值预期增长多少？"),
            vec![2024]
        );
        assert_eq!(query_years("What was the GDP target for 2023?"), vec![2023]);
        assert_eq!(query_years("2021年至2022年的情况"), vec![2021, 2022]);
        assert!(query_years("营收突破2000亿元").is_empty());
        assert!(query_years("新增学位12024个").is_empty());
    }
}
