use hubpulse_runtime::SettingsError;
use serde::Deserialize;

/// The `[workers]` section.
#[derive(Debug, Clone, Deserialize)]
pub struct WorkerSettings {
    /// Workers per process; each runs one job at a time. 0 runs none.
    pub count: usize,
    /// How long a claim holds without renewal; renewed every third of it.
    pub lease_secs: u64,
    /// How often an idle worker looks for work when no wake-up came
    /// (LISTEN/NOTIFY wakes it at once when Postgres is reachable).
    pub poll_interval_ms: u64,
    pub backoff_base_ms: u64,
    pub backoff_cap_secs: u64,
    /// At shutdown, how long running jobs may take before they are released.
    pub shutdown_grace_secs: u64,
}

impl WorkerSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        for (key, value) in [
            ("workers.lease_secs", self.lease_secs),
            ("workers.poll_interval_ms", self.poll_interval_ms),
            ("workers.backoff_base_ms", self.backoff_base_ms),
            ("workers.backoff_cap_secs", self.backoff_cap_secs),
        ] {
            if value == 0 {
                return Err(SettingsError::Invalid {
                    key,
                    reason: "must be above 0".into(),
                });
            }
        }
        Ok(())
    }
}

/// The `[orgs]` section: tracked owners and their contributor statistics.
#[derive(Debug, Clone, Deserialize)]
pub struct OrgSettings {
    /// Organisations or users tracked from start-up on; more through
    /// `POST /v1/orgs`.
    pub tracked: Vec<hubpulse_domain::Login>,
    /// Count bots (`type: "Bot"`, logins ending in `[bot]`) as contributors.
    pub include_bots: bool,
    pub include_forks: bool,
    pub include_archived: bool,
    /// After a 202, ask again after this, doubled per 202 (with jitter)...
    pub stats_retry_base_ms: u64,
    /// ...up to this.
    pub stats_retry_cap_secs: u64,
    /// This many 202s in a row make a repository "statistics unavailable".
    pub stats_max_computing: u32,
}

impl OrgSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        for (key, value) in [
            ("orgs.stats_retry_base_ms", self.stats_retry_base_ms),
            ("orgs.stats_retry_cap_secs", self.stats_retry_cap_secs),
            (
                "orgs.stats_max_computing",
                u64::from(self.stats_max_computing),
            ),
        ] {
            if value == 0 {
                return Err(SettingsError::Invalid {
                    key,
                    reason: "must be above 0".into(),
                });
            }
        }
        if self.tracked.iter().any(hubpulse_domain::Login::is_bot) {
            return Err(SettingsError::Invalid {
                key: "orgs.tracked",
                reason: "a bot owns no organisation's repositories".into(),
            });
        }
        Ok(())
    }

    /// The wait before asking again after the `n`th 202 in a row.
    pub fn stats_backoff(&self) -> hubpulse_runtime::Backoff {
        hubpulse_runtime::Backoff::new(
            std::time::Duration::from_millis(self.stats_retry_base_ms),
            std::time::Duration::from_secs(self.stats_retry_cap_secs),
        )
    }
}

/// The `[gists]` section: tracked users' gist scans and their delivery to
/// Pipedrive.
#[derive(Debug, Clone, Deserialize)]
pub struct GistSettings {
    /// The scan window: one scan per user per window across all replicas
    /// (cron asks every 3 hours).
    pub scan_every_secs: u64,
    /// A scan that sends `since` cannot see deleted gists; a whole-list scan
    /// (free when unchanged) runs at least this often.
    pub full_scan_every_secs: u64,
    /// `since` is set this much before the last complete scan began, for
    /// clock skew between GitHub and us (duplicates are harmless).
    pub since_margin_secs: u64,
    /// Rows a delivery run posts before it yields its worker.
    pub deliver_batch: i64,
    /// A row that failed waits this, doubled per attempt...
    pub retry_base_ms: u64,
    /// ...up to this.
    pub retry_cap_secs: u64,
}

impl GistSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        for (key, value) in [
            ("gists.scan_every_secs", self.scan_every_secs),
            ("gists.full_scan_every_secs", self.full_scan_every_secs),
            ("gists.deliver_batch", self.deliver_batch.max(0) as u64),
            ("gists.retry_base_ms", self.retry_base_ms),
            ("gists.retry_cap_secs", self.retry_cap_secs),
        ] {
            if value == 0 {
                return Err(SettingsError::Invalid {
                    key,
                    reason: "must be above 0".into(),
                });
            }
        }
        Ok(())
    }

    /// The window `at` falls in, named by its first second (Unix time).
    /// Seconds, not a count of windows: a one-off scan's window is the
    /// second it was asked for (`POST /v1/tracked-users/{login}/scan`),
    /// which sorts after this window and before the next, so the periodic
    /// scan still runs in the next one (a scan claims only later windows).
    pub fn window(&self, at: chrono::DateTime<chrono::Utc>) -> i64 {
        let secs = at.timestamp();
        secs - secs.rem_euclid(self.scan_every_secs.max(1) as i64)
    }
}

impl Default for GistSettings {
    fn default() -> Self {
        GistSettings {
            scan_every_secs: 10_800,
            full_scan_every_secs: 604_800,
            since_margin_secs: 300,
            deliver_batch: 50,
            retry_base_ms: 2_000,
            retry_cap_secs: 600,
        }
    }
}
