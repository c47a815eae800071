//! Lexical evidence for English (and mixed English–Chinese) questions.
//!
//! The BM25 index holds jieba words of Chinese text, so the English words
//! of a question match nothing and the lexical side of hybrid search falls
//! silent. Here the English words are carried over into Chinese through a
//! bilingual lexicon built from CC-CEDICT (see `data/lexicon/README.md`):
//! each English word or short phrase becomes the few Chinese words that
//! translate it *and* occur in the library, and those words form the
//! lexical query fused with the dense list as for a Chinese question.
//! A dictionary lists many senses ("pilot": 驾驶, 试点; "base": 基础, 基地);
//! the one meant is the one that keeps company in the library with the
//! translations of the question's other words ([`coherence`]).
//!
//! A query with no Latin-letter words is returned unchanged, so Chinese
//! questions in either script are not affected.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::index::{lexical::query_terms, Library, PassageKey, ScoredPassage, WordPassages};

use super::SearchError;

/// Where the lexicon is (`english key \t 中文词 中文词 …`, best translation
/// first): `ZHENGCE_LEXICON`, else `data/lexicon/en-zh.tsv` under the current
/// directory, else under the source tree this binary was built from. It is
/// built, not committed: `scripts/fetch-lexicon.sh`.
pub fn lexicon_path() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("ZHENGCE_LEXICON") {
        return p.into();
    }
    let rel = std::path::Path::new("data")
        .join("lexicon")
        .join("en-zh.tsv");
    if rel.is_file() {
        return rel;
    }
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// How many times more often than in the library at large a translation
/// must occur in the feedback passages to be taken as the question's sense.
const MIN_LIFT: f32 = 2.0;

/// Dense hits whose text decides which sense of an English word to
/// search for (see [`select`]).
pub const FEEDBACK_DEPTH: usize = 20;

/// Passages (the library's first, by row) on which the association of
/// translations is counted: enough for stable counts of policy words, and
/// a bound on the cost of an English question in a library of millions.
const ASSOCIATION_WINDOW: usize = 50_000;

/// Translations per English unit weighed against the other units'.
const MAX_SENSES: usize = 8;

/// Passages two words must share before their association counts.
const MIN_SHARED: usize = 2;

/// Coherence (summed NPMI, see [`coherence`]) a translation needs to be
/// chosen for it; below, the first hits' usage decides ([`select`]).
const MIN_COHERENCE: f32 = 0.05;

/// Translations whose coherence is at least this share of the best one's
/// are searched beside it (饭堂 and 食堂 for "dining hall").
const NEAR_BEST: f32 = 0.8;

/// Longest English key (in words) the lexicon holds.
const MAX_KEY_WORDS: usize = 3;

/// Chinese words kept per English key, among those the library contains.
/// More dilutes BM25 with loose senses ("canteen" is also 水壶, a flask);
/// fewer misses the report's own wording.
const PER_KEY: usize = 3;

/// Weight of the lexical list in the fusion when its words are
/// translations, before the share of English units translated scales it.
/// On the English dev questions 1.0 ranked better than 0.7 (hit@10 0.94
/// against 0.88) and 1.5–2 no better.
const TRANSLATED_WEIGHT: f32 = 1.0;

/// English words that carry no topic: function words, question words and
/// the filler of research questions ("what does … plan for").
const STOP_WORDS: &[&str] = &[
    "a", "about", "all", "also", "an", "and", "any", "are", "as", "at", "be", "been", "being",
    "by", "can", "did", "do", "doe", "does", "doing", "done", "for", "from", "had", "has", "have",
    "how", "i", "if", "in", "into", "is", "it", "its", "many", "more", "much", "of", "on", "or",
    "our", "say", "said", "so", "some", "than", "that", "the", "their", "them", "there", "these",
    "they", "this", "those", "to", "was", "were", "what", "when", "where", "which", "who", "whom",
    "why", "will", "with", "would", "you", "your", "should", "could", "we", "us", "my", "me",
    "plan", "planned", "plans", "report", "reports", "such",
];

