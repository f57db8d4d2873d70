//! Bad input over real HTTP, on every route the OpenAPI document lists (so a
//! route added later is covered without touching this file): malformed and
//! over-long path values, unicode, `..`, `%00`, wrong methods, unknown query
//! parameters, bad `limit`s, huge bodies, bad JSON, wrong content types and
//! missing or wrong admin tokens. Each answer must be the JSON error
//! `{"error":{"code","message"}}` with the status the rule names, and never
//! a 5xx.
//!
//! Unknown query parameters are ignored on every route, as GitHub's own API
//! does: caches and monitors add cache-busters (`?_=1700000000`) that must
//! not turn a good request into an error. Parameters a route knows are
//! checked strictly (`limit=abc` is a 400, as is `limit` given twice).
//!
//! Requests go over a raw TCP connection where a client library would tidy
//! the path (`/api/..` or invalid UTF-8 escapes), reqwest elsewhere.

use std::collections::BTreeMap;
use std::time::Duration;

use hubpulse_testkit::{ADMIN_TOKEN, TestApp, TestNginx, TestSim};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The API with GitHub pointed at a local simulator: admin calls in these
/// tests queue crawls, and those must never leave the machine.
async fn spawn() -> (TestApp, TestSim) {
    let sim = TestSim::roomy().await;
    let url = sim.url.clone();
    let app = TestApp::spawn_with(|s| s.github.base_url = url).await;
    (app, sim)
}

/// One operation of the OpenAPI document.
#[derive(Debug, Clone)]
struct Operation {
    method: String,
    /// The path template, `{name}` for each parameter.
    template: String,
    path_params: Vec<String>,
    has_body: bool,
    secured: bool,
}

impl Operation {
    /// The path with every parameter set to `value`.
    fn path_with(&self, value: &str) -> String {
        let mut path = self.template.clone();
        for param in &self.path_params {
            path = path.replace(&format!("{{{param}}}"), value);
        }
        path
    }

    /// The path with values that pass validation (the route may still 404).
    fn valid_path(&self) -> String {
        let mut path = self.template.clone();
        for param in &self.path_params {
            let value = match param.as_str() {
                "id" => "1",
                _ => "kubernetes",
            };
            path = path.replace(&format!("{{{param}}}"), value);
        }
        path
    }
}

async fn operations(app: &TestApp) -> Vec<Operation> {
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let mut out = Vec::new();
    for (template, item) in doc["paths"].as_object().expect("paths in the document") {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            let path_params = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap().to_owned())
                .collect();
            out.push(Operation {
                method: method.to_uppercase(),
                template: template.clone(),
                path_params,
                has_body: op.get("requestBody").is_some(),
                secured: op["security"].as_array().is_some_and(|s| !s.is_empty()),
            });
        }
    }
    assert!(
        out.len() >= 10,
        "the document lists too few operations: {out:?}"
    );
    out
}

/// A reply read off a raw connection.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `head` (request line and headers, without the final blank line)
/// and `body` as they are, on a connection of their own.
async fn raw(app: &TestApp, head: &[u8], body: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let mut request = head.to_vec();
    request.extend_from_slice(b"\r\nhost: test\r\nconnection: close\r\n");
    if !body.is_empty() {
        request.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    request.extend_from_slice(body);
    // The server may answer and close before reading everything (a 413):
    // what it answered is what counts.
    let _ = stream.write_all(&request).await;
    let mut bytes = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut bytes)).await;
    assert!(
        read.is_ok(),
        "no reply within 15 s to {:?}",
        String::from_utf8_lossy(head)
    );
    parse_reply(&bytes).unwrap_or_else(|| {
        panic!(
            "unparsable reply to {:?}: {:?}",
            String::from_utf8_lossy(head),
            String::from_utf8_lossy(&bytes)
        )
    })
}

fn parse_reply(bytes: &[u8]) -> Option<Reply> {
    let split = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&bytes[..split]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = bytes[split + 4..].to_vec();
    if headers
        .get("transfer-encoding")
        .is_some_and(|te| te.contains("chunked"))
    {
        body = dechunk(&body)?;
    }
    Some(Reply {
        status,
        headers,
        body,
    })
}

