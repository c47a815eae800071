//! The operator's and integrator's view of a real server (127.0.0.1 port,
//! real model): `/openapi.json` describes every route the server answers and
//! the JSON it actually sends, `/metrics` is Prometheus text with per-route
//! figures, `/healthz` reports the model and the index, every request carries
//! an `x-request-id` into the response and into a log line.
//!
//! Like `tests/service.rs`, one server is built once for the whole file; it
//! holds two reports of the bundled corpus (two districts), enough for every
//! endpoint and a fraction of the time of the full corpus. Nothing here
//! changes the library (writes are sent without the token), so the tests can
//! run in parallel and compare figures.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use regex::Regex;
use reqwest::blocking::{Client, Response};
use serde_json::{json, Value};
use zhengce::api::{self, ApiConfig, AppState};
use zhengce::service::{self, Service};

mod common;

const TOKEN: &str = "vitals-token-8c21";
/// Two reports from two districts (南明区, 西乡塘区).
const FILES: [&str; 2] = ["000_4ead13418bc20ab0.txt", "002_aa1a712f84acc684.txt"];

struct Server {
    base: String,
    service: Arc<Service>,
}

/// Every log line the process writes (the server runs in this process).
static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOG.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_text() -> String {
    String::from_utf8_lossy(&LOG.lock().unwrap()).into_owned()
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        // The same filter `zhengce serve` uses by default.
        tracing_subscriber::fmt()
            .with_env_filter("zhengce=info,tower_http=warn")
            .with_writer(|| LogWriter)
            .with_ansi(false)
            .init();
        // Installed before ingestion, as `zhengce serve` does, so the
        // ingestion's embedding batches are counted.
        api::vitals::prometheus();
        let files: Vec<_> = FILES
            .iter()
            .map(|f| service::bundled_corpus_dir().join(f))
            .collect();
        let ingested = common::ingested_service("vitals-test-data", &files);
        assert_eq!(ingested.report.added.len(), 2, "{:?}", ingested.report);
        let service = ingested.service;
        let state = AppState::new(
            service.clone(),
            ApiConfig {
                token: Some(TOKEN.into()),
                limits: api::Limits::default(),
                ..ApiConfig::default()
            },
        );
        let addr = common::serve(state);
        Server {
            base: format!("http://{addr}"),
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

fn url(path: &str) -> String {
    format!("{}{path}", server().base)
}

fn get(path: &str) -> Response {
    client().get(url(path)).send().unwrap()
}

fn get_json(path: &str) -> Value {
    let resp = get(path);
    assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
    resp.json().unwrap()
}

fn post_json(path: &str, body: &Value) -> Value {
    let resp = client().post(url(path)).json(body).send().unwrap();
    assert!(resp.status().is_success(), "POST {path}: {}", resp.status());
    resp.json().unwrap()
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn openapi() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let resp = get("/openapi.json");
        assert_eq!(resp.status(), 200);
        assert!(resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
        let doc: Value = resp.json().unwrap();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        std::fs::write(
            dir.join("openapi.json"),
            serde_json::to_string_pretty(&doc).unwrap(),
        )
        .unwrap();
        doc
    })
}

fn first_doc_id() -> String {
    get_json("/api/documents")["documents"][0]["doc_id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn first_passage_id() -> String {
    let hits = get_json(&format!("/api/search?q={}&k=1", enc("农村户厕改造")))["hits"].clone();
    hits[0]["passage_id"].as_str().unwrap().to_string()
}

/// A request that exercises a route, and the status proving the router sent
/// it to that route's handler (writes go without the token: 401, nothing
/// changes).
fn exercise(method: &str, path: &str) -> (Response, u16) {
    let c = client();
    let doc = first_doc_id();
    match (method, path) {
        ("GET", "/api/search") => (
            c.get(url(&format!(
                "/api/search?q={}",
                enc("哪些地区在推进农村户厕改造")
            )))
            .send()
            .unwrap(),
            200,
        ),
        ("POST", "/api/similar") => (
            c.post(url("/api/similar"))
                .json(&json!({"passage_id": first_passage_id()}))
                .send()
                .unwrap(),
            200,
        ),
        ("GET", "/api/documents") => (c.get(url(path)).send().unwrap(), 200),
        ("POST", "/api/documents") => (
            c.post(url(path))
                .json(&json!({"text": "政府工作报告"}))
                .send()
                .unwrap(),
            401,
        ),
        ("GET", "/api/documents/{id}") => (
            c.get(url(&format!("/api/documents/{doc}"))).send().unwrap(),
            200,
        ),
        ("DELETE", "/api/documents/{id}") => (
            c.delete(url(&format!("/api/documents/{doc}")))
                .send()
                .unwrap(),
            401,
        ),
        ("PATCH", "/api/documents/{id}") => (
            c.patch(url(&format!("/api/documents/{doc}")))
                .json(&json!({"year": 2024}))
                .send()
                .unwrap(),
            401,
        ),
        ("POST", "/api/summarize") => (
            c.post(url(path))
                .json(&json!({"doc_id": doc, "max_sentences": 3}))
                .send()
                .unwrap(),
            200,
        ),
        ("GET", "/api/facets" | "/api/stats" | "/api/targets" | "/healthz" | "/metrics")
        | ("GET", "/openapi.json" | "/") => (c.get(url(path)).send().unwrap(), 200),
        ("GET", "/api/panel/targets") => (
            c.get(url("/api/panel/targets?format=csv")).send().unwrap(),
            200,
        ),
        ("GET", "/api/panel/attention") => (
            c.get(url("/api/panel/attention?concept=%E5%85%BB%E8%80%81"))
                .send()
                .unwrap(),
            200,
        ),
        other => panic!("route {other:?} is new: add a request that exercises it here"),
    }
}

#[test]
fn openapi_describes_every_route_the_server_answers() {
    let doc = openapi();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let routes = api::routes();
    assert!(routes.len() >= 14, "{routes:?}");
    let mut described = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            described.insert((method.to_uppercase(), path.clone()));
        }
    }
    let served: BTreeSet<_> = routes
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    assert_eq!(served, described, "route table vs /openapi.json paths");
    for r in &routes {
        let op = &doc["paths"][r.path][r.method.as_str().to_lowercase()];
        let responses = op["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{} {} has no success response",
            r.method,
            r.path
        );
        // The server really routes it there: not the JSON 404/405 fallbacks.
        let (resp, want) = exercise(r.method.as_str(), r.path);
        let status = resp.status().as_u16();
        let body = resp.text().unwrap();
        assert_eq!(status, want, "{} {}: {body}", r.method, r.path);
        assert!(
            responses.contains_key(&status.to_string()),
            "{} {} answered {status}, which its description does not list",
            r.method,
            r.path
        );
    }
}

