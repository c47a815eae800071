//! zhengce (政策): local semantic search and cited summaries over Chinese
//! local-government policy reports.
//!
//! The data flows one way through the modules, each owning its types:
//! [`corpus`] (bytes → clean, attributed passages) → [`embed`] (text → vectors)
//! → [`index`] (store + dense + lexical) → [`search`] (query → ranked, grouped
//! hits) → [`summarize`]; [`api`] and the binary are thin layers over them;
//! [`bench`] measures the stages from outside.

pub mod api;
pub mod bench;
pub mod corpus;
pub mod embed;
pub mod index;
pub mod search;
pub mod service;
pub mod summarize;
