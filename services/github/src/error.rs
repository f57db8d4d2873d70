use chrono::{DateTime, Utc};
use http::StatusCode;
use hubpulse_domain::rate::Resource;

/// Everything a GitHub call can end in but a page. Derived from the status
/// where there is one; messages carry GitHub's own words (trimmed) and never
/// a token, a header or a body.
#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    /// A request GitHub will not take as sent: from the OAuth origin, a
    /// device flow that is disabled or a client it does not know.
    #[error("GitHub refused the request (400): {message}")]
    BadRequest { message: String },
    #[error("GitHub refused the credentials (401): the token is invalid, expired or revoked")]
    Unauthorized,
    #[error("GitHub refused access (403): {message}")]
    Forbidden { message: String },
    #[error("not found on GitHub (404)")]
    NotFound,
    #[error("gone from GitHub (410)")]
    Gone,
    /// A 410 naming the API version: GitHub no longer serves the one this
    /// client pins. Nothing works until the setting changes.
    #[error(
        "GitHub no longer serves REST API version {version} (410): set github.api_version to a supported version"
    )]
    ApiVersionRetired { version: &'static str },
    #[error("unavailable for legal reasons (451)")]
    Unavailable,
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
    /// A list whose `Link` headers lead back to a page already walked.
    #[error(
        "the Link next URLs of {endpoint} go round in a circle (back to a page already walked)"
    )]
    LinkCycle { endpoint: &'static str },
    /// A list longer than the walk's cap of pages (an endless list, or a
    /// longer one than the caller will walk).
    #[error("{endpoint} has more than the {pages} pages a walk may read")]
    TooManyPages { endpoint: &'static str, pages: u32 },
    /// A URL this client will not request (another host, a malformed `Link`).
    #[error("refused URL: {0}")]
    Url(String),
    #[error("GitHub client configuration: {0}")]
    Config(String),
}

/// What to do about an error: the one classification every caller uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// May pass by itself (5xx, timeouts, dropped connections, a garbled
    /// reply): try again, after the caller's backoff.
    Retry,
    /// Not a failure: a rate limit or the shared budget. Ask again at this
    /// time; no attempt is spent.
    RescheduleAt(DateTime<Utc>),
    /// Another attempt gets the same answer.
    GiveUp,
}

impl GithubError {
    pub fn disposition(&self) -> Disposition {
        match self {
            Self::RateLimited { until, .. } | Self::BudgetExhausted { until, .. } => {
                Disposition::RescheduleAt(*until)
            }
            Self::Server { .. }
            | Self::Timeout { .. }
            | Self::Transport { .. }
            | Self::Decode { .. }
            // A status GitHub should not send here (a 409, a 400): an
            // outage's odd answer more often than a rule.
            | Self::Status { .. } => Disposition::Retry,
            Self::BadRequest { .. }
            | Self::Unauthorized
            | Self::Forbidden { .. }
            | Self::NotFound
            | Self::Gone
            | Self::ApiVersionRetired { .. }
            | Self::Unavailable
            | Self::Unprocessable { .. }
            | Self::LinkCycle { .. }
            | Self::TooManyPages { .. }
            | Self::Url(_)
            | Self::Config(_) => Disposition::GiveUp,
        }
    }

    /// When the job that met this error should run again instead of failing.
    pub fn reschedule_at(&self) -> Option<DateTime<Utc>> {
        match self.disposition() {
            Disposition::RescheduleAt(at) => Some(at),
            _ => None,
        }
    }

    /// The error for a non-success status that is neither a rate limit nor
    /// a server failure.
    pub(crate) fn from_status(status: StatusCode, message: String) -> Self {
        match status {
            StatusCode::BAD_REQUEST => Self::BadRequest { message },
            StatusCode::UNAUTHORIZED => Self::Unauthorized,
            StatusCode::FORBIDDEN => Self::Forbidden { message },
            StatusCode::NOT_FOUND => Self::NotFound,
            StatusCode::GONE => Self::Gone,
            StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS => Self::Unavailable,
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
            (400, "BadRequest"),
            (401, "Unauthorized"),
            (403, "Forbidden"),
            (404, "NotFound"),
            (410, "Gone"),
            (422, "Unprocessable"),
            (451, "Unavailable"),
            (409, "Status"),
        ];
        for (code, variant) in cases {
            let err = GithubError::from_status(StatusCode::from_u16(code).unwrap(), "m".into());
            assert!(format!("{err:?}").starts_with(variant), "{code}: {err:?}");
        }
    }

    #[test]
    fn only_limits_reschedule_and_only_passing_failures_are_retried() {
        let until = Utc::now();
        let limited = GithubError::RateLimited {
            resource: Resource::Search,
            until,
            secondary: true,
        };
        assert_eq!(limited.reschedule_at(), Some(until));
        assert!(limited.to_string().contains("secondary"));
        assert_eq!(limited.disposition(), Disposition::RescheduleAt(until));
        assert_eq!(
            GithubError::Timeout { attempts: 4 }.disposition(),
            Disposition::Retry
        );
        for permanent in [
            GithubError::NotFound,
            GithubError::Gone,
            GithubError::Unavailable,
            GithubError::ApiVersionRetired {
                version: "2022-11-28",
            },
            GithubError::LinkCycle {
                endpoint: "user/repos",
            },
        ] {
            assert_eq!(permanent.disposition(), Disposition::GiveUp, "{permanent}");
        }
        assert_eq!(GithubError::Unauthorized.reschedule_at(), None);
        let retired = GithubError::ApiVersionRetired {
            version: "2022-11-28",
        };
        assert!(retired.to_string().contains("github.api_version"));
    }
}
