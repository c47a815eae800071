//! Ingestion: files or uploaded bytes → parsed documents → passage vectors →
//! one atomic store write per document.
//!
//! Everything that can fail on bad input (decoding, parsing, an empty
//! document) fails before the store is touched, and each document is written
//! in one transaction by [`Library::add_document`], so a bad file never
//! changes what is already indexed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::corrections::{fields_for_file, overrides_for_file, Correction, FieldChange};
use super::{Service, ServiceError};
use crate::corpus::{parse_document, parse_file, Document, MetaOverrides, Place};
use crate::embed::KeepBuffers;
use crate::index::{AddOutcome, MetaUpdate};

/// Passages embedded per model call during ingestion: large enough to keep
/// the matrix kernels busy, small enough for a smooth progress bar.
const EMBED_BATCH: usize = 16;

/// How much of its section heading's vector a passage vector takes in.
///
/// Reports state a topic once, in a heading ("4.着力推动绿色低碳发展",
/// "(三)办好民生实事"), then list measures under it that rarely repeat it, so
/// a question that names the topic in other words missed passages whose
/// text only lists figures. Each passage vector is therefore
/// `normalise(text + SECTION_WEIGHT × heading path)`, the heading path
/// embedded once per distinct section. Blending keeps the passage's own
/// wording dominant; prefixing the whole path to the text instead let the
/// headings swamp short passages. Measured on the dev set (hybrid):
/// hit@10 0.941 → 1.000, MRR@10 0.788 → 0.806 at 0.3; at 0.6 MRR fell to
/// 0.772 (see docs/SEARCH.md).
pub const SECTION_WEIGHT: f32 = 0.3;

/// A document as stored by an ingestion.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IngestedDocument {
    pub doc_id: String,
    pub file: String,
    pub outcome: AddOutcome,
    pub passages: usize,
    pub title: Option<String>,
    #[serde(flatten)]
    pub place: Place,
    pub year: Option<i32>,
    pub doc_type: Option<String>,
    pub encoding: String,
    pub script: String,
}

impl IngestedDocument {
    fn of(doc: &Document, outcome: AddOutcome) -> Self {
        IngestedDocument {
            doc_id: doc.id.clone(),
            file: doc.file.clone(),
            outcome,
            passages: doc.passages.len(),
            title: doc.meta.title.clone(),
            place: doc.meta.place.clone(),
            year: doc.meta.year,
            doc_type: doc.meta.doc_type.clone(),
            encoding: doc.encoding.clone(),
            script: doc.script.clone(),
        }
    }
}

/// A file left out of an ingestion, and why.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileProblem {
    pub file: String,
    pub problem: String,
}

/// What one ingestion of files did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IngestReport {
    pub added: Vec<IngestedDocument>,
    /// Files whose content is already indexed (same document id).
    pub skipped: Vec<FileProblem>,
    /// Files that could not be ingested; nothing of them was stored.
    pub failed: Vec<FileProblem>,
    pub passages: usize,
    /// Fields of already stored documents changed by the run's corrections.
    #[serde(default)]
    pub corrected: Vec<FieldChange>,
    /// Seconds spent embedding passages and headings (the model's share of
    /// an ingestion; `zhengce bench ingest` reports it).
    #[serde(default)]
    pub model_seconds: f64,
}

/// Progress of [`Service::ingest_files`], for progress bars.
#[derive(Debug)]
pub enum IngestEvent<'a> {
    /// All files parsed: this many documents and passages will be embedded.
    Planned {
        documents: usize,
        passages: usize,
    },
    /// This many more passages were embedded (of `file`).
    Embedded {
        file: &'a str,
        passages: usize,
    },
    /// A document was stored.
    Stored {
        document: &'a IngestedDocument,
    },
    Skipped {
        problem: &'a FileProblem,
    },
    Failed {
        problem: &'a FileProblem,
    },
}

/// Expands files and directories (recursively, sorted) into the report files
/// to ingest; `NAME.meta.json` sidecars and hidden files are not reports.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ServiceError> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ServiceError> {
        let io = |source| ServiceError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(io)?;
        entries.sort();
        for p in entries {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') {
                continue;
            }
            if p.is_dir() {
                walk(&p, out)?;
            } else if !name.ends_with(".meta.json") {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|source| ServiceError::Io {
            path: p.clone(),
            source,
        })?;
        if meta.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn check_has_passages(doc: &Document) -> Result<(), ServiceError> {
    if doc.passages.is_empty() {
        return Err(ServiceError::Invalid(format!(
            "{}: no text passages found (empty, binary or not a report)",
            doc.file
        )));
    }
    Ok(())
}

