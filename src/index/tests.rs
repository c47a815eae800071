//! Store, dense and lexical tests on hand-built documents with a
//! deterministic character-bigram encoder (the real model arrives with the
//! embed branch; these exercise the real SQLite store and HNSW graph).

use std::collections::BTreeMap;

use super::*;
use crate::corpus::{Document, DocumentMeta, Passage};
use crate::embed::EmbedError;
use crate::search::{self, Mode, QueryEncoder, SearchError, SearchRequest, SimilarRequest};

pub(crate) const DIM: usize = 64;
pub(crate) const MODEL: &str = "test-bigram-64";

/// Hashes character unigrams and bigrams of the simplified text into DIM
/// buckets: texts sharing words get similar vectors.
pub(crate) struct BigramEncoder;

pub(crate) fn bigram_vector(text: &str) -> Vec<f32> {
    let s: Vec<char> = crate::corpus::to_simplified(text)
        .chars()
        .filter(|c| c.is_alphanumeric())
        .collect();
    let mut v = vec![0f32; DIM];
    let h = |x: u64| (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize % DIM;
    for w in s.windows(2) {
        v[h((w[0] as u64) << 21 | w[1] as u64)] += 1.0;
    }
    for c in &s {
        v[h(*c as u64 + 7)] += 0.3;
    }
    if v.iter().all(|x| *x == 0.0) {
        v[0] = 1.0;
    }
    dense::normalize(&mut v);
    v
}

impl QueryEncoder for BigramEncoder {
    fn encode_query(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        Ok(bigram_vector(text))
    }
    fn encode_passage(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        Ok(bigram_vector(text))
    }
}

pub(crate) fn doc(id: &str, district: &str, year: i32, texts: &[&str]) -> Document {
    Document {
        id: id.to_string(),
        file: format!("{id}.txt"),
        encoding: "UTF-8".into(),
        script: "simplified".into(),
        meta: DocumentMeta {
            title: Some(format!("{district}{year}年政府工作报告")),
            place: crate::corpus::Place {
                district: Some(district.to_string()),
                city: Some("测试市".into()),
                province: Some("测试省".into()),
            },
            year: Some(year),
            doc_type: Some("政府工作报告".into()),
            ..Default::default()
        },
        removed: BTreeMap::from([("pinyin_annotations".to_string(), 3)]),
        passages: texts
            .iter()
            .enumerate()
            .map(|(i, t)| Passage {
                id: format!("{id}-{i:04}"),
                ordinal: i as u32,
                text: t.to_string(),
                text_simplified: crate::corpus::to_simplified(t),
                section_path: vec!["一、工作回顾".into()],
                term: None,
            })
            .collect(),
    }
}

pub(crate) fn vectors(d: &Document) -> Vec<Vec<f32>> {
    d.passages.iter().map(|p| bigram_vector(&p.text)).collect()
}

pub(crate) fn sample_docs() -> Vec<Document> {
    vec![
        doc(
            "aaaa000000000001",
            "东城区",
            2024,
            &[
                "全面推进乡村振兴，发展特色农业产业。",
                "加快老旧小区改造，完善社区养老服务设施。",
                "优化营商环境，深化放管服改革。",
            ],
        ),
        doc(
            "bbbb000000000002",
            "西城区",
            2024,
            &[
                "实施乡村振兴战略，建设美丽乡村。",
                "推进垃圾分类，改善生态环境质量。",
                "发展数字经济，培育人工智能产业集群。",
            ],
        ),
        doc(
            "cccc000000000003",
            "南山县",
            2025,
            &[
                "巩固脱贫攻坚成果，衔接乡村振兴。",
                "新建社区养老服务中心三个。",
                "加强义务教育学校建设。",
            ],
        ),
    ]
}

pub(crate) fn filled_library(dir: &std::path::Path) -> Library {
    let lib = Library::open(dir, MODEL, DIM).unwrap();
    for d in sample_docs() {
        assert_eq!(
            lib.add_document(&d, &vectors(&d)).unwrap(),
            AddOutcome::Added
        );
    }
    lib
}

fn ids(lib: &Library, found: &[ScoredPassage]) -> Vec<String> {
    let keys: Vec<PassageKey> = found.iter().map(|s| s.key).collect();
    lib.passages_by_key(&keys)
        .unwrap()
        .into_iter()
        .map(|p| p.passage_id)
        .collect()
}

#[test]
fn store_round_trips_documents_passages_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let lib = filled_library(dir.path());
    let docs = lib.documents().unwrap();
    assert_eq!(docs.len(), 3);
    assert!(docs.iter().all(|d| d.passages == 3));
    assert_eq!(docs[0].removed.get("pinyin_annotations"), Some(&3));
    let rec = lib.document("bbbb000000000002").unwrap();
    assert_eq!(rec.passages.len(), 3);
    assert_eq!(rec.passages[1].text, "推进垃圾分类，改善生态环境质量。");
    assert_eq!(rec.passages[1].place.district.as_deref(), Some("西城区"));
    let p = lib.passage("cccc000000000003-0001").unwrap();
    assert_eq!(p.year, Some(2025));
    assert!(matches!(
        lib.passage("nope"),
        Err(IndexError::NotFound { .. })
    ));
    let st = lib.stats().unwrap();
    assert_eq!((st.documents, st.passages, st.districts), (3, 9, 3));
}

