//! Rendered charts of an owner's first-time contributors, kept in Redis as
//! the topic views are, so a chart read costs no Postgres query while one is
//! kept. One hash per owner (a field per query), so an untrack drops every
//! chart of the owner with one `DEL`; the hash expires a fixed time after
//! its first chart was stored, which bounds how stale a kept chart can be
//! after a sync changes the numbers.

use std::time::Duration;

use bytes::Bytes;
use fred::prelude::{HashesInterface, KeysInterface, LuaInterface};

use crate::{Cache, CacheError};

impl Cache {
    fn chart_key(&self, owner: &str) -> String {
        format!("{}:chart:{{{}}}", self.key_prefix, owner.to_lowercase())
    }

    /// The chart kept for `owner` and `query`; `Ok(None)` when none is.
    pub async fn get_chart(&self, owner: &str, query: &str) -> Result<Option<Bytes>, CacheError> {
        if !self.is_connected() {
            return Err(CacheError::Unavailable("not connected".into()));
        }
        Ok(self.pool.next().hget(self.chart_key(owner), query).await?)
    }

    /// Keeps a chart; the owner's charts all go `ttl` after the first was kept.
    pub async fn put_chart(
        &self,
        owner: &str,
        query: &str,
        svg: Bytes,
        ttl: Duration,
    ) -> Result<(), CacheError> {
        const PUT: &str = "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) \
            if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end \
            return 1";
        let secs = Bytes::from(ttl.as_secs().max(1).to_string());
        let _: i64 = self
            .pool
            .next()
            .eval(
                PUT,
                self.chart_key(owner),
                vec![Bytes::from(query.to_owned()), svg, secs],
            )
            .await?;
        Ok(())
    }

    /// Drops every chart of `owner` (untracked).
    pub async fn delete_charts(&self, owner: &str) -> Result<(), CacheError> {
        let _: i64 = self.pool.next().del(self.chart_key(owner)).await?;
        Ok(())
    }
}
