//! What each status means, over real HTTP against a scripted stand-in: 202,
//! 204, 301 followed once and reported, 404/410/451 and a retired API
//! version, the headers each operation and credential sends, the budget kept
//! per credential, and POSTs of a form or JSON to the OAuth origin.

mod common;

use common::script::{Reply, Script};
use common::{TOKEN, local_budget, settings};
use hubpulse_github::{
    ApiVersion, Credential, Disposition, GithubClient, GithubError, Operation, Page, PostBody,
    Resource, Url, UserToken, token_id,
};
use secrecy::SecretString;
use serde_json::{Value, json};

const USER_TOKEN: &str = "gho_SignedInUserTokenNeverLogged000000000";

fn client_for(script: &Script) -> GithubClient {
    let mut settings = settings(&script.base);
    // The same stand-in under another host name: another origin.
    settings.oauth_base_url = format!(
        "{}/oauth-origin",
        script.base.replace("127.0.0.1", "localhost")
    );
    GithubClient::new(&settings, local_budget(&settings), None).unwrap()
}

fn user() -> Credential {
    Credential::User(UserToken::new(&SecretString::from(USER_TOKEN)).unwrap())
}

#[tokio::test]
async fn statistics_still_computing_then_ready_and_an_empty_repository() {
    let script = Script::start().await;
    let path = "/repos/o/r/stats/contributors";
    script
        .on(path, Reply::json(202, json!({})).quota(4999))
        .on(path, Reply::json(200, json!([{"total": 3}])).quota(4998))
        .on("/repos/o/empty/stats/contributors", Reply::empty(204));
    let client = client_for(&script);
    let url = client
        .url(Operation::RepoContributorStats, &["o", "r"], &[])
        .unwrap();

    let page = client
        .get::<Value>(
            Operation::RepoContributorStats,
            &url,
            &Credential::Service,
            None,
        )
        .await
        .unwrap();
    assert!(
        matches!(page, Page::Computing { attempts: 1, .. }),
        "{page:?}"
    );
    let page = client
        .get::<Value>(
            Operation::RepoContributorStats,
            &url,
            &Credential::Service,
            None,
        )
        .await
        .unwrap();
    let Page::Fresh { body, .. } = page else {
        panic!("ready on the second ask: {page:?}")
    };
    assert_eq!(body[0]["total"], 3);

    let empty = client
        .url(Operation::RepoContributorStats, &["o", "empty"], &[])
        .unwrap();
    let page = client
        .get::<Value>(
            Operation::RepoContributorStats,
            &empty,
            &Credential::Service,
            None,
        )
        .await
        .unwrap();
    assert!(matches!(page, Page::Empty { .. }), "{page:?}");
}

#[tokio::test]
async fn a_renamed_repository_is_followed_once_and_its_new_name_reported() {
    let script = Script::start().await;
    script
        .on(
            "/repos/old/name",
            Reply::json(301, json!({"message": "Moved Permanently"}))
                .header("location", &script.url("/repositories/42")),
        )
        .on(
            "/repositories/42",
            Reply::json(200, json!({"id": 42, "full_name": "new-owner/new-name"})),
        )
        // Twice in a row is refused, not followed round.
        .on(
            "/repos/a/loop",
            Reply::empty(301).header("location", &script.url("/repos/b/loop")),
        )
        .on(
            "/repos/b/loop",
            Reply::empty(301).header("location", &script.url("/repos/a/loop")),
        )
        // Never followed to another origin, so the token stays home.
        .on(
            "/repos/o/away",
            Reply::empty(301).header("location", "http://192.0.2.1/repositories/7"),
        );
    let client = client_for(&script);
    let get = |owner: &'static str, name: &'static str| {
        let client = client.clone();
        async move {
            let url = client.url(Operation::GetRepo, &[owner, name], &[]).unwrap();
            client
                .get::<Value>(Operation::GetRepo, &url, &Credential::Service, None)
                .await
        }
    };

    let Page::Fresh {
        moved,
        url,
        body,
        attempts,
        ..
    } = get("old", "name").await.unwrap()
    else {
        panic!("a body after the move")
    };
    let moved = moved.expect("the move is reported");
    assert_eq!(moved.from.path(), "/repos/old/name");
    assert_eq!(moved.to.path(), "/repositories/42");
    assert_eq!(moved.full_name.as_deref(), Some("new-owner/new-name"));
    assert_eq!(url.path(), "/repositories/42");
    assert_eq!((body["id"].as_i64(), attempts), (Some(42), 2));

    let err = get("a", "loop").await.unwrap_err();
    assert!(
        matches!(err, GithubError::Status { status: 301, .. }),
        "{err:?}"
    );
    let err = get("o", "away").await.unwrap_err();
    assert!(matches!(err, GithubError::Url(_)), "{err:?}");
    assert_eq!(err.disposition(), Disposition::GiveUp);
    assert_eq!(
        script.seen().len(),
        5,
        "one request per hop, none elsewhere"
    );
}

