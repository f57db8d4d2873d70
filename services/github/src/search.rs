//! `GET /search/repositories` queries.

use chrono::{DateTime, SecondsFormat, Utc};
use hubpulse_domain::Topic;

/// `q=topic:NAME [created:A..B]`, with paging and order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    pub topic: Topic,
    /// Inclusive at both ends, as GitHub's `created:A..B` is. Splitting a
    /// topic into such windows is how a crawl gets past GitHub's 1,000-result
    /// cap on one query.
    pub created: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// 1 to 100; out-of-range values are clamped.
    pub per_page: u8,
    pub sort: Option<SearchSort>,
    pub order: Option<SortOrder>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchSort {
    Stars,
    Forks,
    HelpWantedIssues,
    Updated,
}

impl SearchSort {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stars => "stars",
            Self::Forks => "forks",
            Self::HelpWantedIssues => "help-wanted-issues",
            Self::Updated => "updated",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    Asc,
    Desc,
}

impl SortOrder {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Asc => "asc",
            Self::Desc => "desc",
        }
    }
}

impl SearchQuery {
    pub const MAX_PER_PAGE: u8 = 100;

    /// All of a topic, 100 per page, in GitHub's default order.
    pub fn topic(topic: Topic) -> Self {
        Self {
            topic,
            created: None,
            per_page: Self::MAX_PER_PAGE,
            sort: None,
            order: None,
        }
    }

    pub fn created_between(mut self, from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        self.created = Some((from, to));
        self
    }

    /// The `q` parameter before encoding.
    pub fn q(&self) -> String {
        let mut q = format!("topic:{}", self.topic);
        if let Some((a, b)) = self.created {
            // A reversed range would silently match nothing.
            let (from, to) = if a <= b { (a, b) } else { (b, a) };
            q.push_str(&format!(
                " created:{}..{}",
                from.to_rfc3339_opts(SecondsFormat::Secs, true),
                to.to_rfc3339_opts(SecondsFormat::Secs, true)
            ));
        }
        q
    }

    /// Query pairs in the order they are sent.
    pub(crate) fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![
            ("q", self.q()),
            (
                "per_page",
                self.per_page.clamp(1, Self::MAX_PER_PAGE).to_string(),
            ),
        ];
        if let Some(sort) = self.sort {
            pairs.push(("sort", sort.as_str().to_owned()));
        }
        if let Some(order) = self.order {
            pairs.push(("order", order.as_str().to_owned()));
        }
        pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic() -> Topic {
        Topic::parse("kubernetes").unwrap()
    }

    #[test]
    fn renders_a_created_window_in_githubs_range_syntax() {
        let from = DateTime::parse_from_rfc3339("2020-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let to = DateTime::parse_from_rfc3339("2020-06-30T23:59:59Z")
            .unwrap()
            .to_utc();
        let q = SearchQuery::topic(topic()).created_between(from, to);
        assert_eq!(
            q.q(),
            "topic:kubernetes created:2020-01-01T00:00:00Z..2020-06-30T23:59:59Z"
        );
        assert_eq!(
            SearchQuery::topic(topic()).created_between(to, from).q(),
            q.q(),
            "a reversed window is put right"
        );
    }

    #[test]
    fn per_page_is_clamped_and_sort_is_optional() {
        let mut q = SearchQuery::topic(topic());
        q.per_page = 0;
        q.sort = Some(SearchSort::Stars);
        q.order = Some(SortOrder::Desc);
        let pairs = q.pairs();
        assert_eq!(pairs[1], ("per_page", "1".to_owned()));
        assert_eq!(pairs[2], ("sort", "stars".to_owned()));
        assert_eq!(pairs[3], ("order", "desc".to_owned()));
        q.per_page = 250;
        assert_eq!(q.pairs()[1].1, "100");
    }
}
