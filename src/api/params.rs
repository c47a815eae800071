//! Request parameters as clients send them, and their checks against the
//! service limits. Everything here is pure so it is tested without a server.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorCode};
use crate::corpus::{check_meta_text, check_meta_year};
use crate::index::{Filter, YearRange};
use crate::search::MAX_QUERY_CHARS;

// The patterns below are what `/openapi.json` states about text values. They
// use only constructs on which ECMA 262 (JSON Schema) and Python (the fuzzer
// that checks the description) agree: explicit character classes, no `\s`
// or `\d`, whose meanings differ between the two and from Rust's `trim`.

/// One line of text: no control character (Unicode category Cc).
pub const LINE_PATTERN: &str = r"^[^\x00-\x1f\x7f-\x9f]*$";
/// One line holding at least one character Rust's `trim` keeps.
pub const QUERY_PATTERN: &str = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$";
/// Pasted passages may hold tabs and line breaks, no other control character,
/// and at least one character Rust's `trim` keeps.
pub const PASSAGE_PATTERN: &str = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$";
/// `year` as text: a year, a range `2022-2024` / `2022..2024` with either end
/// open, or nothing.
pub const YEAR_TEXT_PATTERN: &str = r"^((19[0-9]{2}|2[01][0-9]{2}|2200)|(19[0-9]{2}|2[01][0-9]{2}|2200)?(-|\.\.)(19[0-9]{2}|2[01][0-9]{2}|2200)?)?$";

/// One line of text: no control character, as [`LINE_PATTERN`] says.
pub fn check_line(field: &str, text: &str) -> Result<(), ApiError> {
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidText,
            format!(
                "`{field}` must not contain control characters (found U+{:04X})",
                c as u32
            ),
        ));
    }
    Ok(())
}

/// A pasted passage: tabs and line breaks allowed, no other control character.
pub fn check_passage_chars(field: &str, text: &str) -> Result<(), ApiError> {
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidText,
            format!(
                "`{field}` must not contain control characters other than tabs and line breaks (found U+{:04X})",
                c as u32
            ),
        ));
    }
    Ok(())
}

/// A metadata value, or a filter on one: the library's rules
/// ([`check_meta_text`]) as a 400 naming the field.
pub fn check_meta_value(field: &str, value: &str) -> Result<(), ApiError> {
    check_meta_text(field, value).map_err(|m| ApiError::bad_request(ErrorCode::InvalidMetadata, m))
}

/// A year a report or a filter names: the library's bounds as a 400.
pub fn check_year(field: &str, year: i32) -> Result<i32, ApiError> {
    check_meta_year(field, year).map_err(|m| ApiError::bad_request(ErrorCode::InvalidYear, m))
}

/// Integers as JSON Schema counts them: `17` and `17.0` alike. `strings`
/// also takes their text form, as a query string carries every value.
struct Int {
    strings: bool,
}

impl serde::de::Visitor<'_> for Int {
    type Value = Option<i64>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an integer")
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        i64::try_from(v)
            .map(Some)
            .map_err(|_| E::custom(format!("{v} is too large")))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        // Beyond 2^53 a float no longer stands for one integer.
        if v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 {
            Ok(Some(v as i64))
        } else {
            Err(E::custom(format!("{v} is not an integer")))
        }
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if !self.strings {
            return Err(E::invalid_type(serde::de::Unexpected::Str(v), &self));
        }
        if let Ok(i) = v.parse::<i64>() {
            return Ok(Some(i));
        }
        match v.parse::<f64>() {
            Ok(f) if f.is_finite() => self.visit_f64(f),
            _ => Err(E::custom(format!("{v:?} is not an integer"))),
        }
    }
}

fn int_in<'de, D, T>(d: D, strings: bool) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    match d.deserialize_any(Int { strings })? {
        None => Ok(None),
        Some(v) => T::try_from(v)
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("{v} is out of range"))),
    }
}

/// An optional count in a JSON body (`10` or `10.0`).
pub fn json_count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    int_in(d, false)
}

/// An optional year in a JSON body (`2024` or `2024.0`).
pub fn json_year<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    int_in(d, false)
}

/// An optional count in a query string (`10` or `10.0`).
pub fn query_count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    int_in(d, true)
}