fn dechunk(mut bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = bytes.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&bytes[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        bytes = &bytes[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(bytes.get(..size)?);
        bytes = bytes.get(size + 2..)?;
    }
}

/// The reply is the project's JSON error with this status and code.
fn assert_error(what: &str, reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{what}: {}", reply.text());
    assert_json_body(what, reply);
    let body: Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(body["error"]["code"], code, "{what}: {body}");
}

/// Any 4xx, as the project's JSON error.
fn assert_json_error(what: &str, reply: &Reply) {
    assert!(
        (400..500).contains(&reply.status),
        "{what}: {} {}",
        reply.status,
        reply.text()
    );
    assert_json_body(what, reply);
}

/// `{"error":{"code","message"}}`, served as JSON.
fn assert_json_body(what: &str, reply: &Reply) {
    let content_type = reply.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "{what}: content-type {content_type:?}, body {}",
        reply.text()
    );
    let body: Value = serde_json::from_slice(&reply.body)
        .unwrap_or_else(|e| panic!("{what}: body is not JSON ({e}): {}", reply.text()));
    let code = body["error"]["code"].as_str();
    let message = body["error"]["message"].as_str();
    assert!(
        code.is_some_and(|c| !c.is_empty()) && message.is_some_and(|m| !m.is_empty()),
        "{what}: not an error body: {body}"
    );
}

async fn send(app: &TestApp, method: &str, path: &str, token: bool) -> Reply {
    let auth = if token {
        format!("\r\nauthorization: Bearer {ADMIN_TOKEN}")
    } else {
        String::new()
    };
    raw(
        app,
        format!("{method} {path} HTTP/1.1{auth}").as_bytes(),
        b"",
    )
    .await
}

#[tokio::test]
async fn wrong_methods_are_405_json_naming_the_allowed_ones() {
    let (app, _sim) = spawn().await;
    let ops = operations(&app).await;
    let mut by_path: BTreeMap<String, Vec<&Operation>> = BTreeMap::new();
    for op in &ops {
        by_path.entry(op.valid_path()).or_default().push(op);
    }
    let mut checked = 0;
    for (path, ops) in &by_path {
        let allowed: Vec<&str> = ops.iter().map(|o| o.method.as_str()).collect();
        for method in [
            "GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "FROB",
        ] {
            if allowed.contains(&method) {
                continue;
            }
            let reply = send(&app, method, path, true).await;
            let what = format!("{method} {path}");
            assert_error(&what, &reply, 405, "method_not_allowed");
            let allow = reply.header("allow").unwrap_or_default();
            for expected in &allowed {
                assert!(allow.contains(expected), "{what}: allow {allow:?}");
            }
            checked += 1;
        }
    }
    assert!(checked > 30, "only {checked} wrong methods tried");
}

/// Path values no route accepts, written as a client would put them on the wire.
const BAD_PATH_VALUES: &[&str] = &[
    "%00",
    "a%00b",
    "..",
    "%2e%2e",
    "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    "a%2Fb",
    "%FF",
    "%C3%28",
    "%F0%9F%A6%80",
    "%E6%97%A5%E6%9C%AC",
    "Kubernetes",
    "-rust",
    "a%20b",
    "%",
    "%zz",
    "%0d%0aset-cookie:%20x=1",
    "%3Cscript%3E",
    "-1",
    "0",
    "1.5",
    "99999999999999999999999999",
];

