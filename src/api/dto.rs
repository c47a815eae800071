//! The JSON the HTTP API reads and writes, as types with an OpenAPI schema.
//!
//! Handlers convert the library's results into these types and serialize
//! *them*, so `/openapi.json` (derived from these types) describes exactly
//! what goes over the wire. Every conversion destructures the library type
//! without `..`: a field added to a library type stops the build here until
//! the API decides what to do with it, instead of silently drifting from its
//! description. Field names and serde attributes follow the library types,
//! so the JSON is the same as serializing them directly (the `vitals`
//! integration test checks that on a real server).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::params::FilterParams;
use crate::{index, search, service, summarize};

/// `impl From<library type> for API type`, field by field:
///
/// ```text
/// mirror!(lib::Type => Dto { a, b: convert, c } + part: Part { d, e } - dropped);
/// ```
///
/// destructures the library value naming every field (no `..`, so a field
/// added to the library type stops the build here), moves each listed field
/// across with `.into()` or, after `:`, with the named conversion, gathers
/// the fields after `+ part: Part` into that (flattened) part, and drops the
/// fields listed after `-`.
macro_rules! mirror {
    (
        $($from:ident)::+ => $to:ident { $($field:ident $(: $conv:expr)?),* $(,)? }
        $(+ $part:ident: $part_ty:ident { $($part_field:ident),* $(,)? })*
        $(- $dropped:ident)*
    ) => {
        impl From<$($from)::+> for $to {
            fn from(v: $($from)::+) -> Self {
                let $($from)::+ {
                    $($field,)*
                    $($($part_field,)*)*
                    $($dropped: _,)*
                } = v;
                $to {
                    $($field: mirror!(@move $field $(, $conv)?),)*
                    $($part: $part_ty { $($part_field: $part_field.into()),* },)*
                }
            }
        }
    };
    (@move $field:ident) => {
        $field.into()
    };
    (@move $field:ident, $conv:expr) => {
        $conv($field)
    };
}

/// Each item converted.
fn list<A, B: From<A>>(v: Vec<A>) -> Vec<B> {
    v.into_iter().map(Into::into).collect()
}

/// The value, when there is one, converted.
fn opt<A, B: From<A>>(v: Option<A>) -> Option<B> {
    v.map(Into::into)
}

/// A span of a hit's `text` matching a query term: UTF-8 byte offsets
/// `[start, end)` into the text in its original script.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Highlight {
    #[schema(example = 12)]
    pub start: usize,
    #[schema(example = 24)]
    pub end: usize,
}

mirror!(index::Highlight => Highlight { start, end });

/// Where a report comes from: its reporting unit and the units above it
/// (flattened: `district`, `city`, `province` beside the other fields).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Place {
    /// The reporting unit, whatever its level (区, 县, 县级市, 市, 旗…).
    #[schema(example = "西乡塘区")]
    pub district: Option<String>,
    #[schema(example = "南宁市")]
    pub city: Option<String>,
    #[schema(example = "广西壮族自治区")]
    pub province: Option<String>,
}

mirror!(index::Place => Place { district, city, province });

/// The report a passage or document belongs to, as a citation names it
/// (flattened: `title`, `year`, `doc_type` beside the other fields).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReportMeta {
    #[schema(example = "2024年西乡塘区政府工作报告")]
    pub title: Option<String>,
    /// The year the report plans for.
    #[schema(example = 2024)]
    pub year: Option<i32>,
    #[schema(example = "政府工作报告")]
    pub doc_type: Option<String>,
}

