//! `poll_device_flow`: asks GitHub's token endpoint whether the person has
//! entered the code yet, once per run, and reschedules itself at the
//! interval: no worker (and no HTTP request) ever waits on a person.
//!
//! `authorization_pending` polls again; `slow_down` takes the interval
//! GitHub sends (or adds 5 s) from then on; every other error ends the flow
//! with a message for the page. On a token: `/user` says who it is, the
//! token is sealed and stored, the flow is `signed_in`, and the user's
//! repositories are queued, in one transaction.

use chrono::{Duration, Utc};
use hubpulse_github::{Credential, Operation, Page, PostBody, UserToken, token_id};
use hubpulse_store::{StoreError, web_users};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::SyncUserRepos;
use crate::user_auth::{AuthenticatedUser, TokenReply};
use crate::{Job, JobContext, JobError, JobRun, Outcome, enqueue};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// GitHub's rule when a `slow_down` carries no interval.
pub const SLOW_DOWN_STEP_SECS: i32 = 5;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollDeviceFlow {
    pub flow_id: Uuid,
}

/// What a finished `poll_device_flow` job reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PollDeviceFlowOutput {
    pub flow_id: Uuid,
    /// `signed_in` or `failed`.
    pub flow_state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The page's words for each way GitHub ends a flow.
pub fn message_for(error: &str) -> &'static str {
    match error {
        "expired_token" => "The code expired before it was entered. Start again for a new code.",
        "access_denied" => "Sign-in was cancelled on GitHub.",
        "incorrect_device_code" => "GitHub no longer knows this code. Start again for a new code.",
        "device_flow_disabled" => "GitHub has device sign-in turned off for this app.",
        "unsupported_grant_type" => "GitHub refused the sign-in request (unsupported grant type).",
        "incorrect_client_credentials" => "GitHub does not know this app's client id.",
        _ => "GitHub ended the sign-in with an unexpected error.",
    }
}

/// The interval after a `slow_down`: GitHub's new one when sent, else 5 s more.
pub fn widened(current: i32, sent: Option<u64>) -> i32 {
    sent.and_then(|s| i32::try_from(s).ok())
        .filter(|&s| s > current)
        .unwrap_or(current + SLOW_DOWN_STEP_SECS)
}

/// When to ask next: the interval and a tenth more, so a poll never lands
/// early by GitHub's clock.
fn next_poll(interval_secs: i32) -> chrono::DateTime<Utc> {
    Utc::now() + Duration::milliseconds(i64::from(interval_secs) * 1100)
}

impl Job for PollDeviceFlow {
    const KIND: &'static str = "poll_device_flow";
    type Context = JobContext;
    type Output = PollDeviceFlowOutput;

    fn dedup_key(&self) -> Option<String> {
        Some(format!("poll_device_flow:{}", self.flow_id))
    }

    async fn run(
        &self,
        ctx: &JobContext,
        _run: &JobRun,
    ) -> Result<Outcome<Self::Output>, JobError> {
        let sign_in = ctx
            .sign_in
            .as_ref()
            .ok_or_else(|| JobError::Permanent("sign-in is not configured".into()))?;
        let conn = ctx.store.conn().await?;
        let Some(flow) = web_users::flow(&conn, self.flow_id).await? else {
            return Err(JobError::Permanent("the device flow is gone".into()));
        };
        if flow.state != "pending" {
            return Ok(self.done(&flow.state, flow.error));
        }
        let Some(device_code) =
            web_users::flow_device_code(&conn, &sign_in.cipher, self.flow_id).await?
        else {
            return Err(JobError::Permanent("the device flow is gone".into()));
        };
        drop(conn);
        let url = ctx.github.url(Operation::AccessToken, &[], &[])?;
        let form = [
            ("client_id", sign_in.settings.client_id.as_str()),
            ("device_code", device_code.expose_secret()),
            ("grant_type", DEVICE_GRANT),
        ];
        let reply = match ctx
            .github
            .post::<TokenReply>(
                Operation::AccessToken,
                &url,
                &Credential::Anonymous,
                PostBody::Form(&form),
            )
            .await
        {
            Ok(Page::Fresh { body, .. }) => body,
            Ok(_) => {
                return Err(JobError::Retryable(
                    "GitHub's token endpoint answered no body".into(),
                ));
            }
            Err(hubpulse_github::GithubError::BadRequest { message }) => {
                let error = if message.contains("device_flow_disabled") {
                    "device_flow_disabled"
                } else {
                    "bad_request"
                };
                return self.fail(ctx, error).await;
            }
            Err(err) => return Err(err.into()),
        };
        let conn = ctx.store.conn().await?;
        let token = reply
            .access_token
            .clone()
            .filter(|t| !t.expose_secret().is_empty());
        match (token, reply.error.as_deref()) {
            (Some(token), _) => {
                drop(conn);
                self.signed_in(ctx, &reply, token).await
            }
            (_, Some("authorization_pending")) => {
                web_users::record_poll(&conn, self.flow_id, flow.interval_secs).await?;
                Ok(self.again(
                    flow.interval_secs,
                    "waiting for the person to enter the code",
                ))
            }
            (_, Some("slow_down")) => {
                let interval = widened(flow.interval_secs, reply.interval);
                web_users::record_poll(&conn, self.flow_id, interval).await?;
                tracing::info!(flow_id = %self.flow_id, interval, "GitHub asked to slow down");
                Ok(self.again(interval, "GitHub asked to poll more slowly"))
            }
            (_, Some(error)) => {
                drop(conn);
                self.fail(ctx, error).await
            }
            (None, None) => Err(JobError::Retryable(
                "GitHub's token endpoint answered neither a token nor an error".into(),
            )),
        }
    }
}

