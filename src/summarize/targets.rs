//! Stated numeric targets and results (地区生产总值增长6%左右, 城镇新增就业6万人…)
//! pulled out of passages into comparable rows.
//!
//! Matching runs on the simplified-folded form of each sentence, so traditional
//! and simplified reports meet on one lexicon; the row keeps the sentence as the
//! report printed it, so a researcher can quote and check it.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// Whether a figure is a goal for the coming year or a result of the year reviewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    Target,
    Achieved,
}

/// Whether a figure is a rate of change or a level (an amount).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Measure {
    Growth,
    Level,
}

/// One numeric statement about one indicator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetRow {
    /// Normalised indicator name (simplified script), e.g. `地区生产总值`.
    pub indicator: String,
    /// Signed: a stated decline (下降2.8%) is negative. The lower end of a
    /// range (5.5%-6%).
    pub value: f64,
    /// The upper end when the report states a range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper: Option<f64>,
    pub unit: String,
    /// 左右 / 以上 / 以内 / 以下 / 突破 / 超过 …, when the report qualifies the figure.
    pub qualifier: Option<String>,
    pub kind: TargetKind,
    pub measure: Measure,
    pub year: Option<i32>,
    pub district: Option<String>,
    pub doc_id: String,
    pub passage_id: String,
    /// The sentence as the report printed it (original script).
    pub sentence: String,
}

/// Where a sentence comes from: what the extractor needs to know besides its text.
#[derive(Debug, Clone, Default)]
pub struct SentenceContext<'a> {
    pub doc_id: &'a str,
    pub passage_id: &'a str,
    pub district: Option<&'a str>,
    /// Year the report plans for.
    pub year: Option<i32>,
    /// Year the report looks back on.
    pub review_year: Option<i32>,
    /// Section headings above the passage (either script).
    pub section_path: &'a [String],
}

impl<'a> SentenceContext<'a> {
    /// The context of a stored passage whose report reviews `review_year`
    /// (see [`review_year`]).
    pub fn of(p: &'a crate::index::StoredPassage, review_year: Option<i32>) -> Self {
        SentenceContext {
            doc_id: &p.doc_id,
            passage_id: &p.passage_id,
            district: p.place.district.as_deref(),
            year: p.year,
            review_year,
            section_path: &p.section_path,
        }
    }
}

/// The year a report's results are about: the year it names as reviewed,
/// else, for a work report (delivered at the start of its year, 过去一年工作
/// 回顾), the year before its own.
pub fn review_year(doc_type: Option<&str>, year: Option<i32>, named: Option<i32>) -> Option<i32> {
    let annual = matches!(doc_type, Some("政府工作报告" | "管委会工作报告"));
    named.or_else(|| year.filter(|_| annual).map(|y| y - 1))
}

/// Indicator lexicon: normalised name → spellings met in reports (simplified).
/// Longer spellings first where one contains another, so the most specific wins.
const INDICATORS: &[(&str, &[&str])] = &[
    (
        "规上工业增加值",
        &["规模以上工业增加值", "规上工业增加值", "规模工业增加值"],
    ),
    (
        "规上工业总产值",
        &["规模以上工业总产值", "规上工业总产值", "工业总产值"],
    ),
    (
        "城镇居民人均可支配收入",
        &["城镇常住居民人均可支配收入", "城镇居民人均可支配收入"],
    ),
    (
        "农村居民人均可支配收入",
        &["农村常住居民人均可支配收入", "农村居民人均可支配收入"],
    ),
    (
        "居民人均可支配收入",
        &["全体居民人均可支配收入", "居民人均可支配收入"],
    ),
    // Intensities per unit of GDP are indicators of their own.
    (
        "单位地区生产总值能耗",
        &[
            "单位地区生产总值能耗",
            "单位生产总值能耗",
            "单位GDP能耗",
            "万元地区生产总值能耗",
        ],
    ),
    (
        "单位地区生产总值二氧化碳排放",
        &[
            "单位地区生产总值二氧化碳排放",
            "单位生产总值二氧化碳排放",
            "单位GDP二氧化碳排放",
        ],
    ),
    (
        "地区生产总值",
        &[
            "地区生产总值",
            "区域内生产总值",
            "区域生产总值",
            "国内生产总值",
            "生产总值",
            "GDP",
            // 经济增长5%左右: the economy's growth is the growth of its output
            // (only where it opens a clause, see `indicator_mentions`).
            "经济增长",
        ],
    ),
    ("固定资产投资", &["固定资产投资"]),
    ("社会消费品零售总额", &["社会消费品零售总额", "社零总额"]),
    (
        "一般公共预算收入",
        &[
            "地方一般公共预算收入",
            "一般公共预算收入",
            // The same budget line before its 2014 renaming.
            "地方公共财政预算收入",
            "公共财政预算收入",
        ],
    ),
    ("税收收入", &["税收收入"]),
    ("城镇新增就业", &["城镇新增就业", "新增城镇就业"]),
    ("城镇调查失业率", &["城镇调查失业率"]),
    (
        "居民消费价格",
        &["居民消费价格涨幅", "居民消费价格", "CPI涨幅", "CPI"],
    ),
    ("粮食产量", &["粮食总产量", "粮食产量"]),
    ("常住人口城镇化率", &["常住人口城镇化率"]),
    (
        "外贸进出口总额",
        &[
            "货物贸易进出口总额",
            "外贸进出口总额",
            "进出口总额",
            "进出口总值",
            "外贸进出口",
            "进出口",
        ],
    ),
    ("实际利用外资", &["实际利用外资", "实际使用外资"]),
];

static NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)
        (?P<num>\d+(?:\.\d+)?)
        # A range: 5.5-6%, 6.5%～7%, 8.5%到9.0% (widths folded by `fold_forms`).
        (?:(?:%|个百分点)?\s*(?:-|~|—{1,2}|至|到)\s*(?P<hi>\d+(?:\.\d+)?))?\s*
        (?P<unit>个百分点|%|‰|亿元|万元|元|万人次|万人|人|万吨|吨|万亩|亩|万平方米|平方米|万户|户)
        \s*(?P<after>左右|以上|以内|以下|上下)?",
    )
    .expect("static regex")
});

/// Words that, just before a figure, qualify it.
const LEADING_QUALIFIERS: &[&str] = &["突破", "超过", "不低于", "不超过", "力争", "约"];
/// Words that mark a figure as a decline.
const DECLINE: &[&str] = &["下降", "减少", "回落", "降"];
/// Words that mark a figure as a rate of change.
const GROWTH: &[&str] = &["增长", "增速", "增", "上涨", "涨幅", "下降", "减少", "降"];

/// Extracts the numeric statements of one sentence.
///
/// `original` is the sentence as printed; `simplified` its simplified fold
/// (any width of digits and signs: `fold_forms` evens them out here).
pub fn extract_sentence(
    original: &str,
    simplified: &str,
    ctx: &SentenceContext<'_>,
) -> Vec<TargetRow> {
    let folded = fold_forms(simplified);
    let simplified = folded.as_str();
    let Some(kind) = classify(simplified, ctx) else {
        return Vec::new();
    };
    let mentions = indicator_mentions(simplified);
    let mut rows = Vec::new();
    for (n, m) in mentions.iter().enumerate() {
        // A mention that only modifies another noun (万元GDP能耗, 占GDP比重)
        // still ends the previous indicator's span, but states nothing itself.
        if !m.subject || names_another_place(&simplified[..m.start], ctx.district) {
            continue;
        }
        let (start, end, name) = (m.start, m.end, m.name);
        // An indicator's figures lie between its name and the next indicator.
        let stop = mentions
            .get(n + 1)
            .map(|m| m.start)
            .unwrap_or(simplified.len());
        // The spelling itself may carry the verb (经济增长5%).
        let verb = ["增长", "涨幅"]
            .into_iter()
            .find(|v| simplified[start..end].ends_with(v))
            .unwrap_or("");
        let span = &simplified[end..stop];
        // 前三季度, 上半年 before the name: the figures are not the year's.
        if PERIOD_WORDS
            .iter()
            .any(|w| clause_before(simplified, start).contains(w))
            || in_part_of_year(&simplified[..start])
        {
            continue;
        }
        let year = explicit_year(&simplified[..start]).or(match kind {
            TargetKind::Target => ctx.year,
            TargetKind::Achieved => ctx.review_year,
        });
        // At most one rate and one level per mention (完成1557.64亿元、增长3.2%).
        let mut seen: Vec<Measure> = Vec::new();
        for figure in pick_figures(span) {
            let lead = format!("{verb}{}", figure.lead);
            let lead = lead.as_str();
            // A share of the indicator (…之比3%, 占…比重52%) is not its value.
            if RATIO_WORDS.iter().any(|w| lead.contains(w)) {
                break;
            }
            // 年均增长, 累计增长, 高于全国0.4个百分点: a figure for another
            // period or a comparison, not the indicator's value for the year.
            if PERIOD_WORDS.iter().any(|w| lead.contains(w))
                || COMPARISON_WORDS.iter().any(|w| lead.contains(w))
            {
                continue;
            }
            let measure = if figure.unit == "个百分点"
                || figure.unit == "%" && GROWTH.iter().any(|w| lead.contains(w))
            {
                Measure::Growth
            } else {
                Measure::Level
            };
            if seen.contains(&measure) {
                continue;
            }
            seen.push(measure);
            let declining = DECLINE.iter().any(|w| tail_has(lead, w));
            let sign = if declining { -1.0 } else { 1.0 };
            // A leading qualifier counts in the figure's own clause only
            // (突破千亿大关，增长14%: 突破 is the level's, not the rate's).
            let own_clause = clause_before(lead, lead.len());
            let qualifier = figure.after.clone().or_else(|| {
                LEADING_QUALIFIERS
                    .iter()
                    .find(|q| own_clause.contains(*q))
                    .map(|q| q.to_string())
            });
            rows.push(TargetRow {
                indicator: name.to_string(),
                value: sign * figure.value,
                upper: figure.upper.map(|u| sign * u),
                unit: figure.unit,
                qualifier,
                kind,
                measure,
                year,
                district: ctx.district.map(str::to_string),
                doc_id: ctx.doc_id.to_string(),
                passage_id: ctx.passage_id.to_string(),
                sentence: original.to_string(),
            });
        }
    }
    rows
}