/// One found passage with everything needed to show and cite it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Hit {
    #[schema(example = "a3f1c2d4e5b60718:37")]
    pub passage_id: String,
    /// The passage in its original script (simplified or traditional).
    #[schema(
        example = "深化推进农村厕所革命,完成年度农村户厕无害化改造任务,农村卫生厕所普及率达97.42%。"
    )]
    pub text: String,
    #[serde(flatten)]
    pub place: Place,
    #[serde(flatten)]
    pub report: ReportMeta,
    #[schema(example = "a3f1c2d4e5b60718")]
    pub doc_id: String,
    /// Headings from the top of the report down to the passage.
    #[schema(example = json!(["三、2024年工作安排", "（四）全面推进乡村振兴"]))]
    pub section_path: Vec<String>,
    /// Ranking score, higher is better: cosine similarity (dense, similar),
    /// BM25 (lexical) or the reciprocal-rank-fusion sum (hybrid).
    #[schema(example = 0.0328)]
    pub score: f32,
    /// Position of the passage in its document.
    pub ordinal: u32,
    /// Term of office (届/次), when the report states it.
    pub term: Option<String>,
    /// Spans of `text` matching query terms.
    pub highlights: Vec<Highlight>,
    /// Which retrievers found it: `dense`, `lexical`.
    #[schema(example = json!(["dense", "lexical"]))]
    pub retrievers: Vec<String>,
    /// Estimated probability (0–1) that the passage addresses the question;
    /// 0.5 and above counts as relevant. Absent for find-similar.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 0.91, minimum = 0.0, maximum = 1.0)]
    pub relevance: Option<f32>,
}

mirror!(search::Hit => Hit {
    passage_id,
    text,
    place,
    doc_id,
    section_path,
    score,
    ordinal,
    term,
    highlights: list,
    retrievers,
    relevance,
} + report: ReportMeta { title, year, doc_type });

/// The best hits of one district.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DistrictGroup {
    #[schema(example = "南岸区")]
    pub district: String,
    /// Other names of the same place in the group's reports (former or later
    /// names, units merged into it).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_names: Vec<String>,
    /// Whether the district's reports address the question (one of its hits
    /// has relevance ≥ 0.5). Such districts come first; the others only
    /// hold the nearest passages.
    pub relevant: bool,
    pub hits: Vec<Hit>,
}

mirror!(search::Group => DistrictGroup { district, other_names, relevant, hits: list });

/// `GET /api/search`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchResults {
    /// Best first; with `group=district`, the groups' hits concatenated in group order.
    pub hits: Vec<Hit>,
    /// Present with `group=district`: districts best first, up to `per_group` hits each.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<DistrictGroup>>,
    /// The place read out of the question and applied as a filter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub place: Option<InferredPlace>,
    /// Weight of the lexical list in the fusion (0–1): the share of the
    /// question's idf mass in words the library contains. Absent in dense mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 0.93)]
    pub lexical_weight: Option<f32>,
    /// The stated figure a figure question asks for ("…2024年地区生产总值预期增长多少？"),
    /// from the report of the place it names; absent when no report states it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<AnswerCard>,
}

/// A figure stated in a report, answering the question, with its sentence.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AnswerCard {
    /// Signed (a stated decline is negative); the lower end of a range.
    #[schema(example = 5.5)]
    pub figure: f64,
    /// Upper end when the report states a range.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upper: Option<f64>,
    #[schema(example = "%")]
    pub unit: String,
    /// 左右 / 以上 / 以内 … as the report qualifies the figure.
    #[schema(example = "左右")]
    pub qualifier: Option<String>,
    pub kind: TargetKind,
    pub measure: Measure,
    #[schema(example = "地区生产总值")]
    pub indicator: String,
    #[schema(example = 2024)]
    pub year: Option<i32>,
    /// The reporting unit whose report states it.
    #[schema(example = "六盘水市")]
    pub place: String,
    /// The sentence as the report printed it.
    pub sentence: String,
    pub passage_id: String,
    pub doc_id: String,
}

mirror!(summarize::Answer => AnswerCard {
    figure,
    upper,
    unit,
    qualifier,
    kind,
    measure,
    indicator,
    year,
    place,
    sentence,
    passage_id,
    doc_id,
});

impl From<service::AnsweredSearch> for SearchResults {
    fn from(r: service::AnsweredSearch) -> Self {
        let service::AnsweredSearch { response, answer } = r;
        SearchResults {
            answer: opt(answer),
            ..response.into()
        }
    }
}

/// A place named in the question, applied as a filter.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InferredPlace {
    /// `district` | `city` | `province`.
    #[schema(example = "district")]
    pub level: String,
    #[schema(example = "麒麟区")]
    pub name: String,
    /// The words of the question that named it, as written.
    #[schema(example = "麒麟區")]
    pub matched: String,
}

mirror!(search::InferredPlace => InferredPlace { level: level_name, name, matched });

fn level_name(level: search::PlaceLevel) -> String {
    match level {
        search::PlaceLevel::District => "district",
        search::PlaceLevel::City => "city",
        search::PlaceLevel::Province => "province",
    }
    .to_string()
}

