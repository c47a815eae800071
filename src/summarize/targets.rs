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
    /// Signed: a stated decline (下降2.8%) is negative.
    pub value: f64,
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
        // An indicator's figure lies between its name and the next indicator.
        let stop = mentions.get(n + 1).map(|m| m.0).unwrap_or(simplified.len());
        let span = &simplified[end..stop];
        let Some(figure) = pick_figure(span) else {
            continue;
        };
        let before = &span[..figure.start];
        let measure = if figure.unit == "%" && GROWTH.iter().any(|w| before.contains(w))
            || figure.unit == "个百分点"
        {
            Measure::Growth
        } else {
            Measure::Level
        };
        let declining = DECLINE
            .iter()
            .any(|w| before.ends_with(w) || tail_has(before, w));
        let qualifier = figure.after.clone().or_else(|| {
            LEADING_QUALIFIERS
                .iter()
                .find(|q| before.contains(*q))
                .map(|q| q.to_string())
        });
        let year = explicit_year(&simplified[..start]).or(match kind {
            TargetKind::Target => ctx.year,
            TargetKind::Achieved => ctx.review_year,
        });
        rows.push(TargetRow {
            indicator: name.to_string(),
            value: if declining {
                -figure.value
            } else {
                figure.value
            },
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
    rows
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
    start: usize,
    value: f64,
    unit: String,
    after: Option<String>,
}

/// The figure that states the indicator's value in `span`: the first one,
/// unless the span lists per-period figures (分别…、…) and then gives a
/// whole-year one (全年), which is the statement a comparison wants.
fn pick_figure(span: &str) -> Option<Figure> {
    let figures: Vec<Figure> = NUMBER
        .captures_iter(span)
        .filter_map(|c| {
            let m = c.get(0)?;
            Some(Figure {
                start: m.start(),
                value: c["num"].parse().ok()?,
                unit: c["unit"].to_string(),
                after: c.name("after").map(|a| a.as_str().to_string()),
            })
        })
        .collect();
    let first = figures.first()?;
    let listed = span[..first.start].contains("分别") || span[..first.start].contains("季度");
    if !listed {
        return figures.into_iter().next();
    }
    let whole_year = span.find("全年")?;
    figures.into_iter().find(|f| f.start > whole_year)
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
        let s = "南岸区地区生产总值前三季度分别增长4.8%、3.7%、5.8%,分别居中心城区第1、第3、第2,全年增长6.7%(达到985.2亿元)、居中心城区第1。";
        let section = vec!["一、2023年工作回顾".to_string()];
        let rows = extract_sentence(s, s, &ctx(&section));
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].value, 6.7);
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
        let s = "2024年,西乡塘区地区生产总值(在地)增长1.8%,城镇居民人均可支配收入保持稳定增长。";
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
}
