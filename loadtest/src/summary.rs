//! One run, in the numbers the bench table shows.

use std::collections::BTreeMap;
use std::fmt;

use goose::metrics::GooseMetrics;
use serde::{Deserialize, Serialize};

use crate::plan::Scenario;

/// Response times in milliseconds (goose's buckets: within 0.8%).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// One threshold and what it met.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub rule: String,
    pub observed: String,
    pub passed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub scenario: Scenario,
    pub users: usize,
    /// The steady part of the run (goose resets its metrics once every user runs).
    pub seconds: f64,
    pub requests: u64,
    pub errors: u64,
    pub rps: f64,
    /// Time to the first byte of the answer, as goose measures it.
    pub latency: Latency,
    pub statuses: BTreeMap<String, u64>,
    pub thresholds: Vec<Rule>,
    pub passed: bool,
    /// The most frequent errors, at most five.
    pub error_samples: Vec<String>,
}

impl Summary {
    pub fn from_metrics(scenario: Scenario, metrics: &GooseMetrics, passed: bool) -> Self {
        let mut buckets: BTreeMap<u64, u64> = BTreeMap::new();
        let (mut requests, mut errors, mut max_us) = (0u64, 0u64, 0u64);
        let mut statuses = BTreeMap::new();
        for aggregate in metrics.requests.values() {
            requests += (aggregate.success_count + aggregate.fail_count) as u64;
            errors += aggregate.fail_count as u64;
            max_us = max_us.max(aggregate.raw_data.maximum_time_us);
            for (bucket, count) in aggregate.raw_data.times_us.iter() {
                *buckets.entry(*bucket).or_default() += *count as u64;
            }
            for (status, count) in &aggregate.status_code_counts {
                *statuses.entry(status.to_string()).or_default() += *count as u64;
            }
        }
        let seconds = metrics.duration.max(1) as f64;
        let mut error_samples: Vec<_> = metrics
            .errors
            .values()
            .map(|e| (e.occurrences, format!("{}x {}", e.occurrences, e.error)))
            .collect();
        error_samples.sort_by_key(|e| std::cmp::Reverse(e.0));
        Self {
            scenario,
            users: metrics.maximum_users,
            seconds,
            requests,
            errors,
            rps: requests as f64 / seconds,
            latency: Latency {
                p50_ms: percentile(&buckets, 0.50, max_us),
                p95_ms: percentile(&buckets, 0.95, max_us),
                p99_ms: percentile(&buckets, 0.99, max_us),
                max_ms: max_us as f64 / 1000.0,
            },
            statuses,
            thresholds: metrics
                .thresholds
                .iter()
                .map(|t| Rule {
                    rule: t.rule.clone(),
                    observed: t.observed.clone(),
                    passed: t.passed,
                })
                .collect(),
            passed: passed && metrics.thresholds.iter().all(|t| t.passed),
            error_samples: error_samples.into_iter().take(5).map(|e| e.1).collect(),
        }
    }
}

/// The bucket (fastest time, µs) holding the time at rank `share` of all, in
/// ms, never above the slowest time measured.
fn percentile(buckets: &BTreeMap<u64, u64>, share: f64, max_us: u64) -> f64 {
    let total: u64 = buckets.values().sum();
    if total == 0 {
        return 0.0;
    }
    let rank = ((total as f64 * share).ceil() as u64).max(1);
    let mut seen = 0;
    for (bucket, count) in buckets {
        seen += count;
        if seen >= rank {
            return (*bucket).min(max_us) as f64 / 1000.0;
        }
    }
    max_us as f64 / 1000.0
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = &self.latency;
        write!(
            f,
            "{}: {} requests in {:.0} s = {:.0}/s, p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {} errors: {}",
            self.scenario.name(),
            self.requests,
            self.seconds,
            self.rps,
            l.p50_ms,
            l.p95_ms,
            l.p99_ms,
            l.max_ms,
            self.errors,
            if self.passed { "PASS" } else { "FAIL" }
        )?;
        for rule in &self.thresholds {
            write!(
                f,
                "\n  {} {} (observed {})",
                if rule.passed { "pass" } else { "FAIL" },
                rule.rule,
                rule.observed
            )?;
        }
        for sample in &self.error_samples {
            write!(f, "\n  error: {sample}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_walk_the_buckets() {
        let buckets: BTreeMap<u64, u64> = [(100, 50), (200, 45), (900, 4), (5000, 1)].into();
        assert_eq!(percentile(&buckets, 0.50, 5200), 0.1);
        assert_eq!(percentile(&buckets, 0.95, 5200), 0.2);
        assert_eq!(percentile(&buckets, 0.99, 5200), 0.9);
        assert_eq!(percentile(&buckets, 1.0, 5200), 5.0);
        assert_eq!(percentile(&BTreeMap::new(), 0.99, 0), 0.0);
    }
}
