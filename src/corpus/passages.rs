//! Passages: sentences packed into bounded units, never across sections.

use super::script::to_simplified;
use super::structure::Block;
use super::text::{is_cjk, is_closing, is_terminal};
use super::{CorpusOptions, Passage};

/// Splits after `。！？；!?;…` (with the closing quotes and brackets that
/// follow them).
pub fn split_sentences(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        cur.push(c);
        i += 1;
        if is_terminal(c) || c == '\n' {
            while i < chars.len() && (is_terminal(chars[i]) || is_closing(chars[i])) {
                cur.push(chars[i]);
                i += 1;
            }
            push_trimmed(&mut out, &mut cur);
        }
    }
    push_trimmed(&mut out, &mut cur);
    out
}

fn push_trimmed(out: &mut Vec<String>, cur: &mut String) {
    let t = cur.trim();
    if !t.is_empty() {
        out.push(t.to_string());
    }
    cur.clear();
}

/// Conservative token estimate for XLM-R-style tokenizers: a Han character
/// is about 0.7 tokens on average, counted as 0.8; ASCII letters and digits
/// merge into word pieces; other symbols are a token each.
pub fn estimate_tokens(text: &str) -> usize {
    let mut t = 0.0f32;
    for c in text.chars() {
        if is_cjk(c) {
            t += 0.8;
        } else if c.is_ascii_alphanumeric() {
            t += 0.4;
        } else if !c.is_whitespace() {
            t += 1.0;
        }
    }
    t.ceil() as usize + 2
}

/// Token counts, remembered: packing asks for the same sentence's count
/// several times, and the model's tokenizer is the costly part of a parse.
struct Counter<'a> {
    opts: &'a CorpusOptions,
    seen: std::cell::RefCell<rustc_hash::FxHashMap<String, usize>>,
}

impl<'a> Counter<'a> {
    fn new(opts: &'a CorpusOptions) -> Self {
        Counter {
            opts,
            seen: Default::default(),
        }
    }

    fn count(&self, text: &str) -> usize {
        let Some(f) = &self.opts.token_counter else {
            return estimate_tokens(text);
        };
        if let Some(&n) = self.seen.borrow().get(text) {
            return n;
        }
        let n = f(text);
        self.seen.borrow_mut().insert(text.to_string(), n);
        n
    }
}

/// Units no larger than `max`: the sentence itself, or its pieces cut at
/// `，`, then `、`, then by length.
fn fit(sentence: &str, max: usize, counter: &Counter) -> Vec<String> {
    if counter.count(sentence) <= max {
        return vec![sentence.to_string()];
    }
    for sep in ['，', '、', ',', ' '] {
        if sentence.contains(sep) {
            let pieces: Vec<String> = sentence.split_inclusive(sep).map(str::to_string).collect();
            if pieces.len() > 1 {
                let mut out = Vec::new();
                let mut cur = String::new();
                for p in pieces {
                    if !cur.is_empty() && counter.count(&format!("{cur}{p}")) > max {
                        out.extend(fit(&cur, max, counter));
                        cur.clear();
                    }
                    cur.push_str(&p);
                }
                if !cur.is_empty() {
                    out.extend(fit(&cur, max, counter));
                }
                return out;
            }
        }
    }
    // No separator left: cut by length, shorter until every piece fits (a
    // token count is not proportional to length: symbols weigh more).
    let chars: Vec<char> = sentence.chars().collect();
    let mut per = (chars.len() * max * 9 / 10 / counter.count(sentence).max(1)).max(1);
    loop {
        let pieces: Vec<String> = chars.chunks(per).map(|c| c.iter().collect()).collect();
        if per == 1 || pieces.iter().all(|p| counter.count(p) <= max) {
            return pieces;
        }
        per = per * 9 / 10;
    }
}

