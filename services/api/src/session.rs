//! Browser sessions of people who signed in with GitHub, and the page's
//! protection against cross-site requests.
//!
//! A session id is 256 random bits in an `HttpOnly`, `SameSite=Lax` cookie
//! (`Secure` when `auth.secure_cookies`); the database keeps only its
//! SHA-256. A state-changing request made with cookies must carry the
//! `X-HubPulse-CSRF` header: a page on another site can send cookies with a
//! form post but cannot add a header without a CORS preflight, which this
//! API never grants.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use hubpulse_store::web_users::{self, WebUser};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "hubpulse_session";
/// Binds a device flow to the browser that started it.
pub const FLOW_COOKIE: &str = "hubpulse_flow";
pub const CSRF_HEADER: &str = "x-hubpulse-csrf";

/// A fresh 256-bit secret, hex: two v4 UUIDs' random bits and more.
pub fn new_secret() -> String {
    let a = uuid::Uuid::new_v4();
    let b = uuid::Uuid::new_v4();
    hex::encode(Sha256::digest(
        [a.as_bytes().as_slice(), b.as_bytes()].concat(),
    ))
}

pub fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// `Set-Cookie` for `name`; `max_age` 0 deletes it.
pub fn set_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    max_age: u64,
    same_site: &str,
) -> HeaderValue {
    let secure = if state.settings().auth.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{name}={value}; Path=/; HttpOnly; SameSite={same_site}; Max-Age={max_age}{secure}"
    );
    // Hex values and fixed attributes: always a valid header value.
    let mut value = HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""));
    value.set_sensitive(true);
    value
}

/// Refuses a state-changing request that lacks the page's header.
pub fn require_csrf_header(headers: &HeaderMap) -> Result<(), ApiError> {
    match headers.get(CSRF_HEADER) {
        Some(v) if !v.is_empty() => Ok(()),
        _ => Err(ApiError::Forbidden(format!(
            "state-changing requests from a browser need the {CSRF_HEADER} header"
        ))),
    }
}

/// The signed-in user of the request's session, if any.
pub struct MaybeUser(pub Option<WebUser>);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(id) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Ok(MaybeUser(None));
        };
        let conn = state.store().conn().await?;
        Ok(MaybeUser(
            web_users::session_user(&conn, &digest(id)).await?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; hubpulse_session=abc; hubpulse_session_x=zzz"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "hubpulse"), None);
        assert_eq!(cookie(&headers, FLOW_COOKIE), None);
    }

    #[test]
    fn secrets_are_fresh_64_hex_digits() {
        let (a, b) = (new_secret(), new_secret());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
