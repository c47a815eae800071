//! Request parameters as clients send them, and their checks against the
//! service limits. Everything here is pure so it is tested without a server.

use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use crate::index::Filter;

/// Bounds on what one request may ask for.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest query or pasted text, in characters.
    pub max_query_chars: usize,
    /// Largest `k` (hits) and `per_group`.
    pub max_k: usize,
    pub max_per_group: usize,
    /// Largest request body (uploads included), in bytes.
    pub max_body_bytes: usize,
    /// Most negative examples in one find-similar request.
    pub max_negatives: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_query_chars: 2_000,
            max_k: 100,
            max_per_group: 20,
            max_body_bytes: 16 * 1024 * 1024,
            max_negatives: 10,
        }
    }
}

/// `GET /api/search` parameters (the filters are read from the same query
/// string into [`FilterParams`]: serde's `flatten` would turn every number
/// into a string for the URL-encoded deserializer).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// The question or keywords: simplified or traditional Chinese, or English (required).
    #[param(required = true, example = "哪些地区在推进农村户厕改造")]
    pub q: Option<String>,
    /// Hits wanted; with `group=district`, districts wanted (default 10, at most 100).
    #[param(example = 10, minimum = 1, maximum = 100)]
    pub k: Option<usize>,
    /// `dense` | `lexical` | `hybrid` (default hybrid).
    #[param(example = "hybrid", pattern = "^(dense|lexical|bm25|hybrid)$")]
    pub mode: Option<String>,
    /// `district` to group hits by district.
    #[param(example = "district", pattern = "^(district|none)?$")]
    pub group: Option<String>,
    /// Hits per district with `group=district` (default 3, at most 20).
    #[param(example = 3, minimum = 1, maximum = 20)]
    pub per_group: Option<usize>,
    /// A place the question names (麒麟区, 麒麟區, "Qilin District") becomes a
    /// filter unless this is `false` (default true; ignored when a district,
    /// city or province filter is given).
    #[param(example = true)]
    pub infer_places: Option<bool>,
}

/// Metadata filters shared by search, facets and the document list.
#[derive(Debug, Default, Clone, Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
pub struct FilterParams {
    /// Exact district name.
    #[param(example = "南岸区")]
    #[schema(example = "南岸区")]
    pub district: Option<String>,
    #[param(example = "重庆市")]
    #[schema(example = "重庆市")]
    pub city: Option<String>,
    #[param(example = "贵州省")]
    #[schema(example = "贵州省")]
    pub province: Option<String>,
    /// `2024`, or a range `2022-2024` / `2022..2024` (either end may be open).
    #[param(example = "2023-2024")]
    #[schema(example = "2023-2024")]
    pub year: Option<YearParam>,
    /// First year (overrides the start of `year`).
    pub year_from: Option<i32>,
    /// Last year (overrides the end of `year`).
    pub year_to: Option<i32>,
    #[param(example = "政府工作报告")]
    #[schema(example = "政府工作报告")]
    pub doc_type: Option<String>,
}

/// `year` as a JSON number or as text (always text in a query string).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum YearParam {
    Year(i32),
    Text(String),
}

/// An inclusive year range; `None` ends are open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct YearRange {
    pub from: Option<i32>,
    pub to: Option<i32>,
}

impl FilterParams {
    /// The library's filter; blank values mean "any".
    pub fn to_filter(&self) -> Result<Filter, ApiError> {
        let text = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let years = self.year_range()?;
        Ok(Filter {
            district: text(&self.district),
            city: text(&self.city),
            province: text(&self.province),
            year_from: years.from,
            year_to: years.to,
            doc_type: text(&self.doc_type),
        })
    }

    pub fn year_range(&self) -> Result<YearRange, ApiError> {
        let text = match &self.year {
            None => String::new(),
            Some(YearParam::Year(y)) => y.to_string(),
            Some(YearParam::Text(t)) => t.trim().to_string(),
        };
        let mut range = match text.as_str() {
            "" => YearRange::default(),
            y => parse_year_range(y).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_year",
                    format!("year `{y}` is neither a year (2024) nor a range (2022-2024)"),
                )
            })?,
        };
        if self.year_from.is_some() {
            range.from = self.year_from;
        }
        if self.year_to.is_some() {
            range.to = self.year_to;
        }
        if let (Some(a), Some(b)) = (range.from, range.to) {
            if a > b {
                return Err(ApiError::bad_request(
                    "invalid_year",
                    format!("year range {a}-{b} is empty"),
                ));
            }
        }
        Ok(range)
    }
}

