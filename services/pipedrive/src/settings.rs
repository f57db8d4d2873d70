use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The `[pipedrive]` section.
#[derive(Debug, Clone, Deserialize)]
pub struct PipedriveSettings {
    /// `https://{company_domain}.pipedrive.com/api/v2` unless `base_url` is set.
    pub company_domain: String,
    /// Overrides the company URL (the simulator: `http://127.0.0.1:9100/api/v2`).
    #[serde(default)]
    pub base_url: String,
    /// Empty: nothing is posted; the outbox waits. Never logged.
    pub api_token: SecretString,
    /// The activity type (`key_string`) of posted activities.
    pub activity_type: String,
    pub request_timeout_ms: u64,
    /// Requests per 2-second window this replica allows itself: the
    /// token's burst limit divided among the replicas.
    pub burst_per_2s: u32,
}

impl PipedriveSettings {
    /// Whether a token is configured.
    pub fn enabled(&self) -> bool {
        !self.api_token.expose_secret().is_empty()
    }

    /// The v2 base URL, without a trailing slash.
    pub fn api_base(&self) -> String {
        if self.base_url.is_empty() {
            format!("https://{}.pipedrive.com/api/v2", self.company_domain)
        } else {
            self.base_url.trim_end_matches('/').to_owned()
        }
    }

    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !self.base_url.is_empty() {
            let ok = url::Url::parse(&self.base_url).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https") && u.path().ends_with("/api/v2")
            });
            if !ok {
                return Err((
                    "pipedrive.base_url",
                    "must be an http(s) URL ending in /api/v2 (API v2 only)".into(),
                ));
            }
        } else if self.company_domain.is_empty()
            || !self
                .company_domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err((
                "pipedrive.company_domain",
                "must be letters, digits and '-' (the company's subdomain)".into(),
            ));
        }
        if self.activity_type.is_empty() {
            return Err(("pipedrive.activity_type", "must not be empty".into()));
        }
        if self.request_timeout_ms == 0 || self.burst_per_2s == 0 {
            return Err((
                "pipedrive.burst_per_2s",
                "request_timeout_ms and burst_per_2s must be above 0".into(),
            ));
        }
        Ok(())
    }
}
