use std::sync::Arc;

use hubpulse_cache::Cache;
use hubpulse_github::GithubClient;
use hubpulse_store::Store;

use crate::metrics::Metrics;
use crate::settings::Settings;
use crate::views::ViewReader;

/// What every handler can reach. Cheap to clone: everything is behind an `Arc`
/// or is a pool handle.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    store: Store,
    cache: Cache,
    github: Arc<GithubClient>,
    metrics: Arc<Metrics>,
    views: ViewReader,
    /// Cached view bodies registered for sendfile; `None`: `server.sendfile` off.
    zerocopy: Option<Arc<crate::zerocopy::Registry>>,
    /// Signing in with GitHub; `None` when `[auth]` leaves it off.
    sign_in: Option<Arc<hubpulse_jobs::SignIn>>,
    /// The OpenAPI document, serialized once the routes are known.
    openapi: std::sync::OnceLock<bytes::Bytes>,
}

impl AppState {
    pub fn new(
        settings: Settings,
        store: Store,
        cache: Cache,
        github: Arc<GithubClient>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let zerocopy = settings
            .server
            .sendfile
            .then(|| crate::zerocopy::Registry::new(metrics.http_sendfile_bytes.clone()));
        let views = ViewReader::new(
            cache.clone(),
            store.clone(),
            std::time::Duration::from_millis(settings.views.process_ttl_ms),
            settings.views.process_max_bytes,
            metrics.view_reads.clone(),
            crate::prefixes::Prefixes::new(settings.views.prefix_max_bytes, &metrics.view_prefixes),
            zerocopy.clone(),
        );
        // Settings were validated at load; a key that does not parse here
        // leaves sign-in off rather than taking the API down.
        let sign_in = settings.auth.sign_in().ok().flatten();
        Self {
            inner: Arc::new(Inner {
                sign_in,
                settings,
                store,
                cache,
                github,
                metrics,
                views,
                zerocopy,
                openapi: std::sync::OnceLock::new(),
            }),
        }
    }

    pub fn github(&self) -> &Arc<GithubClient> {
        &self.inner.github
    }

    pub fn views(&self) -> &ViewReader {
        &self.inner.views
    }

    /// Where the server looks up the slices it writes; `None`: plain writes.
    pub fn zerocopy(&self) -> Option<&Arc<crate::zerocopy::Registry>> {
        self.inner.zerocopy.as_ref()
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    pub fn replica(&self) -> &str {
        &self.inner.settings.server.replica
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn cache(&self) -> &Cache {
        &self.inner.cache
    }

    pub fn sign_in(&self) -> Option<&Arc<hubpulse_jobs::SignIn>> {
        self.inner.sign_in.as_ref()
    }

    /// Kept for /openapi.json; the first document set stays.
    pub fn set_openapi(&self, document: bytes::Bytes) {
        let _ = self.inner.openapi.set(document);
    }

    /// The OpenAPI document (empty before the routes are built).
    pub fn openapi(&self) -> bytes::Bytes {
        self.inner.openapi.get().cloned().unwrap_or_default()
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.inner.metrics
    }
}
