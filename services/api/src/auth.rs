//! `Authorization: Bearer <admin token>` for maintenance and admin routes.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::state::AppState;

/// Present in a handler's arguments: the request carried the admin token.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(expected) = state.settings().admin.token() else {
            return Err(ApiError::Unauthorized(
                "maintenance routes are disabled: no admin token is configured".into(),
            ));
        };
        let presented = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_credentials)
            .ok_or_else(|| {
                ApiError::Unauthorized("needs Authorization: Bearer <admin token>".into())
            })?;
        if token_matches(presented, expected) {
            Ok(Admin)
        } else {
            Err(ApiError::Unauthorized(
                "the admin token is not valid".into(),
            ))
        }
    }
}

/// The request carries the admin token (for routes that are public but say
/// more to an admin, such as `/ready`).
pub fn presents_admin_token(headers: &axum::http::HeaderMap, state: &AppState) -> bool {
    let Some(expected) = state.settings().admin.token() else {
        return false;
    };
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_credentials)
        .is_some_and(|presented| token_matches(presented, expected))
}

/// Where a request came from, put in its extensions by the connection loop.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    /// Loopback TCP or the Unix socket: this host.
    pub local: bool,
}

/// From this host and not relayed by the proxy: an operator on the box, not
/// a member of the public whose request nginx passed on.
pub fn is_local_operator(
    parts_extensions: &axum::http::Extensions,
    headers: &axum::http::HeaderMap,
) -> bool {
    let local = parts_extensions
        .get::<Peer>()
        .is_some_and(|peer| peer.local);
    local && !headers.contains_key("x-forwarded-for") && !headers.contains_key("x-real-ip")
}

/// What follows `Bearer` and its spaces; the scheme is case-insensitive
/// (RFC 9110 §11.1), the token is not.
fn bearer_credentials(header: &str) -> Option<&str> {
    let (scheme, credentials) = header.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credentials.trim_start_matches(' '))
}

/// Compares digests, not the tokens: both are 32 bytes whatever was sent,
/// and the comparison is constant-time, so neither how much of a guess
/// matched nor whether its length was right shows in the timing (`ct_eq` on
/// the raw slices returns early when their lengths differ).
fn token_matches(presented: &str, expected: &str) -> bool {
    let presented = Sha256::digest(presented.as_bytes());
    let expected = Sha256::digest(expected.as_bytes());
    bool::from(presented.as_slice().ct_eq(expected.as_slice()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_matches() {
        assert!(token_matches("s3cret-token", "s3cret-token"));
        for wrong in [
            "",
            "s3cret-toke",
            "s3cret-token ",
            "S3CRET-TOKEN",
            "s3cret-tokenx",
        ] {
            assert!(!token_matches(wrong, "s3cret-token"), "{wrong:?}");
        }
    }

    #[test]
    fn the_scheme_is_case_insensitive_and_the_credentials_are_kept_whole() {
        assert_eq!(bearer_credentials("Bearer abc"), Some("abc"));
        assert_eq!(bearer_credentials("bearer abc"), Some("abc"));
        assert_eq!(bearer_credentials("BEARER   abc"), Some("abc"));
        assert_eq!(bearer_credentials("Bearer abc def"), Some("abc def"));
        assert_eq!(bearer_credentials("Bearer "), Some(""));
        for refused in ["Bearer", "Basic abc", "Bearerabc", "abc", ""] {
            assert_eq!(bearer_credentials(refused), None, "{refused:?}");
        }
    }
}
