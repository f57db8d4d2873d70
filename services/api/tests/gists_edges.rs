//! Gists to Pipedrive at the edges: two replicas whose crons ask for the
//! same windows scan a user once per window (the simulator counts the
//! calls), a one-off scan runs now and leaves the next window its scan,
//! and a plan limit parks the files with its reason, shown by the API and
//! the metrics, without failing a job.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::Utc;
use hubpulse_api::{Application, Settings};
use hubpulse_jobs::GistSettings;
use hubpulse_jobs::kinds::ScanGists;
use hubpulse_sim::PipedriveFaults;
use hubpulse_testkit::{TestApp, TestSim, eventually, test_client, test_settings};
use reqwest::Method;
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

const USER: &str = "hubpulse-walker";
const USER_ID: i64 = 9_000_001;

fn configure(s: &mut Settings, sim_url: &str) {
    s.github.base_url = sim_url.to_owned();
    s.github.token = SecretString::from("ghp_gistsTestToken000000000000000000000000");
    s.pipedrive.base_url = format!("{sim_url}/api/v2");
    s.pipedrive.api_token = SecretString::from("sim-pipedrive-token".to_owned());
    s.pipedrive.burst_per_2s = 30;
    s.pipedrive.request_timeout_ms = 2000;
    s.gists.retry_base_ms = 50;
    s.gists.retry_cap_secs = 1;
    s.workers.count = 3;
}

async fn spawn(sim: &TestSim) -> TestApp {
    let url = sim.url.clone();
    TestApp::spawn_with(move |s| configure(s, &url)).await
}

/// A metric's value in a `/metrics` text: the sample of `name` (after the
/// registry's prefix) whose labels include `label`, if one is given.
fn metric(text: &str, name: &str, label: Option<&str>) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (key, value) = line.rsplit_once(' ')?;
            let (metric, labels) = key.split_once('{').unwrap_or((key, ""));
            let named = metric == name || metric.ends_with(&format!("_{name}"));
            let labelled =
                label.is_none_or(|l| labels.split(',').any(|p| p.trim_end_matches('}') == l));
            (named && labelled).then(|| value.parse().ok()).flatten()
        })
}

