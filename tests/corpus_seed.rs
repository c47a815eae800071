//! The corpus stage on the bundled seed reports and on generated variants of
//! them (other encodings and layouts, HTML, Markdown, damaged input).

use std::path::PathBuf;
use std::sync::OnceLock;

use encoding_rs::{BIG5, GB18030};
use proptest::prelude::*;
use regex::Regex;
use zhengce::corpus::{self, clean::normalise_punct, script, CorpusOptions, Document, Passage};

const SEEDS: [&str; 5] = [
    "000_4ead13418bc20ab0.txt",
    "001_377fd206c21df32a.txt",
    "002_aa1a712f84acc684.txt",
    "003_161c44b6b5891905.txt",
    "004_6221689de9ab5559.txt",
];

fn seed_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data/corpus")
        .join(name)
}

fn seed_bytes(name: &str) -> Vec<u8> {
    std::fs::read(seed_path(name)).expect("seed file")
}

/// The five seeds parsed once for the whole test binary.
fn seeds() -> &'static Vec<Document> {
    static DOCS: OnceLock<Vec<Document>> = OnceLock::new();
    DOCS.get_or_init(|| {
        SEEDS
            .iter()
            .map(|s| {
                corpus::parse_file(&seed_path(s), &CorpusOptions::default()).expect("seed parses")
            })
            .collect()
    })
}

fn seed(i: usize) -> &'static Document {
    &seeds()[i]
}

fn parse(name: &str, bytes: &[u8]) -> Document {
    corpus::parse_document(name, bytes, &CorpusOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

/// The passage holding `needle` (in its own script).
fn passage_with<'a>(doc: &'a Document, needle: &str) -> &'a Passage {
    doc.passages
        .iter()
        .find(|p| p.text.replace('\n', "").contains(needle))
        .unwrap_or_else(|| panic!("no passage of {} holds {needle:?}", doc.file))
}

struct Expected {
    district: &'static str,
    city: &'static str,
    province: &'static str,
    level: &'static str,
    year: i32,
    review_year: i32,
    doc_type: &'static str,
    meeting_date: Option<&'static str>,
    speaker: Option<&'static str>,
    script: &'static str,
}

#[test]
fn seed_metadata_as_a_careful_reader_gives_it() {
    let expected = [
        // A newspaper page of outlook and review pieces on 南明区 (贵阳).
        Expected {
            district: "南明区",
            city: "贵阳市",
            province: "贵州省",
            level: "county",
            year: 2024,
            review_year: 2023,
            doc_type: "新闻报道",
            meeting_date: None,
            speaker: None,
            script: "simplified",
        },
        // 麒麟区 (曲靖), in traditional script with pinyin and mojibake damage.
        Expected {
            district: "麒麟区",
            city: "曲靖市",
            province: "云南省",
            level: "county",
            year: 2023,
            review_year: 2022,
            doc_type: "政府工作报告",
            meeting_date: Some("2023-01-04"),
            speaker: Some("張忠文"),
            script: "traditional",
        },
        Expected {
            district: "西乡塘区",
            city: "南宁市",
            province: "广西壮族自治区",
            level: "county",
            year: 2025,
            review_year: 2024,
            doc_type: "国民经济和社会发展计划报告",
            meeting_date: Some("2025-02-20"),
            speaker: Some("西乡塘区发展和改革局"),
            script: "simplified",
        },
        Expected {
            district: "南岸区",
            city: "重庆市",
            province: "重庆市",
            level: "county",
            year: 2024,
            review_year: 2023,
            doc_type: "政府工作报告",
            meeting_date: Some("2024-02-04"),
            speaker: Some("王茂春"),
            script: "simplified",
        },
        // A city report naming its counties (钟山区, 水城区, 六枝特区…).
        Expected {
            district: "六盘水市",
            city: "六盘水市",
            province: "贵州省",
            level: "prefecture",
            year: 2024,
            review_year: 2023,
            doc_type: "政府工作报告",
            meeting_date: Some("2024-01-31"),
            speaker: Some("李巍"),
            script: "traditional",
        },
    ];
    for (i, e) in expected.iter().enumerate() {
        let d = seed(i);
        let m = &d.meta;
        assert_eq!(m.place.district.as_deref(), Some(e.district), "{}", d.file);
        assert_eq!(m.place.city.as_deref(), Some(e.city), "{}", d.file);
        assert_eq!(m.place.province.as_deref(), Some(e.province), "{}", d.file);
        assert_eq!(m.level.as_deref(), Some(e.level), "{}", d.file);
        assert_eq!(m.year, Some(e.year), "{}", d.file);
        assert_eq!(m.review_year, Some(e.review_year), "{}", d.file);
        assert_eq!(m.doc_type.as_deref(), Some(e.doc_type), "{}", d.file);
        assert_eq!(m.meeting_date.as_deref(), e.meeting_date, "{}", d.file);
        assert_eq!(m.speaker.as_deref(), e.speaker, "{}", d.file);
        assert_eq!(d.script, e.script, "{}", d.file);
        assert_eq!(d.encoding, "UTF-8");
        for k in ["district", "city", "province", "year", "doc_type"] {
            let c = m.confidence[k];
            assert!((0.5..=1.0).contains(&c), "{} {k} confidence {c}", d.file);
        }
    }
    assert_eq!(
        seed(3).meta.title.as_deref(),
        Some("2024年重庆市南岸区政府工作报告")
    );
    assert_eq!(
        seed(0).meta.title.as_deref(),
        Some("勇立潮头逐浪高 奋楫扬帆谱新篇——南明区2024年高质量发展展望")
    );
    // No title line at all: none is invented.
    assert_eq!(seed(4).meta.title, None);
}

