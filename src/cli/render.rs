//! How commands print. Each command produces a value; with `--json` it is
//! printed as pretty JSON, otherwise as its human view (a function here).
//! Everything goes to stdout through [`stdout`], which notes a closed pipe
//! so that `main` can end quietly when the reader went away (`| head`).

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use zhengce::index::Stats;
use zhengce::search::{self, Hit, SimilarResponse};
use zhengce::service::{corrections::FieldChange, AnsweredSearch};
use zhengce::summarize::{self, Answer, AttentionPanel, Summary, TargetPanel, TargetsTable};

/// A human view: writes a value for reading.
pub type Human<'a, T> = &'a dyn Fn(&T, &mut dyn Write) -> io::Result<()>;

/// Writes `value` to `w`: pretty JSON and a line break, or its human view.
pub fn write<T: Serialize + ?Sized>(
    w: &mut dyn Write,
    json: bool,
    value: &T,
    human: Human<'_, T>,
) -> anyhow::Result<()> {
    if json {
        serde_json::to_writer_pretty(&mut *w, value)?;
        writeln!(w)?;
    } else {
        human(value, w)?;
    }
    Ok(())
}

/// Prints `value` on stdout (see [`write`]).
pub fn emit<T: Serialize + ?Sized>(
    json: bool,
    value: &T,
    human: Human<'_, T>,
) -> anyhow::Result<()> {
    let mut out = stdout();
    write(&mut out, json, value, human)?;
    out.flush()?;
    Ok(())
}

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Whether a write to stdout found the pipe closed.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::SeqCst)
}

/// The process's stdout, noting a closed pipe ([`stdout_closed`]) however
/// the writer's caller reports the error (library writers turn it into
/// their own error types).
pub fn stdout() -> Stdout {
    Stdout(io::stdout().lock())
}

