//! A built view as the read model stores it: what the crawl saves and the
//! read-through tests compare with.

use hubpulse_cache::View;
use hubpulse_store::read_model::StoredView;

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
