//! The search-service commands of the `zhengce` binary: ingest, serve,
//! search, similar, export, stats, eval. Each parses its arguments, calls
//! the library and prints (human text, or JSON with `--json`).

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use zhengce::api::{self, ApiConfig};
use zhengce::index::{Filter, YearRange};
use zhengce::search::{self, Hit, Mode, SearchRequest, SimilarRequest};
use zhengce::service::{self, eval, export, export::ExportFormat, IngestEvent, Service};
use zhengce::summarize;

/// Options every command gets from the top level.
pub struct Globals {
    pub data_dir: PathBuf,
    pub model_dir: PathBuf,
    pub json: bool,
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

#[derive(Subcommand)]
pub enum ServiceCommand {
    /// Ingest report files or directories into the library (progress bar).
    Ingest {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Corrections CSV (`file,field,value`) applied to the files it names.
        #[arg(long)]
        meta: Option<PathBuf>,
    },
    /// Correct stored metadata in bulk.
    #[command(subcommand)]
    Meta(MetaCommand),
    /// Serve the HTTP API. On an empty data directory the bundled corpus is
    /// ingested first (once); later starts only load the index.
    Serve(ServeArgs),
    /// Search the library.
    Search {
        query: String,
        #[arg(long, default_value_t = 10)]
        k: usize,
        /// dense, lexical or hybrid.
        #[arg(long, default_value = "hybrid")]
        mode: Mode,
        /// `district`: best passages per district, districts by best score.
        #[arg(long)]
        group: Option<String>,
        #[arg(long, default_value_t = 3)]
        per_group: usize,
        /// Do not narrow the search to a place the question names
        /// (麒麟区…, Xixiangtang…); by default it is applied as a filter.
        #[arg(long)]
        no_infer_places: bool,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Passages like a stored one (--id) or like pasted text, from other districts.
    Similar {
        /// Text to match (instead of --id).
        text: Option<String>,
        /// Passage id to match.
        #[arg(long = "id")]
        passage_id: Option<String>,
        #[arg(long, default_value_t = 10)]
        k: usize,
        #[arg(long, default_value_t = 1)]
        per_district: usize,
        /// Passage id or text to steer away from (repeatable).
        #[arg(long)]
        negative: Vec<String>,
        /// Keep hits from the source's own district.
        #[arg(long)]
        include_same_district: bool,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Write passages with their metadata (stdout unless --out).
    Export {
        #[arg(long, default_value = "jsonl")]
        format: ExportFormat,
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Library figures: documents, passages, model, index sizes.
    Stats,
    /// Extractive, cited summary of a topic across districts (QUERY) or of
    /// one document (--doc).
    Summarize {
        query: Option<String>,
        /// Summarise this document instead of a topic.
        #[arg(long = "doc", conflicts_with = "query")]
        doc_id: Option<String>,
        /// Sentences per district (topic, default 3) or in all (document, default 12).
        #[arg(long)]
        max_sentences: Option<usize>,
        /// Districts at most (topic).
        #[arg(long)]
        max_districts: Option<usize>,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Stated numeric targets and results, district by indicator.
    Targets {
        /// One indicator, any spelling or script (地区生产总值, GDP…).
        #[arg(long)]
        indicator: Option<String>,
        #[command(flatten)]
        filter: FilterArgs,
    },
    /// Panels for research: place × year figures across the library.
    #[command(subcommand)]
    Panel(PanelCommand),
    /// Run an evaluation query set and write results for score.py.
    Eval {
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
    },
}

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

#[derive(Subcommand)]
pub enum PanelCommand {
    /// Target against achieved per place and year, beside the city's and the
    /// province's targets for the same year, every figure cited.
    Targets {
        /// Indicator, any spelling or script (default 地区生产总值).
        #[arg(long)]
        indicator: Option<String>,
        /// A place: its rows and those of the places within it.
        #[arg(long)]
        place: Option<String>,
        #[arg(long)]
        from: Option<i32>,
        #[arg(long)]
        to: Option<i32>,
        /// Levels (亿元, 万人) instead of growth rates.
        #[arg(long)]
        levels: bool,
        /// csv or xlsx (to --out, or stdout); a table or --json otherwise.
        #[arg(long)]
        format: Option<export::PanelFile>,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Per report: a concept's terms per 10,000 characters and the share of
    /// passages that address the concept (relevance estimate ≥ 0.5).
    Attention {
        /// The concept, as a question would name it.
        #[arg(long)]
        concept: String,
        /// Terms to count, comma-separated (default: the concept).
        #[arg(long, value_delimiter = ',')]
        terms: Vec<String>,
        /// A place: its reports and those of the places within it.
        #[arg(long)]
        place: Option<String>,
        #[arg(long)]
        from: Option<i32>,
        #[arg(long)]
        to: Option<i32>,
        /// csv or xlsx (to --out, or stdout); a table or --json otherwise.
        #[arg(long)]
        format: Option<export::PanelFile>,
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

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
            None => YearRange::default(),
            Some(text) => YearRange::parse(text)?,
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

fn open(g: &Globals) -> anyhow::Result<Service> {
    Service::open(&g.data_dir, &g.model_dir)
        .with_context(|| format!("opening the library in {}", g.data_dir.display()))
}

fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

pub fn run(cmd: ServiceCommand, g: &Globals) -> anyhow::Result<()> {
    match cmd {
        ServiceCommand::Meta(MetaCommand::Apply {
            corrections,
            dry_run,
        }) => {
            let rows = zhengce::service::corrections::read_corrections(&corrections)?;
            let service = open(g)?;
            let changes = service.apply_corrections(&rows, dry_run)?;
            if g.json {
                return print_json(&changes);
            }
            print_changes(&changes);
            let verb = if dry_run { "would change" } else { "changed" };
            println!("{verb} {} field(s)", changes.len());
            Ok(())
        }
        ServiceCommand::Ingest { paths, meta } => {
            let corrections = match meta {
                Some(p) => zhengce::service::corrections::read_corrections(&p)?,
                None => Vec::new(),
            };
            let service = open(g)?;
            let report = ingest_with_progress(&service, &paths, &corrections)?;
            if g.json {
                print_json(&report)?;
            } else if !report.corrected.is_empty() {
                println!("corrected already stored documents:");
                print_changes(&report.corrected);
            }
            if !report.failed.is_empty() {
                anyhow::bail!(
                    "{} file(s) could not be ingested (nothing of them was stored)",
                    report.failed.len()
                );
            }
            Ok(())
        }
        ServiceCommand::Serve(args) => serve(args, g),
        ServiceCommand::Search {
            query,
            k,
            mode,
            group,
            per_group,
            no_infer_places,
            filter,
        } => {
            let group_by_district = search::group_by_district(group.as_deref())?;
            let req = SearchRequest {
                query,
                k,
                mode,
                filter: filter.to_filter()?,
                group_by_district,
                per_group,
                infer_places: !no_infer_places,
                ..SearchRequest::default()
            };
            let service = open(g)?;
            let answered = service.search(&req)?;
            if g.json {
                return print_json(&answered);
            }
            if let Some(a) = &answered.answer {
                print_answer(a);
            }
            let resp = answered.response;
            if let Some(p) = &resp.place {
                println!(
                    "(narrowed to {} — named as “{}”; --no-infer-places to search everywhere)",
                    p.name, p.matched
                );
            }
            match &resp.groups {
                Some(groups) => {
                    for grp in groups {
                        let note = if grp.relevant {
                            ""
                        } else {
                            "  (does not address the question: nearest passages only)"
                        };
                        println!("== {}{note}", grp.district);
                        print_hits(&grp.hits);
                    }
                }
                None => print_hits(&resp.hits),
            }
            Ok(())
        }
        ServiceCommand::Similar {
            text,
            passage_id,
            k,
            per_district,
            negative,
            include_same_district,
            filter,
        } => {
            let req = SimilarRequest {
                passage_id,
                text,
                k,
                per_district,
                negative,
                include_same_district,
                filter: filter.to_filter()?,
            };
            let service = open(g)?;
            let resp = service.similar(&req)?;
            if g.json {
                return print_json(&resp);
            }
            if let (Some(src), None) = (&resp.source, &req.passage_id) {
                println!(
                    "(the text is from passage {} of {}; that report and its district are left out)",
                    src.passage_id,
                    src.district.as_deref().unwrap_or("an unknown district")
                );
            }
            print_hits(&resp.hits);
            Ok(())
        }
        ServiceCommand::Summarize {
            query,
            doc_id,
            max_sentences,
            max_districts,
            filter,
        } => {
            let req = summarize::SummarizeRequest {
                query,
                doc_id,
                filters: filter.to_filter()?,
                max_sentences,
                max_districts,
            };
            let service = open(g)?;
            let summary = service.summarize(&req)?;
            if g.json {
                return print_json(&summary);
            }
            print_summary(&summary);
            Ok(())
        }
        ServiceCommand::Panel(PanelCommand::Targets {
            indicator,
            place,
            from,
            to,
            levels,
            format,
            out,
        }) => {
            let service = open(g)?;
            let panel = service.target_panel(&summarize::PanelRequest {
                indicator,
                place,
                year_from: from,
                year_to: to,
                measure: if levels {
                    summarize::targets::Measure::Level
                } else {
                    summarize::targets::Measure::Growth
                },
            })?;
            let view = PanelView { human: print_panel };
            view.write(&panel, panel.rows.len(), format, g.json, out.as_deref())
        }
        ServiceCommand::Panel(PanelCommand::Attention {
            concept,
            terms,
            place,
            from,
            to,
            format,
            out,
        }) => {
            let service = open(g)?;
            let panel = service.attention_panel(&summarize::AttentionRequest {
                concept,
                terms,
                place,
                year_from: from,
                year_to: to,
            })?;
            let view = PanelView {
                human: print_attention,
            };
            view.write(&panel, panel.rows.len(), format, g.json, out.as_deref())
        }
        ServiceCommand::Targets { indicator, filter } => {
            let filter = filter.to_filter()?;
            let service = open(g)?;
            let table = service.targets(indicator.as_deref(), &filter)?;
            if g.json {
                return print_json(&table);
            }
            print_targets(&table);
            Ok(())
        }
        ServiceCommand::Export {
            format,
            out,
            filter,
        } => {
            let filter = filter.to_filter()?;
            let service = open(g)?;
            let n = match &out {
                Some(path) => {
                    let f = std::fs::File::create(path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    service.export(&filter, format, &mut std::io::BufWriter::new(f))?
                }
                None => service.export(&filter, format, &mut std::io::stdout().lock())?,
            };
            if let Some(path) = out {
                if g.json {
                    print_json(&serde_json::json!({"passages": n, "out": path}))?;
                } else {
                    eprintln!("exported {n} passages to {}", path.display());
                }
            }
            Ok(())
        }
        ServiceCommand::Stats => {
            let service = open(g)?;
            let stats = service.stats()?;
            if g.json {
                return print_json(&stats);
            }
            println!("data dir        {}", stats.data_dir.display());
            println!("model           {} ({}-d)", stats.model_id, stats.dim);
            println!("schema version  {}", stats.schema_version);
            println!("documents       {}", stats.documents);
            println!("passages        {}", stats.passages);
            println!("districts       {}", stats.districts);
            println!(
                "dense points    {} ({} deleted, awaiting rebuild)",
                stats.dense_points, stats.dense_tombstones
            );
            println!("store bytes     {}", stats.store_bytes);
            println!("dense bytes     {}", stats.dense_bytes);
            Ok(())
        }
        ServiceCommand::Eval {
            queries,
            mode,
            out,
            k,
            per_district,
            relevance_features,
        } => {
            let service = open(g)?;
            let opts = eval::EvalOptions {
                mode,
                k,
                per_district,
            };
            let f = std::fs::File::create(&out)
                .with_context(|| format!("creating {}", out.display()))?;
            let mut w = std::io::BufWriter::new(f);
            let started = Instant::now();
            let n = if relevance_features {
                eval::relevance_features(&service, &queries, &mut w)?
            } else {
                eval::run(&service, &queries, &opts, &mut w)?
            };
            w.flush()?;
            let secs = started.elapsed().as_secs_f64();
            if g.json {
                print_json(&serde_json::json!({"queries": n, "out": out, "seconds": secs}))?;
            } else {
                eprintln!(
                    "ran {n} queries ({mode:?}) in {secs:.1} s; results in {}",
                    out.display()
                );
            }
            Ok(())
        }
    }
}

/// The answer card of a figure question: the figure and the sentence that
/// states it, cited.
fn print_answer(a: &zhengce::summarize::Answer) {
    let figure = match a.upper {
        Some(u) => format!("{}–{}{}", a.figure, u, a.unit),
        None => format!("{}{}", a.figure, a.unit),
    };
    let kind = match a.kind {
        zhengce::summarize::TargetKind::Target => "目标 target",
        zhengce::summarize::TargetKind::Achieved => "实绩 achieved",
    };
    let year = a.year.map(|y| format!("{y}年 ")).unwrap_or_default();
    println!(
        "答 {} {}{}: {}{} ({kind})",
        a.place,
        year,
        a.indicator,
        figure,
        a.qualifier.as_deref().unwrap_or("")
    );
    println!("   “{}” [{}]", a.sentence, a.passage_id);
    println!();
}

fn print_hits(hits: &[Hit]) {
    for (i, h) in hits.iter().enumerate() {
        let place = [
            h.district.as_deref(),
            h.city.as_deref(),
            h.province.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
        let year = h.year.map(|y| y.to_string()).unwrap_or_default();
        let relevance = match h.relevance {
            Some(r) if r >= search::RELEVANT => format!(" relevant {:.0}%", r * 100.0),
            Some(r) => format!(" maybe unrelated {:.0}%", r * 100.0),
            None => String::new(),
        };
        println!(
            "{:>2}. [{:.4}{relevance}] {} {} ({}) {}",
            i + 1,
            h.score,
            place,
            year,
            h.retrievers.join("+"),
            h.passage_id
        );
        if !h.section_path.is_empty() {
            println!("    § {}", h.section_path.join(" > "));
        }
        println!("    {}", h.text.replace('\n', " "));
    }
}

/// Ingests with a progress bar over passages on stderr (drawn only on a
/// terminal) and a line per failed file.
fn ingest_with_progress(
    service: &Service,
    paths: &[PathBuf],
    corrections: &[service::corrections::Correction],
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

/// One line per changed field: doc, file, field, old -> new ('-' empty).
fn print_changes(changes: &[service::corrections::FieldChange]) {
    for c in changes {
        println!(
            "{} {}: {} {} -> {}",
            c.doc_id,
            c.file,
            c.field,
            c.old.as_deref().unwrap_or("-"),
            c.new.as_deref().unwrap_or("-")
        );
    }
}

fn short_name(file: &str) -> String {
    Path::new(file)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.to_string())
}

fn serve(args: ServeArgs, g: &Globals) -> anyhow::Result<()> {
    init_logging();
    // Before the first ingestion, so /metrics counts its embedding batches.
    api::vitals::prometheus();
    let started = Instant::now();
    let service = open(g)?;
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

fn cite(s: &summarize::SummarySentence) -> String {
    let section = s.section_path.last().map(String::as_str).unwrap_or("");
    format!("[{} · {}]", s.passage_id, section)
}

fn print_summary(summary: &summarize::Summary) {
    match summary {
        summarize::Summary::Topic(t) => {
            println!("Topic: {}", t.query);
            if t.districts.is_empty() {
                println!("\nNo report in scope speaks about this topic.");
            }
            for d in &t.districts {
                println!("\n== {}", d.district);
                for s in &d.sentences {
                    println!("  · {}  {}", s.text, cite(s));
                }
            }
            if !t.not_mentioned.is_empty() {
                println!("\n== Not mentioned (searched, nothing relevant)");
                println!("  {}", t.not_mentioned.join("、"));
            }
            if !t.in_common.is_empty() {
                println!("\n== In common");
                for c in &t.in_common {
                    println!("  {}:", c.districts.join("、"));
                    for s in &c.sentences {
                        println!("    · {}  {}", s.text, cite(s));
                    }
                }
            }
        }
        summarize::Summary::Document(d) => {
            println!(
                "Document {} ({})",
                d.doc_id,
                d.district.as_deref().unwrap_or("district unknown")
            );
            for sec in &d.sections {
                println!("\n== {}", sec.heading.as_deref().unwrap_or("(opening)"));
                for s in &sec.sentences {
                    println!("  · {}  {}", s.text, cite(s));
                }
            }
        }
    }
}

/// How a panel renders: CSV or XLSX ([`export::PanelTable`]), JSON
/// (serde's), or the human view.
struct PanelView<T> {
    human: fn(&T, &mut dyn Write) -> anyhow::Result<()>,
}

impl<T: serde::Serialize + export::PanelTable> PanelView<T> {
    /// Writes `panel` to `out` (saying how many rows went there) or to stdout.
    fn write(
        &self,
        panel: &T,
        rows: usize,
        format: Option<export::PanelFile>,
        json: bool,
        out: Option<&Path>,
    ) -> anyhow::Result<()> {
        let render = |w: &mut dyn Write| -> anyhow::Result<()> {
            match format {
                Some(file) => panel.write(file, w)?,
                None if json => {
                    serde_json::to_writer_pretty(&mut *w, panel)?;
                    writeln!(w)?;
                }
                None => (self.human)(panel, w)?,
            }
            Ok(())
        };
        match out {
            Some(path) => {
                let f = std::fs::File::create(path)
                    .with_context(|| format!("creating {}", path.display()))?;
                let mut w = std::io::BufWriter::new(f);
                render(&mut w)?;
                w.flush()
                    .with_context(|| format!("writing {}", path.display()))?;
                eprintln!("{rows} rows written to {}", path.display());
            }
            None => render(&mut std::io::stdout().lock())?,
        }
        Ok(())
    }
}

fn print_attention(panel: &summarize::AttentionPanel, w: &mut dyn Write) -> anyhow::Result<()> {
    if panel.rows.is_empty() {
        writeln!(w, "no reports in scope")?;
        return Ok(());
    }
    writeln!(
        w,
        "{} — terms {} (per 10k characters; share of passages addressing it)",
        panel.concept,
        panel.terms.join(", ")
    )?;
    for r in &panel.rows {
        writeln!(
            w,
            "  {} {} {}: {} per 10k, {}/{} passages ({:.1}%)",
            r.place.as_deref().unwrap_or("?"),
            r.year.map_or("?".to_string(), |y| y.to_string()),
            r.doc_type.as_deref().unwrap_or(""),
            r.terms_per_10k
                .map_or("-".to_string(), |f| format!("{f:.2}")),
            r.relevant_passages,
            r.passages,
            r.relevant_share * 100.0
        )?;
    }
    Ok(())
}

fn print_panel(panel: &summarize::TargetPanel, w: &mut dyn Write) -> anyhow::Result<()> {
    if panel.rows.is_empty() {
        writeln!(w, "no stated {} figures found", panel.indicator)?;
        return Ok(());
    }
    let fig = |f: &Option<summarize::panel::Figure>| {
        f.as_ref().map_or("—".to_string(), |f| {
            format!(
                "{}{}{}",
                f.value,
                f.unit,
                f.qualifier.as_deref().unwrap_or("")
            )
        })
    };
    writeln!(
        w,
        "{} (target / achieved / city / province)",
        panel.indicator
    )?;
    let mut last = "";
    for r in &panel.rows {
        if r.place != last {
            let also = if r.other_names.is_empty() {
                String::new()
            } else {
                format!(" (also {})", r.other_names.join(", "))
            };
            writeln!(w, "\n{}{also}", r.place)?;
            last = &r.place;
        }
        let met = match r.met {
            Some(true) => " met",
            Some(false) => " missed",
            None => "",
        };
        writeln!(
            w,
            "  {}: {} / {}{met} / {} / {}",
            r.year,
            fig(&r.target),
            fig(&r.achieved),
            fig(&r.city_target),
            fig(&r.province_target)
        )?;
    }
    Ok(())
}

fn print_targets(table: &summarize::TargetsTable) {
    if table.rows.is_empty() {
        println!("no numeric targets or results found");
        return;
    }
    for indicator in &table.indicators {
        println!("\n== {indicator}");
        for r in table.rows.iter().filter(|r| &r.indicator == indicator) {
            let kind = match r.kind {
                summarize::TargetKind::Target => "target",
                summarize::TargetKind::Achieved => "result",
            };
            let year = r.year.map(|y| y.to_string()).unwrap_or_else(|| "?".into());
            println!(
                "  {:<8} {} {}  {}{}{}  [{}]",
                r.district.as_deref().unwrap_or("?"),
                kind,
                year,
                r.value,
                r.unit,
                r.qualifier.as_deref().unwrap_or(""),
                r.passage_id
            );
        }
    }
}