/// How a question reads to the lexical retriever.
#[derive(Debug, Clone, PartialEq)]
pub struct LexicalQuery {
    /// Text handed to BM25 (segmented again there).
    pub text: String,
    /// Weight of the lexical list in the fusion (see
    /// [`super::SearchResponse::lexical_weight`]).
    pub weight: f32,
    /// Chinese words that stand in for the query's English words, in
    /// order; empty for a query without English words.
    pub translations: Vec<String>,
    /// The query's words as relevance weighs them: each Chinese word alone,
    /// each translated English word or phrase as its alternatives (a
    /// passage that uses one of them has the word).
    pub groups: Vec<Vec<String>>,
}

/// The lexicon, read once. Without it English words reach only the dense
/// retriever, as a warning says once.
fn lexicon() -> &'static HashMap<String, Vec<String>> {
    static LEXICON: OnceLock<HashMap<String, Vec<String>>> = OnceLock::new();
    LEXICON.get_or_init(|| {
        let path = lexicon_path();
        match std::fs::read_to_string(&path) {
            Ok(text) => text
                .lines()
                // The first line names the builder's format (build-lexicon.py's HEADER).
                .filter(|line| !line.starts_with('#'))
                .filter_map(|line| {
                    let (key, words) = line.split_once('\t')?;
                    Some((
                        key.to_string(),
                        words
                            .split(' ')
                            .filter(|w| !w.is_empty())
                            .map(str::to_string)
                            .collect(),
                    ))
                })
                .collect(),
            Err(e) => {
                tracing::warn!(
                    "no English lexicon at {} ({e}): English questions are searched densely \
                     only; scripts/fetch-lexicon.sh builds it",
                    path.display()
                );
                HashMap::new()
            }
        }
    })
}

/// Lower-cased singular form of an English word, folded as the lexicon's
/// builder folds glosses (`scripts/build-lexicon.py`, `singular`).
pub fn fold_word(word: &str) -> String {
    let w = word.to_lowercase();
    let n = w.chars().count();
    if n > 4 && w.ends_with("ies") {
        return format!("{}y", &w[..w.len() - 3]);
    }
    if n > 4
        && ["sses", "shes", "ches", "xes"]
            .iter()
            .any(|s| w.ends_with(s))
    {
        return w[..w.len() - 2].to_string();
    }
    if n > 3 && w.ends_with('s') && !["ss", "us", "is"].iter().any(|s| w.ends_with(s)) {
        return w[..w.len() - 1].to_string();
    }
    w
}

/// The query split into English words (folded, stop words kept out) and
/// everything else (Chinese text, digits), in order.
fn split_query(query: &str) -> (Vec<String>, String) {
    let mut english = Vec::new();
    let mut rest = String::new();
    let mut word = String::new();
    let take = |word: &mut String, english: &mut Vec<String>, rest: &mut String| {
        let w = word.trim_matches(|c| c == '\'' || c == '-');
        if w.chars().any(|c| c.is_ascii_digit()) {
            // "5G", "2024": the index holds them as they are.
            rest.push(' ');
            rest.push_str(w);
            rest.push(' ');
        } else if !w.is_empty() {
            // "Nan'an" / "Shenzhen-Hong" → their parts.
            for part in w.split(['\'', '-']).filter(|p| !p.is_empty()) {
                let f = fold_word(part);
                if f.len() > 1 && !STOP_WORDS.contains(&f.as_str()) && !STOP_WORDS.contains(&part) {
                    english.push(f);
                }
            }
        }
        word.clear();
    };
    for c in query.chars() {
        if c.is_ascii_alphanumeric() || ((c == '\'' || c == '’' || c == '-') && !word.is_empty())
        {
            word.push(if c == '’' { '\'' } else { c });
        } else {
            take(&mut word, &mut english, &mut rest);
            rest.push(c);
        }
    }
    take(&mut word, &mut english, &mut rest);
    (english, rest)
}