#[tokio::test]
async fn malformed_path_values_are_400_or_404_json_on_every_route() {
    let (app, _sim) = spawn().await;
    let long_name = "a".repeat(51);
    let huge_name = "a".repeat(6_000);
    let unicode_raw = "ünïcödé";
    let mut values: Vec<&str> = BAD_PATH_VALUES.to_vec();
    values.extend([long_name.as_str(), huge_name.as_str(), unicode_raw]);
    let mut checked = 0;
    for op in operations(&app).await {
        if op.path_params.is_empty() {
            continue;
        }
        for value in &values {
            // Admin routes get the token: the path is what is being tested.
            let path = op.path_with(value);
            let reply = send(&app, &op.method, &path, true).await;
            let what = format!(
                "{} {}",
                op.method,
                op.path_with(&value[..value.len().min(40)])
            );
            assert_json_error(&what, &reply);
            assert!(
                [400, 404].contains(&reply.status),
                "{what}: {} {}",
                reply.status,
                reply.text()
            );
            checked += 1;
        }
    }
    assert!(checked >= values.len() * 4, "only {checked} tried");

    // The rules behind those answers, route by route.
    for view in ["/api", "/api/popularity", "/api/activity"] {
        for value in [
            "..",
            "%00",
            "Kubernetes",
            "%F0%9F%A6%80",
            long_name.as_str(),
        ] {
            let path = format!("{view}/{value}");
            assert_error(
                &path,
                &send(&app, "GET", &path, false).await,
                400,
                "bad_request",
            );
        }
        let path = format!("{view}/never-tracked");
        assert_error(
            &path,
            &send(&app, "GET", &path, false).await,
            404,
            "not_found",
        );
    }
    for id in ["0", "-1", "abc", "1.5", "%00", "99999999999999999999999999"] {
        let path = format!("/v1/tasks/{id}");
        assert_error(
            &path,
            &send(&app, "GET", &path, false).await,
            400,
            "bad_request",
        );
    }
    assert_error(
        "no such job",
        &send(&app, "GET", "/v1/tasks/424242", false).await,
        404,
        "not_found",
    );
    for name in ["..", "%00", "UPPER", long_name.as_str()] {
        let path = format!("/v1/topics/{name}");
        assert_error(
            &path,
            &send(&app, "DELETE", &path, true).await,
            400,
            "bad_request",
        );
    }
    for name in ["..", "%00", "-lead", "dependabot[bot]", long_name.as_str()] {
        for (method, path) in [
            ("DELETE", format!("/v1/orgs/{name}")),
            ("GET", format!("/v1/orgs/{name}/new-contributors")),
        ] {
            assert_error(
                &path,
                &send(&app, method, &path, true).await,
                400,
                "bad_request",
            );
        }
    }
    assert_error(
        "an untracked owner",
        &send(
            &app,
            "GET",
            "/v1/orgs/never-tracked/new-contributors",
            false,
        )
        .await,
        404,
        "not_found",
    );
    // Paths that match no route at all, `..` and NUL included, are 404s
    // that never reach a handler: `..` is not resolved against anything.
    for path in [
        "/api/../health",
        "/api/kubernetes/..",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/v1/tasks/1/../../health",
        "/health%00",
        "/api//kubernetes",
        "/ÿ",
    ] {
        assert_error(
            path,
            &send(&app, "GET", path, false).await,
            404,
            "not_found",
        );
    }
}