/// The stored passage a find-similar request started from.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SimilarSource {
    #[schema(example = "cfc8f36b5484ba12-0122")]
    pub passage_id: String,
    #[schema(example = "cfc8f36b5484ba12")]
    pub doc_id: String,
    #[schema(example = "西乡塘区")]
    pub district: Option<String>,
}

mirror!(search::SimilarSource => SimilarSource { passage_id, doc_id, district });

impl From<search::SearchResponse> for SearchResults {
    fn from(r: search::SearchResponse) -> Self {
        let search::SearchResponse {
            hits,
            groups,
            place,
            lexical_weight,
        } = r;
        SearchResults {
            hits: list(hits),
            groups: groups.map(list),
            place: opt(place),
            lexical_weight,
            answer: None,
        }
    }
}

/// `POST /api/similar`: passages like the source, best first, the source's
/// own document and (unless asked) district left out.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SimilarResults {
    pub hits: Vec<Hit>,
    /// The stored passage started from: the one asked for by id, or the one
    /// pasted text was recognised as (its document and district are then
    /// left out as for an id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<SimilarSource>,
}

mirror!(search::SimilarResponse => SimilarResults { hits: list, source: opt });

/// A stored document's metadata and cleaning report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DocumentMeta {
    #[schema(example = "a3f1c2d4e5b60718")]
    pub doc_id: String,
    #[schema(example = "002_aa1a712f84acc684.txt")]
    pub file: String,
    #[serde(flatten)]
    pub place: Place,
    #[serde(flatten)]
    pub report: ReportMeta,
    /// Administrative level of `district`: `province`, `prefecture`,
    /// `county`, or `national` for the State Council's reports.
    #[schema(example = "county")]
    pub level: Option<String>,
    /// The year the report looks back on.
    #[schema(example = 2023)]
    pub review_year: Option<i32>,
    /// ISO date of the meeting the report was given at.
    pub meeting_date: Option<String>,
    pub speaker: Option<String>,
    /// Detected encoding of the file.
    #[schema(example = "UTF-8")]
    pub encoding: String,
    /// `simplified` or `traditional`.
    #[schema(example = "simplified")]
    pub script: String,
    /// What cleaning removed, by kind.
    #[schema(example = json!({"web_chrome": 3}))]
    pub removed: BTreeMap<String, u64>,
    /// Seconds since the Unix epoch when it was ingested.
    pub ingested_at: i64,
    /// How sure inference is of each field, 0–1 (1.0 once corrected).
    #[schema(example = json!({"district": 0.95, "year": 0.55}))]
    pub confidence: BTreeMap<String, f32>,
    /// Fields whose confidence is below 0.6 (or left empty with a
    /// confidence): worth checking before relying on them.
    #[schema(example = json!(["year"]))]
    pub uncertain: Vec<String>,
}

mirror!(index::DocumentSummary => DocumentMeta {
    doc_id,
    file,
    place,
    level,
    review_year,
    meeting_date,
    speaker,
    encoding,
    script,
    removed,
    ingested_at,
    confidence,
    uncertain,
} + report: ReportMeta { title, year, doc_type } - passages);

/// A document as listed: metadata, counts and cleaning report, no passages.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DocumentListing {
    #[serde(flatten)]
    pub meta: DocumentMeta,
    pub passages: usize,
}

impl From<index::DocumentSummary> for DocumentListing {
    fn from(d: index::DocumentSummary) -> Self {
        DocumentListing {
            passages: d.passages,
            meta: d.into(),
        }
    }
}

/// `GET /api/documents`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DocumentList {
    pub documents: Vec<DocumentListing>,
}

/// A stored passage with its document's metadata.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Passage {
    #[schema(example = "a3f1c2d4e5b60718:37")]
    pub passage_id: String,
    pub doc_id: String,
    pub ordinal: u32,
    /// Original script, as users read it.
    #[schema(example = "深化推进农村厕所革命,完成年度农村户厕无害化改造任务。")]
    pub text: String,
    /// The text folded to simplified characters (what the lexical index reads).
    pub text_simplified: String,
    #[schema(example = json!(["三、2024年工作安排", "（四）全面推进乡村振兴"]))]
    pub section_path: Vec<String>,
    pub term: Option<String>,
    #[serde(flatten)]
    pub place: Place,
    #[serde(flatten)]
    pub report: ReportMeta,
}

