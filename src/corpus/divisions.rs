//! China's administrative divisions over time: every name each GB/T 2260 code
//! has carried, with years, and where each retired name went.
//!
//! The table is `data/divisions/history.tsv` (embedded, parsed once on first
//! use), derived from the Ministry of Civil Affairs' year-end code lists
//! 1980–2019, 2020 and the latest list by `scripts/build-divisions.py`; its
//! README states the sources, licences and the rules that link a retired
//! name to its successors.
//!
//! A [`Name`] is one name one code carried for a run of years. Its years are
//! inclusive at both ends and the year of a change belongs to both the old
//! and the new name, since a report of that year may use either. Names in
//! the earliest list are taken as valid for every earlier year.
//!
//! A place over time is followed through successor links (a rename in place,
//! a recoding, 县 → 区/市, 地区 → 市, a unit absorbed by another) to the
//! names in force today: its *current successors*. Two names or codes are the
//! same place over time when their current successors meet.

use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;

const HISTORY_TSV: &str = include_str!("../../data/divisions/history.tsv");

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DivisionsError {
    #[error("divisions history line {line}: {reason}")]
    Malformed { line: usize, reason: String },
    #[error("not a division code: {0:?} (six digits expected)")]
    BadCode(String),
}

/// One name one code carried, from `from` to `to` (inclusive; `None` while
/// in force).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    pub code: u32,
    pub name: String,
    pub from: u16,
    pub to: Option<u16>,
    /// Indices (into [`History::names`]) of the names that took over when
    /// this one ended.
    successors: Vec<usize>,
}

impl Name {
    /// Whether the name was in use at some point of `year`.
    pub fn valid_in(&self, year: u16, earliest: u16) -> bool {
        (self.from <= year || self.from == earliest) && self.to.is_none_or(|to| year <= to)
    }

    pub fn is_current(&self) -> bool {
        self.to.is_none()
    }
}

/// The level a code denotes, read from its digits (`PP0000` province,
/// `PPCC00` prefecture, anything else county).
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

pub fn level_of(code: u32) -> Level {
    if code.is_multiple_of(10_000) {
        Level::Province
    } else if code.is_multiple_of(100) {
        Level::Prefecture
    } else {
        Level::County
    }
}

/// Parses a six-digit division code.
pub fn parse_code(text: &str) -> Result<u32, DivisionsError> {
    let t = text.trim();
    if t.len() != 6 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DivisionsError::BadCode(text.to_string()));
    }
    t.parse()
        .map_err(|_| DivisionsError::BadCode(text.to_string()))
}

/// The parents of a division as of a year: its prefecture (none for
/// districts of the four municipalities and for counties a province governs
/// directly) and its province.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parents<'a> {
    pub city: Option<&'a Name>,
    pub province: Option<&'a Name>,
}

pub struct History {
    names: Vec<Name>,
    earliest: u16,
    by_code: HashMap<u32, Vec<usize>>,
    by_name: HashMap<String, Vec<usize>>,
    /// For each name, the indices of the current names it leads to.
    current: Vec<BTreeSet<usize>>,
}

static HISTORY: LazyLock<Result<History, DivisionsError>> =
    LazyLock::new(|| History::parse(HISTORY_TSV));

/// The embedded history, parsed on first use.
pub fn history() -> Result<&'static History, DivisionsError> {
    HISTORY.as_ref().map_err(Clone::clone)
}

