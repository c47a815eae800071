//! The `zhengce` command line: argument types (clap), and one function per
//! command that parses its arguments, calls [`zhengce::service::Service`]
//! (or the library, for the tools that need no data directory) and hands
//! the value to [`render`].

mod library;
mod panel;
pub mod render;
mod search;
mod serve;
mod tools;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use zhengce::index::Filter;
use zhengce::service::Service;

#[derive(Parser)]
#[command(
    name = "zhengce",
    version,
    about = "Search and summarise Chinese local-government policy reports"
)]
pub struct Cli {
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
    /// Ingest report files or directories into the library (progress bar).
    Ingest(library::IngestArgs),
    /// Correct stored metadata in bulk.
    #[command(subcommand)]
    Meta(library::MetaCommand),
    /// Serve the HTTP API. On an empty data directory the bundled corpus is
    /// ingested first (once); later starts only load the index.
    Serve(serve::ServeArgs),
    /// Search the library.
    Search(search::SearchArgs),
    /// Passages like a stored one (--id) or like pasted text, from other districts.
    Similar(search::SimilarArgs),
    /// Write passages with their metadata (stdout unless --out).
    Export(library::ExportArgs),
    /// Library figures: documents, passages, model, index sizes.
    Stats,
    /// Extractive, cited summary of a topic across districts (QUERY) or of
    /// one document (--doc).
    Summarize(search::SummarizeArgs),
    /// Stated numeric targets and results, district by indicator.
    Targets(search::TargetsArgs),
    /// Panels for research: place × year figures across the library.
    #[command(subcommand)]
    Panel(panel::PanelCommand),
    /// Run an evaluation query set and write results for score.py.
    Eval(library::EvalArgs),
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
        action: tools::ModelAction,
    },
    /// Measure speed and memory.
    Bench {
        #[command(subcommand)]
        what: tools::BenchWhat,
    },
    /// Show what ingestion makes of report files: encoding, metadata with
    /// confidence, cleaning report, passages with section paths.
    Inspect(tools::InspectArgs),
}

/// Options every command gets from the top level.
pub struct Globals {
    pub data_dir: PathBuf,
    pub model_dir: PathBuf,
    pub json: bool,
}

impl Globals {
    /// The library in the data directory, with its model.
    fn open(&self) -> anyhow::Result<Service> {
        Service::open(&self.data_dir, &self.model_dir)
            .with_context(|| format!("opening the library in {}", self.data_dir.display()))
    }
}

/// The metadata filter flags of search, similar, export, summarize, targets.
#[derive(Args, Default)]
pub struct FilterArgs {
    #[arg(long)]
    district: Option<String>,
    #[arg(long)]
    city: Option<String>,
    #[arg(long)]
    province: Option<String>,
    /// A year (2024) or a range (2022-2024, 2022-, -2023).
    #[arg(long)]
    year: Option<String>,
    #[arg(long)]
    doc_type: Option<String>,
}

impl FilterArgs {
    fn to_filter(&self) -> anyhow::Result<Filter> {
        let years = match self.year.as_deref() {
            None => Default::default(),
            Some(text) => zhengce::index::YearRange::parse(text)?,
        };
        Ok(Filter::from_values(
            self.district.as_deref(),
            self.city.as_deref(),
            self.province.as_deref(),
            years,
            self.doc_type.as_deref(),
        )?)
    }
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    let g = Globals {
        model_dir: cli
            .model
            .clone()
            .unwrap_or_else(zhengce::embed::default_model_dir),
        data_dir: cli.data_dir,
        json: cli.json,
    };
    match cli.command {
        Command::Ingest(args) => library::ingest(args, &g),
        Command::Meta(library::MetaCommand::Apply {
            corrections,
            dry_run,
        }) => library::meta_apply(&corrections, dry_run, &g),
        Command::Serve(args) => serve::serve(args, &g),
        Command::Search(args) => search::search(args, &g),
        Command::Similar(args) => search::similar(args, &g),
        Command::Export(args) => library::export(args, &g),
        Command::Stats => library::stats(&g),
        Command::Summarize(args) => search::summarize(args, &g),
        Command::Targets(args) => search::targets(args, &g),
        Command::Panel(panel::PanelCommand::Targets(args)) => panel::targets(args, &g),
        Command::Panel(panel::PanelCommand::Attention(args)) => panel::attention(args, &g),
        Command::Eval(args) => library::eval(args, &g),
        Command::Embed { query, texts, .. } => tools::embed(query, texts, &g),
        Command::Model {
            action: tools::ModelAction::Import { from, out },
        } => tools::model_import(&from, &out),
        Command::Model {
            action: tools::ModelAction::Info,
        } => tools::model_info(&g),
        Command::Bench { what } => tools::bench(what, &g),
        Command::Inspect(args) => tools::inspect(args, &g),
    }
}