mirror!(index::StoredPassage => Passage {
    passage_id,
    doc_id,
    ordinal,
    text,
    text_simplified,
    section_path,
    term,
    place,
} + report: ReportMeta { title, year, doc_type } - key); // `key`: an internal handle, never serialized

/// `GET /api/documents/{id}`: the document's metadata and its passages in order.
///
/// The library's record flattens the listing (whose `passages` is a count)
/// next to the `passages` list, which put the key `passages` twice in one
/// object; JSON parsers keep the last one (the list), so the count is left
/// out here: it is the list's length.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DocumentWithPassages {
    #[serde(flatten)]
    pub meta: DocumentMeta,
    pub passages: Vec<Passage>,
}

impl From<index::DocumentRecord> for DocumentWithPassages {
    fn from(d: index::DocumentRecord) -> Self {
        let index::DocumentRecord { summary, passages } = d;
        DocumentWithPassages {
            meta: summary.into(),
            passages: list(passages),
        }
    }
}
/// `GET /api/facets`: passages per value of each facet under the filter.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FacetCounts {
    #[schema(example = json!({"南岸区": 120, "南明区": 64}))]
    pub district: BTreeMap<String, usize>,
    #[schema(example = json!({"重庆市": 120, "贵阳市": 64}))]
    pub city: BTreeMap<String, usize>,
    #[schema(example = json!({"贵州省": 64}))]
    pub province: BTreeMap<String, usize>,
    /// Keyed by year, as text (JSON object keys are strings).
    #[schema(value_type = BTreeMap<String, usize>, example = json!({"2024": 184}))]
    pub year: BTreeMap<i32, usize>,
    #[schema(example = json!({"政府工作报告": 184}))]
    pub doc_type: BTreeMap<String, usize>,
    /// Passages matching the filter.
    pub total_passages: usize,
    /// Documents with at least one matching passage.
    pub total_documents: usize,
}

mirror!(index::Facets => FacetCounts {
    district,
    city,
    province,
    year,
    doc_type,
    total_passages,
    total_documents,
});

/// `GET /api/stats`: library-wide figures.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LibraryStats {
    pub data_dir: String,
    pub schema_version: i64,
    #[schema(example = "multilingual-e5-small")]
    pub model_id: String,
    #[schema(example = 384)]
    pub dim: usize,
    pub documents: usize,
    pub passages: usize,
    pub districts: usize,
    /// Points in the HNSW graph, including deleted ones not yet rebuilt away.
    pub dense_points: usize,
    /// Deleted passages still in the HNSW graph (skipped at query time).
    pub dense_tombstones: usize,
    pub store_bytes: u64,
    pub dense_bytes: u64,
    /// Store generation (bumped by every committed write).
    pub generation: i64,
}

mirror!(index::Stats => LibraryStats {
    data_dir: |d: std::path::PathBuf| d.to_string_lossy().into_owned(),
    schema_version,
    model_id,
    dim,
    documents,
    passages,
    districts,
    dense_points,
    dense_tombstones,
    store_bytes,
    dense_bytes,
    generation,
});

/// Metadata given with an upload, overriding what parsing inferred: the
/// same rules as a correction (years 1900–2200, one line of at most 200
/// characters).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MetaOverride {
    #[schema(
        example = "2024年南岸区政府工作报告",
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub title: Option<String>,
    #[schema(
        example = "南岸区",
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub district: Option<String>,
    #[schema(
        example = "重庆市",
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub city: Option<String>,
    #[schema(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub province: Option<String>,
    #[serde(default, deserialize_with = "crate::api::params::json_year")]
    #[schema(value_type = Option<i64>, example = 2024, minimum = 1900, maximum = 2200)]
    pub year: Option<i32>,
    #[schema(
        example = "政府工作报告",
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub doc_type: Option<String>,
}

impl MetaOverride {
    /// The metadata rules, as a 400 naming the first field that breaks them.
    pub fn check(&self) -> Result<(), crate::api::ApiError> {
        use crate::api::params::{check_meta_value, check_year};
        for (field, v) in [
            ("title", &self.title),
            ("district", &self.district),
            ("city", &self.city),
            ("province", &self.province),
            ("doc_type", &self.doc_type),
        ] {
            if let Some(v) = v {
                check_meta_value(field, v)?;
            }
        }
        if let Some(y) = self.year {
            check_year("year", y)?;
        }
        Ok(())
    }
}

