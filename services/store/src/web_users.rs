//! People who signed in with GitHub: their accounts, the token each one
//! gave HubPulse (sealed by [`TokenCipher`]: only ciphertext reaches the
//! database), browser sessions (only the SHA-256 of a session id is kept),
//! and the device flows that sign them in.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use tokio_postgres::GenericClient;
use uuid::Uuid;

use crate::sealed::TokenCipher;
use crate::{Db, StoreError};

/// A signed-in GitHub account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebUser {
    pub id: i64,
    pub login: String,
}

/// A user's token as GitHub issued it.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub access: SecretString,
    pub refresh: Option<SecretString>,
    pub expires_at: Option<DateTime<Utc>>,
    pub refresh_expires_at: Option<DateTime<Utc>>,
    pub scopes: String,
    pub token_id: String,
}

/// A stored token, opened.
#[derive(Debug, Clone)]
pub struct StoredToken {
    pub access: SecretString,
    pub refresh: Option<SecretString>,
    pub expires_at: Option<DateTime<Utc>>,
    pub token_id: String,
}

fn token_context(user_id: i64) -> String {
    format!("user_token:{user_id}")
}

fn refresh_context(user_id: i64) -> String {
    format!("user_refresh:{user_id}")
}

fn opened(err: crate::sealed::SealError) -> StoreError {
    StoreError::Database(format!("a sealed token: {err}"))
}

/// Inserts or renames the account.
pub async fn upsert_user(db: &impl Db, id: i64, login: &str) -> Result<(), StoreError> {
    db.client()
        .execute(
            "INSERT INTO github_users (id, login) VALUES ($1, $2) \
             ON CONFLICT (id) DO UPDATE SET login = EXCLUDED.login, updated_at = now()",
            &[&id, &login],
        )
        .await?;
    Ok(())
}

pub async fn user_by_login(db: &impl Db, login: &str) -> Result<Option<WebUser>, StoreError> {
    let row = db
        .client()
        .query_opt(
            "SELECT id, login FROM github_users WHERE lower(login) = lower($1) \
             ORDER BY updated_at DESC LIMIT 1",
            &[&login],
        )
        .await?;
    Ok(row.map(|r| WebUser {
        id: r.get(0),
        login: r.get(1),
    }))
}

pub async fn user_by_id(db: &impl Db, id: i64) -> Result<Option<WebUser>, StoreError> {
    let row = db
        .client()
        .query_opt("SELECT id, login FROM github_users WHERE id = $1", &[&id])
        .await?;
    Ok(row.map(|r| WebUser {
        id: r.get(0),
        login: r.get(1),
    }))
}

/// Keeps `token` as the user's only one, sealed.
pub async fn save_token(
    db: &impl Db,
    cipher: &TokenCipher,
    user_id: i64,
    token: &NewToken,
) -> Result<(), StoreError> {
    let sealed = cipher.seal(&token_context(user_id), token.access.expose_secret());
    let refresh = token
        .refresh
        .as_ref()
        .map(|r| cipher.seal(&refresh_context(user_id), r.expose_secret()));
    db.client()
        .execute(
            "INSERT INTO user_tokens (user_id, key_id, token_sealed, token_id, refresh_sealed, \
                 expires_at, refresh_expires_at, scopes) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (user_id) DO UPDATE SET key_id = EXCLUDED.key_id, \
                 token_sealed = EXCLUDED.token_sealed, token_id = EXCLUDED.token_id, \
                 refresh_sealed = EXCLUDED.refresh_sealed, expires_at = EXCLUDED.expires_at, \
                 refresh_expires_at = EXCLUDED.refresh_expires_at, scopes = EXCLUDED.scopes, \
                 updated_at = now()",
            &[
                &user_id,
                &cipher.key_id(),
                &sealed,
                &token.token_id,
                &refresh,
                &token.expires_at,
                &token.refresh_expires_at,
                &token.scopes,
            ],
        )
        .await?;
    Ok(())
}

