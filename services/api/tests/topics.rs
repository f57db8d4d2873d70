//! Tracked topics and the three views, over HTTP.

use hubpulse_domain::Topic;
use hubpulse_testkit::{ADMIN_TOKEN, TestApp};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn seed(app: &TestApp, topic: &str) {
    let client = app.db.client().await;
    client
        .batch_execute(&format!(
            "INSERT INTO owners (id, login, kind) VALUES (1, 'zeta', 'User'), (2, 'Alpha', 'Organization');
             INSERT INTO licenses (key, name, spdx_id) VALUES ('mit', 'MIT License', 'MIT');
             INSERT INTO repositories (id, owner_id, name, html_url, license_key, stargazers_count, created_at, updated_at, pushed_at) VALUES
               (10, 1, 'b', 'https://github.com/zeta/b', 'mit', 50, '2020-01-01Z', '2021-01-01Z', '2024-01-01Z'),
               (11, 2, 'a', 'https://github.com/Alpha/a', NULL, 50, '2020-01-01Z', '2021-01-01Z', '2025-01-01Z'),
               (12, 1, 'c', 'https://github.com/zeta/c', NULL, 900, '2020-01-01Z', '2021-01-01Z', NULL);
             INSERT INTO topics (name, tracked) VALUES ('{topic}', true) ON CONFLICT (name) DO UPDATE SET tracked = true;
             INSERT INTO repository_topics (topic_id, repository_id) SELECT id, r FROM topics, unnest(ARRAY[10, 11, 12]) r WHERE name = '{topic}';"
        ))
        .await
        .unwrap();
}

fn ids(body: &Value) -> Vec<i64> {
    body.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn views_serve_each_order_with_every_field() {
    let app = TestApp::spawn().await;
    seed(&app, "rust").await;
    let by_name: Value = app.get("/api/rust").await.json().await.unwrap();
    assert_eq!(
        ids(&by_name),
        [11, 10, 12],
        "by full name, case-insensitively"
    );
    for field in [
        "id",
        "name",
        "full_name",
        "html_url",
        "description",
        "language",
        "stargazers_count",
        "forks_count",
        "open_issues_count",
        "created_at",
        "updated_at",
        "pushed_at",
    ] {
        assert!(by_name[0].get(field).is_some(), "missing {field}");
    }
    assert_eq!(by_name[0]["full_name"], "Alpha/a");
    let popular: Value = app.get("/api/popularity/rust").await.json().await.unwrap();
    assert_eq!(ids(&popular), [12, 10, 11], "stars descending, ties by id");
    let active: Value = app.get("/api/activity/rust").await.json().await.unwrap();
    assert_eq!(
        ids(&active),
        [11, 10, 12],
        "last push descending, never pushed last"
    );
    let limited: Value = app
        .get("/api/popularity/rust?limit=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&limited), [12, 10]);
    for bad in ["?limit=0", "?limit=501", "?limit=x"] {
        assert_eq!(
            app.get(&format!("/api/popularity/rust{bad}"))
                .await
                .status(),
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn etags_precompressed_bodies_and_304() {
    let app = TestApp::spawn().await;
    seed(&app, "rust").await;
    // Bodies as sent: the test client never decompresses.
    let raw = app.http();
    let resp = raw
        .get(app.url("/api/popularity/rust"))
        .header("accept-encoding", "gzip, br")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-encoding"], "br");
    let etag = resp.headers()["etag"].to_str().unwrap().to_owned();
    let resp = raw
        .get(app.url("/api/popularity/rust"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    let resp = raw
        .get(app.url("/api/popularity/rust"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    assert_eq!(
        resp.headers()["etag"].to_str().unwrap(),
        etag,
        "one ETag whatever the encoding"
    );
}

#[tokio::test]
async fn untracked_topics_are_404_and_tracked_ones_start_empty() {
    let app = TestApp::spawn().await;
    let resp = app.get("/api/popularity/not-tracked").await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("POST /v1/topics")
    );
    assert_eq!(
        app.get("/api/Not_A_Topic").await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get(&format!("/api/{}", "a".repeat(51))).await.status(),
        StatusCode::BAD_REQUEST
    );

    let post = |body: Value, token: Option<&str>| {
        let mut req = app.http().post(app.url("/v1/topics")).json(&body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send()
    };
    assert_eq!(
        post(json!({"name": "serverless"}), None)
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post(json!({"name": "serverless"}), Some("wrong"))
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        post(json!({"name": "Bad Name"}), Some(ADMIN_TOKEN))
            .await
            .unwrap()
            .status(),
        StatusCode::BAD_REQUEST
    );
    let serverless = Topic::parse("serverless").unwrap();
    let tracked = app.api.track(&serverless).await.unwrap();
    assert!(tracked.tracked && tracked.changed, "{tracked:?}");
    let again = app.api.track(&serverless).await.unwrap();
    assert!(again.tracked && !again.changed, "{again:?}");
    let empty = app.get("/api/activity/serverless").await;
    assert_eq!(empty.status(), StatusCode::OK);
    assert_eq!(empty.text().await.unwrap(), "[]");

    let listed = app.api.topics().await.unwrap();
    let names: Vec<&str> = listed.iter().map(|t| t.name.as_str()).collect();
    assert!(
        names.contains(&"serverless") && names.contains(&"kubernetes"),
        "{names:?}"
    );

    let untracked = app.api.untrack(&serverless).await.unwrap();
    assert!(untracked.is_some_and(|c| !c.tracked), "untracked");
    assert_eq!(
        app.api.untrack(&serverless).await.unwrap(),
        None,
        "a second untrack is a 404"
    );
}

#[tokio::test]
async fn a_task_that_does_not_exist_is_404_and_a_bad_id_400() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.get("/v1/tasks/999999").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/v1/tasks/abc").await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get("/v1/tasks/-1").await.status(),
        StatusCode::BAD_REQUEST
    );
}
