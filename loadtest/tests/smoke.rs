//! The load test's smoke run for `make test`: every scenario for a second or
//! two against the API in-process (its own database and Redis key space,
//! seeded views, the simulator standing in for GitHub), with no failed
//! request allowed; and a threshold beyond reach failing the binary's run.

use std::time::Duration;

use goose::config::GooseConfiguration;
use hubpulse_domain::Topic;
use hubpulse_loadtest::{Plan, RedisTarget, Scenario, run};
use hubpulse_testkit::{ADMIN_TOKEN, TestApp, TestSim};

const PROCESS_TTL: Duration = Duration::from_millis(200);

/// 1,200 repositories: 600 in kubernetes (so its views hold the full 500),
/// 300 in rust, 150 in each of the two cold topics.
async fn seed(app: &TestApp) {
    app.db
        .client()
        .await
        .batch_execute(
            "INSERT INTO owners (id, login, kind) SELECT g, 'owner-' || g, 'User' FROM generate_series(1, 50) g;
             INSERT INTO repositories (id, owner_id, name, html_url, description, language, stargazers_count,
                                       forks_count, created_at, updated_at, pushed_at)
               SELECT g, 1 + g % 50, 'repo-' || g, 'https://github.com/owner-' || (1 + g % 50) || '/repo-' || g,
                      'A repository that does thing number ' || g, 'Rust', (g * 7919) % 100000, g % 97,
                      now() - g * interval '1 hour', now(), now() - g * interval '1 minute'
               FROM generate_series(1, 1200) g;
             INSERT INTO topics (name, tracked) VALUES ('kubernetes', true), ('rust', true), ('cold-a', true), ('cold-b', true)
               ON CONFLICT (name) DO UPDATE SET tracked = true;
             INSERT INTO repository_topics (topic_id, repository_id)
               SELECT t.id, g FROM topics t, generate_series(1, 1200) g
               WHERE (t.name = 'kubernetes' AND g <= 600) OR (t.name = 'rust' AND g BETWEEN 601 AND 900)
                  OR (t.name = 'cold-a' AND g BETWEEN 901 AND 1050) OR (t.name = 'cold-b' AND g > 1050);",
        )
        .await
        .expect("seeding the views' rows");
}

fn topics(names: &[&str]) -> Vec<Topic> {
    names.iter().map(|n| Topic::parse(n).unwrap()).collect()
}

fn goose(app: &TestApp, users: usize, seconds: usize) -> GooseConfiguration {
    let mut config = GooseConfiguration::default();
    config.host = Some(app.url(""));
    config.users = Some(users);
    config.run_time = Some(seconds.to_string());
    // The debug build is no benchmark: no rate floor, but not one failure.
    config.threshold = vec!["error-rate<=0%".into()];
    config.no_print_metrics = true;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_runs_without_a_failed_request() {
    // Refresh crawls: against the simulator, with quota to spare.
    let sim = TestSim::spawn_with(|s| {
        s.limits.search_anonymous = 100_000;
        s.limits.search_authenticated = 100_000;
    })
    .await;
    let app = TestApp::spawn_with(|s| {
        s.views.process_ttl_ms = PROCESS_TTL.as_millis() as u64;
        s.github.base_url = sim.url.clone();
    })
    .await;
    seed(&app).await;
    let plan = Plan {
        topics: topics(&["kubernetes", "rust"]),
        cold_topics: topics(&["cold-a", "cold-b"]),
        admin_token: Some(ADMIN_TOKEN.into()),
        refresh_every: Duration::from_millis(500),
        redis: Some(RedisTarget {
            url: app.redis.url().into(),
            key_prefix: app.redis.key_prefix().into(),
        }),
        process_ttl: PROCESS_TTL,
        rate: 50,
    };
    // Refresh last: its crawls replace the seeded memberships with the simulator's.
    for (scenario, users, seconds) in [
        (Scenario::Cached, 4, 2),
        (Scenario::Limit, 4, 1),
        (Scenario::Max, 4, 1),
        (Scenario::Open, 4, 1),
        (Scenario::Cold, 2, 2),
        (Scenario::Refresh, 4, 2),
    ] {
        let summary = run(scenario, plan.clone(), goose(&app, users, seconds))
            .await
            .unwrap_or_else(|e| panic!("{scenario:?} could not run: {e:#}"));
        eprintln!("{summary}");
        assert!(summary.requests > 0, "{scenario:?} made no request");
        assert_eq!(summary.errors, 0, "{summary}");
        assert!(summary.passed, "{summary}");
        if scenario == Scenario::Refresh {
            assert!(
                summary.statuses.contains_key("202"),
                "refresh called /update_cache: {summary:?}"
            );
        }
        if scenario == Scenario::Cached {
            assert!(
                summary.statuses.contains_key("304"),
                "a share of the reads are conditional: {summary:?}"
            );
        }
    }
}

/// The thresholds decide the exit status: one beyond reach fails the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_threshold_beyond_reach_fails_the_run() {
    let app = TestApp::spawn().await;
    seed(&app).await;
    let binary = env!("CARGO_BIN_EXE_hubpulse-loadtest");
    let dir = tempfile::tempdir().unwrap();
    let summary_path = dir.path().join("summary.json");
    let run = |threshold: &'static str| {
        let summary_path = summary_path.clone();
        let host = app.url("");
        async move {
            tokio::process::Command::new(binary)
                .args(["max", "--topics", "kubernetes", "-u", "2", "-t", "1"])
                .args(["-H", &host, "--no-print-metrics", "--threshold", threshold])
                .arg("--summary")
                .arg(&summary_path)
                .output()
                .await
                .expect("the load test binary runs")
        }
    };
    let out = run("rps>=100000000").await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&summary_path).unwrap()).unwrap();
    assert_eq!(summary["passed"], false);
    assert_eq!(summary["thresholds"][0]["rule"], "rps>=100000000");
    assert_eq!(summary["errors"], 0, "the requests themselves succeeded");

    let out = run("error-rate<=0%").await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
