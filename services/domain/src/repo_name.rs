use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Login, ParseError};

/// `owner/name` as GitHub writes a repository's `full_name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoFullName {
    owner: Login,
    name: String,
}

impl RepoFullName {
    pub const MAX_NAME_LEN: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let err = |reason: &str| ParseError::new("repository full name", reason);
        let (owner, name) = raw
            .split_once('/')
            .ok_or_else(|| err("must be owner/name"))?;
        let owner = Login::parse(owner)
            .map_err(|e| ParseError::new("repository full name", format!("owner {}", e.reason)))?;
        Ok(Self {
            owner,
            name: Self::parse_name(name)
                .map_err(|e| err(&e.reason))?
                .to_owned(),
        })
    }

    fn parse_name(name: &str) -> Result<&str, ParseError> {
        let err = |reason: &str| ParseError::new("repository name", reason);
        if name.is_empty() {
            return Err(err("must not be empty"));
        }
        if name.len() > Self::MAX_NAME_LEN {
            return Err(err("must be at most 100 characters"));
        }
        if name == "." || name == ".." {
            return Err(err("must not be . or .."));
        }
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(err(
                "may contain only letters, digits, hyphens, underscores and dots",
            ));
        }
        Ok(name)
    }

    pub fn owner(&self) -> &Login {
        &self.owner
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl FromStr for RepoFullName {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for RepoFullName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

impl Serialize for RepoFullName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RepoFullName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splits_owner_and_name() {
        let full = RepoFullName::parse("kubernetes/kubernetes").unwrap();
        assert_eq!(full.owner().as_str(), "kubernetes");
        assert_eq!(full.name(), "kubernetes");
        assert_eq!(full.to_string(), "kubernetes/kubernetes");
        assert!(RepoFullName::parse("shipit[bot]/repo.name_x-1").is_ok());
    }

    #[test]
    fn refuses_malformed_names() {
        for bad in [
            "", "a", "a/", "/b", "a/b/c", "a/..", "a/.", "a/b c", "a/%00", "-a/b",
        ] {
            assert!(
                RepoFullName::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    proptest! {
        #[test]
        fn never_panics_and_round_trips(raw in "\\PC{0,150}") {
            if let Ok(full) = RepoFullName::parse(&raw) {
                prop_assert_eq!(full.to_string(), raw);
            }
        }
    }
}
