//! The `[auth]` section (signing in with GitHub) and what the sign-in jobs
//! need of it: the OAuth app's client id and secret, and the keys that seal
//! user tokens at rest. With no client id or no encryption key, sign-in is
//! off: its routes answer 503 and nothing is stored.

use std::sync::Arc;

use hubpulse_runtime::SettingsError;
use hubpulse_store::sealed::TokenCipher;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    /// The OAuth (or GitHub) app's client id; empty turns sign-in off.
    pub client_id: String,
    /// Only for revoking tokens at GitHub (HTTP Basic); the device flow
    /// needs none. Never logged.
    pub client_secret: SecretString,
    /// `scope` asked for: `repo` lets the token list private repositories.
    pub scope: String,
    /// 64 hex digits (AES-256); empty turns sign-in off. Never logged.
    pub encryption_key: SecretString,
    /// Stored with each sealed value, so the key can be rotated.
    pub key_id: String,
    /// Older keys that still open what they sealed: `id=hex,id=hex`.
    pub retired_keys: SecretString,
    pub session_ttl_hours: u64,
    /// Mark cookies `Secure` (set behind HTTPS).
    pub secure_cookies: bool,
    /// New device flows an hour, every replica together (GitHub: 50 code
    /// submissions an hour per app).
    pub device_flows_per_hour: i64,
    /// Refresh an expiring token this long before it expires.
    pub refresh_margin_secs: u64,
}

impl AuthSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.sign_in()
            .map(|_| ())
            .map_err(|reason| SettingsError::Invalid {
                key: "auth.encryption_key",
                reason,
            })
    }

    /// What signing in needs, or `None` when it is off.
    pub fn sign_in(&self) -> Result<Option<Arc<SignIn>>, String> {
        if self.client_id.trim().is_empty() || self.encryption_key.expose_secret().is_empty() {
            return Ok(None);
        }
        let cipher = TokenCipher::new(&self.key_id, &self.encryption_key, &self.retired_keys)
            .map_err(|e| e.to_string())?;
        Ok(Some(Arc::new(SignIn {
            settings: self.clone(),
            cipher,
        })))
    }
}

/// Sign-in, configured: the settings and the keys.
#[derive(Debug)]
pub struct SignIn {
    pub settings: AuthSettings,
    pub cipher: TokenCipher,
}

impl SignIn {
    pub fn client_secret(&self) -> Option<&str> {
        let secret = self.settings.client_secret.expose_secret();
        (!secret.is_empty()).then_some(secret)
    }
}

/// GitHub's token endpoint's answer: a token, or an `error` (HTTP 200).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenReply {
    pub access_token: Option<SecretString>,
    pub refresh_token: Option<SecretString>,
    /// Numbers arrive as strings in GitHub's form answers.
    #[serde(default, deserialize_with = "number")]
    pub expires_in: Option<u64>,
    #[serde(default, deserialize_with = "number")]
    pub refresh_token_expires_in: Option<u64>,
    pub scope: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    #[serde(default, deserialize_with = "number")]
    pub interval: Option<u64>,
}

/// A number as JSON writes it or as a form writes it (a string).
pub(crate) fn number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u64),
        Text(String),
    }
    Ok(match Option::<Raw>::deserialize(d)? {
        Some(Raw::Number(n)) => Some(n),
        Some(Raw::Text(s)) => s.trim().parse().ok(),
        None => None,
    })
}

/// `GET /user`: who the token belongs to.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct AuthenticatedUser {
    pub id: i64,
    pub login: String,
}

/// GitHub's answer to a device-code request.
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceCodeReply {
    pub device_code: SecretString,
    pub user_code: String,
    pub verification_uri: String,
    #[serde(default, deserialize_with = "number")]
    pub expires_in: Option<u64>,
    #[serde(default, deserialize_with = "number")]
    pub interval: Option<u64>,
}
