//! The cases. Each breaks one member of the stack while it works, prints
//! what it sent and saw, and checks the property users rely on. Each leaves
//! the stack whole again ([`restore`]), pass or fail, so the next case
//! starts from a working stack.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::api::{Api, JobWatch, Sim, http_client};
use crate::load::{Load, LoadSpec, Tally};
use crate::report::Report;
use crate::{Stack, sql};

/// The simulated GitHub's topics the suite crawls: one read under load, one
/// crawled through faults, one crawled again after a kill, one crawling
/// while Postgres is away. Only the suite tracks them.
#[derive(Debug, Clone)]
pub struct Topics {
    pub load: (&'static str, usize),
    pub crawl: (&'static str, usize),
    pub resume: (&'static str, usize),
    pub outage: (&'static str, usize),
}

/// How hard and how long: `make faults` runs [`Profile::full`] against the
/// release stack; the crate's tests run [`Profile::quick`] in-process.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Read load: requests per second and in flight.
    pub rate: u32,
    pub concurrency: usize,
    /// Load before a member is broken.
    pub warmup: Duration,
    /// How long a member stays broken.
    pub down: Duration,
    /// Load after it is back.
    pub after: Duration,
    /// The longest a crawl may take, faults and lease expiry included.
    pub job_timeout: Duration,
    /// The simulator's delay per reply where a case needs a crawl to last.
    pub slow_ms: u64,
    pub topics: Topics,
}

impl Profile {
    pub fn full() -> Profile {
        Profile {
            rate: 200,
            concurrency: 8,
            warmup: Duration::from_secs(3),
            down: Duration::from_secs(8),
            after: Duration::from_secs(6),
            job_timeout: Duration::from_secs(150),
            slow_ms: 500,
            topics: Topics {
                load: ("faults-load", 300),
                crawl: ("faults-crawl", 2500),
                resume: ("faults-resume", 1500),
                outage: ("faults-outage", 800),
            },
        }
    }

    pub fn quick() -> Profile {
        Profile {
            rate: 100,
            concurrency: 4,
            warmup: Duration::from_secs(2),
            down: Duration::from_secs(4),
            after: Duration::from_secs(4),
            job_timeout: Duration::from_secs(75),
            slow_ms: 300,
            topics: Topics {
                load: ("faults-load", 150),
                crawl: ("faults-crawl", 1200),
                resume: ("faults-resume", 1100),
                outage: ("faults-outage", 400),
            },
        }
    }

    pub fn topic_list(&self) -> [(&'static str, usize); 4] {
        let t = &self.topics;
        [t.load, t.crawl, t.resume, t.outage]
    }

    /// The simulator's settings for this profile (`hubpulse-faults
    /// sim-config`): the suite's topics, generated together so their
    /// owners agree, and quotas the crawls never run out of, in short
    /// windows so an injected "quota spent" 403 resets within seconds.
    pub fn sim_config(&self) -> String {
        let topics: Vec<String> = self
            .topic_list()
            .iter()
            .map(|(name, size)| format!("  {{ name = \"{name}\", size = {size} }},"))
            .collect();
        format!(
            "# The fault suite's simulated GitHub (written by `hubpulse-faults sim-config`).\n\
             [sim]\ntopics = [\n{}\n]\n\n[sim.limits]\n{}",
            topics.join("\n"),
            SIM_LIMITS
                .iter()
                .map(|(k, v)| format!("{k} = {v}\n"))
                .collect::<String>()
        )
    }
}

/// The simulator's quotas for the suite (see [`Profile::sim_config`]).
pub const SIM_LIMITS: [(&str, u64); 3] = [
    ("search_authenticated", 100_000),
    ("search_anonymous", 100_000),
    ("search_window_secs", 10),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    ReplicaKill,
    RollingRestart,
    RedisDown,
    PostgresDown,
    GithubFaults,
    WorkerKill,
}

impl Case {
    pub const ALL: [Case; 6] = [
        Case::ReplicaKill,
        Case::RollingRestart,
        Case::RedisDown,
        Case::PostgresDown,
        Case::GithubFaults,
        Case::WorkerKill,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Case::ReplicaKill => "replica-kill",
            Case::RollingRestart => "rolling-restart",
            Case::RedisDown => "redis-down",
            Case::PostgresDown => "postgres-down",
            Case::GithubFaults => "github-faults",
            Case::WorkerKill => "worker-kill",
        }
    }

    pub fn summary(self) -> &'static str {
        match self {
            Case::ReplicaKill => "SIGKILL api-1 under read load through nginx, then start it again",
            Case::RollingRestart => {
                "restart every replica in turn (SIGTERM, drain, start) under read load"
            }
            Case::RedisDown => {
                "stop Redis under read load, then bring it back and refresh the views"
            }
            Case::PostgresDown => {
                "stop Postgres under read load while a crawl runs, then bring it back"
            }
            Case::GithubFaults => {
                "crawl a topic while GitHub answers 5xx, slowly, not at all, garbage, cut-short JSON and rate limits"
            }
            Case::WorkerKill => {
                "SIGKILL the replica whose worker is crawling, then compare with an uninterrupted crawl"
            }
        }
    }

    pub fn parse(name: &str) -> Option<Case> {
        Case::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// Runs `case`, then puts the stack back together. Never panics on a broken
/// property: the report says what broke.
pub async fn run<S: Stack>(stack: &S, profile: &Profile, case: Case) -> Report {
    let mut report = Report::new(case.name(), case.summary());
    let started = Instant::now();
    let outcome = tokio::time::timeout(CASE_LIMIT, async {
        match case {
            Case::ReplicaKill => replica_kill(stack, profile, &mut report).await,
            Case::RollingRestart => rolling_restart(stack, profile, &mut report).await,
            Case::RedisDown => redis_down(stack, profile, &mut report).await,
            Case::PostgresDown => postgres_down(stack, profile, &mut report).await,
            Case::GithubFaults => github_faults(stack, profile, &mut report).await,
            Case::WorkerKill => worker_kill(stack, profile, &mut report).await,
        }
    })
    .await;
    let error = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(err)) => Some(format!("{err:#}")),
        Err(_) => Some(format!("took longer than {CASE_LIMIT:?}")),
    };
    if let Err(err) = restore(stack).await {
        report.note(format!(
            "could not restore the stack after the case: {err:#}"
        ));
    }
    report.finish(started.elapsed(), error);
    report
}

/// No case may take longer, whatever hangs.
const CASE_LIMIT: Duration = Duration::from_secs(240);

/// Every member running, no simulated faults, every replica ready.
pub async fn restore<S: Stack>(stack: &S) -> anyhow::Result<()> {
    stack.start_postgres().await?;
    stack.start_redis().await?;
    for n in 1..=stack.replica_count() {
        stack.start_replica(n).await?;
    }
    Sim::new(stack).clear_faults().await?;
    Api::new(stack)
        .wait_ready(stack, Duration::from_secs(60))
        .await
}

/// Before the cases: every replica ready, the simulator serving the suite's
/// topics, and the read-load topic crawled so its views exist.
pub async fn setup<S: Stack>(stack: &S, profile: &Profile) -> anyhow::Result<()> {
    let api = Api::new(stack);
    let sim = Sim::new(stack);
    api.wait_ready(stack, Duration::from_secs(90)).await?;
    sim.clear_faults().await?;
    for (topic, size) in profile.topic_list() {
        // At least its own: a few of the other topics' repositories carry
        // it too, as on GitHub.
        let found = sim.topic_size(topic).await?;
        if found < size as u64 {
            bail!(
                "the simulator holds {found} repositories under {topic}, fewer than {size}: \
                 start it with the suite's settings (hubpulse-faults sim-config)"
            );
        }
    }
    let (load, _) = profile.topics.load;
    api.track(load).await?;
    let jobs = api.bootstrap().await?;
    let id = *jobs
        .get(load)
        .with_context(|| format!("/bootstrap_db queued no crawl of {load}: {jobs:?}"))?;
    let watch = api.wait_job(id, profile.job_timeout).await?;
    if watch.status() != "succeeded" {
        bail!("the crawl of {load} did not succeed: {}", watch.job);
    }
    let reply = api
        .send(Method::GET, &api.url(&format!("/api/{load}")), None)
        .await?;
    let items = reply.json().and_then(|v| v.as_array().map(Vec::len));
    if reply.status != StatusCode::OK || items.is_none_or(|n| n == 0) {
        bail!(
            "/api/{load} after its crawl: {} {}",
            reply.status,
            reply.body
        );
    }
    Ok(())
}

fn read_load<S: Stack>(stack: &S, profile: &Profile, tag: &str, seconds: f64) -> Load {
    let base = stack.nginx_url();
    let (topic, _) = profile.topics.load;
    Load::start(
        http_client(),
        LoadSpec {
            urls: vec![
                format!("{base}/api/{topic}"),
                format!("{base}/api/popularity/{topic}?limit=50"),
                format!("{base}/api/activity/{topic}?limit=100"),
            ],
            rate: profile.rate,
            concurrency: profile.concurrency,
            // Room for the planned duration twice over, never more.
            max_requests: (f64::from(profile.rate) * seconds * 2.0) as u64,
            tag: tag.to_owned(),
        },
    )
}

fn replica_name(n: usize) -> String {
    format!("api-{n}")
}

/// Ends the load and records its figures.
async fn finish_load(load: Load, report: &mut Report) -> Tally {
    let (total, elapsed) = load.stop().await;
    report.sent += total.sent;
    report.failed += total.failed();
    report.traffic = format!(
        "{} reads through nginx, {} failed",
        report.sent, report.failed
    );
    report.note(format!(
        "load: {total} in {:.1} s ({:.0} req/s)",
        elapsed.as_secs_f64(),
        total.sent as f64 / elapsed.as_secs_f64().max(0.001)
    ));
    for sample in &total.samples {
        report.note(format!("  failure: {sample}"));
    }
    total
}

fn no_failures(report: &mut Report, total: &Tally) {
    report.check(
        "no failed request",
        total.sent > 0 && total.failed() == 0,
        format!("{} of {} requests failed", total.failed(), total.sent),
    );
}

/// How many of the load's requests nginx sent to more than one replica
/// (its access log lists every upstream it tried).
async fn retried_by_nginx(log: Option<&Path>, tag: &str) -> Option<u64> {
    // nginx flushes its access log buffer every second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let text = tokio::fs::read_to_string(log?).await.ok()?;
    let prefix = format!("{tag}-");
    Some(
        text.lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|entry| {
                entry["request_id"]
                    .as_str()
                    .is_some_and(|id| id.starts_with(&prefix))
                    && entry["upstream"].as_str().is_some_and(|u| u.contains(','))
            })
            .count() as u64,
    )
}

async fn replica_kill<S: Stack>(stack: &S, p: &Profile, report: &mut Report) -> anyhow::Result<()> {
    let victim = 1;
    let name = replica_name(victim);
    let tag = unique_tag("kill");
    let planned = (p.warmup + p.down + p.after).as_secs_f64() + 10.0;
    let load = read_load(stack, p, &tag, planned);
    tokio::time::sleep(p.warmup).await;
    let before = load.tally();
    stack.kill_replica(victim).await?;
    report.note(format!("SIGKILL {name} after {} requests", before.sent));
    tokio::time::sleep(p.down).await;
    let down = load.tally().since(&before);
    report.note(format!("while {name} was down: {down}"));
    stack.start_replica(victim).await?;
    let back = load.tally();
    report.note(format!("{name} started again after {} requests", back.sent));
    tokio::time::sleep(p.after).await;
    let total = finish_load(load, report).await;
    let after = total.since(&back);
    no_failures(report, &total);
    if let Some(retried) = retried_by_nginx(stack.access_log().as_deref(), &tag).await {
        report.check(
            "nginx passed requests for the dead replica to the other",
            retried > 0,
            format!("{retried} requests tried on more than one replica (nginx access log)"),
        );
    }
    report.check(
        format!("{name} rejoined"),
        after.from_replica(&name) > 0,
        format!(
            "{} of {} replies came from {name} after its restart",
            after.from_replica(&name),
            after.ok
        ),
    );
    Ok(())
}

async fn rolling_restart<S: Stack>(
    stack: &S,
    p: &Profile,
    report: &mut Report,
) -> anyhow::Result<()> {
    let tag = unique_tag("rolling");
    let replicas = stack.replica_count();
    let planned = p.warmup.as_secs_f64() + replicas as f64 * (p.after.as_secs_f64() + 20.0);
    let load = read_load(stack, p, &tag, planned);
    tokio::time::sleep(p.warmup).await;
    let mut rejoined = Vec::new();
    for n in 1..=replicas {
        let name = replica_name(n);
        let stopping = Instant::now();
        stack.stop_replica(n).await?;
        let drained = stopping.elapsed();
        stack.start_replica(n).await?;
        let back = load.tally();
        report.note(format!(
            "{name}: SIGTERM, drained and exited in {:.1} s, started again in {:.1} s",
            drained.as_secs_f64(),
            (stopping.elapsed() - drained).as_secs_f64()
        ));
        // Let it take its share before the next one goes.
        tokio::time::sleep(p.after).await;
        rejoined.push((name, load.tally().since(&back)));
    }
    let total = finish_load(load, report).await;
    no_failures(report, &total);
    for (name, after) in rejoined {
        report.check(
            format!("{name} answered again after its restart"),
            after.from_replica(&name) > 0,
            format!(
                "{} of the next {} replies",
                after.from_replica(&name),
                after.ok
            ),
        );
    }
    Ok(())
}

/// Reads that missed the process cache, by tier, between two scrapes.
fn tiers(
    later: &std::collections::BTreeMap<String, u64>,
    earlier: &std::collections::BTreeMap<String, u64>,
) -> (u64, u64) {
    let delta = |tier: &str| {
        later.get(tier).copied().unwrap_or(0) - earlier.get(tier).copied().unwrap_or(0)
    };
    (delta("redis"), delta("postgres"))
}

fn redis_share((redis, postgres): (u64, u64)) -> f64 {
    if redis + postgres == 0 {
        return 0.0;
    }
    redis as f64 / (redis + postgres) as f64
}

async fn redis_down<S: Stack>(stack: &S, p: &Profile, report: &mut Report) -> anyhow::Result<()> {
    let api = Api::new(stack);
    let (topic, _) = p.topics.load;
    let tag = unique_tag("redis");
    let planned = (p.warmup * 2 + p.down + p.after).as_secs_f64() + 30.0;
    let load = read_load(stack, p, &tag, planned);
    let start = api.view_reads(stack).await?;
    tokio::time::sleep(p.warmup).await;
    let warm = api.view_reads(stack).await?;
    let baseline = tiers(&warm, &start);

    stack.stop_redis().await?;
    let before = load.tally();
    report.note("Redis stopped");
    let ready = api.ready(&stack.replica_url(1)).await?;
    tokio::time::sleep(p.down).await;
    let outage = tiers(&api.view_reads(stack).await?, &warm);
    let down = load.tally().since(&before);
    report.note(format!("while Redis was down: {down}"));

    stack.start_redis().await?;
    api.wait_ready(stack, Duration::from_secs(30)).await?;
    report.note("Redis started again (empty); /update_cache to rebuild the views");
    let jobs = api.update_cache().await?;
    let id = *jobs
        .get(topic)
        .context("no crawl of the load topic queued")?;
    let rebuilt = api.wait_job(id, p.job_timeout).await?;
    let settled = api.view_reads(stack).await?;
    tokio::time::sleep(p.after).await;
    let recovered = tiers(&api.view_reads(stack).await?, &settled);
    let total = finish_load(load, report).await;

    report.note(format!(
        "reads past the process cache (redis/postgres): before {}/{} ({:.0}% redis), \
         Redis down {}/{} ({:.0}%), after the rebuild {}/{} ({:.0}%)",
        baseline.0,
        baseline.1,
        100.0 * redis_share(baseline),
        outage.0,
        outage.1,
        100.0 * redis_share(outage),
        recovered.0,
        recovered.1,
        100.0 * redis_share(recovered)
    ));
    no_failures(report, &total);
    report.check(
        "reads kept answering 200 from Postgres while Redis was down",
        down.sent > 0 && down.failed() == 0 && outage.1 > 0,
        format!(
            "{} ok of {} sent; {} view reads served by Postgres",
            down.ok, down.sent, outage.1
        ),
    );
    report.check(
        "/ready said Redis was down",
        ready.status == StatusCode::SERVICE_UNAVAILABLE && ready.body.contains("redis"),
        format!("{} {}", ready.status, ready.body.trim()),
    );
    report.check(
        "views rebuilt when Redis returned",
        rebuilt.status() == "succeeded",
        format!(
            "crawl job {id} {} in {:.1} s",
            rebuilt.status(),
            rebuilt.waited.as_secs_f64()
        ),
    );
    report.check(
        "Redis hit rate recovered",
        recovered.0 > 0 && redis_share(recovered) >= 0.9,
        format!(
            "{:.0}% of the reads past the process cache came from Redis (before the outage: {:.0}%)",
            100.0 * redis_share(recovered),
            100.0 * redis_share(baseline)
        ),
    );
    Ok(())
}

/// An error the way the API and nginx write them: JSON with `error.code`.
fn json_error(reply: &crate::api::Reply, status: StatusCode) -> bool {
    reply.status == status
        && reply.content_type.starts_with("application/json")
        && reply.error_code().is_some()
}

async fn postgres_down<S: Stack>(
    stack: &S,
    p: &Profile,
    report: &mut Report,
) -> anyhow::Result<()> {
    let api = Api::new(stack);
    let sim = Sim::new(stack);
    let (topic, _) = p.topics.outage;
    api.track(topic).await?;
    let failed_before = sql::failed_jobs(&sql::connect(&stack.database_url()).await?).await?;
    // Slow replies, so the crawl is still running when Postgres goes.
    sim.set_faults(json!({ "slow_rate": 1.0, "slow_ms": p.slow_ms }))
        .await?;
    let jobs = api.update_cache().await?;
    let id = *jobs
        .get(topic)
        .context("no crawl of the outage topic queued")?;
    wait_running(stack, id, 1, Duration::from_secs(30)).await?;
    report.note(format!("crawl job {id} of {topic} is running"));

    let tag = unique_tag("postgres");
    let planned = (p.warmup + p.down + p.after).as_secs_f64() + 30.0;
    let load = read_load(stack, p, &tag, planned);
    tokio::time::sleep(p.warmup).await;
    stack.stop_postgres().await?;
    let before = load.tally();
    let stopped = Instant::now();
    report.note("Postgres stopped");
    let post = api.maintenance(Method::POST, "/update_cache").await?;
    let get = api.maintenance(Method::GET, "/update_cache").await?;
    let ready = api.ready(&stack.replica_url(1)).await?;
    tokio::time::sleep(p.down.saturating_sub(stopped.elapsed())).await;
    let down = load.tally().since(&before);
    report.note(format!("while Postgres was down: {down}"));
    stack.start_postgres().await?;
    sim.clear_faults().await?;
    report.note("Postgres started again");
    tokio::time::sleep(p.after).await;
    let total = finish_load(load, report).await;

    let resumed = api.wait_job(id, p.job_timeout).await?;
    let again = api.update_cache().await?;
    let mut new_jobs = Vec::new();
    for (t, job) in &again {
        let watch = api.wait_job(*job, p.job_timeout).await?;
        new_jobs.push(format!("{t} #{job} {}", watch.status()));
    }
    let failed = new_failures(stack, &failed_before).await?;

    no_failures(report, &total);
    report.check(
        "cached reads kept answering 200 while Postgres was down",
        down.sent > 0 && down.failed() == 0,
        format!("{} ok of {} sent", down.ok, down.sent),
    );
    for (method, reply) in [("POST", &post), ("GET", &get)] {
        report.check(
            format!("{method} /update_cache answered 503 JSON"),
            json_error(reply, StatusCode::SERVICE_UNAVAILABLE),
            format!(
                "{} {} {}",
                reply.status,
                reply.content_type,
                reply.body.trim()
            ),
        );
    }
    report.check(
        "/ready said Postgres was down",
        ready.status == StatusCode::SERVICE_UNAVAILABLE && ready.body.contains("postgres"),
        format!("{} {}", ready.status, ready.body.trim()),
    );
    report.check(
        "the crawl running through the outage resumed and finished",
        resumed.status() == "succeeded" && resumed.result("complete") == &Value::Bool(true),
        format!(
            "job {id} {} after {} attempt(s), {} repositories (statuses: {})",
            resumed.status(),
            resumed.attempts(),
            resumed.result("repositories"),
            resumed.statuses.join(" → ")
        ),
    );
    report.check(
        "jobs queued after the outage ran",
        new_jobs.iter().all(|j| j.ends_with("succeeded")),
        new_jobs.join(", "),
    );
    no_failed_jobs(report, &failed);
    Ok(())
}

/// Waits until the job is running and has stored at least `progress` items.
async fn wait_running<S: Stack>(
    stack: &S,
    id: i64,
    progress: i64,
    within: Duration,
) -> anyhow::Result<sql::Lease> {
    let db = sql::connect(&stack.database_url()).await?;
    let started = Instant::now();
    loop {
        if let Some(lease) = sql::lease(&db, id).await?
            && lease.progress >= progress
        {
            return Ok(lease);
        }
        if started.elapsed() > within {
            bail!("job {id} was not running with {progress}+ items stored within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn new_failures<S: Stack>(
    stack: &S,
    before: &[(i64, String, String)],
) -> anyhow::Result<Vec<(i64, String, String)>> {
    let now = sql::failed_jobs(&sql::connect(&stack.database_url()).await?).await?;
    Ok(now.into_iter().filter(|j| !before.contains(j)).collect())
}

fn no_failed_jobs(report: &mut Report, failed: &[(i64, String, String)]) {
    report.check(
        "no job marked failed",
        failed.is_empty(),
        if failed.is_empty() {
            "0 failed jobs".to_owned()
        } else {
            failed
                .iter()
                .map(|(id, kind, error)| format!("{kind} #{id}: {error}"))
                .collect::<Vec<_>>()
                .join("; ")
        },
    );
}

/// The faults of the GitHub case, one kind at a time until the simulator
/// has injected it at least twice (rate limits: once each), so every kind
/// is proven whatever the dice say; then all of them mildly at once until
/// the crawl ends.
const FAULT_STEPS: [(&str, &[&str], u64); 5] = [
    (
        "rate limits (403 quota, 429, secondary 403)",
        &["ratelimit403", "ratelimit429", "secondary"],
        1,
    ),
    ("dropped connections", &["drop"], 2),
    ("5xx", &["servererror"], 2),
    ("malformed JSON", &["malformed"], 2),
    ("truncated JSON", &["truncated"], 2),
];

/// Crawls of the topic at most, before the case gives up on the faults.
const MAX_CRAWLS: usize = 4;

fn fault_step(step: usize, slow_ms: u64) -> Value {
    let slow = json!({ "slow_rate": 0.2, "slow_ms": slow_ms });
    let mut faults = match step {
        0 => {
            json!({ "rate_limit_403": 1, "rate_limit_429": 1, "secondary_limit": 1, "retry_after_secs": 2 })
        }
        1 => json!({ "drop_rate": 0.3 }),
        2 => json!({ "error_rate": 0.3 }),
        3 => json!({ "malformed_rate": 0.3 }),
        4 => json!({ "truncated_rate": 0.3 }),
        _ => {
            json!({ "drop_rate": 0.04, "error_rate": 0.06, "malformed_rate": 0.04, "truncated_rate": 0.04 })
        }
    };
    if let (Some(faults), Some(slow)) = (faults.as_object_mut(), slow.as_object()) {
        faults.extend(slow.clone());
    }
    faults
}

/// Injected faults by kind, the three 5xx statuses together.
fn injected(stats: &Value, kind: &str) -> u64 {
    stats["injected"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.starts_with(kind))
                .filter_map(|(_, v)| v.as_u64())
                .sum()
        })
        .unwrap_or(0)
}

async fn github_faults<S: Stack>(
    stack: &S,
    p: &Profile,
    report: &mut Report,
) -> anyhow::Result<()> {
    let api = Api::new(stack);
    let sim = Sim::new(stack);
    let (topic, size) = p.topics.crawl;
    let failed_before = sql::failed_jobs(&sql::connect(&stack.database_url()).await?).await?;
    api.track(topic).await?;
    let expected = sim.topic_size(topic).await?;
    sim.reset().await?;
    let started = Instant::now();
    let mut step = 0;
    sim.set_faults(fault_step(step, p.slow_ms)).await?;
    let mut job = *api
        .update_cache()
        .await?
        .get(topic)
        .context("no crawl of the fault topic queued")?;
    let mut crawls = vec![job];
    let mut statuses: Vec<String> = Vec::new();
    let last = loop {
        if started.elapsed() > p.job_timeout {
            bail!(
                "the crawls under faults did not end within {:?}",
                p.job_timeout
            );
        }
        let stats = sim.stats().await?;
        if step < FAULT_STEPS.len() {
            let (what, kinds, times) = FAULT_STEPS[step];
            if kinds.iter().all(|k| injected(&stats, k) >= times) {
                report.note(format!(
                    "{what}: injected after {:.1} s",
                    started.elapsed().as_secs_f64()
                ));
                step += 1;
                sim.set_faults(fault_step(step, p.slow_ms)).await?;
            }
        }
        let state = api.job(job).await?;
        let status = state["status"].as_str().unwrap_or("?").to_owned();
        if statuses.last() != Some(&status) {
            statuses.push(status.clone());
        }
        if status == "succeeded" || status == "failed" {
            if step >= FAULT_STEPS.len() || status == "failed" {
                break state;
            }
            // Done before every kind of fault was seen: crawl again (a
            // refresh: the same pages, asked with their ETags) until it was.
            if crawls.len() >= MAX_CRAWLS {
                bail!(
                    "{MAX_CRAWLS} crawls ended before the simulator injected every kind of fault \
                     (stuck at: {}); simulator stats: {stats}",
                    FAULT_STEPS[step].0
                );
            }
            job = *api
                .update_cache()
                .await?
                .get(topic)
                .context("no crawl queued")?;
            crawls.push(job);
            statuses.push(format!("(crawl again: #{job})"));
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    };
    let watch = JobWatch {
        job: last,
        statuses,
        ..JobWatch::default()
    };
    let stats = sim.stats().await?;
    sim.clear_faults().await?;
    let db = sql::connect(&stack.database_url()).await?;
    let stored = sql::member_ids(&db, topic).await?;
    let truth = sim.topic_ids(topic).await?;
    let duplicates = sql::duplicates(&db, topic).await?;
    let failed = new_failures(stack, &failed_before).await?;
    let mut crawl_results = Vec::new();
    for id in &crawls {
        let job = api.job(*id).await?;
        crawl_results.push(format!(
            "#{id} {} after {} attempt(s)",
            job["status"].as_str().unwrap_or("?"),
            job["attempts"]
        ));
    }

    report.traffic = format!(
        "{} GitHub calls, {} faulted or slow, {} crawl(s)",
        stats["requests"],
        FAULT_STEPS
            .iter()
            .flat_map(|(_, k, _)| k.iter())
            .map(|k| injected(&stats, k))
            .sum::<u64>()
            + stats["slow"].as_u64().unwrap_or(0),
        crawls.len()
    );
    report.note(format!(
        "simulator: {} requests, by status {}, injected {}, {} slow, quota really spent: {}",
        stats["requests"],
        stats["by_status"],
        stats["injected"],
        stats["slow"],
        stats["quota_exceeded"]
    ));
    report.note(format!(
        "crawls: {} (statuses seen: {})",
        crawl_results.join(", "),
        watch.statuses.join(" → ")
    ));
    let missing: Vec<&str> = FAULT_STEPS
        .iter()
        .flat_map(|(_, kinds, _)| kinds.iter().copied())
        .filter(|k| injected(&stats, k) == 0)
        .collect();
    report.check(
        "every kind of fault was injected during the crawl",
        missing.is_empty() && stats["slow"].as_u64().unwrap_or(0) > 0,
        if missing.is_empty() {
            format!(
                "{} faults injected, {} slow replies",
                FAULT_STEPS
                    .iter()
                    .flat_map(|(_, k, _)| k.iter())
                    .map(|k| injected(&stats, k))
                    .sum::<u64>(),
                stats["slow"]
            )
        } else {
            format!("never injected: {}", missing.join(", "))
        },
    );
    report.check(
        "the crawl ended complete",
        watch.status() == "succeeded"
            && watch.result("complete") == &Value::Bool(true)
            && watch.result("repositories").as_u64() == Some(expected),
        format!(
            "job {} {}, complete = {}, {} repositories of {expected} ({size} configured)",
            job,
            watch.status(),
            watch.result("complete"),
            watch.result("repositories")
        ),
    );
    let missing_ids = truth
        .iter()
        .filter(|id| stored.binary_search(id).is_err())
        .count();
    let extra_ids = stored
        .iter()
        .filter(|id| truth.binary_search(id).is_err())
        .count();
    report.check(
        "the topic holds exactly GitHub's repositories",
        stored == truth,
        format!(
            "{} stored, {} on GitHub: {missing_ids} missing, {extra_ids} extra",
            stored.len(),
            truth.len()
        ),
    );
    report.check(
        "nothing duplicated",
        duplicates.iter().all(|(_, n)| *n == 0),
        duplicates
            .iter()
            .map(|(what, n)| format!("{what}: {n}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    no_failed_jobs(report, &failed);
    Ok(())
}

async fn worker_kill<S: Stack>(stack: &S, p: &Profile, report: &mut Report) -> anyhow::Result<()> {
    let api = Api::new(stack);
    let sim = Sim::new(stack);
    let (topic, _) = p.topics.resume;
    let mut db = sql::connect(&stack.database_url()).await?;
    let failed_before = sql::failed_jobs(&db).await?;
    api.track(topic).await?;

    sim.reset().await?;
    // The reference: one crawl nobody interrupts.
    let first = *api
        .update_cache()
        .await?
        .get(topic)
        .context("no crawl queued")?;
    let reference = api.wait_job(first, p.job_timeout).await?;
    if reference.status() != "succeeded" {
        bail!(
            "the uninterrupted crawl #{first} did not succeed: {}",
            reference.job
        );
    }
    let good = sql::checksum(&db, topic).await?;
    report.note(format!("uninterrupted crawl #{first}: {good}"));
    let scrambled_rows = sql::scramble(&mut db, topic).await?;
    let scrambled = sql::checksum(&db, topic).await?;
    report.note(format!(
        "overwrote its {scrambled_rows} repositories and their owners, deleted its memberships \
         and stored pages (so the topic now holds: {scrambled})"
    ));

    // The same crawl again, slowly, killed half-way.
    sim.set_faults(json!({ "slow_rate": 1.0, "slow_ms": p.slow_ms }))
        .await?;
    let id = *api
        .update_cache()
        .await?
        .get(topic)
        .context("no crawl queued")?;
    let held = wait_running(stack, id, 200, Duration::from_secs(60)).await?;
    let victim: usize = held
        .owner
        .strip_prefix("api-")
        .and_then(|rest| rest.split('-').next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("lease owner {:?} does not name a replica", held.owner))?;
    stack.kill_replica(victim).await?;
    let killed = Instant::now();
    report.note(format!(
        "crawl #{id} attempt {} held by worker {} with {} repositories stored: SIGKILL api-{victim}",
        held.attempt, held.owner, held.progress
    ));
    sim.clear_faults().await?;
    stack.start_replica(victim).await?;
    // Taken up again: a later attempt holds the lease (a worker id alone
    // could repeat: a replica restarted in-process keeps its pid).
    let mut taken = None;
    while killed.elapsed() < p.job_timeout {
        match sql::lease(&db, id).await? {
            Some(next) if next.attempt > held.attempt => {
                taken = Some((next, killed.elapsed()));
                break;
            }
            None if api.job(id).await?["status"] != "running" => break,
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let resumed = api.wait_job(id, p.job_timeout).await?;
    let after = sql::checksum(&db, topic).await?;
    let stored = sql::member_ids(&db, topic).await?;
    let truth = sim.topic_ids(topic).await?;
    let failed = new_failures(stack, &failed_before).await?;
    report.note(format!("after the interrupted crawl: {after}"));
    report.traffic = format!(
        "2 crawls, {} GitHub calls, 1 replica killed",
        sim.stats().await?["requests"]
    );

    report.check(
        "the job was taken up again after its lease expired",
        i64::from(held.attempt) < resumed.attempts(),
        match &taken {
            Some((next, after)) => format!(
                "worker {} took it {:.1} s after the kill as attempt {}",
                next.owner,
                after.as_secs_f64(),
                next.attempt
            ),
            None if i64::from(held.attempt) < resumed.attempts() => format!(
                "finished by attempt {} (taken up and done between two looks)",
                resumed.attempts()
            ),
            None => format!("no later attempt ran it; {}", resumed.job),
        },
    );
    report.check(
        "the interrupted crawl finished complete",
        resumed.status() == "succeeded"
            && resumed.result("complete") == &Value::Bool(true)
            && stored == truth,
        format!(
            "job {id} {}, {} repositories stored, exactly the {} GitHub lists: {}",
            resumed.status(),
            stored.len(),
            truth.len(),
            stored == truth
        ),
    );
    report.check(
        "the data is identical to the uninterrupted crawl's",
        after == good,
        if after == good {
            "repositories, owners, licenses and memberships: same counts and md5".to_owned()
        } else {
            format!("uninterrupted: {good}; interrupted: {after}")
        },
    );
    no_failed_jobs(report, &failed);
    Ok(())
}

/// Request ids unique to one run of one case, so nginx's log lines of an
/// earlier run are not counted again.
fn unique_tag(case: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("faults-{case}-{:x}", nanos & 0xffff_ffff)
}
