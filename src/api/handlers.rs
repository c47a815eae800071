//! Route handlers: check the request against the limits, run the library
//! call on the blocking pool, return its result as JSON.

use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::dto::{
    Deleted, DocumentList, DocumentWithPassages, FacetCounts, IngestedDocument, LibraryStats,
    MetaOverride, MetaPatch, MetaPatched, SearchResults, SimilarResults, SummarizeBody, Summary,
    TargetsTable,
};
use super::error::{ApiError, ErrorBody, ErrorCode};
use super::extract::{ApiJson, ApiQuery};
use super::params::{
    check_line, check_passage_chars, group_by_district, json_count, FilterParams, SearchParams,
};
use super::AppState;
use crate::search::{Mode, SearchRequest, SimilarRequest, MAX_K, MAX_NEGATIVES, MAX_PER_GROUP};
use crate::service::Service;
use crate::summarize::{self, SummarizeRequest};

/// Runs a library call on the blocking pool: embedding and SQLite work must
/// not stall the async workers that accept and answer other requests.
pub(super) async fn blocking<T, E>(
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

pub async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; see GET /openapi.json for the endpoints")
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        "this endpoint does not take that method",
    )
}

/// Search passages in any script or English: dense, lexical or hybrid, flat
/// or grouped by district.
#[utoipa::path(
    get,
    path = "/api/search",
    tag = "search",
    params(SearchParams, FilterParams),
    responses(
        (status = 200, description = "Hits best first (and groups with `group=district`)", body = SearchResults),
        (status = 400, description = "Missing or too long `q`, bad `k`, `mode`, `group` or `year`", body = ErrorBody),
    )
)]
pub async fn search(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<SearchParams>,
    ApiQuery(f): ApiQuery<FilterParams>,
) -> Result<Json<SearchResults>, ApiError> {
    let limits = &state.config.limits;
    let query = limits.check_text("q", p.q.as_deref())?.to_string();
    let k = limits.check_count("k", p.k, 10, MAX_K)?;
    let group = group_by_district(p.group.as_deref())?;
    let per_group = limits.check_count("per_group", p.per_group, 3, MAX_PER_GROUP)?;
    // Exactly the names the description lists, no case folding or trimming.
    let mode = match p.mode.as_deref() {
        None | Some("hybrid") => Mode::Hybrid,
        Some("dense") => Mode::Dense,
        Some("lexical") | Some("bm25") => Mode::Lexical,
        Some(other) => {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidMode,
                format!("mode must be dense, lexical, bm25 or hybrid, not {other:?}"),
            ))
        }
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
    let resp = blocking(&state, move |s| s.search(&req)).await?;
    Ok(Json(resp.into()))
}

/// `POST /api/similar` body: a stored passage (`passage_id`) or pasted
/// `text`, exactly one of them, plus the same metadata filters as search.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"text": "推进农村户厕改造,提升农村卫生厕所普及率", "k": 5, "per_district": 1}))]
pub struct SimilarBody {
    /// A passage id from a hit: find the same policy in other districts.
    #[schema(pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub passage_id: Option<String>,
    /// Or pasted text (tabs and line breaks allowed).
    #[schema(
        example = "推进农村户厕改造",
        max_length = 2000,
        pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
    )]
    pub text: Option<String>,
    /// Hits wanted.
    #[serde(default, deserialize_with = "json_count")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 100, default = 10)]
    pub k: Option<usize>,
    /// Best passages kept per district.
    #[serde(default, deserialize_with = "json_count")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 20, default = 1)]
    pub per_district: Option<usize>,
    /// Passage ids or texts to steer away from.
    #[serde(default)]
    #[schema(example = json!(["旅游"]), max_items = 10)]
    pub negative: Vec<String>,
    /// Keep hits from the source passage's district (left out by default).
    #[serde(default)]
    pub include_same_district: bool,
    #[serde(flatten)]
    pub filter: FilterParams,
}

