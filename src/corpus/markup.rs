//! HTML pages and Markdown files → plain lines, headings marked.
//!
//! Both become the plain-text shape the cleaner reads: one block per line and
//! headings written as Markdown `#` lines (`MdHeading`), so a single structure
//! stage serves all inputs.

use html5gum::{Token, Tokenizer};

/// Elements whose content is never article text.
const SKIP: &[&str] = &[
    "script", "style", "noscript", "nav", "header", "footer", "aside", "form", "iframe", "svg",
    "button", "select", "template", "head", "menu", "dialog",
];
/// Elements that start a new line.
const BLOCK: &[&str] = &[
    "p",
    "div",
    "br",
    "li",
    "tr",
    "td",
    "th",
    "section",
    "article",
    "main",
    "blockquote",
    "pre",
    "table",
    "ul",
    "ol",
    "dd",
    "dt",
    "figure",
    "hr",
    "center",
    "body",
];
/// `class`/`id` words that mark page furniture rather than content.
const FURNITURE: &[&str] = &[
    "nav",
    "menu",
    "footer",
    "header",
    "sidebar",
    "breadcrumb",
    "copyright",
    "share",
    "login",
    "comment",
    "related",
    "toolbar",
    "banner",
    "advert",
    "topbar",
    "pagination",
];

pub fn looks_like_html(text: &str) -> bool {
    let head: String = text
        .chars()
        .take(4000)
        .collect::<String>()
        .to_ascii_lowercase();
    head.contains("<html")
        || head.contains("<!doctype html")
        || head.contains("<body")
        || (head.matches("<p>").count()
            + head.matches("<div").count()
            + head.matches("<br").count())
            >= 3
}

pub fn looks_like_markdown(file: &str, text: &str) -> bool {
    let lower = file.to_ascii_lowercase();
    if lower.ends_with(".md") || lower.ends_with(".markdown") {
        return true;
    }
    let heads = text
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            let hashes = t.chars().take_while(|&c| c == '#').count();
            (1..=6).contains(&hashes) && t[hashes..].starts_with(' ')
        })
        .count();
    heads >= 2
}

/// Extracts the article of an HTML page as Markdown-like lines. When the page
/// has an `<article>` or `<main>` element only its content is kept.
pub fn html_to_lines(html: &str) -> (String, u64) {
    let lower = html.to_ascii_lowercase();
    let scope = if lower.contains("<article") {
        Some("article")
    } else if lower.contains("<main") {
        Some("main")
    } else {
        None
    };
    let mut out = String::new();
    let mut skip_depth: Vec<String> = Vec::new();
    let mut in_scope = scope.is_none();
    let mut scope_depth = 0usize;
    let mut heading: Option<usize> = None;
    let mut tags = 0u64;
    for token in Tokenizer::new(html).flatten() {
        match token {
            Token::StartTag(tag) => {
                tags += 1;
                let name = String::from_utf8_lossy(&tag.name).to_ascii_lowercase();
                if !skip_depth.is_empty() {
                    if !tag.self_closing
                        && !is_void(&name)
                        && name == skip_depth[skip_depth.len() - 1]
                    {
                        skip_depth.push(name);
                    }
                    continue;
                }
                let furniture = tag.attributes.iter().any(|(k, v)| {
                    let k = String::from_utf8_lossy(k).to_ascii_lowercase();
                    (k == "class" || k == "id" || k == "role")
                        && String::from_utf8_lossy(v)
                            .to_ascii_lowercase()
                            .split(|c: char| !c.is_ascii_alphanumeric())
                            .any(|w| FURNITURE.contains(&w) || w == "navigation")
                });
                if (SKIP.contains(&name.as_str()) || (furniture && !is_void(&name)))
                    && !tag.self_closing
                {
                    skip_depth.push(name);
                    continue;
                }
                if Some(name.as_str()) == scope {
                    in_scope = true;
                    scope_depth += 1;
                }
                if let Some(level) = heading_level(&name) {
                    out.push('\n');
                    out.push_str(&"#".repeat(level));
                    out.push(' ');
                    heading = Some(level);
                } else if BLOCK.contains(&name.as_str()) {
                    out.push('\n');
                }
            }
            Token::EndTag(tag) => {
                let name = String::from_utf8_lossy(&tag.name).to_ascii_lowercase();
                if let Some(top) = skip_depth.last() {
                    if *top == name {
                        skip_depth.pop();
                    }
                    continue;
                }
                if Some(name.as_str()) == scope && scope_depth > 0 {
                    scope_depth -= 1;
                    if scope_depth == 0 {
                        in_scope = false;
                    }
                }
                if heading_level(&name).is_some() {
                    heading = None;
                    out.push('\n');
                } else if BLOCK.contains(&name.as_str()) {
                    out.push('\n');
                }
            }
            Token::String(s) if skip_depth.is_empty() && in_scope => {
                let s = String::from_utf8_lossy(&s);
                // Inside a heading, line breaks would split it.
                let s = if heading.is_some() {
                    s.replace('\n', " ")
                } else {
                    s.into_owned()
                };
                out.push_str(&s);
            }
            _ => {}
        }
    }
    (out, tags)
}

