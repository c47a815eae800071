//! Route handlers: check the request against the limits, run the library
//! call on the blocking pool, return its result as JSON.

use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery};
use super::params::{group_by_district, FilterParams, SearchParams};
use super::AppState;
use crate::index::{DocumentRecord, DocumentSummary, Facets, Filter, Stats};
use crate::search::{self, Mode, SearchRequest, SearchResponse, SimilarRequest, SimilarResponse};
use crate::service::{IngestedDocument, MetaOverride, Service};
use crate::summarize::{self, SummarizeRequest, Summary, TargetsTable};

/// Runs a library call on the blocking pool: embedding and SQLite work must
/// not stall the async workers that accept and answer other requests.
async fn blocking<T, E>(
    state: &AppState,
    f: impl FnOnce(&Service) -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: Into<ApiError> + Send + 'static,
{
    let service = state.service.clone();
    tokio::task::spawn_blocking(move || f(&service))
        .await?
        .map_err(Into::into)
}

pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; see GET /api/search, POST /api/similar, /api/documents, /api/facets, /healthz")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}

/// `GET /api/search?q=…&k=…&mode=…&group=district&per_group=…&district=…&year=…`
pub async fn search(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<SearchParams>,
    ApiQuery(f): ApiQuery<FilterParams>,
) -> Result<Json<SearchResponse>, ApiError> {
    let limits = &state.config.limits;
    let query = limits.check_text("q", p.q.as_deref())?.to_string();
    let k = limits.check_count("k", p.k, 10, limits.max_k)?;
    let group = group_by_district(p.group.as_deref())?;
    let per_group = limits.check_count("per_group", p.per_group, 3, limits.max_per_group)?;
    let mode = match p.mode.as_deref() {
        None => Mode::Hybrid,
        Some(m) => m
            .parse::<Mode>()
            .map_err(|e| ApiError::bad_request("invalid_mode", e.to_string()))?,
    };
    let req = SearchRequest {
        query,
        k,
        mode,
        filter: f.to_filter()?,
        group_by_district: group,
        per_group,
        infer_places: p.infer_places.unwrap_or(true),
        ..SearchRequest::default()
    };
    let resp = blocking(&state, move |s| {
        search::search(s.library(), s.encoder(), &req)
    })
    .await?;
    Ok(Json(resp))
}

/// `POST /api/similar` body.
#[derive(Debug, Deserialize)]
pub struct SimilarBody {
    pub passage_id: Option<String>,
    pub text: Option<String>,
    pub k: Option<usize>,
    pub per_district: Option<usize>,
    #[serde(default)]
    pub negative: Vec<String>,
    #[serde(default)]
    pub include_same_district: bool,
    #[serde(flatten)]
    pub filter: FilterParams,
}

pub async fn similar(
    State(state): State<AppState>,
    ApiJson(b): ApiJson<SimilarBody>,
) -> Result<Json<SimilarResponse>, ApiError> {
    let limits = &state.config.limits;
    if let Some(t) = &b.text {
        limits.check_len("text", t)?;
    }
    if b.negative.len() > limits.max_negatives {
        return Err(ApiError::bad_request(
            "too_many_negatives",
            format!(
                "at most {} negative examples, not {}",
                limits.max_negatives,
                b.negative.len()
            ),
        ));
    }
    for n in &b.negative {
        limits.check_len("negative", n)?;
    }
    let req = SimilarRequest {
        passage_id: b.passage_id,
        text: b.text,
        k: limits.check_count("k", b.k, 10, limits.max_k)?,
        per_district: limits.check_count(
            "per_district",
            b.per_district,
            1,
            limits.max_per_group,
        )?,
        negative: b.negative,
        include_same_district: b.include_same_district,
        filter: b.filter.to_filter()?,
    };
    let resp = blocking(&state, move |s| {
        search::similar(s.library(), s.encoder(), &req)
    })
    .await?;
    Ok(Json(resp))
}

#[derive(Serialize)]
pub struct DocumentList {
    pub documents: Vec<DocumentSummary>,
}

fn summary_matches(d: &DocumentSummary, f: &Filter) -> bool {
    let eq = |want: &Option<String>, have: &Option<String>| {
        want.as_ref()
            .is_none_or(|w| have.as_deref().map(str::trim) == Some(w.as_str()))
    };
    eq(&f.district, &d.district)
        && eq(&f.city, &d.city)
        && eq(&f.province, &d.province)
        && eq(&f.doc_type, &d.doc_type)
        && f.year_from.is_none_or(|y| d.year.is_some_and(|dy| dy >= y))
        && f.year_to.is_none_or(|y| d.year.is_some_and(|dy| dy <= y))
}

/// `GET /api/documents?district=…&year=…`
pub async fn list_documents(
    State(state): State<AppState>,
    ApiQuery(f): ApiQuery<FilterParams>,
) -> Result<Json<DocumentList>, ApiError> {
    let filter = f.to_filter()?;
    let documents = blocking(&state, |s| s.library().documents()).await?;
    Ok(Json(DocumentList {
        documents: documents
            .into_iter()
            .filter(|d| summary_matches(d, &filter))
            .collect(),
    }))
}

/// `GET /api/documents/{id}`: metadata and passages.
pub async fn get_document(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DocumentRecord>, ApiError> {
    let doc = blocking(&state, move |s| s.library().document(&id)).await?;
    Ok(Json(doc))
}

/// `GET /api/facets?…filters`
pub async fn facets(
    State(state): State<AppState>,
    ApiQuery(f): ApiQuery<FilterParams>,
) -> Result<Json<Facets>, ApiError> {
    let filter = f.to_filter()?;
    Ok(Json(
        blocking(&state, move |s| s.library().facets(&filter)).await?,
    ))
}

pub async fn stats(State(state): State<AppState>) -> Result<Json<Stats>, ApiError> {
    Ok(Json(blocking(&state, |s| s.library().stats()).await?))
}

/// `POST /api/documents` JSON body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadBody {
    pub text: String,
    /// File name to record (default `upload.txt`).
    pub file: Option<String>,
    pub meta: Option<MetaOverride>,
}

/// A name safe to record: the last path component, bounded.
fn clean_file_name(name: Option<&str>) -> Result<String, ApiError> {
    let name = name.map(str::trim).unwrap_or("");
    let base = name.rsplit(['/', '\\']).next().unwrap_or("").trim();
    if base.is_empty() {
        return Ok("upload.txt".into());
    }
    if base.chars().count() > 255 || base.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_file_name",
            "the file name is too long or has control characters",
        ));
    }
    Ok(base.to_string())
}