/// Candidate base forms of an inflected or derived word:
/// "sorting" → sort, "piloted" → pilot, "upgrading" → upgrade,
/// "renovation" → renovate, "revitalization" → revitalize.
fn base_forms(w: &str) -> Vec<String> {
    let mut out = Vec::new();
    // "revitalization" → revitalize, "renovation" → renovate,
    // "desertification" → desertify, "prevention" → prevent.
    for (suffix, endings) in [
        ("ification", &["ify"][..]),
        ("ization", &["ize"][..]),
        ("isation", &["ise", "ize"][..]),
        ("ation", &["ate", "e", ""][..]),
        ("ion", &["", "e"][..]),
        ("ment", &[""][..]),
    ] {
        if let Some(stem) = w.strip_suffix(suffix) {
            if stem.chars().count() >= 3 {
                out.extend(endings.iter().map(|e| format!("{stem}{e}")));
                break;
            }
        }
    }
    for suffix in ["ing", "ed"] {
        if let Some(stem) = w.strip_suffix(suffix) {
            if stem.chars().count() >= 3 {
                out.push(stem.to_string());
                out.push(format!("{stem}e"));
                let b = stem.as_bytes();
                if b.len() >= 2 && b[b.len() - 1] == b[b.len() - 2] {
                    out.push(stem[..stem.len() - 1].to_string());
                }
            }
        }
    }
    out
}

/// English words → lexicon keys, longest match first; words the lexicon
/// does not know are kept as they are (names, acronyms such as "GDP").
fn english_units(words: &[String]) -> Vec<(String, Option<&'static [String]>)> {
    let lex = lexicon();
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let mut matched = None;
        for n in (1..=MAX_KEY_WORDS.min(words.len() - i)).rev() {
            let key = words[i..i + n].join(" ");
            if let Some(w) = lex.get(key.as_str()) {
                matched = Some((key, n, w.as_slice()));
                break;
            }
        }
        match matched {
            Some((key, n, w)) => {
                out.push((key, Some(w)));
                i += n;
            }
            None => {
                let w = &words[i];
                let found = base_forms(w)
                    .into_iter()
                    .find_map(|b| lex.get_key_value(b.as_str()));
                match found {
                    Some((k, v)) => out.push((k.to_string(), Some(v.as_slice()))),
                    None => out.push((w.clone(), None)),
                }
                i += 1;
            }
        }
    }
    out
}

/// Most Chinese spellings looked up for one romanized word.
const MAX_ROMANIZED: usize = 1000;

/// The 3,755 most used Han characters (GB2312 level 1) by toneless pinyin
/// syllable. Names in reports are written with them almost always, and
/// leaving out rare characters keeps a spelling's candidates few.
fn syllable_chars() -> &'static HashMap<String, Vec<char>> {
    static TABLE: OnceLock<HashMap<String, Vec<char>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        use pinyin::ToPinyin;
        let mut table: HashMap<String, Vec<char>> = HashMap::new();
        for hi in 0xB0u8..=0xD7 {
            for lo in 0xA1u8..=0xFE {
                let bytes = [hi, lo];
                let (text, _, bad) = encoding_rs::GBK.decode(&bytes);
                let Some(c) = text.chars().next().filter(|_| !bad) else {
                    continue;
                };
                if let Some(p) = c.to_pinyin() {
                    table.entry(p.plain().to_string()).or_default().push(c);
                }
            }
        }
        table
    })
}

/// Ways to read `word` as two or three pinyin syllables.
fn syllable_splits(word: &str) -> Vec<Vec<&str>> {
    fn go<'a>(
        rest: &'a str,
        table: &HashMap<String, Vec<char>>,
        acc: &mut Vec<&'a str>,
        out: &mut Vec<Vec<&'a str>>,
    ) {
        if rest.is_empty() {
            if acc.len() >= 2 {
                out.push(acc.clone());
            }
            return;
        }
        if acc.len() == 3 {
            return;
        }
        for end in 1..=rest.len().min(6) {
            let syl = &rest[..end];
            if table.contains_key(syl) {
                acc.push(syl);
                go(&rest[end..], table, acc, out);
                acc.pop();
            }
        }
    }
    let mut out = Vec::new();
    if word.bytes().all(|b| b.is_ascii_lowercase()) {
        go(word, syllable_chars(), &mut Vec::new(), &mut out);
    }
    out
}

