//! Direct answers to figure questions ("六盘水市2024年地区生产总值预期增长多少？",
//! "What is the GDP growth target of Nan'an District for 2024?").
//!
//! The figure a researcher asks for is usually stated once, in one sentence of
//! one report, and that sentence need not rank among the passages a question
//! retrieves. The answer therefore comes from the stated figures themselves
//! ([`super::targets`]): the question is read for an indicator, a year, target
//! or result and rate or amount, and the place's own report is searched for
//! the row. No row that fits → no answer: an unstated figure is never guessed.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::targets::{
    extract_passage, indicator_spellings, review_year, Measure, SentenceContext, TargetKind,
    TargetRow,
};
use crate::index::{Filter, IndexError, Library};

/// A stated figure answering a question, with the sentence that states it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// The figure (signed: a stated decline is negative); the lower end of a range.
    pub figure: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper: Option<f64>,
    pub unit: String,
    /// 左右 / 以上 / 以内 …, as the report qualifies the figure.
    pub qualifier: Option<String>,
    pub kind: TargetKind,
    pub measure: Measure,
    /// Normalised indicator (simplified script).
    pub indicator: String,
    /// The year the figure is for.
    pub year: Option<i32>,
    /// The reporting unit whose report states it.
    pub place: String,
    /// The sentence as the report printed it.
    pub sentence: String,
    pub passage_id: String,
    pub doc_id: String,
}

/// What a question asks for, read from its words alone.
#[derive(Debug, Clone, PartialEq)]
pub struct FigureQuestion {
    pub indicator: &'static str,
    pub year: Option<i32>,
    /// `None` when the wording says neither goal nor result.
    pub kind: Option<TargetKind>,
    /// `None` when the wording says neither rate nor amount.
    pub measure: Option<Measure>,
}

/// English names of the lexicon's indicators, most specific first (an
/// intensity per unit of GDP before GDP itself).
const ENGLISH_INDICATORS: &[(&str, &[&str])] = &[
    (
        "单位地区生产总值能耗",
        &["energy consumption per unit", "energy intensity"],
    ),
    (
        "单位地区生产总值二氧化碳排放",
        &[
            "carbon dioxide emissions per unit",
            "co2 emissions per unit",
            "carbon intensity",
        ],
    ),
    (
        "规上工业增加值",
        &[
            "industrial value added",
            "value added of industr",
            "value-added of industr",
        ],
    ),
    (
        "规上工业总产值",
        &["industrial output", "gross industrial output"],
    ),
    (
        "城镇居民人均可支配收入",
        &[
            "urban residents' per capita disposable income",
            "urban per capita disposable income",
            "disposable income of urban residents",
            "urban residents' disposable income",
        ],
    ),
    (
        "农村居民人均可支配收入",
        &[
            "rural residents' per capita disposable income",
            "rural per capita disposable income",
            "disposable income of rural residents",
            "rural residents' disposable income",
        ],
    ),
    (
        "居民人均可支配收入",
        &["per capita disposable income", "disposable income"],
    ),
    (
        "固定资产投资",
        &[
            "fixed asset investment",
            "fixed-asset investment",
            "fixed assets investment",
            "investment in fixed assets",
        ],
    ),
    (
        "社会消费品零售总额",
        &["retail sales", "retail sale of consumer goods"],
    ),
    (
        "一般公共预算收入",
        &[
            "general public budget revenue",
            "public budget revenue",
            "budget revenue",
            "fiscal revenue",
        ],
    ),
    ("税收收入", &["tax revenue"]),
    (
        "城镇调查失业率",
        &["unemployment rate", "surveyed unemployment"],
    ),
    (
        "城镇新增就业",
        &[
            "new urban jobs",
            "urban jobs",
            "new jobs",
            "urban employment",
        ],
    ),
    ("居民消费价格", &["consumer price", "cpi", "inflation"]),
    (
        "粮食产量",
        &["grain output", "grain production", "grain yield"],
    ),
    (
        "常住人口城镇化率",
        &[
            "urbanization rate",
            "urbanisation rate",
            "urbanization",
            "urbanisation",
        ],
    ),
    (
        "外贸进出口总额",
        &[
            "foreign trade",
            "imports and exports",
            "import and export",
            "total trade",
        ],
    ),
    (
        "实际利用外资",
        &["foreign investment", "foreign capital", "fdi"],
    ),
    (
        "地区生产总值",
        &[
            "gdp",
            "gross domestic product",
            "regional output",
            "economic growth",
            "economy grow",
        ],
    ),
];

