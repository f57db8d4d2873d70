//! The production job kinds, one per file, all registered by `register_all`.

mod crawl_topic;
mod deliver_outbox;
mod device_flow;
mod discover;
mod repo_stats;
mod scan_gists;
mod sync_developer;
mod sync_org;
mod sync_repository;
mod user_repos;

pub use crawl_topic::{CrawlTopic, CrawlTopicOutput};
pub use deliver_outbox::{DeliverOutbox, DeliverOutboxOutput, deal_marker, file_marker};
pub use device_flow::{PollDeviceFlow, PollDeviceFlowOutput, message_for as device_flow_message};
pub use discover::{Discover, DiscoverOutput};
// The statistics' reduction, for the organisation benchmark of `make bench`.
pub use repo_stats::{ContributorStats, Reduced, Week as StatsWeek, reduce as reduce_stats};
pub use repo_stats::{Detail as RepoStatsDetail, RepoStats, RepoStatsOutput};
pub use scan_gists::{ScanGists, ScanGistsOutput};
pub use sync_developer::{SyncDeveloper, SyncDeveloperOutput};
pub use sync_org::{SyncOrg, SyncOrgOutput};
pub use sync_repository::{SyncRepository, SyncRepositoryOutput};
pub use user_repos::{SyncUserRepos, SyncUserReposOutput};

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
    ScanGists(ScanGistsOutput),
    DeliverOutbox(DeliverOutboxOutput),
    PollDeviceFlow(PollDeviceFlowOutput),
    SyncUserRepos(SyncUserReposOutput),
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
        .register::<ScanGists>()
        .register::<DeliverOutbox>()
        .register::<PollDeviceFlow>()
        .register::<SyncUserRepos>()
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
