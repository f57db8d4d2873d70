#![doc = include_str!("../README.md")]

mod call;
mod client;
mod credential;
mod encode;
mod error;
pub mod headers;
pub mod link;
mod metrics;
pub mod operations;
mod quota;
mod revoke;
mod search;
mod settings;
pub mod walker;

pub use client::{GithubClient, Moved, Page, PostBody};
pub use credential::{Credential, UserToken, token_id};
pub use encode::{path_segment, query_value};
pub use error::{Disposition, GithubError};
pub use hubpulse_domain::rate::{RateBudget, RateObservation, Resource};
pub use metrics::GithubMetrics;
pub use operations::{Operation, label_of};
pub use search::{SearchQuery, SearchSort, SortOrder};
pub use settings::{ApiVersion, GithubSettings};
pub use url::Url;
pub use walker::{
    FreshPage, PageKey, PageMemory, PageRecord, Remembered, UnchangedPage, WalkError, WalkPage,
    Walker,
};
