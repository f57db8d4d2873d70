//! URL pieces built from user input. Every endpoint builder goes through
//! [`endpoint`], so a login like `shipit[bot]` becomes `shipit%5Bbot%5D`
//! and no input can add a path segment, a query or a fragment.

use std::borrow::Cow;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use url::Url;

use crate::GithubError;

/// RFC 3986 unreserved characters stay; everything else is encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// For query values: as [`SEGMENT`], but `:` stays readable (`topic:rust`,
/// `created:A..B`), as GitHub's own links write it.
const QUERY_VALUE: &AsciiSet = &SEGMENT.remove(b':');

pub fn path_segment(raw: &str) -> Cow<'_, str> {
    utf8_percent_encode(raw, SEGMENT).into()
}

/// A query value with spaces as `+`; a literal `+` is `%2B`, so the two never mix.
pub fn query_value(raw: &str) -> String {
    utf8_percent_encode(raw, QUERY_VALUE)
        .to_string()
        .replace("%20", "+")
}

/// `base` with `segments` appended to its path, each one encoded. Empty,
/// `.` and `..` segments are refused: URL parsers collapse them (encoded or
/// not), which would point the request somewhere else.
pub fn endpoint(base: &Url, segments: &[&str]) -> Result<Url, GithubError> {
    let mut path = base.path().trim_end_matches('/').to_owned();
    for segment in segments {
        if segment.is_empty() || *segment == "." || *segment == ".." {
            return Err(GithubError::Url(format!(
                "a path segment may not be empty, . or .. (got {segment:?})"
            )));
        }
        path.push('/');
        path.push_str(&path_segment(segment));
    }
    let mut url = base.clone();
    url.set_path(&path);
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

/// Sets `url`'s query to `pairs`, each value through [`query_value`].
pub fn set_query(url: &mut Url, pairs: &[(&str, &str)]) {
    let query = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", query_value(k), query_value(v)))
        .collect::<Vec<_>>()
        .join("&");
    url.set_query((!query.is_empty()).then_some(query.as_str()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn base(raw: &str) -> Url {
        Url::parse(raw).unwrap()
    }

    #[test]
    fn encodes_what_is_not_unreserved() {
        assert_eq!(path_segment("shipit[bot]"), "shipit%5Bbot%5D");
        assert_eq!(path_segment("a/b?c#d e%"), "a%2Fb%3Fc%23d%20e%25");
        assert_eq!(path_segment("ok-name_1.2~x"), "ok-name_1.2~x");
        assert_eq!(path_segment("ü"), "%C3%BC");
    }

    #[test]
    fn query_values_keep_colons_and_ranges_readable() {
        assert_eq!(
            query_value("topic:rust created:2020-01-01T00:00:00Z..2020-12-31T23:59:59Z"),
            "topic:rust+created:2020-01-01T00:00:00Z..2020-12-31T23:59:59Z"
        );
        assert_eq!(query_value("a+b&c=d"), "a%2Bb%26c%3Dd");
    }

    #[test]
    fn endpoints_append_to_the_base_path() {
        let url = endpoint(&base("https://api.github.com"), &["users", "shipit[bot]"]).unwrap();
        assert_eq!(url.as_str(), "https://api.github.com/users/shipit%5Bbot%5D");
        // GitHub Enterprise lives under /api/v3.
        let url = endpoint(&base("https://ghe.example/api/v3/"), &["repos", "o", "r"]).unwrap();
        assert_eq!(url.as_str(), "https://ghe.example/api/v3/repos/o/r");
    }

    #[test]
    fn dot_segments_and_empty_ones_are_refused() {
        let base = base("https://api.github.com");
        for bad in ["", ".", ".."] {
            assert!(endpoint(&base, &["users", bad]).is_err());
        }
    }

    proptest! {
        #[test]
        fn a_segment_stays_one_segment_and_decodes_back(raw in "\\PC{1,40}") {
            prop_assume!(raw != "." && raw != "..");
            let url = endpoint(&base("http://h/api"), &["x", &raw]).unwrap();
            let segments: Vec<&str> = url.path_segments().unwrap().collect();
            prop_assert_eq!(segments.len(), 3);
            prop_assert!(url.query().is_none() && url.fragment().is_none());
            let decoded = percent_encoding::percent_decode_str(segments[2]).decode_utf8().unwrap();
            prop_assert_eq!(decoded, raw.as_str());
        }
    }
}
