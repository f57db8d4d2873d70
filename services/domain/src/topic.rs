use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

use crate::ParseError;

/// A GitHub topic name: lowercase ASCII letters, digits and hyphens, starting
/// with a letter or digit, at most 50 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Topic(String);

impl Topic {
    pub const MAX_LEN: usize = 50;

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let err = |reason: &str| ParseError::new("topic", reason);
        if raw.is_empty() {
            return Err(err("must not be empty"));
        }
        if raw.len() > Self::MAX_LEN {
            return Err(err("must be at most 50 characters"));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(err(
                "may contain only lowercase letters, digits and hyphens",
            ));
        }
        if raw.starts_with('-') {
            return Err(err("must start with a letter or a digit"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Topic {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for Topic {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Topic {
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
    fn accepts_github_topics() {
        for ok in [
            "kubernetes",
            "k8s",
            "machine-learning",
            "3d",
            &"a".repeat(50),
        ] {
            assert_eq!(Topic::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_what_github_refuses() {
        for bad in [
            "",
            "Kubernetes",
            "-lead",
            "with space",
            "dot.ted",
            "ümlaut",
            "..",
            "a\0b",
        ] {
            assert!(Topic::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Topic::parse(&"a".repeat(51)).is_err());
    }

    #[test]
    fn deserializing_applies_the_same_rules() {
        assert!(serde_json::from_str::<Topic>("\"rust\"").is_ok());
        assert!(serde_json::from_str::<Topic>("\"Rust\"").is_err());
    }

    proptest! {
        #[test]
        fn never_panics_and_accepted_values_round_trip(raw in "\\PC{0,80}") {
            if let Ok(topic) = Topic::parse(&raw) {
                prop_assert_eq!(topic.as_str(), raw.as_str());
                prop_assert!(raw.len() <= Topic::MAX_LEN);
            }
        }
    }
}
