use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use std::convert::Infallible;

use axum::BoxError;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, Response};
use bytes::Bytes;
use hubpulse_cache::Cache;
use hubpulse_github::GithubClient;
use hubpulse_jobs::{GistContext, JobContext, Registry, WorkerPool, kinds};
use hubpulse_pipedrive::PipedriveClient;
use hubpulse_store::{DatabaseSettings, Store, orgs, topics};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::{Service, ServiceBuilder};
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::limit::RequestBodyLimitLayer;
use utoipa_axum::router::OpenApiRouter;

use crate::cached_reads::CachedReadsLayer;
use crate::deadline::DeadlineLayer;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::middleware::ErrorsLayer;
use crate::observe::{ObserveLayer, RequestSpanLayer, RouteLabelLayer};
use crate::precompressed::PrecompressedLayer;
use crate::routes;
use crate::server::{ServeOptions, UnixSocket, serve};
use crate::settings::Settings;
use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("binding {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Store(#[from] hubpulse_store::StoreError),
    #[error("{0}")]
    Cache(#[from] hubpulse_cache::CacheError),
    #[error("server.replica is not a valid header value")]
    Replica,
    #[error("serializing the OpenAPI document: {0}")]
    OpenApi(String),
    #[error("{0}")]
    Github(#[from] hubpulse_github::GithubError),
}

/// A built, bound, not yet running API: tests bind port 0 and read `local_addr`.
pub struct Application {
    listener: TcpListener,
    unix: Option<UnixSocket>,
    state: AppState,
    stack: Stack,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        let addr = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind(&addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        Self::with_listener(settings, listener).await
    }

    pub async fn with_listener(
        settings: Settings,
        listener: TcpListener,
    ) -> Result<Self, StartError> {
        let unix = match &settings.server.unix_socket {
            Some(path) => Some(UnixSocket::bind(path).map_err(|source| StartError::Bind {
                addr: path.display().to_string(),
                source,
            })?),
            None => None,
        };
        let store = Store::connect(&settings.database)?;
        let cache = Cache::connect(&settings.redis)?;
        let metrics = Arc::new(Metrics::new(&settings.server.replica));
        // One budget in Redis for every replica: together they never overspend a token.
        let budget =
            hubpulse_cache::RedisBudget::new(cache.clone(), settings.github.budget_policy())?;
        let github = Arc::new(GithubClient::new(
            &settings.github,
            Arc::new(budget),
            Some(metrics.registry()),
        )?);
        let state = AppState::new(settings, store, cache, github, metrics);
        let stack = Stack::new(state.clone(), routes::router())?;
        Ok(Self {
            listener,
            unix,
            state,
            stack,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has a local address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Applies migrations (retrying in the background while Postgres is
    /// down, so the API still starts and says so on /ready), starts the job
    /// workers, and serves until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        let state = self.state.clone();
        let server = &state.settings().server;
        let options = ServeOptions {
            max_connections: server.max_connections,
            header_read_timeout: Duration::from_millis(server.header_read_timeout_ms),
            shutdown_grace: Duration::from_secs(server.shutdown_grace_secs),
            zerocopy: state.zerocopy().cloned(),
        };
        // Workers start once the schema is there; until then /ready says why not.
        let background = tokio::spawn(run_workers(state.clone(), shutdown.clone()));
        let unix_socket = self.unix.as_ref().map(|u| u.path().display().to_string());
        tracing::info!(addr = %self.local_addr(), unix_socket, replica = %state.replica(), "serving");
        serve(
            self.listener,
            self.unix,
            self.stack.service(),
            options,
            shutdown,
        )
        .await;
        // The workers drain their jobs while the server drains its connections.
        let _ = background.await;
        state.cache().quit().await;
        tracing::info!("stopped");
    }
}

async fn run_workers(state: AppState, shutdown: CancellationToken) {
    if !migrate_until_done(state.store().clone(), shutdown.clone()).await {
        return;
    }
    for topic in &state.settings().topics.tracked {
        // Idempotent: every replica does it, the first one wins.
        let tracked = async { topics::track(&state.store().conn().await?, topic).await };
        if let Err(err) = tracked.await {
            tracing::warn!(%topic, error = %err, "could not track a configured topic");
        }
    }
    for owner in &state.settings().orgs.tracked {
        let tracked = async { orgs::track(&state.store().conn().await?, owner.as_str()).await };
        if let Err(err) = tracked.await {
            tracing::warn!(%owner, error = %err, "could not track a configured owner");
        }
    }
    // The workers' own connections: public requests share the other pool,
    // and however many wait on it, a job and its lease renewals do not.
    let database = &state.settings().database;
    // Jobs read what they are about to write: always on the primary.
    let store = match Store::connect(&DatabaseSettings {
        pool_size: database.worker_pool_size,
        read_url: None,
        ..database.clone()
    }) {
        Ok(store) => store,
        Err(err) => {
            tracing::error!(error = %err, "the workers' database pool could not be made; no jobs run here");
            return;
        }
    };
    WorkerPool::new(
        store.clone(),
        kinds::register_all(Registry::new()),
        Arc::new(JobContext {
            store,
            cache: state.cache().clone(),
            github: state.github().clone(),
            orgs: state.settings().orgs.clone(),
            gists: gist_context(&state),
            sign_in: state.sign_in().cloned(),
            graph: state.settings().graph.clone(),
            graph_metrics: Some(state.metrics().graph.clone()),
        }),
        state.settings().workers.clone(),
        state.replica(),
    )
    .with_observer(state.metrics().clone())
    .start(shutdown)
    .join()
    .await;
}

/// The gist jobs' share of the context: no Pipedrive client without a token
/// (the outbox then waits), nor when the client cannot be built (logged).
fn gist_context(state: &AppState) -> GistContext {
    let settings = &state.settings().pipedrive;
    let pipedrive = if settings.enabled() {
        match PipedriveClient::new(settings) {
            Ok(client) => Some(Arc::new(client)),
            Err(err) => {
                tracing::error!(error = %err, "the Pipedrive client could not be made; gist files wait in the outbox");
                None
            }
        }
    } else {
        None
    };
    GistContext {
        settings: state.settings().gists.clone(),
        pipedrive,
        activity_type: settings.activity_type.clone(),
        metrics: Some(state.metrics().gists.clone()),
    }
}

/// True once migrations are applied; false when shut down first.
async fn migrate_until_done(store: Store, shutdown: CancellationToken) -> bool {
    use hubpulse_runtime::backoff::{Backoff, Retryable};
    let applied = (|| store.migrate())
        .retry(Backoff::new(Duration::from_millis(200), Duration::from_secs(5)).builder())
        .notify(|err, wait| {
            tracing::warn!(error = %err, retry_in_ms = wait.as_millis() as u64, "migrations not applied yet")
        });
    tokio::select! {
        result = applied => {
            if result.is_ok() {
                tracing::info!("migrations applied");
            }
            result.is_ok()
        }
        () = shutdown.cancelled() => false,
    }
}

/// The router and what the layers around it need, checked at start-up.
struct Stack {
    state: AppState,
    router: Router,
    replica: HeaderValue,
}

impl Stack {
    fn new(state: AppState, routes: OpenApiRouter<AppState>) -> Result<Self, StartError> {
        let replica = HeaderValue::from_str(&state.settings().server.replica)
            .map_err(|_| StartError::Replica)?;
        let (routes, openapi) = routes.split_for_parts();
        let openapi =
            serde_json::to_vec(&openapi).map_err(|e| StartError::OpenApi(e.to_string()))?;
        state.set_openapi(openapi.into());
        // The one layer inside the router: it runs where the matched route is
        // known. The rest wrap the router from outside, unboxed, instead of
        // being boxed around every route by `Router::layer`.
        let router = routes
            .fallback(not_found)
            .with_state(state.clone())
            .layer(RouteLabelLayer);
        Ok(Self {
            state,
            router,
            replica,
        })
    }

    /// The service the connections run. Listed outermost first: the request
    /// id exists before anything below runs, the span before anything below
    /// the cached-read lane, and every error below the errors layer gets a
    /// JSON body.
    fn service(
        &self,
    ) -> impl Service<
        Request<Incoming>,
        Response = Response<
            impl hyper::body::Body<Data = Bytes, Error: Into<BoxError>> + Send + use<>,
        >,
        Error = Infallible,
        Future: Send + 'static,
    >
    + Clone
    + Send
    + 'static
    + use<> {
        let server = &self.state.settings().server;
        let timeout = Duration::from_millis(server.request_timeout_ms);
        let body_limit = server.body_limit_bytes;
        ServiceBuilder::new()
            .layer(ObserveLayer::new(
                self.state.metrics().clone(),
                self.replica.clone(),
            ))
            // Only what is not precompressed passes through compression:
            // `?limit=` prefixes (up to the whole view), OpenAPI, errors. Level 1
            // is several times cheaper than the default for a prefix (gzip 6 /
            // brotli 4: 5 ms for 400 items) and still shrinks JSON about fourfold.
            .layer(PrecompressedLayer::new(
                CompressionLayer::new().quality(CompressionLevel::Precise(1)),
            ))
            .layer(ErrorsLayer)
            // Reads of views this process holds are answered here (a panic
            // still a JSON 500 above); the layers below are for the rest.
            .layer(CachedReadsLayer::new(self.state.clone()))
            .layer(RequestSpanLayer)
            .layer(DeadlineLayer::new(timeout))
            .layer(RequestBodyLimitLayer::new(body_limit))
            .layer(axum::extract::DefaultBodyLimit::max(body_limit))
            .service(self.router.clone())
    }
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    // The path is echoed only when short and printable, so the body stays readable.
    let path = uri.path();
    if path.len() <= 200 && path.chars().all(|c| !c.is_control()) {
        ApiError::NotFound(format!("no route for {path}"))
    } else {
        ApiError::NotFound("no such route".into())
    }
}

#[cfg(test)]
#[path = "app_tests.rs"]
mod tests;