/// An optional year in a query string or a flattened body.
pub fn any_year<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    int_in(d, true)
}

/// Bounds on what one request may ask for that the server sets. The bounds
/// on its parameters (hits, text length, negatives) are the search module's
/// ([`crate::search::MAX_K`], [`MAX_QUERY_CHARS`], …), the same for the CLI.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body (uploads included), in bytes.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 * 1024 * 1024,
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
    #[param(
        required = true,
        example = "哪些地区在推进农村户厕改造",
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub q: Option<String>,
    /// Hits wanted; with `group=district`, districts wanted.
    #[serde(default, deserialize_with = "query_count")]
    #[param(value_type = Option<i64>, example = 10, minimum = 1, maximum = 100, default = 10)]
    pub k: Option<usize>,
    /// `dense` | `lexical` (or `bm25`) | `hybrid`.
    #[param(
        example = "hybrid",
        pattern = "^(dense|lexical|bm25|hybrid)$",
        default = "hybrid"
    )]
    pub mode: Option<String>,
    /// `district` to group hits by district (`none` or empty: a flat list).
    #[param(example = "district", pattern = "^(district|none)?$")]
    pub group: Option<String>,
    /// Hits per district with `group=district`.
    #[serde(default, deserialize_with = "query_count")]
    #[param(value_type = Option<i64>, example = 3, minimum = 1, maximum = 20, default = 3)]
    pub per_group: Option<usize>,
    /// A place the question names (麒麟区, 麒麟區, "Qilin District") becomes a
    /// filter unless this is `false` (ignored when a district, city or
    /// province filter is given).
    #[param(example = true, default = true)]
    pub infer_places: Option<bool>,
}

/// Metadata filters shared by search, facets, targets, find-similar and
/// the document list. Text values match exactly; blank means any.
#[derive(Debug, Default, Clone, Serialize, Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
pub struct FilterParams {
    /// Exact district name.
    #[param(
        example = "南岸区",
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    #[schema(
        example = "南岸区",
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub district: Option<String>,
    #[param(
        example = "重庆市",
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    #[schema(
        example = "重庆市",
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub city: Option<String>,
    #[param(
        example = "贵州省",
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    #[schema(
        example = "贵州省",
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub province: Option<String>,
    /// `2024`, or a range `2022-2024` / `2022..2024` (either end may be open,
    /// the ends in either order); years 1900–2200.
    #[param(value_type = Option<YearParam>, example = "2023-2024")]
    #[schema(value_type = Option<YearParam>, example = "2023-2024")]
    pub year: Option<YearParam>,
    /// First year (overrides the start of `year`).
    #[serde(default, deserialize_with = "any_year")]
    #[param(value_type = Option<i64>, minimum = 1900, maximum = 2200)]
    #[schema(value_type = Option<i64>, minimum = 1900, maximum = 2200)]
    pub year_from: Option<i32>,
    /// Last year (overrides the end of `year`).
    #[serde(default, deserialize_with = "any_year")]
    #[param(value_type = Option<i64>, minimum = 1900, maximum = 2200)]
    #[schema(value_type = Option<i64>, minimum = 1900, maximum = 2200)]
    pub year_to: Option<i32>,
    #[param(
        example = "政府工作报告",
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    #[schema(
        example = "政府工作报告",
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub doc_type: Option<String>,
}

/// `year` as a JSON number or as text (always text in a query string).
#[derive(Debug, Clone)]
pub enum YearParam {
    Year(i64),
    Text(String),
}

impl utoipa::PartialSchema for YearParam {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1900))
                    .maximum(Some(2200)),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(YEAR_TEXT_PATTERN)),
            )
            .description(Some(
                "A year (1900–2200), or a range `2022-2024` / `2022..2024` with either end open",
            ))
            .into()
    }
}

impl ToSchema for YearParam {}

impl Serialize for YearParam {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            YearParam::Year(y) => s.serialize_i64(*y),
            YearParam::Text(t) => s.serialize_str(t),
        }
    }
}