#[test]
fn openapi_examples_are_in_chinese() {
    let doc = openapi();
    let params = doc["paths"]["/api/search"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let q = params.iter().find(|p| p["name"] == "q").unwrap();
    assert_eq!(q["in"], "query");
    assert_eq!(q["required"], true);
    assert_eq!(q["example"], "哪些地区在推进农村户厕改造");
    // Filters are listed as query parameters of search, each once.
    let names: Vec<&str> = params.iter().map(|p| p["name"].as_str().unwrap()).collect();
    for want in [
        "k",
        "mode",
        "group",
        "per_group",
        "district",
        "year",
        "doc_type",
    ] {
        assert_eq!(names.iter().filter(|n| **n == want).count(), 1, "{names:?}");
    }
    let has_han = |v: &Value| {
        v.to_string()
            .chars()
            .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
    };
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "Hit",
        "SummarizeBody",
        "SimilarBody",
        "UploadBody",
        "TargetRow",
    ] {
        let s = &schemas[name];
        assert!(has_han(s), "{name} has no Chinese example: {s}");
    }
}

/// Enough of JSON Schema (as OpenAPI 3.1 uses it) to check a response
/// against its description strictly: every required property present, no
/// property the description lacks, every value of the declared type.
struct Checker<'a> {
    doc: &'a Value,
}

