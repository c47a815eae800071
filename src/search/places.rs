//! Places named in a question.
//!
//! A researcher who asks "麒麟区2022年高考600分以上有多少人？" or "How many
//! enterprises in Xixiangtang …" means that district's reports. The passage
//! that answers rarely repeats the district's name (a report says "全区", not
//! "麒麟区"), so neither retriever can see the restriction: lexically the name
//! only matches passages that happen to mention it, and densely it is one
//! word among many. The search therefore reads the place out of the question
//! and applies it as a metadata filter, reporting what it did so a client can
//! show it and undo it (`infer_places = false`).
//!
//! Only places the library holds are recognised, in their full form
//! (西乡塘区), their short form (西乡塘) in either script, and their pinyin
//! (Xixiangtang, "Liu Pan Shui"). A question naming two districts is a
//! comparison and gets no filter.

use serde::{Deserialize, Serialize};

use crate::index::{Filter, Place};

/// Administrative suffixes dropped to get a name's short form, longest first.
const SUFFIXES: &[&str] = &[
    "特别行政区",
    "自治县",
    "自治州",
    "自治区",
    "自治旗",
    "新区",
    "林区",
    "特区",
    "地区",
    "区",
    "县",
    "市",
    "省",
    "盟",
    "旗",
];

/// English words that accompany a pinyin place name and are not part of it.
const ENGLISH_PLACE_WORDS: &[&str] = &[
    "district",
    "county",
    "city",
    "province",
    "prefecture",
    "municipality",
    "region",
    "autonomous",
    "qu",
    "xian",
    "shi",
    "sheng",
];

/// Shortest pinyin accepted as a place name: shorter ones ("an", "xian")
/// are ordinary syllables or English words.
const MIN_PINYIN_LETTERS: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlaceLevel {
    District,
    City,
    Province,
}

/// The place a search was narrowed to, and the words of the question that
/// named it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InferredPlace {
    pub level: PlaceLevel,
    pub name: String,
    /// The words of the question that named it, as written.
    pub matched: String,
}

impl InferredPlace {
    /// Adds this place to `filter`.
    pub fn apply(&self, filter: &mut Filter) {
        let slot = match self.level {
            PlaceLevel::District => &mut filter.district,
            PlaceLevel::City => &mut filter.city,
            PlaceLevel::Province => &mut filter.province,
        };
        *slot = Some(self.name.clone());
    }
}

/// A recognised mention: which place, and where in the question.
#[derive(Debug, Clone)]
struct Mention {
    level: PlaceLevel,
    name: String,
    /// Byte range in the question as given.
    start: usize,
    end: usize,
}

/// China's 55 recognised minority peoples, as division names write them
/// (before 族, which the names of Xinjiang's divisions leave out for some:
/// 新疆维吾尔自治区, 伊犁哈萨克自治州).
const PEOPLES: &[&str] = &[
    "蒙古",
    "回",
    "藏",
    "维吾尔",
    "苗",
    "彝",
    "壮",
    "布依",
    "朝鲜",
    "满",
    "侗",
    "瑶",
    "白",
    "土家",
    "哈尼",
    "哈萨克",
    "傣",
    "黎",
    "傈僳",
    "佤",
    "畲",
    "高山",
    "拉祜",
    "水",
    "东乡",
    "纳西",
    "景颇",
    "柯尔克孜",
    "土",
    "达斡尔",
    "仫佬",
    "羌",
    "布朗",
    "撒拉",
    "毛南",
    "仡佬",
    "锡伯",
    "阿昌",
    "普米",
    "塔吉克",
    "怒",
    "乌孜别克",
    "俄罗斯",
    "鄂温克",
    "德昂",
    "保安",
    "裕固",
    "京",
    "塔塔尔",
    "独龙",
    "鄂伦春",
    "赫哲",
    "门巴",
    "珞巴",
    "基诺",
];

