//! The operations the CLI and the HTTP API share, gluing the modules
//! together: open a library with its model, ingest files (parse → embed →
//! store) and delete documents, correct metadata, search with direct answers
//! to figure questions ([`Service::search`]), find similar passages,
//! summarize, the targets table and the research panels, library figures,
//! export passages, run an evaluation query set. Both front ends parse,
//! call one of these and render its value; the query side of the model is
//! reached through [`Service::encoder`] (memo, batcher, admission), each
//! operation's questions as one admitted request.

pub mod corrections;
mod encoder;
pub mod eval;
pub mod export;
mod ingest;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::corpus::{CorpusError, CorpusOptions};
use crate::embed::{EmbedError, Embedder};
use crate::index::{IndexError, Library};

pub use encoder::{
    Admission, AdmissionCounts, Batcher, CachedEncoder, RequestEncoder, TextSide, SHORT_TEXT_CHARS,
};
pub use ingest::{collect_files, IngestEvent, IngestReport, IngestedDocument};

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
    #[error(transparent)]
    Summarize(#[from] crate::summarize::SummarizeError),
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

/// A search's hits together with the stated figure the question asks for,
/// when its place's report states one.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AnsweredSearch {
    #[serde(flatten)]
    pub response: crate::search::SearchResponse,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<crate::summarize::Answer>,
}

impl Service {
    /// Runs [`crate::search::search`] and answers a figure question from the
    /// stated figures of the place the question names (or the filter
    /// restricts to): the answer does not depend on the sentence ranking.
    pub fn search(
        &self,
        req: &crate::search::SearchRequest,
    ) -> Result<AnsweredSearch, ServiceError> {
        let encoder = self.encoder.for_request(&[&req.query])?;
        let response = crate::search::search(&self.library, &encoder, req)?;
        let place = response
            .place
            .as_ref()
            .map(|p| p.name.clone())
            .or_else(|| req.filter.district.clone())
            .or_else(|| req.filter.city.clone())
            .or_else(|| req.filter.province.clone());
        let answer = match place {
            Some(place) => crate::summarize::answer(&self.library, &req.query, &place)?,
            None => None,
        };
        Ok(AnsweredSearch { response, answer })
    }
}

impl Service {
    /// Runs [`crate::search::similar`] as one admitted request: its text and
    /// negative examples together within [`Admission::max_request_chars`],
    /// refused at once when the pasted text already being encoded leaves no
    /// room, and its model work within the deadline.
    pub fn similar(
        &self,
        req: &crate::search::SimilarRequest,
    ) -> Result<crate::search::SimilarResponse, ServiceError> {
        // Negatives that name stored passages are not encoded, but which
        // they are is only known inside `similar`: counting them all keeps
        // the bound a property of the request as sent.
        let texts: Vec<&str> = req
            .text
            .iter()
            .chain(&req.negative)
            .map(String::as_str)
            .collect();
        let encoder = self.encoder.for_request(&texts)?;
        Ok(crate::search::similar(&self.library, &encoder, req)?)
    }
}

impl Service {
    /// Library figures: documents, passages, model, index sizes.
    pub fn stats(&self) -> Result<crate::index::Stats, ServiceError> {
        Ok(self.library.stats()?)
    }

    /// [`crate::summarize::summarize`]: a topic across districts, or one
    /// document. A topic's question is encoded as one admitted request on
    /// the query encoder (the search, the sentence scoring and the relevance
    /// evidence share its vector); the candidate sentences are one passage
    /// batch on the embedder.
    pub fn summarize(
        &self,
        req: &crate::summarize::SummarizeRequest,
    ) -> Result<crate::summarize::Summary, ServiceError> {
        let texts: Vec<&str> = req.query.iter().map(String::as_str).collect();
        let encoder = self.encoder.for_request(&texts)?;
        Ok(crate::summarize::summarize(
            &self.library,
            &self.embedder,
            &encoder,
            req,
        )?)
    }

    /// [`crate::summarize::targets_table`]: stated targets and results
    /// under `filter`, optionally of one indicator.
    pub fn targets(
        &self,
        indicator: Option<&str>,
        filter: &crate::index::Filter,
    ) -> Result<crate::summarize::TargetsTable, ServiceError> {
        Ok(crate::summarize::targets_table(
            &self.library,
            indicator,
            filter,
        )?)
    }

    /// [`crate::summarize::target_panel`]: target against achieved per place
    /// and year.
    pub fn target_panel(
        &self,
        req: &crate::summarize::PanelRequest,
    ) -> Result<crate::summarize::TargetPanel, ServiceError> {
        Ok(crate::summarize::target_panel(&self.library, req)?)
    }

    /// [`crate::summarize::attention_panel`], its concept encoded as one
    /// admitted request on the query encoder.
    pub fn attention_panel(
        &self,
        req: &crate::summarize::AttentionRequest,
    ) -> Result<crate::summarize::AttentionPanel, ServiceError> {
        let encoder = self.encoder.for_request(&[req.concept.as_str()])?;
        Ok(crate::summarize::attention_panel(
            &self.library,
            &encoder,
            req,
        )?)
    }
}

/// Passage cutting in the tokens of the model in `model_dir`, read from its
/// tokenizer alone (no weights): the passages ingestion with that model
/// stores, for tools that only parse (`inspect`).
pub fn corpus_options_for_model(model_dir: &Path) -> Result<CorpusOptions, ServiceError> {
    let tokens = Arc::new(crate::embed::PassageTokens::load(model_dir)?);
    Ok(CorpusOptions {
        max_passage_tokens: MAX_PASSAGE_TOKENS,
        token_counter: Some(Arc::new(move |t: &str| tokens.count(t))),
    })
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
