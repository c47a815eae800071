//! Text → vectors with a multilingual sentence model run through candle.
//!
//! SKELETON: the `Embedder` API below is the contract the index and search
//! use; the implementation lands with the embeddings issue.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("model folder {dir}: {problem}")]
    Model { dir: PathBuf, problem: String },
}

/// A loaded sentence-embedding model (tokenizer + encoder + pooling).
pub struct Embedder {
    _private: (),
}

impl Embedder {
    /// Loads a model folder in the standard Hugging Face layout
    /// (`config.json`, `model.safetensors`, `tokenizer.json`).
    pub fn load(dir: &Path) -> Result<Embedder, EmbedError> {
        Err(EmbedError::Model {
            dir: dir.to_path_buf(),
            problem: "the embedder is not built yet".into(),
        })
    }

    /// Embeds search queries (the model's query prefix is added here).
    pub fn embed_queries(&self, _texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        unimplemented!()
    }

    /// Embeds passages to be indexed (the model's passage prefix is added here).
    pub fn embed_passages(&self, _texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        unimplemented!()
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        unimplemented!()
    }

    /// Identity of the model (name + weights fingerprint), recorded in indexes
    /// so one built with another model is refused.
    pub fn model_id(&self) -> String {
        unimplemented!()
    }

    /// Number of model tokens (specials included) the text becomes.
    pub fn count_tokens(&self, _text: &str) -> usize {
        unimplemented!()
    }
}

/// Where the model folder is looked for when neither `--model` nor
/// `ZHENGCE_MODEL` says: `models/multilingual-e5-small` under the current
/// directory, else under the source tree this binary was built from.
pub fn default_model_dir() -> PathBuf {
    let rel = Path::new("models").join("multilingual-e5-small");
    if rel.join("config.json").exists() {
        return rel;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}
