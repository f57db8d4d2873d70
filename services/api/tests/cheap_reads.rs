//! The public reads a flood is made of cost what they must and no more
//! (issue 12, items 5 and 8): an untracked topic's 404 asks Postgres
//! nothing, `/v1/topics` reads kept counts rather than counting
//! memberships, and a `?limit=N` answer is computed once per view, N and
//! encoding, then served as a full read is.

use std::time::Duration;

use hubpulse_testkit::TestApp;
use reqwest::StatusCode;

/// Three repositories under `topic`, written as a crawl would.
async fn seed(app: &TestApp, topic: &str) {
    app.db
        .client()
        .await
        .batch_execute(&format!(
            "INSERT INTO owners (id, login, kind) VALUES (1, 'zeta', 'User');
             INSERT INTO repositories (id, owner_id, name, html_url, stargazers_count, created_at, updated_at) VALUES
               (10, 1, 'b', 'https://github.com/zeta/b', 50, '2020-01-01Z', '2021-01-01Z'),
               (11, 1, 'a', 'https://github.com/zeta/a', 60, '2020-01-01Z', '2021-01-01Z'),
               (12, 1, 'c', 'https://github.com/zeta/c', 900, '2020-01-01Z', '2021-01-01Z');
             INSERT INTO topics (name, tracked) VALUES ('{topic}', true) ON CONFLICT (name) DO UPDATE SET tracked = true;
             INSERT INTO repository_topics (topic_id, repository_id) SELECT id, r FROM topics, unnest(ARRAY[10, 11, 12]) r WHERE name = '{topic}';"
        ))
        .await
        .unwrap();
}

/// Runs `reads` while another session holds `table` locked against every
/// reader: a read that queries the table waits, and misses `within`.
async fn with_table_locked<F, Fut>(app: &TestApp, table: &str, reads: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut locker = app.db.client().await;
    let tx = locker.transaction().await.unwrap();
    tx.batch_execute(&format!("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
        .await
        .unwrap();
    reads().await;
    tx.rollback().await.unwrap();
}

#[tokio::test]
async fn an_untracked_topic_is_answered_without_asking_postgres() {
    let app = TestApp::spawn_with(|s| s.workers.count = 0).await;
    seed(&app, "rust").await;
    // The first read learns which topics are tracked.
    assert_eq!(app.get("/api/rust").await.status(), StatusCode::OK);
    with_table_locked(&app, "topics", || async {
        for n in 0..40 {
            let path = format!("/api/never-tracked-{n}");
            let reply = tokio::time::timeout(Duration::from_secs(3), app.get(&path))
                .await
                .unwrap_or_else(|_| panic!("{path} waited on Postgres"));
            assert_eq!(reply.status(), StatusCode::NOT_FOUND, "{path}");
        }
    })
    .await;
    app.shutdown().await;
}

#[tokio::test]
async fn the_topic_list_reads_kept_counts_not_memberships() {
    let app = TestApp::spawn_with(|s| s.workers.count = 0).await;
    seed(&app, "rust").await;
    with_table_locked(&app, "repository_topics", || async {
        let topics = tokio::time::timeout(Duration::from_secs(5), app.api.topics())
            .await
            .expect("/v1/topics counted the memberships")
            .unwrap();
        let rust = topics.iter().find(|t| t.name.as_str() == "rust");
        assert_eq!(rust.map(|t| t.repositories), Some(3), "{topics:?}");
    })
    .await;
    app.shutdown().await;
}

/// `hubpulse_view_prefixes_total{result}` on the app's /metrics.
async fn prefixes(app: &TestApp, result: &str) -> f64 {
    app.api
        .metrics()
        .await
        .unwrap()
        .sum("hubpulse_view_prefixes_total", &[("result", result)])
}

#[tokio::test]
async fn a_limited_read_is_computed_once_per_view_limit_and_encoding() {
    let app = TestApp::spawn_with(|s| s.workers.count = 0).await;
    seed(&app, "rust").await;
    let read = |limit: u32, encoding: &'static str| {
        let url = app.url(&format!("/api/popularity/rust?limit={limit}"));
        let http = app.http().clone();
        async move {
            let reply = http
                .get(url)
                .header("accept-encoding", encoding)
                .send()
                .await
                .unwrap();
            assert_eq!(reply.status(), StatusCode::OK);
            let encoded = reply
                .headers()
                .get("content-encoding")
                .map(|v| v.to_str().unwrap().to_owned());
            (encoded, reply.bytes().await.unwrap())
        }
    };
    let (encoding, first) = read(2, "br").await;
    assert_eq!(encoding.as_deref(), Some("br"));
    for _ in 0..5 {
        assert_eq!(read(2, "br").await.1, first, "the same bytes each time");
    }
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut brotli::Decompressor::new(&first[..], 4096), &mut plain)
        .unwrap();
    let items: Vec<serde_json::Value> = serde_json::from_slice(&plain).unwrap();
    assert_eq!(
        items
            .iter()
            .map(|i| i["id"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [12, 11]
    );
    // Another encoding and another N are prefixes of their own.
    let (encoding, _) = read(2, "gzip").await;
    assert_eq!(encoding.as_deref(), Some("gzip"));
    read(1, "gzip").await;
    read(1, "gzip").await;
    assert_eq!(prefixes(&app, "computed").await, 3.0);
    assert_eq!(prefixes(&app, "reused").await, 6.0);
    app.shutdown().await;
}
