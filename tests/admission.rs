//! Admission control on a real server (127.0.0.1 port, real model, an empty
//! library: every refusal here happens before the library is read): more
//! text than one request may have encoded gets 413, model work past its
//! deadline gets 503 with `Retry-After`, both with the JSON error body, and
//! the limits are the ones the service was given.

use std::sync::Arc;
use std::time::Duration;

use reqwest::blocking::Client;
use serde_json::{json, Value};
use zhengce::api::{ApiConfig, AppState};
use zhengce::service::{Admission, Service};

mod common;

fn start(name: &str, admission: Admission) -> String {
    let dir = common::fresh_data_dir(name);
    let service = Service::open(&dir, &zhengce::embed::default_model_dir())
        .expect("open the library (model missing? run scripts/fetch-model.sh)");
    service.encoder().set_admission(admission);
    let addr = common::serve(AppState::new(Arc::new(service), ApiConfig::default()));
    format!("http://{addr}")
}

fn post(base: &str, body: &Value) -> (u16, Option<String>, Value) {
    let resp = Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
        .post(format!("{base}/api/similar"))
        .json(body)
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, retry, resp.json().expect("a JSON body"))
}

#[test]
fn a_request_over_the_character_bound_gets_413_and_one_within_it_does_not() {
    let base = start(
        "admission-bound",
        Admission {
            max_request_chars: 320,
            ..Admission::default()
        },
    );
    let text = "推进农村户厕改造，提升农村卫生厕所普及率。".repeat(5); // 105 characters
    let negatives = vec![text.clone(), text.clone()]; // 315 in all
    let (status, _, body) = post(&base, &json!({"text": text, "negative": negatives}));
    assert_eq!(status, 200, "{body}");
    let negatives = vec![text.clone(), text.clone(), text.clone()];
    let (status, _, body) = post(&base, &json!({"text": text, "negative": negatives}));
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["code"], "too_much_text");
    assert!(body["error"].as_str().unwrap().contains("320"), "{body}");
}

#[test]
fn model_work_past_its_deadline_gets_503_with_retry_after() {
    let base = start(
        "admission-deadline",
        Admission {
            deadline: Duration::ZERO,
            ..Admission::default()
        },
    );
    let (status, retry, body) = post(&base, &json!({"text": "老年食堂建设"}));
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], "overloaded");
    let secs: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!(secs >= 1);
    let metrics = reqwest::blocking::get(format!("{base}/metrics"))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("zhengce_encoder_deadline_expiries_total") && !l.ends_with(" 0")),
        "{metrics}"
    );
}
