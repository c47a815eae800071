//! Cleaning: character normalisation, repair, removal of non-body lines
//! (chrome, captions, repeated furniture), re-joining of broken lines and
//! normalisation of spaces and punctuation.
//!
//! Every rule looks at the *shape* of text — length, sentence punctuation,
//! the share of digits and Latin letters, isolation by blank lines,
//! repetition — never at particular strings of particular sources.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use regex::Regex;

use super::markers::heading_marker;
use super::markup;
use super::repair;
use super::script;
use super::text::{char_len, is_cjk, is_closing, is_terminal, Shape};

/// What cleaning removed or repaired, by kind.
pub type Removed = BTreeMap<String, u64>;

pub fn bump(removed: &mut Removed, key: &str, n: u64) {
    if n > 0 {
        *removed.entry(key.to_string()).or_insert(0) += n;
    }
}

/// A line of body text; `md_level` is set for Markdown/HTML headings.
#[derive(Debug, Clone, PartialEq)]
pub struct BodyLine {
    pub text: String,
    pub md_level: Option<u8>,
    /// Blank lines before it in the source.
    pub gap_before: usize,
}

/// The cleaned document: the title block above the body, then the body.
#[derive(Debug, Default)]
pub struct CleanDoc {
    pub head: Vec<String>,
    pub body: Vec<BodyLine>,
}

#[derive(Debug, Clone)]
struct Line {
    text: String,
    md_level: Option<u8>,
    /// Blank lines between this line and the previous non-blank one.
    gap_before: usize,
}

pub fn clean(file: &str, text: &str, removed: &mut Removed) -> CleanDoc {
    let mut text = normalise_chars(text);
    let mut markdown = false;
    if markup::looks_like_html(&text) {
        let (plain, tags) = markup::html_to_lines(&text);
        bump(removed, "html_tags", tags);
        text = normalise_chars(&plain);
        markdown = true;
    } else if markup::looks_like_markdown(file, &text) {
        markdown = true;
    }
    let traditional = script::detect_script(&text, &script::to_simplified(&text)) == "traditional";
    let mut lines = split_lines(&text, markdown);
    // A collector's `标题：…` field holds the report's title: the value
    // stays as a title line, the label goes, and the field lines and rules
    // of the same header block below it go as chrome, so the title stands
    // right above the text as a title block does.
    if let Some((i, title)) = lines
        .iter()
        .enumerate()
        .find_map(|(i, l)| Some((i, title_field(&l.text)?)))
    {
        lines[i].text = title;
        let rule =
            |t: &str| !t.trim().is_empty() && t.trim().chars().all(|c| "=-—_*~#".contains(c));
        let n = lines[i + 1..]
            .iter()
            .take_while(|l| header_field(&l.text) || rule(&l.text))
            .count();
        lines.drain(i + 1..i + 1 + n);
        bump(removed, "chrome_lines", n as u64);
    }
    // A fixed-width wrap is undone first: it can cut through an annotation
    // and hides paragraphs from the title-block and chrome rules.
    if let Some(w) = wrap_width(&lines) {
        lines = join_broken(lines, Some(w), removed)
            .into_iter()
            .map(|l| Line {
                text: l.text,
                md_level: l.md_level,
                gap_before: l.gap_before,
            })
            .collect();
    }
    for l in &mut lines {
        let (t, n) = repair::restore_division_suffixes(&l.text, traditional);
        bump(removed, "place_names_restored", n);
        let (t, n) = repair::remove_pinyin(&t);
        bump(removed, "pinyin_annotations", n);
        let (t, n) = repair::excise_mojibake(&t, traditional);
        bump(removed, "mojibake_spans", n);
        let (t, n) = normalise_spaces(&t);
        bump(removed, "cjk_spaces", n);
        l.text = t;
    }
    // Lines that held nothing but damage are gone now.
    let mut carry = 0;
    lines.retain_mut(|l| {
        if l.text.is_empty() {
            carry += l.gap_before + 1;
            false
        } else {
            l.gap_before += carry;
            carry = 0;
            true
        }
    });
    let lines = drop_repeated_text(lines, removed);
    let (head, body) = body_region(lines, removed);
    // Not text lost: the title block feeds the metadata instead of passages.
    bump(removed, "title_block_lines", head.len() as u64);
    let (body, running_title) = drop_non_body(body, removed);
    // A running page header names the document: where the title block
    // lacks a title (a date line broke it off), the header stands in.
    let mut head = head;
    if let Some(title) = running_title {
        if !head.iter().any(|l| names_document_kind(&l.text)) {
            head.push(Line {
                text: title,
                md_level: None,
                gap_before: 0,
            });
        }
    }
    let body = join_broken(body, None, removed);
    let body = split_inline_headings(body, removed);
    CleanDoc {
        head: head.iter().map(|l| normalise_punct(&l.text)).collect(),
        body: body
            .into_iter()
            .map(|mut l| {
                l.text = normalise_punct(&l.text);
                l
            })
            .collect(),
    }
}

