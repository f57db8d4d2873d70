//! The production job kinds, one per file, all registered by `register_all`.

mod crawl_topic;

pub use crawl_topic::CrawlTopic;

use crate::{JobContext, Registry};

/// Registers every production kind.
pub fn register_all(registry: Registry<JobContext>) -> Registry<JobContext> {
    registry.register::<CrawlTopic>()
}

/// The production kinds' names (what `/metrics` reports a queue depth for,
/// zero included).
pub fn names() -> Vec<&'static str> {
    let mut names: Vec<_> = register_all(Registry::new()).kinds().collect();
    names.sort_unstable();
    names
}
