//! The typed clients a case uses besides its load: the API through nginx
//! (with the admin token), each replica on its own (readiness, metrics),
//! and the simulator's admin routes.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, bail};
use hubpulse_client::ApiClient;
use hubpulse_sim::admin_client::SimAdmin;
use secrecy::SecretString;

use crate::Stack;

/// The API through nginx, where every client request goes.
pub fn api<S: Stack>(stack: &S) -> ApiClient {
    ApiClient::builder(stack.nginx_url())
        .admin_token(SecretString::from(stack.admin_token()))
        .build()
        .expect("an API client with static settings builds")
}

/// Replica `n` (1-based) on its own address, bypassing nginx.
pub fn replica<S: Stack>(stack: &S, n: usize) -> ApiClient {
    ApiClient::new(stack.replica_url(n)).expect("an API client with static settings builds")
}

pub fn sim<S: Stack>(stack: &S) -> SimAdmin {
    SimAdmin::new(stack.sim_url()).expect("a simulator admin client with static settings builds")
}

/// Waits until every replica says it is ready.
pub async fn wait_ready<S: Stack>(stack: &S, within: Duration) -> anyhow::Result<()> {
    for n in 1..=stack.replica_count() {
        replica(stack, n)
            .wait_ready(within)
            .await
            .with_context(|| format!("api-{n}"))?;
    }
    Ok(())
}

/// `hubpulse_view_reads_total` by tier, summed over every replica.
pub async fn view_reads<S: Stack>(stack: &S) -> anyhow::Result<BTreeMap<String, u64>> {
    let mut tiers = BTreeMap::new();
    for n in 1..=stack.replica_count() {
        let metrics = replica(stack, n).metrics().await?;
        for (tier, value) in metrics.by_label("hubpulse_view_reads_total", "tier") {
            *tiers.entry(tier).or_default() += value as u64;
        }
    }
    Ok(tiers)
}

/// How many repositories the simulated GitHub has under `topic`.
pub async fn topic_size(sim: &SimAdmin, topic: &str) -> anyhow::Result<u64> {
    match sim.stats().await?.topics.get(topic) {
        Some(size) => Ok(*size),
        None => bail!("the simulator has no topic {topic}"),
    }
}
