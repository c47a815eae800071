//! Metadata: reporting unit (district, city, province, level), years,
//! document type, meeting date and speaker, each with a confidence.
//!
//! The unit is resolved against a real table of China's administrative
//! divisions (`data/divisions/divisions.tsv`, embedded). The strongest
//! evidence is the title block's own statements — the meeting (`在X第N届人民
//! 代表大会…会议上`), the official (`X人民政府区长`), the title; failing
//! those, names in the body are weighed against the level the text speaks at
//! (`全市`, `我代表区人民政府`), so a city report that names its counties is
//! attributed to the city. Ambiguous county names are resolved by the other
//! names in the document or left empty with a low confidence.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, MatchKind};
use regex::Regex;

use super::DocumentMeta;

const DIVISIONS_TSV: &str = include_str!("../../data/divisions/divisions.tsv");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Province,
    Prefecture,
    County,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Province => "province",
            Level::Prefecture => "prefecture",
            Level::County => "county",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Division {
    pub code: u32,
    pub name: String,
    pub level: Level,
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
            let level = if code % 10000 == 0 {
                Level::Province
            } else if code % 100 == 0 {
                Level::Prefecture
            } else {
                Level::County
            };
            divisions.push(Division {
                code,
                name: name.trim().to_string(),
                level,
            });
        }
        let by_code: HashMap<u32, usize> = divisions
            .iter()
            .enumerate()
            .map(|(i, d)| (d.code, i))
            .collect();
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
        let full_names: Vec<String> = by_name
            .keys()
            .filter(|n| n.chars().count() >= 3)
            .cloned()
            .collect();
        let full = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&full_names)
            .expect("automaton over division names");
        let stem_names: Vec<String> = by_stem.keys().cloned().collect();
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

    /// Division mentions by position: full names, and a prefecture's name
    /// followed by a county's short name (`曲靖市麒麟`), as happens when the
    /// suffix was lost.
    fn mentions(&self, text: &str) -> Vec<(usize, String, Vec<usize>)> {
        let mut out = Vec::new();
        for m in self.full.find_iter(text) {
            let name = &self.full_names[m.pattern().as_usize()];
            let ids = self.lookup(name).to_vec();
            out.push((m.start(), name.clone(), ids.clone()));
            for &p in &ids {
                if self.divisions[p].level != Level::Prefecture {
                    continue;
                }
                let rest = &text[m.end()..];
                for &c in self.children.get(&p).map_or(&[][..], Vec::as_slice) {
                    let full = &self.divisions[c].name;
                    if let Some(s) = self.stems.get(&c) {
                        if rest.starts_with(s.as_str()) && !rest.starts_with(full.as_str()) {
                            out.push((m.end(), full.clone(), vec![c]));
                        }
                    }
                }
            }
        }
        out
    }

    fn stem_counts(&self, text: &str) -> HashMap<usize, usize> {
        let mut counts = HashMap::new();
        for m in self.stem_ac.find_iter(text) {
            for &i in &self.by_stem[&self.stem_names[m.pattern().as_usize()]] {
                *counts.entry(i).or_insert(0) += 1;
            }
        }
        counts
    }
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
    Regex::new(r"在(.{2,30}?)第[一二三四五六七八九十]+届人民代表大会").expect("valid regex")
});
static OFFICIAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(\p{Han}{2,20}?)人民政府(?:代)?(?:区长|县长|市长|旗长|州长|省长|主席)")
        .expect("valid regex")
});
static AGENCY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(\p{Han}{2,12}?)(?:发展和改革局|发展和改革委员会|发展改革委|财政局|统计局)")
        .expect("valid regex")
});
static MEETING_DATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(\d{4})年(\d{1,2})月(\d{1,2})日(?:在|于)").expect("valid regex"));
static SPEAKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:区长|县长|市长|旗长|州长|省长|主席|主任|局长)\s*(\p{Han}{2,4})$")
        .expect("valid regex")
});
static YEAR: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(\d{4})年").expect("valid regex"));
static EXECUTED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(\d{4})年[^，。；]{0,24}?执行情况").expect("valid regex"));
static DRAFT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(\d{4})年[^，。；]{0,24}?草案").expect("valid regex"));
static REPORTS_WORK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"代表\p{Han}{0,8}人民政府\p{Han}{0,4}报告工作").expect("valid regex")
});
static LEVEL_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"我代表([区县市旗州省])人民政府|全([区县市旗州省])|([区县市旗州省])委")
        .expect("valid regex")
});

fn plausible_year(y: &str) -> Option<i32> {
    y.parse::<i32>().ok().filter(|y| (1949..=2100).contains(y))
}

