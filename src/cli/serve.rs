//! `zhengce serve`: the HTTP API over the library, bootstrapping an empty
//! data directory with the bundled corpus.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use zhengce::api::{self, ApiConfig};
use zhengce::service;

use super::library::ingest_with_progress;
use super::Globals;

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on (loopback unless told otherwise).
    #[arg(long, default_value_t = SocketAddr::from(([127, 0, 0, 1], api::DEFAULT_PORT)))]
    addr: SocketAddr,
    /// Bearer token required by the write endpoints. A flag shows in `ps`:
    /// prefer ZHENGCE_TOKEN or --token-file.
    #[arg(long, env = "ZHENGCE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// File holding the bearer token (its first line), kept out of `ps`.
    #[arg(
        long,
        value_name = "FILE",
        env = "ZHENGCE_TOKEN_FILE",
        conflicts_with = "token"
    )]
    token_file: Option<PathBuf>,
    /// Another host name the server answers to (repeatable; NAME or
    /// NAME:PORT), e.g. the name a reverse proxy forwards with. Loopback
    /// names and the bound address are always answered to.
    #[arg(
        long = "allow-host",
        value_name = "NAME",
        env = "ZHENGCE_ALLOW_HOSTS",
        value_delimiter = ','
    )]
    allow_hosts: Vec<String>,
    /// Report files or folders ingested when the library is empty
    /// (repeatable; default: the bundled data/corpus).
    #[arg(long)]
    corpus: Vec<PathBuf>,
    /// Start with an empty library instead of ingesting the corpus.
    #[arg(long)]
    no_bootstrap: bool,
    /// Largest request body in bytes (uploads included).
    #[arg(long, default_value_t = api::Limits::default().max_body_bytes)]
    max_body_bytes: usize,
    /// Most characters of text one request may have encoded (find-similar:
    /// text plus negatives); more gets 413.
    #[arg(long, default_value_t = service::Admission::default().max_request_chars)]
    max_request_chars: usize,
    /// Most characters of pasted text the requests in flight may have
    /// reserved together; a request that would go over gets 503.
    #[arg(long, default_value_t = service::Admission::default().max_inflight_chars)]
    max_inflight_chars: usize,
    /// Deadline for one request's model work, waiting included, in
    /// milliseconds; past it the request gets 503.
    #[arg(long, default_value_t = service::Admission::default().deadline.as_millis() as u64)]
    model_deadline_ms: u64,
    /// Most questions waiting for the model; more get 503.
    #[arg(long, default_value_t = service::Admission::default().max_waiting_short)]
    max_waiting_questions: usize,
}

pub fn serve(args: ServeArgs, g: &Globals) -> anyhow::Result<()> {
    init_logging();
    // Before the first ingestion, so /metrics counts its embedding batches.
    api::vitals::prometheus();
    let started = Instant::now();
    let service = g.open()?;
    service.encoder().set_admission(service::Admission {
        max_request_chars: args.max_request_chars,
        max_inflight_chars: args.max_inflight_chars,
        deadline: std::time::Duration::from_millis(args.model_deadline_ms),
        max_waiting_short: args.max_waiting_questions,
    });
    if !args.no_bootstrap && service.stats()?.documents == 0 {
        let corpus = if args.corpus.is_empty() {
            vec![service::bundled_corpus_dir()]
        } else {
            args.corpus.clone()
        };
        let names: Vec<String> = corpus.iter().map(|p| p.display().to_string()).collect();
        eprintln!(
            "empty library in {}: ingesting {} (once)",
            g.data_dir.display(),
            names.join(", ")
        );
        let report = ingest_with_progress(&service, &corpus, &[])?;
        for f in &report.failed {
            tracing::warn!("not ingested: {}", f.problem);
        }
    }
    let stats = service.stats()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let token = match &args.token_file {
        Some(path) => Some(read_token_file(path)?),
        None => args.token.filter(|t| !t.is_empty()),
    };
    let config = ApiConfig {
        token,
        limits: api::Limits {
            max_body_bytes: args.max_body_bytes,
        },
        // An empty entry (ZHENGCE_ALLOW_HOSTS= or a trailing comma) names nothing.
        allow_hosts: args
            .allow_hosts
            .iter()
            .filter(|h| !h.trim().is_empty())
            .map(|h| h.parse())
            .collect::<Result<_, _>>()?,
    };
    let auth = if config.token.is_some() {
        "writes need the bearer token"
    } else {
        "no token: writes are open"
    };
    let state = api::AppState::new(Arc::new(service), config);
    runtime.block_on(async move {
        let listener = api::bind(args.addr).await?;
        let addr = listener.local_addr()?;
        eprintln!(
            "serving {} documents, {} passages on http://{addr} ({auth}); ready in {:.2} s",
            stats.documents,
            stats.passages,
            started.elapsed().as_secs_f64()
        );
        api::serve(listener, state).await
    })?;
    eprintln!("stopped");
    Ok(())
}

/// The token in `path`: its first line, surrounding whitespace removed.
fn read_token_file(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the token file {}", path.display()))?;
    let token = text.lines().next().unwrap_or("").trim();
    anyhow::ensure!(
        !token.is_empty(),
        "the token file {} is empty",
        path.display()
    );
    Ok(token.to_string())
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("zhengce=info,tower_http=warn"));
    // A log line that cannot be written (stderr closed by whoever started
    // us) is dropped: with internal-error reporting on, the subscriber's own
    // `eprintln!` would panic inside the request being logged.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .log_internal_errors(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
