//! `GET /openapi.json`: the API described from the handlers' own types
//! (`#[utoipa::path]` on each handler, `ToSchema` on the types they read and
//! serialize). Every route of [`super::routes`] must be listed here; the
//! tests fail otherwise.

use std::sync::OnceLock;

use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{handlers, panels, vitals};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "zhengce",
        description = "Semantic search and cited summaries over Chinese local-government reports \
(政府工作报告, 国民经济和社会发展计划报告). Ask in simplified or traditional Chinese, or in English. \
Errors are JSON `{\"error\", \"code\"}`. Writes need `Authorization: Bearer <token>` when the \
server has a token.",
        license(name = "MIT", identifier = "MIT"),
    ),
    paths(
        handlers::search,
        handlers::similar,
        handlers::list_documents,
        handlers::ingest_document,
        handlers::get_document,
        handlers::delete_document,
        handlers::patch_document,
        handlers::facets,
        handlers::stats,
        handlers::summarize,
        handlers::targets,
        panels::targets,
        panels::attention,
        handlers::page,
        vitals::healthz,
        vitals::metrics,
        openapi_json,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "search", description = "Find passages, similar passages in other districts, facet counts"),
        (name = "summaries", description = "Cited extractive summaries and the targets table"),
        (name = "panels", description = "Place × year panels for research: targets and attention, as JSON, CSV or XLSX"),
        (name = "documents", description = "The stored reports: list, read, upload, correct, delete"),
        (name = "operations", description = "Health, metrics and this description"),
        (name = "page", description = "The researchers' web page"),
    ),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The server's token (`--token` or `ZHENGCE_TOKEN`); only write endpoints need it, and only when one is set",
                    ))
                    .build(),
            ),
        );
    }
}

/// The description as JSON, built once.
pub fn openapi_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let mut doc =
            serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI description serializes");
        refine(&mut doc);
        serde_json::to_string_pretty(&doc).expect("the OpenAPI description serializes")
    })
}

/// What the derives cannot say: rules across the fields of one body (one
/// of two fields must name the subject), and rules on array items. Written
/// into the generated JSON by component name; the tests check each landed.
fn refine(doc: &mut serde_json::Value) {
    use super::params::{PASSAGE_PATTERN, QUERY_PATTERN};
    use serde_json::json;
    let schemas = &mut doc["components"]["schemas"];
    // Exactly one of two subjects, each given as non-blank text; the other
    // may be absent, null or blank (the server reads blank as absent).
    let one_of = |a: &str, a_pattern: Option<&str>, b: &str, b_pattern: Option<&str>| {
        let branch = |field: &str, pattern: Option<&str>| {
            let mut s = json!({"type": "string"});
            if let Some(p) = pattern {
                s["pattern"] = json!(p);
            }
            json!({"required": [field], "properties": {field: s}})
        };
        json!([branch(a, a_pattern), branch(b, b_pattern)])
    };
    schemas["SimilarBody"]["oneOf"] = one_of(
        "passage_id",
        Some(QUERY_PATTERN),
        "text",
        Some(PASSAGE_PATTERN),
    );
    // The body flattens the filters in, so its own fields sit in an `allOf` part.
    let similar_fields = schemas["SimilarBody"]["allOf"]
        .as_array_mut()
        .and_then(|parts| parts.iter_mut().find(|p| p.get("properties").is_some()))
        .expect("SimilarBody's own fields");
    similar_fields["properties"]["negative"]["items"] = json!({
        "type": "string",
        "maxLength": 2000,
        "pattern": PASSAGE_PATTERN,
    });
    schemas["SummarizeBody"]["oneOf"] = one_of("query", Some(QUERY_PATTERN), "doc_id", None);
    schemas["MetaPatch"]["minProperties"] = json!(1);
    // A multipart upload names its parts `file` and `meta`, nothing else.
    schemas["UploadForm"]["additionalProperties"] = json!(false);
}

