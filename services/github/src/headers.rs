//! What GitHub's reply headers say about rate limits, read the same way for
//! every endpoint. Header names are matched case-insensitively (`HeaderMap`
//! lowercases them); values that do not parse are treated as absent, never
//! as an error: a missing header must not fail a crawl.

use chrono::{DateTime, TimeDelta, Utc};
use http::{HeaderMap, StatusCode};
use hubpulse_domain::rate::{RateObservation, Resource, WaitBounds, later};
use hubpulse_domain::wire::ErrorBody;

/// GitHub's advice when a secondary limit names no time: "wait for at least
/// one minute before retrying".
pub const SECONDARY_DEFAULT_WAIT: TimeDelta = TimeDelta::seconds(60);

fn number<T: std::str::FromStr>(headers: &HeaderMap, name: &str) -> Option<T> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// `until`, or the latest a wait on `resource` may end when it lies
/// further out (logged: a reply asked for more than GitHub's window).
pub fn bounded(
    bounds: &WaitBounds,
    resource: Resource,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    header: &'static str,
) -> DateTime<Utc> {
    let bound = bounds.bound(resource, now);
    if until > bound {
        tracing::warn!(%resource, header, asked = %until, waiting_until = %bound,
            "a rate-limit wait beyond the window was cut short");
        bound
    } else {
        until
    }
}

/// `x-ratelimit-*`: the bucket the reply counted against and its state.
/// `fallback` names the bucket when `x-ratelimit-resource` is absent. A
/// reset further out than the bucket's window allows is cut to the bound.
pub fn rate_observation(
    headers: &HeaderMap,
    fallback: Resource,
    bounds: &WaitBounds,
    now: DateTime<Utc>,
) -> Option<(Resource, RateObservation)> {
    let limit: u64 = number(headers, "x-ratelimit-limit")?;
    let remaining: u64 = number(headers, "x-ratelimit-remaining")?;
    // Beyond chrono's range (year 262143) is absent, not a panic.
    let reset = DateTime::from_timestamp(number(headers, "x-ratelimit-reset")?, 0)?;
    let used = number(headers, "x-ratelimit-used").unwrap_or(limit.saturating_sub(remaining));
    let resource = headers
        .get("x-ratelimit-resource")
        .and_then(|v| v.to_str().ok())
        .map_or(fallback, Resource::from_header);
    let reset = bounded(bounds, resource, now, reset, "x-ratelimit-reset");
    Some((
        resource,
        RateObservation {
            limit,
            remaining,
            used,
            reset,
        },
    ))
}

/// `retry-after`, as seconds or as an HTTP date, from `now`; unbounded (the
/// caller bounds it by the resource it concerns).
pub fn retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let raw = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = raw.parse::<u32>() {
        return Some(later(now, TimeDelta::seconds(i64::from(secs))));
    }
    DateTime::parse_from_rfc2822(raw)
        .ok()
        .map(|at| at.with_timezone(&Utc).max(now))
}

/// A reply that means "wait", not "failed".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub resource: Resource,
    pub until: DateTime<Utc>,
    pub secondary: bool,
}

