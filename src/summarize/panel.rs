//! The target panel: place × year × indicator, the figure a government set
//! as its target for a year beside the figure its next report gives as
//! achieved, and the targets its city and province set for the same year.
//!
//! Researchers build this panel by hand from stacks of reports (target
//! setting, "层层加码" up the hierarchy, met or missed). Every number here is
//! one [`TargetRow`] of [`super::targets`], so it keeps the sentence and the
//! passage it was read from.
//!
//! The attention panel: per report, how often it uses a concept's terms
//! (per 10,000 characters) and what share of its passages the relevance
//! estimate ([`crate::search::relevance`]) finds addressing the concept as
//! a question: the word count misses what a report says in other words, the
//! share is blind to a term list's choices; researchers want both.
//!
//! Places are keyed by the divisions table's current successor
//! ([`crate::corpus::divisions::History::place_key_of`]): a county that
//! became a district, or a 新区 that became a 区, is one series under the
//! name of its latest report.

use std::collections::HashMap;

use serde::Serialize;

use super::table::targets_table;
use super::targets::{Measure, TargetKind, TargetRow};
use super::SummarizeError;
use crate::corpus::to_simplified;
use crate::index::{DocumentSummary, Filter, Library};
use crate::search::{self, relevance, QueryEncoder, SearchRequest};

/// The indicator a panel is built for when none is named.
pub const DEFAULT_INDICATOR: &str = "地区生产总值";

/// One stated figure, with where it was stated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure {
    pub value: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upper: Option<f64>,
    pub qualifier: Option<String>,
    pub unit: String,
    pub sentence: String,
    pub passage_id: String,
    pub doc_id: String,
}

impl Figure {
    fn of(row: &TargetRow) -> Figure {
        Figure {
            value: row.value,
            upper: row.upper,
            qualifier: row.qualifier.clone(),
            unit: row.unit.clone(),
            sentence: row.sentence.clone(),
            passage_id: row.passage_id.clone(),
            doc_id: row.doc_id.clone(),
        }
    }

    /// Whether the target is a ceiling (控制在3%以内) rather than a floor.
    fn is_ceiling(&self) -> bool {
        self.qualifier
            .as_deref()
            .is_some_and(|q| ["以内", "以下", "不超过", "控制在", "低于"].contains(&q))
    }
}

/// One place, one year, one indicator and measure.
#[derive(Debug, Clone, Serialize)]
pub struct PanelRow {
    /// The place's name in its latest report in the library.
    pub place: String,
    /// Other names its reports carry (before a rename).
    pub other_names: Vec<String>,
    pub level: Option<String>,
    pub city: Option<String>,
    pub province: Option<String>,
    pub year: i32,
    pub indicator: String,
    pub measure: Measure,
    /// Set in the report of `year`.
    pub target: Option<Figure>,
    /// Reported for `year`, normally by the next year's report.
    pub achieved: Option<Figure>,
    /// Achieved against target: at least the target's lower end, or at most
    /// a ceiling (以内, 以下). `None` unless both are stated in one unit.
    pub met: Option<bool>,
    /// Achieved minus the target's lower end (percentage points for growth).
    pub gap: Option<f64>,
    /// The target the place's city set for the same year, when the library
    /// holds that city's report.
    pub city_target: Option<Figure>,
    /// The same for the province.
    pub province_target: Option<Figure>,
}

#[derive(Debug, Clone)]
pub struct PanelRequest {
    /// Any spelling or script the targets lexicon knows; default
    /// [`DEFAULT_INDICATOR`].
    pub indicator: Option<String>,
    /// A place: rows of that place, and of the places within it.
    pub place: Option<String>,
    pub year_from: Option<i32>,
    pub year_to: Option<i32>,
    /// Growth rates (the default: the figure targets are set in) or levels.
    pub measure: Measure,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetPanel {
    pub indicator: String,
    pub rows: Vec<PanelRow>,
}

/// How a document sits in the hierarchy.
struct Unit<'a> {
    key: String,
    city_key: Option<String>,
    province_key: Option<String>,
    doc: &'a DocumentSummary,
}

