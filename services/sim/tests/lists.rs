//! The users and repositories areas over real HTTP: a user's repositories
//! paged by `Link` URLs that switch path, revalidation at no cost, quota by
//! declared resource, 301 for a renamed repository, contributor statistics
//! (202 then 200, 204), and the `/_sim/lists` controls.

mod common;

use std::collections::HashSet;

use common::{Sim, header_number, next_link, start};
use hubpulse_domain::wire::RepoPayload;
use hubpulse_sim::{FaultKind, Stats};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// `hubpulse-walker` (the first named account) and its 230 repositories.
const WALKER: &str = "hubpulse-walker";
const WALKER_ID: i64 = 9_000_001;
const WALKER_REPOS: usize = 230;
/// `hubpulse-walker/repo-000`, renamed to `repo-000-renamed`.
const RENAMED_ID: i64 = 90_000_000;

/// Follows `next` from `first` for at most `cap` pages: every reply, in order.
async fn walk(sim: &Sim, first: &str, token: Option<&str>, cap: usize) -> Vec<reqwest::Response> {
    let mut url = Some(format!("{}{first}", sim.base));
    let mut replies = Vec::new();
    while let Some(next) = url.take() {
        if replies.len() == cap {
            break;
        }
        let mut request = sim.client.get(&next);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let reply = request.send().await.unwrap();
        url = next_link(&reply);
        replies.push(reply);
    }
    replies
}