impl Service {
    /// Ingests report files (directories are walked). Files that fail to
    /// parse are reported and skipped; the others are embedded and stored one
    /// document at a time. Content already indexed is skipped, not re-embedded.
    pub fn ingest_files(
        &self,
        paths: &[PathBuf],
        progress: &mut dyn FnMut(IngestEvent),
    ) -> Result<IngestReport, ServiceError> {
        self.ingest_files_with(paths, &[], progress)
    }

    /// Like [`Service::ingest_files`], applying `corrections` to the files
    /// they name (by path, file name or base name) before storing.
    pub fn ingest_files_with(
        &self,
        paths: &[PathBuf],
        corrections: &[Correction],
        progress: &mut dyn FnMut(IngestEvent),
    ) -> Result<IngestReport, ServiceError> {
        let files = collect_files(paths)?;
        // Pass after pass of the same shape: threads keep their activation
        // buffers until this returns (see `embed::KeepBuffers`).
        let _keep = KeepBuffers::new();
        let opts = self.corpus_options();
        let mut report = IngestReport::default();
        let mut todo: Vec<Document> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut run_fixes: BTreeMap<String, (String, Vec<(String, String)>)> = BTreeMap::new();
        for path in &files {
            // Sidecar, then corrections stored earlier, then this run's.
            let fixes = fields_for_file(corrections, &path.display().to_string());
            let parsed = overrides_for_file(corrections, &path.display().to_string())
                .and_then(|o| {
                    let mut doc = parse_file(path, &opts)?;
                    self.reapply_corrections(&mut doc)?;
                    o.apply(&mut doc.meta);
                    Ok(doc)
                })
                .and_then(|doc| check_has_passages(&doc).map(|()| doc));
            match parsed {
                Err(e) => {
                    let problem = FileProblem {
                        file: path.display().to_string(),
                        problem: e.to_string(),
                    };
                    progress(IngestEvent::Failed { problem: &problem });
                    report.failed.push(problem);
                }
                Ok(doc) => {
                    let stored = self.library.contains_document(&doc.id)?;
                    if !fixes.is_empty() {
                        // Kept with the document, so a later ingest of the
                        // same content (or a stored one now) gets them.
                        run_fixes
                            .entry(doc.id.clone())
                            .or_insert_with(|| (doc.file.clone(), Vec::new()))
                            .1
                            .extend(fixes);
                    }
                    if !seen.insert(doc.id.clone()) || stored {
                        let problem = FileProblem {
                            file: path.display().to_string(),
                            problem: format!("already indexed as document {}", doc.id),
                        };
                        progress(IngestEvent::Skipped { problem: &problem });
                        report.skipped.push(problem);
                    } else {
                        todo.push(doc);
                    }
                }
            }
        }
        // Documents already stored take this run's corrections without
        // being embedded again.
        let already: BTreeMap<_, _> = run_fixes
            .iter()
            .filter(|(id, _)| !todo.iter().any(|d| &d.id == *id))
            .map(|(id, v)| (id.clone(), v.clone()))
            .collect();
        if !already.is_empty() {
            report.corrected = self.patch_documents(already, false)?;
        }
        progress(IngestEvent::Planned {
            documents: todo.len(),
            passages: todo.iter().map(|d| d.passages.len()).sum(),
        });
        for doc in &todo {
            let started = std::time::Instant::now();
            let vectors = self.embed_document(doc, &mut |n| {
                progress(IngestEvent::Embedded {
                    file: &doc.file,
                    passages: n,
                })
            })?;
            report.model_seconds += started.elapsed().as_secs_f64();
            let outcome = self.library.add_document(doc, &vectors)?;
            if let Some((_, fixes)) = run_fixes.get(&doc.id) {
                self.library.update_metadata(&[MetaUpdate {
                    doc_id: doc.id.clone(),
                    meta: doc.meta.clone(),
                    corrections: fixes.clone(),
                }])?;
            }
            let stored = IngestedDocument::of(doc, outcome);
            progress(IngestEvent::Stored { document: &stored });
            report.passages += stored.passages;
            report.added.push(stored);
        }
        if !todo.is_empty() {
            self.library.flush()?;
        }
        Ok(report)
    }