fn parse_year_range(s: &str) -> Option<YearRange> {
    let year = |t: &str| -> Option<Option<i32>> {
        let t = t.trim();
        if t.is_empty() {
            return Some(None);
        }
        let y: i32 = t.parse().ok()?;
        (1900..=2200).contains(&y).then_some(Some(y))
    };
    let sep = s
        .find("..")
        .map(|i| (i, 2))
        .or_else(|| s.find('-').map(|i| (i, 1)));
    match sep {
        None => {
            let y = year(s)??;
            Some(YearRange {
                from: Some(y),
                to: Some(y),
            })
        }
        Some((i, n)) => {
            let (from, to) = (year(&s[..i])?, year(&s[i + n..])?);
            (from.is_some() || to.is_some()).then_some(YearRange { from, to })
        }
    }
}

impl Limits {
    /// A non-empty query within the length limit.
    pub fn check_text<'a>(&self, field: &str, text: Option<&'a str>) -> Result<&'a str, ApiError> {
        let text = text.map(str::trim).unwrap_or("");
        if text.is_empty() {
            return Err(ApiError::bad_request(
                "missing_query",
                format!("`{field}` is required and must not be empty"),
            ));
        }
        self.check_len(field, text)?;
        Ok(text)
    }

    pub fn check_len(&self, field: &str, text: &str) -> Result<(), ApiError> {
        let n = text.chars().count();
        if n > self.max_query_chars {
            return Err(ApiError::bad_request(
                "query_too_long",
                format!(
                    "`{field}` has {n} characters; the limit is {}",
                    self.max_query_chars
                ),
            ));
        }
        Ok(())
    }

    /// `k` defaulting to `default`, within 1..=max.
    pub fn check_count(
        &self,
        field: &str,
        value: Option<usize>,
        default: usize,
        max: usize,
    ) -> Result<usize, ApiError> {
        let v = value.unwrap_or(default);
        if v == 0 || v > max {
            return Err(ApiError::bad_request(
                "invalid_k",
                format!("`{field}` must be between 1 and {max}, not {v}"),
            ));
        }
        Ok(v)
    }
}

/// Whether `group` asks for grouping by district (the only grouping there is).
pub fn group_by_district(group: Option<&str>) -> Result<bool, ApiError> {
    match group.map(str::trim) {
        None | Some("") | Some("none") => Ok(false),
        Some("district") => Ok(true),
        Some(other) => Err(ApiError::bad_request(
            "invalid_group",
            format!("group `{other}` is not supported; use group=district"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn years(year: &str) -> Result<YearRange, ApiError> {
        FilterParams {
            year: Some(YearParam::Text(year.into())),
            ..Default::default()
        }
        .year_range()
    }

    #[test]
    fn year_forms() {
        let r = |from, to| YearRange { from, to };
        assert_eq!(years("2024").unwrap(), r(Some(2024), Some(2024)));
        assert_eq!(years("2022-2024").unwrap(), r(Some(2022), Some(2024)));
        assert_eq!(years("2022..2024").unwrap(), r(Some(2022), Some(2024)));
        assert_eq!(years("2022-").unwrap(), r(Some(2022), None));
        assert_eq!(years("..2023").unwrap(), r(None, Some(2023)));
        assert_eq!(years("").unwrap(), r(None, None));
        for bad in ["twenty", "2024-2022", "-", "99999", "2024-x"] {
            let e = years(bad).unwrap_err();
            assert_eq!(e.status, 400, "{bad}");
            assert_eq!(e.code, "invalid_year", "{bad}");
        }
    }

    #[test]
    fn limits() {
        let l = Limits::default();
        assert_eq!(l.check_count("k", None, 10, l.max_k).unwrap(), 10);
        assert_eq!(l.check_count("k", Some(100), 10, l.max_k).unwrap(), 100);
        assert_eq!(
            l.check_count("k", Some(0), 10, l.max_k).unwrap_err().code,
            "invalid_k"
        );
        assert_eq!(
            l.check_count("k", Some(101), 10, l.max_k).unwrap_err().code,
            "invalid_k"
        );
        assert_eq!(
            l.check_text("q", Some("  ")).unwrap_err().code,
            "missing_query"
        );
        assert_eq!(l.check_text("q", None).unwrap_err().code, "missing_query");
        let long = "政".repeat(l.max_query_chars + 1);
        assert_eq!(
            l.check_text("q", Some(&long)).unwrap_err().code,
            "query_too_long"
        );
        assert_eq!(l.check_text("q", Some(" 河长制 ")).unwrap(), "河长制");
    }

    #[test]
    fn groups() {
        assert!(group_by_district(Some("district")).unwrap());
        assert!(!group_by_district(None).unwrap());
        assert_eq!(
            group_by_district(Some("city")).unwrap_err().code,
            "invalid_group"
        );
    }
}
