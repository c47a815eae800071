//! The one place where every module's error becomes an HTTP answer:
//! `{"error": "<what went wrong>", "code": "<machine-readable kind>"}`.

use axum::extract::multipart::MultipartError;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::corpus::CorpusError;
use crate::embed::EmbedError;
use crate::index::{FilterError, IndexError};
use crate::search::SearchError;
use crate::service::ServiceError;
use crate::summarize::SummarizeError;

/// An error as the client sees it.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

/// What every 4xx/5xx answer carries.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    /// What went wrong, for a person.
    #[schema(example = "`q` is required and must not be empty")]
    pub error: &'a str,
    /// The kind of error, for a program.
    #[schema(example = "missing_query")]
    pub code: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// The JSON error for a bare status, when whatever refused the request
    /// (hyper, a layer) said nothing more than the status.
    pub fn for_status(status: StatusCode) -> Self {
        let code = match status.as_u16() {
            400 => "bad_request",
            401 => "unauthorized",
            403 => "forbidden",
            404 => "not_found",
            405 => "method_not_allowed",
            408 => "request_timeout",
            413 => "body_too_large",
            414 => "uri_too_long",
            415 => "unsupported_media_type",
            421 => "misdirected_request",
            422 => "invalid_body",
            429 => "too_many_requests",
            431 => "headers_too_large",
            503 => "unavailable",
            s if s >= 500 => "internal",
            _ => "client_error",
        };
        let reason = status.canonical_reason().unwrap_or("error");
        Self::new(status, code, format!("{} {reason}", status.as_u16()))
    }

    /// A failure on our side: the details go to the log, not to the client.
    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        tracing::error!("{context}: {err}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("{context} failed; see the server log"),
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: &self.message,
            code: self.code,
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // Long model work finishes within seconds; sooner would only
            // be refused again.
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("2"),
            );
        }
        resp
    }
}

/// Maps a rejection's own status (400, 413, 415, 422…) onto our codes, so a
/// too-large body stays a 413 and a wrong content type a 415.
fn from_status(status: StatusCode, message: String) -> ApiError {
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
        s if s.is_server_error() => return ApiError::internal("reading the request", message),
        _ => "bad_request",
    };
    ApiError::new(status, code, message)
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        from_status(r.status(), r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request("invalid_query", r.body_text())
    }
}

impl From<MultipartRejection> for ApiError {
    fn from(r: MultipartRejection) -> Self {
        from_status(r.status(), r.body_text())
    }
}

impl From<MultipartError> for ApiError {
    fn from(r: MultipartError) -> Self {
        from_status(r.status(), r.body_text())
    }
}

impl From<CorpusError> for ApiError {
    /// A document that cannot be parsed is the client's problem (422), and the
    /// message names the file and what is wrong with it.
    fn from(e: CorpusError) -> Self {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_document",
            e.to_string(),
        )
    }
}

impl From<EmbedError> for ApiError {
    fn from(e: EmbedError) -> Self {
        match e {
            EmbedError::TooMuchText(m) => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_much_text", m)
            }
            e @ EmbedError::Overloaded(_) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", e.to_string())
            }
            e => ApiError::internal("embedding", e),
        }
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::internal("a background task", e)
    }
}

impl From<IndexError> for ApiError {
    fn from(e: IndexError) -> Self {
        match e {
            IndexError::NotFound { .. } => ApiError::not_found(e.to_string()),
            IndexError::Invalid(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m),
            e => ApiError::internal("the index", e),
        }
    }
}

impl From<FilterError> for ApiError {
    fn from(e: FilterError) -> Self {
        match e {
            FilterError::Text(m) => ApiError::bad_request("invalid_metadata", m),
            FilterError::Year(m) => ApiError::bad_request("invalid_year", m),
        }
    }
}

impl From<SearchError> for ApiError {
    fn from(e: SearchError) -> Self {
        match e {
            SearchError::BadRequest(m) => ApiError::bad_request("bad_request", m),
            SearchError::NotFound { .. } => ApiError::not_found(e.to_string()),
            SearchError::Index(e) => e.into(),
            SearchError::Embed(e) => e.into(),
        }
    }
}

impl From<SummarizeError> for ApiError {
    fn from(e: SummarizeError) -> Self {
        match e {
            SummarizeError::BadRequest(m) => ApiError::bad_request("bad_request", m),
            SummarizeError::Search(e) => e.into(),
            SummarizeError::Index(e) => e.into(),
            SummarizeError::Embed(e) => e.into(),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Corpus(e) => e.into(),
            ServiceError::Embed(e) => e.into(),
            ServiceError::Index(e) => e.into(),
            ServiceError::Search(e) => e.into(),
            ServiceError::Summarize(e) => e.into(),
            ServiceError::Invalid(m) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad_document", m)
            }
            e @ ServiceError::Io { .. } => ApiError::internal("file access", e),
        }
    }
}
