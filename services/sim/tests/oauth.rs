//! The OAuth device flow, `/user`, `/user/repos` and revocation over real
//! HTTP: form answers by default and JSON when asked, every poll error,
//! `slow_down` when polled inside the interval (counted), private
//! repositories only for their owner's token, and 401 once revoked.

mod common;

use common::{Sim, start};
use hubpulse_domain::wire::RepoPayload;
use hubpulse_sim::admin_client::SimAdmin;
use hubpulse_sim::{Decision, DeviceAction, POLL_ERRORS};
use reqwest::StatusCode;
use serde_json::Value;

const WALKER: &str = "hubpulse-walker";
const NOBODY: &str = "hubpulse-nobody";
const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn form(pairs: &[(&str, &str)]) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        out.append_pair(k, v);
    }
    out.finish()
}

async fn sim() -> (Sim, SimAdmin) {
    let sim = start(|s| {
        s.oauth.interval_secs = 1;
        s.oauth.slow_down_step_secs = 1;
    })
    .await;
    let admin = SimAdmin::new(&sim.base).unwrap();
    (sim, admin)
}

/// A new code, asked for as JSON: `(device_code, user_code)`.
async fn code(sim: &Sim) -> (String, String) {
    let reply: Value = sim
        .client
        .post(format!("{}/login/device/code", sim.base))
        .header("accept", "application/json")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("client_id", "hubpulse-test"), ("scope", "repo")]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        reply["device_code"].as_str().unwrap().to_owned(),
        reply["user_code"].as_str().unwrap().to_owned(),
    )
}

async fn poll(sim: &Sim, device_code: &str) -> Value {
    let reply = sim
        .client
        .post(format!("{}/login/oauth/access_token", sim.base))
        .header("accept", "application/json")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("client_id", "hubpulse-test"),
            ("device_code", device_code),
            ("grant_type", GRANT),
        ]))
        .send()
        .await
        .unwrap();
    // Errors too are HTTP 200 bodies.
    assert_eq!(reply.status(), StatusCode::OK);
    reply.json().await.unwrap()
}

async fn sign_in(sim: &Sim, admin: &SimAdmin, login: &str) -> String {
    let (device, user) = code(sim).await;
    admin.approve_device(&user, login).await.unwrap();
    let reply = poll(sim, &device).await;
    reply["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{reply}"))
        .to_owned()
}

async fn my_repos(sim: &Sim, token: &str) -> (StatusCode, Vec<RepoPayload>) {
    let mut all = Vec::new();
    let mut url = Some(format!("{}/user/repos?per_page=100", sim.base));
    let mut status = StatusCode::OK;
    while let Some(next) = url.take() {
        let reply = sim
            .client
            .get(&next)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        status = reply.status();
        if status != StatusCode::OK {
            break;
        }
        url = common::next_link(&reply);
        all.extend(reply.json::<Vec<RepoPayload>>().await.unwrap());
    }
    (status, all)
}

#[tokio::test]
async fn the_code_request_answers_a_form_unless_json_is_asked_for() {
    let (sim, admin) = sim().await;
    let reply = sim
        .client
        .post(format!("{}/login/device/code", sim.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("client_id", "hubpulse-test")]))
        .send()
        .await
        .unwrap();
    assert!(
        reply.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/x-www-form-urlencoded")
    );
    let answer: Vec<(String, String)> =
        url::form_urlencoded::parse(reply.text().await.unwrap().as_bytes())
            .into_owned()
            .collect();
    let get = |k: &str| {
        answer
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(get("device_code").len(), 40);
    assert_eq!(get("user_code").len(), 9);
    assert_eq!(get("interval"), "1");
    assert_eq!(get("expires_in"), "900");
    assert!(get("verification_uri").ends_with("/login/device"));

    admin.set_device_flow_disabled(true).await.unwrap();
    let refused = sim
        .client
        .post(format!("{}/login/device/code", sim.base))
        .header("accept", "application/json")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("client_id", "hubpulse-test")]))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "device_flow_disabled");
}

#[tokio::test]
async fn every_poll_error_is_a_200_body_and_slow_down_widens_the_interval() {
    let (sim, admin) = sim().await;
    let (device, user) = code(&sim).await;
    assert_eq!(poll(&sim, &device).await["error"], "authorization_pending");
    // At once again: inside the interval.
    let slow = poll(&sim, &device).await;
    assert_eq!(slow["error"], "slow_down");
    assert_eq!(slow["interval"], 2);
    let report = admin.device_report(&user).await.unwrap();
    assert_eq!(
        (report.polls, report.slow_downs, report.interval),
        (2, 1, 2)
    );
    assert_eq!(report.decision, Decision::Pending);

    // Each terminal error, forced on a fresh code.
    for error in POLL_ERRORS
        .iter()
        .filter(|e| !matches!(**e, "authorization_pending" | "slow_down"))
    {
        let (device, user) = code(&sim).await;
        admin
            .device(
                &user,
                &DeviceAction::Error {
                    error: (*error).into(),
                },
            )
            .await
            .unwrap();
        assert_eq!(poll(&sim, &device).await["error"], *error, "{error}");
    }
    // And as a person or the clock would cause them.
    let (device, user) = code(&sim).await;
    admin.device(&user, &DeviceAction::Deny).await.unwrap();
    assert_eq!(poll(&sim, &device).await["error"], "access_denied");
    let (device, user) = code(&sim).await;
    admin.device(&user, &DeviceAction::Expire).await.unwrap();
    assert_eq!(poll(&sim, &device).await["error"], "expired_token");
    assert_eq!(
        poll(&sim, "no-such-code").await["error"],
        "incorrect_device_code"
    );
    let wrong_grant: Value = sim
        .client
        .post(format!("{}/login/oauth/access_token", sim.base))
        .header("accept", "application/json")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("client_id", "x"),
            ("device_code", device.as_str()),
            ("grant_type", "password"),
        ]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(wrong_grant["error"], "unsupported_grant_type");
    assert!(
        admin
            .device(
                &user,
                &DeviceAction::Error {
                    error: "nonsense".into()
                }
            )
            .await
            .is_err()
    );
}

