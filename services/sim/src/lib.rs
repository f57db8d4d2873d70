#![doc = include_str!("../README.md")]

pub mod admin_client;
mod areas;
mod controls;
mod data;
mod fault;
mod links;
mod oauth;
mod reply;
mod settings;
mod state;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tower::ServiceExt;

pub use areas::pipedrive::{PipedriveCounts, PipedriveFaults};
pub use controls::{LinkCycle, ListControl};
pub use fault::FaultKind;
use fault::Outcome;
pub use oauth::{Decision, DeviceAction, DeviceReport, POLL_ERRORS, TokenReport};
pub use settings::{
    AccountSettings, BinSettings, DEFAULTS, Faults, GraphSettings, Limits, NamedAccount,
    OAuthSettings, PipedriveStandInSettings, SimSettings, StatsSettings, TopicSpec,
};
use state::SimState;
pub use state::{Resource, Stats, StatsChange};

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
    let router = areas::router(state.clone());
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

/// Routes one request; the admin routes (`/_sim`) are neither faulted nor
/// counted. A dropped-connection fault fails the service, so hyper closes
/// the connection without a reply.
async fn handle(
    state: Arc<SimState>,
    router: axum::Router,
    req: Request<Incoming>,
) -> Result<Response<Body>, Dropped> {
    let req = req.map(Body::new);
    let admin = req.uri().path().starts_with("/_sim");
    // The Pipedrive stand-in keeps its own counters (`/_sim/pipedrive`).
    let pipedrive = req.uri().path().starts_with("/api/v2/");
    let response = match router.oneshot(req).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    if admin {
        return Ok(response);
    }
    let outcome = response
        .extensions()
        .get::<Outcome>()
        .copied()
        .unwrap_or_default();
    if outcome.injected == Some(FaultKind::Drop) {
        if !pipedrive {
            state.record(0, outcome.injected, outcome.slow);
        }
        return Err(Dropped);
    }
    if pipedrive {
        return Ok(response);
    }
    state.record(response.status().as_u16(), outcome.injected, outcome.slow);
    Ok(response)
}
