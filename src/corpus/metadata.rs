//! Metadata: reporting unit (district, city, province, level), years,
//! document type, meeting date and speaker, each with a confidence.
//!
//! # The reporting unit
//!
//! A report is about one unit but names dozens: its counties, its
//! neighbours, its province, the places its trains run to. The unit is
//! therefore taken from what the text says *about itself*, strongest first:
//!
//! 1. the session line of the title block (`在X第N届人民代表大会第N次会议上`);
//! 2. who speaks for whom (`我代表X人民政府`, `代表X管委会`, `我代表国务院`),
//!    which names the unit or at least its level (`我代表区人民政府`);
//! 3. the official's title (`X人民政府区长`) and the document's title;
//! 4. failing all of those, the level the text speaks at (`全区`, `本县`,
//!    `区委`) and how often each division of that level is named.
//!
//! Where only the level is known, the unit is the division of that level the
//! text names most (full name, or its short form at a weight of 0.3);
//! subordinate and neighbouring units have other suffixes or fewer mentions.
//! A name counts only where the text's own words allow it: `昌都市` inside
//! `南昌都市圈` starts in the middle of the word 南昌, and `宜城市` inside
//! `宜城市` of `五宜城市` ends inside the word 城市, so neither is a mention
//! (the segmenter decides, see [`Table::mentions`]).
//!
//! Names are resolved against a real table of China's administrative
//! divisions (`data/divisions/divisions.tsv`, embedded); the same name in
//! several provinces is decided by the parents the text names. Units outside
//! the table — functional areas run by a 管委会 (`X新区`, `X开发区`) — are
//! kept as named, under the prefecture the text names most.
//!
//! # Years
//!
//! `year` is the year of the session that hears the report, which is the
//! year it plans for; `review_year` the year it looks back on. From the
//! strongest evidence down: the session date in the title block; a year in
//! the title; the plan year of a heading or a target sentence (`2024年工作
//! 安排`, `2024年经济社会发展的主要预期目标`); the review year of a heading
//! (`2023年工作回顾`, `2021年以来工作回顾`) plus one; a signed date at the
//! end; for a report that opens a term (`今后五年`), its review and the
//! five-year window it looks ahead to (see `outlook_year`); and last the
//! latest year the text speaks of as present (years after
//! `到`/`至` or before `年前` are horizons, not the present). A report on
//! work done (法治政府建设报告, 工作总结) is dated by the year it reviews.
//!
//! # Confidence
//!
//! Each field's confidence is the evidence it came from: 0.95 for the
//! session line or an explicit `代表X`, down to ~0.5 for a choice among
//! mentions by count with a small margin. `scripts/meta-calibration.py`
//! prints how often each band is right on a labelled corpus.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, MatchKind};
use regex::Regex;

use super::divisions::level_of;
pub use super::divisions::Level;
use super::words::jieba;
use super::DocumentMeta;

const DIVISIONS_TSV: &str = include_str!("../../data/divisions/divisions.tsv");

#[derive(Debug, Clone)]
pub struct Division {
    pub code: u32,
    pub name: String,
    pub level: Level,
    /// The last year a name no longer in force was used (`清苑县` until
    /// 2015); `None` for names in force.
    pub until: Option<u16>,
}

pub struct Table {
    pub divisions: Vec<Division>,
    by_code: HashMap<u32, usize>,
    by_name: HashMap<String, Vec<usize>>,
    children: HashMap<usize, Vec<usize>>,
    stems: HashMap<usize, String>,
    full: AhoCorasick,
    full_names: Vec<String>,
    stem_ac: AhoCorasick,
    stem_names: Vec<String>,
    by_stem: HashMap<String, Vec<usize>>,
}

static ETHNIC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(\p{Han}{2,}?)(?:\p{Han}{1,4}?族)+自治[州县旗]$").expect("valid regex")
});

/// The name without its administrative suffix (`南明区` → `南明`), or `None`
/// when that would leave a single character.
fn stem(name: &str, level: Level) -> Option<String> {
    if let Some(c) = ETHNIC.captures(name) {
        return Some(c[1].to_string());
    }
    let suffixes: &[&str] = match level {
        Level::Province => &[
            "特别行政区",
            "维吾尔自治区",
            "壮族自治区",
            "回族自治区",
            "自治区",
            "省",
            "市",
        ],
        Level::Prefecture => &["自治州", "地区", "盟", "市"],
        Level::County => &[
            "自治县",
            "自治旗",
            "特区",
            "林区",
            "新区",
            "区",
            "县",
            "市",
            "旗",
        ],
    };
    let s = suffixes
        .iter()
        .find_map(|suf| name.strip_suffix(suf))
        .unwrap_or(name);
    (s.chars().count() >= 2 && s != name).then(|| s.to_string())
}

pub static TABLE: LazyLock<Table> = LazyLock::new(|| Table::load(DIVISIONS_TSV));

/// A division named in a text: where, as which name, and which divisions
/// bear that name.
#[derive(Debug, Clone)]
pub struct Mention {
    pub start: usize,
    pub end: usize,
    pub name: String,
    pub ids: Vec<usize>,
}

