//! The GitHub rate budget on Redis: one hash per (token id, resource) that
//! every replica spends through, so together they never spend more than
//! GitHub allows. Each operation is one Lua script, atomic on the server;
//! the rules are those of `hubpulse_domain::rate::BucketState`, with Redis's
//! clock (`TIME`) as the one clock all replicas share.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use fred::prelude::{Client, Error as FredError, HashesInterface, LuaInterface};
use hubpulse_domain::rate::{
    BucketState, BucketView, BudgetError, BudgetFuture, BudgetPolicy, Grant, Pause, RESET_SKEW,
    RateBudget, RateObservation, Resource, WINDOW_TOLERANCE,
};

use crate::{Cache, CacheError};

/// How long a bucket outlives the end of its window (or pause, or probe):
/// long enough that a late reply from the old window is still recognised as
/// stale, short enough that idle tokens leave nothing behind.
const KEY_GRACE: Duration = Duration::from_secs(120);

/// Shared by every script: the clock, and the expiry that keeps the key
/// alive past whichever of reset, probe and pause ends last.
const PRELUDE: &str = r"
local key = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function touch(grace)
  local f = redis.call('HMGET', key, 'reset', 'probe_until', 'paused_until')
  local last = now
  for i = 1, 3 do
    local v = tonumber(f[i])
    if v and v > last then last = v end
  end
  redis.call('PEXPIREAT', key, last + grace)
end
";

/// ARGV: reserve_ratio, probe_lease_ms, reset_skew_ms, grace_ms.
/// Returns {1, window_ms} (window -1 for a probe), {0, until_ms} when spent
/// or paused, {2, until_ms} while another caller's probe is out.
const ACQUIRE: &str = r"
local ratio = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
local skew = tonumber(ARGV[3])
local grace = tonumber(ARGV[4])
local f = redis.call('HMGET', key, 'limit', 'remaining', 'reset', 'probe_until', 'paused_until')
local limit = tonumber(f[1]) or 0
local remaining = tonumber(f[2]) or 0
local reset = tonumber(f[3])
local probe_until = tonumber(f[4])
local paused_until = tonumber(f[5])
if paused_until and paused_until > now then
  return {0, paused_until}
end
if reset and reset + skew > now then
  local reserve = math.min(math.ceil(limit * ratio), limit)
  if remaining > reserve then
    redis.call('HINCRBY', key, 'remaining', -1)
    return {1, reset}
  end
  return {0, reset + skew}
end
if probe_until and probe_until > now then
  return {2, probe_until}
end
redis.call('HSET', key, 'probe_until', now + lease)
touch(grace)
return {1, -1}
";

/// ARGV: limit, remaining, reset_ms, tolerance_ms, grace_ms.
const OBSERVE: &str = r"
local limit = tonumber(ARGV[1])
local remaining = tonumber(ARGV[2])
local reset = tonumber(ARGV[3])
local tolerance = tonumber(ARGV[4])
local grace = tonumber(ARGV[5])
local f = redis.call('HMGET', key, 'remaining', 'reset')
local cur_remaining = tonumber(f[1])
local cur_reset = tonumber(f[2])
if cur_reset and math.abs(cur_reset - reset) <= tolerance then
  if cur_remaining and cur_remaining < remaining then remaining = cur_remaining end
  redis.call('HSET', key, 'limit', limit, 'remaining', remaining)
elseif cur_reset and reset < cur_reset then
  return 0
else
  redis.call('HSET', key, 'limit', limit, 'remaining', remaining, 'reset', reset)
end
redis.call('HDEL', key, 'probe_until')
touch(grace)
return 1
";

/// ARGV: window_ms, tolerance_ms.
const REFUND: &str = r"
local window = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local f = redis.call('HMGET', key, 'limit', 'remaining', 'reset')
local limit = tonumber(f[1])
local remaining = tonumber(f[2])
local reset = tonumber(f[3])
if limit and remaining and reset and math.abs(reset - window) <= tolerance and remaining < limit then
  redis.call('HINCRBY', key, 'remaining', 1)
  return 1
end
return 0
";

