//! Extractive, cited summaries and tables of stated targets.
//!
//! Every sentence a summary shows is a sentence of a report, verbatim, with
//! the passage it came from: researchers quote these texts, and an invented
//! figure is worse than no summary.

pub mod document;
pub mod targets;
mod text;

pub use document::{summarize_document, DocumentSummary, SectionSummary, SummarySentence};
pub use targets::{TargetKind, TargetRow};
