//! What the cache's integration tests share: each scenario is an
//! `async fn(url, key_prefix)` run once on one Redis and once on a real
//! three-primary Redis Cluster, so what holds on one holds on the other.

use std::time::Duration;

use hubpulse_cache::{Cache, RedisSettings};

pub fn settings(url: &str, prefix: &str) -> RedisSettings {
    RedisSettings {
        url: url.to_owned().into(),
        key_prefix: prefix.to_owned(),
        pool_size: 2,
        connect_timeout_ms: 1_000,
        command_timeout_ms: 1_000,
    }
}

/// A client of its own (as another replica would have), once Redis answers.
pub async fn connected(url: &str, prefix: &str) -> Cache {
    let cache = Cache::connect(&settings(url, prefix)).unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        while !every_connection_routes(&cache).await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("redis answers within 10 s");
    cache
}

/// Each pooled connection answers a keyed read: on a Cluster a connection
/// that has not yet loaded the slot map fails those even after a `PING`
/// through another connection has succeeded.
async fn every_connection_routes(cache: &Cache) -> bool {
    use fred::interfaces::KeysInterface;
    if cache.ping().await.is_err() {
        return false;
    }
    for client in cache.pool().clients() {
        let probe: Result<Option<String>, _> = client.get(cache.key("probe")).await;
        if probe.is_err() {
            return false;
        }
    }
    true
}

/// `single::<scenario>` on the shared test Redis, `cluster::<scenario>` on
/// a Redis Cluster of the test's own.
#[macro_export]
macro_rules! on_single_and_cluster {
    ($($scenario:ident),* $(,)?) => {
        mod single {
            $(
                #[tokio::test]
                async fn $scenario() {
                    let redis = hubpulse_testkit::TestRedis::new().await;
                    super::$scenario(redis.url(), redis.key_prefix()).await;
                }
            )*
        }
        mod cluster {
            $(
                #[tokio::test]
                async fn $scenario() {
                    let cluster = hubpulse_testkit::TestRedisCluster::new().await;
                    super::$scenario(&cluster.url(), cluster.key_prefix()).await;
                }
            )*
        }
    };
}
