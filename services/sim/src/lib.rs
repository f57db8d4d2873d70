#![doc = include_str!("../README.md")]

pub mod admin_client;
mod data;
mod query;
mod routes;
mod settings;
mod state;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tower::ServiceExt;

pub use settings::{BinSettings, DEFAULTS, Faults, Limits, SimSettings, TopicSpec};
use state::{Injected, Resource, SimState};

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("reading the listener's address: {0}")]
    Io(#[from] std::io::Error),
}

/// What a dropped-connection fault answers: hyper closes the connection
/// without a reply when the service fails.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped on purpose (fault injection)")]
struct Dropped;

/// Serves the simulator on `listener` until `shutdown` resolves.
pub async fn run(
    listener: TcpListener,
    settings: SimSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), SimError> {
    let addr: SocketAddr = listener.local_addr()?;
    let public_url = settings
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"))
        .trim_end_matches('/')
        .to_owned();
    let state = Arc::new(SimState::new(settings, public_url));
    {
        let data = state.data.read().unwrap_or_else(|p| p.into_inner());
        let mut sizes: Vec<_> = data
            .topics
            .iter()
            .map(|(k, v)| format!("{k}={}", v.len()))
            .collect();
        sizes.sort();
        tracing::info!(%addr, topics = %sizes.join(" "), repositories = data.repos.len(), "GitHub simulator serving");
    }
    let router = routes::router(state.clone());
    let builder = auto::Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let (state, router, builder) = (state.clone(), router.clone(), builder.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let (state, router) = (state.clone(), router.clone());
                async move { handle(state, router, req).await }
            });
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
    Ok(())
}

async fn handle(
    state: Arc<SimState>,
    router: axum::Router,
    req: Request<Incoming>,
) -> Result<Response<Body>, Dropped> {
    let req = req.map(Body::new);
    if req.uri().path().starts_with("/_sim") {
        return Ok(oneshot(router, req).await);
    }
    let resource = if req.uri().path().contains("/search/") {
        Resource::Search
    } else {
        Resource::Core
    };
    let caller = routes::caller(req.headers());
    let (injected, slow) = state.roll();
    if slow {
        tokio::time::sleep(Duration::from_millis(state.faults().slow_ms)).await;
    }
    let retry_after = state.faults().retry_after_secs.max(1);
    let response = match injected {
        Some(Injected::Drop) => {
            state.record(0, injected, slow);
            return Err(Dropped);
        }
        Some(Injected::ServerError(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            routes::github_error(status, "Server Error")
        }
        Some(Injected::RateLimit403) => {
            let mut window = state.window(&caller, resource);
            window.used = window.limit;
            let mut response = routes::github_error(
                StatusCode::FORBIDDEN,
                &format!("API rate limit exceeded for {caller}."),
            );
            routes::rate_headers(response.headers_mut(), window, resource);
            response
        }
        Some(Injected::RateLimit429) => {
            let mut response = routes::github_error(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests; retry later.",
            );
            routes::rate_headers(
                response.headers_mut(),
                state.window(&caller, resource),
                resource,
            );
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from(retry_after));
            response
        }
        Some(Injected::Secondary) => {
            let mut response = routes::github_error(
                StatusCode::FORBIDDEN,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            );
            routes::rate_headers(
                response.headers_mut(),
                state.window(&caller, resource),
                resource,
            );
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from(retry_after));
            response
        }
        Some(Injected::Malformed | Injected::Truncated) | None => {
            let response = oneshot(router, req).await;
            match injected {
                Some(kind) if response.status() == StatusCode::OK => mangle(response, kind).await,
                _ => response,
            }
        }
    };
    state.record(response.status().as_u16(), injected, slow);
    Ok(response)
}

async fn oneshot(router: axum::Router, req: Request<Body>) -> Response<Body> {
    match router.oneshot(req).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// A 200 whose body is not JSON, or JSON cut short: what a proxy in trouble sends.
async fn mangle(response: Response<Body>, kind: Injected) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let bytes = if kind == Injected::Truncated {
        bytes.slice(..bytes.len() / 2)
    } else {
        bytes::Bytes::from_static(b"{\"total_count\": 3, \"items\": [<html>upstream hiccup</html>")
    };
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes))
}
