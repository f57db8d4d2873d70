//! Per-request HTTP metrics without a per-request label lookup.
//!
//! `MetricVec::with_label_values` hashes every label value with SipHash and
//! checks them against the metric's label names on every call; twice a
//! request (the latency and the count) that was about a thousand
//! instructions of a cached read (scripts/callgrind.sh). The handles it
//! returns are cheap to keep, so they are resolved once per route template,
//! method and status and kept in a map hashed with foldhash, looked up
//! without allocating. The map only grows by the label sets Prometheus would
//! hold anyway.

use std::hash::{Hash, Hasher};
use std::sync::RwLock;
use std::time::Duration;

use axum::http::Method;
use hashbrown::{Equivalent, HashMap};
use prometheus::{Histogram, HistogramVec, IntCounter, IntCounterVec};

/// A label set as kept.
#[derive(PartialEq, Eq)]
struct Key {
    route: Box<str>,
    method: Method,
    status: u16,
}

/// A label set as a request has it, borrowed: what a lookup hashes.
struct Lookup<'a> {
    route: &'a str,
    method: &'a Method,
    status: u16,
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        Lookup {
            route: &self.route,
            method: &self.method,
            status: self.status,
        }
        .hash(state)
    }
}

impl Hash for Lookup<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.route.hash(state);
        self.method.as_str().hash(state);
        self.status.hash(state);
    }
}

impl Equivalent<Key> for Lookup<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        self.status == key.status && *self.method == key.method && self.route == &*key.route
    }
}

#[derive(Clone)]
struct Handles {
    latency: Histogram,
    requests: IntCounter,
}

/// `hubpulse_http_request_duration_seconds{route,method}` and
/// `hubpulse_http_requests_total{route,method,status}`, recorded together.
pub struct HttpMetrics {
    latency: HistogramVec,
    requests: IntCounterVec,
    handles: RwLock<HashMap<Key, Handles>>,
}

impl HttpMetrics {
    pub fn new(latency: HistogramVec, requests: IntCounterVec) -> Self {
        Self {
            latency,
            requests,
            handles: RwLock::default(),
        }
    }

    /// Records one finished request.
    pub fn record(&self, route: &str, method: &Method, status: u16, elapsed: Duration) {
        let lookup = Lookup {
            route,
            method,
            status,
        };
        let found = self
            .handles
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&lookup)
            .cloned();
        let handles = found.unwrap_or_else(|| self.resolve(lookup));
        handles.latency.observe(elapsed.as_secs_f64());
        handles.requests.inc();
    }

    /// The first request of a label set: its handles, kept for the next.
    #[cold]
    fn resolve(&self, lookup: Lookup<'_>) -> Handles {
        let status = lookup.status.to_string();
        let handles = Handles {
            latency: self
                .latency
                .with_label_values(&[lookup.route, lookup.method.as_str()]),
            requests: self.requests.with_label_values(&[
                lookup.route,
                lookup.method.as_str(),
                &status,
            ]),
        };
        let key = Key {
            route: lookup.route.into(),
            method: lookup.method.clone(),
            status: lookup.status,
        };
        self.handles
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_insert_with(|| handles.clone());
        handles
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{HistogramOpts, Opts};

    #[test]
    fn kept_handles_count_under_their_own_labels() {
        let latency =
            HistogramVec::new(HistogramOpts::new("l", "l"), &["route", "method"]).unwrap();
        let requests =
            IntCounterVec::new(Opts::new("r", "r"), &["route", "method", "status"]).unwrap();
        let metrics = HttpMetrics::new(latency.clone(), requests.clone());
        let ms = Duration::from_millis(1);
        for _ in 0..3 {
            metrics.record("/api/{topic}", &Method::GET, 200, ms);
        }
        metrics.record("/api/{topic}", &Method::GET, 304, ms);
        metrics.record("/api/{topic}", &Method::HEAD, 200, ms);
        metrics.record("unmatched", &Method::GET, 404, ms);
        let count = |labels: &[&str]| requests.with_label_values(labels).get();
        assert_eq!(count(&["/api/{topic}", "GET", "200"]), 3);
        assert_eq!(count(&["/api/{topic}", "GET", "304"]), 1);
        assert_eq!(count(&["/api/{topic}", "HEAD", "200"]), 1);
        assert_eq!(count(&["unmatched", "GET", "404"]), 1);
        assert_eq!(
            latency
                .with_label_values(&["/api/{topic}", "GET"])
                .get_sample_count(),
            4
        );
        assert_eq!(metrics.handles.read().unwrap().len(), 4);
    }
}
