//! Runs an evaluation query set and writes the results file that
//! `shared/eval/score.py` scores: one line per query,
//! `{"id", "results": [{"text", "district", …}]}`, best first.

use std::io::{BufRead, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Service, ServiceError};
use crate::search::{self, Hit, Mode, SearchRequest, SimilarRequest};

/// One line of a query file (other fields, such as the relevance
/// judgements, are the scorer's business and ignored here).
#[derive(Debug, Deserialize)]
struct EvalQuery {
    id: serde_json::Value,
    #[serde(rename = "type", default)]
    kind: String,
    query: String,
}

#[derive(Serialize)]
struct ResultLine<'a> {
    id: &'a serde_json::Value,
    #[serde(rename = "type")]
    kind: &'a str,
    results: Vec<ResultItem<'a>>,
}

#[derive(Serialize)]
struct ResultItem<'a> {
    text: &'a str,
    district: Option<&'a str>,
    passage_id: &'a str,
    score: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    relevance: Option<f32>,
}

#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub mode: Mode,
    /// Results kept per query (the scorer reads the top 10).
    pub k: usize,
    /// Passages per district for find-similar queries.
    pub per_district: usize,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            mode: Mode::Hybrid,
            k: 10,
            per_district: 3,
        }
    }
}

/// Runs every query of `queries` (JSON lines) and writes the results to
/// `out`. Queries of type `similar` run find-similar on the query text (the
/// retrieval mode does not apply to them: find-similar is dense); the others
/// run a search in `opts.mode`. Returns the number of queries run.
pub fn run(
    service: &Service,
    queries: &Path,
    opts: &EvalOptions,
    out: &mut dyn Write,
) -> Result<usize, ServiceError> {
    let mut n = 0;
    for_each_line(queries, |q: EvalQuery| {
        let hits = run_one(service, &q, opts)?;
        let line = ResultLine {
            id: &q.id,
            kind: &q.kind,
            results: hits
                .iter()
                .map(|h| ResultItem {
                    text: &h.text,
                    district: h.place.district.as_deref(),
                    passage_id: &h.passage_id,
                    score: h.score,
                    relevance: h.relevance,
                })
                .collect(),
        };
        write_line(out, &line)?;
        n += 1;
        Ok(())
    })?;
    Ok(n)
}

/// Calls `f` with each non-blank line of the JSON-lines file `path`, parsed;
/// a line that does not parse is an error naming the file and line.
fn for_each_line<T: serde::de::DeserializeOwned>(
    path: &Path,
    mut f: impl FnMut(T) -> Result<(), ServiceError>,
) -> Result<(), ServiceError> {
    let io = |source| ServiceError::Io {
        path: path.to_path_buf(),
        source,
    };
    let reader = std::io::BufReader::new(std::fs::File::open(path).map_err(io)?);
    for (lineno, line) in reader.lines().enumerate() {
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        let item = serde_json::from_str(&line).map_err(|e| {
            ServiceError::Invalid(format!("{}:{}: {e}", path.display(), lineno + 1))
        })?;
        f(item)?;
    }
    Ok(())
}

/// Writes `value` as one JSON line.
fn write_line(out: &mut dyn Write, value: &impl Serialize) -> Result<(), ServiceError> {
    serde_json::to_writer(&mut *out, value).map_err(|e| ServiceError::Invalid(e.to_string()))?;
    out.write_all(b"\n").map_err(|source| ServiceError::Io {
        path: "output".into(),
        source,
    })
}

/// One query of a judged relevance set: the passages judged for it.
#[derive(Debug, Deserialize)]
struct JudgedQuery {
    id: serde_json::Value,
    query: String,
    judged: Vec<Judged>,
}

#[derive(Debug, Deserialize)]
struct Judged {
    passage_id: String,
    grade: u8,
}

#[derive(Serialize)]
struct FeatureLine<'a> {
    id: &'a serde_json::Value,
    passage_id: &'a str,
    grade: u8,
    features: search::Features,
    relevance: f32,
}

/// For every judged passage of a judged relevance set (JSON lines of
/// `{"id", "query", "judged": [{"passage_id", "grade"}]}`), the relevance
/// evidence search would weigh for it and the current estimate, one JSON
/// line each. Judged passages the library lacks are skipped. Returns the
/// number of lines written.
pub fn relevance_features(
    service: &Service,
    judged: &Path,
    out: &mut dyn Write,
) -> Result<usize, ServiceError> {
    let mut n = 0;
    for_each_line(judged, |q: JudgedQuery| {
        let ids: Vec<String> = q.judged.iter().map(|j| j.passage_id.clone()).collect();
        let req = SearchRequest {
            query: q.query.clone(),
            ..SearchRequest::default()
        };
        let features =
            search::relevance_features(service.library(), service.encoder(), &req, &ids)?;
        for (id, f) in &features {
            let grade = q
                .judged
                .iter()
                .find(|j| &j.passage_id == id)
                .map_or(0, |j| j.grade);
            let line = FeatureLine {
                id: &q.id,
                passage_id: id,
                grade,
                features: *f,
                relevance: f.estimate(),
            };
            write_line(out, &line)?;
            n += 1;
        }
        Ok(())
    })?;
    Ok(n)
}

fn run_one(service: &Service, q: &EvalQuery, opts: &EvalOptions) -> Result<Vec<Hit>, ServiceError> {
    let lib = service.library();
    let enc = service.encoder();
    if q.kind == "similar" {
        let req = SimilarRequest {
            text: Some(q.query.clone()),
            k: opts.k,
            per_district: opts.per_district,
            ..SimilarRequest::default()
        };
        return Ok(search::similar(lib, enc, &req)?.hits);
    }
    let req = SearchRequest {
        query: q.query.clone(),
        k: opts.k,
        mode: opts.mode,
        ..SearchRequest::default()
    };
    Ok(search::search(lib, enc, &req)?.hits)
}
