//! Paging a list: `per_page` and `page` in, GitHub's `Link` header out.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::areas::ALIAS;
use crate::reply::Call;
use crate::state::SimState;

/// `per_page` (default 30, at most 100) and `page` (from 1); GitHub reads a
/// bad number as the default rather than failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub per_page: usize,
    pub page: usize,
}

impl Paging {
    pub fn new(per_page: Option<&str>, page: Option<&str>) -> Self {
        Paging {
            per_page: number(per_page, 30).min(100),
            page: number(page, 1),
        }
    }

    pub fn last_page(&self, total: usize) -> usize {
        total.div_ceil(self.per_page).max(1)
    }

    /// This page's share of `items` (empty past the end).
    pub fn window<'a, T>(&self, items: &'a [T]) -> &'a [T] {
        let start = (self.page - 1).saturating_mul(self.per_page);
        let end = start.saturating_add(self.per_page).min(items.len());
        items.get(start..end).unwrap_or_default()
    }
}

pub fn number(raw: Option<&str>, default: usize) -> usize {
    raw.and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// Everything but unreserved characters, so `:` `..` and spaces survive a round trip.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The `Link` header of one page of a list.
#[derive(Debug, Clone)]
pub struct Links {
    /// Where the URLs point, without the alias: GitHub switches to id paths
    /// such as `/user/{id}/repos` here.
    pub path: String,
    /// URLs under the other alias than the request's (`/` ↔ `/api/v3`), so
    /// only a client that follows them as given gets through; else the
    /// request's alias.
    pub other_alias: bool,
    /// Parameters before `per_page` and `page`, in order, not yet encoded.
    pub query: Vec<(&'static str, String)>,
    pub paging: Paging,
    pub last_page: usize,
}

impl Links {
    pub(crate) fn header(&self, state: &SimState, call: &Call) -> Option<String> {
        let under_alias = (call.prefix() == ALIAS) != self.other_alias;
        let prefix = if under_alias { ALIAS } else { "" };
        let cycle = state.controls.cycle(&[&call.path, &self.path]);
        let next_instead = cycle.and_then(|c| {
            (self.paging.page == c.at_page.unwrap_or(self.last_page)).then_some(c.to_page)
        });
        link_header(
            &format!("{}{prefix}{}", state.public_url, self.path),
            &self.query,
            self.paging.per_page,
            self.paging.page,
            self.last_page,
            next_instead,
        )
    }
}

/// GitHub's `Link`: absolute URLs, no next/last on the last page, no
/// prev/first on the first; `next_instead` replaces (or adds) `next`. The
/// rel order changes from page to page, so only a parser that reads rels
/// gets through.
pub fn link_header(
    url_path: &str,
    query: &[(&str, String)],
    per_page: usize,
    page: usize,
    last_page: usize,
    next_instead: Option<usize>,
) -> Option<String> {
    let url = |page: usize| {
        let mut url = format!("{url_path}?");
        for (key, value) in query {
            url.push_str(&format!(
                "{key}={}&",
                utf8_percent_encode(value, QUERY_VALUE)
            ));
        }
        url.push_str(&format!("per_page={per_page}&page={page}"));
        url
    };
    let mut rels = Vec::new();
    let next = next_instead.or((page < last_page).then_some(page + 1));
    if let Some(next) = next {
        rels.push(format!("<{}>; rel=\"next\"", url(next)));
    }
    if page < last_page {
        rels.push(format!("<{}>; rel=\"last\"", url(last_page)));
    }
    if page > 1 {
        rels.push(format!(
            "<{}>; rel=\"prev\"",
            url((page - 1).min(last_page))
        ));
        rels.push(format!("<{}>; rel=\"first\"", url(1)));
    }
    if rels.is_empty() {
        return None;
    }
    let turn = page % rels.len();
    rels.rotate_left(turn);
    Some(rels.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_rels_follow_the_page() {
        let q = |s: &str| vec![("q", s.to_owned())];
        let first = link_header(
            "http://h/api/v3/search/repositories",
            &q("topic:a b"),
            100,
            1,
            3,
            None,
        )
        .unwrap();
        assert!(first.contains("rel=\"next\"") && first.contains("rel=\"last\""));
        assert!(!first.contains("rel=\"prev\""));
        assert!(
            first.contains(
                "http://h/api/v3/search/repositories?q=topic%3Aa%20b&per_page=100&page=2"
            )
        );
        let last = link_header(
            "http://h/search/repositories",
            &q("topic:a"),
            100,
            3,
            3,
            None,
        )
        .unwrap();
        assert!(!last.contains("rel=\"next\"") && !last.contains("rel=\"last\""));
        assert!(last.contains(
            "<http://h/search/repositories?q=topic%3Aa&per_page=100&page=2>; rel=\"prev\""
        ));
        assert!(link_header("http://h/s", &q("topic:a"), 100, 1, 1, None).is_none());
        let middle_a = link_header("http://h/x", &[], 10, 2, 5, None).unwrap();
        let middle_b = link_header("http://h/x", &[], 10, 3, 5, None).unwrap();
        let first_rel = |s: &str| {
            s.split(", ")
                .next()
                .unwrap()
                .rsplit("rel=")
                .next()
                .unwrap()
                .to_owned()
        };
        assert_ne!(
            first_rel(&middle_a),
            first_rel(&middle_b),
            "rel order varies"
        );
        assert!(middle_a.contains("<http://h/x?per_page=10&page=3>; rel=\"next\""));
        // A cycle: the last page links back to the first.
        let cycled = link_header("http://h/x", &[], 10, 5, 5, Some(1)).unwrap();
        assert!(cycled.contains("<http://h/x?per_page=10&page=1>; rel=\"next\""));
        assert!(!cycled.contains("rel=\"last\""));
    }

    #[test]
    fn paging_reads_github_numbers() {
        let p = Paging::new(Some("500"), Some("x"));
        assert_eq!((p.per_page, p.page), (100, 1));
        let p = Paging::new(Some("2"), Some("3"));
        assert_eq!(p.window(&[1, 2, 3, 4, 5]), &[5]);
        assert!(Paging::new(Some("2"), Some("9")).window(&[1, 2]).is_empty());
        assert_eq!(p.last_page(0), 1);
        assert_eq!(p.last_page(5), 3);
    }
}
