//! `zhengce bench index`: builds the dense and lexical indexes over synthetic
//! data at several sizes and measures them.
//!
//! Vectors are clustered (cluster centres plus Gaussian noise, normalised) so
//! the graph faces the structure real embeddings have; text is drawn from a
//! vocabulary of policy words with per-cluster topics. Both are generated
//! from a fixed seed, and `dump_vectors` writes the 384-d vectors so
//! `scripts/bench-hnswlib.py` can run hnswlib on exactly the same data.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::fixtures::{clustered_vectors, Rng};
use super::{cpu_secs, median, peak_rss_mb, percentile, reset_peak_rss, rss_mb};
use crate::index::dense::{exact_search, normalize, DenseIndex, DenseParams};
use crate::index::{lexical, IndexError, Result};

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub sizes: Vec<usize>,
    pub dim: usize,
    /// Vectors per synthetic cluster (see `clustered_vectors`).
    pub cluster_size: usize,
    pub queries: usize,
    pub threads: usize,
    pub ef_search: Vec<usize>,
    pub params: DenseParams,
    /// Skip the lexical side (its build dominates at 1M).
    pub lexical: bool,
    /// Where indexes are written to measure bytes on disk (removed after).
    pub work_dir: PathBuf,
    /// Write `base-N.f32`, `queries-N.f32` (little-endian, row-major) here.
    pub dump_vectors: Option<PathBuf>,
    /// Write each graph to `dense-N/` here and keep it, so its reload can
    /// be timed again without a rebuild (`reload_dump`).
    pub keep_dump: Option<PathBuf>,
    pub seed: u64,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            sizes: vec![10_000, 100_000, 1_000_000],
            dim: 384,
            cluster_size: 100,
            queries: 500,
            threads: 2,
            ef_search: vec![16, 32, 64, 128, 256],
            params: DenseParams::default(),
            lexical: true,
            work_dir: std::env::temp_dir().join("zhengce-bench"),
            dump_vectors: None,
            keep_dump: None,
            seed: 42,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EfRow {
    pub ef: usize,
    pub recall_at_10: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SizeReport {
    pub passages: usize,
    pub dim: usize,
    pub cluster_size: usize,
    pub threads: usize,
    pub m: usize,
    pub ef_construction: usize,
    pub dense_build_secs: f64,
    pub dense_inserts_per_sec: f64,
    /// CPU seconds (all threads) the build used: steadier than wall time
    /// on a shared machine.
    pub dense_build_cpu_secs: f64,
    pub dense_bytes_on_disk: u64,
    pub dense_reload_secs: f64,
    /// The reloaded graph has the same links and gives the same results
    /// for every query at every ef as the graph that was dumped.
    pub dense_reload_identical: bool,
    pub dense: Vec<EfRow>,
    pub lexical_build_secs: Option<f64>,
    pub lexical_inserts_per_sec: Option<f64>,
    pub lexical_bytes_on_disk: Option<u64>,
    pub lexical_p50_ms: Option<f64>,
    pub lexical_p99_ms: Option<f64>,
    /// Resident set after the dense part of this size.
    pub rss_mb: f64,
    /// The resident set's high-water mark while this size ran, or, when
    /// `peak_rss_this_size` is false (the kernel would not reset the mark),
    /// since the process started.
    pub peak_rss_mb: f64,
    pub peak_rss_this_size: bool,
}

const VOCAB: &[&str] = &[
    "乡村振兴",
    "产业",
    "发展",
    "改革",
    "创新",
    "生态",
    "环境",
    "保护",
    "教育",
    "医疗",
    "养老",
    "社区",
    "服务",
    "就业",
    "收入",
    "消费",
    "投资",
    "项目",
    "建设",
    "城市",
    "更新",
    "交通",
    "基础设施",
    "数字经济",
    "人工智能",
    "制造业",
    "农业",
    "农村",
    "农民",
    "粮食",
    "安全",
    "应急",
    "治理",
    "营商环境",
    "企业",
    "民营经济",
    "科技",
    "人才",
    "住房",
    "保障",
    "文化",
    "旅游",
    "体育",
    "卫生",
    "健康",
    "水利",
    "能源",
    "碳达峰",
    "绿色",
    "低碳",
    "污染",
    "防治",
    "垃圾分类",
    "老旧小区",
    "改造",
    "财政",
    "预算",
    "债务",
    "风险",
    "开放",
    "招商",
    "园区",
    "港口",
    "物流",
    "电商",
    "直播",
    "文旅",
    "非遗",
    "学校",
    "幼儿园",
    "托育",
    "医保",
    "社保",
    "低保",
    "救助",
    "残疾人",
    "退役军人",
    "妇女",
    "儿童",
    "青年",
    "高质量",
    "现代化",
    "推进",
    "加快",
    "深化",
    "完善",
    "健全",
    "提升",
    "巩固",
    "拓展",
    "实施",
    "落实",
    "全面",
    "持续",
];

/// A synthetic passage: topic words of its cluster mixed with common words.
fn synthetic_text(rng: &mut Rng, topic: usize) -> String {
    let words = 20 + rng.below(25);
    let mut s = String::new();
    for i in 0..words {
        let w = if rng.below(3) == 0 {
            VOCAB[(topic * 7 + rng.below(4)) % VOCAB.len()]
        } else {
            VOCAB[rng.below(VOCAB.len())]
        };
        s.push_str(w);
        s.push(if i % 6 == 5 { '，' } else { '的' });
    }
    s.push('。');
    s
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|it| {
            it.flatten()
                .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
                .sum()
        })
        .unwrap_or(0)
}