/// Removes BOMs, zero-width and control characters; unifies spaces; folds
/// full-width letters and digits to ASCII.
fn normalise_chars(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            '\u{FEFF}' | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{00AD}' => None,
            '\n' => Some('\n'),
            '\t' | '\u{00A0}' | '\u{3000}' | '\u{2002}'..='\u{200A}' | '\u{202F}' => Some(' '),
            c if c.is_control() => None,
            '\u{FF10}'..='\u{FF19}' | '\u{FF21}'..='\u{FF3A}' | '\u{FF41}'..='\u{FF5A}' => {
                char::from_u32(c as u32 - 0xFEE0)
            }
            // One form of brackets for every source: `（一）` and `(一)` alike.
            '（' => Some('('),
            '）' => Some(')'),
            c => Some(c),
        })
        .collect()
}

fn split_lines(text: &str, markdown: bool) -> Vec<Line> {
    let mut out = Vec::new();
    let mut gap = 0;
    let mut in_code = false;
    for raw in text.split('\n') {
        let (md_level, t) = if markdown {
            match markup::strip_markdown_line(raw, &mut in_code) {
                Some(x) => x,
                None => continue,
            }
        } else {
            (None, raw.to_string())
        };
        let t = t.trim().to_string();
        if t.is_empty() {
            // An image or rule line stripped from Markdown is no blank line.
            if raw.trim().is_empty() {
                gap += 1;
            }
            continue;
        }
        out.push(Line {
            text: t,
            md_level,
            gap_before: gap,
        });
        gap = 0;
    }
    out
}

/// Treats characters that sit inside Chinese text without spacing.
fn cjkish(c: char) -> bool {
    is_cjk(c)
        || matches!(c as u32, 0x3000..=0x303F | 0xFF01..=0xFF0F | 0xFF1A..=0xFF20 | 0xFF3B..=0xFF40 | 0xFF5B..=0xFF65 | 0x2014 | 0x2018..=0x201F | 0x2026)
}

/// Collapses runs of spaces and removes spaces inside Chinese text: all of
/// them in letter-spaced titles (`政 府 工 作 报 告`) and in running text
/// (`风险难 题`); a short line keeps a space between multi-character phrases
/// (`勇立潮头逐浪高 奋楫扬帆谱新篇`).
fn normalise_spaces(line: &str) -> (String, u64) {
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.is_empty() {
        return (String::new(), 0);
    }
    let singles = words
        .iter()
        .filter(|w| w.chars().count() == 1 && w.chars().all(is_cjk))
        .count();
    if words.len() >= 3 && singles * 5 >= words.len() * 4 {
        return (words.concat(), (words.len() - 1) as u64);
    }
    let short = char_len(line) <= 30 && !Shape::of(line).is_prose();
    let mut out = String::with_capacity(line.len());
    let mut removed = 0;
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            let prev = words[i - 1];
            let a = prev.chars().next_back().unwrap_or(' ');
            let b = w.chars().next().unwrap_or(' ');
            let both = cjkish(a) && cjkish(b);
            let mixed = (cjkish(a) && (b.is_ascii_punctuation() && b != '-'))
                || (cjkish(b) && (a.is_ascii_punctuation() && a != '-'));
            let phrases =
                short && is_cjk(a) && is_cjk(b) && char_len(prev) >= 2 && char_len(w) >= 2;
            if (both || mixed) && !phrases {
                removed += 1;
            } else {
                out.push(' ');
            }
        }
        out.push_str(w);
    }
    (out, removed)
}

/// A page control in brackets: `【打印】`, `【字体：大中小】`, `【关闭窗口】`.
static CONTROL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"【[^】。！？]{1,8}】").expect("valid regex"));
static DATETIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}:\d{2}(?::\d{2})?|\d{3,4}-\d{7,8}|https?://|www\.|@\w+\.|©|\(c\)").expect("valid regex")
});

/// The labels of a web page's article fields and of its legal notices. A
/// closed vocabulary, but the rule is one of shape: such a label opens a
/// short line that is not a sentence ([`is_field_line`]).
const FIELD_LABELS: &[&str] = &[
    "来源",
    "信息来源",
    "文章来源",
    "稿源",
    "作者",
    "编辑",
    "责任编辑",
    "责编",
    "校对",
    "审核",
    "时间",
    "日期",
    "发布时间",
    "发布日期",
    "更新时间",
    "阅读",
    "阅读量",
    "阅读次数",
    "浏览",
    "浏览次数",
    "点击",
    "点击数",
    "评论",
    "内容摘要",
    "摘要",
    "字号",
    "字体",
    "分享",
    "分享到",
    "打印",
    "关闭",
    "收藏",
    "供稿",
    "发布机构",
    "索引号",
    "主题分类",
    "成文日期",
    "发文字号",
];

