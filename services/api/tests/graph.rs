//! The developer graph's routes over real HTTP and Postgres: keyset pages
//! that stay whole while rows are inserted, filters, lookups by login
//! (a former one too) and id, and the task API. Then discovery from the
//! simulator's seed through `POST /v1/tasks`, read back through the lists.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use hubpulse_domain::wire::{OwnerKind, UserPayload};
use hubpulse_store::developers;
use hubpulse_testkit::{ADMIN_TOKEN, TestApp, TestSim, eventually};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};

fn user(id: i64, login: &str, followers: i64) -> UserPayload {
    UserPayload {
        id,
        login: login.into(),
        kind: OwnerKind::User,
        avatar_url: None,
        html_url: None,
        name: Some(format!("Dev {id}")),
        company: None,
        blog: None,
        location: (id % 2 == 0).then(|| "Berlin".to_owned()),
        bio: None,
        hireable: None,
        twitter_username: None,
        public_repos: Some(id % 7),
        public_gists: Some(0),
        followers: Some(followers),
        following: Some(1),
        created_at: Utc.timestamp_opt(1_500_000_000 + id * 1000, 0).single(),
        updated_at: None,
    }
}

async fn get(app: &TestApp, path: &str) -> (StatusCode, Value) {
    let reply = reqwest::get(format!("http://{}{path}", app.addr))
        .await
        .unwrap();
    let status = reply.status();
    (status, reply.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn pages_stay_whole_while_rows_are_inserted() {
    let app = TestApp::spawn().await;
    let store = app.db.store().await;
    let conn = store.conn().await.unwrap();
    // Followers collide on purpose: the id breaks ties.
    for id in 1..=120 {
        developers::upsert_profile(&conn, &user(id, &format!("dev-{id}"), id % 13), None, 0)
            .await
            .unwrap();
    }
    for sort in ["followers", "created", "login", "repos"] {
        let mut seen = Vec::new();
        let mut next = Some(format!("/v1/developers?sort={sort}&per_page=7"));
        let mut inserted = 1000;
        while let Some(path) = next.take() {
            let (status, page) = get(&app, &path).await;
            assert_eq!(status, StatusCode::OK, "{path}: {page}");
            for d in page["results"].as_array().unwrap() {
                seen.push(d["id"].as_i64().unwrap());
            }
            // Rows arrive during the walk, before and after the cursor.
            inserted += 1;
            developers::upsert_profile(
                &conn,
                &user(inserted, &format!("new-{inserted}"), 6),
                None,
                0,
            )
            .await
            .unwrap();
            next = page["next"].as_str().map(str::to_owned);
            if let Some(n) = &next {
                assert!(!n.contains("offset"), "keyset, never OFFSET: {n}");
            }
        }
        let unique: BTreeSet<i64> = seen.iter().copied().collect();
        assert_eq!(unique.len(), seen.len(), "{sort}: no duplicates");
        for id in 1..=120 {
            assert!(unique.contains(&id), "{sort}: no gaps, {id} missing");
        }
    }
    // Previous goes back to the same rows.
    let (_, first) = get(&app, "/v1/developers?per_page=5").await;
    let next = first["next"].as_str().unwrap().to_owned();
    let (_, second) = get(&app, &next).await;
    let (_, back) = get(&app, second["previous"].as_str().unwrap()).await;
    assert_eq!(back["results"], first["results"]);
    assert_eq!(first["count_estimated"], false);
}

#[tokio::test]
async fn filters_lookups_and_bad_input() {
    let app = TestApp::spawn().await;
    let store = app.db.store().await;
    let conn = store.conn().await.unwrap();
    for id in 1..=40 {
        developers::upsert_profile(&conn, &user(id, &format!("dev-{id}"), id), None, 0)
            .await
            .unwrap();
    }
    let (_, page) = get(
        &app,
        "/v1/developers?followers_min=10&followers_max=19&has_location=true",
    )
    .await;
    assert_eq!(page["count"], 5, "{page}");
    for d in page["results"].as_array().unwrap() {
        assert_eq!(d["location"], "Berlin");
    }
    let (_, page) = get(&app, "/v1/developers?has_location=false&q=DEV%203").await;
    let ids: BTreeSet<i64> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, BTreeSet::from([3, 31, 33, 35, 37, 39]), "{page}");

    // A renamed developer: one row, found by both logins.
    let mut renamed = user(7, "dev-seven", 7);
    renamed.name = None;
    developers::upsert_profile(&conn, &renamed, None, 0)
        .await
        .unwrap();
    let (status, old) = get(&app, "/v1/developers/dev-7").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(old["login"], "dev-seven");
    let (_, by_id) = get(&app, "/v1/developers/by-id/7").await;
    assert_eq!(by_id["login"], "dev-seven");

    for bad in [
        "/v1/developers?per_page=0",
        "/v1/developers?per_page=101",
        "/v1/developers?sort=nope",
        "/v1/developers?cursor=zz",
        "/v1/developers?cursor=00",
        "/v1/developers?has_location=maybe",
        "/v1/developers/by-id/-1",
        "/v1/developers/not%20a%20login",
        "/v1/repositories?stars_min=-5",
        "/v1/tasks?status=lost",
    ] {
        let (status, body) = get(&app, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["error"]["code"].is_string(), "{bad}: {body}");
    }
    let (status, _) = get(&app, "/v1/developers/nobody-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn discovery_through_the_task_api_fills_the_lists() {
    let sim = TestSim::spawn_with(|_| {}).await;
    let url = sim.url.clone();
    let app = TestApp::spawn_with(move |s| {
        s.github.base_url = url;
        s.github.token = SecretString::from("ghp_graphApiTestToken0000000000000000000");
        s.workers.count = 4;
        s.graph.discover_interval_ms = 50;
    })
    .await;
    let client = reqwest::Client::new();
    let post = |body: Value| {
        client
            .post(format!("http://{}/v1/tasks", app.addr))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
    };
    let seed = post(json!({"kind": "sync_developer", "args": {"login": "graph-seed"}}))
        .await
        .unwrap();
    assert_eq!(seed.status(), StatusCode::ACCEPTED);
    let first: Value = seed.json().await.unwrap();
    let again: Value = post(json!({"kind": "discover", "args": {}}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let same: Value = post(json!({"kind": "discover", "args": {}}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["id"], same["id"], "one live discover");
    assert_eq!(same["new"], false);
    assert!(first["id"].as_i64().is_some());
    let bad = post(json!({"kind": "nope", "args": {}})).await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bad = post(json!({"kind": "sync_developer", "args": {"login": 5}}))
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let discover = again["id"].as_i64().unwrap();
    eventually("discovery finished", Duration::from_secs(40), || async {
        let (_, job) = get(&app, &format!("/v1/tasks/{discover}")).await;
        if job["status"] == "succeeded" {
            Ok(())
        } else {
            let (_, queued) = get(&app, "/v1/tasks?status=queued&per_page=2").await;
            let (_, running) = get(&app, "/v1/tasks?status=running&per_page=4").await;
            Err(format!(
                "{job}\nQUEUED {}\nRUNNING {}",
                queued["jobs"], running["jobs"]
            ))
        }
    })
    .await;
    let (_, page) = get(&app, "/v1/developers?per_page=100&state=synced").await;
    assert_eq!(page["count"], 151, "every reachable developer synced");
    let (_, celebrity) = get(&app, "/v1/developers?per_page=1").await;
    assert_eq!(
        celebrity["results"][0]["login"], "graph-celebrity",
        "most followed first"
    );
    let (_, followers) = get(
        &app,
        "/v1/developers/graph-celebrity/followers?per_page=100",
    )
    .await;
    assert_eq!(followers["results"].as_array().unwrap().len(), 100);
    assert!(followers["next"].is_string());
    let (status, bot) = get(&app, "/v1/developers/graph-helper%5Bbot%5D").await;
    assert_eq!(status, StatusCode::OK, "{bot}");
    assert_eq!(bot["kind"], "Bot");
    let (_, repos) = get(&app, "/v1/repositories?per_page=5&sort=stars").await;
    let top = repos["results"][0]["full_name"]
        .as_str()
        .unwrap_or_else(|| panic!("{repos}"))
        .to_owned();
    let (status, _) = get(&app, &format!("/v1/repositories/{top}")).await;
    assert_eq!(status, StatusCode::OK);
    let (_, tasks) = get(
        &app,
        "/v1/tasks?kind=sync_developer&status=succeeded&per_page=10",
    )
    .await;
    assert_eq!(tasks["jobs"].as_array().unwrap().len(), 10);
    assert!(tasks["next"].is_string());
    assert!(
        tasks["kinds"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kind"] == "discover")
    );
    let svg = reqwest::get(format!(
        "http://{}/v1/repositories/{top}/star-history.svg",
        app.addr
    ))
    .await
    .unwrap();
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
}
