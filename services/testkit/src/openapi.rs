//! Checks real responses against an OpenAPI 3.1 document: the status must be
//! documented for the operation, the content type among the documented media
//! types, and a JSON body valid against the documented schema (its `$ref`s
//! resolved against the document's `components`), validated with the
//! `jsonschema` crate as JSON Schema 2020-12, formats (`date-time`, ...)
//! asserted.
//!
//! ```ignore
//! let checker = OpenApiChecker::new(app.get("/openapi.json").await.json().await?)?
//!     .with_fallback_error("ErrorBody")?;
//! let reply = checker.check(&Method::GET, "/api/rust?limit=3", app.get("/api/rust?limit=3").await).await;
//! assert_eq!(reply.status, 200);
//! ```
//!
//! A request the document has no operation for can only be answered with a
//! 404 (no such path) or a 405 (the path exists, the method does not); with
//! `with_fallback_error`, such answers are validated against that schema.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// One documented operation: a method on a path template.
#[derive(Debug, Clone)]
pub struct Operation {
    pub method: Method,
    /// As written in the document, e.g. `/api/popularity/{topic}`.
    pub template: String,
    /// JSON pointer to the operation object in the document.
    pointer: String,
    segments: Vec<String>,
}

impl Operation {
    /// Literal segments count first: `/api/popularity/{topic}` wins over
    /// `/api/{a}/{b}` for `/api/popularity/x`, as OpenAPI asks.
    fn literal_segments(&self) -> usize {
        self.segments.iter().filter(|s| !s.contains('{')).count()
    }

    fn matches(&self, segments: &[&str]) -> bool {
        self.segments.len() == segments.len()
            && self
                .segments
                .iter()
                .zip(segments)
                .all(|(template, actual)| segment_matches(template, actual))
    }
}

/// `pre{name}suf` matches any non-empty value between `pre` and `suf`; a
/// segment without braces matches itself only.
fn segment_matches(template: &str, actual: &str) -> bool {
    let (Some(open), Some(close)) = (template.find('{'), template.rfind('}')) else {
        return template == actual;
    };
    let (prefix, suffix) = (&template[..open], &template[close + 1..]);
    actual.len() > prefix.len() + suffix.len()
        && actual.starts_with(prefix)
        && actual.ends_with(suffix)
}

/// Where a request lands in the document.
#[derive(Debug)]
pub enum Route<'a> {
    Operation(&'a Operation),
    /// The path is documented, the method is not: the answer must be a 405.
    MethodNotAllowed {
        template: &'a str,
    },
    /// No documented path: the answer must be a 404.
    NotFound,
}

/// A response read in full, after it passed the check.
#[derive(Debug)]
pub struct Checked {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Checked {
    /// The body as JSON; panics when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub struct OpenApiChecker {
    document: Value,
    operations: Vec<Operation>,
    /// Pointer to the schema of answers the document cannot describe (404
    /// for an unknown path, 405 for an undocumented method).
    fallback_error: Option<String>,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

impl OpenApiChecker {
    /// Fails unless `document` is OpenAPI 3.1 with a `paths` object.
    pub fn new(document: Value) -> Result<Self, String> {
        let version = document["openapi"].as_str().unwrap_or_default();
        if !version.starts_with("3.1.") {
            return Err(format!(
                "not an OpenAPI 3.1 document: openapi = {version:?}"
            ));
        }
        let paths = document["paths"]
            .as_object()
            .ok_or("the document has no paths object")?;
        let mut operations = Vec::new();
        for (template, item) in paths {
            if !template.starts_with('/') {
                return Err(format!("path {template:?} does not start with /"));
            }
            for method in METHODS {
                if item.get(method).is_some() {
                    operations.push(Operation {
                        method: Method::from_bytes(method.to_uppercase().as_bytes())
                            .expect("a standard method"),
                        template: template.clone(),
                        pointer: format!("/paths/{}/{method}", escape(template)),
                        segments: template[1..].split('/').map(str::to_owned).collect(),
                    });
                }
            }
        }
        Ok(Self {
            document,
            operations,
            fallback_error: None,
            validators: Mutex::new(HashMap::new()),
        })
    }

    /// Validates 404s of unknown paths and 405s of undocumented methods
    /// against `components.schemas.<name>`.
    pub fn with_fallback_error(mut self, schema_name: &str) -> Result<Self, String> {
        let pointer = format!("/components/schemas/{}", escape(schema_name));
        if self.document.pointer(&pointer).is_none() {
            return Err(format!("no schema {schema_name} in components.schemas"));
        }
        self.fallback_error = Some(pointer);
        Ok(self)
    }