#[tokio::test]
async fn a_users_repositories_page_through_links_that_switch_to_the_id_path() {
    let sim = start(|_| {}).await;
    let user: Value = sim
        .get("/users/HubPulse-Walker")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(user["login"], WALKER, "logins are case-insensitive");
    assert_eq!(user["id"], WALKER_ID);
    assert_eq!(user["type"], "User");
    assert_eq!(user["public_repos"], WALKER_REPOS);
    assert!(user["email"].is_null() && user["created_at"].is_string());
    let by_id: Value = sim
        .get(&format!("/user/{WALKER_ID}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_id, user);

    for alias in ["", "/api/v3"] {
        let replies = walk(
            &sim,
            &format!("{alias}/users/{WALKER}/repos?per_page=100"),
            None,
            10,
        )
        .await;
        assert_eq!(replies.len(), 3);
        let mut names = Vec::new();
        for (n, reply) in replies.into_iter().enumerate() {
            assert_eq!(reply.status(), StatusCode::OK);
            assert_eq!(reply.headers()["x-ratelimit-resource"], "core");
            if let Some(next) = next_link(&reply) {
                assert_eq!(
                    next,
                    format!(
                        "{}{alias}/user/{WALKER_ID}/repos?per_page=100&page={}",
                        sim.base,
                        n + 2
                    )
                );
            }
            let page: Vec<RepoPayload> = reply.json().await.unwrap();
            assert!(
                page.iter()
                    .all(|r| r.owner.login == WALKER && r.owner.id == WALKER_ID)
            );
            names.extend(page.into_iter().map(|r| r.full_name));
        }
        assert_eq!(names.len(), WALKER_REPOS);
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "sorted by full name by default");
        assert_eq!(names.iter().collect::<HashSet<_>>().len(), WALKER_REPOS);
        assert_eq!(names[0], format!("{WALKER}/repo-000-renamed"));
    }
    // Sort, direction and per_page travel in the links.
    let newest = sim
        .get(&format!("/users/{WALKER}/repos?sort=created&per_page=2"))
        .await;
    assert_eq!(
        next_link(&newest).unwrap(),
        format!(
            "{}/user/{WALKER_ID}/repos?sort=created&per_page=2&page=2",
            sim.base
        )
    );
    let newest: Vec<RepoPayload> = newest.json().await.unwrap();
    assert_eq!(newest[0].name, format!("repo-{:03}", WALKER_REPOS - 1));
    assert!(newest[0].created_at > newest[1].created_at);

    let missing = sim.get("/users/no-such-user-here").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        missing.json::<Value>().await.unwrap()["message"],
        "Not Found"
    );
    assert_eq!(
        sim.get("/nothing/here").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn revalidating_every_page_gives_304s_that_cost_nothing() {
    let sim = start(|_| {}).await;
    let first = format!("/users/{WALKER}/repos?per_page=100");
    let pages: Vec<(String, String)> = walk(&sim, &first, Some("t0ken"), 10)
        .await
        .iter()
        .map(|r| {
            (
                r.url().to_string(),
                r.headers()["etag"].to_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(pages.len(), 3);
    let mut remaining = None;
    for (url, etag) in &pages {
        let again = sim
            .client
            .get(url)
            .bearer_auth("t0ken")
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{url}");
        assert_eq!(header_number(&again, "x-ratelimit-remaining"), 5000 - 3);
        remaining = Some(header_number(&again, "x-ratelimit-remaining"));
        assert!(again.bytes().await.unwrap().is_empty());
    }
    assert_eq!(remaining, Some(4997));
    let stats: Stats = serde_json::from_value(sim.stats().await["stats"].take()).unwrap();
    assert_eq!(stats.not_modified, 3);
    assert_eq!(
        stats.quota_used.values().sum::<u64>(),
        3,
        "{:?}",
        stats.quota_used
    );
    assert!(stats.quota_used.keys().all(|k| k.ends_with("/core")));

    // A renamed repository changes the page that lists it, and only that one.
    sim.admin(
        Method::PUT,
        "/_sim/repositories/90000005/name",
        Some(json!({ "name": "repo-005-moved" })),
    )
    .await;
    let mut statuses = Vec::new();
    for (url, etag) in &pages {
        let again = sim
            .client
            .get(url)
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        statuses.push(again.status().as_u16());
    }
    assert_eq!(statuses, [200, 304, 304]);
}

#[tokio::test]
async fn quota_is_spent_from_the_resource_each_route_declares() {
    let sim = start(|s| {
        s.limits.core_anonymous = 2;
        s.limits.search_anonymous = 5;
    })
    .await;
    let user = sim.get(&format!("/users/{WALKER}")).await;
    assert_eq!(user.headers()["x-ratelimit-resource"], "core");
    assert_eq!(header_number(&user, "x-ratelimit-remaining"), 1);
    let search = sim.get("/search/repositories?q=topic:tiny").await;
    assert_eq!(search.headers()["x-ratelimit-resource"], "search");
    assert_eq!(header_number(&search, "x-ratelimit-remaining"), 4);
    let stats_call = sim
        .get(&format!("/repos/{WALKER}/repo-229/stats/contributors"))
        .await;
    assert_eq!(stats_call.status(), StatusCode::NO_CONTENT);
    assert_eq!(header_number(&stats_call, "x-ratelimit-remaining"), 0);
    let refused = sim.get(&format!("/users/{WALKER}/repos")).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(refused.headers()["x-ratelimit-resource"], "core");
    // The search bucket is untouched by core's exhaustion, and /rate_limit is free.
    let rate: Value = sim.get("/rate_limit").await.json().await.unwrap();
    assert_eq!(rate["resources"]["core"]["remaining"], 0);
    assert_eq!(rate["resources"]["search"]["remaining"], 4);
    assert_eq!(
        sim.get("/search/repositories?q=topic:tiny").await.status(),
        StatusCode::OK
    );
    let stats = sim.stats().await;
    assert_eq!(stats["stats"]["quota_used"]["anonymous/core"], 2);
    assert_eq!(stats["stats"]["quota_used"]["anonymous/search"], 2);
    assert_eq!(stats["stats"]["quota_exceeded"], 1);
}

#[tokio::test]
async fn a_renamed_repository_answers_301_to_its_id() {
    let sim = start(|_| {}).await;
    for alias in ["", "/api/v3"] {
        let moved = sim.get(&format!("{alias}/repos/{WALKER}/repo-000")).await;
        assert_eq!(moved.status(), StatusCode::MOVED_PERMANENTLY);
        let location = moved.headers()["location"].to_str().unwrap().to_owned();
        assert_eq!(
            location,
            format!("{}{alias}/repositories/{RENAMED_ID}", sim.base)
        );
        assert_eq!(moved.headers()["x-ratelimit-resource"], "core");
        let body: Value = moved.json().await.unwrap();
        assert_eq!(body["message"], "Moved Permanently");
        assert_eq!(body["url"], location.as_str());
        let repo: RepoPayload = sim
            .client
            .get(&location)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(repo.id, RENAMED_ID);
        assert_eq!(repo.full_name, format!("{WALKER}/repo-000-renamed"));
    }
    let current = sim.get(&format!("/repos/{WALKER}/REPO-000-renamed")).await;
    assert_eq!(current.status(), StatusCode::OK);
    // Subpaths move too.
    let stats = sim
        .get(&format!("/repos/{WALKER}/repo-000/stats/contributors"))
        .await;
    assert_eq!(stats.status(), StatusCode::MOVED_PERMANENTLY);
    assert!(
        stats.headers()["location"]
            .to_str()
            .unwrap()
            .ends_with(&format!("/repositories/{RENAMED_ID}/stats/contributors"))
    );

    // A rename at run time: the old name moves, the new one answers.
    let renamed = sim
        .admin(
            Method::PUT,
            "/_sim/repositories/90000001/name",
            Some(json!({ "name": "fresh" })),
        )
        .await;
    assert_eq!(renamed["full_name"], format!("{WALKER}/fresh"));
    assert_eq!(
        sim.get(&format!("/repos/{WALKER}/repo-001")).await.status(),
        StatusCode::MOVED_PERMANENTLY
    );
    assert_eq!(
        sim.get(&format!("/repos/{WALKER}/fresh")).await.status(),
        StatusCode::OK
    );
    let account = sim
        .admin(Method::GET, &format!("/_sim/accounts/{WALKER}"), None)
        .await;
    assert_eq!(
        account["repositories"][1]["former_names"],
        json!([format!("{WALKER}/repo-001")])
    );
    assert_eq!(
        sim.get(&format!("/repos/{WALKER}/never-was"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn contributor_statistics_are_computed_first_and_empty_repositories_have_none() {
    let sim = start(|s| s.stats.computing_replies = 2).await;
    let path = format!("/repos/{WALKER}/repo-007/stats/contributors");
    for _ in 0..2 {
        let computing = sim.get(&path).await;
        assert_eq!(computing.status(), StatusCode::ACCEPTED);
        assert_eq!(computing.bytes().await.unwrap(), "{}");
    }
    let ready = sim.get(&path).await;
    assert_eq!(ready.status(), StatusCode::OK);
    let etag = ready.headers()["etag"].to_str().unwrap().to_owned();
    let contributors: Vec<Value> = ready.json().await.unwrap();
    assert!(!contributors.is_empty());
    let span = contributors[0]["weeks"].as_array().unwrap().len();
    for c in &contributors {
        let weeks = c["weeks"].as_array().unwrap();
        assert_eq!(weeks.len(), span, "every contributor spans the same weeks");
        let commits: u64 = weeks.iter().map(|w| w["c"].as_u64().unwrap()).sum();
        assert_eq!(commits, c["total"].as_u64().unwrap());
        for w in weeks {
            let start = w["w"].as_i64().unwrap();
            assert_eq!((start / 86_400 + 4) % 7, 0, "{start} is a Sunday");
        }
    }
    let again = sim
        .client
        .get(format!("{}{path}", sim.base))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    // Another repository computes on its own first asks.
    assert_eq!(
        sim.get(&format!(
            "/repositories/{}/stats/contributors",
            RENAMED_ID + 8
        ))
        .await
        .status(),
        StatusCode::ACCEPTED
    );
    let empty = sim
        .get(&format!("/repos/{WALKER}/repo-229/stats/contributors"))
        .await;
    assert_eq!(empty.status(), StatusCode::NO_CONTENT);
    assert!(empty.bytes().await.unwrap().is_empty());
    let stats: Stats = serde_json::from_value(sim.stats().await["stats"].take()).unwrap();
    assert_eq!(
        stats.quota_used["anonymous/core"], 5,
        "202s and 204s spend, 304s do not"
    );
}

#[tokio::test]
async fn list_controls_force_202_204_and_a_link_cycle() {
    let sim = start(|_| {}).await;
    let list = format!("/user/{WALKER_ID}/repos");
    let first = format!("/users/{WALKER}/repos?per_page=100");
    sim.admin(
        Method::PUT,
        "/_sim/lists",
        Some(json!({ "path": list, "accepted": 2, "no_content": 1 })),
    )
    .await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(sim.get(&first).await.status().as_u16());
    }
    assert_eq!(
        statuses,
        [202, 202, 204, 200],
        "the control covers the list's first path too"
    );

    sim.admin(
        Method::PUT,
        "/_sim/lists",
        Some(json!({ "path": format!("/api/v3{list}"), "link_cycle": { "to_page": 1 } })),
    )
    .await;
    let controls = sim.admin(Method::GET, "/_sim/lists", None).await;
    assert_eq!(controls[0]["path"], list, "stored without the alias");
    let replies = walk(&sim, &first, None, 10).await;
    assert_eq!(replies.len(), 10, "the walk never ends by itself");
    let pages: Vec<String> = replies
        .iter()
        .map(|r| {
            r.url()
                .query_pairs()
                .find(|(k, _)| k == "page")
                .map_or("1".into(), |(_, v)| v.into_owned())
        })
        .collect();
    assert_eq!(pages[..7], ["1", "2", "3", "1", "2", "3", "1"]);
    // A cycle at a given page, on a list the test names by its first path.
    sim.admin(Method::DELETE, "/_sim/lists", None).await;
    sim.admin(
        Method::PUT,
        "/_sim/lists",
        Some(json!({ "path": list, "link_cycle": { "at_page": 2, "to_page": 2 } })),
    )
    .await;
    let replies = walk(&sim, &first, None, 5).await;
    assert!(
        replies[1..]
            .iter()
            .all(|r| r.url().as_str().ends_with("page=2"))
    );

    sim.admin(Method::DELETE, "/_sim/lists", None).await;
    assert_eq!(walk(&sim, &first, None, 10).await.len(), 3);
    let bad = sim
        .client
        .put(format!("{}/_sim/lists", sim.base))
        .json(&json!({ "path": "no-slash", "accepted": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn faults_reach_every_area_and_are_counted_by_kind() {
    let sim = start(|_| {}).await;
    sim.faults(json!({ "error_rate": 1.0 })).await;
    for path in [
        format!("/users/{WALKER}"),
        format!("/users/{WALKER}/repos"),
        format!("/repos/{WALKER}/repo-001"),
        format!("/repositories/{RENAMED_ID}/stats/contributors"),
    ] {
        assert!(sim.get(&path).await.status().is_server_error(), "{path}");
    }
    sim.faults(json!({ "rate_limit_429": 1, "retry_after_secs": 3 }))
        .await;
    let limited = sim.get(&format!("/users/{WALKER}")).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        limited.headers()["x-ratelimit-resource"],
        "core",
        "the route's own bucket"
    );
    assert_eq!(limited.headers()["retry-after"], "3");
    let stats: Stats = serde_json::from_value(sim.stats().await["stats"].take()).unwrap();
    let server_errors: u64 = FaultKind::SERVER_ERRORS
        .iter()
        .filter_map(|k| stats.injected.get(k))
        .sum();
    assert_eq!(server_errors, 4);
    assert_eq!(stats.injected[&FaultKind::RateLimit429], 1);
    // The admin account view is never faulted.
    sim.faults(json!({ "error_rate": 1.0 })).await;
    let account = sim
        .admin(Method::GET, "/_sim/accounts/hubpulse-org", None)
        .await;
    assert_eq!(account["type"], "Organization");
    assert_eq!(account["repositories"].as_array().unwrap().len(), 50);
}