/// Labels of notices that end a web copy (`免责声明：本网转载…`); the line
/// is furniture whatever its length.
const NOTICE_LABELS: &[&str] = &["免责声明", "版权声明", "版权所有", "特别声明", "郑重声明"];

static FIELD: LazyLock<Regex> = LazyLock::new(|| {
    let mut labels: Vec<&str> = FIELD_LABELS.iter().chain(NOTICE_LABELS).copied().collect();
    // Longest first, so `责任编辑` is not read as `编辑` after a prefix.
    labels.sort_by_key(|l| std::cmp::Reverse(l.len()));
    Regex::new(&format!(r"^[【\[(]?\s*(?:{})\s*[:：]", labels.join("|"))).expect("valid regex")
});

/// A line of a collector's header block: a short label, a colon and a
/// short value with no sentence in it (`年份：2005`, `来源：某某网`).
fn header_field(line: &str) -> bool {
    static FIELD_LINE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^\s*\p{Han}{2,6}\s*[:：]\s*[^。！？；，]{0,40}$").expect("valid regex")
    });
    is_field_line(line) || FIELD_LINE.is_match(line)
}

/// The value of a `标题：…` / `题目：…` field line when it names a kind of
/// report (`标题：二00五年政府工作报告`).
fn title_field(line: &str) -> Option<String> {
    static TITLE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^\s*(?:文章标题|标题|题目|篇名)\s*[:：]\s*(\S.{3,60})$").expect("valid regex")
    });
    let value = TITLE.captures(line)?.get(1)?.as_str().trim();
    names_document_kind(value).then(|| value.to_string())
}

/// A web page's field line: a label and its colon opening a short line that
/// holds no sentence (`来源：四川日报`, `【字号：大 中 小】`, `责任编辑：`), or
/// any line opened by a notice label.
fn is_field_line(line: &str) -> bool {
    let Some(m) = FIELD.find(line) else {
        return false;
    };
    let label = line[..m.end()].trim_start_matches(['【', '[', '(', ' ']);
    if NOTICE_LABELS.iter().any(|n| label.starts_with(n)) {
        return true;
    }
    let rest = &line[m.end()..];
    char_len(rest) <= 24 && !rest.contains(['。', '！', '？', '；', '，'])
}

/// A line, in either script, naming a kind of document.
fn names_document_kind(line: &str) -> bool {
    super::text::names_document_kind(&script::to_simplified(line))
}

/// A website's copyright or repost notice (`凡本网注明来源…版权归原单位所有`):
/// the site speaking of itself, not the report.
fn is_repost_notice(line: &str) -> bool {
    let site = ["本网", "本站"].iter().any(|w| line.contains(w));
    let rights = ["版权", "转载", "侵权", "免责"]
        .iter()
        .any(|w| line.contains(w));
    site && rights
}

/// Page furniture by shape: separators, Latin- or digit-heavy short lines,
/// timestamps, phone numbers, links, tags in brackets, bullets, tiny lines,
/// field lines.
fn is_chrome(line: &str) -> bool {
    if is_field_line(line) || is_repost_notice(line) {
        return true;
    }
    let s = Shape::of(line);
    if s.is_prose() && s.cjk >= 20 || s.cjk >= 8 && line.contains(['。', '！', '？']) {
        return false;
    }
    // A numbered item closed by a full stop is an item of the text however
    // Latin-heavy (`1.MCC：Multi—Country Consolidation，即多国集拼业务。`);
    // furniture is not numbered sentences.
    if heading_marker(line).is_some() && line.trim_end().ends_with(['。', '！', '？']) {
        return false;
    }
    if line.contains('|') || line.contains('｜') || DATETIME.is_match(line) {
        return true;
    }
    // Two bracketed controls on a line with no sentence: a toolbar
    // (`主题词： 2021年 政府工作报告【打印】【字体：大中小】`).
    if CONTROL.find_iter(line).count() >= 2 && !line.chars().any(is_terminal) {
        return true;
    }
    let first = line.chars().next().unwrap_or(' ');
    if matches!(first, '[' | '•' | '·' | '»' | '>' | '<') && !s.is_prose() {
        return true;
    }
    if s.latin >= 3 && s.latin * 2 >= s.cjk {
        return true;
    }
    if (s.digits + s.latin) * 2 >= s.chars && s.sentence_punct == 0 {
        return true;
    }
    s.chars <= 2 && !line.chars().any(is_terminal)
}

