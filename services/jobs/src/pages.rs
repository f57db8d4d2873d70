//! The walker's page store on Postgres: `hubpulse-github` defines what a
//! walk needs to read ([`PageMemory`]), `hubpulse-store` keeps the rows
//! (`pages`); this is the glue, so neither depends on the other.

use hubpulse_github::{PageKey, PageMemory, PageRecord, Remembered};
use hubpulse_store::pages::{self, PageWrite};
use hubpulse_store::{Db, Store, StoreError};

/// Stored GitHub pages, read through the pool: pass it to
/// [`hubpulse_github::Walker::new`].
#[derive(Clone)]
pub struct PgPages {
    store: Store,
}

impl PgPages {
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

fn key(key: &PageKey) -> pages::PageKey<'_> {
    pages::PageKey {
        credential: &key.credential,
        media_type: &key.media_type,
        url: &key.url,
    }
}

impl PageMemory for PgPages {
    type Error = StoreError;

    async fn recall(&self, page: &PageKey) -> Result<Option<Remembered>, StoreError> {
        let conn = self.store.conn().await?;
        Ok(pages::recall(&conn, &key(page))
            .await?
            .map(|stored| Remembered {
                etag: stored.etag,
                ids: stored.ids,
                next: stored.next_url,
                total: stored.total_count,
            }))
    }
}

/// Stores what a walk handed out for a fresh page
/// ([`hubpulse_github::walker::FreshPage::record`]): pass the transaction
/// that writes the page's rows, so the validator never outlives them.
pub async fn remember_page(db: &impl Db, record: &PageRecord) -> Result<(), StoreError> {
    pages::remember(
        db,
        &PageWrite {
            key: key(&record.key),
            etag: record.etag.as_deref(),
            ids: &record.ids,
            total_count: record.total,
            next_url: record.next.as_deref(),
        },
    )
    .await
}
