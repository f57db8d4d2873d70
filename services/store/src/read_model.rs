//! The read model: each topic's views as its last crawl built them, so a
//! replica whose Redis lost a view answers with one primary-key read instead
//! of sorting the topic's members again.

use hubpulse_domain::Topic;

use crate::{RepoOrder, Store, StoreError};

/// A view's stored parts: its JSON array, both encodings, its ETag (quotes
/// included) and the item offsets (little-endian u32s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredView {
    pub etag: Vec<u8>,
    pub plain: Vec<u8>,
    pub gzip: Vec<u8>,
    pub brotli: Vec<u8>,
    pub ends: Vec<u8>,
}

impl RepoOrder {
    /// The view an order is served as, as `topic_views.kind` names it.
    pub fn view_name(self) -> &'static str {
        match self {
            Self::FullName => "name",
            Self::Stars => "popularity",
            Self::Pushed => "activity",
        }
    }
}

impl Store {
    /// Replaces a topic's stored view; nothing when the topic is unknown.
    pub async fn save_view(
        &self,
        topic: &Topic,
        order: RepoOrder,
        view: &StoredView,
    ) -> Result<(), StoreError> {
        let etag = std::str::from_utf8(&view.etag)
            .map_err(|_| StoreError::Database("a view's ETag is not text".into()))?;
        let conn = self.conn().await?;
        conn.execute(
            "INSERT INTO topic_views (topic_id, kind, etag, plain, gzip, brotli, ends) \
             SELECT id, $2, $3, $4, $5, $6, $7 FROM topics WHERE name = $1 \
             ON CONFLICT (topic_id, kind) DO UPDATE SET etag = EXCLUDED.etag, \
               plain = EXCLUDED.plain, gzip = EXCLUDED.gzip, brotli = EXCLUDED.brotli, \
               ends = EXCLUDED.ends, built_at = now()",
            &[
                &topic.as_str(),
                &order.view_name(),
                &etag,
                &view.plain.as_slice(),
                &view.gzip.as_slice(),
                &view.brotli.as_slice(),
                &view.ends.as_slice(),
            ],
        )
        .await?;
        Ok(())
    }

    /// The stored view of a tracked topic; `None` when the topic is not
    /// tracked or has no stored view yet.
    pub async fn tracked_stored_view(
        &self,
        topic: &Topic,
        order: RepoOrder,
    ) -> Result<Option<StoredView>, StoreError> {
        let conn = self.conn().await?;
        let row = conn
            .query_opt(
                "SELECT v.etag, v.plain, v.gzip, v.brotli, v.ends \
                 FROM topics t JOIN topic_views v ON v.topic_id = t.id \
                 WHERE t.name = $1 AND t.tracked AND v.kind = $2",
                &[&topic.as_str(), &order.view_name()],
            )
            .await?;
        Ok(row.map(|row| StoredView {
            etag: row.get::<_, String>(0).into_bytes(),
            plain: row.get(1),
            gzip: row.get(2),
            brotli: row.get(3),
            ends: row.get(4),
        }))
    }
}
