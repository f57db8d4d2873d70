//! What every request gets, in one layer with a future of its own rather
//! than a stack of them: its request id (the client's, else a new UUID,
//! echoed on the response), the replica's name, its count and latency by
//! route template, and the log line of a failure. The span every other log
//! line of a request is recorded in opens lower down ([`RequestSpanLayer`]),
//! below the cached-read lane, whose reads log nothing else.
//!
//! A cached read is a few microseconds of work, so what used to wrap it
//! counted: tower-http's request-id, set-header and trace layers and two
//! `from_fn` middlewares, each `from_fn` boxing its inner service and future
//! per request, and `Router::layer` boxing the whole stack once per route.
//! Measured with scripts/callgrind.sh (README, "Speed").

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, Response, Uri};
use tower::{Layer, Service};
use tracing::Instrument;
use tracing::instrument::Instrumented;

use crate::metrics::Metrics;
use crate::middleware::Panicked;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub const REPLICA_HEADER: HeaderName = HeaderName::from_static("x-hubpulse-replica");

/// The span every log line of a request is recorded in. The query string is
/// left out: it is where clients put things that should not be logged.
fn request_span(method: &Method, path: &str, request_id: &HeaderValue) -> tracing::Span {
    // Plain strings, not `%value`: recorded without the formatting machinery.
    tracing::info_span!(
        "request",
        request_id = request_id.to_str().unwrap_or("-"),
        method = method.as_str(),
        path = path,
    )
}

/// The span of a request that goes the full way, entered while anything
/// below runs: it sits below the cached-read lane (cached_reads.rs), whose
/// answers log nothing but a failure, and [`Observe`] logs that in a span
/// of its own. Opening a span for every read was 3,300 of a cached read's
/// 24,500 instructions (scripts/callgrind.sh).
#[derive(Clone, Copy, Default)]
pub struct RequestSpanLayer;

impl<S> Layer<S> for RequestSpanLayer {
    type Service = RequestSpan<S>;

    fn layer(&self, inner: S) -> RequestSpan<S> {
        RequestSpan { inner }
    }
}

#[derive(Clone)]
pub struct RequestSpan<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for RequestSpan<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Instrumented<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // Observe, above, gave every request an id.
        let unknown = HeaderValue::from_static("-");
        let request_id = req.headers().get(&REQUEST_ID).unwrap_or(&unknown);
        let span = request_span(req.method(), req.uri().path(), request_id);
        span.in_scope(|| self.inner.call(req)).instrument(span)
    }
}

/// Where the route template of a request lands once the router has matched
/// it ([`RouteLabelLayer`], inside the router): this layer sits outside the
/// router, so it sees responses the router never made (a timeout, a panic)
/// and still counts them under their route.
#[derive(Clone, Default)]
struct RouteSlot(Arc<OnceLock<Route>>);

enum Route {
    Matched(MatchedPath),
    /// Answered before the router, by a lane that knows its route.
    Known(&'static str),
}

impl Route {
    fn as_str(&self) -> &str {
        match self {
            Self::Matched(path) => path.as_str(),
            Self::Known(template) => template,
        }
    }
}

/// Labels a request answered before the router (cached_reads.rs) with the
/// route template the router would have matched.
pub fn label_route<B>(req: &Request<B>, template: &'static str) {
    if let Some(slot) = req.extensions().get::<RouteSlot>() {
        let _ = slot.0.set(Route::Known(template));
    }
}

#[derive(Clone)]
pub struct ObserveLayer {
    shared: Arc<Shared>,
}

struct Shared {
    metrics: Arc<Metrics>,
    replica: HeaderValue,
}

impl ObserveLayer {
    pub fn new(metrics: Arc<Metrics>, replica: HeaderValue) -> Self {
        Self {
            shared: Arc::new(Shared { metrics, replica }),
        }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            shared: self.shared.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S, B, ResBody> Service<Request<B>> for Observe<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ObserveFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        // nginx always sends one; a client talking to a replica directly may not.
        let request_id = match req.headers().get(&REQUEST_ID) {
            Some(id) => id.clone(),
            None => {
                let id = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
                    .expect("a UUID is a valid header value");
                req.headers_mut().insert(REQUEST_ID, id.clone());
                id
            }
        };
        let route = RouteSlot::default();
        req.extensions_mut().insert(route.clone());
        let method = req.method().clone();
        let uri = req.uri().clone();
        let started = Instant::now();
        ObserveFuture {
            inner: self.inner.call(req),
            request_id,
            route,
            method,
            uri,
            started,
            shared: self.shared.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    pub struct ObserveFuture<F> {
        #[pin]
        inner: F,
        request_id: HeaderValue,
        route: RouteSlot,
        method: Method,
        // For the log line of a failure; the path only goes into it.
        uri: Uri,
        started: Instant,
        shared: Arc<Shared>,
    }
}

impl<F, ResBody, E> Future for ObserveFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut result = ready!(this.inner.poll(cx));
        let Ok(response) = &mut result else {
            return Poll::Ready(result);
        };
        let headers = response.headers_mut();
        headers.insert(REPLICA_HEADER, this.shared.replica.clone());
        // The id the client sent or the one made for it, unless the handler
        // answered one itself.
        if !headers.contains_key(&REQUEST_ID) {
            headers.insert(REQUEST_ID, this.request_id.clone());
        }
        let elapsed = this.started.elapsed();
        let status = response.status();
        let route = this.route.0.get();
        let route = route.map_or("unmatched", Route::as_str);
        this.shared
            .metrics
            .http
            .record(route, &*this.method, status.as_u16(), elapsed);
        let failed = status.is_server_error();
        if failed || tracing::enabled!(tracing::Level::DEBUG) {
            let span = request_span(this.method, this.uri.path(), this.request_id);
            let _entered = span.enter();
            let status = status.as_u16();
            let latency_ms = elapsed.as_secs_f64() * 1000.0;
            if let Some(Panicked(detail)) = response.extensions().get() {
                tracing::error!(status, latency_ms, panic = %detail, "handler panicked");
            } else if failed {
                tracing::error!(status, latency_ms, "response failed");
            } else {
                tracing::debug!(status, latency_ms, "finished processing request");
            }
        }
        Poll::Ready(result)
    }
}

/// Inside the router, on every route: copies the route template the router
/// matched to where [`Observe`] reads it. Adds no future of its own.
#[derive(Clone, Copy, Default)]
pub struct RouteLabelLayer;

impl<S> Layer<S> for RouteLabelLayer {
    type Service = RouteLabel<S>;

    fn layer(&self, inner: S) -> RouteLabel<S> {
        RouteLabel { inner }
    }
}

#[derive(Clone)]
pub struct RouteLabel<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for RouteLabel<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let extensions = req.extensions();
        if let (Some(slot), Some(path)) = (
            extensions.get::<RouteSlot>(),
            extensions.get::<MatchedPath>(),
        ) {
            let _ = slot.0.set(Route::Matched(path.clone()));
        }
        self.inner.call(req)
    }
}
