//! `discover {batch}`: grows the developer graph from what is stored. Each
//! round claims the next developers of the frontier (known but never
//! synced first, then the stalest; none synced inside the staleness
//! window, none gone, none past `graph.max_depth`) and queues a
//! `sync_developer` job for each, in the transaction that claims them; the
//! syncs store the accounts they meet, which grows the frontier. The job
//! then comes back after `graph.discover_interval_ms` without spending an
//! attempt, and is done when the frontier is empty and no sync is left.
//!
//! It spends no GitHub quota itself. Before a round it reads the core
//! budget as last seen: at or below `graph.reserve_ratio` of the limit it
//! waits for the window's reset, so discovery never eats the share kept
//! for everything else. One live `discover` at a time (its dedup key);
//! replicas share its syncs through the queue, and the syncs' upserts by
//! GitHub id make racing ones harmless.

use std::time::Duration;

use chrono::Utc;
use hubpulse_github::{Credential, Resource};
use hubpulse_store::StoreError;
use hubpulse_store::developers;
use serde::{Deserialize, Serialize};

use super::SyncDeveloper;
use crate::{Job, JobContext, JobError, JobRun, Outcome, enqueue};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Discover {
    /// Developers a round queues; `graph.discover_batch` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 10000)]
    pub batch: Option<u32>,
}

/// What a finished `discover` job reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DiscoverOutput {
    /// Developers left to sync when it finished (0: the graph is done).
    pub frontier: i64,
    /// Syncs queued by its last round.
    pub queued: u64,
}

impl Job for Discover {
    const KIND: &'static str = "discover";
    type Context = JobContext;
    type Output = DiscoverOutput;

    fn dedup_key(&self) -> Option<String> {
        Some("discover".into())
    }

    async fn run(
        &self,
        ctx: &JobContext,
        run: &JobRun,
    ) -> Result<Outcome<DiscoverOutput>, JobError> {
        let graph = &ctx.graph;
        if let Some(core) = ctx
            .github
            .rate_limits_of(&Credential::Service)
            .get(&Resource::Core)
        {
            let reserve = (core.limit as f64 * graph.reserve_ratio).ceil() as u64;
            if core.remaining <= reserve && core.reset > Utc::now() {
                return Ok(Outcome::RescheduleAt {
                    at: core.reset,
                    reason: format!(
                        "{} core calls left, the reserve is {reserve}: waiting for the reset",
                        core.remaining
                    ),
                });
            }
        }
        let batch = i64::from(self.batch.unwrap_or(graph.discover_batch).clamp(1, 10_000));
        // Counted before the claim: a sync that finishes between the claim
        // and a later count adds accounts the claim never saw, and with
        // nothing live by then the job would end with them on the frontier.
        // No sync live before the claim means the claim saw every account
        // any sync added.
        let live = developers::live_syncs(&ctx.store.conn().await?).await?;
        let queued = {
            let mut conn = ctx.store.conn().await?;
            let tx = conn.transaction().await.map_err(StoreError::from)?;
            let next = developers::claim_frontier(
                &tx,
                batch,
                graph.staleness(),
                graph.requeue_after(),
                graph.max_depth(),
            )
            .await?;
            for dev in &next {
                enqueue(
                    &tx,
                    &SyncDeveloper {
                        login: hubpulse_domain::Login::parse(&dev.login).ok(),
                        id: Some(dev.id),
                        depth: Some(dev.depth),
                        force: false,
                    },
                )
                .await?;
            }
            tx.commit().await.map_err(StoreError::from)?;
            next.len() as u64
        };
        let frontier = developers::frontier_size(
            &ctx.store.conn().await?,
            graph.staleness(),
            graph.max_depth(),
        )
        .await?;
        run.set_progress(0, Some(frontier)).await;
        if queued > 0 || live > 0 {
            let wait = Duration::from_millis(graph.discover_interval_ms);
            return Ok(Outcome::RescheduleAt {
                at: Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default(),
                reason: format!("{queued} syncs queued, {live} live, {frontier} to go"),
            });
        }
        tracing::info!(frontier, "discovery finished");
        Ok(Outcome::Done(DiscoverOutput { frontier, queued }))
    }
}
