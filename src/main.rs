//! The `zhengce` command line: the same library calls the HTTP API makes.

use std::io::Write;
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
    /// Show what ingestion makes of report files: encoding, metadata with
    /// confidence, cleaning report, passages with section paths.
    Inspect(InspectArgs),
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
        Command::Inspect(args) => inspect(args, cli.json),
    }
}

fn inspect(args: InspectArgs, json: bool) -> anyhow::Result<()> {
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
    let opts = corpus::CorpusOptions::default();
    let mut failed = 0;
    let mut out = std::io::stdout().lock();
    for path in corpus::input_files(&inputs)? {
        let shown = match corpus::parse_file_with(&path, &opts, &overrides) {
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
    anyhow::ensure!(failed == 0, "{failed} file(s) could not be read");
    Ok(())
}
