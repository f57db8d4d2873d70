//! The Redis rate budget against a real Redis, and again against a real
//! Redis Cluster: atomic spending across pools, the single probe, the
//! window rules, expiry, pauses, and what happens when Redis is gone.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use common::{connected, settings};
use fred::prelude::KeysInterface;
use hubpulse_cache::{Cache, RedisBudget};
use hubpulse_domain::rate::{BudgetPolicy, Grant, RateBudget, RateObservation, Resource};
use hubpulse_testkit::TestRedisCluster;

on_single_and_cluster!(
    two_pools_never_hand_out_more_than_the_window_minus_the_reserve,
    an_unknown_window_lets_exactly_one_probe_through_until_a_reply_arrives,
    observations_keep_the_lower_count_replace_on_a_new_window_and_ignore_old_ones,
    the_key_lives_past_the_reset_and_a_pause_holds_every_caller,
    every_token_s_pause_is_listed_and_cleared,
    every_bucket_is_listed_with_what_it_holds,
);

fn policy(reserve_ratio: f64) -> BudgetPolicy {
    BudgetPolicy {
        reserve_ratio,
        probe_lease: Duration::from_secs(3),
    }
}

fn window(limit: u64, remaining: u64, reset: DateTime<Utc>) -> RateObservation {
    RateObservation {
        limit,
        remaining,
        used: limit - remaining,
        reset: reset.with_timezone(&Utc),
    }
}

/// GitHub's resets are whole seconds.
fn in_secs(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(Utc::now().timestamp() + secs, 0).unwrap()
}

async fn two_pools_never_hand_out_more_than_the_window_minus_the_reserve(url: &str, prefix: &str) {
    let a = Arc::new(RedisBudget::new(connected(url, prefix).await, policy(0.1)).unwrap());
    let b = Arc::new(RedisBudget::new(connected(url, prefix).await, policy(0.1)).unwrap());
    let reset = in_secs(60);
    a.observe("tok", Resource::Search, window(50, 50, reset))
        .await
        .unwrap();

    let mut tasks = Vec::new();
    for i in 0..120 {
        let budget = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            budget.acquire("tok", Resource::Search).await.unwrap()
        }));
    }
    let mut granted = 0;
    for task in tasks {
        match task.await.unwrap() {
            Grant::Granted { window } => {
                assert_eq!(window, Some(reset));
                granted += 1;
            }
            Grant::Denied { until } => assert!(until >= reset, "denied until the reset"),
            Grant::Probing { .. } => panic!("the window is known"),
        }
    }
    assert_eq!(granted, 45, "5 of 50 stay in reserve");
    let state = a.state("tok", Resource::Search).await.unwrap().unwrap();
    assert_eq!((state.limit, state.remaining), (50, 5));
}

async fn an_unknown_window_lets_exactly_one_probe_through_until_a_reply_arrives(
    url: &str,
    prefix: &str,
) {
    let cache = connected(url, prefix).await;
    let budget = Arc::new(RedisBudget::new(cache, policy(0.1)).unwrap());

    let mut tasks = Vec::new();
    for _ in 0..20 {
        let budget = budget.clone();
        tasks.push(tokio::spawn(async move {
            budget.acquire("tok", Resource::Core).await.unwrap()
        }));
    }
    let mut probes = 0;
    for task in tasks {
        match task.await.unwrap() {
            Grant::Granted { window: None } => probes += 1,
            Grant::Granted { window: Some(_) } => panic!("no window is known yet"),
            Grant::Denied { .. } => panic!("an unknown window is probed, not denied"),
            Grant::Probing { until } => {
                let wait = until - Utc::now();
                assert!(
                    wait > TimeDelta::zero() && wait <= TimeDelta::seconds(3),
                    "others wait out the probe's lease, not longer: {wait}"
                );
            }
        }
    }
    assert_eq!(probes, 1);

    // A probe that got no headers back hands the turn on at once.
    budget.release_probe("tok", Resource::Core).await.unwrap();
    assert_eq!(
        budget.acquire("tok", Resource::Core).await.unwrap(),
        Grant::Granted { window: None }
    );

    budget
        .observe("tok", Resource::Core, window(5_000, 4_999, in_secs(3_600)))
        .await
        .unwrap();
    assert!(matches!(
        budget.acquire("tok", Resource::Core).await.unwrap(),
        Grant::Granted { window: Some(_) }
    ));
}

