use std::time::Duration;

use chrono::TimeDelta;
use hubpulse_domain::rate::{BudgetPolicy, WaitBounds};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// The `[github]` section. Keys added after the first four have defaults, so
/// a configuration written before them still loads.
#[derive(Debug, Clone, Deserialize)]
pub struct GithubSettings {
    /// `https://api.github.com`, or the simulator's address.
    pub base_url: String,
    /// Personal access or app token; empty means unauthenticated (GitHub's lower limits).
    pub token: SecretString,
    pub user_agent: String,
    /// Whole request, body included; a reply slower than this is retried.
    pub request_timeout_ms: u64,
    #[serde(default = "defaults::connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Retries after the first attempt, on 5xx, timeouts and dropped
    /// connections only. Rate limits are never retried in-process.
    #[serde(default = "defaults::max_retries")]
    pub max_retries: u32,
    /// First backoff; doubles per retry up to `retry_max_ms`, with jitter.
    #[serde(default = "defaults::retry_base_ms")]
    pub retry_base_ms: u64,
    #[serde(default = "defaults::retry_max_ms")]
    pub retry_max_ms: u64,
    /// Share of each rate-limit window the shared budget never spends.
    #[serde(default = "defaults::reserve_ratio")]
    pub reserve_ratio: f64,
    /// A budget denial that ends sooner than this is waited out in-process
    /// (another replica's probe, a window about to reset); a longer one is
    /// returned so the job reschedules.
    #[serde(default = "defaults::budget_wait_max_ms")]
    pub budget_wait_max_ms: u64,
    /// Sent as `X-GitHub-Api-Version` on every REST call. Parsed at load:
    /// a version this client was not built for is refused there.
    #[serde(default)]
    pub api_version: ApiVersion,
    /// github.com's own origin, where the OAuth device flow lives (the
    /// simulator in tests and the demo).
    #[serde(default = "defaults::oauth_base_url")]
    pub oauth_base_url: String,
    /// The longest a `retry-after` or `x-ratelimit-reset` may hold the
    /// `core` (and `graphql`) budget: GitHub's hour-long window plus a
    /// margin. Anything further out is cut to this and logged.
    #[serde(default = "defaults::max_wait_core_secs")]
    pub max_wait_core_secs: u32,
    /// The same for `search` (and `code_search`), whose window is a minute.
    #[serde(default = "defaults::max_wait_search_secs")]
    pub max_wait_search_secs: u32,
}

/// The REST API versions this client reads: wire types accept both shapes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum ApiVersion {
    /// Supported by GitHub until March 2028.
    #[default]
    #[serde(rename = "2022-11-28")]
    V2022_11_28,
    #[serde(rename = "2026-03-10")]
    V2026_03_10,
}

impl ApiVersion {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::V2022_11_28 => "2022-11-28",
            Self::V2026_03_10 => "2026-03-10",
        }
    }
}

impl std::fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

mod defaults {
    pub fn connect_timeout_ms() -> u64 {
        5_000
    }
    pub fn max_retries() -> u32 {
        3
    }
    pub fn retry_base_ms() -> u64 {
        200
    }
    pub fn retry_max_ms() -> u64 {
        5_000
    }
    pub fn reserve_ratio() -> f64 {
        0.1
    }
    pub fn budget_wait_max_ms() -> u64 {
        3_000
    }
    pub fn max_wait_core_secs() -> u32 {
        3_660
    }
    pub fn max_wait_search_secs() -> u32 {
        120
    }
    pub fn oauth_base_url() -> String {
        "https://github.com".into()
    }
}

impl GithubSettings {
    /// Defaults for everything but where GitHub is and who asks.
    pub fn new(base_url: impl Into<String>, token: Option<SecretString>) -> Self {
        Self {
            base_url: base_url.into(),
            token: token.unwrap_or_else(|| SecretString::from("")),
            user_agent: "hubpulse".into(),
            request_timeout_ms: 10_000,
            connect_timeout_ms: defaults::connect_timeout_ms(),
            max_retries: defaults::max_retries(),
            retry_base_ms: defaults::retry_base_ms(),
            retry_max_ms: defaults::retry_max_ms(),
            reserve_ratio: defaults::reserve_ratio(),
            budget_wait_max_ms: defaults::budget_wait_max_ms(),
            api_version: ApiVersion::default(),
            oauth_base_url: defaults::oauth_base_url(),
            max_wait_core_secs: defaults::max_wait_core_secs(),
            max_wait_search_secs: defaults::max_wait_search_secs(),
        }
    }

