//! Researchers' metadata corrections end to end: a real library (two
//! bundled reports embedded by the real model), a real server on a loopback
//! port, corrections given as a CSV (`meta apply`) and over HTTP (`PATCH`),
//! and every view that reads metadata (listing, facets, filtered and grouped
//! search, targets, export) checked against them. Tests that change the
//! library hold [`LOCK`].

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use reqwest::blocking::Client;
use reqwest::StatusCode;
use serde_json::{json, Value};
use zhengce::api::{ApiConfig, AppState};
use zhengce::index::{Filter, MetaUpdate};
use zhengce::service::corrections::parse_corrections;
use zhengce::service::export::ExportFormat;
use zhengce::service::{Service, ServiceError};

mod common;

const TOKEN: &str = "meta-token-71c2";
/// A news piece on 南明区 (27 passages) and 六盘水市's report, traditional
/// script (89 passages): small enough to embed quickly, different in kind.
const NEWS: &str = "000_4ead13418bc20ab0.txt";
const REPORT: &str = "004_6221689de9ab5559.txt";

static LOCK: Mutex<()> = Mutex::new(());

struct Lib {
    base: String,
    service: Arc<Service>,
    inputs: PathBuf,
}

fn lib() -> &'static Lib {
    static LIB: OnceLock<Lib> = OnceLock::new();
    LIB.get_or_init(|| {
        let inputs = common::fresh_data_dir("meta-corrections-inputs");
        std::fs::create_dir_all(&inputs).unwrap();
        for f in [NEWS, REPORT] {
            std::fs::copy(
                zhengce::service::bundled_corpus_dir().join(f),
                inputs.join(f),
            )
            .unwrap();
        }
        let ingested =
            common::ingested_service("meta-corrections-data", std::slice::from_ref(&inputs));
        assert_eq!(ingested.report.added.len(), 2, "{:?}", ingested.report);
        let service = ingested.service.clone();
        let state = AppState::new(
            ingested.service,
            ApiConfig {
                token: Some(TOKEN.into()),
                ..ApiConfig::default()
            },
        );
        Lib {
            base: format!("http://{}", common::serve(state)),
            service,
            inputs,
        }
    })
}

fn locked() -> std::sync::MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

fn get(path: &str) -> Value {
    let resp = client()
        .get(format!("{}{path}", lib().base))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200, "GET {path}");
    resp.json().unwrap()
}