async fn remaining(budget: &RedisBudget) -> u64 {
    let state = budget.state("t", Resource::Search).await.unwrap();
    state.expect("the bucket exists").remaining
}

async fn observations_keep_the_lower_count_replace_on_a_new_window_and_ignore_old_ones(
    url: &str,
    prefix: &str,
) {
    let budget = RedisBudget::new(connected(url, prefix).await, policy(0.1)).unwrap();
    let reset = in_secs(60);
    budget
        .observe("t", Resource::Search, window(30, 20, reset))
        .await
        .unwrap();
    budget
        .observe("t", Resource::Search, window(30, 25, reset))
        .await
        .unwrap();
    assert_eq!(
        remaining(&budget).await,
        20,
        "a late reply gives nothing back"
    );

    budget
        .observe("t", Resource::Search, window(30, 29, in_secs(-100)))
        .await
        .unwrap();
    assert_eq!(remaining(&budget).await, 20, "an older window is ignored");

    // A 304 costs nothing: its unit comes back, within the same window only.
    let Grant::Granted { window: Some(w) } = budget.acquire("t", Resource::Search).await.unwrap()
    else {
        panic!("quota is left")
    };
    assert_eq!(remaining(&budget).await, 19);
    budget.refund("t", Resource::Search, w).await.unwrap();
    assert_eq!(remaining(&budget).await, 20);
    budget
        .refund("t", Resource::Search, in_secs(1_000))
        .await
        .unwrap();
    assert_eq!(remaining(&budget).await, 20);

    let next = in_secs(120);
    budget
        .observe("t", Resource::Search, window(30, 29, next))
        .await
        .unwrap();
    let state = budget.state("t", Resource::Search).await.unwrap().unwrap();
    assert_eq!((state.remaining, state.reset), (29, Some(next)));
}

async fn the_key_lives_past_the_reset_and_a_pause_holds_every_caller(url: &str, prefix: &str) {
    let cache = connected(url, prefix).await;
    let budget = RedisBudget::new(cache.clone(), policy(0.0)).unwrap();
    let key = budget.bucket_key("abc123", Resource::Search);
    assert_eq!(key, format!("{prefix}:ratelimit:{{abc123}}:search"));

    budget
        .observe("abc123", Resource::Search, window(30, 30, in_secs(60)))
        .await
        .unwrap();
    let ttl: i64 = cache.pool().next().pttl(&key).await.unwrap();
    assert!(
        (60_000..=60_000 + 125_000).contains(&ttl),
        "expires a little after the reset, not before and not never: {ttl} ms"
    );

    let until = Utc::now() + TimeDelta::seconds(300);
    budget
        .pause("abc123", Resource::Search, until)
        .await
        .unwrap();
    match budget.acquire("abc123", Resource::Search).await.unwrap() {
        Grant::Denied { until: got } => {
            assert_eq!(got.timestamp_millis(), until.timestamp_millis());
        }
        other => panic!("a pause must deny: {other:?}"),
    }
    let ttl: i64 = cache.pool().next().pttl(&key).await.unwrap();
    assert!(ttl > 300_000, "the pause outlives the window: {ttl} ms");
}