/// Keys a place by its current successor in the divisions table, else by
/// name. A functional area (`X新区`) the table does not know, in a city
/// where the table knows a district `X区`, is that district before it was
/// made one: functional areas are upgraded to districts under their own
/// name, and their reports form one series.
fn key_of(
    district: Option<&str>,
    city: Option<&str>,
    province: Option<&str>,
    year: Option<i32>,
) -> Option<String> {
    let name = district.or(city).or(province)?;
    let history = crate::corpus::divisions::history().ok();
    let lookup = |d: Option<&str>| {
        history.and_then(|h| {
            h.place_key_of(d, city, province, year.and_then(|y| u16::try_from(y).ok()))
        })
    };
    let code = lookup(district).or_else(|| {
        let stem = district?.strip_suffix("新区")?;
        (!stem.is_empty() && city.is_some())
            .then(|| lookup(Some(&format!("{stem}区"))))
            .flatten()
    });
    Some(code.map_or_else(|| format!("name:{name}"), |c| format!("code:{c}")))
}

fn unit(doc: &DocumentSummary) -> Option<Unit<'_>> {
    let (d, c, p, y) = (
        doc.place.district.as_deref(),
        doc.place.city.as_deref(),
        doc.place.province.as_deref(),
        doc.year,
    );
    let key = key_of(d, c, p, y)?;
    let province_key = key_of(None, None, p, y).filter(|k| *k != key);
    let city_key = key_of(None, c, p, y).filter(|k| *k != key && Some(k) != province_key.as_ref());
    Some(Unit {
        key,
        city_key,
        province_key,
        doc,
    })
}

/// A place and everything within it, or everywhere.
struct Scope {
    name: Option<String>,
    keys: Vec<String>,
}

