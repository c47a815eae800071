//! Bytes → clean, structured, attributed passages.
//!
//! The stages, one submodule each: [`decode`] (encoding detection),
//! [`clean`] with [`repair`] and [`markup`] (pinyin and mojibake repair, HTML
//! and Markdown, removal of chrome and captions, re-joining of broken lines),
//! [`structure`] (headings, section paths, glossary), [`passages`] (sentences
//! packed into bounded passages), [`script`] (traditional → simplified
//! folding) and [`metadata`] (reporting unit, years, type, with the embedded
//! table of administrative divisions); [`divisions`] holds the divisions'
//! history (names with years, successors across renames and mergers).
//!
//! # Overriding metadata
//!
//! Inferred metadata can be corrected per file with a sidecar JSON file next
//! to it, named `NAME.meta.json` for `NAME.txt` (or `NAME.txt.meta.json`).
//! Its keys are those of [`DocumentMeta`] (`title`, `district`, `city`,
//! `province`, `level`, `year`, `review_year`, `doc_type`, `meeting_date`,
//! `speaker`); each key present replaces the inferred value (`null` clears
//! it) and gets confidence 1. Naming only a `district` fills its city,
//! province and level from the divisions table when the name is unique:
//!
//! ```json
//! {"district": "南明区", "year": 2024, "doc_type": "政府工作报告"}
//! ```
//!
//! The CLI's `inspect` flags (`--district`, `--year`, …) apply on top of the
//! sidecar, to every file given.

pub mod clean;
pub mod decode;
pub mod divisions;
pub mod markers;
pub mod markup;
pub mod metadata;
pub mod passages;
pub mod repair;
pub mod script;
pub mod structure;
pub mod text;
pub mod words;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};

/// One retrievable unit of a report: whole sentences of one section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Passage {
    /// Stable id: document content hash + ordinal, e.g. `3f2a9c1b0d4e5f60-0012`.
    pub id: String,
    /// Position in the document, from 0.
    pub ordinal: u32,
    /// Clean text in the document's own script (what users read). Paragraph
    /// breaks inside a passage are `\n`.
    pub text: String,
    /// The same text folded to simplified characters (for lexical matching).
    pub text_simplified: String,
    /// Headings from the top of the document down to this passage.
    pub section_path: Vec<String>,
    /// Set for glossary entries (名词解释): the term being explained.
    pub term: Option<String>,
}

impl Passage {
    /// The text to embed: the section path as context, then the passage.
    /// (The displayed text stays `text`.)
    pub fn context_text(&self) -> String {
        if self.section_path.is_empty() {
            self.text.clone()
        } else {
            format!("{}\n{}", self.section_path.join(" > "), self.text)
        }
    }
}

/// Where a report comes from: its reporting unit and the units above it.
/// Every type that carries a report's place holds one of these, flattened
/// on the wire (`district`, `city`, `province` beside the other fields).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Place {
    /// The reporting unit, whatever its level (区, 县, 县级市, 市, 旗…).
    pub district: Option<String>,
    pub city: Option<String>,
    pub province: Option<String>,
}

/// Who reported, when, and what kind of report it is. A field that cannot be
/// derived is `None`, never a guess.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DocumentMeta {
    pub title: Option<String>,
    #[serde(flatten)]
    pub place: Place,
    /// Administrative level of `district`: "province" | "prefecture" |
    /// "county", or "national" for the State Council's reports (no place).
    pub level: Option<String>,
    /// The year the report plans for (e.g. 2025 for a report given in early 2025).
    pub year: Option<i32>,
    /// The year the report looks back on.
    pub review_year: Option<i32>,
    /// 政府工作报告, 国民经济和社会发展计划报告, 财政预算报告,
    /// 人大常委会工作报告 or 新闻报道 (news and outlook pieces).
    pub doc_type: Option<String>,
    /// ISO date (`2024-01-31`) of the meeting the report was given at.
    pub meeting_date: Option<String>,
    /// The official (or agency) presenting the report.
    pub speaker: Option<String>,
    /// Confidence in [0, 1] per inferred field name.
    pub confidence: BTreeMap<String, f32>,
}

/// Below this confidence a field is shown as uncertain (inspect, the API,
/// the page): a value a reader should check before relying on it.
pub const UNCERTAIN_BELOW: f32 = 0.6;

/// The fields of [`DocumentMeta`] a user may correct, by name.
pub const META_FIELDS: [&str; 10] = [
    "district",
    "city",
    "province",
    "level",
    "year",
    "review_year",
    "doc_type",
    "title",
    "meeting_date",
    "speaker",
];

