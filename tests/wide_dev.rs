//! Metadata inference on real reports it was not written from: the
//! labelled corpus in `../shared/wide-dev` (beside the repository, as CI
//! lays it out), scored by that folder's own `check.py`.
//!
//! The floors sit just under what the inference reaches, so a change that
//! loses documents fails here; `scripts/meta-calibration.py` prints the
//! figures and how confidence relates to being right.

use std::path::PathBuf;
use std::process::Command;

fn wide_dev() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/wide-dev");
    dir.join("truth.json").is_file().then_some(dir)
}

#[test]
fn metadata_on_wide_dev_holds_its_floor() {
    let Some(dir) = wide_dev() else {
        eprintln!("skipped: ../shared/wide-dev is not beside the repository");
        return;
    };
    let out = Command::new(env!("CARGO_BIN_EXE_zhengce"))
        .arg("inspect")
        .arg("--json")
        .arg(dir.join("docs"))
        .output()
        .expect("runs zhengce inspect");
    assert!(
        out.status.success(),
        "inspect failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let jsonl = std::env::temp_dir().join(format!("zhengce-wide-dev-{}.jsonl", std::process::id()));
    std::fs::write(&jsonl, &out.stdout).unwrap();
    let check = Command::new("python3")
        .arg(dir.join("check.py"))
        .arg(&jsonl)
        .arg("--json")
        .output()
        .expect("python3 runs check.py");
    let _ = std::fs::remove_file(&jsonl);
    assert!(
        check.status.success(),
        "check.py failed: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    let n = report["n"].as_u64().unwrap();
    assert_eq!(n, 127, "every labelled document scored");
    assert!(report["missing"].as_array().unwrap().is_empty());
    let acc = |f: &str| report["accuracy"][f].as_f64().unwrap();
    let misses: Vec<String> = report["misses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{} {} expected {} got {}",
                m["doc"], m["field"], m["expected"], m["got"]
            )
        })
        .collect();
    eprintln!(
        "wide-dev: district {:.3} city {:.3} province {:.3} year {:.3} doc_type {:.3}, all five {}/{n}",
        acc("district"),
        acc("city"),
        acc("province"),
        acc("year"),
        acc("doc_type"),
        report["all_five_right"]
    );
    for (field, floor) in [
        ("district", 0.98),
        ("city", 0.98),
        ("province", 0.98),
        ("year", 0.98),
        ("doc_type", 0.98),
    ] {
        assert!(
            acc(field) >= floor,
            "{field} {:.3} < {floor}; misses:\n{}",
            acc(field),
            misses.join("\n")
        );
    }
    let all = report["all_five_right"].as_u64().unwrap() as f64 / n as f64;
    assert!(
        all >= 0.97,
        "all five {all:.3} < 0.97; misses:\n{}",
        misses.join("\n")
    );
}
