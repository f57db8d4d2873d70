//! Metrics of developer discovery; each field's doc is its HELP text. The
//! frontier is read from Postgres when `/metrics` is scraped (the API does
//! that), so every replica shows the same graph whichever ran the syncs.

use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};

/// What `sync_developer` reports as `developer_state`.
pub const SYNC_OUTCOMES: [&str; 4] = ["synced", "fresh", "gone", "unknown"];

#[derive(Debug, Clone)]
pub struct GraphMetrics {
    /// Developer syncs by outcome (synced, fresh: inside the staleness window, gone, unknown).
    pub developer_syncs: IntCounterVec,
    /// Developers left to sync by kind (never_synced, stale), within the depth limit, read at each scrape.
    pub frontier: IntGaugeVec,
}

impl GraphMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = GraphMetrics {
            developer_syncs: IntCounterVec::new(
                Opts::new(
                    "graph_developer_syncs_total",
                    "Developer syncs by outcome (synced, fresh: inside the staleness window, gone, unknown).",
                ),
                &["outcome"],
            )?,
            frontier: IntGaugeVec::new(
                Opts::new(
                    "graph_frontier_developers",
                    "Developers left to sync by kind (never_synced, stale), within the depth limit, read at each scrape.",
                ),
                &["kind"],
            )?,
        };
        // Every series from the start: a graph that never synced anyone
        // shows 0, which an alert can tell from a missing scrape.
        for outcome in SYNC_OUTCOMES {
            metrics.developer_syncs.with_label_values(&[outcome]);
        }
        registry.register(Box::new(metrics.developer_syncs.clone()))?;
        registry.register(Box::new(metrics.frontier.clone()))?;
        Ok(metrics)
    }

    /// Counts one finished sync; an outcome this list does not know is
    /// counted as `unknown` rather than growing the label set.
    pub fn synced(&self, outcome: &str) {
        let outcome = SYNC_OUTCOMES
            .into_iter()
            .find(|o| *o == outcome)
            .unwrap_or("unknown");
        self.developer_syncs.with_label_values(&[outcome]).inc();
    }

    /// Sets the frontier gauges from a fresh count.
    pub fn set_frontier(&self, never_synced: i64, stale: i64) {
        self.frontier
            .with_label_values(&["never_synced"])
            .set(never_synced);
        self.frontier.with_label_values(&["stale"]).set(stale);
    }
}