/// Buckets are found by a scan too (every primary on a Cluster), each
/// with its own limit, remaining, reset and pause.
async fn every_bucket_is_listed_with_what_it_holds(url: &str, prefix: &str) {
    let budget = RedisBudget::new(connected(url, prefix).await, policy(0.1)).unwrap();
    let reset = in_secs(600);
    for i in 0..8u64 {
        let token = format!("token{i}");
        budget
            .observe(&token, Resource::Core, window(5_000, 4_000 + i, reset))
            .await
            .unwrap();
        budget
            .observe(&token, Resource::Search, window(30, 20 - i, in_secs(60)))
            .await
            .unwrap();
    }
    let paused_until = in_secs(300);
    budget
        .pause("token5", Resource::Search, paused_until)
        .await
        .unwrap();

    let buckets = budget.buckets().await.unwrap();
    assert_eq!(buckets.len(), 16, "{buckets:?}");
    for (i, pair) in buckets.chunks(2).enumerate() {
        let i = i as u64;
        let (core, search) = (&pair[0], &pair[1]);
        assert_eq!(core.credential, format!("token{i}"));
        assert_eq!(
            (core.resource, core.state.limit, core.state.remaining),
            (Resource::Core, 5_000, 4_000 + i)
        );
        assert_eq!(
            core.state.reset.map(|r| r.timestamp()),
            Some(reset.timestamp())
        );
        assert_eq!(
            (search.resource, search.state.limit, search.state.remaining),
            (Resource::Search, 30, 20 - i)
        );
        let paused = search.state.paused_until.map(|p| p.timestamp_millis());
        if i == 5 {
            assert_eq!(paused, Some(paused_until.timestamp_millis()));
        } else {
            assert_eq!(paused, None, "{search:?}");
        }
    }
}

/// Pauses are found by a scan, which on a Cluster must visit every primary:
/// the tokens' buckets hash to different ones.
async fn every_token_s_pause_is_listed_and_cleared(url: &str, prefix: &str) {
    let budget = RedisBudget::new(connected(url, prefix).await, policy(0.1)).unwrap();
    let until = Utc::now() + TimeDelta::seconds(600);
    let tokens: Vec<String> = (0..12).map(|i| format!("token{i}")).collect();
    for token in &tokens {
        budget.pause(token, Resource::Core, until).await.unwrap();
    }
    // One token unpaused: listed only while paused.
    budget
        .observe("calm", Resource::Core, window(10, 10, in_secs(60)))
        .await
        .unwrap();

    let pauses = budget.pauses().await.unwrap();
    let mut listed: Vec<String> = pauses.iter().map(|p| p.credential.clone()).collect();
    listed.sort();
    let mut expected = tokens.clone();
    expected.sort();
    assert_eq!(listed, expected);
    assert!(pauses.iter().all(|p| p.resource == Resource::Core));

    assert_eq!(budget.clear_pauses().await.unwrap(), 12);
    assert!(budget.pauses().await.unwrap().is_empty());
    assert!(matches!(
        budget.acquire("token3", Resource::Core).await.unwrap(),
        Grant::Granted { .. }
    ));
}

#[tokio::test]
async fn on_a_cluster_one_token_s_buckets_share_a_slot_and_tokens_spread() {
    let cluster = TestRedisCluster::new().await;
    let budget = RedisBudget::new(cluster.cache().await, policy(0.1)).unwrap();
    let owner = |token: &str, resource| cluster.owner_of(&budget.bucket_key(token, resource));
    for token in ["a", "b", "c"] {
        assert_eq!(owner(token, Resource::Core), owner(token, Resource::Search));
        assert_eq!(
            owner(token, Resource::Core),
            owner(token, Resource::Graphql)
        );
    }
    let primaries: std::collections::HashSet<u16> = (0..12)
        .map(|i| owner(&format!("token{i}"), Resource::Core))
        .collect();
    assert!(primaries.len() >= 2, "twelve tokens all on one primary");
}

#[tokio::test]
async fn redis_down_is_an_immediate_error_not_a_hang() {
    // Nothing listens on port 1.
    let cache = Cache::connect(&settings("redis://127.0.0.1:1", "down")).unwrap();
    let budget = RedisBudget::new(cache, policy(0.1)).unwrap();
    let started = std::time::Instant::now();
    let err = budget.acquire("t", Resource::Core).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(500));
    assert!(err.to_string().contains("unavailable"), "{err}");
}

#[test]
fn a_reserve_ratio_outside_zero_to_one_is_refused() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cache =
        rt.block_on(async { Cache::connect(&settings("redis://127.0.0.1:1", "x")).unwrap() });
    assert!(RedisBudget::new(cache.clone(), policy(1.0)).is_err());
    assert!(RedisBudget::new(cache, policy(-0.5)).is_err());
}