impl Table {
    fn load(tsv: &str) -> Table {
        let mut divisions = Vec::new();
        for line in tsv.lines().filter(|l| !l.starts_with('#')) {
            let mut it = line.split('\t');
            let (Some(code), Some(name)) = (it.next(), it.next()) else {
                continue;
            };
            let Ok(code) = code.trim().parse::<u32>() else {
                continue;
            };
            let level = level_of(code);
            divisions.push(Division {
                code,
                name: name.trim().to_string(),
                level,
                until: None,
            });
        }
        // Names no longer in force: a report of 2003 says 清苑县, not 清苑区.
        if let Ok(h) = super::divisions::history() {
            let current: std::collections::HashSet<(u32, &str)> = divisions
                .iter()
                .map(|d| (d.code, d.name.as_str()))
                .collect();
            let mut retired = Vec::new();
            for n in h.names() {
                if let Some(to) = n.to {
                    if !current.contains(&(n.code, n.name.as_str())) {
                        retired.push(Division {
                            code: n.code,
                            name: n.name.clone(),
                            level: level_of(n.code),
                            until: Some(to),
                        });
                    }
                }
            }
            divisions.extend(retired);
        }
        // Current names come first, so a code reused after a change finds
        // the name in force.
        let mut by_code: HashMap<u32, usize> = HashMap::new();
        for (i, d) in divisions.iter().enumerate() {
            by_code.entry(d.code).or_insert(i);
        }
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
        let mut stems = HashMap::new();
        let mut by_stem: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, d) in divisions.iter().enumerate() {
            by_name.entry(d.name.clone()).or_default().push(i);
            if let Some(s) = stem(&d.name, d.level) {
                by_stem.entry(s.clone()).or_default().push(i);
                stems.insert(i, s);
            }
            if d.level == Level::County {
                if let Some(&p) = by_code.get(&(d.code / 100 * 100)) {
                    children.entry(p).or_default().push(i);
                }
            }
        }
        // Two-character names (`城区`, `郊区`) are ordinary words in reports.
        let mut full_names: Vec<String> = by_name
            .keys()
            .filter(|n| n.chars().count() >= 3)
            .cloned()
            .collect();
        full_names.sort();
        let full = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&full_names)
            .expect("automaton over division names");
        let mut stem_names: Vec<String> = by_stem.keys().cloned().collect();
        stem_names.sort();
        let stem_ac = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&stem_names)
            .expect("automaton over division stems");
        Table {
            divisions,
            by_code,
            by_name,
            children,
            stems,
            full,
            full_names,
            stem_ac,
            stem_names,
            by_stem,
        }
    }

    pub fn lookup(&self, name: &str) -> &[usize] {
        self.by_name.get(name).map_or(&[], Vec::as_slice)
    }

    pub fn province_of(&self, i: usize) -> Option<usize> {
        self.by_code
            .get(&(self.divisions[i].code / 10000 * 10000))
            .copied()
    }

    /// The prefecture-level city over `i`: itself for a prefecture, the
    /// municipality for its districts, none for counties governed directly
    /// by a province.
    pub fn city_of(&self, i: usize) -> Option<usize> {
        let d = &self.divisions[i];
        match d.level {
            Level::Province => None,
            Level::Prefecture => Some(i),
            Level::County => {
                if let Some(&c) = self.by_code.get(&(d.code / 100 * 100)) {
                    return Some(c);
                }
                let p = self.province_of(i)?;
                matches!(d.code / 10000, 11 | 12 | 31 | 50).then_some(p)
            }
        }
    }

    /// Whether `a` lies inside `b` (a county in its prefecture or province,
    /// a prefecture in its province).
    fn within(&self, a: usize, b: usize) -> bool {
        a != b && (self.city_of(a) == Some(b) || self.province_of(a) == Some(b))
    }

    /// Division mentions by position: full names where the text's words
    /// allow them, and a prefecture's name followed by a county's short name
    /// (`曲靖市麒麟`), as happens when the suffix was lost.
    pub fn mentions(&self, text: &str) -> Vec<Mention> {
        let mut out = Vec::new();
        for m in self.full.find_iter(text) {
            let name = &self.full_names[m.pattern().as_usize()];
            let ids = self.lookup(name).to_vec();
            if !is_word_at(text, m.start()) {
                continue;
            }
            out.push(Mention {
                start: m.start(),
                end: m.end(),
                name: name.clone(),
                ids: ids.clone(),
            });
            for &p in &ids {
                if self.divisions[p].level != Level::Prefecture {
                    continue;
                }
                let rest = &text[m.end()..];
                for &c in self.children.get(&p).map_or(&[][..], Vec::as_slice) {
                    let full = &self.divisions[c].name;
                    if let Some(s) = self.stems.get(&c) {
                        if rest.starts_with(s.as_str()) && !rest.starts_with(full.as_str()) {
                            out.push(Mention {
                                start: m.end(),
                                end: m.end() + s.len(),
                                name: full.clone(),
                                ids: vec![c],
                            });
                        }
                    }
                }
            }
        }
        out
    }

    /// How often each division's short form (`福田`, `海拉尔`) occurs as a
    /// word of the text.
    fn stem_counts(&self, text: &str) -> HashMap<usize, usize> {
        let mut counts = HashMap::new();
        for m in self.stem_ac.find_iter(text) {
            if !is_word_at(text, m.start()) {
                continue;
            }
            for &i in &self.by_stem[&self.stem_names[m.pattern().as_usize()]] {
                *counts.entry(i).or_insert(0) += 1;
            }
        }
        counts
    }
}

/// Whether a name starting at `start` of `text` starts a word there: the
/// segmenter, reading the surroundings, does not put its first character in
/// a word with what comes before (`昌都市` in `南昌都市圈` starts inside
/// 南昌, `增城区` in `新增城区` inside 新增, `新和县` in `更新和县城` inside 更新).
fn is_word_at(text: &str, start: usize) -> bool {
    let before = text[..start]
        .char_indices()
        .rev()
        .take(4)
        .last()
        .map_or(start, |(i, _)| i);
    if before == start {
        return true;
    }
    let after = text[start..]
        .char_indices()
        .nth(4)
        .map_or(text.len(), |(i, _)| start + i);
    let window = &text[before..after];
    jieba()
        .cut(window, false)
        .iter()
        .any(|w| before + w.byte_start == start)
}

/// What the inference reads: all of it already folded to simplified script.
pub struct Evidence<'a> {
    pub head: &'a [String],
    pub title: Option<&'a str>,
    pub body: &'a str,
    pub headings: &'a [String],
    pub captions: u64,
}

static MEETING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"在(\p{Han}{2,30}?)第[一二三四五六七八九十]+届(?:人民代表大会|人大)")
        .expect("valid regex")
});
static OFFICIAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(\p{Han}{2,20}?)人民政府(?:代)?(?:区长|县长|市长|旗长|州长|省长|主席)")
        .expect("valid regex")
});
static AGENCY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(\p{Han}{2,12}?)(?:发展和改革局|发展和改革委员会|发展改革委|财政局|统计局)")
        .expect("valid regex")
});
/// Who the speaker speaks for: `我代表区人民政府`, `代表深圳市福田区人民政府`,
/// `我代表新区党工委、管委会`, `我代表国务院`.
static REPRESENTS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"代表([\p{Han}、]{0,24}?)(人民政府|政府|管理委员会|管委会|国务院)")
        .expect("valid regex")
});
static MEETING_DATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(\d{4}|[〇○零一二三四五六七八九]{4})年(\d{1,2}|[一二三四五六七八九十]{1,2})月(\d{1,2}|[一二三四五六七八九十]{1,3})日")
        .expect("valid regex")
});
static SPEAKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:区长|县长|市长|旗长|州长|省长|主席|主任|局长)\s*(\p{Han}{2,4})$")
        .expect("valid regex")
});
static YEAR: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(\d{4})年").expect("valid regex"));
static HAN_YEAR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"([〇○零一二三四五六七八九][〇○零一二三四五六七八九0-9]{3})年")
        .expect("valid regex")
});
static EXECUTED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(\d{4})年[^，。；]{0,24}?执行情况").expect("valid regex"));
static DRAFT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(\d{4})年[^，。；]{0,24}?草案").expect("valid regex"));
/// A sentence that sets the plan year's targets or tasks.
static PLAN_SENTENCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(\d{4})年(?:全[市区县省旗州]|全国)?(?:(?:经济社会发展|国民经济和社会发展|经济和社会发展|政府工作|工作)的?(?:主要预期目标|预期目标|主要目标|总体要求|安排|重点|目标任务|主要任务)|的?主要预期目标|的?预期目标)",
    )
    .expect("valid regex")
});
/// Years that are horizons, not the present: `到2035年`, `2025年前`,
/// `2021—2025年`.
static HORIZON: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:到|至|展望|迈向|—|–|-|~|～)\s*(\d{4})年|(\d{4})年(?:前|以前|之前|远景|左右|底前)",
    )
    .expect("valid regex")
});
static LEVEL_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:全|本)(自治区|新区|[区县市旗州省])|(自治区|新区|[区县市旗州省])(?:党工)?委")
        .expect("valid regex")
});
/// Units run by a management committee, outside the divisions table.
static FUNCTIONAL_AREA: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\p{Han}{2,4}?(新区|开发区|高新区|试验区|管理区|合作区)").expect("valid regex")
});