/// Chinese strings a word unknown to the lexicon spells if it is pinyin
/// ("qinling" → 秦岭, 琴灵, …), two syllables first, at most
/// [`MAX_ROMANIZED`]; the library's own vocabulary then decides which exist.
fn romanized_candidates(word: &str) -> Vec<String> {
    if word.len() < 4 {
        return Vec::new();
    }
    let table = syllable_chars();
    let mut splits = syllable_splits(word);
    splits.sort_by_key(Vec::len);
    let mut out: Vec<String> = Vec::new();
    for split in splits {
        let size: usize = split.iter().map(|s| table[*s].len()).product();
        if out.len() + size > MAX_ROMANIZED {
            continue;
        }
        let mut partial = vec![String::new()];
        for syl in &split {
            partial = partial
                .iter()
                .flat_map(|p| table[*syl].iter().map(move |c| format!("{p}{c}")))
                .collect();
        }
        out.extend(partial);
    }
    out
}

/// The translations of one English unit to search for: those found in
/// the feedback passages (the dense retriever's first hits), most often
/// found first, up to [`PER_KEY`]; the sense the library's nearest
/// passages use is the likely one ("canteen" as 饭堂 rather than 水壶).
/// When no feedback passage has any, the lexicon's first word the library
/// contains.
fn select<'a>(
    words: &[&'a str],
    df: &HashMap<String, u64>,
    passages: u64,
    feedback: &[String],
) -> Vec<&'a str> {
    let in_library: Vec<&str> = words
        .iter()
        .copied()
        .filter(|w| df.get(*w).copied().unwrap_or(0) > 0)
        .collect();
    let lift = MIN_LIFT;
    let mut seen: Vec<(usize, usize, &str)> = in_library
        .iter()
        .enumerate()
        .map(|(i, w)| (feedback.iter().filter(|p| p.contains(w)).count(), i, *w))
        .filter(|(n, _, w)| {
            // A word found in the feedback no more often than anywhere in
            // the library says nothing about the question's sense.
            let rate_fb = *n as f32 / feedback.len().max(1) as f32;
            let rate_lib = df[*w] as f32 / passages.max(1) as f32;
            *n > 0 && rate_fb >= lift * rate_lib
        })
        .collect();
    seen.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    if seen.is_empty() {
        return in_library.into_iter().take(1).collect();
    }
    seen.into_iter().take(PER_KEY).map(|(_, _, w)| w).collect()
}

/// Passages holding each term, and the library's passage count.
fn frequencies(
    lib: &Library,
    terms: &[String],
) -> Result<(HashMap<String, u64>, u64), SearchError> {
    if terms.is_empty() {
        return Ok((HashMap::new(), 0));
    }
    let stats = lib.term_statistics(terms)?;
    let df = terms
        .iter()
        .cloned()
        .zip(stats.document_frequency.iter().map(|&d| d as u64))
        .collect();
    Ok((df, stats.passages as u64))
}

/// Normalised pointwise mutual information of the i-th and j-th word over
/// the window: 1 when they always occur together, 0 when no more often
/// than chance (or less, or in fewer than [`MIN_SHARED`] passages).
fn npmi(wp: &WordPassages, i: usize, j: usize) -> f32 {
    let both = wp.both(i, j);
    let n = wp.passages as f32;
    if both < MIN_SHARED || n == 0.0 {
        return 0.0;
    }
    let p = both as f32 / n;
    if p >= 1.0 {
        return 0.0;
    }
    let (a, b) = (wp.count(i) as f32 / n, wp.count(j) as f32 / n);
    ((p / (a * b)).ln() / -p.ln()).max(0.0)
}

