use std::sync::Arc;

use hubpulse_cache::Cache;
use hubpulse_github::GithubClient;
use hubpulse_store::Store;

use crate::{DevGraphSettings, OrgSettings};

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
}
