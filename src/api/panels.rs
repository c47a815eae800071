//! `GET /api/panel/targets` and `GET /api/panel/attention`: the research
//! panels of [`crate::summarize::panel`] as JSON, or as the CSV and XLSX
//! files `zhengce panel` writes (same columns, so a notebook can read either).

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::dto::{AttentionPanel, TargetPanel};
use super::error::{ApiError, ErrorBody, ErrorCode};
use super::extract::ApiQuery;
use super::handlers::blocking;
use super::params::{check_line, check_meta_value, FilterParams, YearParam};
use super::AppState;
use crate::service::export::{PanelFile, PanelTable};
use crate::summarize::{self, targets::Measure};

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Where and when a panel looks.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PanelScopeParams {
    /// A place (any level): its rows and those of the places within it.
    #[param(
        example = "深圳市",
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub place: Option<String>,
    /// `2024`, or a range `2020-2024` / `2020..2024` (either end may be open).
    #[param(value_type = Option<YearParam>, example = "2020-2024")]
    pub year: Option<YearParam>,
    /// First year (overrides the start of `year`).
    #[serde(default, deserialize_with = "super::params::any_year")]
    #[param(value_type = Option<i64>, minimum = 1900, maximum = 2200)]
    pub year_from: Option<i32>,
    /// Last year (overrides the end of `year`).
    #[serde(default, deserialize_with = "super::params::any_year")]
    #[param(value_type = Option<i64>, minimum = 1900, maximum = 2200)]
    pub year_to: Option<i32>,
    /// `json` (the default), `csv` (UTF-8, a header row) or `xlsx`.
    #[param(example = "csv", pattern = "^(json|csv|xlsx)?$")]
    pub format: Option<String>,
}

struct Scope {
    place: Option<String>,
    year_from: Option<i32>,
    year_to: Option<i32>,
    /// `None`: JSON.
    file: Option<PanelFile>,
}

impl PanelScopeParams {
    fn scope(self) -> Result<Scope, ApiError> {
        let file = match self.format.as_deref() {
            None | Some("") | Some("json") => None,
            Some(other) => Some(other.parse::<PanelFile>().map_err(|_| {
                ApiError::bad_request(
                    ErrorCode::InvalidFormat,
                    format!("format must be json, csv or xlsx, not {other:?}"),
                )
            })?),
        };
        if let Some(p) = self.place.as_deref() {
            check_meta_value("place", p)?;
        }
        let years = FilterParams {
            year: self.year,
            year_from: self.year_from,
            year_to: self.year_to,
            ..FilterParams::default()
        }
        .year_range()?;
        Ok(Scope {
            place: self
                .place
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty()),
            year_from: years.from,
            year_to: years.to,
            file,
        })
    }
}

/// The panel as the format asked: JSON through its DTO, or a file written by
/// the exporter the CLI uses.
fn respond<P: PanelTable, D: serde::Serialize + From<P>>(
    panel: P,
    file: Option<PanelFile>,
    name: &str,
) -> Result<Response, ApiError> {
    let Some(file) = file else {
        return Ok(Json(D::from(panel)).into_response());
    };
    let (content_type, ext) = match file {
        PanelFile::Csv => ("text/csv; charset=utf-8", "csv"),
        PanelFile::Xlsx => (XLSX, "xlsx"),
    };
    let mut bytes = Vec::new();
    panel.write(file, &mut bytes)?;
    let disposition = format!("attachment; filename=\"{name}.{ext}\"");
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition).expect("an ASCII file name"),
            ),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TargetPanelParams {
    /// One indicator, any spelling or script (default 地区生产总值).
    #[param(example = "地区生产总值", pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub indicator: Option<String>,
    /// `growth` (the default: rates, what targets are set in) or `level`.
    #[param(example = "growth", pattern = "^(growth|level)?$")]
    pub measure: Option<String>,
}

