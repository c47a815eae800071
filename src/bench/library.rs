//! `zhengce bench open DIR`: how long a large library takes to open and
//! answer its first search. The first run fills DIR with a synthetic library
//! through the store's own writes (documents of `per_document` passages of
//! report-like text with clustered vectors), flushed as any ingestion ends;
//! later runs reuse it, so a million passages are built once.
//!
//! Each timed run opens the library as a server does (`Library::open`:
//! SQLite, the catalog, the dumped graph) and then runs the reads a first
//! question needs: a dense search, a filtered dense search, a BM25 search
//! and the background sample relevance is judged against.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::fixtures::{clustered_vectors, Rng};
use super::{median, peak_rss_mb, reset_peak_rss, rss_mb};
use crate::corpus::{Document, DocumentMeta, Passage, Place};
use crate::index::{Filter, IndexError, Library};

/// The model id a synthetic library is stored under, so that no real
/// model's server opens it by mistake.
pub const SYNTHETIC_MODEL: &str = "bench-synthetic";

#[derive(Debug, Clone)]
pub struct OpenOptions {
    pub dir: PathBuf,
    pub passages: usize,
    pub per_document: usize,
    pub dim: usize,
    pub cluster_size: usize,
    pub runs: usize,
    pub seed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct OpenReport {
    pub dir: PathBuf,
    pub passages: usize,
    pub documents: usize,
    /// Seconds to build the library, when this run built it.
    pub build_seconds: Option<f64>,
    /// Size of the library folder on disk.
    pub disk_mb: f64,
    /// `Library::open`, each run.
    pub open_seconds: Vec<f64>,
    /// The first searches after each open (dense, filtered dense, BM25,
    /// background sample).
    pub first_search_seconds: Vec<f64>,
    pub median_open_seconds: f64,
    pub median_ready_seconds: f64,
    /// Resident set after the last open and its searches.
    pub rss_mb: f64,
    /// High-water mark over the timed runs (reset before them when the
    /// kernel allows).
    pub peak_rss_mb: f64,
}

/// Common characters of the reports, so the BM25 index holds text of the
/// usual shape and size.
const CHARS: &str = "推进建设发展经济社会全面加快实施重点项目产业创新城市乡村振兴生态环境保护民生服务教育医疗养老就业收入增长完善机制改革开放提升质量安全治理现代化基础设施交通水利能源数字科技人才文化旅游农业工业制造企业市场投资消费财政金融区县镇村年度目标任务工作政府";

fn synthetic_text(rng: &mut Rng, chars: &[char], len: usize) -> String {
    let mut s = String::with_capacity(len * 3 + len / 20);
    for i in 0..len {
        s.push(chars[rng.below(chars.len())]);
        if i % 23 == 22 {
            s.push('，');
        }
    }
    s.push('。');
    s
}

fn build(opts: &OpenOptions, progress: &mut dyn FnMut(&str)) -> Result<(), IndexError> {
    let lib = Library::open(&opts.dir, SYNTHETIC_MODEL, opts.dim)?;
    let chars: Vec<char> = CHARS.chars().collect();
    let (vectors, _, _) =
        clustered_vectors(opts.passages, 0, opts.dim, opts.cluster_size, opts.seed);
    let mut rng = Rng(opts.seed ^ 0x5eed);
    let per = opts.per_document.max(1);
    let documents = opts.passages.div_ceil(per);
    for (d, chunk) in vectors.chunks(per).enumerate() {
        let id = format!("{:016x}", d as u64 + 1);
        let passages = (0..chunk.len())
            .map(|i| {
                let len = 150 + rng.below(200);
                let text = synthetic_text(&mut rng, &chars, len);
                Passage {
                    id: format!("{id}-{i:04}"),
                    ordinal: i as u32,
                    text_simplified: text.clone(),
                    text,
                    section_path: vec![format!("第{}部分", i / 10 + 1)],
                    term: None,
                }
            })
            .collect();
        let doc = Document {
            id: id.clone(),
            file: format!("synthetic-{d}.txt"),
            encoding: "UTF-8".into(),
            script: "simplified".into(),
            meta: DocumentMeta {
                place: Place {
                    district: Some(format!("样例{}区", d % 2000)),
                    city: Some(format!("样例{}市", d % 2000 / 10)),
                    province: Some(format!("样例{}省", d % 2000 / 100)),
                },
                year: Some(2000 + (d % 25) as i32),
                doc_type: Some("政府工作报告".into()),
                ..Default::default()
            },
            removed: Default::default(),
            passages,
        };
        lib.add_document(&doc, chunk)?;
        if d % 500 == 499 || d + 1 == documents {
            progress(&format!("built {}/{} documents", d + 1, documents));
        }
    }
    progress("writing the graph");
    lib.flush()
}

fn dir_mb(dir: &Path) -> f64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_mb(&e.path()),
                    Ok(m) => m.len() as f64 / 1e6,
                    Err(_) => 0.0,
                })
                .sum()
        })
        .unwrap_or(0.0)
}