/// Passages like a stored one or like pasted text, from other districts.
#[utoipa::path(
    post,
    path = "/api/similar",
    tag = "search",
    request_body = SimilarBody,
    responses(
        (status = 200, description = "Similar passages, best first", body = SimilarResults),
        (status = 400, description = "Neither or both of `passage_id` and `text`, bad `k`, too many negatives", body = ErrorBody),
        (status = 404, description = "No passage with that id", body = ErrorBody),
        (status = 415, description = "Not `application/json`", body = ErrorBody),
        (status = 422, description = "Malformed JSON body", body = ErrorBody),
    )
)]
pub async fn similar(
    State(state): State<AppState>,
    ApiJson(b): ApiJson<SimilarBody>,
) -> Result<Json<SimilarResults>, ApiError> {
    let limits = &state.config.limits;
    if let Some(t) = &b.text {
        check_passage_chars("text", t)?;
        limits.check_len("text", t)?;
    }
    if let Some(id) = &b.passage_id {
        check_line("passage_id", id)?;
    }
    if b.negative.len() > MAX_NEGATIVES {
        return Err(ApiError::bad_request(
            ErrorCode::TooManyNegatives,
            format!(
                "at most {MAX_NEGATIVES} negative examples, not {}",
                b.negative.len()
            ),
        ));
    }
    for n in &b.negative {
        check_passage_chars("negative", n)?;
        limits.check_len("negative", n)?;
    }
    let req = SimilarRequest {
        passage_id: b.passage_id,
        text: b.text,
        k: limits.check_count("k", b.k, 10, MAX_K)?,
        per_district: limits.check_count("per_district", b.per_district, 1, MAX_PER_GROUP)?,
        negative: b.negative,
        include_same_district: b.include_same_district,
        filter: b.filter.to_filter()?,
    };
    let resp = blocking(&state, move |s| s.similar(&req)).await?;
    Ok(Json(resp.into()))
}

/// The stored documents with metadata and cleaning report, optionally filtered.
#[utoipa::path(
    get,
    path = "/api/documents",
    tag = "documents",
    params(FilterParams),
    responses(
        (status = 200, description = "Documents matching the filter", body = DocumentList),
        (status = 400, description = "Bad `year`", body = ErrorBody),
    )
)]
pub async fn list_documents(
    State(state): State<AppState>,
    ApiQuery(f): ApiQuery<FilterParams>,
) -> Result<Json<DocumentList>, ApiError> {
    let filter = f.to_filter()?;
    let documents = blocking(&state, move |s| s.library().documents_matching(&filter)).await?;
    Ok(Json(DocumentList {
        documents: documents.into_iter().map(Into::into).collect(),
    }))
}

/// One document: metadata and all its passages in order.
#[utoipa::path(
    get,
    path = "/api/documents/{id}",
    tag = "documents",
    params(("id" = String, Path, description = "Document id (`doc_id` of a hit or listing)")),
    responses(
        (status = 200, description = "The document and its passages", body = DocumentWithPassages),
        (status = 404, description = "No such document", body = ErrorBody),
    )
)]
pub async fn get_document(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<DocumentWithPassages>, ApiError> {
    let doc = blocking(&state, move |s| s.library().document(&id)).await?;
    Ok(Json(doc.into()))
}

/// Passage counts per district, city, province, year and document type under a filter.
#[utoipa::path(
    get,
    path = "/api/facets",
    tag = "search",
    params(FilterParams),
    responses(
        (status = 200, description = "Facet counts", body = FacetCounts),
        (status = 400, description = "Bad `year`", body = ErrorBody),
    )
)]
pub async fn facets(
    State(state): State<AppState>,
    ApiQuery(f): ApiQuery<FilterParams>,
) -> Result<Json<FacetCounts>, ApiError> {
    let filter = f.to_filter()?;
    Ok(Json(
        blocking(&state, move |s| s.library().facets(&filter))
            .await?
            .into(),
    ))
}

/// Library-wide figures: documents, passages, districts, index sizes.
#[utoipa::path(
    get,
    path = "/api/stats",
    tag = "documents",
    responses((status = 200, description = "Library figures", body = LibraryStats))
)]
pub async fn stats(State(state): State<AppState>) -> Result<Json<LibraryStats>, ApiError> {
    Ok(Json(blocking(&state, |s| s.stats()).await?.into()))
}

/// `POST /api/documents` JSON body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "text": "政府工作报告\n——2024年1月10日在重庆市南岸区第十九届人民代表大会第四次会议上\n一、2023年工作回顾\n……",
    "file": "南岸区2024年政府工作报告.txt",
    "meta": {"district": "南岸区", "city": "重庆市", "year": 2024}
}))]
pub struct UploadBody {
    /// The report's text.
    #[schema(min_length = 1)]
    pub text: String,
    /// File name to record (default `upload.txt`); directories are dropped.
    #[schema(max_length = 255, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub file: Option<String>,
    pub meta: Option<MetaOverride>,
}

/// `POST /api/documents` as `multipart/form-data`: what [`read_multipart`] reads.
#[derive(Debug, ToSchema)]
pub struct UploadForm {
    /// The report file: plain text in any supported encoding, HTML or Markdown.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
    /// The file part's own name, recorded as the document's file.
    #[schema(ignore)]
    pub file_name: String,
    /// Metadata overrides, as a JSON text part.
    pub meta: Option<MetaOverride>,
}