impl PollDeviceFlow {
    fn done(&self, state: &str, error: Option<String>) -> Outcome<PollDeviceFlowOutput> {
        Outcome::Done(PollDeviceFlowOutput {
            flow_id: self.flow_id,
            flow_state: state.to_owned(),
            error,
        })
    }

    fn again(&self, interval_secs: i32, reason: &str) -> Outcome<PollDeviceFlowOutput> {
        Outcome::RescheduleAt {
            at: next_poll(interval_secs),
            reason: reason.into(),
        }
    }

    async fn fail(
        &self,
        ctx: &JobContext,
        error: &str,
    ) -> Result<Outcome<PollDeviceFlowOutput>, JobError> {
        let known = hubpulse_github_errors().contains(&error);
        let error = if known { error } else { "unexpected_error" };
        let conn = ctx.store.conn().await?;
        web_users::finish_flow(&conn, self.flow_id, Err((error, message_for(error)))).await?;
        tracing::info!(flow_id = %self.flow_id, error, "device flow ended");
        Ok(self.done("failed", Some(error.to_owned())))
    }

    async fn signed_in(
        &self,
        ctx: &JobContext,
        reply: &TokenReply,
        token: SecretString,
    ) -> Result<Outcome<PollDeviceFlowOutput>, JobError> {
        let sign_in = ctx
            .sign_in
            .as_ref()
            .ok_or_else(|| JobError::Permanent("sign-in is not configured".into()))?;
        let credential = Credential::User(UserToken::new(&token)?);
        let url = ctx.github.url(Operation::AuthenticatedUser, &[], &[])?;
        let user = match ctx
            .github
            .get::<AuthenticatedUser>(Operation::AuthenticatedUser, &url, &credential, None)
            .await?
        {
            Page::Fresh { body, .. } => body,
            _ => return Err(JobError::Retryable("GET /user answered no body".into())),
        };
        let now = Utc::now();
        let seconds =
            |s: u64| now + Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 2_000_000));
        let new = web_users::NewToken {
            token_id: token_id(Some(token.expose_secret())),
            access: token,
            refresh: reply.refresh_token.clone(),
            expires_at: reply.expires_in.map(seconds),
            refresh_expires_at: reply.refresh_token_expires_in.map(seconds),
            scopes: reply.scope.clone().unwrap_or_default(),
        };
        let mut conn = ctx.store.conn().await?;
        let tx = conn.transaction().await.map_err(StoreError::from)?;
        web_users::upsert_user(&tx, user.id, &user.login).await?;
        web_users::save_token(&tx, &sign_in.cipher, user.id, &new).await?;
        web_users::finish_flow(&tx, self.flow_id, Ok(user.id)).await?;
        enqueue(&tx, &SyncUserRepos { user_id: user.id }).await?;
        tx.commit().await.map_err(StoreError::from)?;
        tracing::info!(flow_id = %self.flow_id, user_id = user.id, "signed in with GitHub");
        Ok(self.done("signed_in", None))
    }
}

/// The errors a flow may end with, as GitHub names them.
fn hubpulse_github_errors() -> [&'static str; 7] {
    [
        "expired_token",
        "access_denied",
        "incorrect_device_code",
        "device_flow_disabled",
        "unsupported_grant_type",
        "incorrect_client_credentials",
        "bad_request",
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_down_takes_githubs_interval_or_adds_five_seconds() {
        assert_eq!(widened(5, Some(10)), 10);
        assert_eq!(widened(5, None), 10);
        assert_eq!(widened(7, None), 12);
        // An interval no longer than the current one is not a widening.
        assert_eq!(widened(5, Some(3)), 10);
    }

    #[test]
    fn every_terminal_error_has_its_own_message() {
        let errors = &hubpulse_github_errors()[..6];
        let mut messages: Vec<&str> = errors.iter().map(|e| message_for(e)).collect();
        messages.sort_unstable();
        messages.dedup();
        assert_eq!(messages.len(), errors.len());
    }
}