impl From<MetaOverride> for crate::corpus::MetaOverrides {
    /// A blank or missing value leaves the inferred one (an upload has no
    /// way to clear a field; a correction does).
    fn from(m: MetaOverride) -> Self {
        let MetaOverride {
            title,
            district,
            city,
            province,
            year,
            doc_type,
        } = m;
        let given = |v: Option<String>| {
            v.map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .map(Some)
        };
        crate::corpus::MetaOverrides {
            title: given(title),
            district: given(district),
            city: given(city),
            province: given(province),
            year: year.map(Some),
            doc_type: given(doc_type),
            ..Default::default()
        }
    }
}

/// `added` (a new document, 201) or `replaced` (same content already stored, 200).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AddOutcome {
    Added,
    Replaced,
}

impl From<index::AddOutcome> for AddOutcome {
    fn from(o: index::AddOutcome) -> Self {
        match o {
            index::AddOutcome::Added => AddOutcome::Added,
            index::AddOutcome::Replaced => AddOutcome::Replaced,
        }
    }
}

/// `POST /api/documents`: the document as stored.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IngestedDocument {
    pub doc_id: String,
    #[schema(example = "南岸区2024年政府工作报告.txt")]
    pub file: String,
    pub outcome: AddOutcome,
    pub passages: usize,
    #[serde(flatten)]
    pub place: Place,
    #[serde(flatten)]
    pub report: ReportMeta,
    pub encoding: String,
    pub script: String,
}

mirror!(service::IngestedDocument => IngestedDocument {
    doc_id,
    file,
    outcome,
    passages,
    place,
    encoding,
    script,
} + report: ReportMeta { title, year, doc_type });

/// `PATCH /api/documents/{id}`: the fields to correct. A field left out is
/// kept, `null` or `""` clears it; naming a district refills its city,
/// province and level from the divisions table unless they are given too.
/// Corrected fields get confidence 1.0 and survive a re-ingest.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MetaPatch {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "2024年某区政府工作报告", max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub title: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "萧山区", max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub district: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub city: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub province: Option<Option<String>>,
    /// `province`, `prefecture`, `county` or `national` (spaces around it are dropped).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "county", max_length = 200, pattern = r"^[ \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*(province|prefecture|county|national)?[ \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$")]
    pub level: Option<Option<String>>,
    #[serde(default, deserialize_with = "present_year")]
    #[schema(value_type = Option<i64>, example = 2024, minimum = 1900, maximum = 2200)]
    pub year: Option<Option<i32>>,
    #[serde(default, deserialize_with = "present_year")]
    #[schema(value_type = Option<i64>, minimum = 1900, maximum = 2200)]
    pub review_year: Option<Option<i32>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "政府工作报告", max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub doc_type: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub meeting_date: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub speaker: Option<Option<String>>,
}

/// A year given (`2024`, `2024.0`) or `null`, told from one left out.
fn present_year<'de, D>(d: D) -> Result<Option<Option<i32>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    crate::api::params::json_year(d).map(Some)
}

/// Tells a field given as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

impl MetaPatch {
    /// The fields given, as (name, text) pairs; '' clears, as in a
    /// corrections file.
    pub fn fields(&self) -> Vec<(String, String)> {
        fn text(v: &Option<Option<String>>) -> Option<String> {
            v.as_ref().map(|v| v.clone().unwrap_or_default())
        }
        fn year(v: &Option<Option<i32>>) -> Option<String> {
            v.as_ref()
                .map(|v| v.map(|y| y.to_string()).unwrap_or_default())
        }
        [
            ("district", text(&self.district)),
            ("city", text(&self.city)),
            ("province", text(&self.province)),
            ("level", text(&self.level)),
            ("year", year(&self.year)),
            ("review_year", year(&self.review_year)),
            ("doc_type", text(&self.doc_type)),
            ("title", text(&self.title)),
            ("meeting_date", text(&self.meeting_date)),
            ("speaker", text(&self.speaker)),
        ]
        .into_iter()
        .filter_map(|(f, v)| v.map(|v| (f.to_string(), v)))
        .collect()
    }
}