fn patch(id: &str, body: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut req = client()
        .patch(format!("{}/api/documents/{id}", lib().base))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().unwrap();
    let status = resp.status();
    (status, resp.json().unwrap_or(Value::Null))
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn documents(query: &str) -> Vec<Value> {
    get(&format!("/api/documents{query}"))["documents"]
        .as_array()
        .unwrap()
        .clone()
}

/// The stored document made from `file`.
fn doc_of(file: &str) -> Value {
    documents("")
        .into_iter()
        .find(|d| d["file"].as_str().unwrap().ends_with(file))
        .unwrap_or_else(|| panic!("{file} not listed"))
}

#[test]
fn a_corrections_csv_reaches_every_view_at_once_and_survives_reingest() {
    let _g = locked();
    let lib = lib();
    let (news, report) = (doc_of(NEWS), doc_of(REPORT));
    let (news_id, report_id) = (
        news["doc_id"].as_str().unwrap().to_string(),
        report["doc_id"].as_str().unwrap().to_string(),
    );
    let old_district = report["district"].as_str().unwrap().to_string();
    let new_year = news["year"].as_i64().unwrap() - 5;
    // By file name, by base name and by doc id; a district from another
    // province, so its city and province must be refilled from the table.
    let csv = format!(
        "file,field,value\n{NEWS},year,{new_year}\n{},district,萧山区\n{news_id},doc_type,政府工作报告\n",
        REPORT.trim_end_matches(".txt")
    );
    let rows = parse_corrections(&csv).unwrap();

    let before = documents("");
    let dry = lib.service.apply_corrections(&rows, true).unwrap();
    assert!(!dry.is_empty());
    assert_eq!(documents(""), before, "a dry run wrote");

    let changes = lib.service.apply_corrections(&rows, false).unwrap();
    assert_eq!(changes, dry, "the dry run did not show what applying does");
    let change = |doc: &str, field: &str| {
        changes
            .iter()
            .find(|c| c.doc_id == doc && c.field == field)
            .map(|c| (c.old.clone(), c.new.clone()))
    };
    assert_eq!(
        change(&report_id, "district"),
        Some((Some(old_district.clone()), Some("萧山区".into())))
    );
    assert_eq!(
        change(&report_id, "city").unwrap().1.as_deref(),
        Some("杭州市")
    );
    assert_eq!(
        change(&report_id, "province").unwrap().1.as_deref(),
        Some("浙江省")
    );
    assert_eq!(
        change(&report_id, "level").unwrap().1.as_deref(),
        Some("county")
    );
    assert_eq!(
        change(&news_id, "year").unwrap().1,
        Some(new_year.to_string())
    );

    // Listing and the document: new values, confidence 1.0, not uncertain.
    let listed = documents(&format!("?district={}", enc("萧山区")));
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0]["doc_id"], report_id.as_str());
    assert_eq!(listed[0]["city"], "杭州市");
    assert_eq!(listed[0]["confidence"]["district"], 1.0);
    let one = get(&format!("/api/documents/{report_id}"));
    assert_eq!(one["district"], "萧山区");
    assert!(!one["uncertain"]
        .as_array()
        .unwrap()
        .contains(&json!("district")));
    assert!(documents(&format!("?district={}", enc(&old_district))).is_empty());
    let news_now = doc_of(NEWS);
    assert_eq!(news_now["year"], new_year);
    assert_eq!(news_now["doc_type"], "政府工作报告");
    assert_eq!(news_now["confidence"]["doc_type"], 1.0);

    // Facets count the corrected values.
    let facets = get("/api/facets");
    assert_eq!(
        facets["district"]["萧山区"], report["passages"],
        "{facets:#}"
    );
    assert!(
        facets["district"].get(&old_district).is_none(),
        "{facets:#}"
    );
    assert_eq!(
        facets["year"][new_year.to_string()],
        news["passages"],
        "{facets:#}"
    );

    // Filtered and grouped search.
    let hits = get(&format!("/api/search?q={}&year={new_year}", enc("发展")))["hits"]
        .as_array()
        .unwrap()
        .clone();
    assert!(!hits.is_empty());
    assert!(hits.iter().all(|h| h["doc_id"] == news_id.as_str()));
    let grouped = get(&format!(
        "/api/search?q={}&group=district&k=30",
        enc("经济发展")
    ));
    let groups: Vec<&str> = grouped["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["district"].as_str().unwrap())
        .collect();
    assert!(groups.contains(&"萧山区"), "{groups:?}");
    assert!(!groups.contains(&old_district.as_str()), "{groups:?}");

    // Targets carry the corrected district.
    let targets = get(&format!("/api/targets?district={}", enc("萧山区")));
    let rows_t = targets["rows"].as_array().unwrap();
    assert!(!rows_t.is_empty(), "{targets:#}");
    assert_eq!(targets["districts"], json!(["萧山区"]));
    assert!(rows_t.iter().all(|r| r["doc_id"] == report_id.as_str()));

    // The export.
    let mut out = Vec::new();
    let n = lib
        .service
        .export(
            &Filter {
                district: Some("萧山区".into()),
                ..Filter::default()
            },
            ExportFormat::Jsonl,
            true,
            &mut out,
        )
        .unwrap();
    assert_eq!(Some(n as u64), report["passages"].as_u64());
    for line in String::from_utf8(out).unwrap().lines() {
        let row: Value = serde_json::from_str(line).unwrap();
        assert_eq!(row["district"], "萧山区");
        assert_eq!(row["province"], "浙江省");
        // With its stored vector: the model's width, unit length.
        let v: Vec<f64> = serde_json::from_value(row["vector"].clone()).unwrap();
        assert_eq!(v.len(), 384);
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{norm}");
    }
    let refused = lib
        .service
        .export(&Filter::default(), ExportFormat::Csv, true, &mut Vec::new());
    assert!(
        matches!(refused, Err(ServiceError::Invalid(_))),
        "{refused:?}"
    );

    // The same content ingested again, after a delete, gets its
    // corrections back (and is embedded anew: the passages are the same).
    lib.service.delete_document(&news_id).unwrap();
    let again = lib
        .service
        .ingest_files(&[lib.inputs.join(NEWS)], &mut |_| {})
        .unwrap();
    assert_eq!(again.added.len(), 1, "{again:?}");
    let back = doc_of(NEWS);
    assert_eq!(back["doc_id"], news_id.as_str());
    assert_eq!(back["year"], new_year);
    assert_eq!(back["doc_type"], "政府工作报告");
    assert_eq!(back["confidence"]["year"], 1.0);
}

