//! `worker-kill`: SIGKILL the replica whose worker is crawling, then
//! compare with an uninterrupted crawl.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hubpulse_client::TaskStatus;
use hubpulse_sim::Faults;
use serde_json::Value;

use super::{
    Crawling, Profile, Report, Stack, crawl_of, new_failures, no_failed_jobs, sql, start_crawling,
    wait_running,
};

pub(super) async fn worker_kill<S: Stack>(
    stack: &S,
    p: &Profile,
    report: &mut Report,
) -> anyhow::Result<()> {
    let (topic, _) = p.topics.resume;
    let Crawling {
        api,
        sim,
        failed_before,
    } = start_crawling(stack, topic).await?;
    let mut db = sql::connect(&stack.database_url()).await?;

    sim.reset().await?;
    // The reference: one crawl nobody interrupts.
    let first = crawl_of(&api, topic).await?;
    let reference = api.wait_task(first, p.job_timeout).await?;
    if reference.status != TaskStatus::Succeeded {
        bail!("the uninterrupted crawl #{first} did not succeed: {reference:?}");
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
    sim.set_faults(&Faults {
        slow_rate: 1.0,
        slow_ms: p.slow_ms,
        ..Faults::default()
    })
    .await?;
    let id = crawl_of(&api, topic).await?;
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
            None if api.task(id).await?.status != TaskStatus::Running => break,
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let resumed = api.wait_task(id, p.job_timeout).await?;
    let after = sql::checksum(&db, topic).await?;
    let stored = sql::member_ids(&db, topic).await?;
    let truth = sim.topic_ids(topic).await?;
    let failed = new_failures(stack, &failed_before).await?;
    report.note(format!("after the interrupted crawl: {after}"));
    report.traffic = format!(
        "2 crawls, {} GitHub calls, 1 replica killed",
        sim.stats().await?.stats.requests
    );

    report.check(
        "the job was taken up again after its lease expired",
        held.attempt < resumed.attempts,
        match &taken {
            Some((next, after)) => format!(
                "worker {} took it {:.1} s after the kill as attempt {}",
                next.owner,
                after.as_secs_f64(),
                next.attempt
            ),
            None if held.attempt < resumed.attempts => format!(
                "finished by attempt {} (taken up and done between two looks)",
                resumed.attempts
            ),
            None => format!("no later attempt ran it; {resumed:?}"),
        },
    );
    report.check(
        "the interrupted crawl finished complete",
        resumed.status == TaskStatus::Succeeded
            && resumed.result("complete") == &Value::Bool(true)
            && stored == truth,
        format!(
            "job {id} {}, {} repositories stored, exactly the {} GitHub lists: {}",
            resumed.status,
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
