//! `?limit=N` answers, kept per (view, N, encoding) so a repeated limited
//! read costs what a full read does: a lookup and a shared body.
//!
//! Bounded by bytes, not entries, and filled lazily: a prefix is cut from the
//! view's plain JSON and compressed (quickly, as the response compression
//! layer would) only in the encoding a client asked for, the first time it
//! is asked for. An earlier design compressed both encodings of every
//! prefix thoroughly as it was kept, and took replicas from 80 to 260 MB
//! under the bench; here the memory is `views.prefix_max_bytes` at most and
//! each miss costs what every limited read used to.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hubpulse_cache::{Encoding, View};
use prometheus::{IntCounter, IntCounterVec};

/// The whole view's ETag (its content), N and the encoding: a new crawl's
/// view has a new ETag, so a stale prefix is never served, only left to age
/// out.
type Key = (Bytes, u16, Encoding);

/// A prefix no client asked for in this long leaves before the byte bound
/// would push it out.
const IDLE: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct Prefixes {
    kept: moka::future::Cache<Key, Bytes>,
    computed: IntCounter,
    reused: IntCounter,
}

impl Prefixes {
    /// `reads` is `hubpulse_view_prefixes_total{result}`.
    pub fn new(max_bytes: u64, reads: &IntCounterVec) -> Self {
        Self {
            kept: moka::future::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|key: &Key, body: &Bytes| {
                    u32::try_from(key.0.len() + body.len() + 64).unwrap_or(u32::MAX)
                })
                .time_to_idle(IDLE)
                .build(),
            computed: reads.with_label_values(&["computed"]),
            reused: reads.with_label_values(&["reused"]),
        }
    }

    /// The first `limit` items of `view` (`limit` below its length) in
    /// `encoding`. Readers that miss together share one computation.
    pub async fn get(
        &self,
        view: &View,
        limit: usize,
        encoding: Encoding,
    ) -> Result<Bytes, Arc<hubpulse_cache::ViewError>> {
        let key = (
            view.etag.clone(),
            u16::try_from(limit).unwrap_or(u16::MAX),
            encoding,
        );
        if let Some(body) = self.kept.get(&key).await {
            self.reused.inc();
            return Ok(body);
        }
        self.kept
            .try_get_with(key, async {
                self.computed.inc();
                view.first_encoded(limit, encoding)
            })
            .await
    }

    #[cfg(test)]
    async fn weighed(&self) -> u64 {
        self.kept.run_pending_tasks().await;
        self.kept.weighted_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::Opts;

    fn counter() -> IntCounterVec {
        IntCounterVec::new(Opts::new("prefixes", "test"), &["result"]).unwrap()
    }

    /// Items that compress badly, so a prefix weighs about what it holds.
    fn sample(seed: u64) -> View {
        let items: Vec<String> = (0..500u64)
            .map(|i| {
                format!(
                    "{:x}",
                    (i + seed * 1000).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                )
            })
            .collect();
        View::from_items(&items).unwrap()
    }

    #[tokio::test]
    async fn a_prefix_is_computed_once_per_view_limit_and_encoding() {
        let reads = counter();
        let prefixes = Prefixes::new(1 << 20, &reads);
        let view = sample(1);
        for _ in 0..5 {
            for encoding in [Encoding::Identity, Encoding::Gzip, Encoding::Brotli] {
                prefixes.get(&view, 10, encoding).await.unwrap();
            }
        }
        let other = sample(2);
        prefixes.get(&other, 10, Encoding::Gzip).await.unwrap();
        assert_eq!(reads.with_label_values(&["computed"]).get(), 4);
        assert_eq!(reads.with_label_values(&["reused"]).get(), 12);
        let plain = prefixes.get(&view, 10, Encoding::Identity).await.unwrap();
        assert_eq!(plain, view.first(10));
    }

    #[tokio::test]
    async fn the_kept_prefixes_are_bounded_in_bytes() {
        let reads = counter();
        let bound = 64 * 1024;
        let prefixes = Prefixes::new(bound, &reads);
        let view = sample(3);
        let mut offered = 0;
        for n in 1..500 {
            offered += prefixes
                .get(&view, n, Encoding::Identity)
                .await
                .unwrap()
                .len();
        }
        assert!(offered as u64 > bound * 10, "{offered}");
        assert!(
            prefixes.weighed().await <= bound,
            "{}",
            prefixes.weighed().await
        );
    }
}