/// Folds the forms reports print figures in to one: full-width digits and
/// signs (`５．５％`, `﹪`), tildes and dashes between figures (`６．５％～７％`,
/// `6.5%－7%`), so the figure pattern meets one spelling.
fn fold_forms(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    for (i, &c) in chars.iter().enumerate() {
        let prev_digit = i > 0 && is_digit(chars[i - 1]);
        let next_digit = chars.get(i + 1).is_some_and(|&n| is_digit(n));
        let folded = match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            '％' | '﹪' => '%',
            // A dot between digits is a decimal point in any width.
            '．' | '·' if prev_digit && next_digit => '.',
            '～' | '〜' | '~' => '~',
            // Dashes join the ends of a range (5%－6%); elsewhere they are
            // list marks and stay as they are.
            '－' | '–' | '—' | '−' if next_digit => '-',
            _ => c,
        };
        out.push(folded);
    }
    out
}

fn is_digit(c: char) -> bool {
    c.is_ascii_digit() || ('０'..='９').contains(&c)
}

/// The text from the start of the clause holding byte `at` up to `at`.
fn clause_before(s: &str, at: usize) -> &str {
    let head = &s[..at];
    let from = head
        .char_indices()
        .rev()
        .find(|&(_, c)| CLAUSE_ENDS.contains(&c))
        .map(|(i, c)| i + c.len_utf8())
        .unwrap_or(0);
    &head[from..]
}

/// Whether a sentence, up to a mention, has set a part of the year as the
/// period it speaks of (今年一季度，我们…，地区生产总值增长9.6%): a quarter or
/// half-year named earlier in the sentence holds until the whole year is
/// named again.
fn in_part_of_year(head: &str) -> bool {
    let part = ["季度", "上半年", "下半年"]
        .iter()
        .filter_map(|w| head.rfind(w))
        .max();
    match (part, head.rfind("全年")) {
        (Some(p), Some(w)) => p > w,
        (Some(_), None) => true,
        _ => false,
    }
}

/// Marks that end a clause (a comma between digits is a thousands mark and
/// is skipped by `own_clauses`).
const CLAUSE_ENDS: &[char] = &['，', ',', '；', ';', '：', ':', '。'];

/// Words that make a figure one of another period: averages over years,
/// cumulative growth, quarters and half-years.
const PERIOD_WORDS: &[&str] = &[
    "年均",
    "累计",
    "平均增长",
    "两年平均",
    "季度",
    "上半年",
    "下半年",
];

/// Words that make a figure a gap to something else (高于全国0.4个百分点).
const COMPARISON_WORDS: &[&str] = &["高于", "低于", "高出", "快于", "慢于", "超出"];

/// Words that, opening a clause after the one naming an indicator, carry on
/// its predicate (地区生产总值2375.3亿元，同比增长1.5%): the clause has no
/// subject of its own.
const CONTINUATIONS: &[&str] = &[
    "同比",
    "比上年",
    "较上年",
    "增长",
    "增速",
    "增",
    "下降",
    "降",
    "达",
    "实现",
    "完成",
    "突破",
    "超",
    "迈上",
    "跨上",
    "跃上",
    "跨越",
    "跃居",
    "位居",
    "稳居",
    "全年",
    "总量",
    "按可比价",
    "可比",
    "预计",
    "力争",
    "约",
    "为",
];

/// Words by which a figure after an indicator states a share, not a value.
const RATIO_WORDS: &[&str] = &["之比", "比重", "占比", "占全"];

