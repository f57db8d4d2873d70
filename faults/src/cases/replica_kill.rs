//! `replica-kill`: SIGKILL api-1 under read load through nginx, then start
//! it again.

use super::{
    Profile, Report, Stack, finish_load, no_failures, read_load, replica_name, retried_by_nginx,
    unique_tag,
};

pub(super) async fn replica_kill<S: Stack>(
    stack: &S,
    p: &Profile,
    report: &mut Report,
) -> anyhow::Result<()> {
    let victim = 1;
    let name = replica_name(victim);
    let tag = unique_tag("kill");
    let planned = (p.warmup + p.down + p.after).as_secs_f64() + 10.0;
    let load = read_load(stack, p, &tag, planned);
    tokio::time::sleep(p.warmup).await;
    let before = load.tally();
    stack.kill_replica(victim).await?;
    report.note(format!("SIGKILL {name} after {} requests", before.sent));
    tokio::time::sleep(p.down).await;
    let down = load.tally().since(&before);
    report.note(format!("while {name} was down: {down}"));
    stack.start_replica(victim).await?;
    let back = load.tally();
    report.note(format!("{name} started again after {} requests", back.sent));
    tokio::time::sleep(p.after).await;
    let total = finish_load(load, report).await;
    let after = total.since(&back);
    no_failures(report, &total);
    if let Some(retried) = retried_by_nginx(stack.access_log().as_deref(), &tag).await {
        report.check(
            "nginx passed requests for the dead replica to the other",
            retried > 0,
            format!("{retried} requests tried on more than one replica (nginx access log)"),
        );
    }
    report.check(
        format!("{name} rejoined"),
        after.from_replica(&name) > 0,
        format!(
            "{} of {} replies came from {name} after its restart",
            after.from_replica(&name),
            after.ok
        ),
    );
    Ok(())
}