/// A year as written (`2005`, `二〇〇五`, `二00五`), if it can be a report's.
fn plausible_year(y: &str) -> Option<i32> {
    cn_number(y).filter(|y| (1949..=2100).contains(y))
}

/// `二〇二四` → 2024; `十二` → 12; `二十一` → 21.
fn cn_number(s: &str) -> Option<i32> {
    if s.chars().all(|c| c.is_ascii_digit()) {
        return s.parse().ok();
    }
    let digit = |c: char| match c {
        '○' | '零' => Some(0),
        // 二00五: Arabic digits among the Han ones.
        '0'..='9' => c.to_digit(10).map(|d| d as i32),
        _ => "〇一二三四五六七八九"
            .chars()
            .position(|d| d == c)
            .map(|d| d as i32),
    };
    if !s.contains('十') {
        return s
            .chars()
            .try_fold(0, |acc, c| digit(c).map(|d| acc * 10 + d));
    }
    let (tens, ones) = s.split_once('十')?;
    let t = if tens.is_empty() {
        1
    } else {
        digit(tens.chars().next()?)?
    };
    let o = if ones.is_empty() {
        0
    } else {
        digit(ones.chars().next()?)?
    };
    Some(t * 10 + o)
}

/// The level a `代表X…` or `全X` speaks at, as the suffix a unit of that
/// level bears.
#[derive(Debug, Clone, PartialEq)]
enum Voice {
    /// A division suffix: 区, 县, 市, 旗, 州, 盟, 省, 自治区.
    Suffix(String),
    /// A management committee (管委会): a functional area.
    Committee,
    /// The State Council: no local unit.
    National,
}

/// Who the report speaks for, from the first `代表X人民政府` whose X is a
/// level or a place.
fn represents(table: &Table, text: &str) -> Option<(Voice, Option<String>)> {
    for c in REPRESENTS.captures_iter(text) {
        let who = c[1].trim_start_matches('我');
        let body = &c[2];
        if body == "国务院" {
            if who.is_empty() {
                return Some((Voice::National, None));
            }
            continue;
        }
        let committee = body.contains("管");
        // `新区党工委、管委会`: the party committee named beside it.
        let who = who
            .split('、')
            .next()
            .unwrap_or(who)
            .trim_end_matches("党工委");
        if let Some(m) = table.mentions(who).into_iter().max_by_key(|m| m.start) {
            if m.end == who.len() {
                let v = if committee {
                    Voice::Committee
                } else {
                    suffix_voice(&m.name)
                };
                return Some((v, Some(m.name)));
            }
        }
        if committee {
            let named = FUNCTIONAL_AREA
                .find(who)
                .filter(|m| m.end() == who.len())
                .map(|m| m.as_str().to_string());
            return Some((Voice::Committee, named));
        }
        if let Some(v) = level_word(who) {
            return Some((Voice::Suffix(v.to_string()), None));
        }
    }
    None
}

fn level_word(w: &str) -> Option<&'static str> {
    ["自治区", "区", "县", "市", "旗", "州", "盟", "省"]
        .into_iter()
        .find(|s| w == *s)
}

fn suffix_voice(name: &str) -> Voice {
    for s in ["自治区", "自治州", "自治县", "自治旗"] {
        if name.ends_with(s) {
            return Voice::Suffix(if s == "自治区" { s } else { &s[6..] }.to_string());
        }
    }
    Voice::Suffix(name.chars().last().map(String::from).unwrap_or_default())
}

/// Whether a division's name bears the suffix of `voice`.
fn bears(name: &str, suffix: &str) -> bool {
    match suffix {
        "区" => name.ends_with('区') && !name.ends_with("自治区") && !name.ends_with("地区"),
        "地区" => name.ends_with("地区"),
        s => name.ends_with(s),
    }
}

/// Mentions of divisions in a document, counted once per document.
struct Counts {
    /// Full-name mentions by name.
    full: HashMap<String, f32>,
    /// Short-form occurrences by division.
    stems: HashMap<usize, usize>,
}

impl Counts {
    fn of(table: &Table, head: &str, body: &str) -> Counts {
        let mut full: HashMap<String, f32> = HashMap::new();
        for m in table.mentions(head) {
            *full.entry(m.name).or_insert(0.0) += 3.0;
        }
        for m in table.mentions(body) {
            *full.entry(m.name).or_insert(0.0) += 1.0;
        }
        let text = format!("{head}\n{body}");
        Counts {
            full,
            stems: table.stem_counts(&text),
        }
    }

    fn score(&self, table: &Table, name: &str) -> f32 {
        let stem_n = table
            .lookup(name)
            .iter()
            .map(|i| self.stems.get(i).copied().unwrap_or(0))
            .max()
            .unwrap_or(0);
        self.full.get(name).copied().unwrap_or(0.0) + 0.3 * stem_n as f32
    }
}

/// The unit the evidence found, before it is placed in the table.
struct Unit {
    name: String,
    conf: f32,
    /// Text that named it, whose other names decide between namesakes.
    context: String,
}