const RELEASE_PROBE: &str = r"
redis.call('HDEL', key, 'probe_until')
return 1
";

/// ARGV: until_ms, grace_ms.
const PAUSE: &str = r"
local until_ms = tonumber(ARGV[1])
local grace = tonumber(ARGV[2])
local cur = tonumber(redis.call('HGET', key, 'paused_until'))
if not cur or cur < until_ms then
  redis.call('HSET', key, 'paused_until', until_ms)
end
touch(grace)
return 1
";

/// A Lua script run with `EVALSHA`, loaded on first use and again whenever
/// Redis answers `NOSCRIPT` (a restart or `SCRIPT FLUSH` empties its cache).
#[derive(Debug)]
struct LuaScript {
    source: String,
    sha: Mutex<Option<String>>,
}

impl LuaScript {
    fn new(body: &str) -> Self {
        Self {
            source: format!("{PRELUDE}{body}"),
            sha: Mutex::new(None),
        }
    }

    fn cached_sha(&self) -> Option<String> {
        self.sha
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    async fn load(&self, client: &Client) -> Result<String, FredError> {
        let sha: String = client.script_load(self.source.as_str()).await?;
        *self
            .sha
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(sha.clone());
        Ok(sha)
    }

    async fn run(
        &self,
        client: &Client,
        key: String,
        args: Vec<String>,
    ) -> Result<Vec<i64>, FredError> {
        let sha = match self.cached_sha() {
            Some(sha) => sha,
            None => self.load(client).await?,
        };
        match client.evalsha(sha, key.clone(), args.clone()).await {
            // `SCRIPT LOAD` reached one server; on a Cluster the key's slot
            // may live on another, which has never seen the script. `EVAL`
            // runs it there and leaves it in that server's cache, so the
            // next `EVALSHA` to that slot finds it.
            Err(err) if err.details().starts_with("NOSCRIPT") => {
                client.eval(self.source.as_str(), key, args).await
            }
            other => other,
        }
    }
}

/// The rate budget every replica shares; build one per process over the
/// process's [`Cache`].
pub struct RedisBudget {
    cache: Cache,
    policy: BudgetPolicy,
    acquire: LuaScript,
    observe: LuaScript,
    refund: LuaScript,
    release_probe: LuaScript,
    pause: LuaScript,
}

impl std::fmt::Debug for RedisBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBudget")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl RedisBudget {
    pub fn new(cache: Cache, policy: BudgetPolicy) -> Result<Self, CacheError> {
        policy
            .validate()
            .map_err(|reason| CacheError::Config(format!("rate budget: {reason}")))?;
        Ok(Self {
            cache,
            policy,
            acquire: LuaScript::new(ACQUIRE),
            observe: LuaScript::new(OBSERVE),
            refund: LuaScript::new(REFUND),
            release_probe: LuaScript::new(RELEASE_PROBE),
            pause: LuaScript::new(PAUSE),
        })
    }

    /// `prefix:ratelimit:{token_id}:resource`. The token id is a hash of
    /// the token, never the token; the braces are a Redis Cluster hash tag,
    /// so every bucket of one token lives on one slot.
    pub fn bucket_key(&self, token_id: &str, resource: Resource) -> String {
        self.cache
            .key(&format!("ratelimit:{{{token_id}}}:{resource}"))
    }

    /// What the bucket holds now; `None` when it holds nothing (never used,
    /// or expired). For reporting and tests.
    pub async fn state(
        &self,
        token_id: &str,
        resource: Resource,
    ) -> Result<Option<BucketState>, CacheError> {
        self.state_at(&self.bucket_key(token_id, resource)).await
    }