/// Packs each section's sentences into passages of at most
/// `max_passage_tokens`, evened out so a section does not end in a scrap.
pub fn build(doc_id: &str, blocks: &[Block], opts: &CorpusOptions) -> Vec<Passage> {
    let counter = Counter::new(opts);
    let max = opts.max_passage_tokens.max(8);
    let mut passages = Vec::new();
    let mut i = 0;
    while i < blocks.len() {
        let mut j = i + 1;
        // Glossary entries stand alone; paragraphs of one section go together.
        if blocks[i].term.is_none() {
            while j < blocks.len() && blocks[j].term.is_none() && blocks[j].path == blocks[i].path {
                j += 1;
            }
        }
        // (sentence, starts a paragraph)
        let mut units: Vec<(String, bool)> = Vec::new();
        for b in &blocks[i..j] {
            let mut first = true;
            for s in split_sentences(&b.text) {
                for piece in fit(&s, max, &counter) {
                    units.push((piece, first));
                    first = false;
                }
            }
        }
        // Tokenizing each growing candidate passage costs several times
        // the text; the sum of its sentences' counts decides instead while
        // it is clearly under the limit. Every passage is then counted
        // once, and a group where the sum misled is packed again counting
        // each candidate exactly, so no passage exceeds the limit.
        let mut texts = pack(&units, max, &counter, false);
        if texts.iter().any(|t| counter.count(t) > max) {
            texts = pack(&units, max, &counter, true);
        }
        let group_start = passages.len();
        for text in texts {
            push_passage(doc_id, &blocks[i], &text, &mut passages);
        }
        merge_scrap(&mut passages, group_start, max, &counter);
        i = j;
    }
    passages
}

/// Tokens the sum of two sentences' counts may overstate or understate
/// their joined count by, beyond the prefix and specials each count
/// carries: a word marker, a paragraph break, a piece spanning the join.
const JOIN_SLACK: usize = 8;

/// One section's sentences packed into passage texts. A candidate passage
/// is counted exactly when `exact`, or when the sum of its sentences'
/// counts comes within [`JOIN_SLACK`] of `max`; otherwise the sum decides.
fn pack(units: &[(String, bool)], max: usize, counter: &Counter, exact: bool) -> Vec<String> {
    // What every count carries besides the text: prefix and specials.
    let overhead = counter.count("");
    let content = |s: &str| counter.count(s).saturating_sub(overhead);
    let fits = |parts: &[(String, bool)], extra: &(String, bool)| -> bool {
        let breaks = parts.iter().chain([extra]).filter(|(_, p)| *p).count();
        let sum: usize = parts.iter().chain([extra]).map(|(s, _)| content(s)).sum();
        if !exact && overhead + sum + breaks + JOIN_SLACK <= max {
            return true;
        }
        counter.count(&join_units(parts, Some((&extra.0, extra.1)))) <= max
    };
    let total: usize = units.iter().map(|(s, _)| counter.count(s)).sum();
    let n = total.div_ceil(max).max(1);
    let target = total / n;
    let mut out = Vec::new();
    let mut cur: Vec<(String, bool)> = Vec::new();
    let mut cur_tokens = 0;
    for (s, para) in units.iter().cloned() {
        let t = counter.count(&s);
        if !cur.is_empty() && (cur_tokens >= target || !fits(&cur, &(s.clone(), para))) {
            // A short lead sentence (`以文化引领提升城市内涵。`) opens what
            // follows; it moves on rather than closing a passage.
            let carry = if cur.len() > 1 && is_lead(&cur[cur.len() - 1].0) {
                let last = cur.pop().expect("non-empty");
                if fits(std::slice::from_ref(&last), &(s.clone(), para)) {
                    Some(last)
                } else {
                    cur.push(last);
                    None
                }
            } else {
                None
            };
            out.push(join_units(&cur, None));
            cur.clear();
            cur_tokens = 0;
            if let Some(c) = carry {
                cur_tokens += counter.count(&c.0);
                cur.push((c.0, true));
            }
        }
        cur.push((s, para));
        cur_tokens += t;
    }
    out.push(join_units(&cur, None));
    out
}

