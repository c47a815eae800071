//! Bytes → clean, structured, attributed passages.
//!
//! SKELETON: the types and functions below are the contract the index
//! consumes (names may gain fields, not lose them); the implementation lands
//! with the corpus issue.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// One retrievable unit of a report: whole sentences of one section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Passage {
    /// Stable id: document content hash + ordinal, e.g. `3f2a9c1b0d4e5f60-0012`.
    pub id: String,
    /// Position in the document, from 0.
    pub ordinal: u32,
    /// Clean text in the document's own script (what users read).
    pub text: String,
    /// The same text folded to simplified characters (for lexical matching).
    pub text_simplified: String,
    /// Headings from the top of the document down to this passage.
    pub section_path: Vec<String>,
    /// Set for glossary entries (名词解释): the term being explained.
    pub term: Option<String>,
}

/// Who reported, when, and what kind of report it is. A field that cannot be
/// derived is `None`, never a guess.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DocumentMeta {
    pub title: Option<String>,
    /// The reporting unit, whatever its level (区, 县, 县级市, 市, 旗…).
    pub district: Option<String>,
    pub city: Option<String>,
    pub province: Option<String>,
    /// Administrative level of `district`: "province" | "prefecture" | "county".
    pub level: Option<String>,
    /// The year the report plans for (e.g. 2025 for a report given in early 2025).
    pub year: Option<i32>,
    /// The year the report looks back on.
    pub review_year: Option<i32>,
    pub doc_type: Option<String>,
    pub meeting_date: Option<String>,
    pub speaker: Option<String>,
    /// Confidence in [0, 1] per inferred field name.
    pub confidence: BTreeMap<String, f32>,
}

/// A parsed document: everything ingestion learned about one file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Document {
    /// Content hash of the decoded text (16 hex digits); prefix of passage ids.
    pub id: String,
    /// File name as given.
    pub file: String,
    /// Detected encoding, e.g. "UTF-8", "GB18030", "Big5", "UTF-16LE".
    pub encoding: String,
    /// "simplified" or "traditional": the script shown to users.
    pub script: String,
    pub meta: DocumentMeta,
    /// What cleaning removed, by kind (e.g. "pinyin_annotations": 1234).
    pub removed: BTreeMap<String, u64>,
    pub passages: Vec<Passage>,
}

/// Counts model tokens of a text, so passages can be bounded in the model's units.
pub type TokenCounter = Arc<dyn Fn(&str) -> usize + Send + Sync>;

#[derive(Clone)]
pub struct CorpusOptions {
    /// Upper bound on a passage's size in model tokens.
    pub max_passage_tokens: usize,
    /// The model's token counter; a character-based estimate when `None`.
    pub token_counter: Option<TokenCounter>,
}

impl Default for CorpusOptions {
    fn default() -> Self {
        CorpusOptions {
            max_passage_tokens: 200,
            token_counter: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("{file}: {problem}")]
    Unreadable { file: String, problem: String },
}

/// Parses one file's bytes into a document.
pub fn parse_document(
    file: &str,
    _bytes: &[u8],
    _opts: &CorpusOptions,
) -> Result<Document, CorpusError> {
    Err(CorpusError::Unreadable {
        file: file.to_string(),
        problem: "corpus parsing is not built yet".into(),
    })
}

/// Reads and parses a file, applying a `NAME.meta.json` sidecar when present.
pub fn parse_file(path: &Path, opts: &CorpusOptions) -> Result<Document, CorpusError> {
    let bytes = std::fs::read(path).map_err(|e| CorpusError::Unreadable {
        file: path.display().to_string(),
        problem: e.to_string(),
    })?;
    parse_document(&path.display().to_string(), &bytes, opts)
}

/// Folds text (a query, say) to simplified characters for lexical matching.
pub fn to_simplified(text: &str) -> String {
    text.to_string()
}
