//! What a view is, for those who build views (the crawl) and those who read
//! them (the API's cold path): how many items, in which order.

use hubpulse_cache::{View, ViewKind};
use hubpulse_store::read_model::StoredView;
use hubpulse_store::topics::RepoOrder;

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

/// A built view as the read model stores it.
pub fn stored_view(view: &View) -> StoredView {
    StoredView {
        etag: view.etag.to_vec(),
        plain: view.plain.to_vec(),
        gzip: view.gzip.to_vec(),
        brotli: view.brotli.to_vec(),
        ends: view.ends_to_bytes().to_vec(),
    }
}
