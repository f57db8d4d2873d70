use secrecy::SecretString;
use serde::Deserialize;

/// The `[redis]` section.
#[derive(Debug, Clone, Deserialize)]
pub struct RedisSettings {
    /// `redis://[:password@]host:port[/db]`; may hold a password, hence secret.
    pub url: SecretString,
    /// Prepended to every key (`prefix:...`).
    pub key_prefix: String,
    pub pool_size: usize,
    pub connect_timeout_ms: u64,
    /// A command not answered within this is treated as Redis being down.
    pub command_timeout_ms: u64,
}

impl RedisSettings {
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        use secrecy::ExposeSecret;
        let url = self.url.expose_secret();
        if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
            return Err(("redis.url", "must start with redis:// or rediss://".into()));
        }
        if self.pool_size == 0 {
            return Err(("redis.pool_size", "must be at least 1".into()));
        }
        if self.key_prefix.is_empty() || self.key_prefix.contains(char::is_whitespace) {
            return Err((
                "redis.key_prefix",
                "must be non-empty without spaces".into(),
            ));
        }
        Ok(())
    }
}
