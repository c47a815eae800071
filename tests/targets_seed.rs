//! Stated GDP targets and results of the bundled reports, checked by hand
//! against the text (the sentence each comes from is quoted beside it).

use zhengce::corpus::{parse_file, CorpusOptions};
use zhengce::summarize::targets::{extract_document, Measure, TargetKind};

/// (file, kind, year, value, qualifier) for 地区生产总值 growth.
const EXPECTED: &[(&str, TargetKind, i32, f64, Option<&str>)] = &[
    // 001 麒麟区 2023 report: "預計實現區域內生產總值同比增5%左右" (2022, estimated)
    (
        "001_377fd206c21df32a.txt",
        TargetKind::Achieved,
        2022,
        5.0,
        Some("左右"),
    ),
    // "區域內生產總值增8%以上" (2023 target)
    (
        "001_377fd206c21df32a.txt",
        TargetKind::Target,
        2023,
        8.0,
        Some("以上"),
    ),
    // 002 西乡塘区 2025 plan: "2024年,西乡塘区地区生产总值(在地)增长1.8%"
    (
        "002_aa1a712f84acc684.txt",
        TargetKind::Achieved,
        2024,
        1.8,
        None,
    ),
    // "主要预期目标为:地区生产总值增长5%"
    (
        "002_aa1a712f84acc684.txt",
        TargetKind::Target,
        2025,
        5.0,
        None,
    ),
    // 003 南岸区 2024 report: "南岸区地区生产总值前三季度分别增长…全年增长6.7%"
    (
        "003_161c44b6b5891905.txt",
        TargetKind::Achieved,
        2023,
        6.7,
        None,
    ),
    // "主要预期目标是:地区生产总值增长6%左右"
    (
        "003_161c44b6b5891905.txt",
        TargetKind::Target,
        2024,
        6.0,
        Some("左右"),
    ),
    // 004 六盘水市 2024 report: "全市地區生產總值完成1557.64億元、增長3.2%"
    (
        "004_6221689de9ab5559.txt",
        TargetKind::Achieved,
        2023,
        3.2,
        None,
    ),
    // "主要預期目標是:地區生產總值增長5.5%左右"
    (
        "004_6221689de9ab5559.txt",
        TargetKind::Target,
        2024,
        5.5,
        Some("左右"),
    ),
];

#[test]
fn gdp_growth_targets_and_results_of_each_report() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/corpus");
    for file in [
        "001_377fd206c21df32a.txt",
        "002_aa1a712f84acc684.txt",
        "003_161c44b6b5891905.txt",
        "004_6221689de9ab5559.txt",
    ] {
        let doc = parse_file(&dir.join(file), &CorpusOptions::default()).unwrap();
        let gdp: Vec<_> = extract_document(&doc)
            .into_iter()
            .filter(|r| r.indicator == "地区生产总值" && r.measure == Measure::Growth)
            .collect();
        let expected: Vec<_> = EXPECTED.iter().filter(|e| e.0 == file).collect();
        for &&(_, kind, year, value, qualifier) in &expected {
            let found = gdp.iter().find(|r| r.kind == kind && r.year == Some(year));
            let r = found.unwrap_or_else(|| panic!("{file}: no {kind:?} {year} row in {gdp:#?}"));
            assert_eq!(r.value, value, "{file} {kind:?} {year}: {}", r.sentence);
            assert_eq!(r.qualifier.as_deref(), qualifier, "{file}: {}", r.sentence);
            assert_eq!(r.unit, "%");
            // The cited sentence is in the cited passage, verbatim.
            let p = doc.passages.iter().find(|p| p.id == r.passage_id).unwrap();
            assert!(p.text.contains(&r.sentence));
        }
        // No other GDP growth statement is attributed to these years and kinds.
        for r in &gdp {
            assert!(
                expected
                    .iter()
                    .any(|e| e.1 == r.kind && Some(e.2) == r.year && e.3 == r.value),
                "{file}: unexpected GDP growth row {r:#?}"
            );
        }
    }
}

#[test]
fn outlook_share_is_not_a_gdp_figure() {
    // 000 names GDP only in "技术合同成交额与地区生产总值之比3%以上".
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/corpus");
    let doc = parse_file(
        &dir.join("000_4ead13418bc20ab0.txt"),
        &CorpusOptions::default(),
    )
    .unwrap();
    let rows = extract_document(&doc);
    assert!(
        !rows.iter().any(|r| r.indicator == "地区生产总值"),
        "{rows:#?}"
    );
    assert!(rows
        .iter()
        .any(|r| r.indicator == "规上工业总产值" && r.value == 280.0));
}