fn heading_level(name: &str) -> Option<usize> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

fn is_void(name: &str) -> bool {
    matches!(
        name,
        "br" | "hr"
            | "img"
            | "input"
            | "meta"
            | "link"
            | "area"
            | "base"
            | "col"
            | "embed"
            | "source"
            | "track"
            | "wbr"
    )
}

/// One Markdown line with its syntax removed; `Some(level)` for headings.
pub fn strip_markdown_line(line: &str, in_code: &mut bool) -> Option<(Option<u8>, String)> {
    let t = line.trim();
    if t.starts_with("```") || t.starts_with("~~~") {
        *in_code = !*in_code;
        return None;
    }
    if *in_code {
        return Some((None, t.to_string()));
    }
    // Tables' separator rows and horizontal rules carry no text.
    if !t.is_empty()
        && t.chars()
            .all(|c| matches!(c, '-' | '|' | ':' | ' ' | '*' | '_' | '='))
    {
        return None;
    }
    let hashes = t.chars().take_while(|&c| c == '#').count();
    let (level, rest) = if (1..=6).contains(&hashes) && t[hashes..].starts_with(' ') {
        (
            Some(hashes as u8),
            t[hashes..].trim().trim_end_matches('#').trim(),
        )
    } else {
        (None, t)
    };
    let mut rest = rest.trim_start_matches('>').trim_start();
    for bullet in ["- ", "* ", "+ "] {
        if let Some(r) = rest.strip_prefix(bullet) {
            rest = r;
        }
    }
    let mut s = inline_markdown(rest);
    if s.starts_with('|') {
        s = s
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ");
    }
    Some((level, s))
}

/// Drops emphasis markers, images and link targets, keeping link text.
fn inline_markdown(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '!' && chars.get(i + 1) == Some(&'[') {
            if let Some(end) = link_end(&chars, i + 1) {
                i = end;
                continue;
            }
        }
        if c == '[' {
            if let Some(end) = link_end(&chars, i) {
                let close = chars[i..]
                    .iter()
                    .position(|&c| c == ']')
                    .map(|p| p + i)
                    .unwrap_or(i);
                out.extend(&chars[i + 1..close]);
                i = end;
                continue;
            }
        }
        if c == '*'
            || c == '`'
            || (c == '_'
                && (i == 0
                    || i + 1 == chars.len()
                    || chars[i - 1] == '_'
                    || chars.get(i + 1) == Some(&'_')))
        {
            i += 1;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// For `[text](target)` starting at `open`, the index after `)`.
fn link_end(chars: &[char], open: usize) -> Option<usize> {
    let close = chars[open..].iter().position(|&c| c == ']')? + open;
    if chars.get(close + 1) != Some(&'(') {
        return None;
    }
    let end = chars[close + 1..].iter().position(|&c| c == ')')? + close + 1;
    Some(end + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_keeps_article_only() {
        let html = "<html><head><title>t</title><script>var a=1;</script></head><body>\
            <nav><a href='/'>首页</a> | <a>新闻</a></nav><article><h1>2024年南明区政府工作报告</h1>\
            <p>各位代表：现在，我代表区人民政府向大会报告工作。</p></article>\
            <footer>版权所有 © 2024 联系电话：0851-1234567</footer></body></html>";
        let (text, tags) = html_to_lines(html);
        assert!(tags > 5);
        assert!(text.contains("# 2024年南明区政府工作报告"));
        assert!(text.contains("我代表区人民政府"));
        assert!(!text.contains("首页") && !text.contains("版权") && !text.contains("var a"));
    }

    #[test]
    fn markdown_syntax_is_removed() {
        let mut code = false;
        assert_eq!(
            strip_markdown_line("## 一、工作回顾", &mut code),
            Some((Some(2), "一、工作回顾".into()))
        );
        assert_eq!(
            strip_markdown_line(
                "- **重点**推进[项目](http://x/y)建设![图](a.png)",
                &mut code
            ),
            Some((None, "重点推进项目建设".into()))
        );
    }
}
