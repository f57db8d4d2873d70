//! Signing in with GitHub's device flow, for the page at `/`.
//!
//! `POST /v1/auth/device` asks GitHub for a code and queues the job that
//! polls for the token; the page then asks `GET /v1/auth/device/{flow_id}`
//! until the flow ends. No request here ever waits on GitHub's token
//! endpoint or on the person. The flow is bound to the browser that started
//! it (a cookie), and only that browser gets the session.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use hubpulse_github::{Credential, GithubError, Operation, Page, PostBody};
use hubpulse_jobs::kinds::PollDeviceFlow;
use hubpulse_jobs::{DeviceCodeReply, SignIn, enqueue_at};
use hubpulse_store::web_users;
use serde::Serialize;
use uuid::Uuid;

use crate::auth::presents_admin_token;
use crate::error::ApiError;
use crate::session::{
    FLOW_COOKIE, MaybeUser, SESSION_COOKIE, cookie, digest, new_secret, require_csrf_header,
    set_cookie,
};
use crate::state::AppState;

type ErrorBody = crate::error::ErrorBody;

pub(crate) fn sign_in(state: &AppState) -> Result<&SignIn, ApiError> {
    state.sign_in().map(AsRef::as_ref).ok_or_else(|| {
        ApiError::Unavailable("signing in with GitHub is not configured here ([auth])".into())
    })
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DeviceFlowStarted {
    flow_id: Uuid,
    /// What the person types at `verification_uri`.
    #[schema(example = "WDJB-MJHT")]
    user_code: String,
    #[schema(example = "https://github.com/login/device")]
    verification_uri: String,
    /// Seconds until the code expires.
    expires_in: u64,
    /// Seconds between the page's status checks.
    interval: u64,
}

/// Starts signing in: a code for the person to enter at GitHub.
#[utoipa::path(post, path = "/v1/auth/device", tag = "auth",
    params(("x-hubpulse-csrf" = String, Header, description = "Any value: proves the request comes from the page, not another site")),
    responses(
        (status = 201, description = "The code to enter at GitHub; sets the flow cookie", body = DeviceFlowStarted),
        (status = 403, description = "No x-hubpulse-csrf header", body = ErrorBody),
        (status = 429, description = "Too many sign-ins this hour", body = ErrorBody),
        (status = 502, description = "GitHub refused (device flow disabled, unknown client)", body = ErrorBody),
        (status = 503, description = "Sign-in not configured, or GitHub or Postgres unavailable", body = ErrorBody),
    ))]
pub async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require_csrf_header(&headers)?;
    let sign_in = sign_in(&state)?;
    let conn = state.store().conn().await?;
    if web_users::flows_last_hour(&conn).await? >= sign_in.settings.device_flows_per_hour {
        return Err(ApiError::TooManyRequests(
            "too many sign-ins were started this hour; try again later".into(),
            300,
        ));
    }
    drop(conn);
    let github = state.github();
    let url = github
        .url(Operation::DeviceCode, &[], &[])
        .map_err(github_error)?;
    let form = [
        ("client_id", sign_in.settings.client_id.as_str()),
        ("scope", sign_in.settings.scope.as_str()),
    ];
    let reply = match github
        .post::<DeviceCodeReply>(
            Operation::DeviceCode,
            &url,
            &Credential::Anonymous,
            PostBody::Form(&form),
        )
        .await
        .map_err(github_error)?
    {
        Page::Fresh { body, .. } => body,
        _ => {
            return Err(ApiError::BadGateway(
                "GitHub answered the code request with no body".into(),
            ));
        }
    };
    let expires_in = reply.expires_in.unwrap_or(900).clamp(1, 3600);
    let interval = reply.interval.unwrap_or(5).clamp(1, 300);
    let id = Uuid::new_v4();
    let browser = new_secret();
    let browser_digest = digest(&browser);
    let mut conn = state.store().conn().await?;
    let tx = conn
        .transaction()
        .await
        .map_err(hubpulse_store::StoreError::from)?;
    web_users::create_flow(
        &tx,
        &sign_in.cipher,
        &web_users::NewFlow {
            id,
            browser_digest: &browser_digest,
            device_code: &reply.device_code,
            user_code: &reply.user_code,
            verification_uri: &reply.verification_uri,
            interval_secs: interval as i32,
            expires_at: Utc::now() + chrono::Duration::seconds(expires_in as i64),
        },
    )
    .await?;
    enqueue_at(
        &tx,
        &PollDeviceFlow { flow_id: id },
        Some(Duration::from_secs(interval)),
    )
    .await?;
    tx.commit()
        .await
        .map_err(hubpulse_store::StoreError::from)?;
    let cookie = set_cookie(&state, FLOW_COOKIE, &browser, expires_in, "Strict");
    Ok((
        StatusCode::CREATED,
        [(header::SET_COOKIE, cookie)],
        Json(DeviceFlowStarted {
            flow_id: id,
            user_code: reply.user_code,
            verification_uri: reply.verification_uri,
            expires_in,
            interval,
        }),
    )
        .into_response())
}