#[test]
fn dense_and_lexical_find_the_matching_passage() {
    let dir = tempfile::tempdir().unwrap();
    let lib = filled_library(dir.path());
    let q = bigram_vector("社区养老服务");
    let dense = lib.dense_search(&q, 3, &Filter::default()).unwrap();
    let top = ids(&lib, &dense);
    assert!(
        top[..2].contains(&"aaaa000000000001-0001".to_string()),
        "{top:?}"
    );
    assert!(
        top[..2].contains(&"cccc000000000003-0001".to_string()),
        "{top:?}"
    );
    assert!(dense[0].score >= dense[1].score);

    let lex = lib
        .lexical_search("垃圾分类", 5, &Filter::default())
        .unwrap();
    assert_eq!(ids(&lib, &lex), vec!["bbbb000000000002-0001"]);
    // A traditional-script query meets simplified text.
    let lex = lib
        .lexical_search("推進垃圾分類", 5, &Filter::default())
        .unwrap();
    assert_eq!(ids(&lib, &lex)[0], "bbbb000000000002-0001");
    assert!(lib
        .lexical_search("的吗", 5, &Filter::default())
        .unwrap()
        .is_empty());
}

#[test]
fn filters_restrict_every_retriever_and_facets_agree_with_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let lib = filled_library(dir.path());
    let f = Filter {
        district: Some("西城区".into()),
        ..Default::default()
    };
    let q = bigram_vector("乡村振兴");
    for sp in lib.dense_search(&q, 10, &f).unwrap() {
        let p = &lib.passages_by_key(&[sp.key]).unwrap()[0];
        assert_eq!(p.place.district.as_deref(), Some("西城区"));
    }
    let lex = lib.lexical_search("乡村振兴", 10, &f).unwrap();
    assert_eq!(ids(&lib, &lex), vec!["bbbb000000000002-0000"]);
    let y = Filter::default().with_year(2025);
    let lex = lib.lexical_search("乡村振兴", 10, &y).unwrap();
    assert_eq!(ids(&lib, &lex), vec!["cccc000000000003-0000"]);
    assert_eq!(lib.dense_search(&q, 10, &y).unwrap().len(), 3);

    let all = lib.facets(&Filter::default()).unwrap();
    assert_eq!(all.total_passages, 9);
    assert_eq!(all.total_documents, 3);
    assert_eq!(all.district.get("东城区"), Some(&3));
    assert_eq!(all.year.get(&2024), Some(&6));
    let f2024 = lib.facets(&Filter::default().with_year(2024)).unwrap();
    assert_eq!(f2024.total_passages, 6);
    assert!(!f2024.district.contains_key("南山县"));
    let mut exported = 0;
    lib.for_each_passage(&Filter::default().with_year(2024), &mut |_| {
        exported += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(exported, f2024.total_passages);
}

#[test]
fn delete_removes_a_document_from_store_dense_and_lexical() {
    let dir = tempfile::tempdir().unwrap();
    let lib = filled_library(dir.path());
    let q = bigram_vector("推进垃圾分类，改善生态环境质量。");
    assert_eq!(
        ids(&lib, &lib.dense_search(&q, 1, &Filter::default()).unwrap()),
        vec!["bbbb000000000002-0001"]
    );
    lib.delete_document("bbbb000000000002").unwrap();
    let dense = lib.dense_search(&q, 10, &Filter::default()).unwrap();
    assert_eq!(dense.len(), 6);
    assert!(ids(&lib, &dense).iter().all(|id| !id.starts_with("bbbb")));
    assert!(lib
        .lexical_search("垃圾分类", 10, &Filter::default())
        .unwrap()
        .is_empty());
    assert!(lib.document("bbbb000000000002").is_err());
    assert!(matches!(
        lib.delete_document("bbbb000000000002"),
        Err(IndexError::NotFound { .. })
    ));
    assert_eq!(lib.facets(&Filter::default()).unwrap().total_passages, 6);
    let st = lib.stats().unwrap();
    assert_eq!(st.dense_tombstones, 3);
    // After a reopen (graph rebuilt or reloaded) the deletion still holds.
    drop(lib);
    let lib = Library::open(dir.path(), MODEL, DIM).unwrap();
    let dense = lib.dense_search(&q, 10, &Filter::default()).unwrap();
    assert!(ids(&lib, &dense).iter().all(|id| !id.starts_with("bbbb")));
}

#[test]
fn term_statistics_follow_every_write() {
    let dir = tempfile::tempdir().unwrap();
    let lib = filled_library(dir.path());
    let terms = crate::index::lexical::query_terms("推进垃圾分类");
    let before = lib.term_statistics(&terms).unwrap();
    assert!(before.document_frequency.iter().all(|&df| df > 0));
    // Asked again, the remembered figures are the same.
    let again = lib.term_statistics(&terms).unwrap();
    assert_eq!(again.document_frequency, before.document_frequency);
    assert_eq!(again.passages, before.passages);
    lib.delete_document("bbbb000000000002").unwrap();
    let after = lib.term_statistics(&terms).unwrap();
    assert_eq!(after.passages, before.passages - 3);
    // Only the deleted report speaks of waste sorting.
    let sorting = terms.iter().position(|t| t == "垃圾").unwrap();
    assert_eq!(after.document_frequency[sorting], 0);
    let d = sample_docs()
        .into_iter()
        .find(|d| d.id == "bbbb000000000002")
        .unwrap();
    lib.add_document(&d, &vectors(&d)).unwrap();
    let restored = lib.term_statistics(&terms).unwrap();
    assert_eq!(restored.document_frequency, before.document_frequency);
    assert_eq!(restored.passages, before.passages);
}

#[test]
fn reingesting_a_document_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let lib = filled_library(dir.path());
    let before = ids(
        &lib,
        &lib.lexical_search("营商环境", 10, &Filter::default())
            .unwrap(),
    );
    let mut d = sample_docs().remove(0);
    d.meta.year = Some(2023);
    assert_eq!(
        lib.add_document(&d, &vectors(&d)).unwrap(),
        AddOutcome::Replaced
    );
    assert_eq!(lib.stats().unwrap().passages, 9);
    assert_eq!(
        lib.passage("aaaa000000000001-0000").unwrap().year,
        Some(2023)
    );
    let after = ids(
        &lib,
        &lib.lexical_search("营商环境", 10, &Filter::default())
            .unwrap(),
    );
    assert_eq!(before, after);
    assert_eq!(after.iter().filter(|id| id.starts_with("aaaa")).count(), 1);
    let q = bigram_vector("优化营商环境，深化放管服改革。");
    let dense = ids(&lib, &lib.dense_search(&q, 9, &Filter::default()).unwrap());
    assert_eq!(dense.len(), 9);
    assert_eq!(dense[0], "aaaa000000000001-0002");
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lib = filled_library(dir.path());
    let d = doc("dddd000000000004", "北区", 2024, &["一", "二"]);
    let short = vec![vec![0.1f32; DIM]];
    assert!(matches!(
        lib.add_document(&d, &short),
        Err(IndexError::Invalid(_))
    ));
    let wrong_dim = vec![vec![0.1f32; DIM + 1]; 2];
    assert!(lib.add_document(&d, &wrong_dim).is_err());
    let nan = vec![vec![f32::NAN; DIM]; 2];
    assert!(lib.add_document(&d, &nan).is_err());
    // A passage id colliding with another document's rolls back the whole document.
    let mut clash = doc("eeee000000000005", "北区", 2024, &["新内容甲", "新内容乙"]);
    clash.passages[1].id = "aaaa000000000001-0000".into();
    assert!(matches!(
        lib.add_document(&clash, &vectors(&clash)),
        Err(IndexError::Invalid(_))
    ));
    assert!(!lib.contains_document("eeee000000000005").unwrap());
    assert_eq!(lib.stats().unwrap().passages, 9);
    assert!(lib.dense_search(&[0.0; 3], 5, &Filter::default()).is_err());
}

