//! The seed's graph aliases' share of the drive in `openapi.rs`
//! (`/github/developers/`, `/github/repositories/`, `/github/rate_limit/`,
//! `/github/tasks/`): every documented response, and their 503s with
//! Postgres and Redis down. That an alias's body is its route's is checked
//! in `graph.rs`, on a graph no discovery is still changing.

use reqwest::Method as M;
use serde_json::json;

use super::{Driver, Request, wait_for_job};

pub(super) async fn drive_graph_seed(d: &Driver) {
    for (alias, v1, bad) in [
        (
            "/github/developers/?sort=login&per_page=2",
            "/v1/developers?sort=login&per_page=2",
            "/github/developers/?per_page=0",
        ),
        (
            "/github/repositories/?sort=name&per_page=2",
            "/v1/repositories?sort=name&per_page=2",
            "/github/repositories/?cursor=zz",
        ),
        (
            "/github/tasks/?kind=sync_developer&per_page=1",
            "/v1/tasks?kind=sync_developer&per_page=1",
            "/github/tasks/?status=lost",
        ),
    ] {
        d.expect(200, Request::new(M::GET, alias)).await;
        d.expect(200, Request::new(M::GET, v1)).await;
        d.expect(400, Request::new(M::GET, bad)).await;
    }

    d.expect(401, Request::new(M::GET, "/github/rate_limit/"))
        .await;
    let view = d
        .expect(200, Request::new(M::GET, "/github/rate_limit/").admin())
        .await
        .json();
    assert!(
        view["buckets"].is_array() && view["forecast"].is_object(),
        "{view}"
    );

    let path = "/github/tasks/";
    let sync =
        json!({"kind": "sync_developer", "args": {"login": "hubpulse-walker", "force": true}});
    d.expect(401, Request::new(M::POST, path).json(sync.clone()))
        .await;
    let queued = d
        .expect(202, Request::new(M::POST, path).admin().json(sync.clone()))
        .await
        .json();
    // The same live job through /v1/tasks: one queue behind both.
    let again = d
        .expect(202, Request::new(M::POST, "/v1/tasks").admin().json(sync))
        .await
        .json();
    if again["new"] == false {
        assert_eq!(again["id"], queued["id"], "{again}");
    }
    let task = wait_for_job(d, queued["id"].as_i64().unwrap()).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    d.expect(
        400,
        Request::new(M::POST, path)
            .admin()
            .body("application/json", "{"),
    )
    .await;
    d.expect(
        415,
        Request::new(M::POST, path).admin().body("text/plain", "x"),
    )
    .await;
    d.expect(
        422,
        Request::new(M::POST, path)
            .admin()
            .json(json!({"kind": "nope", "args": {}})),
    )
    .await;
    d.expect(
        404,
        Request::new(M::POST, path)
            .admin()
            .json(json!({"kind": "sync_repository", "args": {}})),
    )
    .await;
    d.expect(
        422,
        Request::new(M::POST, path)
            .admin()
            .json(json!({"kind": "sync_repository", "args": {"id": 0}})),
    )
    .await;
    d.expect(
        404,
        Request::new(M::POST, path)
            .admin()
            .json(json!({"kind": "sync_developer", "args": {}})),
    )
    .await;
    let huge = json!({"kind": "x".repeat(200_000)});
    d.expect(413, Request::new(M::POST, path).admin().json(huge))
        .await;
}

pub(super) async fn drive_graph_seed_down(d: &Driver) {
    for path in [
        "/github/developers/",
        "/github/repositories/",
        "/github/tasks/",
    ] {
        d.expect(503, Request::new(M::GET, path)).await;
    }
    d.expect(503, Request::new(M::GET, "/github/rate_limit/").admin())
        .await;
    d.expect(
        503,
        Request::new(M::POST, "/github/tasks/")
            .admin()
            .json(json!({"kind": "discover", "args": {}})),
    )
    .await;
}