/// Finds the body: from the title block just above the first prose line to
/// the last prose line. Lines before the title block and after the body are
/// page chrome.
fn body_region(lines: Vec<Line>, removed: &mut Removed) -> (Vec<Line>, Vec<Line>) {
    let Some(first) = lines.iter().position(|l| Shape::of(&l.text).is_prose()) else {
        let (keep, drop): (Vec<Line>, Vec<Line>) =
            lines.into_iter().partition(|l| !is_chrome(&l.text));
        bump(removed, "chrome_lines", drop.len() as u64);
        return (Vec::new(), keep);
    };
    // Short sentences count at the end (a closing line, a short last item);
    // page furniture rarely ends in a full stop.
    // A chrome line after the last paragraph ends the report: sentences
    // below it belong to the page (a mobile-site notice), not the report.
    let prose = |l: &Line| Shape::of(&l.text).is_prose() && !is_chrome(&l.text);
    let mut last_prose = lines.iter().rposition(prose).unwrap_or(first).max(first);
    // One short sentence below a run of page lines (a link list, a field
    // line) is the page's notice, not the report's end.
    if let Some(prev) = lines[..last_prose].iter().rposition(prose) {
        let gap = &lines[prev + 1..last_prose];
        let chrome = gap.iter().filter(|l| is_chrome(&l.text)).count();
        let fragments = gap
            .iter()
            .filter(|l| Shape::of(&l.text).sentence_punct == 0)
            .count();
        if prev >= first && chrome >= 1 && fragments >= 3 && char_len(&lines[last_prose].text) < 80
        {
            last_prose = prev;
        }
    }
    // A numbered list running past the last paragraph (a glossary whose
    // last entry has no full stop) goes on while its numbers do.
    let mut next_item = lines[..=last_prose]
        .iter()
        .rev()
        .find_map(|l| item_number(&l.text))
        .map(|n| n + 1);
    let mut last = last_prose;
    for (k, l) in lines.iter().enumerate().skip(last_prose + 1) {
        if is_chrome(&l.text) {
            break;
        }
        let n = item_number(&l.text);
        if n.is_some() && n == next_item && Shape::of(&l.text).cjk >= 4 {
            next_item = n.map(|n| n + 1);
            last = k;
        } else if Shape::of(&l.text).cjk >= 4 && l.text.contains(['。', '！', '？']) {
            last = k;
        }
    }
    // The title block: short lines right above the first paragraph, up to a
    // chrome line; a numbered heading already belongs to the body.
    let mut start = first;
    while start > 0 && first - start < 8 {
        let l = &lines[start - 1];
        if is_chrome(&l.text) || Shape::of(&l.text).cjk < 2 || heading_marker(&l.text).is_some() {
            break;
        }
        start -= 1;
    }
    // A Markdown/HTML document states its title as a heading.
    let md_title = lines[..first].iter().rposition(|l| l.md_level.is_some());
    if let Some(t) = md_title {
        if !is_chrome(&lines[t].text) {
            start = start.min(t);
        }
    }
    bump(
        removed,
        "chrome_lines",
        (start + (lines.len() - 1 - last)) as u64,
    );
    let mut it = lines.into_iter();
    let _before: Vec<Line> = it.by_ref().take(start).collect();
    let head: Vec<Line> = it.by_ref().take(first - start).collect();
    let body: Vec<Line> = it.take(last - first + 1).collect();
    // A heading line in the title block of a Markdown document is the title.
    (head, body)
}

/// The number of an item numbered in digits (`12.`, `12、`, `(12)`).
fn item_number(line: &str) -> Option<u32> {
    use super::markers::Marker;
    let (m, len) = heading_marker(line)?;
    if !matches!(m, Marker::Num | Marker::NumParen) {
        return None;
    }
    line[..len]
        .trim_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .ok()
}

/// Drops lines the document has already given word for word (Han
/// characters compared, so line breaks and spacing do not matter): a page
/// saved with the report twice, or its opening repeated as a teaser after
/// it. Only lines of 30 Han characters or more count, so a repeated slogan
/// or heading stays.
fn drop_repeated_text(lines: Vec<Line>, removed: &mut Removed) -> Vec<Line> {
    let mut seen = String::new();
    let mut out = Vec::with_capacity(lines.len());
    let mut dropped = 0u64;
    for l in lines {
        let han: String = l.text.chars().filter(|&c| is_cjk(c)).collect();
        if char_len(&han) >= 30 && seen.contains(&han) {
            dropped += 1;
            continue;
        }
        seen.push_str(&han);
        out.push(l);
    }
    bump(removed, "repeated_text", dropped);
    out
}

