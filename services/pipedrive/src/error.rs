use chrono::{DateTime, Utc};

/// What a caller does about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Try again after a backoff (5xx, timeouts, dropped connections).
    Retry,
    /// Not before then (a 429's reset).
    RescheduleAt(DateTime<Utc>),
    /// Another attempt cannot help (a plan limit, a refused token, a 4xx).
    GiveUp,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum PipedriveError {
    #[error("building the HTTP client: {0}")]
    Build(String),
    /// 429: `x-ratelimit-reset` is seconds from now, not an epoch.
    #[error("rate limited by Pipedrive for {reset_secs} s")]
    RateLimited { reset_secs: u64 },
    /// 403 with a `feature_capping_*` code: a limit of the company's plan.
    #[error("Pipedrive plan limit {code}: {message}")]
    FeatureCapped { code: String, message: String },
    #[error("Pipedrive refused the API token (401)")]
    Unauthorized,
    /// Any other 4xx: the request itself is wrong.
    #[error("Pipedrive refused the request ({status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("Pipedrive answered {status}")]
    Server { status: u16 },
    /// No reply: the request may or may not have reached Pipedrive.
    #[error("no reply from Pipedrive: {0}")]
    Transport(String),
    #[error("an unexpected reply from Pipedrive: {0}")]
    Decode(String),
}

impl PipedriveError {
    pub fn disposition(&self) -> Disposition {
        match self {
            Self::RateLimited { reset_secs } => Disposition::RescheduleAt(
                Utc::now() + chrono::Duration::seconds((*reset_secs).max(1) as i64),
            ),
            Self::Server { .. } | Self::Transport(_) | Self::Decode(_) => Disposition::Retry,
            Self::Build(_)
            | Self::FeatureCapped { .. }
            | Self::Unauthorized
            | Self::Rejected { .. } => Disposition::GiveUp,
        }
    }

    /// Whether a POST that failed this way may still have created the
    /// object: only a reply that says it did not rules it out.
    pub fn outcome_unknown(&self) -> bool {
        matches!(
            self,
            Self::Server { .. } | Self::Transport(_) | Self::Decode(_)
        )
    }
}
