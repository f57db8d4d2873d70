//! `Authorization: Bearer <admin token>` for maintenance and admin routes.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
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
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ApiError::Unauthorized("needs Authorization: Bearer <admin token>".into())
            })?;
        // Constant time: how much of a guess matched must not show in the timing.
        if bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
            Ok(Admin)
        } else {
            Err(ApiError::Unauthorized(
                "the admin token is not valid".into(),
            ))
        }
    }
}
