//! The one place that turns failures into an HTTP status and the JSON body
//! `{"error":{"code","message"}}`. 5xx bodies never carry internal detail:
//! that goes to the log, tagged with the request id.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    Unavailable(String),
    /// Past a rate limit of this API's own; the value is `Retry-After` seconds.
    #[error("{0}")]
    TooManyRequests(String, u64),
    /// GitHub refused or failed a call the request needed.
    #[error("{0}")]
    BadGateway(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// Every 4xx/5xx body: `{"error":{"code","message"}}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable, e.g. `not_found`, `payload_too_large`.
    #[schema(example = "not_found")]
    pub code: String,
    /// For people; safe to show, never carries internal detail.
    pub message: String,
}

/// A JSON error response; also used by middleware for errors raised outside handlers.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message: message.to_owned(),
            },
        }),
    )
        .into_response()
}

/// A stable machine-readable code for a status, for errors that carry none of their own.
pub fn code_for_status(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::NOT_ACCEPTABLE => "not_acceptable",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable_entity",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        StatusCode::GATEWAY_TIMEOUT => "timeout",
        s if s.is_server_error() => "internal",
        _ => "error",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::Unauthorized(message) => {
                let mut response =
                    error_response(StatusCode::UNAUTHORIZED, "unauthorized", message);
                // RFC 9110 §15.5.2: a 401 names the scheme that would be accepted.
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return response;
            }
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::TooManyRequests(message, retry_after) => {
                let mut response =
                    error_response(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
                return response;
            }
            Self::BadGateway(_) => (StatusCode::BAD_GATEWAY, "github_error"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable_entity"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                return error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; the request id identifies it in the logs",
                );
            }
        };
        error_response(status, code, &self.to_string())
    }
}

impl From<hubpulse_store::StoreError> for ApiError {
    fn from(err: hubpulse_store::StoreError) -> Self {
        use hubpulse_store::StoreError;
        match err {
            StoreError::Unavailable(_) => {
                Self::Unavailable("the database is unavailable; try again shortly".into())
            }
            StoreError::NotFound(what) => Self::NotFound(what),
            StoreError::Conflict(what) => Self::Conflict(what),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<hubpulse_domain::ParseError> for ApiError {
    fn from(err: hubpulse_domain::ParseError) -> Self {
        Self::BadRequest(err.to_string())
    }
}
