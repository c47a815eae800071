//! `zhengce inspect` as a user runs it.

use std::process::Command;

fn zhengce() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_zhengce"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

/// Runs the command, which must succeed (its stderr is the failure's
/// message), and returns its stdout.
fn stdout_of(c: &mut Command) -> Vec<u8> {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn inspect_json_prints_one_object_per_file() {
    let stdout = stdout_of(zhengce().args(["inspect", "--json"]));
    let lines: Vec<serde_json::Value> = String::from_utf8(stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5, "the bundled corpus is the default input");
    let districts: Vec<&str> = lines
        .iter()
        .map(|v| v["metadata"]["district"].as_str().unwrap())
        .collect();
    assert_eq!(
        districts,
        ["南明区", "麒麟区", "西乡塘区", "南岸区", "六盘水市"]
    );
    assert!(lines
        .iter()
        .all(|v| v["passages"].as_array().unwrap().len() > 20));
}

#[test]
fn inspect_text_and_overrides() {
    let out = zhengce()
        .args([
            "inspect",
            "data/corpus/004_6221689de9ab5559.txt",
            "--year",
            "2030",
            "--district",
            "钟山区",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("district: 钟山区 (1.00)"), "{text}");
    assert!(text.contains("city: 六盘水市"), "{text}");
    assert!(text.contains("year: 2030 (1.00)"), "{text}");
    assert!(
        text.contains("一、2023年政府工作回顧 > (一)全力防風險"),
        "{text}"
    );
}

#[test]
fn unreadable_files_are_named_and_fail_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, b"").unwrap();
    let out = zhengce()
        .arg("inspect")
        .arg(&empty)
        .arg("data/corpus/000_4ead13418bc20ab0.txt")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("empty.txt") && err.contains("empty file"),
        "{err}"
    );
    // The readable file is still shown.
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("district: 南明区"));
}

/// The demo set (data/demo) exists to make the target panel show series: it
/// must read as one district, its city and its province, each in five
/// consecutive years, from the text alone.
#[test]
fn the_demo_set_is_three_levels_over_five_years() {
    let stdout = stdout_of(zhengce().args(["--json", "inspect", "data/demo"]));
    let mut seen = std::collections::BTreeMap::<(String, String), Vec<i64>>::new();
    for line in String::from_utf8(stdout).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let m = &v["metadata"];
        assert_eq!(m["doc_type"], "政府工作报告", "{}", v["file"]);
        let key = (
            m["level"].as_str().unwrap_or("?").to_string(),
            m["district"].as_str().unwrap_or("?").to_string(),
        );
        seen.entry(key)
            .or_default()
            .push(m["year"].as_i64().unwrap_or(0));
    }
    let levels: Vec<&str> = seen.keys().map(|(l, _)| l.as_str()).collect();
    assert_eq!(levels, ["county", "prefecture", "province"], "{seen:?}");
    // Five reports of distinct years per place, within six years, and
    // four years all three places have: a series at each level.
    for years in seen.values_mut() {
        years.sort();
        years.dedup();
        assert_eq!(years.len(), 5, "{seen:?}");
        assert!(years[4] - years[0] <= 5, "{seen:?}");
    }
    let shared = seen
        .values()
        .fold(seen.values().next().unwrap().clone(), |acc, y| {
            acc.into_iter().filter(|x| y.contains(x)).collect()
        });
    assert!(shared.len() >= 4, "{seen:?}");
}

#[test]
fn bench_ingest_times_a_real_ingestion_and_names_a_missing_folder_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("report.txt"),
        "南明区2024年政府工作报告\n\n一、2023年工作回顾\n\n推进长者饭堂试点建设，新增养老床位700张，建成社区嵌入式托育服务设施3个。\n\n二、2024年主要任务\n\n今年经济社会发展的主要预期目标是：地区生产总值增长6%左右，城镇新增就业1.2万人。\n",
    )
    .unwrap();
    let stdout = stdout_of(
        zhengce()
            .args(["bench", "ingest", "--json"])
            .arg(dir.path()),
    );
    let v: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
    assert_eq!(v["documents"], 1, "{v}");
    let passages = v["passages"].as_f64().unwrap();
    let wall = v["wall_seconds"].as_f64().unwrap();
    let model = v["model_seconds"].as_f64().unwrap();
    assert!(passages >= 1.0, "{v}");
    assert!(model > 0.0 && model <= wall, "{v}");
    let rate = v["passages_per_second"].as_f64().unwrap();
    assert!((rate - passages / wall).abs() < 1e-6 * rate.max(1.0), "{v}");
    assert!(v["peak_rss_mb"].as_f64().unwrap() > 0.0, "{v}");

    let out = zhengce()
        .args(["bench", "ingest"])
        .arg(dir.path().join("missing"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing"), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}
