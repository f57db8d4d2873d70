//! `delivery`: gist files to the Pipedrive stand-in while replicas are
//! SIGKILLed at random points and Pipedrive drops connections after
//! accepting, answers 429 and 5xx. At the end it must hold exactly one
//! activity per gist file and one deal per tracked user, the outbox must
//! be empty, and no job may have failed.
//!
//! Every kill lands while files wait in the outbox. A wave of files can
//! drain before the profile's kills are spent (a hundred kills take longer
//! than a few hundred posts under the burst limit), so a drained wave is
//! followed by another of the same size until the kill count is reached.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use hubpulse_client::{ApiClient, ClientError};
use hubpulse_sim::PipedriveFaults;
use hubpulse_sim::admin_client::SimAdmin;
use serde_json::Value;

use super::{Profile, Report, Stack, new_failures, no_failed_jobs, sql};
use crate::clients;

/// The simulator's named users the case tracks.
const USERS: [&str; 2] = ["hubpulse-walker", "hubpulse-nobody"];
const FILES_PER_GIST: usize = 5;

/// A number from the clock, for kill timing and victims: no seed to keep.
fn jitter(range: u64) -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    nanos % range.max(1)
}

/// The users' outboxes summed: (waiting, parked); `None` while the API
/// does not answer (a replica just died).
async fn outbox(api: &ApiClient) -> Option<(i64, i64)> {
    let mut total = (0, 0);
    for user in USERS {
        let outbox: Result<_, ClientError> = api.gist_outbox(user).await;
        let outbox = outbox.ok()?;
        total.0 += outbox.depth;
        total.1 += outbox.parked;
    }
    Some(total)
}

/// The marker of each activity (`hubpulse:gist:{gist}:{file hash}`).
fn marker(activity: &Value) -> Option<String> {
    let note = activity["note"].as_str()?;
    let at = note.find("hubpulse:gist:")?;
    Some(note[at..].chars().take_while(|c| *c != '<').collect())
}

/// Adds `gists_per_user` new gists of `FILES_PER_GIST` files to each
/// user in the simulator and remembers their ids.
async fn add_wave(
    sim: &SimAdmin,
    gists_per_user: usize,
    new_gists: &mut BTreeSet<String>,
) -> anyhow::Result<()> {
    for user in USERS {
        let ids = sim.add_gists(user, gists_per_user, FILES_PER_GIST).await?;
        new_gists.extend(ids);
    }
    Ok(())
}

/// Queues a scan of each user now: it writes the new files and their
/// outbox rows, and queues their delivery.
async fn scan(api: &ApiClient) -> anyhow::Result<()> {
    for user in USERS {
        api.scan_user_gists(user)
            .await
            .with_context(|| format!("scanning {user}"))?;
    }
    Ok(())
}

