//! `redis-down`: stop Redis under read load, then bring it back and
//! refresh the views.

use std::collections::BTreeMap;
use std::time::Duration;

use hubpulse_client::{StatusCode, TaskStatus};

use super::{
    Profile, Report, Stack, clients, crawl_of, finish_load, no_failures, read_load, unique_tag,
};

/// Reads that missed the process cache, by tier, between two scrapes.
fn tiers(later: &BTreeMap<String, u64>, earlier: &BTreeMap<String, u64>) -> (u64, u64) {
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

pub(super) async fn redis_down<S: Stack>(
    stack: &S,
    p: &Profile,
    report: &mut Report,
) -> anyhow::Result<()> {
    let api = clients::api(stack);
    let replica = clients::replica(stack, 1);
    let (topic, _) = p.topics.load;
    let tag = unique_tag("redis");
    let planned = (p.warmup * 2 + p.down + p.after).as_secs_f64() + 30.0;
    let load = read_load(stack, p, &tag, planned);
    let start = clients::view_reads(stack).await?;
    tokio::time::sleep(p.warmup).await;
    let warm = clients::view_reads(stack).await?;
    let baseline = tiers(&warm, &start);

    stack.stop_redis().await?;
    let before = load.tally();
    report.note("Redis stopped");
    let ready = replica.ready().await?;
    tokio::time::sleep(p.down).await;
    let outage = tiers(&clients::view_reads(stack).await?, &warm);
    let down = load.tally().since(&before);
    report.note(format!("while Redis was down: {down}"));

    stack.start_redis().await?;
    clients::wait_ready(stack, Duration::from_secs(30)).await?;
    report.note("Redis started again (empty); /update_cache to rebuild the views");
    let id = crawl_of(&api, topic).await?;
    let rebuilt = api.watch_task(id, p.job_timeout).await?;
    let settled = clients::view_reads(stack).await?;
    tokio::time::sleep(p.after).await;
    let recovered = tiers(&clients::view_reads(stack).await?, &settled);
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
        ready.status == StatusCode::SERVICE_UNAVAILABLE && ready.checks.redis != "ok",
        format!("{} {:?}", ready.status, ready.checks),
    );
    report.check(
        "views rebuilt when Redis returned",
        rebuilt.status() == TaskStatus::Succeeded,
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