/// True when the words just before an indicator name a place other than the
/// reporting district (重庆经开区地区生产总值… in 南岸区's report): that
/// figure belongs to someone else.
fn names_another_place(prefix: &str, district: Option<&str>) -> bool {
    static PLACE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(\p{Han}{1,6}?(?:开发区|经开区|高新区|新区|区|县|市|旗))(?:的)?$")
            .expect("static regex")
    });
    let Some(c) = PLACE.captures(prefix) else {
        return false;
    };
    let place = &c[1];
    // 全区, 本市, 我县, 城区: the reporting unit speaking of itself, also
    // after a verb the lazy match took in (实现本区).
    let chars: Vec<char> = place.chars().collect();
    let tail = chars[chars.len().saturating_sub(2)..].first();
    if chars.len() <= 2 || tail.is_some_and(|c| ['全', '本', '我', '该', '城'].contains(c)) {
        return false;
    }
    match district {
        Some(d) => !(place.ends_with(d) || d.ends_with(place)),
        None => false,
    }
}

/// True when `word` stands in the last few characters of `s` (e.g. `同比下降`
/// before the figure, with 同口径 and the like between).
fn tail_has(s: &str, word: &str) -> bool {
    let tail: String = {
        let chars: Vec<char> = s.chars().collect();
        chars[chars.len().saturating_sub(6)..].iter().collect()
    };
    tail.contains(word)
}

struct Figure {
    /// Text between the previous figure (or the indicator) and this one.
    lead: String,
    value: f64,
    /// Upper end of a range.
    upper: Option<f64>,
    unit: String,
    after: Option<String>,
}

/// The figures that state the indicator's value in `span`, in order. When the
/// span lists per-period figures (分别…、…, 前三季度…) the whole-year one (全年)
/// is the statement a comparison wants; a breakdown (其中…, 分别…) after the
/// first figure is not about the indicator itself; a later clause counts only
/// while it carries on the indicator's predicate (`CONTINUATIONS`), since a
/// clause with its own subject states someone else's figure.
fn pick_figures(span: &str) -> Vec<Figure> {
    let mut from = 0;
    if let Some(first) = NUMBER.find(span) {
        let head = &span[..first.start()];
        if head.contains("分别") || head.contains("季度") {
            let Some(whole_year) = span.find("全年") else {
                return Vec::new();
            };
            from = whole_year;
        }
    }
    let mut span = &span[..from + own_clauses(&span[from..])];
    if let Some(first) = NUMBER.find(&span[from..]) {
        let after_first = from + first.end();
        if let Some(cut) = ["其中", "分别"]
            .iter()
            .filter_map(|w| span[after_first..].find(w).map(|i| i + after_first))
            .min()
        {
            span = &span[..cut];
        }
    }
    let mut out = Vec::new();
    let mut last = from;
    for c in NUMBER.captures_iter(&span[from..]) {
        let Some(m) = c.get(0) else { continue };
        let (start, end) = (m.start() + from, m.end() + from);
        let Ok(value) = c["num"].parse() else {
            continue;
        };
        out.push(Figure {
            lead: span[last..start].to_string(),
            value,
            upper: c.name("hi").and_then(|h| h.as_str().parse().ok()),
            unit: c["unit"].to_string(),
            after: c.name("after").map(|a| a.as_str().to_string()),
        });
        last = end;
    }
    out
}

/// Byte length of the part of `span` that belongs to the indicator named
/// just before it: its first clause, then each following clause that opens
/// with a continuation of its predicate.
fn own_clauses(span: &str) -> usize {
    let mut end = 0;
    let mut first = true;
    let bytes = span.as_bytes();
    for (i, c) in span.char_indices() {
        if !CLAUSE_ENDS.contains(&c) {
            continue;
        }
        // 1,234: a thousands mark, not a clause end.
        if c == ','
            && i > 0
            && bytes[i - 1].is_ascii_digit()
            && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
        {
            continue;
        }
        let clause = &span[end..i];
        if !first && !continues(clause) {
            return end;
        }
        first = false;
        end = i + c.len_utf8();
    }
    if !first && !continues(&span[end..]) {
        return end;
    }
    span.len()
}

fn continues(clause: &str) -> bool {
    let mut c = clause.trim_start();
    // 历史性突破千亿大关, 首次突破: an adverb before the predicate.
    if let Some(rest) = ADVERBS.iter().find_map(|a| c.strip_prefix(a)) {
        c = rest;
    }
    CONTINUATIONS.iter().any(|w| c.starts_with(w))
}

/// Adverbs that may open a continuing clause before its predicate.
const ADVERBS: &[&str] = &[
    "历史性",
    "首次",
    "再次",
    "一举",
    "成功",
    "顺利",
    "率先",
    "稳步",
    "继续",
];

