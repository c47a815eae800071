//! Structure: headings, section paths and glossary entries.
//!
//! Headings are recognised by their numbering (`一、`, `(一)`/`（一）`, `1.`,
//! `(1)`, `①`, lettered sections `A `, chapters `第一章`), by Markdown/HTML
//! heading levels, and as article titles followed by a `——` subtitle. A
//! heading fused with its body on one line (`(一)总体要求。2025年是…`) is
//! split at its first sentence end. Nesting follows the order in which the
//! numbering kinds appear, so any house style nests correctly.

use std::sync::LazyLock;

use regex::Regex;

use super::clean::{BodyLine, CleanDoc};
use super::markers::{heading_marker, Marker};
use super::text::{char_len, is_terminal, trim_heading_end, Shape};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Article,
    Md(u8),
    Mark(Marker),
    Glossary,
}

/// A paragraph (or glossary entry) with the headings it sits under.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub path: Vec<String>,
    pub term: Option<String>,
    pub text: String,
}

/// Splits a numbered line into heading and body, or `None` when it is a
/// numbered paragraph rather than a heading.
fn split_heading(line: &str, marker: Marker) -> Option<(String, String)> {
    let limit = if marker == Marker::Column { 20 } else { 50 };
    match line.char_indices().find(|&(_, c)| is_terminal(c)) {
        None => (char_len(line) <= 60.max(limit)).then(|| (trim_heading_end(line), String::new())),
        Some((i, c)) => {
            let head = &line[..i];
            (char_len(head) <= limit).then(|| {
                (
                    trim_heading_end(head),
                    line[i + c.len_utf8()..].trim().to_string(),
                )
            })
        }
    }
}

static TERM_DEF: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([^。，,；;：:！？]{1,32}?)[：:](.{6,})$").expect("valid regex")
});

/// A glossary: a short heading line followed by at least two `term：definition`
/// lines; returns the index of the heading line.
fn glossary_start(lines: &[BodyLine]) -> Option<usize> {
    (0..lines.len().saturating_sub(2)).rev().find(|&i| {
        let l = &lines[i].text;
        let s = Shape::of(l);
        s.chars <= 10
            && s.sentence_punct == 0
            && heading_marker(l).is_none()
            && !l.ends_with(['：', ':'])
            && TERM_DEF.is_match(&lines[i + 1].text)
            && TERM_DEF.is_match(&lines[i + 2].text)
    })
}

fn push(stack: &mut Vec<(Kind, String)>, kind: Kind, text: String) {
    match kind {
        Kind::Article => stack.clear(),
        // A glossary explains the whole report (or article), not the last section.
        Kind::Glossary => stack.retain(|(k, _)| *k == Kind::Article),
        Kind::Md(n) => {
            if let Some(p) = stack
                .iter()
                .position(|(k, _)| matches!(k, Kind::Md(m) if *m >= n) || *k == Kind::Glossary)
            {
                stack.truncate(p);
            }
        }
        _ => {
            if let Some(p) = stack
                .iter()
                .position(|(k, _)| *k == kind || *k == Kind::Glossary)
            {
                stack.truncate(p);
            }
        }
    }
    stack.push((kind, text));
}

