//! The HTTP API: thin axum handlers over the same library calls the CLI makes.
//!
//! Reads (`GET /api/search`, `POST /api/similar`, `GET /api/documents…`,
//! `GET /api/facets`) are open; writes (`POST /api/documents`,
//! `DELETE /api/documents/{id}`) need a bearer token when one is configured.
//! CPU-bound work (embedding, ranking, ingest) runs on the blocking pool so
//! the async workers keep answering.

mod auth;
pub mod error;
mod extract;
mod handlers;
pub mod params;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use tokio::net::TcpListener;

pub use error::ApiError;
pub use params::Limits;

use crate::service::Service;

/// The default port of `zhengce serve` (bound on 127.0.0.1 unless told otherwise).
pub const DEFAULT_PORT: u16 = 7878;

/// Server settings that are not the library's business.
#[derive(Debug, Clone, Default)]
pub struct ApiConfig {
    /// When set, write endpoints require `Authorization: Bearer <token>`.
    pub token: Option<String>,
    pub limits: Limits,
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub service: Arc<Service>,
    pub config: Arc<ApiConfig>,
    /// Lets one ingestion embed at a time.
    pub ingest_gate: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    pub fn new(service: Arc<Service>, config: ApiConfig) -> AppState {
        AppState {
            service,
            config: Arc::new(config),
            ingest_gate: Arc::new(tokio::sync::Semaphore::new(1)),
        }
    }
}

/// All routes, with body limit, auth on the writes and JSON fallbacks.
pub fn router(state: AppState) -> Router {
    let writes = Router::new()
        .route("/api/documents", post(handlers::ingest_document))
        .route(
            "/api/documents/{id}",
            axum::routing::delete(handlers::delete_document),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    let reads = Router::new()
        .route("/healthz", get(handlers::healthz))
        .route("/api/search", get(handlers::search))
        .route("/api/similar", post(handlers::similar))
        .route("/api/documents", get(handlers::list_documents))
        .route("/api/documents/{id}", get(handlers::get_document))
        .route("/api/facets", get(handlers::facets))
        .route("/api/stats", get(handlers::stats))
        .route("/api/summarize", post(handlers::summarize))
        .route("/api/targets", get(handlers::targets))
        .route("/", get(handlers::page));
    reads
        .merge(writes)
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.limits.max_body_bytes))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves until SIGINT or SIGTERM, then lets in-flight requests finish.
pub async fn serve(listener: TcpListener, state: AppState) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
}

/// Binds `addr`; a clear message when the port is taken.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
