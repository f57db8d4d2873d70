//! Gists to Pipedrive end to end: tracked users (and the seed's aliases),
//! scans through the simulator, one scan per user per window, free 304s on
//! an unchanged second scan, delivery to the Pipedrive stand-in exactly
//! once per gist file under dropped replies, 429s and 5xx, and visits that
//! split new files between concurrent callers.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use hubpulse_jobs::kinds::{ScanGists, file_marker};
use hubpulse_sim::PipedriveFaults;
use hubpulse_testkit::{TestApp, TestSim, eventually};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::Value;

const USER: &str = "hubpulse-walker";
const USER_ID: i64 = 9_000_001;
const PD_TOKEN: &str = "sim-pipedrive-token";

async fn spawn(sim: &TestSim) -> TestApp {
    let url = sim.url.clone();
    TestApp::spawn_with(move |s| {
        s.github.base_url = url.clone();
        s.github.token = SecretString::from("ghp_gistsTestToken000000000000000000000000");
        s.pipedrive.base_url = format!("{url}/api/v2");
        s.pipedrive.api_token = SecretString::from(PD_TOKEN.to_owned());
        s.pipedrive.burst_per_2s = 30;
        s.pipedrive.request_timeout_ms = 2000;
        s.gists.retry_base_ms = 50;
        s.gists.retry_cap_secs = 1;
        s.gists.deliver_batch = 20;
        s.workers.count = 3;
    })
    .await
}

/// Waits until the outbox is empty and Pipedrive holds `files` activities.
async fn delivered(app: &TestApp, sim: &TestSim, files: u64) {
    eventually(
        "every gist file posted",
        Duration::from_secs(90),
        || async {
            let outbox = app.api.gist_outbox(USER).await.map_err(|e| e.to_string())?;
            let pd = sim.admin.pipedrive().await.map_err(|e| e.to_string())?;
            if outbox.depth == 0 && pd.activities >= files {
                Ok(())
            } else {
                Err(format!(
                    "outbox {outbox:?}, Pipedrive {} activities of {files}",
                    pd.activities
                ))
            }
        },
    )
    .await;
}

/// Exactly one activity per gist file (by marker), all on one deal.
async fn exactly_once(sim: &TestSim, expected: &BTreeSet<String>) {
    let activities = sim.admin.pipedrive_activities().await.unwrap();
    let mut markers = Vec::new();
    let mut deals = HashSet::new();
    for a in &activities {
        let note = a["note"].as_str().unwrap_or_default();
        let at = note
            .find("hubpulse:gist:")
            .expect("every note has a marker");
        markers.push(
            note[at..]
                .chars()
                .take_while(|c| *c != '<')
                .collect::<String>(),
        );
        deals.insert(a["deal_id"].as_i64().unwrap());
    }
    let unique: BTreeSet<String> = markers.iter().cloned().collect();
    assert_eq!(unique.len(), markers.len(), "an activity was posted twice");
    assert_eq!(&unique, expected, "activities and gist files differ");
    assert_eq!(deals.len(), 1, "one deal per tracked user");
    assert_eq!(sim.admin.pipedrive_deals().await.unwrap().len(), 1);
}

