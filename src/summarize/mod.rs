//! Extractive, cited summaries and tables of stated targets.
//!
//! Every sentence a summary shows is a sentence of a report, verbatim, with
//! the passage it came from: researchers quote these texts, and an invented
//! figure is worse than no summary.

pub mod answer;
pub mod document;
pub mod panel;
pub mod table;
pub mod targets;
mod text;
pub mod topic;

use serde::{Deserialize, Serialize};

pub use answer::{answer, Answer};
pub use document::{summarize_document, DocumentSummary, SectionSummary, SummarySentence};
pub use panel::{
    attention_panel, target_panel, AttentionPanel, AttentionRequest, PanelRequest, TargetPanel,
};
pub use table::{targets_table, TargetsTable};
pub use targets::{TargetKind, TargetRow};
pub use topic::{summarize_topic, TopicRequest, TopicSummary};

use crate::embed::{EmbedError, Embedder};
use crate::index::{Filter, IndexError, Library};
use crate::search::{QueryEncoder, SearchError};

#[derive(Debug, thiserror::Error)]
pub enum SummarizeError {
    /// The request itself is wrong: a 4xx.
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Search(#[from] SearchError),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Embed(#[from] EmbedError),
}

/// What `POST /api/summarize` and `zhengce summarize` take: a topic (`query`)
/// or one document (`doc_id`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SummarizeRequest {
    pub query: Option<String>,
    pub doc_id: Option<String>,
    pub filters: Filter,
    /// Per district for a topic (default 3); in all for a document (default 12).
    pub max_sentences: Option<usize>,
    /// Districts at most, for a topic (default 10).
    pub max_districts: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Summary {
    Topic(TopicSummary),
    Document(DocumentSummary),
}

/// Upper bound on sentences a caller may ask for.
pub const MAX_SENTENCES: usize = 200;

/// `embedder` encodes the candidate sentences (one passage-side batch);
/// `encoder` the topic's question (search, sentence scoring, relevance).
pub fn summarize(
    lib: &Library,
    embedder: &Embedder,
    encoder: &dyn QueryEncoder,
    req: &SummarizeRequest,
) -> Result<Summary, SummarizeError> {
    if let Some(n) = req.max_sentences {
        if n == 0 || n > MAX_SENTENCES {
            return Err(SummarizeError::BadRequest(format!(
                "max_sentences must be between 1 and {MAX_SENTENCES}"
            )));
        }
    }
    let query = req
        .query
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty());
    match (query, req.doc_id.as_deref()) {
        (Some(query), None) => Ok(Summary::Topic(summarize_topic(
            lib,
            embedder,
            encoder,
            &TopicRequest {
                query: query.to_string(),
                filter: req.filters.clone(),
                max_sentences: req.max_sentences.unwrap_or(3),
                max_districts: req.max_districts.unwrap_or(10).clamp(1, 50),
            },
        )?)),
        (None, Some(doc_id)) => {
            let doc = lib.document(doc_id)?;
            let passages: Vec<crate::corpus::Passage> = doc
                .passages
                .into_iter()
                .map(|p| crate::corpus::Passage {
                    id: p.passage_id,
                    ordinal: p.ordinal,
                    text: p.text,
                    text_simplified: p.text_simplified,
                    section_path: p.section_path,
                    term: p.term,
                })
                .collect();
            Ok(Summary::Document(summarize_document(
                doc_id,
                doc.summary.place.district.as_deref(),
                &passages,
                req.max_sentences.unwrap_or(12),
            )))
        }
        (Some(_), Some(_)) => Err(SummarizeError::BadRequest(
            "give either query or doc_id, not both".into(),
        )),
        (None, None) => Err(SummarizeError::BadRequest(
            "give a query (topic summary) or a doc_id (document summary)".into(),
        )),
    }
}