impl Scope {
    fn new(place: Option<&str>) -> Scope {
        let name = place.map(str::trim).filter(|s| !s.is_empty());
        Scope {
            name: name.map(str::to_string),
            keys: name
                .map(|p| {
                    [key_of(Some(p), None, None, None), Some(format!("name:{p}"))]
                        .into_iter()
                        .flatten()
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    fn contains(&self, u: &Unit<'_>) -> bool {
        let Some(name) = self.name.as_deref() else {
            return true;
        };
        [Some(&u.key), u.city_key.as_ref(), u.province_key.as_ref()]
            .into_iter()
            .flatten()
            .any(|k| self.keys.contains(k))
            || [
                &u.doc.place.district,
                &u.doc.place.city,
                &u.doc.place.province,
            ]
            .into_iter()
            .any(|n| n.as_deref() == Some(name))
    }
}

/// Preference among several reports of one place and year: the government's
/// own work report first, then the plan report, then anything else.
fn doc_rank(doc: &DocumentSummary) -> u8 {
    match doc.doc_type.as_deref() {
        Some("政府工作报告") | Some("管委会工作报告") => 0,
        Some("国民经济和社会发展计划报告") => 1,
        _ => 2,
    }
}

type Cell = (String, i32, String, Measure);

pub fn target_panel(lib: &Library, req: &PanelRequest) -> Result<TargetPanel, SummarizeError> {
    let indicator = req
        .indicator
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_INDICATOR);
    // Parents and next-year reports lie outside any place or year filter, so
    // figures are read from the whole library and the filter applies to rows.
    let table = targets_table(lib, Some(indicator), &Filter::default())?;
    let indicator = table
        .indicators
        .first()
        .cloned()
        .unwrap_or_else(|| indicator.to_string());
    let docs = lib.documents()?;
    let units: HashMap<&str, Unit<'_>> = docs
        .iter()
        .filter_map(|d| unit(d).map(|u| (d.doc_id.as_str(), u)))
        .collect();

    // The first statement of each cell in the best-ranked report.
    let mut targets: HashMap<Cell, (u8, &TargetRow)> = HashMap::new();
    let mut achieved: HashMap<Cell, (u8, &TargetRow)> = HashMap::new();
    for row in table.rows.iter().filter(|r| r.measure == req.measure) {
        let (Some(u), Some(year)) = (units.get(row.doc_id.as_str()), row.year) else {
            continue;
        };
        let cell = (u.key.clone(), year, row.indicator.clone(), row.measure);
        let (map, rank) = match row.kind {
            TargetKind::Target => (&mut targets, doc_rank(u.doc)),
            // The review in the next year's report before a mid-year or
            // term-change report's figure.
            TargetKind::Achieved => (
                &mut achieved,
                doc_rank(u.doc) + if u.doc.year == Some(year + 1) { 0 } else { 3 },
            ),
        };
        match map.get(&cell) {
            Some((r, _)) if *r <= rank => {}
            _ => {
                map.insert(cell, (rank, row));
            }
        }
    }

    // Names per place: the latest report's, then the others.
    let mut names: HashMap<&str, Vec<(i32, &str)>> = HashMap::new();
    for u in units.values() {
        if let Some(name) = u
            .doc
            .place
            .district
            .as_deref()
            .or(u.doc.place.city.as_deref())
            .or(u.doc.place.province.as_deref())
        {
            names
                .entry(u.key.as_str())
                .or_default()
                .push((u.doc.year.unwrap_or(i32::MIN), name));
        }
    }
    // Each place as its latest report files it (level, city, province).
    let mut latest: HashMap<&str, &Unit<'_>> = HashMap::new();
    for u in units.values() {
        let e = latest.entry(u.key.as_str()).or_insert(u);
        if u.doc.year > e.doc.year {
            *e = u;
        }
    }

    let scope = Scope::new(req.place.as_deref());

    let mut cells: Vec<&Cell> = targets.keys().chain(achieved.keys()).collect();
    cells.sort();
    cells.dedup();
    let mut rows = Vec::new();
    for cell in cells {
        let (key, year, indicator, measure) = cell;
        if req.year_from.is_some_and(|f| *year < f) || req.year_to.is_some_and(|t| *year > t) {
            continue;
        }
        let Some(u) = latest.get(key.as_str()) else {
            continue;
        };
        if !scope.contains(u) {
            continue;
        }
        let mut seen: Vec<(i32, &str)> = names.get(key.as_str()).cloned().unwrap_or_default();
        seen.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        let place = seen
            .first()
            .map_or_else(|| key.clone(), |(_, n)| n.to_string());
        let mut other_names: Vec<String> = seen
            .iter()
            .map(|(_, n)| n.to_string())
            .filter(|n| *n != place)
            .collect();
        other_names.dedup();
        let target = targets.get(cell).map(|(_, r)| Figure::of(r));
        let got = achieved.get(cell).map(|(_, r)| Figure::of(r));
        let (met, gap) = match (&target, &got) {
            (Some(t), Some(a)) if t.unit == a.unit => {
                let gap = a.value - t.value;
                let met = if t.is_ceiling() {
                    a.value <= t.upper.unwrap_or(t.value)
                } else {
                    gap >= 0.0
                };
                (Some(met), Some((gap * 100.0).round() / 100.0))
            }
            _ => (None, None),
        };
        let parent = |k: &Option<String>| {
            k.as_ref().and_then(|k| {
                targets
                    .get(&(k.clone(), *year, indicator.clone(), *measure))
                    .map(|(_, r)| Figure::of(r))
            })
        };
        rows.push(PanelRow {
            place,
            other_names,
            level: u.doc.level.clone(),
            city: u.doc.place.city.clone(),
            province: u.doc.place.province.clone(),
            year: *year,
            indicator: indicator.clone(),
            measure: *measure,
            target,
            achieved: got,
            met,
            gap,
            city_target: parent(&u.city_key),
            province_target: parent(&u.province_key),
        });
    }
    rows.sort_by(|a, b| {
        (
            &a.province,
            level_rank(a.level.as_deref()),
            &a.place,
            a.year,
        )
            .cmp(&(
                &b.province,
                level_rank(b.level.as_deref()),
                &b.place,
                b.year,
            ))
    });
    Ok(TargetPanel { indicator, rows })
}

/// What the attention panel measures.
#[derive(Debug, Clone, Default)]
pub struct AttentionRequest {
    /// The concept as a question (数字经济, "digital economy").
    pub concept: String,
    /// Terms to count; the concept itself when empty and Chinese (an
    /// English concept alone is measured by the relevant share only).
    pub terms: Vec<String>,
    /// A place: its reports and those of the places within it.
    pub place: Option<String>,
    pub year_from: Option<i32>,
    pub year_to: Option<i32>,
}

/// One term's occurrences in one report.
#[derive(Debug, Clone, Serialize)]
pub struct TermCount {
    pub term: String,
    pub count: usize,
}

/// One report's attention to the concept.
#[derive(Debug, Clone, Serialize)]
pub struct AttentionRow {
    pub doc_id: String,
    pub place: Option<String>,
    pub level: Option<String>,
    pub city: Option<String>,
    pub province: Option<String>,
    pub year: Option<i32>,
    pub doc_type: Option<String>,
    /// Characters of the report's passages, whitespace not counted.
    pub characters: usize,
    pub passages: usize,
    pub term_counts: Vec<TermCount>,
    /// All terms' occurrences per 10,000 characters; `None` when no terms
    /// are counted (an English concept given without Chinese terms).
    pub terms_per_10k: Option<f64>,
    /// Passages estimated to address the concept (relevance ≥ 0.5).
    pub relevant_passages: usize,
    /// `relevant_passages / passages`.
    pub relevant_share: f64,
    /// The passages behind `relevant_passages`, in report order.
    pub relevant_passage_ids: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttentionPanel {
    pub concept: String,
    pub terms: Vec<String>,
    pub rows: Vec<AttentionRow>,
}

#[derive(Default)]
struct Tally {
    characters: usize,
    passages: usize,
    counts: Vec<usize>,
    relevant: Vec<String>,
}

pub fn attention_panel(
    lib: &Library,
    encoder: &dyn QueryEncoder,
    req: &AttentionRequest,
) -> Result<AttentionPanel, SummarizeError> {
    let concept = req.concept.trim();
    if concept.is_empty() {
        return Err(SummarizeError::BadRequest(
            "concept must not be empty".into(),
        ));
    }
    let mut terms: Vec<String> = Vec::new();
    for t in req.terms.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        let t = to_simplified(t);
        if !terms.contains(&t) {
            terms.push(t);
        }
    }
    // Counting an English phrase in Chinese reports would measure nothing;
    // without Chinese terms only the (multilingual) relevant share is given.
    if terms.is_empty() && concept.chars().any(crate::corpus::text::is_cjk) {
        terms.push(to_simplified(concept));
    }
    let evidence = search::query_evidence(
        lib,
        encoder,
        &SearchRequest {
            query: concept.to_string(),
            infer_places: false,
            ..SearchRequest::default()
        },
    )?;
    let filter = Filter {
        year_from: req.year_from,
        year_to: req.year_to,
        ..Filter::default()
    };
    let mut tallies: HashMap<String, Tally> = HashMap::new();
    lib.for_each_passage(&filter, &mut |p| {
        let t = tallies.entry(p.doc_id.clone()).or_insert_with(|| Tally {
            counts: vec![0; terms.len()],
            ..Tally::default()
        });
        let text = &p.text_simplified;
        t.characters += text.chars().filter(|c| !c.is_whitespace()).count();
        t.passages += 1;
        for (n, term) in t.counts.iter_mut().zip(&terms) {
            *n += text.matches(term.as_str()).count();
        }
        let v = lib.passage_vector(p.key)?;
        if evidence.features(&p, &v).estimate() >= relevance::RELEVANT {
            t.relevant.push(p.passage_id.clone());
        }
        Ok(())
    })?;
    let scope = Scope::new(req.place.as_deref());
    let docs = lib.documents()?;
    let mut rows: Vec<AttentionRow> = Vec::new();
    for doc in &docs {
        let Some(t) = tallies.remove(&doc.doc_id) else {
            continue;
        };
        // A report with no place is in scope only when no place is asked.
        if !unit(doc).map_or(scope.name.is_none(), |u| scope.contains(&u)) {
            continue;
        }
        let total: usize = t.counts.iter().sum();
        rows.push(AttentionRow {
            doc_id: doc.doc_id.clone(),
            place: doc
                .place
                .district
                .clone()
                .or(doc.place.city.clone())
                .or(doc.place.province.clone()),
            level: doc.level.clone(),
            city: doc.place.city.clone(),
            province: doc.place.province.clone(),
            year: doc.year,
            doc_type: doc.doc_type.clone(),
            characters: t.characters,
            passages: t.passages,
            term_counts: terms
                .iter()
                .zip(&t.counts)
                .map(|(term, &count)| TermCount {
                    term: term.clone(),
                    count,
                })
                .collect(),
            terms_per_10k: (!terms.is_empty())
                .then(|| total as f64 * 10_000.0 / t.characters.max(1) as f64),
            relevant_passages: t.relevant.len(),
            relevant_share: t.relevant.len() as f64 / t.passages.max(1) as f64,
            relevant_passage_ids: t.relevant,
        });
    }
    rows.sort_by(|a, b| {
        (
            &a.province,
            level_rank(a.level.as_deref()),
            &a.place,
            a.year,
            &a.doc_id,
        )
            .cmp(&(
                &b.province,
                level_rank(b.level.as_deref()),
                &b.place,
                b.year,
                &b.doc_id,
            ))
    });
    Ok(AttentionPanel {
        concept: concept.to_string(),
        terms,
        rows,
    })
}

/// Provinces, then prefectures, then counties.
fn level_rank(level: Option<&str>) -> u8 {
    match level {
        Some("province") => 0,
        Some("prefecture") => 1,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::tests::{doc, vectors, DIM, MODEL};

    fn place(d: &mut crate::corpus::Document, city: &str, province: &str) {
        d.meta.place.city = Some(city.into());
        d.meta.place.province = Some(province.into());
    }

    fn library(dir: &std::path::Path) -> Library {
        let lib = Library::open(dir, MODEL, DIM).unwrap();
        let mut docs = vec![
            doc(
                "a000000000000001",
                "宝安区",
                2023,
                &["今年主要预期目标是：地区生产总值增长6%左右。"],
            ),
            doc(
                "a000000000000002",
                "宝安区",
                2024,
                &[
                    "全年地区生产总值增长5.2%。",
                    "今年主要预期目标是：地区生产总值增长5.5%以上。",
                ],
            ),
            doc(
                "a000000000000003",
                "深圳市",
                2023,
                &["今年主要预期目标是：地区生产总值增长6%。"],
            ),
            doc(
                "a000000000000004",
                "广东省",
                2023,
                &["今年主要预期目标是：地区生产总值增长5%左右。"],
            ),
            doc(
                "a000000000000005",
                "光明新区",
                2017,
                &["今年主要预期目标是：地区生产总值增长9.5%以上。"],
            ),
            doc(
                "a000000000000006",
                "光明区",
                2018,
                &["全年地区生产总值增长10.1%。"],
            ),
        ];
        for d in &mut docs {
            place(d, "深圳市", "广东省");
            d.meta.review_year = d.meta.year.map(|y| y - 1);
        }
        docs[2].meta.place.district = None;
        docs[3].meta.place.district = None;
        docs[3].meta.place.city = None;
        for d in docs {
            lib.add_document(&d, &vectors(&d)).unwrap();
        }
        lib
    }

    fn request() -> PanelRequest {
        PanelRequest {
            indicator: None,
            place: None,
            year_from: None,
            year_to: None,
            measure: Measure::Growth,
        }
    }

    #[test]
    fn a_row_pairs_the_target_with_the_next_report_and_the_parents() {
        let dir = tempfile::tempdir().unwrap();
        let lib = library(dir.path());
        let panel = target_panel(&lib, &request()).unwrap();
        let row = |place: &str, year: i32| {
            panel
                .rows
                .iter()
                .find(|r| r.place == place && r.year == year)
                .unwrap_or_else(|| panic!("no {place} {year} in {:#?}", panel.rows))
        };
        let r = row("宝安区", 2023);
        assert_eq!(r.target.as_ref().map(|f| f.value), Some(6.0));
        assert_eq!(
            r.target.as_ref().unwrap().qualifier.as_deref(),
            Some("左右")
        );
        assert_eq!(r.achieved.as_ref().map(|f| f.value), Some(5.2));
        assert_eq!(r.met, Some(false));
        assert_eq!(r.gap, Some(-0.8));
        assert_eq!(r.city_target.as_ref().map(|f| f.value), Some(6.0));
        assert_eq!(r.province_target.as_ref().map(|f| f.value), Some(5.0));
        assert!(r.achieved.as_ref().unwrap().sentence.contains("5.2%"));
        let next = row("宝安区", 2024);
        assert_eq!(next.target.as_ref().map(|f| f.value), Some(5.5));
        assert_eq!(next.achieved, None);
        // The functional area and the district it became are one series.
        let g = row("光明区", 2017);
        assert_eq!(g.other_names, vec!["光明新区".to_string()]);
        assert_eq!(g.met, Some(true));
    }

    #[test]
    fn attention_counts_terms_and_relevant_passages_per_report() {
        let dir = tempfile::tempdir().unwrap();
        let lib = library(dir.path());
        let req = AttentionRequest {
            concept: "地区生产总值".into(),
            terms: vec!["地区生产总值".into(), "預期目標".into()],
            place: Some("宝安区".into()),
            ..AttentionRequest::default()
        };
        let panel = attention_panel(&lib, &crate::index::tests::BigramEncoder, &req).unwrap();
        assert_eq!(panel.terms, ["地区生产总值", "预期目标"]);
        assert_eq!(panel.rows.len(), 2, "{:#?}", panel.rows);
        let r = &panel.rows[1];
        assert_eq!((r.year, r.passages), (Some(2024), 2));
        let counts: Vec<usize> = r.term_counts.iter().map(|t| t.count).collect();
        assert_eq!(counts, [2, 1]);
        let chars = "全年地区生产总值增长5.2%。今年主要预期目标是：地区生产总值增长5.5%以上。"
            .chars()
            .count();
        assert_eq!(r.characters, chars);
        assert_eq!(r.terms_per_10k, Some(3.0 * 10_000.0 / chars as f64));
        assert_eq!(
            r.relevant_share,
            r.relevant_passages as f64 / r.passages as f64
        );
        assert_eq!(r.relevant_passage_ids.len(), r.relevant_passages);
        let english = AttentionRequest {
            concept: "GDP growth".into(),
            ..AttentionRequest::default()
        };
        // An English concept alone: no terms counted, the share still given.
        let panel = attention_panel(&lib, &crate::index::tests::BigramEncoder, &english).unwrap();
        assert!(panel.terms.is_empty());
        assert!(!panel.rows.is_empty());
        assert!(panel.rows.iter().all(|r| r.terms_per_10k.is_none()
            && r.term_counts.is_empty()
            && r.relevant_share == r.relevant_passages as f64 / r.passages as f64));
    }

    #[test]
    fn a_place_narrows_to_it_and_what_lies_within() {
        let dir = tempfile::tempdir().unwrap();
        let lib = library(dir.path());
        let mut req = request();
        req.place = Some("宝安区".into());
        let panel = target_panel(&lib, &req).unwrap();
        assert!(!panel.rows.is_empty());
        assert!(
            panel.rows.iter().all(|r| r.place == "宝安区"),
            "{:#?}",
            panel.rows
        );
        req.place = Some("深圳市".into());
        req.year_from = Some(2023);
        req.year_to = Some(2023);
        let panel = target_panel(&lib, &req).unwrap();
        let mut places: Vec<&str> = panel.rows.iter().map(|r| r.place.as_str()).collect();
        places.sort();
        assert_eq!(places, ["宝安区", "深圳市"]);
    }
}
