//! `zhengce panel targets|attention`: the research panels, as a table on
//! stdout, `--json`, or CSV / XLSX (to `--out` or stdout).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use zhengce::service::export::{PanelFile, PanelTable};
use zhengce::summarize::{self, targets::Measure};

use super::{render, Globals};

#[derive(Subcommand)]
pub enum PanelCommand {
    /// Target against achieved per place and year, beside the city's and the
    /// province's targets for the same year, every figure cited.
    Targets(TargetsArgs),
    /// Per report: a concept's terms per 10,000 characters and the share of
    /// passages that address the concept (relevance estimate ≥ 0.5).
    Attention(AttentionArgs),
}

#[derive(Args)]
pub struct TargetsArgs {
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
    #[command(flatten)]
    out: PanelOut,
}

#[derive(Args)]
pub struct AttentionArgs {
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
    #[command(flatten)]
    out: PanelOut,
}

/// Where a panel goes and in which form.
#[derive(Args)]
pub struct PanelOut {
    /// csv or xlsx (to --out, or stdout); a table or --json otherwise.
    #[arg(long)]
    format: Option<PanelFile>,
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn targets(args: TargetsArgs, g: &Globals) -> anyhow::Result<()> {
    let panel = g.open()?.target_panel(&summarize::PanelRequest {
        indicator: args.indicator,
        place: args.place,
        year_from: args.from,
        year_to: args.to,
        measure: if args.levels {
            Measure::Level
        } else {
            Measure::Growth
        },
    })?;
    args.out
        .write(&panel, panel.rows.len(), g.json, &render::target_panel)
}

pub fn attention(args: AttentionArgs, g: &Globals) -> anyhow::Result<()> {
    let panel = g.open()?.attention_panel(&summarize::AttentionRequest {
        concept: args.concept,
        terms: args.terms,
        place: args.place,
        year_from: args.from,
        year_to: args.to,
    })?;
    args.out
        .write(&panel, panel.rows.len(), g.json, &render::attention)
}

impl PanelOut {
    /// Writes `panel` (`rows` rows) as a file format ([`PanelTable`]) or as
    /// JSON / the human view, to `--out` (saying how many rows went there)
    /// or to stdout.
    fn write<T: serde::Serialize + PanelTable>(
        &self,
        panel: &T,
        rows: usize,
        json: bool,
        human: render::Human<'_, T>,
    ) -> anyhow::Result<()> {
        let to = |w: &mut dyn Write| -> anyhow::Result<()> {
            match self.format {
                Some(file) => Ok(panel.write(file, w)?),
                None => render::write(w, json, panel, human),
            }
        };
        match self.out.as_deref() {
            Some(path) => {
                to_file(path, to)?;
                eprintln!("{rows} rows written to {}", path.display());
            }
            None => {
                let mut out = render::stdout();
                to(&mut out)?;
                out.flush()?;
            }
        }
        Ok(())
    }
}

/// Creates `path` and writes it through a buffer, flushed.
fn to_file(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = std::io::BufWriter::new(f);
    write(&mut w)?;
    w.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
