//! `GET /v1/rate_limit` and `DELETE /v1/rate_limit/pauses`: every bucket of
//! the shared budget as GitHub's `x-ratelimit-*` headers left it, with the
//! reserve the policy keeps; a pause set by one replica is visible in its
//! bucket, and an admin lifts it for every replica; the forecast of when the
//! live jobs finish at the pace jobs finished lately.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use hubpulse_cache::RedisBudget;
use hubpulse_domain::rate::{BudgetPolicy, Grant, RateBudget, Resource};
use hubpulse_jobs::enqueue_at;
use hubpulse_jobs::kinds::SyncDeveloper;
use hubpulse_testkit::{ADMIN_TOKEN, TestApp, TestSim};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
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

/// The forecast of an idle queue.
fn idle_forecast() -> Value {
    json!({
        "queued_jobs": 0,
        "running_jobs": 0,
        "finished_jobs": 0,
        "window_secs": 900,
        "jobs_per_minute": 0.0,
        "blocked_until": null,
        "estimated_finish": null,
        "reason": "nothing is queued or running",
    })
}

/// What the API prints for an instant Redis kept to the millisecond.
fn millis(at: DateTime<Utc>) -> Value {
    serde_json::to_value(DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap()).unwrap()
}

#[tokio::test]
async fn a_pause_is_visible_in_its_bucket_and_an_admin_lifts_it_for_every_replica() {
    let app = TestApp::spawn_with(|s| s.workers.count = 0).await;
    for (method, path) in [
        (Method::GET, "/v1/rate_limit"),
        (Method::DELETE, "/v1/rate_limit/pauses"),
    ] {
        let (status, body) = call(&app, method, path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
    }
    let idle = json!({ "buckets": [], "pauses": [], "forecast": idle_forecast() });
    let (status, body) = call(&app, Method::GET, "/v1/rate_limit", Some(ADMIN_TOKEN)).await;
    assert_eq!((status, body), (StatusCode::OK, idle.clone()));

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
    // A bucket no reply has filled yet: no limit, no reset, only the pause.
    // Not the service token's core bucket, so the jobs are not blocked.
    let (status, body) = call(&app, Method::GET, "/v1/rate_limit", Some(ADMIN_TOKEN)).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::OK,
            json!({
                "buckets": [{
                    "credential": "3f2a9c0d81be",
                    "resource": "search",
                    "limit": 0,
                    "remaining": 0,
                    "reset": null,
                    "reserve": 0,
                    "paused_until": millis(until),
                }],
                "pauses": [{
                    "credential": "3f2a9c0d81be",
                    "resource": "search",
                    "until": millis(until),
                }],
                "forecast": idle_forecast(),
            })
        )
    );

    let (status, body) = call(
        &app,
        Method::DELETE,
        "/v1/rate_limit/pauses",
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!((status, body), (StatusCode::OK, json!({ "cleared": 1 })));
    let (_, body) = call(&app, Method::GET, "/v1/rate_limit", Some(ADMIN_TOKEN)).await;
    assert_eq!(body, idle);
    assert!(matches!(
        budget
            .acquire("3f2a9c0d81be", Resource::Search)
            .await
            .unwrap(),
        Grant::Granted { .. }
    ));
    app.shutdown().await;
}

/// A simulator whose windows outlast the test, so what it spent is what
/// its headers say is gone.
async fn sim() -> TestSim {
    TestSim::spawn_with(|s| {
        s.limits.core_authenticated = 4_000;
        s.limits.core_window_secs = 3_600;
        s.limits.search_authenticated = 500;
        s.limits.search_window_secs = 3_600;
    })
    .await
}

async fn app_on(sim: &TestSim) -> TestApp {
    let url = sim.url.clone();
    TestApp::spawn_with(move |s| {
        s.github.base_url = url;
        s.github.token = SecretString::from("ghp_rateLimitViewToken00000000000000000");
        s.github.reserve_ratio = 0.2;
        s.topics.tracked = vec![hubpulse_domain::Topic::parse("tiny").unwrap()];
        s.workers.count = 2;
    })
    .await
}

