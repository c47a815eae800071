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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
        ],
    ),
    ("固定资产投资", &["固定资产投资"]),
    ("社会消费品零售总额", &["社会消费品零售总额", "社零总额"]),
    (
        "一般公共预算收入",
        &["一般公共预算收入", "地方一般公共预算收入"],
    ),
    ("税收收入", &["税收收入"]),
    ("城镇新增就业", &["城镇新增就业", "新增城镇就业"]),
    ("城镇调查失业率", &["城镇调查失业率"]),
    ("居民消费价格", &["居民消费价格涨幅", "居民消费价格"]),
    ("粮食产量", &["粮食总产量", "粮食产量"]),
    ("常住人口城镇化率", &["常住人口城镇化率"]),
    (
        "外贸进出口总额",
        &["外贸进出口总额", "进出口总额", "外贸进出口"],
    ),
    ("实际利用外资", &["实际利用外资", "实际使用外资"]),
];

static NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)
        (?P<num>\d+(?:\.\d+)?)\s*
        (?P<unit>个百分点|%|‰|亿元|万元|元|万人次|万人|人|万吨|吨|万亩|亩|万平方米|平方米|万户|户)
        (?P<after>左右|以上|以内|以下|上下)?",
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
/// `original` is the sentence as printed; `simplified` its simplified fold,
/// which must have the same characters one for one (the fold of a single
/// sentence), or be `original` itself.
pub fn extract_sentence(
    original: &str,
    simplified: &str,
    ctx: &SentenceContext<'_>,
) -> Vec<TargetRow> {
    let Some(kind) = classify(simplified, ctx.section_path) else {
        return Vec::new();
    };
    let mentions = indicator_mentions(simplified);
    let mut rows = Vec::new();
    for (n, &(start, end, name)) in mentions.iter().enumerate() {
        if names_another_place(&simplified[..start], ctx.district) {
            continue;
        }
        // An indicator's figures lie between its name and the next indicator.
        let stop = mentions.get(n + 1).map(|m| m.0).unwrap_or(simplified.len());
        let span = &simplified[end..stop];
        let year = explicit_year(&simplified[..start]).or(match kind {
            TargetKind::Target => ctx.year,
            TargetKind::Achieved => ctx.review_year,
        });
        // At most one rate and one level per mention (完成1557.64亿元、增长3.2%).
        let mut seen: Vec<Measure> = Vec::new();
        for figure in pick_figures(span) {
            let lead = figure.lead.as_str();
            // A share of the indicator (…之比3%, 占…比重52%) is not its value.
            if RATIO_WORDS.iter().any(|w| lead.contains(w)) {
                break;
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
            let qualifier = figure.after.clone().or_else(|| {
                LEADING_QUALIFIERS
                    .iter()
                    .find(|q| lead.contains(*q))
                    .map(|q| q.to_string())
            });
            rows.push(TargetRow {
                indicator: name.to_string(),
                value: if declining {
                    -figure.value
                } else {
                    figure.value
                },
                upper: None,
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
    // 全区, 本市, 我县, 城区: the reporting unit speaking of itself.
    if place.chars().count() <= 2 || place.starts_with(['全', '本', '我', '该', '城']) {
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
    unit: String,
    after: Option<String>,
}

/// The figures that state the indicator's value in `span`, in order. When the
/// span lists per-period figures (分别…、…, 前三季度…) the whole-year one (全年)
/// is the statement a comparison wants; a breakdown (其中…, 分别…) after the
/// first figure is not about the indicator itself.
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
    let mut span = span;
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
            unit: c["unit"].to_string(),
            after: c.name("after").map(|a| a.as_str().to_string()),
        });
        last = end;
    }
    out
}

/// Indicator mentions in order: (byte start, byte end, normalised name),
/// without overlaps (the longest spelling at a position wins).
fn indicator_mentions(s: &str) -> Vec<(usize, usize, &'static str)> {
    let mut found: Vec<(usize, usize, &'static str)> = Vec::new();
    for &(name, spellings) in INDICATORS {
        for sp in spellings {
            for (i, _) in s.match_indices(sp) {
                found.push((i, i + sp.len(), name));
            }
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut out: Vec<(usize, usize, &'static str)> = Vec::new();
    for m in found {
        if out.last().is_some_and(|last| m.0 < last.1) {
            continue;
        }
        out.push(m);
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
/// (…主要目标和重点任务 / …工作回顾, …执行情况). `None` when neither says.
fn classify(simplified: &str, section_path: &[String]) -> Option<TargetKind> {
    const TARGET_WORDS: &[&str] = &["预期目标", "目标是", "目标为", "目标建议", "力争", "确保"];
    const ACHIEVED_WORDS: &[&str] = &["预计", "完成了", "实现了", "同比", "较上年", "比上年"];
    const TARGET_SECTIONS: &[&str] = &["目标", "任务", "计划草案", "安排", "展望", "建议"];
    const ACHIEVED_SECTIONS: &[&str] = &["回顾", "执行情况", "过去", "成效", "成绩", "成就"];
    if TARGET_WORDS.iter().any(|w| simplified.contains(w)) {
        return Some(TargetKind::Target);
    }
    if ACHIEVED_WORDS.iter().any(|w| simplified.contains(w)) {
        return Some(TargetKind::Achieved);
    }
    // The innermost heading that speaks decides.
    for heading in section_path.iter().rev() {
        let h = crate::corpus::to_simplified(heading);
        if ACHIEVED_SECTIONS.iter().any(|w| h.contains(w)) {
            return Some(TargetKind::Achieved);
        }
        if TARGET_SECTIONS.iter().any(|w| h.contains(w)) {
            return Some(TargetKind::Target);
        }
    }
    None
}

/// Every numeric statement of one parsed document, in document order.
pub fn extract_document(doc: &crate::corpus::Document) -> Vec<TargetRow> {
    let mut rows = Vec::new();
    for p in &doc.passages {
        let ctx = SentenceContext {
            doc_id: &doc.id,
            passage_id: &p.id,
            district: doc.meta.district.as_deref(),
            year: doc.meta.year,
            review_year: doc.meta.review_year,
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
}
