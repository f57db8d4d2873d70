//! The `Link` header parser under proptest, from outside the crate, as the
//! client meets it: any string or header bytes never panic and an error
//! points inside its input; GitHub's own layout, in any order, spacing and
//! case, yields the right `next`; every rendered list parses back to itself
//! whatever its targets hold (commas, semicolons, quotes, Unicode); and each
//! known-bad class is refused rather than half-read.

use http::HeaderMap;
use http::header::{HeaderValue, LINK};
use hubpulse_github::link::{LinkValue, find_rel, parse, render};
use hubpulse_github::query_value;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        ..ProptestConfig::default()
    }
}

/// Anything a server could put in the header, and things shaped like it.
fn any_value() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(any::<char>(), 0..160).prop_map(|c| c.into_iter().collect()),
        r#"[<>;,="\\ \ta-zA-Z0-9:/.?&%=-]{0,160}"#,
        // Well-formed lists with one byte removed or doubled.
        (
            proptest::collection::vec(arb_link(), 1..4),
            any::<usize>(),
            any::<bool>()
        )
            .prop_map(|(links, at, drop)| {
                let mut s = render(&links).into_bytes();
                let at = at % s.len().max(1);
                if !s.is_empty() {
                    if drop {
                        s.remove(at);
                    } else {
                        s.insert(at, s[at]);
                    }
                }
                String::from_utf8_lossy(&s).into_owned()
            }),
    ]
}

/// A link whose target holds anything but `>` (which ends it), and whose
/// rels are lowercase words (the parser lowercases them).
fn arb_link() -> impl Strategy<Value = LinkValue> {
    (
        "[^>]{0,60}",
        proptest::collection::vec("[^\\sA-Z]{1,12}", 0..4),
    )
        .prop_map(|(target, rels)| LinkValue { target, rels })
}

const RELS: [&str; 4] = ["next", "last", "first", "prev"];

/// A GitHub search page URL whose query carries `q` encoded as the client does.
fn page_url(q: &str, page: u32) -> String {
    format!(
        "https://api.github.com/search/repositories?q={}&per_page=100&page={page}",
        query_value(q)
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn never_panics_and_errors_point_inside_the_input(raw in any_value()) {
        match parse(&raw) {
            Ok(links) => {
                // What was accepted is stable: rendered and read again, it is the same.
                prop_assert_eq!(parse(&render(&links)).unwrap(), links);
            }
            Err(err) => {
                prop_assert!(err.at <= raw.len(), "{err} past the end of {raw:?}");
                prop_assert!(!err.to_string().is_empty());
            }
        }
    }

    #[test]
    fn header_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(value) = HeaderValue::from_bytes(&bytes) {
            let mut headers = HeaderMap::new();
            headers.append(LINK, value);
            // Either a target or a clean error; opaque bytes are an error.
            let found = find_rel(&headers, "next");
            if bytes.iter().any(|b| !(0x20..0x7f).contains(b) && *b != b'\t') {
                prop_assert!(found.is_err(), "{bytes:?}: {found:?}");
            }
        }
    }

    #[test]
    fn githubs_layout_in_any_order_spacing_and_case_finds_next(
        q in "\\PC{0,40}",
        pages in proptest::sample::subsequence(RELS.to_vec(), 1..=4),
        order in any::<u64>(),
        pad in "[ \t]{0,2}",
        upper in any::<bool>(),
    ) {
        let mut parts: Vec<(String, &str)> = pages
            .iter()
            .enumerate()
            .map(|(n, rel)| (page_url(&q, n as u32 + 2), *rel))
            .collect();
        // A fixed shuffle from the drawn number: the order must not matter.
        let len = parts.len();
        for i in (1..len).rev() {
            parts.swap(i, (order as usize / (i + 1)) % (i + 1));
        }
        let raw = parts
            .iter()
            .map(|(url, rel)| {
                let rel = if upper { rel.to_uppercase() } else { (*rel).to_owned() };
                format!("<{url}>{pad};{pad}rel{pad}={pad}\"{rel}\"")
            })
            .collect::<Vec<_>>()
            .join(&format!("{pad},{pad}"));
        let links = parse(&raw).unwrap();
        prop_assert_eq!(links.len(), parts.len());
        let mut headers = HeaderMap::new();
        headers.append(LINK, HeaderValue::from_str(&raw).unwrap());
        let expected = parts.iter().find(|(_, rel)| *rel == "next").map(|(url, _)| url.clone());
        prop_assert_eq!(find_rel(&headers, "next").unwrap(), expected);
        for (url, rel) in &parts {
            let link = links.iter().find(|l| &l.target == url).unwrap();
            prop_assert!(link.has_rel(rel));
        }
    }

    #[test]
    fn rendered_lists_parse_back_to_themselves(links in proptest::collection::vec(arb_link(), 0..6)) {
        let rendered = render(&links);
        prop_assert_eq!(parse(&rendered).unwrap(), links);
    }

    #[test]
    fn known_bad_classes_are_refused(
        links in proptest::collection::vec(arb_link(), 1..4),
        junk in "[a-zA-Z0-9]{1,8}",
    ) {
        let good = render(&links);
        let unterminated_target = format!("{good}, <{junk}");
        let no_brackets = format!("{junk}; rel=\"next\"");
        let unterminated_quote = format!("{good}, <{junk}>; rel=\"next");
        let junk_between = format!("{good} <{junk}>");
        let junk_after_target = format!("<{junk}> {junk}; rel=next");
        let parameter_without_name = format!("<{junk}>; =next");
        for bad in [
            unterminated_target,
            no_brackets,
            unterminated_quote,
            junk_between,
            junk_after_target,
            parameter_without_name,
        ] {
            prop_assert!(parse(&bad).is_err(), "{bad:?} accepted");
        }
    }
}