#[tokio::test]
async fn missing_gone_blocked_and_a_retired_version_are_given_up_on() {
    let script = Script::start().await;
    let not_found = json!({"message": "Not Found"});
    script
        .on("/users/renamed", Reply::json(404, not_found))
        .on(
            "/users/deleted",
            Reply::json(410, json!({"message": "Gone"})),
        )
        .on(
            "/users/blocked",
            Reply::json(451, json!({"message": "Repository access blocked"})),
        )
        .on(
            "/users/any",
            Reply::json(
                410,
                json!({"message": "API version 2022-11-28 is no longer supported"}),
            ),
        );
    let client = client_for(&script);
    let mut errors = Vec::new();
    for login in ["renamed", "deleted", "blocked", "any"] {
        let url = client.url(Operation::GetUser, &[login], &[]).unwrap();
        errors.push(
            client
                .get::<Value>(Operation::GetUser, &url, &Credential::Service, None)
                .await
                .unwrap_err(),
        );
    }
    assert!(
        matches!(errors[0], GithubError::NotFound),
        "{:?}",
        errors[0]
    );
    assert!(matches!(errors[1], GithubError::Gone), "{:?}", errors[1]);
    assert!(
        matches!(errors[2], GithubError::Unavailable),
        "{:?}",
        errors[2]
    );
    assert!(
        matches!(
            errors[3],
            GithubError::ApiVersionRetired {
                version: "2022-11-28"
            }
        ),
        "{:?}",
        errors[3]
    );
    assert!(errors[3].to_string().contains("github.api_version"));
    for err in &errors {
        assert_eq!(err.disposition(), Disposition::GiveUp, "{err}");
    }
}

#[tokio::test]
async fn each_operation_sends_its_media_type_version_and_credential() {
    let script = Script::start().await;
    for _ in 0..3 {
        script.on("/users/octocat/starred", Reply::json(200, json!([])));
    }
    let mut settings = settings(&script.base);
    settings.api_version = ApiVersion::V2026_03_10;
    let client = GithubClient::new(&settings, local_budget(&settings), None).unwrap();
    let url = client
        .url(Operation::UserStarred, &["octocat"], &[("per_page", "100")])
        .unwrap();
    for credential in [Credential::Service, user(), Credential::Anonymous] {
        client
            .get::<Value>(Operation::UserStarred, &url, &credential, None)
            .await
            .unwrap();
    }
    let seen = script.seen();
    assert_eq!(seen.len(), 3);
    for request in &seen {
        assert_eq!(request.uri, "/users/octocat/starred?per_page=100");
        assert_eq!(
            request.header("accept"),
            Some("application/vnd.github.star+json")
        );
        assert_eq!(request.header("x-github-api-version"), Some("2026-03-10"));
    }
    let bearer = |token: &str| Some(format!("Bearer {token}"));
    assert_eq!(
        seen[0].header("authorization").map(str::to_owned),
        bearer(TOKEN)
    );
    assert_eq!(
        seen[1].header("authorization").map(str::to_owned),
        bearer(USER_TOKEN)
    );
    assert_eq!(seen[2].header("authorization"), None);
}

#[tokio::test]
async fn each_credential_spends_and_learns_its_own_budget() {
    let script = Script::start().await;
    script
        .on("/user/repos", Reply::json(200, json!([])).quota(4_000))
        .on("/user/repos", Reply::json(200, json!([])).quota(10));
    let settings = settings(&script.base);
    let budget = local_budget(&settings);
    let client = GithubClient::new(&settings, budget.clone(), None).unwrap();
    let url = client
        .url(Operation::AuthenticatedUserRepos, &[], &[])
        .unwrap();
    let user = user();
    for credential in [&Credential::Service, &user] {
        client
            .get::<Value>(Operation::AuthenticatedUserRepos, &url, credential, None)
            .await
            .unwrap();
    }
    let user_id = token_id(Some(USER_TOKEN));
    assert_eq!(client.credential_id(&user), user_id);
    assert_eq!(client.rate_limits()[&Resource::Core].remaining, 4_000);
    assert_eq!(client.rate_limits_of(&user)[&Resource::Core].remaining, 10);
    let service = budget.state(client.token_id(), Resource::Core).unwrap();
    let theirs = budget.state(&user_id, Resource::Core).unwrap();
    assert_eq!((service.remaining, theirs.remaining), (4_000, 10));

    // The user's window is spent down to its reserve: their next call waits
    // without asking GitHub, while the service's goes on.
    let err = client
        .get::<Value>(Operation::AuthenticatedUserRepos, &url, &user, None)
        .await
        .unwrap_err();
    assert_eq!(
        err.disposition(),
        Disposition::RescheduleAt(match err {
            GithubError::BudgetExhausted { until, .. } => until,
            ref other => panic!("expected BudgetExhausted, got {other:?}"),
        })
    );
    assert_eq!(script.seen().len(), 2);
}

