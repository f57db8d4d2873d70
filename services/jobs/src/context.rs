use std::sync::Arc;

use hubpulse_cache::Cache;
use hubpulse_github::GithubClient;
use hubpulse_pipedrive::PipedriveClient;
use hubpulse_store::Store;

use crate::{DevGraphSettings, GistMetrics, GistSettings, GraphMetrics, OrgSettings};

/// What production job kinds run with: one per replica, shared by its workers.
#[derive(Clone)]
pub struct JobContext {
    pub store: Store,
    /// Where finished crawls publish their views; Redis being down is logged,
    /// not fatal (the API reads from Postgres then).
    pub cache: Cache,
    /// The replica's client, on the rate budget shared by every replica.
    pub github: Arc<GithubClient>,
    /// Tracked owners' syncs and statistics (`[orgs]`).
    pub orgs: OrgSettings,
    /// Developer discovery (`[graph]`).
    pub graph: DevGraphSettings,
    /// Signing in with GitHub (`[auth]`); `None` when it is off.
    pub sign_in: Option<Arc<crate::SignIn>>,
    /// Gist scans and their delivery to Pipedrive (`[gists]`, `[pipedrive]`).
    pub gists: GistContext,
    /// Developers synced, by outcome; `None` where nothing exports them.
    pub graph_metrics: Option<GraphMetrics>,
}

/// What `scan_gists` and `deliver_outbox` need beyond the store and GitHub.
#[derive(Clone, Default)]
pub struct GistContext {
    pub settings: GistSettings,
    /// `None` when no Pipedrive token is configured: the outbox waits.
    pub pipedrive: Option<Arc<PipedriveClient>>,
    /// The `type` of posted activities (`pipedrive.activity_type`).
    pub activity_type: String,
    pub metrics: Option<GistMetrics>,
}