static PHOTO_CREDIT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"[(（][^()（）]{0,30}(摄|攝|供图|供圖|图|圖)[)）]|^(图|圖)[:：]|^(图|圖)为|^(图|圖)片",
    )
    .expect("valid regex")
});

/// Drops chrome inside the body, photo captions and lines repeated as page
/// furniture; gives back the running title among them, if any.
fn drop_non_body(lines: Vec<Line>, removed: &mut Removed) -> (Vec<Line>, Option<String>) {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for l in &lines {
        *counts.entry(l.text.as_str()).or_insert(0) += 1;
    }
    let repeated: Vec<String> = counts
        .iter()
        .filter(|(t, &n)| {
            // A running title (a PDF's page header naming the document)
            // is longer than other furniture.
            let short = char_len(t) <= 20 || char_len(t) <= 40 && names_document_kind(t);
            n >= 3 && short && !Shape::of(t).is_prose() && heading_marker(t).is_none()
        })
        .map(|(t, _)| t.to_string())
        .collect();
    let mut gaps: Vec<usize> = lines.iter().skip(1).map(|l| l.gap_before).collect();
    gaps.sort_unstable();
    let typical_gap = gaps.get(gaps.len() / 2).copied().unwrap_or(0);
    let mut out = Vec::with_capacity(lines.len());
    for i in 0..lines.len() {
        let l = &lines[i];
        if l.md_level.is_none() && is_chrome(&l.text) {
            bump(removed, "chrome_lines", 1);
            continue;
        }
        if repeated.contains(&l.text) {
            bump(removed, "repeated_lines", 1);
            continue;
        }
        let gap_after = lines.get(i + 1).map_or(usize::MAX, |n| n.gap_before);
        if is_caption(&l.text, l.gap_before, gap_after, typical_gap) {
            bump(removed, "captions", 1);
            continue;
        }
        out.push(l.clone());
    }
    let running_title = repeated
        .iter()
        .filter(|t| names_document_kind(t))
        .max_by_key(|t| (counts[t.as_str()], std::cmp::Reverse(t.as_str())))
        .cloned();
    (out, running_title)
}

/// A photo caption: one short sentence carrying a photo credit, or set apart
/// from the text by more blank lines than paragraphs are.
fn is_caption(line: &str, gap_before: usize, gap_after: usize, typical_gap: usize) -> bool {
    let n = char_len(line);
    if n > 60 || heading_marker(line).is_some() {
        return false;
    }
    let body: &str = line.trim_end_matches(['。', '.']);
    let single_sentence = !body
        .chars()
        .any(|c| is_terminal(c) || c == '，' || c == ',');
    if !single_sentence {
        return false;
    }
    if PHOTO_CREDIT.is_match(line) {
        return true;
    }
    let isolated = gap_before.max(if gap_after == usize::MAX {
        0
    } else {
        gap_after
    }) >= typical_gap + 2;
    isolated && n <= 30 && line.ends_with('。')
}

/// Re-joins lines broken inside a sentence: hard wraps at a fixed width, and
/// long lines that stop without punctuation (PDF and web dumps, often with
/// blank lines between the halves).
fn join_broken(lines: Vec<Line>, width: Option<Wrap>, removed: &mut Removed) -> Vec<BodyLine> {
    let mut out: Vec<BodyLine> = Vec::with_capacity(lines.len());
    let mut joins = 0u64;
    let mut open = false;
    for l in lines {
        if open {
            if let Some(prev) = out.last_mut() {
                let after_full_stop = prev
                    .text
                    .ends_with(|c: char| is_terminal(c) || is_closing(c));
                if l.md_level.is_none()
                    && !starts_block(&l.text)
                    && !(after_full_stop && starts_entry(&l.text))
                {
                    prev.text.push_str(&l.text);
                    joins += 1;
                    open = continues(&prev.text, &l.text, width);
                    continue;
                }
            }
        }
        open = l.md_level.is_none() && continues(&l.text, &l.text, width);
        out.push(BodyLine {
            text: l.text,
            md_level: l.md_level,
            gap_before: l.gap_before,
        });
    }
    bump(removed, "line_breaks_joined", joins);
    out
}

/// A line that begins a new block whatever came before: a numbered heading.
fn starts_block(line: &str) -> bool {
    heading_marker(line).is_some()
}