/// The user's token, opened; `None` when they have none (signed out, or
/// deleted after GitHub refused it).
pub async fn load_token(
    db: &impl Db,
    cipher: &TokenCipher,
    user_id: i64,
) -> Result<Option<StoredToken>, StoreError> {
    let Some(row) = db
        .client()
        .query_opt(
            "SELECT key_id, token_sealed, refresh_sealed, expires_at, token_id \
             FROM user_tokens WHERE user_id = $1",
            &[&user_id],
        )
        .await?
    else {
        return Ok(None);
    };
    let key_id: String = row.get(0);
    let access = cipher
        .open(&key_id, &token_context(user_id), row.get::<_, &[u8]>(1))
        .map_err(opened)?;
    let refresh = row
        .get::<_, Option<&[u8]>>(2)
        .map(|sealed| cipher.open(&key_id, &refresh_context(user_id), sealed))
        .transpose()
        .map_err(opened)?;
    Ok(Some(StoredToken {
        access,
        refresh,
        expires_at: row.get(3),
        token_id: row.get(4),
    }))
}

/// Forgets the user's token and ends their sessions; true when there was a
/// token.
pub async fn delete_token(db: &impl Db, user_id: i64) -> Result<bool, StoreError> {
    let deleted = db
        .client()
        .execute("DELETE FROM user_tokens WHERE user_id = $1", &[&user_id])
        .await?;
    db.client()
        .execute("DELETE FROM user_sessions WHERE user_id = $1", &[&user_id])
        .await?;
    Ok(deleted > 0)
}

/// A session under the digest of its id, for `ttl`.
pub async fn open_session(
    db: &impl Db,
    id_digest: &[u8],
    user_id: i64,
    ttl: std::time::Duration,
) -> Result<(), StoreError> {
    let expires_at =
        Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(8));
    db.client()
        .execute(
            "INSERT INTO user_sessions (id_digest, user_id, expires_at) VALUES ($1, $2, $3)",
            &[&id_digest, &user_id, &expires_at],
        )
        .await?;
    Ok(())
}

/// The user of a live session.
pub async fn session_user(db: &impl Db, id_digest: &[u8]) -> Result<Option<WebUser>, StoreError> {
    let row = db
        .client()
        .query_opt(
            "SELECT u.id, u.login FROM user_sessions s JOIN github_users u ON u.id = s.user_id \
             WHERE s.id_digest = $1 AND s.expires_at > now()",
            &[&id_digest],
        )
        .await?;
    Ok(row.map(|r| WebUser {
        id: r.get(0),
        login: r.get(1),
    }))
}

pub async fn end_session(db: &impl Db, id_digest: &[u8]) -> Result<bool, StoreError> {
    Ok(db
        .client()
        .execute(
            "DELETE FROM user_sessions WHERE id_digest = $1",
            &[&id_digest],
        )
        .await?
        > 0)
}

/// A device flow as GitHub started it.
#[derive(Debug, Clone)]
pub struct NewFlow<'a> {
    pub id: Uuid,
    pub browser_digest: &'a [u8],
    pub device_code: &'a SecretString,
    pub user_code: &'a str,
    pub verification_uri: &'a str,
    pub interval_secs: i32,
    pub expires_at: DateTime<Utc>,
}

fn flow_context(id: Uuid) -> String {
    format!("device_flow:{id}")
}

pub async fn create_flow(
    db: &impl Db,
    cipher: &TokenCipher,
    flow: &NewFlow<'_>,
) -> Result<(), StoreError> {
    let sealed = cipher.seal(&flow_context(flow.id), flow.device_code.expose_secret());
    db.client()
        .execute(
            "INSERT INTO device_flows (id, browser_digest, key_id, device_code_sealed, user_code, \
                 verification_uri, interval_secs, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &flow.id,
                &flow.browser_digest,
                &cipher.key_id(),
                &sealed,
                &flow.user_code,
                &flow.verification_uri,
                &flow.interval_secs,
                &flow.expires_at,
            ],
        )
        .await?;
    Ok(())
}

