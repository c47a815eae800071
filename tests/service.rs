//! The search service end to end: a real server on a 127.0.0.1 port, the
//! real model, the bundled corpus. The corpus is embedded once for this whole
//! file (the shared [`server`]); tests that change the library take the
//! write side of [`LIBRARY_LOCK`] so the others see a stable state.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{OnceLock, RwLock};
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use reqwest::StatusCode;
use serde_json::{json, Value};
use zhengce::api::{self, ApiConfig, AppState};
use zhengce::corpus::to_simplified;

mod common;

const TOKEN: &str = "test-token-3f9a";

struct Server {
    base: String,
    data_dir: PathBuf,
    passages: usize,
}

/// Tests that add or delete documents hold the write side; tests comparing
/// counts hold the read side.
static LIBRARY_LOCK: RwLock<()> = RwLock::new(());

fn model_dir() -> PathBuf {
    zhengce::embed::default_model_dir()
}

/// The shared server: a fresh data dir, the bundled corpus ingested through
/// the same call `zhengce serve` makes on its first start, then the HTTP API
/// on an ephemeral loopback port, on its own runtime thread.
fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let common::Ingested {
            service,
            report,
            data_dir,
        } = common::ingested_service("service-test-data", &[]);
        assert!(report.added.len() >= 5, "{report:?}");
        let passages = report.passages;
        let state = AppState::new(
            service,
            ApiConfig {
                token: Some(TOKEN.into()),
                limits: api::Limits {
                    max_body_bytes: 1024 * 1024,
                },
                ..ApiConfig::default()
            },
        );
        let addr = common::serve(state);
        Server {
            base: format!("http://{addr}"),
            data_dir,
            passages,
        }
    })
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

fn get(path: &str) -> (StatusCode, Value) {
    let resp = client()
        .get(format!("{}{path}", server().base))
        .send()
        .unwrap();
    let status = resp.status();
    (status, resp.json().unwrap_or(Value::Null))
}

fn post_json(path: &str, body: &Value, token: Option<&str>) -> (StatusCode, Value) {
    let mut req = client().post(format!("{}{path}", server().base)).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().unwrap();
    let status = resp.status();
    (status, resp.json().unwrap_or(Value::Null))
}

