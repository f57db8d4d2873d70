use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

use crate::ParseError;

/// A GitHub account login: 1 to 39 ASCII letters, digits or hyphens, not
/// starting with a hyphen, optionally followed by `[bot]` for GitHub Apps
/// (`dependabot[bot]`, `shipit[bot]`). Logins compare case-sensitively here;
/// identity is the GitHub id, the login is only how a user names an account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Login(String);

const BOT_SUFFIX: &str = "[bot]";

impl Login {
    pub const MAX_LEN: usize = 39;

    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        let err = |reason: &str| ParseError::new("login", reason);
        let base = raw.strip_suffix(BOT_SUFFIX).unwrap_or(raw);
        if base.is_empty() {
            return Err(err("must not be empty"));
        }
        if base.len() > Self::MAX_LEN {
            return Err(err("must be at most 39 characters"));
        }
        if !base.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(err(
                "may contain only letters, digits and hyphens (and a final [bot])",
            ));
        }
        if base.starts_with('-') {
            return Err(err("must not start with a hyphen"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_bot(&self) -> bool {
        self.0.ends_with(BOT_SUFFIX)
    }
}

impl FromStr for Login {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for Login {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Login {
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
    fn accepts_users_orgs_and_bots() {
        for ok in [
            "octocat",
            "kubernetes-sigs",
            "a",
            "shipit[bot]",
            "dependabot[bot]",
            &"x".repeat(39),
        ] {
            assert_eq!(Login::parse(ok).unwrap().as_str(), ok);
        }
        assert!(Login::parse("shipit[bot]").unwrap().is_bot());
        assert!(!Login::parse("octocat").unwrap().is_bot());
    }

    #[test]
    fn refuses_malformed_logins() {
        for bad in [
            "", "[bot]", "-x", "a/b", "a b", "..", "%00", "bot]", "a[bot]x", "ü",
        ] {
            assert!(Login::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Login::parse(&"x".repeat(40)).is_err());
    }

    proptest! {
        #[test]
        fn never_panics_and_accepted_values_round_trip(raw in "\\PC{0,60}") {
            if let Ok(login) = Login::parse(&raw) {
                prop_assert_eq!(login.as_str(), raw.as_str());
            }
        }
    }
}