#[test]
fn no_chrome_caption_or_pinyin_residue() {
    let pinyin =
        Regex::new(r"[(（][a-zA-Z]*[āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ][a-zA-Z]*[)）]|[(（][a-z]{1,6}[)）]")
            .unwrap();
    let toned = Regex::new(r"[āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ]").unwrap();
    let chrome = Regex::new(r"Rank|发表于|登录|立即注册|Powered|积分规则|帖子|签到|客服|复制链接|回复:|\d{3,4}-\d{7,8}|\d:\d{2}:\d{2}|\d:00-|[|｜]|设为首页").unwrap();
    let caption = Regex::new(r"摄[)）]|景区参观游览|街区选购饰品|市集休闲消费").unwrap();
    for d in seeds() {
        assert!(!d.passages.is_empty());
        for p in &d.passages {
            let t = &p.text;
            assert!(!pinyin.is_match(t), "{}: pinyin in {t}", d.file);
            assert!(!toned.is_match(t), "{}: tone marks in {t}", d.file);
            assert!(!chrome.is_match(t), "{}: chrome in {t}", d.file);
            assert!(!caption.is_match(t), "{}: caption in {t}", d.file);
            assert!(
                !t.contains('?') && !t.contains('\u{FFFD}'),
                "{}: mojibake in {t}",
                d.file
            );
            assert!(
                !t.contains("政 府"),
                "{}: letter-spaced title in {t}",
                d.file
            );
            for w in t
                .split(' ')
                .filter(|w| !w.is_empty())
                .collect::<Vec<_>>()
                .windows(2)
            {
                let a = w[0].chars().next_back().unwrap();
                let b = w[1].chars().next().unwrap();
                let han = |c: char| ('\u{4e00}'..='\u{9fff}').contains(&c);
                assert!(
                    !(han(a) && han(b)),
                    "{}: space inside Chinese text in {t}",
                    d.file
                );
            }
            for s in p.section_path.iter().chain(&p.term) {
                assert!(
                    !pinyin.is_match(s) && !chrome.is_match(s),
                    "{}: residue in heading {s}",
                    d.file
                );
            }
        }
    }
    let removed = |i: usize, k: &str| seed(i).removed.get(k).copied().unwrap_or(0);
    assert!(removed(1, "pinyin_annotations") > 3000);
    assert!(removed(1, "mojibake_spans") >= 20);
    assert!(removed(3, "chrome_lines") >= 30);
    assert_eq!(removed(0, "captions"), 3);
}