/// One place an indicator is named.
struct Mention {
    start: usize,
    end: usize,
    name: &'static str,
    /// False when the name only modifies another noun (万元GDP能耗,
    /// 单位生产总值, 人均GDP, 占GDP比重, 对GDP增长的贡献率, 海洋生产总值):
    /// then the figure that follows is that other noun's.
    subject: bool,
}

/// Words just before an indicator that make it a modifier of something else.
const MODIFIER_BEFORE: &[&str] = &[
    "万元",
    "亿元",
    "单位",
    "人均",
    "地均",
    "每平方公里",
    "海洋",
    "占",
    "对",
    "与",
    "于",
    "出",
    "超过",
];
/// Nouns right after an indicator (optionally after 的) that are the real
/// head of the phrase: 能耗, 比重, 贡献率…
const HEAD_AFTER: &[&str] = &[
    "能耗",
    "水耗",
    "电耗",
    "用水",
    "建设用地",
    "二氧化碳",
    "比重",
    "之比",
    "比率",
    "比例",
    "产出",
    "贡献",
    "增长的贡献",
    "增长贡献",
    "增长的",
    "增长率",
];

/// Every spelling of the lexicon in one automaton (a sentence is scanned
/// once, not once per spelling), with the indicator each names.
static SPELLINGS: LazyLock<(aho_corasick::AhoCorasick, Vec<&'static str>)> = LazyLock::new(|| {
    let (names, spellings): (Vec<&'static str>, Vec<&'static str>) = INDICATORS
        .iter()
        .flat_map(|&(name, spellings)| spellings.iter().map(move |sp| (name, *sp)))
        .unzip();
    let automaton = aho_corasick::AhoCorasick::new(spellings).expect("static spellings");
    (automaton, names)
});

/// Indicator mentions in order, without overlaps (the longest spelling at a
/// position wins).
fn indicator_mentions(s: &str) -> Vec<Mention> {
    let mut found: Vec<(usize, usize, &'static str)> = SPELLINGS
        .0
        .find_overlapping_iter(s)
        .map(|m| (m.start(), m.end(), SPELLINGS.1[m.pattern().as_usize()]))
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut out: Vec<Mention> = Vec::new();
    for (start, end, name) in found {
        if out.last().is_some_and(|last| start < last.end) {
            continue;
        }
        let before = &s[..start];
        let after = s[end..].strip_prefix('的').unwrap_or(&s[end..]);
        let mut subject = !MODIFIER_BEFORE.iter().any(|w| before.ends_with(w))
            && !HEAD_AFTER.iter().any(|w| after.starts_with(w));
        // 经济增长 names GDP growth only where it opens a clause (目标是：经济
        // 增长5%左右), not inside a longer noun (数字经济增长).
        if s[start..end].starts_with("经济") {
            let prev = before.chars().next_back();
            if prev.is_some_and(|c| !(CLAUSE_ENDS.contains(&c) || c == '是' || c == '为')) {
                continue;
            }
            subject = subject && after.starts_with(|c: char| c.is_ascii_digit());
        }
        out.push(Mention {
            start,
            end,
            name,
            subject,
        });
    }
    out
}

/// A year the sentence names before the indicator (`2024年，…`), which beats
/// the one inferred from the document.
fn explicit_year(prefix: &str) -> Option<i32> {
    static YEAR: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(20\d\d)年").expect("static regex"));
    let caps: Vec<_> = YEAR.captures_iter(prefix).collect();
    let last = caps.last()?;
    // 2024年1月 is a date, not the year a figure belongs to.
    let m = last.get(0)?;
    if prefix[m.end()..].starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    last[1].parse().ok()
}

/// Decides whether a sentence states goals or results: its own words first
/// (预期目标, 力争 / 完成, 预计实现), then the section it stands in
/// (…主要目标和重点任务 / …工作回顾, …执行情况, or a heading naming the
/// reviewed year or the planned one). `None` when neither says.
fn classify(simplified: &str, ctx: &SentenceContext<'_>) -> Option<TargetKind> {
    const TARGET_WORDS: &[&str] = &[
        "预期目标",
        "预期指标",
        "目标是",
        "目标为",
        "目标建议",
        "力争",
        "确保",
    ];
    const ACHIEVED_WORDS: &[&str] = &["预计", "完成了", "实现了", "同比", "较上年", "比上年"];
    const TARGET_SECTIONS: &[&str] = &["目标", "任务", "计划草案", "安排", "展望", "建议"];
    const ACHIEVED_SECTIONS: &[&str] = &[
        "回顾",
        "执行情况",
        "基本情况",
        "完成情况",
        "过去",
        "成效",
        "成绩",
        "成就",
    ];
    // 高出预期目标1.2个百分点: a result measured against the goal.
    const MEASURED_AGAINST: &[&str] = &[
        "高出预期",
        "超出预期",
        "好于预期",
        "超额完成",
        "完成年度计划",
    ];
    if MEASURED_AGAINST.iter().any(|w| simplified.contains(w)) {
        return Some(TargetKind::Achieved);
    }
    if TARGET_WORDS.iter().any(|w| simplified.contains(w)) {
        return Some(TargetKind::Target);
    }
    if ACHIEVED_WORDS.iter().any(|w| simplified.contains(w)) {
        return Some(TargetKind::Achieved);
    }
    // The innermost heading that speaks decides.
    for heading in ctx.section_path.iter().rev() {
        let h = crate::corpus::to_simplified(heading);
        if ACHIEVED_SECTIONS.iter().any(|w| h.contains(w)) {
            return Some(TargetKind::Achieved);
        }
        if TARGET_SECTIONS.iter().any(|w| h.contains(w)) {
            return Some(TargetKind::Target);
        }
        // 2006年经济社会发展…, 2007年工作… in a 2007 report: a year already
        // past is the one reviewed, the report's own is the one planned.
        if let Some(y) = heading_year(&h) {
            if ctx.review_year.is_some_and(|r| y <= r) || ctx.year.is_some_and(|r| y < r) {
                return Some(TargetKind::Achieved);
            }
            if ctx.year.is_some_and(|r| y >= r) {
                return Some(TargetKind::Target);
            }
        }
    }
    None
}

/// The one year a heading names (`2006年经济社会发展基本情况`); none when it
/// names a span (2021—2025年) or several years.
fn heading_year(heading: &str) -> Option<i32> {
    static YEAR: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?:19|20)\d\d").expect("static regex"));
    let mut years = YEAR.find_iter(heading);
    let (y, None) = (years.next()?, years.next()) else {
        return None;
    };
    heading[y.end()..]
        .starts_with('年')
        .then(|| y.as_str().parse().ok())?
}

