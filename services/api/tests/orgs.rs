//! Organisation contributor statistics end to end: the API, the workers and
//! the simulator's `hubpulse-org` (50 repositories, repo-048 and repo-049
//! empty), over real HTTP, Postgres and Redis.

use std::collections::BTreeMap;
use std::time::Duration;

use hubpulse_sim::StatsChange;
use hubpulse_testkit::{ADMIN_TOKEN, TestApp, TestSim, eventually};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::{Value, json};

const ORG: &str = "hubpulse-org";
/// `hubpulse-org/repo-NNN` is 90,100,000 + NNN.
const fn repo(n: i64) -> i64 {
    90_100_000 + n
}

async fn spawn(sim: &TestSim) -> TestApp {
    let url = sim.url.clone();
    TestApp::spawn_with(move |s| {
        s.github.base_url = url;
        // Authenticated: an anonymous caller's 60 core calls an hour would
        // not cover two syncs of 50 repositories.
        s.github.token = SecretString::from("ghp_orgStatsTestToken00000000000000000000");
        s.workers.count = 4;
        s.orgs.stats_retry_base_ms = 40;
        s.orgs.stats_retry_cap_secs = 1;
        s.orgs.stats_max_computing = 5;
    })
    .await
}

/// Waits until no job is queued, running or waiting to run again.
async fn settle(app: &TestApp) {
    let client = app.db.client().await;
    eventually("every job finished", Duration::from_secs(60), || async {
        let live: i64 = client
            .query_one(
                "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running', 'rescheduled')",
                &[],
            )
            .await
            .map_err(|e| e.to_string())?
            .get(0);
        if live == 0 {
            return Ok(());
        }
        let sample: Vec<String> = client
            .query(
                "SELECT kind, status::text, attempts, coalesce(last_error, ''), \
                     (run_at - now())::text FROM jobs \
                 WHERE status IN ('queued', 'running', 'rescheduled') ORDER BY id LIMIT 3",
                &[],
            )
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|r| {
                let (kind, status, attempts, error, wait): (String, String, i32, String, String) =
                    (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4));
                format!("{kind} {status} attempts={attempts} in {wait}: {error}")
            })
            .collect();
        Err(format!("{live} jobs live, e.g. {sample:?}"))
    })
    .await;
}

/// `contributor_first_month` as (repository, month) → (count, row version):
/// a row's `xmin` changes whenever it is rewritten, even to the same value.
async fn months(app: &TestApp) -> BTreeMap<(i64, String), (i32, String)> {
    let client = app.db.client().await;
    client
        .query(
            "SELECT repository_id, month::text, new_contributors, xmin::text \
             FROM contributor_first_month",
            &[],
        )
        .await
        .unwrap()
        .into_iter()
        .map(|r| ((r.get(0), r.get(1)), (r.get(2), r.get(3))))
        .collect()
}

