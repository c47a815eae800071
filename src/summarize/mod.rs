//! Extractive, cited summaries and tables of stated targets.

pub mod targets;
