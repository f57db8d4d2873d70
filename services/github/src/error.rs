use chrono::{DateTime, Utc};
use http::StatusCode;
use hubpulse_domain::rate::Resource;

/// Everything a GitHub call can end in but a page. Derived from the status
/// where there is one; messages carry GitHub's own words (trimmed) and never
/// a token, a header or a body.
#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    #[error("GitHub refused the credentials (401): the token is invalid, expired or revoked")]
    Unauthorized,
    #[error("GitHub refused access (403): {message}")]
    Forbidden { message: String },
    #[error("not found on GitHub (404)")]
    NotFound,
    #[error("gone from GitHub (410)")]
    Gone,
    /// GitHub's answer to a search it will not run (past the 1,000th result,
    /// or a query it cannot parse).
    #[error("GitHub could not process the request (422): {message}")]
    Unprocessable { message: String },
    /// Any other status GitHub should not send to a GET, or a redirect that
    /// could not be followed.
    #[error("GitHub answered {status}: {message}")]
    Status { status: u16, message: String },
    #[error("GitHub failed with {status} on each of {attempts} attempts")]
    Server { status: u16, attempts: u32 },
    /// Not a failure: wait until `until`, then ask again. `secondary` is true
    /// for GitHub's anti-abuse limits, which are not part of the quota.
    #[error("rate limited by GitHub on {resource} until {until}{}", if *secondary { " (secondary limit)" } else { "" })]
    RateLimited {
        resource: Resource,
        until: DateTime<Utc>,
        secondary: bool,
    },
    /// Not a failure: the budget shared by every replica has no unit left
    /// above its reserve. GitHub was not called.
    #[error("the shared rate budget for {resource} is spent until {until}")]
    BudgetExhausted {
        resource: Resource,
        until: DateTime<Utc>,
    },
    #[error("GitHub did not answer in time on each of {attempts} attempts")]
    Timeout { attempts: u32 },
    #[error("could not reach GitHub on each of {attempts} attempts: {message}")]
    Transport { message: String, attempts: u32 },
    #[error("GitHub's reply to {endpoint} could not be read: {message}")]
    Decode { endpoint: String, message: String },
    /// A URL this client will not request (another host, a malformed `Link`).
    #[error("refused URL: {0}")]
    Url(String),
    #[error("GitHub client configuration: {0}")]
    Config(String),
}

impl GithubError {
    /// When the job that met this error should run again instead of failing.
    pub fn reschedule_at(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::RateLimited { until, .. } | Self::BudgetExhausted { until, .. } => Some(*until),
            _ => None,
        }
    }

    /// True for failures that may pass by themselves (the job's own retry
    /// with backoff is the right answer), false for ones that will not.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Server { .. } | Self::Timeout { .. } | Self::Transport { .. }
        ) || self.reschedule_at().is_some()
    }

    /// The error for a non-success status that is neither a rate limit nor
    /// a server failure.
    pub(crate) fn from_status(status: StatusCode, message: String) -> Self {
        match status {
            StatusCode::UNAUTHORIZED => Self::Unauthorized,
            StatusCode::FORBIDDEN => Self::Forbidden { message },
            StatusCode::NOT_FOUND => Self::NotFound,
            StatusCode::GONE => Self::Gone,
            StatusCode::UNPROCESSABLE_ENTITY => Self::Unprocessable { message },
            _ => Self::Status {
                status: status.as_u16(),
                message,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_variants() {
        let cases = [
            (401, "Unauthorized"),
            (403, "Forbidden"),
            (404, "NotFound"),
            (410, "Gone"),
            (422, "Unprocessable"),
            (451, "Status"),
        ];
        for (code, variant) in cases {
            let err = GithubError::from_status(StatusCode::from_u16(code).unwrap(), "m".into());
            assert!(format!("{err:?}").starts_with(variant), "{code}: {err:?}");
        }
    }

    #[test]
    fn only_limits_reschedule_and_only_passing_failures_are_transient() {
        let until = Utc::now();
        let limited = GithubError::RateLimited {
            resource: Resource::Search,
            until,
            secondary: true,
        };
        assert_eq!(limited.reschedule_at(), Some(until));
        assert!(limited.to_string().contains("secondary"));
        assert!(GithubError::Timeout { attempts: 4 }.is_transient());
        assert!(!GithubError::NotFound.is_transient());
        assert_eq!(GithubError::Unauthorized.reschedule_at(), None);
    }
}
