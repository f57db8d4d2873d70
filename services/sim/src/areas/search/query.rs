//! The `q` of `GET /search/repositories`: `topic:NAME`, `created:` and
//! `stars:` qualifiers, in GitHub's range syntax.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub topic: String,
    pub created: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    pub stars: (Option<i64>, Option<i64>),
}

/// Inclusive bounds from `a..b`, `a..*`, `*..b`, `>=a`, `>a`, `<=b`, `<b` or `a`.
fn range<T: Copy>(
    raw: &str,
    parse: impl Fn(&str) -> Option<T>,
    step_up: impl Fn(T) -> T,
    step_down: impl Fn(T) -> T,
) -> Option<(Option<T>, Option<T>)> {
    let bound = |s: &str| {
        if s == "*" {
            Some(None)
        } else {
            parse(s).map(Some)
        }
    };
    if let Some((lo, hi)) = raw.split_once("..") {
        return Some((bound(lo)?, bound(hi)?));
    }
    if let Some(rest) = raw.strip_prefix(">=") {
        return Some((Some(parse(rest)?), None));
    }
    if let Some(rest) = raw.strip_prefix("<=") {
        return Some((None, Some(parse(rest)?)));
    }
    if let Some(rest) = raw.strip_prefix('>') {
        return Some((Some(step_up(parse(rest)?)), None));
    }
    if let Some(rest) = raw.strip_prefix('<') {
        return Some((None, Some(step_down(parse(rest)?))));
    }
    let exact = parse(raw)?;
    Some((Some(exact), Some(exact)))
}

fn date(raw: &str) -> Option<DateTime<Utc>> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(raw) {
        return Some(dt.with_timezone(&Utc));
    }
    if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S") {
        return Some(Utc.from_utc_datetime(&dt));
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| Utc.from_utc_datetime(&d))
}

pub fn parse(q: &str) -> Result<Query, String> {
    let mut topic = None;
    let mut created = (None, None);
    let mut stars = (None, None);
    for term in q.split_whitespace() {
        let (key, value) = term
            .split_once(':')
            .ok_or_else(|| format!("unsupported search term {term:?}"))?;
        match key {
            "topic" => {
                if value.is_empty() || value.len() > 100 {
                    return Err("topic: needs a name".into());
                }
                topic = Some(value.to_owned());
            }
            "created" => {
                let (lo, hi) = range(
                    value,
                    date,
                    |d| d + chrono::Duration::seconds(1),
                    |d| d - chrono::Duration::seconds(1),
                )
                .ok_or_else(|| format!("created: {value:?} is not a date range"))?;
                // A bare date covers its whole day, as on GitHub.
                let hi = match hi {
                    Some(h) if !value.contains('T') && !value.starts_with('<') => {
                        Some(h + chrono::Duration::seconds(86_399))
                    }
                    other => other,
                };
                created = (lo, hi);
            }
            "stars" => {
                stars = range(
                    value,
                    |s| s.parse::<i64>().ok(),
                    |n| n.saturating_add(1),
                    |n| n.saturating_sub(1),
                )
                .ok_or_else(|| format!("stars: {value:?} is not a number range"))?;
            }
            other => return Err(format!("unsupported qualifier {other:?}")),
        }
    }
    Ok(Query {
        topic: topic.ok_or("the simulator needs a topic: qualifier")?,
        created,
        stars,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_github_ranges() {
        let q = parse("topic:kubernetes created:2020-01-01..2020-06-30 stars:10..50").unwrap();
        assert_eq!(q.topic, "kubernetes");
        assert_eq!(q.created.0, date("2020-01-01"));
        assert_eq!(q.created.1, date("2020-06-30T23:59:59Z"));
        assert_eq!(q.stars, (Some(10), Some(50)));
        let q = parse("topic:a created:>=2020-01-01T00:00:00Z stars:>100").unwrap();
        assert_eq!(q.created, (date("2020-01-01"), None));
        assert_eq!(q.stars, (Some(101), None));
        assert_eq!(parse("topic:a stars:<5").unwrap().stars, (None, Some(4)));
        assert_eq!(
            parse("topic:a stars:10..*").unwrap().stars,
            (Some(10), None)
        );
        let q = parse("topic:a created:2020-01-01T00:00:00Z..2020-01-01T12:00:00Z").unwrap();
        assert_eq!(q.created.1, date("2020-01-01T12:00:00Z"));
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        for bad in [
            "",
            "kubernetes",
            "topic:",
            "topic:a stars:x",
            "topic:a created:yesterday",
            "topic:a language:go",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(q in "\\PC{0,120}") {
            let _ = parse(&q);
        }
    }
}