    async fn state_at(&self, key: &str) -> Result<Option<BucketState>, CacheError> {
        let client = self.client()?;
        let fields: Vec<Option<i64>> = client
            .hmget(
                key,
                vec!["limit", "remaining", "reset", "probe_until", "paused_until"],
            )
            .await?;
        let [limit, remaining, reset, probe_until, paused_until] =
            <[Option<i64>; 5]>::try_from(fields)
                .map_err(|_| CacheError::Unavailable("HMGET answered the wrong arity".into()))?;
        if [limit, remaining, reset, probe_until, paused_until]
            .iter()
            .all(Option::is_none)
        {
            return Ok(None);
        }
        let count = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok()).unwrap_or(0);
        Ok(Some(BucketState {
            limit: count(limit),
            remaining: count(remaining),
            reset: reset.and_then(DateTime::from_timestamp_millis),
            probe_until: probe_until.and_then(DateTime::from_timestamp_millis),
            paused_until: paused_until.and_then(DateTime::from_timestamp_millis),
        }))
    }

    fn client(&self) -> Result<&Client, CacheError> {
        // Not connected: answer now rather than wait out the command timeout
        // on every call of a crawl.
        if !self.cache.is_connected() {
            return Err(CacheError::Unavailable("not connected".into()));
        }
        Ok(self.cache.pool().next())
    }

    async fn run(
        &self,
        script: &LuaScript,
        token_id: &str,
        resource: Resource,
        args: Vec<String>,
    ) -> Result<Vec<i64>, BudgetError> {
        let client = self.client().map_err(unavailable)?;
        script
            .run(client, self.bucket_key(token_id, resource), args)
            .await
            .map_err(|err| unavailable(err.into()))
    }

    async fn do_acquire(&self, token_id: &str, resource: Resource) -> Result<Grant, BudgetError> {
        let reply = self
            .run(
                &self.acquire,
                token_id,
                resource,
                vec![
                    self.policy.reserve_ratio.to_string(),
                    millis(self.policy.probe_lease).to_string(),
                    RESET_SKEW.num_milliseconds().to_string(),
                    millis(KEY_GRACE).to_string(),
                ],
            )
            .await?;
        match reply.as_slice() {
            [1, -1] => Ok(Grant::Granted { window: None }),
            [1, window] => Ok(Grant::Granted {
                window: Some(instant(*window)?),
            }),
            [0, until] => Ok(Grant::Denied {
                until: instant(*until)?,
            }),
            [2, until] => Ok(Grant::Probing {
                until: instant(*until)?,
            }),
            _ => Err(malformed()),
        }
    }
}

impl RateBudget for RedisBudget {
    fn pauses(&self) -> BudgetFuture<'_, Vec<Pause>> {
        Box::pin(async move {
            let mut pauses: Vec<Pause> = self
                .paused_keys()
                .await?
                .into_iter()
                .filter_map(|(key, until)| {
                    let (credential, resource) = self.bucket_of(&key)?;
                    Some(Pause {
                        credential,
                        resource,
                        until: DateTime::from_timestamp_millis(until)?,
                    })
                })
                .collect();
            pauses.sort_by(|a, b| (&a.credential, a.resource).cmp(&(&b.credential, b.resource)));
            Ok(pauses)
        })
    }

    fn clear_pauses(&self) -> BudgetFuture<'_, u64> {
        Box::pin(async move {
            let client = self.client().map_err(unavailable)?;
            let mut cleared = 0;
            for (key, _) in self.paused_keys().await? {
                let removed: u64 = client
                    .hdel(&key, "paused_until")
                    .await
                    .map_err(|err| unavailable(err.into()))?;
                cleared += removed;
            }
            Ok(cleared)
        })
    }

    fn buckets(&self) -> BudgetFuture<'_, Vec<BucketView>> {
        Box::pin(async move {
            let mut buckets = Vec::new();
            for key in self.bucket_keys().await? {
                let Some((credential, resource)) = self.bucket_of(&key) else {
                    continue;
                };
                // Expired between the scan and the read: nothing to show.
                if let Some(state) = self.state_at(&key).await.map_err(unavailable)? {
                    buckets.push(BucketView {
                        credential,
                        resource,
                        state,
                    });
                }
            }
            buckets.sort_by(|a, b| (&a.credential, a.resource).cmp(&(&b.credential, b.resource)));
            Ok(buckets)
        })
    }

    fn acquire<'a>(&'a self, token_id: &'a str, resource: Resource) -> BudgetFuture<'a, Grant> {
        Box::pin(self.do_acquire(token_id, resource))
    }

    fn observe<'a>(
        &'a self,
        token_id: &'a str,
        resource: Resource,
        seen: RateObservation,
    ) -> BudgetFuture<'a, ()> {
        Box::pin(async move {
            self.run(
                &self.observe,
                token_id,
                resource,
                vec![
                    seen.limit.to_string(),
                    seen.remaining.to_string(),
                    seen.reset.timestamp_millis().to_string(),
                    WINDOW_TOLERANCE.num_milliseconds().to_string(),
                    millis(KEY_GRACE).to_string(),
                ],
            )
            .await
            .map(drop)
        })
    }

    fn refund<'a>(
        &'a self,
        token_id: &'a str,
        resource: Resource,
        window: DateTime<Utc>,
    ) -> BudgetFuture<'a, ()> {
        Box::pin(async move {
            self.run(
                &self.refund,
                token_id,
                resource,
                vec![
                    window.timestamp_millis().to_string(),
                    WINDOW_TOLERANCE.num_milliseconds().to_string(),
                ],
            )
            .await
            .map(drop)
        })
    }

    fn release_probe<'a>(&'a self, token_id: &'a str, resource: Resource) -> BudgetFuture<'a, ()> {
        Box::pin(async move {
            self.run(&self.release_probe, token_id, resource, Vec::new())
                .await
                .map(drop)
        })
    }

    fn pause<'a>(
        &'a self,
        token_id: &'a str,
        resource: Resource,
        until: DateTime<Utc>,
    ) -> BudgetFuture<'a, ()> {
        Box::pin(async move {
            self.run(
                &self.pause,
                token_id,
                resource,
                vec![
                    until.timestamp_millis().to_string(),
                    millis(KEY_GRACE).to_string(),
                ],
            )
            .await
            .map(drop)
        })
    }
}

