//! `/bootstrap_db` and `/update_cache` over HTTP: the admin token, the job
//! ids, and a crawl queued through them that ends in the three views.

use std::time::Duration;

use hubpulse_client::{ApiClient, ClientError, TaskStatus, ViewQuery};
use hubpulse_domain::{Topic, ViewKind};
use hubpulse_testkit::{ADMIN_TOKEN, TestApp, TestSim};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::Value;

const ROUTES: [&str; 2] = ["/bootstrap_db", "/update_cache"];

fn topics(names: &[&str]) -> Vec<Topic> {
    names.iter().map(|n| Topic::parse(n).unwrap()).collect()
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let mut request = app.http().request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let reply = request.send().await.unwrap();
    let status = reply.status();
    (status, reply.json().await.unwrap())
}

#[tokio::test]
async fn maintenance_calls_without_the_admin_token_are_401_json() {
    let app = TestApp::spawn_with(|s| s.workers.count = 0).await;
    for path in ROUTES {
        for method in [Method::GET, Method::POST] {
            for token in [None, Some("wrong-token"), Some("")] {
                let (status, body) = call(&app, method.clone(), path, token).await;
                assert_eq!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} {token:?}"
                );
                assert_eq!(body["error"]["code"], "unauthorized", "{body}");
                assert!(!body.to_string().contains(ADMIN_TOKEN));
            }
        }
    }
    let queued: i64 = app
        .db
        .client()
        .await
        .query_one("SELECT count(*) FROM jobs", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(queued, 0, "a refused call queued nothing");
    app.shutdown().await;
}

