//! What the sign-in tests share: the app with `[auth]` configured against a
//! simulator that polls fast, and a browser's cookies by hand.

#![allow(dead_code)] // each test binary uses its own share

use std::collections::BTreeMap;
use std::time::Duration;

use hubpulse_testkit::{TestApp, TestSim, eventually};
use reqwest::{Method, RequestBuilder, Response};
use secrecy::SecretString;
use serde_json::Value;

pub const KEY: &str = "5f1c0e7a9b3d4f6e8a0c2e4f6a8c0e2f4a6c8e0a2c4e6a8c0e2f4a6c8e0a2c4e";
pub const CLIENT_SECRET: &str = "sim-client-secret-9d8c7b";
pub const WALKER: &str = "hubpulse-walker";
pub const NOBODY: &str = "hubpulse-nobody";

pub async fn spawn_with(configure: impl FnOnce(&mut hubpulse_api::Settings)) -> (TestApp, TestSim) {
    let sim = TestSim::spawn_with(|s| {
        s.limits.search_authenticated = 100_000;
        s.oauth.interval_secs = 1;
        s.oauth.slow_down_step_secs = 1;
    })
    .await;
    let url = sim.url.clone();
    let app = TestApp::spawn_with(|s| {
        s.github.base_url = url.clone();
        s.github.oauth_base_url = url;
        s.auth.client_id = "hubpulse-test-client".into();
        s.auth.client_secret = SecretString::from(CLIENT_SECRET.to_owned());
        s.auth.encryption_key = SecretString::from(KEY.to_owned());
        configure(s);
    })
    .await;
    (app, sim)
}

pub async fn spawn() -> (TestApp, TestSim) {
    spawn_with(|_| {}).await
}

/// A browser: its cookies, sent back as a browser would.
#[derive(Default, Clone)]
pub struct Browser {
    pub cookies: BTreeMap<String, String>,
}

impl Browser {
    pub fn request(&self, app: &TestApp, method: Method, path: &str) -> RequestBuilder {
        let mut request = app.http().request(method, app.url(path));
        if !self.cookies.is_empty() {
            let header: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            request = request.header("cookie", header.join("; "));
        }
        request
    }

    /// Keeps the reply's cookies (a `Max-Age=0` one is deleted).
    pub fn keep(&mut self, response: &Response) {
        for value in response.headers().get_all("set-cookie") {
            let value = value.to_str().unwrap();
            assert!(value.contains("HttpOnly"), "{value}");
            assert!(value.contains("SameSite="), "{value}");
            let (pair, _) = value.split_once(';').unwrap();
            let (name, cookie) = pair.split_once('=').unwrap();
            if value.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), cookie.to_owned());
            }
        }
    }

    /// `POST /v1/auth/device` as the page sends it.
    pub async fn start(&mut self, app: &TestApp) -> Value {
        let response = self
            .request(app, Method::POST, "/v1/auth/device")
            .header("x-hubpulse-csrf", "1")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        self.keep(&response);
        response.json().await.unwrap()
    }

    /// `GET /v1/auth/device/{id}` until the flow is no longer pending.
    pub async fn finish(&mut self, app: &TestApp, flow_id: &str) -> Value {
        let this = std::sync::Mutex::new(self.clone());
        let flow = eventually("the sign-in ends", Duration::from_secs(30), || async {
            let request = this.lock().unwrap().request(
                app,
                Method::GET,
                &format!("/v1/auth/device/{flow_id}"),
            );
            let response = request.send().await.map_err(|e| e.to_string())?;
            this.lock().unwrap().keep(&response);
            let flow: Value = response.json().await.map_err(|e| e.to_string())?;
            if flow["state"] == "pending" {
                Err(format!("still pending: {flow}"))
            } else {
                Ok(flow)
            }
        })
        .await;
        *self = this.into_inner().unwrap();
        flow
    }

    pub async fn json(&self, app: &TestApp, path: &str) -> Value {
        let response = self.request(app, Method::GET, path).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        response.json().await.unwrap()
    }
}

/// Signs `login` in through the simulator; the browser holds the session.
pub async fn sign_in(app: &TestApp, sim: &TestSim, login: &str) -> Browser {
    let mut browser = Browser::default();
    let flow = browser.start(app).await;
    sim.admin
        .approve_device(flow["user_code"].as_str().unwrap(), login)
        .await
        .unwrap();
    let flow = browser.finish(app, flow["flow_id"].as_str().unwrap()).await;
    assert_eq!(flow["state"], "signed_in", "{flow}");
    assert!(browser.cookies.contains_key("hubpulse_session"));
    browser
}

/// Waits until `login`'s private repositories are stored (the job after
/// sign-in) and the export holds `expected` rows, as `browser` sees them.
pub async fn wait_for_private(
    app: &TestApp,
    browser: &Browser,
    login: &str,
    expected: usize,
) -> Vec<Value> {
    eventually(
        "the user's repositories arrive",
        Duration::from_secs(30),
        || async {
            let path = format!("/v1/users/{login}/repos.json");
            let response = browser
                .request(app, Method::GET, &path)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            // 404 until the first page is stored.
            if response.status() != 200 {
                return Err(format!("{path}: {}", response.status()));
            }
            let rows: Value = response.json().await.map_err(|e| e.to_string())?;
            let rows = rows.as_array().cloned().unwrap_or_default();
            if rows.iter().any(|r| r["private"] == true) && rows.len() == expected {
                Ok(rows)
            } else {
                Err(format!("{} rows, none private yet", rows.len()))
            }
        },
    )
    .await
}