/// Every numeric statement of one parsed document, in document order.
pub fn extract_document(doc: &crate::corpus::Document) -> Vec<TargetRow> {
    let mut rows = Vec::new();
    for p in &doc.passages {
        let ctx = SentenceContext {
            doc_id: &doc.id,
            passage_id: &p.id,
            district: doc.meta.place.district.as_deref(),
            year: doc.meta.year,
            review_year: review_year(
                doc.meta.doc_type.as_deref(),
                doc.meta.year,
                doc.meta.review_year,
            ),
            section_path: &p.section_path,
        };
        rows.extend(extract_passage(&p.text, &ctx));
    }
    rows
}

/// Every numeric statement of one passage's text (original script).
pub fn extract_passage(text: &str, ctx: &SentenceContext<'_>) -> Vec<TargetRow> {
    let mut rows = Vec::new();
    for (a, b) in super::text::sentence_spans(text) {
        let original = text[a..b].trim();
        // Every statement has a figure; folding the script is the costly
        // step, so sentences without a digit stop here.
        if !original.chars().any(is_digit) {
            continue;
        }
        let simplified = crate::corpus::to_simplified(original);
        rows.extend(extract_sentence(original, &simplified, ctx));
    }
    rows
}

/// The normalised indicator a user's spelling names (either script, any
/// listed variant), if any.
pub fn normalize_indicator(name: &str) -> Option<&'static str> {
    let s = crate::corpus::to_simplified(name.trim());
    INDICATORS
        .iter()
        .find(|(norm, spellings)| *norm == s || spellings.contains(&s.as_str()))
        .map(|(norm, _)| *norm)
}

/// Every (normalised name, spelling) pair of the lexicon, spellings in the
/// simplified script (Latin ones upper-case: GDP, CPI).
pub fn indicator_spellings() -> impl Iterator<Item = (&'static str, &'static str)> {
    INDICATORS
        .iter()
        .flat_map(|(n, spellings)| spellings.iter().map(move |s| (*n, *s)))
}

