//! `flood`: anonymous reads that reach Postgres (untracked topics,
//! `/v1/topics`, `/v1/tasks/{id}`) at a rate the stack cannot serve, through
//! nginx, while a crawl runs. nginx turns the excess away with 429s; what
//! gets through must not take the workers' connections: the crawl finishes
//! in its first attempt, its lease never changes hands, and no client sees a
//! 503 from an exhausted pool.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use hubpulse_client::{ApiClient, TaskStatus};
use hubpulse_sim::Faults;

use super::{
    Crawling, Profile, Report, Stack, clients, crawl_of, new_failures, no_failed_jobs,
    start_crawling, unique_tag, wait_running,
};
use crate::load::{Load, LoadSpec};
use crate::sql;

/// What the flood may see: a page, not tracked / no such job, slow down.
const ALLOWED: [u16; 3] = [200, 404, 429];

/// Job attempt outcomes that mean an attempt was lost or failed.
const BAD_OUTCOMES: [&str; 4] = ["retry", "failed", "lease_lost", "unrecorded"];

fn flood_urls(base: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for n in 0..8 {
        // Several names, so no answer is one key's luck.
        urls.push(format!("{base}/api/flood-untracked-{n}"));
        urls.push(format!("{base}/v1/topics"));
        urls.push(format!("{base}/v1/tasks/{}", 900_000_000 + n));
        urls.push(format!("{base}/api/popularity/flood-untracked-{n}?limit=5"));
    }
    urls
}

/// Bad attempt outcomes so far, summed over every replica (asked directly,
/// not through nginx, whose limits the flood spends).
async fn bad_attempts<S: Stack>(stack: &S) -> anyhow::Result<f64> {
    let mut total = 0.0;
    for n in 1..=stack.replica_count() {
        let metrics = clients::replica(stack, n).metrics().await?;
        for outcome in BAD_OUTCOMES {
            total += metrics.sum("hubpulse_job_attempts_total", &[("outcome", outcome)]);
        }
    }
    Ok(total)
}

pub(super) async fn flood<S: Stack>(
    stack: &S,
    p: &Profile,
    report: &mut Report,
) -> anyhow::Result<()> {
    let (topic, _) = p.topics.flood;
    let Crawling {
        api,
        sim,
        failed_before,
    } = start_crawling(stack, topic).await?;
    let bad_before = bad_attempts(stack).await?;
    // Slow replies, so the crawl runs through the whole flood.
    sim.set_faults(&Faults {
        slow_rate: 1.0,
        slow_ms: p.slow_ms,
        ..Faults::default()
    })
    .await?;
    let id = crawl_of(&api, topic).await?;
    let first = wait_running(stack, id, 1, Duration::from_secs(30)).await?;
    report.note(format!(
        "crawl job {id} of {topic} is running on {} (attempt {})",
        first.owner, first.attempt
    ));

    let tag = unique_tag("flood");
    let seconds = (p.down + p.after).as_secs_f64();
    let load = Load::start(
        // Without the admin token: the flood is anonymous.
        ApiClient::new(stack.nginx_url())?.http().clone(),
        LoadSpec {
            urls: flood_urls(&stack.nginx_url()),
            rate: p.flood_rate,
            concurrency: p.flood_concurrency,
            max_requests: (f64::from(p.flood_rate) * seconds * 2.0) as u64,
            tag,
        },
    );
    // The lease, watched from a connection of the case's own.
    let db = sql::connect(&stack.database_url()).await?;
    let mut owners = BTreeSet::from([first.owner.clone()]);
    let mut attempts = BTreeSet::from([first.attempt]);
    let started = Instant::now();
    while started.elapsed().as_secs_f64() < seconds {
        if let Some(lease) = sql::lease(&db, id).await? {
            owners.insert(lease.owner);
            attempts.insert(lease.attempt);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (tally, elapsed) = load.stop().await;
    sim.clear_faults().await?;
    report.sent += tally.sent;
    report.failed += tally
        .statuses
        .iter()
        .filter(|(s, _)| !ALLOWED.contains(s))
        .map(|(_, n)| n)
        .sum::<u64>()
        + tally.transport.values().sum::<u64>();
    report.traffic = format!(
        "{} anonymous reads through nginx, {} not 200/404/429",
        report.sent, report.failed
    );
    report.note(format!(
        "flood: {tally} in {:.1} s ({:.0} req/s)",
        elapsed.as_secs_f64(),
        tally.sent as f64 / elapsed.as_secs_f64().max(0.001)
    ));

    let resumed = clients::replica(stack, 1)
        .watch_task(id, p.job_timeout)
        .await?;
    let bad_after = bad_attempts(stack).await?;
    let failed = new_failures(stack, &failed_before).await?;

    let others: BTreeMap<u16, u64> = tally
        .statuses
        .iter()
        .filter(|(s, _)| !ALLOWED.contains(s))
        .map(|(s, n)| (*s, *n))
        .collect();
    report.check(
        "clients saw only 200, 404 or 429 (never a 503)",
        tally.sent > 0 && others.is_empty() && tally.transport.is_empty(),
        format!(
            "other statuses {others:?}, transport errors {:?}",
            tally.transport
        ),
    );
    let turned_away = tally.statuses.get(&429).copied().unwrap_or(0);
    report.check(
        "the flood was more than the stack serves: nginx answered part of it 429",
        turned_away > 0,
        format!("{turned_away} of {} answered 429", tally.sent),
    );
    report.check(
        "the crawl finished in its first attempt",
        resumed.status() == TaskStatus::Succeeded && resumed.task.attempts == 1,
        format!(
            "job {id} {} after {} attempt(s) (statuses: {})",
            resumed.status(),
            resumed.task.attempts,
            resumed.statuses_text()
        ),
    );
    report.check(
        "no lease changed hands during the flood",
        owners.len() == 1 && attempts.len() == 1,
        format!("lease owners seen {owners:?}, attempts {attempts:?}"),
    );
    report.check(
        "no job attempt failed, was lost or went unrecorded",
        bad_after == bad_before,
        format!(
            "hubpulse_job_attempts_total{{outcome=~\"{}\"}}: {bad_before} before, {bad_after} after",
            BAD_OUTCOMES.join("|")
        ),
    );
    no_failed_jobs(report, &failed);
    Ok(())
}
