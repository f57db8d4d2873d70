//! The developer graph benchmarks of `make bench` at a small scale, so
//! their code paths run in `make test`: discovery over the simulator's test
//! graph (150 developers) through the task API, costed against the
//! minimum; the synthetic graph loaded with COPY (2,000 developers) beside
//! it; every list order and filter read through nginx, page 1 and the
//! deepest page, each page starting where OFFSET puts it; and the report
//! reading all three results. Speed is not judged here (a debug build).

use std::time::Duration;

use hubpulse_loadtest::bench::Report;
use hubpulse_loadtest::graphgen::GraphShape;
use hubpulse_loadtest::{discovery, graphlists, graphload};
use hubpulse_testkit::{TestApp, TestNginx, TestSim, test_client};
use secrecy::SecretString;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_graph_benchmarks_run_and_the_report_reads_them() {
    let sim = TestSim::spawn_with(|_| {}).await;
    let url = sim.url.clone();
    let app = TestApp::spawn_with(|s| {
        s.github.base_url = url;
        s.github.token = SecretString::from("ghp_graphBenchTestToken00000000000000000");
        s.graph.discover_interval_ms = 50;
    })
    .await;
    let nginx = TestNginx::start(&[app.addr.to_string()]);
    let api = test_client(&nginx.url());
    let dir = tempfile::tempdir().unwrap();

    let d = discovery::run(
        &api,
        &sim.url,
        app.db.url(),
        "graph-seed",
        100,
        Duration::from_secs(120),
    )
    .await
    .unwrap();
    // 150 developers and the bot synced, the suspended user gone.
    assert_eq!((d.developers_synced, d.developers_gone), (151, 1), "{d:?}");
    let verdicts: Vec<bool> = discovery::targets(&d).iter().map(|t| t.passed).collect();
    assert_eq!(verdicts, [true, true, true], "{d:?}");
    std::fs::write(
        dir.path().join("discovery.json"),
        serde_json::to_vec(&d).unwrap(),
    )
    .unwrap();

    let shape = GraphShape {
        developers: 2_000,
        repositories: 2_500,
        edges: 20_000,
        seed: 42,
    };
    let db = app.db.client().await;
    let count = |sql: &'static str| {
        let db = &db;
        async move { db.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) }
    };
    // What the load drops and puts back: every index and foreign key.
    const DEPENDENTS: &str = "SELECT (SELECT count(*) FROM pg_indexes WHERE schemaname = 'public') \
         + (SELECT count(*) FROM pg_constraint WHERE contype = 'f')";
    let dependents = count(DEPENDENTS).await;
    let load = graphload::load(app.db.url(), shape).await.unwrap();
    assert!(load.edges > 19_000 && load.edges <= 20_000, "{load:?}");
    assert_eq!(count(DEPENDENTS).await, dependents);
    assert_eq!(
        count("SELECT count(*) FROM developers WHERE id > 1000000000").await,
        2_000
    );
    assert_eq!(
        count("SELECT count(*) FROM repositories WHERE id > 1000000000").await,
        2_500
    );
    assert_eq!(
        count("SELECT count(*) FROM follows WHERE follower_id > 1000000000").await,
        load.edges as i64
    );
    // The followers column is the followers stored.
    assert_eq!(
        count(
            "SELECT count(*) FROM developers d WHERE id > 1000000000 AND state = 'synced' \
             AND followers <> (SELECT count(*) FROM follows WHERE followee_id = d.id)"
        )
        .await,
        0
    );
    // Again: the earlier synthetic graph is replaced, not doubled.
    graphload::load(app.db.url(), shape).await.unwrap();
    assert_eq!(
        count("SELECT count(*) FROM developers WHERE id > 1000000000").await,
        2_000
    );
    std::fs::write(
        dir.path().join("graphgen.json"),
        serde_json::to_vec(&load).unwrap(),
    )
    .unwrap();

    let replicas = [("test".to_owned(), std::process::id())];
    let lists = graphlists::run(&nginx.url(), app.db.url(), 30, 5, &replicas)
        .await
        .unwrap();
    assert_eq!(lists.cases.len(), 2 * graphlists::specs().len());
    for case in &lists.cases {
        assert_eq!(case.errors, 0, "{case:?}");
        assert!(case.first_row_ok, "{case:?}");
        assert_eq!(case.requests, 5);
    }
    // The deep pages are the lists' last (short of 10,000 at this size).
    assert!(lists.cases.iter().any(|c| c.page > 50), "{lists:?}");
    assert_eq!(lists.memory.len(), 1);
    std::fs::write(
        dir.path().join("graphlists.json"),
        serde_json::to_vec(&lists).unwrap(),
    )
    .unwrap();

    let report = Report::load(dir.path()).unwrap();
    assert!(report.graph_lists.is_some() && report.graph_load.is_some());
    let names: Vec<&str> = report.targets.iter().map(|t| t.name.as_str()).collect();
    for wanted in [
        "discovery from graph-seed",
        "discovery again inside",
        "discovery after the window",
        "graph load:",
        "graph lists through nginx",
        "graph lists: memory",
    ] {
        assert!(names.iter().any(|n| n.starts_with(wanted)), "{names:?}");
    }
    // Short of 10,000 pages, the lists target cannot pass.
    let lists_target = report
        .targets
        .iter()
        .find(|t| t.name.starts_with("graph lists through nginx"))
        .unwrap();
    assert!(!lists_target.passed, "{lists_target:?}");
    assert!(report.markdown().contains("## Graph lists"));
}
