//! What the two discovery cases share: one discovery of the simulator's
//! developer graph through the task API (the seed `graph-seed`, then
//! `discover`, with `sync_repository` for the most starred repositories
//! for their star history and stargazer state), the undisturbed reference
//! run, and the checks that compare a disturbed run with it.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hubpulse_client::{ApiClient, Task, TaskStatus};
use hubpulse_sim::admin_client::SimAdmin;
use reqwest::Method;
use serde_json::{Value, json};

use super::{Profile, Report, Stack, new_failures, no_failed_jobs};
use crate::graph::{self, Dump};
use crate::{clients, sql};

/// The simulator's account every discovery starts from; it reaches the
/// whole graph by follow edges.
const SEED: &str = "graph-seed";

/// `POST /v1/tasks`: the job's id (a live one's, when one with the same
/// key is queued already).
async fn queue(api: &ApiClient, kind: &str, args: Value) -> anyhow::Result<i64> {
    let body = json!({ "kind": kind, "args": args });
    let reply = api
        .call(Method::POST, "/v1/tasks", true, Some(&body))
        .await
        .with_context(|| format!("queuing {body}"))?;
    let queued: Value = reply.json().context("the reply of POST /v1/tasks")?;
    queued["id"]
        .as_i64()
        .with_context(|| format!("POST /v1/tasks answered no id: {queued}"))
}

/// One discovery under way: its jobs, and the first job id it owns (its
/// syncs are the jobs from there on).
pub(super) struct Run {
    pub since: i64,
    pub seed: i64,
    pub discover: i64,
    pub repositories: Vec<i64>,
    pub started: Instant,
}

/// Syncs the seed (and waits for it: a `discover` queued meanwhile would
/// queue the seed a second time, by id), then queues `discover` and a
/// `sync_repository` for each of `repositories`.
pub(super) async fn start<S: Stack>(
    stack: &S,
    p: &Profile,
    repositories: &[String],
) -> anyhow::Result<Run> {
    let api = clients::api(stack);
    let since = graph::next_job(&sql::connect(&stack.database_url()).await?).await?;
    let started = Instant::now();
    let seed = queue(&api, "sync_developer", json!({ "login": SEED })).await?;
    let task = api.wait_task(seed, p.job_timeout).await?;
    if task.status != TaskStatus::Succeeded || task.result("developer_state") != "synced" {
        bail!("the seed's sync #{seed} did not sync {SEED}: {task:?}");
    }
    let discover = queue(&api, "discover", json!({ "batch": p.discover_batch })).await?;
    let mut ids = Vec::with_capacity(repositories.len());
    for name in repositories {
        ids.push(queue(&api, "sync_repository", json!({ "full_name": name })).await?);
    }
    Ok(Run {
        since,
        seed,
        discover,
        repositories: ids,
        started,
    })
}

/// Waits for every job of the run; the discovery's last, then the
/// repositories'.
pub(super) async fn finish(
    api: &ApiClient,
    run: &Run,
    within: Duration,
) -> anyhow::Result<Vec<Task>> {
    let mut tasks = Vec::with_capacity(1 + run.repositories.len());
    for id in std::iter::once(run.discover).chain(run.repositories.iter().copied()) {
        let left = within.saturating_sub(run.started.elapsed());
        tasks.push(
            api.wait_task(id, left)
                .await
                .with_context(|| format!("job {id} of the discovery"))?,
        );
    }
    Ok(tasks)
}

/// Every job ended well: the discovery with an empty frontier.
fn all_succeeded(tasks: &[Task]) -> Result<(), String> {
    let bad: Vec<String> = tasks
        .iter()
        .filter(|t| {
            t.status != TaskStatus::Succeeded
                || (t.kind == "discover" && t.result("frontier") != &json!(0))
        })
        .map(|t| format!("{} #{} {} ({:?})", t.kind, t.id, t.status, t.last_error))
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(bad.join("; "))
    }
}

/// The undisturbed discovery the disturbed one must equal.
pub(super) struct Reference {
    pub dump: Dump,
    /// The repositories synced with it (the graph's most starred).
    pub repositories: Vec<String>,
    /// Core quota it spent.
    pub calls: u64,
    pub took: Duration,
}