/// Sentences joined; a paragraph break inside a passage is `\n`.
fn join_units(units: &[(String, bool)], extra: Option<(&String, bool)>) -> String {
    let mut out = String::new();
    for (s, para) in units.iter().map(|(s, p)| (s, *p)).chain(extra) {
        if para && !out.is_empty() {
            out.push('\n');
        }
        out.push_str(s);
    }
    out
}

/// Folds a scrap at the end of a section (`拼命干！`) into the passage before
/// it when both fit.
fn merge_scrap(passages: &mut Vec<Passage>, group_start: usize, max: usize, counter: &Counter) {
    let n = passages.len();
    if n < group_start + 2 {
        return;
    }
    let last = &passages[n - 1];
    if counter.count(&last.text) * 5 > max {
        return;
    }
    let joined = format!("{}{}", passages[n - 2].text, last.text);
    if counter.count(&joined) <= max {
        let last = passages.pop().expect("two passages");
        let prev = passages.last_mut().expect("one passage");
        prev.text.push_str(&last.text);
        prev.text_simplified.push_str(&last.text_simplified);
    }
}

/// A short sentence that heads a paragraph's topic.
fn is_lead(s: &str) -> bool {
    s.chars().filter(|&c| is_cjk(c)).count() <= 16 && s.ends_with('。')
}

fn push_passage(doc_id: &str, block: &Block, text: &str, passages: &mut Vec<Passage>) {
    let text = text.trim();
    if text.is_empty() {
        return;
    }
    let ordinal = passages.len() as u32;
    passages.push(Passage {
        id: format!("{doc_id}-{ordinal:04}"),
        ordinal,
        text_simplified: to_simplified(text),
        text: text.to_string(),
        section_path: block.path.clone(),
        term: block.term.clone(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_keep_closing_quotes() {
        assert_eq!(
            split_sentences("他说：“好。”然后走了！真的?是;"),
            vec!["他说：“好。”", "然后走了！", "真的?", "是;"]
        );
    }

    #[test]
    fn passages_are_bounded_and_stay_in_sections() {
        let long = "推动经济实现质的有效提升和量的合理增长，".repeat(30) + "完成。";
        let blocks = vec![
            Block {
                path: vec!["一、回顾".into()],
                term: None,
                text: "第一句。第二句。".into(),
            },
            Block {
                path: vec!["二、任务".into()],
                term: None,
                text: long.clone(),
            },
        ];
        let opts = CorpusOptions::default();
        let ps = build("abc", &blocks, &opts);
        assert_eq!(ps[0].text, "第一句。第二句。");
        assert_eq!(ps[0].id, "abc-0000");
        assert!(ps[1..].iter().all(|p| p.section_path == vec!["二、任务"]));
        assert!(
            ps.iter().all(|p| estimate_tokens(&p.text) <= 200),
            "bounded"
        );
        let joined: String = ps[1..].iter().map(|p| p.text.as_str()).collect();
        assert_eq!(joined, long);
    }

    #[test]
    fn passages_stay_bounded_when_sentence_counts_do_not_add_up() {
        // A counter under which joined sentences cost far more than the sum
        // of their counts: packing by the sum would overflow, so the group
        // must be packed again by exact counts.
        let counter: crate::corpus::TokenCounter = std::sync::Arc::new(|t: &str| {
            let stops = t.matches('。').count();
            t.chars().count() + 3 * stops * stops
        });
        let opts = CorpusOptions {
            max_passage_tokens: 100,
            token_counter: Some(counter.clone()),
        };
        let text = "加快建设。".repeat(12);
        let blocks = vec![Block {
            path: vec!["一、任务".into()],
            term: None,
            text: text.clone(),
        }];
        let ps = build("abc", &blocks, &opts);
        assert!(ps.len() > 1);
        assert!(ps.iter().all(|p| counter(&p.text) <= 100), "bounded");
        let joined: String = ps.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(joined, text);
    }
}