pub struct Stdout(io::StdoutLock<'static>);

impl Stdout {
    fn noted<T>(r: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &r {
            if e.kind() == io::ErrorKind::BrokenPipe {
                STDOUT_CLOSED.store(true, Ordering::SeqCst);
            }
        }
        r
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Self::noted(self.0.write(buf))
    }
    fn flush(&mut self) -> io::Result<()> {
        Self::noted(self.0.flush())
    }
}

/// The answer card of a figure question: the figure and the sentence that
/// states it, cited.
fn answer(a: &Answer, w: &mut dyn Write) -> io::Result<()> {
    let figure = match a.upper {
        Some(u) => format!("{}–{}{}", a.figure, u, a.unit),
        None => format!("{}{}", a.figure, a.unit),
    };
    let kind = match a.kind {
        summarize::TargetKind::Target => "目标 target",
        summarize::TargetKind::Achieved => "实绩 achieved",
    };
    let year = a.year.map(|y| format!("{y}年 ")).unwrap_or_default();
    writeln!(
        w,
        "答 {} {}{}: {}{} ({kind})",
        a.place,
        year,
        a.indicator,
        figure,
        a.qualifier.as_deref().unwrap_or("")
    )?;
    writeln!(w, "   “{}” [{}]", a.sentence, a.passage_id)?;
    writeln!(w)
}

fn hits(hits: &[Hit], w: &mut dyn Write) -> io::Result<()> {
    for (i, h) in hits.iter().enumerate() {
        let place = [
            h.place.district.as_deref(),
            h.place.city.as_deref(),
            h.place.province.as_deref(),
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
        writeln!(
            w,
            "{:>2}. [{:.4}{relevance}] {} {} ({}) {}",
            i + 1,
            h.score,
            place,
            year,
            h.retrievers.join("+"),
            h.passage_id
        )?;
        if !h.section_path.is_empty() {
            writeln!(w, "    § {}", h.section_path.join(" > "))?;
        }
        writeln!(w, "    {}", h.text.replace('\n', " "))?;
    }
    Ok(())
}

/// A search: the answer card, the place it was narrowed to, then the hits
/// (per district when grouped).
pub fn search(answered: &AnsweredSearch, w: &mut dyn Write) -> io::Result<()> {
    if let Some(a) = &answered.answer {
        answer(a, w)?;
    }
    let resp = &answered.response;
    if let Some(p) = &resp.place {
        writeln!(
            w,
            "(narrowed to {} — named as “{}”; --no-infer-places to search everywhere)",
            p.name, p.matched
        )?;
    }
    match &resp.groups {
        Some(groups) => {
            for grp in groups {
                let note = if grp.relevant {
                    ""
                } else {
                    "  (does not address the question: nearest passages only)"
                };
                writeln!(w, "== {}{note}", grp.district)?;
                hits(&grp.hits, w)?;
            }
        }
        None => hits(&resp.hits, w)?,
    }
    Ok(())
}

/// Find-similar; `by_id`: the source was a stored passage, not pasted text.
pub fn similar(resp: &SimilarResponse, by_id: bool, w: &mut dyn Write) -> io::Result<()> {
    if let (Some(src), false) = (&resp.source, by_id) {
        writeln!(
            w,
            "(the text is from passage {} of {}; that report and its district are left out)",
            src.passage_id,
            src.district.as_deref().unwrap_or("an unknown district")
        )?;
    }
    hits(&resp.hits, w)
}

/// One line per changed field: doc, file, field, old -> new ('-' empty).
pub fn changes(changes: &[FieldChange], w: &mut dyn Write) -> io::Result<()> {
    for c in changes {
        writeln!(
            w,
            "{} {}: {} {} -> {}",
            c.doc_id,
            c.file,
            c.field,
            c.old.as_deref().unwrap_or("-"),
            c.new.as_deref().unwrap_or("-")
        )?;
    }
    Ok(())
}

pub fn stats(stats: &Stats, w: &mut dyn Write) -> io::Result<()> {
    writeln!(w, "data dir        {}", stats.data_dir.display())?;
    writeln!(w, "model           {} ({}-d)", stats.model_id, stats.dim)?;
    writeln!(w, "schema version  {}", stats.schema_version)?;
    writeln!(w, "documents       {}", stats.documents)?;
    writeln!(w, "passages        {}", stats.passages)?;
    writeln!(w, "districts       {}", stats.districts)?;
    writeln!(
        w,
        "dense points    {} ({} deleted, awaiting rebuild)",
        stats.dense_points, stats.dense_tombstones
    )?;
    writeln!(w, "store bytes     {}", stats.store_bytes)?;
    writeln!(w, "dense bytes     {}", stats.dense_bytes)
}

fn cite(s: &summarize::SummarySentence) -> String {
    let section = s.section_path.last().map(String::as_str).unwrap_or("");
    format!("[{} · {}]", s.passage_id, section)
}

pub fn summary(summary: &Summary, w: &mut dyn Write) -> io::Result<()> {
    match summary {
        Summary::Topic(t) => {
            writeln!(w, "Topic: {}", t.query)?;
            if t.districts.is_empty() {
                writeln!(w, "\nNo report in scope speaks about this topic.")?;
            }
            for d in &t.districts {
                writeln!(w, "\n== {}", d.district)?;
                for s in &d.sentences {
                    writeln!(w, "  · {}  {}", s.text, cite(s))?;
                }
            }
            if !t.not_mentioned.is_empty() {
                writeln!(w, "\n== Not mentioned (searched, nothing relevant)")?;
                writeln!(w, "  {}", t.not_mentioned.join("、"))?;
            }
            if !t.in_common.is_empty() {
                writeln!(w, "\n== In common")?;
                for c in &t.in_common {
                    writeln!(w, "  {}:", c.districts.join("、"))?;
                    for s in &c.sentences {
                        writeln!(w, "    · {}  {}", s.text, cite(s))?;
                    }
                }
            }
        }
        Summary::Document(d) => {
            writeln!(
                w,
                "Document {} ({})",
                d.doc_id,
                d.district.as_deref().unwrap_or("district unknown")
            )?;
            for sec in &d.sections {
                writeln!(w, "\n== {}", sec.heading.as_deref().unwrap_or("(opening)"))?;
                for s in &sec.sentences {
                    writeln!(w, "  · {}  {}", s.text, cite(s))?;
                }
            }
        }
    }
    Ok(())
}

pub fn targets(table: &TargetsTable, w: &mut dyn Write) -> io::Result<()> {
    if table.rows.is_empty() {
        return writeln!(w, "no numeric targets or results found");
    }
    for indicator in &table.indicators {
        writeln!(w, "\n== {indicator}")?;
        for r in table.rows.iter().filter(|r| &r.indicator == indicator) {
            let kind = match r.kind {
                summarize::TargetKind::Target => "target",
                summarize::TargetKind::Achieved => "result",
            };
            let year = r.year.map(|y| y.to_string()).unwrap_or_else(|| "?".into());
            writeln!(
                w,
                "  {:<8} {} {}  {}{}{}  [{}]",
                r.district.as_deref().unwrap_or("?"),
                kind,
                year,
                r.value,
                r.unit,
                r.qualifier.as_deref().unwrap_or(""),
                r.passage_id
            )?;
        }
    }
    Ok(())
}

pub fn attention(panel: &AttentionPanel, w: &mut dyn Write) -> io::Result<()> {
    if panel.rows.is_empty() {
        return writeln!(w, "no reports in scope");
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

pub fn target_panel(panel: &TargetPanel, w: &mut dyn Write) -> io::Result<()> {
    if panel.rows.is_empty() {
        return writeln!(w, "no stated {} figures found", panel.indicator);
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
