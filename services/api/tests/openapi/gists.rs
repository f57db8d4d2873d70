//! The gist routes' share of the drive in `openapi.rs`: every documented
//! response of tracked users, the seed's aliases, scans, deliveries, what
//! is new, visits and the outbox; and their 503s with Postgres down.

use reqwest::Method as M;
use serde_json::json;

use super::{Driver, Request, wait_for_job};

const USER: &str = "hubpulse-walker";
const USER_ID: i64 = 9_000_001;

pub(super) async fn drive_gists(d: &Driver) {
    let walker = json!({"login": USER});
    d.expect(
        401,
        Request::new(M::POST, "/v1/tracked-users").json(walker.clone()),
    )
    .await;
    d.expect(
        404,
        Request::new(M::POST, "/v1/tracked-users/nobody-here/scan").admin(),
    )
    .await;
    let tracked = d
        .expect(
            201,
            Request::new(M::POST, "/v1/tracked-users")
                .admin()
                .json(walker.clone()),
        )
        .await
        .json();
    let job = tracked["job_id"].as_i64().expect("a scan job");
    let task = wait_for_job(d, job).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    d.expect(
        200,
        Request::new(M::POST, "/v1/tracked-users")
            .admin()
            .json(walker),
    )
    .await;
    d.expect(
        400,
        Request::new(M::POST, "/v1/tracked-users")
            .admin()
            .json(json!({"login": "-x"})),
    )
    .await;
    d.expect(
        404,
        Request::new(M::POST, "/v1/tracked-users")
            .admin()
            .json(json!({"login": "no-such-user-here"})),
    )
    .await;
    d.expect(
        422,
        Request::new(M::POST, "/v1/tracked-users")
            .admin()
            .json(json!({"nom": "x"})),
    )
    .await;
    d.expect(
        415,
        Request::new(M::POST, "/v1/tracked-users")
            .admin()
            .body("text/plain", "x"),
    )
    .await;
    d.expect(
        413,
        Request::new(M::POST, "/v1/tracked-users")
            .admin()
            .json(json!({"login": "x".repeat(200_000)})),
    )
    .await;
    // The seed's aliases.
    d.expect(
        401,
        Request::new(M::POST, &format!("/users/{USER}/{USER_ID}")),
    )
    .await;
    d.expect(
        200,
        Request::new(M::POST, &format!("/users/{USER}/{USER_ID}")).admin(),
    )
    .await;
    d.expect(
        409,
        Request::new(M::POST, &format!("/users/{USER}/1")).admin(),
    )
    .await;
    d.expect(
        400,
        Request::new(M::POST, &format!("/users/{USER}/x")).admin(),
    )
    .await;
    d.expect(
        404,
        Request::new(M::POST, "/users/no-such-user-here/1").admin(),
    )
    .await;
    d.expect(
        422,
        Request::new(M::POST, "/users/hubpulse-org/9000002").admin(),
    )
    .await;
    d.expect(
        422,
        Request::new(M::POST, "/v1/tracked-users")
            .admin()
            .json(json!({"login": "hubpulse-org"})),
    )
    .await;
    let listed = d.expect(200, Request::new(M::GET, "/users")).await.json();
    assert_eq!(listed["users"][0]["github_id"], USER_ID, "{listed}");
    d.expect(400, Request::new(M::GET, "/users?limit=0")).await;
    d.expect(200, Request::new(M::GET, "/v1/tracked-users?limit=1"))
        .await;
    d.expect(400, Request::new(M::GET, "/v1/tracked-users?after=-x"))
        .await;
    // Scans and deliveries.
    for path in [
        "/v1/tracked-users/scan",
        "/v1/tracked-users/deliver",
        "/v1/tracked-users/hubpulse-walker/scan",
    ] {
        d.expect(401, Request::new(M::POST, path)).await;
        d.expect(202, Request::new(M::POST, path).admin()).await;
    }
    d.expect(
        400,
        Request::new(M::POST, "/v1/tracked-users/-x/scan").admin(),
    )
    .await;
    // What is new, visits, the outbox.
    let latest = format!("/v1/tracked-users/{USER}/gists/latest");
    d.expect(200, Request::new(M::GET, &latest)).await;
    d.expect(
        200,
        Request::new(
            M::GET,
            &format!("{latest}?since=2020-01-01T00:00:00Z&limit=5"),
        ),
    )
    .await;
    d.expect(400, Request::new(M::GET, &format!("{latest}?cursor=x")))
        .await;
    d.expect(
        404,
        Request::new(M::GET, "/v1/tracked-users/untracked/gists/latest"),
    )
    .await;
    let visits = format!("/v1/tracked-users/{USER}/gists/visits");
    d.expect(
        200,
        Request::new(M::POST, &visits).json(json!({"subscriber": "sales"})),
    )
    .await;
    d.expect(
        400,
        Request::new(M::POST, &visits).json(json!({"subscriber": "a b"})),
    )
    .await;
    d.expect(
        404,
        Request::new(M::POST, "/v1/tracked-users/untracked/gists/visits")
            .json(json!({"subscriber": "s"})),
    )
    .await;
    d.expect(
        422,
        Request::new(M::POST, &visits).json(json!({"who": "s"})),
    )
    .await;
    d.expect(415, Request::new(M::POST, &visits).body("text/plain", "x"))
        .await;
    d.expect(
        413,
        Request::new(M::POST, &visits).json(json!({"subscriber": "x".repeat(200_000)})),
    )
    .await;
    d.expect(200, Request::new(M::POST, &format!("/latestgists/{USER}")))
        .await;
    d.expect(400, Request::new(M::POST, "/latestgists/-x"))
        .await;
    d.expect(404, Request::new(M::POST, "/latestgists/untracked"))
        .await;
    d.expect(
        200,
        Request::new(M::GET, &format!("/v1/tracked-users/{USER}/outbox")),
    )
    .await;
    d.expect(400, Request::new(M::GET, "/v1/tracked-users/-x/outbox"))
        .await;
    d.expect(
        404,
        Request::new(M::GET, "/v1/tracked-users/untracked/outbox"),
    )
    .await;
    // Untracking.
    d.expect(
        401,
        Request::new(M::DELETE, &format!("/v1/tracked-users/{USER}")),
    )
    .await;
    d.expect(400, Request::new(M::DELETE, "/v1/tracked-users/-x").admin())
        .await;
    d.expect(
        204,
        Request::new(M::DELETE, &format!("/v1/tracked-users/{USER}")).admin(),
    )
    .await;
    d.expect(
        404,
        Request::new(M::DELETE, &format!("/v1/tracked-users/{USER}")).admin(),
    )
    .await;
    // Tracked again through the seed's alias: created anew.
    d.expect(
        201,
        Request::new(M::POST, &format!("/users/{USER}/{USER_ID}")).admin(),
    )
    .await;
    // A visit without a body is the default subscriber's.
    d.expect(
        200,
        Request::new(M::POST, &format!("/v1/tracked-users/{USER}/gists/visits")),
    )
    .await;
}

