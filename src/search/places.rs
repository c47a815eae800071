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

/// The short form of an official name: 西乡塘区 → 西乡塘, 广西壮族自治区 → 广西.
/// `None` when nothing shorter than the name but still two characters long
/// remains.
pub fn short_name(name: &str) -> Option<String> {
    let stem = SUFFIXES
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name);
    // Autonomous areas are called by the part before the peoples' names
    // (广西壮族 → 广西, 黔南布依族苗族 → 黔南).
    let stem: String = if stem.contains('族') {
        stem.chars().take(2).collect()
    } else {
        stem.to_string()
    };
    (stem != name && stem.chars().count() >= 2).then_some(stem)
}

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
    let mut districts = named(PlaceLevel::District);
    let cities = named(PlaceLevel::City);
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
    let provinces = named(PlaceLevel::Province);
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
    if let Some(p) = pinyin_of(base) {
        if p.len() >= MIN_PINYIN_LETTERS {
            out.push((p, true));
        }
    }
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
