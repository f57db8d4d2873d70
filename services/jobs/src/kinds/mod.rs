//! The production job kinds, one per file, all registered by `register_all`.

mod crawl_topic;
mod repo_stats;
mod sync_org;

pub use crawl_topic::CrawlTopic;
pub use repo_stats::RepoStats;
pub use sync_org::SyncOrg;

use crate::{JobContext, Registry};

/// Registers every production kind.
pub fn register_all(registry: Registry<JobContext>) -> Registry<JobContext> {
    registry
        .register::<CrawlTopic>()
        .register::<SyncOrg>()
        .register::<RepoStats>()
}