impl Checker<'_> {
    fn resolve<'s>(&'s self, schema: &'s Value) -> &'s Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r.strip_prefix("#/components/schemas/").unwrap();
                let s = &self.doc["components"]["schemas"][name];
                assert!(!s.is_null(), "dangling {r}");
                self.resolve(s)
            }
            None => schema,
        }
    }

    /// Property names a schema declares, through `allOf`.
    fn declared(&self, schema: &Value, out: &mut BTreeSet<String>) {
        let s = self.resolve(schema);
        if let Some(p) = s.get("properties").and_then(Value::as_object) {
            out.extend(p.keys().cloned());
        }
        for part in s
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            self.declared(part, out);
        }
    }

    fn check(&self, schema: &Value, v: &Value, at: &str, strict: bool) -> Result<(), String> {
        let s = self.resolve(schema);
        if let Some(parts) = s.get("allOf").and_then(Value::as_array) {
            for p in parts {
                self.check(p, v, at, false)?;
            }
        }
        if let Some(parts) = s.get("oneOf").and_then(Value::as_array) {
            let ok: Vec<_> = parts.iter().map(|p| self.check(p, v, at, strict)).collect();
            let n = ok.iter().filter(|r| r.is_ok()).count();
            if n != 1 {
                return Err(format!("{at}: {n} of oneOf match {v}: {ok:?}"));
            }
        }
        if let Some(t) = s.get("type") {
            let types: Vec<&str> = match t {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().map(|t| t.as_str().unwrap()).collect(),
                _ => panic!("type {t}"),
            };
            let fits = |t: &str| match t {
                "null" => v.is_null(),
                "boolean" => v.is_boolean(),
                "object" => v.is_object(),
                "array" => v.is_array(),
                "string" => v.is_string(),
                "integer" => v.is_i64() || v.is_u64(),
                "number" => v.is_number(),
                other => panic!("type {other}"),
            };
            if !types.iter().any(|t| fits(t)) {
                return Err(format!("{at}: {v} is not {types:?}"));
            }
        }
        if let Some(e) = s.get("enum").and_then(Value::as_array) {
            if !e.contains(v) {
                return Err(format!("{at}: {v} not in {e:?}"));
            }
        }
        if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
            for (i, x) in arr.iter().enumerate() {
                self.check(items, x, &format!("{at}[{i}]"), true)?;
            }
        }
        if let Some(obj) = v.as_object() {
            let props = s.get("properties").and_then(Value::as_object);
            for req in s
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if !obj.contains_key(req.as_str().unwrap()) {
                    return Err(format!("{at}: required `{req}` missing"));
                }
            }
            if let Some(props) = props {
                for (k, x) in obj {
                    if let Some(p) = props.get(k) {
                        self.check(p, x, &format!("{at}.{k}"), true)?;
                    }
                }
            }
            if let Some(extra) = s.get("additionalProperties").filter(|a| a.is_object()) {
                for (k, x) in obj {
                    if props.is_none_or(|p| !p.contains_key(k)) {
                        self.check(extra, x, &format!("{at}.{k}"), true)?;
                    }
                }
            } else if strict && (props.is_some() || s.get("allOf").is_some()) {
                let mut known = BTreeSet::new();
                self.declared(s, &mut known);
                for k in obj.keys() {
                    if !known.contains(k) {
                        return Err(format!("{at}: `{k}` is sent but not described"));
                    }
                }
            }
        }
        Ok(())
    }
}

fn check_against_description(method: &str, path: &str, status: u16, body: &Value) {
    let doc = openapi();
    let content = &doc["paths"][path][method]["responses"][status.to_string()]["content"];
    let schema = &content["application/json"]["schema"];
    assert!(
        !schema.is_null(),
        "{method} {path} {status}: no JSON schema"
    );
    if let Err(e) = (Checker { doc }).check(schema, body, "$", true) {
        panic!("{method} {path} {status} does not match its description: {e}\n{body:#}");
    }
}

