//! The `Link` header (RFC 8288) as GitHub and others write it:
//! `<https://api.github.com/...&page=2>; rel="next", <...>; rel="last"`.
//!
//! Nothing about its layout is assumed: rels come in any order, several may
//! share one quoted value (`rel="next last"`), whitespace may appear around
//! every separator, parameters other than `rel` may come before or after it,
//! and a header may be split over several lines. Targets are taken as
//! written between `<` and `>`, so a comma inside one never splits it.

use std::fmt::Write as _;

use http::HeaderMap;
use http::header::LINK;

/// One `<target>; rel="..."` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkValue {
    /// The URI reference exactly as written (resolve it against the URL of
    /// the reply that carried it).
    pub target: String,
    /// Relation types, lowercased (they are case-insensitive).
    pub rels: Vec<String>,
}

impl LinkValue {
    pub fn has_rel(&self, rel: &str) -> bool {
        self.rels.iter().any(|r| r.eq_ignore_ascii_case(rel))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed Link header at byte {at}: {what}")]
pub struct LinkError {
    pub at: usize,
    pub what: &'static str,
}

/// Parses one header value; an empty value is an empty list.
pub fn parse(value: &str) -> Result<Vec<LinkValue>, LinkError> {
    Parser {
        s: value.as_bytes(),
        i: 0,
    }
    .links()
}

/// The target of the first link with relation `rel`, over every `Link`
/// line of `headers`.
pub fn find_rel(headers: &HeaderMap, rel: &str) -> Result<Option<String>, LinkError> {
    for line in headers.get_all(LINK) {
        let line = line.to_str().map_err(|_| LinkError {
            at: 0,
            what: "not visible ASCII",
        })?;
        if let Some(link) = parse(line)?.into_iter().find(|l| l.has_rel(rel)) {
            return Ok(Some(link.target));
        }
    }
    Ok(None)
}

/// Writes links back out in the canonical form `parse` reads.
pub fn render(links: &[LinkValue]) -> String {
    let mut out = String::new();
    for (n, link) in links.iter().enumerate() {
        if n > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "<{}>", link.target);
        if !link.rels.is_empty() {
            out.push_str("; rel=\"");
            for (k, rel) in link.rels.iter().enumerate() {
                if k > 0 {
                    out.push(' ');
                }
                for c in rel.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
            }
            out.push('"');
        }
    }
    out
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn err<T>(&self, what: &'static str) -> Result<T, LinkError> {
        Err(LinkError { at: self.i, what })
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn links(mut self) -> Result<Vec<LinkValue>, LinkError> {
        let mut out = Vec::new();
        loop {
            // HTTP lists allow empty elements: `, ,<a>; rel=next`.
            while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
                self.i += 1;
            }
            if self.peek().is_none() {
                return Ok(out);
            }
            out.push(self.link()?);
            self.skip_ws();
            match self.peek() {
                None => return Ok(out),
                Some(b',') => self.i += 1,
                Some(_) => return self.err("expected , between links"),
            }
        }
    }

    fn link(&mut self) -> Result<LinkValue, LinkError> {
        if self.peek() != Some(b'<') {
            return self.err("expected <");
        }
        self.i += 1;
        let start = self.i;
        let Some(len) = self.s[start..].iter().position(|&b| b == b'>') else {
            return self.err("unterminated <");
        };
        self.i = start + len + 1;
        let target = String::from_utf8_lossy(&self.s[start..start + len]).into_owned();
        let mut rels: Option<Vec<String>> = None;
        loop {
            self.skip_ws();
            if self.peek() != Some(b';') {
                break;
            }
            self.i += 1;
            self.skip_ws();
            // `<a>;` and `<a>; ;rel=next` carry empty parameters: skip them.
            if matches!(self.peek(), None | Some(b',' | b';')) {
                continue;
            }
            let name = self.token()?;
            self.skip_ws();
            let value = if self.peek() == Some(b'=') {
                self.i += 1;
                self.skip_ws();
                Some(if self.peek() == Some(b'"') {
                    self.quoted()?
                } else {
                    self.token()?
                })
            } else {
                None
            };
            // RFC 8288 §3.3: only the first `rel` counts.
            if rels.is_none() && name.eq_ignore_ascii_case("rel") {
                rels = Some(
                    value
                        .unwrap_or_default()
                        .split_ascii_whitespace()
                        .map(str::to_ascii_lowercase)
                        .collect(),
                );
            }
        }
        Ok(LinkValue {
            target,
            rels: rels.unwrap_or_default(),
        })
    }

    fn token(&mut self) -> Result<String, LinkError> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        if self.i == start {
            return self.err("expected a token");
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn quoted(&mut self) -> Result<String, LinkError> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return self.err("unterminated quoted string"),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(String::from_utf8_lossy(&out).into_owned());
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(b) => out.push(b),
                        None => return self.err("unterminated quoted string"),
                    }
                    self.i += 1;
                }
                Some(b) => {
                    out.push(b);
                    self.i += 1;
                }
            }
        }
    }
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn next_of(raw: &str) -> Option<String> {
        parse(raw)
            .unwrap()
            .into_iter()
            .find(|l| l.has_rel("next"))
            .map(|l| l.target)
    }

    #[test]
    fn reads_githubs_own_layout() {
        let raw = r#"<https://api.github.com/search/repositories?q=topic%3Arust&page=2>; rel="next", <https://api.github.com/search/repositories?q=topic%3Arust&page=10>; rel="last""#;
        let links = parse(raw).unwrap();
        assert_eq!(links.len(), 2);
        assert_eq!(
            next_of(raw).unwrap(),
            "https://api.github.com/search/repositories?q=topic%3Arust&page=2"
        );
        assert_eq!(links[1].rels, ["last"]);
    }

    #[test]
    fn rel_order_whitespace_case_and_shared_values_do_not_matter() {
        for raw in [
            r#"<http://x/last>; rel="last", <http://x/n>; rel="next""#,
            r#"<http://x/n>;rel="next last""#,
            r#"<http://x/n> ; REL = "last   next" , <http://x/p>;rel=prev"#,
            "\t<http://x/n>\t;\trel=next\t",
            r#"<http://x/n>; title="a, b; c"; rel="next""#,
            r#"<http://x/n>; rel="NEXT"; rel="prev""#,
            r#", ,<http://x/n>; ; rel=next,"#,
        ] {
            assert_eq!(next_of(raw).as_deref(), Some("http://x/n"), "{raw}");
        }
    }

    #[test]
    fn only_the_first_rel_counts_and_a_link_may_have_none() {
        assert_eq!(next_of(r#"<http://x/a>; rel="prev"; rel="next""#), None);
        let links = parse("<http://x/a>").unwrap();
        assert!(links[0].rels.is_empty());
        assert_eq!(parse("").unwrap(), []);
    }

    #[test]
    fn commas_inside_targets_do_not_split_them() {
        let raw = r#"<http://x/s?q=a,b&page=2>; rel="next""#;
        assert_eq!(next_of(raw).as_deref(), Some("http://x/s?q=a,b&page=2"));
    }

    #[test]
    fn refuses_what_is_not_a_link_list() {
        for raw in [
            "http://x/n; rel=next",
            "<http://x/n; rel=next",
            r#"<http://x/n>; rel="next"#,
            "<http://x/n> rel=next",
            "<http://x/n>; =next",
            r#"<http://x/n>; rel="next" <http://x/p>"#,
        ] {
            assert!(parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn finds_next_across_several_header_lines() {
        let mut headers = HeaderMap::new();
        headers.append(LINK, r#"<http://x/last>; rel="last""#.parse().unwrap());
        headers.append("link", r#"<http://x/n>; rel="next""#.parse().unwrap());
        assert_eq!(
            find_rel(&headers, "next").unwrap().as_deref(),
            Some("http://x/n")
        );
        assert_eq!(find_rel(&headers, "prev").unwrap(), None);
        assert_eq!(find_rel(&HeaderMap::new(), "next").unwrap(), None);
    }

    #[test]
    fn escapes_survive_a_round_trip() {
        let links = vec![LinkValue {
            target: "http://x/a?b=c,d".into(),
            rels: vec!["next".into(), "we\"ird\\".into()],
        }];
        assert_eq!(parse(&render(&links)).unwrap(), links);
    }

    fn arb_link() -> impl Strategy<Value = LinkValue> {
        (
            // No `>` (it ends a target), and none of `,;<` or spaces, so the
            // padding below cannot land inside a target.
            "[!-+\\--:=?-~]{0,40}",
            proptest::collection::vec("[a-z][a-z0-9.\\-]{0,8}", 0..4),
        )
            .prop_map(|(target, rels)| LinkValue { target, rels })
    }

    proptest! {
        #[test]
        fn never_panics_and_what_it_accepts_round_trips(raw in "\\PC{0,120}") {
            if let Ok(links) = parse(&raw) {
                prop_assert_eq!(parse(&render(&links)).unwrap(), links);
            }
        }

        #[test]
        fn link_shaped_noise_never_panics(raw in r#"[<>;,= \t"\\a-z:/.?&%]{0,80}"#) {
            if let Ok(links) = parse(&raw) {
                prop_assert_eq!(parse(&render(&links)).unwrap(), links);
            }
        }

        #[test]
        fn rendered_links_parse_back_in_any_order(
            links in proptest::collection::vec(arb_link(), 0..6),
            pad in "[ \t]{0,3}",
        ) {
            let rendered = render(&links);
            prop_assert_eq!(&parse(&rendered).unwrap(), &links);
            // The same list with extra whitespace around every separator.
            let padded = rendered
                .replace(", <", &format!("{pad},{pad}<"))
                .replace("; rel=", &format!("{pad};{pad}rel{pad}={pad}"));
            prop_assert_eq!(parse(&padded).unwrap(), links);
        }
    }
}
