//! Chinese lexical matching: jieba segmentation of simplified-folded text,
//! stored pre-segmented in an SQLite FTS5 table and ranked with BM25.
//!
//! Both sides are folded to simplified characters (`corpus::to_simplified`)
//! before segmentation, so a traditional query meets a simplified report and
//! vice versa. Segmentation is jieba's search mode (words plus their
//! dictionary sub-words) on both sides: a query for 改革 then matches a
//! report that says 改革开放, and FTS5's `unicode61` tokenizer only has to
//! split the space-joined words (and lower-case Latin ones).

use serde::{Deserialize, Serialize};

/// DDL of the lexical index (a plain FTS5 table, rowid = passage rowid).
pub const FTS_DDL: &str =
    "CREATE VIRTUAL TABLE IF NOT EXISTS passages_fts USING fts5(tokens, tokenize = 'unicode61')";

pub use crate::corpus::words::jieba;

/// Function words and question words that carry no topic: matching them would
/// rank passages by how often they say 的 or "what".
const STOP_WORDS: &[&str] = &[
    "的",
    "了",
    "和",
    "与",
    "及",
    "以及",
    "或",
    "是",
    "在",
    "对",
    "把",
    "被",
    "将",
    "等",
    "为",
    "有",
    "也",
    "都",
    "就",
    "并",
    "而",
    "之",
    "其",
    "这",
    "那",
    "这些",
    "那些",
    "哪些",
    "什么",
    "如何",
    "怎么",
    "怎样",
    "怎么样",
    "吗",
    "呢",
    "吧",
    "啊",
    "哪",
    "哪里",
    "哪个",
    "是否",
    "有没有",
    "方面",
    "关于",
    "进行",
    "我们",
    "他们",
    "一些",
    "一个",
    "the",
    "a",
    "an",
    "of",
    "and",
    "or",
    "in",
    "on",
    "to",
    "for",
    "is",
    "are",
    "was",
    "were",
    "be",
    "by",
    "with",
    "what",
    "which",
    "how",
    "does",
    "do",
    "did",
    "that",
    "this",
    "these",
    "those",
    "it",
    "its",
    "as",
    "at",
    "from",
    "about",
    "any",
    "has",
    "have",
    "their",
    "there",
];

fn is_word(token: &str) -> bool {
    token.chars().any(|c| c.is_alphanumeric())
}

/// Space-joined jieba search-mode words of (already simplified) text: what is
/// stored in the FTS5 table.
pub fn segment_for_index(text_simplified: &str) -> String {
    let mut out = String::with_capacity(text_simplified.len() * 2);
    for tok in jieba().cut_for_search(text_simplified, true) {
        if is_word(tok.word) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(tok.word);
        }
    }
    out
}

/// Distinct content words of a query (any script), simplified, lower-cased,
/// in first-seen order.
pub fn query_terms(query: &str) -> Vec<String> {
    let simplified = crate::corpus::to_simplified(query);
    let mut terms: Vec<String> = Vec::new();
    for tok in jieba().cut_for_search(&simplified, true) {
        let w = tok.word.trim().to_lowercase();
        if !is_word(&w) || STOP_WORDS.contains(&w.as_str()) || terms.contains(&w) {
            continue;
        }
        terms.push(w);
    }
    terms
}

/// BM25-ranked search without metadata filters (`?1` = MATCH expression);
/// `bm25()` is lower-is-better, callers negate it.
pub fn unfiltered_query_sql(k: usize) -> String {
    format!(
        "SELECT rowid, bm25(passages_fts) FROM passages_fts WHERE passages_fts MATCH ?1 \
         ORDER BY bm25(passages_fts) LIMIT {k}"
    )
}

/// An FTS5 MATCH expression OR-ing the terms (each quoted, so no term is read
/// as FTS5 syntax). `None` when there is nothing to match.
pub fn match_expression(terms: &[String]) -> Option<String> {
    let quoted: Vec<String> = terms
        .iter()
        .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
        .collect();
    if quoted.is_empty() {
        None
    } else {
        Some(quoted.join(" OR "))
    }
}

/// An FTS5 MATCH expression for passages that hold one word: the word as an
/// index term, or its jieba words next to each other (碳排放 is stored as
/// 碳 排放, since jieba's dictionary lacks it). `None` for a word with no
/// content.
pub fn word_expression(word: &str) -> Option<String> {
    let simplified = crate::corpus::to_simplified(word).to_lowercase();
    let quote = |t: &str| format!("\"{}\"", t.replace('"', "\"\""));
    let parts: Vec<String> = jieba()
        .cut(&simplified, true)
        .into_iter()
        .map(|t| t.word.trim().to_string())
        .filter(|t| is_word(t))
        .collect();
    match parts.as_slice() {
        [] => None,
        [one] => Some(quote(one)),
        many => Some(format!(
            "{} OR NEAR({}, {})",
            quote(&simplified),
            many.iter().map(|t| quote(t)).collect::<Vec<_>>().join(" "),
            many.len()
        )),
    }
}