#[test]
fn responses_match_their_descriptions() {
    let doc_id = first_doc_id();
    let q = enc("哪些地区在推进农村户厕改造");
    for (path, template) in [
        (
            format!("/api/search?q={q}&group=district&k=5"),
            "/api/search",
        ),
        (format!("/api/search?q={q}&mode=lexical"), "/api/search"),
        ("/api/documents".to_string(), "/api/documents"),
        (format!("/api/documents/{doc_id}"), "/api/documents/{id}"),
        ("/api/facets".to_string(), "/api/facets"),
        ("/api/stats".to_string(), "/api/stats"),
        (
            format!("/api/targets?indicator={}", enc("地区生产总值")),
            "/api/targets",
        ),
        ("/healthz".to_string(), "/healthz"),
    ] {
        let body = get_json(&path);
        check_against_description("get", template, 200, &body);
    }
    let similar = post_json(
        "/api/similar",
        &json!({"passage_id": first_passage_id(), "include_same_district": true}),
    );
    assert!(!similar["hits"].as_array().unwrap().is_empty());
    check_against_description("post", "/api/similar", 200, &similar);
    let topic = post_json(
        "/api/summarize",
        &json!({"query": "农村户厕改造", "max_sentences": 2}),
    );
    assert_eq!(topic["kind"], "topic");
    check_against_description("post", "/api/summarize", 200, &topic);
    let document = post_json("/api/summarize", &json!({"doc_id": doc_id}));
    assert_eq!(document["kind"], "document");
    check_against_description("post", "/api/summarize", 200, &document);
    // Errors too.
    for (path, template, status) in [
        ("/api/search?k=3".to_string(), "/api/search", 400),
        (
            "/api/documents/nope".to_string(),
            "/api/documents/{id}",
            404,
        ),
    ] {
        let resp = get(&path);
        assert_eq!(resp.status().as_u16(), status);
        check_against_description("get", template, status, &resp.json().unwrap());
    }
    // The checker itself rejects what it should.
    let c = Checker { doc: openapi() };
    let hit_schema = json!({"$ref": "#/components/schemas/Hit"});
    let mut hit = get_json(&format!("/api/search?q={q}&k=1"))["hits"][0].clone();
    assert!(c.check(&hit_schema, &hit, "$", true).is_ok());
    hit["surprise"] = json!(1);
    assert!(c.check(&hit_schema, &hit, "$", true).is_err());
    hit.as_object_mut().unwrap().remove("surprise");
    hit.as_object_mut().unwrap().remove("doc_id");
    assert!(c.check(&hit_schema, &hit, "$", true).is_err());
}

/// The handlers serialize API types converted from the library's; the JSON
/// must stay what serializing the library's own results gives (the page and
/// existing clients read it).
#[test]
fn the_api_sends_what_the_library_returns() {
    let lib = server().service.library();
    // Through text, as a client reads it (an f32 put straight into a
    // `Value` keeps its f64 widening's extra digits).
    fn as_sent<T: serde::Serialize>(v: T) -> serde_json::Result<Value> {
        serde_json::from_str(&serde_json::to_string(&v)?)
    }
    let same = |path: &str, direct: Value| {
        assert_eq!(get_json(path), direct, "{path}");
    };
    same(
        "/api/documents",
        json!({ "documents": as_sent(lib.documents().unwrap()).unwrap() }),
    );
    let doc_id = first_doc_id();
    // One `passages` key (the list), not a count and a list.
    let raw = get(&format!("/api/documents/{doc_id}")).text().unwrap();
    assert_eq!(raw.matches("\"passages\":").count(), 1);
    same(
        &format!("/api/documents/{doc_id}"),
        as_sent(lib.document(&doc_id).unwrap()).unwrap(),
    );
    same(
        "/api/facets",
        as_sent(lib.facets(&Default::default()).unwrap()).unwrap(),
    );
    same("/api/stats", as_sent(lib.stats().unwrap()).unwrap());
    same(
        "/api/targets",
        as_sent(zhengce::summarize::targets_table(lib, None, &Default::default()).unwrap())
            .unwrap(),
    );
    let req = zhengce::search::SearchRequest {
        query: "农村户厕改造".into(),
        group_by_district: true,
        ..Default::default()
    };
    let direct = zhengce::search::search(lib, server().service.encoder(), &req).expect("search");
    same(
        &format!("/api/search?q={}&group=district", enc("农村户厕改造")),
        as_sent(direct).unwrap(),
    );
    let req = zhengce::summarize::SummarizeRequest {
        doc_id: Some(doc_id.clone()),
        ..Default::default()
    };
    let direct = server().service.summarize(&req).unwrap();
    assert_eq!(
        post_json("/api/summarize", &json!({"doc_id": doc_id})),
        as_sent(direct).unwrap()
    );
}

