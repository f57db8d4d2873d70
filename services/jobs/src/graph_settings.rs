//! The `[graph]` section: how discovery grows the developer graph.

use std::time::Duration;

use hubpulse_runtime::SettingsError;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevGraphSettings {
    /// A developer synced less than this long ago is not synced again (not
    /// by discovery, not by `sync_developer` unless forced).
    pub staleness_secs: u64,
    /// At most this many edges of one list (followers, following, starred,
    /// repositories, stargazers) per sync; a longer list is cut there and
    /// recorded as truncated.
    pub max_edges_per_list: u32,
    /// Developers one `discover` round queues.
    pub discover_batch: u32,
    /// How long `discover` waits between rounds while syncs are running.
    pub discover_interval_ms: u64,
    /// Follow steps from the seeds past which discovery stops; 0: no limit.
    pub max_depth: u32,
    /// Share of the core limit discovery leaves unspent for everything
    /// else: below it, `discover` waits for the window's reset.
    pub reserve_ratio: f64,
    /// A queued sync that has not run by then is queued again.
    pub requeue_after_secs: u64,
}

impl DevGraphSettings {
    pub fn staleness(&self) -> Duration {
        Duration::from_secs(self.staleness_secs)
    }

    pub fn requeue_after(&self) -> Duration {
        Duration::from_secs(self.requeue_after_secs)
    }

    /// Pages of 100 per list per sync.
    pub fn max_pages(&self) -> u32 {
        self.max_edges_per_list.div_ceil(100).max(1)
    }

    pub fn max_depth(&self) -> Option<i32> {
        (self.max_depth > 0).then(|| i32::try_from(self.max_depth).unwrap_or(i32::MAX))
    }

    pub fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |key, reason: &str| SettingsError::Invalid {
            key,
            reason: reason.into(),
        };
        if self.max_edges_per_list == 0 {
            return Err(invalid("graph.max_edges_per_list", "must be above 0"));
        }
        if self.discover_batch == 0 || self.discover_batch > 10_000 {
            return Err(invalid("graph.discover_batch", "between 1 and 10,000"));
        }
        if self.discover_interval_ms == 0 {
            return Err(invalid("graph.discover_interval_ms", "must be above 0"));
        }
        if !(0.0..1.0).contains(&self.reserve_ratio) {
            return Err(invalid("graph.reserve_ratio", "at least 0, below 1"));
        }
        Ok(())
    }
}