#[tokio::test]
async fn both_calls_answer_202_with_one_job_per_topic_and_the_same_ids_while_queued() {
    // No workers: the jobs stay queued, as they would behind a long crawl.
    let app = TestApp::spawn_with(|s| {
        s.workers.count = 0;
        s.topics.tracked = topics(&["kubernetes", "rust"]);
    })
    .await;
    let (status, first) = call(&app, Method::POST, "/bootstrap_db", Some(ADMIN_TOKEN)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    let jobs = first["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 2, "{first}");
    let mut topics_seen: Vec<&str> = jobs.iter().map(|j| j["topic"].as_str().unwrap()).collect();
    topics_seen.sort();
    assert_eq!(topics_seen, ["kubernetes", "rust"]);
    for job in jobs {
        assert_eq!(job["kind"], "crawl_topic");
        assert!(job["id"].as_i64().unwrap() > 0);
        assert_eq!(job["new"], true);
    }
    let ids = |body: &Value| -> Vec<i64> {
        body["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["id"].as_i64().unwrap())
            .collect()
    };
    for (method, path) in [
        (Method::GET, "/update_cache"),
        (Method::POST, "/update_cache"),
        (Method::GET, "/bootstrap_db"),
    ] {
        let (status, again) = call(&app, method.clone(), path, Some(ADMIN_TOKEN)).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{method} {path}: {again}");
        assert_eq!(ids(&again), ids(&first), "{method} {path}");
        assert!(
            again["jobs"]
                .as_array()
                .unwrap()
                .iter()
                .all(|j| j["new"] == false)
        );
    }
    let task = app.api.task(ids(&first)[0]).await.unwrap();
    assert_eq!(task.status, TaskStatus::Queued, "{task:?}");
    assert_eq!(task.kind, "crawl_topic", "{task:?}");
    let metrics = app.api.metrics().await.unwrap().text;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("hubpulse_job_queue_depth{")
                && l.contains(r#"kind="crawl_topic""#)
                && l.contains(r#"status="queued""#)
                && l.ends_with(" 2")),
        "queue depth missing from /metrics:\n{metrics}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn update_cache_crawls_every_tracked_topic_into_its_views() {
    let sim = TestSim::roomy().await;
    let app = TestApp::spawn_with(|s| {
        s.topics.tracked = topics(&["rust", "tiny"]);
        s.github.base_url = sim.url.clone();
        s.github.token = SecretString::from("ghp_maintenanceTestToken0000000000000000");
    })
    .await;
    let queued = app.api.update_cache().await.unwrap();
    for id in queued.ids() {
        let task = app
            .api
            .wait_task(id, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(task.status, TaskStatus::Succeeded, "{task:?}");
    }
    let metrics = app.api.metrics().await.unwrap().text;
    for expected in [
        r#"hubpulse_github_calls_total{endpoint="search/repositories",status="200""#,
        r#"hubpulse_github_rate_limit_remaining{"#,
        r#"hubpulse_job_attempts_total{kind="crawl_topic""#,
        r#"hubpulse_job_duration_seconds_count{kind="crawl_topic""#,
    ] {
        assert!(metrics.contains(expected), "{expected} missing:\n{metrics}");
    }
    let sizes = sim.topic_sizes().await;
    for topic in ["rust", "tiny"] {
        let expected = sizes[topic].min(500) as usize;
        let popular: Value = app
            .get(&format!("/api/popularity/{topic}"))
            .await
            .json()
            .await
            .unwrap();
        let items = popular.as_array().unwrap();
        assert_eq!(items.len(), expected, "{topic}");
        for pair in items.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            let (sa, sb) = (
                a["stargazers_count"].as_i64().unwrap(),
                b["stargazers_count"].as_i64().unwrap(),
            );
            assert!(
                sa > sb || (sa == sb && a["id"].as_i64() < b["id"].as_i64()),
                "{topic}: stars descending, ties by id: {a} then {b}"
            );
        }
    }
    app.shutdown().await;
}

#[tokio::test]
async fn the_typed_client_reports_refusals_with_status_and_code_and_never_the_token() {
    let app = TestApp::spawn_with(|s| s.workers.count = 0).await;
    let wrong = "wrong-token-client-test";
    let refused = ApiClient::builder(app.url(""))
        .admin_token(SecretString::from(wrong.to_owned()))
        .build()
        .unwrap()
        .update_cache()
        .await
        .unwrap_err();
    assert_eq!(
        refused.status(),
        Some(StatusCode::UNAUTHORIZED),
        "{refused}"
    );
    assert_eq!(refused.error_code(), Some("unauthorized"), "{refused}");
    assert!(!refused.is_transient());
    for text in [refused.to_string(), format!("{refused:?}")] {
        assert!(!text.contains(wrong), "the token leaked: {text}");
    }
    let tokenless = ApiClient::new(app.url("")).unwrap();
    assert!(matches!(
        tokenless.bootstrap_db().await,
        Err(ClientError::NoAdminToken { .. })
    ));
    assert!(
        !format!("{:?}", app.api).contains(ADMIN_TOKEN),
        "Debug redacts the token"
    );
    let missing = app
        .api
        .view(ViewKind::Popularity, "never-tracked", &ViewQuery::default())
        .await
        .unwrap_err();
    assert_eq!(missing.status(), Some(StatusCode::NOT_FOUND), "{missing}");
    assert_eq!(missing.error_code(), Some("not_found"), "{missing}");
    assert_eq!(app.api.task_if_any(424242).await.unwrap(), None);
    let ready = app.api.ready().await.unwrap();
    assert!(ready.is_ready(), "{ready:?}");
    assert_eq!(ready.checks.postgres, "ok");
    assert_eq!(app.api.health().await.unwrap().replica, "test");
    app.shutdown().await;
}

/// An idle queue is a series at 0 for every kind and live status, not no
/// series (which an alert cannot tell from a scrape that failed); the
/// process's own resources are there too.
#[tokio::test]
async fn metrics_show_an_idle_queue_as_zeros() {
    let app = TestApp::spawn_with(|s| s.workers.count = 0).await;
    let metrics = app.api.metrics().await.unwrap().text;
    for status in ["queued", "running", "rescheduled"] {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("hubpulse_job_queue_depth{")
                    && l.contains(r#"kind="crawl_topic""#)
                    && l.contains(&format!(r#"status="{status}""#))
                    && l.ends_with(" 0")),
            "no idle {status} depth in /metrics:\n{metrics}"
        );
    }
    for process in [
        "hubpulse_process_resident_memory_bytes",
        "hubpulse_process_cpu_seconds_total",
        "hubpulse_process_open_fds",
    ] {
        let value = metrics
            .lines()
            .find(|l| l.starts_with(process))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {process} in /metrics:\n{metrics}"));
        assert!(value > 0.0 || process.contains("cpu"), "{process} {value}");
    }
    app.shutdown().await;
}

/// Requests that reach Postgres, far more than the request pool holds, while
/// a crawl runs: the workers have connections of their own, so the crawl
/// finishes in its first attempt. Sharing one pool, its calls (and lease
/// renewals) waited behind the flood and timed out.
#[tokio::test]
async fn a_flood_of_requests_does_not_starve_the_workers() {
    let sim = TestSim::roomy().await;
    let app = TestApp::spawn_with(|s| {
        s.topics.tracked = topics(&["rust"]);
        s.github.base_url = sim.url.clone();
        s.github.token = SecretString::from("ghp_maintenanceTestToken0000000000000000");
        s.database.pool_size = 1;
        s.database.acquire_timeout_ms = 20;
    })
    .await;
    // Queued before the flood, watched from the database beside it: the
    // test's own calls must not queue behind the flood either.
    let id = app.api.update_cache().await.unwrap().ids()[0];
    let stop = tokio_util::sync::CancellationToken::new();
    let flood: Vec<_> = (0..64)
        .map(|i| {
            let (http, stop) = (app.http().clone(), stop.clone());
            let url = app.url(if i % 2 == 0 {
                "/v1/topics"
            } else {
                "/v1/tasks/1"
            });
            tokio::spawn(async move {
                let mut statuses = std::collections::BTreeMap::<u16, u32>::new();
                while !stop.is_cancelled() {
                    if let Ok(reply) = http.get(&url).send().await {
                        *statuses.entry(reply.status().as_u16()).or_default() += 1;
                    }
                }
                statuses
            })
        })
        .collect();
    let db = app.db.client().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let (status, attempts, last_error) = loop {
        let row = db
            .query_one(
                "SELECT status::text, attempts, coalesce(last_error, '') FROM jobs WHERE id = $1",
                &[&id],
            )
            .await
            .unwrap();
        let (status, attempts, last_error): (String, i32, String) =
            (row.get(0), row.get(1), row.get(2));
        if status == "succeeded" || status == "failed" || std::time::Instant::now() > deadline {
            break (status, attempts, last_error);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    stop.cancel();
    let mut statuses = std::collections::BTreeMap::<u16, u32>::new();
    for handle in flood {
        for (status, n) in handle.await.unwrap() {
            *statuses.entry(status).or_default() += n;
        }
    }
    assert_eq!(
        (status.as_str(), attempts),
        ("succeeded", 1),
        "{last_error}; requests answered {statuses:?}"
    );
    // The flood did wait for the one request connection: it was a flood.
    assert!(statuses.values().sum::<u32>() > 50, "{statuses:?}");
    app.shutdown().await;
}
