//! Who a call is made as. Each credential has its own quota at GitHub, so
//! the shared budget, the last-seen rate limits and the stored pages' ETags
//! are all kept per credential, under its [`token_id`], never the token.

use std::fmt;

use http::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::GithubError;

/// The short, stable id of a token, safe for Redis keys, database rows and
/// logs: the first 12 hex digits of its SHA-256, or `anonymous`.
pub fn token_id(token: Option<&str>) -> String {
    match token {
        Some(token) => hex::encode(&Sha256::digest(token.as_bytes())[..6]),
        None => ANONYMOUS.into(),
    }
}

const ANONYMOUS: &str = "anonymous";

/// What a call carries: the service's token (`github.token`), a signed-in
/// user's token, or nothing (GitHub's lower, per-address limits; and the
/// only choice for the OAuth origin, which never gets a token).
#[derive(Clone, Debug, Default)]
pub enum Credential {
    /// The configured token; anonymous when none is configured.
    #[default]
    Service,
    User(UserToken),
    Anonymous,
}

/// A signed-in user's token, ready to send. `Debug` shows only its id.
#[derive(Clone)]
pub struct UserToken {
    header: HeaderValue,
    id: String,
}

impl UserToken {
    pub fn new(token: &SecretString) -> Result<Self, GithubError> {
        let token = token.expose_secret();
        if token.is_empty() {
            return Err(GithubError::Config("a user token may not be empty".into()));
        }
        Ok(Self {
            header: bearer(token)?,
            id: token_id(Some(token)),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn header(&self) -> &HeaderValue {
        &self.header
    }
}

impl fmt::Debug for UserToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("UserToken").field(&self.id).finish()
    }
}

/// `Bearer {token}`, marked sensitive so `Debug` of a request never shows it.
pub(crate) fn bearer(token: &str) -> Result<HeaderValue, GithubError> {
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
        GithubError::Config("a GitHub token holds characters a header cannot carry".into())
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// The service side of the client: its token header and id.
#[derive(Clone)]
pub(crate) struct ServiceToken {
    pub header: Option<HeaderValue>,
    pub id: String,
}

impl ServiceToken {
    pub fn new(token: Option<&str>) -> Result<Self, GithubError> {
        Ok(Self {
            header: token
                .map(|t| {
                    bearer(t).map_err(|_| {
                        GithubError::Config(
                            "github.token holds characters a header cannot carry".into(),
                        )
                    })
                })
                .transpose()?,
            id: token_id(token),
        })
    }
}

impl Credential {
    /// The budget's and the page store's key for this credential.
    pub(crate) fn id<'a>(&'a self, service: &'a ServiceToken) -> &'a str {
        match self {
            Self::Service => &service.id,
            Self::User(token) => token.id(),
            Self::Anonymous => ANONYMOUS,
        }
    }

    pub(crate) fn header<'a>(&'a self, service: &'a ServiceToken) -> Option<&'a HeaderValue> {
        match self {
            Self::Service => service.header.as_ref(),
            Self::User(token) => Some(token.header()),
            Self::Anonymous => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_ids_are_short_stable_and_not_the_token() {
        let id = token_id(Some("ghp_secret"));
        assert_eq!(id.len(), 12);
        assert_eq!(id, token_id(Some("ghp_secret")));
        assert_ne!(id, token_id(Some("ghp_other")));
        assert!(!id.contains("secret"));
        assert_eq!(token_id(None), "anonymous");
    }

    #[test]
    fn each_credential_has_its_own_key_and_debug_never_shows_a_token() {
        let service = ServiceToken::new(Some("ghp_service")).unwrap();
        let user = UserToken::new(&SecretString::from("gho_user_secret")).unwrap();
        let user = Credential::User(user);
        assert_eq!(
            Credential::Service.id(&service),
            token_id(Some("ghp_service"))
        );
        assert_eq!(user.id(&service), token_id(Some("gho_user_secret")));
        assert_eq!(Credential::Anonymous.id(&service), "anonymous");
        assert!(Credential::Anonymous.header(&service).is_none());
        assert!(user.header(&service).unwrap().is_sensitive());
        assert!(!format!("{user:?}").contains("secret"));
        let anonymous_service = ServiceToken::new(None).unwrap();
        assert_eq!(Credential::Service.id(&anonymous_service), "anonymous");
        assert!(UserToken::new(&SecretString::from("")).is_err());
        assert!(UserToken::new(&SecretString::from("a\nb")).is_err());
    }
}
