//! Metrics of the gist scans and the Pipedrive outbox; each field's doc is
//! its HELP text. The outbox's depth and oldest age are read from Postgres
//! when `/metrics` is scraped (the API does that).

use prometheus::{Gauge, Histogram, HistogramOpts, IntCounterVec, IntGauge, Opts, Registry};

#[derive(Debug, Clone)]
pub struct GistMetrics {
    /// Pipedrive posts by outcome (posted, reconciled, retry, rate_limited, parked).
    pub posts: IntCounterVec,
    /// Gist scans by outcome (scanned, skipped, not_found).
    pub scans: IntCounterVec,
    /// Seconds from a gist file first seen to its activity in Pipedrive.
    pub latency: Histogram,
    /// Gist files waiting for Pipedrive (parked ones excluded), read at each scrape.
    pub outbox_depth: IntGauge,
    /// Gist files parked with a permanent error, read at each scrape.
    pub outbox_parked: IntGauge,
    /// Seconds since the oldest waiting gist file was first seen, read at each scrape.
    pub outbox_oldest_age: Gauge,
}

impl GistMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = GistMetrics {
            posts: IntCounterVec::new(
                Opts::new(
                    "gist_pipedrive_posts_total",
                    "Pipedrive posts by outcome (posted, reconciled, retry, rate_limited, parked).",
                ),
                &["outcome"],
            )?,
            scans: IntCounterVec::new(
                Opts::new(
                    "gist_scans_total",
                    "Gist scans by outcome (scanned, skipped, not_found).",
                ),
                &["outcome"],
            )?,
            latency: Histogram::with_opts(
                HistogramOpts::new(
                    "gist_outbox_latency_seconds",
                    "Seconds from a gist file first seen to its activity in Pipedrive.",
                )
                .buckets(vec![
                    0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 10800.0,
                ]),
            )?,
            outbox_depth: IntGauge::new(
                "gist_outbox_depth",
                "Gist files waiting for Pipedrive (parked ones excluded), read at each scrape.",
            )?,
            outbox_parked: IntGauge::new(
                "gist_outbox_parked",
                "Gist files parked with a permanent error, read at each scrape.",
            )?,
            outbox_oldest_age: Gauge::new(
                "gist_outbox_oldest_age_seconds",
                "Seconds since the oldest waiting gist file was first seen, read at each scrape.",
            )?,
        };
        registry.register(Box::new(metrics.outbox_depth.clone()))?;
        registry.register(Box::new(metrics.outbox_parked.clone()))?;
        registry.register(Box::new(metrics.outbox_oldest_age.clone()))?;
        registry.register(Box::new(metrics.posts.clone()))?;
        registry.register(Box::new(metrics.scans.clone()))?;
        registry.register(Box::new(metrics.latency.clone()))?;
        Ok(metrics)
    }
}
