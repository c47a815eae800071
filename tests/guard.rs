//! What a hostile page or a malformed request gets from a real server
//! (127.0.0.1 port, real model): cross-site writes and foreign `Host`s are
//! refused, and every error, hyper's own included, carries the JSON error
//! body.
//!
//! One library (empty at the start) is served twice: with the default
//! configuration (no token, writes open) and with a token. Requests whose
//! `Host` or request line a client library would not let us choose are sent
//! over a plain socket.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use reqwest::blocking::{multipart, Client, RequestBuilder};
use serde_json::{json, Value};
use zhengce::api::{self, ApiConfig, AppState};
use zhengce::service::{self, Service};

mod common;

const TOKEN: &str = "guard-token-5d7e";
const ALLOWED: &str = "search.example.org";
const MAX_BODY: usize = 256 * 1024;

struct Servers {
    /// Default configuration: no token.
    open: SocketAddr,
    /// The same library, writes needing [`TOKEN`].
    tokened: SocketAddr,
    service: Arc<Service>,
}

/// Tests that ingest or count documents hold it.
static LIBRARY: Mutex<()> = Mutex::new(());

fn servers() -> &'static Servers {
    static SERVERS: OnceLock<Servers> = OnceLock::new();
    SERVERS.get_or_init(|| {
        let dir = common::fresh_data_dir("guard-test-data");
        let service = Arc::new(
            Service::open(&dir, &zhengce::embed::default_model_dir())
                .expect("open the library (model missing? run scripts/fetch-model.sh)"),
        );
        let config = |token: Option<&str>| ApiConfig {
            token: token.map(String::from),
            limits: api::Limits {
                max_body_bytes: MAX_BODY,
            },
            allow_hosts: vec![ALLOWED.parse().unwrap()],
        };
        let open = common::serve(AppState::new(service.clone(), config(None)));
        let tokened = common::serve(AppState::new(service.clone(), config(Some(TOKEN))));
        Servers {
            open,
            tokened,
            service,
        }
    })
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

fn documents() -> usize {
    servers().service.library().stats().unwrap().documents
}

/// The smallest bundled report, as a browser form would upload it.
fn report_form() -> multipart::Form {
    let path: PathBuf = service::bundled_corpus_dir().join("000_4ead13418bc20ab0.txt");
    let bytes = std::fs::read(&path).unwrap();
    multipart::Form::new().part(
        "file",
        multipart::Part::bytes(bytes).file_name("000_4ead13418bc20ab0.txt"),
    )
}

/// Status and JSON body; the body must be the API's error shape when the
/// status is an error.
fn answer(req: RequestBuilder) -> (u16, Value) {
    let resp = req.send().unwrap();
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    let text = resp.text().unwrap();
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{status} answered with non-JSON {text:?}: {e}"));
    if status >= 400 {
        assert_eq!(ctype.as_deref(), Some("application/json"), "{status}");
        assert_error_shape(status, &body);
    }
    (status, body)
}

fn assert_error_shape(status: u16, body: &Value) {
    let obj = body
        .as_object()
        .unwrap_or_else(|| panic!("{status}: {body}"));
    assert_eq!(obj.len(), 2, "{status}: {body}");
    assert!(!body["error"].as_str().unwrap().is_empty(), "{body}");
    assert!(!body["code"].as_str().unwrap().is_empty(), "{body}");
}

/// One request over a plain socket (`Connection: close`): status line,
/// lower-cased head, body.
struct Raw {
    status: u16,
    head: String,
    body: Vec<u8>,
}

fn raw(addr: SocketAddr, request: &[u8]) -> Raw {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    // The server may answer and close before reading everything (a request
    // line too long to parse); what it answers is what is checked.
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(&out)));
    let head = String::from_utf8_lossy(&out[..split]).to_ascii_lowercase();
    let status = head[9..12].parse().unwrap();
    Raw {
        status,
        head,
        body: out[split + 4..].to_vec(),
    }
}

