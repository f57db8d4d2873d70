//! GitHub page validators: for each page a walk read in full, its ETag,
//! the ids it yielded, the list's reported size and its next URL, keyed by
//! (credential, media type, URL). The walker in `hubpulse-github` reads them
//! to ask `If-None-Match`; the caller writes them with the page's rows, in
//! the same transaction, so a validator never outlives what it vouches for.

use tokio_postgres::GenericClient;

use crate::{Db, StoreError};

/// Which stored page: GitHub's ETags vary with all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageKey<'a> {
    /// The credential's token id, never the token.
    pub credential: &'a str,
    pub media_type: &'a str,
    /// The URL as requested.
    pub url: &'a str,
}

/// What was stored of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPage {
    pub etag: String,
    /// In the page's order.
    pub ids: Vec<i64>,
    pub total_count: Option<i64>,
    pub next_url: Option<String>,
}

/// A page to remember; `etag: None` forgets it instead (GitHub sent none,
/// or the page is not to be trusted later).
#[derive(Debug, Clone, Copy)]
pub struct PageWrite<'a> {
    pub key: PageKey<'a>,
    pub etag: Option<&'a str>,
    pub ids: &'a [i64],
    pub total_count: Option<i64>,
    pub next_url: Option<&'a str>,
}

/// The stored page under `key`, if any.
pub async fn recall(db: &impl Db, key: &PageKey<'_>) -> Result<Option<StoredPage>, StoreError> {
    let row = db
        .client()
        .query_opt(
            "SELECT etag, ids, total_count, next_url FROM github_pages \
             WHERE credential = $1 AND media_type = $2 AND url = $3",
            &[&key.credential, &key.media_type, &key.url],
        )
        .await?;
    Ok(row.map(|row| StoredPage {
        etag: row.get(0),
        ids: row.get(1),
        total_count: row.get(2),
        next_url: row.get(3),
    }))
}

/// Stores (or, without an ETag, forgets) a page: one statement, so pass the
/// transaction that writes the page's rows.
pub async fn remember(db: &impl Db, page: &PageWrite<'_>) -> Result<(), StoreError> {
    let key = &page.key;
    let Some(etag) = page.etag.filter(|e| !e.is_empty()) else {
        return forget(db, key).await;
    };
    db.client()
        .execute(
            "INSERT INTO github_pages (credential, media_type, url, etag, ids, total_count, next_url) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (credential, media_type, url) DO UPDATE SET etag = EXCLUDED.etag, \
                 ids = EXCLUDED.ids, total_count = EXCLUDED.total_count, \
                 next_url = EXCLUDED.next_url, fetched_at = now()",
            &[
                &key.credential,
                &key.media_type,
                &key.url,
                &etag,
                &page.ids,
                &page.total_count,
                &page.next_url,
            ],
        )
        .await?;
    Ok(())
}

pub async fn forget(db: &impl Db, key: &PageKey<'_>) -> Result<(), StoreError> {
    db.client()
        .execute(
            "DELETE FROM github_pages WHERE credential = $1 AND media_type = $2 AND url = $3",
            &[&key.credential, &key.media_type, &key.url],
        )
        .await?;
    Ok(())
}
