//! Secrets at rest: AES-256-GCM with a fresh random nonce per value, the
//! nonce stored before the ciphertext, and the row's identity as associated
//! data, so a sealed token copied into another user's row does not open.
//! Every value records the id of the key that sealed it: a new key seals
//! from now on while retired keys still open what they sealed.

use std::collections::HashMap;
use std::fmt;

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use secrecy::{ExposeSecret, SecretString};

const NONCE_BYTES: usize = 12;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error(
        "auth.encryption_key must be 64 hex digits (32 bytes), e.g. from `openssl rand -hex 32`"
    )]
    BadKey,
    #[error("auth.retired_keys must be `id=64 hex digits` pairs separated by commas")]
    BadRetiredKeys,
    #[error("auth.key_id must be 1 to 32 letters, digits, '-' or '_'")]
    BadKeyId,
    #[error(
        "no key with id {0} is configured; was it retired without being kept in auth.retired_keys?"
    )]
    UnknownKey(String),
    #[error("a sealed value did not open: wrong key, wrong row, or altered")]
    Open,
}

/// The keys: one that seals, all that open. `Debug` shows only the ids.
#[derive(Clone)]
pub struct TokenCipher {
    current: String,
    keys: HashMap<String, Aes256Gcm>,
}

impl fmt::Debug for TokenCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&String> = self.keys.keys().collect();
        ids.sort();
        f.debug_struct("TokenCipher")
            .field("current", &self.current)
            .field("keys", &ids)
            .finish()
    }
}

fn key_from_hex(hex_key: &str) -> Result<Aes256Gcm, SealError> {
    let bytes = hex::decode(hex_key.trim()).map_err(|_| SealError::BadKey)?;
    if bytes.len() != 32 {
        return Err(SealError::BadKey);
    }
    Aes256Gcm::new_from_slice(&bytes).map_err(|_| SealError::BadKey)
}

fn valid_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl TokenCipher {
    /// `key` (hex) under `key_id` seals; `retired` (`id=hex,id=hex`) open
    /// what older keys sealed.
    pub fn new(
        key_id: &str,
        key: &SecretString,
        retired: &SecretString,
    ) -> Result<Self, SealError> {
        if !valid_id(key_id) {
            return Err(SealError::BadKeyId);
        }
        let mut keys = HashMap::new();
        for pair in retired
            .expose_secret()
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (id, hex_key) = pair.split_once('=').ok_or(SealError::BadRetiredKeys)?;
            if !valid_id(id.trim()) {
                return Err(SealError::BadRetiredKeys);
            }
            let cipher = key_from_hex(hex_key).map_err(|_| SealError::BadRetiredKeys)?;
            keys.insert(id.trim().to_owned(), cipher);
        }
        keys.insert(key_id.to_owned(), key_from_hex(key.expose_secret())?);
        Ok(Self {
            current: key_id.to_owned(),
            keys,
        })
    }

    /// The id of the key that seals.
    pub fn key_id(&self) -> &str {
        &self.current
    }

    /// `nonce || ciphertext || tag`, bound to `context` (the row it goes in).
    pub fn seal(&self, context: &str, plaintext: &str) -> Vec<u8> {
        let cipher = &self.keys[&self.current];
        let nonce: Nonce<_> = Nonce::generate();
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: context.as_bytes(),
        };
        // Encryption fails only past 64 GiB of plaintext.
        let sealed = cipher.encrypt(&nonce, payload).unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_BYTES + sealed.len());
        out.extend_from_slice(nonce.as_slice());
        out.extend_from_slice(&sealed);
        out
    }

    /// What [`seal`](Self::seal) sealed with the key `key_id` for `context`.
    pub fn open(
        &self,
        key_id: &str,
        context: &str,
        sealed: &[u8],
    ) -> Result<SecretString, SealError> {
        let cipher = self
            .keys
            .get(key_id)
            .ok_or_else(|| SealError::UnknownKey(key_id.to_owned()))?;
        if sealed.len() < NONCE_BYTES {
            return Err(SealError::Open);
        }
        let (nonce, body) = sealed.split_at(NONCE_BYTES);
        let nonce = Nonce::try_from(nonce).map_err(|_| SealError::Open)?;
        let plain = cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: body,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SealError::Open)?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| SealError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const NEW: &str = "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1eff";

    fn cipher(id: &str, key: &str, retired: &str) -> TokenCipher {
        TokenCipher::new(id, &key.to_owned().into(), &retired.to_owned().into()).unwrap()
    }

    #[test]
    fn sealed_values_open_only_with_their_key_and_row() {
        let c = cipher("k1", KEY, "");
        let sealed = c.seal("user_token:7", "gho_secret_value");
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(
            c.open("k1", "user_token:7", &sealed)
                .unwrap()
                .expose_secret(),
            "gho_secret_value"
        );
        assert_eq!(
            c.open("k1", "user_token:8", &sealed).err(),
            Some(SealError::Open)
        );
        assert_eq!(
            c.open("k0", "user_token:7", &sealed).err(),
            Some(SealError::UnknownKey("k0".into()))
        );
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(
            c.open("k1", "user_token:7", &altered).err(),
            Some(SealError::Open)
        );
        // A fresh nonce each time: the same token seals differently.
        assert_ne!(sealed, c.seal("user_token:7", "gho_secret_value"));
    }

    #[test]
    fn a_rotated_key_seals_while_the_retired_one_still_opens() {
        let old = cipher("k1", KEY, "");
        let sealed = old.seal("ctx", "ghu_token");
        let rotated = cipher("k2", NEW, &format!("k1={KEY}"));
        assert_eq!(rotated.key_id(), "k2");
        assert_eq!(
            rotated.open("k1", "ctx", &sealed).unwrap().expose_secret(),
            "ghu_token"
        );
        let again = rotated.seal("ctx", "ghu_token");
        assert!(old.open("k2", "ctx", &again).is_err());
        assert!(!format!("{rotated:?}").contains("0102"));
    }

    #[test]
    fn bad_keys_are_refused() {
        let bad = |id: &str, key: &str, retired: &str| {
            TokenCipher::new(id, &key.to_owned().into(), &retired.to_owned().into()).unwrap_err()
        };
        assert_eq!(bad("k1", "", ""), SealError::BadKey);
        assert_eq!(bad("k1", "abcd", ""), SealError::BadKey);
        assert_eq!(bad("k1", &KEY.replace('0', "g"), ""), SealError::BadKey);
        assert_eq!(bad("", KEY, ""), SealError::BadKeyId);
        assert_eq!(bad("k 1", KEY, ""), SealError::BadKeyId);
        assert_eq!(bad("k1", KEY, "k0"), SealError::BadRetiredKeys);
        assert_eq!(bad("k1", KEY, "k0=abc"), SealError::BadRetiredKeys);
    }
}
