use crate::http_metrics::HttpMetrics;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// The statuses `/metrics` counts live jobs in (store::queue::queue_depth).
const QUEUE_STATUSES: [&str; 3] = ["queued", "running", "rescheduled"];

/// Every metric the API exports, registered once at start-up.
pub struct Metrics {
    registry: Registry,
    /// HTTP requests by route template, method and status, and their
    /// latency in seconds by route template and method.
    pub http: HttpMetrics,
    /// Job attempts by kind and outcome.
    pub job_attempts: IntCounterVec,
    /// Job attempt duration in seconds, by kind.
    pub job_duration: HistogramVec,
    /// View reads by the tier that answered: process, redis or postgres.
    pub view_reads: IntCounterVec,
    /// `?limit=N` answers: a kept prefix reused, or one computed.
    pub view_prefixes: IntCounterVec,
    /// Response bytes sent by sendfile(2) from a cached view's memfd copy.
    pub http_sendfile_bytes: IntCounter,
    /// Live jobs by kind and status, read from Postgres at each scrape.
    pub queue_depth: IntGaugeVec,
    /// Tracked owners' repositories by statistics state, read at each scrape.
    pub repository_stats: IntGaugeVec,
    /// Gist scans, Pipedrive posts and the outbox (`hubpulse_jobs::GistMetrics`).
    pub gists: hubpulse_jobs::GistMetrics,
    /// Developer syncs and the discovery frontier (`hubpulse_jobs::GraphMetrics`).
    pub graph: hubpulse_jobs::GraphMetrics,
}

impl Metrics {
    pub fn new(replica: &str) -> Self {
        let registry = Registry::new_custom(
            Some("hubpulse".into()),
            Some([("replica".to_owned(), replica.to_owned())].into()),
        )
        .expect("static metric prefix is valid");
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route template, method and status",
            ),
            &["route", "method", "status"],
        )
        .expect("static metric definition is valid");
        let http_latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route template and method",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ]),
            &["route", "method"],
        )
        .expect("static metric definition is valid");
        let job_attempts = IntCounterVec::new(
            Opts::new("job_attempts_total", "Job attempts by kind and outcome"),
            &["kind", "outcome"],
        )
        .expect("static metric definition is valid");
        let job_duration = HistogramVec::new(
            HistogramOpts::new("job_duration_seconds", "Job attempt duration by kind")
                .buckets(vec![0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0]),
            &["kind"],
        )
        .expect("static metric definition is valid");
        let view_reads = IntCounterVec::new(
            Opts::new(
                "view_reads_total",
                "View reads by the cache tier that answered",
            ),
            &["tier"],
        )
        .expect("static metric definition is valid");
        let view_prefixes = IntCounterVec::new(
            Opts::new(
                "view_prefixes_total",
                "?limit=N answers by whether a kept prefix was reused or one computed",
            ),
            &["result"],
        )
        .expect("static metric definition is valid");
        let http_sendfile_bytes = IntCounter::new(
            "http_sendfile_bytes_total",
            "Response bytes sent by sendfile from a cached view's memfd copy",
        )
        .expect("static metric definition is valid");
        let queue_depth = IntGaugeVec::new(
            Opts::new(
                "job_queue_depth",
                "Jobs queued, running or rescheduled, by kind and status",
            ),
            &["kind", "status"],
        )
        .expect("static metric definition is valid");
        let repository_stats = IntGaugeVec::new(
            Opts::new(
                "repository_stats",
                "Repositories of tracked owners by contributor-statistics state",
            ),
            &["state"],
        )
        .expect("static metric definition is valid");
        for collector in [
            Box::new(job_attempts.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(queue_depth.clone()),
            Box::new(repository_stats.clone()),
            Box::new(job_duration.clone()),
            Box::new(view_reads.clone()),
            Box::new(view_prefixes.clone()),
            Box::new(http_sendfile_bytes.clone()),
        ] {
            registry.register(collector).expect("registered once");
        }
        // Resident memory, CPU seconds, open and maximum fds, threads: what
        // an operator looks at first when a replica misbehaves.
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("registered once");
        registry
            .register(Box::new(http_requests.clone()))
            .expect("registered once");
        registry
            .register(Box::new(http_latency.clone()))
            .expect("registered once");
        let gists = hubpulse_jobs::GistMetrics::register(&registry)
            .expect("static metric definition is valid");
        let graph = hubpulse_jobs::GraphMetrics::register(&registry)
            .expect("static metric definition is valid");
        Self {
            registry,
            http: HttpMetrics::new(http_latency, http_requests),
            job_attempts,
            job_duration,
            view_reads,
            view_prefixes,
            http_sendfile_bytes,
            queue_depth,
            gists,
            graph,
            repository_stats,
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Replaces the queue-depth gauges with a fresh count. Every known kind
    /// and live status is exported, 0 when absent from the count: an idle
    /// queue is a series at 0, which alerts and graphs can tell from a
    /// scrape that found nothing; an unknown kind in the table still shows.
    pub fn set_queue_depth(&self, depth: &[(String, String, i64)]) {
        self.queue_depth.reset();
        for kind in hubpulse_jobs::kinds::names() {
            for status in QUEUE_STATUSES {
                self.queue_depth.with_label_values(&[kind, status]).set(0);
            }
        }
        for (kind, status, count) in depth {
            self.queue_depth
                .with_label_values(&[kind.as_str(), status.as_str()])
                .set(*count);
        }
    }

    /// Replaces the statistics-state gauges, as `set_queue_depth` does.
    pub fn set_repository_stats(&self, states: &[(String, i64)]) {
        self.repository_stats.reset();
        for (state, count) in states {
            self.repository_stats
                .with_label_values(&[state.as_str()])
                .set(*count);
        }
    }

    /// The Prometheus text exposition of every registered metric.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buf = Vec::with_capacity(8 * 1024);
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        String::from_utf8(buf).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }
}

impl hubpulse_jobs::JobObserver for Metrics {
    fn attempt_finished(&self, kind: &str, outcome: &'static str, duration: std::time::Duration) {
        self.job_attempts.with_label_values(&[kind, outcome]).inc();
        self.job_duration
            .with_label_values(&[kind])
            .observe(duration.as_secs_f64());
    }
}
