//! `rolling-restart`: restart every replica in turn (SIGTERM, drain,
//! start) under read load.

use std::time::Instant;

use super::{
    Profile, Report, Stack, finish_load, no_failures, read_load, replica_name, unique_tag,
};

pub(super) async fn rolling_restart<S: Stack>(
    stack: &S,
    p: &Profile,
    report: &mut Report,
) -> anyhow::Result<()> {
    let tag = unique_tag("rolling");
    let replicas = stack.replica_count();
    let planned = p.warmup.as_secs_f64() + replicas as f64 * (p.after.as_secs_f64() + 20.0);
    let load = read_load(stack, p, &tag, planned);
    tokio::time::sleep(p.warmup).await;
    let mut rejoined = Vec::new();
    for n in 1..=replicas {
        let name = replica_name(n);
        let stopping = Instant::now();
        stack.stop_replica(n).await?;
        let drained = stopping.elapsed();
        stack.start_replica(n).await?;
        let back = load.tally();
        report.note(format!(
            "{name}: SIGTERM, drained and exited in {:.1} s, started again in {:.1} s",
            drained.as_secs_f64(),
            (stopping.elapsed() - drained).as_secs_f64()
        ));
        // Let it take its share before the next one goes.
        tokio::time::sleep(p.after).await;
        rejoined.push((name, load.tally().since(&back)));
    }
    let total = finish_load(load, report).await;
    no_failures(report, &total);
    for (name, after) in rejoined {
        report.check(
            format!("{name} answered again after its restart"),
            after.from_replica(&name) > 0,
            format!(
                "{} of the next {} replies",
                after.from_replica(&name),
                after.ok
            ),
        );
    }
    Ok(())
}
