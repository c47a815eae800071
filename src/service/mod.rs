//! The operations the CLI and the HTTP API share, gluing the modules
//! together: open a library with its model, ingest files (parse → embed →
//! store), export passages, run an evaluation query set. Searching itself is
//! [`crate::search::search`] / [`crate::search::similar`] over
//! [`Service::library`] and [`Service::embedder`].

pub mod eval;
pub mod export;
mod ingest;

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::corpus::{CorpusError, CorpusOptions};
use crate::embed::{EmbedError, Embedder};
use crate::index::{IndexError, Library};
use crate::search::QueryEncoder;

pub use ingest::{collect_files, IngestEvent, IngestReport, IngestedDocument, MetaOverride};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Corpus(#[from] CorpusError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Search(#[from] crate::search::SearchError),
    /// The input is unusable (a document without text, an unreadable path…).
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A library opened together with the model that built it.
pub struct Service {
    library: Library,
    embedder: Arc<Embedder>,
    encoder: CachedEncoder,
}

/// Query vectors remembered by [`Service::encoder`] (384 floats each: ~6 MB).
pub const QUERY_MEMO_ENTRIES: usize = 4096;

/// Largest passage, in model tokens, cut at ingestion (e5-small reads 512;
/// shorter passages give sharper hits and citations).
pub const MAX_PASSAGE_TOKENS: usize = 200;

impl Service {
    /// Loads the model from `model_dir` and opens (or creates) the library in
    /// `data_dir` for it; a library built with another model is refused.
    pub fn open(data_dir: &Path, model_dir: &Path) -> Result<Service, ServiceError> {
        let embedder = Arc::new(Embedder::load(model_dir)?);
        Self::with_embedder(data_dir, embedder)
    }

    pub fn with_embedder(
        data_dir: &Path,
        embedder: Arc<Embedder>,
    ) -> Result<Service, ServiceError> {
        let library = Library::open(data_dir, &embedder.model_id(), embedder.dim())?;
        let encoder = CachedEncoder::new(Arc::clone(&embedder), QUERY_MEMO_ENTRIES);
        Ok(Service {
            library,
            embedder,
            encoder,
        })
    }

    pub fn library(&self) -> &Library {
        &self.library
    }

    pub fn embedder(&self) -> &Embedder {
        &self.embedder
    }

    /// The query encoder searches should use: the embedder plus a memo of
    /// recent query vectors.
    pub fn encoder(&self) -> &CachedEncoder {
        &self.encoder
    }

    /// Passage cutting measured in this model's tokens.
    pub fn corpus_options(&self) -> CorpusOptions {
        let e = Arc::clone(&self.embedder);
        CorpusOptions {
            max_passage_tokens: MAX_PASSAGE_TOKENS,
            token_counter: Some(Arc::new(move |t: &str| e.count_tokens(t))),
        }
    }
}

/// The corpus shipped with zhengce (`data/corpus`), looked for under the
/// current directory, else under the source tree this binary was built from.
pub fn bundled_corpus_dir() -> PathBuf {
    let rel = Path::new("data").join("corpus");
    if rel.is_dir() {
        return rel;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The embedder with a bounded memo of recent query (and pasted-text)
/// vectors: embedding a query costs tens of milliseconds of CPU, and
/// researchers repeat queries (paging, changing filters, switching modes),
/// so a repeated query skips the model entirely. Oldest entries go first.
pub struct CachedEncoder {
    embedder: Arc<Embedder>,
    memo: Mutex<Memo>,
    /// One model call at a time: the encoder already spreads one call over
    /// every core, and concurrent calls only fight over them.
    model_gate: Mutex<()>,
}

struct Memo {
    capacity: usize,
    vectors: HashMap<(bool, String), Arc<Vec<f32>>>,
    order: VecDeque<(bool, String)>,
    hits: u64,
    misses: u64,
}

/// Texts longer than this (pasted passages) are not memoised: they rarely repeat.
const MEMO_MAX_CHARS: usize = 256;

impl CachedEncoder {
    pub fn new(embedder: Arc<Embedder>, capacity: usize) -> Self {
        CachedEncoder {
            embedder,
            memo: Mutex::new(Memo {
                capacity,
                vectors: HashMap::new(),
                order: VecDeque::new(),
                hits: 0,
                misses: 0,
            }),
            model_gate: Mutex::new(()),
        }
    }

    /// (hits, misses) so far.
    pub fn counts(&self) -> (u64, u64) {
        self.memo
            .lock()
            .map(|m| (m.hits, m.misses))
            .unwrap_or_default()
    }

    fn get_or_embed(
        &self,
        query: bool,
        text: &str,
        embed: impl FnOnce(&Embedder, &str) -> Result<Vec<f32>, EmbedError>,
    ) -> Result<Vec<f32>, EmbedError> {
        let memoise = self.memo.lock().map(|m| m.capacity > 0).unwrap_or(false)
            && text.chars().count() <= MEMO_MAX_CHARS;
        let run = |text: &str| {
            let _one_at_a_time = self.model_gate.lock();
            embed(&self.embedder, text)
        };
        if !memoise {
            return run(text);
        }
        let key = (query, text.to_string());
        if let Ok(mut m) = self.memo.lock() {
            if let Some(v) = m.vectors.get(&key).cloned() {
                m.hits += 1;
                return Ok(v.as_ref().clone());
            }
            m.misses += 1;
        }
        // The model runs outside the memo's lock: hits are answered meanwhile.
        let v = run(text)?;
        if let Ok(mut m) = self.memo.lock() {
            if !m.vectors.contains_key(&key) {
                while m.vectors.len() >= m.capacity {
                    match m.order.pop_front() {
                        Some(old) => {
                            m.vectors.remove(&old);
                        }
                        None => break,
                    }
                }
                m.order.push_back(key.clone());
                m.vectors.insert(key, Arc::new(v.clone()));
            }
        }
        Ok(v)
    }
}

impl QueryEncoder for CachedEncoder {
    fn encode_query(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        self.get_or_embed(true, text, |e, t| e.encode_query(t))
    }

    fn encode_passage(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        self.get_or_embed(false, text, |e, t| e.encode_passage(t))
    }
}
