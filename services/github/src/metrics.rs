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

/// A metric label for a URL: the endpoint's template (`search/repositories`,
/// `repos/{owner}/{repo}/contributors`), never the raw path, so a crawl of
/// thousands of repositories stays a handful of series. The template starts
/// at the first segment GitHub's API starts with, because a `Link` URL may
/// carry a prefix of its own (GitHub Enterprise's `/api/v3`, the simulator's).
pub fn endpoint_template(url: &url::Url) -> String {
    let Some(segments) = url.path_segments() else {
        return "other".into();
    };
    let segments: Vec<&str> = segments.filter(|s| !s.is_empty()).collect();
    let Some(root) = segments.iter().position(|s| ROOTS.contains(s)) else {
        return "other".into();
    };
    let rest = &segments[root..];
    let placeholders: &[&str] = match rest[0] {
        "repos" => &["{owner}", "{repo}"],
        "users" => &["{user}"],
        "orgs" => &["{org}"],
        "gists" | "repositories" => &["{id}"],
        _ => &[],
    };
    let mut out = vec![rest[0].to_owned()];
    for (i, segment) in rest.iter().enumerate().skip(1).take(MAX_DEPTH) {
        let label = match placeholders.get(i - 1) {
            Some(p) => (*p).to_owned(),
            None if is_word(segment) => (*segment).to_owned(),
            None => "{id}".to_owned(),
        };
        out.push(label);
    }
    out.join("/")
}

const ROOTS: &[&str] = &[
    "search",
    "repos",
    "users",
    "user",
    "orgs",
    "gists",
    "repositories",
    "rate_limit",
    "topics",
    "events",
];

const MAX_DEPTH: usize = 5;

fn is_word(segment: &str) -> bool {
    !segment.is_empty()
        && segment.len() <= 32
        && segment
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(raw: &str) -> String {
        endpoint_template(&url::Url::parse(raw).unwrap())
    }

    #[test]
    fn templates_hide_names_and_ids_and_ignore_prefixes() {
        assert_eq!(
            template("https://api.github.com/search/repositories?q=topic:x&page=3"),
            "search/repositories"
        );
        assert_eq!(
            template("http://127.0.0.1:9/_sim/link/search/repositories?page=2"),
            "search/repositories"
        );
        assert_eq!(
            template("https://api.github.com/repos/kubernetes/kubernetes/contributors"),
            "repos/{owner}/{repo}/contributors"
        );
        assert_eq!(
            template("https://api.github.com/users/shipit%5Bbot%5D"),
            "users/{user}"
        );
        assert_eq!(
            template("https://api.github.com/repos/o/r/issues/123/comments"),
            "repos/{owner}/{repo}/issues/{id}/comments"
        );
        assert_eq!(template("https://api.github.com/nowhere/x"), "other");
    }

    #[test]
    fn registers_once_per_registry() {
        let registry = Registry::new();
        let metrics = GithubMetrics::register(&registry).unwrap();
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
    }
}
