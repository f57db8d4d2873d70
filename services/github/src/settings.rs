use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The `[github]` section.
#[derive(Debug, Clone, Deserialize)]
pub struct GithubSettings {
    /// `https://api.github.com`, or the simulator's address.
    pub base_url: String,
    /// Personal access or app token; empty means unauthenticated (GitHub's lower limits).
    pub token: SecretString,
    pub user_agent: String,
    pub request_timeout_ms: u64,
}

impl GithubSettings {
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return Err((
                "github.base_url",
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
        Ok(())
    }

    pub fn token(&self) -> Option<&str> {
        let token = self.token.expose_secret();
        (!token.is_empty()).then_some(token)
    }
}
