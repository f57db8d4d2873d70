//! The stand-in's door: every v2 call passes the token check, the burst
//! window and the faults on demand, in that order, before its handler runs.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use chrono::Utc;
use rand::Rng;

use super::{Inner, Pipedrive, envelope_error};
use crate::fault::{FaultKind, Outcome};
use crate::state::lock;

fn rate_headers(response: &mut Response, limit: u64, remaining: u64, reset: u64) {
    let headers = response.headers_mut();
    headers.insert("x-ratelimit-limit", HeaderValue::from(limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(reset));
}

pub(super) fn dropped() -> Response {
    let mut response = Response::new(axum::body::Body::empty());
    response.extensions_mut().insert(Outcome {
        injected: Some(FaultKind::Drop),
        slow: false,
    });
    response
}

/// What the gate decided before the handler's work.
pub(super) enum Gate {
    Pass { remaining: u64, reset: u64 },
    Answer(Response),
}

impl Pipedrive {
    /// Token, burst window and faults, in that order; counts the request.
    pub(super) async fn gate(&self, headers: &HeaderMap, query: Option<&str>) -> Gate {
        let token_ok = headers
            .get("x-api-token")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t == self.settings.api_token);
        let legacy = query.is_some_and(|q| q.split('&').any(|p| p.starts_with("api_token=")));
        let (slow, gate) = {
            let mut inner = lock(&self.inner);
            inner.counts.requests += 1;
            if !token_ok || legacy {
                inner.counts.unauthorized += 1;
                return Gate::Answer(envelope_error(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized access",
                    None,
                ));
            }
            let now_ms = Utc::now().timestamp_millis();
            let slot = now_ms.div_euclid(2000);
            if inner.window.0 != slot {
                inner.window = (slot, 0);
            }
            inner.window.1 += 1;
            inner.counts.max_in_window = inner.counts.max_in_window.max(inner.window.1);
            let limit = self.settings.burst_limit;
            let reset = (((slot + 1) * 2000 - now_ms) as u64).div_ceil(1000).max(1);
            let remaining = limit.saturating_sub(inner.window.1);
            if inner.window.1 > limit {
                inner.counts.burst_429 += 1;
                let mut response =
                    envelope_error(StatusCode::TOO_MANY_REQUESTS, "Request over limit", None);
                rate_headers(&mut response, limit, 0, reset);
                return Gate::Answer(response);
            }
            let Inner {
                faults,
                rng,
                counts,
                ..
            } = &mut *inner;
            let slow = faults.slow_rate > 0.0 && rng.random_bool(faults.slow_rate);
            let gate = if faults.rate_limit_429 > 0 {
                faults.rate_limit_429 -= 1;
                counts.injected_429 += 1;
                let mut response =
                    envelope_error(StatusCode::TOO_MANY_REQUESTS, "Request over limit", None);
                rate_headers(&mut response, limit, 0, faults.reset_secs.max(1));
                Gate::Answer(response)
            } else if faults.drop_rate > 0.0 && rng.random_bool(faults.drop_rate) {
                counts.dropped += 1;
                Gate::Answer(dropped())
            } else if faults.error_rate > 0.0 && rng.random_bool(faults.error_rate) {
                counts.server_errors += 1;
                let status = [500, 502, 503][rng.random_range(0..3)];
                Gate::Answer(envelope_error(
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    "Internal server error",
                    None,
                ))
            } else {
                Gate::Pass { remaining, reset }
            };
            (slow.then_some(faults.slow_ms), gate)
        };
        if let Some(ms) = slow {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        gate
    }

    /// Counts the status and adds the rate-limit headers.
    pub(super) fn finish(&self, mut response: Response, remaining: u64, reset: u64) -> Response {
        rate_headers(&mut response, self.settings.burst_limit, remaining, reset);
        self.count(&response);
        response
    }

    pub(super) fn count(&self, response: &Response) {
        let mut inner = lock(&self.inner);
        if response.extensions().get::<Outcome>().is_none() {
            *inner
                .counts
                .by_status
                .entry(response.status().as_u16())
                .or_default() += 1;
        }
    }

    /// Whether this accepted create loses its reply.
    pub(super) fn drop_after_accept(&self) -> bool {
        let mut inner = lock(&self.inner);
        let Inner {
            faults,
            rng,
            counts,
            ..
        } = &mut *inner;
        let drop =
            faults.drop_after_accept_rate > 0.0 && rng.random_bool(faults.drop_after_accept_rate);
        if drop {
            counts.dropped_after_accept += 1;
        }
        drop
    }
}

macro_rules! gate {
    ($pd:expr, $headers:expr, $query:expr) => {
        match $pd.gate(&$headers, $query).await {
            Gate::Pass { remaining, reset } => (remaining, reset),
            Gate::Answer(response) => {
                $pd.count(&response);
                return response;
            }
        }
    };
}

pub(super) use gate;
