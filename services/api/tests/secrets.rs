//! No secret in any log line or any reply. The `hubpulse-api` binary runs as
//! in production (JSON logs, on stderr) with three known secrets: a GitHub
//! token, the admin token, and the password of a database role that really
//! needs it (scram-sha-256 on a Postgres of the test's own; in the database
//! URL and again in the read replica's). The test then
//! drives every documented route with the right, a wrong and no token, with
//! bad input, through a crawl against a simulator that fails, limits and
//! garbles its replies, and through a Postgres outage; then it searches every
//! log line and every reply (status line, headers, body) for each secret as
//! written, base64-encoded, percent-encoded, and for any 12-character piece
//! of it.
//!
//! It also holds the admin check to its constant-time comparison.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hubpulse_sim::{FaultKind, Faults};
use hubpulse_testkit::{TestRedis, TestSim, eventually, free_port, private_postgres};
use reqwest::Method;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_hubpulse-api");

const GITHUB_TOKEN: &str = "ghp_L0gTestGithubT0ken9f8e7d6c5b4a3c2b1a0";
const ADMIN_TOKEN: &str = "adm-L0gTestAdminT0ken-4c0ffee7b2e9d1";
/// Characters a URL must percent-encode, so both forms are looked for.
const DB_PASSWORD: &str = "pg/L0gTest+Pass=w0rd@7e1d";
const DB_ROLE: &str = "hubpulse_app";
/// The Pipedrive API token (the simulator's stand-in checks it).
const PIPEDRIVE_TOKEN: &str = "pd-L0gTestPipedriveT0ken-5e6f7a8b9c0d";
/// The key sealing user tokens at rest, and the OAuth app's secret.
const ENCRYPTION_KEY: &str = "9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9";
const CLIENT_SECRET: &str = "oauth-L0gTestClientSecret-71be";

