//! `DELETE /applications/{client_id}/token`: revoking one user token at
//! GitHub. Unlike every other call it authenticates as the app (HTTP Basic,
//! client id and secret), spends no user's quota, and is made once: a
//! revocation that fails leaves the token to GitHub's own expiry, and the
//! caller has already forgotten it.

use http::StatusCode;
use secrecy::{ExposeSecret, SecretString};

use crate::{GithubClient, GithubError};

impl GithubClient {
    /// True when GitHub revoked the token (204); false when it no longer
    /// knew it (404, 422).
    pub async fn revoke_user_token(
        &self,
        client_id: &str,
        client_secret: &SecretString,
        token: &SecretString,
    ) -> Result<bool, GithubError> {
        let url = crate::encode::endpoint(&self.inner.base, &["applications", client_id, "token"])?;
        let reply = self
            .inner
            .http
            .delete(url)
            .basic_auth(client_id, Some(client_secret.expose_secret()))
            .header(http::header::ACCEPT, crate::operations::JSON)
            .json(&serde_json::json!({ "access_token": token.expose_secret() }))
            .send()
            .await
            .map_err(|e| GithubError::Transport {
                message: e.without_url().to_string(),
                attempts: 1,
            })?;
        match reply.status() {
            StatusCode::NO_CONTENT | StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND | StatusCode::UNPROCESSABLE_ENTITY => Ok(false),
            StatusCode::UNAUTHORIZED => Err(GithubError::Unauthorized),
            status => Err(GithubError::Status {
                status: status.as_u16(),
                message: "revoking a user token".into(),
            }),
        }
    }
}