#[tokio::test]
async fn private_repositories_are_seen_only_with_their_owners_token_until_revoked() {
    let (sim, admin) = sim().await;
    let walker = sign_in(&sim, &admin, WALKER).await;
    let nobody = sign_in(&sim, &admin, NOBODY).await;

    let me: Value = sim
        .client
        .get(format!("{}/user", sim.base))
        .bearer_auth(&walker)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["login"], WALKER);

    let (status, walker_repos) = my_repos(&sim, &walker).await;
    assert_eq!(status, StatusCode::OK);
    let private: Vec<&RepoPayload> = walker_repos.iter().filter(|r| r.private).collect();
    assert_eq!(private.len(), 2);
    assert_eq!(walker_repos.len(), 232);
    assert!(
        private
            .iter()
            .all(|r| r.owner.login == WALKER && r.visibility.as_deref() == Some("private"))
    );
    assert!(private[0].description.as_deref().unwrap().starts_with('='));

    let (_, nobody_repos) = my_repos(&sim, &nobody).await;
    assert_eq!(nobody_repos.len(), 2);
    assert!(nobody_repos.iter().all(|r| r.owner.login == NOBODY));
    // The public list never shows a private repository.
    let public: Vec<RepoPayload> = sim
        .client
        .get(format!(
            "{}/users/{WALKER}/repos?per_page=100&page=3",
            sim.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(public.iter().all(|r| !r.private));
    // No token, or a made-up one: 401.
    assert_eq!(
        sim.client
            .get(format!("{}/user/repos", sim.base))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        my_repos(&sim, "gho_madeup").await.0,
        StatusCode::UNAUTHORIZED
    );
    // `type` with `visibility`: GitHub's 422.
    let both = sim
        .client
        .get(format!("{}/user/repos?type=all&visibility=all", sim.base))
        .bearer_auth(&walker)
        .send()
        .await
        .unwrap();
    assert_eq!(both.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Revoked through the API (Basic auth as the app), then 401.
    let unauthenticated = sim
        .client
        .delete(format!("{}/applications/hubpulse-test/token", sim.base))
        .json(&serde_json::json!({ "access_token": walker }))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    let revoke = sim
        .client
        .delete(format!("{}/applications/hubpulse-test/token", sim.base))
        .basic_auth("hubpulse-test", Some("secret"))
        .json(&serde_json::json!({ "access_token": walker }))
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), StatusCode::NO_CONTENT);
    assert_eq!(my_repos(&sim, &walker).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(admin.user_tokens(WALKER).await.unwrap().revoked, 1);
    // The user revoking the app on github.com ends the rest.
    assert_eq!(admin.revoke_user_tokens(NOBODY).await.unwrap(), 1);
    assert_eq!(my_repos(&sim, &nobody).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_approved_code_gives_one_token_and_expiring_tokens_refresh_once() {
    let sim = start(|s| {
        s.oauth.interval_secs = 1;
        s.oauth.expiring_tokens = true;
    })
    .await;
    let admin = SimAdmin::new(&sim.base).unwrap();
    let (device, user) = code(&sim).await;
    admin.approve_device(&user, WALKER).await.unwrap();
    let token = poll(&sim, &device).await;
    assert!(token["access_token"].as_str().unwrap().starts_with("ghu_"));
    assert_eq!(token["expires_in"], 28800);
    let refresh = token["refresh_token"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(poll(&sim, &device).await["error"], "incorrect_device_code");
    let refreshed = |refresh: String| {
        let sim = &sim;
        async move {
            sim.client
                .post(format!("{}/login/oauth/access_token", sim.base))
                .header("accept", "application/json")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(&[
                    ("client_id", "hubpulse-test"),
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh.as_str()),
                ]))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let new = refreshed(refresh.clone()).await;
    assert!(new["access_token"].as_str().unwrap().starts_with("ghu_"));
    // Single use: the old refresh token and the old access token are dead.
    assert_eq!(refreshed(refresh).await["error"], "bad_refresh_token");
    assert_eq!(
        my_repos(&sim, token["access_token"].as_str().unwrap())
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        my_repos(&sim, new["access_token"].as_str().unwrap())
            .await
            .0,
        StatusCode::OK
    );
}
