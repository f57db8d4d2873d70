//! The lane of a cached read. A `GET` of a whole view (`/api/{topic}`,
//! `/api/popularity/{topic}`, `/api/activity/{topic}`, no query, no body)
//! is most of what the API answers, and most of those find the view in this
//! process (views.rs, the process tier). Those are answered here, inside
//! `Observe` (their request id, metrics under the route's template, and the
//! log line of a failure, with the request id) and the errors layer (a
//! panic is still a JSON 500), without the request's span, the deadline and
//! body-limit layers, the router and the handler's extractors: those were
//! over a third of a cached read's instructions and did nothing for it. A lookup in the process awaits nothing outside it,
//! and the lane takes only requests without a body.
//!
//! Everything else goes the full way, a miss included, and so does any
//! request this lane is unsure of (a percent-encoded topic, a HEAD). Both
//! ways answer from the same function (`routes::views::whole_view`), so
//! the bytes and headers are the same whichever way a read went.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::extract::Request;
use axum::http::{Method, Response};
use bytes::Bytes;
use http_body_util::{Either, Full};
use hubpulse_domain::{Topic, ViewKind};
use hyper::body::Body;
use tower::{Layer, Service, ServiceExt};

use crate::observe::label_route;
use crate::routes::views::whole_view;
use crate::state::AppState;

/// A read this lane may answer, as far as the request alone tells.
#[derive(Debug, PartialEq, Eq)]
struct ViewRead {
    topic: Topic,
    kind: ViewKind,
}

impl ViewRead {
    fn of<B: Body>(req: &Request<B>) -> Option<Self> {
        if req.method() != Method::GET || req.uri().query().is_some() || !req.body().is_end_stream()
        {
            return None;
        }
        let path = req.uri().path();
        // `/api/popularity/x` is the popularity view of x, `/api/popularity`
        // the by-name view of a topic so named: the longest prefix wins.
        let kind = ViewKind::ALL
            .into_iter()
            .filter(|kind| path.starts_with(kind.route_prefix()))
            .max_by_key(|kind| kind.route_prefix().len())?;
        // Anything but a plain topic name (a slash, a percent escape) is
        // the router's to resolve.
        let topic = Topic::parse(&path[kind.route_prefix().len()..]).ok()?;
        Some(Self { topic, kind })
    }
}

#[derive(Clone)]
pub struct CachedReadsLayer {
    state: AppState,
}

impl CachedReadsLayer {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

impl<S> Layer<S> for CachedReadsLayer {
    type Service = CachedReads<S>;

    fn layer(&self, inner: S) -> CachedReads<S> {
        CachedReads {
            inner,
            state: self.state.clone(),
        }
    }
}

#[derive(Clone)]
pub struct CachedReads<S> {
    inner: S,
    state: AppState,
}

/// What [`CachedReads`] answers: a view's bytes, or what the inner service did.
pub type CachedReadsBody<B> = Either<Full<Bytes>, B>;

type Lookup<B> = Pin<Box<dyn Future<Output = Response<CachedReadsBody<B>>> + Send>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for CachedReads<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    ReqBody: Body + Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<CachedReadsBody<ResBody>>;
    type Error = Infallible;
    type Future = CachedReadsFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let Some(read) = ViewRead::of(&req) else {
            return CachedReadsFuture::Inner {
                future: self.inner.call(req),
            };
        };
        // The process cache is asked with an await (moka's), so this is a
        // future of its own; a miss is handed to a clone of the inner
        // service, made ready first as tower asks.
        let state = self.state.clone();
        let inner = self.inner.clone();
        let lookup: Lookup<ResBody> = Box::pin(async move {
            match state.views().in_memory(&read.topic, read.kind).await {
                Some(view) => {
                    label_route(&req, read.kind.route_template());
                    whole_view::<Full<Bytes>>(&view, req.headers()).map(Either::Left)
                }
                None => match inner.oneshot(req).await {
                    Ok(response) => response.map(Either::Right),
                    Err(never) => match never {},
                },
            }
        });
        CachedReadsFuture::Lookup { lookup }
    }
}

pin_project_lite::pin_project! {
    #[project = CachedReadsProj]
    pub enum CachedReadsFuture<F, B> {
        Inner { #[pin] future: F },
        Lookup { lookup: Lookup<B> },
    }
}

impl<F, B> Future for CachedReadsFuture<F, B>
where
    F: Future<Output = Result<Response<B>, Infallible>>,
{
    type Output = Result<Response<CachedReadsBody<B>>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            CachedReadsProj::Inner { future } => {
                let response = ready!(future.poll(cx))?;
                Poll::Ready(Ok(response.map(Either::Right)))
            }
            CachedReadsProj::Lookup { lookup } => lookup.as_mut().poll(cx).map(Ok),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body as AxumBody;

    fn read(method: &str, uri: &str, body: &'static str) -> Option<(String, ViewKind)> {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .body(AxumBody::from(body))
            .unwrap();
        ViewRead::of(&req).map(|read| (read.topic.as_str().to_owned(), read.kind))
    }

    #[test]
    fn takes_only_plain_gets_of_whole_views() {
        let get = |uri| read("GET", uri, "");
        assert_eq!(get("/api/rust"), Some(("rust".into(), ViewKind::ByName)));
        assert_eq!(
            get("/api/popularity/k8s"),
            Some(("k8s".into(), ViewKind::Popularity))
        );
        assert_eq!(
            get("/api/activity/go-lang"),
            Some(("go-lang".into(), ViewKind::Activity))
        );
        // Topics named like a view's segment are by-name views, as routed.
        assert_eq!(
            get("/api/popularity"),
            Some(("popularity".into(), ViewKind::ByName))
        );
        for uri in [
            "/api/popularity/rust?limit=5",
            "/api/rust?",
            "/api/popularity/rust/",
            "/api/popularity/",
            "/api/",
            "/api//rust",
            "/api/Rust",
            "/api/r%75st",
            "/api/other/rust",
            "/v1/topics",
            "/apix/rust",
        ] {
            assert_eq!(get(uri), None, "{uri}");
        }
        assert_eq!(read("HEAD", "/api/rust", ""), None);
        assert_eq!(read("POST", "/api/rust", ""), None);
        assert_eq!(read("GET", "/api/rust", "a body"), None);
    }

    #[test]
    fn labels_a_read_with_the_route_the_router_registers() {
        // The router's templates are the handlers' `#[utoipa::path]`s.
        let (_, openapi) = crate::routes::router().split_for_parts();
        for kind in ViewKind::ALL {
            assert!(
                openapi.paths.paths.contains_key(kind.route_template()),
                "{} is not a route",
                kind.route_template()
            );
        }
    }
}