pub fn infer(ev: &Evidence) -> DocumentMeta {
    let table = &*TABLE;
    let mut meta = DocumentMeta::default();
    let mut conf: BTreeMap<String, f32> = BTreeMap::new();
    let head: String = ev.head.concat();
    let opening: String = ev.body.chars().take(1200).collect();

    // --- reporting unit
    let last_unit = |text: &str| {
        table
            .mentions(text)
            .into_iter()
            .max_by_key(|m| m.0)
            .map(|m| m.1)
    };
    let strong = MEETING
        .captures(&head)
        .and_then(|c| last_unit(&c[1]).map(|u| (u, 0.95)))
        .or_else(|| {
            OFFICIAL
                .captures(&head)
                .and_then(|c| last_unit(&c[1]).map(|u| (u, 0.9)))
        })
        .or_else(|| ev.title.and_then(|t| last_unit(t).map(|u| (u, 0.85))))
        .or_else(|| {
            AGENCY
                .captures(&head)
                .and_then(|c| last_unit(&c[1]).map(|u| (u, 0.8)))
        });
    let all_text = format!("{head}\n{}", ev.body);
    let stem_counts = table.stem_counts(&all_text);
    let unit = strong.or_else(|| unit_from_body(table, &head, ev.body, &stem_counts));
    if let Some((name, c)) = unit {
        let ids = table.lookup(&name);
        let chosen = if ids.len() == 1 {
            Some(ids[0])
        } else {
            resolve_ambiguous(table, ids, &stem_counts)
        };
        meta.district = Some(name.clone());
        match chosen {
            Some(i) => {
                let d = &table.divisions[i];
                meta.level = Some(d.level.as_str().to_string());
                meta.city = table.city_of(i).map(|c| table.divisions[c].name.clone());
                meta.province = table
                    .province_of(i)
                    .map(|p| table.divisions[p].name.clone());
                for k in ["district", "city", "province", "level"] {
                    conf.insert(k.into(), c);
                }
                if meta.city.is_none() {
                    conf.remove("city");
                }
            }
            None => {
                conf.insert("district".into(), c * 0.8);
                // The same name in several provinces and nothing to tell them apart.
                conf.insert("city".into(), 0.2);
                conf.insert("province".into(), 0.2);
            }
        }
    }

    // --- years
    let meeting = MEETING_DATE.captures(&head);
    if let Some(m) = &meeting {
        if let (Some(y), Ok(mo), Ok(d)) = (
            plausible_year(&m[1]),
            m[2].parse::<u32>(),
            m[3].parse::<u32>(),
        ) {
            if (1..=12).contains(&mo) && (1..=31).contains(&d) {
                meta.meeting_date = Some(format!("{y:04}-{mo:02}-{d:02}"));
                conf.insert("meeting_date".into(), 0.95);
            }
        }
    }
    let mut review = None;
    let mut plan = None;
    for h in ev.headings {
        let Some(y) = YEAR.captures(h).and_then(|c| plausible_year(&c[1])) else {
            continue;
        };
        if ["回顾", "执行情况", "成效", "成绩", "总结", "过去"]
            .iter()
            .any(|k| h.contains(k))
        {
            review.get_or_insert(y);
        } else if [
            "任务", "目标", "计划", "安排", "要求", "展望", "打算", "思路",
        ]
        .iter()
        .any(|k| h.contains(k))
        {
            plan.get_or_insert(y);
        }
    }
    if let Some(c) = EXECUTED.captures(&format!("{head}{opening}")) {
        review = review.or(plausible_year(&c[1]));
    }
    if let Some(c) = DRAFT.captures(&format!("{head}{opening}")) {
        plan = plan.or(plausible_year(&c[1]));
    }
    let title_year = ev
        .title
        .and_then(|t| YEAR.captures(t))
        .and_then(|c| plausible_year(&c[1]));
    let meeting_year = meta
        .meeting_date
        .as_deref()
        .and_then(|d| plausible_year(&d[..4]));
    if let Some((y, c)) = plan
        .map(|y| (y, 0.9))
        .or(title_year.map(|y| (y, 0.85)))
        .or(meeting_year.map(|y| (y, 0.75)))
    {
        meta.year = Some(y);
        conf.insert("year".into(), c);
    }
    if let Some(y) = review {
        meta.review_year = Some(y);
        conf.insert("review_year".into(), 0.85);
    }

    // --- document type
    let title = ev.title.unwrap_or("");
    let doc_type = if title.contains("政府工作报告") || head.contains("政府工作报告") {
        Some(("政府工作报告", 0.95))
    } else if format!("{head}{opening}").contains("国民经济和社会发展计划") {
        Some(("国民经济和社会发展计划报告", 0.9))
    } else if format!("{head}{opening}").contains("预算执行情况") {
        Some(("财政预算报告", 0.85))
    } else if REPORTS_WORK.is_match(&opening) {
        Some(("政府工作报告", 0.85))
    } else if opening.contains("常务委员会工作报告") {
        Some(("人大常委会工作报告", 0.8))
    } else if ev.captions > 0
        || ["展望", "回顾", "综述", "记者"]
            .iter()
            .any(|k| title.contains(k))
    {
        Some(("新闻报道", 0.6))
    } else {
        None
    };
    if let Some((t, c)) = doc_type {
        meta.doc_type = Some(t.to_string());
        conf.insert("doc_type".into(), c);
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

/// Picks the unit from names in the body, weighed by how often they occur
/// and by the level the text speaks at.
fn unit_from_body(
    table: &Table,
    head: &str,
    body: &str,
    stems: &HashMap<usize, usize>,
) -> Option<(String, f32)> {
    let mut counts: HashMap<String, f32> = HashMap::new();
    for (_, name, _) in table.mentions(head) {
        *counts.entry(name).or_insert(0.0) += 3.0;
    }
    for (_, name, _) in table.mentions(body) {
        *counts.entry(name).or_insert(0.0) += 1.0;
    }
    if counts.is_empty() {
        return None;
    }
    let mut level_votes: HashMap<char, f32> = HashMap::new();
    for c in LEVEL_WORDS.captures_iter(body) {
        let (ch, w) = if let Some(m) = c.get(1) {
            (m.as_str(), 10.0)
        } else if let Some(m) = c.get(2) {
            (m.as_str(), 1.0)
        } else {
            (c.get(3).map_or("", |m| m.as_str()), 0.5)
        };
        if let Some(ch) = ch.chars().next() {
            *level_votes.entry(ch).or_insert(0.0) += w;
        }
    }
    let speaks_as = level_votes
        .iter()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(c, _)| *c);
    let mut scored: Vec<(String, f32)> = counts
        .into_iter()
        .map(|(name, n)| {
            let stem_n = table
                .lookup(&name)
                .iter()
                .map(|i| stems.get(i).copied().unwrap_or(0))
                .max()
                .unwrap_or(0);
            let mut s = n + 0.3 * stem_n as f32;
            if let Some(ch) = speaks_as {
                s *= if name.ends_with(ch) { 2.0 } else { 0.5 };
            }
            (name, s)
        })
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let (best, s1) = scored[0].clone();
    let s2 = scored.get(1).map_or(0.0, |x| x.1);
    let margin = if s1 > 0.0 { (s1 - s2) / s1 } else { 0.0 };
    Some((best, 0.5 + 0.3 * margin))
}

/// Among divisions sharing a name, the one whose city or province the
/// document also names; `None` when no single one stands out.
fn resolve_ambiguous(table: &Table, ids: &[usize], stems: &HashMap<usize, usize>) -> Option<usize> {
    let support = |i: usize| -> usize {
        [table.city_of(i), table.province_of(i)]
            .into_iter()
            .flatten()
            .filter(|&p| p != i)
            .map(|p| stems.get(&p).copied().unwrap_or(0))
            .sum()
    };
    let mut best: Option<(usize, usize)> = None;
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
        Some((i, s)) if s > 0 && !tie => Some(i),
        _ => None,
    }
}