#[test]
fn healthz_reports_the_model_and_the_index() {
    let h = get_json("/healthz");
    let stats = server().service.library().stats().unwrap();
    assert_eq!(h["status"], "ok");
    assert_eq!(h["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(h["model"]["dim"], 384);
    assert_eq!(h["model"]["model_id"], stats.model_id.as_str());
    assert!(h["model"]["name"]
        .as_str()
        .unwrap()
        .contains("multilingual-e5-small"));
    assert!(h["model"]["max_tokens"].as_u64().unwrap() >= 512);
    let index = &h["index"];
    assert_eq!(index["documents"], 2);
    assert_eq!(index["documents"], stats.documents);
    assert_eq!(index["passages"], stats.passages);
    assert_eq!(index["districts"], 2);
    assert!(stats.passages > 20);
    assert_eq!(
        index["vectors"],
        stats.dense_points - stats.dense_tombstones
    );
    assert_eq!(index["vectors"], stats.passages, "one vector per passage");
    assert!(h["uptime_seconds"].as_f64().unwrap() >= 0.0);
}

type Labels = BTreeMap<String, String>;

/// One sample line of Prometheus text: name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the text exposition format 0.0.4 strictly enough to catch a
/// malformed line, a sample of an undeclared family, or an inconsistent
/// histogram.
fn parse_prometheus(text: &str) -> Vec<Sample> {
    let sample =
        Regex::new(r#"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?[0-9]+)?$"#).unwrap();
    let label = Regex::new(r#"^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)"#).unwrap();
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("TYPE"), Some(name), Some(t)) => {
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&t),
                        "{line}"
                    );
                    assert!(
                        types.insert(name.into(), t.into()).is_none(),
                        "TYPE twice: {line}"
                    );
                }
                (Some("HELP"), Some(_), _) => {}
                _ => panic!("bad comment line: {line}"),
            }
            continue;
        }
        let c = sample
            .captures(line)
            .unwrap_or_else(|| panic!("bad line: {line:?}"));
        let name = c[1].to_string();
        let mut labels = BTreeMap::new();
        let mut rest = c.get(3).map_or("", |m| m.as_str());
        while !rest.is_empty() {
            let l = label
                .captures(rest)
                .unwrap_or_else(|| panic!("bad labels in {line:?}"));
            labels.insert(l[1].to_string(), l[2].to_string());
            rest = &rest[l[0].len()..];
        }
        let value: f64 = match &c[4] {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| types.get(*f).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(&name);
        assert!(types.contains_key(family), "sample before its TYPE: {line}");
        out.push(Sample {
            name,
            labels,
            value,
        });
    }
    // Histograms: cumulative buckets ending in +Inf == _count.
    let mut series: BTreeMap<(String, Labels), Vec<(f64, f64)>> = BTreeMap::new();
    for s in out.iter().filter(|s| s.name.ends_with("_bucket")) {
        let mut key = s.labels.clone();
        let le = key.remove("le").expect("bucket without le");
        let le = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().unwrap()
        };
        series
            .entry((s.name.trim_end_matches("_bucket").to_string(), key))
            .or_default()
            .push((le, s.value));
    }
    for ((family, labels), buckets) in &series {
        assert!(
            buckets
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
            "{family} {labels:?}"
        );
        let (le, inf) = *buckets.last().unwrap();
        assert!(le.is_infinite(), "{family}: no +Inf bucket");
        let count = out
            .iter()
            .find(|s| s.name == format!("{family}_count") && &s.labels == labels)
            .unwrap_or_else(|| panic!("{family} {labels:?}: no _count"));
        assert_eq!(count.value, inf, "{family} {labels:?}");
    }
    out
}

fn find<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Option<&'a Sample> {
    samples.iter().find(|s| {
        s.name == name
            && labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
    })
}

