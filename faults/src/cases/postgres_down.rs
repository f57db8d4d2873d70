//! `postgres-down`: stop Postgres under read load while a crawl runs, then
//! bring it back.

use std::time::{Duration, Instant};

use hubpulse_client::{ClientError, Method, RawReply, StatusCode, TaskStatus};
use hubpulse_sim::Faults;
use serde_json::Value;

use super::{
    Crawling, Profile, Report, Stack, clients, crawl_of, finish_load, new_failures, no_failed_jobs,
    no_failures, read_load, start_crawling, unique_tag, wait_running,
};

/// An error the way the API and nginx write them: JSON with `error.code`.
fn json_error(reply: &Result<RawReply, ClientError>, status: StatusCode) -> bool {
    matches!(reply, Err(err) if err.status() == Some(status) && err.error_code().is_some())
}

fn describe(reply: &Result<RawReply, ClientError>) -> String {
    match reply {
        Ok(reply) => format!("{} {}", reply.status, reply.text().trim()),
        Err(err) => err.to_string(),
    }
}

pub(super) async fn postgres_down<S: Stack>(
    stack: &S,
    p: &Profile,
    report: &mut Report,
) -> anyhow::Result<()> {
    let (topic, _) = p.topics.outage;
    let Crawling {
        api,
        sim,
        failed_before,
    } = start_crawling(stack, topic).await?;
    // Slow replies, so the crawl is still running when Postgres goes.
    sim.set_faults(&Faults {
        slow_rate: 1.0,
        slow_ms: p.slow_ms,
        ..Faults::default()
    })
    .await?;
    let id = crawl_of(&api, topic).await?;
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
    let post = api.call(Method::POST, "/update_cache", true, None).await;
    let get = api.call(Method::GET, "/update_cache", true, None).await;
    let ready = clients::replica(stack, 1).ready().await?;
    tokio::time::sleep(p.down.saturating_sub(stopped.elapsed())).await;
    let down = load.tally().since(&before);
    report.note(format!("while Postgres was down: {down}"));
    stack.start_postgres().await?;
    sim.clear_faults().await?;
    report.note("Postgres started again");
    tokio::time::sleep(p.after).await;
    let total = finish_load(load, report).await;

    let resumed = api.watch_task(id, p.job_timeout).await?;
    let again = api.update_cache().await?;
    let mut new_jobs = Vec::new();
    for job in &again.jobs {
        let task = api.wait_task(job.id, p.job_timeout).await?;
        new_jobs.push(format!(
            "{} #{} {}",
            job.topic.as_deref().unwrap_or("?"),
            job.id,
            task.status
        ));
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
            describe(reply),
        );
    }
    report.check(
        "/ready said Postgres was down",
        ready.status == StatusCode::SERVICE_UNAVAILABLE && ready.checks.postgres != "ok",
        format!("{} {:?}", ready.status, ready.checks),
    );
    report.check(
        "the crawl running through the outage resumed and finished",
        resumed.status() == TaskStatus::Succeeded
            && resumed.task.result("complete") == &Value::Bool(true),
        format!(
            "job {id} {} after {} attempt(s), {} repositories (statuses: {})",
            resumed.status(),
            resumed.task.attempts,
            resumed.task.result("repositories"),
            resumed.statuses_text()
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
