//! The read path of a view: this process's memory (a few seconds stale at
//! most), then Redis, then Postgres (which repopulates Redis).

use std::sync::Arc;
use std::time::Duration;

use hubpulse_cache::{Cache, Compression, View, ViewKind};
use hubpulse_domain::Topic;
use hubpulse_store::{RepoOrder, Store, StoreError};
use prometheus::IntCounterVec;

/// Items per view: what the three routes serve at most.
pub const VIEW_SIZE: i64 = 500;

pub fn order_of(kind: ViewKind) -> RepoOrder {
    match kind {
        ViewKind::ByName => RepoOrder::FullName,
        ViewKind::Popularity => RepoOrder::Stars,
        ViewKind::Activity => RepoOrder::Pushed,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("neither Redis nor Postgres could answer: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

#[derive(Clone)]
pub struct ViewReader {
    memory: moka::future::Cache<(Topic, ViewKind), Arc<View>>,
    cache: Cache,
    store: Store,
    hits: IntCounterVec,
}

impl ViewReader {
    pub fn new(cache: Cache, store: Store, ttl: Duration, hits: IntCounterVec) -> Self {
        Self {
            memory: moka::future::Cache::builder()
                .max_capacity(3 * 256)
                .time_to_live(ttl)
                .build(),
            cache,
            store,
            hits,
        }
    }

    /// `Ok(None)`: the topic is not tracked.
    pub async fn get(&self, topic: &Topic, kind: ViewKind) -> Result<Option<Arc<View>>, ReadError> {
        let key = (topic.clone(), kind);
        if let Some(view) = self.memory.get(&key).await {
            self.hits.with_label_values(&["process"]).inc();
            return Ok(Some(view));
        }
        let redis_failure = match self.cache.get_view(topic, kind).await {
            Ok(Some(view)) => {
                let view = Arc::new(view);
                self.memory.insert(key, view.clone()).await;
                self.hits.with_label_values(&["redis"]).inc();
                return Ok(Some(view));
            }
            Ok(None) => None,
            Err(err) => Some(err.to_string()),
        };
        match self.build_from_postgres(topic, kind).await {
            Ok(Some(view)) => {
                let view = Arc::new(view);
                if redis_failure.is_none() {
                    // Read-through: the next replica to ask finds it in Redis.
                    // Written after the answer, not before: the reader does
                    // not wait for a few hundred kB to reach Redis.
                    let (cache, topic, view) = (self.cache.clone(), topic.clone(), view.clone());
                    tokio::spawn(async move {
                        if let Err(err) = cache.put_view(&topic, kind, &view).await {
                            tracing::warn!(error = %err, "could not repopulate a view in Redis");
                        }
                    });
                }
                self.memory.insert(key, view.clone()).await;
                self.hits.with_label_values(&["postgres"]).inc();
                Ok(Some(view))
            }
            Ok(None) => Ok(None),
            Err(StoreError::Unavailable(pg)) => Err(ReadError::Unavailable(format!(
                "postgres: {pg}; redis: {}",
                redis_failure.unwrap_or_else(|| "no such view".into())
            ))),
            Err(err) => Err(ReadError::Internal(err.to_string())),
        }
    }

    async fn build_from_postgres(
        &self,
        topic: &Topic,
        kind: ViewKind,
    ) -> Result<Option<View>, StoreError> {
        if !self.store.is_tracked(topic).await? {
            return Ok(None);
        }
        let items = self
            .store
            .view_items(topic, order_of(kind), VIEW_SIZE)
            .await?;
        // A reader waits for this one: compressed quickly; the topic's next
        // crawl stores a thoroughly compressed view in its place.
        View::from_items_with(&items, Compression::Quick)
            .map(Some)
            .map_err(|e| StoreError::Database(format!("building a view: {e}")))
    }

    /// Forgets a topic's views in this process (the next read goes to Redis).
    pub async fn forget(&self, topic: &Topic) {
        for kind in ViewKind::ALL {
            self.memory.invalidate(&(topic.clone(), kind)).await;
        }
    }
}
