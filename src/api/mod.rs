//! The HTTP API: thin axum handlers over the same library calls the CLI makes.
//!
//! Reads (`GET /api/search`, `POST /api/similar`, `GET /api/documents…`,
//! `GET /api/facets`, the panels under `GET /api/panel/…`) are open; writes (`POST /api/documents`,
//! `PATCH` and `DELETE /api/documents/{id}`) need a bearer token when one is
//! configured. Below the handlers, [`guard`] refuses foreign `Host`s and
//! cross-site requests other than GET/HEAD, and every error answer, hyper's
//! own included ([`wire`]), carries the JSON error body.
//! CPU-bound work (embedding, ranking, ingest) runs on the blocking pool so
//! the async workers keep answering.
//!
//! The router is built from one table, [`routes`]; `/openapi.json` must
//! describe each of its entries (see [`openapi`] and the tests).

mod auth;
pub mod dto;
pub mod error;
mod extract;
pub mod guard;
mod handlers;
pub mod openapi;
mod panels;
pub mod params;
pub mod vitals;
pub mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter};
use axum::Router;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use error::{ApiError, ErrorCode};
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
    /// Names the server answers to beside its own addresses (a reverse
    /// proxy's); see [`guard`].
    pub allow_hosts: Vec<guard::AllowedHost>,
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub service: Arc<Service>,
    pub config: Arc<ApiConfig>,
    /// Lets one ingestion embed at a time.
    pub ingest_gate: Arc<tokio::sync::Semaphore>,
    /// When this state was built (uptime in `/healthz`).
    pub started: Instant,
}

impl AppState {
    pub fn new(service: Arc<Service>, config: ApiConfig) -> AppState {
        // From here on the embedder's and the middleware's figures are recorded.
        vitals::prometheus();
        AppState {
            service,
            config: Arc::new(config),
            ingest_gate: Arc::new(tokio::sync::Semaphore::new(1)),
            started: Instant::now(),
        }
    }
}

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Open,
    /// Needs the bearer token when one is configured.
    Token,
}

/// One entry of the route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: Method,
    /// The path template as axum matches it (`/api/documents/{id}`), which is
    /// also the OpenAPI path and the `route` label of the metrics.
    pub path: &'static str,
    pub access: Access,
}

struct Endpoint {
    route: Route,
    handler: MethodRouter<AppState>,
}

fn endpoint<H, T>(method: Method, path: &'static str, access: Access, handler: H) -> Endpoint
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).expect("a standard method");
    Endpoint {
        route: Route {
            method,
            path,
            access,
        },
        handler: axum::routing::on(filter, handler),
    }
}

/// Every endpoint the router serves; [`router`] is built from this table
/// and nothing else, so a route cannot exist without being listed here.
fn endpoints() -> Vec<Endpoint> {
    use Access::{Open, Token};
    use Method as M;
    vec![
        endpoint(M::GET, "/api/search", Open, handlers::search),
        endpoint(M::POST, "/api/similar", Open, handlers::similar),
        endpoint(M::GET, "/api/documents", Open, handlers::list_documents),
        endpoint(M::POST, "/api/documents", Token, handlers::ingest_document),
        endpoint(M::GET, "/api/documents/{id}", Open, handlers::get_document),
        endpoint(
            M::DELETE,
            "/api/documents/{id}",
            Token,
            handlers::delete_document,
        ),
        endpoint(
            M::PATCH,
            "/api/documents/{id}",
            Token,
            handlers::patch_document,
        ),
        endpoint(M::GET, "/api/facets", Open, handlers::facets),
        endpoint(M::GET, "/api/stats", Open, handlers::stats),
        endpoint(M::POST, "/api/summarize", Open, handlers::summarize),
        endpoint(M::GET, "/api/targets", Open, handlers::targets),
        endpoint(M::GET, "/api/panel/targets", Open, panels::targets),
        endpoint(M::GET, "/api/panel/attention", Open, panels::attention),
        endpoint(M::GET, "/healthz", Open, vitals::healthz),
        endpoint(M::GET, "/metrics", Open, vitals::metrics),
        endpoint(M::GET, "/openapi.json", Open, openapi::openapi_json),
        endpoint(M::GET, "/", Open, handlers::page),
    ]
}

/// The route table: method, path template and access of every endpoint.
pub fn routes() -> Vec<Route> {
    endpoints().into_iter().map(|e| e.route).collect()
}

/// All routes, with body limit, auth on the writes, the Host and Origin
/// checks, JSON fallbacks, request ids, per-request log lines and metrics.
/// Served by [`serve`], which gives each request its connection's addresses.
pub fn router(state: AppState) -> Router {
    let mut reads = Router::new();
    let mut writes = Router::new();
    for Endpoint { route, handler } in endpoints() {
        match route.access {
            Access::Open => reads = reads.route(route.path, handler),
            Access::Token => writes = writes.route(route.path, handler),
        }
    }
    let writes = writes.route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        auth::require_token,
    ));
    // Outermost first: a request id exists before the span that logs it,
    // and is copied onto the response; the metrics see the final status.
    let vitals = ServiceBuilder::new()
        .layer(axum::middleware::from_fn(vitals::sanitize_request_id))
        .layer(SetRequestIdLayer::new(vitals::REQUEST_ID, MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(vitals::request_span)
                .on_request(())
                .on_response(vitals::log_response),
        )
        .layer(PropagateRequestIdLayer::new(vitals::REQUEST_ID))
        .layer(axum::middleware::from_fn(vitals::record_request));
    reads
        .merge(writes)
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::check,
        ))
        .layer(DefaultBodyLimit::max(state.config.limits.max_body_bytes))
        .layer(vitals)
        .layer(axum::middleware::from_fn(guard::json_errors))
        .with_state(state)
}

/// Serves until SIGINT or SIGTERM, then lets in-flight requests finish.
pub async fn serve(listener: TcpListener, state: AppState) -> std::io::Result<()> {
    // Histogram samples wait in buffers until drained; drain them now and
    // then even when nobody scrapes `/metrics`.
    let upkeep = tokio::spawn(async {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            tick.tick().await;
            vitals::prometheus().run_upkeep();
        }
    });
    let listener = wire::GuardedListener::new(listener)?;
    let app = router(state).into_make_service_with_connect_info::<wire::Arrival>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    upkeep.abort();
    served
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