impl DocumentMeta {
    /// Fields whose confidence is below [`UNCERTAIN_BELOW`], in
    /// [`META_FIELDS`] order. A field left empty but carrying a confidence
    /// counts too: inference looked for it and was unsure.
    pub fn uncertain_fields(&self) -> Vec<String> {
        uncertain_in(&self.confidence)
    }
}

/// The fields a confidence map puts below [`UNCERTAIN_BELOW`], in
/// [`META_FIELDS`] order (for stored records that carry only the map).
pub fn uncertain_in(confidence: &BTreeMap<String, f32>) -> Vec<String> {
    META_FIELDS
        .iter()
        .filter(|f| confidence.get(**f).is_some_and(|c| *c < UNCERTAIN_BELOW))
        .map(|f| f.to_string())
        .collect()
}

/// A parsed document: everything ingestion learned about one file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Document {
    /// Content hash of the cleaned text (16 hex digits); prefix of passage
    /// ids. The same report in another encoding or layout gets the same id.
    pub id: String,
    /// File name as given.
    pub file: String,
    /// Detected encoding, e.g. "UTF-8", "GB18030", "Big5", "UTF-16LE".
    pub encoding: String,
    /// "simplified" or "traditional": the script shown to users.
    pub script: String,
    pub meta: DocumentMeta,
    /// What cleaning removed or repaired, by kind: `pinyin_annotations`,
    /// `mojibake_spans` (unrecoverable runs cut out), `chrome_lines` (page
    /// furniture), `captions`, `repeated_lines`, `html_tags`, `cjk_spaces`
    /// (stray spaces inside Chinese text), `line_breaks_joined`,
    /// `inline_headings_split`, `place_names_restored` (a division's suffix
    /// rebuilt from its surviving reading) and `title_block_lines` (moved to
    /// metadata).
    pub removed: BTreeMap<String, u64>,
    pub passages: Vec<Passage>,
}

/// Counts model tokens of a text, so passages can be bounded in the model's units.
pub type TokenCounter = Arc<dyn Fn(&str) -> usize + Send + Sync>;

#[derive(Clone)]
pub struct CorpusOptions {
    /// Upper bound on a passage's size in model tokens.
    pub max_passage_tokens: usize,
    /// The model's token counter; a character-based estimate when `None`.
    pub token_counter: Option<TokenCounter>,
}