pub fn infer(ev: &Evidence) -> DocumentMeta {
    let table = &*TABLE;
    let mut meta = DocumentMeta::default();
    let mut conf: BTreeMap<String, f32> = BTreeMap::new();
    let head: String = ev.head.join("\n");
    let opening: String = ev.body.chars().take(3000).collect();
    let counts = Counts::of(table, &head, ev.body);
    let last_unit = |text: &str| {
        table
            .mentions(text)
            .into_iter()
            .max_by_key(|m| m.start)
            .map(|m| m.name)
    };

    // --- reporting unit
    let voice = represents(table, &format!("{head}\n{opening}"));
    let strong = |name: String, conf: f32, context: &str| Unit {
        name,
        conf,
        context: context.to_string(),
    };
    let mut unit: Option<Unit> = MEETING
        .captures(&head)
        .and_then(|c| last_unit(&c[1]).map(|u| strong(u, 0.95, &c[1])));
    if unit.is_none() {
        if let Some((_, Some(name))) = &voice {
            unit = Some(strong(name.clone(), 0.95, name));
        }
    }
    if unit.is_none() {
        unit = OFFICIAL
            .captures(&head)
            .and_then(|c| last_unit(&c[1]).map(|u| strong(u, 0.9, &c[1])))
            .or_else(|| {
                ev.title
                    .and_then(|t| last_unit(t).map(|u| strong(u, 0.9, t)))
            })
            .or_else(|| {
                AGENCY
                    .captures(&head)
                    .and_then(|c| last_unit(&c[1]).map(|u| strong(u, 0.8, &c[1])))
            });
    }
    let national = matches!(voice, Some((Voice::National, _))) && unit.is_none();
    let committee = matches!(voice, Some((Voice::Committee, _)));
    if unit.is_none() && !national {
        let suffix = match &voice {
            Some((Voice::Suffix(s), _)) => Some((s.clone(), 0.9)),
            Some((Voice::Committee, _)) => None,
            _ => spoken_level(ev.body).map(|s| (s, 0.7)),
        };
        let committee = committee || suffix.as_ref().is_some_and(|(s, _)| s == "新区");
        if committee {
            unit = functional_area(ev.body).map(|n| strong(n, 0.8, ""));
        } else if let Some((suffix, weight)) = suffix {
            unit = most_named(table, &counts, &suffix).map(|(n, margin)| Unit {
                name: n,
                conf: weight * (0.6 + 0.4 * margin),
                context: String::new(),
            });
        }
    }
    if national {
        meta.level = Some("national".into());
        conf.insert("level".into(), 0.95);
    }

    // --- document type (read before years: it decides what the year means)
    let title = ev.title.unwrap_or("");
    let functional_area = unit
        .as_ref()
        .is_some_and(|u| table.lookup(&u.name).is_empty());
    if let Some((t, c)) = doc_type(title, &head, &opening, ev.captions, functional_area) {
        meta.doc_type = Some(t.to_string());
        conf.insert("doc_type".into(), c);
    }

    // --- years (read before the unit is placed: a name no longer in force
    // is the report's only when the report is old enough)
    let years = years(ev, &head, meta.doc_type.as_deref());
    if let Some(d) = years.meeting_date {
        meta.meeting_date = Some(d);
        conf.insert("meeting_date".into(), 0.95);
    }
    if let Some((y, c)) = years.year {
        meta.year = Some(y);
        conf.insert("year".into(), c);
    }
    if let Some(y) = years.review {
        meta.review_year = Some(y);
        conf.insert("review_year".into(), 0.85);
    }
    if let Some(u) = unit {
        place(table, &u, &counts, &mut meta, &mut conf);
    }

    // --- speaker: an official named at the end of a title-block line, or the
    // agency that presents a plan report.
    for line in ev.head {
        if let Some(c) = SPEAKER.captures(line) {
            let m = c.get(1).expect("group 1");
            meta.speaker = Some(line[m.start()..m.end()].to_string());
            conf.insert("speaker".into(), 0.9);
            break;
        }
    }
    if meta.speaker.is_none() {
        if let Some(line) = ev.head.iter().find(|l| {
            l.chars().count() <= 20
                && !l.chars().any(|c| c.is_ascii_digit())
                && ["局", "委员会", "办公室"].iter().any(|s| l.ends_with(s))
        }) {
            meta.speaker = Some(line.clone());
            conf.insert("speaker".into(), 0.6);
        }
    }
    meta.confidence = conf;
    meta
}

/// Puts the unit in the table: its level, city and province. A name the
/// table lacks (a functional area) keeps its name, under the prefecture the
/// text names most.
fn place(
    table: &Table,
    u: &Unit,
    counts: &Counts,
    meta: &mut DocumentMeta,
    conf: &mut BTreeMap<String, f32>,
) {
    let ids = table.lookup(&u.name);
    meta.place.district = Some(u.name.clone());
    if ids.is_empty() {
        meta.level = Some(Level::County.as_str().into());
        conf.insert("district".into(), u.conf);
        conf.insert("level".into(), u.conf * 0.9);
        let mut prefectures: Vec<(String, f32)> = counts
            .full
            .keys()
            .cloned()
            .chain(
                counts
                    .stems
                    .keys()
                    .map(|&i| table.divisions[i].name.clone()),
            )
            .filter(|n| {
                table
                    .lookup(n)
                    .iter()
                    .any(|&i| table.divisions[i].level == Level::Prefecture)
            })
            .map(|n| {
                let s = counts.score(table, &n);
                (n, s)
            })
            .collect();
        prefectures.sort_by(|a, b| a.0.cmp(&b.0));
        prefectures.dedup_by(|a, b| a.0 == b.0);
        if let Some((city, s)) = prefectures
            .into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
        {
            let i = table.lookup(&city)[0];
            meta.place.city = Some(city.clone());
            meta.place.province = table
                .province_of(i)
                .map(|p| table.divisions[p].name.clone());
            let c = if s >= 3.0 { 0.8 } else { 0.5 };
            conf.insert("city".into(), c);
            conf.insert("province".into(), c);
        }
        return;
    }
    let chosen = if ids.len() == 1 {
        Some(ids[0])
    } else {
        resolve_namesakes(table, ids, &u.context, counts, meta.year)
    };
    match chosen {
        Some(i) => {
            let d = &table.divisions[i];
            meta.level = Some(d.level.as_str().to_string());
            meta.place.city = table.city_of(i).map(|c| table.divisions[c].name.clone());
            meta.place.province = table
                .province_of(i)
                .map(|p| table.divisions[p].name.clone());
            for k in ["district", "city", "province", "level"] {
                conf.insert(k.into(), u.conf);
            }
            if meta.place.city.is_none() {
                conf.remove("city");
            }
        }
        None => {
            conf.insert("district".into(), u.conf * 0.8);
            // The same name in several provinces and nothing to tell them apart.
            conf.insert("city".into(), 0.2);
            conf.insert("province".into(), 0.2);
        }
    }
}

/// The level the text speaks at when nobody says whom they represent:
/// `全区`, `本区`, `区委` counted.
fn spoken_level(body: &str) -> Option<String> {
    // `全区`/`本区` speak of the text's own domain; `市委` is as often the
    // superior that leads it (`在市委坚强领导下`), so it weighs half; a
    // `管委会` is the text's own government when it has one.
    let mut votes: HashMap<&str, f32> = HashMap::new();
    for c in LEVEL_WORDS.captures_iter(body) {
        let (w, weight) = match (c.get(1), c.get(2)) {
            (Some(m), _) => (m.as_str(), 1.0),
            (_, Some(m)) => (m.as_str(), 0.5),
            _ => continue,
        };
        *votes.entry(w).or_insert(0.0) += weight;
    }
    let committees = body.matches("管委会").count() + body.matches("管理委员会").count();
    *votes.entry("新区").or_insert(0.0) += committees as f32;
    votes
        .into_iter()
        .filter(|(_, n)| *n >= 2.0)
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(a.0)))
        .map(|(w, _)| w.to_string())
}