/// A name safe to record: the last path component, bounded.
fn clean_file_name(name: Option<&str>) -> Result<String, ApiError> {
    let name = name.unwrap_or("");
    // The name as given is what the description bounds, not what is kept.
    if name.chars().count() > 255 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidFileName,
            "the file name is too long or has control characters",
        ));
    }
    // The name kept is a part of the name checked, so it passes too.
    let base = name.trim().rsplit(['/', '\\']).next().unwrap_or("").trim();
    if base.is_empty() {
        return Ok("upload.txt".into());
    }
    Ok(base.to_string())
}

/// `POST /api/documents`: a report as JSON `{"text", "file"?, "meta"?}` or
/// as a multipart upload (field `file`, optional field `meta` holding JSON).
/// Answers 201 with the stored document, 200 when the same content was
/// already stored (replaced), 4xx naming the problem otherwise.
#[utoipa::path(
    post,
    path = "/api/documents",
    tag = "documents",
    request_body(
        description = "The report as JSON, or as a multipart upload",
        content(
            (UploadBody = "application/json"),
            (UploadForm = "multipart/form-data"),
        ),
    ),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Stored as a new document", body = IngestedDocument),
        (status = 200, description = "The same content was already stored and has been replaced", body = IngestedDocument),
        (status = 400, description = "Empty JSON text, bad file name or metadata, unknown multipart field", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token (when one is configured)", body = ErrorBody),
        (status = 413, description = "Body over the size limit", body = ErrorBody),
        (status = 415, description = "Neither JSON nor multipart", body = ErrorBody),
        (status = 422, description = "Unreadable document (an empty or binary file) or malformed JSON", body = ErrorBody),
    )
)]
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
        let form = read_multipart(Multipart::from_request(req, &state).await?).await?;
        (form.file_name, form.file, form.meta)
    } else if content_type.starts_with("application/json") {
        let ApiJson(b) = ApiJson::<UploadBody>::from_request(req, &state).await?;
        if b.text.trim().is_empty() {
            return Err(ApiError::bad_request(
                ErrorCode::MissingText,
                "`text` is empty",
            ));
        }
        (
            clean_file_name(b.file.as_deref())?,
            b.text.into_bytes(),
            b.meta,
        )
    } else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
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
    if let Some(m) = &meta {
        m.check()?;
    }
    let meta: crate::corpus::MetaOverrides = meta.map(Into::into).unwrap_or_default();
    let stored = blocking(&state, move |s| s.ingest_bytes(&file, &bytes, &meta)).await?;
    let status = match stored.outcome {
        crate::index::AddOutcome::Added => StatusCode::CREATED,
        crate::index::AddOutcome::Replaced => StatusCode::OK,
    };
    Ok((status, Json(IngestedDocument::from(stored))))
}

async fn read_multipart(mut mp: Multipart) -> Result<UploadForm, ApiError> {
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
                // `null` is no overrides, as the description's nullable `meta` says.
                meta = serde_json::from_str::<Option<MetaOverride>>(&text).map_err(|e| {
                    ApiError::bad_request(ErrorCode::InvalidMeta, format!("field `meta`: {e}"))
                })?;
            }
            other => {
                return Err(ApiError::bad_request(
                    ErrorCode::UnknownField,
                    format!(
                        "unexpected multipart field `{other}`; send `file` and optionally `meta`"
                    ),
                ))
            }
        }
    }
    let (name, bytes) = file.ok_or_else(|| {
        ApiError::bad_request(ErrorCode::MissingFile, "no `file` field in the upload")
    })?;
    // Unreadable as a report, like any other file with no text in it (the
    // description allows any bytes, an empty file included).
    if bytes.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::MissingText,
            format!("{name} is empty"),
        ));
    }
    Ok(UploadForm {
        file: bytes,
        file_name: name,
        meta,
    })
}

