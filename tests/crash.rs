//! Crash safety of a real `zhengce serve` process: killed with SIGKILL in the
//! middle of an upload or a deletion, then restarted on the same data
//! directory, the library holds either the old or the new state, whole, in
//! the store and in both retrievers, and nothing deleted comes back.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::blocking::Client;
use serde_json::Value;

mod common;

const TOKEN: &str = "crash-test-token-77c1";

/// A `zhengce serve` child, killed (SIGKILL) when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(data_dir: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zhengce"))
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--model")
        .arg(zhengce::embed::default_model_dir())
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env("ZHENGCE_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start zhengce serve");
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut log = String::new();
    let addr = loop {
        let Some(Ok(line)) = lines.next() else {
            panic!("server did not start:\n{log}");
        };
        log.push_str(&line);
        log.push('\n');
        if let Some(rest) = line.split("on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    // Keep draining the log so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server {
        child,
        base: format!("http://{addr}"),
    }
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap()
}

/// Uploads `text` as a report, with the token.
fn upload(base: &str, text: &str) -> reqwest::Result<reqwest::blocking::Response> {
    let form = reqwest::blocking::multipart::Form::new().part(
        "file",
        reqwest::blocking::multipart::Part::bytes(text.as_bytes().to_vec()).file_name("upload.txt"),
    );
    client()
        .post(format!("{base}/api/documents"))
        .bearer_auth(TOKEN)
        .multipart(form)
        .send()
}

/// Deletes a document, with the token.
fn delete(base: &str, doc_id: &str) -> reqwest::Result<reqwest::blocking::Response> {
    client()
        .delete(format!("{base}/api/documents/{doc_id}"))
        .bearer_auth(TOKEN)
        .send()
}

fn get(s: &Server, path: &str) -> Value {
    let resp = client().get(format!("{}{path}", s.base)).send().unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().unwrap()
}

/// Passage ids of `doc_id` among the hits of `q` in one retriever.
fn found(s: &Server, q: &str, mode: &str, doc_id: &str) -> usize {
    let q: String = url_encode(q);
    get(
        s,
        &format!("/api/search?q={q}&mode={mode}&k=50&infer_places=false"),
    )["hits"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["doc_id"] == doc_id)
        .count()
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// What a restarted server holds, checked for consistency: the store's
/// counts agree with its document list, and `doc_id` is either absent from
/// every retriever or present in each with all `passages` of it.
fn check(s: &Server, doc_id: &str, passages: usize, probe: &str) -> bool {
    let stats = get(s, "/api/stats");
    let docs = get(s, "/api/documents");
    let listed = docs["documents"]
        .as_array()
        .or(docs.as_array())
        .expect("a document list")
        .clone();
    let sum: u64 = listed.iter().map(|d| d["passages"].as_u64().unwrap()).sum();
    assert_eq!(stats["passages"].as_u64().unwrap(), sum, "{stats} {docs}");
    assert_eq!(stats["documents"].as_u64().unwrap(), listed.len() as u64);
    let present = listed.iter().any(|d| d["doc_id"] == doc_id);
    let resp = client()
        .get(format!("{}/api/documents/{doc_id}", s.base))
        .send()
        .unwrap();
    if present {
        let record: Value = resp.json().unwrap();
        assert_eq!(
            record["passages"].as_array().unwrap().len(),
            passages,
            "a stored document has all its passages"
        );
        for mode in ["dense", "lexical"] {
            assert!(found(s, probe, mode, doc_id) > 0, "{mode} finds it");
        }
    } else {
        assert_eq!(resp.status(), 404);
        for mode in ["dense", "lexical"] {
            assert_eq!(found(s, probe, mode, doc_id), 0, "{mode} after its loss");
        }
    }
    present
}

#[test]
fn a_killed_server_keeps_the_old_or_the_new_state_whole() {
    let corpus = zhengce::service::bundled_corpus_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    // The library: one report. The upload: forty paragraphs of another.
    let lib = common::ingested_service("crash-test-data", &files[..1]);
    let data_dir = lib.data_dir.clone();
    drop(lib);
    let text = std::fs::read_to_string(&files[files.len() - 1]).unwrap();
    let upload_text: String = text
        .lines()
        .filter(|l| l.chars().count() > 30)
        .take(40)
        .collect::<Vec<_>>()
        .join("\n");
    // A phrase of the upload to find it by.
    let probe: String = upload_text
        .lines()
        .nth(5)
        .unwrap()
        .chars()
        .take(24)
        .collect();

    // The document's id and size as a clean upload stores them.
    let (doc_id, passages) = {
        let s = start(&data_dir);
        let stored: Value = upload(&s.base, &upload_text).unwrap().json().unwrap();
        let doc_id = stored["doc_id"].as_str().unwrap().to_string();
        let record = get(&s, &format!("/api/documents/{doc_id}"));
        let n = record["passages"].as_array().unwrap().len();
        assert!(delete(&s.base, &doc_id).unwrap().status().is_success());
        (doc_id, n)
    };
    assert!(passages >= 10, "{passages} passages");

    // Kills at several points of an upload, each followed by a restart.
    let mut outcomes = Vec::new();
    for delay_ms in [50u64, 400, 1500, 4000, 12000] {
        let s = start(&data_dir);
        assert!(
            !check(&s, &doc_id, passages, &probe),
            "deleted, stays deleted"
        );
        let base = s.base.clone();
        let text = upload_text.clone();
        let sender = std::thread::spawn(move || {
            let _ = upload(&base, &text);
        });
        std::thread::sleep(Duration::from_millis(delay_ms));
        drop(s);
        let _ = sender.join();
        let s = start(&data_dir);
        let present = check(&s, &doc_id, passages, &probe);
        outcomes.push((delay_ms, present));
        if present {
            // Then a deletion, killed at once: gone or whole, never half.
            let base = s.base.clone();
            let id = doc_id.clone();
            let deleter = std::thread::spawn(move || {
                let _ = delete(&base, &id);
            });
            std::thread::sleep(Duration::from_millis(20));
            drop(s);
            let _ = deleter.join();
            let s = start(&data_dir);
            if check(&s, &doc_id, passages, &probe) {
                assert!(delete(&s.base, &doc_id).unwrap().status().is_success());
            }
        }
    }
    eprintln!("kill after ms → document stored: {outcomes:?}");
}