/// Words that make a question ask for a figure (simplified script).
const ASKS_FIGURE_ZH: &[&str] = &[
    "多少",
    "几个百分点",
    "几成",
    "多大",
    "多高",
    "多快",
    "是什么",
    "何种水平",
];
/// Words of a goal (simplified / lower-case English).
const TARGET_ZH: &[&str] = &["预期", "目标", "计划", "力争", "打算", "安排"];
const TARGET_EN: &[&str] = &[
    "target", "goal", "plan", "aim", "expect", "project", "forecast",
];
/// Words of a result.
const ACHIEVED_ZH: &[&str] = &["完成", "实现", "实际", "取得", "了多少", "了几"];
const ACHIEVED_EN: &[&str] = &[
    "achiev", "actual", "grew", "did ", "was ", "were ", "result", "reached", "rose",
];
/// Words of a rate of change.
const GROWTH_ZH: &[&str] = &["增长", "增速", "增幅", "涨幅", "下降", "降低", "降幅"];
const GROWTH_EN: &[&str] = &[
    "growth", "grow", "increase", "rise", "rose", "decline", "fall", "drop", "reduc",
];
/// Words of an amount.
const LEVEL_ZH: &[&str] = &[
    "总量",
    "规模",
    "多少亿",
    "多少万",
    "多少元",
    "多少人",
    "多少吨",
    "总额是多少",
    "是多少",
    "有多少",
];
// "What was X's GDP in 2024?" without a word of change asks the amount.
const LEVEL_EN: &[&str] = &[
    "what was",
    "what is",
    "what's",
    "how many",
    "total",
    "amount",
    "size",
    "level",
    "how much was",
    "how much is",
];

static YEAR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:^|[^\d])((?:19|20)\d\d)(?:[^\d]|$)").expect("static regex"));
/// An English question asking for a figure: an interrogative and, when it
/// is "what", a figure noun after it ("what measures…" asks for none).
static ASKS_FIGURE_EN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\bhow (?:much|many|fast|high|big|large)\b|\bby how\b|\bwhat(?:'s| is| was| were| are)?\b[^?]*\b(?:target|goal|rate|growth|figure|value|level|amount|total|number|increase|revenue|output|income|investment|sales|gdp)\b",
    )
    .expect("static regex")
});

/// English questions that ask how or which actions, not a figure.
static ASKS_NO_FIGURE_EN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\bwhat (?:measures|steps|policies|actions|projects|reforms|kinds?|types?|work|efforts)\b|\bhow (?:does|do|will|can|to)\b",
    )
    .expect("static regex")
});

/// Reads a question for the figure it asks: `None` when it names no
/// indicator the lexicon knows, or does not ask for a figure at all
/// ("如何扩大有效投资？" names one and asks for none).
pub fn read_question(query: &str) -> Option<FigureQuestion> {
    let zh = crate::corpus::to_simplified(query);
    let en = query.to_lowercase();
    let asks = ASKS_FIGURE_ZH.iter().any(|w| zh.contains(w))
        || (ASKS_FIGURE_EN.is_match(&en) && !ASKS_NO_FIGURE_EN.is_match(&en));
    if !asks {
        return None;
    }
    let indicator = chinese_indicator(&zh).or_else(|| english_indicator(&en))?;
    let year = YEAR.captures(&zh).and_then(|c| c[1].parse().ok());
    let has = |zh_words: &[&str], en_words: &[&str]| {
        zh_words.iter().any(|w| zh.contains(w)) || en_words.iter().any(|w| en.contains(w))
    };
    // A goal named beats a result word ("What was the GDP growth target…").
    let kind = if has(TARGET_ZH, TARGET_EN) {
        Some(TargetKind::Target)
    } else if has(ACHIEVED_ZH, ACHIEVED_EN) {
        Some(TargetKind::Achieved)
    } else {
        None
    };
    // Indicators that are themselves rates (失业率, 城镇化率) are asked as levels
    // even when the question says "rate".
    let measure = if has(GROWTH_ZH, GROWTH_EN) {
        Some(Measure::Growth)
    } else if has(LEVEL_ZH, LEVEL_EN) {
        Some(Measure::Level)
    } else {
        None
    };
    Some(FigureQuestion {
        indicator,
        year,
        kind,
        measure,
    })
}