impl RedisBudget {
    /// Every bucket key of this prefix. The buckets are found by a scan, not
    /// kept in a set: the scripts touch one bucket's key only (its token's
    /// slot on a Cluster), and a set they also wrote would sit on another
    /// slot. A key expires with its window, so the scan sees live ones.
    async fn bucket_keys(&self) -> Result<Vec<String>, BudgetError> {
        use futures::TryStreamExt;
        let client = self.client().map_err(unavailable)?;
        let pattern = self.cache.key("ratelimit:*");
        // The buckets of different tokens hash to different slots: on a
        // Cluster, every primary holds some of them.
        let keys: Vec<fred::types::Key> = if self.cache.is_clustered() {
            client
                .scan_cluster_buffered(pattern, Some(100), None)
                .try_collect()
                .await
        } else {
            client
                .scan_buffered(pattern, Some(100), None)
                .try_collect()
                .await
        }
        .map_err(|err| unavailable(err.into()))?;
        Ok(keys.into_iter().filter_map(|k| k.into_string()).collect())
    }

    /// Every bucket key of this prefix whose pause has not ended, with it.
    async fn paused_keys(&self) -> Result<Vec<(String, i64)>, BudgetError> {
        let client = self.client().map_err(unavailable)?;
        let now = chrono::Utc::now().timestamp_millis();
        let mut paused = Vec::new();
        for key in self.bucket_keys().await? {
            let until: Option<i64> = client
                .hget(&key, "paused_until")
                .await
                .map_err(|err| unavailable(err.into()))?;
            if let Some(until) = until.filter(|until| *until > now) {
                paused.push((key, until));
            }
        }
        Ok(paused)
    }

    /// `prefix:ratelimit:{token_id}:resource` back to its parts.
    fn bucket_of(&self, key: &str) -> Option<(String, Resource)> {
        let rest = key.strip_prefix(&self.cache.key("ratelimit:{"))?;
        let (token_id, resource) = rest.rsplit_once("}:")?;
        Some((token_id.to_owned(), Resource::from_header(resource)))
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn instant(ms: i64) -> Result<DateTime<Utc>, BudgetError> {
    DateTime::from_timestamp_millis(ms).ok_or_else(malformed)
}

fn malformed() -> BudgetError {
    BudgetError::Unavailable("the budget script answered an unexpected reply".into())
}

fn unavailable(err: CacheError) -> BudgetError {
    BudgetError::Unavailable(err.to_string())
}
