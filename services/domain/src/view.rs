//! What a view is: one of three orderings of a topic's repositories, at most
//! [`VIEW_SIZE`] items of [`ViewItem`]. The crawl builds views, the store
//! sorts and keeps them, the cache holds them and the API serves them; all
//! take the kinds, their names and the size from here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Items per view: what each view route serves at most.
pub const VIEW_SIZE: usize = 500;

/// The orderings of a topic's repositories that are served as views. Every
/// order breaks ties by repository id, so a view is stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ViewKind {
    /// `/api/{topic}`: by full name (owner login, then name), case-insensitively.
    ByName,
    /// `/api/popularity/{topic}`: by stars, most first.
    Popularity,
    /// `/api/activity/{topic}`: by last push, most recent first; never-pushed last.
    Activity,
}

impl ViewKind {
    pub const ALL: [ViewKind; 3] = [Self::ByName, Self::Popularity, Self::Activity];

    /// The view's name in Redis keys, `topic_views.kind`, logs and metrics;
    /// stored, so never renamed.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ByName => "name",
            Self::Popularity => "popularity",
            Self::Activity => "activity",
        }
    }

    /// The API path that serves the view, up to the topic:
    /// `format!("{}{topic}", kind.route_prefix())`.
    pub fn route_prefix(self) -> &'static str {
        match self {
            Self::ByName => "/api/",
            Self::Popularity => "/api/popularity/",
            Self::Activity => "/api/activity/",
        }
    }

    /// The route that serves the view, as the router registers it and the
    /// request metrics label it.
    pub fn route_template(self) -> &'static str {
        match self {
            Self::ByName => "/api/{topic}",
            Self::Popularity => "/api/popularity/{topic}",
            Self::Activity => "/api/activity/{topic}",
        }
    }
}

/// One repository as the views serve it; every field is always present
/// (`null` when GitHub has no value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewItem {
    pub id: i64,
    pub name: String,
    pub full_name: String,
    pub owner: String,
    pub html_url: String,
    pub description: Option<String>,
    pub homepage: Option<String>,
    pub language: Option<String>,
    /// The license's SPDX id.
    pub license: Option<String>,
    pub stargazers_count: i64,
    pub forks_count: i64,
    pub open_issues_count: i64,
    pub archived: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub pushed_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_and_match_what_is_stored() {
        let names: Vec<&str> = ViewKind::ALL.iter().map(|k| k.as_str()).collect();
        // topic_views.kind's CHECK constraint and the Redis keys use these.
        assert_eq!(names, ["name", "popularity", "activity"]);
    }
}