    pub fn wait_bounds(&self) -> WaitBounds {
        WaitBounds {
            core: TimeDelta::seconds(i64::from(self.max_wait_core_secs)),
            search: TimeDelta::seconds(i64::from(self.max_wait_search_secs)),
        }
    }

    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://"))
            || url::Url::parse(&self.base_url).is_err()
        {
            return Err((
                "github.base_url",
                "must be an http:// or https:// URL".into(),
            ));
        }
        if !(self.oauth_base_url.starts_with("http://")
            || self.oauth_base_url.starts_with("https://"))
            || url::Url::parse(&self.oauth_base_url).is_err()
        {
            return Err((
                "github.oauth_base_url",
                "must be an http:// or https:// URL".into(),
            ));
        }
        if self.user_agent.trim().is_empty() {
            return Err((
                "github.user_agent",
                "must not be empty (GitHub refuses requests without one)".into(),
            ));
        }
        if self.request_timeout_ms == 0 {
            return Err(("github.request_timeout_ms", "must be above 0".into()));
        }
        if self.connect_timeout_ms == 0 {
            return Err(("github.connect_timeout_ms", "must be above 0".into()));
        }
        if self.max_retries > 10 {
            return Err((
                "github.max_retries",
                "must be at most 10 (retries multiply the time a failing call takes)".into(),
            ));
        }
        if self.retry_base_ms == 0 || self.retry_max_ms < self.retry_base_ms {
            return Err((
                "github.retry_base_ms",
                "must be above 0 and at most github.retry_max_ms".into(),
            ));
        }
        self.budget_policy()
            .validate()
            .map_err(|reason| ("github.reserve_ratio", reason))?;
        Ok(())
    }

    pub fn token(&self) -> Option<&str> {
        let token = self.token.expose_secret();
        (!token.is_empty()).then_some(token)
    }

    /// What the shared rate budget (built by whoever wires the client) should
    /// enforce for this client's token.
    pub fn budget_policy(&self) -> BudgetPolicy {
        BudgetPolicy {
            reserve_ratio: self.reserve_ratio,
            ..BudgetPolicy::default()
        }
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_added_later_default_when_absent() {
        let settings: GithubSettings = serde_json::from_str(
            r#"{"base_url":"https://api.github.com","token":"","user_agent":"hp","request_timeout_ms":10000}"#,
        )
        .unwrap();
        assert_eq!(settings.max_retries, 3);
        assert_eq!(settings.connect_timeout_ms, 5_000);
        assert!((settings.reserve_ratio - 0.1).abs() < f64::EPSILON);
        assert!(settings.validate().is_ok());
        assert!(settings.token().is_none());
        assert_eq!(settings.api_version, ApiVersion::V2022_11_28);
        assert_eq!(settings.oauth_base_url, "https://github.com");
    }

    #[test]
    fn only_the_api_versions_the_wire_types_read_are_accepted() {
        let parse = |version: &str| {
            serde_json::from_str::<GithubSettings>(&format!(
                r#"{{"base_url":"https://api.github.com","token":"","user_agent":"hp","request_timeout_ms":1,"api_version":"{version}"}}"#
            ))
        };
        assert_eq!(
            parse("2026-03-10").unwrap().api_version,
            ApiVersion::V2026_03_10
        );
        assert_eq!(
            parse("2022-11-28").unwrap().api_version.as_str(),
            "2022-11-28"
        );
        for refused in ["2025-01-01", "v3", ""] {
            let err = parse(refused).unwrap_err().to_string();
            assert!(err.contains("2026-03-10"), "{err}");
        }
    }

    #[test]
    fn bad_values_name_their_key() {
        let base = GithubSettings::new("https://api.github.com", None);
        type Breaker = fn(&mut GithubSettings);
        let cases: [(Breaker, &str); 7] = [
            (|s| s.base_url = "ftp://x".into(), "github.base_url"),
            (|s| s.base_url = "http://".into(), "github.base_url"),
            (|s| s.user_agent = " ".into(), "github.user_agent"),
            (|s| s.max_retries = 50, "github.max_retries"),
            (|s| s.retry_max_ms = 1, "github.retry_base_ms"),
            (|s| s.reserve_ratio = 1.0, "github.reserve_ratio"),
            (
                |s| s.oauth_base_url = "github.com".into(),
                "github.oauth_base_url",
            ),
        ];
        for (break_it, key) in cases {
            let mut settings = base.clone();
            break_it(&mut settings);
            assert_eq!(settings.validate().unwrap_err().0, key);
        }
    }
}