#[test]
fn another_model_or_dimension_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(filled_library(dir.path()));
    let e = Library::open(dir.path(), "other-model", DIM).err().unwrap();
    assert!(matches!(e, IndexError::ModelMismatch { .. }), "{e}");
    assert!(e.to_string().contains("other-model") && e.to_string().contains(MODEL));
    assert!(matches!(
        Library::open(dir.path(), MODEL, DIM * 2),
        Err(IndexError::ModelMismatch { .. })
    ));
    // The refusal did not damage the store.
    assert_eq!(
        Library::open(dir.path(), MODEL, DIM)
            .unwrap()
            .stats()
            .unwrap()
            .passages,
        9
    );
}

#[test]
fn restart_reloads_the_dumped_graph_and_recovers_from_a_stale_or_broken_one() {
    let dir = tempfile::tempdir().unwrap();
    let lib = filled_library(dir.path());
    lib.flush().unwrap();
    let gen = lib.stats().unwrap().generation;
    assert!(dir.path().join(format!("hnsw-{gen}")).is_dir());
    let q = bigram_vector("人工智能产业");
    let before = ids(&lib, &lib.dense_search(&q, 3, &Filter::default()).unwrap());
    // Simulate a kill after a committed write but before the graph was
    // persisted: no Drop, so no flush.
    let extra = doc(
        "ffff000000000006",
        "北区",
        2024,
        &["人工智能产业园区建设。"],
    );
    lib.add_document(&extra, &vectors(&extra)).unwrap();
    std::mem::forget(lib);
    let lib = Library::open(dir.path(), MODEL, DIM).unwrap();
    let after = ids(&lib, &lib.dense_search(&q, 1, &Filter::default()).unwrap());
    assert_eq!(after, vec!["ffff000000000006-0000"], "before: {before:?}");
    assert_eq!(lib.stats().unwrap().generation, gen + 1);
    drop(lib);
    // A corrupted graph file is rebuilt from stored vectors.
    let gdir = dir.path().join(format!("hnsw-{}", gen + 1));
    std::fs::write(gdir.join("dense.hnsw.flat"), b"garbage").unwrap();
    let lib = Library::open(dir.path(), MODEL, DIM).unwrap();
    assert_eq!(
        ids(&lib, &lib.dense_search(&q, 1, &Filter::default()).unwrap()),
        vec!["ffff000000000006-0000"]
    );
}

