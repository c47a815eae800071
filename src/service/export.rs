//! Passages with their metadata, for offline research (pandas, R, Excel).

use std::io::Write;

use serde::Serialize;

use super::{Service, ServiceError};
use crate::index::{Filter, IndexError, StoredPassage};
use crate::summarize::panel::{AttentionPanel, AttentionRow, PanelRow, TargetPanel};
use crate::summarize::targets::Measure;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One JSON object per line; `section_path` is an array.
    Jsonl,
    /// A header row then one row per passage; `section_path` joined with " > ".
    Csv,
}

impl std::str::FromStr for ExportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "jsonl" | "ndjson" => Ok(ExportFormat::Jsonl),
            "csv" => Ok(ExportFormat::Csv),
            other => Err(format!("export format must be jsonl or csv, not {other:?}")),
        }
    }
}

/// The files a panel is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PanelFile {
    /// UTF-8, a header row of stable column names.
    Csv,
    /// One sheet with the CSV's columns, numbers as numbers.
    Xlsx,
}

impl std::str::FromStr for PanelFile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "csv" => Ok(PanelFile::Csv),
            "xlsx" => Ok(PanelFile::Xlsx),
            other => Err(format!(
                "panel file format must be csv or xlsx, not {other:?}"
            )),
        }
    }
}

/// A research panel the CLI and the API write as a file.
pub trait PanelTable {
    fn write(&self, file: PanelFile, out: &mut dyn Write) -> Result<(), IndexError>;
}

impl PanelTable for TargetPanel {
    fn write(&self, file: PanelFile, out: &mut dyn Write) -> Result<(), IndexError> {
        match file {
            PanelFile::Csv => write_panel_csv(self, out),
            PanelFile::Xlsx => write_panel_xlsx(self, out),
        }
    }
}

impl PanelTable for AttentionPanel {
    fn write(&self, file: PanelFile, out: &mut dyn Write) -> Result<(), IndexError> {
        match file {
            PanelFile::Csv => write_attention_csv(self, out),
            PanelFile::Xlsx => write_attention_xlsx(self, out),
        }
    }
}

/// One exported passage; the column order of the CSV.
#[derive(Serialize)]
struct Row<'a> {
    passage_id: &'a str,
    doc_id: &'a str,
    ordinal: u32,
    district: Option<&'a str>,
    city: Option<&'a str>,
    province: Option<&'a str>,
    year: Option<i32>,
    doc_type: Option<&'a str>,
    title: Option<&'a str>,
    section_path: SectionPath<'a>,
    term: Option<&'a str>,
    text: &'a str,
    text_simplified: &'a str,
    /// The passage's stored (L2-normalised) vector, when asked for: what
    /// another search engine needs to serve the library without running
    /// the model again.
    #[serde(skip_serializing_if = "Option::is_none")]
    vector: Option<Vec<f32>>,
}

/// A heading path: an array in JSON, one " > "-joined cell in CSV (which
/// has no nesting).
struct SectionPath<'a> {
    headings: &'a [String],
    joined: bool,
}

impl Serialize for SectionPath<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.joined {
            s.serialize_str(&self.headings.join(" > "))
        } else {
            self.headings.serialize(s)
        }
    }
}

fn row(p: &StoredPassage, joined: bool, vector: Option<Vec<f32>>) -> Row<'_> {
    Row {
        passage_id: &p.passage_id,
        doc_id: &p.doc_id,
        ordinal: p.ordinal,
        district: p.place.district.as_deref(),
        city: p.place.city.as_deref(),
        province: p.place.province.as_deref(),
        year: p.year,
        doc_type: p.doc_type.as_deref(),
        title: p.title.as_deref(),
        section_path: SectionPath {
            headings: &p.section_path,
            joined,
        },
        term: p.term.as_deref(),
        text: &p.text,
        text_simplified: &p.text_simplified,
        vector,
    }
}

fn write_error(e: impl std::fmt::Display) -> IndexError {
    IndexError::Invalid(format!("writing the export: {e}"))
}