impl Default for CorpusOptions {
    fn default() -> Self {
        CorpusOptions {
            max_passage_tokens: 200,
            token_counter: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("{file}: {problem}")]
    Unreadable { file: String, problem: String },
}

fn unreadable(file: &str, problem: impl Into<String>) -> CorpusError {
    CorpusError::Unreadable {
        file: file.to_string(),
        problem: problem.into(),
    }
}

/// Parses one file's bytes into a document.
pub fn parse_document(
    file: &str,
    bytes: &[u8],
    opts: &CorpusOptions,
) -> Result<Document, CorpusError> {
    let decoded = decode::decode(bytes).map_err(|p| unreadable(file, p.to_string()))?;
    let (text, table_head) = match decode::table_report(file, &decoded.text) {
        None => (decoded.text, Vec::new()),
        Some(Ok(t)) => (t.text, t.head),
        Some(Err(problem)) => return Err(unreadable(file, problem)),
    };
    let mut removed = clean::Removed::new();
    let mut doc = clean::clean(file, &text, &mut removed);
    // A table's short cells (a title column) lead the title block.
    for (i, cell) in table_head.iter().enumerate() {
        let cell = clean::normalise_punct(cell);
        if !doc.head.contains(&cell) {
            doc.head.insert(i.min(doc.head.len()), cell);
        }
    }
    let title = pick_title(&doc.head);
    let blocks = structure::structure(&doc, title.as_deref());
    if blocks.iter().all(|b| b.text.trim().is_empty()) {
        return Err(unreadable(
            file,
            "no report text found (only page furniture or headings)",
        ));
    }
    let id = content_id(&blocks);
    let passages = passages::build(&id, &blocks, opts);

    let body: String = blocks
        .iter()
        .map(|b| b.text.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let body_folded = to_simplified(&body);
    let doc_script = script::detect_script(&body, &body_folded);
    let head_folded: Vec<String> = doc.head.iter().map(|l| to_simplified(l)).collect();
    let title_folded = title.as_deref().map(to_simplified);
    let mut headings: Vec<String> = Vec::new();
    for b in &blocks {
        for h in &b.path {
            if !headings.contains(h) {
                headings.push(h.clone());
            }
        }
    }
    let headings: Vec<String> = headings.iter().map(|h| to_simplified(h)).collect();
    let mut meta = metadata::infer(&metadata::Evidence {
        head: &head_folded,
        title: title_folded.as_deref(),
        body: &body_folded,
        headings: &headings,
        captions: removed.get("captions").copied().unwrap_or(0),
    });
    if let Some(t) = title {
        meta.title = Some(t);
        meta.confidence.insert("title".into(), 0.9);
    }
    meta.speaker = meta.speaker.map(|s| in_original_script(&s, &doc.head));
    Ok(Document {
        id,
        file: file.to_string(),
        encoding: decoded.encoding,
        script: doc_script.to_string(),
        meta,
        removed,
        passages,
    })
}

/// Hash of the sections and their text. Paragraph and line breaks do not
/// count: they depend on the source's layout (a fixed-width wrap can hide a
/// paragraph end), not on the report.
fn content_id(blocks: &[structure::Block]) -> String {
    let mut h = Sha256::new();
    let mut section: Option<(&Vec<String>, &Option<String>)> = None;
    for b in blocks {
        if section != Some((&b.path, &b.term)) {
            section = Some((&b.path, &b.term));
            h.update([0x1d]);
            for p in &b.path {
                h.update(p.as_bytes());
                h.update([0x1f]);
            }
            h.update(b.term.as_deref().unwrap_or("").as_bytes());
            h.update([0x1e]);
        }
        h.update(b.text.replace('\n', "").as_bytes());
    }
    h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

static WEB_SUFFIX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\s*[—–\-_|｜]+\s*[^—–\-_|｜]{1,4}$").expect("valid regex"));

/// The title: the first title-block line naming a kind of document (without
/// a web page's `—全文`-style suffix), or a headline with its `——` subtitle.
fn pick_title(head: &[String]) -> Option<String> {
    let folded: Vec<String> = head.iter().map(|l| to_simplified(l)).collect();
    let names_kind = text::names_document_kind;
    for (i, f) in folded.iter().enumerate() {
        if f.starts_with("——") {
            continue;
        }
        if names_kind(f) {
            let t = head[i].trim();
            let stripped = WEB_SUFFIX.replace(t, "");
            let keep = if names_kind(&to_simplified(&stripped)) {
                stripped.into_owned()
            } else {
                t.to_string()
            };
            return Some(keep);
        }
        if let Some(next) = folded.get(i + 1) {
            if next.starts_with("——") && !next.contains("会议") && names_kind(next) {
                return Some(format!("{}{}", head[i].trim(), head[i + 1].trim()));
            }
        }
    }
    None
}

/// `name` as written in the title block (traditional documents keep their
/// script), found by folding windows of the original lines.
fn in_original_script(name: &str, head: &[String]) -> String {
    let n = name.chars().count();
    for line in head {
        let chars: Vec<char> = line.chars().collect();
        for w in chars.windows(n) {
            let s: String = w.iter().collect();
            if to_simplified(&s) == name {
                return s;
            }
        }
    }
    name.to_string()
}

/// Metadata given by the user; each present key replaces the inferred value
/// (`null` clears it). See the module documentation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaOverrides {
    #[serde(default, deserialize_with = "present")]
    pub title: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub district: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub city: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub province: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub level: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub year: Option<Option<i32>>,
    #[serde(default, deserialize_with = "present")]
    pub review_year: Option<Option<i32>>,
    #[serde(default, deserialize_with = "present")]
    pub doc_type: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub meeting_date: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub speaker: Option<Option<String>>,
}

/// A key that is present (even as `null`) becomes `Some(value)`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// The years a report's metadata may name: the same bounds for stored
/// values, corrections and the filters that select them, so every stored
/// year can be filtered for.
pub const YEARS: std::ops::RangeInclusive<i32> = 1900..=2200;

/// Longest metadata value (a place, a title, a document type), in characters.
pub const MAX_META_CHARS: usize = 200;

/// Whether `year` is one a report can carry; the message names `field`.
pub fn check_meta_year(field: &str, year: i32) -> Result<i32, String> {
    if YEARS.contains(&year) {
        Ok(year)
    } else {
        Err(format!(
            "{field} must be a year from {} to {}, not {year}",
            YEARS.start(),
            YEARS.end()
        ))
    }
}

/// Whether `value` can be a metadata value or a filter on one: one line
/// without control characters, at most [`MAX_META_CHARS`] characters. Such a
/// character could never be typed into a filter, so a value holding one
/// could never be selected.
pub fn check_meta_text(field: &str, value: &str) -> Result<(), String> {
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(format!(
            "{field} must not contain control characters (found U+{:04X})",
            c as u32
        ));
    }
    let n = value.chars().count();
    if n > MAX_META_CHARS {
        return Err(format!(
            "{field} has {n} characters; the limit is {MAX_META_CHARS}"
        ));
    }
    Ok(())
}

impl MetaOverrides {
    /// Applies the overrides; `other`'s keys win over `self`'s.
    pub fn merged(&self, other: &MetaOverrides) -> MetaOverrides {
        macro_rules! pick {
            ($($f:ident),*) => { MetaOverrides { $($f: other.$f.clone().or_else(|| self.$f.clone()),)* } };
        }
        pick!(
            title,
            district,
            city,
            province,
            level,
            year,
            review_year,
            doc_type,
            meeting_date,
            speaker
        )
    }

