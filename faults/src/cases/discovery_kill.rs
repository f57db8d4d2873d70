//! `discovery-kill`: discover the simulator's developer graph once
//! undisturbed, then again from nothing while replicas are SIGKILLed at
//! random points; the graph in Postgres must end identical, row for row.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::discovery::{finish, judge, reference, start};
use super::{Profile, Report, Stack};
use crate::{clients, graph, sql};

/// A number from the clock, for kill timing and victims: no seed to keep.
fn jitter(range: u64) -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    nanos % range.max(1)
}

pub(super) async fn discovery_kill<S: Stack>(
    stack: &S,
    p: &Profile,
    report: &mut Report,
) -> anyhow::Result<()> {
    let api = clients::api(stack);
    let sim = clients::sim(stack);
    let db = sql::connect(&stack.database_url()).await?;
    let failed_before = sql::failed_jobs(&db).await?;
    let reference = reference(stack, p, &sim, report).await?;

    let run = start(stack, p, &reference.repositories).await?;
    // Kill while the discovery is live: a replica at a time, at a random
    // moment, started again after a random pause; its jobs' leases expire
    // and other workers take them up.
    let mut kills = 0;
    while kills < p.discovery_kills && run.started.elapsed() < p.job_timeout {
        tokio::time::sleep(Duration::from_millis(200 + jitter(600))).await;
        let live = match api.task(run.discover).await {
            Ok(task) => !task.status.is_finished(),
            // A replica just died: nginx may still be passing on its share.
            Err(_) => true,
        };
        if !live {
            break;
        }
        let victim = 1 + jitter(stack.replica_count() as u64) as usize;
        stack.kill_replica(victim).await?;
        tokio::time::sleep(Duration::from_millis(50 + jitter(300))).await;
        stack.start_replica(victim).await?;
        kills += 1;
    }
    report.note(format!(
        "{kills} replicas SIGKILLed during the discovery, the last {:.1} s after the seed was queued",
        run.started.elapsed().as_secs_f64()
    ));
    clients::wait_ready(stack, Duration::from_secs(60)).await?;
    let tasks = finish(&api, &run, p.job_timeout * 2).await?;
    let retaken = graph::retaken(&db, run.since).await?;
    report.traffic = format!(
        "2 discoveries of {} accounts, {} GitHub calls, {kills} replicas killed",
        p.graph_developers + 2,
        sim.stats().await?.stats.quota_used_on("core") + reference.calls
    );
    report.check(
        "the kills interrupted the discovery's jobs, which were taken up again",
        kills > 0 && retaken > 0,
        format!("{kills} kills; {retaken} job(s) finished by a later attempt"),
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