impl Service {
    /// Writes every passage matching `filter`, streaming; returns how many.
    /// Writes the passages matching `filter`, with their vectors when
    /// `vectors` is set (JSON lines only: a CSV of 384 more columns serves
    /// no spreadsheet); returns how many.
    pub fn export(
        &self,
        filter: &Filter,
        format: ExportFormat,
        vectors: bool,
        out: &mut dyn Write,
    ) -> Result<usize, ServiceError> {
        let mut n = 0usize;
        match format {
            ExportFormat::Jsonl => {
                self.library.for_each_passage(filter, &mut |p| {
                    let vector = match vectors {
                        true => Some(self.library.passage_vector(p.key)?),
                        false => None,
                    };
                    serde_json::to_writer(&mut *out, &row(&p, false, vector))
                        .map_err(write_error)?;
                    out.write_all(b"\n").map_err(write_error)?;
                    n += 1;
                    Ok(())
                })?;
                out.flush()
                    .map_err(write_error)
                    .map_err(ServiceError::from)?;
            }
            ExportFormat::Csv if vectors => {
                return Err(ServiceError::Invalid(
                    "vectors are exported in JSON lines only (--format jsonl)".into(),
                ))
            }
            ExportFormat::Csv => {
                let mut w = csv::Writer::from_writer(&mut *out);
                self.library.for_each_passage(filter, &mut |p| {
                    w.serialize(row(&p, true, None)).map_err(write_error)?;
                    n += 1;
                    Ok(())
                })?;
                w.flush().map_err(write_error).map_err(ServiceError::from)?;
            }
        }
        Ok(n)
    }
}

/// One row of the target panel as a flat record: the column order of the
/// panel's CSV and XLSX. Column names are stable; a figure's cells are
/// empty where the library holds no such statement.
#[derive(Serialize)]
pub struct PanelRecord<'a> {
    place: &'a str,
    other_names: String,
    level: Option<&'a str>,
    city: Option<&'a str>,
    province: Option<&'a str>,
    year: i32,
    indicator: &'a str,
    measure: &'static str,
    unit: Option<&'a str>,
    target: Option<f64>,
    target_upper: Option<f64>,
    target_qualifier: Option<&'a str>,
    achieved: Option<f64>,
    met: Option<bool>,
    gap: Option<f64>,
    city_target: Option<f64>,
    province_target: Option<f64>,
    target_sentence: Option<&'a str>,
    target_passage_id: Option<&'a str>,
    achieved_sentence: Option<&'a str>,
    achieved_passage_id: Option<&'a str>,
    city_target_passage_id: Option<&'a str>,
    province_target_passage_id: Option<&'a str>,
}

/// The column names of [`PanelRecord`], in order.
pub const PANEL_COLUMNS: [&str; 23] = [
    "place",
    "other_names",
    "level",
    "city",
    "province",
    "year",
    "indicator",
    "measure",
    "unit",
    "target",
    "target_upper",
    "target_qualifier",
    "achieved",
    "met",
    "gap",
    "city_target",
    "province_target",
    "target_sentence",
    "target_passage_id",
    "achieved_sentence",
    "achieved_passage_id",
    "city_target_passage_id",
    "province_target_passage_id",
];

