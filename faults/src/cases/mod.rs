//! The cases, one per file. Each breaks one member of the stack while it
//! works, prints what it sent and saw, and checks the property users rely
//! on. Each leaves the stack whole again ([`restore`]), pass or fail, so the
//! next case starts from a working stack. This file holds what they share.

mod delivery;
mod discovery;
mod discovery_faults;
mod discovery_kill;
mod flood;
mod github_faults;
mod postgres_down;
mod redis_down;
mod replica_kill;
mod rolling_restart;
mod worker_kill;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hubpulse_client::{ApiClient, TaskStatus, ViewKind, ViewQuery};
use hubpulse_domain::Topic;
use hubpulse_sim::admin_client::SimAdmin;
use serde_json::Value;

use crate::load::{Load, LoadSpec, Tally};
use crate::report::Report;
use crate::{Stack, clients, sql};

use delivery::delivery;
use discovery_faults::discovery_faults;
use discovery_kill::discovery_kill;
use flood::flood;
use github_faults::github_faults;
use postgres_down::postgres_down;
use redis_down::redis_down;
use replica_kill::replica_kill;
use rolling_restart::rolling_restart;
use worker_kill::worker_kill;

/// The simulated GitHub's topics the suite crawls: one read under load, one
/// crawled through faults, one crawled again after a kill, one crawling
/// while Postgres is away, one crawled under a flood of anonymous reads.
/// Only the suite tracks them.
#[derive(Debug, Clone)]
pub struct Topics {
    pub load: (&'static str, usize),
    pub crawl: (&'static str, usize),
    pub resume: (&'static str, usize),
    pub outage: (&'static str, usize),
    pub flood: (&'static str, usize),
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
    /// The `flood` case's anonymous reads: requests per second (well over
    /// nginx's 300 per address) and in flight.
    pub flood_rate: u32,
    pub flood_concurrency: usize,
    pub topics: Topics,
    /// Gist files the delivery case posts to the Pipedrive stand-in...
    pub delivery_files: usize,
    /// ...while SIGKILLing this many replicas at random points.
    pub delivery_kills: usize,
    /// The simulator's developer graph (`[sim.graph] developers`) the
    /// discovery cases discover twice, the most starred repositories they
    /// sync with it, and the developers one `discover` round queues...
    pub graph_developers: usize,
    pub graph_repositories: usize,
    pub discover_batch: u32,
    /// ...while SIGKILLing at most this many replicas at random points.
    pub discovery_kills: usize,
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
            flood_rate: 3000,
            flood_concurrency: 128,
            topics: Topics {
                load: ("faults-load", 300),
                crawl: ("faults-crawl", 2500),
                resume: ("faults-resume", 1500),
                outage: ("faults-outage", 800),
                flood: ("faults-flood", 800),
            },
            delivery_files: 300,
            delivery_kills: 100,
            graph_developers: 1000,
            graph_repositories: 20,
            discover_batch: 200,
            discovery_kills: 12,
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
            flood_rate: 1200,
            flood_concurrency: 32,
            topics: Topics {
                load: ("faults-load", 150),
                crawl: ("faults-crawl", 1200),
                resume: ("faults-resume", 1100),
                outage: ("faults-outage", 400),
                flood: ("faults-flood", 400),
            },
            delivery_files: 100,
            delivery_kills: 6,
            graph_developers: 150,
            graph_repositories: 6,
            discover_batch: 50,
            discovery_kills: 3,
        }
    }

    pub fn topic_list(&self) -> [(&'static str, usize); 5] {
        let t = &self.topics;
        [t.load, t.crawl, t.resume, t.outage, t.flood]
    }

    /// The simulator's settings for this profile (`hubpulse-faults
    /// sim-config`): the suite's topics, generated together so their
    /// owners agree, the developer graph's size, and quotas the crawls and
    /// discoveries never run out of, in short windows so an injected
    /// "quota spent" 403 resets within seconds.
    pub fn sim_config(&self) -> String {
        let topics: Vec<String> = self
            .topic_list()
            .iter()
            .map(|(name, size)| format!("  {{ name = \"{name}\", size = {size} }},"))
            .collect();
        format!(
            "# The fault suite's simulated GitHub (written by `hubpulse-faults sim-config`).\n\
             [sim]\ntopics = [\n{}\n]\n\n[sim.limits]\n{}\n[sim.graph]\ndevelopers = {}\n",
            topics.join("\n"),
            SIM_LIMITS
                .iter()
                .map(|(k, v)| format!("{k} = {v}\n"))
                .collect::<String>(),
            self.graph_developers
        )
    }
}

/// The simulator's quotas for the suite (see [`Profile::sim_config`]).
pub const SIM_LIMITS: [(&str, u64); 6] = [
    ("search_authenticated", 100_000),
    ("search_anonymous", 100_000),
    ("search_window_secs", 10),
    ("core_authenticated", 100_000),
    ("core_anonymous", 100_000),
    ("core_window_secs", 10),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    ReplicaKill,
    RollingRestart,
    RedisDown,
    PostgresDown,
    GithubFaults,
    WorkerKill,
    Flood,
    Delivery,
    DiscoveryKill,
    DiscoveryFaults,
}

impl Case {
    pub const ALL: [Case; 10] = [
        Case::ReplicaKill,
        Case::RollingRestart,
        Case::RedisDown,
        Case::PostgresDown,
        Case::GithubFaults,
        Case::WorkerKill,
        Case::Flood,
        Case::Delivery,
        Case::DiscoveryKill,
        Case::DiscoveryFaults,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Case::ReplicaKill => "replica-kill",
            Case::RollingRestart => "rolling-restart",
            Case::RedisDown => "redis-down",
            Case::PostgresDown => "postgres-down",
            Case::GithubFaults => "github-faults",
            Case::WorkerKill => "worker-kill",
            Case::Flood => "flood",
            Case::Delivery => "delivery",
            Case::DiscoveryKill => "discovery-kill",
            Case::DiscoveryFaults => "discovery-faults",
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
            Case::Flood => {
                "anonymous reads of untracked topics, /v1/topics and /v1/tasks beyond nginx's limits while a crawl runs"
            }
            Case::Delivery => {
                "post gist files to Pipedrive while replicas are SIGKILLed and Pipedrive drops, limits and fails replies"
            }
            Case::DiscoveryKill => {
                "discover the developer graph while replicas are SIGKILLed, then compare with an undisturbed discovery"
            }
            Case::DiscoveryFaults => {
                "discover the developer graph through GitHub faults, then compare with an undisturbed discovery"
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
    let outcome = tokio::time::timeout(case.limit(profile), async {
        match case {
            Case::ReplicaKill => replica_kill(stack, profile, &mut report).await,
            Case::RollingRestart => rolling_restart(stack, profile, &mut report).await,
            Case::RedisDown => redis_down(stack, profile, &mut report).await,
            Case::PostgresDown => postgres_down(stack, profile, &mut report).await,
            Case::GithubFaults => github_faults(stack, profile, &mut report).await,
            Case::WorkerKill => worker_kill(stack, profile, &mut report).await,
            Case::Flood => flood(stack, profile, &mut report).await,
            Case::Delivery => delivery(stack, profile, &mut report).await,
            Case::DiscoveryKill => discovery_kill(stack, profile, &mut report).await,
            Case::DiscoveryFaults => discovery_faults(stack, profile, &mut report).await,
        }
    })
    .await;
    let error = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(err)) => Some(format!("{err:#}")),
        Err(_) => Some(format!("took longer than {:?}", case.limit(profile))),
    };
    if let Err(err) = restore(stack).await {
        report.note(format!(
            "could not restore the stack after the case: {err:#}"
        ));
    }
    report.finish(started.elapsed(), error);
    report
}

/// No case may take longer, whatever hangs...
const CASE_LIMIT: Duration = Duration::from_secs(240);

impl Case {
    /// ...except delivery, whose kills each wait for the replica to come
    /// back (about 2.4 s apiece on the release stack): a hundred of them
    /// alone took 237 s.
    fn limit(self, profile: &Profile) -> Duration {
        match self {
            Case::Delivery => CASE_LIMIT + Duration::from_secs(3 * profile.delivery_kills as u64),
            _ => CASE_LIMIT,
        }
    }
}

/// Every member running, no simulated faults, every replica ready.
pub async fn restore<S: Stack>(stack: &S) -> anyhow::Result<()> {
    stack.start_postgres().await?;
    stack.start_redis().await?;
    for n in 1..=stack.replica_count() {
        stack.start_replica(n).await?;
    }
    clients::sim(stack).clear_faults().await?;
    clients::wait_ready(stack, Duration::from_secs(60)).await
}

/// Before the cases: every replica ready, the simulator serving the suite's
/// topics, and the read-load topic crawled so its views exist.
pub async fn setup<S: Stack>(stack: &S, profile: &Profile) -> anyhow::Result<()> {
    let api = clients::api(stack);
    let sim = clients::sim(stack);
    clients::wait_ready(stack, Duration::from_secs(90)).await?;
    sim.clear_faults().await?;
    for (topic, size) in profile.topic_list() {
        // At least its own: a few of the other topics' repositories carry
        // it too, as on GitHub.
        let found = clients::topic_size(&sim, topic).await?;
        if found < size as u64 {
            bail!(
                "the simulator holds {found} repositories under {topic}, fewer than {size}: \
                 start it with the suite's settings (hubpulse-faults sim-config)"
            );
        }
    }
    let (load, _) = profile.topics.load;
    api.track(&topic(load)?).await?;
    let jobs = api.bootstrap_db().await?;
    let id = jobs
        .for_topic(load)
        .with_context(|| format!("/bootstrap_db queued no crawl of {load}: {jobs:?}"))?;
    let task = api.wait_task(id, profile.job_timeout).await?;
    if task.status != TaskStatus::Succeeded {
        bail!("the crawl of {load} did not succeed: {task:?}");
    }
    let view = api
        .view(ViewKind::ByName, load, &ViewQuery::default())
        .await?;
    let items = view.items::<Value>().map(|items| items.len());
    if items.is_err() || items.as_ref().is_ok_and(|n| *n == 0) {
        bail!(
            "/api/{load} after its crawl: {} {}",
            view.status,
            String::from_utf8_lossy(&view.body)
        );
    }
    Ok(())
}

/// The suite's topic names are valid: a typo is a bug of the suite.
fn topic(name: &str) -> anyhow::Result<Topic> {
    Topic::parse(name).with_context(|| format!("the suite's topic {name:?}"))
}

/// What a case that crawls starts from: the clients, its topic tracked,
/// and the jobs that had failed before it (only new failures count).
struct Crawling {
    api: ApiClient,
    sim: SimAdmin,
    failed_before: Vec<(i64, String, String)>,
}

async fn start_crawling<S: Stack>(stack: &S, name: &str) -> anyhow::Result<Crawling> {
    let api = clients::api(stack);
    let failed_before = sql::failed_jobs(&sql::connect(&stack.database_url()).await?).await?;
    api.track(&topic(name)?).await?;
    Ok(Crawling {
        api,
        sim: clients::sim(stack),
        failed_before,
    })
}

/// The crawl `/update_cache` queued for `topic`.
async fn crawl_of(api: &ApiClient, topic: &str) -> anyhow::Result<i64> {
    let jobs = api.update_cache().await?;
    jobs.for_topic(topic)
        .with_context(|| format!("/update_cache queued no crawl of {topic}: {jobs:?}"))
}

fn read_load<S: Stack>(stack: &S, profile: &Profile, tag: &str, seconds: f64) -> Load {
    let base = stack.nginx_url();
    let (topic, _) = profile.topics.load;
    Load::start(
        clients::api(stack).http().clone(),
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

/// Request ids unique to one run of one case, so nginx's log lines of an
/// earlier run are not counted again.
fn unique_tag(case: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("faults-{case}-{:x}", nanos & 0xffff_ffff)
}
