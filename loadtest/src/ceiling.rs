//! The proxy's own ceiling: the stack's nginx configuration in front of
//! backends that do nothing but hand back the view's bytes (scripts/bench.sh,
//! `start_ceiling`). Whatever the replicas cost, nginx in front of them
//! cannot beat it; so cached reads are judged as a share of it, measured in
//! the same run, in alternating rounds (static file, ceiling, HubPulse), so
//! that whatever else the machine does lands on all three alike.

use crate::bench::{Row, Target};

/// Cached `/api/popularity/{topic}` through nginx and the replicas, as a
/// share of the same nginx in front of do-nothing backends, with wrk: the
/// median over the rounds.
pub const MIN_CEILING_RATIO: f64 = 0.9;

/// The median of some ratios (the mean of the middle two for an even count).
fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    })
}

fn list(values: &[f64]) -> String {
    values
        .iter()
        .map(|v| format!("{v:.2}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// HubPulse / ceiling over the rounds, with ceiling / static beside it.
pub fn target(rows: &[Row]) -> Target {
    let hubpulse: Vec<&Row> = rows
        .iter()
        .filter(|r| r.target == "hubpulse" && r.generator == "wrk" && r.ratio_to_ceiling.is_some())
        .collect();
    let ratios: Vec<f64> = hubpulse.iter().filter_map(|r| r.ratio_to_ceiling).collect();
    let ceiling_to_static: Vec<f64> = rows
        .iter()
        .filter(|r| r.target == "ceiling")
        .filter_map(|r| r.ratio_to_static)
        .collect();
    let errors: u64 = rows
        .iter()
        .filter(|r| r.generator == "wrk" && r.target != "static")
        .map(|r| r.errors)
        .sum();
    let name = "cached /api/popularity through nginx (wrk), of the proxy's ceiling".to_owned();
    let wanted = format!(">= {MIN_CEILING_RATIO} x ceiling (median of the rounds), 0 errors");
    let Some(median_ratio) = median(&ratios) else {
        return Target {
            name,
            wanted,
            measured: "not run".into(),
            passed: false,
        };
    };
    let rps: Vec<f64> = hubpulse.iter().map(|r| r.rps).collect();
    Target {
        name,
        wanted,
        measured: format!(
            "{median_ratio:.2} x ceiling (rounds: {}); {:.0} req/s; ceiling {} x static; {errors} errors",
            list(&ratios),
            median(&rps).unwrap_or(0.0),
            median(&ceiling_to_static).map_or_else(|| "?".into(), |c| format!("{c:.2}")),
        ),
        passed: median_ratio >= MIN_CEILING_RATIO && errors == 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_the_rounds() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[0.8]), Some(0.8));
        assert_eq!(median(&[0.95, 0.7, 0.9]), Some(0.9));
        let even = median(&[1.0, 0.8, 0.9, 0.7]).unwrap();
        assert!((even - 0.85).abs() < 1e-9, "{even}");
    }
}