fn github_error(err: GithubError) -> ApiError {
    match err {
        GithubError::BadRequest { message } if message.contains("device_flow_disabled") => {
            ApiError::BadGateway(
                hubpulse_jobs::kinds::device_flow_message("device_flow_disabled").into(),
            )
        }
        GithubError::BadRequest { .. }
        | GithubError::NotFound
        | GithubError::Unprocessable { .. } => {
            ApiError::BadGateway("GitHub refused the sign-in request for this app".into())
        }
        other => {
            tracing::warn!(error = %other, "starting a device flow failed");
            ApiError::Unavailable("GitHub could not be asked for a code; try again shortly".into())
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DeviceFlowState {
    flow_id: Uuid,
    /// `pending`, `signed_in` or `failed`.
    #[schema(example = "pending")]
    state: String,
    user_code: String,
    verification_uri: String,
    expires_at: DateTime<Utc>,
    /// Seconds between polls now (widened by GitHub's `slow_down`).
    interval: i32,
    /// Times GitHub's token endpoint was asked.
    polls: i32,
    /// GitHub's error code when the flow failed (`access_denied`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    login: Option<String>,
}

/// Where a sign-in stands; the browser that started it gets its session
/// cookie with the first `signed_in` answer.
#[utoipa::path(get, path = "/v1/auth/device/{flow_id}", tag = "auth",
    params(("flow_id" = String, Path, description = "From POST /v1/auth/device", format = Uuid)),
    responses(
        (status = 200, description = "The flow's state", body = DeviceFlowState),
        (status = 400, description = "Not a flow id", body = ErrorBody),
        (status = 404, description = "No such flow", body = ErrorBody),
        (status = 503, description = "Sign-in not configured, or Postgres unavailable", body = ErrorBody),
    ))]
pub async fn status(
    State(state): State<AppState>,
    Path(flow_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = Uuid::parse_str(&flow_id)
        .map_err(|_| ApiError::BadRequest("flow_id is not a flow id (a UUID)".into()))?;
    sign_in(&state)?;
    let conn = state.store().conn().await?;
    let flow = web_users::flow(&conn, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such sign-in".into()))?;
    let mut cookies = Vec::new();
    if flow.state == "signed_in"
        && let Some(browser) = cookie(&headers, FLOW_COOKIE)
        && let Some(user_id) = web_users::take_flow_session(&conn, id, &digest(browser)).await?
    {
        let session = new_secret();
        let hours = state.settings().auth.session_ttl_hours.max(1);
        web_users::open_session(
            &conn,
            &digest(&session),
            user_id,
            Duration::from_secs(hours * 3600),
        )
        .await?;
        cookies.push(set_cookie(
            &state,
            SESSION_COOKIE,
            &session,
            hours * 3600,
            "Lax",
        ));
        cookies.push(set_cookie(&state, FLOW_COOKIE, "", 0, "Strict"));
    }
    let body = Json(DeviceFlowState {
        flow_id: flow.id,
        state: flow.state,
        user_code: flow.user_code,
        verification_uri: flow.verification_uri,
        expires_at: flow.expires_at,
        interval: flow.interval_secs,
        polls: flow.polls,
        error: flow.error,
        message: flow.message,
        login: flow.login,
    });
    let mut response = body.into_response();
    for cookie in cookies {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, "no-store".parse().expect("static"));
    Ok(response)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionView {
    signed_in: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    login: Option<String>,
    /// Whether this deployment offers signing in with GitHub at all.
    sign_in_available: bool,
}

/// Who the browser's session belongs to.
#[utoipa::path(get, path = "/v1/auth/session", tag = "auth",
    responses(
        (status = 200, description = "The session's user, if any", body = SessionView),
        (status = 503, description = "Postgres unavailable", body = ErrorBody),
    ))]
pub async fn session(State(state): State<AppState>, MaybeUser(user): MaybeUser) -> Response {
    let mut response = Json(SessionView {
        signed_in: user.is_some(),
        login: user.map(|u| u.login),
        sign_in_available: state.sign_in().is_some(),
    })
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, "no-store".parse().expect("static"));
    response
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SignedOut {
    /// False when there was no session to end.
    signed_out: bool,
}

/// Ends the browser's session (the stored token stays for the user's crawls;
/// `DELETE /v1/auth/tokens/{login}` removes it).
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth",
    params(("x-hubpulse-csrf" = String, Header, description = "Any value: proves the request comes from the page")),
    responses(
        (status = 200, description = "Signed out; the cookie is cleared", body = SignedOut),
        (status = 403, description = "No x-hubpulse-csrf header", body = ErrorBody),
        (status = 503, description = "Postgres unavailable", body = ErrorBody),
    ))]
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require_csrf_header(&headers)?;
    let ended = match cookie(&headers, SESSION_COOKIE) {
        Some(id) => web_users::end_session(&state.store().conn().await?, &digest(id)).await?,
        None => false,
    };
    Ok((
        [(
            header::SET_COOKIE,
            set_cookie(&state, SESSION_COOKIE, "", 0, "Lax"),
        )],
        Json(SignedOut { signed_out: ended }),
    )
        .into_response())
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenDeleted {
    login: String,
    /// False when HubPulse held no token for the user.
    deleted: bool,
    /// True when GitHub confirmed the revocation (needs `auth.client_secret`).
    revoked_at_github: bool,
    /// Where the person can revoke HubPulse's access themself, when GitHub
    /// did not confirm a revocation.
    #[serde(skip_serializing_if = "Option::is_none")]
    review_url: Option<String>,
}