/// The functional area (`X新区`) the text names most, at least twice; its
/// name is the shortest stem before the suffix that starts a word.
fn functional_area(body: &str) -> Option<String> {
    let mut n: HashMap<&str, usize> = HashMap::new();
    for c in FUNCTIONAL_AREA.captures_iter(body) {
        let (m, suffix) = (c.get(0).expect("match"), c.get(1).expect("suffix"));
        let whole = m.as_str();
        let suffix_at = suffix.start() - m.start();
        let stems: Vec<usize> = whole[..suffix_at].char_indices().map(|(i, _)| i).collect();
        // Shortest stem first: `推进大鹏新区` is 大鹏新区, not 推进大鹏新区.
        let Some(&start) = stems
            .iter()
            .rev()
            .skip(1)
            .find(|&&i| is_word_at(body, m.start() + i))
        else {
            continue;
        };
        let name = &whole[start..];
        // `全新区`, `本新区`, `各开发区` are no names.
        if name.starts_with(['全', '本', '各', '该', '和', '与', '及']) {
            continue;
        }
        *n.entry(name).or_insert(0) += 1;
    }
    n.into_iter()
        .filter(|(_, c)| *c >= 2)
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
        .map(|(s, _)| s.to_string())
}

/// The division bearing `suffix` that the text names most, and the margin
/// over the runner-up in [0, 1].
fn most_named(table: &Table, counts: &Counts, suffix: &str) -> Option<(String, f32)> {
    let mut names: Vec<&str> = counts.full.keys().map(String::as_str).collect();
    // A unit named only by its short form is one in force: an old report
    // names its old unit in full at least once.
    names.extend(
        counts
            .stems
            .keys()
            .filter(|&&i| table.divisions[i].until.is_none())
            .map(|&i| table.divisions[i].name.as_str()),
    );
    names.sort_unstable();
    names.dedup();
    let own: HashMap<&str, f32> = names.iter().map(|&n| (n, counts.score(table, n))).collect();
    // A unit's report names its subordinates (a city lists its counties),
    // so half of what they are named counts for the unit over them: a
    // county-level city named in its prefecture's report does not outweigh
    // the prefecture, and the prefecture named now and then in the county's
    // report does not outweigh the county.
    let subordinates = |n: &str| -> f32 {
        let ids = table.lookup(n);
        own.iter()
            .filter(|(m, _)| {
                table
                    .lookup(m)
                    .iter()
                    .any(|&c| ids.iter().any(|&p| table.within(c, p)))
            })
            .map(|(_, s)| 0.5 * s)
            .sum()
    };
    let mut scored: Vec<(String, f32)> = names
        .iter()
        .filter(|n| bears(n, suffix))
        .map(|&n| {
            let s = (own[n] + subordinates(n)) * coherence(table, counts, n);
            (n.to_string(), s)
        })
        .filter(|(_, s)| *s > 0.0)
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let (best, s1) = scored.first()?.clone();
    let s2 = scored.get(1).map_or(0.0, |x| x.1);
    let margin = if s1 > 0.0 { (s1 - s2) / s1 } else { 0.0 };
    Some((best, margin))
}

/// How well a name fits the other places the text names: a county whose
/// city and province the report never mentions is more likely an ordinary
/// word (`老城区`, `新城区`) or a place elsewhere than the report's subject.
fn coherence(table: &Table, counts: &Counts, name: &str) -> f32 {
    let named = |p: usize| counts.score(table, &table.divisions[p].name) > 0.0;
    table
        .lookup(name)
        .iter()
        .map(|&i| {
            let parents: Vec<usize> = [table.city_of(i), table.province_of(i)]
                .into_iter()
                .flatten()
                .filter(|&p| p != i)
                .collect();
            // A city's report need not name its province; a county's
            // names its city or province nearly always.
            let county = table.divisions[i].level == Level::County;
            if !county || parents.is_empty() || parents.iter().any(|&p| named(p)) {
                1.0
            } else {
                0.25
            }
        })
        .fold(0.0, f32::max)
}

/// Among divisions sharing a name, the one whose city or province the
/// naming text or the document names; `None` when no single one stands out.
fn resolve_namesakes(
    table: &Table,
    ids: &[usize],
    context: &str,
    counts: &Counts,
    year: Option<i32>,
) -> Option<usize> {
    // A name that had gone out of use by the report's year is not its
    // unit; with no year, the name in force is the better guess.
    let in_use = |i: usize| match (table.divisions[i].until, year) {
        (None, _) => true,
        (Some(until), Some(y)) => y <= i32::from(until),
        (Some(_), None) => false,
    };
    let usable: Vec<usize> = ids.iter().copied().filter(|&i| in_use(i)).collect();
    let ids: &[usize] = if usable.is_empty() { ids } else { &usable };
    if let [only] = ids {
        return Some(*only);
    }
    let named_here: Vec<usize> = table
        .mentions(context)
        .into_iter()
        .flat_map(|m| m.ids)
        .collect();
    let support = |i: usize| -> f32 {
        [table.city_of(i), table.province_of(i)]
            .into_iter()
            .flatten()
            .filter(|&p| p != i)
            .map(|p| {
                let here = if named_here.contains(&p) { 1000.0 } else { 0.0 };
                here + counts.score(table, &table.divisions[p].name)
            })
            .sum::<f32>()
            // Between equals, the name in force.
            + if table.divisions[i].until.is_none() { 0.5 } else { 0.0 }
    };
    let mut best: Option<(usize, f32)> = None;
    let mut tie = false;
    for &i in ids {
        let s = support(i);
        match best {
            Some((_, b)) if s == b => tie = true,
            Some((_, b)) if s < b => {}
            _ => {
                best = Some((i, s));
                tie = false;
            }
        }
    }
    match best {
        Some((i, s)) if s > 0.0 && !tie => Some(i),
        _ => None,
    }
}