/// Fills city, province and level for a district named by an override.
pub fn complete_from_table(meta: &mut DocumentMeta) {
    let Some(name) = meta.district.clone() else {
        return;
    };
    let ids = TABLE.lookup(&name);
    if ids.len() != 1 {
        return;
    }
    let i = ids[0];
    let t = &*TABLE;
    if meta.city.is_none() {
        meta.city = t.city_of(i).map(|c| t.divisions[c].name.clone());
    }
    if meta.province.is_none() {
        meta.province = t.province_of(i).map(|p| t.divisions[p].name.clone());
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
        assert_eq!(m.district.as_deref(), Some("六盘水市"));
        assert_eq!(m.level.as_deref(), Some("prefecture"));
        assert_eq!(m.province.as_deref(), Some("贵州省"));
        assert_eq!(m.speaker.as_deref(), Some("李巍"));
        assert_eq!(m.meeting_date.as_deref(), Some("2024-01-31"));
        assert_eq!(m.year, Some(2024));
        // Without the title block, the level the text speaks at decides.
        let m = infer(&ev(
            &[],
            "我代表市人民政府报告。六盘水市钟山区水城区钟山区。全市全市。六盘水市。",
        ));
        assert_eq!(m.district.as_deref(), Some("六盘水市"));
    }

    #[test]
    fn county_level_city_banner_and_ambiguity() {
        let m = infer(&ev(
            &[],
            "我代表市人民政府报告工作。额尔古纳市全市上下团结奋斗，额尔古纳市发展。",
        ));
        assert_eq!(m.district.as_deref(), Some("额尔古纳市"));
        assert_eq!(m.city.as_deref(), Some("呼伦贝尔市"));
        assert_eq!(m.level.as_deref(), Some("county"));
        let m = infer(&ev(
            &[],
            "我代表旗人民政府报告工作。科尔沁右翼前旗全旗经济稳步增长。",
        ));
        assert_eq!(m.district.as_deref(), Some("科尔沁右翼前旗"));
        assert_eq!(m.province.as_deref(), Some("内蒙古自治区"));
        // 朝阳区 exists in Beijing and Changchun: decided by the other names…
        let m = infer(&ev(
            &[],
            "我代表区人民政府报告工作。朝阳区全区上下，在长春市委领导下，朝阳区发展。",
        ));
        assert_eq!(m.city.as_deref(), Some("长春市"));
        // …or left open.
        let m = infer(&ev(
            &[],
            "我代表区人民政府报告工作。朝阳区全区上下，朝阳区发展。",
        ));
        assert_eq!(m.district.as_deref(), Some("朝阳区"));
        assert_eq!(m.city, None);
        assert!(m.confidence["city"] < 0.5);
    }
}
