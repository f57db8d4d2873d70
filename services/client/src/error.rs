use std::time::Duration;

use reqwest::StatusCode;

/// Every failure names its call (`POST /update_cache`), never the host's
/// credentials: the admin token travels in a header only.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("building the HTTP client: {0}")]
    Build(String),
    #[error("{call}: {reason}")]
    Transport { call: String, reason: String },
    #[error("{call}: {status}{}", body_suffix(.body))]
    Status {
        call: String,
        status: StatusCode,
        /// `error.code` of the API's JSON error body, when it had one.
        code: Option<String>,
        /// The body, shortened.
        body: String,
    },
    #[error("{call}: unexpected reply: {reason}")]
    Decode { call: String, reason: String },
    #[error("{call}: not done within {within:?} (last: {last})")]
    Timeout {
        call: String,
        within: Duration,
        last: String,
    },
    #[error("{call}: this client has no admin token")]
    NoAdminToken { call: String },
}

fn body_suffix(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(" {body}")
    }
}

impl ClientError {
    /// The HTTP status, when the API answered with an error.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// `error.code` of a JSON error body (`unauthorized`, `unavailable`, …):
    /// present only when the reply was the API's (or nginx's) JSON error.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            Self::Status { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// Worth trying again: nothing answered, or the API or nginx in front of
    /// it is down, overloaded or restarting. A 4xx such as 401 is not.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport { .. } | Self::Timeout { .. } => true,
            Self::Status { status, .. } => is_transient(*status),
            Self::Build(_) | Self::Decode { .. } | Self::NoAdminToken { .. } => false,
        }
    }
}

pub(crate) fn is_transient(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
}

/// The error and its causes in one line ("connection refused" sits in the
/// source chain), with the URL left out: the error names the call.
pub(crate) fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    if let Some(url) = err.url() {
        text = text.replace(&format!(" for url ({url})"), "");
    }
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

pub(crate) fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_are_transient_and_refusals_are_not() {
        for code in [500, 502, 503, 504, 429, 408] {
            assert!(is_transient(StatusCode::from_u16(code).unwrap()), "{code}");
        }
        for code in [400, 401, 403, 404, 405] {
            assert!(!is_transient(StatusCode::from_u16(code).unwrap()), "{code}");
        }
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate("héllo", 2), "hé");
        assert_eq!(truncate("hi", 10), "hi");
    }
}