async fn states(app: &TestApp) -> BTreeMap<String, i64> {
    let client = app.db.client().await;
    client
        .query(
            "SELECT state, count(*) FROM repository_stats GROUP BY state",
            &[],
        )
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

async fn admin_post(app: &TestApp, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut request = app.http().post(app.url(path)).bearer_auth(ADMIN_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let reply = request.send().await.unwrap();
    let status = reply.status();
    (status, reply.json().await.unwrap())
}

async fn new_contributors(app: &TestApp, query: &str) -> Value {
    let reply = app
        .get(&format!("/v1/orgs/{ORG}/new-contributors?{query}"))
        .await;
    assert_eq!(reply.status(), StatusCode::OK);
    reply.json().await.unwrap()
}

#[tokio::test]
async fn an_org_syncs_through_202s_and_a_resync_changes_one_month() {
    let sim = TestSim::spawn_with(|_| {}).await;
    // Three repositories (about 5%) answer 202 three times before a 200.
    for n in [3, 17, 31] {
        sim.admin
            .control_stats(
                repo(n),
                &StatsChange {
                    computing: Some(3),
                    newcomers: None,
                },
            )
            .await
            .unwrap();
    }
    let app = spawn(&sim).await;

    let (status, body) = admin_post(&app, "/v1/orgs", Some(json!({ "name": ORG }))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body["job_id"].as_i64().is_some(), "{body}");
    settle(&app).await;

    let after_first = states(&app).await;
    assert_eq!(after_first.get("ready"), Some(&48), "{after_first:?}");
    assert_eq!(after_first.get("empty"), Some(&2), "{after_first:?}");
    assert_eq!(after_first.values().sum::<i64>(), 50, "{after_first:?}");
    // The 202s were answered by rescheduling, never by a worker waiting:
    // every 202 left its job rescheduled, and no job spent an attempt on one.
    let client = app.db.client().await;
    let attempts: i64 = client
        .query_one(
            "SELECT coalesce(max(attempts), 0)::bigint FROM jobs WHERE kind = 'repo_stats'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(attempts <= 1, "a 202 spent an attempt: {attempts}");
    assert!(sim.stats().await.with_status(202) >= 9);

    let first = months(&app).await;
    assert!(!first.is_empty());
    let listed = app.get("/v1/orgs").await.json::<Value>().await.unwrap();
    assert_eq!(listed["owners"][0]["name"], ORG);
    assert_eq!(listed["owners"][0]["repositories"], 50);

    // The envelope and order of the seed's endpoint.
    let page = new_contributors(&app, "page=1&page_size=7").await;
    assert_eq!(page["total_records"], first.len());
    assert_eq!(page["page"], 1);
    assert_eq!(page["page_size"], 7);
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 7);
    let keys: Vec<(String, String)> = items
        .iter()
        .map(|i| {
            assert!(i["number_of_new_contributors"].as_i64().unwrap() > 0);
            (
                i["month"].as_str().unwrap().to_owned(),
                i["repo_name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "ordered by (month, repository)");
    assert!(keys[0].1.starts_with("hubpulse-org/repo-"));
    // The chart: one bar per month that has first-time contributors.
    let chart = app
        .get(&format!("/v1/orgs/{ORG}/new-contributors.svg"))
        .await;
    assert_eq!(chart.status(), StatusCode::OK);
    assert_eq!(chart.headers()["content-type"], "image/svg+xml");
    let etag = chart.headers()["etag"].clone();
    let svg = chart.text().await.unwrap();
    let distinct_months: std::collections::BTreeSet<&String> =
        first.keys().map(|(_, m)| m).collect();
    assert_eq!(svg.matches("<rect").count(), distinct_months.len());
    let again = app
        .http()
        .get(app.url(&format!("/v1/orgs/{ORG}/new-contributors.svg")))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let total_contributors: i64 = client
        .query_one("SELECT count(*) FROM contributor_first_week", &[])
        .await
        .unwrap()
        .get(0);
    let summed: i64 = first.values().map(|(n, _)| i64::from(*n)).sum();
    assert_eq!(summed, total_contributors, "each contributor counted once");

    // One repository gains one contributor; another never finishes
    // computing again.
    let (grown, stuck) = (repo(5), repo(7));
    sim.admin
        .control_stats(
            grown,
            &StatsChange {
                computing: None,
                newcomers: Some(1),
            },
        )
        .await
        .unwrap();
    sim.admin
        .control_stats(
            stuck,
            &StatsChange {
                computing: Some(u32::MAX),
                newcomers: None,
            },
        )
        .await
        .unwrap();
    let (status, body) = admin_post(&app, "/v1/orgs/sync", None).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["jobs"][0]["owner"], ORG);
    settle(&app).await;

    let second = months(&app).await;
    let changed: Vec<&(i64, String)> = second
        .keys()
        .chain(first.keys())
        .filter(|k| first.get(*k) != second.get(*k))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(changed.len(), 1, "exactly one row written: {changed:?}");
    assert_eq!(changed[0].0, grown);

    let after_second = states(&app).await;
    assert_eq!(
        after_second.get("unavailable"),
        Some(&1),
        "{after_second:?}"
    );
    let stuck_rows = first.keys().filter(|(r, _)| *r == stuck).count();
    assert!(stuck_rows > 0);
    assert_eq!(
        second.keys().filter(|(r, _)| *r == stuck).count(),
        stuck_rows,
        "an unavailable repository keeps its months"
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let gauge = metrics.lines().find(|l| {
        l.starts_with("hubpulse_repository_stats{") && l.contains("state=\"unavailable\"")
    });
    assert!(gauge.is_some_and(|l| l.ends_with(" 1")), "{gauge:?}");
    let only_stuck = new_contributors(&app, "repo=repo-007&page_size=500").await;
    assert_eq!(only_stuck["unavailable"], json!(["hubpulse-org/repo-007"]));
    assert_eq!(only_stuck["total_records"], stuck_rows);
    assert_eq!(only_stuck["items"].as_array().unwrap().len(), stuck_rows);

    app.shutdown().await;
}

#[tokio::test]
async fn new_contributors_refuses_bad_input_and_unknown_owners() {
    let app = TestApp::spawn().await;
    let (status, _) = admin_post(&app, "/v1/orgs", Some(json!({ "name": "-bad" }))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) =
        admin_post(&app, "/v1/orgs", Some(json!({ "name": "dependabot[bot]" }))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let unauthorised = app
        .http()
        .post(app.url("/v1/orgs"))
        .json(&json!({ "name": ORG }))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorised.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get("/v1/orgs/nobody-here/new-contributors")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    for query in [
        "page=0",
        "page=x",
        "page_size=501",
        "from=2026-13",
        "to=2026-1",
        "repo=a/b",
    ] {
        let status = app
            .get(&format!("/v1/orgs/{ORG}/new-contributors?{query}"))
            .await
            .status();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
    }
    // The seed's `GET /api/repos?page=&page_size=` is not served: the path
    // belongs to the view of a topic named `repos`, untracked here.
    let seed_path = app.get("/api/repos?page=1&page_size=10").await;
    assert_eq!(seed_path.status(), StatusCode::NOT_FOUND);
    let body: Value = seed_path.json().await.unwrap();
    assert!(
        body["error"]["message"].as_str().unwrap().contains("topic"),
        "{body}"
    );
    let deleted = app
        .http()
        .delete(app.url("/v1/orgs/nobody-here"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NOT_FOUND);
    app.shutdown().await;
}
