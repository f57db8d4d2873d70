#![doc = include_str!("../README.md")]

mod client;
mod encode;
mod error;
pub mod headers;
pub mod link;
mod metrics;
mod search;
mod settings;

pub use client::{API_VERSION, GithubClient, Page, token_id};
pub use encode::{path_segment, query_value};
pub use error::GithubError;
pub use hubpulse_domain::rate::{RateBudget, RateObservation, Resource};
pub use metrics::{GithubMetrics, endpoint_template};
pub use search::{SearchQuery, SearchSort, SortOrder};
pub use settings::GithubSettings;
pub use url::Url;
