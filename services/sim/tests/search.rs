//! The simulator over real HTTP: paging, the cap, Link headers, quotas,
//! 304s and every fault.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{Sim, next_link, rels, start};
use hubpulse_domain::wire::{RepoPayload, SearchPage};
use hubpulse_sim::Faults;
use reqwest::{Client, StatusCode};
use serde_json::Value;

#[tokio::test]
async fn following_links_pages_through_a_topic_up_to_the_cap() {
    let sim = start(|_| {}).await;
    let mut url = format!(
        "{}/search/repositories?q=topic:kubernetes&per_page=100",
        sim.base
    );
    let mut seen = HashSet::new();
    let mut pages = 0;
    let mut total;
    loop {
        let resp = sim.client.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let next = next_link(&resp);
        let requested_alias = url.contains("/api/v3/");
        if let Some(next) = &next {
            assert!(next.starts_with("http://"), "absolute: {next}");
            assert_ne!(
                next.contains("/api/v3/"),
                requested_alias,
                "the Link path differs from the request's"
            );
        }
        let page: SearchPage<RepoPayload> = resp.json().await.unwrap();
        total = page.total_count;
        for repo in page.items {
            assert!(repo.topics.iter().any(|t| t == "kubernetes"));
            assert!(seen.insert(repo.id), "repository {} served twice", repo.id);
        }
        pages += 1;
        match next {
            Some(next) => url = next,
            None => break,
        }
    }
    assert!(total >= 2500, "total_count {total}");
    assert_eq!(pages, 10);
    assert_eq!(seen.len(), 1000, "only the first 1,000 are reachable");
    let beyond = sim
        .get("/search/repositories?q=topic:kubernetes&per_page=100&page=11")
        .await;
    assert_eq!(beyond.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = beyond.json().await.unwrap();
    assert_eq!(
        body["message"],
        "Only the first 1000 search results are available"
    );
}

#[tokio::test]
async fn created_windows_partition_a_topic() {
    let sim = start(|_| {}).await;
    let all: SearchPage<RepoPayload> = sim
        .get("/search/repositories?q=topic:kubernetes&per_page=1")
        .await
        .json()
        .await
        .unwrap();
    let mut sum = 0;
    let mut ids = HashSet::new();
    for (lo, hi) in [
        ("2008-01-01", "2014-12-31"),
        ("2015-01-01", "2019-12-31"),
        ("2020-01-01", "2026-12-31"),
    ] {
        let mut page_no = 1;
        loop {
            let q = format!(
                "/search/repositories?q=topic:kubernetes+created:{lo}..{hi}&per_page=100&page={page_no}"
            );
            let resp = sim.get(&q).await;
            assert_eq!(resp.status(), StatusCode::OK, "{q}");
            let last = next_link(&resp).is_none();
            let page: SearchPage<RepoPayload> = resp.json().await.unwrap();
            assert!(
                page.total_count <= 1000,
                "window {lo}..{hi} holds {}",
                page.total_count
            );
            if page_no == 1 {
                sum += page.total_count;
            }
            for repo in &page.items {
                let created = repo.created_at.format("%Y-%m-%d").to_string();
                assert!(
                    created.as_str() >= lo && created.as_str() <= hi,
                    "{created} outside {lo}..{hi}"
                );
                ids.insert(repo.id);
            }
            if last {
                break;
            }
            page_no += 1;
        }
    }
    assert_eq!(sum, all.total_count);
    assert_eq!(
        ids.len() as u64,
        all.total_count,
        "windows cover every repository once"
    );
}

#[tokio::test]
async fn sort_order_and_star_ranges() {
    let sim = start(|_| {}).await;
    let page: SearchPage<RepoPayload> = sim
        .get("/search/repositories?q=topic:rust&sort=stars&order=desc&per_page=100")
        .await
        .json()
        .await
        .unwrap();
    for pair in page.items.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(
            a.stargazers_count > b.stargazers_count
                || (a.stargazers_count == b.stargazers_count && a.id < b.id)
        );
    }
    let asc: SearchPage<RepoPayload> = sim
        .get("/search/repositories?q=topic:rust&sort=stars&order=asc&per_page=100")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        asc.items
            .windows(2)
            .all(|p| p[0].stargazers_count <= p[1].stargazers_count)
    );
    let ranged: SearchPage<RepoPayload> = sim
        .get("/search/repositories?q=topic:rust%20stars:10..500&per_page=100")
        .await
        .json()
        .await
        .unwrap();
    assert!(ranged.total_count > 0);
    assert!(
        ranged
            .items
            .iter()
            .all(|r| (10..=500).contains(&r.stargazers_count))
    );
    let over: SearchPage<RepoPayload> = sim
        .get("/search/repositories?q=topic:rust+stars:>=1000&per_page=100")
        .await
        .json()
        .await
        .unwrap();
    assert!(over.items.iter().all(|r| r.stargazers_count >= 1000));
    // per_page over 100 is clamped, as on GitHub.
    let clamped: SearchPage<RepoPayload> = sim
        .get("/search/repositories?q=topic:rust&per_page=500")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(clamped.items.len(), 100);
    // An unknown topic is an empty result, a bad query a 422.
    let none: SearchPage<RepoPayload> = sim
        .get("/search/repositories?q=topic:nothing-here")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!((none.total_count, none.items.len()), (0, 0));
    assert_eq!(
        sim.get("/search/repositories?q=stars:x").await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn link_headers_are_written_the_way_github_writes_them() {
    let sim = start(|_| {}).await;
    let first = sim
        .get("/search/repositories?q=topic:rust&per_page=100&page=1")
        .await;
    let mut r = rels(&first);
    r.sort();
    assert_eq!(r, ["last", "next"]);
    let middle = sim
        .get("/search/repositories?q=topic:rust&per_page=100&page=2")
        .await;
    let mut r = rels(&middle);
    r.sort();
    assert_eq!(r, ["first", "last", "next", "prev"]);
    let total: SearchPage<RepoPayload> = sim
        .get("/search/repositories?q=topic:rust&per_page=1")
        .await
        .json()
        .await
        .unwrap();
    let last_page = total.total_count.div_ceil(100);
    assert!(last_page >= 3);
    let last = sim
        .get(&format!(
            "/search/repositories?q=topic:rust&per_page=100&page={last_page}"
        ))
        .await;
    let mut r = rels(&last);
    r.sort();
    assert_eq!(r, ["first", "prev"]);
    let orders: HashSet<String> = futures_pages(&sim).await;
    assert!(orders.len() > 1, "the rel order is not fixed");
    // One page: no Link at all.
    assert!(
        sim.get("/search/repositories?q=topic:tiny&per_page=100")
            .await
            .headers()
            .get("link")
            .is_none()
    );
}

async fn futures_pages(sim: &Sim) -> HashSet<String> {
    let mut firsts = HashSet::new();
    for page in 2..=6 {
        let resp = sim
            .get(&format!(
                "/search/repositories?q=topic:kubernetes&per_page=100&page={page}"
            ))
            .await;
        firsts.insert(rels(&resp)[0].clone());
    }
    firsts
}

#[tokio::test]
async fn the_quota_counts_down_resets_and_refuses_with_403() {
    let sim = start(|s| {
        s.limits.search_anonymous = 3;
        s.limits.search_window_secs = 2;
    })
    .await;
    let limit = |resp: &reqwest::Response, name: &str| {
        resp.headers()[name]
            .to_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
    };
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let resp = sim.get("/search/repositories?q=topic:tiny").await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["x-ratelimit-resource"], "search");
        assert_eq!(limit(&resp, "x-ratelimit-limit"), 3);
        remaining.push(limit(&resp, "x-ratelimit-remaining"));
    }
    assert_eq!(remaining, [2, 1, 0]);
    let rate: Value = sim.get("/rate_limit").await.json().await.unwrap();
    assert_eq!(rate["resources"]["search"]["remaining"], 0);
    assert_eq!(rate["resources"]["core"]["limit"], 60);
    let refused = sim.get("/search/repositories?q=topic:tiny").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(limit(&refused, "x-ratelimit-remaining"), 0);
    let reset = limit(&refused, "x-ratelimit-reset");
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("rate limit exceeded")
    );
    assert_eq!(sim.stats().await["stats"]["quota_exceeded"], 1);

    let wait = reset - chrono::Utc::now().timestamp();
    tokio::time::sleep(Duration::from_millis((wait.max(0) as u64) * 1000 + 300)).await;
    let after = sim.get("/search/repositories?q=topic:tiny").await;
    assert_eq!(after.status(), StatusCode::OK);
    assert_eq!(limit(&after, "x-ratelimit-remaining"), 2);
    // A token has a quota of its own.
    let authed = sim
        .client
        .get(format!("{}/search/repositories?q=topic:tiny", sim.base))
        .bearer_auth("t0ken")
        .send()
        .await
        .unwrap();
    assert_eq!(authed.headers()["x-ratelimit-limit"], "10000");
    assert_eq!(authed.headers()["x-ratelimit-remaining"], "9999");
}

