//! The cold path of a view (not in this process, not in Redis): readers that
//! miss together share one Postgres read, the answer is compressed, and the
//! view written back to Redis never replaces one a crawl published
//! meanwhile. Also: the replica answers on its Unix socket.

use std::time::Duration;

use hubpulse_cache::{Cache, Compression, View};
use hubpulse_client::ViewQuery;
use hubpulse_domain::{Topic, ViewKind};
use hubpulse_store::read_model;
use hubpulse_store::topics;
use hubpulse_testkit::{TestApp, eventually, test_settings};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A tracked topic with `n` repositories, enough for a view worth compressing.
async fn seed(app: &TestApp, topic: &str, n: i64) {
    let client = app.db.client().await;
    client
        .batch_execute(&format!(
            "INSERT INTO owners (id, login, kind) VALUES (1, 'octo', 'User');
             INSERT INTO repositories (id, owner_id, name, html_url, description, stargazers_count, created_at, updated_at, pushed_at)
               SELECT i, 1, 'repo-' || i, 'https://github.com/octo/repo-' || i, 'a repository about ' || i,
                      i * 7 % 1000, '2020-01-01Z', '2021-01-01Z', '2024-01-01Z'
               FROM generate_series(1, {n}) i;
             INSERT INTO topics (name, tracked) VALUES ('{topic}', true) ON CONFLICT (name) DO UPDATE SET tracked = true;
             INSERT INTO repository_topics (topic_id, repository_id)
               SELECT t.id, i FROM topics t, generate_series(1, {n}) i WHERE t.name = '{topic}';"
        ))
        .await
        .unwrap();
}

/// The value of `hubpulse_view_reads_total` for one tier, from /metrics.
async fn view_reads(app: &TestApp, tier: &str) -> u64 {
    let metrics = app.api.metrics().await.unwrap();
    metrics.sum("hubpulse_view_reads_total", &[("tier", tier)]) as u64
}

fn compressed() -> ViewQuery {
    ViewQuery::default().accept_encoding("gzip, br")
}

#[tokio::test]
async fn readers_that_miss_together_share_one_postgres_read_and_redis_gets_the_view_back() {
    let app = TestApp::spawn().await;
    seed(&app, "cold", 400).await;
    let query = compressed();
    let reads = (0..8).map(|_| app.api.view(ViewKind::Popularity, "cold", &query));
    let responses = futures::future::join_all(reads).await;
    let mut etags = Vec::new();
    for response in responses {
        let response = response.unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(
            response.content_encoding(),
            Some("br"),
            "a cold answer is compressed too"
        );
        etags.push(response.etag().unwrap().to_owned());
    }
    etags.dedup();
    assert_eq!(etags.len(), 1, "{etags:?}");
    assert_eq!(
        view_reads(&app, "postgres").await,
        1,
        "eight readers, one Postgres read"
    );
    assert_eq!(
        view_reads(&app, "process").await + view_reads(&app, "redis").await,
        0
    );

    // The write-back happens after the answer: wait for it.
    let cache = Cache::connect(&test_settings(&app.db, &app.redis).redis).unwrap();
    let topic = Topic::parse("cold").unwrap();
    let stored = eventually(
        "a view written back to Redis",
        Duration::from_secs(10),
        || async {
            match cache.get_view(&topic, ViewKind::Popularity).await {
                Ok(Some(view)) => Ok(view),
                Ok(None) => Err("none yet".to_owned()),
                Err(err) => Err(err.to_string()),
            }
        },
    )
    .await;
    let store = hubpulse_store::Store::connect(&app.db.settings()).unwrap();
    let items = topics::view_items(&store.conn().await.unwrap(), &topic, ViewKind::Popularity)
        .await
        .unwrap();
    let quick = View::from_items_with(&items, Compression::Quick).unwrap();
    assert_eq!(
        stored, quick,
        "Redis holds the view the readers were answered with"
    );
    assert_eq!(stored.etag, etags[0].as_bytes());
}

#[tokio::test]
async fn a_write_back_never_replaces_a_view_a_crawl_published_meanwhile() {
    let app = TestApp::spawn().await;
    seed(&app, "raced", 50).await;
    let cache = Cache::connect(&test_settings(&app.db, &app.redis).redis).unwrap();
    let topic = Topic::parse("raced").unwrap();
    let published: Vec<Value> = vec![serde_json::json!({"id": 1, "published": "by a crawl"})];
    let published = View::from_items(&published).unwrap();
    let older = View::from_items(&[serde_json::json!({"id": 2})]).unwrap();

    assert!(
        cache
            .put_view_if_absent(&topic, ViewKind::Activity, &older)
            .await
            .unwrap()
    );
    cache
        .put_view(&topic, ViewKind::Activity, &published)
        .await
        .unwrap();
    assert!(
        !cache
            .put_view_if_absent(&topic, ViewKind::Activity, &older)
            .await
            .unwrap(),
        "a view is there: nothing written"
    );
    assert_eq!(
        cache.get_view(&topic, ViewKind::Activity).await.unwrap(),
        Some(published.clone())
    );
    let body: Value = app.get("/api/activity/raced").await.json().await.unwrap();
    assert_eq!(body[0]["published"], "by a crawl");
}

