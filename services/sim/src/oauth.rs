//! GitHub's OAuth device flow as state: device codes waiting for a person
//! (approved or denied through `/_sim/oauth/...` as they would on
//! github.com), the tokens issued, and which were revoked. Each code counts
//! its polls and the gaps between them, so a test sees whether a client
//! honours `interval` and `slow_down`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::settings::OAuthSettings;
use crate::state::{lock, unix_now};

/// The errors GitHub's token endpoint answers with (as HTTP 200 bodies).
pub const POLL_ERRORS: [&str; 8] = [
    "authorization_pending",
    "slow_down",
    "expired_token",
    "unsupported_grant_type",
    "incorrect_client_credentials",
    "incorrect_device_code",
    "access_denied",
    "device_flow_disabled",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Pending,
    Approved,
    Denied,
}

#[derive(Debug)]
struct Device {
    user_code: String,
    interval: u64,
    expires_at: i64,
    decision: Decision,
    login: Option<String>,
    /// Errors the next polls answer, queued by a test; a terminal one stays.
    forced: VecDeque<String>,
    polls: u32,
    slow_downs: u32,
    last_poll: Option<Instant>,
    gaps_ms: Vec<u64>,
    issued: bool,
}

/// `GET /_sim/oauth/devices/{user_code}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceReport {
    pub user_code: String,
    pub decision: Decision,
    pub interval: u64,
    pub polls: u32,
    pub slow_downs: u32,
    /// Milliseconds between consecutive polls.
    pub gaps_ms: Vec<u64>,
    pub issued: bool,
}

#[derive(Debug, Clone)]
struct Grant {
    login: String,
    revoked: bool,
    expires_at: Option<i64>,
}

/// What a poll of the token endpoint answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Poll {
    Error {
        error: String,
        interval: Option<u64>,
    },
    Token(Issued),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Issued {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: Option<u64>,
}

/// `GET /_sim/oauth/tokens/{login}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenReport {
    pub active: u32,
    pub revoked: u32,
    /// Every token issued to the login, live ones first: tests look for
    /// them where they must not be (logs, replies, a database dump).
    #[serde(default)]
    pub tokens: Vec<String>,
}

#[derive(Default)]
struct Inner {
    devices: HashMap<String, Device>,
    by_user_code: HashMap<String, String>,
    tokens: HashMap<String, Grant>,
    refresh: HashMap<String, String>,
    disabled: bool,
}

#[derive(Default)]
pub struct OAuthState {
    inner: Mutex<Inner>,
}