#[tokio::test]
async fn if_none_match_gives_304_at_no_cost_until_the_data_changes() {
    let sim = start(|s| s.limits.search_anonymous = 5).await;
    let first = sim
        .get("/search/repositories?q=topic:rust&per_page=100")
        .await;
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let remaining = first.headers()["x-ratelimit-remaining"]
        .to_str()
        .unwrap()
        .to_owned();
    for _ in 0..10 {
        let again = sim
            .client
            .get(format!(
                "{}/search/repositories?q=topic:rust&per_page=100",
                sim.base
            ))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(
            again.headers()["x-ratelimit-remaining"].to_str().unwrap(),
            remaining,
            "a 304 costs nothing"
        );
        assert!(again.bytes().await.unwrap().is_empty());
    }
    let touched = sim
        .client
        .post(format!("{}/_sim/topics/rust/touch", sim.base))
        .json(&serde_json::json!({"share": 1.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(touched.status(), StatusCode::OK);
    let changed = sim
        .client
        .get(format!(
            "{}/search/repositories?q=topic:rust&per_page=100",
            sim.base
        ))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    assert_ne!(changed.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(sim.stats().await["stats"]["not_modified"], 10);
}

#[tokio::test]
async fn server_errors_come_at_the_configured_share() {
    let sim = start(|_| {}).await;
    sim.faults(serde_json::json!({"error_rate": 0.3})).await;
    let mut statuses = std::collections::BTreeMap::new();
    for _ in 0..300 {
        let status = sim
            .get("/search/repositories?q=topic:tiny")
            .await
            .status()
            .as_u16();
        *statuses.entry(status).or_insert(0) += 1;
    }
    let errors: i32 = [500, 502, 503]
        .iter()
        .map(|s| statuses.get(s).copied().unwrap_or(0))
        .sum();
    assert!((50..=130).contains(&errors), "{statuses:?}");
    assert!(
        [500, 502, 503].iter().all(|s| statuses.contains_key(s)),
        "a mix: {statuses:?}"
    );
    // The admin routes are never faulted.
    for _ in 0..20 {
        assert_eq!(sim.get("/_sim/stats").await.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn slow_dropped_malformed_and_truncated_replies() {
    let sim = start(|_| {}).await;
    sim.faults(serde_json::json!({"slow_rate": 1.0, "slow_ms": 1500}))
        .await;
    let quick = Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let err = quick
        .get(format!("{}/search/repositories?q=topic:tiny", sim.base))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");

    sim.faults(serde_json::json!({"drop_rate": 1.0})).await;
    let err = sim
        .client
        .get(format!("{}/search/repositories?q=topic:tiny", sim.base))
        .send()
        .await
        .unwrap_err();
    assert!(
        !err.is_status() && !err.is_timeout(),
        "a connection error, not an HTTP status: {err}"
    );

    for kind in ["malformed_rate", "truncated_rate"] {
        sim.faults(serde_json::json!({ kind: 1.0 })).await;
        let resp = sim
            .get("/search/repositories?q=topic:rust&per_page=50")
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
        let body = resp.bytes().await.unwrap();
        assert!(
            serde_json::from_slice::<Value>(&body).is_err(),
            "{kind}: the body parsed"
        );
    }
    let stats = sim.stats().await;
    for kind in ["drop", "malformed", "truncated"] {
        assert!(
            stats["stats"]["injected"][kind].as_u64().unwrap() >= 1,
            "{kind}: {stats}"
        );
    }
}

#[tokio::test]
async fn rate_limit_faults_look_like_githubs() {
    let sim = start(|_| {}).await;
    sim.faults(serde_json::json!({"rate_limit_403": 1, "rate_limit_429": 1, "secondary_limit": 1, "retry_after_secs": 7})).await;
    let r403 = sim.get("/search/repositories?q=topic:tiny").await;
    assert_eq!(r403.status(), StatusCode::FORBIDDEN);
    assert_eq!(r403.headers()["x-ratelimit-remaining"], "0");
    let r429 = sim.get("/search/repositories?q=topic:tiny").await;
    assert_eq!(r429.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r429.headers()["retry-after"], "7");
    let secondary = sim.get("/search/repositories?q=topic:tiny").await;
    assert_eq!(secondary.status(), StatusCode::FORBIDDEN);
    assert_eq!(secondary.headers()["retry-after"], "7");
    let body: Value = secondary.json().await.unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("secondary rate limit")
    );
    // Counted faults are used up; the next call is served, and none was a real exhaustion.
    assert_eq!(
        sim.get("/search/repositories?q=topic:tiny").await.status(),
        StatusCode::OK
    );
    assert_eq!(sim.stats().await["stats"]["quota_exceeded"], 0);
    let faults: Faults = sim.get("/_sim/faults").await.json().await.unwrap();
    assert_eq!(
        (
            faults.rate_limit_403,
            faults.rate_limit_429,
            faults.secondary_limit
        ),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn the_same_seed_serves_the_same_bytes() {
    let (a, b) = (start(|_| {}).await, start(|_| {}).await);
    for q in [
        "/search/repositories?q=topic:kubernetes&sort=stars&per_page=100&page=3",
        "/search/repositories?q=topic:rust",
    ] {
        let body_a = a.get(q).await.bytes().await.unwrap();
        let body_b = b.get(q).await.bytes().await.unwrap();
        assert_eq!(body_a, body_b);
    }
    let other = start(|s| s.seed = 8).await;
    let q = "/search/repositories?q=topic:rust";
    assert_ne!(
        a.get(q).await.bytes().await.unwrap(),
        other.get(q).await.bytes().await.unwrap()
    );
}

#[tokio::test]
async fn nullable_fields_are_null_for_a_share_of_repositories() {
    let sim = start(|_| {}).await;
    let page: Value = sim
        .get("/search/repositories?q=topic:kubernetes&per_page=100")
        .await
        .json()
        .await
        .unwrap();
    let items = page["items"].as_array().unwrap();
    for field in ["description", "homepage", "language", "license"] {
        assert!(
            items.iter().any(|r| r[field].is_null()),
            "{field} never null"
        );
        assert!(
            items.iter().any(|r| !r[field].is_null()),
            "{field} always null"
        );
    }
    assert!(items[0]["owner"]["login"].is_string());
    assert!(chrono::DateTime::parse_from_rfc3339(items[0]["created_at"].as_str().unwrap()).is_ok());
}

/// Every id a topic's `GET /_sim/topics/{name}` lists, and every id its
/// search reaches (under the cap, so one walk of the pages gets them all).
async fn listed_and_searched(sim: &Sim, topic: &str) -> (HashSet<i64>, HashSet<i64>) {
    let listed: Value = sim
        .get(&format!("/_sim/topics/{topic}"))
        .await
        .json()
        .await
        .unwrap();
    let repos = listed["repositories"].as_array().unwrap();
    assert_eq!(listed["size"].as_u64().unwrap() as usize, repos.len());
    let listed = repos.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    let mut searched = HashSet::new();
    let mut next = Some(format!(
        "{}/search/repositories?q=topic:{topic}&per_page=100",
        sim.base
    ));
    while let Some(url) = next.take() {
        let resp = sim.client.get(&url).send().await.unwrap();
        next = next_link(&resp);
        let page: SearchPage<RepoPayload> = resp.json().await.unwrap();
        searched.extend(page.items.iter().map(|r| r.id));
    }
    (listed, searched)
}

#[tokio::test]
async fn a_topic_lists_its_members_and_shrinks_when_resized_smaller() {
    let sim = start(|_| {}).await;
    let (before, searched) = listed_and_searched(&sim, "rust").await;
    // 250 of its own and a share of the other topics' repositories.
    assert!(before.len() > 250, "{}", before.len());
    assert_eq!(before, searched, "the list is what the search finds");

    let resize = |size: usize| {
        sim.client
            .put(format!("{}/_sim/topics/rust", sim.base))
            .json(&serde_json::json!({ "size": size }))
            .send()
    };
    let resp = resize(240).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap()["size"], 240);
    let (after, searched) = listed_and_searched(&sim, "rust").await;
    assert_eq!(after.len(), 240);
    assert!(after.is_subset(&before));
    assert_eq!(after, searched, "the ten that left are not found either");

    // Growing again adds new repositories, not the ones that left.
    resize(245).await.unwrap();
    let (grown, _) = listed_and_searched(&sim, "rust").await;
    assert_eq!(grown.len(), 245);
    assert!(after.is_subset(&grown));
    assert!(grown.difference(&after).all(|id| !before.contains(id)));
    assert_eq!(
        sim.get("/_sim/topics/no-such-topic").await.status(),
        StatusCode::NOT_FOUND
    );

    // One repository from the middle of the topic leaves it.
    let one = *after.iter().nth(100).unwrap();
    let leave = || {
        sim.client
            .delete(format!("{}/_sim/topics/rust/repositories/{one}", sim.base))
            .send()
    };
    let resp = leave().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.unwrap()["size"], 244);
    let (fewer, searched) = listed_and_searched(&sim, "rust").await;
    assert_eq!(fewer, searched);
    assert_eq!(fewer.len(), 244);
    assert!(!fewer.contains(&one));
    assert_eq!(leave().await.unwrap().status(), StatusCode::NOT_FOUND);
}