impl<'a> PanelRecord<'a> {
    pub fn of(r: &'a PanelRow) -> PanelRecord<'a> {
        let unit = r
            .target
            .as_ref()
            .or(r.achieved.as_ref())
            .map(|f| f.unit.as_str());
        PanelRecord {
            place: &r.place,
            other_names: r.other_names.join(";"),
            level: r.level.as_deref(),
            city: r.city.as_deref(),
            province: r.province.as_deref(),
            year: r.year,
            indicator: &r.indicator,
            measure: match r.measure {
                Measure::Growth => "growth",
                Measure::Level => "level",
            },
            unit,
            target: r.target.as_ref().map(|f| f.value),
            target_upper: r.target.as_ref().and_then(|f| f.upper),
            target_qualifier: r.target.as_ref().and_then(|f| f.qualifier.as_deref()),
            achieved: r.achieved.as_ref().map(|f| f.value),
            met: r.met,
            gap: r.gap,
            city_target: r.city_target.as_ref().map(|f| f.value),
            province_target: r.province_target.as_ref().map(|f| f.value),
            target_sentence: r.target.as_ref().map(|f| f.sentence.as_str()),
            target_passage_id: r.target.as_ref().map(|f| f.passage_id.as_str()),
            achieved_sentence: r.achieved.as_ref().map(|f| f.sentence.as_str()),
            achieved_passage_id: r.achieved.as_ref().map(|f| f.passage_id.as_str()),
            city_target_passage_id: r.city_target.as_ref().map(|f| f.passage_id.as_str()),
            province_target_passage_id: r.province_target.as_ref().map(|f| f.passage_id.as_str()),
        }
    }
}

/// Writes the panel as CSV (UTF-8, a header row, one row per place × year ×
/// measure).
pub fn write_panel_csv(panel: &TargetPanel, out: &mut dyn Write) -> Result<(), IndexError> {
    let mut w = csv::Writer::from_writer(out);
    if panel.rows.is_empty() {
        w.write_record(PANEL_COLUMNS).map_err(write_error)?;
    }
    for r in &panel.rows {
        w.serialize(PanelRecord::of(r)).map_err(write_error)?;
    }
    w.flush().map_err(write_error)
}

/// Writes the panel as an XLSX workbook (one sheet, the CSV's columns;
/// numbers as numbers, empty cells where the CSV has empty fields).
pub fn write_panel_xlsx(panel: &TargetPanel, out: &mut dyn Write) -> Result<(), IndexError> {
    let records = panel
        .rows
        .iter()
        .map(|r| serde_json::to_value(PanelRecord::of(r)).map_err(write_error))
        .collect::<Result<Vec<_>, _>>()?;
    write_xlsx("targets", &PANEL_COLUMNS, &records, out)
}

/// One sheet: a header row of `columns`, then each record's fields under
/// them (numbers as numbers, booleans as booleans, nulls as empty cells).
fn write_xlsx(
    sheet_name: &str,
    columns: &[impl AsRef<str>],
    records: &[serde_json::Value],
    out: &mut dyn Write,
) -> Result<(), IndexError> {
    use rust_xlsxwriter::Workbook;
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name(sheet_name).map_err(write_error)?;
    for (c, name) in columns.iter().enumerate() {
        sheet
            .write_string(0, c as u16, name.as_ref())
            .map_err(write_error)?;
    }
    for (r, record) in records.iter().enumerate() {
        let line = r as u32 + 1;
        for (c, name) in columns.iter().enumerate() {
            let c = c as u16;
            match &record[name.as_ref()] {
                serde_json::Value::Number(n) => {
                    let n = n.as_f64().unwrap_or(f64::NAN);
                    sheet.write_number(line, c, n).map_err(write_error)?;
                }
                serde_json::Value::Bool(b) => {
                    sheet.write_boolean(line, c, *b).map_err(write_error)?;
                }
                serde_json::Value::String(s) if !s.is_empty() => {
                    sheet.write_string(line, c, s).map_err(write_error)?;
                }
                _ => {}
            }
        }
    }
    let bytes = book.save_to_buffer().map_err(write_error)?;
    out.write_all(&bytes).map_err(write_error)?;
    out.flush().map_err(write_error)
}

/// The attention panel's columns: fixed ones, then `count:TERM` per term,
/// then the relevant passages' ids (`;`-joined).
fn attention_columns(panel: &AttentionPanel) -> Vec<String> {
    let mut columns: Vec<String> = [
        "doc_id",
        "place",
        "level",
        "city",
        "province",
        "year",
        "doc_type",
        "concept",
        "characters",
        "passages",
        "term_count",
        "terms_per_10k",
        "relevant_passages",
        "relevant_share",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    columns.extend(panel.terms.iter().map(|t| format!("count:{t}")));
    columns.push("relevant_passage_ids".into());
    columns
}

fn attention_record(panel: &AttentionPanel, r: &AttentionRow) -> serde_json::Value {
    let mut m = serde_json::json!({
        "doc_id": r.doc_id,
        "place": r.place,
        "level": r.level,
        "city": r.city,
        "province": r.province,
        "year": r.year,
        "doc_type": r.doc_type,
        "concept": panel.concept,
        "characters": r.characters,
        "passages": r.passages,
        "term_count": r.term_counts.iter().map(|t| t.count).sum::<usize>(),
        "terms_per_10k": r.terms_per_10k,
        "relevant_passages": r.relevant_passages,
        "relevant_share": r.relevant_share,
        "relevant_passage_ids": r.relevant_passage_ids.join(";"),
    });
    for t in &r.term_counts {
        m[format!("count:{}", t.term)] = t.count.into();
    }
    m
}

/// Writes the attention panel as CSV: one row per report.
pub fn write_attention_csv(panel: &AttentionPanel, out: &mut dyn Write) -> Result<(), IndexError> {
    let columns = attention_columns(panel);
    let mut w = csv::Writer::from_writer(out);
    w.write_record(&columns).map_err(write_error)?;
    for r in &panel.rows {
        let record = attention_record(panel, r);
        let cells = columns.iter().map(|c| match &record[c.as_str()] {
            serde_json::Value::Null => String::new(),
            serde_json::Value::String(s) => s.clone(),
            v => v.to_string(),
        });
        w.write_record(cells).map_err(write_error)?;
    }
    w.flush().map_err(write_error)
}

/// Writes the attention panel as an XLSX workbook with the CSV's columns.
pub fn write_attention_xlsx(panel: &AttentionPanel, out: &mut dyn Write) -> Result<(), IndexError> {
    let records: Vec<serde_json::Value> = panel
        .rows
        .iter()
        .map(|r| attention_record(panel, r))
        .collect();
    write_xlsx("attention", &attention_columns(panel), &records, out)
}