/// `POST /api/documents`: a report as JSON `{"text", "file"?, "meta"?}` or
/// as a multipart upload (field `file`, optional field `meta` holding JSON).
/// Answers 201 with the stored document, 200 when the same content was
/// already stored (replaced), 4xx naming the problem otherwise.
pub async fn ingest_document(
    State(state): State<AppState>,
    req: Request,
) -> Result<impl IntoResponse, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let (file, bytes, meta) = if content_type.starts_with("multipart/form-data") {
        read_multipart(Multipart::from_request(req, &state).await?).await?
    } else if content_type.starts_with("application/json") {
        let ApiJson(b) = ApiJson::<UploadBody>::from_request(req, &state).await?;
        if b.text.trim().is_empty() {
            return Err(ApiError::bad_request("missing_text", "`text` is empty"));
        }
        (
            clean_file_name(b.file.as_deref())?,
            b.text.into_bytes(),
            b.meta,
        )
    } else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send application/json {\"text\": …} or a multipart/form-data upload with a `file` field",
        ));
    };
    // One ingestion at a time: embedding a report takes the CPU for a while,
    // and queued uploads should not starve searches.
    let _permit = state
        .ingest_gate
        .clone()
        .acquire_owned()
        .await
        .map_err(|e| ApiError::internal("the ingest queue", e))?;
    let stored: IngestedDocument = blocking(&state, move |s| {
        s.ingest_bytes(&file, &bytes, meta.as_ref())
    })
    .await?;
    let status = match stored.outcome {
        crate::index::AddOutcome::Added => StatusCode::CREATED,
        crate::index::AddOutcome::Replaced => StatusCode::OK,
    };
    Ok((status, Json(stored)))
}

