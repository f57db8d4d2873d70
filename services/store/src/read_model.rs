//! The read model: each topic's views as its last crawl built them, so a
//! replica whose Redis lost a view answers with one primary-key read instead
//! of sorting the topic's members again.

use hubpulse_domain::{Topic, ViewKind};

use tokio_postgres::GenericClient;

use crate::{Db, StoreError};

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

/// What the read model holds for a topic's view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicView {
    /// Unknown, or no longer tracked (its rows stay): no view to serve.
    NotTracked,
    /// Tracked, with no stored view yet (not crawled since the read model
    /// came): build it from the normalized rows.
    NotStored,
    Stored(StoredView),
}

/// Replaces a topic's stored view; nothing when the topic is unknown.
pub async fn save_view(
    db: &impl Db,
    topic: &Topic,
    kind: ViewKind,
    view: &StoredView,
) -> Result<(), StoreError> {
    let etag = std::str::from_utf8(&view.etag)
        .map_err(|_| StoreError::Database("a view's ETag is not text".into()))?;
    db.client()
        .execute(
            "INSERT INTO topic_views (topic_id, kind, etag, plain, gzip, brotli, ends) \
         SELECT id, $2, $3, $4, $5, $6, $7 FROM topics WHERE name = $1 \
         ON CONFLICT (topic_id, kind) DO UPDATE SET etag = EXCLUDED.etag, \
           plain = EXCLUDED.plain, gzip = EXCLUDED.gzip, brotli = EXCLUDED.brotli, \
           ends = EXCLUDED.ends, built_at = now()",
            &[
                &topic.as_str(),
                &kind.as_str(),
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

/// A topic's stored view, and whether the topic is tracked, in one
/// round trip: what a reader whose Redis lost the view needs to know.
pub async fn topic_view(
    db: &impl Db,
    topic: &Topic,
    kind: ViewKind,
) -> Result<TopicView, StoreError> {
    let row = db
        .client()
        .query_opt(
            "SELECT t.tracked, v.etag, v.plain, v.gzip, v.brotli, v.ends \
             FROM topics t LEFT JOIN topic_views v ON v.topic_id = t.id AND v.kind = $2 \
             WHERE t.name = $1",
            &[&topic.as_str(), &kind.as_str()],
        )
        .await?;
    let Some(row) = row.filter(|row| row.get::<_, bool>(0)) else {
        return Ok(TopicView::NotTracked);
    };
    Ok(match row.get::<_, Option<String>>(1) {
        None => TopicView::NotStored,
        Some(etag) => TopicView::Stored(StoredView {
            etag: etag.into_bytes(),
            plain: row.get(2),
            gzip: row.get(3),
            brotli: row.get(4),
            ends: row.get(5),
        }),
    })
}