#[test]
fn wrapped_sentences_of_000_are_rejoined() {
    // Every place where 000 breaks a sentence across lines (with blank lines
    // between the halves): a passage must hold both sides of the break.
    let raw = String::from_utf8(seed_bytes(SEEDS[0])).unwrap();
    let lines: Vec<&str> = raw
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut breaks = 0;
    let doc = seed(0);
    for w in lines.windows(2) {
        let (a, b) = (w[0], w[1]);
        let end = a.chars().next_back().unwrap();
        if a.chars().count() < 50 || "。！？；”".contains(end) {
            continue;
        }
        breaks += 1;
        let tail: String = a
            .chars()
            .rev()
            .take(8)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let head: String = b.chars().take(8).collect();
        let joined = normalise_punct(&format!("{tail}{head}"));
        passage_with(doc, &joined);
    }
    assert!(breaks >= 10, "found {breaks} broken lines");
    let p = passage_with(
        doc,
        "标准厂房使用率达80%以上，招商引资工业到位资金47亿元以上",
    );
    assert!(p.section_path.last().unwrap().starts_with("A "));
}

#[test]
fn section_paths_of_sampled_passages() {
    let cases: [(usize, &str, &[&str]); 8] = [
        (
            2,
            "统筹推进144个重大项目",
            &[
                "一、2024年国民经济和社会发展计划执行情况",
                "(二)着力抓项目稳投资，持续优化营商环境",
                "1.项目建设稳步推进",
            ],
        ),
        (
            2,
            "地区生产总值增长5%，居民人均可支配收入增长与经济增长同步",
            &[
                "二、2025年经济社会发展计划的总体要求和主要预期目标",
                "(二)主要预期目标",
            ],
        ),
        (
            2,
            "确保粮食播种面积18万亩",
            &[
                "三、2025年国民经济和社会发展主要任务",
                "(四)做好“三农”工作，奋力打造农业强区",
                "2.持续增强粮食等重要农产品供给保障能力",
            ],
        ),
        (
            3,
            "社会消费品零售总额增长7.5%",
            &[
                "二、2024年主要任务",
                "(三)着力扩大内需，多措并举稳投资促消费",
            ],
        ),
        (
            3,
            "城镇新增就业5.1万人",
            &["一、2023年工作回顾", "(八)社会民生改善取得新成效"],
        ),
        (
            3,
            "严格执行新修订的纪律处分条例",
            &["三、全面加强政府自身建设", "(四)打造廉洁政府"],
        ),
        (
            4,
            "全年糧食播種面積275萬畝",
            &[
                "一、2023年政府工作回顧",
                "(一)全力防風險、守底線，社會大局保持和諧穩定",
            ],
        ),
        (
            4,
            "新增釋放煤炭產能600萬噸/年",
            &["二、2024年主要目標和重點任務", "(一)突出比較優勢大抓工業"],
        ),
    ];
    for (i, needle, path) in cases {
        let p = passage_with(seed(i), needle);
        assert_eq!(p.section_path, path, "{needle}");
        assert_eq!(p.term, None);
    }
    // Headings fused with their body are split off it.
    let p = passage_with(
        seed(3),
        "加快融入成渝地区双城经济圈建设，制定实施十大重点攻坚任务",
    );
    assert!(!p.text.contains("落实国家重大战略部署谋划新布局"));
    // Several articles in one file: each heads its own passages.
    let p = passage_with(seed(0), "全年共召开人大常委会会议11次");
    assert_eq!(
        p.section_path,
        ["依法履职有担当 保障发展有作为——南明区第十八届人民代表大会常务委员会2023年工作亮点回顾"]
    );
}

