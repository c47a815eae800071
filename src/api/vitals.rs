//! The service's vital signs: `/healthz`, `/metrics` (Prometheus text), and
//! one structured log line per request carrying a request id.
//!
//! Request counts and latencies are labelled with the *matched route
//! template* (`/api/documents/{id}`, never the raw path) and the status
//! class, so the number of series stays bounded whatever clients send;
//! requests that match no route count under `route="unmatched"`.

use std::sync::OnceLock;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Response, StatusCode};
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::Json;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::Serialize;
use tracing::Span;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody, ErrorCode};
use super::AppState;

/// The header carrying the request id, accepted from clients and echoed back.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-given request id kept; longer or non-printable ones are
/// replaced by a generated id (they end up in every log line).
const MAX_REQUEST_ID: usize = 128;

/// Route label of requests that matched no route (404 fallback).
pub const UNMATCHED: &str = "unmatched";

pub const HTTP_REQUESTS: &str = "zhengce_http_requests_total";
pub const HTTP_DURATION: &str = "zhengce_http_request_duration_seconds";
/// Recorded by the embedder, once per forward pass of the model.
pub const EMBED_BATCH_SIZE: &str = "zhengce_embed_batch_size";
pub const EMBED_BATCH_TOKENS: &str = "zhengce_embed_batch_tokens";
pub const EMBED_BATCH_DURATION: &str = "zhengce_embed_batch_duration_seconds";

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
const TOKEN_BUCKETS: &[f64] = &[
    16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0, 16384.0,
];

/// The process's Prometheus recorder, installed as the global `metrics`
/// recorder on first use (so the embedder's and the middleware's figures land
/// in it). If another recorder was installed first (an embedding
/// application's), this one still renders the index figures but not the
/// request and embedding series, and a warning says so.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let buckets = |b: PrometheusBuilder, name: &str, v: &[f64]| {
            b.set_buckets_for_metric(Matcher::Full(name.to_string()), v)
                .expect("bucket lists are not empty")
        };
        let mut b = PrometheusBuilder::new();
        b = buckets(b, HTTP_DURATION, LATENCY_BUCKETS);
        b = buckets(b, EMBED_BATCH_DURATION, LATENCY_BUCKETS);
        b = buckets(b, EMBED_BATCH_SIZE, BATCH_BUCKETS);
        b = buckets(b, EMBED_BATCH_TOKENS, TOKEN_BUCKETS);
        let recorder = b.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!(
                "another metrics recorder is installed: /metrics will lack request and embedding figures"
            );
        }
        describe();
        handle
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by method, matched route and status class"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to answer an HTTP request, by method, matched route and status class"
    );
    describe_histogram!(
        EMBED_BATCH_SIZE,
        "Sequences (text windows) per forward pass of the embedding model"
    );
    describe_histogram!(
        EMBED_BATCH_TOKENS,
        "Tokens per forward pass of the embedding model"
    );
    describe_histogram!(
        EMBED_BATCH_DURATION,
        Unit::Seconds,
        "Time of one forward pass of the embedding model"
    );
    for (name, help) in INDEX_GAUGES {
        describe_gauge!(*name, *help);
    }
    describe_counter!(
        "zhengce_query_cache_hits_total",
        "Query vectors served from the memo"
    );
    describe_counter!(
        "zhengce_query_cache_misses_total",
        "Query vectors the model had to compute"
    );
    describe_counter!(
        "zhengce_query_passes_total",
        "Model passes run for queries and pasted texts (concurrent requests share one)"
    );
    describe_counter!(
        "zhengce_query_pass_texts_total",
        "Texts encoded by those passes"
    );
    describe_gauge!(
        "zhengce_encoder_waiting",
        "Texts waiting for the model, by lane (short questions, long pasted text)"
    );
    describe_gauge!(
        "zhengce_encoder_inflight_chars",
        "Characters of pasted text reserved by the requests being served"
    );
    describe_counter!(
        "zhengce_encoder_rejections_total",
        "Texts and requests refused with 503 because the model was saturated"
    );
    describe_counter!(
        "zhengce_encoder_deadline_expiries_total",
        "Texts refused with 503 because their request's deadline passed while waiting"
    );
}

const INDEX_GAUGES: &[(&str, &str)] = &[
    ("zhengce_index_documents", "Documents in the library"),
    ("zhengce_index_passages", "Passages in the store"),
    (
        "zhengce_index_vectors",
        "Live vectors in the dense (HNSW) index",
    ),
    (
        "zhengce_index_dense_tombstones",
        "Deleted passages still in the HNSW graph",
    ),
    ("zhengce_index_districts", "Distinct districts"),
    ("zhengce_index_store_bytes", "Size of the SQLite store"),
    ("zhengce_index_dense_bytes", "Size of the saved HNSW dump"),
    ("zhengce_index_generation", "Store generation"),
];

/// Counts and times every request under its route template and status class.
pub async fn record_request(req: Request, next: Next) -> Response<Body> {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| UNMATCHED.to_owned());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let resp = next.run(req).await;
    let status = status_class(resp.status());
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!(HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(HTTP_DURATION, &labels).record(started.elapsed().as_secs_f64());
    resp
}

fn status_class(s: StatusCode) -> String {
    format!("{}xx", s.as_u16() / 100)
}