    pub fn document(&self) -> &Value {
        &self.document
    }

    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// The operation object (summary, parameters, responses, security...).
    pub fn operation_object(&self, operation: &Operation) -> &Value {
        self.document
            .pointer(&operation.pointer)
            .expect("operations point into the document")
    }

    /// Where `path` (a concrete path, query string allowed, or a template
    /// exactly as documented) lands for `method`.
    pub fn route(&self, method: &Method, path: &str) -> Route<'_> {
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let exact: Vec<&Operation> = self
            .operations
            .iter()
            .filter(|op| op.template == path)
            .collect();
        let candidates = if exact.is_empty() {
            let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
            let matching: Vec<&Operation> = self
                .operations
                .iter()
                .filter(|op| op.matches(&segments))
                .collect();
            // The most literal template wins, for every method alike.
            let best = matching.iter().map(|op| op.literal_segments()).max();
            matching
                .into_iter()
                .filter(|op| Some(op.literal_segments()) == best)
                .collect()
        } else {
            exact
        };
        match candidates.iter().find(|op| op.method == *method) {
            Some(op) => Route::Operation(op),
            None => match candidates.first() {
                Some(op) => Route::MethodNotAllowed {
                    template: &op.template,
                },
                None => Route::NotFound,
            },
        }
    }

    /// Reads `response` in full and checks it; panics naming every
    /// violation, the request and the body.
    pub async fn check(&self, method: &Method, path: &str, response: reqwest::Response) -> Checked {
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: reading the body: {e}"))
            .to_vec();
        let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
        if let Err(violations) = self.validate(method, path, status, content_type, &body) {
            panic!(
                "{method} {path} answered {status} ({}) against the OpenAPI document:\n  - {}\nbody: {}",
                content_type.unwrap_or("no content-type"),
                violations.join("\n  - "),
                String::from_utf8_lossy(&body[..body.len().min(2000)])
            );
        }
        Checked {
            status,
            headers,
            body,
        }
    }