    /// Sets one field from its text form, as a corrections file gives it:
    /// an empty value clears the field; years must lie in [`YEARS`], text
    /// must pass [`check_meta_text`].
    pub fn set_field(&mut self, field: &str, value: &str) -> Result<(), String> {
        // Checked as given: a control character at an end is still one.
        check_meta_text(field, value)?;
        let value = value.trim();
        let text = || (!value.is_empty()).then(|| value.to_string());
        let year = || -> Result<Option<i32>, String> {
            if value.is_empty() {
                return Ok(None);
            }
            match value.parse::<i32>() {
                Ok(y) => check_meta_year(field, y).map(Some),
                _ => Err(format!(
                    "{field} must be a year from 1900 to 2200, not {value:?}"
                )),
            }
        };
        match field {
            "title" => self.title = Some(text()),
            "district" => self.district = Some(text()),
            "city" => self.city = Some(text()),
            "province" => self.province = Some(text()),
            "level" => {
                if !value.is_empty()
                    && !["province", "prefecture", "county", "national"].contains(&value)
                {
                    return Err(format!(
                        "level must be province, prefecture, county or national, not {value:?}"
                    ));
                }
                self.level = Some(text())
            }
            "year" => self.year = Some(year()?),
            "review_year" => self.review_year = Some(year()?),
            "doc_type" => self.doc_type = Some(text()),
            "meeting_date" => self.meeting_date = Some(text()),
            "speaker" => self.speaker = Some(text()),
            _ => {
                return Err(format!(
                    "unknown field {field:?} (one of {})",
                    META_FIELDS.join(", ")
                ))
            }
        }
        Ok(())
    }

    pub fn apply(&self, meta: &mut DocumentMeta) {
        // `set!(dst <- field, …)`: a given field replaces the inferred value
        // and is no longer an inference with a confidence.
        macro_rules! set {
            ($($($dst:ident).+ <- $f:ident),*) => { $(
                if let Some(v) = &self.$f {
                    meta.$($dst).+ = v.clone();
                    meta.confidence.insert(stringify!($f).to_string(), 1.0);
                }
            )* };
        }
        if self.district.is_some() {
            // The inferred parents belonged to the inferred district.
            for (f, given) in [
                ("city", self.city.is_some()),
                ("province", self.province.is_some()),
                ("level", self.level.is_some()),
            ] {
                if !given {
                    meta.confidence.remove(f);
                    match f {
                        "city" => meta.place.city = None,
                        "province" => meta.place.province = None,
                        _ => meta.level = None,
                    }
                }
            }
        }
        set!(
            title <- title,
            place.district <- district,
            place.city <- city,
            place.province <- province,
            level <- level,
            year <- year,
            review_year <- review_year,
            doc_type <- doc_type,
            meeting_date <- meeting_date,
            speaker <- speaker
        );
        if self.district.is_some() {
            let before = (
                meta.place.city.clone(),
                meta.place.province.clone(),
                meta.level.clone(),
            );
            metadata::complete_from_table(meta);
            for (f, was, now) in [
                ("city", &before.0, &meta.place.city),
                ("province", &before.1, &meta.place.province),
                ("level", &before.2, &meta.level),
            ] {
                if was.is_none() && now.is_some() {
                    meta.confidence.insert(f.to_string(), 0.95);
                }
            }
        }
    }
}

/// The sidecar of `path`, if any: `NAME.meta.json` or `NAME.txt.meta.json`.
pub fn sidecar_path(path: &Path) -> Option<PathBuf> {
    let a = path.with_extension("meta.json");
    let b = PathBuf::from(format!("{}.meta.json", path.display()));
    [a, b].into_iter().find(|p| p.is_file() && p != path)
}

fn read_sidecar(path: &Path) -> Result<MetaOverrides, CorpusError> {
    let Some(side) = sidecar_path(path) else {
        return Ok(MetaOverrides::default());
    };
    let name = side.display().to_string();
    let text = std::fs::read_to_string(&side).map_err(|e| unreadable(&name, e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| unreadable(&name, format!("bad metadata sidecar: {e}")))
}

/// Reads and parses a file, applying a `NAME.meta.json` sidecar when present.
pub fn parse_file(path: &Path, opts: &CorpusOptions) -> Result<Document, CorpusError> {
    parse_file_with(path, opts, &MetaOverrides::default())
}

/// Like [`parse_file`], then applies `overrides` (e.g. CLI flags) on top of
/// the sidecar.
pub fn parse_file_with(
    path: &Path,
    opts: &CorpusOptions,
    overrides: &MetaOverrides,
) -> Result<Document, CorpusError> {
    let name = path.display().to_string();
    if path.is_dir() {
        return Err(unreadable(&name, "is a directory"));
    }
    let bytes = std::fs::read(path).map_err(|e| unreadable(&name, e.to_string()))?;
    let mut doc = parse_document(&name, &bytes, opts)?;
    read_sidecar(path)?.merged(overrides).apply(&mut doc.meta);
    Ok(doc)
}

/// Expands directories into the report files they hold (sorted; sidecars and
/// hidden files left out); files are kept as given.
pub fn input_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CorpusError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let rd = std::fs::read_dir(p)
                .map_err(|e| unreadable(&p.display().to_string(), e.to_string()))?;
            let mut files: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    let n = f
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    f.is_file() && !n.starts_with('.') && !n.ends_with(".meta.json")
                })
                .collect();
            files.sort();
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Folds text (a query, say) to simplified characters for lexical matching.
pub fn to_simplified(text: &str) -> String {
    script::to_simplified(text)
}

