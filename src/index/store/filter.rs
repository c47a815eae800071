//! How a [`Filter`] selects documents: in SQL ([`filter_sql`], for the
//! store's queries) and over the catalog ([`DocInfo::matches`], for dense
//! search), both through the place keys, so that a place named by one of its
//! names also finds the reports labelled with another.

use super::catalog::DocInfo;
use crate::index::{Filter, Place};

/// A document's place key: the current successor (GB/T 2260 code) of its
/// most specific named division as of its year, so that reports labelled
/// with a place's former names share it.
pub(super) fn place_key(place: &Place, year: Option<i32>) -> Option<i64> {
    let history = crate::corpus::divisions::history().ok()?;
    let year = year.and_then(|y| u16::try_from(y).ok());
    history
        .place_key_of(
            place.district.as_deref(),
            place.city.as_deref(),
            place.province.as_deref(),
            year,
        )
        .map(i64::from)
}

/// A place filter's names resolved through the divisions' history: the
/// current codes each name ever led to, so that a filter on 清苑区 also
/// finds documents labelled 清苑县.
#[derive(Debug, Default)]
pub(super) struct PlaceKeys {
    district: Vec<i64>,
    city: Vec<i64>,
    province: Vec<i64>,
}

impl PlaceKeys {
    pub(super) fn of(f: &Filter) -> PlaceKeys {
        let keys = |name: &Option<String>| -> Vec<i64> {
            let Some(name) = name.as_deref().map(str::trim).filter(|n| !n.is_empty()) else {
                return Vec::new();
            };
            crate::corpus::divisions::history()
                .map(|h| h.keys_of_name(name).into_iter().map(i64::from).collect())
                .unwrap_or_default()
        };
        PlaceKeys {
            district: keys(&f.district),
            city: keys(&f.city),
            province: keys(&f.province),
        }
    }
}

impl DocInfo {
    pub(super) fn matches(&self, f: &Filter, places: &PlaceKeys) -> bool {
        fn eq(want: &Option<String>, have: &Option<String>) -> bool {
            match want.as_deref().map(str::trim) {
                None | Some("") => true,
                Some(w) => have.as_deref() == Some(w),
            }
        }
        // A place matches by its label or by its key: the key itself (the
        // unit's own reports) or, for a city or province, the unit its key
        // lies in by the code's digits.
        let place = |want: &Option<String>, have: &Option<String>, keys: &[i64], step: i64| {
            eq(want, have)
                || self.place_key.is_some_and(|k| {
                    keys.contains(&k) || (step > 1 && keys.contains(&(k / step * step)))
                })
        };
        place(&f.district, &self.place.district, &places.district, 1)
            && place(&f.city, &self.place.city, &places.city, 100)
            && place(&f.province, &self.place.province, &places.province, 10_000)
            && eq(&f.doc_type, &self.doc_type)
            && f.year_from
                .is_none_or(|y| self.year.is_some_and(|v| v >= y))
            && f.year_to.is_none_or(|y| self.year.is_some_and(|v| v <= y))
    }
}

/// SQL condition (over `documents d`) for a filter, with its parameters.
pub(super) fn filter_sql(f: &Filter) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value;
    let mut conds = vec!["1".to_string()];
    let mut vals = Vec::new();
    let places = PlaceKeys::of(f);
    for (col, v, keys, step) in [
        ("district", &f.district, &places.district, 1),
        ("city", &f.city, &places.city, 100),
        ("province", &f.province, &places.province, 10_000),
        ("doc_type", &f.doc_type, &Vec::new(), 1),
    ] {
        if let Some(v) = v.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            // Keys are integers from the embedded table, listed inline.
            let list = keys
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let cond = match (keys.is_empty(), step) {
                (true, _) => format!("d.{col} = ?"),
                (false, 1) => format!("(d.{col} = ? OR d.place_key IN ({list}))"),
                (false, _) => format!(
                    "(d.{col} = ? OR d.place_key IN ({list}) \
                     OR d.place_key / {step} * {step} IN ({list}))"
                ),
            };
            conds.push(cond);
            vals.push(Value::Text(v.to_string()));
        }
    }
    if let Some(y) = f.year_from {
        conds.push("d.year >= ?".into());
        vals.push(Value::Integer(y.into()));
    }
    if let Some(y) = f.year_to {
        conds.push("d.year <= ?".into());
        vals.push(Value::Integer(y.into()));
    }
    (conds.join(" AND "), vals)
}