/// The markers of every file of these gists (the simulator's names).
async fn markers_of(sim: &TestSim) -> BTreeSet<String> {
    let account: Value = reqwest::get(format!("{}/_sim/accounts/{USER}", sim.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut out = BTreeSet::new();
    for gist in account["gists"].as_array().unwrap() {
        for file in gist["files"].as_array().unwrap() {
            out.insert(file_marker(
                gist["id"].as_str().unwrap(),
                file["filename"].as_str().unwrap(),
            ));
        }
    }
    out
}

#[tokio::test]
async fn gist_files_reach_pipedrive_once_each_through_faults() {
    let sim = TestSim::roomy().await;
    sim.admin.add_gists(USER, 20, 3).await.unwrap();
    sim.admin.put_gist(USER, "emptygist", &[]).await.unwrap();
    sim.admin
        .put_gist(
            USER,
            "oddnames",
            &[
                ("it's (odd) & <b>.xyz", None),
                ("naïve name.md", Some("Markdown")),
            ],
        )
        .await
        .unwrap();
    let expected = markers_of(&sim).await;
    assert_eq!(expected.len(), 62);
    sim.admin
        .set_pipedrive_faults(&PipedriveFaults {
            drop_after_accept_rate: 0.2,
            error_rate: 0.1,
            rate_limit_429: 3,
            reset_secs: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    let app = spawn(&sim).await;
    // The seed's alias refuses an id GitHub does not give the login.
    let wrong = app
        .api
        .send(Method::POST, &format!("/users/{USER}/12345"), true, None)
        .await
        .unwrap();
    assert_eq!(wrong.status, StatusCode::CONFLICT, "{}", wrong.text());
    let tracked = app.api.track_user(USER).await.unwrap();
    assert_eq!((tracked.github_id, tracked.changed), (USER_ID, true));
    let again = app
        .api
        .send(
            Method::POST,
            &format!("/users/{USER}/{USER_ID}"),
            true,
            None,
        )
        .await
        .unwrap();
    assert_eq!(again.status, StatusCode::OK, "{}", again.text());
    let listed: Value = app
        .api
        .send(Method::GET, "/users", false, None)
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(listed["users"][0]["github_id"], USER_ID);
    delivered(&app, &sim, 62).await;
    exactly_once(&sim, &expected).await;
    let pd = sim.admin.pipedrive().await.unwrap();
    assert!(
        pd.counts.dropped_after_accept > 0 && pd.counts.injected_429 == 3,
        "the faults happened: {pd:?}"
    );
    // What is new: everything once, then nothing; the odd names kept as they are.
    let latest = app.api.latest_gists(USER, None).await.unwrap();
    assert_eq!(latest.files.len(), 62);
    assert!(
        latest
            .files
            .iter()
            .any(|f| f.filename == "it's (odd) & <b>.xyz" && f.language.is_none())
    );
    assert!(latest.files.iter().all(|f| f.activity_id.is_some()));
    let after = app
        .api
        .latest_gists(USER, Some(&latest.next_cursor))
        .await
        .unwrap();
    assert!(after.files.is_empty());
    // A renamed file is one gone and one new; a deleted gist is gone.
    sim.admin
        .put_gist(
            USER,
            "oddnames",
            &[
                ("renamed.md", Some("Markdown")),
                ("naïve name.md", Some("Markdown")),
            ],
        )
        .await
        .unwrap();
    sim.admin.delete_gist(USER, "emptygist").await.unwrap();
    let conn = app.db.store().await;
    let conn = conn.conn().await.unwrap();
    let job = hubpulse_jobs::enqueue(
        &conn,
        &ScanGists {
            user_id: USER_ID,
            window: i64::MAX / 2,
        },
    )
    .await
    .unwrap();
    app.api
        .wait_task(job.id(), Duration::from_secs(30))
        .await
        .unwrap();
    delivered(&app, &sim, 63).await;
    let newer = app
        .api
        .latest_gists(USER, Some(&latest.next_cursor))
        .await
        .unwrap();
    assert_eq!(
        newer
            .files
            .iter()
            .map(|f| f.filename.as_str())
            .collect::<Vec<_>>(),
        ["renamed.md"]
    );
    let gone: i64 = app
        .db
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM gist_files WHERE gone_at IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(gone, 1, "the old name is gone, not deleted");
    let metrics = app
        .api
        .send(Method::GET, "/metrics", false, None)
        .await
        .unwrap()
        .text();
    assert!(
        metrics.contains("gist_pipedrive_posts_total") && metrics.contains("gist_outbox_depth")
    );
    app.shutdown().await;
}

#[tokio::test]
async fn one_scan_per_window_and_an_unchanged_second_scan_is_free() {
    let sim = TestSim::roomy().await;
    sim.admin.add_gists(USER, 30, 1).await.unwrap();
    let app = spawn(&sim).await;
    let tracked = app.api.track_user(USER).await.unwrap();
    let first = app
        .api
        .wait_task(tracked.job_id.unwrap(), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(first.result.as_ref().unwrap()["new_files"], 30, "{first:?}");
    let lists = |stats: &hubpulse_sim::Stats| stats.quota_used_on("core");
    let before = sim.stats().await;
    // The same window again, from the cron route and twice at once: skipped,
    // without a call to GitHub.
    let (a, b) = tokio::join!(app.api.scan_gists(), app.api.scan_gists());
    for job in a.unwrap().jobs.into_iter().chain(b.unwrap().jobs) {
        let done = app
            .api
            .wait_task(job.id, Duration::from_secs(30))
            .await
            .unwrap();
        assert!(
            done.result.as_ref().unwrap()["skipped"].is_string(),
            "{done:?}"
        );
    }
    let after_same_window = sim.stats().await;
    assert_eq!(
        lists(&after_same_window),
        lists(&before),
        "no GitHub call in a taken window"
    );
    assert_eq!(after_same_window.requests, before.requests);
    // The next window: every page revalidates as a 304, at no quota.
    let conn = app.db.store().await;
    let conn = conn.conn().await.unwrap();
    let job = hubpulse_jobs::enqueue(
        &conn,
        &ScanGists {
            user_id: USER_ID,
            window: i64::MAX / 2,
        },
    )
    .await
    .unwrap();
    let second = app
        .api
        .wait_task(job.id(), Duration::from_secs(30))
        .await
        .unwrap();
    let result = second.result.unwrap();
    assert_eq!(result["new_files"], 0);
    assert_eq!(result["gist_pages"], result["not_modified"], "{result}");
    let after = sim.stats().await;
    assert_eq!(
        lists(&after),
        lists(&before),
        "the unchanged scan spent quota"
    );
    assert!(after.not_modified > before.not_modified);
    app.shutdown().await;
}

#[tokio::test]
async fn concurrent_visits_split_new_files_with_none_twice_or_missed() {
    let sim = TestSim::roomy().await;
    sim.admin.add_gists(USER, 40, 2).await.unwrap();
    let app = spawn(&sim).await;
    let tracked = app.api.track_user(USER).await.unwrap();
    app.api
        .wait_task(tracked.job_id.unwrap(), Duration::from_secs(30))
        .await
        .unwrap();
    let mut seen: Vec<(String, String)> = Vec::new();
    for round in 0..3 {
        if round > 0 {
            sim.admin.add_gists(USER, 5, 2).await.unwrap();
            let conn = app.db.store().await;
            let conn = conn.conn().await.unwrap();
            let job = hubpulse_jobs::enqueue(
                &conn,
                &ScanGists {
                    user_id: USER_ID,
                    window: i64::MAX / 2 + round,
                },
            )
            .await
            .unwrap();
            app.api
                .wait_task(job.id(), Duration::from_secs(30))
                .await
                .unwrap();
        }
        let visits = futures_join(&app, 4).await;
        for files in visits {
            seen.extend(files.into_iter().map(|f| (f.gist_id, f.filename)));
        }
    }
    let unique: BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        seen.len(),
        "a file was returned to two visits"
    );
    assert_eq!(seen.len(), 80 + 10 + 10, "a file was missed");
    // Another subscriber has its own last visit: everything.
    assert_eq!(
        app.api
            .visit_gists(USER, "other")
            .await
            .unwrap()
            .files
            .len(),
        100
    );
    // The seed's alias is the default subscriber.
    let seed = app
        .api
        .send(Method::POST, &format!("/latestgists/{USER}"), false, None)
        .await
        .unwrap();
    assert_eq!(seed.status, StatusCode::OK);
    let again = app
        .api
        .send(Method::POST, &format!("/latestgists/{USER}"), false, None)
        .await
        .unwrap();
    assert_eq!(
        again.json::<Value>().unwrap()["files"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    app.shutdown().await;
}

/// `n` visits by one subscriber at once.
async fn futures_join(app: &TestApp, n: usize) -> Vec<Vec<hubpulse_client::GistFile>> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let api = app.api.clone();
        tasks.push(tokio::spawn(async move {
            api.visit_gists(USER, "sales").await.unwrap().files
        }));
    }
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}
