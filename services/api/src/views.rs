//! The read path of a view: this process's memory (a few seconds stale at
//! most), then Redis, then Postgres (which repopulates Redis).

use std::sync::Arc;
use std::time::Duration;

use hubpulse_cache::{Cache, Compression, View};
use hubpulse_domain::{Topic, ViewKind};
use hubpulse_store::read_model::{self, TopicView};
use hubpulse_store::{Store, StoreError, topics};
use prometheus::{IntCounter, IntCounterVec};

use crate::prefixes::Prefixes;
use crate::zerocopy;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ReadError {
    #[error("neither Redis nor Postgres could answer: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

/// Hashed with foldhash rather than moka's default SipHash: a cached read
/// looks its view up here, and SipHash of the key was a few hundred
/// instructions of it (scripts/callgrind.sh). The keys are topic names the
/// operator tracked, not what a client chooses to flood one bucket with.
type Memory = moka::future::Cache<(Topic, ViewKind), Arc<Cached>, hashbrown::DefaultHashBuilder>;

/// A view in this process, its bodies registered for sendfile while it is
/// here (`server.sendfile`): dropped when moka lets it go, it unregisters.
struct Cached {
    view: Arc<View>,
    zerocopy: Option<zerocopy::Registration>,
}

fn memory_cache(ttl: Duration, max_bytes: u64) -> Memory {
    moka::future::Cache::builder()
        .max_capacity(max_bytes)
        // The memfd copy counts: it is memory this process holds too.
        .weigher(|_key, cached: &Arc<Cached>| {
            let copy = cached.zerocopy.as_ref().map_or(0, |r| r.bytes());
            view_weight(&cached.view).saturating_add(u32::try_from(copy).unwrap_or(u32::MAX))
        })
        .time_to_live(ttl)
        .build_with_hasher(hashbrown::DefaultHashBuilder::default())
}

/// What a view costs the process cache: its bodies and offsets (moka's
/// weights are u32; a view over 4 GiB counts as 4 GiB).
fn view_weight(view: &View) -> u32 {
    let bytes = view.etag.len()
        + view.plain.len()
        + view.gzip.len()
        + view.brotli.len()
        + view.ends.len() * 4;
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

/// Why a load into the process cache gave no view; never cached.
enum LoadError {
    NotTracked,
    Read(ReadError),
}

/// Which topics are tracked, as of `at`: one query per `ttl` per process
/// answers every read's "is it tracked?", so a view left in Redis or in
/// memory after an untrack (a failed delete, a crawl that published late)
/// is not served for much longer than that.
#[derive(Clone)]
struct TrackedSnapshot {
    at: std::time::Instant,
    names: Arc<std::collections::HashSet<String>>,
}

/// The snapshot readers share, and whether a refresh is under way. Readers
/// never wait on a refresh once there is a snapshot: a stale one answers
/// while one background task asks Postgres, so an outage (every ask waiting
/// out the pool's timeout) costs reads nothing, and a cached read takes a
/// read lock, not a mutex.
#[derive(Default)]
struct Tracked {
    snapshot: std::sync::RwLock<Option<TrackedSnapshot>>,
    refreshing: std::sync::atomic::AtomicBool,
}

#[derive(Clone)]
pub struct ViewReader {
    tracked: Arc<Tracked>,
    ttl: Duration,
    memory: Memory,
    cache: Cache,
    store: Store,
    hits: TierCounters,
    write_backs: Arc<tokio::sync::Semaphore>,
    prefixes: Prefixes,
    /// Where the bodies of cached views are registered for sendfile; `None`
    /// when `server.sendfile` is off.
    zerocopy: Option<Arc<zerocopy::Registry>>,
}

/// The counters of each tier, looked up once rather than by label per read.
#[derive(Clone)]
struct TierCounters {
    process: IntCounter,
    redis: IntCounter,
    postgres: IntCounter,
}

impl ViewReader {
    /// `max_bytes` bounds the views held in this process by their size
    /// (every encoding), not their number: a view of a large topic weighs
    /// megabytes, one of a small topic a few kilobytes.
    pub fn new(
        cache: Cache,
        store: Store,
        ttl: Duration,
        max_bytes: u64,
        hits: IntCounterVec,
        prefixes: Prefixes,
        zerocopy: Option<Arc<zerocopy::Registry>>,
    ) -> Self {
        Self {
            tracked: Arc::default(),
            ttl,
            memory: memory_cache(ttl, max_bytes),
            cache,
            store,
            hits: TierCounters {
                process: hits.with_label_values(&["process"]),
                redis: hits.with_label_values(&["redis"]),
                postgres: hits.with_label_values(&["postgres"]),
            },
            write_backs: Arc::new(tokio::sync::Semaphore::new(1)),
            prefixes,
            zerocopy,
        }
    }

    /// The `?limit=N` answers kept in this process.
    pub fn prefixes(&self) -> &Prefixes {
        &self.prefixes
    }

    /// Whether `topic` is tracked, from a snapshot about `ttl` old at most (a
    /// refresh under way may land a moment later); `None` when Postgres has
    /// never answered (the tiers below still do).
    async fn is_tracked(&self, topic: &Topic) -> Option<bool> {
        let snapshot = match self.tracked_snapshot_kept_fresh() {
            Some(snapshot) => snapshot,
            // The first read after start or after a track/untrack asks
            // Postgres itself: there is nothing to answer from meanwhile.
            // Boxed, as every path that reaches Postgres or Redis here: a
            // future holds room for its largest state, and the cached read's
            // future is boxed and moved on every request.
            None => {
                Box::pin(self.refresh_tracked()).await;
                self.tracked_snapshot()?
            }
        };
        Some(snapshot.names.contains(topic.as_str()))
    }

    /// The snapshot as it is, with a background refresh begun once it is
    /// `ttl` old: a read never waits for one.
    fn tracked_snapshot_kept_fresh(&self) -> Option<TrackedSnapshot> {
        let snapshot = self.tracked_snapshot()?;
        if snapshot.at.elapsed() >= self.ttl {
            self.refresh_tracked_in_background();
        }
        Some(snapshot)
    }

    fn tracked_snapshot(&self) -> Option<TrackedSnapshot> {
        self.tracked
            .snapshot
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn refresh_tracked_in_background(&self) {
        use std::sync::atomic::Ordering;
        if self.tracked.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let reader = self.clone();
        tokio::spawn(async move {
            reader.refresh_tracked().await;
            reader.tracked.refreshing.store(false, Ordering::Release);
        });
    }

    async fn refresh_tracked(&self) {
        let fresh = async { topics::tracked_names(&self.store.read_conn().await?).await };
        let fresh = fresh.await;
        let mut snapshot = self
            .tracked
            .snapshot
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match fresh {
            Ok(names) => {
                *snapshot = Some(TrackedSnapshot {
                    at: std::time::Instant::now(),
                    names: Arc::new(names.into_iter().collect()),
                });
            }
            Err(err) => {
                // Postgres down: the last snapshot stands for another ttl
                // before the next ask.
                tracing::debug!(error = %err, "could not refresh the tracked topics");
                if let Some(s) = snapshot.as_mut() {
                    s.at = std::time::Instant::now();
                }
            }
        }
    }

    /// Forgets which topics are tracked: the next read asks Postgres.
    pub async fn forget_tracked(&self) {
        *self
            .tracked
            .snapshot
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// `Ok(None)`: the topic is not tracked.
    pub async fn get(&self, topic: &Topic, kind: ViewKind) -> Result<Option<Arc<View>>, ReadError> {
        if let Some(view) = self.in_memory(topic, kind).await {
            return Ok(Some(view));
        }
        if self.is_tracked(topic).await == Some(false) {
            return Ok(None);
        }
        let key = (topic.clone(), kind);
        // One load per view in this process at a time: readers that miss
        // together wait for the same Redis or Postgres read instead of each
        // running their own.
        let load = async { self.load(topic, kind).await.map(|view| self.cached(view)) };
        let load = Box::pin(self.memory.try_get_with(key, load));
        match load.await {
            Ok(cached) => Ok(Some(cached.view.clone())),
            Err(err) => match &*err {
                LoadError::NotTracked => Ok(None),
                LoadError::Read(err) => Err(err.clone()),
            },
        }
    }

    /// The view when this process holds it and the topic is tracked, by a
    /// snapshot this process has: what [`Self::get`] answers without an
    /// await on Postgres or Redis. `None` is a miss, an untracked topic, or
    /// no snapshot yet; `get` tells those apart.
    pub async fn in_memory(&self, topic: &Topic, kind: ViewKind) -> Option<Arc<View>> {
        let snapshot = self.tracked_snapshot_kept_fresh()?;
        if !snapshot.names.contains(topic.as_str()) {
            return None;
        }
        let cached = self.memory.get(&(topic.clone(), kind)).await?;
        self.hits.process.inc();
        Some(cached.view.clone())
    }

    /// A loaded view as the process cache keeps it: with a registration
    /// when sendfile is on. A copy that cannot be made costs speed only.
    fn cached(&self, view: Arc<View>) -> Arc<Cached> {
        let zerocopy = self.zerocopy.as_ref().and_then(|registry| {
            registry
                .register(&[&view.plain, &view.gzip, &view.brotli])
                .inspect_err(
                    |err| tracing::warn!(error = %err, "could not copy a view for sendfile"),
                )
                .ok()
        });
        Arc::new(Cached { view, zerocopy })
    }

    async fn load(&self, topic: &Topic, kind: ViewKind) -> Result<Arc<View>, LoadError> {
        let redis_failure = match self.cache.get_view(topic, kind).await {
            Ok(Some(view)) => {
                self.hits.redis.inc();
                return Ok(Arc::new(view));
            }
            Ok(None) => None,
            Err(err) => Some(err.to_string()),
        };
        let view = match self.build_from_postgres(topic, kind).await {
            Ok(Some(view)) => Arc::new(view),
            Ok(None) => return Err(LoadError::NotTracked),
            Err(StoreError::Unavailable(pg)) => {
                return Err(LoadError::Read(ReadError::Unavailable(format!(
                    "postgres: {pg}; redis: {}",
                    redis_failure.unwrap_or_else(|| "no such view".into())
                ))));
            }
            Err(err) => return Err(LoadError::Read(ReadError::Internal(err.to_string()))),
        };
        self.hits.postgres.inc();
        if redis_failure.is_none() {
            // Read-through, after the answer rather than before it: the next
            // replica to ask finds the view in Redis, unless a crawl published
            // a newer one meanwhile. Stored as built (quickly compressed):
            // compressing it thoroughly here took a core for 50 ms per view,
            // which the next cold readers waited behind; the topic's next
            // crawl stores the thorough one.
            let (cache, topic, view) = (self.cache.clone(), topic.clone(), view.clone());
            let write_backs = self.write_backs.clone();
            tokio::spawn(async move {
                // One at a time: many views missing at once (Redis emptied)
                // must not hold as many bodies in flight to Redis.
                let Ok(_permit) = write_backs.acquire_owned().await else {
                    return;
                };
                if let Err(err) = cache.put_view_if_absent(&topic, kind, &view).await {
                    tracing::warn!(error = %err, "could not repopulate a view in Redis");
                }
            });
        }
        Ok(view)
    }

    /// The view as the topic's last crawl stored it, else built from the
    /// normalized tables (a topic not crawled since the read model came).
    async fn build_from_postgres(
        &self,
        topic: &Topic,
        kind: ViewKind,
    ) -> Result<Option<View>, StoreError> {
        let conn = self.store.read_conn().await?;
        match read_model::topic_view(&conn, topic, kind).await? {
            TopicView::NotTracked => return Ok(None),
            TopicView::Stored(stored) => match View::from_stored(
                stored.etag.into(),
                stored.plain.into(),
                stored.gzip.into(),
                stored.brotli.into(),
                &stored.ends,
            ) {
                Ok(view) => return Ok(Some(view)),
                Err(err) => {
                    tracing::warn!(%topic, view = kind.as_str(), error = %err, "stored view unusable; building it again");
                }
            },
            TopicView::NotStored => {}
        }
        let items = topics::view_items(&conn, topic, kind).await?;
        drop(conn);
        // A reader waits for this one: compressed quickly, off the async
        // workers, which meanwhile answer other requests.
        tokio::task::spawn_blocking(move || View::from_items_with(&items, Compression::Quick))
            .await
            .map_err(|e| StoreError::Database(format!("building a view: {e}")))?
            .map(Some)
            .map_err(|e| StoreError::Database(format!("building a view: {e}")))
    }

    /// Forgets a topic's views in this process (the next read goes to Redis),
    /// and which topics are tracked.
    pub async fn forget(&self, topic: &Topic) {
        self.forget_tracked().await;
        for kind in ViewKind::ALL {
            self.memory.invalidate(&(topic.clone(), kind)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_process_cache_is_bounded_in_bytes() {
        // Items that compress badly, so every encoding is about as large.
        let items: Vec<String> = (0..4000u64)
            .map(|i| format!("{:x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
            .collect();
        let view = Arc::new(Cached {
            view: Arc::new(View::from_items(&items).unwrap()),
            zerocopy: None,
        });
        let weight = u64::from(view_weight(&view.view));
        assert!(weight > view.view.plain.len() as u64 * 2, "{weight}");
        // Room for two such views, offered five.
        let memory = memory_cache(Duration::from_secs(60), weight * 2 + weight / 2);
        for n in 0..5 {
            let topic = hubpulse_domain::Topic::parse(&format!("topic-{n}")).unwrap();
            memory.insert((topic, ViewKind::ALL[0]), view.clone()).await;
        }
        memory.run_pending_tasks().await;
        assert!(
            memory.entry_count() <= 2,
            "{} views kept",
            memory.entry_count()
        );
        assert!(memory.weighted_size() <= weight * 2 + weight / 2);
    }
}