/// Drops a client-given `x-request-id` that is too long or not printable
/// ASCII, so the request-id layer generates one instead.
pub async fn sanitize_request_id(mut req: Request, next: Next) -> Response<Body> {
    let ok = req.headers().get(&REQUEST_ID).is_none_or(|v| {
        let b = v.as_bytes();
        !b.is_empty() && b.len() <= MAX_REQUEST_ID && b.iter().all(|c| c.is_ascii_graphic())
    });
    if !ok {
        req.headers_mut().remove(&REQUEST_ID);
    }
    next.run(req).await
}

/// The span every request's log lines belong to.
pub fn request_span(req: &Request) -> Span {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
        .unwrap_or(UNMATCHED);
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        route = %route,
    )
}

/// One line per answered request, inside the request's span.
pub fn log_response(resp: &Response<Body>, latency: std::time::Duration, _span: &Span) {
    let status = resp.status().as_u16();
    let latency_ms = (latency.as_secs_f64() * 1e6).round() / 1e3;
    if status >= 500 {
        tracing::error!(status, latency_ms, "answered");
    } else {
        tracing::info!(status, latency_ms, "answered");
    }
}

/// The loaded embedding model.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelHealth {
    /// The model's name.
    #[schema(example = "multilingual-e5-small")]
    pub name: String,
    /// The id the library was built with (a library refuses other models).
    #[schema(example = "multilingual-e5-small")]
    pub model_id: String,
    /// Vector dimension.
    #[schema(example = 384)]
    pub dim: usize,
    /// Longest input window, in tokens.
    #[schema(example = 512)]
    pub max_tokens: usize,
}

/// How much is indexed.
#[derive(Debug, Serialize, ToSchema)]
pub struct IndexHealth {
    pub documents: usize,
    /// Passages in the store (each is one row of the lexical index too).
    pub passages: usize,
    /// Live vectors in the dense index (HNSW points less tombstones).
    pub vectors: usize,
    /// Deleted passages still in the HNSW graph.
    pub dense_tombstones: usize,
    pub districts: usize,
    /// Store generation (bumped by every committed write).
    pub generation: i64,
}

/// `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    #[schema(example = "ok")]
    pub status: &'static str,
    /// The service's version.
    #[schema(example = "0.1.0")]
    pub version: &'static str,
    pub model: ModelHealth,
    pub index: IndexHealth,
    /// Seconds since this server's state was built.
    pub uptime_seconds: f64,
}

/// Liveness and readiness: the loaded model and what the index holds.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses(
        (status = 200, description = "Serving: the model is loaded and the index readable", body = Health),
        (status = 503, description = "The index cannot be read", body = ErrorBody),
    )
)]
pub async fn healthz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    let service = state.service.clone();
    let stats = tokio::task::spawn_blocking(move || service.stats())
        .await?
        .map_err(|e| {
            tracing::error!("healthz: {e}");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                "the index cannot be read; see the server log",
            )
        })?;
    let e = state.service.embedder();
    Ok(Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        model: ModelHealth {
            name: e.settings().name.clone(),
            model_id: e.model_id(),
            dim: e.dim(),
            max_tokens: e.max_tokens(),
        },
        index: IndexHealth {
            documents: stats.documents,
            passages: stats.passages,
            vectors: stats.dense_points.saturating_sub(stats.dense_tombstones),
            dense_tombstones: stats.dense_tombstones,
            districts: stats.districts,
            generation: stats.generation,
        },
        uptime_seconds: state.started.elapsed().as_secs_f64(),
    }))
}

/// Prometheus text: request counts and latency histograms per route and
/// status class, embedding batch sizes and times, index sizes, query memo.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4", content_type = "text/plain; version=0.0.4; charset=utf-8", body = String),
    )
)]
pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let handle = prometheus();
    let service = state.service.clone();
    let stats = tokio::task::spawn_blocking(move || service.stats()).await??;
    let vectors = stats.dense_points.saturating_sub(stats.dense_tombstones);
    let figures = [
        stats.documents as f64,
        stats.passages as f64,
        vectors as f64,
        stats.dense_tombstones as f64,
        stats.districts as f64,
        stats.store_bytes as f64,
        stats.dense_bytes as f64,
        stats.generation as f64,
    ];
    for ((name, _), v) in INDEX_GAUGES.iter().zip(figures) {
        metrics::gauge!(*name).set(v);
    }
    let (hits, misses) = state.service.encoder().counts();
    metrics::counter!("zhengce_query_cache_hits_total").absolute(hits);
    metrics::counter!("zhengce_query_cache_misses_total").absolute(misses);
    let (passes, texts) = state.service.encoder().batch_counts();
    metrics::counter!("zhengce_query_passes_total").absolute(passes);
    metrics::counter!("zhengce_query_pass_texts_total").absolute(texts);
    let a = state.service.encoder().admission_counts();
    metrics::gauge!("zhengce_encoder_waiting", "lane" => "short").set(a.waiting_short as f64);
    metrics::gauge!("zhengce_encoder_waiting", "lane" => "long").set(a.waiting_long as f64);
    metrics::gauge!("zhengce_encoder_inflight_chars").set(a.inflight_chars as f64);
    metrics::counter!("zhengce_encoder_rejections_total").absolute(a.rejected);
    metrics::counter!("zhengce_encoder_deadline_expiries_total").absolute(a.expired);
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        handle.render(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes() {
        assert_eq!(status_class(StatusCode::OK), "2xx");
        assert_eq!(status_class(StatusCode::CREATED), "2xx");
        assert_eq!(status_class(StatusCode::NOT_FOUND), "4xx");
        assert_eq!(status_class(StatusCode::SERVICE_UNAVAILABLE), "5xx");
    }
}
