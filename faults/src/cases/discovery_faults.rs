//! `discovery-faults`: discover the simulator's developer graph once
//! undisturbed, then again from nothing while GitHub drops connections,
//! answers 5xx, slowly, malformed and cut-short JSON, a spent-quota 403, a
//! 429 and a secondary-limit 403 (both with `retry-after`), and 202 "still
//! computing" on a follower list and a star history; the graph in Postgres
//! must end identical, row for row.

use std::time::Duration;

use hubpulse_sim::{FaultKind, Faults, ListControl, Stats};

use super::discovery::{finish, judge, reference, start};
use super::{Profile, Report, Stack};
use crate::{clients, graph, sql};

/// Mild enough that a job's attempts outlast them (a call is retried
/// in-process three times), common enough that every kind shows up in the
/// few thousand calls of a discovery.
fn mild(slow_ms: u64) -> Faults {
    Faults {
        drop_rate: 0.03,
        error_rate: 0.04,
        malformed_rate: 0.03,
        truncated_rate: 0.03,
        slow_rate: 0.02,
        slow_ms,
        ..Faults::default()
    }
}

/// The kinds that must each have been injected, in groups: a group is seen
/// when any of its kinds was (the three 5xx statuses are drawn at random).
const KINDS: [&[FaultKind]; 7] = [
    &[FaultKind::Drop],
    &FaultKind::SERVER_ERRORS,
    &[FaultKind::Malformed],
    &[FaultKind::Truncated],
    &[FaultKind::RateLimit403],
    &[FaultKind::RateLimit429],
    &[FaultKind::Secondary],
];

fn injected(stats: &Stats) -> u64 {
    KINDS.iter().map(|kinds| stats.injected(kinds)).sum()
}

pub(super) async fn discovery_faults<S: Stack>(
    stack: &S,
    p: &Profile,
    report: &mut Report,
) -> anyhow::Result<()> {
    let api = clients::api(stack);
    let sim = clients::sim(stack);
    let db = sql::connect(&stack.database_url()).await?;
    let failed_before = sql::failed_jobs(&db).await?;
    let reference = reference(stack, p, &sim, report).await?;

    // "Still computing" once for the most followed account's followers
    // and for the most starred repository's star history.
    let mut computing = vec!["/users/graph-celebrity/followers".to_owned()];
    computing.extend(
        reference
            .repositories
            .first()
            .map(|name| format!("/repos/{name}/stargazers/history")),
    );
    for path in &computing {
        sim.control_list(&ListControl {
            path: path.clone(),
            accepted: 1,
            ..ListControl::default()
        })
        .await?;
    }
    sim.set_faults(&mild(p.slow_ms)).await?;
    let run = start(stack, p, &reference.repositories).await?;
    // The rate limits once the discovery is under way, so they hit its
    // syncs rather than the seed: the next three calls each get one.
    tokio::time::sleep(Duration::from_millis(300)).await;
    sim.set_faults(&Faults {
        rate_limit_403: 1,
        rate_limit_429: 1,
        secondary_limit: 1,
        retry_after_secs: 2,
        ..mild(p.slow_ms)
    })
    .await?;
    let tasks = finish(&api, &run, p.job_timeout * 2).await;
    let stats = sim.stats().await?.stats;
    sim.clear_faults().await?;
    sim.clear_list_controls().await?;
    let tasks = tasks?;
    let retried = graph::retaken(&db, run.since).await?;
    report.note(format!(
        "simulator: {} requests, by status {:?}, injected {:?}, {} slow",
        stats.requests, stats.by_status, stats.injected, stats.slow
    ));
    report.traffic = format!(
        "2 discoveries of {} accounts, {} GitHub calls, {} faulted or slow",
        p.graph_developers + 2,
        stats.quota_used_on("core") + reference.calls,
        injected(&stats) + stats.slow + stats.with_status(202)
    );
    let missing: Vec<&str> = KINDS
        .iter()
        .filter(|kinds| stats.injected(kinds) == 0)
        .map(|kinds| kinds[0].as_str())
        .collect();
    let accepted = stats.with_status(202);
    report.check(
        "every kind of fault was injected during the discovery",
        missing.is_empty() && stats.slow > 0 && accepted >= computing.len() as u64,
        if missing.is_empty() {
            format!(
                "{} faults injected, {} slow replies, {accepted} 202s; {retried} job(s) needed \
                 more than one attempt",
                injected(&stats),
                stats.slow
            )
        } else {
            format!("never injected: {}", missing.join(", "))
        },
    );
    judge(
        stack,
        &sim,
        &reference,
        &run,
        &tasks,
        &failed_before,
        report,
    )
    .await
}
