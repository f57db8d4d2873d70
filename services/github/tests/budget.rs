//! The client spending GitHub's quota through the Redis budget, wired the
//! way the api and jobs crates wire it: two replicas together never exceed
//! what the simulator allows, and Redis being down does not lift the limit.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use common::{Search, TOKEN, settings};
use fred::prelude::KeysInterface;
use hubpulse_cache::{Cache, RedisBudget, RedisSettings};
use hubpulse_domain::Topic;
use hubpulse_github::{
    Credential, GithubClient, GithubError, GithubSettings, Operation, Page, Resource, SearchQuery,
};
use hubpulse_testkit::TestRedis;
use hubpulse_testkit::TestSim;

/// The simulator's search quota per window (GitHub's, for a token).
const QUOTA: u64 = 30;

async fn redis_budget(url: &str, prefix: &str, settings: &GithubSettings) -> Arc<RedisBudget> {
    let cache = Cache::connect(&RedisSettings {
        url: url.to_owned().into(),
        key_prefix: prefix.to_owned(),
        pool_size: 2,
        connect_timeout_ms: 1_000,
        command_timeout_ms: 1_000,
    })
    .unwrap();
    if !url.ends_with(":1") {
        tokio::time::timeout(Duration::from_secs(5), async {
            while cache.ping().await.is_err() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("redis answers");
    }
    Arc::new(RedisBudget::new(cache, settings.budget_policy()).unwrap())
}

fn query() -> SearchQuery {
    SearchQuery::topic(Topic::parse("rust").unwrap())
}

/// Calls until the budget says no; returns how many went through.
async fn spend_until_refused(client: GithubClient) -> (u64, GithubError) {
    let url = client.search_repositories_url(&query());
    let mut spent = 0;
    loop {
        match client
            .get::<Search>(
                Operation::SearchRepositories,
                &url,
                &Credential::Service,
                None,
            )
            .await
        {
            Ok(Page::Fresh { .. }) => spent += 1,
            Ok(other) => panic!("a search answers 200: {other:?}"),
            Err(err) => return (spent, err),
        }
        assert!(spent <= QUOTA, "spent past the quota");
    }
}

#[tokio::test]
async fn two_replicas_sharing_one_redis_never_exceed_githubs_quota() {
    let sim = TestSim::spawn_with(|s| s.limits.search_authenticated = QUOTA).await;
    let redis = TestRedis::new().await;
    let settings = settings(&sim.url);
    let replicas = [
        GithubClient::new(
            &settings,
            redis_budget(redis.url(), redis.key_prefix(), &settings).await,
            None,
        )
        .unwrap(),
        GithubClient::new(
            &settings,
            redis_budget(redis.url(), redis.key_prefix(), &settings).await,
            None,
        )
        .unwrap(),
    ];

    // Three workers per replica, all starting at once.
    let mut workers = Vec::new();
    for replica in &replicas {
        for _ in 0..3 {
            workers.push(tokio::spawn(spend_until_refused(replica.clone())));
        }
    }
    let mut spent = 0;
    for worker in workers {
        let (n, err) = worker.await.unwrap();
        spent += n;
        match err {
            GithubError::BudgetExhausted { resource, until } => {
                assert_eq!(resource, Resource::Search);
                assert!(
                    until - Utc::now() > TimeDelta::seconds(30),
                    "rescheduled at the window's reset, not sooner: {until}"
                );
            }
            other => panic!("a worker must stop on the budget, not on {other:?}"),
        }
    }

    let stats = sim.stats().await;
    assert_eq!(stats.quota_exceeded, 0, "{stats:?}");
    assert_eq!(
        stats.with_status(403) + stats.with_status(429),
        0,
        "{stats:?}"
    );
    // 10% of 30 stays in reserve; everything else is spendable, once.
    assert_eq!(spent, QUOTA - 3);
    assert_eq!(sim.search_quota_used().await, spent);

    // Redis holds the token's id, never the token.
    let pool = Cache::connect(&RedisSettings {
        url: redis.url().to_owned().into(),
        key_prefix: redis.key_prefix().to_owned(),
        pool_size: 1,
        connect_timeout_ms: 1_000,
        command_timeout_ms: 1_000,
    })
    .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let key = format!(
        "{}:ratelimit:{{{}}}:search",
        redis.key_prefix(),
        replicas[0].token_id()
    );
    let fields: std::collections::HashMap<String, String> =
        fred::prelude::HashesInterface::hgetall(pool.pool().next(), &key)
            .await
            .unwrap();
    assert_eq!(fields.get("remaining").map(String::as_str), Some("3"));
    let exists: i64 = pool.pool().next().exists(&key).await.unwrap();
    assert_eq!(exists, 1);
    assert!(!key.contains(TOKEN) && !fields.values().any(|v| v.contains(TOKEN)));
}

#[tokio::test]
async fn revalidations_through_the_redis_budget_cost_nothing() {
    let sim = TestSim::spawn_with(|s| s.limits.search_authenticated = QUOTA).await;
    let redis = TestRedis::new().await;
    let settings = settings(&sim.url);
    let budget = redis_budget(redis.url(), redis.key_prefix(), &settings).await;
    let client = GithubClient::new(&settings, budget.clone(), None).unwrap();
    let url = client.search_repositories_url(&query());

    let Page::Fresh {
        etag: Some(etag), ..
    } = client
        .get::<Search>(
            Operation::SearchRepositories,
            &url,
            &Credential::Service,
            None,
        )
        .await
        .unwrap()
    else {
        panic!("a fresh page with an ETag")
    };
    // Three times the quota in revalidations: none of them spends a unit.
    for _ in 0..(3 * QUOTA) {
        let page = client
            .get::<Search>(
                Operation::SearchRepositories,
                &url,
                &Credential::Service,
                Some(&etag),
            )
            .await
            .unwrap();
        assert!(matches!(page, Page::NotModified { .. }));
    }
    let state = budget
        .state(client.token_id(), Resource::Search)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.remaining, QUOTA - 1);
    assert_eq!(sim.search_quota_used().await, 1);
}

#[tokio::test]
async fn with_redis_down_each_replica_still_keeps_the_reserve() {
    let sim = TestSim::spawn_with(|s| s.limits.search_authenticated = QUOTA).await;
    let settings = settings(&sim.url);
    // Nothing listens on port 1: every budget call fails at once.
    let budget = redis_budget("redis://127.0.0.1:1", "down", &settings).await;
    let client = GithubClient::new(&settings, budget, None).unwrap();

    let workers: Vec<_> = (0..3)
        .map(|_| tokio::spawn(spend_until_refused(client.clone())))
        .collect();
    let mut spent = 0;
    for worker in workers {
        let (n, err) = worker.await.unwrap();
        spent += n;
        assert!(
            matches!(err, GithubError::BudgetExhausted { .. }),
            "{err:?}"
        );
    }
    assert_eq!(spent, QUOTA - 3);
    assert_eq!(sim.stats().await.quota_exceeded, 0);
}