/// Cuts the body into blocks with section paths. `title` (the document's own
/// title) heads the first article when the body holds further articles.
pub fn structure(doc: &CleanDoc, title: Option<&str>) -> Vec<Block> {
    let lines = &doc.body;
    let is_article = |i: usize| -> bool {
        let l = &lines[i];
        let s = Shape::of(&l.text);
        l.md_level.is_none()
            && heading_marker(&l.text).is_none()
            && s.chars <= 30
            && !l.text.chars().any(is_terminal)
            && lines.get(i + 1).is_some_and(|n| {
                n.text.starts_with("——")
                    && char_len(&n.text) <= 60
                    && !n.text.chars().any(is_terminal)
            })
    };
    let has_articles = (0..lines.len()).any(is_article);
    let glossary = glossary_start(lines);
    let mut stack: Vec<(Kind, String)> = Vec::new();
    if has_articles {
        if let Some(t) = title {
            stack.push((Kind::Article, t.to_string()));
        }
    }
    let mut blocks: Vec<Block> = Vec::new();
    let mut i = 0;
    let mut in_glossary = false;
    // The numbering of the list the previous line was an item of.
    let mut list_marker: Option<Marker> = None;
    let mut empty: Option<EmptyHeading> = None;
    while i < lines.len() {
        let l = &lines[i];
        if Some(i) == glossary {
            push_heading(
                &mut stack,
                &mut empty,
                &mut blocks,
                Kind::Glossary,
                trim_heading_end(&l.text),
            );
            in_glossary = true;
            i += 1;
            continue;
        }
        if is_article(i) {
            push(
                &mut stack,
                Kind::Article,
                format!("{}{}", l.text, lines[i + 1].text),
            );
            in_glossary = false;
            i += 2;
            continue;
        }
        if let Some(level) = l.md_level {
            let kind = heading_marker(&l.text).map_or(Kind::Md(level), |(m, _)| Kind::Mark(m));
            push_heading(
                &mut stack,
                &mut empty,
                &mut blocks,
                kind,
                trim_heading_end(&l.text),
            );
            in_glossary = false;
            i += 1;
            continue;
        }
        if in_glossary {
            if let Some(c) = TERM_DEF.captures(&l.text) {
                let term = c[1].trim();
                let term = strip_quotes(term);
                push_text(&stack, &mut empty, &mut blocks, Some(term), l.text.clone());
            } else if let Some(last) = blocks.last_mut().filter(|b| b.term.is_some()) {
                last.text.push('\n');
                last.text.push_str(&l.text);
            } else {
                push_text(&stack, &mut empty, &mut blocks, None, l.text.clone());
            }
            i += 1;
            continue;
        }
        if let Some((marker, _)) = heading_marker(&l.text) {
            // A run of numbered lines with nothing between them is a list
            // (十件大事 1–10), not a row of empty sections: its items are text.
            let next_same = lines
                .get(i + 1)
                .and_then(|n| heading_marker(&n.text))
                .is_some_and(|(m, _)| m == marker);
            let in_list = list_marker == Some(marker) || next_same;
            let split = split_heading(&l.text, marker)
                .filter(|(_, rest)| !(in_list && rest.is_empty() && l.md_level.is_none()));
            list_marker = match split {
                None if in_list => Some(marker),
                _ => None,
            };
            if let Some((head, rest)) = split {
                push_heading(
                    &mut stack,
                    &mut empty,
                    &mut blocks,
                    Kind::Mark(marker),
                    head,
                );
                if rest.is_empty() && l.text.ends_with(is_terminal) {
                    empty = Some(EmptyHeading {
                        depth: stack.len() - 1,
                        heading: stack[stack.len() - 1].1.clone(),
                        line: l.text.clone(),
                    });
                }
                if !rest.is_empty() {
                    push_text(&stack, &mut empty, &mut blocks, None, rest);
                }
                i += 1;
                continue;
            }
        }
        if heading_marker(&l.text).is_none() {
            list_marker = None;
        }
        push_text(&stack, &mut empty, &mut blocks, None, l.text.clone());
        i += 1;
    }
    if let Some(e) = empty.take() {
        blocks.push(e.into_block(&stack));
    }
    blocks
}

/// A numbered line ending in a full stop, taken for a heading, with no text
/// under it yet. If its section closes empty (the next heading replaces it,
/// or the document ends) it was an item of text (`39.两微一端：指微博…。`),
/// and it becomes a block rather than being lost.
struct EmptyHeading {
    depth: usize,
    heading: String,
    line: String,
}

impl EmptyHeading {
    fn still_open(&self, stack: &[(Kind, String)]) -> bool {
        stack
            .get(self.depth)
            .is_some_and(|(_, h)| *h == self.heading)
    }

    fn into_block(self, stack: &[(Kind, String)]) -> Block {
        Block {
            path: section_path(&stack[..self.depth.min(stack.len())]),
            term: None,
            text: self.line,
        }
    }
}

/// The headings on `stack`, outermost first.
fn section_path(stack: &[(Kind, String)]) -> Vec<String> {
    stack.iter().map(|(_, t)| t.clone()).collect()
}

/// Pushes a block of text under the headings on `stack`: an empty numbered
/// heading still open has text under it now, so it stays a heading.
fn push_text(
    stack: &[(Kind, String)],
    empty: &mut Option<EmptyHeading>,
    blocks: &mut Vec<Block>,
    term: Option<String>,
    text: String,
) {
    *empty = None;
    blocks.push(Block {
        path: section_path(stack),
        term,
        text,
    });
}

