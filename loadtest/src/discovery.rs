//! `hubpulse-bench discovery`: developer discovery over the simulator's
//! graph (issue 13), through the running stack. One seed user is synced
//! and `discover` grows the graph from it (`POST /v1/tasks`); the
//! simulator's own counters (`/_sim/stats`: requests, 304s and quota by
//! resource, admin routes not counted) give what it cost, against the
//! minimum its accounts allow (`/_sim/accounts/{login}`): 1 profile +
//! ⌈followers/100⌉ + ⌈following/100⌉ + ⌈starred/100⌉ + ⌈repos/100⌉ per
//! developer synced (an empty list costs its one call), and the two calls
//! (by login, by id) that find a suspended account gone. Then a second
//! discovery inside the staleness window, which must cost nothing; then
//! the graph is aged past the window (`synced_at` moved ten years back,
//! the clock's stand-in) and a third discovery re-syncs everyone, every
//! unchanged profile and list answered 304, at no quota.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hubpulse_client::{ApiClient, TaskStatus};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_postgres::{Client, NoTls};

use crate::bench::Target;
use crate::graphgen::ID_BASE;

/// Calls over the minimum allowed: a retried job asks its uncommitted page
/// again, a few at most.
pub fn allowed_extra(minimum: u64) -> u64 {
    (minimum / 100).max(5)
}

/// What one discovery cost, from the simulator's counters.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Cost {
    pub seconds: f64,
    /// Requests GitHub (the simulator) answered.
    pub requests: u64,
    /// Of which 304 Not Modified.
    pub not_modified: u64,
    /// Core rate-limit quota spent.
    pub quota: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DiscoveryBench {
    pub seed: String,
    pub developers_synced: u64,
    pub developers_gone: u64,
    /// The fewest calls that can read what was read.
    pub minimum: u64,
    pub first: Cost,
    /// Inside the staleness window.
    pub second: Cost,
    /// After the window: every developer re-synced.
    pub after_window: Cost,
    /// `sync_developer` attempts beyond the first (retried jobs).
    pub retries: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    requests: u64,
    not_modified: u64,
    quota: u64,
}

async fn counters(http: &reqwest::Client, sim: &str) -> anyhow::Result<Counters> {
    let v: Value = http
        .get(format!("{sim}/_sim/stats"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let stats = &v["stats"];
    let quota = stats["quota_used"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.ends_with("/core"))
                .filter_map(|(_, v)| v.as_u64())
                .sum()
        })
        .unwrap_or(0);
    Ok(Counters {
        requests: stats["requests"]
            .as_u64()
            .context("/_sim/stats has no requests")?,
        not_modified: stats["not_modified"].as_u64().unwrap_or(0),
        quota,
    })
}

/// Queues a job through `POST /v1/tasks` and waits until it succeeded.
async fn task(api: &ApiClient, kind: &str, args: Value, within: Duration) -> anyhow::Result<Value> {
    let body = json!({ "kind": kind, "args": args });
    let reply = api
        .call(Method::POST, "/v1/tasks", true, Some(&body))
        .await?;
    let id = reply.json::<Value>()?["id"]
        .as_i64()
        .context("POST /v1/tasks answered no id")?;
    let done = api.wait_task(id, within).await?;
    if done.status != TaskStatus::Succeeded {
        bail!(
            "{kind} job {id} ended {:?}: {:?}",
            done.status,
            done.last_error
        );
    }
    Ok(done.result.unwrap_or(Value::Null))
}

/// One `discover` to its end (frontier empty), and what it cost.
async fn discover(
    api: &ApiClient,
    http: &reqwest::Client,
    sim: &str,
    batch: u32,
    within: Duration,
) -> anyhow::Result<Cost> {
    let before = counters(http, sim).await?;
    let started = Instant::now();
    let result = task(api, "discover", json!({ "batch": batch }), within).await?;
    if result["frontier"].as_i64() != Some(0) {
        bail!("discovery ended with a frontier left: {result}");
    }
    let after = counters(http, sim).await?;
    Ok(Cost {
        seconds: started.elapsed().as_secs_f64(),
        requests: after.requests - before.requests,
        not_modified: after.not_modified - before.not_modified,
        quota: after.quota.saturating_sub(before.quota),
    })
}

fn pages(n: u64) -> u64 {
    n.div_ceil(100).max(1)
}