fn write_f32(path: &Path, rows: &[Vec<f32>]) -> Result<()> {
    let io = |e| IndexError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    for r in rows {
        for x in r {
            f.write_all(&x.to_le_bytes()).map_err(io)?;
        }
    }
    f.flush().map_err(io)
}

/// Runs the benchmark, reporting progress lines through `progress`.
pub fn run(opts: &BenchOptions, progress: &mut dyn FnMut(&str)) -> Result<Vec<SizeReport>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads.max(1))
        .build()
        .map_err(|e| IndexError::Invalid(format!("thread pool: {e}")))?;
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e| IndexError::Io { path: p, source: e }
    };
    std::fs::create_dir_all(&opts.work_dir).map_err(io(&opts.work_dir))?;
    let mut reports = Vec::new();
    for &n in &opts.sizes {
        let peak_reset = reset_peak_rss();
        progress(&format!("{n} passages: generating {}-d vectors", opts.dim));
        let (base, queries, topics) =
            clustered_vectors(n, opts.queries, opts.dim, opts.cluster_size, opts.seed);
        if let Some(dir) = &opts.dump_vectors {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
            write_f32(&dir.join(format!("base-{n}.f32")), &base)?;
            write_f32(&dir.join(format!("queries-{n}.f32")), &queries)?;
        }
        progress(&format!(
            "{n} passages: exact neighbours of {} queries",
            queries.len()
        ));
        let truth: Vec<Vec<usize>> = pool.install(|| {
            use rayon::prelude::*;
            queries
                .par_iter()
                .map(|q| {
                    exact_search(q, 10, base.iter().enumerate().map(|(i, v)| (i, &v[..])))
                        .into_iter()
                        .map(|(i, _)| i)
                        .collect()
                })
                .collect()
        });

        progress(&format!(
            "{n} passages: building HNSW ({} threads)",
            opts.threads
        ));
        let t = Instant::now();
        let cpu0 = cpu_secs();
        let mut dense = DenseIndex::new(opts.dim, opts.params, n);
        let items: Vec<(&[f32], usize)> =
            base.iter().enumerate().map(|(i, v)| (&v[..], i)).collect();
        pool.install(|| dense.insert_batch(&items))?;
        let build = t.elapsed().as_secs_f64();
        let build_cpu = cpu_secs() - cpu0;
        drop(items);

        let mut rows = Vec::new();
        for &ef in &opts.ef_search {
            dense.set_ef_search(ef);
            let mut times = Vec::with_capacity(queries.len());
            let mut found = 0usize;
            for (q, want) in queries.iter().zip(&truth) {
                let t = Instant::now();
                let got = dense.search(q, 10, None, None)?;
                times.push(t.elapsed().as_secs_f64() * 1e3);
                found += got.iter().filter(|(id, _)| want.contains(id)).count();
            }
            times.sort_by(f64::total_cmp);
            rows.push(EfRow {
                ef,
                recall_at_10: found as f64 / (10 * queries.len()).max(1) as f64,
                p50_ms: percentile(&times, 0.5),
                p99_ms: percentile(&times, 0.99),
            });
        }

        let dump_dir = opts
            .keep_dump
            .as_deref()
            .unwrap_or(&opts.work_dir)
            .join(format!("dense-{n}"));
        let _ = std::fs::remove_dir_all(&dump_dir);
        std::fs::create_dir_all(&dump_dir).map_err(io(&dump_dir))?;
        dense.dump(&dump_dir, "dense")?;
        let dense_bytes = dir_bytes(&dump_dir);
        // What the reloaded graph must reproduce exactly.
        let flat = dense.to_flat();
        let mut before = std::collections::HashMap::new();
        for &ef in &opts.ef_search {
            dense.set_ef_search(ef);
            let found: Vec<_> = queries
                .iter()
                .map(|q| dense.search(q, 10, None, None))
                .collect::<Result<_>>()?;
            before.insert(ef, found);
        }
        drop(dense);
        let t = Instant::now();
        let mut reloaded = DenseIndex::load(&dump_dir, "dense", opts.dim, opts.params)?;
        let reload_secs = t.elapsed().as_secs_f64();
        let mut reload_identical = reloaded.to_flat() == flat;
        for &ef in &opts.ef_search {
            reloaded.set_ef_search(ef);
            for (q, want) in queries.iter().zip(&before[&ef]) {
                reload_identical &= &reloaded.search(q, 10, None, None)? == want;
            }
        }
        drop(reloaded);
        if opts.keep_dump.is_none() {
            let _ = std::fs::remove_dir_all(&dump_dir);
        }
        let rss = rss_mb();

        let mut report = SizeReport {
            passages: n,
            dim: opts.dim,
            cluster_size: opts.cluster_size,
            threads: opts.threads,
            m: opts.params.m,
            ef_construction: opts.params.ef_construction,
            dense_build_secs: build,
            dense_inserts_per_sec: n as f64 / build,
            dense_build_cpu_secs: build_cpu,
            dense_bytes_on_disk: dense_bytes,
            dense_reload_secs: reload_secs,
            dense_reload_identical: reload_identical,
            dense: rows,
            lexical_build_secs: None,
            lexical_inserts_per_sec: None,
            lexical_bytes_on_disk: None,
            lexical_p50_ms: None,
            lexical_p99_ms: None,
            rss_mb: rss,
            peak_rss_mb: 0.0,
            peak_rss_this_size: peak_reset,
        };
        drop(base);
        drop(queries);
        if opts.lexical {
            progress(&format!("{n} passages: building the FTS5 lexical index"));
            let (secs, bytes, p50, p99) = bench_lexical(opts, n, &topics)?;
            report.lexical_build_secs = Some(secs);
            report.lexical_inserts_per_sec = Some(n as f64 / secs);
            report.lexical_bytes_on_disk = Some(bytes);
            report.lexical_p50_ms = Some(p50);
            report.lexical_p99_ms = Some(p99);
        }
        report.peak_rss_mb = peak_rss_mb();
        reports.push(report);
    }
    Ok(reports)
}