fn raw_get(addr: SocketAddr, path: &str, host: &str) -> Raw {
    raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

fn raw_json_error(r: &Raw) -> Value {
    assert!(
        r.head.contains("content-type: application/json"),
        "{}",
        r.head
    );
    let body: Value = serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("{}: {:?}: {e}", r.head, String::from_utf8_lossy(&r.body)));
    assert_error_shape(r.status, &body);
    body
}

#[test]
fn cross_site_writes_are_refused_and_the_own_page_is_not() {
    let _lock = LIBRARY.lock().unwrap();
    let s = servers();
    let before = documents();
    let url = |addr: SocketAddr| format!("http://{addr}/api/documents");
    // A plain HTML form on another site: no preflight, the browser adds Origin.
    let (status, body) = answer(
        client()
            .post(url(s.open))
            .header("Origin", "https://evil.example")
            .multipart(report_form()),
    );
    assert_eq!((status, body["code"].as_str()), (403, Some("cross_site")));
    // Browsers that send only Sec-Fetch-Site.
    for site in ["cross-site", "same-site"] {
        let (status, _) = answer(
            client()
                .post(url(s.open))
                .header("Sec-Fetch-Site", site)
                .multipart(report_form()),
        );
        assert_eq!(status, 403, "{site}");
    }
    // The token does not make a cross-site write acceptable.
    let (status, _) = answer(
        client()
            .post(url(s.tokened))
            .bearer_auth(TOKEN)
            .header("Origin", "https://evil.example")
            .multipart(report_form()),
    );
    assert_eq!(status, 403);
    // Nor another origin on the same machine.
    let other_port = format!("http://127.0.0.1:{}", s.tokened.port());
    let (status, _) = answer(
        client()
            .post(url(s.open))
            .header("Origin", other_port)
            .multipart(report_form()),
    );
    assert_eq!(status, 403);
    // Costly reads over POST are guarded the same way.
    let (status, _) = answer(
        client()
            .post(format!("http://{}/api/similar", s.open))
            .header("Origin", "https://evil.example")
            .json(&json!({"text": "农村户厕改造"})),
    );
    assert_eq!(status, 403);
    assert_eq!(documents(), before, "a refused write stored something");

    // The server's own page: Origin is the host it was loaded from.
    let (status, body) = answer(
        client()
            .post(url(s.open))
            .header("Origin", format!("http://{}", s.open))
            .header("Sec-Fetch-Site", "same-origin")
            .multipart(report_form()),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(documents(), before + 1);
    // Reads from anywhere stay open (a GET changes nothing).
    let (status, _) = answer(
        client()
            .get(format!("http://{}/api/stats", s.open))
            .header("Origin", "https://evil.example")
            .header("Sec-Fetch-Site", "cross-site"),
    );
    assert_eq!(status, 200);
}

#[test]
fn clients_without_browser_headers_keep_writing() {
    let s = servers();
    // No Origin, no Sec-Fetch-*: curl and scripts. The write reaches its
    // handler (a 404 for an unknown document, not a refusal).
    let (status, body) =
        answer(client().delete(format!("http://{}/api/documents/no-such-document", s.open)));
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
}

#[test]
fn foreign_hosts_are_refused_and_the_servers_own_are_not() {
    let s = servers();
    let port = s.open.port();
    for host in [
        format!("evil.example:{port}"),
        format!("localhost.evil.example:{port}"),
        format!("127.0.0.1:{}", port.wrapping_add(1)),
        "localhost".to_string(),
        "".to_string(),
    ] {
        let r = raw_get(s.open, "/api/stats", &host);
        assert_eq!(r.status, 421, "Host: {host}");
        assert_eq!(raw_json_error(&r)["code"], "unknown_host");
    }
    // A rebound write is refused before anything else looks at it.
    let r = raw(
        s.open,
        format!(
            "DELETE /api/documents/x HTTP/1.1\r\nHost: evil.example:{port}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(r.status, 421);
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("LOCALHOST:{port}"),
        ALLOWED.to_string(),
        format!("{ALLOWED}:443"),
    ] {
        let r = raw_get(s.open, "/api/stats", &host);
        assert_eq!(
            r.status,
            200,
            "Host: {host}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    // The page and its writes under the allowed name (a reverse proxy).
    let r = raw(
        s.open,
        format!(
            "DELETE /api/documents/x HTTP/1.1\r\nHost: {ALLOWED}\r\nOrigin: https://{ALLOWED}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(r.status, 404, "{}", String::from_utf8_lossy(&r.body));
}

#[test]
fn a_url_longer_than_hyper_reads_gets_a_json_414() {
    // 20,000 Chinese characters: about 180 KB of URL.
    let q: String = "农村户厕改造"
        .repeat(4000)
        .chars()
        .take(20_000)
        .collect::<String>()
        .bytes()
        .map(|b| format!("%{b:02X}"))
        .collect();
    let r = raw_get(
        servers().open,
        &format!("/api/search?q={q}"),
        &servers().open.to_string(),
    );
    assert_eq!(r.status, 414, "{}", r.head);
    assert_eq!(raw_json_error(&r)["code"], "uri_too_long");
}

#[test]
fn a_malformed_request_line_gets_a_json_400() {
    // hyper answers an unparsable request line itself, then closes the
    // connection; the answer is written whole before the close.
    let addr = servers().open;
    let r = raw(
        addr,
        format!("G\u{0}T / HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes(),
    );
    assert_eq!(r.status, 400, "{}", r.head);
    assert_eq!(raw_json_error(&r)["code"], "malformed_request");
    let mut bytes = b"G\xff\xffT /api/stats HTTP/1.1\r\nHost: ".to_vec();
    bytes.extend_from_slice(format!("{addr}\r\n\r\n").as_bytes());
    let r = raw(addr, &bytes);
    assert_eq!(r.status, 400, "{}", r.head);
    assert_eq!(raw_json_error(&r)["code"], "malformed_request");
}

#[test]
fn errors_below_the_handlers_are_json() {
    let base = format!("http://{}", servers().open);
    let cases: Vec<(u16, RequestBuilder)> = vec![
        (404, client().get(format!("{base}/no/such/route"))),
        (405, client().put(format!("{base}/api/search"))),
        (
            413,
            client()
                .post(format!("{base}/api/similar"))
                .header("content-type", "application/json")
                // Just over the limit: the server refuses it before reading
                // it all, and a small excess leaves the client's send whole.
                .body(format!(
                    "{{\"text\": \"{}\"}}",
                    "农".repeat(MAX_BODY / 3 + 64)
                )),
        ),
        (
            415,
            client()
                .post(format!("{base}/api/similar"))
                .header("content-type", "text/plain")
                .body("{\"text\": \"农村\"}"),
        ),
        (
            415,
            client()
                .post(format!("{base}/api/similar"))
                .body("{\"text\": \"农村\"}"),
        ),
        (
            400,
            client()
                .post(format!("{base}/api/similar"))
                .header("content-type", "application/json")
                .body("{\"text\": "),
        ),
    ];
    for (want, req) in cases {
        let (status, body) = answer(req);
        assert_eq!(status, want, "{body}");
    }
}

#[test]
fn the_token_is_compared_whole() {
    let s = servers();
    let url = format!("http://{}/api/documents/no-such-document", s.tokened);
    let longer = format!("{TOKEN}x");
    let same_length = format!("{}X", &TOKEN[..TOKEN.len() - 1]);
    for wrong in [&TOKEN[..TOKEN.len() - 1], &longer, &same_length, "x"] {
        let (status, body) = answer(client().delete(&url).bearer_auth(wrong));
        assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    }
    let (status, _) = answer(client().delete(&url));
    assert_eq!(status, 401);
    // The right token reaches the handler: no such document.
    let (status, _) = answer(client().delete(&url).bearer_auth(TOKEN));
    assert_eq!(status, 404);
}
