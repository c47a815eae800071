//! The `zhengce` command line: the same library calls the HTTP API makes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Benchmarks (figures printed, not asserted).
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Builds dense + lexical indexes over synthetic data at several sizes.
    Index(BenchIndexArgs),
}

#[derive(clap::Args)]
struct BenchIndexArgs {
    /// Passage counts to build, comma-separated (1M takes several minutes).
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
}

fn main() -> ExitCode {
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
    let _ = (&cli.data_dir, &cli.model);
    match cli.command {
        Command::Bench(BenchCommand::Index(args)) => bench_index(args, cli.json),
    }
}

fn bench_index(args: BenchIndexArgs, json: bool) -> anyhow::Result<()> {
    use zhengce::index::bench;
    let opts = bench::BenchOptions {
        sizes: args.sizes,
        queries: args.queries,
        threads: args.threads,
        ef_search: args.ef,
        lexical: !args.no_lexical,
        dump_vectors: args.dump_vectors,
        ..Default::default()
    };
    let reports = bench::run(&opts, &mut |line| eprintln!("{line}"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        print!("{}", bench::format_reports(&reports));
    }
    Ok(())
}