/// Opening takes the catalog's vectors from a graph that holds every live
/// passage, and from the store otherwise; either way they are the stored
/// vectors, bit for bit.
#[test]
fn a_library_opens_with_the_stored_vectors_from_the_graph_or_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let lib = filled_library(dir.path());
    // Two more documents, so one deletion (3 of 15 points) stays below
    // the share that makes a flush rebuild the graph without it.
    let mut kept = sample_docs().split_off(1);
    for (id, text) in [
        ("eeee000000000005", "发展海洋经济，建设现代海洋牧场。"),
        ("ffff000000000006", "推进城市更新，改造老旧厂区。"),
    ] {
        let d = doc(
            id,
            "东区",
            2023,
            &[text, "完善公共服务。", "加强基层治理。"],
        );
        lib.add_document(&d, &vectors(&d)).unwrap();
        kept.push(d);
    }
    lib.delete_document("aaaa000000000001").unwrap();
    lib.flush().unwrap();
    let snapshot = |lib: &Library| {
        let mut keys: Vec<PassageKey> = kept
            .iter()
            .flat_map(|d| lib.document_keys(&d.id).unwrap())
            .collect();
        keys.sort();
        let vectors: Vec<Vec<f32>> = keys
            .iter()
            .map(|k| lib.passage_vector(*k).unwrap())
            .collect();
        let filter = Filter {
            district: Some("南山县".into()),
            ..Default::default()
        };
        let q = bigram_vector("养老服务中心");
        let filtered = ids(lib, &lib.dense_search(&q, 2, &filter).unwrap());
        (keys, vectors, filtered, lib.background_sample(100).unwrap())
    };
    let before = snapshot(&lib);
    assert_eq!(before.1.len(), 12);
    assert!(before.2[0].starts_with("cccc"), "{:?}", before.2);
    let gen = lib.stats().unwrap().generation;
    drop(lib);
    // From the graph (it holds the deleted document's points as well).
    let lib = Library::open(dir.path(), MODEL, DIM).unwrap();
    assert_eq!(lib.stats().unwrap().dense_tombstones, 3);
    assert_eq!(snapshot(&lib), before);
    drop(lib);
    // From the store, when the graph is gone.
    std::fs::remove_dir_all(dir.path().join(format!("hnsw-{gen}"))).unwrap();
    let lib = Library::open(dir.path(), MODEL, DIM).unwrap();
    assert_eq!(lib.stats().unwrap().dense_tombstones, 0);
    assert_eq!(snapshot(&lib), before);
    // A graph with enough points that lacks a live passage is not used:
    // here the last flushed graph is put where a later generation's
    // (one more document) would be.
    lib.flush().unwrap();
    let extra = doc(
        "dddd000000000004",
        "北区",
        2024,
        &["建设氢能产业示范园区。"],
    );
    lib.add_document(&extra, &vectors(&extra)).unwrap();
    lib.delete_document("bbbb000000000002").unwrap();
    let gen = lib.stats().unwrap().generation;
    std::mem::forget(lib);
    std::fs::rename(
        dir.path().join(format!("hnsw-{}", gen - 2)),
        dir.path().join(format!("hnsw-{gen}")),
    )
    .unwrap();
    let lib = Library::open(dir.path(), MODEL, DIM).unwrap();
    let q = bigram_vector("氢能产业示范园区");
    assert_eq!(
        ids(&lib, &lib.dense_search(&q, 1, &Filter::default()).unwrap()),
        vec!["dddd000000000004-0000"]
    );
    let key = lib.document_keys("dddd000000000004").unwrap()[0];
    let mut stored = vectors(&extra)[0].clone();
    dense::normalize(&mut stored);
    assert_eq!(lib.passage_vector(key).unwrap(), stored);
}

