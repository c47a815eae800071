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
use super::text::{char_len, is_cjk, is_terminal, trim_heading_end, Shape};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Chapter,
    Cn1,
    Cn2,
    Num,
    NumParen,
    Circled,
    Letter,
    Column,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Article,
    Md(u8),
    Mark(Marker),
    Glossary,
}

static MARKERS: LazyLock<Vec<(Marker, Regex)>> = LazyLock::new(|| {
    let m = |s: &str| Regex::new(s).expect("valid regex");
    vec![
        (
            Marker::Chapter,
            m(r"^第[一二三四五六七八九十百零〇]{1,4}(?:章|部分|篇|节|節)"),
        ),
        (Marker::Cn1, m(r"^[一二三四五六七八九十]{1,3}[、.．]")),
        (Marker::Cn2, m(r"^[(（][一二三四五六七八九十]{1,3}[)）]")),
        (Marker::Num, m(r"^\d{1,2}[.．、]")),
        (Marker::NumParen, m(r"^[(（]\d{1,2}[)）]")),
        (Marker::Circled, m(r"^[①-⑳]")),
        (Marker::Letter, m(r"^[A-H](?:[ 、.．]+)")),
        (Marker::Column, m(r"^[■□●◆◇▲▶★☆]")),
    ]
});

/// The numbering a line starts with, and the marker's length in bytes.
pub fn heading_marker(line: &str) -> Option<(Marker, usize)> {
    for (marker, re) in MARKERS.iter() {
        if let Some(m) = re.find(line) {
            let next = line[m.end()..].chars().next();
            let ok = match marker {
                // `1.5亿元` is a number, not an item.
                Marker::Num => next.is_some_and(|c| !c.is_ascii_digit()),
                Marker::Letter => next.is_some_and(is_cjk),
                _ => next.is_some(),
            };
            if ok {
                return Some((*marker, m.end()));
            }
        }
    }
    None
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
    let path =
        |stack: &Vec<(Kind, String)>| stack.iter().map(|(_, t)| t.clone()).collect::<Vec<_>>();
    let mut i = 0;
    let mut in_glossary = false;
    while i < lines.len() {
        let l = &lines[i];
        if Some(i) == glossary {
            push(&mut stack, Kind::Glossary, trim_heading_end(&l.text));
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
            push(&mut stack, kind, trim_heading_end(&l.text));
            in_glossary = false;
            i += 1;
            continue;
        }
        if in_glossary {
            if let Some(c) = TERM_DEF.captures(&l.text) {
                let term = c[1].trim();
                let term = strip_quotes(term);
                blocks.push(Block {
                    path: path(&stack),
                    term: Some(term),
                    text: l.text.clone(),
                });
            } else if let Some(last) = blocks.last_mut().filter(|b| b.term.is_some()) {
                last.text.push('\n');
                last.text.push_str(&l.text);
            } else {
                blocks.push(Block {
                    path: path(&stack),
                    term: None,
                    text: l.text.clone(),
                });
            }
            i += 1;
            continue;
        }
        if let Some((marker, _)) = heading_marker(&l.text) {
            if let Some((head, rest)) = split_heading(&l.text, marker) {
                push(&mut stack, Kind::Mark(marker), head);
                if !rest.is_empty() {
                    blocks.push(Block {
                        path: path(&stack),
                        term: None,
                        text: rest,
                    });
                }
                i += 1;
                continue;
            }
        }
        blocks.push(Block {
            path: path(&stack),
            term: None,
            text: l.text.clone(),
        });
        i += 1;
    }
    blocks
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