pub(super) async fn delivery<S: Stack>(
    stack: &S,
    p: &Profile,
    report: &mut Report,
) -> anyhow::Result<()> {
    let api = clients::api(stack);
    let sim = clients::sim(stack);
    let db = sql::connect(&stack.database_url()).await?;
    let failed_before = sql::failed_jobs(&db).await?;

    // New gists for each user, so reruns on one stack count only their own.
    let gists_per_user = p.delivery_files.div_ceil(USERS.len() * FILES_PER_GIST);
    let mut new_gists: BTreeSet<String> = BTreeSet::new();
    let activities_before = sim.pipedrive().await?.activities;
    add_wave(&sim, gists_per_user, &mut new_gists).await?;
    sim.set_pipedrive_faults(&PipedriveFaults {
        drop_after_accept_rate: 0.15,
        error_rate: 0.1,
        rate_limit_429: 5,
        reset_secs: 1,
        slow_rate: 0.05,
        slow_ms: 300,
        ..PipedriveFaults::default()
    })
    .await?;
    for user in USERS {
        api.track_user(user)
            .await
            .with_context(|| format!("tracking {user}"))?;
    }
    scan(&api).await?;

    // Kill replicas at random points while files wait, feeding a new wave
    // whenever one is fully posted, until the kills are spent.
    let started = Instant::now();
    let kill_budget = p.job_timeout + Duration::from_secs(3) * p.delivery_kills as u32;
    let mut kills = 0;
    let mut waves = 1;
    let mut waiting_seen = 0;
    while kills < p.delivery_kills && started.elapsed() < kill_budget {
        tokio::time::sleep(Duration::from_millis(150 + jitter(700))).await;
        match outbox(&api).await {
            Some((waiting, _)) if waiting > 0 => waiting_seen = waiting_seen.max(waiting),
            Some(_) => {
                // Empty: either this wave is all posted, or its scans have
                // not written their rows yet (then wait, killing nothing).
                let posted = sim
                    .pipedrive()
                    .await?
                    .activities
                    .saturating_sub(activities_before);
                if posted >= (new_gists.len() * FILES_PER_GIST) as u64 {
                    add_wave(&sim, gists_per_user, &mut new_gists).await?;
                    scan(&api).await?;
                    waves += 1;
                }
                continue;
            }
            // A replica is still coming up: not a point to count.
            None => continue,
        }
        let victim = 1 + jitter(stack.replica_count() as u64) as usize;
        stack.kill_replica(victim).await?;
        tokio::time::sleep(Duration::from_millis(50 + jitter(300))).await;
        stack.start_replica(victim).await?;
        kills += 1;
    }
    let files = new_gists.len() * FILES_PER_GIST;
    report.note(format!(
        "{kills} replicas SIGKILLed during delivery of {files} gist files in {waves} wave(s) \
         over {:.1} s (most waiting at once: {waiting_seen})",
        started.elapsed().as_secs_f64()
    ));
    clients::wait_ready(stack, Duration::from_secs(60)).await?;
    // The sweep cron runs: deliveries whose job a kill left rescheduled far
    // ahead are queued again at once. Pipedrive keeps failing meanwhile.
    let _ = api.deliver_gists().await;
    let draining = Instant::now();
    let mut left = outbox(&api).await;
    while left.is_none_or(|(waiting, _)| waiting > 0) {
        if draining.elapsed() > p.job_timeout * 2 {
            bail!(
                "the outbox still held {left:?} {:?} after the last kill",
                draining.elapsed()
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        left = outbox(&api).await;
    }
    report.note(format!(
        "outbox empty {:.1} s after the first post was due",
        started.elapsed().as_secs_f64()
    ));
    // Pipedrive misbehaved until the end: only now is it well again.
    sim.clear_pipedrive_faults().await?;

    let activities = sim.pipedrive_activities().await?;
    let mut by_marker: BTreeMap<String, usize> = BTreeMap::new();
    for activity in &activities {
        if let Some(marker) = marker(activity) {
            *by_marker.entry(marker).or_default() += 1;
        }
    }
    let twice: Vec<&String> = by_marker
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(m, _)| m)
        .collect();
    let per_gist: BTreeMap<&String, usize> = new_gists
        .iter()
        .map(|gist| {
            let prefix = format!("hubpulse:gist:{gist}:");
            (
                gist,
                by_marker.keys().filter(|m| m.starts_with(&prefix)).count(),
            )
        })
        .collect();
    let short: Vec<_> = per_gist
        .iter()
        .filter(|(_, n)| **n != FILES_PER_GIST)
        .collect();
    let deals = sim.pipedrive_deals().await?;
    let pd = sim.pipedrive().await?;
    report.traffic = format!(
        "{} Pipedrive requests: {} replies dropped after accepting, {} 429s, {} 5xx",
        pd.counts.requests,
        pd.counts.dropped_after_accept,
        pd.counts.injected_429 + pd.counts.burst_429,
        pd.counts.server_errors
    );
    report.check(
        "exactly one activity per gist file",
        twice.is_empty() && short.is_empty(),
        format!(
            "{} files in {} gists; posted twice: {twice:?}; gists not posted in full: {short:?}",
            files,
            new_gists.len()
        ),
    );
    let mut deal_counts = Vec::new();
    for user in USERS {
        let id = api
            .tracked_users(None)
            .await?
            .users
            .into_iter()
            .find(|u| u.login == user)
            .map(|u| u.github_id)
            .with_context(|| format!("{user} is not listed as tracked"))?;
        let marker = format!("[hubpulse:user:{id}]");
        let n = deals
            .iter()
            .filter(|d| d["title"].as_str().is_some_and(|t| t.contains(&marker)))
            .count();
        deal_counts.push((user, n));
    }
    report.check(
        "one deal per tracked user",
        deal_counts.iter().all(|(_, n)| *n == 1),
        format!("{deal_counts:?}"),
    );
    let left = left.unwrap_or_default();
    report.check(
        "the outbox is empty",
        left == (0, 0),
        format!("{} waiting, {} parked", left.0, left.1),
    );
    report.check(
        "every kill landed during delivery",
        kills == p.delivery_kills,
        format!(
            "{kills} of {} kills, each while files waited in the outbox",
            p.delivery_kills
        ),
    );
    report.check(
        "the faults happened",
        kills > 0 && pd.counts.dropped_after_accept > 0,
        format!(
            "{kills} kills, {} replies dropped after accepting",
            pd.counts.dropped_after_accept
        ),
    );
    let failed = new_failures(stack, &failed_before).await?;
    no_failed_jobs(report, &failed);
    Ok(())
}
