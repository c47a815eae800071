//! The query commands: search, similar, summarize, targets.

use clap::Args;
use zhengce::search::{self, Mode, SearchRequest, SimilarRequest};
use zhengce::summarize::SummarizeRequest;

use super::{render, FilterArgs, Globals};

#[derive(Args)]
pub struct SearchArgs {
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
}

pub fn search(args: SearchArgs, g: &Globals) -> anyhow::Result<()> {
    let group_by_district = search::group_by_district(args.group.as_deref())?;
    let req = SearchRequest {
        query: args.query,
        k: args.k,
        mode: args.mode,
        filter: args.filter.to_filter()?,
        group_by_district,
        per_group: args.per_group,
        infer_places: !args.no_infer_places,
        ..SearchRequest::default()
    };
    let answered = g.open()?.search(&req)?;
    render::emit(g.json, &answered, &render::search)
}

#[derive(Args)]
pub struct SimilarArgs {
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
}

pub fn similar(args: SimilarArgs, g: &Globals) -> anyhow::Result<()> {
    let by_id = args.passage_id.is_some();
    let req = SimilarRequest {
        passage_id: args.passage_id,
        text: args.text,
        k: args.k,
        per_district: args.per_district,
        negative: args.negative,
        include_same_district: args.include_same_district,
        filter: args.filter.to_filter()?,
    };
    let resp = g.open()?.similar(&req)?;
    render::emit(g.json, &resp, &|r, w| render::similar(r, by_id, w))
}

#[derive(Args)]
pub struct SummarizeArgs {
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
}

pub fn summarize(args: SummarizeArgs, g: &Globals) -> anyhow::Result<()> {
    let req = SummarizeRequest {
        query: args.query,
        doc_id: args.doc_id,
        filters: args.filter.to_filter()?,
        max_sentences: args.max_sentences,
        max_districts: args.max_districts,
    };
    let summary = g.open()?.summarize(&req)?;
    render::emit(g.json, &summary, &render::summary)
}

#[derive(Args)]
pub struct TargetsArgs {
    /// One indicator, any spelling or script (地区生产总值, GDP…).
    #[arg(long)]
    indicator: Option<String>,
    #[command(flatten)]
    filter: FilterArgs,
}

pub fn targets(args: TargetsArgs, g: &Globals) -> anyhow::Result<()> {
    let filter = args.filter.to_filter()?;
    let table = g.open()?.targets(args.indicator.as_deref(), &filter)?;
    render::emit(g.json, &table, &render::targets)
}