/// Whether `rest` is nothing but peoples' names (苗族侗族, 维吾尔, 蒙古族藏族).
/// A one-character name counts only with 族 after it: alone it is too
/// often part of a place's own name.
fn only_peoples(rest: &str) -> bool {
    if rest.is_empty() {
        return true;
    }
    PEOPLES.iter().any(|p| {
        rest.strip_prefix(p).is_some_and(|after| {
            after.strip_prefix('族').is_some_and(only_peoples)
                || (p.chars().count() > 1 && only_peoples(after))
        })
    })
}

/// The short form of an official name: 西乡塘区 → 西乡塘, 广西壮族自治区 → 广西.
/// `None` when nothing shorter than the name but still two characters long
/// remains.
pub fn short_name(name: &str) -> Option<String> {
    let stem = SUFFIXES
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name);
    // Autonomous areas are called by the part before the peoples' names
    // (广西壮族 → 广西, 黔东南苗族侗族 → 黔东南, 新疆维吾尔 → 新疆), which
    // leave at least two characters (内蒙古 stays whole).
    let stem = if name.contains("自治") {
        stem.char_indices()
            .skip(2)
            .find(|(i, _)| only_peoples(&stem[*i..]))
            .map_or(stem, |(i, _)| &stem[..i])
    } else {
        stem
    };
    (stem != name && stem.chars().count() >= 2).then(|| stem.to_string())
}

/// Places English writes otherwise than in pinyin: (short name, English
/// spelling, whether it replaces the pinyin). 陕西's pinyin is 山西's, and
/// English keeps "Shanxi" for 山西.
const ENGLISH_NAMES: &[(&str, &str, bool)] = &[
    ("内蒙古", "innermongolia", false),
    ("西藏", "tibet", false),
    ("陕西", "shaanxi", true),
    ("香港", "hongkong", false),
    ("澳门", "macau", false),
    ("澳门", "macao", false),
];

/// Toneless pinyin of a Chinese name, letters only ("xixiangtang"); `None`
/// when a character has no reading.
pub fn pinyin_of(name: &str) -> Option<String> {
    use pinyin::ToPinyin;
    let mut out = String::new();
    for p in name.to_pinyin() {
        out.push_str(p?.plain());
    }
    Some(out)
}

/// Finds the place a question restricts itself to, among `places` (the
/// library's), and the question without the words that named it (what the
/// retrievers should match once the place is a filter: the name itself would
/// only favour passages that happen to repeat it). `None` when it names no
/// place, or more than one district (a comparison), or places that do not
/// nest.
pub fn narrow(query: &str, places: &[Place]) -> Option<(InferredPlace, String)> {
    let mentions = find_mentions(query, places);
    let place = choose(query, places, &mentions)?;
    let rest = remove_mentions(query, &mentions, &place);
    Some((place, rest))
}

/// The place of [`narrow`] alone.
pub fn infer_place(query: &str, places: &[Place]) -> Option<InferredPlace> {
    narrow(query, places).map(|(place, _)| place)
}