/// One field a correction changed (`null`: empty).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldChange {
    #[schema(example = "year")]
    pub field: String,
    #[schema(example = "2023")]
    pub old: Option<String>,
    #[schema(example = "2024")]
    pub new: Option<String>,
}

mirror!(service::corrections::FieldChange => FieldChange { field, old, new } - doc_id - file);

/// `PATCH /api/documents/{id}`: what changed and the document as stored now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MetaPatched {
    pub doc_id: String,
    /// Only the fields whose value changed (a correction to the same value
    /// still sets its confidence to 1.0).
    pub changes: Vec<FieldChange>,
    pub document: DocumentListing,
}

/// `DELETE /api/documents/{id}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Deleted {
    pub doc_id: String,
    /// Always `true` (a missing document is a 404).
    pub deleted: bool,
}

/// Reads `filters` only from a JSON object: serde would also take an array
/// of the fields in order, which the description does not allow.
fn object_only<'de, D>(d: D) -> Result<FilterParams, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error;
    let map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
    serde_json::from_value(serde_json::Value::Object(map)).map_err(D::Error::custom)
}

/// `POST /api/summarize`: a topic across districts (`query`) or one document (`doc_id`), not both.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(default)]
#[schema(example = json!({"query": "哪些地区在推进农村户厕改造", "max_sentences": 2, "max_districts": 5}))]
pub struct SummarizeBody {
    /// The topic (one line).
    #[schema(
        example = "河湖长制",
        max_length = 2000,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub query: Option<String>,
    pub doc_id: Option<String>,
    /// The filters every other endpoint takes (`year` as a year or a range
    /// too), here as one object.
    #[serde(deserialize_with = "object_only")]
    pub filters: FilterParams,
    /// Per district for a topic (default 3); in all for a document (default 12).
    #[serde(deserialize_with = "crate::api::params::json_count")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 200)]
    pub max_sentences: Option<usize>,
    /// Districts at most, for a topic.
    #[serde(deserialize_with = "crate::api::params::json_count")]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 50, default = 10)]
    pub max_districts: Option<usize>,
}

impl SummarizeBody {
    /// The request for the library, after the checks the description states.
    pub fn into_request(
        self,
        limits: &crate::api::Limits,
    ) -> Result<summarize::SummarizeRequest, crate::api::ApiError> {
        if let Some(q) = &self.query {
            crate::api::params::check_line("query", q)?;
            limits.check_len("query", q)?;
        }
        if let Some(n) = self.max_sentences {
            limits.check_count("max_sentences", Some(n), n, summarize::MAX_SENTENCES)?;
        }
        if let Some(n) = self.max_districts {
            limits.check_count("max_districts", Some(n), n, MAX_DISTRICTS)?;
        }
        let filters = self.filters.to_filter()?;
        let SummarizeBody {
            query,
            doc_id,
            filters: _,
            max_sentences,
            max_districts,
        } = self;
        Ok(summarize::SummarizeRequest {
            query,
            doc_id,
            filters,
            max_sentences,
            max_districts,
        })
    }
}

/// Most districts a topic summary covers (the library clamps to it).
pub const MAX_DISTRICTS: usize = 50;

/// A sentence of a report, verbatim, with the citation that lets a reader check it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SummarySentence {
    #[schema(example = "完成年度农村户厕无害化改造任务,农村卫生厕所普及率达97.42%。")]
    pub text: String,
    pub passage_id: String,
    pub doc_id: String,
    #[schema(example = "西乡塘区")]
    pub district: Option<String>,
    pub section_path: Vec<String>,
    pub score: f32,
}

mirror!(summarize::SummarySentence => SummarySentence {
    text,
    passage_id,
    doc_id,
    district,
    section_path,
    score,
});

/// The key sentences of one district on the topic.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DistrictSummary {
    #[schema(example = "西乡塘区")]
    pub district: String,
    pub sentences: Vec<SummarySentence>,
}

/// A statement made by two or more districts: one sentence of each.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CommonStatement {
    #[schema(example = json!(["南岸区", "西乡塘区"]))]
    pub districts: Vec<String>,
    pub sentences: Vec<SummarySentence>,
}