    /// Every way this response departs from the document, or which
    /// documented response it matched (`GET /health 200 application/json`).
    pub fn validate(
        &self,
        method: &Method,
        path: &str,
        status: StatusCode,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<String, Vec<String>> {
        let media_type = content_type.map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
        let operation = match self.route(method, path) {
            Route::Operation(op) => op,
            Route::MethodNotAllowed { template } => {
                return self.validate_fallback(
                    StatusCode::METHOD_NOT_ALLOWED,
                    &format!("{method} is not documented for {template}"),
                    status,
                    media_type.as_deref(),
                    body,
                );
            }
            Route::NotFound => {
                return self.validate_fallback(
                    StatusCode::NOT_FOUND,
                    &format!("no documented path matches {path}"),
                    status,
                    media_type.as_deref(),
                    body,
                );
            }
        };
        let label = format!("{} {}", operation.method, operation.template);
        let responses_pointer = format!("{}/responses", operation.pointer);
        let Some(responses) = self
            .document
            .pointer(&responses_pointer)
            .and_then(Value::as_object)
        else {
            return Err(vec![format!("{label} documents no responses")]);
        };
        let code = status.as_str().to_owned();
        let range = format!("{}XX", &code[..1]);
        let Some(key) = [code.as_str(), range.as_str(), "default"]
            .into_iter()
            .find(|k| responses.contains_key(*k) || responses.contains_key(&k.to_lowercase()))
        else {
            let mut documented: Vec<&String> = responses.keys().collect();
            documented.sort();
            return Err(vec![format!(
                "{label}: status {code} is not documented (documented: {documented:?})"
            )]);
        };
        let key = if responses.contains_key(key) {
            key.to_owned()
        } else {
            key.to_lowercase()
        };
        let mut pointer = format!("{responses_pointer}/{}", escape(&key));
        let mut response = self.document.pointer(&pointer).expect("a key just found");
        // A response may itself be a $ref to components.responses.
        if let Some(target) = response.get("$ref").and_then(Value::as_str) {
            pointer = target.trim_start_matches('#').to_owned();
            response = self
                .document
                .pointer(&pointer)
                .ok_or_else(|| vec![format!("{label} {key}: dangling $ref {target}")])?;
        }
        let Some(content) = response
            .get("content")
            .and_then(Value::as_object)
            .filter(|c| !c.is_empty())
        else {
            return if body.is_empty() {
                Ok(format!("{label} {code} (no body)"))
            } else {
                Err(vec![format!(
                    "{label} {key}: documented without a body, answered {} bytes",
                    body.len()
                )])
            };
        };
        let Some(media_type) = media_type else {
            return Err(vec![format!(
                "{label} {key}: no content-type; documented: {:?}",
                content.keys().collect::<Vec<_>>()
            )]);
        };
        let wildcard = format!("{}/*", media_type.split('/').next().unwrap_or_default());
        let Some(documented) = [media_type.as_str(), wildcard.as_str(), "*/*"]
            .into_iter()
            .find(|m| content.contains_key(*m))
        else {
            return Err(vec![format!(
                "{label} {key}: content-type {media_type} is not documented (documented: {:?})",
                content.keys().collect::<Vec<_>>()
            )]);
        };
        let schema_pointer = format!("{pointer}/content/{}/schema", escape(documented));
        if self.document.pointer(&schema_pointer).is_none() {
            return Ok(format!("{label} {code} {media_type} (no schema)"));
        }
        let instance =
            instance(&media_type, body).map_err(|e| vec![format!("{label} {key}: {e}")])?;
        self.validate_against(&schema_pointer, &instance)
            .map(|()| format!("{label} {code} {media_type}"))
            .map_err(|errors| {
                errors
                    .into_iter()
                    .map(|e| format!("{label} {key} {documented}: {e}"))
                    .collect()
            })
    }

    fn validate_fallback(
        &self,
        expected: StatusCode,
        why: &str,
        status: StatusCode,
        media_type: Option<&str>,
        body: &[u8],
    ) -> Result<String, Vec<String>> {
        if status != expected {
            return Err(vec![format!(
                "{why}, so only a {expected} can answer it, not a {status}"
            )]);
        }
        let Some(pointer) = &self.fallback_error else {
            return Ok(format!("{status} outside the document"));
        };
        let media_type = media_type.unwrap_or_default();
        if !is_json(media_type) {
            return Err(vec![format!(
                "{why}: a {status} with content-type {media_type:?}, not JSON"
            )]);
        }
        let instance = instance(media_type, body).map_err(|e| vec![e])?;
        self.validate_against(pointer, &instance)
            .map(|()| format!("{status} outside the document, as {pointer}"))
            .map_err(|errors| errors.into_iter().map(|e| format!("{why}: {e}")).collect())
    }

    /// Validates `instance` against the schema at `pointer`; the schema's
    /// `$ref`s resolve against this document's `components`.
    fn validate_against(&self, pointer: &str, instance: &Value) -> Result<(), Vec<String>> {
        let validator = self.validator(pointer).map_err(|e| vec![e])?;
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|e| {
                let at = e.instance_path().to_string();
                format!("at {}: {e}", if at.is_empty() { "/" } else { &at })
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn validator(&self, pointer: &str) -> Result<Arc<jsonschema::Validator>, String> {
        let mut cache = self.validators.lock().expect("validator cache lock");
        if let Some(validator) = cache.get(pointer) {
            return Ok(validator.clone());
        }
        let schema = self
            .document
            .pointer(pointer)
            .ok_or_else(|| format!("no schema at {pointer}"))?;
        // A root that holds the document's components, so `#/components/...`
        // means the same here as in the document.
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.document.get("components").cloned().unwrap_or(Value::Null),
            "allOf": [schema],
        });
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&root)
            .map_err(|e| format!("the schema at {pointer} does not compile: {e}"))?;
        let validator = Arc::new(validator);
        cache.insert(pointer.to_owned(), validator.clone());
        Ok(validator)
    }
}

fn is_json(media_type: &str) -> bool {
    media_type == "application/json" || media_type.ends_with("+json")
}

/// What the schema is checked against: the parsed body for JSON, the body as
/// one string for text.
fn instance(media_type: &str, body: &[u8]) -> Result<Value, String> {
    if is_json(media_type) {
        serde_json::from_slice(body).map_err(|e| format!("{media_type} body is not JSON: {e}"))
    } else {
        String::from_utf8(body.to_vec())
            .map(Value::String)
            .map_err(|_| format!("{media_type} body is not UTF-8 text"))
    }
}

/// A JSON pointer token (RFC 6901).
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> Value {
        json!({
            "openapi": "3.1.0",
            "info": {"title": "t", "version": "1"},
            "paths": {
                "/items/{id}": {"get": {"responses": {
                    "200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}}},
                    "304": {"description": "unchanged"},
                    "4XX": {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                }}},
                "/items/special": {"post": {"responses": {
                    "201": {"description": "made", "content": {"text/plain": {"schema": {"type": "string", "minLength": 2}}}},
                }}},
            },
            "components": {"schemas": {
                "Item": {"type": "object", "required": ["id", "at"], "properties": {
                    "id": {"type": "integer"}, "at": {"type": "string", "format": "date-time"},
                    "note": {"type": ["string", "null"]}}},
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
            }},
        })
    }

    fn checker() -> OpenApiChecker {
        OpenApiChecker::new(document())
            .unwrap()
            .with_fallback_error("Error")
            .unwrap()
    }

    fn validate(
        method: Method,
        path: &str,
        status: u16,
        ct: Option<&str>,
        body: &str,
    ) -> Result<String, Vec<String>> {
        checker().validate(
            &method,
            path,
            StatusCode::from_u16(status).unwrap(),
            ct,
            body.as_bytes(),
        )
    }

    const JSON: Option<&str> = Some("application/json; charset=utf-8");

    #[test]
    fn only_openapi_3_1_is_accepted() {
        let mut doc = document();
        doc["openapi"] = json!("3.0.3");
        assert!(OpenApiChecker::new(doc).is_err());
        assert!(checker().with_fallback_error("Missing").is_err());
    }

    #[test]
    fn paths_land_on_the_most_literal_template() {
        let checker = checker();
        let route = |m: Method, p: &str| match checker.route(&m, p) {
            Route::Operation(op) => format!("{} {}", op.method, op.template),
            Route::MethodNotAllowed { template } => format!("405 {template}"),
            Route::NotFound => "404".into(),
        };
        assert_eq!(route(Method::GET, "/items/7?x=1"), "GET /items/{id}");
        assert_eq!(route(Method::GET, "/items/{id}"), "GET /items/{id}");
        assert_eq!(route(Method::POST, "/items/special"), "POST /items/special");
        assert_eq!(route(Method::GET, "/items/special"), "405 /items/special");
        assert_eq!(route(Method::DELETE, "/items/7"), "405 /items/{id}");
        assert_eq!(route(Method::GET, "/items"), "404");
        assert_eq!(route(Method::GET, "/items/7/more"), "404");
    }

    #[test]
    fn bodies_are_validated_through_refs() {
        assert!(
            validate(
                Method::GET,
                "/items/1",
                200,
                JSON,
                r#"{"id":1,"at":"2026-01-01T00:00:00Z","note":null}"#
            )
            .is_ok()
        );
        let errors = validate(
            Method::GET,
            "/items/1",
            200,
            JSON,
            r#"{"id":"one","at":"yesterday"}"#,
        )
        .unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors.iter().any(|e| e.contains("/id")), "{errors:?}");
        assert!(errors.iter().any(|e| e.contains("date-time")), "{errors:?}");
        assert!(validate(Method::GET, "/items/1", 200, JSON, "not json").is_err());
        // A range key covers its statuses.
        assert!(validate(Method::GET, "/items/1", 404, JSON, r#"{"error":"gone"}"#).is_ok());
        assert!(validate(Method::GET, "/items/1", 404, JSON, r#"{"error":5}"#).is_err());
    }

    #[test]
    fn statuses_and_content_types_must_be_documented() {
        let err = validate(Method::GET, "/items/1", 500, JSON, "{}").unwrap_err();
        assert!(err[0].contains("500 is not documented"), "{err:?}");
        assert!(validate(Method::GET, "/items/1", 200, Some("text/html"), "<p>").is_err());
        assert!(validate(Method::GET, "/items/1", 200, None, "{}").is_err());
        assert!(validate(Method::GET, "/items/1", 304, None, "").is_ok());
        assert!(validate(Method::GET, "/items/1", 304, None, "{}").is_err());
        assert!(
            validate(
                Method::POST,
                "/items/special",
                201,
                Some("text/plain"),
                "made"
            )
            .is_ok()
        );
        assert!(validate(Method::POST, "/items/special", 201, Some("text/plain"), "m").is_err());
    }

    #[test]
    fn answers_outside_the_document_are_404_or_405_with_the_fallback_schema() {
        assert!(validate(Method::GET, "/nope", 404, JSON, r#"{"error":"no"}"#).is_ok());
        assert!(validate(Method::GET, "/nope", 200, JSON, r#"{"error":"no"}"#).is_err());
        assert!(validate(Method::GET, "/nope", 404, Some("text/plain"), "no").is_err());
        assert!(validate(Method::PUT, "/items/1", 405, JSON, r#"{"error":"no"}"#).is_ok());
        assert!(validate(Method::PUT, "/items/1", 404, JSON, r#"{"error":"no"}"#).is_err());
        assert!(validate(Method::PUT, "/items/1", 405, JSON, r#"{"oops":1}"#).is_err());
    }
}