#[test]
fn metrics_count_requests_per_route_template() {
    let doc_id = first_doc_id();
    let before = parse_prometheus(&get("/metrics").text().unwrap());
    let count = |samples: &[Sample], labels: &[(&str, &str)]| {
        find(samples, "zhengce_http_requests_total", labels).map_or(0.0, |s| s.value)
    };
    let search_labels = [
        ("method", "GET"),
        ("route", "/api/search"),
        ("status", "2xx"),
    ];
    let doc_labels = [
        ("method", "GET"),
        ("route", "/api/documents/{id}"),
        ("status", "2xx"),
    ];
    let missing_labels = [
        ("method", "GET"),
        ("route", "/api/documents/{id}"),
        ("status", "4xx"),
    ];
    let unmatched = [("method", "GET"), ("route", "unmatched"), ("status", "4xx")];
    let searches_before = count(&before, &search_labels);
    let docs_before = count(&before, &doc_labels);
    let missing_before = count(&before, &missing_labels);
    let unmatched_before = count(&before, &unmatched);

    let q = enc("哪些地区在推进农村户厕改造");
    assert_eq!(get(&format!("/api/search?q={q}&mode=dense")).status(), 200);
    assert_eq!(get(&format!("/api/documents/{doc_id}")).status(), 200);
    assert_eq!(get(&format!("/api/documents/{doc_id}")).status(), 200);
    assert_eq!(get("/api/documents/no-such-doc").status(), 404);
    assert_eq!(get("/no/such/route/unmatched-path").status(), 404);

    let resp = get("/metrics");
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = resp.text().unwrap();
    let after = parse_prometheus(&text);
    // Other tests run alongside: at least the requests made here.
    assert!(count(&after, &search_labels) >= searches_before + 1.0);
    assert!(count(&after, &doc_labels) >= docs_before + 2.0);
    assert!(count(&after, &missing_labels) >= missing_before + 1.0);
    assert!(count(&after, &unmatched) >= unmatched_before + 1.0);
    // Raw paths never become labels.
    assert!(!text.contains(&doc_id), "a document id leaked into a label");
    // (A word, not digits: digits occur in any sample's value.)
    assert!(!text.contains("unmatched-path"));
    for s in after.iter().filter(|s| s.labels.contains_key("route")) {
        let route = &s.labels["route"];
        assert!(
            route == "unmatched" || api::routes().iter().any(|r| r.path == route),
            "route label {route:?} is not a template"
        );
    }
    // Latency histogram of the search route.
    let latency = find(
        &after,
        "zhengce_http_request_duration_seconds_count",
        &search_labels,
    )
    .expect("search latency histogram");
    assert!(latency.value >= 1.0);
    let sum = find(
        &after,
        "zhengce_http_request_duration_seconds_sum",
        &search_labels,
    )
    .unwrap();
    assert!(sum.value > 0.0);
    // Embedding: ingestion (batches of passages) and queries (batches of one).
    let batches = find(&after, "zhengce_embed_batch_size_count", &[]).expect("embed batches");
    assert!(batches.value >= 2.0, "{batches:?}");
    let sizes = find(&after, "zhengce_embed_batch_size_sum", &[]).unwrap();
    assert!(
        sizes.value > batches.value,
        "ingestion batches hold several passages"
    );
    assert!(
        find(&after, "zhengce_embed_batch_duration_seconds_sum", &[])
            .unwrap()
            .value
            > 0.0
    );
    assert!(find(&after, "zhengce_embed_batch_tokens_count", &[]).is_some());
    // Index sizes, as /api/stats has them.
    let stats = server().service.library().stats().unwrap();
    let gauge = |name: &str| {
        find(&after, name, &[])
            .unwrap_or_else(|| panic!("{name}"))
            .value
    };
    assert_eq!(gauge("zhengce_index_documents"), stats.documents as f64);
    assert_eq!(gauge("zhengce_index_passages"), stats.passages as f64);
    assert_eq!(
        gauge("zhengce_index_vectors"),
        (stats.dense_points - stats.dense_tombstones) as f64
    );
    assert!(text.contains("# TYPE zhengce_http_requests_total counter"));
    assert!(text.contains("# TYPE zhengce_http_request_duration_seconds histogram"));
    assert!(text.contains("# TYPE zhengce_index_passages gauge"));
    assert!(
        find(&after, "zhengce_query_cache_misses_total", &[])
            .unwrap()
            .value
            >= 1.0
    );
    // Every miss is one text in a shared model pass.
    let passes = gauge("zhengce_query_passes_total");
    let texts = gauge("zhengce_query_pass_texts_total");
    assert!(
        passes >= 1.0 && texts >= passes,
        "{passes} passes, {texts} texts"
    );
}