fn delete(path: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut req = client().delete(format!("{}{path}", server().base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().unwrap();
    let status = resp.status();
    (status, resp.json().unwrap_or(Value::Null))
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

fn search(q: &str, extra: &str) -> Vec<Value> {
    let (status, body) = get(&format!("/api/search?q={}{extra}", enc(q)));
    assert_eq!(status, 200, "{body}");
    body["hits"].as_array().unwrap().clone()
}

/// Whether a hit's text holds `anchor` (given in simplified characters),
/// whatever the script of the report.
fn holds(hit: &Value, anchor: &str) -> bool {
    let text: String = to_simplified(hit["text"].as_str().unwrap())
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    text.contains(anchor)
}

fn rank_of(hits: &[Value], anchor: &str) -> Option<usize> {
    hits.iter().position(|h| holds(h, anchor)).map(|i| i + 1)
}

fn assert_hit_shape(h: &Value) {
    for field in [
        "passage_id",
        "text",
        "district",
        "city",
        "province",
        "year",
        "doc_id",
        "section_path",
        "score",
        "highlights",
        "retrievers",
    ] {
        assert!(h.get(field).is_some(), "hit lacks `{field}`: {h}");
    }
    assert!(h["section_path"].is_array() && h["score"].is_number());
}

#[test]
fn three_scripts_find_the_known_passages() {
    let _r = LIBRARY_LOCK.read().unwrap_or_else(|e| e.into_inner());
    // simplified question, traditional report (六盘水)
    let hits = search("六盘水市的粮食单产是每亩多少公斤？", "&k=10");
    hits.iter().for_each(assert_hit_shape);
    assert!(
        rank_of(&hits, "粮食单产236公斤").is_some(),
        "simplified: {hits:#?}"
    );
    // traditional question, simplified report (南岸)
    let hits = search("南岸區如何建設生活垃圾分類收運處置體系？", "&k=10");
    assert!(
        rank_of(&hits, "生活垃圾分类收运处置体系").is_some(),
        "traditional: {hits:#?}"
    );
    // English question
    let hits = search("grain yield per mu in Liupanshui", "&k=10");
    assert!(
        rank_of(&hits, "粮食单产236公斤").is_some(),
        "english: {hits:#?}"
    );
    // each retriever answers on its own, and says so
    for mode in ["dense", "lexical"] {
        let hits = search("垃圾分类", &format!("&mode={mode}&k=5"));
        assert!(!hits.is_empty(), "{mode}");
        for h in &hits {
            let by: Vec<&str> = h["retrievers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect();
            assert!(by.contains(&mode), "{mode}: {by:?}");
        }
    }
    let hits = search("垃圾分类", "&mode=lexical&k=5");
    assert!(
        hits.iter()
            .any(|h| !h["highlights"].as_array().unwrap().is_empty()),
        "lexical hits carry highlighted spans: {hits:#?}"
    );
}

#[test]
fn group_by_district_spans_districts_best_first() {
    let _r = LIBRARY_LOCK.read().unwrap_or_else(|e| e.into_inner());
    let (status, body) = get(&format!(
        "/api/search?q={}&group=district&per_group=2&k=10",
        enc("老年人助餐服务和养老")
    ));
    assert_eq!(status, 200, "{body}");
    let groups = body["groups"].as_array().expect("groups");
    assert!(groups.len() >= 3, "{body:#}");
    let mut best_scores = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for g in groups {
        let d = g["district"].as_str().unwrap();
        assert!(seen.insert(d.to_string()), "district {d} twice");
        let hits = g["hits"].as_array().unwrap();
        assert!(!hits.is_empty() && hits.len() <= 2, "{g:#}");
        for h in hits {
            assert_eq!(h["district"], d);
        }
        let relevant = g["relevant"].as_bool().expect("relevant flag");
        let estimates: Vec<f64> = hits
            .iter()
            .map(|h| h["relevance"].as_f64().expect("relevance"))
            .collect();
        assert!(estimates.iter().all(|r| (0.0..=1.0).contains(r)), "{g:#}");
        assert_eq!(
            relevant,
            estimates.iter().any(|&r| r >= 0.5),
            "a group is relevant when one of its hits is: {g:#}"
        );
        best_scores.push((!relevant, -hits[0]["score"].as_f64().unwrap()));
    }
    // Districts whose reports address the question first, each part by best
    // score.
    assert!(
        best_scores.windows(2).all(|w| w[0] <= w[1]),
        "districts ordered by relevance, then best score: {best_scores:?}"
    );
    assert!(
        groups.iter().any(|g| g["relevant"] == true),
        "some district's report addresses elderly meals: {body:#}"
    );
    let flat = body["hits"].as_array().unwrap();
    assert_eq!(
        flat.len(),
        groups
            .iter()
            .map(|g| g["hits"].as_array().unwrap().len())
            .sum::<usize>()
    );
}

#[test]
fn find_similar_leaves_out_the_source_district() {
    let _r = LIBRARY_LOCK.read().unwrap_or_else(|e| e.into_inner());
    let source = &search("新增公共停车位", "&k=1&mode=lexical")[0];
    let district = source["district"].as_str().unwrap().to_string();
    let (status, body) = post_json(
        "/api/similar",
        &json!({"passage_id": source["passage_id"], "k": 5}),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let hits = body["hits"].as_array().unwrap();
    assert!(hits.len() >= 2, "{body:#}");
    let mut districts = std::collections::HashSet::new();
    for h in hits {
        assert_ne!(h["district"], district.as_str(), "{h:#}");
        assert_ne!(h["doc_id"], source["doc_id"]);
        assert!(
            districts.insert(h["district"].to_string()),
            "one per district by default"
        );
    }
    // pasted text and explicit inclusion of the same district
    let (status, body) = post_json(
        "/api/similar",
        &json!({"text": "深化停车综合治理改革", "k": 5, "per_district": 2, "negative": ["充电桩"]}),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert!(!body["hits"].as_array().unwrap().is_empty());
}

#[test]
fn filters_and_facets_agree_with_the_store() {
    let _r = LIBRARY_LOCK.read().unwrap_or_else(|e| e.into_inner());
    let (_, facets) = get("/api/facets");
    let (_, stats) = get("/api/stats");
    let (_, docs) = get("/api/documents");
    let docs = docs["documents"].as_array().unwrap().clone();
    assert_eq!(facets["total_passages"], stats["passages"]);
    assert_eq!(
        stats["passages"].as_u64().unwrap() as usize,
        server().passages
    );
    assert_eq!(
        facets["total_documents"].as_u64().unwrap() as usize,
        docs.len()
    );
    let by_district = facets["district"].as_object().unwrap();
    assert!(by_district.len() >= 5, "{facets:#}");
    for (district, count) in by_district {
        let in_docs: u64 = docs
            .iter()
            .filter(|d| d["district"] == district.as_str())
            .map(|d| d["passages"].as_u64().unwrap())
            .sum();
        assert_eq!(count.as_u64().unwrap(), in_docs, "{district}");
        // the filtered facets count that district only
        let (_, f) = get(&format!("/api/facets?district={}", enc(district)));
        assert_eq!(f["total_passages"], *count, "{district}");
        // a filtered search only returns that district
        let hits = search("经济发展", &format!("&k=20&district={}", enc(district)));
        assert!(!hits.is_empty(), "{district}");
        assert!(
            hits.iter().all(|h| h["district"] == district.as_str()),
            "{district}"
        );
        let (_, listed) = get(&format!("/api/documents?district={}", enc(district)));
        assert!(listed["documents"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["district"] == district.as_str()));
    }
    for (year, count) in facets["year"].as_object().unwrap() {
        let (_, f) = get(&format!("/api/facets?year={year}"));
        assert_eq!(f["total_passages"], *count, "{year}");
        let hits = search("经济发展", &format!("&k=20&year={year}"));
        let y: i64 = year.parse().unwrap();
        assert!(
            !hits.is_empty() && hits.iter().all(|h| h["year"] == y),
            "{year}"
        );
    }
    // a document with its passages
    let d = &docs[0];
    let (status, full) = get(&format!("/api/documents/{}", d["doc_id"].as_str().unwrap()));
    assert_eq!(status, 200);
    assert_eq!(
        full["passages"].as_array().unwrap().len() as u64,
        d["passages"].as_u64().unwrap()
    );
}

#[test]
fn malformed_requests_get_4xx_json() {
    let long = "政".repeat(5000);
    let cases: Vec<(reqwest::blocking::RequestBuilder, u16)> = {
        let c = client();
        let b = &server().base;
        vec![
            (c.get(format!("{b}/api/search")), 400),
            (c.get(format!("{b}/api/search?q=")), 400),
            (c.get(format!("{b}/api/search?q=x&k=0")), 400),
            (c.get(format!("{b}/api/search?q=x&k=100000")), 400),
            (c.get(format!("{b}/api/search?q=x&k=ten")), 400),
            (c.get(format!("{b}/api/search?q=x&mode=psychic")), 400),
            (c.get(format!("{b}/api/search?q=x&group=planet")), 400),
            (c.get(format!("{b}/api/search?q=x&year=1899")), 400),
            (c.get(format!("{b}/api/search?q={}", enc(&long))), 400),
            (c.get(format!("{b}/api/documents/0000000000000000")), 404),
            (c.get(format!("{b}/api/nowhere")), 404),
            (c.put(format!("{b}/api/search")), 405),
            (
                c.post(format!("{b}/api/similar"))
                    .header("content-type", "application/json")
                    .body("{not json"),
                400,
            ),
            (c.post(format!("{b}/api/similar")).json(&json!({})), 400),
            (
                c.post(format!("{b}/api/similar"))
                    .json(&json!({"passage_id": "ffffffffffffffff-9999"})),
                404,
            ),
            (
                c.post(format!("{b}/api/similar"))
                    .json(&json!({"text": "x", "k": -1})),
                422,
            ),
            (c.post(format!("{b}/api/similar")).body("text=x"), 415),
            (
                c.post(format!("{b}/api/documents"))
                    .bearer_auth(TOKEN)
                    .body("plain"),
                415,
            ),
            (
                c.post(format!("{b}/api/documents"))
                    .bearer_auth(TOKEN)
                    .json(&json!({"text": ""})),
                400,
            ),
            (
                c.post(format!("{b}/api/documents"))
                    .bearer_auth(TOKEN)
                    .header("content-type", "application/json")
                    .body(vec![b' '; 2 * 1024 * 1024]),
                413,
            ),
        ]
    };
    for (req, want) in cases {
        let req = req.build().unwrap();
        let what = format!("{} {}", req.method(), req.url());
        let resp = client().execute(req).unwrap();
        assert_eq!(resp.status().as_u16(), want, "{what}");
        let body: Value = resp
            .json()
            .unwrap_or_else(|e| panic!("{what}: not JSON: {e}"));
        assert!(
            body["error"].is_string() && body["code"].is_string(),
            "{what}: {body}"
        );
    }
}

#[test]
fn writes_without_the_token_are_refused() {
    let _w = LIBRARY_LOCK.write().unwrap_or_else(|e| e.into_inner());
    let (_, before) = get("/api/stats");
    let doc = json!({"text": "测试区2025年政府工作报告\n一、工作回顾\n测试区新建了许多测试设施。"});
    for token in [None, Some("wrong-token")] {
        let (status, body) = post_json("/api/documents", &doc, token);
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["code"], "unauthorized");
    }
    let (_, docs) = get("/api/documents");
    let id = docs["documents"][0]["doc_id"].as_str().unwrap().to_string();
    let (status, _) = delete(&format!("/api/documents/{id}"), None);
    assert_eq!(status, 401);
    let (_, after) = get("/api/stats");
    assert_eq!(before["documents"], after["documents"]);
    assert_eq!(before["passages"], after["passages"]);
    // reads stay open
    assert_eq!(get("/healthz").0, 200);
}

/// `POST /api/documents` with the token: a multipart form with `file`
/// (name, bytes) and `meta` (JSON text) when given.
fn upload(file: Option<(&str, Vec<u8>)>, meta: Option<String>) -> reqwest::blocking::Response {
    let mut form = reqwest::blocking::multipart::Form::new();
    if let Some((name, bytes)) = file {
        form = form.part(
            "file",
            reqwest::blocking::multipart::Part::bytes(bytes).file_name(name.to_string()),
        );
    }
    if let Some(m) = meta {
        form = form.text("meta", m);
    }
    client()
        .post(format!("{}/api/documents", server().base))
        .bearer_auth(TOKEN)
        .multipart(form)
        .send()
        .unwrap()
}

#[test]
fn bad_uploads_change_nothing() {
    let _w = LIBRARY_LOCK.write().unwrap_or_else(|e| e.into_inner());
    let (_, before) = get("/api/stats");
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let resp = upload(Some(("noise.bin", garbage)), None);
    let status = resp.status();
    let body: Value = resp.json().unwrap();
    assert!(status.is_client_error(), "{status} {body}");
    assert!(
        body["error"].as_str().unwrap().contains("noise.bin"),
        "{body}"
    );
    let resp = upload(None, Some("{}".into()));
    assert_eq!(resp.status(), 400);
    let (_, after) = get("/api/stats");
    assert_eq!(before["passages"], after["passages"]);
    assert_eq!(before["generation"], after["generation"]);
}

/// A report no bundled district has: its passages can be told apart.
const PROBE_REPORT: &str = "2025年示例县政府工作报告\n\
一、2024年工作回顾\n\
示例县建成海水稻试验田一千二百亩，推广盐碱地海水稻种植技术，带动农户增收。\n\
二、2025年工作安排\n\
继续扩大海水稻种植规模，建设海水稻加工基地和品牌展示中心。\n";

#[test]
fn upload_then_delete_leaves_no_trace_in_any_retriever() {
    let _w = LIBRARY_LOCK.write().unwrap_or_else(|e| e.into_inner());
    let (_, before) = get("/api/stats");
    let resp = upload(
        Some(("probe.txt", PROBE_REPORT.as_bytes().to_vec())),
        Some(
            json!({"district": "示例县", "city": "示例市", "province": "示例省", "year": 2025})
                .to_string(),
        ),
    );
    assert_eq!(resp.status(), 201);
    let stored: Value = resp.json().unwrap();
    let doc_id = stored["doc_id"].as_str().unwrap().to_string();
    assert_eq!(stored["district"], "示例县");
    let found = |mode: &str| -> Vec<String> {
        search("海水稻种植", &format!("&mode={mode}&k=20"))
            .iter()
            .filter(|h| h["doc_id"] == doc_id.as_str())
            .map(|h| h["passage_id"].as_str().unwrap().to_string())
            .collect()
    };
    for mode in ["dense", "lexical", "hybrid"] {
        assert!(!found(mode).is_empty(), "{mode} finds the new document");
    }
    let (_, f) = get(&format!("/api/facets?district={}", enc("示例县")));
    assert!(f["total_passages"].as_u64().unwrap() > 0);

    let (status, body) = delete(&format!("/api/documents/{doc_id}"), Some(TOKEN));
    assert_eq!(status, 200, "{body}");
    for mode in ["dense", "lexical", "hybrid"] {
        assert_eq!(found(mode), Vec::<String>::new(), "{mode} after delete");
    }
    let (_, body) = post_json(
        "/api/similar",
        &json!({"text": "海水稻种植", "k": 20, "per_district": 5}),
        None,
    );
    assert!(body["hits"]
        .as_array()
        .unwrap()
        .iter()
        .all(|h| h["doc_id"] != doc_id.as_str()));
    assert_eq!(get(&format!("/api/documents/{doc_id}")).0, 404);
    assert_eq!(
        delete(&format!("/api/documents/{doc_id}"), Some(TOKEN)).0,
        404
    );
    let (_, f) = get(&format!("/api/facets?district={}", enc("示例县")));
    assert_eq!(f["total_passages"], 0);
    let (_, after) = get("/api/stats");
    assert_eq!(before["passages"], after["passages"]);
    assert_eq!(before["documents"], after["documents"]);
}

/// An upload naming another district gets that district's city and province
/// from the divisions table, as a sidecar naming it does: the parents
/// inferred for the report's own district (南宁市, 广西) go with it.
#[test]
fn an_upload_naming_another_district_takes_its_city_and_province() {
    let _w = LIBRARY_LOCK.write().unwrap_or_else(|e| e.into_inner());
    let report = "南宁市西乡塘区2025年政府工作报告\n\
——2025年1月10日在南宁市西乡塘区第十七届人民代表大会第五次会议上\n\
区长  张某某\n\
各位代表：\n\
现在，我代表区人民政府，向大会报告工作，请予审议。\n\
一、2024年工作回顾\n\
西乡塘区建成智慧停车泊位三千二百个，完成老旧小区电梯加装一百四十部。\n\
二、2025年工作安排\n\
继续推进智慧停车和老旧小区电梯加装，新增停车泊位两千个。\n";
    let upload = |meta: Option<Value>| {
        let resp = upload(
            Some(("parking.txt", report.as_bytes().to_vec())),
            meta.map(|m| m.to_string()),
        );
        assert!(resp.status().is_success(), "{}", resp.status());
        resp.json::<Value>().unwrap()
    };
    // As parsed: the report's own place.
    let inferred = upload(None);
    assert_eq!(inferred["district"], "西乡塘区", "{inferred}");
    assert_eq!(inferred["city"], "南宁市", "{inferred}");
    // The same content again, naming another district: stored over it.
    let moved = upload(Some(json!({"district": "南明区"})));
    assert_eq!(moved["doc_id"], inferred["doc_id"]);
    assert_eq!(moved["outcome"], "replaced");
    let doc_id = moved["doc_id"].as_str().unwrap().to_string();
    let (status, stored) = get(&format!("/api/documents/{doc_id}"));
    assert_eq!(status, 200);
    for body in [&moved, &stored] {
        assert_eq!(body["district"], "南明区", "{body}");
        assert_eq!(body["city"], "贵阳市", "{body}");
        assert_eq!(body["province"], "贵州省", "{body}");
    }
    assert_eq!(stored["confidence"]["district"], 1.0);
    let (_, listed) = get(&format!("/api/documents?city={}", enc("贵阳市")));
    assert!(listed["documents"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["doc_id"] == doc_id.as_str()));
    let (status, body) = delete(&format!("/api/documents/{doc_id}"), Some(TOKEN));
    assert_eq!(status, 200, "{body}");
}

/// A `zhengce serve` child process, killed when dropped.
struct Child_(Child);

impl Drop for Child_ {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn restart_keeps_the_index() {
    // Read side: the second process only reads the shared data dir.
    let _r = LIBRARY_LOCK.read().unwrap_or_else(|e| e.into_inner());
    let q = "六盘水市的粮食单产是每亩多少公斤？";
    let first: Vec<Value> = search(q, "&k=5");
    let started = Instant::now();
    let mut child = Child_(
        Command::new(env!("CARGO_BIN_EXE_zhengce"))
            .args(["--data-dir"])
            .arg(&server().data_dir)
            .arg("--model")
            .arg(model_dir())
            .args(["serve", "--addr", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start zhengce serve"),
    );
    let stderr = child.0.stderr.take().unwrap();
    let mut log = String::new();
    let mut addr = None;
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        log.push_str(&line);
        log.push('\n');
        if let Some(rest) = line.split("on http://").nth(1) {
            addr = rest.split_whitespace().next().map(str::to_string);
            break;
        }
    }
    let addr = addr.unwrap_or_else(|| panic!("server did not start:\n{log}"));
    let ready = started.elapsed();
    assert!(!log.contains("ingesting"), "restart re-ingested:\n{log}");
    let body: Value = client()
        .get(format!("http://{addr}/api/search?q={}&k=5", enc(q)))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let ids = |hits: &[Value]| -> Vec<String> {
        hits.iter()
            .map(|h| h["passage_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(body["hits"].as_array().unwrap()), ids(&first));
    // Figures, not a timed assertion: a loaded CI machine may be slower.
    eprintln!("restart to listening: {:.2} s", ready.as_secs_f64());
}

// ---- summaries and targets (POST /api/summarize, GET /api/targets) ----

fn no_ws(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Every summary sentence must stand verbatim (modulo whitespace) in the
/// passage it cites: checked against the stored document.
fn assert_cited_verbatim(
    sentences: &[Value],
    docs: &mut std::collections::HashMap<String, Value>,
) -> usize {
    for s in sentences {
        for field in ["text", "passage_id", "doc_id", "district", "section_path"] {
            assert!(
                s.get(field).is_some(),
                "summary sentence lacks `{field}`: {s}"
            );
        }
        let doc_id = s["doc_id"].as_str().unwrap().to_string();
        let doc = docs.entry(doc_id.clone()).or_insert_with(|| {
            let (status, body) = get(&format!("/api/documents/{doc_id}"));
            assert_eq!(status, 200, "{body}");
            body
        });
        let passage = doc["passages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["passage_id"] == s["passage_id"])
            .unwrap_or_else(|| panic!("cited passage missing: {s}"));
        assert!(
            no_ws(passage["text"].as_str().unwrap()).contains(&no_ws(s["text"].as_str().unwrap())),
            "sentence not verbatim in its passage:\n{s}\n{passage}"
        );
    }
    sentences.len()
}

#[test]
fn summaries_quote_their_passages_verbatim() {
    let _read = LIBRARY_LOCK.read().unwrap();
    let mut docs = std::collections::HashMap::new();
    let mut checked = 0;
    for query in [
        "河湖长制",
        "老年食堂和社区老年助餐",
        "營商環境",
        "数字经济和人工智能",
        "How do districts plan to boost consumption?",
        "城市更新 老旧小区改造",
        "招商引资",
        "高考成绩和教育质量",
    ] {
        let (status, body) = post_json(
            "/api/summarize",
            &json!({"query": query, "max_sentences": 3}),
            None,
        );
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(body["kind"], "topic");
        for d in body["districts"].as_array().unwrap() {
            let sentences = d["sentences"].as_array().unwrap();
            assert!(sentences.len() <= 3);
            for s in sentences {
                assert_eq!(s["district"], d["district"], "{s}");
            }
            checked += assert_cited_verbatim(sentences, &mut docs);
        }
        for c in body["in_common"].as_array().unwrap() {
            let sentences = c["sentences"].as_array().unwrap();
            assert!(sentences.len() >= 2, "{c}");
            checked += assert_cited_verbatim(sentences, &mut docs);
        }
    }
    // Every bundled document summarised, within the budget, in document order.
    let (_, list) = get("/api/documents");
    for d in list["documents"].as_array().unwrap() {
        let (status, body) = post_json(
            "/api/summarize",
            &json!({"doc_id": d["doc_id"], "max_sentences": 10}),
            None,
        );
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["kind"], "document");
        let sentences: Vec<Value> = body["sections"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["sentences"].as_array().unwrap().clone())
            .collect();
        assert!(!sentences.is_empty() && sentences.len() <= 10, "{body}");
        checked += assert_cited_verbatim(&sentences, &mut docs);
    }
    assert!(checked >= 60, "only {checked} sentences checked");
}

#[test]
fn a_topic_found_in_three_districts_names_three() {
    let _read = LIBRARY_LOCK.read().unwrap();
    // 河湖长制 is in the reports of 麒麟区, 南岸区 and 六盘水市.
    let (status, body) = post_json("/api/summarize", &json!({"query": "落实河湖长制"}), None);
    assert_eq!(status, 200, "{body}");
    let named: Vec<&str> = body["districts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| {
            d["sentences"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| to_simplified(s["text"].as_str().unwrap()).contains("河"))
        })
        .map(|d| d["district"].as_str().unwrap())
        .collect();
    for d in ["麒麟区", "南岸区", "六盘水市"] {
        assert!(named.contains(&d), "{d} missing from {named:?}");
    }
    // The same request gives the same summary.
    let (_, again) = post_json("/api/summarize", &json!({"query": "落实河湖长制"}), None);
    assert_eq!(body, again);
}

#[test]
fn relevance_separates_what_reports_say_from_what_they_do_not() {
    let _r = LIBRARY_LOCK.read().unwrap_or_else(|e| e.into_inner());
    // Sea ranching: no bundled report speaks of it, so no district addresses
    // it, though every district has nearest passages.
    let (status, body) = get(&format!(
        "/api/search?q={}&group=district&k=10",
        enc("海洋牧场建设")
    ));
    assert_eq!(status, 200, "{body}");
    let groups = body["groups"].as_array().unwrap();
    assert!(!groups.is_empty(), "{body:#}");
    assert!(
        groups.iter().all(|g| g["relevant"] == false),
        "no district addresses sea ranching: {body:#}"
    );
    // River chiefs: three reports speak of them; their best hits are relevant
    // and come before the districts that only hold near passages.
    let (_, body) = get(&format!("/api/search?q={}&k=10", enc("河湖长制")));
    let hits = body["hits"].as_array().unwrap();
    let relevant: Vec<&Value> = hits
        .iter()
        .filter(|h| h["relevance"].as_f64().unwrap() >= 0.5)
        .collect();
    assert!(!relevant.is_empty(), "{body:#}");
    for h in &relevant {
        let text = to_simplified(h["text"].as_str().unwrap());
        assert!(
            text.contains("河") || text.contains("湖"),
            "a hit judged relevant to river chiefs speaks of rivers: {h}"
        );
    }
}

#[test]
fn a_topic_no_report_mentions_gives_an_empty_summary() {
    let _read = LIBRARY_LOCK.read().unwrap();
    let (_, list) = get("/api/documents");
    let mut all: Vec<String> = list["documents"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["district"].as_str().map(str::to_string))
        .collect();
    all.sort();
    all.dedup();
    // No bundled report speaks of sea ranching or of a space programme.
    for query in ["海洋牧场建设", "载人航天发射场"] {
        let (status, body) = post_json("/api/summarize", &json!({"query": query}), None);
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["districts"], json!([]), "{query}: {body:#}");
        assert_eq!(body["in_common"], json!([]), "{query}: {body:#}");
        let mut missing: Vec<String> = body["not_mentioned"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_string())
            .collect();
        missing.sort();
        assert_eq!(missing, all, "{query}: every district searched is listed");
    }
    // A topic some reports speak of: summarised and unmentioned districts
    // split the districts searched between them.
    let (_, body) = post_json("/api/summarize", &json!({"query": "落实河湖长制"}), None);
    let mut named: Vec<String> = body["districts"]
        .as_array()
        .unwrap()
        .iter()
        .chain(body["not_mentioned"].as_array().unwrap())
        .map(|d| d["district"].as_str().or(d.as_str()).unwrap().to_string())
        .collect();
    named.sort();
    assert_eq!(named, all, "{body:#}");
}

#[test]
fn targets_table_lines_up_districts() {
    let _read = LIBRARY_LOCK.read().unwrap();
    // Traditional spelling of the indicator finds the normalised rows.
    let (status, body) = get(&format!("/api/targets?indicator={}", enc("地區生產總值")));
    assert_eq!(status, 200, "{body}");
    let rows = body["rows"].as_array().unwrap();
    assert!(
        rows.iter().all(|r| r["indicator"] == "地区生产总值"),
        "{body}"
    );
    for field in [
        "indicator",
        "value",
        "unit",
        "qualifier",
        "kind",
        "year",
        "district",
        "passage_id",
        "sentence",
    ] {
        assert!(
            rows.iter().all(|r| r.get(field).is_some()),
            "rows lack {field}"
        );
    }
    let has = |district: &str, kind: &str, year: i64, value: f64| {
        rows.iter().any(|r| {
            r["district"] == district
                && r["kind"] == kind
                && r["year"] == year
                && r["value"].as_f64() == Some(value)
                && r["unit"] == "%"
        })
    };
    assert!(has("南岸区", "target", 2024, 6.0));
    assert!(has("六盘水市", "achieved", 2023, 3.2));
    assert!(has("西乡塘区", "target", 2025, 5.0));
    assert!(has("麒麟区", "target", 2023, 8.0));
    let districts = body["districts"].as_array().unwrap();
    assert!(districts.len() >= 4, "{districts:?}");

    // Any text is a well-formed indicator name; one the lexicon does not
    // know is not found.
    let (status, body) = get(&format!("/api/targets?indicator={}", enc("幸福指数")));
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "unknown_indicator");
    assert!(body["error"].as_str().unwrap().contains("幸福指数"));
}

#[test]
fn bad_summary_requests_get_4xx_json() {
    let _read = LIBRARY_LOCK.read().unwrap();
    for (body, want) in [
        (json!({}), 400),
        (json!({"query": "养老", "doc_id": "x"}), 400),
        (json!({"query": "养老", "max_sentences": 0}), 400),
        (json!({"doc_id": "0000000000000000"}), 404),
        (json!({"query": 5}), 422),
    ] {
        let (status, resp) = post_json("/api/summarize", &body, None);
        assert_eq!(status.as_u16(), want, "{body} → {resp}");
        assert!(
            resp["error"].is_string() && resp["code"].is_string(),
            "{resp}"
        );
    }
}

#[test]
fn the_page_is_served_from_the_binary() {
    let resp = client().get(format!("{}/", server().base)).send().unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let body = resp.text().unwrap();
    assert!(body.contains("/api/search") && body.contains("/api/summarize"));
}

#[test]
fn a_place_named_in_the_question_narrows_the_search() {
    let _r = LIBRARY_LOCK.read().unwrap_or_else(|e| e.into_inner());
    for q in [
        "麒麟区2022年高考600分以上有多少人？",
        "麒麟區2022年高考600分以上有多少人？",
        "How many students in Qilin District scored above 600 in the college entrance exam?",
    ] {
        let (status, body) = get(&format!("/api/search?q={}&k=5", enc(q)));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["place"]["name"], "麒麟区", "{q}: {body:#}");
        assert_eq!(body["place"]["level"], "district", "{q}");
        let hits = body["hits"].as_array().unwrap();
        assert!(!hits.is_empty(), "{q}");
        assert!(
            hits.iter().all(|h| h["district"] == "麒麟区"),
            "{q}: {body:#}"
        );
    }
    // The Chinese question finds the answer at the top once narrowed.
    let hits = search("麒麟区2022年高考600分以上有多少人？", "&k=5");
    assert_eq!(rank_of(&hits, "高考600分以上"), Some(1), "{hits:#?}");
    // Switched off, the place is just words and other districts come back.
    let (status, body) = get(&format!(
        "/api/search?q={}&k=20&infer_places=false",
        enc("麒麟区新建学校")
    ));
    assert_eq!(status, 200, "{body}");
    assert!(body.get("place").is_none(), "{body:#}");
    assert!(
        body["hits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["district"] != "麒麟区"),
        "{body:#}"
    );
    // A question naming two districts compares them: no filter.
    let (_, body) = get(&format!(
        "/api/search?q={}&k=5",
        enc("南岸区和麒麟区的养老服务")
    ));
    assert!(body.get("place").is_none(), "{body:#}");
    // English over Chinese reports: the lexical side sees only the
    // translations the library holds, and is weighted down by the share of
    // the question they leave out.
    let (_, body) = get(&format!(
        "/api/search?q={}&k=5",
        enc("Which places are developing hydrogen energy?")
    ));
    assert!(body["lexical_weight"].as_f64().unwrap() < 0.5, "{body:#}");
    let (_, body) = get(&format!("/api/search?q={}&k=5", enc("推进农村户厕改造")));
    assert!(body["lexical_weight"].as_f64().unwrap() > 0.8, "{body:#}");
}

/// Figure questions over the bundled reports: the card holds the figure the
/// place's own report states for the year asked, with its sentence; an
/// unstated figure, an unknown year or place, or a question asking for no
/// figure gets none. The passages come below as for any search.
#[test]
fn figure_questions_get_an_answer_card() {
    let _r = LIBRARY_LOCK.read().unwrap_or_else(|e| e.into_inner());
    for (q, figure, qualifier, kind, place, anchor) in [
        (
            "六盤水市2024年固定資產投資預期增長多少？",
            4.5,
            Some("左右"),
            "target",
            "六盘水市",
            "固定資產投資增長4.5%左右",
        ),
        (
            "How much did Nan'an District's general public budget revenue grow in 2023?",
            15.3,
            None,
            "achieved",
            "南岸区",
            "一般公共预算收入增长15.3%",
        ),
        (
            "麒麟区2022年新增城镇就业多少人？",
            1.11,
            None,
            "achieved",
            "麒麟区",
            "新增城鎮就業1.11萬人",
        ),
        (
            "西乡塘区2025年粮食产量目标是多少？",
            6.0,
            Some("以上"),
            "target",
            "西乡塘区",
            "粮食产量6万吨以上",
        ),
    ] {
        let (status, body) = get(&format!("/api/search?q={}&k=5", enc(q)));
        assert_eq!(status, 200, "{body}");
        let a = &body["answer"];
        assert_eq!(a["figure"].as_f64(), Some(figure), "{q}: {a:#}");
        assert_eq!(a["qualifier"].as_str(), qualifier, "{q}: {a:#}");
        assert_eq!(a["kind"], kind, "{q}: {a:#}");
        assert_eq!(a["place"], place, "{q}: {a:#}");
        assert!(
            a["sentence"].as_str().unwrap().contains(anchor),
            "{q}: {a:#}"
        );
        // The cited passage exists and holds the sentence verbatim.
        let (status, doc) = get(&format!("/api/documents/{}", a["doc_id"].as_str().unwrap()));
        assert_eq!(status, 200, "{doc}");
        let cited = doc["passages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["passage_id"] == a["passage_id"])
            .unwrap_or_else(|| panic!("{q}: cited passage not in its document"));
        assert!(
            cited["text"].as_str().unwrap().contains(anchor),
            "{q}: {cited:#}"
        );
        assert!(!body["hits"].as_array().unwrap().is_empty(), "{q}");
    }
    for q in [
        "南明区2024年社会消费品零售总额预期增长多少？",
        "南岸区2031年GDP增长目标是多少？",
        "南岸区如何稳住外贸规模？",
        "What is the GDP growth target of Hangzhou for 2024?",
    ] {
        let (status, body) = get(&format!("/api/search?q={}&k=5", enc(q)));
        assert_eq!(status, 200, "{body}");
        assert!(body.get("answer").is_none(), "{q}: {body:#}");
    }
}

#[test]
fn pasted_text_from_a_report_counts_as_its_passage() {
    let _r = LIBRARY_LOCK.read().unwrap_or_else(|e| e.into_inner());
    let source = &search("新增公共停车位", "&k=1&mode=lexical")[0];
    let district = source["district"].as_str().unwrap().to_string();
    // A clause of the passage, with its punctuation made ASCII as a copy
    // from a PDF often is.
    let text: String = source["text"]
        .as_str()
        .unwrap()
        .chars()
        .take(40)
        .map(|c| match c {
            '，' => ',',
            '。' => '.',
            '、' => ',',
            c => c,
        })
        .collect();
    let (status, body) = post_json("/api/similar", &json!({"text": text, "k": 5}), None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["source"]["passage_id"], source["passage_id"],
        "{body:#}"
    );
    let hits = body["hits"].as_array().unwrap();
    assert!(hits.len() >= 2, "{body:#}");
    for h in hits {
        assert_ne!(h["district"], district.as_str(), "{h:#}");
    }
    // Text that is in no report has no source and excludes nothing.
    let (status, body) = post_json(
        "/api/similar",
        &json!({"text": "在全市推广共享单车电子围栏，规范停放秩序", "k": 5}),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.get("source").is_none(), "{body:#}");
}

/// Where schemathesis found the description and the server disagreeing:
/// each case now answers as the description says.
#[test]
fn the_server_holds_to_its_description() {
    let _read = LIBRARY_LOCK.read().unwrap();
    let status_code = |(s, v): (StatusCode, Value)| (s.as_u16(), v["code"].clone(), v);

    // Bytes that are not UTF-8, and control characters, are refused by name.
    let (s, code, v) = status_code(get("/api/search?q=%FF%FE"));
    assert_eq!((s, code.as_str()), (400, Some("invalid_encoding")), "{v}");
    assert!(v["error"].as_str().unwrap().contains("`q`"), "{v}");
    let (s, _, v) = status_code(get("/api/facets?district=%E5%8D%97%00"));
    assert_eq!(s, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("district"), "{v}");
    // Years outside 1900–2200 are refused, reversed ranges read as the span.
    assert_eq!(get("/api/documents?year_from=28").0, 400);
    let (s, forward) = get("/api/facets?year=2023-2024");
    assert_eq!(s, 200);
    assert_eq!(get("/api/facets?year=2024-2023").1, forward);
    // Facet years are keyed by text, as the description now says.
    let doc: Value = client()
        .get(format!("{}/openapi.json", server().base))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let year_schema = &doc["components"]["schemas"]["FacetCounts"]["properties"]["year"];
    assert_ne!(
        year_schema["propertyNames"]["type"], "integer",
        "{year_schema}"
    );
    assert_eq!(
        year_schema["additionalProperties"]["type"], "integer",
        "{year_schema}"
    );
    assert!(!get("/api/facets").1["year"].as_object().unwrap().is_empty());

    // An integer written as 5.0 is an integer.
    let (s, v) = post_json(
        "/api/similar",
        &json!({"text": "推进农村户厕改造", "k": 5.0, "per_district": 1.0}),
        None,
    );
    assert_eq!(s, 200, "{v}");
    assert!(!v["hits"].as_array().unwrap().is_empty());
    for (body, want) in [
        (json!({"text": "推进农村户厕改造", "k": 0}), 400),
        (json!({"text": "推进农村户厕改造", "k": 5.5}), 422),
        (json!({"text": "推进农村户厕改造", "per_district": 0}), 400),
        (json!({"passage_id": "x", "text": "推进农村户厕改造"}), 400),
        (json!({"text": "推进\u{0}农村"}), 400),
        (
            json!({"text": "推进农村户厕改造", "district": "南岸区\u{7}"}),
            400,
        ),
    ] {
        let (s, v) = post_json("/api/similar", &body, None);
        assert_eq!(s.as_u16(), want, "{body}: {v}");
        assert!(v["code"].is_string(), "{body}: {v}");
    }
    for (body, want) in [
        (json!({"query": "河湖长制", "filters": [null, null]}), 422),
        (json!({"query": "河湖长制", "filters": null}), 422),
        (json!({"query": "河湖长制", "max_districts": 0}), 400),
        (json!({"query": "河湖长制", "max_sentences": 0}), 400),
        (json!({"query": "河湖\n长制"}), 400),
        (json!({}), 400),
    ] {
        let (s, v) = post_json("/api/summarize", &body, None);
        assert_eq!(s.as_u16(), want, "{body}: {v}");
    }
    let (s, v) = post_json(
        "/api/summarize",
        &json!({"query": "河湖长制", "max_districts": 2.0, "filters": {"year_from": 2024, "year_to": 2023}}),
        None,
    );
    assert_eq!(s, 200, "{v}");
    // An indicator nobody states is a table that does not exist.
    assert_eq!(
        get("/api/targets?indicator=%E4%B8%8D%E5%AD%98%E5%9C%A8").0,
        404
    );
}

/// Metadata sent with an upload or a correction meets the rules the
/// filters apply, so every stored value can be filtered for.
#[test]
fn bad_metadata_is_refused_and_changes_nothing() {
    let _write = LIBRARY_LOCK.write().unwrap();
    let count = || {
        get("/api/documents").1["documents"]
            .as_array()
            .unwrap()
            .len()
    };
    let before = count();
    let text = "政府工作报告\n一、过去一年工作回顾\n全面推进河湖长制，完成农村户厕改造一千户。";
    for meta in [
        json!({"district": "南岸区\u{0}"}),
        json!({"year": 28}),
        json!({"year": -5}),
        json!({"city": "市".repeat(201)}),
    ] {
        let (s, v) = post_json(
            "/api/documents",
            &json!({"text": text, "meta": meta}),
            Some(TOKEN),
        );
        assert_eq!(s, 400, "{meta}: {v}");
        assert!(v["code"].is_string(), "{v}");
    }
    assert_eq!(count(), before);
    let id = get("/api/documents").1["documents"][0]["doc_id"]
        .as_str()
        .unwrap()
        .to_string();
    for patch in [
        json!({"district": "南岸区\u{0}"}),
        json!({"year": 28}),
        json!({"speaker": "\t某某"}),
        json!({}),
    ] {
        let resp = client()
            .patch(format!("{}/api/documents/{id}", server().base))
            .bearer_auth(TOKEN)
            .json(&patch)
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400, "{patch}");
    }
}

fn get_bytes(path: &str) -> (StatusCode, String, Vec<u8>) {
    let resp = client()
        .get(format!("{}{path}", server().base))
        .send()
        .unwrap();
    let status = resp.status();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, content_type, resp.bytes().unwrap().to_vec())
}

#[test]
fn panels_answer_as_json_csv_and_xlsx() {
    let _read = LIBRARY_LOCK.read().unwrap();
    // Every growth target for GDP the targets table holds is a panel row,
    // with the same figure and the passage it came from.
    let (status, table) = get(&format!("/api/targets?indicator={}", enc("地区生产总值")));
    assert_eq!(status, 200, "{table}");
    let (status, panel) = get("/api/panel/targets");
    assert_eq!(status, 200, "{panel}");
    assert_eq!(panel["indicator"], "地区生产总值");
    let rows = panel["rows"].as_array().unwrap();
    let stated: Vec<&Value> = table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "target" && r["measure"] == "growth")
        .collect();
    assert!(stated.len() >= 4, "{table}");
    for t in &stated {
        assert!(
            rows.iter()
                .any(|r| r["target"]["passage_id"] == t["passage_id"]
                    && r["target"]["value"] == t["value"]
                    && r["year"] == t["year"]),
            "no panel row for {t:#}"
        );
    }
    for r in rows {
        assert!(r["place"].as_str().is_some_and(|p| !p.is_empty()), "{r:#}");
        for f in ["target", "achieved", "city_target", "province_target"] {
            if let Some(fig) = r[f].as_object() {
                assert!(
                    fig["sentence"]
                        .as_str()
                        .unwrap()
                        .contains(&format!("{}", fig["value"].as_f64().unwrap()))
                        || fig["sentence"].as_str().unwrap().contains("百分"),
                    "{f} of {r:#}: the sentence does not state the figure"
                );
            }
        }
    }

    // The same panel as CSV (the CLI's columns) and as an XLSX workbook.
    let (status, ct, csv) = get_bytes("/api/panel/targets?format=csv");
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/csv"), "{ct}");
    let text = String::from_utf8(csv).unwrap();
    let header = text.lines().next().unwrap();
    assert_eq!(header, zhengce::service::export::PANEL_COLUMNS.join(","));
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(reader.records().count(), rows.len());
    let (status, ct, xlsx) = get_bytes("/api/panel/targets?format=xlsx&measure=level");
    assert_eq!(status, 200);
    assert!(ct.contains("spreadsheetml"), "{ct}");
    assert!(xlsx.starts_with(b"PK"), "not a zip");

    // A place narrows the panel to it and what lies within; years bound it.
    let place = rows[0]["place"].as_str().unwrap();
    let year = rows[0]["year"].as_i64().unwrap();
    let (status, one) = get(&format!(
        "/api/panel/targets?place={}&year={year}",
        enc(place)
    ));
    assert_eq!(status, 200, "{one}");
    let one = one["rows"].as_array().unwrap();
    assert!(!one.is_empty());
    assert!(one.iter().all(|r| r["year"] == year), "{one:?}");

    // Attention: per report, with the passages behind the share.
    let (status, att) = get(&format!(
        "/api/panel/attention?concept={}&terms={}",
        enc("乡村振兴"),
        enc("乡村振兴，鄉村振興,农村")
    ));
    assert_eq!(status, 200, "{att}");
    assert_eq!(att["terms"], json!(["乡村振兴", "农村"]));
    let docs = att["rows"].as_array().unwrap();
    assert!(docs.len() >= 5, "{att}");
    assert!(docs
        .iter()
        .any(|r| r["relevant_passages"].as_u64() > Some(0)));
    for r in docs {
        let ids = r["relevant_passage_ids"].as_array().unwrap();
        assert_eq!(ids.len() as u64, r["relevant_passages"].as_u64().unwrap());
        if let Some(id) = ids.first() {
            let (status, d) = get(&format!("/api/documents/{}", r["doc_id"].as_str().unwrap()));
            assert_eq!(status, 200);
            assert!(
                d["passages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["passage_id"] == *id),
                "{id} is not a passage of its report"
            );
        }
    }

    // Bad requests name the problem.
    for (path, code) in [
        ("/api/panel/targets?format=pdf", "invalid_format"),
        ("/api/panel/targets?measure=ratio", "invalid_measure"),
        ("/api/panel/targets?year=19", "invalid_year"),
        ("/api/panel/attention", "missing_query"),
    ] {
        let (status, body) = get(path);
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["code"], code, "{path}: {body}");
    }
    let (status, body) = get(&format!("/api/panel/targets?indicator={}", enc("幸福指数")));
    assert_eq!(status, 404, "{body}");
    // An English concept alone is measured by the relevant share only.
    let (status, body) = get("/api/panel/attention?concept=rural%20revitalization");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["terms"], json!([]));
    let rows = body["rows"].as_array().unwrap();
    assert!(
        rows.iter().all(|r| r["terms_per_10k"].is_null()
            && r["relevant_passage_ids"].as_array().unwrap().len() as u64
                == r["relevant_passages"].as_u64().unwrap()),
        "{body}"
    );
    // An English concept counts the Chinese terms it is given.
    let (status, body) = get(&format!(
        "/api/panel/attention?concept=rural%20revitalization&terms={}",
        enc("乡村振兴")
    ));
    assert_eq!(status, 200, "{body}");
}

/// The Python with pandas and openpyxl that scripts/fetch-test-tools.sh
/// puts in `target/test-venv`, or `$ZHENGCE_TEST_PYTHON`.
fn pandas_python() -> PathBuf {
    if let Some(p) = std::env::var_os("ZHENGCE_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-venv/bin/python");
    assert!(
        venv.is_file(),
        "the panel export test reads files with pandas; run scripts/fetch-test-tools.sh \
         (it makes {}) or set ZHENGCE_TEST_PYTHON",
        venv.display()
    );
    venv
}

#[test]
fn panel_files_open_in_pandas() {
    let _read = LIBRARY_LOCK.read().unwrap();
    let dir = common::fresh_data_dir("pandas-panels");
    std::fs::create_dir_all(&dir).unwrap();
    let concept = format!(
        "concept={}&terms={}",
        enc("生态环境"),
        enc("生态,环境,绿色")
    );
    let mut expected = serde_json::Map::new();
    for (name, path) in [
        ("targets", "/api/panel/targets?".to_string()),
        ("attention", format!("/api/panel/attention?{concept}&")),
    ] {
        let (status, json_body) = get(&path);
        assert_eq!(status, 200, "{json_body}");
        expected.insert(name.into(), json_body);
        for ext in ["csv", "xlsx"] {
            let (status, _, bytes) = get_bytes(&format!("{path}format={ext}"));
            assert_eq!(status, 200);
            std::fs::write(dir.join(format!("{name}.{ext}")), bytes).unwrap();
        }
    }
    std::fs::write(
        dir.join("expected.json"),
        serde_json::to_vec(&expected).unwrap(),
    )
    .unwrap();
    // Reads both files of both panels, checks them against the JSON answer,
    // and recomputes the attention figures from the exported columns.
    let script = r#"
import json, sys, math
import pandas as pd
d = sys.argv[1]
exp = json.load(open(d + "/expected.json", encoding="utf-8"))
for name in ["targets", "attention"]:
    c = pd.read_csv(d + f"/{name}.csv", encoding="utf-8")
    x = pd.read_excel(d + f"/{name}.xlsx", engine="openpyxl")
    rows = exp[name]["rows"]
    assert len(c) == len(rows) == len(x), (name, len(c), len(x), len(rows))
    assert list(c.columns) == list(x.columns), (list(c.columns), list(x.columns))
    if name == "targets":
        for r, (_, a), (_, b) in zip(rows, c.iterrows(), x.iterrows()):
            assert a["place"] == b["place"] == r["place"], (a["place"], r["place"])
            assert int(a["year"]) == int(b["year"]) == r["year"]
            t = r["target"]["value"] if r["target"] else None
            for v in (a["target"], b["target"]):
                assert (t is None and pd.isna(v)) or (t is not None and math.isclose(v, t)), (v, t)
    else:
        assert len(c) > 0
        for r, (_, a), (_, b) in zip(rows, c.iterrows(), x.iterrows()):
            assert a["doc_id"] == b["doc_id"] == r["doc_id"]
            counts = sum(int(a["count:" + t]) for t in exp[name]["terms"])
            assert counts == int(a["term_count"])
            assert math.isclose(counts * 10000 / a["characters"], a["terms_per_10k"], rel_tol=1e-12)
            assert math.isclose(a["relevant_passages"] / a["passages"], a["relevant_share"], rel_tol=1e-12)
            assert math.isclose(b["terms_per_10k"], r["terms_per_10k"], rel_tol=1e-12)
            ids = "" if pd.isna(a["relevant_passage_ids"]) else a["relevant_passage_ids"]
            assert len([i for i in ids.split(";") if i]) == int(a["relevant_passages"])
print("pandas", pd.__version__, "read", {n: len(exp[n]["rows"]) for n in exp})
"#;
    let out = Command::new(pandas_python())
        .arg("-c")
        .arg(script)
        .arg(&dir)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "pandas check failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
}
