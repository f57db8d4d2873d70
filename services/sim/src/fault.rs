//! Fault injection: the kinds of fault, and the layer every GitHub route
//! wears (see `areas::Api::route`), which rolls the dice once per request
//! and answers for the route when a fault is drawn.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};

use crate::reply::{Declared, caller, github_error, rate_headers};
use crate::state::{Resource, SimState};

/// One kind of injected fault. The serde names are the keys of
/// `injected` in `GET /_sim/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FaultKind {
    /// The connection is closed without a reply.
    #[serde(rename = "drop")]
    Drop,
    #[serde(rename = "servererror(500)")]
    ServerError500,
    #[serde(rename = "servererror(502)")]
    ServerError502,
    #[serde(rename = "servererror(503)")]
    ServerError503,
    /// 403 with `x-ratelimit-remaining: 0`, as when the quota is spent.
    #[serde(rename = "ratelimit403")]
    RateLimit403,
    /// 429 with `retry-after`.
    #[serde(rename = "ratelimit429")]
    RateLimit429,
    /// 403 "secondary rate limit" with `retry-after`.
    #[serde(rename = "secondary")]
    Secondary,
    /// 200 whose body is not JSON.
    #[serde(rename = "malformed")]
    Malformed,
    /// 200 whose JSON is cut short.
    #[serde(rename = "truncated")]
    Truncated,
}

impl FaultKind {
    pub const ALL: [FaultKind; 9] = [
        Self::Drop,
        Self::ServerError500,
        Self::ServerError502,
        Self::ServerError503,
        Self::RateLimit403,
        Self::RateLimit429,
        Self::Secondary,
        Self::Malformed,
        Self::Truncated,
    ];

    /// The three 5xx kinds, drawn with equal odds by `error_rate`.
    pub const SERVER_ERRORS: [FaultKind; 3] = [
        Self::ServerError500,
        Self::ServerError502,
        Self::ServerError503,
    ];

    /// The name `GET /_sim/stats` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Drop => "drop",
            Self::ServerError500 => "servererror(500)",
            Self::ServerError502 => "servererror(502)",
            Self::ServerError503 => "servererror(503)",
            Self::RateLimit403 => "ratelimit403",
            Self::RateLimit429 => "ratelimit429",
            Self::Secondary => "secondary",
            Self::Malformed => "malformed",
            Self::Truncated => "truncated",
        }
    }

    /// The status the client sees; `None` for a dropped connection.
    pub fn status(self) -> Option<u16> {
        match self {
            Self::Drop => None,
            Self::ServerError500 => Some(500),
            Self::ServerError502 => Some(502),
            Self::ServerError503 => Some(503),
            Self::RateLimit403 | Self::Secondary => Some(403),
            Self::RateLimit429 => Some(429),
            Self::Malformed | Self::Truncated => Some(200),
        }
    }

    pub fn is_server_error(self) -> bool {
        Self::SERVER_ERRORS.contains(&self)
    }
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the layer did to one request, for `lib::handle` to count; carried
/// as a response extension.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outcome {
    pub injected: Option<FaultKind>,
    pub slow: bool,
}

/// The layer around every GitHub route: the route's declared resource goes
/// into the request for `Call`, then at most one fault is drawn.
pub async fn faulted(
    State((state, resource)): State<(Arc<SimState>, Resource)>,
    mut req: Request,
    next: Next,
) -> Response {
    req.extensions_mut().insert(Declared(resource));
    let caller = caller(req.headers());
    let (injected, slow) = state.roll();
    if slow {
        tokio::time::sleep(Duration::from_millis(state.faults().slow_ms)).await;
    }
    let retry_after = HeaderValue::from(state.faults().retry_after_secs.max(1));
    let mut response = match injected {
        Some(FaultKind::Drop) => Response::new(Body::empty()),
        Some(kind) if kind.is_server_error() => {
            let status = kind
                .status()
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            github_error(status, "Server Error")
        }
        Some(FaultKind::RateLimit403) => {
            // Looks spent to the client; the caller's real window is untouched.
            let mut window = state.window(&caller, resource);
            window.used = window.limit;
            let mut response = github_error(
                StatusCode::FORBIDDEN,
                &format!("API rate limit exceeded for {caller}."),
            );
            rate_headers(response.headers_mut(), window, resource);
            response
        }
        Some(kind @ (FaultKind::RateLimit429 | FaultKind::Secondary)) => {
            let (status, message) = if kind == FaultKind::RateLimit429 {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many requests; retry later.",
                )
            } else {
                (
                    StatusCode::FORBIDDEN,
                    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                )
            };
            let mut response = github_error(status, message);
            rate_headers(
                response.headers_mut(),
                state.window(&caller, resource),
                resource,
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after);
            response
        }
        _ => {
            let response = next.run(req).await;
            match injected {
                Some(kind) if response.status() == StatusCode::OK => mangle(response, kind).await,
                _ => response,
            }
        }
    };
    response.extensions_mut().insert(Outcome { injected, slow });
    response
}

/// A 200 whose body is not JSON, or JSON cut short: what a proxy in trouble sends.
async fn mangle(response: Response, kind: FaultKind) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let bytes = if kind == FaultKind::Truncated {
        bytes.slice(..bytes.len() / 2)
    } else {
        bytes::Bytes::from_static(b"{\"total_count\": 3, \"items\": [<html>upstream hiccup</html>")
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_names_are_the_stats_keys() {
        for kind in FaultKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<FaultKind>(&json).unwrap(), kind);
        }
        let map: std::collections::BTreeMap<FaultKind, u64> =
            [(FaultKind::ServerError502, 2)].into();
        assert_eq!(
            serde_json::to_string(&map).unwrap(),
            r#"{"servererror(502)":2}"#
        );
    }
}