/// Pushes a heading; an empty numbered heading it closes becomes text.
fn push_heading(
    stack: &mut Vec<(Kind, String)>,
    empty: &mut Option<EmptyHeading>,
    blocks: &mut Vec<Block>,
    kind: Kind,
    text: String,
) {
    let before = stack.clone();
    push(stack, kind, text);
    if let Some(e) = empty.take() {
        if e.still_open(stack) {
            *empty = Some(e);
        } else {
            blocks.push(e.into_block(&before));
        }
    }
}

/// `“十项行动”` → `十项行动`; quotes inside a term stay.
fn strip_quotes(term: &str) -> String {
    let inner = term.strip_prefix('“').and_then(|t| t.strip_suffix('”'));
    match inner {
        Some(t) if !t.contains(['“', '”']) => t.to_string(),
        _ => term.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(t: &str) -> BodyLine {
        BodyLine {
            text: t.into(),
            md_level: None,
            gap_before: 0,
        }
    }

    #[test]
    fn markers() {
        assert_eq!(
            heading_marker("一、2024年主要任务").map(|m| m.0),
            Some(Marker::Cn1)
        );
        assert_eq!(
            heading_marker("（三）着力扩大内需").map(|m| m.0),
            Some(Marker::Cn2)
        );
        assert_eq!(
            heading_marker("1.项目建设稳步推进。").map(|m| m.0),
            Some(Marker::Num)
        );
        assert_eq!(heading_marker("1.5亿元用于"), None);
        assert_eq!(
            heading_marker("A 厚植高质量发展的产业根基").map(|m| m.0),
            Some(Marker::Letter)
        );
        assert_eq!(heading_marker("AEO认证：是"), None);
        assert_eq!(heading_marker("一是农业生产总体稳定"), None);
    }

    #[test]
    fn numbered_runs_are_list_items_not_headings() {
        let doc = CleanDoc {
            head: vec![],
            body: vec![
                line("(一)办好十件民生实事"),
                line("1.新建幼儿园20所"),
                line("2.改造老旧小区30个"),
                line("3.新增停车位5000个。"),
                line("(二)推进产业升级"),
                line("1.壮大先进制造业"),
                line("工业投资增长10%。"),
                line("2.发展现代服务业"),
                line("服务业增加值增长6%。"),
            ],
        };
        let blocks = structure(&doc, None);
        let texts: Vec<&str> = blocks.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "1.新建幼儿园20所",
                "2.改造老旧小区30个",
                "3.新增停车位5000个。",
                "工业投资增长10%。",
                "服务业增加值增长6%。"
            ]
        );
        assert_eq!(blocks[2].path, vec!["(一)办好十件民生实事"]);
        assert_eq!(blocks[4].path, vec!["(二)推进产业升级", "2.发展现代服务业"]);
    }

    #[test]
    fn nested_paths_fused_headings_and_glossary() {
        let doc = CleanDoc {
            head: vec![],
            body: vec![
                line("一、2023年工作回顾"),
                line("过去一年，我们做了很多工作。"),
                line("(一)总体要求。2025年是收官之年。"),
                line("1.项目建设稳步推进。落实制度。"),
                line("(二)主要目标"),
                line("地区生产总值增长5%。"),
                line("二、2024年主要任务"),
                line("全力以赴。"),
                line("名词解释"),
                line("“四张清单”：即重大政策、重大项目清单。"),
                line("EOD：是Ecology Oriented Development的简称。"),
            ],
        };
        let blocks = structure(&doc, None);
        let find = |t: &str| blocks.iter().find(|b| b.text.starts_with(t)).unwrap();
        assert_eq!(find("过去一年").path, vec!["一、2023年工作回顾"]);
        assert_eq!(
            find("2025年").path,
            vec!["一、2023年工作回顾", "(一)总体要求"]
        );
        assert_eq!(
            find("落实制度").path,
            vec!["一、2023年工作回顾", "(一)总体要求", "1.项目建设稳步推进"]
        );
        assert_eq!(
            find("地区生产总值").path,
            vec!["一、2023年工作回顾", "(二)主要目标"]
        );
        assert_eq!(find("全力以赴").path, vec!["二、2024年主要任务"]);
        let g = find("“四张清单”");
        assert_eq!(g.term.as_deref(), Some("四张清单"));
        assert_eq!(g.path, vec!["名词解释"]);
        assert_eq!(find("EOD").term.as_deref(), Some("EOD"));
    }
}
