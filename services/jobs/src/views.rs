//! What a view is, for those who build views (the crawl) and those who read
//! them (the API's cold path): how many items, in which order.

use hubpulse_cache::ViewKind;
use hubpulse_store::RepoOrder;

/// Items per view: what the three routes serve at most.
pub const VIEW_SIZE: i64 = 500;

/// The order of a view's repositories.
pub fn order_of(kind: ViewKind) -> RepoOrder {
    match kind {
        ViewKind::ByName => RepoOrder::FullName,
        ViewKind::Popularity => RepoOrder::Stars,
        ViewKind::Activity => RepoOrder::Pushed,
    }
}