/// The document type, from the title block and the opening; the kind of
/// report decides what its year means.
fn doc_type(
    title: &str,
    head: &str,
    opening: &str,
    captions: u64,
    functional_area: bool,
) -> Option<(&'static str, f32)> {
    let top = format!("{title}\n{head}");
    let first: String = opening.chars().take(400).collect();
    let named = |s: &str| top.contains(s) || first.contains(s);
    if named("法治政府建设") && !top.contains("政府工作报告") {
        return Some(("法治政府建设报告", 0.9));
    }
    if named("统计公报") {
        return Some(("统计公报", 0.9));
    }
    if top.contains("常务委员会工作报告") || top.contains("常委会工作报告") {
        return Some(("人大常委会工作报告", 0.9));
    }
    if top.contains("政府工作报告") {
        return Some(("政府工作报告", 0.95));
    }
    let speech = REPRESENTS.captures_iter(&first).find(|c| {
        let after: String = first[c.get(0).expect("match").end()..]
            .chars()
            .take(16)
            .collect();
        after.contains("报告") && !after.contains("计划") && !after.contains("预算")
    });
    if let Some(c) = speech {
        if c[2].contains("管") {
            return Some(("管委会工作报告", 0.9));
        }
        return Some(("政府工作报告", 0.9));
    }
    if named("国民经济和社会发展计划") && (named("执行情况") || named("草案")) {
        return Some(("国民经济和社会发展计划报告", 0.9));
    }
    if named("预算执行情况") || named("预算草案") {
        return Some(("财政预算报告", 0.85));
    }
    if first.contains("常务委员会") && first.contains("报告工作") {
        return Some(("人大常委会工作报告", 0.8));
    }
    // A text that addresses the deputies (`各位代表`) without saying who
    // speaks: a work report whose opening was lost.
    if opening.contains("各位代表") {
        let t = if functional_area {
            "管委会工作报告"
        } else {
            "政府工作报告"
        };
        return Some((t, 0.7));
    }
    if captions > 0
        || ["展望", "回顾", "综述", "记者"]
            .iter()
            .any(|k| title.contains(k))
    {
        return Some(("新闻报道", 0.6));
    }
    None
}

struct Years {
    year: Option<(i32, f32)>,
    review: Option<i32>,
    meeting_date: Option<String>,
}

/// The report's years; see the module documentation for the order of
/// evidence.
fn years(ev: &Evidence, head: &str, doc_type: Option<&str>) -> Years {
    let mut out = Years {
        year: None,
        review: None,
        meeting_date: None,
    };
    // The session date: a date in the title block, `——2024年1月31日在…`.
    let session = MEETING_DATE.captures_iter(head).find_map(|m| {
        let y = cn_number(&m[1])?;
        let (mo, d) = (cn_number(&m[2])?, cn_number(&m[3])?);
        ((1949..=2100).contains(&y) && (1..=12).contains(&mo) && (1..=31).contains(&d))
            .then_some((y, mo, d))
    });
    if let Some((y, mo, d)) = session {
        out.meeting_date = Some(format!("{y:04}-{mo:02}-{d:02}"));
    }
    let opening: String = ev.body.chars().take(1500).collect();
    // Headings, and short unpunctuated lines that stand as headings without
    // a number (`2021年以来工作回顾`).
    let heading_like = ev.body.lines().filter(|l| {
        let n = l.chars().count();
        (4..=30).contains(&n) && !l.contains(['。', '；', '，', '！', '？'])
    });
    let mut review: Option<i32> = None;
    let mut plan: Option<i32> = None;
    for h in ev.headings.iter().map(String::as_str).chain(heading_like) {
        let Some(y) = YEAR.captures(h).and_then(|c| plausible_year(&c[1])) else {
            continue;
        };
        if [
            "回顾",
            "执行情况",
            "成效",
            "成绩",
            "成就",
            "总结",
            "过去",
            "以来",
            "工作情况",
        ]
        .iter()
        .any(|k| h.contains(k))
        {
            review = review.max(Some(y));
        } else if [
            "任务",
            "目标",
            "计划",
            "安排",
            "要求",
            "展望",
            "打算",
            "思路",
            "重点工作",
            "主要工作",
        ]
        .iter()
        .any(|k| h.contains(k))
        {
            plan = plan.max(Some(y));
        }
    }
    let top = format!("{head}{opening}");
    if let Some(c) = EXECUTED.captures(&top) {
        review = review.or(plausible_year(&c[1]));
    }
    if let Some(c) = DRAFT.captures(&top) {
        plan = plan.or(plausible_year(&c[1]));
    }
    if plan.is_none() {
        plan = PLAN_SENTENCE
            .captures(ev.body)
            .and_then(|c| plausible_year(&c[1]));
    }
    // 2005年, else 二〇〇五年 / 二00五年 written in Han numerals.
    let title_year = ev.title.and_then(|t| {
        YEAR.captures(t)
            .or_else(|| HAN_YEAR.captures(t))
            .and_then(|c| plausible_year(&c[1]))
    });
    out.review = review;
    let looks_back = matches!(doc_type, Some("法治政府建设报告"));
    out.year = if looks_back {
        review
            .map(|y| (y, 0.85))
            .or(title_year.map(|y| (y, 0.85)))
            .or(plan.map(|y| (y - 1, 0.8)))
            .or_else(|| signed_year(ev.body).map(|y| (y, 0.7)))
    } else {
        session
            .map(|s| (s.0, 0.95))
            .or(title_year.map(|y| (y, 0.9)))
            .or(plan.map(|y| (y, if review == Some(y - 1) { 0.95 } else { 0.85 })))
            .or(review.map(|y| (y + 1, 0.8)))
    };
    if out.year.is_none() {
        out.year = outlook_year(ev.body)
            .map(|y| (y, 0.6))
            .or_else(|| present_year(ev.body).map(|y| (y, 0.5)));
    }
    out
}

/// A report that opens a government's term reviews the past five years and
/// looks ahead five (`未来五年`, `今后五年`); such a report often carries no
/// date and no plan-year heading, and its most-written years are the ends of
/// the two windows (`到2020年`, `其中2021年…2025年`), not its own year.
///
/// Two clocks date it. The review, the text before the outlook, ends the
/// year before the report: the latest year it writes as present (see
/// [`present_year`]) plus one. The outlook names its window: a five-year
/// plan (`十四五` = 2021–2025; the Nth plan from the third on starts in
/// 1966 + 5·(N−3)) or a horizon at a plan's end (`到2025年`, a year ending
/// in 0 or 5, starts the window four years before). The review's clock wins
/// unless it ends more than a year before the window: terms need not start
/// with a plan (province and city terms begin a year or two into one, and a
/// report in a plan's last year already looks ahead to the next), but a
/// review that stops years short of the window lost its latest years to
/// horizons (`增长到2020年`), and then the window dates the report.
fn outlook_year(body: &str) -> Option<i32> {
    static OUTLOOK: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?:未来|今后)五年").expect("valid regex"));
    static PLAN: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"十([一二三四五六七八九])五").expect("valid regex"));
    static PLAN_END: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"到\s*(\d{4})年").expect("valid regex"));
    let at = OUTLOOK.find(body)?.start();
    let cut = body[..at]
        .rfind(['。', '！', '？', '；', '\n'])
        .map_or(0, |i| {
            i + body[i..].chars().next().map_or(1, char::len_utf8)
        });
    let (review, outlook) = body.split_at(cut);
    let mut starts: BTreeMap<i32, usize> = BTreeMap::new();
    for c in PLAN.captures_iter(outlook) {
        if let Some(n) = cn_number(&c[1]) {
            *starts.entry(1966 + 5 * (10 + n - 3)).or_insert(0) += 1;
        }
    }
    for c in PLAN_END.captures_iter(outlook) {
        if let Some(y) = plausible_year(&c[1]).filter(|y| y % 5 == 0) {
            *starts.entry(y - 4).or_insert(0) += 1;
        }
    }
    // The most named window, named at least twice (a passing mention of a
    // plan is no outlook); on a tie the later one, since the outlook looks
    // forward.
    let window = starts
        .iter()
        .filter(|&(_, n)| *n >= 2)
        .max_by_key(|&(y, n)| (*n, *y))
        .map(|(y, _)| *y)?;
    match present_year(review).map(|y| y + 1) {
        Some(after_review) if after_review >= window - 1 => Some(after_review),
        _ => Some(window),
    }
}

