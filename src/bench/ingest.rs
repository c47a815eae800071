//! `zhengce bench ingest DIR`: the files of DIR ingested into a new,
//! temporary library exactly as `zhengce ingest` does, timed: passages per
//! second, the model's share of the wall time (what overlapping the other
//! stages with it could gain at most), and the process's peak RSS.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::peak_rss_mb;
use crate::service::{IngestEvent, Service, ServiceError};

#[derive(Debug, Clone, Serialize)]
pub struct IngestBenchReport {
    pub dir: PathBuf,
    pub documents: usize,
    pub passages: usize,
    pub failed: usize,
    /// From opening the library to the last document stored and flushed.
    pub wall_seconds: f64,
    pub passages_per_second: f64,
    /// Seconds spent in the model (passages and headings).
    pub model_seconds: f64,
    pub model_share: f64,
    /// High-water mark of the whole process (model loading included).
    pub peak_rss_mb: f64,
}

/// A library directory of its own under the system's temporary folder,
/// removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn run(
    dir: &Path,
    model_dir: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<IngestBenchReport, ServiceError> {
    let scratch =
        Scratch(std::env::temp_dir().join(format!("zhengce-bench-ingest-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&scratch.0);
    let t = Instant::now();
    let service = Service::open(&scratch.0, model_dir)?;
    let report = service.ingest_files(&[dir.to_path_buf()], &mut |e| {
        if let IngestEvent::Stored { document } = e {
            progress(&format!(
                "{} ({} passages)",
                document.file, document.passages
            ));
        }
    })?;
    let wall_seconds = t.elapsed().as_secs_f64();
    Ok(IngestBenchReport {
        dir: dir.to_path_buf(),
        documents: report.added.len(),
        passages: report.passages,
        failed: report.failed.len(),
        wall_seconds,
        passages_per_second: report.passages as f64 / wall_seconds.max(1e-9),
        model_seconds: report.model_seconds,
        model_share: report.model_seconds / wall_seconds.max(1e-9),
        peak_rss_mb: peak_rss_mb(),
    })
}

/// `zhengce bench ingest`'s human view.
pub fn format(r: &IngestBenchReport) -> String {
    format!(
        "ingest of {}: {} documents, {} passages ({} files failed) in {:.1} s\n\
         passages/s   {:.1}\n\
         model        {:.1} s ({:.0}% of the wall time)\n\
         peak RSS     {:.0} MB (the whole process, model included)\n",
        r.dir.display(),
        r.documents,
        r.passages,
        r.failed,
        r.wall_seconds,
        r.passages_per_second,
        r.model_seconds,
        r.model_share * 100.0,
        r.peak_rss_mb,
    )
}