/// Flows started in the last hour: GitHub takes 50 an hour per app.
pub async fn flows_last_hour(db: &impl Db) -> Result<i64, StoreError> {
    Ok(db
        .client()
        .query_one(
            "SELECT count(*) FROM device_flows WHERE created_at > now() - interval '1 hour'",
            &[],
        )
        .await?
        .get(0))
}

/// A flow as the page and the polling job see it.
#[derive(Debug, Clone)]
pub struct Flow {
    pub id: Uuid,
    pub user_code: String,
    pub verification_uri: String,
    pub interval_secs: i32,
    pub expires_at: DateTime<Utc>,
    /// `pending`, `signed_in` or `failed`.
    pub state: String,
    pub error: Option<String>,
    pub message: Option<String>,
    pub login: Option<String>,
    pub polls: i32,
}

pub async fn flow(db: &impl Db, id: Uuid) -> Result<Option<Flow>, StoreError> {
    let row = db
        .client()
        .query_opt(
            "SELECT f.id, f.user_code, f.verification_uri, f.interval_secs, f.expires_at, f.state, \
                 f.error, f.message, u.login, f.polls \
             FROM device_flows f LEFT JOIN github_users u ON u.id = f.user_id WHERE f.id = $1",
            &[&id],
        )
        .await?;
    Ok(row.map(|r| Flow {
        id: r.get(0),
        user_code: r.get(1),
        verification_uri: r.get(2),
        interval_secs: r.get(3),
        expires_at: r.get(4),
        state: r.get(5),
        error: r.get(6),
        message: r.get(7),
        login: r.get(8),
        polls: r.get(9),
    }))
}

/// The flow's device code, opened, for the next poll.
pub async fn flow_device_code(
    db: &impl Db,
    cipher: &TokenCipher,
    id: Uuid,
) -> Result<Option<SecretString>, StoreError> {
    let row = db
        .client()
        .query_opt(
            "SELECT key_id, device_code_sealed FROM device_flows WHERE id = $1",
            &[&id],
        )
        .await?;
    row.map(|r| {
        cipher
            .open(r.get(0), &flow_context(id), r.get::<_, &[u8]>(1))
            .map_err(opened)
    })
    .transpose()
}

/// One more poll, and the interval from now on.
pub async fn record_poll(db: &impl Db, id: Uuid, interval_secs: i32) -> Result<(), StoreError> {
    db.client()
        .execute(
            "UPDATE device_flows SET polls = polls + 1, interval_secs = $2 WHERE id = $1",
            &[&id, &interval_secs],
        )
        .await?;
    Ok(())
}

/// Ends a pending flow: `signed_in` with its user, or `failed` with
/// GitHub's error and a message for people.
pub async fn finish_flow(
    db: &impl Db,
    id: Uuid,
    outcome: Result<i64, (&str, &str)>,
) -> Result<(), StoreError> {
    let (state, user_id, error, message) = match outcome {
        Ok(user_id) => ("signed_in", Some(user_id), None, None),
        Err((error, message)) => ("failed", None, Some(error), Some(message)),
    };
    db.client()
        .execute(
            "UPDATE device_flows SET state = $2, user_id = $3, error = $4, message = $5 \
             WHERE id = $1 AND state = 'pending'",
            &[&id, &state, &user_id, &error, &message],
        )
        .await?;
    Ok(())
}

/// The user a signed-in flow opens a session for, once, and only for the
/// browser that started it.
pub async fn take_flow_session(
    db: &impl Db,
    id: Uuid,
    browser_digest: &[u8],
) -> Result<Option<i64>, StoreError> {
    let row = db
        .client()
        .query_opt(
            "UPDATE device_flows SET session_opened = true \
             WHERE id = $1 AND browser_digest = $2 AND state = 'signed_in' \
                 AND NOT session_opened AND user_id IS NOT NULL \
             RETURNING user_id",
            &[&id, &browser_digest],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}