/// The target panel: per place and year the target set, the figure the next
/// report gives as achieved, met or missed, and the city's and province's
/// targets for the same year, each number with its sentence.
#[utoipa::path(
    get,
    path = "/api/panel/targets",
    tag = "panels",
    params(TargetPanelParams, PanelScopeParams),
    responses(
        (status = 200, description = "The panel as JSON, CSV or XLSX (`format`)", content(
            (TargetPanel = "application/json"),
            (String = "text/csv"),
            (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        )),
        (status = 400, description = "Bad `measure`, `format`, `year` or control characters", body = ErrorBody),
        (status = 404, description = "No indicator by that name", body = ErrorBody),
    )
)]
pub async fn targets(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<TargetPanelParams>,
    ApiQuery(scope): ApiQuery<PanelScopeParams>,
) -> Result<Response, ApiError> {
    let scope = scope.scope()?;
    let measure = match p.measure.as_deref() {
        None | Some("") | Some("growth") => Measure::Growth,
        Some("level") => Measure::Level,
        Some(other) => {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidMeasure,
                format!("measure must be growth or level, not {other:?}"),
            ))
        }
    };
    if let Some(name) = p.indicator.as_deref() {
        super::handlers::check_indicator(name)?;
    }
    let req = summarize::PanelRequest {
        indicator: p.indicator,
        place: scope.place,
        year_from: scope.year_from,
        year_to: scope.year_to,
        measure,
    };
    let file = scope.file;
    let panel = blocking(&state, move |s| s.target_panel(&req)).await?;
    respond::<_, TargetPanel>(panel, file, "panel-targets")
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AttentionPanelParams {
    /// The concept as a question, Chinese or English (数字经济, "digital economy").
    #[param(
        required = true,
        example = "数字经济",
        min_length = 1,
        max_length = 2000,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub concept: Option<String>,
    /// Terms to count, comma-separated (，、 also split); the concept itself
    /// when absent. A concept with no Chinese words counts no terms
    /// (`terms_per_10k` null) unless they are given.
    #[param(
        example = "数字经济,数字化,数据要素",
        max_length = 1000,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub terms: Option<String>,
}

/// The attention panel: per report, a term list's occurrences per 10,000
/// characters and the share of passages the relevance estimate finds
/// addressing the concept, with those passages' ids.
#[utoipa::path(
    get,
    path = "/api/panel/attention",
    tag = "panels",
    params(AttentionPanelParams, PanelScopeParams),
    responses(
        (status = 200, description = "The panel as JSON, CSV or XLSX (`format`)", content(
            (AttentionPanel = "application/json"),
            (String = "text/csv"),
            (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        )),
        (status = 400, description = "Missing or too long `concept` or `terms`, bad `format` or `year`", body = ErrorBody),
        (status = 503, description = "The model is busy past the deadline", body = ErrorBody),
    )
)]
pub async fn attention(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<AttentionPanelParams>,
    ApiQuery(scope): ApiQuery<PanelScopeParams>,
) -> Result<Response, ApiError> {
    let scope = scope.scope()?;
    let limits = &state.config.limits;
    let concept = limits
        .check_text("concept", p.concept.as_deref())?
        .to_string();
    let terms: Vec<String> = match p.terms.as_deref() {
        None => Vec::new(),
        Some(t) => {
            check_line("terms", t)?;
            if t.chars().count() > 1000 {
                return Err(ApiError::bad_request(
                    ErrorCode::InvalidTerms,
                    "terms must be at most 1000 characters",
                ));
            }
            t.split([',', '，', '、'])
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect()
        }
    };
    let req = summarize::AttentionRequest {
        concept,
        terms,
        place: scope.place,
        year_from: scope.year_from,
        year_to: scope.year_to,
    };
    let file = scope.file;
    let panel = blocking(&state, move |s| s.attention_panel(&req)).await?;
    respond::<_, AttentionPanel>(panel, file, "panel-attention")
}
