//! Signing in with GitHub's device flow through the simulator, end to end
//! over HTTP: the page's requests, the polling job, sessions, sealed
//! tokens, each way GitHub ends a flow, `slow_down`, the rate limit, the
//! privacy of private repositories, the CSV export and revocation.

mod signin_support;

use std::time::Duration;

use hubpulse_sim::DeviceAction;
use hubpulse_testkit::eventually;
use reqwest::Method;
use serde_json::Value;
use signin_support::{Browser, NOBODY, WALKER, sign_in, spawn, spawn_with, wait_for_private};

#[tokio::test]
async fn a_person_signs_in_and_only_they_see_their_private_repositories() {
    let (app, sim) = spawn().await;
    // Without the page's header a state-changing request is refused.
    let forged = app
        .http()
        .post(app.url("/v1/auth/device"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    let walker = sign_in(&app, &sim, WALKER).await;
    let session = walker.json(&app, "/v1/auth/session").await;
    assert_eq!(session["login"], WALKER);
    assert_eq!(session["signed_in"], true);
    let mine = wait_for_private(&app, &walker, WALKER, 232).await;
    let private: Vec<&Value> = mine.iter().filter(|r| r["private"] == true).collect();
    assert_eq!(
        private.len(),
        2,
        "both of the walker's private repositories"
    );
    assert_eq!(mine.len(), 232);

    // Nobody signed in, or another user: public repositories only.
    let anonymous = Browser::default()
        .json(&app, &format!("/v1/users/{WALKER}/repos.json"))
        .await;
    let anonymous = anonymous.as_array().unwrap();
    assert_eq!(anonymous.len(), 230);
    assert!(anonymous.iter().all(|r| r["private"] == false));
    let nobody = sign_in(&app, &sim, NOBODY).await;
    wait_for_private(&app, &nobody, NOBODY, 2).await;
    let seen_by_other = nobody
        .json(&app, &format!("/v1/users/{WALKER}/repos.json"))
        .await;
    assert!(
        seen_by_other
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["private"] == false)
    );
    let own = nobody
        .json(&app, &format!("/v1/users/{NOBODY}/repos.json"))
        .await;
    assert_eq!(own.as_array().unwrap().len(), 2);
    // A forged session cookie is no session.
    let mut forged = Browser::default();
    forged
        .cookies
        .insert("hubpulse_session".into(), "0".repeat(64));
    assert_eq!(
        forged.json(&app, "/v1/auth/session").await["signed_in"],
        false
    );

    // The CSV: a header row, the same rows, formulas neutralised.
    let csv = walker
        .request(&app, Method::GET, &format!("/v1/users/{WALKER}/repos.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert_eq!(csv.headers()["cache-control"], "private, max-age=60");
    let etag = csv.headers()["etag"].to_str().unwrap().to_owned();
    let text = csv.text().await.unwrap();
    let mut lines = text.split("\r\n");
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("id,full_name,owner,name,private,visibility,description")
    );
    assert!(
        text.contains(",\"'=HYPERLINK(\"\"https://example.invalid/steal\"\",\"\"Open me\"\")\","),
        "{text:.2000}"
    );
    assert!(!text.contains(",=HYPERLINK"));
    assert_eq!(
        text.matches("\r\n").count(),
        232 + 1,
        "a header and 232 rows, each ended by CRLF"
    );
    let again = walker
        .request(&app, Method::GET, &format!("/v1/users/{WALKER}/repos.csv"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    // Another viewer's export is another version.
    let public = Browser::default()
        .request(&app, Method::GET, &format!("/v1/users/{WALKER}/repos.csv"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 200);
    assert_eq!(public.headers()["cache-control"], "public, max-age=60");

    // The database holds no token, session id or flow cookie as written.
    let dump = dump(&app).await;
    let tokens = sim.admin.user_tokens(WALKER).await.unwrap().tokens;
    assert_eq!(tokens.len(), 1);
    for secret in [
        "gho_",
        "ghr_",
        tokens[0].as_str(),
        walker.cookies["hubpulse_session"].as_str(),
        nobody.cookies["hubpulse_session"].as_str(),
    ] {
        assert!(!dump.contains(secret), "{secret} is in the database dump");
    }
    assert!(dump.contains(WALKER), "the dump is a real one");

    // The user deletes their token: revoked at GitHub, the session ends.
    let no_header = walker
        .request(&app, Method::DELETE, &format!("/v1/auth/tokens/{WALKER}"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_header.status(), 403);
    let others = nobody
        .request(&app, Method::DELETE, &format!("/v1/auth/tokens/{WALKER}"))
        .header("x-hubpulse-csrf", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(others.status(), 403);
    let deleted = walker
        .request(&app, Method::DELETE, &format!("/v1/auth/tokens/{WALKER}"))
        .header("x-hubpulse-csrf", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    let deleted: Value = deleted.json().await.unwrap();
    assert_eq!(
        (
            deleted["deleted"].clone(),
            deleted["revoked_at_github"].clone()
        ),
        (Value::Bool(true), Value::Bool(true))
    );
    assert_eq!(sim.admin.user_tokens(WALKER).await.unwrap().revoked, 1);
    assert_eq!(
        walker.json(&app, "/v1/auth/session").await["signed_in"],
        false
    );
    // An admin may delete anyone's; logging out ends a session.
    let admin = app
        .http()
        .delete(app.url(&format!("/v1/auth/tokens/{NOBODY}")))
        .bearer_auth(hubpulse_testkit::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(admin.status(), 200);
    let mut nobody = nobody;
    let out = nobody
        .request(&app, Method::POST, "/v1/auth/logout")
        .header("x-hubpulse-csrf", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 200);
    nobody.keep(&out);
    assert!(!nobody.cookies.contains_key("hubpulse_session"));
    app.shutdown().await;
}

/// `pg_dump` of the test's database, as text.
async fn dump(app: &hubpulse_testkit::TestApp) -> String {
    let pg_dump = std::fs::read_dir("/usr/lib/postgresql")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin/pg_dump"))
        .find(|p| p.exists())
        .expect("pg_dump is installed with postgresql");
    let out = tokio::process::Command::new(pg_dump)
        .arg("--data-only")
        .arg(app.db.url())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn each_way_github_ends_a_flow_reaches_the_page_with_its_message() {
    let (app, sim) = spawn().await;
    let errors = [
        "expired_token",
        "access_denied",
        "incorrect_device_code",
        "device_flow_disabled",
        "unsupported_grant_type",
        "incorrect_client_credentials",
    ];
    let mut flows = Vec::new();
    for error in errors {
        let mut browser = Browser::default();
        let flow = browser.start(&app).await;
        let action = match error {
            "access_denied" => DeviceAction::Deny,
            "expired_token" => DeviceAction::Expire,
            "incorrect_device_code" => DeviceAction::Forget,
            other => DeviceAction::Error {
                error: other.into(),
            },
        };
        sim.admin
            .device(flow["user_code"].as_str().unwrap(), &action)
            .await
            .unwrap();
        flows.push((error, browser, flow["flow_id"].as_str().unwrap().to_owned()));
    }
    for (error, mut browser, flow_id) in flows {
        let flow = browser.finish(&app, &flow_id).await;
        assert_eq!(flow["state"], "failed", "{error}: {flow}");
        assert_eq!(flow["error"], error);
        assert_eq!(
            flow["message"],
            hubpulse_jobs::kinds::device_flow_message(error),
            "{error}"
        );
        assert!(!browser.cookies.contains_key("hubpulse_session"));
    }
    // The code request itself refused (HTTP 400 at GitHub): a 502 saying why.
    sim.admin.set_device_flow_disabled(true).await.unwrap();
    let refused = app
        .http()
        .post(app.url("/v1/auth/device"))
        .header("x-hubpulse-csrf", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 502);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        hubpulse_jobs::kinds::device_flow_message("device_flow_disabled")
    );
    app.shutdown().await;
}

#[tokio::test]
async fn slow_down_widens_the_polling_interval_and_polls_stay_outside_it() {
    let (app, sim) = spawn().await;
    let mut browser = Browser::default();
    let flow = browser.start(&app).await;
    let user_code = flow["user_code"].as_str().unwrap().to_owned();
    sim.admin
        .device(
            &user_code,
            &DeviceAction::Error {
                error: "slow_down".into(),
            },
        )
        .await
        .unwrap();
    // Two more polls after the slow_down, then the person approves.
    eventually(
        "polls after the slow_down",
        Duration::from_secs(20),
        || async {
            let report = sim
                .admin
                .device_report(&user_code)
                .await
                .map_err(|e| e.to_string())?;
            if report.polls >= 3 {
                Ok(())
            } else {
                Err(format!("{report:?}"))
            }
        },
    )
    .await;
    sim.admin.approve_device(&user_code, WALKER).await.unwrap();
    let done = browser
        .finish(&app, flow["flow_id"].as_str().unwrap())
        .await;
    assert_eq!(done["state"], "signed_in");
    assert_eq!(done["interval"], 2, "GitHub's widened interval is kept");
    let report = sim.admin.device_report(&user_code).await.unwrap();
    // Only the forced slow_down: HubPulse never polled inside an interval.
    assert_eq!(report.slow_downs, 1, "{report:?}");
    assert_eq!(report.interval, 2);
    assert!(report.gaps_ms[0] >= 1000, "{report:?}");
    assert!(
        report.gaps_ms[1..].iter().all(|&gap| gap >= 2000),
        "widened after slow_down: {report:?}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn starting_sign_ins_is_rate_limited() {
    let (app, _sim) = spawn_with(|s| s.auth.device_flows_per_hour = 2).await;
    let mut browser = Browser::default();
    browser.start(&app).await;
    browser.start(&app).await;
    let third = app
        .http()
        .post(app.url("/v1/auth/device"))
        .header("x-hubpulse-csrf", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(third.status(), 429);
    assert!(third.headers().contains_key("retry-after"));
    let body: Value = third.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_requests");
}

#[tokio::test]
async fn without_auth_settings_sign_in_is_off() {
    let app = hubpulse_testkit::TestApp::spawn_with(|s| s.auth.client_id = String::new()).await;
    let session: Value = app.get("/v1/auth/session").await.json().await.unwrap();
    assert_eq!(session["sign_in_available"], false);
    let start = app
        .http()
        .post(app.url("/v1/auth/device"))
        .header("x-hubpulse-csrf", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 503);
    let page = app.get("/").await;
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    assert!(page.text().await.unwrap().contains("Sign in with GitHub"));
}

/// The walker's GitHub id in the simulator (the first named account).
const WALKER_ID: i64 = 9_000_001;

#[tokio::test]
async fn a_token_revoked_at_github_ends_the_users_session_and_job_cleanly() {
    let (app, sim) = spawn().await;
    let walker = sign_in(&app, &sim, WALKER).await;
    wait_for_private(&app, &walker, WALKER, 232).await;
    // The person revokes HubPulse on github.com; the next sync meets a 401.
    assert_eq!(sim.admin.revoke_user_tokens(WALKER).await.unwrap(), 1);
    let store = app.db.store().await;
    let queued = hubpulse_jobs::enqueue(
        &store.conn().await.unwrap(),
        &hubpulse_jobs::kinds::SyncUserRepos { user_id: WALKER_ID },
    )
    .await
    .unwrap();
    let job = queued.id();
    let ended = eventually("the sync ends", Duration::from_secs(20), || async {
        let task: Value = app
            .get(&format!("/v1/tasks/{job}"))
            .await
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if task["status"] == "succeeded" {
            Ok(task)
        } else {
            Err(format!("{task}"))
        }
    })
    .await;
    assert_eq!(ended["result"]["ended"], "revoked", "{ended}");
    assert_eq!(
        walker.json(&app, "/v1/auth/session").await["signed_in"],
        false
    );
    // The token is gone from the database; the public rows stay.
    let left: i64 = app
        .db
        .client()
        .await
        .query_one("SELECT count(*) FROM user_tokens", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    app.shutdown().await;
}

#[tokio::test]
async fn an_expiring_token_is_refreshed_before_use_and_the_old_pair_dies() {
    let sim = hubpulse_testkit::TestSim::spawn_with(|s| {
        s.oauth.interval_secs = 1;
        s.oauth.expiring_tokens = true;
        // Inside the default five-minute margin: refreshed at the first sync.
        s.oauth.token_expires_in_secs = 120;
    })
    .await;
    let url = sim.url.clone();
    let app = hubpulse_testkit::TestApp::spawn_with(|s| {
        s.github.base_url = url.clone();
        s.github.oauth_base_url = url;
    })
    .await;
    let walker = sign_in(&app, &sim, WALKER).await;
    wait_for_private(&app, &walker, WALKER, 232).await;
    let tokens = sim.admin.user_tokens(WALKER).await.unwrap();
    assert_eq!(
        (tokens.active, tokens.revoked),
        (1, 1),
        "one refresh: {tokens:?}"
    );
    let sealed: Option<Vec<u8>> = app
        .db
        .client()
        .await
        .query_one("SELECT refresh_sealed FROM user_tokens", &[])
        .await
        .unwrap()
        .get(0);
    let sealed = sealed.expect("the new refresh token is kept, sealed");
    assert!(!sealed.windows(4).any(|w| w == b"ghr_"));
    app.shutdown().await;
}
