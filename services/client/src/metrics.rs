//! `GET /metrics` in Prometheus' text format, read by name and label.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metrics {
    pub text: String,
}

/// One line of a metric: its labels as written and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample<'a> {
    pub labels: &'a str,
    pub value: f64,
}

impl Sample<'_> {
    /// The value of label `name` (`tier` in `{replica="api-1",tier="redis"}`).
    pub fn label(&self, name: &str) -> Option<&str> {
        let pattern = format!("{name}=\"");
        let at = self
            .labels
            .match_indices(&pattern)
            .find(|(i, _)| *i == 0 || matches!(self.labels.as_bytes()[i - 1], b'{' | b','))?
            .0;
        let rest = &self.labels[at + pattern.len()..];
        rest.split('"').next()
    }
}

impl Metrics {
    /// Every line of metric `name` (not its `_sum`/`_count` siblings).
    pub fn samples<'a>(&'a self, name: &'a str) -> impl Iterator<Item = Sample<'a>> + 'a {
        self.text.lines().filter_map(move |line| {
            let rest = line.strip_prefix(name)?;
            let (labels, value) = match rest.strip_prefix('{') {
                Some(_) => rest.rsplit_once(' ')?,
                None if rest.starts_with(' ') => ("", rest),
                None => return None,
            };
            Some(Sample {
                labels,
                value: value.trim().parse().ok()?,
            })
        })
    }

    /// The sum of metric `name` over the lines whose labels have every
    /// `(label, value)` of `filter`.
    pub fn sum(&self, name: &str, filter: &[(&str, &str)]) -> f64 {
        self.samples(name)
            .filter(|s| filter.iter().all(|(k, v)| s.label(k) == Some(v)))
            .map(|s| s.value)
            .sum()
    }

    /// Metric `name` summed by the value of one label.
    pub fn by_label(&self, name: &str, label: &str) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for sample in self.samples(name) {
            if let Some(value) = sample.label(label) {
                *out.entry(value.to_owned()).or_default() += sample.value;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP hubpulse_view_reads_total View reads\n\
        # TYPE hubpulse_view_reads_total counter\n\
        hubpulse_view_reads_total{replica=\"api-1\",tier=\"postgres\"} 3\n\
        hubpulse_view_reads_total{replica=\"api-1\",tier=\"redis\"} 42\n\
        hubpulse_view_reads_total{replica=\"api-2\",tier=\"redis\"} 8\n\
        hubpulse_view_reads_total_extra{tier=\"redis\"} 1000\n\
        hubpulse_http_requests_total{replica=\"api-1\",route=\"/x\"} 9\n\
        hubpulse_up 1\n";

    #[test]
    fn samples_are_read_by_label() {
        let metrics = Metrics { text: TEXT.into() };
        let tiers = metrics.by_label("hubpulse_view_reads_total", "tier");
        assert_eq!(tiers["postgres"], 3.0);
        assert_eq!(tiers["redis"], 50.0);
        assert_eq!(
            metrics.sum(
                "hubpulse_view_reads_total",
                &[("tier", "redis"), ("replica", "api-2")]
            ),
            8.0
        );
        assert_eq!(metrics.sum("hubpulse_up", &[]), 1.0);
        assert_eq!(metrics.sum("hubpulse_missing", &[]), 0.0);
    }
}