async fn read_multipart(
    mut mp: Multipart,
) -> Result<(String, Vec<u8>, Option<MetaOverride>), ApiError> {
    let mut file: Option<(String, Vec<u8>)> = None;
    let mut meta: Option<MetaOverride> = None;
    while let Some(field) = mp.next_field().await? {
        match field.name().unwrap_or("") {
            "file" => {
                let name = clean_file_name(field.file_name())?;
                let bytes = field.bytes().await?;
                file = Some((name, bytes.to_vec()));
            }
            "meta" => {
                let text = field.text().await?;
                meta = Some(serde_json::from_str(&text).map_err(|e| {
                    ApiError::bad_request("invalid_meta", format!("field `meta`: {e}"))
                })?);
            }
            other => {
                return Err(ApiError::bad_request(
                    "unknown_field",
                    format!(
                        "unexpected multipart field `{other}`; send `file` and optionally `meta`"
                    ),
                ))
            }
        }
    }
    let (name, bytes) =
        file.ok_or_else(|| ApiError::bad_request("missing_file", "no `file` field in the upload"))?;
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "missing_text",
            format!("{name} is empty"),
        ));
    }
    Ok((name, bytes, meta))
}

/// `DELETE /api/documents/{id}`
pub async fn delete_document(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let doc_id = id.clone();
    blocking(&state, move |s| s.delete_document(&id)).await?;
    Ok(Json(
        serde_json::json!({ "doc_id": doc_id, "deleted": true }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_lose_their_directories() {
        assert_eq!(clean_file_name(Some("../../etc/passwd")).unwrap(), "passwd");
        assert_eq!(
            clean_file_name(Some("C:\\x\\报告.txt")).unwrap(),
            "报告.txt"
        );
        assert_eq!(clean_file_name(None).unwrap(), "upload.txt");
        assert_eq!(clean_file_name(Some("dir/")).unwrap(), "upload.txt");
        assert!(clean_file_name(Some("a\nb")).is_err());
    }
}

/// `POST /api/summarize` with `{query?, doc_id?, filters?, max_sentences?, max_districts?}`.
pub async fn summarize(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<SummarizeRequest>,
) -> Result<Json<Summary>, ApiError> {
    if let Some(q) = &req.query {
        state.config.limits.check_len("query", q)?;
    }
    let resp = blocking(&state, move |s| {
        summarize::summarize(s.library(), s.embedder(), &req)
    })
    .await?;
    Ok(Json(resp))
}

#[derive(Debug, Default, Deserialize)]
pub struct TargetsParams {
    /// One indicator, any spelling or script (地区生产总值, 地區生產總值, GDP…).
    pub indicator: Option<String>,
}

/// `GET /api/targets?indicator=…&district=…&year=…`: the district × indicator table.
pub async fn targets(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<TargetsParams>,
    ApiQuery(f): ApiQuery<FilterParams>,
) -> Result<Json<TargetsTable>, ApiError> {
    let filter = f.to_filter()?;
    let resp = blocking(&state, move |s| {
        summarize::targets_table(s.library(), p.indicator.as_deref(), &filter)
    })
    .await?;
    Ok(Json(resp))
}

/// `GET /`: the researchers' page, built into the binary (no network needed).
pub async fn page() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        include_str!("../../web/index.html"),
    )
}
