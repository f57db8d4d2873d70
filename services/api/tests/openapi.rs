//! `/openapi.json` against the API that serves it: an OpenAPI 3.1 document
//! naming every route the router serves, and every response of a drive
//! through every route (successes and errors: 200, 201, 202, 304, 400, 401,
//! 404, 405, 413, 415, 422, 503) valid against it: a documented status, a
//! documented content type, a body that validates against the documented
//! schema. The drive must reach every response the document lists, so a
//! documented answer the API never gives shows up here too.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hubpulse_api::Application;
use hubpulse_domain::Topic;
use hubpulse_testkit::{
    ADMIN_TOKEN, Checked, OpenApiChecker, Route, TestApp, TestDb, TestRedis, TestSim, free_port,
    test_settings,
};
use reqwest::header::{CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

#[path = "openapi/gists.rs"]
mod gists;
#[path = "openapi/graph_seed.rs"]
mod graph_seed;

/// Routes the README and the issue promise; each must be in the document.
const PROMISED: [(&str, &str); 29] = [
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/api/{topic}"),
    ("GET", "/api/popularity/{topic}"),
    ("GET", "/api/activity/{topic}"),
    ("GET", "/v1/topics"),
    ("POST", "/v1/topics"),
    ("DELETE", "/v1/topics/{name}"),
    ("GET", "/v1/tasks/{id}"),
    ("GET", "/v1/rate_limit"),
    ("DELETE", "/v1/rate_limit/pauses"),
    ("GET", "/bootstrap_db"),
    ("POST", "/bootstrap_db"),
    ("GET", "/update_cache"),
    ("POST", "/update_cache"),
    ("GET", "/v1/orgs"),
    ("POST", "/v1/orgs"),
    ("POST", "/v1/orgs/sync"),
    ("DELETE", "/v1/orgs/{name}"),
    ("GET", "/v1/orgs/{name}/new-contributors"),
    ("GET", "/v1/orgs/{name}/new-contributors.svg"),
    // The seed's paths, as aliases of the /v1 graph routes.
    ("GET", "/github/developers/"),
    ("GET", "/github/repositories/"),
    ("GET", "/github/rate_limit/"),
    ("GET", "/github/tasks/"),
    ("POST", "/github/tasks/"),
];

const VIEWS: [&str; 3] = ["/api/", "/api/popularity/", "/api/activity/"];

/// Sends requests, checks every answer against the document, and records
/// which documented responses were seen.
struct Driver {
    base: String,
    http: reqwest::Client,
    checker: OpenApiChecker,
    /// (method, template, status) of every documented response answered.
    seen: Mutex<BTreeSet<(String, String, u16)>>,
}

struct Request<'a> {
    method: Method,
    path: &'a str,
    token: Option<&'a str>,
    headers: Vec<(&'static str, String)>,
    body: Option<(&'static str, Vec<u8>)>,
}

impl<'a> Request<'a> {
    fn new(method: Method, path: &'a str) -> Self {
        Request {
            method,
            path,
            token: None,
            headers: Vec::new(),
            body: None,
        }
    }

    fn admin(mut self) -> Self {
        self.token = Some(ADMIN_TOKEN);
        self
    }

    fn token(mut self, token: &'a str) -> Self {
        self.token = Some(token);
        self
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    fn json(mut self, value: Value) -> Self {
        self.body = Some(("application/json", value.to_string().into_bytes()));
        self
    }

    fn body(mut self, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some((content_type, body.into()));
        self
    }
}

impl Driver {
    /// Fetches the document through `base` and checks it is OpenAPI 3.1.
    async fn new(base: String) -> Driver {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .no_proxy()
            .build()
            .unwrap();
        let reply = http
            .get(format!("{base}/openapi.json"))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::OK);
        let document: Value = reply.json().await.expect("/openapi.json is JSON");
        let checker = OpenApiChecker::new(document)
            .expect("an OpenAPI 3.1 document")
            .with_fallback_error("ErrorBody")
            .expect("ErrorBody in components");
        Driver {
            base,
            http,
            checker,
            seen: Mutex::new(BTreeSet::new()),
        }
    }

    /// A GET outside the checks: the status only, for waiting.
    async fn status_of(&self, path: &str, cookie: &str) -> (u16, Vec<u8>) {
        let reply = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        let status = reply.status().as_u16();
        (status, reply.bytes().await.unwrap_or_default().to_vec())
    }

    async fn send(&self, request: Request<'_>) -> Checked {
        let mut builder = self.http.request(
            request.method.clone(),
            format!("{}{}", self.base, request.path),
        );
        if let Some(token) = request.token {
            builder = builder.bearer_auth(token);
        }
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        if let Some((content_type, body)) = request.body {
            if !content_type.is_empty() {
                builder = builder.header(CONTENT_TYPE, content_type);
            }
            builder = builder.body(body);
        }
        let response = builder.send().await.unwrap_or_else(|e| {
            panic!("{} {}: {e}", request.method, request.path);
        });
        let checked = self
            .checker
            .check(&request.method, request.path, response)
            .await;
        if let Route::Operation(op) = self.checker.route(&request.method, request.path) {
            self.seen.lock().unwrap().insert((
                op.method.to_string(),
                op.template.clone(),
                checked.status.as_u16(),
            ));
        }
        checked
    }

    /// Sends and asserts the status.
    async fn expect(&self, status: u16, request: Request<'_>) -> Checked {
        let what = format!("{} {}", request.method, request.path);
        let checked = self.send(request).await;
        assert_eq!(
            checked.status.as_u16(),
            status,
            "{what}: {}",
            checked.text()
        );
        checked
    }

    /// Documented (method, template, status) triples no request reached.
    fn unreached(&self, skip: impl Fn(&str, &str, u16) -> bool) -> Vec<String> {
        let seen = self.seen.lock().unwrap();
        let mut missing = Vec::new();
        for op in self.checker.operations() {
            let responses = self.checker.operation_object(op)["responses"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            for key in responses.keys() {
                let Ok(status) = key.parse::<u16>() else {
                    missing.push(format!(
                        "{} {} {key}: not a plain status",
                        op.method, op.template
                    ));
                    continue;
                };
                let method = op.method.to_string();
                if !seen.contains(&(method.clone(), op.template.clone(), status))
                    && !skip(&method, &op.template, status)
                {
                    missing.push(format!("{method} {} {status}", op.template));
                }
            }
        }
        missing
    }
}

async fn wait_for_job(driver: &Driver, id: i64) -> Value {
    let path = format!("/v1/tasks/{id}");
    let started = Instant::now();
    loop {
        let task = driver
            .expect(200, Request::new(Method::GET, &path))
            .await
            .json();
        if task["status"] == "succeeded" || task["status"] == "failed" {
            return task;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "job {id} did not finish: {task}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("$ref", Value::String(target)) => out.push(target.clone()),
                    _ => collect_refs(inner, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_refs(item, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_names_every_route_the_router_serves() {
    let app = TestApp::spawn_with(|s| s.workers.count = 0).await;
    let driver = Driver::new(format!("http://{}", app.addr)).await;
    let document = driver.checker.document();
    assert!(
        document["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        document["openapi"]
    );
    let mut refs = Vec::new();
    collect_refs(document, &mut refs);
    assert!(!refs.is_empty());
    for target in refs {
        assert!(
            target
                .strip_prefix('#')
                .and_then(|pointer| document.pointer(pointer))
                .is_some(),
            "$ref {target} points at nothing in the document"
        );
    }
    let documented: BTreeSet<(String, String)> = driver
        .checker
        .operations()
        .iter()
        .map(|op| (op.method.to_string(), op.template.clone()))
        .collect();
    for (method, template) in PROMISED {
        assert!(
            documented.contains(&(method.to_owned(), template.to_owned())),
            "{method} {template} is served but not in /openapi.json"
        );
    }

    // Every documented operation is served: whatever it answers, it is not
    // the router's "no route" fallback.
    for op in driver.checker.operations() {
        let path = op
            .template
            .replace("{topic}", "kubernetes")
            .replace("{name}", "kubernetes")
            .replace("{id}", "1");
        let reply = driver
            .http
            .request(op.method.clone(), format!("{}{path}", driver.base))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        let status = reply.status();
        let body = reply.text().await.unwrap();
        assert!(
            !(status == StatusCode::NOT_FOUND && body.contains("no route for"))
                && status != StatusCode::METHOD_NOT_ALLOWED,
            "{} {path} is documented but not served: {status} {body}",
            op.method
        );
    }

    // On a documented path, a method the document does not name is a 405:
    // the router serves nothing more there than the document says.
    let paths: BTreeSet<&str> = driver
        .checker
        .operations()
        .iter()
        .map(|op| op.template.as_str())
        .collect();
    for template in paths {
        let path = template
            .replace("{topic}", "kubernetes")
            .replace("{name}", "kubernetes")
            .replace("{id}", "1");
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ] {
            if documented.contains(&(method.to_string(), template.to_owned())) {
                continue;
            }
            driver
                .expect(405, Request::new(method, &path).admin())
                .await;
        }
    }
    // Paths outside the document are the fallback's 404.
    for path in ["/nope", "/api", "/v1", "/docs/more", "/health/"] {
        let reply = driver.expect(404, Request::new(Method::GET, path)).await;
        assert!(
            reply.text().contains("no route"),
            "{path}: {}",
            reply.text()
        );
    }

    // The router's own view: every route template it counted a request
    // under is a documented path.
    let metrics = driver
        .expect(200, Request::new(Method::GET, "/metrics"))
        .await
        .text();
    let mut counted = BTreeSet::new();
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("hubpulse_http_requests_total{"))
    {
        let route = line
            .split("route=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a route label");
        if route != "unmatched" {
            counted.insert(route.to_owned());
        }
    }
    // Labels and document spell templates alike: every path probed above is
    // counted under its documented template (/metrics counts itself after).
    for (_, template) in &documented {
        assert!(
            template == "/metrics" || counted.contains(template),
            "{template} not among the counted routes {counted:?}"
        );
    }
    for route in &counted {
        assert!(
            documented.iter().any(|(_, template)| template == route),
            "the router served {route}, which /openapi.json does not describe"
        );
    }
    app.shutdown().await;
}

#[tokio::test]
async fn every_response_of_every_route_matches_the_document() {
    let sim = TestSim::roomy().await;
    let sim_url = sim.url.clone();
    let app = TestApp::spawn_with(move |s| {
        s.github.base_url = sim_url.clone();
        s.github.oauth_base_url = sim_url;
        s.auth.device_flows_per_hour = 2;
        s.topics.tracked = vec![Topic::parse("tiny").unwrap()];
    })
    .await;
    let d = Driver::new(format!("http://{}", app.addr)).await;
    use Method as M;
    drive_sign_in(&d, &sim).await;

    // Operations.
    d.expect(200, Request::new(M::GET, "/health")).await;
    d.expect(200, Request::new(M::GET, "/ready")).await;
    d.expect(200, Request::new(M::GET, "/openapi.json")).await;
    let docs = d.expect(200, Request::new(M::GET, "/docs")).await;
    assert!(docs.text().contains("/openapi.json"));

    // Maintenance: 401 without or with a wrong token, else 202 and job ids.
    for path in ["/bootstrap_db", "/update_cache"] {
        for method in [M::GET, M::POST] {
            d.expect(401, Request::new(method.clone(), path)).await;
            d.expect(401, Request::new(method.clone(), path).token("wrong"))
                .await;
        }
    }
    let queued = d
        .expect(202, Request::new(M::POST, "/bootstrap_db").admin())
        .await
        .json();
    let job_id = queued["jobs"][0]["id"].as_i64().expect("a job id");
    for (method, path) in [
        (M::GET, "/bootstrap_db"),
        (M::GET, "/update_cache"),
        (M::POST, "/update_cache"),
    ] {
        d.expect(202, Request::new(method, path).admin()).await;
    }

    // The rate budget's pauses: admin only; shown, then lifted.
    for (method, path) in [
        (M::GET, "/v1/rate_limit"),
        (M::DELETE, "/v1/rate_limit/pauses"),
    ] {
        d.expect(401, Request::new(method.clone(), path)).await;
        d.expect(401, Request::new(method.clone(), path).token("wrong"))
            .await;
        d.expect(200, Request::new(method, path).admin()).await;
    }

    // Tasks: the crawl, followed until it ends; bad and unknown ids.
    let task = wait_for_job(&d, job_id).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    for bad in ["abc", "0", "-3", "1.5"] {
        d.expect(400, Request::new(M::GET, &format!("/v1/tasks/{bad}")))
            .await;
    }
    d.expect(404, Request::new(M::GET, "/v1/tasks/987654321"))
        .await;

    // Views of the crawled topic: whole, a prefix, unchanged, bad input.
    for prefix in VIEWS {
        let path = format!("{prefix}tiny");
        let whole = d.expect(200, Request::new(M::GET, &path)).await;
        let items = whole.json();
        assert!(
            !items.as_array().unwrap().is_empty(),
            "{path}: the crawl filled the view"
        );
        let etag = whole.headers[ETAG].to_str().unwrap().to_owned();
        d.expect(
            304,
            Request::new(M::GET, &path).header(IF_NONE_MATCH.as_str(), etag),
        )
        .await;
        let limited = format!("{path}?limit=2");
        let two = d.expect(200, Request::new(M::GET, &limited)).await;
        assert_eq!(two.json().as_array().unwrap().len(), 2);
        for bad in ["0", "501", "ten"] {
            d.expect(400, Request::new(M::GET, &format!("{path}?limit={bad}")))
                .await;
        }
        d.expect(400, Request::new(M::GET, &format!("{prefix}Not_A_Topic")))
            .await;
        d.expect(
            404,
            Request::new(M::GET, &format!("{prefix}untracked-topic")),
        )
        .await;
    }

    // Tracked topics: list, track, untrack, and every way to get them wrong.
    d.expect(200, Request::new(M::GET, "/v1/topics")).await;
    let rust = json!({"name": "rust"});
    d.expect(401, Request::new(M::POST, "/v1/topics").json(rust.clone()))
        .await;
    d.expect(
        201,
        Request::new(M::POST, "/v1/topics")
            .admin()
            .json(rust.clone()),
    )
    .await;
    d.expect(
        200,
        Request::new(M::POST, "/v1/topics")
            .admin()
            .json(rust.clone()),
    )
    .await;
    // Tracked, not crawled yet: an empty list.
    let empty = d.expect(200, Request::new(M::GET, "/api/rust")).await;
    assert_eq!(empty.json(), json!([]));
    d.expect(
        400,
        Request::new(M::POST, "/v1/topics")
            .admin()
            .json(json!({"name": "Not A Topic"})),
    )
    .await;
    d.expect(
        400,
        Request::new(M::POST, "/v1/topics")
            .admin()
            .body("application/json", "{\"name\":"),
    )
    .await;
    d.expect(
        415,
        Request::new(M::POST, "/v1/topics")
            .admin()
            .body("", "{\"name\":\"go\"}"),
    )
    .await;
    d.expect(
        415,
        Request::new(M::POST, "/v1/topics")
            .admin()
            .body("text/plain", "go"),
    )
    .await;
    d.expect(
        422,
        Request::new(M::POST, "/v1/topics")
            .admin()
            .json(json!({"nom": "go"})),
    )
    .await;
    d.expect(
        422,
        Request::new(M::POST, "/v1/topics")
            .admin()
            .json(json!({"name": 5})),
    )
    .await;
    let huge = json!({"name": "x".repeat(200_000)});
    d.expect(413, Request::new(M::POST, "/v1/topics").admin().json(huge))
        .await;
    d.expect(401, Request::new(M::DELETE, "/v1/topics/rust"))
        .await;
    d.expect(200, Request::new(M::DELETE, "/v1/topics/rust").admin())
        .await;
    d.expect(404, Request::new(M::DELETE, "/v1/topics/rust").admin())
        .await;
    d.expect(
        400,
        Request::new(M::DELETE, "/v1/topics/Not_A_Topic").admin(),
    )
    .await;

    // Tracked owners: track (a user with no repositories: its sync is
    // quick), list, first-time contributors, sync all, untrack.
    drive_orgs(&d).await;
    gists::drive_gists(&d).await;
    // The developer graph: a sync through the task API, then its lists.
    drive_graph(&d).await;
    graph_seed::drive_graph_seed(&d).await;

    // Outside the document: wrong methods and unknown paths.
    d.expect(405, Request::new(M::DELETE, "/health")).await;
    d.expect(405, Request::new(M::PUT, "/v1/topics").admin())
        .await;
    d.expect(405, Request::new(M::POST, "/v1/tasks/1")).await;
    d.expect(404, Request::new(M::GET, "/no/such/route")).await;

    // Last, so that it has counted everything above.
    d.expect(200, Request::new(M::GET, "/metrics")).await;

    // The 503s need Postgres and Redis down: the next test.
    let unreached = d.unreached(|_, _, status| status == 503);
    assert!(
        unreached.is_empty(),
        "documented responses this drive never got: {unreached:#?}"
    );
    app.shutdown().await;
}

/// The page, signing in through the simulator, the exports, signing out.
async fn drive_sign_in(d: &Driver, sim: &TestSim) {
    use Method as M;
    for path in [
        "/",
        "/assets/page.js",
        "/assets/page.css",
        "/v1/overview",
        "/v1/auth/session",
    ] {
        d.expect(200, Request::new(M::GET, path)).await;
    }
    d.expect(403, Request::new(M::POST, "/v1/auth/device"))
        .await;
    let started = d
        .expect(
            201,
            Request::new(M::POST, "/v1/auth/device").header("x-hubpulse-csrf", "1"),
        )
        .await;
    let set_cookie = |reply: &Checked, name: &str| {
        reply
            .headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.split(';').next())
            .filter(|v| !v.is_empty())
            .map(|v| format!("{name}={v}"))
    };
    let flow_cookie = set_cookie(&started, "hubpulse_flow").expect("the flow cookie");
    let flow = started.json();
    let path = format!("/v1/auth/device/{}", flow["flow_id"].as_str().unwrap());
    d.expect(400, Request::new(M::GET, "/v1/auth/device/not-a-flow"))
        .await;
    d.expect(
        404,
        Request::new(M::GET, &format!("/v1/auth/device/{}", uuid_like())),
    )
    .await;
    sim.admin
        .approve_device(flow["user_code"].as_str().unwrap(), "hubpulse-walker")
        .await
        .unwrap();
    let mut session = None;
    for _ in 0..100 {
        let reply = d
            .expect(
                200,
                Request::new(M::GET, &path).header("cookie", flow_cookie.clone()),
            )
            .await;
        if let Some(cookie) = set_cookie(&reply, "hubpulse_session") {
            session = Some(cookie);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let session = session.expect("signed in within 20 s");
    // The user's repositories arrive from a job just after sign-in.
    for _ in 0..100 {
        let (status, body) = d
            .status_of("/v1/users/hubpulse-walker/repos.json", &session)
            .await;
        let rows = serde_json::from_slice::<Vec<Value>>(&body).map_or(0, |rows| rows.len());
        // All 230 public and 2 private: the job is done, the ETag stays.
        if status == 200 && rows == 232 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    for format in ["csv", "json"] {
        let path = format!("/v1/users/hubpulse-walker/repos.{format}");
        let whole = d
            .expect(
                200,
                Request::new(M::GET, &path).header("cookie", session.clone()),
            )
            .await;
        let etag = whole.headers[ETAG].to_str().unwrap().to_owned();
        d.expect(
            304,
            Request::new(M::GET, &path)
                .header("cookie", session.clone())
                .header(IF_NONE_MATCH.as_str(), etag),
        )
        .await;
        d.expect(
            400,
            Request::new(M::GET, &format!("/v1/users/-bad-/repos.{format}")),
        )
        .await;
        d.expect(
            404,
            Request::new(M::GET, &format!("/v1/users/never-seen/repos.{format}")),
        )
        .await;
    }
    // GitHub refusing the code request; then the hour's allowance spent.
    sim.admin.set_device_flow_disabled(true).await.unwrap();
    d.expect(
        502,
        Request::new(M::POST, "/v1/auth/device").header("x-hubpulse-csrf", "1"),
    )
    .await;
    sim.admin.set_device_flow_disabled(false).await.unwrap();
    d.expect(
        201,
        Request::new(M::POST, "/v1/auth/device").header("x-hubpulse-csrf", "1"),
    )
    .await;
    d.expect(
        429,
        Request::new(M::POST, "/v1/auth/device").header("x-hubpulse-csrf", "1"),
    )
    .await;
    // Deleting a token: who may, and bad input.
    let tokens = "/v1/auth/tokens/hubpulse-walker";
    d.expect(401, Request::new(M::DELETE, tokens)).await;
    d.expect(
        400,
        Request::new(M::DELETE, "/v1/auth/tokens/-bad-").admin(),
    )
    .await;
    d.expect(
        404,
        Request::new(M::DELETE, "/v1/auth/tokens/never-signed-in").admin(),
    )
    .await;
    d.expect(
        403,
        Request::new(M::DELETE, "/v1/auth/tokens/hubpulse-nobody")
            .header("cookie", session.clone())
            .header("x-hubpulse-csrf", "1"),
    )
    .await;
    d.expect(
        200,
        Request::new(M::DELETE, tokens)
            .header("cookie", session.clone())
            .header("x-hubpulse-csrf", "1"),
    )
    .await;
    d.expect(403, Request::new(M::POST, "/v1/auth/logout"))
        .await;
    d.expect(
        200,
        Request::new(M::POST, "/v1/auth/logout").header("x-hubpulse-csrf", "1"),
    )
    .await;
}

fn uuid_like() -> &'static str {
    "00000000-0000-4000-8000-000000000000"
}

async fn drive_graph(d: &Driver) {
    use Method as M;
    let sync = json!({"kind": "sync_developer", "args": {"login": "hubpulse-walker"}});
    d.expect(401, Request::new(M::POST, "/v1/tasks").json(sync.clone()))
        .await;
    let queued = d
        .expect(202, Request::new(M::POST, "/v1/tasks").admin().json(sync))
        .await
        .json();
    let task = wait_for_job(d, queued["id"].as_i64().unwrap()).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    d.expect(
        400,
        Request::new(M::POST, "/v1/tasks")
            .admin()
            .body("application/json", "{"),
    )
    .await;
    d.expect(
        415,
        Request::new(M::POST, "/v1/tasks")
            .admin()
            .body("text/plain", "x"),
    )
    .await;
    d.expect(
        422,
        Request::new(M::POST, "/v1/tasks")
            .admin()
            .json(json!({"kind": "nope", "args": {}})),
    )
    .await;
    d.expect(
        404,
        Request::new(M::POST, "/v1/tasks")
            .admin()
            .json(json!({"kind": "sync_developer", "args": {}})),
    )
    .await;
    let huge = json!({"kind": "x".repeat(200_000)});
    d.expect(413, Request::new(M::POST, "/v1/tasks").admin().json(huge))
        .await;
    d.expect(200, Request::new(M::GET, "/v1/tasks?kind=sync_developer"))
        .await;
    d.expect(401, Request::new(M::POST, "/v1/discover")).await;
    d.expect(202, Request::new(M::POST, "/v1/discover").admin())
        .await;
    d.expect(400, Request::new(M::GET, "/v1/tasks?status=lost"))
        .await;
    for (path, bad) in [
        ("/v1/developers?sort=login", "/v1/developers?per_page=0"),
        ("/v1/repositories?sort=name", "/v1/repositories?cursor=zz"),
        ("/v1/developers/hubpulse-walker", "/v1/developers/-x"),
        ("/v1/developers/by-id/9000001", "/v1/developers/by-id/x"),
        (
            "/v1/developers/hubpulse-walker/followers",
            "/v1/developers/-x/followers",
        ),
        (
            "/v1/developers/hubpulse-walker/following",
            "/v1/developers/-x/following",
        ),
        (
            "/v1/developers/hubpulse-walker/starred",
            "/v1/developers/-x/starred",
        ),
        (
            "/v1/repositories/hubpulse-walker/repo-001",
            "/v1/repositories/-x/y",
        ),
        (
            "/v1/repositories/by-id/90000001",
            "/v1/repositories/by-id/0",
        ),
        (
            "/v1/repositories/hubpulse-walker/repo-001/stargazers",
            "/v1/repositories/-x/y/stargazers",
        ),
        (
            "/v1/repositories/hubpulse-walker/repo-001/star-history",
            "/v1/repositories/-x/y/star-history",
        ),
        (
            "/v1/repositories/hubpulse-walker/repo-001/star-history.svg",
            "/v1/repositories/-x/y/star-history.svg",
        ),
    ] {
        d.expect(200, Request::new(M::GET, path)).await;
        d.expect(400, Request::new(M::GET, bad)).await;
    }
    for missing in [
        "/v1/developers/nobody-here",
        "/v1/developers/by-id/1",
        "/v1/developers/nobody-here/followers",
        "/v1/developers/nobody-here/following",
        "/v1/developers/nobody-here/starred",
        "/v1/repositories/nobody-here/none",
        "/v1/repositories/by-id/1",
        "/v1/repositories/nobody-here/none/stargazers",
        "/v1/repositories/nobody-here/none/star-history",
        "/v1/repositories/nobody-here/none/star-history.svg",
    ] {
        d.expect(404, Request::new(M::GET, missing)).await;
    }
}

async fn drive_orgs(d: &Driver) {
    use Method as M;
    let nobody = json!({"name": "hubpulse-nobody"});
    d.expect(401, Request::new(M::POST, "/v1/orgs").json(nobody.clone()))
        .await;
    let tracked = d
        .expect(
            201,
            Request::new(M::POST, "/v1/orgs")
                .admin()
                .json(nobody.clone()),
        )
        .await
        .json();
    let job = tracked["job_id"].as_i64().expect("a sync job");
    let task = wait_for_job(d, job).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    d.expect(200, Request::new(M::POST, "/v1/orgs").admin().json(nobody))
        .await;
    for bad in [json!({"name": "-x"}), json!({"name": "dependabot[bot]"})] {
        d.expect(400, Request::new(M::POST, "/v1/orgs").admin().json(bad))
            .await;
    }
    d.expect(
        400,
        Request::new(M::POST, "/v1/orgs")
            .admin()
            .body("application/json", "{\"name\":"),
    )
    .await;
    d.expect(
        415,
        Request::new(M::POST, "/v1/orgs")
            .admin()
            .body("text/plain", "x"),
    )
    .await;
    d.expect(
        422,
        Request::new(M::POST, "/v1/orgs")
            .admin()
            .json(json!({"nom": "x"})),
    )
    .await;
    let huge = json!({"name": "x".repeat(200_000)});
    d.expect(413, Request::new(M::POST, "/v1/orgs").admin().json(huge))
        .await;
    let listed = d.expect(200, Request::new(M::GET, "/v1/orgs")).await.json();
    assert_eq!(listed["owners"][0]["name"], "hubpulse-nobody", "{listed}");
    let page = d
        .expect(
            200,
            Request::new(
                M::GET,
                "/v1/orgs/hubpulse-nobody/new-contributors?page=1&page_size=10&from=2020-01&to=2026-12",
            ),
        )
        .await
        .json();
    assert_eq!(page["total_records"], 0, "{page}");
    for bad in ["page=0", "page_size=501", "from=2020-13", "repo=a%2Fb"] {
        d.expect(
            400,
            Request::new(
                M::GET,
                &format!("/v1/orgs/hubpulse-nobody/new-contributors?{bad}"),
            ),
        )
        .await;
    }
    d.expect(
        404,
        Request::new(M::GET, "/v1/orgs/untracked/new-contributors"),
    )
    .await;
    let chart_path = "/v1/orgs/hubpulse-nobody/new-contributors.svg";
    let chart = d.expect(200, Request::new(M::GET, chart_path)).await;
    assert!(chart.text().starts_with("<svg"), "{}", chart.text());
    let etag = chart.headers[ETAG].to_str().unwrap().to_owned();
    d.expect(
        304,
        Request::new(M::GET, chart_path).header(IF_NONE_MATCH.as_str(), etag),
    )
    .await;
    d.expect(
        400,
        Request::new(M::GET, &format!("{chart_path}?to=2020-00")),
    )
    .await;
    d.expect(
        404,
        Request::new(M::GET, "/v1/orgs/untracked/new-contributors.svg"),
    )
    .await;
    d.expect(401, Request::new(M::POST, "/v1/orgs/sync")).await;
    d.expect(202, Request::new(M::POST, "/v1/orgs/sync").admin())
        .await;
    d.expect(401, Request::new(M::DELETE, "/v1/orgs/hubpulse-nobody"))
        .await;
    d.expect(400, Request::new(M::DELETE, "/v1/orgs/-x").admin())
        .await;
    d.expect(
        200,
        Request::new(M::DELETE, "/v1/orgs/hubpulse-nobody").admin(),
    )
    .await;
    d.expect(
        404,
        Request::new(M::DELETE, "/v1/orgs/hubpulse-nobody").admin(),
    )
    .await;
}

/// The API with neither Postgres nor Redis reachable: what still answers,
/// and the 503s, must be as documented.
#[tokio::test]
async fn with_postgres_and_redis_down_every_503_matches_the_document() {
    let db = TestDb::new().await;
    let redis = TestRedis::new().await;
    let mut settings = test_settings(&db, &redis);
    let closed = |what: &str| format!("{what}://127.0.0.1:{}", free_port());
    settings.database.url = format!("{}/hubpulse", closed("postgres")).into();
    settings.database.connect_timeout_ms = 300;
    settings.database.acquire_timeout_ms = 500;
    settings.redis.url = closed("redis").into();
    settings.workers.count = 0;
    let app = Application::build(settings).await.expect("the API builds");
    let addr = app.local_addr();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.run(shutdown.clone()));
    let d = Driver::new(format!("http://{addr}")).await;
    use Method as M;

    d.expect(200, Request::new(M::GET, "/health")).await;
    let ready = d.expect(503, Request::new(M::GET, "/ready")).await.json();
    assert_ne!(ready["checks"]["postgres"], "ok", "{ready}");
    assert_ne!(ready["checks"]["redis"], "ok", "{ready}");
    d.expect(200, Request::new(M::GET, "/openapi.json")).await;
    d.expect(200, Request::new(M::GET, "/docs")).await;
    for prefix in VIEWS {
        d.expect(503, Request::new(M::GET, &format!("{prefix}kubernetes")))
            .await;
    }
    d.expect(503, Request::new(M::GET, "/v1/topics")).await;
    d.expect(503, Request::new(M::GET, "/v1/tasks/1")).await;
    d.expect(
        503,
        Request::new(M::POST, "/v1/topics")
            .admin()
            .json(json!({"name": "go"})),
    )
    .await;
    d.expect(503, Request::new(M::DELETE, "/v1/topics/go").admin())
        .await;
    for path in ["/bootstrap_db", "/update_cache"] {
        for method in [M::GET, M::POST] {
            d.expect(503, Request::new(method, path).admin()).await;
        }
    }
    d.expect(503, Request::new(M::GET, "/v1/orgs")).await;
    d.expect(
        503,
        Request::new(M::POST, "/v1/orgs")
            .admin()
            .json(json!({"name": "go"})),
    )
    .await;
    d.expect(503, Request::new(M::POST, "/v1/orgs/sync").admin())
        .await;
    d.expect(503, Request::new(M::DELETE, "/v1/orgs/go").admin())
        .await;
    d.expect(503, Request::new(M::GET, "/v1/orgs/go/new-contributors"))
        .await;
    d.expect(
        503,
        Request::new(M::GET, "/v1/orgs/go/new-contributors.svg"),
    )
    .await;
    d.expect(503, Request::new(M::GET, "/v1/rate_limit").admin())
        .await;
    for path in [
        "/v1/developers",
        "/v1/developers/go",
        "/v1/developers/by-id/1",
        "/v1/developers/go/followers",
        "/v1/developers/go/following",
        "/v1/developers/go/starred",
        "/v1/repositories",
        "/v1/repositories/by-id/1",
        "/v1/repositories/go/go",
        "/v1/repositories/go/go/stargazers",
        "/v1/repositories/go/go/star-history",
        "/v1/repositories/go/go/star-history.svg",
        "/v1/tasks",
    ] {
        d.expect(503, Request::new(M::GET, path)).await;
    }
    d.expect(
        503,
        Request::new(M::POST, "/v1/tasks")
            .admin()
            .json(json!({"kind": "discover", "args": {}})),
    )
    .await;
    d.expect(503, Request::new(M::POST, "/v1/discover").admin())
        .await;
    d.expect(
        503,
        Request::new(M::DELETE, "/v1/rate_limit/pauses").admin(),
    )
    .await;
    gists::drive_gists_down(&d).await;
    graph_seed::drive_graph_seed_down(&d).await;
    let csrf = "x-hubpulse-csrf";
    let cookie = format!("hubpulse_session={}", "ab".repeat(32));
    d.expect(
        503,
        Request::new(M::POST, "/v1/auth/device").header(csrf, "1"),
    )
    .await;
    d.expect(
        503,
        Request::new(
            M::GET,
            "/v1/auth/device/00000000-0000-4000-8000-000000000000",
        ),
    )
    .await;
    d.expect(
        503,
        Request::new(M::POST, "/v1/auth/logout")
            .header(csrf, "1")
            .header("cookie", cookie.clone()),
    )
    .await;
    d.expect(
        503,
        Request::new(M::GET, "/v1/auth/session").header("cookie", cookie),
    )
    .await;
    d.expect(
        503,
        Request::new(M::DELETE, "/v1/auth/tokens/hubpulse-walker").admin(),
    )
    .await;
    d.expect(503, Request::new(M::GET, "/v1/overview")).await;
    for format in ["csv", "json"] {
        d.expect(
            503,
            Request::new(M::GET, &format!("/v1/users/hubpulse-walker/repos.{format}")),
        )
        .await;
    }
    d.expect(200, Request::new(M::GET, "/metrics")).await;

    let unreached = d.unreached(|_, _, status| status != 503);
    assert!(
        unreached.is_empty(),
        "documented 503s this drive never got: {unreached:#?}"
    );
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(20), server).await;
}