impl History {
    /// Parses `code<TAB>name<TAB>from<TAB>to<TAB>successor codes` rows
    /// (`#` lines are comments; `to` empty while in force; successors
    /// comma-separated, each the code in force in the year `to`).
    pub fn parse(text: &str) -> Result<History, DivisionsError> {
        struct Row {
            code: u32,
            name: String,
            from: u16,
            to: Option<u16>,
            succ: Vec<u32>,
        }
        let mut rows = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let bad = |reason: &str| DivisionsError::Malformed {
                line: line_no,
                reason: reason.to_string(),
            };
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() != 5 {
                return Err(bad("five tab-separated fields expected"));
            }
            let code = parse_code(f[0]).map_err(|_| bad("bad code"))?;
            if f[1].is_empty() {
                return Err(bad("empty name"));
            }
            let from: u16 = f[2].parse().map_err(|_| bad("bad from year"))?;
            let to = match f[3] {
                "" => None,
                t => Some(t.parse::<u16>().map_err(|_| bad("bad to year"))?),
            };
            if to.is_some_and(|to| to < from) {
                return Err(bad("ends before it starts"));
            }
            let succ = if f[4].is_empty() {
                Vec::new()
            } else {
                f[4].split(',')
                    .map(|c| parse_code(c).map_err(|_| bad("bad successor code")))
                    .collect::<Result<_, _>>()?
            };
            rows.push(Row {
                code,
                name: f[1].to_string(),
                from,
                to,
                succ,
            });
        }
        if rows.is_empty() {
            return Err(DivisionsError::Malformed {
                line: 0,
                reason: "no rows".into(),
            });
        }
        let earliest = rows.iter().map(|r| r.from).min().unwrap_or(0);
        let mut by_code: HashMap<u32, Vec<usize>> = HashMap::new();
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, r) in rows.iter().enumerate() {
            by_code.entry(r.code).or_default().push(i);
            by_name.entry(r.name.clone()).or_default().push(i);
        }
        let mut names: Vec<Name> = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut successors = Vec::new();
            if let Some(to) = r.to {
                for s in &r.succ {
                    // The successor is the name its code carried in the year
                    // of the change; the latest-starting one if several.
                    let found = by_code.get(s).and_then(|ix| {
                        ix.iter()
                            .copied()
                            .filter(|&j| {
                                let n = &rows[j];
                                n.from <= to && n.to.is_none_or(|t| t >= to)
                            })
                            .max_by_key(|&j| rows[j].from)
                    });
                    if let Some(j) = found {
                        successors.push(j);
                    }
                }
            }
            names.push(Name {
                code: r.code,
                name: r.name.clone(),
                from: r.from,
                to: r.to,
                successors,
            });
        }
        let current = Self::resolve_current(&names);
        Ok(History {
            names,
            earliest,
            by_code,
            by_name,
            current,
        })
    }

    /// Follows successor links to the names in force. A retired name whose
    /// successors are unknown leads nowhere (an empty set).
    fn resolve_current(names: &[Name]) -> Vec<BTreeSet<usize>> {
        let mut memo: Vec<Option<BTreeSet<usize>>> = vec![None; names.len()];
        fn visit(
            i: usize,
            names: &[Name],
            memo: &mut Vec<Option<BTreeSet<usize>>>,
            on_path: &mut Vec<bool>,
        ) -> BTreeSet<usize> {
            if let Some(done) = &memo[i] {
                return done.clone();
            }
            if names[i].is_current() {
                let one = BTreeSet::from([i]);
                memo[i] = Some(one.clone());
                return one;
            }
            // A cycle would mean bad data; cut it rather than loop.
            if on_path[i] {
                return BTreeSet::new();
            }
            on_path[i] = true;
            let mut out = BTreeSet::new();
            for &s in &names[i].successors {
                out.extend(visit(s, names, memo, on_path));
            }
            on_path[i] = false;
            memo[i] = Some(out.clone());
            out
        }
        let mut on_path = vec![false; names.len()];
        (0..names.len())
            .map(|i| visit(i, names, &mut memo, &mut on_path))
            .collect()
    }

    /// Every name of the table, in code order.
    pub fn names(&self) -> &[Name] {
        &self.names
    }

    /// The year of the earliest list; names in it are taken as valid before.
    pub fn earliest_year(&self) -> u16 {
        self.earliest
    }

    /// The names a code carried, oldest first (a code can be reused for
    /// another place years after it was retired).
    pub fn names_of_code(&self, code: u32) -> Vec<&Name> {
        self.by_code
            .get(&code)
            .map(|ix| ix.iter().map(|&i| &self.names[i]).collect())
            .unwrap_or_default()
    }

    /// The names in force for a code in a year (one, unless the year saw a
    /// change).
    pub fn at(&self, code: u32, year: u16) -> Vec<&Name> {
        self.names_of_code(code)
            .into_iter()
            .filter(|n| n.valid_in(year, self.earliest))
            .collect()
    }

    /// The divisions a name denoted in a year; with no year, every division
    /// that ever carried it.
    pub fn denoted(&self, name: &str, year: Option<u16>) -> Vec<&Name> {
        self.by_name
            .get(name)
            .map(|ix| {
                ix.iter()
                    .map(|&i| &self.names[i])
                    .filter(|n| year.is_none_or(|y| n.valid_in(y, self.earliest)))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn index_of(&self, n: &Name) -> Option<usize> {
        self.by_code
            .get(&n.code)?
            .iter()
            .copied()
            .find(|&i| self.names[i].from == n.from && self.names[i].name == n.name)
    }

    /// The names in force today that a name leads to (itself if in force;
    /// several after a split; none when the table does not know where it
    /// went).
    pub fn current_of(&self, n: &Name) -> Vec<&Name> {
        self.index_of(n)
            .map(|i| self.current[i].iter().map(|&j| &self.names[j]).collect())
            .unwrap_or_default()
    }

    /// The current successor codes of a code: of the name it carried in
    /// `year`, or of all its names when no year is given.
    pub fn current_codes(&self, code: u32, year: Option<u16>) -> BTreeSet<u32> {
        let names = match year {
            Some(y) => self.at(code, y),
            None => self.names_of_code(code),
        };
        names
            .into_iter()
            .flat_map(|n| self.current_of(n))
            .map(|n| n.code)
            .collect()
    }

    /// A stable key for a place over time: the smallest current successor
    /// code of `code` as of `year`, or `code` itself when the table cannot
    /// follow it to today.
    pub fn place_key(&self, code: u32, year: Option<u16>) -> u32 {
        self.current_codes(code, year)
            .into_iter()
            .next()
            .unwrap_or(code)
    }

    /// Every name the place that `code` is today has had: the names whose
    /// current successors include it (its own, its former names and codes,
    /// units absorbed into it), oldest first.
    pub fn lineage(&self, code: u32) -> Vec<&Name> {
        let targets: BTreeSet<usize> = self
            .by_code
            .get(&code)
            .into_iter()
            .flatten()
            .flat_map(|&i| self.current[i].iter().copied())
            .collect();
        let mut out: Vec<&Name> = self
            .current
            .iter()
            .enumerate()
            .filter(|(_, cur)| !cur.is_disjoint(&targets))
            .map(|(i, _)| &self.names[i])
            .collect();
        out.sort_by_key(|n| (n.from, n.code));
        out
    }

    /// Whether two names denote the same place over time (some division each
    /// ever denoted leads to a common current division).
    pub fn same_place_names(&self, a: &str, b: &str) -> bool {
        let reach = |name: &str| -> BTreeSet<u32> {
            self.denoted(name, None)
                .into_iter()
                .flat_map(|n| self.current_of(n))
                .map(|n| n.code)
                .collect()
        };
        !reach(a).is_disjoint(&reach(b))
    }

    /// Whether two codes denote the same place over time.
    pub fn same_place_codes(&self, a: u32, b: u32) -> bool {
        !self
            .current_codes(a, None)
            .is_disjoint(&self.current_codes(b, None))
    }

    /// The current codes that any division ever named `name` leads to (the
    /// places a filter on that name means, whatever the year).
    pub fn keys_of_name(&self, name: &str) -> BTreeSet<u32> {
        self.denoted(name.trim(), None)
            .into_iter()
            .flat_map(|n| self.current_of(n))
            .map(|n| n.code)
            .collect()
    }

    /// The place key of a document labelled with these names in `year`: the
    /// current successor of its most specific named unit (district, else
    /// city, else province). The city and province narrow a name several
    /// divisions carried; `None` when the name is unknown or stays
    /// ambiguous.
    pub fn place_key_of(
        &self,
        district: Option<&str>,
        city: Option<&str>,
        province: Option<&str>,
        year: Option<u16>,
    ) -> Option<u32> {
        fn given(s: Option<&str>) -> Option<&str> {
            s.map(str::trim).filter(|s| !s.is_empty())
        }
        let (district, city, province) = (given(district), given(city), given(province));
        let name = district.or(city).or(province)?;
        let mut cands = self.denoted(name, year);
        if cands.is_empty() {
            // Labels may use a later name than the report's year had.
            cands = self.denoted(name, None);
        }
        // A named parent must be one of the unit's ancestors by its digits
        // (then or now): a municipality's districts name it as their city.
        let within = |code: u32, parent: Option<&str>| -> bool {
            let Some(parent) = parent.filter(|p| *p != name) else {
                return true;
            };
            let wanted = self.keys_of_name(parent);
            [code / 100 * 100, code / 10_000 * 10_000]
                .into_iter()
                .filter(|&a| a != code)
                .any(|a| {
                    wanted.contains(&a)
                        || self
                            .current_codes(a, None)
                            .iter()
                            .any(|c| wanted.contains(c))
                })
        };
        // Parents that contradict every candidate leave the place unknown.
        let pool: Vec<&Name> = cands
            .into_iter()
            .filter(|n| within(n.code, city) && within(n.code, province))
            .collect();
        let keys: BTreeSet<u32> = pool
            .iter()
            .map(|n| self.place_key(n.code, year.filter(|&y| n.valid_in(y, self.earliest))))
            .collect();
        match keys.len() {
            1 => keys.into_iter().next(),
            _ => None,
        }
    }

    /// The prefecture and province of a code as of a year, by its digits
    /// and the names those codes carried then.
    pub fn parents(&self, code: u32, year: u16) -> Parents<'_> {
        let pick = |c: u32| self.at(c, year).into_iter().last();
        let city = match level_of(code) {
            Level::County => pick(code / 100 * 100),
            _ => None,
        };
        let province = match level_of(code) {
            Level::Province => None,
            _ => pick(code / 10_000 * 10_000),
        };
        Parents { city, province }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h() -> &'static History {
        history().expect("embedded history parses")
    }

    fn codes(names: &[&Name]) -> Vec<u32> {
        names.iter().map(|n| n.code).collect()
    }

    #[test]
    fn county_to_district_rename_is_followed() {
        let h = h();
        assert_eq!(codes(&h.denoted("清苑县", Some(2003))), vec![130622]);
        assert_eq!(codes(&h.denoted("清苑区", Some(2024))), vec![130608]);
        // The year of the change belongs to both names.
        assert_eq!(codes(&h.denoted("清苑县", Some(2015))), vec![130622]);
        assert_eq!(codes(&h.denoted("清苑区", Some(2015))), vec![130608]);
        assert!(h.denoted("清苑区", Some(2003)).is_empty());
        assert!(h.denoted("清苑县", Some(2020)).is_empty());
        assert_eq!(h.place_key(130622, Some(2003)), 130608);
        assert!(h.same_place_names("清苑县", "清苑区"));
        let names: Vec<&str> = h.lineage(130608).iter().map(|n| n.name.as_str()).collect();
        assert!(
            names.contains(&"清苑县") && names.contains(&"清苑区"),
            "{names:?}"
        );
        let xu: Vec<u32> = h
            .denoted("徐水县", None)
            .iter()
            .flat_map(|n| h.current_of(n))
            .map(|n| n.code)
            .collect();
        assert!(!xu.is_empty() && xu.iter().all(|&c| c == 130609), "{xu:?}");
        assert!(h.same_place_names("徐水县", "徐水区"));
        assert!(!h.same_place_names("清苑县", "徐水区"));
    }

    #[test]
    fn prefecture_became_a_city() {
        let h = h();
        let diqu = h.denoted("保定地区", Some(1990));
        assert_eq!(codes(&diqu), vec![132400]);
        assert_eq!(diqu[0].to, Some(1994));
        assert_eq!(codes(&h.current_of(diqu[0])), vec![130600]);
        assert!(h.same_place_names("保定地区", "保定市"));
        // A county of the prefecture names it as its parent then, the city now.
        let qy = h.denoted("清苑县", Some(1990));
        assert_eq!(
            h.parents(qy[0].code, 1990).city.map(|n| n.name.as_str()),
            Some("保定市"),
            "清苑县 was recoded under 保定市 in 1986"
        );
        let old = h.denoted("徐水县", Some(1990));
        assert_eq!(
            h.parents(old[0].code, 1990).city.map(|n| n.name.as_str()),
            Some("保定地区")
        );
        assert_eq!(
            h.parents(130609, 2024).city.map(|n| n.name.as_str()),
            Some("保定市")
        );
        assert_eq!(
            h.parents(130609, 2024).province.map(|n| n.name.as_str()),
            Some("河北省")
        );
    }

    #[test]
    fn county_level_city_keeps_its_place_through_recodings() {
        let h = h();
        // 涿县 became 涿州市 and was recoded twice as its prefecture changed.
        let zhuo = h.denoted("涿县", None);
        assert_eq!(zhuo.len(), 1);
        assert_eq!(codes(&h.current_of(zhuo[0])), vec![130681]);
        let in_1990 = h.denoted("涿州市", Some(1990));
        assert_eq!(in_1990.len(), 1);
        assert_ne!(in_1990[0].code, 130681);
        assert!(h.same_place_codes(in_1990[0].code, 130681));
        assert_eq!(level_of(130681), Level::County);
    }

    #[test]
    fn merged_districts_lead_to_the_receiving_one() {
        let h = h();
        assert_eq!(h.current_codes(110104, None), BTreeSet::from([110102]));
        assert_eq!(h.current_codes(110103, None), BTreeSet::from([110101]));
        assert!(h.same_place_names("宣武区", "西城区"));
        let lineage: Vec<&str> = h.lineage(110102).iter().map(|n| n.name.as_str()).collect();
        assert!(lineage.contains(&"宣武区"), "{lineage:?}");
        assert!(!lineage.contains(&"崇文区"), "{lineage:?}");
        // Beijing's districts have no prefecture between them and the city.
        assert_eq!(h.parents(110102, 2024).city, None);
        assert_eq!(
            h.parents(110102, 2024).province.map(|n| n.name.as_str()),
            Some("北京市")
        );
    }

    #[test]
    fn a_common_name_in_two_provinces_stays_two_places() {
        let h = h();
        // 成都's 东城区 (abolished 1990) is not Beijing's.
        assert!(!h.same_place_codes(510102, 110101));
        let both = h.denoted("东城区", Some(1985));
        assert!(both.len() >= 2, "{both:?}");
    }

    #[test]
    fn every_current_table_row_is_in_the_history() {
        let h = h();
        let tsv = include_str!("../../data/divisions/divisions.tsv");
        let mut rows = 0;
        for line in tsv.lines().filter(|l| !l.starts_with('#')) {
            let (code, name) = line.split_once('\t').expect("code<TAB>name");
            let code = parse_code(code).expect("six digits");
            let found = h.at(code, 2020);
            assert!(
                found.iter().any(|n| n.name == name),
                "{code} {name} not in force in 2020: {found:?}"
            );
            rows += 1;
        }
        assert!(rows > 3000);
    }

    #[test]
    fn a_document_key_follows_its_district_to_today() {
        let h = h();
        let old = h.place_key_of(Some("清苑县"), Some("保定市"), Some("河北省"), Some(2003));
        let new = h.place_key_of(Some("清苑区"), Some("保定市"), Some("河北省"), Some(2024));
        assert_eq!(old, Some(130608));
        assert_eq!(old, new);
        // A later name on an earlier report still finds the place.
        assert_eq!(
            h.place_key_of(Some("清苑区"), None, None, Some(2003)),
            Some(130608)
        );
        // A city's own report is keyed by the city.
        assert_eq!(
            h.place_key_of(None, Some("保定市"), Some("河北省"), Some(2020)),
            Some(130600)
        );
        // A name several provinces use needs its parents to be told apart.
        assert_eq!(h.place_key_of(Some("朝阳区"), None, None, Some(2020)), None);
        assert_eq!(
            h.place_key_of(Some("朝阳区"), None, Some("北京市"), Some(2020)),
            Some(110105)
        );
        assert_eq!(
            h.place_key_of(Some("不存在县"), None, None, Some(2020)),
            None
        );
        assert_eq!(h.place_key_of(None, None, None, Some(2020)), None);
        assert_eq!(
            h.place_key_of(Some("朝阳区"), Some("北京市"), None, Some(2020)),
            Some(110105)
        );
        assert_eq!(
            h.place_key_of(Some("清苑区"), Some("石家庄市"), None, Some(2020)),
            None
        );
        assert!(h.keys_of_name("清苑县").contains(&130608));
        assert!(h.keys_of_name("保定地区").contains(&130600));
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(matches!(
            parse_code("13062"),
            Err(DivisionsError::BadCode(_))
        ));
        assert!(matches!(
            parse_code("13062x"),
            Err(DivisionsError::BadCode(_))
        ));
        assert_eq!(parse_code(" 130622 "), Ok(130622));
        let err = History::parse("130622\t清苑县\t1986\n").err();
        assert!(matches!(
            err,
            Some(DivisionsError::Malformed { line: 1, .. })
        ));
        let err = History::parse("130622\t清苑县\t2016\t2015\t\n").err();
        assert!(matches!(err, Some(DivisionsError::Malformed { .. })));
        assert!(History::parse("# only a comment\n").is_err());
        assert!(h().names_of_code(999_999).is_empty());
        assert!(h().denoted("不存在县", Some(2000)).is_empty());
        assert_eq!(h().place_key(999_999, Some(2000)), 999_999);
    }

    #[test]
    fn parsed_successor_links_resolve_to_names_in_force_at_the_change() {
        let h = h();
        let linked = h
            .names()
            .iter()
            .filter(|n| !n.successors.is_empty())
            .count();
        let retired = h.names().iter().filter(|n| n.to.is_some()).count();
        // Most retired names are linked (the README lists why some are not).
        assert!(linked * 10 >= retired * 9, "{linked} of {retired}");
        for n in h.names() {
            for &s in &n.successors {
                let to = n.to.expect("only retired names have successors");
                assert!(
                    h.names[s].valid_in(to, h.earliest),
                    "{n:?} -> {:?}",
                    h.names[s]
                );
            }
        }
    }
}