/// Every normalised indicator name the extractor knows.
pub fn known_indicators() -> impl Iterator<Item = &'static str> {
    INDICATORS.iter().map(|(n, _)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(section: &[String]) -> SentenceContext<'_> {
        SentenceContext {
            doc_id: "d",
            passage_id: "d-0001",
            district: Some("某区"),
            year: Some(2025),
            review_year: Some(2024),
            section_path: section,
        }
    }

    #[test]
    fn target_list_gives_one_row_per_indicator() {
        let s = "今年经济社会发展主要预期目标是:地区生产总值增长6%左右,规上工业增加值增长6%左右,固定资产投资增长4%,一般公共预算收入同口径增长6%。";
        let rows = extract_sentence(s, s, &ctx(&[]));
        let got: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    r.indicator.as_str(),
                    r.value,
                    r.qualifier.as_deref(),
                    r.kind,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("地区生产总值", 6.0, Some("左右"), TargetKind::Target),
                ("规上工业增加值", 6.0, Some("左右"), TargetKind::Target),
                ("固定资产投资", 4.0, None, TargetKind::Target),
                ("一般公共预算收入", 6.0, None, TargetKind::Target),
            ]
        );
        assert!(rows.iter().all(|r| r.year == Some(2025)));
    }

    #[test]
    fn a_quarter_named_earlier_in_the_sentence_holds_until_the_year_is() {
        let section = vec!["一、2023年工作回顾".to_string()];
        let s = "今年一季度，我们克服不利影响，实现开门红，地区生产总值增长9.6%、固定资产投资增长40.1%。";
        assert_eq!(extract_sentence(s, s, &ctx(&section)), vec![]);
        let s = "上半年经济受到冲击，全年地区生产总值仍增长3.1%。";
        let rows = extract_sentence(s, s, &ctx(&section));
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].value, 3.1);
    }

    #[test]
    fn a_comment_between_figure_and_growth_keeps_the_growth() {
        let section = vec!["一、过去一年的工作".to_string()];
        let s = "全县地区生产总值达到215亿元，首次跨上两百亿台阶，增长7.2%，增速全市第二。";
        let rows = extract_sentence(s, s, &ctx(&section));
        let got: Vec<_> = rows.iter().map(|r| (r.value, r.measure)).collect();
        assert_eq!(got, vec![(215.0, Measure::Level), (7.2, Measure::Growth)]);
        let s = "全县地区生产总值达到215亿元，突破两百亿大关，增长7.2%。";
        let rows = extract_sentence(s, s, &ctx(&section));
        assert_eq!((rows[1].value, rows[1].qualifier.as_deref()), (7.2, None));
        // A clause with a subject of its own still ends the span.
        let s = "全县地区生产总值达到215亿元，税收大幅提高，增长9%。";
        let rows = extract_sentence(s, s, &ctx(&section));
        assert_eq!(rows.len(), 1, "{rows:?}");
    }

    #[test]
    fn a_heading_naming_the_reviewed_or_planned_year_decides() {
        let s = "全年地区生产总值达到860亿元，增长6.1%。";
        let past = vec!["一、2024年国民经济运行基本情况".to_string()];
        let rows = extract_sentence(s, s, &ctx(&past));
        assert_eq!(rows[1].kind, TargetKind::Achieved);
        assert_eq!(rows[1].year, Some(2024));
        let plan = vec!["二、2025年经济社会发展".to_string()];
        let rows = extract_sentence(s, s, &ctx(&plan));
        assert_eq!(rows[1].kind, TargetKind::Target);
        let span = vec!["二、2021-2025年发展".to_string()];
        assert_eq!(extract_sentence(s, s, &ctx(&span)), vec![]);
    }

    #[test]
    fn planned_indicators_and_full_width_ranges_are_targets() {
        let s = "今年主要预期指标是：实现地区生产总值增长５．５％～６％，城镇登记失业率控制在３％以内。";
        let rows = extract_sentence(s, s, &ctx(&[]));
        assert_eq!(rows[0].indicator, "地区生产总值");
        assert_eq!((rows[0].value, rows[0].upper), (5.5, Some(6.0)));
        assert_eq!(rows[0].kind, TargetKind::Target);
    }

    #[test]
    fn quarterly_list_yields_the_whole_year_figure() {
        let s = "某区地区生产总值前三季度分别增长4.8%、3.7%、5.8%,分别居中心城区第1、第3、第2,全年增长6.7%(达到985.2亿元)、居中心城区第1。";
        let section = vec!["一、2023年工作回顾".to_string()];
        let rows = extract_sentence(s, s, &ctx(&section));
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(rows[0].value, 6.7);
        assert_eq!((rows[1].value, rows[1].measure), (985.2, Measure::Level));
        assert_eq!(rows[0].kind, TargetKind::Achieved);
        assert_eq!(rows[0].measure, Measure::Growth);
        assert_eq!(rows[0].year, Some(2024));
    }

    #[test]
    fn decline_is_negative_and_level_is_level() {
        let s = "预计实现区域内生产总值同比增5%左右,一般公共预算收入同口径下降2.8%,地区生产总值完成1557.64亿元。";
        let rows = extract_sentence(s, s, &ctx(&[]));
        assert_eq!(rows[0].indicator, "地区生产总值");
        assert_eq!((rows[0].value, rows[0].kind), (5.0, TargetKind::Achieved));
        assert_eq!(rows[1].value, -2.8);
        assert_eq!((rows[2].value, rows[2].unit.as_str()), (1557.64, "亿元"));
        assert_eq!(rows[2].measure, Measure::Level);
    }

    #[test]
    fn explicit_year_wins_and_dates_are_not_years() {
        let s = "2024年,某区地区生产总值(在地)增长1.8%,城镇居民人均可支配收入保持稳定增长。";
        let section = vec!["一、2024年国民经济和社会发展计划执行情况".to_string()];
        let rows = extract_sentence(s, s, &ctx(&section));
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!((rows[0].value, rows[0].year), (1.8, Some(2024)));
        assert_eq!(explicit_year("2024年1月31日在"), None);
    }

    #[test]
    fn sentence_without_a_stance_is_skipped() {
        let s = "地区生产总值增长5%。";
        assert!(extract_sentence(s, s, &ctx(&[])).is_empty());
    }

    #[test]
    fn level_and_rate_of_one_mention_and_no_breakdown() {
        let s =
            "全市地区生产总值完成1557.64亿元、增长3.2%,其中一、二、三产分别增长3.3%、0.6%、5.7%。";
        let section = vec!["一、2023年政府工作回顾".to_string()];
        let rows = extract_sentence(s, s, &ctx(&section));
        let got: Vec<_> = rows
            .iter()
            .map(|r| (r.value, r.unit.as_str(), r.measure))
            .collect();
        assert_eq!(
            got,
            vec![
                (1557.64, "亿元", Measure::Level),
                (3.2, "%", Measure::Growth)
            ]
        );
    }

    #[test]
    fn shares_and_other_places_are_not_the_indicator() {
        let section = vec!["一、2023年工作回顾".to_string()];
        let s = "技术合同成交额与地区生产总值之比3%以上。";
        assert!(extract_sentence(s, s, &ctx(&section)).is_empty());
        let s = "重庆经开区地区生产总值全年增长8.3%。";
        assert!(extract_sentence(s, s, &ctx(&section)).is_empty());
        let s = "某区地区生产总值全年增长8.3%。";
        assert_eq!(extract_sentence(s, s, &ctx(&section)).len(), 1);
    }

    // Sentences below come from wide-dev reports outside the judged set.

    #[test]
    fn full_width_signs_and_ranges() {
        let s = "经济社会发展的主要预期目标是：生产总值增长５％左右，固定资产投资增速保持在全国平均水平以上，一般公共预算收入增长3％。";
        let rows = extract_sentence(s, s, &ctx(&[]));
        let got: Vec<_> = rows
            .iter()
            .map(|r| (r.indicator.as_str(), r.value, r.qualifier.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("地区生产总值", 5.0, Some("左右")),
                ("一般公共预算收入", 3.0, None)
            ]
        );
        let s = "今年经济社会发展的主要预期目标是：地区生产总值增长保持在8.1%-8.6%之间，社会消费品零售总额增长8.5%。";
        let rows = extract_sentence(s, s, &ctx(&[]));
        assert_eq!((rows[0].value, rows[0].upper), (8.1, Some(8.6)));
        let s = "今年经济社会发展主要目标是：地区生产总值增长4.5%—5%，固定资产投资增长5%。";
        let rows = extract_sentence(s, s, &ctx(&[]));
        assert_eq!((rows[0].value, rows[0].upper), (4.5, Some(5.0)));
        assert_eq!(rows[1].indicator, "固定资产投资");
    }

    #[test]
    fn modified_indicator_is_not_the_subject() {
        let section = vec!["一、2015年工作回顾".to_string()];
        for s in [
            "万元GDP能耗为0.39吨标准煤，下降4.25%；",
            "金融业实现增加值1109.49亿元，增长13.2%，占地区生产总值比重达34.1%，对辖区经济增长贡献率达48.0%。",
            "旅游业国际影响力大幅提升，对GDP综合贡献率达33.4%。",
        ] {
            let rows = extract_sentence(s, s, &ctx(&section));
            assert!(
                !rows.iter().any(|r| r.indicator == "地区生产总值"),
                "{s}: {rows:?}"
            );
        }
    }

    #[test]
    fn averages_over_years_are_not_the_year() {
        let section = vec!["一、过去五年工作回顾".to_string()];
        let s = "地区生产总值跨过3万亿元、年均增长5.2％，较“十三五”末净增1万亿元。";
        let rows = extract_sentence(s, s, &ctx(&section));
        assert!(rows.iter().all(|r| r.measure == Measure::Level), "{rows:?}");
    }
}