#[test]
fn glossary_entries_of_003_are_their_own_passages() {
    let glossary: Vec<&Passage> = seed(3)
        .passages
        .iter()
        .filter(|p| p.term.is_some())
        .collect();
    let terms: std::collections::BTreeSet<&str> =
        glossary.iter().filter_map(|p| p.term.as_deref()).collect();
    assert!(terms.len() >= 30, "{} terms", terms.len());
    for t in [
        "六大攻坚战",
        "AEO认证",
        "EOD",
        "四张清单",
        "合格境内有限合伙人(QDLP)试点",
        "三服务",
    ] {
        assert!(terms.contains(t), "missing term {t}");
    }
    for p in glossary {
        assert_eq!(p.section_path, ["名词解释"]);
        let term = p.term.as_deref().unwrap();
        let first = seed(3)
            .passages
            .iter()
            .find(|q| q.term.as_deref() == Some(term))
            .unwrap();
        assert!(first.text.contains(term), "{term}: {}", first.text);
    }
    let eod = seed(3)
        .passages
        .iter()
        .find(|p| p.term.as_deref() == Some("EOD"))
        .unwrap();
    assert!(eod.text.contains("Ecology Oriented Development"));
}

#[test]
fn passages_are_bounded_stable_and_folded() {
    for d in seeds() {
        assert_eq!(d.id.len(), 16);
        for (i, p) in d.passages.iter().enumerate() {
            assert_eq!(p.ordinal as usize, i);
            assert_eq!(p.id, format!("{}-{i:04}", d.id));
            assert!(
                corpus::passages::estimate_tokens(&p.text) <= 200,
                "{}",
                p.text
            );
            assert_eq!(p.text_simplified, corpus::to_simplified(&p.text));
        }
    }
    let again = corpus::parse_file(&seed_path(SEEDS[2]), &CorpusOptions::default()).unwrap();
    assert_eq!(again.passages, seed(2).passages);
    // Traditional documents show traditional text and match simplified queries.
    let p = passage_with(seed(4), "攻克黏土型鋰資源選冶");
    assert!(p.text_simplified.contains("攻克黏土型锂资源选冶"));
    // A token counter from the caller bounds passages in its units.
    let opts = CorpusOptions {
        max_passage_tokens: 60,
        token_counter: Some(std::sync::Arc::new(|s: &str| s.chars().count())),
    };
    let d = corpus::parse_document("002.txt", &seed_bytes(SEEDS[2]), &opts).unwrap();
    assert!(d.passages.len() > seed(2).passages.len());
    assert!(d.passages.iter().all(|p| p.text.chars().count() <= 60));
}

/// What must not change between layouts of the same report.
fn shape(d: &Document) -> Vec<(Vec<String>, Option<String>, String)> {
    d.passages
        .iter()
        .map(|p| {
            (
                p.section_path.clone(),
                p.term.clone(),
                p.text.replace('\n', ""),
            )
        })
        .collect()
}

fn assert_same(reference: &Document, variant: &Document, what: &str) {
    let (a, b) = (shape(reference), shape(variant));
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y, "{}: {what} differs", reference.file);
    }
    assert_eq!(a.len(), b.len(), "{}: {what} passage count", reference.file);
    assert_eq!(
        reference.meta.place.district, variant.meta.place.district,
        "{what}"
    );
    assert_eq!(reference.meta.year, variant.meta.year, "{what}");
    assert_eq!(reference.id, variant.id, "{}: {what} id", reference.file);
}

#[test]
fn encodings_give_the_same_passages() {
    for (i, name) in SEEDS.iter().enumerate() {
        let text = String::from_utf8(seed_bytes(name)).unwrap();
        let reference = seed(i);

        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend(text.as_bytes());
        let d = parse(name, &bom);
        assert_eq!(d.passages, reference.passages, "{name}: UTF-8 BOM");

        let (gb, _, unmappable) = GB18030.encode(&text);
        assert!(!unmappable);
        let d = parse(name, &gb);
        assert_eq!(d.encoding, "GB18030", "{name}");
        assert_eq!(d.passages, reference.passages, "{name}: GB18030");

        for (label, be) in [("UTF-16LE", false), ("UTF-16BE", true)] {
            let mut bytes: Vec<u8> = if be {
                vec![0xFE, 0xFF]
            } else {
                vec![0xFF, 0xFE]
            };
            for u in text.encode_utf16() {
                bytes.extend(if be { u.to_be_bytes() } else { u.to_le_bytes() });
            }
            let d = parse(name, &bytes);
            assert_eq!(d.encoding, label);
            assert_eq!(d.passages, reference.passages, "{name}: {label}");
        }
    }
}

