//! What a browser can be made to send, refused below the handlers:
//!
//! - **Host.** A page on `http://evil.example:7878` whose name is re-pointed
//!   at 127.0.0.1 (DNS rebinding) reaches the server with
//!   `Host: evil.example:7878`. Only hosts the server answers to pass:
//!   `localhost` and the loopback addresses with the port the connection
//!   arrived on, the address the connection arrived on with that port, any IP
//!   address when the listener is bound to all addresses (0.0.0.0 or `[::]`:
//!   the machine's addresses and what NAT puts in front of them cannot be
//!   known, and an IP address cannot be re-pointed), and the names the
//!   operator gives ([`AllowedHost`], `--allow-host`). Refused with 421.
//! - **Origin.** A plain HTML form on any site can POST to the server
//!   without a preflight. A request other than GET or HEAD whose `Origin` is
//!   not the server's own (the `Host` it was sent to), or whose
//!   `Sec-Fetch-Site` says `cross-site` (or `same-site` without a matching
//!   `Origin`), is refused with 403, token or not. Clients that send neither
//!   header (curl, the CLI, scripts) are not browsers and pass.
//!
//! And [`json_errors`] gives any 4xx/5xx the router answers with an empty
//! body the JSON error body.

use std::net::IpAddr;
use std::str::FromStr;

use axum::body::{Body, HttpBody};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, ORIGIN};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, ErrorCode};
use super::wire::Arrival;
use super::AppState;

/// Errors in the guard's configuration.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("`{0}` is not a host name: give NAME or NAME:PORT (an IPv6 address in brackets)")]
    BadHost(String),
}

/// A host the operator says the server answers to (`--allow-host`), e.g. the
/// name a reverse proxy forwards with. Without a port, any port matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    host: String,
    port: Option<u16>,
}

impl FromStr for AllowedHost {
    type Err = GuardError;

    fn from_str(s: &str) -> Result<Self, GuardError> {
        let (host, port) =
            split_authority(s.trim()).ok_or_else(|| GuardError::BadHost(s.into()))?;
        Ok(AllowedHost { host, port })
    }
}

impl std::fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(p) => write!(f, "{host}:{p}"),
            None => f.write_str(&host),
        }
    }
}

/// `host[:port]` as a lower-case host (IPv6 without brackets, no trailing
/// dot) and the port if given; `None` when it is not an authority.
fn split_authority(s: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        v6.parse::<std::net::Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (v6, port)
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok()?),
        None => None,
    };
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == ':';
    if host.is_empty() || !host.chars().all(is_name_char) {
        return None;
    }
    Some((host, port))
}

/// Whether the server answers to `host` (a `Host` header value) on the
/// connection `arrival`, given the operator's names.
pub fn host_allowed(host: &str, arrival: &Arrival, allowed: &[AllowedHost]) -> bool {
    let Some((name, port)) = split_authority(host) else {
        return false;
    };
    // Without a port, a Host names the scheme's default; the server speaks
    // plain HTTP, and a TLS proxy in front is covered by `allowed`.
    let effective = port.unwrap_or(80);
    if allowed
        .iter()
        .any(|a| a.host == name && a.port.is_none_or(|p| p == effective))
    {
        return true;
    }
    let local = arrival.local;
    let ip = name.parse::<IpAddr>().ok().map(|ip| ip.to_canonical());
    if let Some(ip) = ip {
        if arrival.bound.ip().is_unspecified() {
            return true;
        }
        if ip.is_loopback() || ip == local.ip().to_canonical() {
            return effective == local.port();
        }
        return false;
    }
    name == "localhost" && effective == local.port()
}

/// Whether `origin` (an `Origin` header value) is the origin of a page
/// served from `host` (the `Host` the request was sent to).
pub fn same_origin(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default = match scheme.to_ascii_lowercase().as_str() {
        "http" => 80,
        "https" => 443,
        _ => return false,
    };
    match (split_authority(authority), split_authority(host)) {
        (Some((o, op)), Some((h, hp))) => o == h && op.unwrap_or(default) == hp.unwrap_or(default),
        _ => false,
    }
}

/// Why a request other than GET or HEAD is refused as cross-site, if it is.
fn cross_site(headers: &HeaderMap, host: Option<&str>) -> Option<&'static str> {
    let origin = headers.get(ORIGIN).map(|v| v.to_str().unwrap_or(""));
    let own_origin = match (origin, host) {
        (Some(o), Some(h)) => same_origin(o, h),
        _ => false,
    };
    if origin.is_some() && !own_origin {
        return Some("its Origin is not this server");
    }
    let site = headers
        .get("sec-fetch-site")
        .map(|v| v.to_str().unwrap_or("").to_ascii_lowercase());
    match site.as_deref() {
        Some("cross-site") => Some("the browser says it comes from another site"),
        Some("same-site") if !own_origin => {
            Some("the browser says it comes from another origin of this site")
        }
        _ => None,
    }
}