/// Libraries made before the flat graph file hold hnsw_rs's own dump: it
/// must open as the same graph, and be rewritten in the flat format.
#[test]
fn a_graph_in_hnsw_rs_format_opens_and_is_rewritten_flat() {
    use crate::index::dense::{DenseIndex, DenseParams};
    let dir = tempfile::tempdir().unwrap();
    let lib = filled_library(dir.path());
    lib.flush().unwrap();
    let gen = lib.stats().unwrap().generation;
    let queries: Vec<Vec<f32>> = ["人工智能产业", "生态环境保护", "乡村振兴"]
        .iter()
        .map(|t| bigram_vector(t))
        .collect();
    let search_all = |lib: &Library| -> Vec<Vec<String>> {
        queries
            .iter()
            .map(|q| ids(lib, &lib.dense_search(q, 5, &Filter::default()).unwrap()))
            .collect()
    };
    let before = search_all(&lib);
    drop(lib);
    let gdir = dir.path().join(format!("hnsw-{gen}"));
    let flat = gdir.join("dense.hnsw.flat");
    DenseIndex::load(&gdir, "dense", DIM, DenseParams::default())
        .unwrap()
        .dump_legacy(&gdir, "dense")
        .unwrap();
    std::fs::remove_file(&flat).unwrap();
    let links = DenseIndex::load(&gdir, "dense", DIM, DenseParams::default())
        .unwrap()
        .to_flat();

    let lib = Library::open(dir.path(), MODEL, DIM).unwrap();
    assert_eq!(search_all(&lib), before);
    assert!(
        flat.is_file(),
        "the graph was not rewritten in the flat format"
    );
    drop(lib);
    // The rewrite is the graph hnsw_rs's loader read, not a rebuild.
    let rewritten = DenseIndex::load(&gdir, "dense", DIM, DenseParams::default()).unwrap();
    assert_eq!(rewritten.to_flat(), links);
    assert_eq!(
        search_all(&Library::open(dir.path(), MODEL, DIM).unwrap()),
        before
    );
}

#[test]
fn hybrid_search_fuses_and_reports_retrievers_and_highlights() {
    let dir = tempfile::tempdir().unwrap();
    let lib = filled_library(dir.path());
    let req = SearchRequest {
        query: "垃圾分类".into(),
        k: 3,
        ..Default::default()
    };
    let r = search::search(&lib, &BigramEncoder, &req).unwrap();
    assert_eq!(r.hits[0].passage_id, "bbbb000000000002-0001");
    assert_eq!(r.hits[0].retrievers, vec!["dense", "lexical"]);
    let h = r.hits[0].highlights[0];
    assert_eq!(&r.hits[0].text[h.start..h.end], "垃圾分类");
    assert!(r.groups.is_none());
    for mode in [Mode::Dense, Mode::Lexical] {
        let r = search::search(
            &lib,
            &BigramEncoder,
            &SearchRequest {
                mode,
                ..req.clone()
            },
        )
        .unwrap();
        assert_eq!(r.hits[0].passage_id, "bbbb000000000002-0001", "{mode:?}");
        assert_eq!(r.hits[0].retrievers.len(), 1);
    }
}

#[test]
fn grouping_returns_districts_in_order_of_their_best_hit() {
    let dir = tempfile::tempdir().unwrap();
    let lib = filled_library(dir.path());
    let req = SearchRequest {
        query: "乡村振兴".into(),
        k: 10,
        group_by_district: true,
        per_group: 2,
        ..Default::default()
    };
    let r = search::search(&lib, &BigramEncoder, &req).unwrap();
    let groups = r.groups.unwrap();
    assert_eq!(groups.len(), 3);
    for w in groups.windows(2) {
        assert!(w[0].hits[0].score >= w[1].hits[0].score);
    }
    for g in &groups {
        assert!(g.hits.len() <= 2 && !g.hits.is_empty());
        assert!(g
            .hits
            .iter()
            .all(|h| h.place.district.as_deref() == Some(&g.district[..])));
        assert!(g.hits[0].text.contains("乡村"), "{:?}", g.hits[0].text);
    }
    assert_eq!(
        r.hits.len(),
        groups.iter().map(|g| g.hits.len()).sum::<usize>()
    );
}