#[tokio::test]
async fn unknown_query_parameters_are_ignored_on_every_route() {
    let (app, _sim) = spawn().await;
    let mut checked = 0;
    let mut ops = operations(&app).await;
    // Admin GETs queue crawls, which change what the other routes answer:
    // they go last.
    ops.sort_by_key(|op| op.secured);
    for op in ops {
        if op.method != "GET" || op.template == "/metrics" {
            // /metrics changes between any two calls; GET only, so nothing is queued twice.
            continue;
        }
        let path = op.valid_path();
        let plain = send(&app, "GET", &path, true).await;
        assert!(plain.status < 500, "{path}: {}", plain.status);
        for query in [
            "?unknown=1",
            "?_=1700000000&utm_source=x",
            "?a%00b=%FF&%E2%9C%93=1",
            "?x[]=1&x[]=2&",
            "?=&&=",
        ] {
            let reply = send(&app, "GET", &format!("{path}{query}"), true).await;
            assert_eq!(
                reply.status,
                plain.status,
                "{path}{query}: {}",
                reply.text()
            );
            // Admin GETs queue jobs (the first call's are new, later ones not),
            // readiness and job records carry timings: their status is compared.
            if !op.secured && op.template != "/ready" && op.template != "/v1/tasks/{id}" {
                assert_eq!(reply.body, plain.body, "{path}{query}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 40, "only {checked} tried");
}

#[tokio::test]
async fn limit_must_be_a_whole_number_from_1_to_500() {
    let (app, _sim) = spawn().await;
    // `kubernetes` is tracked from the settings: its views exist and are empty.
    for view in [
        "/api/kubernetes",
        "/api/popularity/kubernetes",
        "/api/activity/kubernetes",
    ] {
        for limit in ["1", "500", "250"] {
            let path = format!("{view}?limit={limit}");
            let reply = send(&app, "GET", &path, false).await;
            assert_eq!(reply.status, 200, "{path}: {}", reply.text());
            let body: Value = serde_json::from_slice(&reply.body).unwrap();
            assert!(body.is_array(), "{path}: {body}");
        }
        for limit in [
            "0",
            "501",
            "-1",
            "abc",
            "",
            "1e2",
            "1.5",
            "0x10",
            "%00",
            "%FF",
            "5%20",
            "18446744073709551616",
            "99999999999999999999999999999999999999",
            "1&limit=2",
        ] {
            let path = format!("{view}?limit={limit}");
            let reply = send(&app, "GET", &path, false).await;
            assert_error(&path, &reply, 400, "bad_request");
            let body: Value = serde_json::from_slice(&reply.body).unwrap();
            assert!(
                body["error"]["message"].as_str().unwrap().contains("limit"),
                "{path}: the message names the parameter: {body}"
            );
        }
    }
}

fn admin_post(app: &TestApp, path: &str) -> reqwest::RequestBuilder {
    app.http().post(app.url(path)).bearer_auth(ADMIN_TOKEN)
}

async fn reply_of(resp: reqwest::Response) -> Reply {
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = resp.bytes().await.unwrap().to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

#[tokio::test]
async fn huge_bodies_are_413_json_declared_or_streamed() {
    let (app, _sim) = spawn().await;
    let huge = format!("{{\"name\":\"{}\"}}", "a".repeat(1 << 20));
    for op in operations(&app).await {
        let path = op.valid_path();
        let method = reqwest::Method::from_bytes(op.method.as_bytes()).unwrap();
        // A content-length over the limit is refused before any handler runs.
        let resp = app
            .http()
            .request(method.clone(), app.url(&path))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", "application/json")
            .body(huge.clone())
            .send()
            .await
            .unwrap();
        let what = format!("{} {path} with 1 MiB", op.method);
        assert_error(&what, &reply_of(resp).await, 413, "payload_too_large");
    }
    // Without a length up front, the limit stops the body as it streams in.
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /v1/topics HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\
         authorization: Bearer {ADMIN_TOKEN}\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\n\r\n"
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let chunk = format!("4000\r\n{}\r\n", " ".repeat(0x4000));
    for _ in 0..64 {
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut bytes = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut bytes)).await;
    let reply = parse_reply(&bytes).expect("a reply to a streamed body");
    assert_error("a streamed 1 MiB body", &reply, 413, "payload_too_large");
    // Just under the limit is read, and refused for what it says instead.
    let padded = format!("{{\"name\":\"rust\"{}}}", " ".repeat(60_000));
    let resp = admin_post(&app, "/v1/topics")
        .header("content-type", "application/json")
        .body(padded)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn bad_json_is_400_wrong_shape_422_wrong_content_type_415() {
    let (app, _sim) = spawn().await;
    let ops = operations(&app).await;
    let with_body: Vec<&Operation> = ops.iter().filter(|o| o.has_body).collect();
    assert!(
        with_body.iter().any(|o| o.template == "/v1/topics"),
        "POST /v1/topics takes a body: {with_body:?}"
    );
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    for op in with_body {
        let path = op.valid_path();
        let json = |body: Vec<u8>| {
            app.http()
                .request(
                    reqwest::Method::from_bytes(op.method.as_bytes()).unwrap(),
                    app.url(&path),
                )
                .bearer_auth(ADMIN_TOKEN)
                .header("content-type", "application/json")
                .body(body)
        };
        for (body, status, code) in [
            (&b""[..], 400, "bad_request"),
            (b"{", 400, "bad_request"),
            (b"{\"name\":", 400, "bad_request"),
            (b"{\"name\":\"rust\"}}", 400, "bad_request"),
            (b"{'name':'rust'}", 400, "bad_request"),
            (b"\xff\xfe{\"name\":\"rust\"}", 400, "bad_request"),
            (b"{\"name\":\"\xff\"}", 400, "bad_request"),
            (b"null", 422, "unprocessable_entity"),
            (b"[]", 422, "unprocessable_entity"),
            (b"\"rust\"", 422, "unprocessable_entity"),
            (b"{\"name\":5}", 422, "unprocessable_entity"),
            (b"{\"nom\":\"rust\"}", 422, "unprocessable_entity"),
            (
                b"{\"name\":\"rust\",\"extra\":1}",
                422,
                "unprocessable_entity",
            ),
        ] {
            let what = format!(
                "{} {path} {:?}",
                op.method,
                String::from_utf8_lossy(&body[..body.len().min(30)])
            );
            let reply = reply_of(json(body.to_vec()).send().await.unwrap()).await;
            assert_error(&what, &reply, status, code);
        }
        // Nested past serde_json's recursion limit: refused either as
        // malformed or as the wrong shape, whichever the parser sees first.
        let reply = reply_of(json(deep.clone().into_bytes()).send().await.unwrap()).await;
        assert_json_error("deeply nested JSON", &reply);
        assert!([400, 422].contains(&reply.status), "{}", reply.status);
        for content_type in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            Some("application/jsonx"),
            Some("json"),
        ] {
            let mut request = app
                .http()
                .request(
                    reqwest::Method::from_bytes(op.method.as_bytes()).unwrap(),
                    app.url(&path),
                )
                .bearer_auth(ADMIN_TOKEN)
                .body("{\"name\":\"rust\"}");
            if let Some(content_type) = content_type {
                request = request.header("content-type", content_type);
            }
            let reply = reply_of(request.send().await.unwrap()).await;
            assert_error(
                &format!("{} {path} as {content_type:?}", op.method),
                &reply,
                415,
                "unsupported_media_type",
            );
        }
    }
    // The topic in a well-formed body follows the topic rules.
    for name in [
        "",
        "Rust",
        "-rust",
        "ü",
        "a/b",
        "..",
        "a\\u0000b",
        &"a".repeat(51),
    ] {
        let resp = admin_post(&app, "/v1/topics")
            .json(&serde_json::json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert_error(
            &format!("topic {name:?}"),
            &reply_of(resp).await,
            400,
            "bad_request",
        );
    }
    // And the same request, well formed, is accepted.
    let resp = admin_post(&app, "/v1/topics")
        .header("content-type", "application/json; charset=utf-8")
        .body("{\"name\":\"rust\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn admin_routes_refuse_missing_and_wrong_tokens_with_401_json() {
    let (app, _sim) = spawn().await;
    let ops = operations(&app).await;
    let secured: Vec<&Operation> = ops.iter().filter(|o| o.secured).collect();
    assert!(secured.len() >= 4, "admin routes: {secured:?}");
    let prefix = &ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1];
    let wrong_tokens: Vec<Option<String>> = vec![
        None,
        Some(String::new()),
        Some("Bearer".into()),
        Some("Bearer ".into()),
        Some("Bearer wrong".into()),
        Some(format!("Bearer {prefix}")),
        Some(format!("Bearer {ADMIN_TOKEN}x")),
        Some(format!("Bearer {}", ADMIN_TOKEN.to_uppercase())),
        Some(format!("Bearer  {ADMIN_TOKEN} extra")),
        Some(format!("Basic {ADMIN_TOKEN}")),
        Some(format!("Token {ADMIN_TOKEN}")),
        Some(ADMIN_TOKEN.to_owned()),
        Some(format!("Bearer {ADMIN_TOKEN}\u{e9}")),
    ];
    for op in &secured {
        let path = op.valid_path();
        for token in &wrong_tokens {
            let auth = token
                .as_ref()
                .map(|t| format!("\r\nauthorization: {t}"))
                .unwrap_or_default();
            let mut head = format!("{} {path} HTTP/1.1{auth}", op.method);
            let body: &[u8] = if op.has_body {
                head.push_str("\r\ncontent-type: application/json");
                // A body each route accepts (POST /v1/tasks takes a kind).
                if path == "/v1/tasks" || path == "/github/tasks/" {
                    b"{\"kind\":\"discover\",\"args\":{}}"
                } else {
                    b"{\"name\":\"rust\"}"
                }
            } else {
                b""
            };
            let reply = raw(&app, head.as_bytes(), body).await;
            let what = format!("{} {path} with {token:?}", op.method);
            assert_error(&what, &reply, 401, "unauthorized");
            assert_eq!(
                reply.header("www-authenticate"),
                Some("Bearer"),
                "{what}: a 401 says which scheme it wants"
            );
            assert!(
                !reply.text().contains(ADMIN_TOKEN),
                "{what}: {}",
                reply.text()
            );
        }
        // The scheme is case-insensitive (RFC 9110 §11.1); the token is not.
        for scheme in ["Bearer", "bearer", "BEARER"] {
            let mut head = format!(
                "{} {path} HTTP/1.1\r\nauthorization: {scheme} {ADMIN_TOKEN}",
                op.method
            );
            let body: &[u8] = if op.has_body {
                head.push_str("\r\ncontent-type: application/json");
                // A body each route accepts (POST /v1/tasks takes a kind).
                if path == "/v1/tasks" || path == "/github/tasks/" {
                    b"{\"kind\":\"discover\",\"args\":{}}"
                } else {
                    b"{\"name\":\"rust\"}"
                }
            } else {
                b""
            };
            let reply = raw(&app, head.as_bytes(), body).await;
            assert!(
                reply.status < 400 || reply.status == 404,
                "{} {path} with scheme {scheme}: {} {}",
                op.method,
                reply.status,
                reply.text()
            );
        }
    }
}

#[tokio::test]
async fn with_no_admin_token_configured_every_admin_route_is_401() {
    let sim = TestSim::roomy().await;
    let url = sim.url.clone();
    let app = TestApp::spawn_with(|s| {
        s.github.base_url = url;
        s.admin.token = secrecy::SecretString::from(String::new());
    })
    .await;
    for op in operations(&app).await.iter().filter(|o| o.secured) {
        let path = op.valid_path();
        for auth in [
            "",
            "\r\nauthorization: Bearer ",
            "\r\nauthorization: Bearer  ",
        ] {
            let reply = raw(
                &app,
                format!("{} {path} HTTP/1.1{auth}", op.method).as_bytes(),
                b"",
            )
            .await;
            assert_error(
                &format!("{} {path} {auth:?}", op.method),
                &reply,
                401,
                "unauthorized",
            );
        }
    }
}

#[tokio::test]
async fn garbage_below_http_is_refused_and_the_server_keeps_serving() {
    let (app, _sim) = spawn().await;
    let long_uri = format!("GET /api/{} HTTP/1.1", "a".repeat(100_000));
    let long_header = format!("GET /health HTTP/1.1\r\nx-junk: {}", "a".repeat(1 << 20));
    for head in [
        long_uri.as_bytes(),
        long_header.as_bytes(),
        b"GET /health HTTP/9.9",
        b"GET health HTTP/1.1",
        b"\x00\x01\x02\x03",
        b"GET /he alth HTTP/1.1",
        b"GET /health HTTP/1.1\r\nbad header",
        b"POST /v1/topics HTTP/1.1\r\ncontent-length: -5",
        b"POST /v1/topics HTTP/1.1\r\ncontent-length: 5\r\ncontent-length: 6",
        b"POST /v1/topics HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-length: 5",
    ] {
        let what = String::from_utf8_lossy(&head[..head.len().min(60)]).into_owned();
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        let mut request = head.to_vec();
        request.extend_from_slice(b"\r\nhost: test\r\nconnection: close\r\n\r\n");
        let _ = stream.write_all(&request).await;
        let mut bytes = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut bytes)).await;
        // hyper answers what it cannot parse itself (400, 414, 431, 505:
        // an empty body, before any of our code runs) or closes the
        // connection; nginx in front turns those into JSON. Nothing here
        // reaches a handler, so nothing is a 2xx or a 5xx of ours.
        if let Some(reply) = parse_reply(&bytes) {
            assert!(
                (400..500).contains(&reply.status) || reply.status == 505,
                "{what}: {} {}",
                reply.status,
                reply.text()
            );
        }
    }
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn headers_with_unicode_and_odd_bytes_never_break_a_reply() {
    let (app, _sim) = spawn().await;
    for header in [
        "x-request-id: \u{fc}n\u{ef}c\u{f6}d\u{e9}",
        "x-request-id: a\tb",
        "accept-encoding: \u{1f980}",
        "if-none-match: \"\u{fc}\"",
        "accept-encoding: br;q=abc, gzip;q=-1",
        "if-none-match: *, W/\"x\", \"",
    ] {
        let head = format!("GET /api/kubernetes HTTP/1.1\r\n{header}");
        let reply = raw(&app, head.as_bytes(), b"").await;
        assert!(
            [200, 304].contains(&reply.status),
            "{header}: {} {}",
            reply.status,
            reply.text()
        );
    }
}

/// Like `raw`, to nginx's port.
async fn raw_to(port: u16, head: &[u8], body: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut request = head.to_vec();
    if !head.windows(5).any(|w| w.eq_ignore_ascii_case(b"host:")) {
        request.extend_from_slice(b"\r\nhost: test");
    }
    request.extend_from_slice(b"\r\nconnection: close\r\n");
    if !body.is_empty() {
        request.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    request.extend_from_slice(body);
    let _ = stream.write_all(&request).await;
    let mut bytes = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut bytes)).await;
    parse_reply(&bytes).unwrap_or_else(|| {
        panic!(
            "unparsable reply to {:?}: {:?}",
            String::from_utf8_lossy(&head[..head.len().min(80)]),
            String::from_utf8_lossy(&bytes)
        )
    })
}

#[tokio::test]
async fn through_nginx_no_status_page_only_documented_routes_and_json_errors() {
    let (app, _sim) = spawn().await;
    let nginx = TestNginx::start(&[app.addr.to_string()]);
    let port = nginx.port;

    // Every documented GET answers through nginx as it does directly.
    let mut documented = 0;
    for op in operations(&app).await {
        if op.method != "GET" || op.secured {
            continue;
        }
        let path = op.valid_path();
        let direct = send(&app, "GET", &path, false).await;
        let proxied = raw_to(port, format!("GET {path} HTTP/1.1").as_bytes(), b"").await;
        assert_eq!(proxied.status, direct.status, "{path}: {}", proxied.text());
        documented += 1;
    }
    assert!(documented >= 6, "{documented}");

    // No status page, and nginx's error locations are not reachable: the
    // API's JSON 404 (or nginx's, for its internal locations).
    for path in [
        "/nginx_status",
        "/basic_status",
        "/stub_status",
        "/status",
        "/server-status",
        "/_nginx/400",
        "/_nginx/502",
        "/_nginx/",
    ] {
        let reply = raw_to(port, format!("GET {path} HTTP/1.1").as_bytes(), b"").await;
        assert_error(&format!("nginx {path}"), &reply, 404, "not_found");
    }

    // nginx's own refusals are JSON, never an HTML page.
    let long_uri = format!("GET /api/{} HTTP/1.1", "a".repeat(40_000));
    let big_header = format!("GET /health HTTP/1.1\r\nx-big: {}", "a".repeat(9_000));
    let cases: [(&[u8], &[u8], u16, &str); 13] = [
        (
            b"POST /v1/topics HTTP/1.1",
            &[b' '; 2 << 20],
            413,
            "payload_too_large",
        ),
        (long_uri.as_bytes(), b"", 414, "uri_too_long"),
        (big_header.as_bytes(), b"", 400, "bad_request"),
        (b"TRACE / HTTP/1.1", b"", 405, "method_not_allowed"),
        (b"TRACE /health HTTP/1.1", b"", 405, "method_not_allowed"),
        (b"GET / HTTP/2.0", b"", 505, "http_version_not_supported"),
        (
            b"GET / HTTP/1.1\r\ntransfer-encoding: gzip",
            b"",
            501,
            "not_implemented",
        ),
        (b"GET /%00 HTTP/1.1", b"", 400, "bad_request"),
        (b"GET /../../etc/passwd HTTP/1.1", b"", 400, "bad_request"),
        (
            b"GET / HTTP/1.1\r\nhost: a\r\nhost: b",
            b"",
            400,
            "bad_request",
        ),
        (
            b"POST / HTTP/1.1\r\ncontent-length: 1\r\ncontent-length: 2",
            b"",
            400,
            "bad_request",
        ),
        (b"CONNECT example.com:443 HTTP/1.1", b"", 400, "bad_request"),
        // The API's own 405 passes through untouched.
        (b"DELETE /health HTTP/1.1", b"", 405, "method_not_allowed"),
    ];
    for (head, body, status, code) in cases {
        let reply = raw_to(port, head, body).await;
        let what = format!(
            "nginx {:?}",
            String::from_utf8_lossy(&head[..head.len().min(50)])
        );
        assert_error(&what, &reply, status, code);
        if status == 405 {
            // RFC 9110: a 405 says what is allowed, nginx's own included.
            let allow = reply.header("allow").unwrap_or_default();
            assert!(allow.contains("GET"), "{what}: Allow {allow:?}");
        }
    }

    // Slow clients are cut off: headers never finished, and a body that
    // stops short, are both dropped within nginx's 10 s timeouts.
    let started = std::time::Instant::now();
    let slow_headers = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        stream
            .write_all(b"GET /health HTTP/1.1\r\nhost: t")
            .await
            .unwrap();
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut rest)).await
    };
    let slow_body = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        stream
            .write_all(
                format!(
                    "POST /v1/topics HTTP/1.1\r\nhost: t\r\nauthorization: Bearer {ADMIN_TOKEN}\r\n\
                     content-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"na"
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut rest)).await
    };
    let (headers_cut, body_cut) = tokio::join!(slow_headers, slow_body);
    assert!(
        headers_cut.is_ok(),
        "a client that never finished its headers was kept"
    );
    assert!(
        body_cut.is_ok(),
        "a client that never finished its body was kept"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(9),
        "cut off after {:?}, before the timeout",
        started.elapsed()
    );
    drop(nginx);
}