/// RFC 4648 base64, with or without padding, standard or URL-safe alphabet.
fn base64(bytes: &[u8], url_safe: bool, pad: bool) -> String {
    let alphabet: &[u8; 64] = if url_safe {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.len();
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= n {
                out.push(alphabet[((v >> (18 - 6 * i)) & 63) as usize] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// Every byte but RFC 3986's unreserved ones as `%XX`, upper and lower case.
fn percent_encoded(s: &str) -> [String; 2] {
    let upper: String = s
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let lower = upper
        .split('%')
        .enumerate()
        .map(|(i, part)| {
            if i == 0 {
                part.to_owned()
            } else {
                let (hex, rest) = part.split_at(2);
                format!("%{}{rest}", hex.to_lowercase())
            }
        })
        .collect::<Vec<_>>()
        .join("");
    [upper, lower]
}

/// What must not appear: each form of each secret, named for the message.
fn forbidden() -> Vec<(String, String)> {
    forbidden_with(&[])
}

/// [`forbidden`] and secrets met while the test ran (a user's token, a
/// session id).
fn forbidden_with(more: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, secret) in [
        ("github token", GITHUB_TOKEN),
        ("admin token", ADMIN_TOKEN),
        ("database password", DB_PASSWORD),
        ("pipedrive token", PIPEDRIVE_TOKEN),
        ("encryption key", ENCRYPTION_KEY),
        ("oauth client secret", CLIENT_SECRET),
    ]
    .into_iter()
    .chain(more.iter().copied())
    {
        out.push((format!("{name} as written"), secret.to_owned()));
        // Base64 starts anywhere in a longer encoded string (`user:pass`), so
        // look for the encodings of the secret at each of the three offsets.
        for shift in 0..3 {
            let prefixed: Vec<u8> = std::iter::repeat_n(b'x', shift)
                .chain(secret.bytes())
                .collect();
            for url_safe in [false, true] {
                let encoded = base64(&prefixed, url_safe, false);
                // Drop the characters that depend on the prefix or the end.
                let skip = if shift == 0 { 0 } else { shift + 1 };
                let core = &encoded[skip..encoded.len() - 2];
                out.push((format!("{name} in base64"), core.to_owned()));
            }
        }
        for encoded in percent_encoded(secret) {
            out.push((format!("{name} percent-encoded"), encoded));
        }
        // A token cut short in a log line is still a leak.
        let chars: Vec<char> = secret.chars().collect();
        for piece in chars.windows(12) {
            out.push((format!("a piece of the {name}"), piece.iter().collect()));
        }
    }
    out
}

fn psql(url: &str, password: Option<&str>, sql: &str) -> Result<String, String> {
    let mut cmd = Command::new("psql");
    cmd.args([url, "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .stdin(Stdio::null())
        .env_remove("PGPASSWORD");
    if let Some(password) = password {
        cmd.env("PGPASSWORD", password);
    }
    let out = cmd.output().map_err(|e| format!("psql: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The role the API logs in as, with a password Postgres checks: host
/// logins for it need scram-sha-256, ahead of the harness's trust rule.
fn add_password_role(admin_url: &str, port: u16) {
    psql(
        admin_url,
        None,
        &format!(
            "CREATE ROLE {DB_ROLE} LOGIN PASSWORD '{DB_PASSWORD}'; \
             ALTER DATABASE hubpulse OWNER TO {DB_ROLE};"
        ),
    )
    .expect("create the role");
    let hba = psql(admin_url, None, "SHOW hba_file").expect("find pg_hba.conf");
    let rules = std::fs::read_to_string(&hba).expect("read pg_hba.conf");
    std::fs::write(
        &hba,
        format!("host all {DB_ROLE} 127.0.0.1/32 scram-sha-256\n{rules}"),
    )
    .expect("write pg_hba.conf");
    psql(admin_url, None, "SELECT pg_reload_conf()").expect("reload pg_hba.conf");
    let role_url = format!("postgresql://{DB_ROLE}@127.0.0.1:{port}/hubpulse");
    let refused = psql(&role_url, Some("not-the-password"), "SELECT 1")
        .expect_err("a wrong password is refused");
    assert!(
        refused.contains("password authentication failed"),
        "{refused}"
    );
    assert_eq!(
        psql(&role_url, Some(DB_PASSWORD), "SELECT 1").as_deref(),
        Ok("1")
    );
}

/// The binary, killed if the test ends before it stopped it (a failed
/// assertion must not leave a server running).
struct KillOnDrop(Option<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// stderr read on a thread of its own as it comes, so a chatty log never
/// fills the pipe and stalls the server.
fn collect_lines(child: &mut Child) -> (Arc<Mutex<Vec<String>>>, std::thread::JoinHandle<()>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let stderr = child.stderr.take().unwrap();
    let sink = lines.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    (lines, reader)
}

struct Driver {
    base: String,
    http: reqwest::Client,
    /// Every reply, as text: status, headers, body.
    replies: Vec<String>,
}

impl Driver {
    async fn send(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, &str)>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some((content_type, body)) = body {
            request = request
                .header("content-type", content_type)
                .body(body.to_owned());
        }
        let resp = match request.send().await {
            Ok(resp) => resp,
            Err(err) => {
                self.replies.push(format!("{method} {path}: {err}"));
                return (0, Value::String(err.to_string()));
            }
        };
        let status = resp.status().as_u16();
        let mut text = format!("{method} {path} -> {status}\n");
        for (name, value) in resp.headers() {
            text.push_str(&format!(
                "{name}: {}\n",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
        let body = resp.bytes().await.unwrap_or_default();
        text.push_str(&String::from_utf8_lossy(&body));
        self.replies.push(text);
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    async fn get(&mut self, path: &str) -> (u16, Value) {
        self.send(Method::GET, path, None, None).await
    }

    async fn wait_ready(&mut self, within: Duration) {
        let started = Instant::now();
        loop {
            if self.get("/ready").await.0 == 200 {
                return;
            }
            assert!(started.elapsed() < within, "not ready within {within:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// `(method, path template, secured, takes a body)` for each documented operation.
fn operations(doc: &Value) -> Vec<(Method, String, bool, bool)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Ok(method) = Method::from_bytes(method.to_uppercase().as_bytes()) else {
                continue;
            };
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            out.push((
                method,
                path.clone(),
                secured,
                op.get("requestBody").is_some(),
            ));
        }
    }
    out
}

fn fill(template: &str, topic: &str, job: i64) -> String {
    template
        .replace("{topic}", topic)
        .replace("{name}", topic)
        .replace("{login}", topic)
        .replace("{username}", topic)
        .replace("{id}", &job.to_string())
}

/// Queues crawls through `path` and waits until they end, or 20 s
/// (finishing under faults is the fault suite's business, not this test's).
async fn crawl(d: &mut Driver, path: &str) -> Vec<i64> {
    let (status, queued) = d.send(Method::POST, path, Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, 202, "{path}: {queued}");
    let jobs: Vec<i64> = queued["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_i64().unwrap())
        .collect();
    assert_eq!(jobs.len(), 2, "{queued}");
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        let mut ended = 0;
        for id in &jobs {
            let (_, job) = d.get(&format!("/v1/tasks/{id}")).await;
            if matches!(job["status"].as_str(), Some("succeeded" | "failed")) {
                ended += 1;
            }
        }
        if ended == jobs.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    jobs
}

/// Signs `hubpulse-walker` in as the page does, reads the export with the
/// session, and deletes the token. The session id belongs in exactly one
/// place, the `Set-Cookie` that hands it over: that header is left out of
/// the replies searched, everything else is kept. Returns the session id and
/// the user's token, for the search.
async fn sign_in(d: &mut Driver, sim: &TestSim) -> (String, String) {
    async fn call(
        d: &mut Driver,
        method: Method,
        path: &str,
        cookie: &str,
    ) -> (reqwest::header::HeaderMap, Value) {
        let resp = d
            .http
            .request(method.clone(), format!("{}{path}", d.base))
            .header("x-hubpulse-csrf", "1")
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let mut text = format!("{method} {path} -> {status}\n");
        for (name, value) in &headers {
            if name != "set-cookie" {
                text.push_str(&format!(
                    "{name}: {}\n",
                    String::from_utf8_lossy(value.as_bytes())
                ));
            }
        }
        let body = resp.bytes().await.unwrap_or_default();
        text.push_str(&String::from_utf8_lossy(&body));
        d.replies.push(text);
        (
            headers,
            serde_json::from_slice(&body).unwrap_or(Value::Null),
        )
    }
    fn cookie(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
        headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.split(';').next())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    }
    let (headers, flow) = call(d, Method::POST, "/v1/auth/device", "").await;
    let flow_cookie = format!(
        "hubpulse_flow={}",
        cookie(&headers, "hubpulse_flow").unwrap()
    );
    let user_code = flow["user_code"].as_str().unwrap().to_owned();
    sim.admin
        .approve_device(&user_code, "hubpulse-walker")
        .await
        .unwrap();
    let path = format!("/v1/auth/device/{}", flow["flow_id"].as_str().unwrap());
    let started = Instant::now();
    let session = loop {
        let (headers, flow) = call(d, Method::GET, &path, &flow_cookie).await;
        if let Some(session) = cookie(&headers, "hubpulse_session") {
            break session;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "not signed in: {flow}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let session_cookie = format!("hubpulse_session={session}");
    call(d, Method::GET, "/v1/auth/session", &session_cookie).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    call(
        d,
        Method::GET,
        "/v1/users/hubpulse-walker/repos.json",
        &session_cookie,
    )
    .await;
    call(
        d,
        Method::GET,
        "/v1/users/hubpulse-walker/repos.csv",
        &session_cookie,
    )
    .await;
    let tokens = sim.admin.user_tokens("hubpulse-walker").await.unwrap();
    let user_token = tokens
        .tokens
        .first()
        .cloned()
        .expect("the simulator issued a token");
    let (_, deleted) = call(
        d,
        Method::DELETE,
        "/v1/auth/tokens/hubpulse-walker",
        &session_cookie,
    )
    .await;
    assert_eq!(deleted["revoked_at_github"], true, "{deleted}");
    (session, user_token)
}

/// The kinds of fault the simulator has injected so far.
async fn injected_kinds(sim: &TestSim) -> Vec<FaultKind> {
    sim.stats().await.injected.into_keys().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_log_line_or_a_reply() {
    let mut pg = private_postgres().await;
    let admin_url = pg.database_url();
    let port: u16 = admin_url
        .rsplit(':')
        .next()
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .expect("a port in the database URL");
    tokio::task::spawn_blocking({
        let admin_url = admin_url.clone();
        move || add_password_role(&admin_url, port)
    })
    .await
    .unwrap();
    let db_url = format!(
        "postgres://{DB_ROLE}:{}@127.0.0.1:{port}/hubpulse",
        percent_encoded(DB_PASSWORD)[0]
    );
    let redis = TestRedis::new().await;
    let sim = TestSim::spawn_with(|s| {
        s.limits.search_authenticated = 100_000;
        s.pipedrive.api_token = PIPEDRIVE_TOKEN.into();
        s.oauth.interval_secs = 1;
    })
    .await;

    // Start-up refusals name the key, never the value.
    let out = Command::new(BIN)
        .env(
            "HUBPULSE__DATABASE__URL",
            format!("postgres://{DB_ROLE}:{DB_PASSWORD}@db:notaport/hubpulse"),
        )
        .env("HUBPULSE__GITHUB__TOKEN", GITHUB_TOKEN)
        .env("HUBPULSE__ADMIN__TOKEN", ADMIN_TOKEN)
        .env("HUBPULSE__PIPEDRIVE__API_TOKEN", PIPEDRIVE_TOKEN)
        .env("HUBPULSE__LOG__FORMAT", "json")
        .output()
        .unwrap();
    assert!(!out.status.success(), "a bad database URL stops start-up");
    let refusal = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The read replica's URL is a secret as well.
    let out = Command::new(BIN)
        .env("HUBPULSE__DATABASE__URL", &db_url)
        .env(
            "HUBPULSE__DATABASE__READ_URL",
            format!("postgres://{DB_ROLE}:{DB_PASSWORD}@replica:notaport/hubpulse"),
        )
        .env("HUBPULSE__ADMIN__TOKEN", ADMIN_TOKEN)
        .env("HUBPULSE__LOG__FORMAT", "json")
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a bad read replica URL stops start-up"
    );
    let refusal = format!(
        "{refusal}{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let api_port = free_port();
    let mut child = Command::new(BIN)
        .env("HUBPULSE__SERVER__PORT", api_port.to_string())
        .env("HUBPULSE__SERVER__REPLICA", "secrets")
        .env("HUBPULSE__LOG__FORMAT", "json")
        // More than production logs: whatever a library says at debug is searched too.
        .env("HUBPULSE__LOG__LEVEL", "debug")
        .env("HUBPULSE__DATABASE__URL", &db_url)
        // The same server as a "replica": the list reads log in with the
        // password through a pool of their own.
        .env("HUBPULSE__DATABASE__READ_URL", &db_url)
        .env("HUBPULSE__REDIS__URL", redis.url())
        .env("HUBPULSE__REDIS__KEY_PREFIX", redis.key_prefix())
        .env("HUBPULSE__ADMIN__TOKEN", ADMIN_TOKEN)
        .env("HUBPULSE__GITHUB__TOKEN", GITHUB_TOKEN)
        .env("HUBPULSE__GITHUB__BASE_URL", &sim.url)
        .env("HUBPULSE__PIPEDRIVE__API_TOKEN", PIPEDRIVE_TOKEN)
        .env(
            "HUBPULSE__PIPEDRIVE__BASE_URL",
            format!("{}/api/v2", sim.url),
        )
        .env("HUBPULSE__GISTS__RETRY_BASE_MS", "50")
        .env("HUBPULSE__GISTS__RETRY_CAP_SECS", "1")
        .env("HUBPULSE__GITHUB__OAUTH_BASE_URL", &sim.url)
        .env("HUBPULSE__AUTH__CLIENT_ID", "hubpulse-secrets-test")
        .env("HUBPULSE__AUTH__CLIENT_SECRET", CLIENT_SECRET)
        .env("HUBPULSE__AUTH__ENCRYPTION_KEY", ENCRYPTION_KEY)
        .env("HUBPULSE__GITHUB__RETRY_BASE_MS", "10")
        .env("HUBPULSE__GITHUB__RETRY_MAX_MS", "100")
        .env("HUBPULSE__GITHUB__MAX_RETRIES", "6")
        .env("HUBPULSE__TOPICS__TRACKED", "tiny,rust")
        .env("HUBPULSE__WORKERS__POLL_INTERVAL_MS", "50")
        .env("HUBPULSE__WORKERS__BACKOFF_BASE_MS", "100")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, reader) = collect_lines(&mut child);
    let stdout = child.stdout.take().unwrap();
    let pid = child.id();
    let mut guard = KillOnDrop(Some(child));
    let stdout_reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });

    let mut d = Driver {
        base: format!("http://127.0.0.1:{api_port}"),
        // A connection per request: the 413 below closes its connection
        // with the body unread, and a pooled reuse of it would fail.
        http: reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap(),
        replies: vec![refusal],
    };
    d.wait_ready(Duration::from_secs(30)).await;
    let (_, doc) = d.get("/openapi.json").await;
    let ops = operations(&doc);
    assert!(ops.len() >= 10, "{ops:?}");
    let near_miss = format!("{}X", &ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1]);

    // Every route with the right, a nearly right, and no token; the
    // destructive ones on a topic nobody tracks.
    for (method, template, secured, has_body) in &ops {
        let path = fill(template, "never-tracked", 1);
        let body = has_body.then_some(("application/json", r#"{"name":"never-tracked"}"#));
        for token in [Some(ADMIN_TOKEN), Some(near_miss.as_str()), None] {
            let (status, _) = d.send(method.clone(), &path, token, body).await;
            assert!(status < 500, "{method} {path}: {status}");
            if *secured && token != Some(ADMIN_TOKEN) {
                assert_eq!(status, 401, "{method} {path}");
            }
        }
    }
    // Bad input, with the token along.
    for path in [
        "/api/%00",
        "/api/..",
        "/api/tiny?limit=abc",
        "/v1/tasks/-1",
        "/v1/tasks/abc",
        "/nowhere",
    ] {
        d.send(Method::GET, path, Some(ADMIN_TOKEN), None).await;
    }
    for body in ["{", r#"{"name":5}"#, r#"{"name":"Bad Topic"}"#] {
        d.send(
            Method::POST,
            "/v1/topics",
            Some(ADMIN_TOKEN),
            Some(("application/json", body)),
        )
        .await;
    }
    d.send(
        Method::POST,
        "/v1/topics",
        Some(ADMIN_TOKEN),
        Some(("text/plain", "x")),
    )
    .await;
    d.send(
        Method::POST,
        "/v1/topics",
        Some(ADMIN_TOKEN),
        Some(("application/json", &"x".repeat(200_000))),
    )
    .await;

    // A person signs in, exports, and deletes their token (revoked at
    // GitHub with the client secret).
    let (session, user_token) = sign_in(&mut d, &sim).await;

    // Crawls through every kind of GitHub failure the simulator has, round
    // after round (refreshes revalidate every page) until each was met.
    sim.set_faults(Faults {
        error_rate: 0.2,
        drop_rate: 0.2,
        malformed_rate: 0.2,
        truncated_rate: 0.2,
        rate_limit_429: 1,
        secondary_limit: 1,
        retry_after_secs: 1,
        ..Faults::default()
    })
    .await;
    let mut jobs = Vec::new();
    let mut kinds = Vec::new();
    for round in 0..6 {
        let path = if round == 0 {
            "/bootstrap_db"
        } else {
            "/update_cache"
        };
        jobs = crawl(&mut d, path).await;
        kinds = injected_kinds(&sim).await;
        if kinds.len() >= 6 {
            break;
        }
    }
    assert!(kinds.len() >= 6, "faults met: {kinds:?}");
    // A primary rate limit last: it holds the refresh until GitHub's window
    // resets, so the test only waits for it to be met.
    sim.set_faults(Faults {
        rate_limit_403: 1,
        ..Faults::default()
    })
    .await;
    let (status, _) = d
        .send(Method::POST, "/update_cache", Some(ADMIN_TOKEN), None)
        .await;
    assert_eq!(status, 202);
    eventually("the 403 met", Duration::from_secs(20), || async {
        let kinds = injected_kinds(&sim).await;
        if kinds.contains(&FaultKind::RateLimit403) {
            Ok(())
        } else {
            Err(format!("{kinds:?}"))
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    sim.set_faults(Faults::default()).await;
    assert!(
        sim.search_quota_used().await > 0,
        "the crawls spent the token's search quota"
    );
    for (method, template, _, _) in &ops {
        if *method == Method::GET {
            d.send(
                method.clone(),
                &fill(template, "tiny", jobs[0]),
                Some(ADMIN_TOKEN),
                None,
            )
            .await;
        }
    }

    // Gist files to Pipedrive through dropped replies, 429s and 5xx: the
    // token goes out in every request and must come back in no log or reply.
    sim.admin.add_gists("hubpulse-walker", 5, 2).await.unwrap();
    sim.admin
        .set_pipedrive_faults(&hubpulse_sim::PipedriveFaults {
            drop_after_accept_rate: 0.3,
            error_rate: 0.2,
            rate_limit_429: 2,
            reset_secs: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    let (status, _) = d
        .send(
            Method::POST,
            "/v1/tracked-users",
            Some(ADMIN_TOKEN),
            Some(("application/json", r#"{"login":"hubpulse-walker"}"#)),
        )
        .await;
    assert_eq!(status, 201);
    eventually("gist files posted", Duration::from_secs(60), || async {
        let pd = sim.admin.pipedrive().await.map_err(|e| e.to_string())?;
        if pd.activities >= 10 {
            Ok(())
        } else {
            Err(format!("{pd:?}"))
        }
    })
    .await;
    d.get("/v1/tracked-users/hubpulse-walker/outbox").await;
    d.get("/metrics").await;

    // Postgres down: readiness, reads, admin calls and a crawl request.
    pg.stop().await;
    for (method, template, _, has_body) in &ops {
        let body = has_body.then_some(("application/json", r#"{"name":"tiny"}"#));
        let path = fill(template, "tiny", jobs[0]);
        if *method == Method::DELETE {
            continue;
        }
        let (status, _) = d.send(method.clone(), &path, Some(ADMIN_TOKEN), body).await;
        assert!(status != 500, "{method} {path} with Postgres down: 500");
    }
    assert_eq!(d.get("/ready").await.0, 503);
    pg.start().await;
    d.wait_ready(Duration::from_secs(30)).await;

    // SIGTERM: the binary drains and exits; every line is in.
    Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .unwrap();
    let mut child = guard.0.take().unwrap();
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    reader.join().unwrap();
    let stdout_lines = stdout_reader.join().unwrap();
    assert!(exit.success(), "exit after SIGTERM: {exit}");
    let mut lines = std::mem::take(&mut *lines.lock().unwrap());
    lines.extend(stdout_lines);

    // The lines are production's JSON, and the failures above are in them.
    assert!(lines.len() > 100, "only {} log lines", lines.len());
    for line in &lines {
        let parsed: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(parsed["level"].is_string(), "{line}");
    }
    let logged = |needle: &str| lines.iter().filter(|l| l.contains(needle)).count();
    assert!(
        logged("\"level\":\"WARN\"") + logged("\"level\":\"ERROR\"") > 5,
        "the faults left no warning in the log"
    );
    assert!(
        logged("hubpulse_github") > 0,
        "the GitHub client logged nothing"
    );

    let mut leaks = Vec::new();
    for (what, needle) in forbidden_with(&[("session id", &session), ("user token", &user_token)]) {
        for line in lines.iter().chain(d.replies.iter()) {
            if line.contains(&needle) {
                leaks.push(format!(
                    "{what} ({needle:?}) in: {}",
                    &line[..line.len().min(400)]
                ));
            }
        }
    }
    leaks.dedup();
    assert!(
        leaks.is_empty(),
        "{} leaks in {} log lines and {} replies:\n{}",
        leaks.len(),
        lines.len(),
        d.replies.len(),
        leaks.join("\n")
    );
}

#[test]
fn the_search_finds_each_form_it_looks_for() {
    // The test above passes by finding nothing: make sure it can find.
    let forms = forbidden();
    let found = |text: &str| forms.iter().any(|(_, needle)| text.contains(needle));
    assert!(found(&format!("token={GITHUB_TOKEN}")));
    assert!(found(&format!(
        "Basic {}",
        base64(format!("user:{DB_PASSWORD}").as_bytes(), false, true)
    )));
    assert!(found(&base64(
        format!("ab{ADMIN_TOKEN}").as_bytes(),
        true,
        false
    )));
    assert!(found(&format!(
        "postgres://u:{}@h/db",
        percent_encoded(DB_PASSWORD)[1]
    )));
    assert!(found(&format!("token {}...", &GITHUB_TOKEN[..14])));
    assert!(!found(
        "an ordinary log line about ghp_ tokens and passwords"
    ));
}

#[test]
fn admin_tokens_are_compared_in_constant_time() {
    // The comparison itself is unit-tested in auth.rs; this holds the code
    // to its method, so a refactor back to `==` fails here.
    let source = include_str!("../src/auth.rs");
    let code: String = source
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        code.contains("use subtle::ConstantTimeEq"),
        "auth.rs no longer uses subtle"
    );
    assert!(code.contains(".ct_eq("), "auth.rs no longer calls ct_eq");
    for naive in [
        "== expected",
        "expected ==",
        "presented ==",
        "== presented",
        ".eq(expected",
    ] {
        assert!(
            !code.contains(naive),
            "auth.rs compares tokens with {naive:?}"
        );
    }
}
