//! The gists area and the Pipedrive v2 stand-in over real HTTP: gists
//! ordered by creation with `since` on `updated_at` (an old gist edited
//! later still comes back), files keyed by name with null languages, free
//! 304s, and Pipedrive's token check, envelope, cursor lists, burst 429s,
//! feature capping and "accepted, then dropped".

mod common;

use common::{Sim, next_link, start};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const WALKER: &str = "hubpulse-walker";
const TOKEN: &str = "sim-pipedrive-token";

async fn put_gist(sim: &Sim, id: &str, files: &[&str], created_at: Option<&str>) -> Value {
    let files: Vec<Value> = files
        .iter()
        .map(|f| json!({ "filename": f, "language": null, "size": 3 }))
        .collect();
    let mut body = json!({ "description": null, "files": files });
    if let Some(at) = created_at {
        body["created_at"] = json!(at);
    }
    sim.admin(
        Method::PUT,
        &format!("/_sim/accounts/{WALKER}/gists/{id}"),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn gists_are_listed_newest_first_and_since_filters_on_updated_at() {
    let sim = start(|_| {}).await;
    put_gist(&sim, "1209316", &[], Some("2011-09-11T07:00:00Z")).await;
    put_gist(
        &sim,
        "aaaa",
        &["it's (odd).xyz", "b c.rs"],
        Some("2020-01-01T00:00:00Z"),
    )
    .await;
    for n in 0..3 {
        put_gist(&sim, &format!("new{n}"), &["x.md"], None).await;
    }
    let first = sim.get(&format!("/users/{WALKER}/gists?per_page=2")).await;
    assert_eq!(first.status(), StatusCode::OK);
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let next = next_link(&first).expect("five gists make three pages of two");
    assert!(next.contains("/user/9000001/gists"), "{next}");
    let items: Vec<Value> = first.json().await.unwrap();
    assert_eq!(items.len(), 2);
    assert!(items[0]["created_at"].as_str() >= items[1]["created_at"].as_str());
    // Page three holds the oldest, the legacy id with no files at all.
    let last: Vec<Value> = sim
        .get(&format!("/users/{WALKER}/gists?per_page=2&page=3"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(last[0]["id"], "1209316");
    assert_eq!(last[0]["files"], json!({}));
    assert!(last[0]["user"].is_null());
    // Editing the 2011 gist: a `since` scan finds it though it sits last by creation.
    let cut = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    put_gist(&sim, "1209316", &["added later.txt"], None).await;
    let since: Vec<Value> = sim
        .get(&format!("/users/{WALKER}/gists?since={cut}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(since.len(), 1, "{since:?}");
    assert_eq!(since[0]["id"], "1209316");
    let file = &since[0]["files"]["added later.txt"];
    assert!(file["language"].is_null() && file["raw_url"].is_string());
    // Unchanged pages revalidate for free; a changed one does not.
    let again = sim
        .client
        .get(format!("{}/users/{WALKER}/gists?per_page=2", sim.base))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let odd: Vec<Value> = sim
        .get(&format!("/users/{WALKER}/gists?per_page=100"))
        .await
        .json()
        .await
        .unwrap();
    let aaaa = odd.iter().find(|g| g["id"] == "aaaa").unwrap();
    assert!(aaaa["files"]["it's (odd).xyz"]["filename"] == "it's (odd).xyz");
    assert_eq!(
        sim.get("/users/no-such-user-here/gists").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        sim.get(&format!("/users/{WALKER}/gists?since=yesterday"))
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

async fn pd(sim: &Sim, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
    let mut request = sim
        .client
        .request(method, format!("{}/api/v2{path}", sim.base))
        .header("x-api-token", TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn the_pipedrive_stand_in_speaks_v2() {
    let sim = start(|s| s.pipedrive.burst_limit = 1_000).await;
    // No token, the v1 query token and a Bearer are all 401 with the envelope.
    let none = sim
        .client
        .get(format!("{}/api/v2/deals", sim.base))
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    let body: Value = none.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert!(body["error"].is_string() && body["error_info"].is_string() && body["data"].is_null());
    let legacy = sim
        .client
        .get(format!("{}/api/v2/deals?api_token={TOKEN}", sim.base))
        .send()
        .await
        .unwrap();
    assert_eq!(legacy.status(), StatusCode::UNAUTHORIZED);
    let bearer = sim
        .client
        .get(format!("{}/api/v2/deals", sim.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), StatusCode::UNAUTHORIZED);

    let deal = pd(
        &sim,
        Method::POST,
        "/deals",
        Some(json!({ "title": "octocat's gists" })),
    )
    .await;
    assert_eq!(deal.status(), StatusCode::CREATED);
    assert!(deal.headers().contains_key("x-ratelimit-reset"));
    let deal: Value = deal.json().await.unwrap();
    let deal_id = deal["data"]["id"].as_i64().unwrap();
    for n in 0..5 {
        let created = pd(
            &sim,
            Method::POST,
            "/activities",
            Some(json!({ "subject": format!("file {n}"), "type": "task", "deal_id": deal_id, "note": format!("marker {n}"), "done": true })),
        )
        .await;
        assert_eq!(created.status(), StatusCode::CREATED);
    }
    // Strict validation: a string where a boolean belongs, an unknown type.
    let strict = pd(
        &sim,
        Method::POST,
        "/activities",
        Some(json!({ "subject": "x", "type": "task", "done": "1" })),
    )
    .await;
    assert_eq!(strict.status(), StatusCode::BAD_REQUEST);
    let unknown = pd(
        &sim,
        Method::POST,
        "/activities",
        Some(json!({ "subject": "x", "type": "nap" })),
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    // Cursor pages of two, filtered by deal.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/activities?deal_id={deal_id}&limit=2&cursor={c}"),
            None => format!("/activities?deal_id={deal_id}&limit=2"),
        };
        let page: Value = pd(&sim, Method::GET, &path, None)
            .await
            .json()
            .await
            .unwrap();
        for a in page["data"].as_array().unwrap() {
            seen.push(a["note"].as_str().unwrap().to_owned());
        }
        match page["additional_data"]["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        seen,
        (0..5).map(|n| format!("marker {n}")).collect::<Vec<_>>()
    );

    // Feature capping, counted 429s with reset seconds, accepted-then-dropped.
    sim.admin(
        Method::PUT,
        "/_sim/pipedrive/faults",
        Some(json!({ "deals_capped": true })),
    )
    .await;
    let capped = pd(
        &sim,
        Method::POST,
        "/deals",
        Some(json!({ "title": "more" })),
    )
    .await;
    assert_eq!(capped.status(), StatusCode::FORBIDDEN);
    let capped: Value = capped.json().await.unwrap();
    assert_eq!(capped["code"], "feature_capping_deals_limit");
    sim.admin(
        Method::PUT,
        "/_sim/pipedrive/faults",
        Some(json!({ "rate_limit_429": 1, "reset_secs": 7 })),
    )
    .await;
    let limited = pd(&sim, Method::GET, "/deals", None).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers()["x-ratelimit-reset"], "7");
    sim.admin(
        Method::PUT,
        "/_sim/pipedrive/faults",
        Some(json!({ "drop_after_accept_rate": 1.0 })),
    )
    .await;
    let lost = sim
        .client
        .post(format!("{}/api/v2/activities", sim.base))
        .header("x-api-token", TOKEN)
        .json(&json!({ "subject": "lost reply", "type": "task", "deal_id": deal_id }))
        .send()
        .await;
    assert!(lost.is_err(), "the reply must not arrive: {lost:?}");
    let counts = sim.admin(Method::GET, "/_sim/pipedrive", None).await;
    assert_eq!(
        counts["activities"], 6,
        "the dropped create was kept: {counts}"
    );
    assert_eq!(counts["deals"], 1);
    assert_eq!(counts["counts"]["dropped_after_accept"], 1);
    // GitHub's counters saw none of it.
    assert_eq!(sim.stats().await["stats"]["requests"], 0);
}

#[tokio::test]
async fn a_burst_over_the_limit_gets_429_with_seconds_to_wait() {
    let sim = start(|s| s.pipedrive.burst_limit = 3).await;
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let reply = pd(&sim, Method::GET, "/deals", None).await;
        if reply.status() == StatusCode::TOO_MANY_REQUESTS {
            let reset: u64 = reply.headers()["x-ratelimit-reset"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(
                (1..=2).contains(&reset),
                "seconds from now, not an epoch: {reset}"
            );
        }
        statuses.push(reply.status().as_u16());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    let counts = sim.admin(Method::GET, "/_sim/pipedrive", None).await;
    assert!(counts["counts"]["burst_429"].as_u64().unwrap() >= 1);
}