#[tokio::test]
async fn two_replicas_scan_a_user_once_per_window() {
    let sim = TestSim::roomy().await;
    sim.admin.add_gists(USER, 30, 1).await.unwrap();
    // Two-second windows, so the crons below cross several.
    let url = sim.url.clone();
    let a = TestApp::spawn_with(move |s| {
        configure(s, &url);
        s.gists.scan_every_secs = 2;
        s.server.replica = "test-a".into();
    })
    .await;
    let mut settings = test_settings(&a.db, &a.redis);
    configure(&mut settings, &sim.url);
    settings.gists.scan_every_secs = 2;
    settings.server.replica = "test-b".into();
    let b = Application::build(settings)
        .await
        .expect("replica b builds");
    let b_api = test_client(&format!("http://{}", b.local_addr()));
    let stop_b = CancellationToken::new();
    let b_task = tokio::spawn(b.run(stop_b.clone()));
    b_api.wait_ready(Duration::from_secs(20)).await.unwrap();

    let tracked = a.api.track_user(USER).await.unwrap();
    a.api
        .wait_task(tracked.job_id.unwrap(), Duration::from_secs(30))
        .await
        .unwrap();
    let before = sim.stats().await;
    // Both replicas' crons fire together, again and again, for 7 seconds.
    let mut jobs = BTreeSet::new();
    let until = Instant::now() + Duration::from_secs(7);
    while Instant::now() < until {
        let (x, y) = tokio::join!(a.api.scan_gists(), b_api.scan_gists());
        jobs.extend(
            x.unwrap()
                .jobs
                .into_iter()
                .chain(y.unwrap().jobs)
                .map(|j| j.id),
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    // Scans that ran (not skipped), by window.
    let mut scanned: BTreeMap<i64, u64> = BTreeMap::new();
    let mut skipped = 0;
    for id in &jobs {
        let done = a.api.wait_task(*id, Duration::from_secs(30)).await.unwrap();
        let result = done.result.unwrap();
        if result.get("skipped").is_none() {
            *scanned
                .entry(result["window"].as_i64().unwrap())
                .or_default() += 1;
        } else {
            skipped += 1;
        }
    }
    let after = sim.stats().await;
    assert!(
        scanned.values().all(|n| *n == 1),
        "a window scanned twice: {scanned:?}"
    );
    assert!(
        scanned.len() >= 2,
        "7 seconds of 2-second windows scanned fewer than 2: {scanned:?} of {} jobs",
        jobs.len()
    );
    // The replicas did ask twice: later jobs of a taken window were skipped.
    assert!(skipped > 0, "no job found its window taken: {scanned:?}");
    // One list page a scan, and nothing else asked of GitHub.
    assert_eq!(
        after.requests - before.requests,
        scanned.len() as u64,
        "the simulator counted other calls than one per scanned window"
    );
    stop_b.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(30), b_task).await;
    a.shutdown().await;
}

#[tokio::test]
async fn a_one_off_scan_runs_now_and_leaves_the_next_window_its_scan() {
    let sim = TestSim::roomy().await;
    sim.admin.add_gists(USER, 3, 1).await.unwrap();
    let app = spawn(&sim).await;
    let tracked = app.api.track_user(USER).await.unwrap();
    app.api
        .wait_task(tracked.job_id.unwrap(), Duration::from_secs(30))
        .await
        .unwrap();
    // This periodic window is taken; a one-off scan still runs now.
    sim.admin.add_gists(USER, 2, 1).await.unwrap();
    let queued = app.api.scan_user_gists(USER).await.unwrap();
    let now = app
        .api
        .wait_task(queued.jobs[0].id, Duration::from_secs(30))
        .await
        .unwrap();
    let result = now.result.unwrap();
    assert!(result.get("skipped").is_none(), "{result}");
    assert_eq!(result["new_files"], 2, "{result}");
    // It took a window of its own: the next periodic one is still free.
    let settings = GistSettings::default();
    let later = Utc::now() + chrono::Duration::seconds(settings.scan_every_secs as i64);
    let conn = app.db.store().await;
    let conn = conn.conn().await.unwrap();
    let job = hubpulse_jobs::enqueue(
        &conn,
        &ScanGists {
            user_id: USER_ID,
            window: settings.window(later),
        },
    )
    .await
    .unwrap();
    let next = app
        .api
        .wait_task(job.id(), Duration::from_secs(30))
        .await
        .unwrap();
    let result = next.result.unwrap();
    assert!(
        result.get("skipped").is_none(),
        "the next window's scan was skipped: {result}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn a_plan_limit_parks_the_files_with_its_reason() {
    let sim = TestSim::roomy().await;
    sim.admin.add_gists(USER, 2, 2).await.unwrap();
    sim.admin
        .set_pipedrive_faults(&PipedriveFaults {
            deals_capped: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let app = spawn(&sim).await;
    app.api.track_user(USER).await.unwrap();
    let outbox = eventually("the files parked", Duration::from_secs(60), || async {
        let outbox = app.api.gist_outbox(USER).await.map_err(|e| e.to_string())?;
        if outbox.parked == 4 && outbox.depth == 0 {
            Ok(outbox)
        } else {
            Err(format!("{outbox:?}"))
        }
    })
    .await;
    assert_eq!(outbox.parked_files.len(), 4, "{outbox:?}");
    assert!(
        outbox
            .parked_files
            .iter()
            .all(|f| f.reason.contains("feature_capping_deals_limit")),
        "the reason names the plan limit: {outbox:?}"
    );
    let pd = sim.admin.pipedrive().await.unwrap();
    assert_eq!((pd.deals, pd.activities), (0, 0), "{pd:?}");
    let metrics = app
        .api
        .send(Method::GET, "/metrics", false, None)
        .await
        .unwrap()
        .text();
    assert_eq!(metric(&metrics, "gist_outbox_parked", None), Some(4.0));
    assert_eq!(metric(&metrics, "gist_outbox_depth", None), Some(0.0));
    assert!(
        metric(
            &metrics,
            "gist_pipedrive_posts_total",
            Some(r#"outcome="parked""#)
        )
        .is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
    assert!(
        metric(&metrics, "gist_scans_total", Some(r#"outcome="scanned""#))
            .is_some_and(|n| n >= 1.0),
        "{metrics}"
    );
    // Parking ends the row, not the job: nothing failed (checked at shutdown).
    app.shutdown().await;
}