pub fn run(opts: &OpenOptions, progress: &mut dyn FnMut(&str)) -> Result<OpenReport, IndexError> {
    let mut build_seconds = None;
    if !opts.dir.join(crate::index::STORE_FILE).is_file() {
        progress(&format!(
            "building a synthetic library of {} passages in {}",
            opts.passages,
            opts.dir.display()
        ));
        let t = Instant::now();
        build(opts, progress)?;
        build_seconds = Some(t.elapsed().as_secs_f64());
    }
    let query = clustered_vectors(1, 1, opts.dim, opts.cluster_size, opts.seed ^ 1).1;
    let reset = reset_peak_rss();
    let (mut open_seconds, mut first_search_seconds) = (Vec::new(), Vec::new());
    let (mut passages, mut documents) = (0, 0);
    for run in 0..opts.runs.max(1) {
        progress(&format!("open {}/{}", run + 1, opts.runs.max(1)));
        let t = Instant::now();
        let lib = Library::open(&opts.dir, SYNTHETIC_MODEL, opts.dim)?;
        open_seconds.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let hits = lib.dense_search(&query[0], 10, &Filter::default())?;
        let filter = Filter {
            district: Some("样例7区".into()),
            ..Default::default()
        };
        lib.dense_search(&query[0], 10, &filter)?;
        lib.lexical_search("乡村振兴 养老服务", 10, &Filter::default())?;
        lib.background_sample(2000)?;
        first_search_seconds.push(t.elapsed().as_secs_f64());
        if hits.is_empty() {
            return Err(IndexError::Invalid(format!(
                "{}: the first search found nothing",
                opts.dir.display()
            )));
        }
        let stats = lib.stats()?;
        (passages, documents) = (stats.passages, stats.documents);
    }
    let ready: Vec<f64> = open_seconds
        .iter()
        .zip(&first_search_seconds)
        .map(|(a, b)| a + b)
        .collect();
    Ok(OpenReport {
        dir: opts.dir.clone(),
        passages,
        documents,
        build_seconds,
        disk_mb: dir_mb(&opts.dir),
        median_open_seconds: median(open_seconds.clone()),
        median_ready_seconds: median(ready),
        open_seconds,
        first_search_seconds,
        rss_mb: rss_mb(),
        peak_rss_mb: if reset { peak_rss_mb() } else { f64::NAN },
    })
}

pub fn format(r: &OpenReport) -> String {
    let secs = |v: &[f64]| {
        v.iter()
            .map(|s| format!("{s:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = format!(
        "library {}: {} documents, {} passages, {:.0} MB on disk\n",
        r.dir.display(),
        r.documents,
        r.passages,
        r.disk_mb
    );
    if let Some(b) = r.build_seconds {
        out += &format!("built in {b:.1} s\n");
    }
    out += &format!(
        "open: median {:.2} s ({} s)\nfirst searches: {} s\nopen + first searches: median {:.2} s\nRSS after: {:.0} MB, peak over the runs: {:.0} MB\n",
        r.median_open_seconds,
        secs(&r.open_seconds),
        secs(&r.first_search_seconds),
        r.median_ready_seconds,
        r.rss_mb,
        r.peak_rss_mb
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_library_once_then_times_opening_it() {
        let dir = tempfile::tempdir().unwrap();
        let opts = OpenOptions {
            dir: dir.path().join("lib"),
            passages: 450,
            per_document: 100,
            dim: 32,
            cluster_size: 50,
            runs: 2,
            seed: 7,
        };
        let first = run(&opts, &mut |_| {}).unwrap();
        assert!(first.build_seconds.is_some());
        assert_eq!((first.documents, first.passages), (5, 450));
        assert_eq!(first.open_seconds.len(), 2);
        assert!(first.disk_mb > 0.0);
        // The second run opens what the first built, whatever size it asks.
        let again = run(
            &OpenOptions {
                passages: 10,
                ..opts
            },
            &mut |_| {},
        )
        .unwrap();
        assert!(again.build_seconds.is_none());
        assert_eq!(again.passages, 450);
    }
}
