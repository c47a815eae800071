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
enum Command {}

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
    let _ = (&cli.data_dir, &cli.model, cli.json);
    match cli.command {}
}