/// The host the request was sent to: the `Host` header, else the URL's
/// authority (HTTP/2, absolute-form requests).
fn request_host(req: &Request) -> Option<String> {
    match req.headers().get(HOST) {
        Some(h) => Some(h.to_str().unwrap_or("").to_string()),
        None => req.uri().authority().map(|a| a.as_str().to_string()),
    }
}

/// The Host and Origin checks (see the module documentation).
pub async fn check(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let Some(ConnectInfo(arrival)) = req.extensions().get::<ConnectInfo<Arrival>>().copied() else {
        return Err(ApiError::internal(
            "the host check",
            "the router was served without the connection's addresses (use api::serve)",
        ));
    };
    let host = request_host(&req);
    let limit = state.config.limits.max_body_bytes;
    // A request without any host is not from a browser (they always send
    // one), so not a rebinding.
    if let Some(h) = &host {
        if !host_allowed(h, &arrival, &state.config.allow_hosts) {
            drain(req.into_body(), limit).await;
            return Err(ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                ErrorCode::UnknownHost,
                format!(
                    "this server does not answer to the host `{}`; to serve it under that \
                     name (e.g. behind a reverse proxy), start it with --allow-host NAME",
                    h.chars().take(200).collect::<String>()
                ),
            ));
        }
    }
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        if let Some(why) = cross_site(req.headers(), host.as_deref()) {
            drain(req.into_body(), limit).await;
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::CrossSite,
                format!(
                    "refused: {why}; only this server's own page, or a client that sends no \
                     Origin (curl, scripts), may send this request"
                ),
            ));
        }
    }
    Ok(next.run(req).await)
}

/// Reads and drops a refused request's body (up to `limit` bytes): answered
/// with its body unread, the connection is reset under a client still
/// sending, and the client sees a broken connection instead of the refusal.
async fn drain(body: Body, limit: usize) {
    let mut body = std::pin::pin!(body);
    let mut read = 0;
    while read <= limit {
        match std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
            Some(Ok(frame)) => read += frame.data_ref().map_or(0, |d| d.len()),
            _ => break,
        }
    }
}

