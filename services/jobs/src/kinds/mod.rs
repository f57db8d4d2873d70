//! The production job kinds, one per file, all registered by `register_all`.

mod crawl_topic;
mod discover;
mod repo_stats;
mod sync_developer;
mod sync_org;
mod sync_repository;

pub use crawl_topic::{CrawlTopic, CrawlTopicOutput};
pub use discover::{Discover, DiscoverOutput};
pub use repo_stats::{Detail as RepoStatsDetail, RepoStats, RepoStatsOutput};
pub use sync_developer::{SyncDeveloper, SyncDeveloperOutput};
pub use sync_org::{SyncOrg, SyncOrgOutput};
pub use sync_repository::{SyncRepository, SyncRepositoryOutput};

use crate::{JobContext, Registry};

/// Every production kind's result, for the OpenAPI document of
/// `/v1/tasks/{id}` (a job's `kind` says which one it is). A new kind adds
/// its `Output` here as well as to [`register_all`].
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum JobOutput {
    CrawlTopic(CrawlTopicOutput),
    SyncOrg(SyncOrgOutput),
    RepoStats(RepoStatsOutput),
    SyncDeveloper(SyncDeveloperOutput),
    SyncRepository(SyncRepositoryOutput),
    Discover(DiscoverOutput),
}

/// Registers every production kind.
pub fn register_all(registry: Registry<JobContext>) -> Registry<JobContext> {
    registry
        .register::<CrawlTopic>()
        .register::<SyncOrg>()
        .register::<RepoStats>()
        .register::<SyncDeveloper>()
        .register::<SyncRepository>()
        .register::<Discover>()
}

/// The production kinds' names (what `/metrics` reports a queue depth for,
/// zero included).
pub fn names() -> Vec<&'static str> {
    let mut names: Vec<_> = register_all(Registry::new()).kinds().collect();
    names.sort_unstable();
    names
}