impl<'de> Deserialize<'de> for YearParam {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = YearParam;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a year or a year range")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<YearParam, E> {
                Ok(YearParam::Year(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<YearParam, E> {
                Int { strings: false }
                    .visit_u64(v)
                    .map(|v| YearParam::Year(v.unwrap_or_default()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<YearParam, E> {
                Int { strings: false }
                    .visit_f64(v)
                    .map(|v| YearParam::Year(v.unwrap_or_default()))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<YearParam, E> {
                Ok(YearParam::Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl FilterParams {
    /// The library's filter ([`Filter::from_values`]); blank values mean
    /// "any". Text values follow the metadata rules (the same a stored value
    /// must meet).
    pub fn to_filter(&self) -> Result<Filter, ApiError> {
        let years = self.year_range()?;
        Ok(Filter::from_values(
            self.district.as_deref(),
            self.city.as_deref(),
            self.province.as_deref(),
            years,
            self.doc_type.as_deref(),
        )?)
    }

    /// The years asked for ([`YearRange::parse`] for text). A range given
    /// with its ends reversed means the years between them.
    pub fn year_range(&self) -> Result<YearRange, ApiError> {
        let mut range = match &self.year {
            None => YearRange::default(),
            Some(YearParam::Year(y)) => {
                let y = i32::try_from(*y)
                    .ok()
                    .and_then(|y| check_year("year", y).ok())
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            ErrorCode::InvalidYear,
                            format!("year must be from 1900 to 2200, not {y}"),
                        )
                    })?;
                YearRange {
                    from: Some(y),
                    to: Some(y),
                }
            }
            Some(YearParam::Text(t)) => YearRange::parse(t)?,
        };
        if let Some(y) = self.year_from {
            range.from = Some(check_year("year_from", y)?);
        }
        if let Some(y) = self.year_to {
            range.to = Some(check_year("year_to", y)?);
        }
        Ok(range.ordered())
    }
}

impl Limits {
    /// A non-empty query within the length limit.
    pub fn check_text<'a>(&self, field: &str, text: Option<&'a str>) -> Result<&'a str, ApiError> {
        if let Some(t) = text {
            check_line(field, t)?;
        }
        let text = text.map(str::trim).unwrap_or("");
        if text.is_empty() {
            return Err(ApiError::bad_request(
                ErrorCode::MissingQuery,
                format!("`{field}` is required and must not be empty"),
            ));
        }
        self.check_len(field, text)?;
        Ok(text)
    }

    pub fn check_len(&self, field: &str, text: &str) -> Result<(), ApiError> {
        let n = text.chars().count();
        if n > MAX_QUERY_CHARS {
            return Err(ApiError::bad_request(
                ErrorCode::QueryTooLong,
                format!("`{field}` has {n} characters; the limit is {MAX_QUERY_CHARS}"),
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
                ErrorCode::InvalidK,
                format!("`{field}` must be between 1 and {max}, not {v}"),
            ));
        }
        Ok(v)
    }
}

/// Whether `group` asks for grouping by district ([`crate::search::group_by_district`]).
pub fn group_by_district(group: Option<&str>) -> Result<bool, ApiError> {
    crate::search::group_by_district(group)
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidGroup, e.to_string()))
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
        assert_eq!(years("-").unwrap(), r(None, None));
        // Ends in either order: the years between them.
        assert_eq!(years("2024-2022").unwrap(), r(Some(2022), Some(2024)));
        for bad in [
            "twenty",
            "99999",
            "2024-x",
            " 2024",
            "02024",
            "+2024",
            "1899",
            "2201",
            "2024-2025-",
        ] {
            let e = years(bad).unwrap_err();
            assert_eq!(e.status, 400, "{bad}");
            assert_eq!(e.code, ErrorCode::InvalidYear, "{bad}");
        }
    }

    #[test]
    fn limits() {
        let l = Limits::default();
        assert_eq!(
            l.check_count("k", None, 10, crate::search::MAX_K).unwrap(),
            10
        );
        assert_eq!(
            l.check_count("k", Some(100), 10, crate::search::MAX_K)
                .unwrap(),
            100
        );
        assert_eq!(
            l.check_count("k", Some(0), 10, crate::search::MAX_K)
                .unwrap_err()
                .code,
            ErrorCode::InvalidK
        );
        assert_eq!(
            l.check_count("k", Some(101), 10, crate::search::MAX_K)
                .unwrap_err()
                .code,
            ErrorCode::InvalidK
        );
        assert_eq!(
            l.check_text("q", Some("  ")).unwrap_err().code,
            ErrorCode::MissingQuery
        );
        assert_eq!(
            l.check_text("q", None).unwrap_err().code,
            ErrorCode::MissingQuery
        );
        let long = "政".repeat(MAX_QUERY_CHARS + 1);
        assert_eq!(
            l.check_text("q", Some(&long)).unwrap_err().code,
            ErrorCode::QueryTooLong
        );
        assert_eq!(l.check_text("q", Some(" 河长制 ")).unwrap(), "河长制");
    }

    #[test]
    fn groups() {
        assert!(group_by_district(Some("district")).unwrap());
        assert!(!group_by_district(None).unwrap());
        assert_eq!(
            group_by_district(Some("city")).unwrap_err().code,
            ErrorCode::InvalidGroup
        );
    }
}

#[cfg(test)]
mod contract_tests {
    use super::*;