#[tokio::test]
async fn buckets_show_what_github_said_per_resource_with_the_policy_s_reserve() {
    let sim = sim().await;
    let app = app_on(&sim).await;
    let within = Duration::from_secs(60);
    // Core calls (a developer's profile and lists), search calls (a crawl).
    let sync = app
        .api
        .create_task("sync_developer", json!({"login": "hubpulse-walker"}))
        .await
        .unwrap();
    let done = app.api.wait_task(sync.id, within).await.unwrap();
    assert_eq!(done.result("developer_state"), "synced", "{done:?}");
    for job in app.api.update_cache().await.unwrap().jobs {
        let task = app.api.wait_task(job.id, within).await.unwrap();
        assert!(task.status.is_finished(), "{task:?}");
    }
    let used = sim.stats().await;
    let view = app.api.rate_limit().await.unwrap();
    let credentials: std::collections::BTreeSet<&str> =
        view.buckets.iter().map(|b| b.credential.as_str()).collect();
    assert_eq!(credentials.len(), 1, "one token spent: {view:?}");
    let credential = *credentials.first().unwrap();
    assert!(
        !credential.starts_with("ghp_"),
        "a token id, never the token"
    );
    let now = Utc::now();
    let policy = BudgetPolicy {
        reserve_ratio: 0.2,
        ..BudgetPolicy::default()
    };
    for (resource, limit) in [("core", 4_000), ("search", 500)] {
        let bucket = view
            .buckets
            .iter()
            .find(|b| b.resource == resource)
            .unwrap_or_else(|| panic!("no {resource} bucket: {view:?}"));
        let spent = used.quota_used_on(resource);
        assert!(spent > 0, "{resource}: the test made calls");
        assert_eq!(bucket.limit, limit, "{bucket:?}");
        assert_eq!(bucket.remaining, limit - spent, "{bucket:?}, sim {used:?}");
        assert_eq!(bucket.reserve, policy.reserve(limit), "{bucket:?}");
        let reset = bucket.reset.expect("a reply said when the window ends");
        assert!(
            reset > now && reset <= now + TimeDelta::seconds(3_601),
            "{bucket:?}"
        );
        assert_eq!(bucket.paused_until, None);
    }
    assert!(view.pauses.is_empty(), "{view:?}");

    // A pause of the service token's core bucket shows in that bucket, in
    // the pauses, and holds the forecast's start.
    let until = Utc::now() + TimeDelta::minutes(20);
    budget(&app)
        .await
        .pause(credential, Resource::Core, until)
        .await
        .unwrap();
    let view = app.api.rate_limit().await.unwrap();
    let core = view.buckets.iter().find(|b| b.resource == "core").unwrap();
    let until_ms = until.timestamp_millis();
    assert_eq!(
        core.paused_until.map(|t| t.timestamp_millis()),
        Some(until_ms)
    );
    assert_eq!(core.remaining, 4_000 - used.quota_used_on("core"));
    let search = view
        .buckets
        .iter()
        .find(|b| b.resource == "search")
        .unwrap();
    assert_eq!(search.paused_until, None);
    assert_eq!(view.pauses.len(), 1, "{view:?}");
    assert_eq!(
        (
            view.pauses[0].resource.as_str(),
            view.pauses[0].until.timestamp_millis()
        ),
        ("core", until_ms)
    );
    assert_eq!(
        view.forecast.blocked_until.map(|t| t.timestamp_millis()),
        Some(until_ms)
    );
    app.shutdown().await;
}

#[tokio::test]
async fn the_forecast_counts_live_jobs_at_the_pace_jobs_finished_lately() {
    let sim = sim().await;
    let app = app_on(&sim).await;
    // Live jobs due in an hour: queued, and no worker takes them yet.
    let store = app.db.store().await;
    for id in 1..=6 {
        let job = SyncDeveloper {
            login: None,
            id: Some(880_000 + id),
            depth: None,
            force: false,
        };
        enqueue_at(
            &store.conn().await.unwrap(),
            &job,
            Some(Duration::from_secs(3_600)),
        )
        .await
        .unwrap();
    }
    let view = app.api.rate_limit().await.unwrap();
    let forecast = &view.forecast;
    assert_eq!(
        (
            forecast.queued_jobs,
            forecast.running_jobs,
            forecast.finished_jobs
        ),
        (6, 0, 0),
        "{forecast:?}"
    );
    assert_eq!(forecast.estimated_finish, None);
    assert_eq!(
        forecast.reason.as_deref(),
        Some("no job finished in the last 900 seconds: no pace to go by")
    );

    // One job finishes: now there is a pace.
    let sync = app
        .api
        .create_task("sync_developer", json!({"login": "hubpulse-walker"}))
        .await
        .unwrap();
    app.api
        .wait_task(sync.id, Duration::from_secs(60))
        .await
        .unwrap();
    let asked = Utc::now();
    let view = app.api.rate_limit().await.unwrap();
    let forecast = &view.forecast;
    assert_eq!(
        (
            forecast.queued_jobs,
            forecast.running_jobs,
            forecast.finished_jobs
        ),
        (6, 0, 1),
        "{forecast:?}"
    );
    assert!(
        (forecast.jobs_per_minute - 60.0 / 900.0).abs() < 1e-9,
        "{forecast:?}"
    );
    assert_eq!(forecast.reason, None);
    assert_eq!(forecast.blocked_until, None, "the budget has room");
    // 6 jobs at one per 15 minutes: 90 minutes from now.
    let finish = forecast.estimated_finish.expect("an estimate");
    let expected = asked + TimeDelta::minutes(90);
    assert!(
        (finish - expected).num_seconds().abs() <= 5,
        "{finish} vs {expected}"
    );
    app.shutdown().await;
}