#[test]
fn big5_gives_the_same_passages_modulo_the_script_fold() {
    // Each seed in traditional script, keeping the lines Big5 can represent
    // (it lacks some characters, e.g. the mojibake of 001 and a few rare Han).
    let mut tested = 0;
    for name in SEEDS {
        let text = String::from_utf8(seed_bytes(name)).unwrap();
        let all = text.lines().count();
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| !BIG5.encode(&script::to_traditional(l)).2)
            .collect();
        if kept.len() * 10 < all * 9 {
            continue;
        }
        tested += 1;
        let original = kept.join("\n");
        let traditional = script::to_traditional(&original);
        let (big5, _, unmappable) = BIG5.encode(&traditional);
        assert!(!unmappable);
        let d = parse(name, &big5);
        assert_eq!(d.encoding, "Big5", "{name}");
        assert_eq!(d.script, "traditional");
        let same_text = parse(name, traditional.as_bytes());
        assert_eq!(
            d.passages, same_text.passages,
            "{name}: Big5 vs UTF-8 of the same text"
        );
        // Against the original script: the same passages once both are folded.
        let reference = parse(name, original.as_bytes());
        assert_eq!(reference.passages.len(), d.passages.len(), "{name}");
        let (mut same, mut total) = (0usize, 0usize);
        for (x, y) in reference.passages.iter().zip(&d.passages) {
            assert_eq!(x.section_path.len(), y.section_path.len());
            for (c1, c2) in x.text_simplified.chars().zip(y.text_simplified.chars()) {
                total += 1;
                same += usize::from(c1 == c2);
            }
        }
        assert!(
            same * 1000 >= total * 995,
            "{name}: folded text agrees on {same}/{total}"
        );
        assert_eq!(d.meta.place.district, reference.meta.place.district);
        assert_eq!(d.meta.year, reference.meta.year);
    }
    assert!(
        tested >= 3,
        "only {tested} seeds mostly representable in Big5"
    );
}

/// Hard-wraps every line at `width` characters.
fn hard_wrap(text: &str, width: usize) -> String {
    let mut out = Vec::new();
    for line in text.lines() {
        let chars: Vec<char> = line.trim().chars().collect();
        if chars.is_empty() {
            out.push(String::new());
        }
        for chunk in chars.chunks(width) {
            out.push(chunk.iter().collect());
        }
    }
    out.join("\r\n")
}

#[test]
fn layouts_give_the_same_passages() {
    for (i, name) in SEEDS.iter().enumerate() {
        let text = String::from_utf8(seed_bytes(name)).unwrap();
        let reference = seed(i);
        let wrapped = hard_wrap(&text, 40);
        assert!(wrapped.lines().filter(|l| l.chars().count() == 40).count() > 100);
        assert_same(
            reference,
            &parse(name, wrapped.as_bytes()),
            "CRLF + hard wrap at 40",
        );
        let one_line = text.replace('\n', "\\r\\n");
        assert_eq!(one_line.lines().count(), 1);
        let d = parse(name, one_line.as_bytes());
        assert_eq!(
            d.passages, reference.passages,
            "{name}: one line with literal \\r\\n"
        );
    }
}