/// A topic summarised across districts.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TopicSummary {
    #[schema(example = "哪些地区在推进农村户厕改造")]
    pub query: String,
    /// Districts whose reports speak about the topic; empty when none does.
    pub districts: Vec<DistrictSummary>,
    /// Districts in scope whose reports were searched and say nothing
    /// relevant (未提及).
    #[schema(example = json!(["麒麟区"]))]
    pub not_mentioned: Vec<String>,
    pub in_common: Vec<CommonStatement>,
}

/// Key sentences of one top-level section.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SectionSummary {
    /// The top-level heading, or `null` for text before the first heading.
    #[schema(example = "一、2023年工作回顾")]
    pub heading: Option<String>,
    pub sentences: Vec<SummarySentence>,
}

/// One report summarised, section by section.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DocumentSummary {
    pub doc_id: String,
    pub district: Option<String>,
    pub sections: Vec<SectionSummary>,
}

/// `POST /api/summarize`: `kind` says which.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Summary {
    Topic(TopicSummary),
    Document(DocumentSummary),
}

mirror!(summarize::TopicSummary => TopicSummary {
    query,
    districts: list,
    not_mentioned,
    in_common: list,
});
mirror!(summarize::topic::DistrictSummary => DistrictSummary { district, sentences: list });
mirror!(summarize::topic::CommonStatement => CommonStatement { districts, sentences: list });
mirror!(summarize::DocumentSummary => DocumentSummary { doc_id, district, sections: list });
mirror!(summarize::SectionSummary => SectionSummary { heading, sentences: list });

impl From<summarize::Summary> for Summary {
    fn from(s: summarize::Summary) -> Self {
        match s {
            summarize::Summary::Topic(t) => Summary::Topic(t.into()),
            summarize::Summary::Document(d) => Summary::Document(d.into()),
        }
    }
}

/// A goal for the coming year, or a result of the year reviewed.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    Target,
    Achieved,
}

/// A rate of change, or a level (an amount).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Measure {
    Growth,
    Level,
}

impl From<summarize::TargetKind> for TargetKind {
    fn from(k: summarize::TargetKind) -> Self {
        match k {
            summarize::TargetKind::Target => TargetKind::Target,
            summarize::TargetKind::Achieved => TargetKind::Achieved,
        }
    }
}

impl From<summarize::targets::Measure> for Measure {
    fn from(m: summarize::targets::Measure) -> Self {
        match m {
            summarize::targets::Measure::Growth => Measure::Growth,
            summarize::targets::Measure::Level => Measure::Level,
        }
    }
}

/// One numeric statement about one indicator.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TargetRow {
    /// Normalised indicator name (simplified script).
    #[schema(example = "地区生产总值")]
    pub indicator: String,
    /// Signed: a stated decline (下降2.8%) is negative. The lower end of a
    /// range (5.5%-6%).
    #[schema(example = 6.0)]
    pub value: f64,
    /// The upper end when the report states a range.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = json!(null))]
    pub upper: Option<f64>,
    #[schema(example = "%")]
    pub unit: String,
    /// 左右 / 以上 / 以内 / 以下 / 突破 / 超过 …, when the report qualifies the figure.
    #[schema(example = "左右")]
    pub qualifier: Option<String>,
    pub kind: TargetKind,
    pub measure: Measure,
    #[schema(example = 2024)]
    pub year: Option<i32>,
    #[schema(example = "南明区")]
    pub district: Option<String>,
    pub doc_id: String,
    pub passage_id: String,
    /// The sentence as the report printed it (original script).
    #[schema(example = "地区生产总值增长6%左右。")]
    pub sentence: String,
}

mirror!(summarize::TargetRow => TargetRow {
    indicator,
    value,
    upper,
    unit,
    qualifier,
    kind,
    measure,
    year,
    district,
    doc_id,
    passage_id,
    sentence,
});

/// `GET /api/targets`: the district × indicator table.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TargetsTable {
    /// Indicators present, in lexicon order.
    #[schema(example = json!(["地区生产总值", "一般公共预算收入"]))]
    pub indicators: Vec<String>,
    /// Districts present, sorted.
    #[schema(example = json!(["南岸区", "南明区"]))]
    pub districts: Vec<String>,
    /// Every extracted statement, by district then document order.
    pub rows: Vec<TargetRow>,
}

mirror!(summarize::TargetsTable => TargetsTable { indicators, districts, rows: list });