fn choose(query: &str, places: &[Place], mentions: &[Mention]) -> Option<InferredPlace> {
    if mentions.is_empty() {
        return None;
    }
    let named = |level: PlaceLevel| -> Vec<&Mention> {
        let mut v: Vec<&Mention> = mentions.iter().filter(|m| m.level == level).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v.dedup_by(|a, b| a.name == b.name);
        v
    };
    let mut districts = one_per_place(places, named(PlaceLevel::District));
    let cities = one_per_place(places, named(PlaceLevel::City));
    // A city's own reports are filed with the city as their district, so a
    // city's name is also a district's. Beside a district of that city
    // ("Futian District, Shenzhen") it names the city, not a second district
    // to compare with.
    if districts.len() > 1 {
        let below_named_city = |d: &&Mention| {
            cities.iter().any(|c| {
                c.name != d.name
                    && places.iter().any(|p| {
                        p.district.as_deref() == Some(d.name.as_str())
                            && p.city.as_deref() == Some(c.name.as_str())
                    })
            })
        };
        if districts.iter().any(below_named_city) {
            districts.retain(|d| !cities.iter().any(|c| c.name == d.name));
        }
    }
    let provinces = one_per_place(places, named(PlaceLevel::Province));
    let pick = |m: &Mention, level: PlaceLevel| InferredPlace {
        level,
        name: m.name.clone(),
        matched: query[m.start..m.end].to_string(),
    };
    match (
        districts.as_slice(),
        cities.as_slice(),
        provinces.as_slice(),
    ) {
        // A prefecture-level city's own report is filed with the city as its
        // "district": naming the city means all of its reports.
        ([d], [c], _) if d.name == c.name => Some(pick(c, PlaceLevel::City)),
        ([d], _, _) => {
            let consistent = places.iter().any(|p| {
                p.district.as_deref() == Some(d.name.as_str())
                    && cities
                        .iter()
                        .all(|c| p.city.as_deref() == Some(c.name.as_str()))
                    && provinces
                        .iter()
                        .all(|v| p.province.as_deref() == Some(v.name.as_str()))
            });
            consistent.then(|| pick(d, PlaceLevel::District))
        }
        ([], [c], _) => {
            let consistent = places.iter().any(|p| {
                p.city.as_deref() == Some(c.name.as_str())
                    && provinces
                        .iter()
                        .all(|v| p.province.as_deref() == Some(v.name.as_str()))
            });
            consistent.then(|| pick(c, PlaceLevel::City))
        }
        ([], [], [v]) => Some(pick(v, PlaceLevel::Province)),
        _ => None,
    }
}

/// Mentions of one place under its names over time as one: names the
/// divisions' history links (清苑县, 清苑区), and names of one short form
/// within one parent in the library (光明新区, the zone that became 光明区:
/// both read "Guangming"). The current name is kept when one of them is,
/// else the first; a question naming both is not a comparison.
fn one_per_place<'m>(places: &[Place], mentions: Vec<&'m Mention>) -> Vec<&'m Mention> {
    let history = crate::corpus::divisions::history().ok();
    let current = |m: &Mention| {
        history.is_some_and(|h| h.denoted(&m.name, None).iter().any(|n| n.is_current()))
    };
    let parents = |name: &str| -> Vec<(Option<&str>, Option<&str>)> {
        places
            .iter()
            .filter(|p| {
                [&p.district, &p.city, &p.province]
                    .iter()
                    .any(|n| n.as_deref() == Some(name))
            })
            .map(|p| (p.city.as_deref(), p.province.as_deref()))
            .collect()
    };
    let same = |a: &str, b: &str| {
        history.is_some_and(|h| h.same_place_names(a, b))
            || (short_name(a).is_some()
                && short_name(a) == short_name(b)
                && parents(a).iter().any(|p| parents(b).contains(p)))
    };
    let mut out: Vec<&Mention> = Vec::new();
    for m in mentions {
        match out.iter().position(|k| same(&k.name, &m.name)) {
            Some(i) => {
                if current(m) && !current(out[i]) {
                    out[i] = m;
                }
            }
            None => out.push(m),
        }
    }
    out
}

/// `query` without the mentions of `place` and of the places above it.
/// `mentions` come sorted by start from [`find_mentions`].
fn remove_mentions(query: &str, mentions: &[Mention], place: &InferredPlace) -> String {
    let mut out = String::with_capacity(query.len());
    let mut at = 0;
    for m in mentions {
        if m.start < at {
            continue;
        }
        // Drop every mention of the chosen place and of the places above it
        // that it implies (贵州省六盘水市 → both go).
        if m.name == place.name || m.level > place.level {
            out.push_str(&query[at..m.start]);
            out.push(' ');
            at = m.end;
        }
    }
    out.push_str(&query[at..]);
    out
}