/// Forgets any earlier graph, discovers it with nothing disturbed, dumps
/// it, and forgets it again, so the disturbed run starts from nothing too.
pub(super) async fn reference<S: Stack>(
    stack: &S,
    p: &Profile,
    sim: &SimAdmin,
    report: &mut Report,
) -> anyhow::Result<Reference> {
    let api = clients::api(stack);
    let mut db = sql::connect(&stack.database_url()).await?;
    sim.clear_faults().await?;
    sim.clear_list_controls().await?;
    graph::wipe(&mut db).await?;
    sim.reset().await?;
    let run = start(stack, p, &[]).await?;
    let tasks = finish(&api, &run, p.job_timeout).await?;
    all_succeeded(&tasks).map_err(|bad| anyhow::anyhow!("the undisturbed discovery: {bad}"))?;
    let repositories = graph::most_starred(&db, p.graph_repositories as i64).await?;
    let mut synced = Vec::new();
    for name in &repositories {
        let id = queue(&api, "sync_repository", json!({ "full_name": name })).await?;
        synced.push(api.wait_task(id, p.job_timeout).await?);
    }
    all_succeeded(&synced)
        .map_err(|bad| anyhow::anyhow!("the undisturbed repository syncs: {bad}"))?;
    let took = run.started.elapsed();
    let dump = graph::dump(&db).await?;
    let states = graph::states(&db).await?;
    let calls = sim.stats().await?.stats.quota_used_on("core");
    report.note(format!(
        "undisturbed discovery in {:.1} s, {calls} GitHub calls: {dump}",
        took.as_secs_f64()
    ));
    // The reference itself must be whole, or two equally broken runs pass.
    let count = |state: &str| {
        states
            .iter()
            .find(|(s, _)| s == state)
            .map_or(0, |(_, n)| *n)
    };
    let accounts = p.graph_developers as i64 + 2;
    report.check(
        "the undisturbed discovery reached the whole simulated graph",
        dump.rows("developers") == accounts
            && count("synced") == accounts - 1
            && count("gone") == 1
            && dump.rows("star_history") > 0
            && dump.rows("repository_graph") == repositories.len() as i64,
        format!(
            "{} accounts of {accounts} (the developers, a bot and a suspended user): {states:?}; \
             {} repositories synced, {} weeks of star history",
            dump.rows("developers"),
            dump.rows("repository_graph"),
            dump.rows("star_history")
        ),
    );
    graph::wipe(&mut db).await?;
    sim.reset().await?;
    Ok(Reference {
        dump,
        repositories,
        calls,
        took,
    })
}

/// The checks every disturbed run must pass: its jobs ended well, the
/// graph equals the reference row for row, nothing is duplicated, no job
/// failed, and no call was refused for a quota really spent.
pub(super) async fn judge<S: Stack>(
    stack: &S,
    sim: &SimAdmin,
    reference: &Reference,
    run: &Run,
    tasks: &[Task],
    failed_before: &[(i64, String, String)],
    report: &mut Report,
) -> anyhow::Result<()> {
    let db = sql::connect(&stack.database_url()).await?;
    let dump = graph::dump(&db).await?;
    let duplicates = graph::duplicates(&db, run.since).await?;
    let retaken = graph::retaken(&db, run.since).await?;
    let stats = sim.stats().await?.stats;
    let calls = stats.quota_used_on("core");
    report.note(format!(
        "disturbed discovery in {:.1} s (undisturbed: {:.1} s), {calls} GitHub calls ({:+} on \
         the undisturbed {}), {retaken} job(s) run by more than one attempt: {dump}",
        run.started.elapsed().as_secs_f64(),
        reference.took.as_secs_f64(),
        calls as i64 - reference.calls as i64,
        reference.calls
    ));
    let ended = all_succeeded(tasks);
    report.check(
        "the discovery and the repository syncs ended complete",
        ended.is_ok(),
        match &ended {
            Ok(()) => format!(
                "discover #{} done with an empty frontier, {} repository syncs succeeded (seed #{})",
                run.discover,
                run.repositories.len(),
                run.seed
            ),
            Err(bad) => bad.clone(),
        },
    );
    let differ = reference.dump.differences(&dump);
    report.check(
        "the graph is identical to the undisturbed run's",
        dump == reference.dump,
        if differ.is_empty() {
            format!(
                "developers, logins, follows, stars, owners, repositories, star history and \
                 stargazer states: same counts and md5 ({} developers, {} follows, {} stars)",
                dump.rows("developers"),
                dump.rows("follows"),
                dump.rows("stars")
            )
        } else {
            format!("differ: {}", differ.join(", "))
        },
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
    report.check(
        "the quota was never overspent",
        stats.quota_exceeded == 0,
        format!(
            "{} calls refused for a quota really spent (the simulator's count), {calls} core calls",
            stats.quota_exceeded
        ),
    );
    let failed = new_failures(stack, failed_before).await?;
    no_failed_jobs(report, &failed);
    Ok(())
}