/// Deletes a user's stored token and ends their sessions; with a client
/// secret configured, revokes it at GitHub too. For the user themself (with
/// their session) or an admin.
#[utoipa::path(delete, path = "/v1/auth/tokens/{login}", tag = "auth",
    params(
        ("login" = String, Path, description = "The GitHub login", pattern = "^[A-Za-z0-9][A-Za-z0-9-]{0,38}$"),
        ("x-hubpulse-csrf" = Option<String>, Header, description = "Needed with a session cookie"),
    ),
    security(("admin_token" = []), ()),
    responses(
        (status = 200, description = "Deleted (or there was none)", body = TokenDeleted),
        (status = 400, description = "Not a GitHub login", body = ErrorBody),
        (status = 401, description = "Neither a session nor the admin token", body = ErrorBody),
        (status = 403, description = "Another user's token, or no x-hubpulse-csrf header", body = ErrorBody),
        (status = 404, description = "No such signed-in user", body = ErrorBody),
        (status = 503, description = "Sign-in not configured, or Postgres unavailable", body = ErrorBody),
    ))]
pub async fn delete_token(
    State(state): State<AppState>,
    Path(login): Path<String>,
    headers: HeaderMap,
    MaybeUser(user): MaybeUser,
) -> Result<Json<TokenDeleted>, ApiError> {
    let admin = presents_admin_token(&headers, &state);
    if !admin {
        let Some(user) = &user else {
            return Err(ApiError::Unauthorized(
                "needs the user's session or Authorization: Bearer <admin token>".into(),
            ));
        };
        require_csrf_header(&headers)?;
        if !user.login.eq_ignore_ascii_case(&login) {
            return Err(ApiError::Forbidden(
                "only the user themself or an admin may delete a token".into(),
            ));
        }
    }
    let login = hubpulse_domain::Login::parse(&login)?;
    let sign_in = sign_in(&state)?;
    let conn = state.store().conn().await?;
    let target = web_users::user_by_login(&conn, login.as_str())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("{login} never signed in here")))?;
    let token = web_users::load_token(&conn, &sign_in.cipher, target.id)
        .await
        .ok()
        .flatten();
    let deleted = web_users::delete_token(&conn, target.id).await?;
    let mut revoked_at_github = false;
    if let (Some(token), Some(secret)) = (token, sign_in.client_secret()) {
        match state
            .github()
            .revoke_user_token(
                &sign_in.settings.client_id,
                &secret.to_owned().into(),
                &token.access,
            )
            .await
        {
            Ok(revoked) => revoked_at_github = revoked,
            Err(err) => tracing::warn!(error = %err, "revoking a user token at GitHub failed"),
        }
    }
    Ok(Json(TokenDeleted {
        login: target.login,
        deleted,
        revoked_at_github,
        review_url: (!revoked_at_github).then(|| review_url(&sign_in.settings.client_id)),
    }))
}

/// Where a person revokes the app themself when this deployment holds no
/// client secret.
fn review_url(client_id: &str) -> String {
    format!("https://github.com/settings/connections/applications/{client_id}")
}