/// A figure of the target panel with the sentence and passage it was read from.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PanelFigure {
    #[schema(example = 6.0)]
    pub value: f64,
    /// The upper end of a range (`5%-6%`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upper: Option<f64>,
    #[schema(example = "左右")]
    pub qualifier: Option<String>,
    #[schema(example = "%")]
    pub unit: String,
    /// The sentence as the report printed it.
    #[schema(example = "地区生产总值增长6%左右。")]
    pub sentence: String,
    pub passage_id: String,
    pub doc_id: String,
}

mirror!(summarize::panel::Figure => PanelFigure {
    value,
    upper,
    qualifier,
    unit,
    sentence,
    passage_id,
    doc_id,
});

/// One place × year × indicator of the target panel.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PanelRow {
    /// The place's name in its latest report in the library.
    #[schema(example = "盐田区")]
    pub place: String,
    /// Other names its reports carry (before a rename).
    pub other_names: Vec<String>,
    /// `province`, `prefecture` or `county`.
    #[schema(example = "county")]
    pub level: Option<String>,
    pub city: Option<String>,
    pub province: Option<String>,
    #[schema(example = 2023)]
    pub year: i32,
    #[schema(example = "地区生产总值")]
    pub indicator: String,
    pub measure: Measure,
    /// Set in the report of `year`.
    pub target: Option<PanelFigure>,
    /// Reported for `year`, normally by the next year's report.
    pub achieved: Option<PanelFigure>,
    /// Achieved against target (at least a floor, at most a ceiling); null
    /// unless both are stated in one unit.
    pub met: Option<bool>,
    /// Achieved minus the target's lower end.
    pub gap: Option<f64>,
    /// The target the place's city set for the same year, when the library
    /// holds that report.
    pub city_target: Option<PanelFigure>,
    /// The same for the province.
    pub province_target: Option<PanelFigure>,
}

mirror!(summarize::panel::PanelRow => PanelRow {
    place,
    other_names,
    level,
    city,
    province,
    year,
    indicator,
    measure,
    target: opt,
    achieved: opt,
    met,
    gap,
    city_target: opt,
    province_target: opt,
});

/// `GET /api/panel/targets`: place × year rows of one indicator.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TargetPanel {
    #[schema(example = "地区生产总值")]
    pub indicator: String,
    /// By province, level (province, prefecture, county), place, year.
    pub rows: Vec<PanelRow>,
}

mirror!(summarize::TargetPanel => TargetPanel { indicator, rows: list });

/// One term's occurrences in one report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TermCount {
    #[schema(example = "数字经济")]
    pub term: String,
    pub count: usize,
}

mirror!(summarize::panel::TermCount => TermCount { term, count });

/// One report's attention to the concept.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttentionRow {
    pub doc_id: String,
    /// The reporting unit (district, else city, else province).
    #[schema(example = "盐田区")]
    pub place: Option<String>,
    pub level: Option<String>,
    pub city: Option<String>,
    pub province: Option<String>,
    pub year: Option<i32>,
    pub doc_type: Option<String>,
    /// Characters of the report's passages, whitespace not counted.
    pub characters: usize,
    pub passages: usize,
    /// Per term, in the order of `terms`.
    pub term_counts: Vec<TermCount>,
    /// All terms' occurrences per 10,000 characters; null when no terms are
    /// counted (an English concept given without `terms`).
    pub terms_per_10k: Option<f64>,
    /// Passages the relevance estimate finds addressing the concept.
    pub relevant_passages: usize,
    /// `relevant_passages / passages`.
    pub relevant_share: f64,
    /// The passages behind `relevant_passages`, in report order.
    pub relevant_passage_ids: Vec<String>,
}

mirror!(summarize::panel::AttentionRow => AttentionRow {
    doc_id,
    place,
    level,
    city,
    province,
    year,
    doc_type,
    characters,
    passages,
    term_counts: list,
    terms_per_10k,
    relevant_passages,
    relevant_share,
    relevant_passage_ids,
});

/// `GET /api/panel/attention`: per report, how much it says about a concept.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttentionPanel {
    #[schema(example = "数字经济")]
    pub concept: String,
    /// The terms counted (simplified script).
    pub terms: Vec<String>,
    /// By province, level, place, year.
    pub rows: Vec<AttentionRow>,
}

mirror!(summarize::AttentionPanel => AttentionPanel { concept, terms, rows: list });
