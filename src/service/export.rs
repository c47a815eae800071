//! Passages with their metadata, for offline research (pandas, R, Excel).

use std::io::Write;

use serde::Serialize;

use super::{Service, ServiceError};
use crate::index::{Filter, IndexError, StoredPassage};

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

fn row(p: &StoredPassage, joined: bool) -> Row<'_> {
    Row {
        passage_id: &p.passage_id,
        doc_id: &p.doc_id,
        ordinal: p.ordinal,
        district: p.district.as_deref(),
        city: p.city.as_deref(),
        province: p.province.as_deref(),
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
    }
}

fn write_error(e: impl std::fmt::Display) -> IndexError {
    IndexError::Invalid(format!("writing the export: {e}"))
}

impl Service {
    /// Writes every passage matching `filter`, streaming; returns how many.
    pub fn export(
        &self,
        filter: &Filter,
        format: ExportFormat,
        out: &mut dyn Write,
    ) -> Result<usize, ServiceError> {
        let mut n = 0usize;
        match format {
            ExportFormat::Jsonl => {
                self.library.for_each_passage(filter, &mut |p| {
                    serde_json::to_writer(&mut *out, &row(&p, false)).map_err(write_error)?;
                    out.write_all(b"\n").map_err(write_error)?;
                    n += 1;
                    Ok(())
                })?;
                out.flush()
                    .map_err(write_error)
                    .map_err(ServiceError::from)?;
            }
            ExportFormat::Csv => {
                let mut w = csv::Writer::from_writer(&mut *out);
                self.library.for_each_passage(filter, &mut |p| {
                    w.serialize(row(&p, true)).map_err(write_error)?;
                    n += 1;
                    Ok(())
                })?;
                w.flush().map_err(write_error).map_err(ServiceError::from)?;
            }
        }
        Ok(n)
    }
}
