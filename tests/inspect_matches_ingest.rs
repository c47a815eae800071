//! `inspect` shows exactly the passages `ingest` stores: same ids, texts,
//! section paths and order, for real reports run through the CLI with the
//! real model (models/multilingual-e5-small, fetched by
//! scripts/fetch-model.sh; the test says so and passes vacuously when it is
//! absent, since neither command can cut passages in model tokens then).

use std::path::Path;
use std::process::Command;

fn zhengce() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_zhengce"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn run(c: &mut Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// (id, section path, text) of each passage, in order.
type Rows = Vec<(String, Vec<String>, String)>;

fn rows_of(v: &serde_json::Value, id: &str) -> (String, Vec<String>, String) {
    (
        v[id].as_str().unwrap().to_string(),
        v["section_path"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap().to_string())
            .collect(),
        v["text"].as_str().unwrap().to_string(),
    )
}

#[test]
fn inspect_passages_are_the_stored_passages() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/multilingual-e5-small");
    if !model.join("tokenizer.json").is_file() {
        eprintln!(
            "skipped: no model at {} (scripts/fetch-model.sh)",
            model.display()
        );
        return;
    }
    // The smallest bundled report and a long one: both get passages cut at
    // the token bound, where a character estimate and the model disagree.
    let files = [
        "data/corpus/000_4ead13418bc20ab0.txt",
        "data/corpus/004_6221689de9ab5559.txt",
    ];
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let mut ingest = zhengce();
    ingest.args(["--data-dir", data_dir, "ingest"]).args(files);
    run(&mut ingest);
    let stored: Rows = run(zhengce().args(["--data-dir", data_dir, "export"]))
        .lines()
        .map(|l| rows_of(&serde_json::from_str(l).unwrap(), "passage_id"))
        .collect();
    let shown: Rows = run(zhengce().args(["inspect", "--json"]).args(files))
        .lines()
        .flat_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["passages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| rows_of(p, "id"))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(stored.len() > 40, "{} passages stored", stored.len());
    let mut stored = stored;
    let mut shown = shown;
    // The export orders by the store; compare as sets of ids with equal rows.
    stored.sort();
    shown.sort();
    assert_eq!(shown.len(), stored.len());
    for (a, b) in shown.iter().zip(&stored) {
        assert_eq!(a, b);
    }
}