/// The minimum calls of the developers discovery synced, from the
/// simulator's own accounts.
async fn minimum(
    http: &reqwest::Client,
    sim: &str,
    db: &Client,
) -> anyhow::Result<(u64, u64, u64)> {
    let synced = db
        .query(
            "SELECT login FROM developers WHERE state = 'synced' AND id <= $1",
            &[&ID_BASE],
        )
        .await?;
    let gone: i64 = db
        .query_one(
            "SELECT count(*) FROM developers WHERE state = 'gone' AND id <= $1",
            &[&ID_BASE],
        )
        .await?
        .get(0);
    let mut minimum = 2 * gone as u64;
    for row in &synced {
        let login: String = row.get(0);
        let a: Value = http
            .get(format!("{sim}/_sim/accounts/{login}"))
            .send()
            .await?
            .error_for_status()
            .with_context(|| format!("the simulator's account {login}"))?
            .json()
            .await?;
        let n = |k: &str| a[k].as_u64().unwrap_or(0);
        let repos = a["repositories"].as_array().map_or(0, |r| r.len() as u64);
        minimum +=
            1 + pages(n("followers")) + pages(n("following")) + pages(n("starred")) + pages(repos);
    }
    Ok((minimum, synced.len() as u64, gone as u64))
}

pub async fn run(
    api: &ApiClient,
    sim: &str,
    database_url: &str,
    seed: &str,
    batch: u32,
    within: Duration,
) -> anyhow::Result<DiscoveryBench> {
    let sim = sim.trim_end_matches('/');
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()?;
    let (db, connection) = tokio_postgres::connect(database_url, NoTls)
        .await
        .context("connecting to Postgres")?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let before = counters(&http, sim).await?;
    let started = Instant::now();
    task(api, "sync_developer", json!({ "login": seed }), within).await?;
    let mut first = discover(api, &http, sim, batch, within).await?;
    // The seed's own sync belongs to the first discovery's cost.
    let after = counters(&http, sim).await?;
    first.seconds = started.elapsed().as_secs_f64();
    first.requests = after.requests - before.requests;
    first.not_modified = after.not_modified - before.not_modified;
    first.quota = after.quota.saturating_sub(before.quota);
    let (minimum, developers_synced, developers_gone) = minimum(&http, sim, &db).await?;
    let retries: i64 = db
        .query_one(
            "SELECT COALESCE(sum(attempts - 1), 0)::bigint FROM jobs WHERE kind = 'sync_developer'",
            &[],
        )
        .await?
        .get(0);
    let second = discover(api, &http, sim, batch, within).await?;
    db.execute(
        "UPDATE developers SET synced_at = synced_at - interval '3650 days' \
         WHERE id <= $1 AND synced_at IS NOT NULL",
        &[&ID_BASE],
    )
    .await?;
    let after_window = discover(api, &http, sim, batch, within).await?;
    Ok(DiscoveryBench {
        seed: seed.to_owned(),
        developers_synced,
        developers_gone,
        minimum,
        first,
        second,
        after_window,
        retries: retries as u64,
    })
}

pub fn targets(b: &DiscoveryBench) -> Vec<Target> {
    let devs = b.developers_synced.max(1) as f64;
    let extra = allowed_extra(b.minimum);
    let a = &b.after_window;
    vec![
        Target {
            name: format!(
                "discovery from {}: {} developers synced, {} gone",
                b.seed, b.developers_synced, b.developers_gone
            ),
            wanted: format!(
                "GitHub calls within {extra} of the minimum (1 + ⌈followers/100⌉ + ⌈following/100⌉ + ⌈starred/100⌉ + ⌈repos/100⌉ each)"
            ),
            measured: format!(
                "{} calls ({:.2} per developer) against the minimum {} ({:.2}), {} retried jobs, {:.1} s",
                b.first.quota,
                b.first.quota as f64 / devs,
                b.minimum,
                b.minimum as f64 / devs,
                b.retries,
                b.first.seconds
            ),
            passed: b.developers_synced > 0
                && b.first.quota >= b.minimum
                && b.first.quota <= b.minimum + extra,
        },
        Target {
            name: "discovery again inside the staleness window".into(),
            wanted: "0 GitHub calls".into(),
            measured: format!("{} calls, {:.1} s", b.second.requests, b.second.seconds),
            passed: b.second.requests == 0,
        },
        Target {
            name: "discovery after the window, nothing changed on GitHub".into(),
            wanted: "every developer revalidated, every call a 304, 0 quota".into(),
            measured: format!(
                "{} calls ({:.2} per developer), {} of them 304s, {} quota spent, {:.1} s",
                a.requests,
                a.requests as f64 / devs,
                a.not_modified,
                a.quota,
                a.seconds
            ),
            passed: a.requests > 0
                && a.not_modified == a.requests
                && a.quota == 0
                && a.requests + 2 * b.developers_gone >= b.minimum,
        },
    ]
}
