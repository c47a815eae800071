//! The district × indicator comparison over everything indexed.

use std::collections::{BTreeMap, HashMap};

use rayon::prelude::*;
use serde::Serialize;

use super::targets::{
    extract_passage, normalize_indicator, review_year, SentenceContext, TargetRow,
};
use super::SummarizeError;
use crate::index::{Filter, Library};

#[derive(Debug, Clone, Serialize)]
pub struct TargetsTable {
    /// Indicators present, in lexicon order.
    pub indicators: Vec<String>,
    /// Districts present, sorted.
    pub districts: Vec<String>,
    /// Every extracted statement, by district then document order.
    pub rows: Vec<TargetRow>,
}

/// Extracts target and result statements from every passage matching
/// `filter`, optionally restricted to one indicator (any spelling or script).
pub fn targets_table(
    lib: &Library,
    indicator: Option<&str>,
    filter: &Filter,
) -> Result<TargetsTable, SummarizeError> {
    let wanted = match indicator.map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(name) => Some(normalize_indicator(name).ok_or_else(|| {
            SummarizeError::BadRequest(format!(
                "unknown indicator {name:?}; known: {}",
                super::targets::known_indicators()
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?),
    };
    // Review years live on documents, not passages.
    let review_years: HashMap<String, Option<i32>> = lib
        .documents()?
        .into_iter()
        .map(|d| {
            let review = review_year(d.doc_type.as_deref(), d.year, d.review_year);
            (d.doc_id, review)
        })
        .collect();
    // Extraction is regex work per passage, independent across passages:
    // spread over the cores, in library order.
    let mut passages = Vec::new();
    lib.for_each_passage(filter, &mut |p| {
        passages.push(p);
        Ok(())
    })?;
    let rows: Vec<TargetRow> = passages
        .par_iter()
        .flat_map_iter(|p| {
            let ctx = SentenceContext::of(p, review_years.get(&p.doc_id).copied().flatten());
            extract_passage(&p.text, &ctx)
                .into_iter()
                .filter(|r| wanted.is_none_or(|w| r.indicator == w))
        })
        .collect();
    let order: BTreeMap<&str, usize> = super::targets::known_indicators()
        .enumerate()
        .map(|(i, n)| (n, i))
        .collect();
    let mut indicators: Vec<String> = rows.iter().map(|r| r.indicator.clone()).collect();
    indicators.sort_by_key(|n| order.get(n.as_str()).copied().unwrap_or(usize::MAX));
    indicators.dedup();
    let mut districts: Vec<String> = rows.iter().filter_map(|r| r.district.clone()).collect();
    districts.sort();
    districts.dedup();
    Ok(TargetsTable {
        indicators,
        districts,
        rows,
    })
}
