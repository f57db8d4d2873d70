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
    // Nothing synced yet: every outcome's series is there, at 0.
    let metrics = app.api.metrics().await.unwrap();
    assert_eq!(metrics.sum(SYNCS, &[("outcome", "synced")]), 0.0);
    assert_eq!(metrics.sum(FRONTIER, &[]), 0.0);
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

    // Every developer synced once, counted; the frontier is empty.
    let metrics = app.api.metrics().await.unwrap();
    assert!(
        metrics.sum(SYNCS, &[("outcome", "synced")]) >= 151.0,
        "{:?}",
        metrics.by_label(SYNCS, "outcome")
    );
    assert_eq!(metrics.sum(FRONTIER, &[]), 0.0);

    seed_aliases_answer_as_their_routes(&app).await;

    // The frontier gauges read the graph at each scrape: three developers
    // back to never synced, two synced long ago.
    let store = app.db.store().await;
    let conn = store.conn().await.unwrap();
    conn.batch_execute(
        "UPDATE developers SET synced_at = NULL WHERE id IN \
           (SELECT id FROM developers WHERE state = 'synced' ORDER BY id LIMIT 3); \
         UPDATE developers SET synced_at = now() - interval '400 days' WHERE id IN \
           (SELECT id FROM developers WHERE state = 'synced' AND synced_at IS NOT NULL \
            ORDER BY id LIMIT 2)",
    )
    .await
    .unwrap();
    let metrics = app.api.metrics().await.unwrap();
    assert_eq!(
        metrics.by_label(FRONTIER, "kind"),
        [("never_synced".to_owned(), 3.0), ("stale".to_owned(), 2.0)].into()
    );

    // The seed's POST alias queues as /v1/tasks does: this discovery syncs
    // those five again.
    let before = metrics.sum(SYNCS, &[("outcome", "synced")]);
    let queued: Value = client
        .post(format!("http://{}/github/tasks/", app.addr))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"kind": "discover", "args": {}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&queued["kind"], &queued["new"]),
        (&json!("discover"), &json!(true))
    );
    let done = app
        .api
        .wait_task(queued["id"].as_i64().unwrap(), Duration::from_secs(40))
        .await
        .unwrap();
    assert_eq!(done.result("frontier"), 0, "{done:?}");
    let metrics = app.api.metrics().await.unwrap();
    assert_eq!(metrics.sum(FRONTIER, &[]), 0.0);
    assert_eq!(metrics.sum(SYNCS, &[("outcome", "synced")]), before + 5.0);

    // Last: its repository sync may meet developers the graph did not know.
    typed_client_reads_the_graph(&app, &top).await;
}

const SYNCS: &str = "hubpulse_graph_developer_syncs_total";
const FRONTIER: &str = "hubpulse_graph_frontier_developers";

/// The seed's paths answer with their `/v1` route's body (links keep the
/// path they were asked on).
async fn seed_aliases_answer_as_their_routes(app: &TestApp) {
    let client = reqwest::Client::new();
    for (alias, v1) in [
        (
            "/github/developers/?per_page=100&state=synced",
            "/v1/developers?per_page=100&state=synced",
        ),
        (
            "/github/repositories/?per_page=7&sort=name",
            "/v1/repositories?per_page=7&sort=name",
        ),
        (
            "/github/tasks/?kind=sync_developer&per_page=5",
            "/v1/tasks?kind=sync_developer&per_page=5",
        ),
        ("/github/rate_limit/", "/v1/rate_limit"),
    ] {
        let fetch = |path: &str| {
            client
                .get(format!("http://{}{path}", app.addr))
                .bearer_auth(ADMIN_TOKEN)
                .send()
        };
        let seed = fetch(alias).await.unwrap();
        assert_eq!(seed.status(), StatusCode::OK, "{alias}");
        let mut seed: Value = seed.json().await.unwrap();
        let canonical: Value = fetch(v1).await.unwrap().json().await.unwrap();
        let (alias_path, v1_path) = (
            alias.split('?').next().unwrap(),
            v1.split('?').next().unwrap(),
        );
        for link in ["next", "previous"] {
            if let Some(url) = seed[link].as_str() {
                assert!(url.starts_with(alias_path), "{alias}: {url}");
                seed[link] = Value::from(url.replacen(alias_path, v1_path, 1));
            }
        }
        assert_eq!(seed, canonical, "{alias}");
    }
}

/// The typed client's graph calls, against what discovery stored.
async fn typed_client_reads_the_graph(app: &TestApp, top: &str) {
    let api = &app.api;
    let page = api
        .developers(&[("per_page", "100"), ("state", "synced")])
        .await
        .unwrap();
    assert_eq!((page.count, page.results.len()), (151, 100));
    let rest: hubpulse_client::ListPage<hubpulse_client::Developer> =
        api.follow(page.next.as_deref().unwrap()).await.unwrap();
    assert_eq!(rest.results.len(), 51);
    let bot = api.developer("graph-helper[bot]").await.unwrap().unwrap();
    assert_eq!(bot.kind, "Bot");
    assert_eq!(api.developer_by_id(bot.id).await.unwrap(), Some(bot));
    assert_eq!(api.developer("nobody-at-all").await.unwrap(), None);
    let celebrity = "graph-celebrity";
    let followers = api
        .followers(celebrity, &[("per_page", "100")])
        .await
        .unwrap();
    assert_eq!(followers.results.len(), 100);
    let seed = api.following("graph-seed", &[]).await.unwrap();
    assert!(!seed.results.is_empty());
    let starred = api.starred("graph-seed", &[]).await.unwrap();
    assert!(!starred.results.is_empty());
    let repos = api
        .repositories(&[("sort", "stars"), ("per_page", "5")])
        .await
        .unwrap();
    assert_eq!(repos.results[0].full_name, top);
    let repo = api.repository(top).await.unwrap().unwrap();
    assert_eq!(
        api.repository_by_id(repo.id).await.unwrap(),
        Some(repo.clone())
    );
    api.stargazers(top, &[]).await.unwrap();
    let history = api.star_history(top).await.unwrap();
    assert_eq!(history.full_name, top);
    if let Some(last) = history.weeks.last() {
        assert_eq!(
            last.cumulative,
            history.weeks.iter().map(|w| w.stars).sum::<i64>()
        );
    }
    let tasks = api
        .tasks(&[("kind", "sync_developer"), ("per_page", "3")])
        .await
        .unwrap();
    assert_eq!(tasks.jobs.len(), 3);
    assert!(tasks.kinds.iter().any(|k| k.kind == "sync_repository"));
    let view = api.rate_limit().await.unwrap();
    let core = view.buckets.iter().find(|b| b.resource == "core").unwrap();
    assert!(core.limit > 0 && core.remaining < core.limit, "{core:?}");
    let queued = api
        .create_task("sync_repository", json!({"id": repo.id}))
        .await
        .unwrap();
    let done = api
        .wait_task(queued.id, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(done.result("repository_full_name"), top, "{done:?}");
}