/// Deletes a document from the store and from every retriever.
#[utoipa::path(
    delete,
    path = "/api/documents/{id}",
    tag = "documents",
    params(("id" = String, Path, description = "Document id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Deleted", body = Deleted),
        (status = 401, description = "Missing or wrong bearer token (when one is configured)", body = ErrorBody),
        (status = 404, description = "No such document", body = ErrorBody),
    )
)]
pub async fn delete_document(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Deleted>, ApiError> {
    let doc_id = id.clone();
    blocking(&state, move |s| s.delete_document(&id)).await?;
    Ok(Json(Deleted {
        doc_id,
        deleted: true,
    }))
}

/// Corrects a document's metadata without re-embedding it: filters, facets,
/// groups, targets and exports see the new values at once.
#[utoipa::path(
    patch,
    path = "/api/documents/{id}",
    tag = "documents",
    params(("id" = String, Path, description = "Document id")),
    request_body(content = MetaPatch, content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Corrected; what changed and the document now", body = MetaPatched),
        (status = 400, description = "No field given, a year outside 1900–2200, an unknown level", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token (when one is configured)", body = ErrorBody),
        (status = 404, description = "No such document", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Malformed JSON, an unknown field or a value of the wrong type", body = ErrorBody),
    )
)]
pub async fn patch_document(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<MetaPatch>,
) -> Result<Json<MetaPatched>, ApiError> {
    let fields = patch.fields();
    if fields.is_empty() {
        return Err(ApiError::bad_request(
            ErrorCode::NoFields,
            "give at least one metadata field to correct",
        ));
    }
    crate::service::corrections::overrides_of(fields.iter().map(|(f, v)| (f.as_str(), v.as_str())))
        .map_err(|e| ApiError::bad_request(ErrorCode::InvalidMetadata, e.to_string()))?;
    let (changes, record) = blocking(&state, move |s| {
        let changes = s.patch_document(&id, fields)?;
        let record = s.library().document(&id)?;
        Ok::<_, crate::service::ServiceError>((changes, record))
    })
    .await?;
    Ok(Json(MetaPatched {
        doc_id: record.summary.doc_id.clone(),
        changes: changes.into_iter().map(Into::into).collect(),
        document: record.summary.into(),
    }))
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

/// An extractive summary whose every sentence cites its passage: a topic
/// across districts (`query`) or one report (`doc_id`).
#[utoipa::path(
    post,
    path = "/api/summarize",
    tag = "summaries",
    request_body = SummarizeBody,
    responses(
        (status = 200, description = "`kind: topic` (districts, in_common) or `kind: document` (sections)", body = Summary),
        (status = 400, description = "Neither or both of `query` and `doc_id`, bad `max_sentences`", body = ErrorBody),
        (status = 404, description = "No such document", body = ErrorBody),
        (status = 415, description = "Not `application/json`", body = ErrorBody),
        (status = 422, description = "Malformed JSON body", body = ErrorBody),
    )
)]
pub async fn summarize(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SummarizeBody>,
) -> Result<Json<Summary>, ApiError> {
    let req: SummarizeRequest = body.into_request(&state.config.limits)?;
    let resp = blocking(&state, move |s| s.summarize(&req)).await?;
    Ok(Json(resp.into()))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TargetsParams {
    /// One indicator, any spelling or script (地区生产总值, 地區生產總值, GDP…).
    #[param(example = "地区生产总值", pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub indicator: Option<String>,
}

/// The district × indicator table of stated targets and results.
#[utoipa::path(
    get,
    path = "/api/targets",
    tag = "summaries",
    params(TargetsParams, FilterParams),
    responses(
        (status = 200, description = "Indicators, districts and every extracted statement", body = TargetsTable),
        (status = 400, description = "Bad `year`, a filter or indicator with control characters", body = ErrorBody),
        (status = 404, description = "No indicator by that name", body = ErrorBody),
    )
)]
pub async fn targets(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<TargetsParams>,
    ApiQuery(f): ApiQuery<FilterParams>,
) -> Result<Json<TargetsTable>, ApiError> {
    let filter = f.to_filter()?;
    if let Some(name) = p.indicator.as_deref() {
        check_indicator(name)?;
    }
    let resp = blocking(&state, move |s| s.targets(p.indicator.as_deref(), &filter)).await?;
    Ok(Json(resp.into()))
}

/// An indicator asked for by name: one line (400), and one the lexicon knows,
/// since a name it does not know is a table that does not exist (404).
pub(super) fn check_indicator(name: &str) -> Result<(), ApiError> {
    check_line("indicator", name)?;
    if !name.trim().is_empty() && summarize::targets::normalize_indicator(name.trim()).is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::UnknownIndicator,
            format!(
                "no indicator called {name:?}; known: {}",
                summarize::targets::known_indicators()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(())
}

/// The researchers' page, built into the binary (no network needed).
#[utoipa::path(
    get,
    path = "/",
    tag = "page",
    responses((status = 200, description = "The search page", content_type = "text/html; charset=utf-8", body = String))
)]
pub async fn page() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        include_str!("../../web/index.html"),
    )
}