/// Gives a 4xx/5xx answer with an empty body the JSON error body, keeping
/// its other headers (`Allow`, `Retry-After`, …). A HEAD answer keeps its
/// declared length and no body.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let declared = resp
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let empty = resp.body().size_hint().exact() == Some(0) && declared.unwrap_or(0) == 0;
    if !(status.is_client_error() || status.is_server_error()) || !empty {
        return resp;
    }
    let (parts, _) = resp.into_parts();
    let mut filled = ApiError::for_status(status).into_response();
    // The answer's own headers win over the defaults of the filled body
    // (a `Retry-After` the handler chose over the generic one).
    for name in parts.headers.keys() {
        if name != CONTENT_LENGTH && name != CONTENT_TYPE {
            filled.headers_mut().remove(name);
        }
    }
    for (name, value) in &parts.headers {
        if name != CONTENT_LENGTH && name != CONTENT_TYPE {
            filled.headers_mut().append(name, value.clone());
        }
    }
    filled
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn arrival(bound: &str, local: &str) -> Arrival {
        Arrival {
            bound: bound.parse().unwrap(),
            local: local.parse().unwrap(),
            remote: "127.0.0.1:50000".parse::<SocketAddr>().unwrap(),
        }
    }

    #[test]
    fn loopback_hosts_need_the_port_the_connection_arrived_on() {
        let a = arrival("127.0.0.1:7878", "127.0.0.1:7878");
        for h in [
            "127.0.0.1:7878",
            "localhost:7878",
            "LOCALHOST:7878",
            "[::1]:7878",
        ] {
            assert!(host_allowed(h, &a, &[]), "{h}");
        }
        for h in [
            "127.0.0.1:7879",
            "localhost",
            "evil.example:7878",
            "localhost.evil.example:7878",
            "10.0.0.5:7878",
            "",
            "127.0.0.1:7878:1",
            "local host:7878",
        ] {
            assert!(!host_allowed(h, &a, &[]), "{h}");
        }
    }

    #[test]
    fn bound_to_all_addresses_any_ip_but_names_only_when_told() {
        let a = arrival("0.0.0.0:7878", "192.168.1.5:7878");
        for h in [
            "192.168.1.5:7878",
            "203.0.113.9:8080",
            "[2001:db8::1]:7878",
            "localhost:7878",
        ] {
            assert!(host_allowed(h, &a, &[]), "{h}");
        }
        assert!(!host_allowed("evil.example:7878", &a, &[]));
        assert!(!host_allowed("localhost:80", &a, &[]));
        // Bound to one address, another one is not this server.
        let a = arrival("192.168.1.5:7878", "192.168.1.5:7878");
        assert!(host_allowed("192.168.1.5:7878", &a, &[]));
        assert!(!host_allowed("192.168.1.6:7878", &a, &[]));
    }

    #[test]
    fn told_names_match_any_port_unless_one_is_given() {
        let a = arrival("127.0.0.1:7878", "127.0.0.1:7878");
        let allowed: Vec<AllowedHost> = ["Search.Example.org", "intra.example:8443"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert!(host_allowed("search.example.org", &a, &allowed));
        assert!(host_allowed("search.example.org.:443", &a, &allowed));
        assert!(host_allowed("intra.example:8443", &a, &allowed));
        assert!(!host_allowed("intra.example", &a, &allowed));
        assert!(!host_allowed("example.org", &a, &allowed));
        assert_eq!(allowed[1].to_string(), "intra.example:8443");
        for bad in ["", "a b", "x:port", "[::1", "[nonsense]:80", "a/b"] {
            assert!(bad.parse::<AllowedHost>().is_err(), "{bad}");
        }
        assert_eq!(
            "[::1]:80".parse::<AllowedHost>().unwrap().to_string(),
            "[::1]:80"
        );
    }

    #[test]
    fn origins_compare_scheme_defaults() {
        assert!(same_origin("http://127.0.0.1:7878", "127.0.0.1:7878"));
        assert!(same_origin("http://LocalHost:7878", "localhost:7878"));
        assert!(same_origin(
            "https://search.example.org",
            "search.example.org"
        ));
        assert!(same_origin(
            "http://search.example.org",
            "search.example.org:80"
        ));
        assert!(!same_origin("https://evil.example", "127.0.0.1:7878"));
        assert!(!same_origin("http://127.0.0.1:7879", "127.0.0.1:7878"));
        assert!(!same_origin("null", "127.0.0.1:7878"));
        assert!(!same_origin("file://", "127.0.0.1:7878"));
        assert!(!same_origin("http://127.0.0.1:7878/path", "127.0.0.1:7878"));
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[tokio::test]
    async fn empty_error_answers_get_the_json_body() {
        use axum::routing::get;
        use tower::ServiceExt;
        let app = axum::Router::new()
            .route("/teapot", get(|| async { StatusCode::IM_A_TEAPOT }))
            .route(
                "/busy",
                get(|| async { (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "3")]) }),
            )
            .route("/empty", get(|| async { StatusCode::NO_CONTENT }))
            .route(
                "/said",
                get(|| async { (StatusCode::BAD_REQUEST, "in words") }),
            )
            .layer(axum::middleware::from_fn(json_errors));
        let call = |path: &'static str| {
            let app = app.clone();
            async move {
                let req = Request::builder().uri(path).body(axum::body::Body::empty());
                let resp = app.oneshot(req.unwrap()).await.unwrap();
                let (parts, body) = resp.into_parts();
                let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
                (parts, bytes)
            }
        };
        let (parts, bytes) = call("/teapot").await;
        assert_eq!(parts.status, StatusCode::IM_A_TEAPOT);
        assert_eq!(parts.headers[CONTENT_TYPE], "application/json");
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["code"], "client_error");
        assert_eq!(body["error"], "418 I'm a teapot");
        let (parts, bytes) = call("/busy").await;
        assert_eq!(parts.headers["retry-after"], "3");
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["code"], "unavailable");
        // Not errors, or errors that already say something: untouched.
        let (parts, bytes) = call("/empty").await;
        assert_eq!((parts.status, bytes.len()), (StatusCode::NO_CONTENT, 0));
        let (_, bytes) = call("/said").await;
        assert_eq!(&bytes[..], b"in words");
    }

    #[test]
    fn cross_site_needs_a_browser_saying_so() {
        let host = Some("127.0.0.1:7878");
        // curl, scripts: no browser headers.
        assert!(cross_site(&headers(&[]), host).is_none());
        // The server's own page.
        let own = [
            ("origin", "http://127.0.0.1:7878"),
            ("sec-fetch-site", "same-origin"),
        ];
        assert!(cross_site(&headers(&own), host).is_none());
        assert!(cross_site(&headers(&[("sec-fetch-site", "none")]), host).is_none());
        for refused in [
            &[("origin", "https://evil.example")][..],
            &[("origin", "null")],
            &[("sec-fetch-site", "cross-site")],
            &[("sec-fetch-site", "same-site")],
            &[
                ("origin", "http://127.0.0.1:9999"),
                ("sec-fetch-site", "same-site"),
            ],
            &[
                ("origin", "http://127.0.0.1:7878"),
                ("sec-fetch-site", "cross-site"),
            ],
        ] {
            assert!(cross_site(&headers(refused), host).is_some(), "{refused:?}");
        }
        // An Origin cannot be checked without the host it was sent to.
        assert!(cross_site(&headers(&own), None).is_some());
    }
}