/// Surface forms of one official name: (form, is_pinyin).
fn forms(name: &str) -> Vec<(String, bool)> {
    let mut out = vec![(name.to_string(), false)];
    let short = short_name(name);
    if let Some(s) = &short {
        out.push((s.clone(), false));
    }
    let base = short.as_deref().unwrap_or(name);
    let english = ENGLISH_NAMES.iter().filter(|(zh, _, _)| *zh == base);
    if !english.clone().any(|(_, _, replaces)| *replaces) {
        if let Some(p) = pinyin_of(base) {
            if p.len() >= MIN_PINYIN_LETTERS {
                out.push((p, true));
            }
        }
    }
    out.extend(english.map(|(_, en, _)| (en.to_string(), true)));
    out
}

fn find_mentions(query: &str, places: &[Place]) -> Vec<Mention> {
    let mut names: Vec<(PlaceLevel, &str)> = Vec::new();
    for p in places {
        for (level, n) in [
            (PlaceLevel::District, &p.district),
            (PlaceLevel::City, &p.city),
            (PlaceLevel::Province, &p.province),
        ] {
            if let Some(n) = n.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
                if !names.contains(&(level, n)) {
                    names.push((level, n));
                }
            }
        }
    }
    let folded = Folded::new(query);
    let words = latin_words(query);
    let mut out = Vec::new();
    for (level, name) in names {
        for (form, is_pinyin) in forms(name) {
            let found = if is_pinyin {
                find_pinyin(&words, &form)
            } else {
                folded.find(&form)
            };
            for (start, end) in found {
                out.push(Mention {
                    level,
                    name: name.to_string(),
                    start,
                    end,
                });
            }
        }
    }
    // A shorter form inside a longer one at the same place (南明 in 南明区) is
    // the same mention; keep the longest.
    out.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut kept: Vec<Mention> = Vec::new();
    for m in out {
        if kept
            .iter()
            .any(|k| k.start <= m.start && m.end <= k.end && k.name == m.name && k.level == m.level)
        {
            continue;
        }
        kept.push(m);
    }
    kept
}

/// The question folded to simplified script, with a map back to byte offsets
/// of the original (folding is per character when the lengths agree; when
/// they do not, matching runs on the original text).
struct Folded<'a> {
    original: &'a str,
    simplified: String,
    /// char index → byte offset in `original` (plus one past the end).
    char_starts: Vec<usize>,
}

impl<'a> Folded<'a> {
    fn new(original: &'a str) -> Self {
        let folded = crate::corpus::to_simplified(original);
        let same_shape = folded.chars().count() == original.chars().count();
        let simplified = if same_shape {
            folded
        } else {
            original.to_string()
        };
        let mut char_starts: Vec<usize> = original.char_indices().map(|(b, _)| b).collect();
        char_starts.push(original.len());
        Folded {
            original,
            simplified,
            char_starts,
        }
    }

    /// Byte ranges (in the original) where `needle` occurs in the folded text.
    fn find(&self, needle: &str) -> Vec<(usize, usize)> {
        let n = needle.chars().count();
        let mut out = Vec::new();
        for (b, _) in self.simplified.match_indices(needle) {
            let ci = self.simplified[..b].chars().count();
            if ci + n < self.char_starts.len() {
                out.push((self.char_starts[ci], self.char_starts[ci + n]));
            }
        }
        debug_assert!(
            out.iter()
                .all(|(s, e)| self.original.is_char_boundary(*s)
                    && self.original.is_char_boundary(*e))
        );
        out
    }
}

