#![doc = include_str!("../README.md")]

pub mod gist;
mod login;
pub mod rate;
mod repo_name;
mod topic;
pub mod view;
pub mod wire;

pub use login::Login;
pub use repo_name::RepoFullName;
pub use topic::Topic;
pub use view::{VIEW_SIZE, ViewItem, ViewKind};

/// Why a value from outside was refused. The message is safe to show a client:
/// it says what the rule is, never echoes secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {reason}")]
pub struct ParseError {
    pub what: &'static str,
    pub reason: String,
}

impl ParseError {
    pub(crate) fn new(what: &'static str, reason: impl Into<String>) -> Self {
        Self {
            what,
            reason: reason.into(),
        }
    }
}