/// The indicator a Chinese question names: the longest spelling at the
/// earliest position.
fn chinese_indicator(zh: &str) -> Option<&'static str> {
    let zh = zh.to_uppercase();
    let mut best: Option<(usize, usize, &'static str)> = None;
    for (name, spelling) in indicator_spellings() {
        if let Some(at) = zh.find(spelling) {
            let better = match best {
                None => true,
                Some((b_at, b_len, _)) => at < b_at || (at == b_at && spelling.len() > b_len),
            };
            if better {
                best = Some((at, spelling.len(), name));
            }
        }
    }
    best.map(|(_, _, n)| n)
}

fn english_indicator(en: &str) -> Option<&'static str> {
    ENGLISH_INDICATORS.iter().find_map(|(name, phrases)| {
        phrases
            .iter()
            .any(|p| contains_phrase(en, p))
            .then_some(*name)
    })
}

/// True when `phrase` occurs in `text` starting at a word boundary ("cpi"
/// is not inside "principal").
fn contains_phrase(text: &str, phrase: &str) -> bool {
    text.match_indices(phrase).any(|(i, _)| {
        !text[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

/// The stated figure answering `query` in the report of `place` (a
/// reporting unit as the library names it: 南岸区, 六盘水市, 广东省), if any.
///
/// Only the place's own reports count: in a city's report the city's
/// figure, never a county's. A goal for year Y is sought in Y's report, a
/// result for Y in Y+1's (its review year); without a year the latest one
/// stated wins.
pub fn answer(lib: &Library, query: &str, place: &str) -> Result<Option<Answer>, IndexError> {
    let Some(q) = read_question(query) else {
        return Ok(None);
    };
    let rows = place_rows(lib, &q, place)?;
    Ok(choose(&q, place, rows))
}

/// Rows for the question's indicator stated in `place`'s reports of the
/// years that can hold it.
fn place_rows(
    lib: &Library,
    q: &FigureQuestion,
    place: &str,
) -> Result<Vec<TargetRow>, IndexError> {
    let docs = lib.documents()?;
    let review_years: HashMap<String, Option<i32>> = docs
        .iter()
        .filter(|d| d.place.district.as_deref() == Some(place))
        .map(|d| {
            let review = review_year(d.doc_type.as_deref(), d.year, d.review_year);
            (d.doc_id.clone(), review)
        })
        .collect();
    if review_years.is_empty() {
        return Ok(Vec::new());
    }
    let filter = Filter {
        district: Some(place.to_string()),
        year_from: q.year,
        year_to: q.year.map(|y| y + 1),
        ..Filter::default()
    };
    let spellings: Vec<&str> = indicator_spellings()
        .filter(|(n, _)| *n == q.indicator)
        .map(|(_, s)| s)
        .collect();
    let mut rows = Vec::new();
    lib.for_each_passage(&filter, &mut |p| {
        // Only passages that spell the indicator can state it: the cheap
        // test keeps extraction off the rest.
        let upper = p.text_simplified.to_uppercase();
        if !spellings.iter().any(|s| upper.contains(s)) {
            return Ok(());
        }
        let ctx = SentenceContext::of(&p, review_years.get(&p.doc_id).copied().flatten());
        rows.extend(
            extract_passage(&p.text, &ctx)
                .into_iter()
                .filter(|r| r.indicator == q.indicator),
        );
        Ok(())
    })?;
    Ok(rows)
}

/// Picks the row answering `q` among `rows` (document order), or none.
fn choose(q: &FigureQuestion, place: &str, rows: Vec<TargetRow>) -> Option<Answer> {
    let kinds: &[TargetKind] = match q.kind {
        Some(TargetKind::Target) => &[TargetKind::Target],
        Some(TargetKind::Achieved) => &[TargetKind::Achieved],
        // A stated result beats a plan when the question does not say.
        None => &[TargetKind::Achieved, TargetKind::Target],
    };
    let measures: &[Measure] = match q.measure {
        Some(Measure::Growth) => &[Measure::Growth],
        Some(Measure::Level) => &[Measure::Level],
        None => &[Measure::Growth, Measure::Level],
    };
    for &kind in kinds {
        for &measure in measures {
            let fits: Vec<&TargetRow> = rows
                .iter()
                .filter(|r| r.kind == kind && r.measure == measure)
                .filter(|r| r.district.as_deref() == Some(place))
                .filter(|r| q.year.is_none_or(|y| r.year == Some(y)))
                .collect();
            let year = match q.year {
                Some(y) => Some(y),
                None => fits.iter().filter_map(|r| r.year).max(),
            };
            if let Some(row) = fits.into_iter().find(|r| r.year == year) {
                return Some(Answer {
                    figure: row.value,
                    upper: row.upper,
                    unit: row.unit.clone(),
                    qualifier: row.qualifier.clone(),
                    kind: row.kind,
                    measure: row.measure,
                    indicator: row.indicator.clone(),
                    year: row.year,
                    place: place.to_string(),
                    sentence: row.sentence.clone(),
                    passage_id: row.passage_id.clone(),
                    doc_id: row.doc_id.clone(),
                });
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_chinese_questions_in_either_script() {
        let q = read_question("某县2021年固定資產投資計劃增長多少？").unwrap();
        assert_eq!(q.indicator, "固定资产投资");
        assert_eq!(q.year, Some(2021));
        assert_eq!(q.kind, Some(TargetKind::Target));
        assert_eq!(q.measure, Some(Measure::Growth));
        let q = read_question("某市2019年实际完成社零总额多少亿元").unwrap();
        assert_eq!(q.indicator, "社会消费品零售总额");
        assert_eq!(q.kind, Some(TargetKind::Achieved));
        assert_eq!(q.measure, Some(Measure::Level));
    }

    #[test]
    fn reads_english_questions() {
        let q = read_question("How much did fixed-asset investment grow in Foo County in 2020?")
            .unwrap();
        assert_eq!(q.indicator, "固定资产投资");
        assert_eq!((q.year, q.kind), (Some(2020), Some(TargetKind::Achieved)));
        assert_eq!(q.measure, Some(Measure::Growth));
        let q =
            read_question("What is Bar City's surveyed unemployment rate goal for 2022?").unwrap();
        assert_eq!(q.indicator, "城镇调查失业率");
        assert_eq!(q.kind, Some(TargetKind::Target));
        let q = read_question("What was Qux County's fiscal revenue in 2019?").unwrap();
        assert_eq!(q.indicator, "一般公共预算收入");
        assert_eq!(q.measure, Some(Measure::Level));
        let q = read_question("What was the energy intensity reduction target of Baz?").unwrap();
        assert_eq!(q.indicator, "单位地区生产总值能耗");
    }

    #[test]
    fn questions_that_ask_no_figure_or_name_no_indicator_are_not_read() {
        for q in [
            "如何稳定外贸进出口？",
            "What measures support grain production?",
            "某区2022年养老服务床位有多少张？",
            "How many elderly canteens were built?",
        ] {
            assert_eq!(read_question(q), None, "{q}");
        }
    }

    fn row(kind: TargetKind, measure: Measure, year: i32, district: &str, value: f64) -> TargetRow {
        TargetRow {
            indicator: "地区生产总值".into(),
            value,
            upper: None,
            unit: if measure == Measure::Growth {
                "%"
            } else {
                "亿元"
            }
            .into(),
            qualifier: None,
            kind,
            measure,
            year: Some(year),
            district: Some(district.into()),
            doc_id: "d".into(),
            passage_id: "d-0001".into(),
            sentence: "s".into(),
        }
    }

    #[test]
    fn chooses_the_place_year_kind_and_measure_asked() {
        use Measure::*;
        use TargetKind::*;
        let rows = vec![
            row(Achieved, Level, 2022, "甲市", 900.0),
            row(Achieved, Growth, 2022, "甲市", 4.1),
            row(Target, Growth, 2023, "乙县", 7.0),
            row(Target, Growth, 2023, "甲市", 6.0),
        ];
        let q = read_question("甲市2023年GDP预期增长多少").unwrap();
        assert_eq!(choose(&q, "甲市", rows.clone()).unwrap().figure, 6.0);
        let q = read_question("甲市2022年GDP增长多少").unwrap();
        assert_eq!(choose(&q, "甲市", rows.clone()).unwrap().figure, 4.1);
        let q = read_question("甲市2022年GDP总量是多少").unwrap();
        assert_eq!(choose(&q, "甲市", rows.clone()).unwrap().figure, 900.0);
        let q = read_question("甲市2021年GDP预期增长多少").unwrap();
        assert_eq!(choose(&q, "甲市", rows.clone()), None);
        let q = read_question("甲市2022年GDP预期增长多少").unwrap();
        assert_eq!(choose(&q, "甲市", rows), None);
    }
}