/// Runs of ASCII letters (apostrophes inside kept out: "Nan'an" → nan, an),
/// lower-cased, with their byte ranges.
fn latin_words(query: &str) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in query
        .char_indices()
        .chain(std::iter::once((query.len(), ' ')))
    {
        match (c.is_ascii_alphabetic(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((query[s..i].to_ascii_lowercase(), s, i));
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// Byte ranges where one to four consecutive Latin words spell `pinyin`
/// (optionally followed by a generic word such as "district", which is then
/// part of the mention).
fn find_pinyin(words: &[(String, usize, usize)], pinyin: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for i in 0..words.len() {
        let mut joined = String::new();
        for j in i..words.len().min(i + 4) {
            joined.push_str(&words[j].0);
            if joined.len() > pinyin.len() {
                break;
            }
            if joined == pinyin {
                let mut end = words[j].2;
                if let Some(next) = words.get(j + 1) {
                    if ENGLISH_PLACE_WORDS.contains(&next.0.as_str()) {
                        end = next.2;
                    }
                }
                out.push((words[i].1, end));
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(d: &str, c: &str, p: &str) -> Place {
        Place {
            district: Some(d.into()),
            city: Some(c.into()),
            province: Some(p.into()),
        }
    }

    fn library() -> Vec<Place> {
        vec![
            place("南明区", "贵阳市", "贵州省"),
            place("麒麟区", "曲靖市", "云南省"),
            place("西乡塘区", "南宁市", "广西壮族自治区"),
            place("南岸区", "重庆市", "重庆市"),
            place("六盘水市", "六盘水市", "贵州省"),
        ]
    }

    #[test]
    fn short_names_and_pinyin() {
        assert_eq!(short_name("西乡塘区").as_deref(), Some("西乡塘"));
        assert_eq!(short_name("广西壮族自治区").as_deref(), Some("广西"));
        assert_eq!(short_name("重庆市").as_deref(), Some("重庆"));
        assert_eq!(short_name("新疆维吾尔自治区").as_deref(), Some("新疆"));
        assert_eq!(short_name("内蒙古自治区").as_deref(), Some("内蒙古"));
        assert_eq!(
            short_name("黔东南苗族侗族自治州").as_deref(),
            Some("黔东南")
        );
        assert_eq!(
            short_name("西双版纳傣族自治州").as_deref(),
            Some("西双版纳")
        );
        assert_eq!(
            short_name("巴音郭楞蒙古自治州").as_deref(),
            Some("巴音郭楞")
        );
        assert_eq!(short_name("大理白族自治州").as_deref(), Some("大理"));
        assert_eq!(short_name("长阳土家族自治县").as_deref(), Some("长阳"));
        // One character left is too ambiguous to be a name.
        assert_eq!(short_name("城区"), None);
        assert_eq!(pinyin_of("西乡塘").as_deref(), Some("xixiangtang"));
    }

    #[test]
    fn a_named_district_in_either_script_or_pinyin_becomes_a_filter() {
        let lib = library();
        for q in [
            "麒麟区2022年高考600分以上有多少人？",
            "麒麟區2022年高考600分以上有多少人？",
            "How many students in Qilin District scored over 600?",
        ] {
            let got = infer_place(q, &lib).unwrap_or_else(|| panic!("{q}"));
            assert_eq!(got.level, PlaceLevel::District, "{q}");
            assert_eq!(got.name, "麒麟区", "{q}");
        }
        let got = infer_place("xixiangtang high-tech enterprises", &lib).unwrap();
        assert_eq!(
            (got.name.as_str(), got.matched.as_str()),
            ("西乡塘区", "xixiangtang")
        );
        let got = infer_place("Nan'an district consumer finance", &lib).unwrap();
        assert_eq!(got.name, "南岸区");
        assert_eq!(got.matched, "Nan'an district");
    }

    #[test]
    fn a_city_filed_as_its_own_district_filters_by_city() {
        let got = infer_place("六盘水市2024年计划新建多少个5G基站？", &library()).unwrap();
        assert_eq!(got.level, PlaceLevel::City);
        assert_eq!(got.name, "六盘水市");
        let got = infer_place("Liupanshui 5G base stations", &library()).unwrap();
        assert_eq!(got.name, "六盘水市");
    }

    #[test]
    fn a_city_with_its_own_reports_named_beside_its_district_is_the_city() {
        let mut lib = library();
        lib.push(place("贵阳市", "贵阳市", "贵州省"));
        lib.push(place("云岩区", "贵阳市", "贵州省"));
        for q in [
            "贵阳市南明区的医疗改革",
            "How does Nanming District, Guiyang reform health care?",
        ] {
            let got = infer_place(q, &lib).unwrap_or_else(|| panic!("{q}"));
            assert_eq!(
                (got.level, got.name.as_str()),
                (PlaceLevel::District, "南明区"),
                "{q}"
            );
        }
        // Two of its districts are still a comparison.
        assert_eq!(infer_place("贵阳市南明区和云岩区的医疗改革", &lib), None);
        // A district of another city does not nest in it.
        assert_eq!(infer_place("贵阳市麒麟区", &lib), None);
    }

    #[test]
    fn comparisons_unknown_places_and_plain_questions_get_no_filter() {
        let lib = library();
        assert_eq!(infer_place("哪些地区在推进农村户厕改造？", &lib), None);
        assert_eq!(
            infer_place("南岸区和麒麟区的养老服务有什么不同？", &lib),
            None
        );
        assert_eq!(infer_place("北京市朝阳区的做法", &lib), None);
        assert_eq!(
            infer_place("Which places are developing hydrogen energy?", &lib),
            None
        );
        // A district that is not in the named city does not nest.
        assert_eq!(infer_place("南宁市麒麟区", &lib), None);
    }

    #[test]
    fn city_and_province_mentions() {
        let lib = library();
        let got = infer_place("贵阳市南明区的医疗改革", &lib).unwrap();
        assert_eq!(
            (got.level, got.name.as_str()),
            (PlaceLevel::District, "南明区")
        );
        let got = infer_place("广西有哪些跨境电商政策", &lib).unwrap();
        assert_eq!(
            (got.level, got.name.as_str()),
            (PlaceLevel::Province, "广西壮族自治区")
        );
        // Two districts of one province: the province is named, not a district.
        let got = infer_place("贵州省的大数据产业", &lib).unwrap();
        assert_eq!(got.level, PlaceLevel::Province);
    }

    #[test]
    fn english_names_that_are_not_pinyin() {
        let lib = vec![
            place("内蒙古自治区", "内蒙古自治区", "内蒙古自治区"),
            place("陕西省", "陕西省", "陕西省"),
            place("山西省", "山西省", "山西省"),
            place("新疆维吾尔自治区", "新疆维吾尔自治区", "新疆维吾尔自治区"),
        ];
        for (q, want) in [
            ("Grassland protection in Inner Mongolia", "内蒙古自治区"),
            ("Which expos will Shaanxi host?", "陕西省"),
            ("Coal output of Shanxi", "山西省"),
            ("How much cotton does Xinjiang grow?", "新疆维吾尔自治区"),
        ] {
            let got = infer_place(q, &lib).unwrap_or_else(|| panic!("{q}"));
            assert_eq!(got.name, want, "{q}");
        }
    }

    #[test]
    fn one_place_under_two_names_is_not_a_comparison() {
        // 光明新区 became 光明区 in 2018; both spell "Guangming".
        let lib = vec![
            place("光明新区", "深圳市", "广东省"),
            place("光明区", "深圳市", "广东省"),
            place("南山区", "深圳市", "广东省"),
        ];
        for q in [
            "Sponge city construction in Guangming District",
            "光明的海绵城市建设",
        ] {
            let got = infer_place(q, &lib).unwrap_or_else(|| panic!("{q}"));
            assert_eq!(
                (got.level, got.name.as_str()),
                (PlaceLevel::District, "光明区"),
                "{q}"
            );
        }
        assert_eq!(infer_place("光明区和南山区的海绵城市", &lib), None);
    }

    #[test]
    fn the_place_words_are_removed_for_the_lexical_side() {
        let lib = library();
        let q = "贵州省六盘水市新建5G基站";
        let (_, rest) = narrow(q, &lib).unwrap();
        assert_eq!(rest.trim(), "新建5G基站");
        let q = "麒麟區高考600分";
        let (_, rest) = narrow(q, &lib).unwrap();
        assert_eq!(rest.trim(), "高考600分");
    }
}
