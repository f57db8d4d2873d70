use std::any::Any;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;

use crate::error::{code_for_status, error_response};
use crate::metrics::Metrics;

/// The span every log line of a request is recorded in; the request id is set
/// by `SetRequestIdLayer` before this runs. The query string is left out: it
/// is where clients put things that should not be logged.
pub fn request_span(req: &Request) -> tracing::Span {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %req.method(),
        path = %req.uri().path(),
    )
}

/// Counts requests and their latency by route template (never the raw path,
/// which would let a client mint unbounded label values).
pub async fn record_metrics(
    State(metrics): State<Arc<Metrics>>,
    req: Request,
    next: Next,
) -> Response {
    // MatchedPath is an Arc inside: cloning it allocates nothing.
    let route = req.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map_or("unmatched", |m| m.as_str());
    let method = req.method().clone();
    let started = Instant::now();
    let response = next.run(req).await;
    metrics
        .http_latency
        .with_label_values(&[route, method.as_str()])
        .observe(started.elapsed().as_secs_f64());
    metrics
        .http_requests
        .with_label_values(&[route, method.as_str(), response.status().as_str()])
        .inc();
    response
}

/// Error messages longer than this from lower layers are replaced by the status text.
const MAX_PASSTHROUGH_MESSAGE: usize = 512;

/// Gives every 4xx/5xx a JSON body, whoever produced it: axum's 405 and
/// extractor rejections, tower-http's 413 and timeouts. Responses that are
/// JSON already pass untouched.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&response) {
        return response;
    }
    let (parts, body) = response.into_parts();
    // Bodies of these responses are short plain-text messages; read a bounded amount.
    let limited = http_body_util::Limited::new(body, MAX_PASSTHROUGH_MESSAGE);
    let text = match limited.collect().await {
        Ok(collected) => String::from_utf8(collected.to_bytes().to_vec()).unwrap_or_default(),
        Err(_) => String::new(),
    };
    let message = if status.is_server_error() || text.trim().is_empty() {
        default_message(status)
    } else {
        text.trim().to_owned()
    };
    let mut rebuilt = error_response(status, code_for_status(status), &message);
    // Keep headers such as `allow` (405) and `retry-after`.
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rebuilt.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rebuilt
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.starts_with("application/json") || ct.starts_with("application/problem+json")
        })
}

fn default_message(status: StatusCode) -> String {
    match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            "method not allowed on this route; see the allow header".into()
        }
        StatusCode::PAYLOAD_TOO_LARGE => "request body too large".into(),
        StatusCode::SERVICE_UNAVAILABLE => {
            "the request did not finish in time or the service is unavailable".into()
        }
        StatusCode::INTERNAL_SERVER_ERROR => {
            "internal error; the request id identifies it in the logs".into()
        }
        other => other.canonical_reason().unwrap_or("error").to_lowercase(),
    }
}

/// `CatchPanicLayer`'s answer: a 500 JSON error. The panic payload goes to the
/// log only.
pub fn panic_response(payload: Box<dyn Any + Send + 'static>) -> Response<Body> {
    let detail = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("non-string panic payload");
    tracing::error!(panic = %detail, "handler panicked");
    let mut response = error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error; the request id identifies it in the logs",
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