/// This description (OpenAPI 3.1).
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "OpenAPI 3.1 description of every endpoint", content_type = "application/json", body = Object))
)]
pub async fn openapi_json() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        openapi_text(),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn described() -> BTreeSet<(String, String)> {
        let doc: serde_json::Value = serde_json::from_str(openapi_text()).unwrap();
        let mut out = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
        out
    }

    #[test]
    fn every_route_is_described_and_nothing_else() {
        let served: BTreeSet<(String, String)> = crate::api::routes()
            .into_iter()
            .map(|r| (r.method.to_string(), r.path.to_string()))
            .collect();
        assert_eq!(
            served.len(),
            crate::api::routes().len(),
            "a route is listed twice"
        );
        let described = described();
        let undescribed: Vec<_> = served.difference(&described).collect();
        let unserved: Vec<_> = described.difference(&served).collect();
        assert!(
            undescribed.is_empty(),
            "served but not in /openapi.json: {undescribed:?}"
        );
        assert!(
            unserved.is_empty(),
            "in /openapi.json but not served: {unserved:?}"
        );
    }

    /// The bounds the description states are the library's own: utoipa's
    /// attributes take only literals, so the two are compared here.
    #[test]
    fn stated_bounds_are_the_librarys() {
        use crate::search::{MAX_K, MAX_NEGATIVES, MAX_PER_GROUP, MAX_QUERY_CHARS};
        let doc: serde_json::Value = serde_json::from_str(openapi_text()).unwrap();
        let param = |path: &str, name: &str| {
            doc["paths"][path]["get"]["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name)
                .unwrap()["schema"]
                .clone()
        };
        assert_eq!(param("/api/search", "k")["maximum"], MAX_K);
        assert_eq!(param("/api/search", "per_group")["maximum"], MAX_PER_GROUP);
        assert_eq!(param("/api/search", "q")["maxLength"], MAX_QUERY_CHARS);
        assert_eq!(
            param("/api/panel/attention", "concept")["maxLength"],
            MAX_QUERY_CHARS
        );
        let schemas = &doc["components"]["schemas"];
        let similar = &schemas["SimilarBody"]["allOf"][1]["properties"];
        assert_eq!(similar["k"]["maximum"], MAX_K);
        assert_eq!(similar["per_district"]["maximum"], MAX_PER_GROUP);
        assert_eq!(similar["negative"]["maxItems"], MAX_NEGATIVES);
        assert_eq!(similar["negative"]["items"]["maxLength"], MAX_QUERY_CHARS);
        assert_eq!(similar["text"]["maxLength"], MAX_QUERY_CHARS);
        let summarize = &schemas["SummarizeBody"]["properties"];
        assert_eq!(summarize["query"]["maxLength"], MAX_QUERY_CHARS);
        assert_eq!(
            summarize["max_sentences"]["maximum"],
            crate::summarize::MAX_SENTENCES
        );
        assert_eq!(
            summarize["max_districts"]["maximum"],
            super::super::dto::MAX_DISTRICTS
        );
    }

    /// A client may match on `code`: the description lists every value.
    #[test]
    fn error_codes_are_listed() {
        use crate::api::ErrorCode;
        let doc: serde_json::Value = serde_json::from_str(openapi_text()).unwrap();
        let schemas = &doc["components"]["schemas"];
        let code = &schemas["ErrorBody"]["properties"]["code"];
        assert_eq!(code["$ref"], "#/components/schemas/ErrorCode", "{code}");
        let listed: Vec<&str> = schemas["ErrorCode"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(listed, codes);
        for c in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
    }

    #[test]
    fn writes_and_only_writes_ask_for_the_token() {
        let doc: serde_json::Value = serde_json::from_str(openapi_text()).unwrap();
        for r in crate::api::routes() {
            let op = &doc["paths"][r.path][r.method.as_str().to_lowercase()];
            let secured = op.get("security").is_some();
            assert_eq!(
                secured,
                r.access == crate::api::Access::Token,
                "{} {}: {op}",
                r.method,
                r.path
            );
        }
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
    }
}