fn random(prefix: &str, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let tail: String = (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{prefix}{tail}")
}

fn user_code() -> String {
    // GitHub's: eight letters and digits with a hyphen, no look-alikes.
    const ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ23456789";
    let mut rng = rand::rng();
    let mut pick = || ALPHABET[rng.random_range(0..ALPHABET.len())] as char;
    let a: String = (0..4).map(|_| pick()).collect();
    let b: String = (0..4).map(|_| pick()).collect();
    format!("{a}-{b}")
}

impl OAuthState {
    pub fn set_disabled(&self, disabled: bool) {
        lock(&self.inner).disabled = disabled;
    }

    pub fn disabled(&self) -> bool {
        lock(&self.inner).disabled
    }

    /// A new code: `(device_code, user_code)`.
    pub fn start(&self, settings: &OAuthSettings) -> (String, String) {
        let mut inner = lock(&self.inner);
        let device_code = random("", 40);
        let user_code = user_code();
        inner
            .by_user_code
            .insert(user_code.clone(), device_code.clone());
        inner.devices.insert(
            device_code.clone(),
            Device {
                user_code: user_code.clone(),
                interval: settings.interval_secs,
                expires_at: unix_now() + settings.expires_in_secs as i64,
                decision: Decision::Pending,
                login: None,
                forced: VecDeque::new(),
                polls: 0,
                slow_downs: 0,
                last_poll: None,
                gaps_ms: Vec::new(),
                issued: false,
            },
        );
        (device_code, user_code)
    }

    /// One poll of the token endpoint with `device_code`.
    pub fn poll(&self, device_code: &str, settings: &OAuthSettings) -> Poll {
        let mut inner = lock(&self.inner);
        let now = Instant::now();
        let error = |e: &str| Poll::Error {
            error: e.into(),
            interval: None,
        };
        if inner.disabled {
            return error("device_flow_disabled");
        }
        let Some(device) = inner.devices.get_mut(device_code) else {
            return error("incorrect_device_code");
        };
        device.polls += 1;
        let gap = device.last_poll.map(|last| now.duration_since(last));
        if let Some(gap) = gap {
            device.gaps_ms.push(gap.as_millis() as u64);
        }
        device.last_poll = Some(now);
        if let Some(forced) = device.forced.front().cloned() {
            if forced == "slow_down" {
                device.forced.pop_front();
                device.interval += settings.slow_down_step_secs;
                device.slow_downs += 1;
                return Poll::Error {
                    error: forced,
                    interval: Some(device.interval),
                };
            }
            if forced == "authorization_pending" {
                device.forced.pop_front();
            }
            return error(&forced);
        }
        if unix_now() >= device.expires_at {
            return error("expired_token");
        }
        // Sooner than the interval since the last poll: GitHub's slow_down,
        // five more seconds (here `slow_down_step_secs`) from now on.
        if gap.is_some_and(|gap| gap.as_millis() < u128::from(device.interval) * 1000) {
            device.interval += settings.slow_down_step_secs;
            device.slow_downs += 1;
            return Poll::Error {
                error: "slow_down".into(),
                interval: Some(device.interval),
            };
        }
        match device.decision {
            Decision::Pending => error("authorization_pending"),
            Decision::Denied => error("access_denied"),
            Decision::Approved if device.issued => error("incorrect_device_code"),
            Decision::Approved => {
                device.issued = true;
                let login = device.login.clone().unwrap_or_default();
                drop(inner);
                Poll::Token(self.issue(&login, settings))
            }
        }
    }

    fn issue(&self, login: &str, settings: &OAuthSettings) -> Issued {
        let mut inner = lock(&self.inner);
        let expiring = settings.expiring_tokens;
        let access_token = random(if expiring { "ghu_" } else { "gho_" }, 36);
        inner.tokens.insert(
            access_token.clone(),
            Grant {
                login: login.to_owned(),
                revoked: false,
                expires_at: expiring.then(|| unix_now() + settings.token_expires_in_secs as i64),
            },
        );
        let refresh_token = expiring.then(|| random("ghr_", 76));
        if let Some(refresh) = &refresh_token {
            inner.refresh.insert(refresh.clone(), access_token.clone());
        }
        Issued {
            access_token,
            refresh_token,
            expires_in: expiring.then_some(settings.token_expires_in_secs),
        }
    }

    /// A refresh token for a new pair; the old pair stops working.
    pub fn refresh(&self, refresh_token: &str, settings: &OAuthSettings) -> Option<Issued> {
        let login = {
            let mut inner = lock(&self.inner);
            let old = inner.refresh.remove(refresh_token)?;
            let grant = inner.tokens.get_mut(&old)?;
            grant.revoked = true;
            grant.login.clone()
        };
        Some(self.issue(&login, settings))
    }

    /// The login a live token belongs to.
    pub fn login_for(&self, token: &str) -> Option<String> {
        let inner = lock(&self.inner);
        let grant = inner.tokens.get(token)?;
        let live = !grant.revoked && grant.expires_at.is_none_or(|at| unix_now() < at);
        live.then(|| grant.login.clone())
    }

    /// `DELETE /applications/{client_id}/token`: false when unknown.
    pub fn revoke(&self, token: &str) -> bool {
        match lock(&self.inner).tokens.get_mut(token) {
            Some(grant) if !grant.revoked => {
                grant.revoked = true;
                true
            }
            _ => false,
        }
    }

    /// The user revoked the app on github.com: every token of theirs.
    pub fn revoke_all(&self, login: &str) -> u32 {
        let mut n = 0;
        for grant in lock(&self.inner).tokens.values_mut() {
            if grant.login.eq_ignore_ascii_case(login) && !grant.revoked {
                grant.revoked = true;
                n += 1;
            }
        }
        n
    }

    pub fn tokens_of(&self, login: &str) -> TokenReport {
        let mut report = TokenReport::default();
        let mut revoked = Vec::new();
        for (token, grant) in &lock(&self.inner).tokens {
            if grant.login.eq_ignore_ascii_case(login) {
                if grant.revoked {
                    report.revoked += 1;
                    revoked.push(token.clone());
                } else {
                    report.active += 1;
                    report.tokens.push(token.clone());
                }
            }
        }
        report.tokens.extend(revoked);
        report
    }

    /// What a person does on github.com/login/device with `user_code`, or
    /// what a test forces: `Err` names what was wrong.
    pub fn act(&self, user_code: &str, action: &DeviceAction) -> Result<(), String> {
        let mut inner = lock(&self.inner);
        let device_code = inner
            .by_user_code
            .get(user_code)
            .cloned()
            .ok_or("no such user code")?;
        if matches!(action, DeviceAction::Forget) {
            inner.devices.remove(&device_code);
            return Ok(());
        }
        let device = inner
            .devices
            .get_mut(&device_code)
            .ok_or("the code was forgotten")?;
        match action {
            DeviceAction::Approve { login } => {
                device.decision = Decision::Approved;
                device.login = Some(login.clone());
            }
            DeviceAction::Deny => device.decision = Decision::Denied,
            DeviceAction::Expire => device.expires_at = unix_now() - 1,
            DeviceAction::Error { error } => {
                if !POLL_ERRORS.contains(&error.as_str()) {
                    return Err(format!("not a device-flow error: {error}"));
                }
                device.forced.push_back(error.clone());
            }
            DeviceAction::Forget => {}
        }
        Ok(())
    }

    pub fn report(&self, user_code: &str) -> Option<DeviceReport> {
        let inner = lock(&self.inner);
        let device = inner.devices.get(inner.by_user_code.get(user_code)?)?;
        Some(DeviceReport {
            user_code: device.user_code.clone(),
            decision: device.decision.clone(),
            interval: device.interval,
            polls: device.polls,
            slow_downs: device.slow_downs,
            gaps_ms: device.gaps_ms.clone(),
            issued: device.issued,
        })
    }
}

/// The body of `POST /_sim/oauth/devices/{user_code}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum DeviceAction {
    /// The person signs in as `login` and authorises the app.
    Approve { login: String },
    /// The person cancels: `access_denied`.
    Deny,
    /// The code's fifteen minutes are up: `expired_token`.
    Expire,
    /// GitHub forgets the code: `incorrect_device_code`.
    Forget,
    /// The next poll answers `error` (`slow_down` widens the interval once;
    /// a terminal error stays).
    Error { error: String },
}
