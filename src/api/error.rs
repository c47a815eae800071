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

/// Declares [`ErrorCode`] with each variant's wire name beside it. serde and
/// the OpenAPI `enum` spell the variants in snake case (utoipa does not read
/// a `rename` a macro passes in); a test holds them to [`ErrorCode::as_str`].
macro_rules! error_codes {
    ($($variant:ident = $name:literal,)+) => {
        /// The kind of error, for a program: one of a closed set, listed in
        /// `/openapi.json`, so a client can match on every value.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $($variant,)+
        }

        impl ErrorCode {
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant,)+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)+
                }
            }
        }
    };
}

error_codes! {
    BadDocument = "bad_document",
    BadRequest = "bad_request",
    BodyTooLarge = "body_too_large",
    ClientError = "client_error",
    CrossSite = "cross_site",
    Forbidden = "forbidden",
    HeadersTooLarge = "headers_too_large",
    Internal = "internal",
    Invalid = "invalid",
    InvalidBody = "invalid_body",
    InvalidEncoding = "invalid_encoding",
    InvalidFileName = "invalid_file_name",
    InvalidFormat = "invalid_format",
    InvalidGroup = "invalid_group",
    InvalidK = "invalid_k",
    InvalidMeasure = "invalid_measure",
    InvalidMeta = "invalid_meta",
    InvalidMetadata = "invalid_metadata",
    InvalidMode = "invalid_mode",
    InvalidQuery = "invalid_query",
    InvalidTerms = "invalid_terms",
    InvalidText = "invalid_text",
    InvalidYear = "invalid_year",
    MalformedRequest = "malformed_request",
    MethodNotAllowed = "method_not_allowed",
    MisdirectedRequest = "misdirected_request",
    MissingFile = "missing_file",
    MissingQuery = "missing_query",
    MissingText = "missing_text",
    NoFields = "no_fields",
    NotFound = "not_found",
    Overloaded = "overloaded",
    QueryTooLong = "query_too_long",
    RequestTimeout = "request_timeout",
    TooManyNegatives = "too_many_negatives",
    TooManyRequests = "too_many_requests",
    TooMuchText = "too_much_text",
    Unauthorized = "unauthorized",
    Unavailable = "unavailable",
    UnknownField = "unknown_field",
    UnknownHost = "unknown_host",
    UnknownIndicator = "unknown_indicator",
    UnsupportedMediaType = "unsupported_media_type",
    UriTooLong = "uri_too_long",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error as the client sees it.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
}

/// What every 4xx/5xx answer carries.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    /// What went wrong, for a person.
    #[schema(example = "`q` is required and must not be empty")]
    pub error: &'a str,
    pub code: ErrorCode,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
    }

    /// The JSON error for a bare status, when whatever refused the request
    /// (hyper, a layer) said nothing more than the status.
    pub fn for_status(status: StatusCode) -> Self {
        let code = match status.as_u16() {
            400 => ErrorCode::BadRequest,
            401 => ErrorCode::Unauthorized,
            403 => ErrorCode::Forbidden,
            404 => ErrorCode::NotFound,
            405 => ErrorCode::MethodNotAllowed,
            408 => ErrorCode::RequestTimeout,
            413 => ErrorCode::BodyTooLarge,
            414 => ErrorCode::UriTooLong,
            415 => ErrorCode::UnsupportedMediaType,
            421 => ErrorCode::MisdirectedRequest,
            422 => ErrorCode::InvalidBody,
            429 => ErrorCode::TooManyRequests,
            431 => ErrorCode::HeadersTooLarge,
            503 => ErrorCode::Unavailable,
            s if s >= 500 => ErrorCode::Internal,
            _ => ErrorCode::ClientError,
        };
        let reason = status.canonical_reason().unwrap_or("error");
        Self::new(status, code, format!("{} {reason}", status.as_u16()))
    }

    /// A failure on our side: the details go to the log, not to the client.
    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        tracing::error!("{context}: {err}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
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
        StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::BodyTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
        StatusCode::UNPROCESSABLE_ENTITY => ErrorCode::InvalidBody,
        s if s.is_server_error() => return ApiError::internal("reading the request", message),
        _ => ErrorCode::BadRequest,
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
        ApiError::bad_request(ErrorCode::InvalidQuery, r.body_text())
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
            ErrorCode::BadDocument,
            e.to_string(),
        )
    }
}

impl From<EmbedError> for ApiError {
    fn from(e: EmbedError) -> Self {
        match e {
            EmbedError::TooMuchText(m) => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::TooMuchText, m)
            }
            e @ EmbedError::Overloaded(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Overloaded,
                e.to_string(),
            ),
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
            IndexError::Invalid(m) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::Invalid, m)
            }
            e => ApiError::internal("the index", e),
        }
    }
}

impl From<FilterError> for ApiError {
    fn from(e: FilterError) -> Self {
        match e {
            FilterError::Text(m) => ApiError::bad_request(ErrorCode::InvalidMetadata, m),
            FilterError::Year(m) => ApiError::bad_request(ErrorCode::InvalidYear, m),
        }
    }
}

impl From<SearchError> for ApiError {
    fn from(e: SearchError) -> Self {
        match e {
            SearchError::BadRequest(m) => ApiError::bad_request(ErrorCode::BadRequest, m),
            SearchError::NotFound { .. } => ApiError::not_found(e.to_string()),
            SearchError::Index(e) => e.into(),
            SearchError::Embed(e) => e.into(),
        }
    }
}

impl From<SummarizeError> for ApiError {
    fn from(e: SummarizeError) -> Self {
        match e {
            SummarizeError::BadRequest(m) => ApiError::bad_request(ErrorCode::BadRequest, m),
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
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::BadDocument, m)
            }
            e @ ServiceError::Io { .. } => ApiError::internal("file access", e),
        }
    }
}
