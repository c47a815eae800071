//! Search over a small hand-built library embedded with the real model
//! (models/multilingual-e5-small, fetched by scripts/fetch-model.sh): the
//! same passage is found from simplified, traditional and English questions.
//! The library is built once per test binary and shared.

use std::sync::OnceLock;

use zhengce::corpus::{to_simplified, Document, DocumentMeta, Passage};
use zhengce::embed::{default_model_dir, Embedder};
use zhengce::index::{Filter, Library};
use zhengce::search::{self, Mode, SearchRequest, SimilarRequest};

struct Fixture {
    _dir: tempfile::TempDir,
    lib: Library,
    embedder: Embedder,
}

fn doc(id: &str, district: &str, year: i32, script: &str, texts: &[&str]) -> Document {
    Document {
        id: id.into(),
        file: format!("{id}.txt"),
        encoding: "UTF-8".into(),
        script: script.into(),
        meta: DocumentMeta {
            title: Some(format!("{district}政府工作报告")),
            place: zhengce::corpus::Place {
                district: Some(district.into()),
                city: Some("示例市".into()),
                province: Some("示例省".into()),
            },
            year: Some(year),
            doc_type: Some("政府工作报告".into()),
            ..Default::default()
        },
        removed: Default::default(),
        passages: texts
            .iter()
            .enumerate()
            .map(|(i, t)| Passage {
                id: format!("{id}-{i:04}"),
                ordinal: i as u32,
                text: t.to_string(),
                text_simplified: to_simplified(t),
                section_path: vec!["二、今年工作安排".into()],
                term: None,
            })
            .collect(),
    }
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let embedder = Embedder::load(&default_model_dir())
            .expect("model missing: run scripts/fetch-model.sh");
        let dir = tempfile::tempdir().unwrap();
        let lib = Library::open(dir.path(), &embedder.model_id(), embedder.dim()).unwrap();
        let docs = [
            doc(
                "d0000000000000e1",
                "东城区",
                2024,
                "simplified",
                &[
                    "全面推进乡村振兴，新建高标准农田两万亩，发展特色种植业。",
                    "加快老旧小区改造，完成加装电梯一百二十部，改善居民居住条件。",
                    "实施义务教育优质均衡发展工程，新建中小学校三所。",
                ],
            ),
            doc(
                "d0000000000000e2",
                "西城区",
                2024,
                "simplified",
                &[
                    "推行生活垃圾分类，城区垃圾分类覆盖率达到百分之九十五。",
                    "建设社区养老服务中心，为八十岁以上老人提供助餐服务。",
                    "培育数字经济，引进人工智能企业三十家。",
                ],
            ),
            doc(
                "d0000000000000e3",
                "南山縣",
                2025,
                "traditional",
                &[
                    "推動綠色低碳轉型，新增光伏發電裝機容量五萬千瓦。",
                    "完善醫療衛生服務體系，建成縣域醫共體，提升基層醫療服務能力。",
                    "加強河湖治理，全面落實河長制。",
                ],
            ),
            doc(
                "d0000000000000e4",
                "北区",
                2025,
                "simplified",
                &[
                    "优化营商环境，企业开办时间压缩至一个工作日。",
                    "新建社区卫生服务站五个，提升基层医疗服务能力。",
                ],
            ),
        ];
        for d in &docs {
            let texts: Vec<&str> = d.passages.iter().map(|p| p.text.as_str()).collect();
            let vectors = embedder.embed_passages(&texts).unwrap();
            lib.add_document(d, &vectors).unwrap();
        }
        Fixture {
            _dir: dir,
            lib,
            embedder,
        }
    })
}

fn top_ids(query: &str, k: usize, mode: Mode) -> Vec<String> {
    let f = fixture();
    let req = SearchRequest {
        query: query.into(),
        k,
        mode,
        ..Default::default()
    };
    search::search(&f.lib, &f.embedder, &req)
        .unwrap()
        .hits
        .into_iter()
        .map(|h| h.passage_id)
        .collect()
}

#[test]
fn simplified_traditional_and_english_questions_find_the_same_passage() {
    let want = "d0000000000000e1-0001";
    for q in [
        "老旧小区加装电梯",
        "老舊小區加裝電梯",
        "installing elevators in old residential compounds",
    ] {
        let ids = top_ids(q, 3, Mode::Hybrid);
        assert!(ids.contains(&want.to_string()), "{q}: {ids:?}");
    }
    let want = "d0000000000000e2-0001";
    for q in [
        "老人助餐服务",
        "老人助餐服務",
        "meal services for elderly people",
    ] {
        let ids = top_ids(q, 3, Mode::Hybrid);
        assert!(ids.contains(&want.to_string()), "{q}: {ids:?}");
    }
    // English reaches a traditional-script report through the dense side.
    let ids = top_ids("solar power generation capacity", 3, Mode::Dense);
    assert!(
        ids.contains(&"d0000000000000e3-0000".to_string()),
        "{ids:?}"
    );
}

#[test]
fn grouping_spans_districts_and_filters_hold() {
    let f = fixture();
    let req = SearchRequest {
        query: "基层医疗服务能力".into(),
        k: 5,
        group_by_district: true,
        per_group: 1,
        ..Default::default()
    };
    let r = search::search(&f.lib, &f.embedder, &req).unwrap();
    let groups = r.groups.unwrap();
    assert!(groups.len() >= 2, "{groups:?}");
    let districts: Vec<&str> = groups.iter().map(|g| g.district.as_str()).collect();
    // Both districts that state the exact aim lead, whatever their script.
    assert!(
        districts[..2].contains(&"北区") && districts[..2].contains(&"南山縣"),
        "{districts:?}"
    );

    let filtered = SearchRequest {
        query: "基层医疗服务能力".into(),
        filter: Filter::default().with_year(2024),
        ..Default::default()
    };
    let r = search::search(&f.lib, &f.embedder, &filtered).unwrap();
    assert!(!r.hits.is_empty() && r.hits.iter().all(|h| h.year == Some(2024)));
}

#[test]
fn find_similar_leaves_out_the_source_district() {
    let f = fixture();
    let req = SimilarRequest {
        passage_id: Some("d0000000000000e4-0001".into()),
        k: 3,
        ..Default::default()
    };
    let r = search::similar(&f.lib, &f.embedder, &req).unwrap();
    assert!(r
        .hits
        .iter()
        .all(|h| h.place.district.as_deref() != Some("北区")));
    assert_eq!(
        r.hits[0].passage_id, "d0000000000000e3-0001",
        "{:?}",
        r.hits
    );
    let districts: std::collections::HashSet<_> =
        r.hits.iter().map(|h| &h.place.district).collect();
    assert_eq!(districts.len(), r.hits.len(), "one per district by default");
}