#[test]
fn similar_excludes_the_source_district_and_keeps_one_per_district() {
    let dir = tempfile::tempdir().unwrap();
    let lib = filled_library(dir.path());
    let req = SimilarRequest {
        passage_id: Some("aaaa000000000001-0001".into()),
        k: 5,
        ..Default::default()
    };
    let r = search::similar(&lib, &BigramEncoder, &req).unwrap();
    assert_eq!(r.hits.len(), 2);
    assert!(r
        .hits
        .iter()
        .all(|h| h.place.district.as_deref() != Some("东城区")));
    assert_eq!(r.hits[0].passage_id, "cccc000000000003-0001");
    let with_same = search::similar(
        &lib,
        &BigramEncoder,
        &SimilarRequest {
            include_same_district: true,
            per_district: 3,
            ..req.clone()
        },
    )
    .unwrap();
    assert!(with_same
        .hits
        .iter()
        .all(|h| h.doc_id != "aaaa000000000001"));
    let neighbour = doc(
        "gggg000000000007",
        "东城区",
        2023,
        &["社区养老服务站点建设。"],
    );
    lib.add_document(&neighbour, &vectors(&neighbour)).unwrap();
    assert!(search::similar(&lib, &BigramEncoder, &req)
        .unwrap()
        .hits
        .iter()
        .all(|h| h.place.district.as_deref() != Some("东城区")));
    let with_same = search::similar(
        &lib,
        &BigramEncoder,
        &SimilarRequest {
            include_same_district: true,
            ..req.clone()
        },
    )
    .unwrap();
    assert_eq!(with_same.hits[0].doc_id, "gggg000000000007");
    assert!(with_same
        .hits
        .iter()
        .all(|h| h.doc_id != "aaaa000000000001"));

    // Pasted text; a negative example pushes its look-alike down.
    let by_text = SimilarRequest {
        text: Some("乡村振兴".into()),
        k: 3,
        ..Default::default()
    };
    let plain = search::similar(&lib, &BigramEncoder, &by_text).unwrap();
    let first = plain.hits[0].passage_id.clone();
    let steered = search::similar(
        &lib,
        &BigramEncoder,
        &SimilarRequest {
            negative: vec![first.clone()],
            ..by_text
        },
    )
    .unwrap();
    let pos = |hits: &[search::Hit]| hits.iter().position(|h| h.passage_id == first);
    assert!(
        pos(&steered.hits).is_none_or(|p| p > 0),
        "{:?}",
        steered.hits
    );
}

#[test]
fn malformed_requests_are_bad_requests() {
    let dir = tempfile::tempdir().unwrap();
    let lib = filled_library(dir.path());
    let bad = |req: SearchRequest| {
        matches!(
            search::search(&lib, &BigramEncoder, &req),
            Err(SearchError::BadRequest(_))
        )
    };
    let ok = SearchRequest {
        query: "养老".into(),
        ..Default::default()
    };
    assert!(bad(SearchRequest {
        query: "  ".into(),
        ..ok.clone()
    }));
    assert!(bad(SearchRequest { k: 0, ..ok.clone() }));
    assert!(bad(SearchRequest {
        k: 100_000,
        ..ok.clone()
    }));
    assert!(bad(SearchRequest {
        query: "长".repeat(5000),
        ..ok.clone()
    }));
    assert!(bad(SearchRequest {
        rrf_k: -1.0,
        ..ok.clone()
    }));
    assert!(bad(SearchRequest {
        filter: Filter {
            year_from: Some(2025),
            year_to: Some(2020),
            ..Default::default()
        },
        ..ok.clone()
    }));
    assert!("fuzzy".parse::<Mode>().is_err());
    let sim = |req: SimilarRequest| search::similar(&lib, &BigramEncoder, &req);
    assert!(matches!(
        sim(SimilarRequest::default()),
        Err(SearchError::BadRequest(_))
    ));
    assert!(matches!(
        sim(SimilarRequest {
            passage_id: Some("missing".into()),
            ..Default::default()
        }),
        Err(SearchError::NotFound { .. })
    ));
    assert!(matches!(
        sim(SimilarRequest {
            passage_id: Some("aaaa000000000001-0000".into()),
            text: Some("x".into()),
            ..Default::default()
        }),
        Err(SearchError::BadRequest(_))
    ));
}

