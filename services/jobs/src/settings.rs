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