    /// Ingests one uploaded document (any supported encoding). `meta` plays
    /// the part a sidecar plays for a file, applied over the stored
    /// corrections, so naming a district refills its city, province and
    /// level from the divisions table alike. Fails without changing the
    /// library when the bytes are not a usable report.
    pub fn ingest_bytes(
        &self,
        file: &str,
        bytes: &[u8],
        meta: &MetaOverrides,
    ) -> Result<IngestedDocument, ServiceError> {
        let _keep = KeepBuffers::new();
        let mut doc = parse_document(file, bytes, &self.corpus_options())?;
        self.reapply_corrections(&mut doc)?;
        meta.apply(&mut doc.meta);
        check_has_passages(&doc)?;
        let vectors = self.embed_document(&doc, &mut |_| {})?;
        let outcome = self.library.add_document(&doc, &vectors)?;
        self.library.flush()?;
        Ok(IngestedDocument::of(&doc, outcome))
    }

    /// Deletes a document from every retriever and persists the dense index.
    pub fn delete_document(&self, doc_id: &str) -> Result<(), ServiceError> {
        self.library.delete_document(doc_id)?;
        self.library.flush()?;
        Ok(())
    }

    /// One vector per passage, embedded from the simplified-folded text so
    /// traditional and simplified reports land in one region of the space.
    /// The passage's text is embedded from its simplified-folded form and its
    /// section's heading path is blended in ([`SECTION_WEIGHT`]).
    fn embed_document(
        &self,
        doc: &Document,
        done: &mut dyn FnMut(usize),
    ) -> Result<Vec<Vec<f32>>, ServiceError> {
        let mut vectors = Vec::with_capacity(doc.passages.len());
        for batch in doc.passages.chunks(EMBED_BATCH) {
            let texts: Vec<&str> = batch.iter().map(|p| p.text_simplified.as_str()).collect();
            vectors.extend(self.embedder.embed_passages(&texts)?);
            done(batch.len());
        }
        let paths: Vec<String> = doc
            .passages
            .iter()
            .map(|p| heading_path(&p.section_path))
            .collect();
        let mut distinct: Vec<&str> = paths
            .iter()
            .map(String::as_str)
            .filter(|p| !p.is_empty())
            .collect();
        distinct.sort_unstable();
        distinct.dedup();
        let mut headings: HashMap<&str, Vec<f32>> = HashMap::with_capacity(distinct.len());
        for batch in distinct.chunks(EMBED_BATCH) {
            let embedded = self.embedder.embed_passages(batch)?;
            headings.extend(batch.iter().copied().zip(embedded));
        }
        for (v, path) in vectors.iter_mut().zip(&paths) {
            if let Some(h) = headings.get(path.as_str()) {
                blend(v, h, SECTION_WEIGHT);
            }
        }
        Ok(vectors)
    }
}

/// A section path as one simplified line ("一、… > (三)… > 2.…").
fn heading_path(path: &[String]) -> String {
    path.iter()
        .map(|h| crate::corpus::to_simplified(h.trim()))
        .filter(|h| !h.is_empty())
        .collect::<Vec<_>>()
        .join(" > ")
}

/// `v ← normalise(v + weight × h)`.
fn blend(v: &mut [f32], h: &[f32], weight: f32) {
    for (x, y) in v.iter_mut().zip(h) {
        *x += weight * y;
    }
    crate::index::dense::normalize(v);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heading_paths_are_simplified_and_skip_empty_levels() {
        let path = vec![
            "二、2024年主要目標和重點任務".to_string(),
            "  ".to_string(),
            "(一)突出比較優勢大抓工業".to_string(),
        ];
        assert_eq!(
            heading_path(&path),
            "二、2024年主要目标和重点任务 > (一)突出比较优势大抓工业"
        );
        assert_eq!(heading_path(&[]), "");
    }

    #[test]
    fn blending_leans_towards_the_heading_and_stays_unit_length() {
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        let h = [0.0, 1.0, 0.0];
        let mut v = [0.8, 0.0, 0.6];
        let before = dot(&v, &h);
        blend(&mut v, &h, SECTION_WEIGHT);
        assert!((dot(&v, &v) - 1.0).abs() < 1e-6);
        assert!(dot(&v, &h) > before);
        // The text still dominates: closer to the original than to the heading.
        assert!(dot(&v, &[0.8, 0.0, 0.6]) > dot(&v, &h));
    }
}