/// nginx's per-address limits: past the rate and its burst, nginx itself
/// answers 429 JSON with Retry-After, and the replica never sees those.
#[tokio::test]
async fn nginx_answers_429_json_past_the_per_address_rate() {
    let (app, _sim) = spawn().await;
    let nginx = TestNginx::start_with(
        &[app.addr.to_string()],
        &[("NGINX_RATE_LIMIT", "1r/m"), ("NGINX_RATE_BURST", "3")],
    );
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let reply = raw_to(nginx.port, b"GET /health HTTP/1.1", b"").await;
        if reply.status == 429 {
            assert_error("nginx past its rate", &reply, 429, "too_many_requests");
            assert_eq!(reply.header("retry-after"), Some("1"));
        }
        statuses.push(reply.status);
    }
    assert_eq!(
        statuses[..4],
        [200; 4],
        "the burst is let through: {statuses:?}"
    );
    assert!(statuses[4..].iter().all(|s| *s == 429), "{statuses:?}");
}

/// Through the proxy, the public learns only whether the replica is ready;
/// the admin token, or a caller on the replica's own host, also gets the
/// checks.
#[tokio::test]
async fn ready_through_nginx_says_only_up_or_down_unless_admin() {
    let (app, _sim) = spawn().await;
    let nginx = TestNginx::start(&[app.addr.to_string()]);
    let public = raw_to(nginx.port, b"GET /ready HTTP/1.1", b"").await;
    assert_eq!(public.status, 200, "{}", public.text());
    let body: serde_json::Value = serde_json::from_slice(&public.body).unwrap();
    assert_eq!(body["status"], "ready");
    assert!(body.get("checks").is_none(), "public /ready shows {body}");
    let head = format!("GET /ready HTTP/1.1\r\nauthorization: Bearer {ADMIN_TOKEN}");
    let admin = raw_to(nginx.port, head.as_bytes(), b"").await;
    let body: serde_json::Value = serde_json::from_slice(&admin.body).unwrap();
    assert_eq!(body["checks"]["postgres"], "ok", "{body}");
    // On the replica's host and not relayed: the operator's own curl.
    let direct = raw_to(app.addr.port(), b"GET /ready HTTP/1.1", b"").await;
    let body: serde_json::Value = serde_json::from_slice(&direct.body).unwrap();
    assert_eq!(body["checks"]["redis"], "ok", "{body}");
}