/// Text that lost its line breaks (a page flattened to one line) still
/// shows its outline: a top-level heading (`二、`, `(三)`, `第一章`) right
/// after a sentence end starts a new line.
fn split_inline_headings(lines: Vec<BodyLine>, removed: &mut Removed) -> Vec<BodyLine> {
    use super::markers::Marker;
    let mut out = Vec::with_capacity(lines.len());
    for l in lines {
        if l.md_level.is_some() {
            out.push(l);
            continue;
        }
        let mut cuts = Vec::new();
        let mut prev_terminal = false;
        for (i, c) in l.text.char_indices() {
            if prev_terminal && i > 0 {
                let rest = &l.text[i..];
                if let Some((m, len)) = heading_marker(rest) {
                    let after = rest[len..].chars().next().unwrap_or('、');
                    let numeral = "一二三四五六七八九十".contains(after);
                    let short = rest
                        .char_indices()
                        .find(|&(_, c)| is_terminal(c))
                        .is_none_or(|(e, _)| char_len(&rest[..e]) <= 40);
                    if matches!(m, Marker::Cn1 | Marker::Cn2 | Marker::Chapter) && !numeral && short
                    {
                        cuts.push(i);
                    }
                }
            }
            prev_terminal = is_terminal(c) || (prev_terminal && is_closing(c));
        }
        if cuts.is_empty() {
            out.push(l);
            continue;
        }
        bump(removed, "inline_headings_split", cuts.len() as u64);
        let mut start = 0;
        for cut in cuts.into_iter().chain([l.text.len()]) {
            out.push(BodyLine {
                text: l.text[start..cut].to_string(),
                md_level: None,
                gap_before: if start == 0 { l.gap_before } else { 0 },
            });
            start = cut;
        }
    }
    out
}

static ENTRY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[^。，,；;：:！？]{1,32}?[：:].{6}").expect("valid regex"));

/// A `term：definition` line (a glossary entry or list item) after a full
/// stop starts a new block even where a fixed-width wrap would continue.
fn starts_entry(line: &str) -> bool {
    ENTRY.is_match(line)
}

/// Whether the text (whose last physical line is `last_line`) runs on into
/// the next line.
fn continues(text: &str, last_line: &str, wrap: Option<Wrap>) -> bool {
    let end = text.chars().next_back().unwrap_or('。');
    if let Some(w) = wrap {
        let len = w.measure(last_line);
        if heading_marker(last_line).is_some() && len < w.width && last_line == text {
            return false;
        }
        return len + w.slack() >= w.width;
    }
    if is_terminal(end) || is_closing(end) || matches!(end, ':' | '：') {
        return false;
    }
    matches!(end, '，' | ',' | '、' | '“' | '（' | '(' | '《' | '—') || char_len(last_line) >= 50
}

/// A fixed-width hard wrap: in characters (as `fold` makes) or in display
/// columns, Han characters being two wide (as PDF and terminal dumps make).
#[derive(Debug, Clone, Copy)]
pub struct Wrap {
    width: usize,
    display: bool,
}

impl Wrap {
    fn measure(self, s: &str) -> usize {
        if self.display {
            s.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum()
        } else {
            char_len(s)
        }
    }

    /// How far short of the width a wrapped line may stop: a wide character
    /// that does not fit in the last column moves to the next line.
    fn slack(self) -> usize {
        if self.display {
            2
        } else {
            1
        }
    }
}

/// The hard wrap of the text, when most lines share one maximal width.
fn wrap_width(lines: &[Line]) -> Option<Wrap> {
    if lines.len() < 6 {
        return None;
    }
    [false, true].into_iter().find_map(|display| {
        let probe = Wrap { width: 0, display };
        let mut counts: HashMap<usize, usize> = HashMap::new();
        for l in lines {
            *counts.entry(probe.measure(&l.text)).or_insert(0) += 1;
        }
        let (&w, _) = counts.iter().max_by_key(|(len, n)| (**n, **len))?;
        let wrap = Wrap { width: w, display };
        let full = lines
            .iter()
            .filter(|l| {
                (w + 1).saturating_sub(wrap.slack()) <= wrap.measure(&l.text)
                    && wrap.measure(&l.text) <= w
            })
            .count();
        let longer = lines.iter().filter(|l| wrap.measure(&l.text) > w).count();
        (w >= 16 && full * 10 >= lines.len() * 4 && longer * 20 <= lines.len()).then_some(wrap)
    })
}

