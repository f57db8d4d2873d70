//! `GET /v1/rate_limit` and `DELETE /v1/rate_limit/pauses`: a pause set by
//! one replica is visible, and an admin lifts it for every replica.

use chrono::{TimeDelta, Utc};
use hubpulse_cache::RedisBudget;
use hubpulse_domain::rate::{BudgetPolicy, Grant, RateBudget, Resource};
use hubpulse_testkit::{ADMIN_TOKEN, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

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
    (reply.status(), reply.json().await.unwrap())
}

/// Another replica's budget on the app's Redis and key prefix.
async fn budget(app: &TestApp) -> RedisBudget {
    let cache = app.redis.cache().await;
    RedisBudget::new(cache, BudgetPolicy::default()).unwrap()
}

#[tokio::test]
async fn a_pause_is_visible_and_an_admin_lifts_it_for_every_replica() {
    let app = TestApp::spawn_with(|s| s.workers.count = 0).await;
    for (method, path) in [
        (Method::GET, "/v1/rate_limit"),
        (Method::DELETE, "/v1/rate_limit/pauses"),
    ] {
        let (status, body) = call(&app, method, path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
    }
    let (status, body) = call(&app, Method::GET, "/v1/rate_limit", Some(ADMIN_TOKEN)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "pauses": [] })));

    let budget = budget(&app).await;
    let until = Utc::now() + TimeDelta::minutes(30);
    budget
        .pause("3f2a9c0d81be", Resource::Search, until)
        .await
        .unwrap();
    assert!(matches!(
        budget
            .acquire("3f2a9c0d81be", Resource::Search)
            .await
            .unwrap(),
        Grant::Denied { .. }
    ));
    let (status, body) = call(&app, Method::GET, "/v1/rate_limit", Some(ADMIN_TOKEN)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let pauses = body["pauses"].as_array().unwrap();
    assert_eq!(pauses.len(), 1, "{body}");
    assert_eq!(pauses[0]["credential"], "3f2a9c0d81be");
    assert_eq!(pauses[0]["resource"], "search");

    let (status, body) = call(
        &app,
        Method::DELETE,
        "/v1/rate_limit/pauses",
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "cleared": 1 })));
    let (_, body) = call(&app, Method::GET, "/v1/rate_limit", Some(ADMIN_TOKEN)).await;
    assert_eq!(body, json!({ "pauses": [] }));
    assert!(matches!(
        budget
            .acquire("3f2a9c0d81be", Resource::Search)
            .await
            .unwrap(),
        Grant::Granted { .. }
    ));
    app.shutdown().await;
}