/// Options of `zhengce bench reload`.
#[derive(Debug, Clone)]
pub struct ReloadOptions {
    /// Holds `dense.hnsw.flat` and/or hnsw_rs's `dense.hnsw.{graph,data}`
    /// (as `bench index --keep-dump` leaves them).
    pub dir: PathBuf,
    pub dim: usize,
    /// Timed reloads of the flat file.
    pub runs: usize,
    /// Timed reloads of hnsw_rs's files, when present (the last one is
    /// compared with the flat reload).
    pub legacy_runs: usize,
    pub queries: usize,
    pub ef_search: Vec<usize>,
    pub seed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReloadReport {
    pub points: usize,
    pub flat_bytes: u64,
    /// Writing the flat file from the legacy graph, when it was missing.
    pub flat_dump_secs: Option<f64>,
    pub flat_reload_secs: Vec<f64>,
    pub legacy_reload_secs: Vec<f64>,
    /// Same links (and order) in the legacy and the flat reload.
    pub same_graph: Option<bool>,
    /// Same results for every query at every ef.
    pub same_results: Option<bool>,
    pub queries: usize,
    pub peak_rss_mb: f64,
}

/// Times reloads of a dumped graph and, when hnsw_rs's files are there too,
/// checks that both reloads are the same graph with the same answers.
pub fn reload(opts: &ReloadOptions, progress: &mut dyn FnMut(&str)) -> Result<ReloadReport> {
    use crate::index::dense::DumpFormat;
    let (dir, base) = (&opts.dir, "dense");
    let params = DenseParams::default();
    let has_legacy = ["hnsw.graph", "hnsw.data"]
        .iter()
        .all(|ext| dir.join(format!("{base}.{ext}")).is_file());
    let mut legacy = None;
    let mut legacy_secs = Vec::new();
    if has_legacy {
        for run in 0..opts.legacy_runs {
            drop(legacy.take());
            progress(&format!("legacy reload {}/{}", run + 1, opts.legacy_runs));
            let t = Instant::now();
            let g = DenseIndex::load_as(DumpFormat::Legacy, dir, base, opts.dim, params)?;
            legacy_secs.push(t.elapsed().as_secs_f64());
            legacy = Some(g);
        }
    }
    let flat_path = dir.join(format!("{base}.hnsw.flat"));
    let mut flat_dump_secs = None;
    if !flat_path.is_file() {
        let Some(g) = &legacy else {
            return Err(IndexError::Invalid(format!(
                "{} has no flat graph, and no legacy one was loaded to write it from",
                dir.display()
            )));
        };
        progress("writing the flat file");
        let t = Instant::now();
        g.dump(dir, base)?;
        flat_dump_secs = Some(t.elapsed().as_secs_f64());
    }
    let mut flat = None;
    let mut flat_secs = Vec::new();
    for run in 0..opts.runs.max(1) {
        drop(flat.take());
        progress(&format!("flat reload {}/{}", run + 1, opts.runs.max(1)));
        let t = Instant::now();
        let g = DenseIndex::load_as(DumpFormat::Flat, dir, base, opts.dim, params)?;
        flat_secs.push(t.elapsed().as_secs_f64());
        flat = Some(g);
    }
    let Some(mut flat) = flat else {
        unreachable!("at least one run")
    };
    let points = flat.len();
    let (mut same_graph, mut same_results) = (None, None);
    if let Some(mut legacy) = legacy {
        progress("comparing the two reloads");
        same_graph = Some(legacy.to_flat() == flat.to_flat());
        let mut rng = Rng(opts.seed);
        let queries: Vec<Vec<f32>> = flat
            .vectors_every(points / opts.queries.max(1))
            .into_iter()
            .take(opts.queries)
            .map(|mut v| {
                for x in v.iter_mut() {
                    *x += 0.05 * rng.gaussian();
                }
                normalize(&mut v);
                v
            })
            .collect();
        let mut same = true;
        for &ef in &opts.ef_search {
            legacy.set_ef_search(ef);
            flat.set_ef_search(ef);
            for q in &queries {
                same &= legacy.search(q, 10, None, None)? == flat.search(q, 10, None, None)?;
            }
        }
        same_results = Some(same);
    }
    Ok(ReloadReport {
        points,
        flat_bytes: std::fs::metadata(&flat_path).map(|m| m.len()).unwrap_or(0),
        flat_dump_secs,
        flat_reload_secs: flat_secs,
        legacy_reload_secs: legacy_secs,
        same_graph,
        same_results,
        queries: opts.queries,
        peak_rss_mb: peak_rss_mb(),
    })
}

pub fn format_reload(r: &ReloadReport) -> String {
    let secs = |v: &[f64]| {
        v.iter()
            .map(|s| format!("{s:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut s = format!(
        "{} points, flat file {:.1} MB\nflat reload   median {:.2} s ({})\n",
        r.points,
        r.flat_bytes as f64 / 1e6,
        median(r.flat_reload_secs.clone()),
        secs(&r.flat_reload_secs)
    );
    if !r.legacy_reload_secs.is_empty() {
        s.push_str(&format!(
            "legacy reload median {:.2} s ({})\n",
            median(r.legacy_reload_secs.clone()),
            secs(&r.legacy_reload_secs)
        ));
    }
    if let Some(d) = r.flat_dump_secs {
        s.push_str(&format!("flat file written in {d:.2} s\n"));
    }
    let yes_no = |b: Option<bool>| match b {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "not compared",
    };
    s.push_str(&format!(
        "same graph: {}; same top 10 for {} queries at every ef: {}\npeak RSS {:.0} MB\n",
        yes_no(r.same_graph),
        r.queries,
        yes_no(r.same_results),
        r.peak_rss_mb
    ));
    s
}

/// Builds the same FTS5 table the store uses (same segmentation, same
/// query expression and ranking) and times BM25 queries on it.
fn bench_lexical(opts: &BenchOptions, n: usize, topics: &[usize]) -> Result<(f64, u64, f64, f64)> {
    let path = opts.work_dir.join(format!("lexical-{n}.sqlite"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let sql = |e| IndexError::Sqlite {
        path: path.clone(),
        source: e,
    };
    let mut conn = rusqlite::Connection::open(&path).map_err(sql)?;
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
        .map_err(sql)?;
    conn.execute_batch(lexical::FTS_DDL).map_err(sql)?;
    let mut rng = Rng(opts.seed ^ 0x5EED);
    let t = Instant::now();
    for chunk in topics.chunks(10_000) {
        let texts: Vec<String> = chunk.iter().map(|&c| synthetic_text(&mut rng, c)).collect();
        let segmented: Vec<String> = {
            use rayon::prelude::*;
            texts
                .par_iter()
                .map(|t| lexical::segment_for_index(t))
                .collect()
        };
        let tx = conn.transaction().map_err(sql)?;
        {
            let mut ins = tx
                .prepare("INSERT INTO passages_fts(tokens) VALUES (?1)")
                .map_err(sql)?;
            for s in &segmented {
                ins.execute([s]).map_err(sql)?;
            }
        }
        tx.commit().map_err(sql)?;
    }
    let build = t.elapsed().as_secs_f64();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .map_err(sql)?;
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let mut times = Vec::new();
    let mut stmt = conn
        .prepare(&lexical::unfiltered_query_sql(10))
        .map_err(sql)?;
    for _ in 0..200 {
        let q = format!(
            "{}{}{}",
            VOCAB[rng.below(VOCAB.len())],
            VOCAB[rng.below(VOCAB.len())],
            VOCAB[rng.below(VOCAB.len())]
        );
        let Some(expr) = lexical::match_expression(&lexical::query_terms(&q)) else {
            continue;
        };
        let t = Instant::now();
        let hits: Vec<i64> = stmt
            .query_map([expr], |r| r.get(0))
            .map_err(sql)?
            .collect::<rusqlite::Result<_>>()
            .map_err(sql)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(hits);
    }
    drop(stmt);
    drop(conn);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    times.sort_by(f64::total_cmp);
    Ok((
        build,
        bytes,
        percentile(&times, 0.5),
        percentile(&times, 0.99),
    ))
}

/// Human-readable table of the reports.
pub fn format_reports(reports: &[SizeReport]) -> String {
    let mut s = String::new();
    for r in reports {
        s.push_str(&format!(
            "== {} passages, {}-d, ~{} per cluster, M={}, ef_construction={}, {} build threads ==\n",
            r.passages, r.dim, r.cluster_size, r.m, r.ef_construction, r.threads
        ));
        s.push_str(&format!(
            "dense   build {:.1} s ({:.0} inserts/s; {:.1} CPU-s), {:.1} MB on disk, reload {:.2} s ({})\n",
            r.dense_build_secs,
            r.dense_inserts_per_sec,
            r.dense_build_cpu_secs,
            r.dense_bytes_on_disk as f64 / 1e6,
            r.dense_reload_secs,
            if r.dense_reload_identical {
                "same graph and results"
            } else {
                "DIFFERENT graph or results"
            }
        ));
        s.push_str("        ef   recall@10   p50 ms   p99 ms\n");
        for row in &r.dense {
            s.push_str(&format!(
                "      {:>4}   {:>9.4}   {:>6.3}   {:>6.3}\n",
                row.ef, row.recall_at_10, row.p50_ms, row.p99_ms
            ));
        }
        if let (Some(b), Some(ips), Some(bytes), Some(p50), Some(p99)) = (
            r.lexical_build_secs,
            r.lexical_inserts_per_sec,
            r.lexical_bytes_on_disk,
            r.lexical_p50_ms,
            r.lexical_p99_ms,
        ) {
            s.push_str(&format!(
                "lexical build {b:.1} s ({ips:.0} passages/s incl. jieba), {:.1} MB on disk, \
                 query p50 {p50:.3} ms p99 {p99:.3} ms\n",
                bytes as f64 / 1e6
            ));
        }
        let peak_of = if r.peak_rss_this_size {
            "while building this size"
        } else {
            "since the process started"
        };
        s.push_str(&format!(
            "RSS {:.0} MB after this size, peak {:.0} MB {peak_of}\n\n",
            r.rss_mb, r.peak_rss_mb
        ));
    }
    s
}