    /// The patterns the description states, read by the rules the server
    /// applies: each sample is accepted by both or rejected by both.
    #[test]
    fn year_text_pattern_and_parser_agree() {
        let re = |p: &str| regex::Regex::new(p).unwrap();
        let pattern = re(YEAR_TEXT_PATTERN);
        for t in [
            "",
            "-",
            "..",
            "2024",
            "1900",
            "2200",
            "1899",
            "2201",
            "2022-2024",
            "2024..",
            "..2023",
            "2024-",
            " 2024",
            "02024",
            "2024-2025-",
            "20242025",
            "2024--2025",
        ] {
            assert_eq!(pattern.is_match(t), YearRange::parse(t).is_ok(), "{t:?}");
        }
    }

    #[test]
    fn line_and_query_patterns_follow_the_checks() {
        let line = regex::Regex::new(LINE_PATTERN).unwrap();
        let query = regex::Regex::new(QUERY_PATTERN).unwrap();
        let passage = regex::Regex::new(PASSAGE_PATTERN).unwrap();
        let l = Limits::default();
        for t in [
            "河长制",
            " 河长制 ",
            "",
            " ",
            "\u{3000}",
            "a\nb",
            "a\tb",
            "\u{0}",
            "\u{85}",
            "\u{a0}x",
            "\u{feff}",
        ] {
            assert_eq!(line.is_match(t), check_line("q", t).is_ok(), "{t:?}");
            assert_eq!(
                query.is_match(t),
                l.check_text("q", Some(t)).is_ok(),
                "{t:?}"
            );
            let passage_ok = check_passage_chars("text", t).is_ok() && !t.trim().is_empty();
            assert_eq!(passage.is_match(t), passage_ok, "{t:?}");
        }
    }

    #[test]
    fn integers_as_json_schema_counts_them() {
        #[derive(Deserialize)]
        struct B {
            #[serde(default, deserialize_with = "json_count")]
            k: Option<usize>,
        }
        let k = |j: &str| serde_json::from_str::<B>(j).map(|b| b.k);
        assert_eq!(k(r#"{"k": 17}"#).unwrap(), Some(17));
        assert_eq!(k(r#"{"k": 17.0}"#).unwrap(), Some(17));
        assert_eq!(k(r#"{"k": null}"#).unwrap(), None);
        assert_eq!(k("{}").unwrap(), None);
        assert!(k(r#"{"k": 17.5}"#).is_err());
        assert!(k(r#"{"k": "17"}"#).is_err());
        assert!(k(r#"{"k": -1}"#).is_err());
    }

    #[test]
    fn filters_follow_the_metadata_rules() {
        let f = FilterParams {
            district: Some("南岸区\u{0}".into()),
            ..Default::default()
        };
        let e = f.to_filter().unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("district"), "{}", e.message);
        let f = FilterParams {
            year_from: Some(28),
            ..Default::default()
        };
        assert_eq!(f.to_filter().unwrap_err().code, ErrorCode::InvalidYear);
        let f = FilterParams {
            city: Some("市".repeat(crate::corpus::MAX_META_CHARS + 1)),
            ..Default::default()
        };
        assert!(f.to_filter().is_err());
    }
}