/// A matched span of a passage's text, as UTF-8 byte offsets `[start, end)`
/// into the text in its original script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Highlight {
    pub start: usize,
    pub end: usize,
}

/// Spans of `text` where any of `terms` (simplified, lower-case) occurs.
/// Matching runs on `text_simplified`; when it has the same number of
/// characters as `text` (the usual case: folding is character by character)
/// the spans are mapped back position by position, so a simplified term lights
/// up the traditional characters in the original. Single-character CJK terms
/// are skipped (they would light up half of a passage). Spans are sorted and
/// merged.
pub fn highlight_spans(text: &str, text_simplified: &str, terms: &[String]) -> Vec<Highlight> {
    let same_shape = text.chars().count() == text_simplified.chars().count();
    let haystack = if same_shape { text_simplified } else { text };
    let lowered: String = haystack.to_ascii_lowercase();
    // byte offset in `haystack` → char index, and char index → byte offset in `text`
    let hay_char_at: Vec<usize> = {
        let mut v = vec![0usize; haystack.len() + 1];
        let mut ci = 0;
        for (b, c) in haystack.char_indices() {
            for x in v.iter_mut().skip(b).take(c.len_utf8()) {
                *x = ci;
            }
            ci += 1;
        }
        v[haystack.len()] = ci;
        v
    };
    let text_byte_of: Vec<usize> = text
        .char_indices()
        .map(|(b, _)| b)
        .chain(std::iter::once(text.len()))
        .collect();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for term in terms {
        if term.is_empty() || (term.chars().count() < 2 && !term.is_ascii()) {
            continue;
        }
        if term.is_ascii() && term.len() < 2 {
            continue;
        }
        let mut from = 0;
        while let Some(pos) = lowered[from..].find(term.as_str()) {
            let (s, e) = (from + pos, from + pos + term.len());
            // Latin terms must sit on word boundaries ("gdp" not in "gdps").
            let boundary_ok = !term.is_ascii()
                || (!lowered[..s]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_ascii_alphanumeric())
                    && !lowered[e..]
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphanumeric()));
            if boundary_ok {
                let (cs, ce) = (hay_char_at[s], hay_char_at[e]);
                spans.push((text_byte_of[cs], text_byte_of[ce]));
            }
            from = e;
        }
    }
    spans.sort_unstable();
    let mut merged: Vec<Highlight> = Vec::new();
    for (s, e) in spans {
        match merged.last_mut() {
            Some(last) if s <= last.end => last.end = last.end.max(e),
            _ => merged.push(Highlight { start: s, end: e }),
        }
    }
    merged
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_word_the_index_splits_is_matched_as_its_parts_side_by_side() {
        // jieba cuts 碳排放 (not in its dictionary) into 碳 + 排放.
        let e = word_expression("碳排放").unwrap();
        assert!(e.contains("NEAR("), "{e}");
        assert_eq!(word_expression("医院").unwrap(), "\"医院\"");
        assert_eq!(word_expression("，"), None);
    }

    use super::*;

    #[test]
    fn query_terms_drop_function_words_and_keep_content() {
        let t = query_terms("如何推进乡村振兴的工作？");
        assert!(
            t.contains(&"乡村振兴".to_string()) || t.contains(&"乡村".to_string()),
            "{t:?}"
        );
        assert!(
            !t.contains(&"的".to_string()) && !t.contains(&"如何".to_string()),
            "{t:?}"
        );
        assert!(query_terms("的了吗？").is_empty());
        assert_eq!(query_terms("GDP growth"), vec!["gdp", "growth"]);
    }

    #[test]
    fn match_expression_quotes_terms() {
        let e = match_expression(&["乡村".into(), "a\"b".into()]).unwrap();
        assert_eq!(e, "\"乡村\" OR \"a\"\"b\"");
        assert!(match_expression(&[]).is_none());
    }

    #[test]
    fn highlights_map_simplified_matches_onto_traditional_text() {
        let text = "推進鄉村振興戰略";
        let simp = "推进乡村振兴战略";
        let h = highlight_spans(text, simp, &["乡村".into(), "振兴".into()]);
        assert_eq!(h.len(), 1);
        assert_eq!(&text[h[0].start..h[0].end], "鄉村振興");
    }

    #[test]
    fn latin_highlights_respect_word_boundaries() {
        let text = "GDP增长, GDPs";
        let h = highlight_spans(text, text, &["gdp".into()]);
        assert_eq!(h, vec![Highlight { start: 0, end: 3 }]);
    }
}