#[test]
fn html_page_yields_only_the_article() {
    let html = r#"<!DOCTYPE html><html><head><meta charset="utf-8"><title>南明区政府网</title>
<style>.nav{color:red}</style><script>var tracker = "发表于 统计代码";</script></head><body>
<div class="topbar">设为首页 | 加入收藏 | 无障碍浏览</div>
<nav><ul><li><a href="/">首页</a></li><li><a href="/zwgk">政务公开</a></li><li><a href="/hd">互动交流</a></li></ul></nav>
<div class="breadcrumb">当前位置：首页 &gt; 政务公开 &gt; 政府工作报告</div>
<article>
<h1>2024年贵阳市南明区政府工作报告</h1>
<p>——2024年1月10日在南明区第十八届人民代表大会第三次会议上</p>
<p>各位代表：</p>
<p>现在，我代表区人民政府向大会报告工作，请予审议，并请区政协委员和其他列席人员提出意见。</p>
<h2>一、2023年工作回顾</h2>
<p>过去一年，全区地区生产总值增长6.1%，规模以上工业增加值增长8.2%，城镇新增就业3.5万人。</p>
<p><strong>（一）产业发展。</strong>新型都市工业加快发展，新开工标准厂房20万平方米&amp;配套设施同步建设。</p>
<h2>二、2024年主要任务</h2>
<p>全区将坚持稳中求进工作总基调，推动经济实现质的有效提升和量的合理增长。</p>
</article>
<aside><h3>相关链接</h3><a href="/x">贵州省人民政府</a></aside>
<footer><p>版权所有：贵阳市南明区人民政府 主办单位：南明区政府办公室 联系电话：0851-85888888</p>
<p>黔ICP备12345678号</p></footer></body></html>"#;
    let d = parse("nanming.html", html.as_bytes());
    let all: String = d
        .passages
        .iter()
        .map(|p| format!("{}|{}", p.section_path.join(">"), p.text))
        .collect::<Vec<_>>()
        .join("\n");
    for junk in [
        "设为首页",
        "政务公开",
        "当前位置",
        "版权所有",
        "联系电话",
        "相关链接",
        "tracker",
        "color",
        "ICP",
        "南明区政府网",
    ] {
        assert!(!all.contains(junk), "{junk} leaked: {all}");
    }
    assert_eq!(
        d.meta.title.as_deref(),
        Some("2024年贵阳市南明区政府工作报告")
    );
    assert_eq!(d.meta.place.district.as_deref(), Some("南明区"));
    assert_eq!(d.meta.meeting_date.as_deref(), Some("2024-01-10"));
    assert_eq!(
        passage_with(&d, "城镇新增就业3.5万人").section_path,
        ["一、2023年工作回顾"]
    );
    let p = passage_with(&d, "新开工标准厂房20万平方米&配套设施同步建设");
    assert_eq!(p.section_path, ["一、2023年工作回顾", "(一)产业发展"]);
    assert_eq!(
        passage_with(&d, "稳中求进").section_path,
        ["二、2024年主要任务"]
    );
    assert!(d.removed["html_tags"] > 20);
}

#[test]
fn markdown_headings_give_section_paths() {
    let md = "# 2024年南岸区政府工作报告\n\n——2024年2月4日在南岸区第十九届人民代表大会第五次会议上\n\n\
              各位代表：\n\n现在，我代表区人民政府向大会报告工作，请予审议。\n\n\
              ## 一、2023年工作回顾\n\n过去一年，**全区**地区生产总值增长6.7%，详见[统计公报](http://example.org/a)。\n\n\
              ### 产业发展\n\n- 新增规上工业企业30家。\n- 软件信息服务业持续壮大。\n\n\
              ## 二、2024年主要任务\n\n![图片](a.png)\n\n地区生产总值增长6%左右。\n";
    let d = parse("report.md", md.as_bytes());
    assert_eq!(d.meta.title.as_deref(), Some("2024年南岸区政府工作报告"));
    assert_eq!(d.meta.place.city.as_deref(), Some("重庆市"));
    let p = passage_with(&d, "全区地区生产总值增长6.7%，详见统计公报。");
    assert_eq!(p.section_path, ["一、2023年工作回顾"]);
    let p = passage_with(&d, "新增规上工业企业30家。");
    assert_eq!(p.section_path, ["一、2023年工作回顾", "产业发展"]);
    assert_eq!(
        passage_with(&d, "增长6%左右").section_path,
        ["二、2024年主要任务"]
    );
    assert!(d
        .passages
        .iter()
        .all(|p| !p.text.contains(['#', '*', '[', ']']) && !p.text.contains("png")));
}

#[test]
fn empty_and_binary_files_are_rejected_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty-report.txt");
    std::fs::write(&empty, b"").unwrap();
    let e = corpus::parse_file(&empty, &CorpusOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("empty-report.txt") && e.contains("empty"), "{e}");
    let blank = dir.path().join("blank.txt");
    std::fs::write(&blank, b"\r\n   \n\t").unwrap();
    assert!(corpus::parse_file(&blank, &CorpusOptions::default()).is_err());
    let png = dir.path().join("scan.png");
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bytes.extend((0..4000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8));
    std::fs::write(&png, &bytes).unwrap();
    let e = corpus::parse_file(&png, &CorpusOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("scan.png") && e.contains("not a text file"),
        "{e}"
    );
    let e = corpus::parse_file(&dir.path().join("missing.txt"), &CorpusOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.txt"), "{e}");
}

