//! The whole API on a real three-primary Redis Cluster (`redis-cluster://`
//! in `redis.url`, nothing else changed): a cold view is read from
//! Postgres and written back to the Cluster, the next read is Redis's,
//! untracking drops every kind of the topic's views at once (one `DEL`,
//! legal because they share a hash tag), and the operators' view of the
//! rate budget finds pauses on every primary.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use hubpulse_cache::RedisBudget;
use hubpulse_client::{Method, ViewQuery};
use hubpulse_domain::rate::{BudgetPolicy, RateBudget, Resource};
use hubpulse_domain::{Topic, ViewKind};
use hubpulse_testkit::{TestApp, TestRedisCluster, eventually};
use secrecy::SecretString;
use serde_json::Value;

async fn seed(app: &TestApp, topic: &str, n: i64) {
    app.db
        .client()
        .await
        .batch_execute(&format!(
            "INSERT INTO owners (id, login, kind) VALUES (1, 'octo', 'User');
             INSERT INTO repositories (id, owner_id, name, html_url, description, stargazers_count, created_at, updated_at, pushed_at)
               SELECT i, 1, 'repo-' || i, 'https://github.com/octo/repo-' || i, 'about ' || i,
                      i * 7 % 1000, '2020-01-01Z', '2021-01-01Z', '2024-01-01Z'
               FROM generate_series(1, {n}) i;
             INSERT INTO topics (name, tracked) VALUES ('{topic}', true);
             INSERT INTO repository_topics (topic_id, repository_id)
               SELECT t.id, i FROM topics t, generate_series(1, {n}) i WHERE t.name = '{topic}';"
        ))
        .await
        .unwrap();
}

async fn view_reads(app: &TestApp, tier: &str) -> f64 {
    let metrics = app.api.metrics().await.unwrap();
    metrics.sum("hubpulse_view_reads_total", &[("tier", tier)])
}

#[tokio::test]
async fn the_api_reads_writes_back_and_drops_views_on_a_redis_cluster() {
    let cluster = TestRedisCluster::new().await;
    let app = TestApp::spawn_with(|s| {
        s.redis.url = SecretString::from(cluster.url());
        s.redis.key_prefix = cluster.key_prefix().to_owned();
        s.topics.tracked = Vec::new();
        // Past the process cache at once: the reads below are Redis's.
        s.views.process_ttl_ms = 1;
    })
    .await;
    assert!(app.api.ready().await.unwrap().is_ready());
    seed(&app, "clustered", 60).await;
    let cache = cluster.cache().await;
    let topic = Topic::parse("clustered").unwrap();

    let first = app
        .api
        .view(ViewKind::Popularity, "clustered", &ViewQuery::default())
        .await
        .unwrap();
    assert_eq!(first.status, 200);
    assert_eq!(view_reads(&app, "postgres").await, 1.0);
    let stored = eventually(
        "the view written back to the Cluster",
        Duration::from_secs(10),
        || async {
            cache
                .get_view(&topic, ViewKind::Popularity)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "not yet".to_owned())
        },
    )
    .await;
    assert_eq!(Some(stored.etag.as_ref()), first.etag().map(str::as_bytes));
    tokio::time::sleep(Duration::from_millis(20)).await;
    let again = app
        .api
        .view(ViewKind::Popularity, "clustered", &ViewQuery::default())
        .await
        .unwrap();
    assert_eq!(again.etag(), first.etag());
    assert!(
        view_reads(&app, "redis").await >= 1.0,
        "the second read was Redis's"
    );

    // Every kind stored, then all dropped by one DEL on untracking.
    for kind in ViewKind::ALL {
        cache.put_view(&topic, kind, &stored).await.unwrap();
    }
    app.api
        .untrack(&topic)
        .await
        .unwrap()
        .expect("it was tracked");
    for kind in ViewKind::ALL {
        assert_eq!(
            cache.get_view(&topic, kind).await.unwrap(),
            None,
            "{kind:?}"
        );
    }

    // Pauses of tokens whose buckets live on different primaries: the
    // operators' view scans them all.
    let budget = RedisBudget::new(
        cache.clone(),
        BudgetPolicy {
            reserve_ratio: 0.1,
            probe_lease: Duration::from_secs(3),
        },
    )
    .unwrap();
    let until = Utc::now() + TimeDelta::seconds(600);
    let tokens: Vec<String> = (0..8).map(|i| format!("tok{i}")).collect();
    for token in &tokens {
        budget.pause(token, Resource::Core, until).await.unwrap();
    }
    let owners: std::collections::HashSet<u16> = tokens
        .iter()
        .map(|t| cluster.owner_of(&budget.bucket_key(t, Resource::Core)))
        .collect();
    assert!(owners.len() >= 2, "the pauses are on one primary only");
    let reply = app
        .api
        .call(Method::GET, "/v1/rate_limit", true, None)
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&reply.body).unwrap();
    let mut listed: Vec<&str> = body["pauses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["credential"].as_str().unwrap())
        .collect();
    listed.sort_unstable();
    assert_eq!(
        listed,
        tokens.iter().map(String::as_str).collect::<Vec<_>>()
    );
    // Every primary's buckets, each with its pause.
    let buckets = body["buckets"].as_array().unwrap();
    let mut listed: Vec<&str> = buckets
        .iter()
        .map(|b| b["credential"].as_str().unwrap())
        .collect();
    listed.sort_unstable();
    assert_eq!(
        listed,
        tokens.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert!(
        buckets
            .iter()
            .all(|b| b["resource"] == "core" && b["paused_until"].is_string()),
        "{body}"
    );
    app.shutdown().await;
}
