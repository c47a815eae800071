//! Metadata corrections given by researchers: a CSV of `file,field,value`
//! applied to the stored library (or to files before ingest), so no
//! inference mistake has to be lived with and nothing is re-embedded.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Service, ServiceError};
use crate::corpus::{DocumentMeta, MetaOverrides};
use crate::index::MetaUpdate;

/// One correction row: which file, which field, the new value ('' clears).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correction {
    /// 1-based line of the CSV it came from (the header is line 1).
    pub line: usize,
    pub file: String,
    pub field: String,
    pub value: String,
}

/// A field whose value a correction changed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FieldChange {
    pub doc_id: String,
    pub file: String,
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// Reads a corrections CSV: header `file,field,value`, then one row per
/// correction. Every field name and year is checked here, so a bad file is
/// refused whole with the line it went wrong on.
pub fn parse_corrections(text: &str) -> Result<Vec<Correction>, ServiceError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    let mut header_seen = false;
    for rec in rdr.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map(|p| p.line() as usize).unwrap_or(0);
            ServiceError::Invalid(format!("corrections line {line}: malformed CSV: {e}"))
        })?;
        let line = rec.position().map(|p| p.line() as usize).unwrap_or(0);
        if rec.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        let cells: Vec<&str> = rec.iter().map(str::trim).collect();
        if !header_seen {
            if cells != ["file", "field", "value"] {
                return Err(ServiceError::Invalid(format!(
                    "corrections line {line}: the header must be file,field,value, not {}",
                    cells.join(",")
                )));
            }
            header_seen = true;
            continue;
        }
        if cells.len() != 3 {
            return Err(ServiceError::Invalid(format!(
                "corrections line {line}: {} cells, expected 3 (file,field,value)",
                cells.len()
            )));
        }
        if cells[0].is_empty() {
            return Err(ServiceError::Invalid(format!(
                "corrections line {line}: no file named"
            )));
        }
        // Checks the field and value now, so nothing is applied from a file
        // with a bad row further down.
        MetaOverrides::default()
            .set_field(cells[1], cells[2])
            .map_err(|e| ServiceError::Invalid(format!("corrections line {line}: {e}")))?;
        out.push(Correction {
            line,
            file: cells[0].to_string(),
            field: cells[1].to_string(),
            value: cells[2].to_string(),
        });
    }
    if !header_seen {
        return Err(ServiceError::Invalid(
            "corrections file is empty (expected the header file,field,value)".into(),
        ));
    }
    Ok(out)
}