#[tokio::test]
async fn the_device_flow_posts_forms_to_the_oauth_origin_without_a_token() {
    let script = Script::start().await;
    script
        .on(
            "/oauth-origin/login/device/code",
            Reply {
                status: 200,
                headers: vec![(
                    "content-type".into(),
                    "application/x-www-form-urlencoded; charset=utf-8".into(),
                )],
                body: "device_code=dc&user_code=WDJB-MJHT&verification_uri=https%3A%2F%2Fgithub.com%2Flogin%2Fdevice&expires_in=900&interval=5".into(),
            },
        )
        .on(
            "/oauth-origin/login/oauth/access_token",
            Reply::json(200, json!({"error": "authorization_pending"})),
        )
        .on(
            "/oauth-origin/login/device/code",
            Reply::json(400, json!({"error": "device_flow_disabled"})),
        );
    let client = client_for(&script);
    assert!(
        client
            .url(Operation::DeviceCode, &[], &[])
            .unwrap()
            .as_str()
            .starts_with("http://localhost:")
    );

    #[derive(Debug, serde::Deserialize)]
    struct DeviceCode {
        user_code: String,
        verification_uri: String,
        expires_in: u64,
        interval: u64,
    }
    let url = client.url(Operation::DeviceCode, &[], &[]).unwrap();
    let form = [("client_id", "Iv1.abc"), ("scope", "repo read:user")];
    let Page::Fresh { body, .. } = client
        .post::<DeviceCode>(
            Operation::DeviceCode,
            &url,
            &Credential::Service,
            PostBody::Form(&form),
        )
        .await
        .unwrap()
    else {
        panic!("a device code")
    };
    assert_eq!(body.user_code, "WDJB-MJHT");
    assert_eq!(body.verification_uri, "https://github.com/login/device");
    assert_eq!((body.expires_in, body.interval), (900, 5));

    let poll = json!({"client_id": "Iv1.abc", "device_code": "dc",
                      "grant_type": "urn:ietf:params:oauth:grant-type:device_code"});
    let token_url = client.url(Operation::AccessToken, &[], &[]).unwrap();
    let Page::Fresh { body, .. } = client
        .post::<Value>(
            Operation::AccessToken,
            &token_url,
            &Credential::Anonymous,
            PostBody::Json(&poll),
        )
        .await
        .unwrap()
    else {
        panic!("an answer")
    };
    assert_eq!(body["error"], "authorization_pending");

    let err = client
        .post::<Value>(
            Operation::DeviceCode,
            &url,
            &Credential::Anonymous,
            PostBody::Form(&form),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, GithubError::BadRequest { message } if message.contains("device_flow_disabled")),
        "{err:?}"
    );
    assert_eq!(err.disposition(), Disposition::GiveUp);

    let seen = script.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(
        seen[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(seen[0].body, "client_id=Iv1.abc&scope=repo+read%3Auser");
    assert_eq!(serde_json::from_str::<Value>(&seen[1].body).unwrap(), poll);
    assert_eq!(seen[1].header("accept"), Some("application/json"));
    for request in &seen {
        assert_eq!(
            request.header("authorization"),
            None,
            "no token off the API"
        );
        assert_eq!(request.header("x-github-api-version"), None);
    }
    // A URL on the API origin is refused for an OAuth operation.
    let wrong = Url::parse(&format!("{}/login/device/code", script.base)).unwrap();
    assert!(matches!(
        client
            .post::<Value>(
                Operation::DeviceCode,
                &wrong,
                &Credential::Anonymous,
                PostBody::Form(&form)
            )
            .await,
        Err(GithubError::Url(_))
    ));
}