/// Postgres away: every gist route answers 503 (GitHub away too, for the
/// routes that look a user up first).
pub(super) async fn drive_gists_down(d: &Driver) {
    d.expect(503, Request::new(M::GET, "/v1/tracked-users"))
        .await;
    d.expect(503, Request::new(M::GET, "/users")).await;
    d.expect(
        503,
        Request::new(M::POST, "/v1/tracked-users")
            .admin()
            .json(json!({"login": "go"})),
    )
    .await;
    d.expect(503, Request::new(M::POST, "/users/go/1").admin())
        .await;
    d.expect(503, Request::new(M::DELETE, "/v1/tracked-users/go").admin())
        .await;
    d.expect(503, Request::new(M::POST, "/v1/tracked-users/scan").admin())
        .await;
    d.expect(
        503,
        Request::new(M::POST, "/v1/tracked-users/go/scan").admin(),
    )
    .await;
    d.expect(
        503,
        Request::new(M::POST, "/v1/tracked-users/deliver").admin(),
    )
    .await;
    d.expect(
        503,
        Request::new(M::GET, "/v1/tracked-users/go/gists/latest"),
    )
    .await;
    d.expect(
        503,
        Request::new(M::POST, "/v1/tracked-users/go/gists/visits").json(json!({"subscriber": "s"})),
    )
    .await;
    d.expect(503, Request::new(M::POST, "/latestgists/go"))
        .await;
    d.expect(503, Request::new(M::GET, "/v1/tracked-users/go/outbox"))
        .await;
}