#[test]
fn the_prometheus_parser_rejects_malformed_text() {
    for bad in [
        "zhengce_x 1\n",                                  // no TYPE
        "# TYPE zhengce_x counter\nzhengce_x{a=\"1} 1\n", // broken label
        "# TYPE zhengce_x counter\nzhengce_x one\n",      // bad value
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 1\n",
    ] {
        assert!(
            std::panic::catch_unwind(|| parse_prometheus(bad)).is_err(),
            "accepted {bad:?}"
        );
    }
    let ok = parse_prometheus(
        "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3.5\nh_count 2\n",
    );
    assert_eq!(ok.len(), 4);
}

fn is_uuid(s: &str) -> bool {
    Regex::new(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
        .unwrap()
        .is_match(s)
}

fn request_id(resp: &Response) -> String {
    resp.headers()
        .get("x-request-id")
        .expect("x-request-id on the response")
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn request_ids_are_echoed_or_generated() {
    let c = client();
    // Generated, different each time, on answers of every kind.
    let a = request_id(&get("/healthz"));
    let b = request_id(&get("/healthz"));
    assert!(is_uuid(&a) && is_uuid(&b) && a != b, "{a} {b}");
    assert!(is_uuid(&request_id(&get("/nowhere"))));
    let refused = c.delete(url("/api/documents/x")).send().unwrap();
    assert_eq!(refused.status(), 401);
    assert!(is_uuid(&request_id(&refused)));
    // A client's id comes back as it was sent.
    for path in ["/healthz", "/api/search?k=0", "/nowhere"] {
        let resp = c
            .get(url(path))
            .header("x-request-id", "client-7f3a-q")
            .send()
            .unwrap();
        assert_eq!(request_id(&resp), "client-7f3a-q", "{path}");
    }
    // One that is too long, or has spaces, is replaced.
    for given in ["x".repeat(300), "two words".to_string()] {
        let resp = c
            .get(url("/healthz"))
            .header("x-request-id", &given)
            .send()
            .unwrap();
        assert!(is_uuid(&request_id(&resp)), "{given:?} kept");
    }
}

#[test]
fn each_request_is_logged_with_its_id_route_status_and_latency() {
    let id = "log-check-5d0e";
    let doc_id = first_doc_id();
    let resp = client()
        .get(url(&format!("/api/documents/{doc_id}")))
        .header("x-request-id", id)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = client()
        .get(url("/api/documents/no-such-doc"))
        .header("x-request-id", "log-check-404")
        .send()
        .unwrap();
    assert_eq!(resp.status(), 404);
    // The line is written when the response is sent, just before the client sees it.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let find_line = |needle: &str| loop {
        if let Some(l) = log_text().lines().find(|l| l.contains(needle)) {
            return l.to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no log line with {needle}:\n{}",
            log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let line = find_line(&format!("request_id={id}"));
    assert!(line.contains("INFO"), "{line}");
    assert!(line.contains("route=/api/documents/{id}"), "{line}");
    assert!(line.contains("method=GET"), "{line}");
    assert!(line.contains("status=200"), "{line}");
    let latency = Regex::new(r"latency_ms=([0-9.]+)").unwrap();
    let ms: f64 = latency.captures(&line).expect(&line)[1].parse().unwrap();
    assert!(ms > 0.0 && ms < 60_000.0, "{line}");
    assert!(
        !line.contains(&doc_id),
        "the raw path is not logged: {line}"
    );
    let line = find_line("request_id=log-check-404");
    assert!(line.contains("status=404"), "{line}");
}