/// Reads and parses a corrections CSV file.
pub fn read_corrections(path: &Path) -> Result<Vec<Correction>, ServiceError> {
    let text = std::fs::read_to_string(path).map_err(|e| ServiceError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    parse_corrections(&text)
}

/// The overrides a list of (field, value) pairs amounts to; later pairs win.
pub fn overrides_of<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<MetaOverrides, ServiceError> {
    let mut o = MetaOverrides::default();
    for (f, v) in pairs {
        o.set_field(f, v).map_err(ServiceError::Invalid)?;
    }
    Ok(o)
}

/// Whether `key` names the file at `path`: its path as given, its file name,
/// or its file name without extension.
pub fn names_file(key: &str, path: &str) -> bool {
    let p = Path::new(path);
    let name = p.file_name().map(|n| n.to_string_lossy());
    let stem = p.file_stem().map(|n| n.to_string_lossy());
    key == path || name.as_deref() == Some(key) || stem.as_deref() == Some(key)
}

/// The corrections addressed to the file at `path`: (field, value) in
/// file order.
pub fn fields_for_file(corrections: &[Correction], path: &str) -> Vec<(String, String)> {
    corrections
        .iter()
        .filter(|c| names_file(&c.file, path))
        .map(|c| (c.field.clone(), c.value.clone()))
        .collect()
}

/// The corrections addressed to the file at `path`, as overrides.
pub fn overrides_for_file(
    corrections: &[Correction],
    path: &str,
) -> Result<MetaOverrides, ServiceError> {
    overrides_of(
        fields_for_file(corrections, path)
            .iter()
            .map(|(f, v)| (f.as_str(), v.as_str())),
    )
}

fn field_text(m: &DocumentMeta, field: &str) -> Option<String> {
    match field {
        "title" => m.title.clone(),
        "district" => m.place.district.clone(),
        "city" => m.place.city.clone(),
        "province" => m.place.province.clone(),
        "level" => m.level.clone(),
        "year" => m.year.map(|y| y.to_string()),
        "review_year" => m.review_year.map(|y| y.to_string()),
        "doc_type" => m.doc_type.clone(),
        "meeting_date" => m.meeting_date.clone(),
        "speaker" => m.speaker.clone(),
        _ => None,
    }
}

/// The fields whose values differ between two metadata records.
pub fn changes(
    doc_id: &str,
    file: &str,
    old: &DocumentMeta,
    new: &DocumentMeta,
) -> Vec<FieldChange> {
    crate::corpus::META_FIELDS
        .iter()
        .filter_map(|f| {
            let (a, b) = (field_text(old, f), field_text(new, f));
            (a != b).then(|| FieldChange {
                doc_id: doc_id.to_string(),
                file: file.to_string(),
                field: f.to_string(),
                old: a,
                new: b,
            })
        })
        .collect()
}

impl Service {
    /// Applies corrections to the stored library in one transaction and
    /// returns what changed; with `dry_run` only reports it. Every row must
    /// name a stored document (by doc id, file path, file name or base name)
    /// or nothing is applied.
    pub fn apply_corrections(
        &self,
        corrections: &[Correction],
        dry_run: bool,
    ) -> Result<Vec<FieldChange>, ServiceError> {
        let docs = self.library().documents()?;
        let mut by_doc: BTreeMap<String, (String, Vec<(String, String)>)> = BTreeMap::new();
        for c in corrections {
            let found: Vec<_> = docs
                .iter()
                .filter(|d| d.doc_id == c.file || names_file(&c.file, &d.file))
                .collect();
            let d =
                match found.as_slice() {
                    [d] => *d,
                    [] => {
                        return Err(ServiceError::Invalid(format!(
                            "corrections line {}: no stored document is {:?}",
                            c.line, c.file
                        )))
                    }
                    many => {
                        return Err(ServiceError::Invalid(format!(
                        "corrections line {}: {:?} names {} stored documents ({}); use the doc id",
                        c.line,
                        c.file,
                        many.len(),
                        many.iter().map(|d| d.doc_id.as_str()).collect::<Vec<_>>().join(", ")
                    )))
                    }
                };
            by_doc
                .entry(d.doc_id.clone())
                .or_insert_with(|| (d.file.clone(), Vec::new()))
                .1
                .push((c.field.clone(), c.value.clone()));
        }
        self.patch_documents(by_doc, dry_run)
    }

    /// Sets fields of one stored document (the API's PATCH).
    pub fn patch_document(
        &self,
        doc_id: &str,
        fields: Vec<(String, String)>,
    ) -> Result<Vec<FieldChange>, ServiceError> {
        let file = self.library().document(doc_id)?.summary.file;
        let mut by_doc = BTreeMap::new();
        by_doc.insert(doc_id.to_string(), (file, fields));
        self.patch_documents(by_doc, false)
    }

    /// Applies (field, value) corrections to stored documents, keyed by doc
    /// id with their file, in one transaction; with `dry_run` only reports.
    pub(super) fn patch_documents(
        &self,
        by_doc: BTreeMap<String, (String, Vec<(String, String)>)>,
        dry_run: bool,
    ) -> Result<Vec<FieldChange>, ServiceError> {
        let mut updates = Vec::new();
        let mut all = Vec::new();
        for (doc_id, (file, fields)) in by_doc {
            let old = self.library().document_meta(&doc_id)?;
            let mut new = old.clone();
            overrides_of(fields.iter().map(|(f, v)| (f.as_str(), v.as_str())))?.apply(&mut new);
            all.extend(changes(&doc_id, &file, &old, &new));
            updates.push(MetaUpdate {
                doc_id,
                meta: new,
                corrections: fields,
            });
        }
        if !dry_run && !updates.is_empty() {
            self.library().update_metadata(&updates)?;
        }
        Ok(all)
    }

    /// Applies the corrections stored for a document (from earlier
    /// `meta apply` or PATCH) to a fresh parse of it.
    pub(super) fn reapply_corrections(
        &self,
        doc: &mut crate::corpus::Document,
    ) -> Result<(), ServiceError> {
        let stored = self.library().corrections(&doc.id)?;
        if !stored.is_empty() {
            overrides_of(stored.iter().map(|(f, v)| (f.as_str(), v.as_str())))?
                .apply(&mut doc.meta);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_read_and_bad_ones_name_their_line() {
        let ok =
            parse_corrections("file,field,value\na.txt,year,2024\n\"b,c.txt\",title,\n").unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[1].file, "b,c.txt");
        assert_eq!(ok[1].value, "");
        assert_eq!(ok[1].line, 3);
        for (csv, want) in [
            ("file,field,value\na.txt,year,1850\n", "line 2"),
            (
                "file,field,value\na.txt,year,2024\na.txt,colour,red\n",
                "line 3",
            ),
            ("file,field,value\na.txt,year\n", "line 2"),
            ("a.txt,year,2024\n", "line 1"),
            ("", "empty"),
        ] {
            let e = parse_corrections(csv).unwrap_err().to_string();
            assert!(e.contains(want), "{csv:?}: {e}");
        }
    }

    #[test]
    fn files_are_named_by_path_name_or_stem() {
        assert!(names_file("x/报告.txt", "x/报告.txt"));
        assert!(names_file("报告.txt", "x/报告.txt"));
        assert!(names_file("报告", "x/报告.txt"));
        assert!(!names_file("告", "x/报告.txt"));
    }

    #[test]
    fn uncertain_fields_include_empty_ones_with_low_confidence() {
        let mut m = DocumentMeta {
            year: Some(2024),
            ..Default::default()
        };
        m.confidence.insert("year".into(), 0.9);
        m.confidence.insert("district".into(), 0.3);
        m.confidence.insert("speaker".into(), 0.59);
        assert_eq!(m.uncertain_fields(), vec!["district", "speaker"]);
        overrides_of([("district", "某区")]).unwrap().apply(&mut m);
        assert_eq!(m.uncertain_fields(), vec!["speaker"]);
    }
}