/// One JSON object describing a parsed document, as `zhengce inspect --json`
/// prints it.
pub fn inspect_json(doc: &Document) -> serde_json::Value {
    serde_json::json!({
        "file": doc.file,
        "id": doc.id,
        "encoding": doc.encoding,
        "script": doc.script,
        "metadata": doc.meta,
        "uncertain": doc.meta.uncertain_fields(),
        "removed": doc.removed,
        "passages": doc.passages,
    })
}

/// A human-readable report of a parsed document.
pub fn inspect_text(doc: &Document) -> String {
    use std::fmt::Write;
    let m = &doc.meta;
    let mut s = String::new();
    let _ = writeln!(s, "== {}", doc.file);
    let _ = writeln!(
        s,
        "id {}  encoding {}  script {}",
        doc.id, doc.encoding, doc.script
    );
    let uncertain = m.uncertain_fields();
    let field = |name: &str, v: Option<String>| -> String {
        // A trailing "?" marks a field below UNCERTAIN_BELOW: check it.
        let mark = if uncertain.iter().any(|u| u == name) {
            "  ?"
        } else {
            ""
        };
        let shown = match v {
            Some(v) => match m.confidence.get(name) {
                Some(c) => format!("{name}: {v} ({c:.2})"),
                None => format!("{name}: {v}"),
            },
            None => match m.confidence.get(name) {
                Some(c) => format!("{name}: - ({c:.2})"),
                None => format!("{name}: -"),
            },
        };
        format!("{shown}{mark}")
    };
    let rows = [
        field("title", m.title.clone()),
        field("district", m.place.district.clone()),
        field("city", m.place.city.clone()),
        field("province", m.place.province.clone()),
        field("level", m.level.clone()),
        field("year", m.year.map(|y| y.to_string())),
        field("review_year", m.review_year.map(|y| y.to_string())),
        field("doc_type", m.doc_type.clone()),
        field("meeting_date", m.meeting_date.clone()),
        field("speaker", m.speaker.clone()),
    ];
    for r in rows {
        let _ = writeln!(s, "  {r}");
    }
    let removed: Vec<String> = doc
        .removed
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let _ = writeln!(
        s,
        "removed: {}",
        if removed.is_empty() {
            "nothing".into()
        } else {
            removed.join(", ")
        }
    );
    let _ = writeln!(s, "passages: {}", doc.passages.len());
    for p in &doc.passages {
        let path = if p.section_path.is_empty() {
            "(top)".to_string()
        } else {
            p.section_path.join(" > ")
        };
        let term = p
            .term
            .as_deref()
            .map(|t| format!(" [term: {t}]"))
            .unwrap_or_default();
        let _ = writeln!(s, "\n[{}] {path}{term}", p.id);
        let _ = writeln!(s, "{}", p.text);
    }
    s
}