/// Whether a 403 or 429 is a rate limit, and until when to wait.
///
/// GitHub documents three signs: `x-ratelimit-remaining: 0` (the primary
/// limit, until `x-ratelimit-reset`), `retry-after` (either kind; it wins
/// over the reset), and a message about a secondary limit. A 429 is a rate
/// limit even with none of them. A 403 with none of them is a real refusal.
pub fn rate_limit(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    resource: Resource,
    bounds: &WaitBounds,
    now: DateTime<Utc>,
) -> Option<RateLimit> {
    if status != StatusCode::FORBIDDEN && status != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let observed = rate_observation(headers, resource, bounds, now);
    let resource = observed.map_or(resource, |(r, _)| r);
    let exhausted = observed.is_some_and(|(_, o)| o.remaining == 0)
        || number::<u64>(headers, "x-ratelimit-remaining") == Some(0);
    let message = serde_json::from_slice::<ErrorBody>(body)
        .map(|b| b.message.to_ascii_lowercase())
        .unwrap_or_default();
    let secondary_message =
        message.contains("secondary rate limit") || message.contains("abuse detection");
    let rate_message = secondary_message || message.contains("rate limit exceeded");
    let retry_at =
        retry_after(headers, now).map(|at| bounded(bounds, resource, now, at, "retry-after"));

    if !(exhausted || retry_at.is_some() || rate_message || status == StatusCode::TOO_MANY_REQUESTS)
    {
        return None;
    }
    let until = match (retry_at, observed) {
        (Some(at), _) => at,
        // GitHub's clock may trail ours: never wait for a reset in the past.
        (None, Some((_, o))) if exhausted && !secondary_message => {
            o.reset.max(later(now, TimeDelta::seconds(1)))
        }
        _ => now + SECONDARY_DEFAULT_WAIT,
    };
    Some(RateLimit {
        resource,
        until,
        secondary: secondary_message || !exhausted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: WaitBounds = WaitBounds {
        core: TimeDelta::seconds(3_660),
        search: TimeDelta::seconds(120),
    };

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    fn exhausted(reset: i64) -> HeaderMap {
        headers(&[
            ("X-RateLimit-Limit", "30"),
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Used", "30"),
            ("X-RateLimit-Reset", &(1_700_000_000 + reset).to_string()),
            ("X-RateLimit-Resource", "search"),
        ])
    }

    #[test]
    fn reads_every_rate_header_whatever_the_case() {
        let (resource, seen) = rate_observation(&exhausted(60), Resource::Core, &B, at(0)).unwrap();
        assert_eq!(resource, Resource::Search);
        assert_eq!(
            seen,
            RateObservation {
                limit: 30,
                remaining: 0,
                used: 30,
                reset: at(60)
            }
        );
    }

    #[test]
    fn missing_or_garbled_headers_are_absent_not_errors() {
        assert_eq!(
            rate_observation(&HeaderMap::new(), Resource::Core, &B, at(0)),
            None
        );
        let garbled = headers(&[
            ("x-ratelimit-limit", "lots"),
            ("x-ratelimit-remaining", "1"),
            ("x-ratelimit-reset", "1"),
        ]);
        assert_eq!(rate_observation(&garbled, Resource::Core, &B, at(0)), None);
        // Without `used` or `resource`, both are inferred.
        let bare = headers(&[
            ("x-ratelimit-limit", "60"),
            ("x-ratelimit-remaining", "59"),
            ("x-ratelimit-reset", "1700000100"),
        ]);
        let (resource, seen) = rate_observation(&bare, Resource::Core, &B, at(0)).unwrap();
        assert_eq!((resource, seen.used), (Resource::Core, 1));
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let now = at(0);
        assert_eq!(
            retry_after(&headers(&[("retry-after", "30")]), now),
            Some(at(30))
        );
        assert_eq!(
            retry_after(
                &headers(&[("Retry-After", "Tue, 14 Nov 2023 22:14:20 GMT")]),
                now
            ),
            Some(at(60))
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
    }

    #[test]
    fn primary_limit_waits_for_the_reset() {
        let limit = rate_limit(
            StatusCode::FORBIDDEN,
            &exhausted(60),
            br#"{"message":"API rate limit exceeded for 1.2.3.4."}"#,
            Resource::Core,
            &B,
            at(0),
        )
        .unwrap();
        assert_eq!(
            limit,
            RateLimit {
                resource: Resource::Search,
                until: at(60),
                secondary: false
            }
        );
    }

    #[test]
    fn retry_after_wins_over_the_reset() {
        let mut h = exhausted(600);
        h.insert("retry-after", "5".parse().unwrap());
        let limit = rate_limit(
            StatusCode::TOO_MANY_REQUESTS,
            &h,
            b"",
            Resource::Search,
            &B,
            at(0),
        );
        assert_eq!(limit.unwrap().until, at(5));
    }

    #[test]
    fn secondary_limits_by_message_or_by_a_bare_429() {
        let body = br#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}"#;
        let by_message = rate_limit(
            StatusCode::FORBIDDEN,
            &HeaderMap::new(),
            body,
            Resource::Core,
            &B,
            at(0),
        )
        .unwrap();
        assert!(by_message.secondary);
        assert_eq!(by_message.until, at(60));

        let bare = rate_limit(
            StatusCode::TOO_MANY_REQUESTS,
            &HeaderMap::new(),
            b"",
            Resource::Search,
            &B,
            at(0),
        )
        .unwrap();
        assert!(bare.secondary);
        assert_eq!(bare.resource, Resource::Search);
    }

    #[test]
    fn a_plain_403_is_a_refusal_and_other_statuses_are_never_limits() {
        let body = br#"{"message":"Resource not accessible by integration"}"#;
        let mut with_quota = exhausted(60);
        with_quota.insert("x-ratelimit-remaining", "12".parse().unwrap());
        assert_eq!(
            rate_limit(
                StatusCode::FORBIDDEN,
                &with_quota,
                body,
                Resource::Core,
                &B,
                at(0)
            ),
            None
        );
        assert_eq!(
            rate_limit(
                StatusCode::NOT_FOUND,
                &exhausted(60),
                b"",
                Resource::Core,
                &B,
                at(0)
            ),
            None
        );
    }

    #[test]
    fn a_reset_already_past_waits_a_second_not_zero() {
        let limit = rate_limit(
            StatusCode::FORBIDDEN,
            &exhausted(-30),
            b"",
            Resource::Search,
            &B,
            at(0),
        )
        .unwrap();
        assert_eq!(limit.until, at(1));
    }

    #[test]
    fn waits_beyond_the_window_are_cut_to_the_bound_and_extremes_never_panic() {
        // What a broken or hostile reply sent: 136 years of retry-after.
        let mut h = exhausted(60);
        h.insert("retry-after", "4000000000".parse().unwrap());
        let limit =
            rate_limit(StatusCode::FORBIDDEN, &h, b"", Resource::Search, &B, at(0)).unwrap();
        assert_eq!(limit.until, at(120));
        // A reset at the far end of chrono's range: cut, and no overflow in
        // the budget's arithmetic that follows.
        let far = headers(&[
            ("x-ratelimit-limit", "5000"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "8000000000000"),
            ("x-ratelimit-resource", "core"),
        ]);
        let (_, seen) = rate_observation(&far, Resource::Core, &B, at(0)).unwrap();
        assert_eq!(seen.reset, at(3_660));
        let limit =
            rate_limit(StatusCode::FORBIDDEN, &far, b"", Resource::Core, &B, at(0)).unwrap();
        assert_eq!(limit.until, at(3_660));
        // A near-max date, even unbounded, saturates instead of panicking.
        let max = DateTime::<Utc>::MAX_UTC;
        assert_eq!(later(max, TimeDelta::seconds(1)), max);
        let mut state = hubpulse_domain::rate::BucketState::default();
        state.observe(&RateObservation {
            limit: 1,
            remaining: 0,
            used: 1,
            reset: max,
        });
        let grant = state.acquire(at(0), &hubpulse_domain::rate::BudgetPolicy::default());
        assert_eq!(grant, hubpulse_domain::rate::Grant::Denied { until: max });
        assert!(
            !RateObservation {
                limit: 1,
                remaining: 0,
                used: 1,
                reset: at(0)
            }
            .supersedes(&RateObservation {
                limit: 1,
                remaining: 0,
                used: 1,
                reset: max
            })
        );
    }
}