#[test]
fn sidecar_overrides_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.txt");
    std::fs::write(&file, seed_bytes(SEEDS[2])).unwrap();
    std::fs::write(
        dir.path().join("report.meta.json"),
        r#"{"district": "南明区", "year": 2030, "speaker": null}"#,
    )
    .unwrap();
    let d = corpus::parse_file(&file, &CorpusOptions::default()).unwrap();
    assert_eq!(d.meta.place.district.as_deref(), Some("南明区"));
    assert_eq!(d.meta.place.city.as_deref(), Some("贵阳市"));
    assert_eq!(d.meta.place.province.as_deref(), Some("贵州省"));
    assert_eq!(d.meta.year, Some(2030));
    assert_eq!(d.meta.speaker, None);
    assert_eq!(d.meta.confidence["district"], 1.0);
    assert_eq!(
        d.meta.review_year,
        Some(2024),
        "untouched fields stay inferred"
    );
    // CLI-style overrides win over the sidecar.
    let cli = corpus::MetaOverrides {
        year: Some(Some(2031)),
        ..Default::default()
    };
    let d = corpus::parse_file_with(&file, &CorpusOptions::default(), &cli).unwrap();
    assert_eq!(d.meta.year, Some(2031));
    std::fs::write(
        dir.path().join("report.meta.json"),
        r#"{"distrct": "typo"}"#,
    )
    .unwrap();
    let e = corpus::parse_file(&file, &CorpusOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("report.meta.json"), "{e}");
}

#[test]
fn inspect_json_has_the_fields_other_tools_read() {
    let v = corpus::inspect_json(seed(3));
    for k in ["file", "encoding", "metadata", "removed", "passages"] {
        assert!(v.get(k).is_some(), "{k}");
    }
    for k in [
        "district",
        "city",
        "province",
        "level",
        "year",
        "doc_type",
        "confidence",
    ] {
        assert!(v["metadata"].get(k).is_some(), "{k}");
    }
    let p = &v["passages"][0];
    for k in ["id", "text", "section_path"] {
        assert!(p.get(k).is_some(), "{k}");
    }
    assert!(corpus::inspect_text(seed(3)).contains("district: 南岸区"));
}

fn messy_text() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "各位代表：",
        "一、",
        "（二）",
        "1.",
        "(3)",
        "A ",
        "——",
        "名词解释",
        "。",
        "，",
        "！",
        "?",
        "？",
        "\n",
        "\n\n",
        "\r\n",
        "\\r\\n",
        " ",
        "报(bào)告",
        "?yún)^",
        "麒麟区",
        "南明区",
        "2024年",
        "政府工作报告",
        "发展",
        "经济",
        "<p>",
        "</p>",
        "<h2>",
        "# ",
        "**",
        "|",
        "Rank: 7",
        "\u{FEFF}",
        "\u{FFFD}",
        "(2023年6月14日摄)",
        "政 府 工 作",
        "术语：解释内容很长很长。",
        "𠀀",
        "ǘ┬",
        "\t",
        "全区",
        "全市",
    ]);
    prop::collection::vec(pieces, 0..200).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..3000)) {
        let _ = corpus::parse_document("fuzz.bin", &bytes, &CorpusOptions::default());
    }

    #[test]
    fn messy_text_gives_bounded_passages(text in messy_text(), max in 20usize..300) {
        let opts = CorpusOptions { max_passage_tokens: max, token_counter: None };
        if let Ok(d) = corpus::parse_document("fuzz.txt", text.as_bytes(), &opts) {
            for (i, p) in d.passages.iter().enumerate() {
                prop_assert!(!p.text.trim().is_empty());
                prop_assert_eq!(p.ordinal as usize, i);
                prop_assert!(corpus::passages::estimate_tokens(&p.text) <= max, "{} > {}", p.text, max);
            }
        }
    }
}