/// The date a document is signed with at its end (`2019年12月18日`).
fn signed_year(body: &str) -> Option<i32> {
    let tail: String = {
        let chars: Vec<char> = body.chars().collect();
        chars[chars.len().saturating_sub(200)..].iter().collect()
    };
    MEETING_DATE
        .captures_iter(&tail)
        .last()
        .and_then(|m| cn_number(&m[1]))
        .filter(|y| (1949..=2100).contains(y))
}

/// The latest year the text speaks of as present: written at least twice,
/// not as a horizon.
fn present_year(body: &str) -> Option<i32> {
    let mut n: HashMap<i32, usize> = HashMap::new();
    for c in YEAR.captures_iter(body) {
        if let Some(y) = plausible_year(&c[1]) {
            *n.entry(y).or_insert(0) += 1;
        }
    }
    for c in HORIZON.captures_iter(body) {
        let y = c
            .get(1)
            .or(c.get(2))
            .and_then(|m| plausible_year(m.as_str()));
        if let Some(e) = y.and_then(|y| n.get_mut(&y)) {
            *e = e.saturating_sub(1);
        }
    }
    n.into_iter().filter(|(_, c)| *c >= 2).map(|(y, _)| y).max()
}

/// Fills city, province and level for a district named by an override.
pub fn complete_from_table(meta: &mut DocumentMeta) {
    let Some(name) = meta.place.district.clone() else {
        return;
    };
    let ids = TABLE.lookup(&name);
    let current: Vec<usize> = ids
        .iter()
        .copied()
        .filter(|&i| TABLE.divisions[i].until.is_none())
        .collect();
    let i = match (ids, current.as_slice()) {
        ([only], _) | (_, [only]) => *only,
        _ => return,
    };
    let t = &*TABLE;
    if meta.place.city.is_none() {
        meta.place.city = t.city_of(i).map(|c| t.divisions[c].name.clone());
    }
    if meta.place.province.is_none() {
        meta.place.province = t.province_of(i).map(|p| t.divisions[p].name.clone());
    }
    if meta.level.is_none() {
        meta.level = Some(t.divisions[i].level.as_str().to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev<'a>(head: &'a [String], body: &'a str) -> Evidence<'a> {
        Evidence {
            head,
            title: None,
            body,
            headings: &[],
            captions: 0,
        }
    }

    #[test]
    fn table_resolves_parents() {
        let t = &*TABLE;
        let i = t.lookup("南明区")[0];
        assert_eq!(t.divisions[t.city_of(i).unwrap()].name, "贵阳市");
        assert_eq!(t.divisions[t.province_of(i).unwrap()].name, "贵州省");
        let i = t.lookup("南岸区")[0];
        assert_eq!(t.divisions[t.city_of(i).unwrap()].name, "重庆市");
        assert!(t.lookup("朝阳区").len() >= 2);
        assert!(!t.lookup("六枝特区").is_empty());
        assert!(!t.lookup("额尔古纳市").is_empty(), "county-level city");
        assert!(!t.lookup("科尔沁右翼前旗").is_empty(), "banner");
        assert!(DIVISIONS_TSV.len() < 1_000_000);
    }

    #[test]
    fn city_report_naming_counties_is_the_city() {
        let head = vec![
            "——2024年1月31日在六盘水市第九届人民代表大会第四次会议上".to_string(),
            "市长 李巍".to_string(),
        ];
        let body = "我代表市人民政府向大会报告工作。钟山区、水城区、六枝特区和盘州市全面推进。全市经济增长。";
        let m = infer(&ev(&head, body));
        assert_eq!(m.place.district.as_deref(), Some("六盘水市"));
        assert_eq!(m.level.as_deref(), Some("prefecture"));
        assert_eq!(m.place.province.as_deref(), Some("贵州省"));
        assert_eq!(m.speaker.as_deref(), Some("李巍"));
        assert_eq!(m.meeting_date.as_deref(), Some("2024-01-31"));
        assert_eq!(m.year, Some(2024));
        // Without the title block, the level the text speaks at decides.
        let m = infer(&ev(
            &[],
            "我代表市人民政府报告。六盘水市钟山区水城区钟山区。全市全市。六盘水市。",
        ));
        assert_eq!(m.place.district.as_deref(), Some("六盘水市"));
    }

    #[test]
    fn county_level_city_banner_and_ambiguity() {
        let m = infer(&ev(
            &[],
            "我代表市人民政府报告工作。额尔古纳市全市上下团结奋斗，额尔古纳市发展。",
        ));
        assert_eq!(m.place.district.as_deref(), Some("额尔古纳市"));
        assert_eq!(m.place.city.as_deref(), Some("呼伦贝尔市"));
        assert_eq!(m.level.as_deref(), Some("county"));
        let m = infer(&ev(
            &[],
            "我代表旗人民政府报告工作。科尔沁右翼前旗全旗经济稳步增长。",
        ));
        assert_eq!(m.place.district.as_deref(), Some("科尔沁右翼前旗"));
        assert_eq!(m.place.province.as_deref(), Some("内蒙古自治区"));
        // 朝阳区 exists in Beijing and Changchun: decided by the other names…
        let m = infer(&ev(
            &[],
            "我代表区人民政府报告工作。朝阳区全区上下，在长春市委领导下，朝阳区发展。",
        ));
        assert_eq!(m.place.city.as_deref(), Some("长春市"));
        // …or left open.
        let m = infer(&ev(
            &[],
            "我代表区人民政府报告工作。朝阳区全区上下，朝阳区发展。",
        ));
        assert_eq!(m.place.district.as_deref(), Some("朝阳区"));
        assert_eq!(m.place.city, None);
        assert!(m.confidence["city"] < 0.5);
    }

    #[test]
    fn names_inside_ordinary_words_are_no_mentions() {
        let t = &*TABLE;
        for (text, not) in [
            ("加快建设南昌都市圈，深化合作", "昌都市"),
            ("推进老旧小区更新和县城建设", "新和县"),
            ("新增城区绿地面积", "增城区"),
        ] {
            assert!(
                t.mentions(text).iter().all(|m| m.name != not),
                "{not} found in {text}"
            );
        }
        let names: Vec<String> = t
            .mentions("深圳市福田区、江西省南昌市和西藏昌都市")
            .into_iter()
            .map(|m| m.name)
            .collect();
        for n in ["深圳市", "福田区", "南昌市", "昌都市"] {
            assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
        }
    }

    #[test]
    fn the_speaker_names_the_unit_and_its_level() {
        // The name with its parent, commas anywhere.
        let m = infer(&ev(
            &[],
            "各位代表：现在，我代表深圳市龙华区人民政府，向大会报告工作，请予审议。全区经济增长。",
        ));
        assert_eq!(m.place.district.as_deref(), Some("龙华区"));
        assert_eq!(m.place.city.as_deref(), Some("深圳市"), "not 海口's 龙华区");
        assert_eq!(m.doc_type.as_deref(), Some("政府工作报告"));
        // Only the level: the unit of that level the text names most; the
        // counties a city report lists have another suffix.
        let m = infer(&ev(
            &[],
            "现在，我代表市人民政府，向大会报告工作。牡丹江市经济增长，穆棱市、东宁市、绥芬河市加快发展，\
             穆棱市工业园建成。牡丹江全市上下，牡丹江市委领导下，牡丹江发展。",
        ));
        assert_eq!(m.place.district.as_deref(), Some("牡丹江市"));
        assert_eq!(m.level.as_deref(), Some("prefecture"));
        // The State Council speaks for no local unit.
        let m = infer(&ev(
            &[],
            "各位代表：现在，我代表国务院，向大会报告政府工作，请予审议。广东省、江苏省经济大省挑大梁。",
        ));
        assert_eq!(m.place.district, None);
        assert_eq!(m.place.province, None);
        assert_eq!(m.level.as_deref(), Some("national"));
    }

    #[test]
    fn a_district_that_is_also_a_word_needs_its_city() {
        // 老城区 is a district of 洛阳 and an ordinary word; the report's
        // own district is named by its short form and its city is named.
        let m = infer(&ev(
            &[],
            "现在，我代表区人民政府向大会作工作报告。推进老城区改造，老城区面貌一新，老城区人居环境改善。\
             坪山区高新区建设加快，坪山发展势头良好，坪山人民团结奋斗，在深圳市委领导下，全区经济增长。",
        ));
        assert_eq!(m.place.district.as_deref(), Some("坪山区"));
        assert_eq!(m.place.city.as_deref(), Some("深圳市"));
    }

    #[test]
    fn a_management_committee_reports_for_its_functional_area() {
        let m = infer(&ev(
            &[],
            "各位代表：现在，我代表前海新区管理委员会向大会报告工作。前海新区经济增长，深圳市委领导下，\
             前海新区发展，深圳全市支持。",
        ));
        assert_eq!(m.place.district.as_deref(), Some("前海新区"));
        assert_eq!(m.level.as_deref(), Some("county"));
        assert_eq!(m.place.city.as_deref(), Some("深圳市"));
        assert_eq!(m.doc_type.as_deref(), Some("管委会工作报告"));
    }

    #[test]
    fn han_numeral_years_may_carry_arabic_zeros() {
        assert_eq!(cn_number("二〇〇五"), Some(2005));
        assert_eq!(cn_number("二00五"), Some(2005));
        assert_eq!(cn_number("二0一三"), Some(2013));
    }

    #[test]
    fn years_from_headings_sessions_and_the_kind_of_report() {
        let headings = |hs: &[&str]| hs.iter().map(|h| h.to_string()).collect::<Vec<_>>();
        let body = "我代表县人民政府向大会报告工作。";
        // The review year plus one.
        let hs = headings(&["一、2023年工作回顾"]);
        let m = infer(&Evidence {
            head: &[],
            title: None,
            body,
            headings: &hs,
            captions: 0,
        });
        assert_eq!((m.year, m.review_year), (Some(2024), Some(2023)));
        // A heading-like line without a number counts too.
        let m = infer(&ev(&[], "2021年以来工作回顾\n我代表区人民政府报告工作。"));
        assert_eq!(m.year, Some(2022));
        // A session date in Chinese numerals wins.
        let head = ["——二〇一九年三月四日在某县第十五届人民代表大会第三次会议上".to_string()];
        let m = infer(&ev(&head, body));
        assert_eq!(m.year, Some(2019));
        assert_eq!(m.meeting_date.as_deref(), Some("2019-03-04"));
        // A report on work done is dated by the year it reviews, or the year
        // before the one it plans.
        let hs = headings(&["八、2020年法治政府建设工作计划"]);
        let m = infer(&Evidence {
            head: &[],
            title: None,
            body: "现将本区法治政府建设有关情况报告如下。",
            headings: &hs,
            captions: 0,
        });
        assert_eq!(m.doc_type.as_deref(), Some("法治政府建设报告"));
        assert_eq!(m.year, Some(2019));
    }

    #[test]
    fn a_term_opening_report_is_dated_by_its_review_and_its_outlook() {
        // The review writes its latest years as horizons (`增长到2020年`), the
        // outlook names the coming plan: the window dates the report.
        let body = "一、过去五年工作回顾\n地区生产总值从2015年的2694亿元增长到2020年的3000亿元，\
                    是2015年的1.1倍。\n二、今后五年的主要任务\n今后五年，是实施“十四五”规划的五年。\
                    到2025年，全区学位增加。其中2021年5100座、2022年2500座、2025年9300座，2025年建成。";
        assert_eq!(outlook_year(body), Some(2021));
        // A province term opening two years into a plan: the review's last
        // year (2017) stands, not the plan's start (2016).
        let body = "过去五年，2017年全省生产总值增长7.5%，2017年完成投资。\n今后五年，要完成“十三五”规划，\
                    实施“十三五”规划纲要。";
        assert_eq!(outlook_year(body), Some(2018));
        // A passing mention of the next plan is no outlook.
        let body = "2014年工作回顾。2014年增长7%。谋划好未来五年的发展蓝图，编制“十三五”规划。";
        assert_eq!(outlook_year(body), None);
    }

    #[test]
    fn a_report_names_its_unit_as_it_was_called_then() {
        // 萧山市 became 萧山区 of 杭州 in 2001; a 1999 report says 萧山市.
        let m = infer(&ev(
            &[],
            "各位代表：现在，我代表萧山市人民政府向大会报告工作。在杭州市委领导下，全市经济增长。",
        ));
        assert_eq!(m.place.district.as_deref(), Some("萧山市"));
        assert_eq!(m.place.city.as_deref(), Some("杭州市"));
        assert_eq!(m.place.province.as_deref(), Some("浙江省"));
        assert_eq!(m.level.as_deref(), Some("county"));
    }
}