#[test]
fn a_bad_corrections_file_names_its_line_and_changes_nothing() {
    let _g = locked();
    let lib = lib();
    let before = documents("");
    let news_year = doc_of(NEWS)["year"].clone();
    // Each has a good row before the bad one: nothing of it may be applied.
    let good = format!("{NEWS},year,1999");
    for (csv, line, says) in [
        (
            format!("file,field,value\n{good}\nno-such-report.txt,year,2020\n"),
            3,
            "no stored document",
        ),
        (
            format!("file,field,value\n{good}\n{NEWS},colour,red\n"),
            3,
            "unknown field",
        ),
        (
            format!("file,field,value\n{good}\n{NEWS},year,1850\n"),
            3,
            "1900 to 2200",
        ),
        (
            format!("file,field,value\n{good}\n{NEWS},review_year,二〇二四\n"),
            3,
            "1900 to 2200",
        ),
        (
            format!("file,field,value\n{good}\n{NEWS},level,town\n"),
            3,
            "level",
        ),
        (
            format!("file,field,value\n{good}\n{NEWS},year\n"),
            3,
            "expected 3",
        ),
        (
            format!("file,field,value\n{good}\n,year,2020\n"),
            3,
            "no file",
        ),
        (format!("{good}\n"), 1, "header"),
    ] {
        let applied =
            parse_corrections(&csv).and_then(|rows| lib.service.apply_corrections(&rows, false));
        let e = applied.expect_err(&csv).to_string();
        assert!(e.contains(&format!("line {line}")), "{csv:?}: {e}");
        assert!(e.contains(says), "{csv:?}: {e}");
        assert_eq!(documents(""), before, "{csv:?} changed the library");
    }
    assert_eq!(doc_of(NEWS)["year"], news_year);
}

#[test]
fn patch_corrects_with_the_token_and_refuses_bad_requests_in_json() {
    let _g = locked();
    let report = doc_of(REPORT);
    let id = report["doc_id"].as_str().unwrap();
    let body = r#"{"year": 2021, "speaker": null}"#;

    for token in [None, Some("wrong")] {
        let (status, err) = patch(id, body, token);
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{err}");
        assert_eq!(err["code"], "unauthorized", "{err}");
    }
    for (bad, status, code) in [
        (
            r#"{"year": 1850}"#,
            StatusCode::BAD_REQUEST,
            "invalid_metadata",
        ),
        (
            r#"{"level": "town"}"#,
            StatusCode::BAD_REQUEST,
            "invalid_metadata",
        ),
        (r#"{}"#, StatusCode::BAD_REQUEST, "no_fields"),
        (
            r#"{"colour": "red"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            r#"{"year": "soon"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (r#"{"year": "#, StatusCode::BAD_REQUEST, "bad_request"),
    ] {
        let (got, err) = patch(id, bad, Some(TOKEN));
        assert_eq!(got, status, "{bad}: {err}");
        assert!(err["error"].is_string(), "{bad}: not a JSON error: {err}");
        assert_eq!(err["code"], code, "{bad}: {err}");
    }
    assert_eq!(
        doc_of(REPORT),
        report,
        "a refused PATCH changed the document"
    );
    let (status, err) = patch("0000000000000000", body, Some(TOKEN));
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");

    let (status, done) = patch(id, body, Some(TOKEN));
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["document"]["year"], 2021);
    assert!(done["document"]["speaker"].is_null());
    assert_eq!(done["document"]["confidence"]["year"], 1.0);
    let fields: Vec<&str> = done["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"year"), "{done}");
    assert_eq!(
        fields.contains(&"speaker"),
        !report["speaker"].is_null(),
        "{done}"
    );
    let in_2021: Vec<Value> = documents("?year=2021");
    assert!(in_2021.iter().any(|d| d["doc_id"] == id), "{in_2021:#?}");
    let facets = get("/api/facets");
    assert_eq!(facets["year"]["2021"], report["passages"], "{facets:#}");
}

#[test]
fn uncertain_fields_are_listed_by_the_api_until_corrected() {
    let _g = locked();
    let lib = lib();
    // Every listed document's `uncertain` is exactly its fields below 0.6.
    for d in documents("") {
        let mut want: Vec<String> = d["confidence"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, c)| c.as_f64().unwrap() < zhengce::corpus::UNCERTAIN_BELOW as f64)
            .map(|(f, _)| f.clone())
            .collect();
        want.sort();
        let mut got: Vec<String> = serde_json::from_value(d["uncertain"].clone()).unwrap();
        got.sort();
        assert_eq!(got, want, "{d:#}");
    }
    // A stored document whose inference was unsure of its review year and
    // found no speaker (the store keeps what inference gave).
    let doc = doc_of(NEWS);
    let id = doc["doc_id"].as_str().unwrap();
    let mut meta = lib.service.library().document_meta(id).unwrap();
    meta.confidence.insert("review_year".into(), 0.4);
    meta.confidence.insert("speaker".into(), 0.2);
    meta.speaker = None;
    lib.service
        .library()
        .update_metadata(&[MetaUpdate {
            doc_id: id.to_string(),
            meta,
            corrections: Vec::new(),
        }])
        .unwrap();
    let listed = doc_of(NEWS);
    let one = get(&format!("/api/documents/{id}"));
    for v in [&listed, &one] {
        assert_eq!(v["uncertain"], json!(["review_year", "speaker"]), "{v:#}");
    }
    let (status, done) = patch(id, r#"{"review_year": 2018}"#, Some(TOKEN));
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["document"]["uncertain"], json!(["speaker"]));
    assert_eq!(doc_of(NEWS)["uncertain"], json!(["speaker"]));
}

/// `zhengce` as a user runs it, on a data dir of its own.
fn zhengce(data_dir: &std::path::Path) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_zhengce"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("--data-dir")
        .arg(data_dir);
    c
}