#[test]
fn json_shapes_use_the_documented_field_names() {
    let dir = tempfile::tempdir().unwrap();
    let lib = filled_library(dir.path());
    let req = SearchRequest {
        query: "养老".into(),
        group_by_district: true,
        ..Default::default()
    };
    let r = search::search(&lib, &BigramEncoder, &req).unwrap();
    let v = serde_json::to_value(&r).unwrap();
    for f in [
        "passage_id",
        "text",
        "district",
        "city",
        "province",
        "year",
        "doc_id",
        "section_path",
        "score",
    ] {
        assert!(v["hits"][0].get(f).is_some(), "missing {f}");
    }
    assert!(v["groups"][0]["district"].is_string() && v["groups"][0]["hits"].is_array());
    let sim: SimilarRequest =
        serde_json::from_str(r#"{"passage_id": "x", "k": 3, "negative": ["y"]}"#).unwrap();
    assert_eq!((sim.k, sim.per_district, sim.negative.len()), (3, 1, 1));
}

/// Reports of one place under its former and current names (清苑县 became
/// 清苑区 in 2015) and of a neighbouring district.
fn renamed_place_docs() -> Vec<Document> {
    let mut docs = vec![
        doc(
            "dddd000000000004",
            "清苑县",
            2003,
            &["全面推进乡村振兴，发展设施农业。", "加快县城道路建设。"],
        ),
        doc(
            "eeee000000000005",
            "清苑区",
            2024,
            &[
                "实施乡村振兴战略，壮大村集体经济。",
                "推进城区老旧小区改造。",
            ],
        ),
        doc(
            "ffff000000000006",
            "徐水区",
            2024,
            &["衔接乡村振兴，发展特色种植。", "建设工业园区。"],
        ),
    ];
    for d in &mut docs {
        d.meta.place.city = Some("保定市".into());
        d.meta.place.province = Some("河北省".into());
    }
    docs
}

fn renamed_place_library(dir: &std::path::Path) -> Library {
    let lib = Library::open(dir, MODEL, DIM).unwrap();
    for d in renamed_place_docs() {
        lib.add_document(&d, &vectors(&d)).unwrap();
    }
    lib
}

fn doc_ids_of(lib: &Library, found: &[ScoredPassage]) -> Vec<String> {
    let mut out: Vec<String> = ids(lib, found)
        .into_iter()
        .map(|id| id[..16].to_string())
        .collect();
    out.sort();
    out.dedup();
    out
}

fn assert_place_filter(lib: &Library, f: &Filter, want: &[&str]) {
    let q = bigram_vector("乡村振兴");
    assert_eq!(
        doc_ids_of(lib, &lib.dense_search(&q, 10, f).unwrap()),
        want,
        "dense {f:?}"
    );
    assert_eq!(
        doc_ids_of(lib, &lib.lexical_search("乡村振兴", 10, f).unwrap()),
        want,
        "lexical {f:?}"
    );
    let mut docs = Vec::new();
    lib.for_each_passage(f, &mut |p| {
        docs.push(p.doc_id.clone());
        Ok(())
    })
    .unwrap();
    docs.dedup();
    assert_eq!(docs.len(), want.len(), "export {f:?}");
    assert_eq!(
        lib.facets(f).unwrap().total_documents,
        want.len(),
        "facets {f:?}"
    );
}

#[test]
fn a_place_filter_finds_the_place_under_its_former_and_later_names() {
    let dir = tempfile::tempdir().unwrap();
    let lib = renamed_place_library(dir.path());
    let qingyuan = ["dddd000000000004", "eeee000000000005"];
    for name in ["清苑区", "清苑县"] {
        let f = Filter {
            district: Some(name.into()),
            ..Default::default()
        };
        assert_place_filter(&lib, &f, &qingyuan);
    }
    let f = Filter {
        district: Some("徐水县".into()),
        ..Default::default()
    };
    assert_place_filter(&lib, &f, &["ffff000000000006"]);
    // The prefecture under its former name holds all three.
    let f = Filter {
        city: Some("保定地区".into()),
        ..Default::default()
    };
    assert_place_filter(
        &lib,
        &f,
        &["dddd000000000004", "eeee000000000005", "ffff000000000006"],
    );
    // Years still restrict.
    let f = Filter {
        district: Some("清苑区".into()),
        year_to: Some(2010),
        ..Default::default()
    };
    assert_place_filter(&lib, &f, &["dddd000000000004"]);
}

#[test]
fn libraries_without_place_keys_get_them_on_open() {
    let dir = tempfile::tempdir().unwrap();
    drop(renamed_place_library(dir.path()));
    {
        // Turn the library into one made before the column existed.
        let conn = rusqlite::Connection::open(dir.path().join(STORE_FILE)).unwrap();
        conn.execute_batch(
            "DROP INDEX documents_by_place; ALTER TABLE documents DROP COLUMN place_key;",
        )
        .unwrap();
    }
    let lib = Library::open(dir.path(), MODEL, DIM).unwrap();
    let f = Filter {
        district: Some("清苑区".into()),
        ..Default::default()
    };
    assert_place_filter(&lib, &f, &["dddd000000000004", "eeee000000000005"]);
    let conn = rusqlite::Connection::open(dir.path().join(STORE_FILE)).unwrap();
    let keys: Vec<Option<i64>> = conn
        .prepare("SELECT place_key FROM documents ORDER BY doc_id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(keys, vec![Some(130608), Some(130608), Some(130609)]);
}

#[test]
fn grouping_puts_a_place_under_its_names_together() {
    let dir = tempfile::tempdir().unwrap();
    let lib = renamed_place_library(dir.path());
    let req = SearchRequest {
        query: "乡村振兴".into(),
        k: 10,
        group_by_district: true,
        per_group: 3,
        ..Default::default()
    };
    let groups = search::search(&lib, &BigramEncoder, &req)
        .unwrap()
        .groups
        .unwrap();
    assert_eq!(groups.len(), 2, "{groups:?}");
    let qy = groups
        .iter()
        .find(|g| g.district.starts_with("清苑"))
        .expect("a 清苑 group");
    let mut names = qy.other_names.clone();
    names.push(qy.district.clone());
    names.sort();
    assert_eq!(names, vec!["清苑区", "清苑县"]);
    let docs: std::collections::BTreeSet<&str> = qy.hits.iter().map(|h| &h.doc_id[..]).collect();
    assert_eq!(docs.len(), 2);
    let xs = groups.iter().find(|g| g.district == "徐水区").unwrap();
    assert!(xs.other_names.is_empty());
}

#[test]
fn filters_from_typed_values() {
    let range = |from, to| YearRange { from, to };
    assert_eq!(
        YearRange::parse("2024").unwrap(),
        range(Some(2024), Some(2024))
    );
    assert_eq!(YearRange::parse("2022..").unwrap(), range(Some(2022), None));
    assert_eq!(YearRange::parse("").unwrap(), range(None, None));
    assert!(matches!(YearRange::parse("20x"), Err(FilterError::Year(_))));
    assert!(matches!(
        YearRange::parse("1899"),
        Err(FilterError::Year(_))
    ));
    let f = Filter::from_values(
        Some(" 南岸区 "),
        Some("  "),
        None,
        YearRange::parse("2024-2022").unwrap(),
        None,
    )
    .unwrap();
    assert_eq!(
        f,
        Filter {
            district: Some("南岸区".into()),
            year_from: Some(2022),
            year_to: Some(2024),
            ..Filter::default()
        }
    );
    assert!(matches!(
        Filter::from_values(Some("a\nb"), None, None, YearRange::default(), None),
        Err(FilterError::Text(_))
    ));
}

/// The HNSW parameters are read from the library, not this build's
/// defaults; a library that lacks them (made before they were stored) opens
/// with the defaults it was built with, and has them recorded.
#[test]
fn hnsw_parameters_live_with_the_library() {
    use super::dense::DenseParams;
    let dir = tempfile::tempdir().unwrap();
    let lib = filled_library(dir.path());
    assert_eq!(lib.dense_params(), DenseParams::default());
    drop(lib);
    let db = dir.path().join(super::STORE_FILE);
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        "UPDATE meta SET value = '64' WHERE key = 'hnsw_ef_search'",
        [],
    )
    .unwrap();
    drop(conn);
    let lib = Library::open(dir.path(), MODEL, DIM).unwrap();
    assert_eq!(lib.dense_params().ef_search, 64);
    let q = vectors(&sample_docs()[0])[0].clone();
    assert!(!lib
        .dense_search(&q, 3, &Filter::default())
        .unwrap()
        .is_empty());
    drop(lib);
    // An old library: no parameters stored.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("DELETE FROM meta WHERE key LIKE 'hnsw_%'", [])
        .unwrap();
    drop(conn);
    let lib = Library::open(dir.path(), MODEL, DIM).unwrap();
    assert_eq!(lib.dense_params(), DenseParams::default());
    drop(lib);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let stored: String = conn
        .query_row("SELECT value FROM meta WHERE key = 'hnsw_m'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(stored, DenseParams::default().m.to_string());
}
