use hubpulse_domain::rate::Resource;
use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry};

/// The client's metrics; each field's doc is its HELP text.
#[derive(Debug, Clone)]
pub struct GithubMetrics {
    /// GitHub calls by endpoint template and status ("304", "error" when no reply came).
    calls: IntCounterVec,
    /// Calls left in the current window per rate-limit resource, as GitHub last said.
    rate_remaining: IntGaugeVec,
    /// Calls not made because the shared rate budget was spent.
    budget_denied: IntCounterVec,
    /// Retries by endpoint template and reason (5xx, timeout, transport, garbled).
    retries: IntCounterVec,
}

impl GithubMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = Self {
            calls: IntCounterVec::new(
                Opts::new(
                    "github_calls_total",
                    "GitHub calls by endpoint template and status (\"304\", \"error\" when no reply came).",
                ),
                &["endpoint", "status"],
            )?,
            rate_remaining: IntGaugeVec::new(
                Opts::new(
                    "github_rate_limit_remaining",
                    "Calls left in the current window per rate-limit resource, as GitHub last said.",
                ),
                &["resource"],
            )?,
            budget_denied: IntCounterVec::new(
                Opts::new(
                    "github_budget_denied_total",
                    "Calls not made because the shared rate budget was spent.",
                ),
                &["resource"],
            )?,
            retries: IntCounterVec::new(
                Opts::new(
                    "github_retries_total",
                    "Retries by endpoint template and reason (5xx, timeout, transport, garbled).",
                ),
                &["endpoint", "reason"],
            )?,
        };
        registry.register(Box::new(metrics.calls.clone()))?;
        registry.register(Box::new(metrics.rate_remaining.clone()))?;
        registry.register(Box::new(metrics.budget_denied.clone()))?;
        registry.register(Box::new(metrics.retries.clone()))?;
        Ok(metrics)
    }

    /// `endpoint` is an [`Operation`](crate::Operation)'s label, so the
    /// series are the table's rows, never a raw path.
    pub(crate) fn call(&self, endpoint: &str, status: &str) {
        self.calls.with_label_values(&[endpoint, status]).inc();
    }

    pub(crate) fn remaining(&self, resource: Resource, remaining: u64) {
        self.rate_remaining
            .with_label_values(&[resource.as_str()])
            .set(i64::try_from(remaining).unwrap_or(i64::MAX));
    }

    pub(crate) fn denied(&self, resource: Resource) {
        self.budget_denied
            .with_label_values(&[resource.as_str()])
            .inc();
    }

    pub(crate) fn retry(&self, endpoint: &str, reason: &str) {
        self.retries.with_label_values(&[endpoint, reason]).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_once_per_registry() {
        let registry = Registry::new();
        let metrics = GithubMetrics::register(&registry).unwrap();
        for op in crate::Operation::ALL {
            metrics.call(op.label(), "200");
        }
        metrics.call("search/repositories", "304");
        metrics.remaining(Resource::Search, 7);
        assert!(GithubMetrics::register(&registry).is_err());
        let names: Vec<String> = registry
            .gather()
            .iter()
            .map(|f| f.name().to_owned())
            .collect();
        assert!(names.contains(&"github_calls_total".to_owned()));
        assert!(names.contains(&"github_rate_limit_remaining".to_owned()));
        let calls = registry
            .gather()
            .into_iter()
            .find(|f| f.name() == "github_calls_total")
            .unwrap();
        assert_eq!(calls.get_metric().len(), crate::Operation::ALL.len() + 1);
    }
}