fn run_ok(c: &mut std::process::Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{c:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Exported passages' (doc_id, district, year), one per document.
fn exported(data_dir: &std::path::Path) -> Vec<(String, Value, Value)> {
    let mut docs: Vec<(String, Value, Value)> = run_ok(zhengce(data_dir).arg("export"))
        .lines()
        .map(|l| {
            let r: Value = serde_json::from_str(l).unwrap();
            (
                r["doc_id"].as_str().unwrap().to_string(),
                r["district"].clone(),
                r["year"].clone(),
            )
        })
        .collect();
    docs.dedup();
    docs
}

#[test]
fn the_cli_applies_corrections_before_and_after_ingest() {
    let dir = common::fresh_data_dir("meta-cli");
    let (inputs, data) = (dir.join("inputs"), dir.join("data"));
    std::fs::create_dir_all(&inputs).unwrap();
    let file = inputs.join(NEWS);
    std::fs::copy(zhengce::service::bundled_corpus_dir().join(NEWS), &file).unwrap();
    let fixes = dir.join("fixes.csv");
    std::fs::write(
        &fixes,
        format!("file,field,value\n{NEWS},district,萧山区\n"),
    )
    .unwrap();

    // inspect --meta: the corrected value, its table-filled parents, 1.0.
    let shown: Value = serde_json::from_str(
        run_ok(
            zhengce(&data)
                .args(["inspect", "--json", "--meta"])
                .arg(&fixes)
                .arg(&file),
        )
        .trim(),
    )
    .unwrap();
    assert_eq!(shown["metadata"]["district"], "萧山区");
    assert_eq!(shown["metadata"]["city"], "杭州市");
    assert_eq!(shown["metadata"]["confidence"]["district"], 1.0);
    let text = run_ok(
        zhengce(&data)
            .args(["inspect", "--meta"])
            .arg(&fixes)
            .arg(&file),
    );
    assert!(text.contains("district: 萧山区 (1.00)"), "{text}");

    // ingest --meta stores the corrected values.
    run_ok(
        zhengce(&data)
            .args(["ingest", "--meta"])
            .arg(&fixes)
            .arg(&inputs),
    );
    let docs = exported(&data);
    assert_eq!(docs.len(), 1, "{docs:?}");
    let (id, district, year) = docs[0].clone();
    assert_eq!(district, "萧山区");
    let new_year = year.as_i64().unwrap() - 3;

    // meta apply: a dry run shows the change and writes nothing.
    let by_id = dir.join("by-id.csv");
    std::fs::write(&by_id, format!("file,field,value\n{id},year,{new_year}\n")).unwrap();
    let dry = run_ok(
        zhengce(&data)
            .args(["meta", "apply", "--dry-run"])
            .arg(&by_id),
    );
    assert!(
        dry.contains(&format!("year {year} -> {new_year}")) && dry.contains("would change 1 field"),
        "{dry}"
    );
    assert_eq!(exported(&data)[0].2, year);
    let done = run_ok(zhengce(&data).args(["meta", "apply"]).arg(&by_id));
    assert!(done.contains("changed 1 field"), "{done}");
    assert_eq!(exported(&data)[0].2, json!(new_year));

    // A bad file fails the command, names its line, and changes nothing.
    let bad = dir.join("bad.csv");
    std::fs::write(
        &bad,
        format!("file,field,value\n{id},year,2001\n{id},year,3001\n"),
    )
    .unwrap();
    let out = zhengce(&data)
        .args(["meta", "apply"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3"), "{err}");
    assert_eq!(exported(&data)[0].2, json!(new_year));

    // ingest --meta on a file already stored corrects it without embedding.
    let more = dir.join("more.csv");
    std::fs::write(&more, format!("file,field,value\n{NEWS},district,余杭区\n")).unwrap();
    let again = run_ok(
        zhengce(&data)
            .args(["ingest", "--meta"])
            .arg(&more)
            .arg(&file),
    );
    assert!(again.contains("district 萧山区 -> 余杭区"), "{again}");
    assert_eq!(exported(&data)[0].1, "余杭区");
}
