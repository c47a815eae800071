//! No page chrome, notices, watermarks or page numbers left in passages and
//! no numbered list item of a source lost, over the bundled corpus and, when
//! present, wide-dev (`../shared/wide-dev` beside the repository). The check
//! is scripts/residue.py, whose rules are written apart from the cleaner's;
//! it needs python3 (skipped with a printed reason when absent).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn residue(files: &[PathBuf]) -> Option<String> {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("skipped: python3 not found (scripts/residue.py needs it)");
        return None;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_zhengce"))
        .current_dir(root())
        .args(["inspect", "--json"])
        .args(files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("inspect.jsonl");
    std::fs::File::create(&jsonl)
        .unwrap()
        .write_all(&out.stdout)
        .unwrap();
    let check = Command::new("python3")
        .arg(root().join("scripts/residue.py"))
        .arg(&jsonl)
        .args(["--strict", "--show", "5"])
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&check.stdout).into_owned();
    assert!(check.status.success(), "residue found:\n{report}");
    Some(report)
}

#[test]
fn bundled_corpus_has_no_residue_and_keeps_its_list_items() {
    let files = vec![root().join("data/corpus")];
    if let Some(r) = residue(&files) {
        assert!(r.contains("residue           0"), "{r}");
        eprintln!("{r}");
    }
}

#[test]
fn wide_dev_has_no_residue_and_keeps_its_list_items() {
    let docs = root().join("../shared/wide-dev/docs");
    if !Path::new(&docs).is_dir() {
        eprintln!("skipped: {} not found", docs.display());
        return;
    }
    if let Some(r) = residue(&[docs]) {
        // The check must have seen list items to vouch for them.
        assert!(!r.contains("list items 0:"), "{r}");
        eprintln!("{r}");
    }
}
