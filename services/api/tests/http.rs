//! The API over real HTTP on a random port, against the harness's private
//! Postgres and Redis.

use std::time::Duration;

use hubpulse_testkit::{TestApp, private_postgres};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE};
use serde_json::Value;

async fn json_error(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{status}: content-type {content_type:?}"
    );
    let body: Value = resp.json().await.expect("error body is JSON");
    assert!(body["error"]["code"].is_string(), "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    (status, body)
}

#[tokio::test]
async fn health_answers_with_replica_and_request_id() {
    let app = TestApp::spawn().await;
    let resp = app.get("/health").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["x-hubpulse-replica"], "test");
    let generated = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(
        generated.len(),
        36,
        "a UUID is made when the client sends none: {generated}"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "ok");

    let resp = app
        .http()
        .get(app.url("/health"))
        .header("x-request-id", "from-nginx-123")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "from-nginx-123");
}

#[tokio::test]
async fn ready_checks_postgres_redis_and_migrations() {
    let app = TestApp::spawn().await;
    let resp = app.get("/ready").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["checks"]["postgres"], "ok");
    assert_eq!(body["checks"]["migrations"], "ok");
    assert_eq!(body["checks"]["redis"], "ok");
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_get_json_errors() {
    let app = TestApp::spawn().await;
    let (status, body) = json_error(app.get("/no/such/route").await).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");

    let resp = app.http().delete(app.url("/health")).send().await.unwrap();
    let allow = resp.headers().get("allow").cloned();
    let (status, body) = json_error(resp).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"]["code"], "method_not_allowed");
    assert!(allow.is_some_and(|a| a.to_str().unwrap().contains("GET")));

    // Odd paths are answered, never a 500.
    for path in [
        "/%00",
        "/..%2F..%2Fetc%2Fpasswd",
        "/%F0%9F%A6%80",
        &format!("/{}", "a".repeat(5000)),
    ] {
        let (status, _) = json_error(app.get(path).await).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn oversized_bodies_get_413_json() {
    let app = TestApp::spawn().await;
    let resp = app
        .http()
        .post(app.url("/health"))
        .body(vec![b'x'; 200_000])
        .send()
        .await
        .unwrap();
    let (status, body) = json_error(resp).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["code"], "payload_too_large");
}

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_status() {
    let app = TestApp::spawn().await;
    for _ in 0..3 {
        app.get("/health").await;
    }
    app.get("/nope").await;
    let text = app.get("/metrics").await.text().await.unwrap();
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("hubpulse_http_requests_total")
                && l.contains("route=\"/health\"")
                && l.contains("status=\"200\"")
        })
        .unwrap_or_else(|| panic!("no /health counter in:\n{text}"));
    let count: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 3.0, "{line}");
    assert!(
        text.contains("route=\"unmatched\""),
        "404s are counted without their raw path"
    );
    assert!(text.contains("hubpulse_http_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn responses_are_compressed_when_asked() {
    let app = TestApp::spawn().await;
    for _ in 0..5 {
        app.get("/health").await;
    }
    for encoding in ["gzip", "br"] {
        let resp = app
            .http()
            .get(app.url("/metrics"))
            .header(ACCEPT_ENCODING, encoding)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[CONTENT_ENCODING], encoding);
    }
}

#[tokio::test]
async fn ready_follows_postgres_down_and_back_without_restart() {
    let mut pg = private_postgres().await;
    let url = pg.database_url();
    let app = TestApp::spawn_with(|s| {
        s.database.url = secrecy::SecretString::from(url);
    })
    .await;
    assert_eq!(app.get("/ready").await.status(), StatusCode::OK);

    pg.stop().await;
    let resp = app.get("/ready").await;
    let (status, body) = json_error(resp).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("postgres"),
        "{body}"
    );
    assert_eq!(body["checks"]["redis"], "ok");
    // Which member is down, never the driver's own words about it.
    let text = body.to_string().to_lowercase();
    for raw in [
        "os error",
        "refused",
        "error connecting",
        "timed out waiting",
    ] {
        assert!(!text.contains(raw), "raw database text in /ready: {body}");
    }
    assert_eq!(app.get("/health").await.status(), StatusCode::OK);

    pg.start().await;
    app.wait_ready(Duration::from_secs(20)).await;
}
