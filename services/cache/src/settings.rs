use fred::prelude::{Config, ServerConfig};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The `[redis]` section.
#[derive(Debug, Clone, Deserialize)]
pub struct RedisSettings {
    /// Where Redis is, in fred's URL grammar, which also names the topology
    /// (see [`Topology`]); may hold a password, hence secret.
    pub url: SecretString,
    /// Prepended to every key (`prefix:...`).
    pub key_prefix: String,
    pub pool_size: usize,
    pub connect_timeout_ms: u64,
    /// A command not answered within this is treated as Redis being down.
    pub command_timeout_ms: u64,
}

/// Which kind of Redis deployment `redis.url` names. fred's own URL grammar
/// decides, so a deployment that outgrows one Redis changes its URL, not
/// the code:
///
/// - `redis://[:password@]host:port[/db]`: one server;
/// - `redis-cluster://[:password@]host:port?node=host:port&node=...`: a
///   Redis Cluster (any reachable node is enough; the rest are discovered);
/// - `redis-sentinel://[:password@]host:port[/db]?sentinelServiceName=NAME&node=host:port...`:
///   the primary that Sentinels at those addresses name.
///
/// `rediss` in place of `redis` asks for TLS, which this build does not
/// carry (fred without TLS features).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    Single,
    Cluster,
    Sentinel,
}

impl Topology {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Single => "single",
            Self::Cluster => "cluster",
            Self::Sentinel => "sentinel",
        }
    }
}

impl RedisSettings {
    /// fred's configuration for `url`. The error never repeats the URL: it
    /// may carry the password.
    pub(crate) fn fred_config(&self) -> Result<Config, (&'static str, String)> {
        let url = self.url.expose_secret();
        let scheme = url.split("://").next().unwrap_or_default();
        if !matches!(
            scheme,
            "redis"
                | "rediss"
                | "redis-cluster"
                | "rediss-cluster"
                | "redis-sentinel"
                | "rediss-sentinel"
        ) || !url.contains("://")
        {
            return Err((
                "redis.url",
                "must start with redis://, redis-cluster:// or redis-sentinel:// (or rediss...)"
                    .into(),
            ));
        }
        Config::from_url(url).map_err(|err| {
            // fred's detail names the part it could not read, not its value.
            (
                "redis.url",
                format!("is not a valid Redis URL: {}", err.details()),
            )
        })
    }

    /// Single server, Cluster or Sentinel, as `url` says.
    pub fn topology(&self) -> Result<Topology, (&'static str, String)> {
        Ok(match self.fred_config()?.server {
            ServerConfig::Clustered { .. } => Topology::Cluster,
            ServerConfig::Sentinel { .. } => Topology::Sentinel,
            _ => Topology::Single,
        })
    }

    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        self.topology()?;
        if self.pool_size == 0 {
            return Err(("redis.pool_size", "must be at least 1".into()));
        }
        if self.key_prefix.is_empty() || self.key_prefix.contains(char::is_whitespace) {
            return Err((
                "redis.key_prefix",
                "must be non-empty without spaces".into(),
            ));
        }
        // A brace would end (or start) the hash tag that keeps one view's,
        // or one budget's, keys on one Cluster slot.
        if self.key_prefix.contains(['{', '}']) {
            return Err(("redis.key_prefix", "must not contain { or }".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_url(url: &str) -> RedisSettings {
        RedisSettings {
            url: url.to_owned().into(),
            key_prefix: "hubpulse".into(),
            pool_size: 1,
            connect_timeout_ms: 1,
            command_timeout_ms: 1,
        }
    }

    #[test]
    fn the_url_names_the_topology() {
        for (url, topology) in [
            ("redis://127.0.0.1:6379", Topology::Single),
            ("redis://:pw@127.0.0.1:6379/2", Topology::Single),
            (
                "redis-cluster://:pw@10.0.0.1:7000?node=10.0.0.2:7000&node=10.0.0.3:7000",
                Topology::Cluster,
            ),
            (
                "redis-cluster://redis-cluster.default.svc:6379",
                Topology::Cluster,
            ),
            (
                "redis-sentinel://:pw@10.0.0.1:26379/0?sentinelServiceName=mymaster&node=10.0.0.2:26379",
                Topology::Sentinel,
            ),
        ] {
            assert_eq!(with_url(url).topology(), Ok(topology), "{url}");
            assert_eq!(with_url(url).validate(), Ok(()), "{url}");
        }
    }

    #[test]
    fn a_bad_url_is_refused_without_echoing_it() {
        for url in [
            "http://x",
            "127.0.0.1:6379",
            "redis-sentinel://:s3cret@10.0.0.1:26379",
            "postgres://:s3cret@x/y",
        ] {
            let (key, reason) = with_url(url).validate().unwrap_err();
            assert_eq!(key, "redis.url", "{url}");
            assert!(!reason.contains("s3cret"), "{reason}");
        }
    }

    #[test]
    fn a_brace_in_the_prefix_is_refused() {
        let mut settings = with_url("redis://127.0.0.1:6379");
        settings.key_prefix = "a{b}".into();
        assert_eq!(settings.validate().unwrap_err().0, "redis.key_prefix");
    }
}
