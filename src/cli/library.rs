//! The commands that fill, correct and read out the library: ingest, meta
//! apply, export, stats, eval.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use zhengce::search::Mode;
use zhengce::service::{self, corrections, eval, export::ExportFormat, IngestEvent, Service};

use super::{render, FilterArgs, Globals};

#[derive(Args)]
pub struct IngestArgs {
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Corrections CSV (`file,field,value`) applied to the files it names.
    #[arg(long)]
    meta: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum MetaCommand {
    /// Apply a CSV of `file,field,value` to the library in one transaction
    /// (no re-embedding); `file` is a doc id, path, file name or base name.
    Apply {
        corrections: PathBuf,
        /// Show what would change without writing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Args)]
pub struct ExportArgs {
    #[arg(long, default_value = "jsonl")]
    format: ExportFormat,
    #[arg(long)]
    out: Option<PathBuf>,
    /// Add each passage's stored vector (JSON lines only), for loading
    /// the library into another search engine without the model.
    #[arg(long)]
    vectors: bool,
    #[command(flatten)]
    filter: FilterArgs,
}

#[derive(Args)]
pub struct EvalArgs {
    queries: PathBuf,
    #[arg(long, default_value = "hybrid")]
    mode: Mode,
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Passages per district kept for find-similar queries.
    #[arg(long, default_value_t = 3)]
    per_district: usize,
    /// QUERIES is a judged relevance set (`eval/relevance-judged.jsonl`):
    /// write each judged passage's relevance evidence and estimate
    /// instead of search results (`scripts/fit-relevance.py` reads them).
    #[arg(long)]
    relevance_features: bool,
}

pub fn ingest(args: IngestArgs, g: &Globals) -> anyhow::Result<()> {
    let corrections = match args.meta {
        Some(p) => corrections::read_corrections(&p)?,
        None => Vec::new(),
    };
    let service = g.open()?;
    let report = ingest_with_progress(&service, &args.paths, &corrections)?;
    render::emit(g.json, &report, &|r, w| {
        if !r.corrected.is_empty() {
            writeln!(w, "corrected already stored documents:")?;
            render::changes(&r.corrected, w)?;
        }
        Ok(())
    })?;
    if !report.failed.is_empty() {
        anyhow::bail!(
            "{} file(s) could not be ingested (nothing of them was stored)",
            report.failed.len()
        );
    }
    Ok(())
}

pub fn meta_apply(csv: &Path, dry_run: bool, g: &Globals) -> anyhow::Result<()> {
    let rows = corrections::read_corrections(csv)?;
    let changes = g.open()?.apply_corrections(&rows, dry_run)?;
    render::emit(g.json, &changes, &|changes, w| {
        render::changes(changes, w)?;
        let verb = if dry_run { "would change" } else { "changed" };
        writeln!(w, "{verb} {} field(s)", changes.len())
    })
}

pub fn export(args: ExportArgs, g: &Globals) -> anyhow::Result<()> {
    let filter = args.filter.to_filter()?;
    let service = g.open()?;
    let Some(path) = args.out else {
        service.export(&filter, args.format, args.vectors, &mut render::stdout())?;
        return Ok(());
    };
    let f = std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let n = service.export(
        &filter,
        args.format,
        args.vectors,
        &mut std::io::BufWriter::new(f),
    )?;
    render::emit(
        g.json,
        &serde_json::json!({"passages": n, "out": path}),
        &|_, _| {
            eprintln!("exported {n} passages to {}", path.display());
            Ok(())
        },
    )
}

pub fn stats(g: &Globals) -> anyhow::Result<()> {
    let stats = g.open()?.stats()?;
    render::emit(g.json, &stats, &render::stats)
}

pub fn eval(args: EvalArgs, g: &Globals) -> anyhow::Result<()> {
    let service = g.open()?;
    let opts = eval::EvalOptions {
        mode: args.mode,
        k: args.k,
        per_district: args.per_district,
    };
    let out = &args.out;
    let f = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut w = std::io::BufWriter::new(f);
    let started = Instant::now();
    let n = if args.relevance_features {
        eval::relevance_features(&service, &args.queries, &mut w)?
    } else {
        eval::run(&service, &args.queries, &opts, &mut w)?
    };
    w.flush()?;
    let secs = started.elapsed().as_secs_f64();
    render::emit(
        g.json,
        &serde_json::json!({"queries": n, "out": out, "seconds": secs}),
        &|_, _| {
            eprintln!(
                "ran {n} queries ({:?}) in {secs:.1} s; results in {}",
                args.mode,
                out.display()
            );
            Ok(())
        },
    )
}

/// Ingests with a progress bar over passages on stderr (drawn only on a
/// terminal) and a line per failed file.
pub(super) fn ingest_with_progress(
    service: &Service,
    paths: &[PathBuf],
    corrections: &[corrections::Correction],
) -> anyhow::Result<service::IngestReport> {
    let started = Instant::now();
    let bar = ProgressBar::hidden();
    let report = service.ingest_files_with(paths, corrections, &mut |ev| match ev {
        IngestEvent::Planned {
            documents,
            passages,
        } => {
            if documents > 0 {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                bar.set_length(passages as u64);
                bar.set_style(
                    ProgressStyle::with_template(
                        "embedding {bar:30} {pos}/{len} passages ({per_sec}, eta {eta}) {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar.suspend(|| eprintln!("ingesting {documents} document(s), {passages} passages"));
            }
        }
        IngestEvent::Embedded { file, passages } => {
            bar.set_message(short_name(file));
            bar.inc(passages as u64);
        }
        IngestEvent::Stored { .. } => {}
        IngestEvent::Skipped { problem } => {
            bar.suspend(|| eprintln!("skipped {}: {}", problem.file, problem.problem));
        }
        IngestEvent::Failed { problem } => {
            bar.suspend(|| eprintln!("failed {}", problem.problem));
        }
    })?;
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "ingested {} document(s), {} passages in {:.1} s, {:.1} passages/s ({} skipped, {} failed)",
        report.added.len(),
        report.passages,
        secs,
        report.passages as f64 / secs.max(1e-9),
        report.skipped.len(),
        report.failed.len()
    );
    Ok(report)
}

fn short_name(file: &str) -> String {
    Path::new(file)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.to_string())
}