/// ASCII `,;:!?` inside Chinese text become their full-width forms, so that
/// every source reads (and splits into sentences) alike.
pub fn normalise_punct(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::with_capacity(line.len());
    for (i, &c) in chars.iter().enumerate() {
        let full = match c {
            ',' => '，',
            ';' => '；',
            ':' => '：',
            '!' => '！',
            '?' => '？',
            _ => {
                out.push(c);
                continue;
            }
        };
        let prev = if i > 0 { Some(chars[i - 1]) } else { None };
        let next = chars.get(i + 1).copied();
        let digits =
            prev.is_some_and(|p| p.is_ascii_digit()) && next.is_some_and(|n| n.is_ascii_digit());
        let chinese = prev.is_some_and(|p| cjkish(p) || is_closing(p) && !p.is_ascii())
            || next.is_some_and(cjkish);
        out.push(if chinese && !digits { full } else { c });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_inside_chinese() {
        assert_eq!(normalise_spaces("政 府 工 作 報 告").0, "政府工作報告");
        assert_eq!(
            normalise_spaces("勇立潮头逐浪高 奋楫扬帆谱新篇").0,
            "勇立潮头逐浪高 奋楫扬帆谱新篇"
        );
        let long = "综合来看,受严峻复杂的外部环境、长期累积形成的风险难 题和极端天气频发影响,城区发展历程极不平凡、极 其困难。";
        assert!(!normalise_spaces(long).0.contains(' '));
        assert_eq!(
            normalise_spaces("推进瑞灏达年产7200台 (套)智能电气设备项目,发挥作用。").0,
            "推进瑞灏达年产7200台(套)智能电气设备项目,发挥作用。"
        );
        assert_eq!(normalise_spaces("依托AI 应用").0, "依托AI 应用");
    }

    #[test]
    fn running_titles_and_repost_notices_are_furniture() {
        // The date below the title breaks the title block off, as in a
        // communiqué converted from PDF.
        let mut text = String::from("某市2019年国民经济和社会发展统计公报①\n\n2020年4月30日\n\n\n");
        for para in [
            "全年全市粮食产量达到历史新高，比上年增长百分之三，农业生产形势稳定向好。",
            "全年规模以上工业增加值比上年增长百分之六，其中装备制造业增长较快。",
            "全年社会消费品零售总额稳步增长，网上零售额占比进一步提高。",
            "年末全市常住人口比上年末有所增加，城镇化率继续提高。",
        ] {
            text.push_str(para);
            text.push_str("\n\n某市2019年国民经济和社会发展统计公报\n\n");
        }
        text.push_str("凡本网注明来源的新闻资讯，均转载自有关政府网站，版权归原单位所有，本网不对其真实性负责。\n");
        let mut removed = Removed::new();
        let doc = clean("x.txt", &text, &mut removed);
        let body: Vec<&str> = doc.body.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(body.len(), 4, "{body:?}");
        assert!(body
            .iter()
            .all(|l| !l.contains("公报") && !l.contains("本网")));
        let running = "某市2019年国民经济和社会发展统计公报";
        assert!(doc.head.iter().any(|l| l == running), "{:?}", doc.head);
    }

    #[test]
    fn a_title_field_keeps_its_value() {
        assert_eq!(
            title_field("标题：二〇一〇年某县政府工作报告").as_deref(),
            Some("二〇一〇年某县政府工作报告")
        );
        assert_eq!(
            title_field("题目: 2019年国民经济和社会发展统计公报").as_deref(),
            Some("2019年国民经济和社会发展统计公报")
        );
        assert_eq!(title_field("标题：关于做好春节期间安全工作"), None);
        assert_eq!(title_field("来源：某某日报"), None);
        assert!(header_field("年份：2010"));
        assert!(!header_field(
            "主要任务：全面推进乡村振兴，加快建设农业强县。"
        ));
    }

    #[test]
    fn chrome_by_shape() {
        for l in [
            "查看: 744|回复: 0",
            "Rank: 7Rank: 7Rank: 7",
            "172463",
            "2万",
            "发表于 2024-7-5 21:02:51",
            "010-63691786",
            "Powered by quyushuju X3.4 Licensed© 2008-2018",
            "[复制链接]",
            "分享到：【打印本页】【关闭窗口】",
        ] {
            assert!(is_chrome(l), "{l}");
        }
        for l in [
            "一、2023年工作回顾",
            "名词解释",
            "各位代表:",
            "——南明区2024年高质量发展展望",
            "3.EOD：Ecology Oriented Development，即生态导向开发。",
        ] {
            assert!(!is_chrome(l), "{l}");
        }
    }

    /// `para` wrapped at 30 columns, Han characters two wide.
    fn wrap30(para: &str) -> String {
        let w = Wrap {
            width: 30,
            display: true,
        };
        let mut lines = Vec::new();
        let mut cur = String::new();
        for c in para.chars() {
            if w.measure(&cur) + w.measure(&c.to_string()) > 30 {
                lines.push(std::mem::take(&mut cur));
            }
            cur.push(c);
        }
        lines.push(cur);
        lines.join("\n")
    }

    #[test]
    fn display_width_wraps_are_undone() {
        // Lines of 14 or 15 characters depending on the digits they hold.
        let para = "2024年，南明区将深入实施强省会行动，落实四主四市工作思路，聚焦五高发展目标，以生态立区、工业强区战略为引领，带动全域工作再上新台阶，推动经济实现质的有效提升和量的合理增长。";
        let second = "坚持稳中求进工作总基调，完整准确全面贯彻新发展理念，加快构建新发展格局，着力推动高质量发展，全面深化改革开放，更好统筹发展和安全，切实增强经济活力。";
        let text = format!("{}\n{}", wrap30(para), wrap30(second));
        let mut removed = Removed::new();
        let doc = clean("wrapped.txt", &text, &mut removed);
        let body: Vec<&str> = doc.body.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(body, [normalise_punct(para), normalise_punct(second)]);
    }

    #[test]
    fn text_given_twice_is_kept_once() {
        // The page saved after the report, wrapped differently: the same
        // Han text is dropped; a short repeated line (a slogan) stays.
        let para = "2024年，南明区将深入实施强省会行动，落实四主四市工作思路，聚焦五高发展目标，以生态立区、工业强区战略为引领，带动全域工作再上新台阶。";
        let text = format!(
            "各位代表：\n{para}\n拼搏实干！\n工业投资增长百分之十，服务业增加值增长百分之六，社会消费品零售总额增长百分之八。\n拼搏实干！\n{}",
            wrap30(para).replace('\n', "")
        );
        let mut removed = Removed::new();
        let doc = clean("twice.txt", &text, &mut removed);
        let han = |s: &str| s.chars().filter(|&c| is_cjk(c)).collect::<String>();
        let all: String = doc.body.iter().map(|l| han(&l.text)).collect();
        assert_eq!(all.matches(&han(para)).count(), 1);
        assert_eq!(all.matches("拼搏实干").count(), 2);
        assert_eq!(removed.get("repeated_text"), Some(&1));
    }

    #[test]
    fn field_lines_are_chrome_and_prose_is_not() {
        for l in [
            "来源：四川日报",
            "责任编辑：",
            "【字号：大 中 小】",
            "作者: 李明",
            "免责声明：本网转载的内容仅供参考，不代表本网观点，如有侵权请联系删除。",
            "发布时间：2025年1月20日",
        ] {
            assert!(is_chrome(l), "{l}");
        }
        for l in [
            "来源于群众、服务于群众，是我们工作的出发点和落脚点。",
            "时间紧、任务重：全年完成投资500亿元。",
            "来源广泛的资金保障重点项目建设",
        ] {
            assert!(!is_chrome(l), "{l}");
        }
    }

    #[test]
    fn the_report_ends_before_page_furniture() {
        // A mobile-site notice ends in a full stop but follows chrome; the
        // last glossary entry has no full stop but continues the numbering.
        let text = "2025年政府工作报告\n各位代表：现在，我代表区人民政府向大会报告工作，请予审议。\n过去一年，全区经济运行稳中有进，地区生产总值增长百分之六。\n名词解释\n1.两新：指大规模设备更新和消费品以旧换新。\n2.两重：指国家重大战略实施和重点领域安全能力建设\n责任编辑：张三\n扫一扫在手机打开当前页\n您正在浏览的是为手机订制的移动网站。";
        let doc = clean("page.txt", text, &mut Removed::new());
        let body: Vec<&str> = doc.body.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            body.last(),
            Some(&"2.两重：指国家重大战略实施和重点领域安全能力建设")
        );
        assert!(!body
            .iter()
            .any(|l| l.contains("手机") || l.contains("编辑")));
    }

    #[test]
    fn flattened_outline_is_recovered() {
        let text = "各位代表：现在我代表区人民政府报告工作。一、2023年工作回顾过去一年成绩显著，经济增长。(一)产业发展。工业增长8%。二、2024年主要任务全力以赴。其中一、二、三产分别增长3%。";
        let doc = clean("flat.txt", text, &mut Removed::new());
        let lines: Vec<&str> = doc.body.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            lines,
            [
                "各位代表：现在我代表区人民政府报告工作。",
                "一、2023年工作回顾过去一年成绩显著，经济增长。",
                "(一)产业发展。工业增长8%。",
                "二、2024年主要任务全力以赴。其中一、二、三产分别增长3%。"
            ]
        );
    }

    #[test]
    fn punctuation_is_unified() {
        assert_eq!(
            normalise_punct("2月5日、6日,政协第十一届"),
            "2月5日、6日，政协第十一届"
        );
        assert_eq!(
            normalise_punct("比为11.9:44.1:44,其中"),
            "比为11.9:44.1:44，其中"
        );
        assert_eq!(normalise_punct("2024!在南岸!"), "2024！在南岸！");
    }
}
