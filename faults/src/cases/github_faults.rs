//! `github-faults`: crawl a topic while GitHub answers 5xx, slowly, not at
//! all, garbage, cut-short JSON and rate limits. Fault kinds are the
//! simulator's own typed [`FaultKind`], as it counts them.

use std::time::{Duration, Instant};

use anyhow::bail;
use hubpulse_client::TaskStatus;
use hubpulse_sim::{FaultKind, Faults, Stats};
use serde_json::Value;

use super::{
    Crawling, Profile, Report, Stack, clients, crawl_of, new_failures, no_failed_jobs, sql,
    start_crawling,
};

/// The faults of the GitHub case, one kind at a time until the simulator
/// has injected it at least twice (rate limits: once each), so every kind
/// is proven whatever the dice say; then all of them mildly at once until
/// the crawl ends.
/// Each step names groups of kinds: a group is seen when any of its kinds
/// was (the three 5xx statuses are drawn at random, so they count together).
const FAULT_STEPS: [(&str, &[&[FaultKind]], u64); 5] = [
    (
        "rate limits (403 quota, 429, secondary 403)",
        &[
            &[FaultKind::RateLimit403],
            &[FaultKind::RateLimit429],
            &[FaultKind::Secondary],
        ],
        1,
    ),
    ("dropped connections", &[&[FaultKind::Drop]], 2),
    ("5xx", &[&FaultKind::SERVER_ERRORS], 2),
    ("malformed JSON", &[&[FaultKind::Malformed]], 2),
    ("truncated JSON", &[&[FaultKind::Truncated]], 2),
];

/// Crawls of the topic at most, before the case gives up on the faults.
const MAX_CRAWLS: usize = 4;

/// Step `step`'s faults, every step with a fifth of the replies slow.
fn fault_step(step: usize, slow_ms: u64) -> Faults {
    let slow = Faults {
        slow_rate: 0.2,
        slow_ms,
        ..Faults::default()
    };
    match step {
        0 => Faults {
            rate_limit_403: 1,
            rate_limit_429: 1,
            secondary_limit: 1,
            retry_after_secs: 2,
            ..slow
        },
        1 => Faults {
            drop_rate: 0.3,
            ..slow
        },
        2 => Faults {
            error_rate: 0.3,
            ..slow
        },
        3 => Faults {
            malformed_rate: 0.3,
            ..slow
        },
        4 => Faults {
            truncated_rate: 0.3,
            ..slow
        },
        _ => Faults {
            drop_rate: 0.04,
            error_rate: 0.06,
            malformed_rate: 0.04,
            truncated_rate: 0.04,
            ..slow
        },
    }
}

/// Every fault the steps look for, injected so far.
fn faulted(stats: &Stats) -> u64 {
    FAULT_STEPS
        .iter()
        .flat_map(|(_, groups, _)| groups.iter())
        .map(|kinds| stats.injected(kinds))
        .sum()
}

pub(super) async fn github_faults<S: Stack>(
    stack: &S,
    p: &Profile,
    report: &mut Report,
) -> anyhow::Result<()> {
    let (topic, size) = p.topics.crawl;
    let Crawling {
        api,
        sim,
        failed_before,
    } = start_crawling(stack, topic).await?;
    let expected = clients::topic_size(&sim, topic).await?;
    sim.reset().await?;
    let started = Instant::now();
    let mut step = 0;
    sim.set_faults(&fault_step(step, p.slow_ms)).await?;
    let mut job = crawl_of(&api, topic).await?;
    let mut crawls = vec![job];
    let mut statuses: Vec<String> = Vec::new();
    let last = loop {
        if started.elapsed() > p.job_timeout {
            bail!(
                "the crawls under faults did not end within {:?}",
                p.job_timeout
            );
        }
        let stats = sim.stats().await?.stats;
        if step < FAULT_STEPS.len() {
            let (what, groups, times) = FAULT_STEPS[step];
            if groups.iter().all(|kinds| stats.injected(kinds) >= times) {
                report.note(format!(
                    "{what}: injected after {:.1} s",
                    started.elapsed().as_secs_f64()
                ));
                step += 1;
                sim.set_faults(&fault_step(step, p.slow_ms)).await?;
            }
        }
        let state = api.task(job).await?;
        let status = state.status.to_string();
        if statuses.last() != Some(&status) {
            statuses.push(status);
        }
        if state.status.is_finished() {
            if step >= FAULT_STEPS.len() || state.status == TaskStatus::Failed {
                break state;
            }
            // Done before every kind of fault was seen: crawl again (a
            // refresh: the same pages, asked with their ETags) until it was.
            if crawls.len() >= MAX_CRAWLS {
                bail!(
                    "{MAX_CRAWLS} crawls ended before the simulator injected every kind of fault \
                     (stuck at: {}); simulator stats: {stats:?}",
                    FAULT_STEPS[step].0
                );
            }
            job = crawl_of(&api, topic).await?;
            crawls.push(job);
            statuses.push(format!("(crawl again: #{job})"));
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    };
    let stats = sim.stats().await?.stats;
    sim.clear_faults().await?;
    let db = sql::connect(&stack.database_url()).await?;
    let stored = sql::member_ids(&db, topic).await?;
    let truth = sim.topic_ids(topic).await?;
    let duplicates = sql::duplicates(&db, topic).await?;
    let failed = new_failures(stack, &failed_before).await?;
    let mut crawl_results = Vec::new();
    for id in &crawls {
        let task = api.task(*id).await?;
        crawl_results.push(format!(
            "#{id} {} after {} attempt(s)",
            task.status, task.attempts
        ));
    }

    report.traffic = format!(
        "{} GitHub calls, {} faulted or slow, {} crawl(s)",
        stats.requests,
        faulted(&stats) + stats.slow,
        crawls.len()
    );
    report.note(format!(
        "simulator: {} requests, by status {:?}, injected {:?}, {} slow, quota really spent: {}",
        stats.requests, stats.by_status, stats.injected, stats.slow, stats.quota_exceeded
    ));
    report.note(format!(
        "crawls: {} (statuses seen: {})",
        crawl_results.join(", "),
        statuses.join(" → ")
    ));
    let missing: Vec<&str> = FAULT_STEPS
        .iter()
        .flat_map(|(_, groups, _)| groups.iter().copied())
        .filter(|kinds| stats.injected(kinds) == 0)
        .map(|kinds| kinds[0].as_str())
        .collect();
    report.check(
        "every kind of fault was injected during the crawl",
        missing.is_empty() && stats.slow > 0,
        if missing.is_empty() {
            format!(
                "{} faults injected, {} slow replies",
                faulted(&stats),
                stats.slow
            )
        } else {
            format!("never injected: {}", missing.join(", "))
        },
    );
    report.check(
        "the crawl ended complete",
        last.status == TaskStatus::Succeeded
            && last.result("complete") == &Value::Bool(true)
            && last.result("repositories").as_u64() == Some(expected),
        format!(
            "job {} {}, complete = {}, {} repositories of {expected} ({size} configured)",
            job,
            last.status,
            last.result("complete"),
            last.result("repositories")
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