async fn get_over_unix(path: &std::path::Path, uri: &str) -> String {
    let mut stream = tokio::net::UnixStream::connect(path).await.unwrap();
    stream
        .write_all(
            format!("GET {uri} HTTP/1.1\r\nhost: replica\r\nconnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    reply
}

#[tokio::test]
async fn a_replica_answers_on_its_unix_socket_and_replaces_only_a_dead_ones_file() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("api.sock");
    // A file left by a replica that died: replaced at start-up.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(socket.exists());
    let app = TestApp::spawn_with(|s| s.server.unix_socket = Some(socket.clone())).await;
    seed(&app, "socketed", 3).await;

    let reply = get_over_unix(&socket, "/api/popularity/socketed").await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(
        reply
            .to_ascii_lowercase()
            .contains("x-hubpulse-replica: test"),
        "{reply}"
    );
    assert!(reply.contains("\"full_name\":\"octo/repo-3\""), "{reply}");
    let reply = get_over_unix(&socket, "/no/such/route").await;
    assert!(reply.starts_with("HTTP/1.1 404"), "{reply}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777,
        0o666
    );

    // A socket a live replica answers on is never taken over.
    let mut settings = test_settings(&app.db, &app.redis);
    settings.server.unix_socket = Some(socket.clone());
    let err = hubpulse_api::Application::build(settings)
        .await
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("another process is listening"),
        "{err}"
    );

    // A replica that stops removes its socket file.
    app.shutdown().await;
    assert!(!socket.exists());
}

#[tokio::test]
async fn a_redis_miss_is_answered_from_the_stored_view_of_a_tracked_topic_only() {
    let app = TestApp::spawn().await;
    seed(&app, "stored", 20).await;
    let topic = Topic::parse("stored").unwrap();
    let store = hubpulse_store::Store::connect(&app.db.settings()).unwrap();
    // A stored view that differs from what the normalized rows would give:
    // answering with it proves the answer came from the read model.
    let items = vec![serde_json::json!({"id": 7, "from": "the read model"})];
    let view = View::from_items(&items).unwrap();
    let stored = hubpulse_jobs::stored_view(&view);
    read_model::save_view(
        &store.conn().await.unwrap(),
        &topic,
        ViewKind::Popularity,
        &stored,
    )
    .await
    .unwrap();
    // Saving again replaces, never duplicates.
    read_model::save_view(
        &store.conn().await.unwrap(),
        &topic,
        ViewKind::Popularity,
        &stored,
    )
    .await
    .unwrap();

    let response = app
        .api
        .view(
            ViewKind::Popularity,
            "stored",
            &ViewQuery::default().accept_encoding("br"),
        )
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.etag().unwrap().as_bytes(), &view.etag[..]);
    assert_eq!(&response.body[..], &view.brotli[..]);
    assert_eq!(view_reads(&app, "postgres").await, 1);
    let limited: Value = app
        .get("/api/popularity/stored?limit=1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(limited[0]["from"], "the read model");
    // The other orders have no stored view: built from the normalized rows.
    let by_name: Value = app.get("/api/stored").await.json().await.unwrap();
    assert_eq!(by_name.as_array().unwrap().len(), 20);

    // Untracked: the stored view is not served.
    let client = app.db.client().await;
    client
        .execute(
            "UPDATE topics SET tracked = false WHERE name = 'stored'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        read_model::topic_view(&store.conn().await.unwrap(), &topic, ViewKind::Popularity)
            .await
            .unwrap(),
        read_model::TopicView::NotTracked
    );
    let cache = Cache::connect(&test_settings(&app.db, &app.redis).redis).unwrap();
    eventually(
        "the by-name view written back",
        Duration::from_secs(5),
        || async {
            match cache.get_view(&topic, ViewKind::ByName).await {
                Ok(Some(_)) => Ok(()),
                _ => Err("not in Redis yet"),
            }
        },
    )
    .await;
    cache.delete_views(&topic).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    assert_eq!(app.get("/api/popularity/stored").await.status(), 404);
}