/// How well each sense of each unit goes with the rest of the question:
/// the sum, over the other units (and the question's Chinese words), of
/// its best association with one of their senses. The senses a question
/// means are the ones its other words keep company with in the library
/// ("pilot" beside 长者饭堂 is 试点, not 驾驶; "base" beside 稀土 is 基地).
/// `senses[u]` holds indices of words in `wp`.
fn coherence(wp: &WordPassages, senses: &[Vec<usize>]) -> Vec<Vec<f32>> {
    senses
        .iter()
        .enumerate()
        .map(|(u, mine)| {
            mine.iter()
                .map(|&i| {
                    senses
                        .iter()
                        .enumerate()
                        // A word the question repeats ("rivers of …
                        // river chief") does not vouch for itself.
                        .filter(|(v, theirs)| *v != u && *theirs != mine)
                        .map(|(_, theirs)| {
                            theirs.iter().map(|&j| npmi(wp, i, j)).fold(0.0, f32::max)
                        })
                        .sum()
                })
                .collect()
        })
        .collect()
}

/// The lexical query for `query`: unchanged (with its usual weight) when
/// it has no English words; otherwise its non-English part plus, for each
/// English word or phrase, up to [`PER_KEY`] of its lexicon translations
/// that occur in the library: those that go best with the rest of the
/// question ([`coherence`]), else those the first dense hits use
/// ([`select`]). Weighted by [`TRANSLATED_WEIGHT`] times the share of
/// English units that found one.
pub fn lexical_query(
    lib: &Library,
    query: &str,
    dense: &[ScoredPassage],
) -> Result<LexicalQuery, SearchError> {
    let (english, rest) = split_query(query);
    if english.is_empty() {
        return Ok(LexicalQuery {
            text: query.to_string(),
            weight: super::lexical_weight(lib, query)?,
            translations: Vec::new(),
            groups: query_terms(query).into_iter().map(|w| vec![w]).collect(),
        });
    }
    let units = english_units(&english);
    let rest_terms = query_terms(&rest);
    let feedback_keys: Vec<PassageKey> = dense.iter().take(FEEDBACK_DEPTH).map(|s| s.key).collect();
    let feedback: Vec<String> = lib
        .passages_by_key(&feedback_keys)?
        .into_iter()
        .map(|p| p.text_simplified)
        .collect();
    // Each unit's senses: the lexicon's first; for a word none of whose
    // senses the library holds, those of its base forms ("revitalization"
    // → revitalize → 振兴). All looked up at once.
    let lex = lexicon();
    let own: Vec<Vec<String>> = units
        .iter()
        .map(|(_, w)| {
            w.unwrap_or_default()
                .iter()
                .take(MAX_SENSES)
                .cloned()
                .collect()
        })
        .collect();
    let derived: Vec<Vec<String>> = units
        .iter()
        .map(|(key, _)| {
            if key.contains(' ') {
                return Vec::new();
            }
            base_forms(key)
                .iter()
                .filter_map(|b| lex.get(b.as_str()))
                .flat_map(|w| w.iter().take(MAX_SENSES).cloned())
                .collect()
        })
        .collect();
    let mut words: Vec<String> = Vec::new();
    for w in own.iter().chain(&derived).flatten().chain(&rest_terms) {
        if !words.contains(w) {
            words.push(w.clone());
        }
    }
    let found = lib.passages_with(&words, ASSOCIATION_WINDOW)?;
    let held = |list: &[String]| -> Vec<usize> {
        let mut ids: Vec<usize> = list
            .iter()
            .filter_map(|w| words.iter().position(|x| x == w))
            .filter(|&i| found.count(i) > 0)
            .collect();
        let mut seen = std::collections::HashSet::new();
        ids.retain(|i| seen.insert(*i));
        ids
    };
    let senses: Vec<Vec<usize>> = own
        .iter()
        .zip(&derived)
        .map(|(own, derived)| {
            let ids = held(own);
            if ids.is_empty() {
                held(derived)
            } else {
                ids
            }
        })
        .collect();
    let mut all_senses = senses.clone();
    all_senses.extend(held(&rest_terms).into_iter().map(|i| vec![i]));
    let fit = coherence(&found, &all_senses);
    let candidates: Vec<String> = senses.iter().flatten().map(|&i| words[i].clone()).collect();
    let (mut df, passages) = frequencies(lib, &candidates)?;
    for &i in senses.iter().flatten() {
        // A word the index holds as several terms has no term frequency.
        let d = df.entry(words[i].clone()).or_insert(0);
        *d = (*d).max(found.count(i) as u64);
    }
    // A word the lexicon does not know, or knows only in words the library
    // never uses, may be a romanized name (Pengcheng, Qinling): the Chinese
    // words it can spell stand as its translations.
    let romanized: Vec<Vec<String>> = units
        .iter()
        .zip(&senses)
        .map(|((key, _), ids)| {
            if ids.is_empty() {
                romanized_candidates(key)
            } else {
                Vec::new()
            }
        })
        .collect();
    let spelled: Vec<String> = romanized.iter().flatten().cloned().collect();
    let (spelled_df, all) = frequencies(lib, &spelled)?;
    df.extend(spelled_df);
    let passages = passages.max(all);
    let mut translations: Vec<String> = Vec::new();
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut untranslated: Vec<String> = Vec::new();
    let mut found = 0usize;
    for (u, (key, _)) in units.iter().enumerate() {
        let kept: Vec<&str> = if !romanized[u].is_empty() {
            // Most used first: where feedback says nothing, `select` keeps
            // the first the library holds.
            let mut words: Vec<&str> = romanized[u].iter().map(String::as_str).collect();
            words.sort_by_key(|w| std::cmp::Reverse(df.get(*w).copied().unwrap_or(0)));
            select(&words, &df, passages, &feedback)
        } else {
            let mut ranked: Vec<(f32, usize)> = fit[u]
                .iter()
                .copied()
                .zip(senses[u].iter().copied())
                .collect();
            // Stable: equal coherence keeps the lexicon's order.
            ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
            let best = ranked.first().map_or(0.0, |r| r.0);
            if best >= MIN_COHERENCE {
                ranked
                    .iter()
                    .filter(|(c, _)| *c >= NEAR_BEST * best)
                    .take(PER_KEY)
                    .map(|&(_, i)| words[i].as_str())
                    .collect()
            } else {
                let senses: Vec<&str> = senses[u].iter().map(|&i| words[i].as_str()).collect();
                select(&senses, &df, passages, &feedback)
            }
        };
        if kept.is_empty() {
            untranslated.push(key.clone());
        } else {
            found += 1;
            groups.push(kept.iter().map(|w| w.to_string()).collect());
            for w in kept {
                if !translations.iter().any(|t| t == w) {
                    translations.push(w.to_string());
                }
            }
        }
    }
    groups.extend(rest_terms.iter().map(|w| vec![w.clone()]));
    groups.extend(untranslated.iter().map(|w| vec![w.clone()]));
    let mut parts: Vec<String> = rest_terms;
    parts.extend(untranslated);
    parts.extend(translations.iter().cloned());
    let text = parts.join(" ");
    let weight = if text.trim().is_empty() {
        0.0
    } else {
        let own = super::lexical_weight(lib, &text)?;
        own * TRANSLATED_WEIGHT * found as f32 / units.len() as f32
    };
    Ok(LexicalQuery {
        text,
        weight,
        translations,
        groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_plurals_as_the_lexicon_builder() {
        assert_eq!(fold_word("Cities"), "city");
        assert_eq!(fold_word("boxes"), "box");
        assert_eq!(fold_word("hospitals"), "hospital");
        assert_eq!(fold_word("bus"), "bus");
        assert_eq!(fold_word("access"), "access");
    }

    #[test]
    fn splits_english_words_from_chinese_text() {
        let (en, rest) = split_query("What is 南山区 doing about Air Pollution?");
        assert_eq!(en, vec!["air", "pollution"]);
        assert!(rest.contains("南山区"));
        let (en, rest) = split_query("乡村振兴");
        assert!(en.is_empty());
        assert_eq!(rest, "乡村振兴");
    }

    /// Words and phrases not in the evaluation questions: the lexicon must
    /// hold the usual Chinese rendering among its first few candidates.
    #[test]
    fn lexicon_translates_common_policy_words() {
        let cases = [
            ("hospital", "医院"),
            ("air pollution", "空气污染"),
            ("unemployment", "失业"),
            ("subway", "地铁"),
            ("poverty", "贫困"),
            ("railway", "铁路"),
            ("farmer", "农民"),
            ("flood", "洪水"),
        ];
        for (en, zh) in cases {
            let words: Vec<String> = en.split(' ').map(fold_word).collect();
            let units = english_units(&words);
            assert_eq!(units.len(), 1, "{en}: {units:?}");
            let got = units[0].1.unwrap_or_else(|| panic!("{en} not in lexicon"));
            assert!(
                got.iter().take(PER_KEY + 2).any(|w| *w == zh),
                "{en} → {got:?}, expected {zh} near the top"
            );
        }
    }

    /// Words jieba's dictionary lacks, which its HMM still cuts as words
    /// (so the index holds them): the lexicon keeps them as translations.
    #[test]
    fn lexicon_keeps_words_beyond_jiebas_dictionary() {
        for (en, zh) in [
            ("big data", "大数据"),
            ("blockchain", "区块链"),
            ("cloud computing", "云计算"),
            ("smog", "雾霾"),
        ] {
            let words: Vec<String> = en.split(' ').map(fold_word).collect();
            let units = english_units(&words);
            assert_eq!(units.len(), 1, "{en}: {units:?}");
            let got = units[0].1.unwrap_or_else(|| panic!("{en} not in lexicon"));
            assert!(got.iter().any(|w| w == zh), "{en} → {got:?}, expected {zh}");
        }
    }

    #[test]
    fn romanized_names_spell_their_chinese_words() {
        for (word, zh) in [
            ("qianhai", "前海"),
            ("hengqin", "横琴"),
            ("xiongan", "雄安"),
        ] {
            let got = romanized_candidates(word);
            assert!(
                got.iter().any(|w| w == zh),
                "{word}: {} candidates",
                got.len()
            );
            assert!(got.len() <= MAX_ROMANIZED);
        }
        // Not pinyin, or too short to say.
        assert!(romanized_candidates("blockchain").is_empty());
        assert!(romanized_candidates("an").is_empty());
    }

    #[test]
    fn derived_words_lead_to_their_base_forms() {
        for (w, base) in [
            ("revitalization", "revitalize"),
            ("renovation", "renovate"),
            ("desertification", "desertify"),
            ("prevention", "prevent"),
            ("sorting", "sort"),
            ("piloted", "pilot"),
        ] {
            assert!(
                base_forms(w).iter().any(|b| b == base),
                "{w}: {:?}",
                base_forms(w)
            );
        }
        assert!(base_forms("city").is_empty());
    }

    /// Senses are chosen by the company they keep: of two senses of one
    /// word, the one that shares passages with the other word's sense
    /// wins, whatever the lexicon's order.
    #[test]
    fn the_sense_that_keeps_company_with_the_rest_of_the_question_wins() {
        // 0: 驾驶 (rows 0..40), 1: 试点 (rows 100..160), 2: 饭堂 (rows 120..150),
        // 3: 长者 (rows 110..150), in a window of 1,000 passages.
        let mut wp = WordPassages::new(1000, 1000);
        for (a, b) in [(0, 40), (100, 160), (120, 150), (110, 150)] {
            wp.push(&(a..b).collect::<Vec<usize>>());
        }
        let fit = coherence(&wp, &[vec![0, 1], vec![2], vec![3]]);
        assert!(fit[0][1] > fit[0][0], "{fit:?}");
        assert_eq!(fit[0][0], 0.0);
        // A word that always comes with another scores near 1 with it.
        assert!(npmi(&wp, 2, 2) > 0.99);
        // A repeated word does not vouch for itself.
        let fit = coherence(&wp, &[vec![0, 1], vec![0, 1]]);
        assert_eq!(fit, vec![vec![0.0, 0.0], vec![0.0, 0.0]]);
    }

    #[test]
    fn longest_phrase_wins_and_unknown_words_stay() {
        let words: Vec<String> = ["rare", "earth", "zzyzx"]
            .iter()
            .map(|w| fold_word(w))
            .collect();
        let units = english_units(&words);
        assert_eq!(units[0].0, "rare earth");
        assert!(units[0].1.is_some());
        assert_eq!(units[1], ("zzyzx".to_string(), None));
    }
}
