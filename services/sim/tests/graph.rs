//! The social graph area over real HTTP: the same seed serves the same
//! graph, `graph-seed` reaches every account by follow edges, the
//! celebrity's followers follow a power law, a bot and a suspended user,
//! a user renamed at run time, refused stargazer lists, star history.

mod common;

use std::collections::{BTreeSet, VecDeque};

use common::{Sim, next_link, start};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "token ghp_GraphSimTest0123456789abcdefghijklmn";
const STAR_JSON: &str = "application/vnd.github.star+json";

async fn get(sim: &Sim, url: &str, accept: Option<&str>) -> reqwest::Response {
    let url = if url.starts_with("http") {
        url.to_owned()
    } else {
        format!("{}{url}", sim.base)
    };
    let mut request = sim.client.get(url).header("authorization", TOKEN);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    request.send().await.unwrap()
}

/// Every item of a list, following `Link` from `first`.
async fn all(sim: &Sim, first: &str, accept: Option<&str>) -> Vec<Value> {
    let mut url = Some(format!("{first}?per_page=100"));
    let mut items = Vec::new();
    while let Some(next) = url.take() {
        let reply = get(sim, &next, accept).await;
        assert_eq!(reply.status(), StatusCode::OK, "{next}");
        url = next_link(&reply);
        let page: Vec<Value> = reply.json().await.unwrap();
        items.extend(page);
    }
    items
}

fn logins(items: &[Value]) -> BTreeSet<String> {
    items
        .iter()
        .map(|u| u["login"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_seed_reaches_every_account_of_a_deterministic_graph() {
    let sim = start(|_| {}).await;
    let twin = start(|_| {}).await;
    let a = all(&sim, "/users/graph-seed/following", None).await;
    let b = all(&twin, "/users/graph-seed/following", None).await;
    assert_eq!(logins(&a), logins(&b), "same seed, same graph");
    assert!(logins(&a).contains("graph-helper[bot]"));
    assert!(logins(&a).contains("graph-suspended"));

    // Breadth first over followers and following.
    let mut seen = BTreeSet::from(["graph-seed".to_owned()]);
    let mut queue = VecDeque::from(["graph-seed".to_owned()]);
    let mut suspended = 0;
    while let Some(login) = queue.pop_front() {
        let encoded = login.replace('[', "%5B").replace(']', "%5D");
        let profile = get(&sim, &format!("/users/{encoded}"), None).await;
        if profile.status() == StatusCode::NOT_FOUND {
            suspended += 1;
            assert_eq!(login, "graph-suspended");
            continue;
        }
        let profile: Value = profile.json().await.unwrap();
        for list in ["followers", "following"] {
            let items = all(&sim, &format!("/users/{encoded}/{list}"), None).await;
            assert_eq!(
                items.len() as u64,
                profile[list].as_u64().unwrap(),
                "{login} {list}"
            );
            for item in &items {
                assert!(item.get("name").is_none(), "list items are simple users");
                let next = item["login"].as_str().unwrap().to_owned();
                if seen.insert(next.clone()) {
                    queue.push_back(next);
                }
            }
        }
    }
    assert_eq!(suspended, 1);
    // 150 developers (SimSettings::for_tests), the bot and the suspended user.
    assert_eq!(seen.len(), 152, "the whole graph is connected to the seed");
    let celebrity = all(&sim, "/users/graph-celebrity/followers", None).await;
    assert!(celebrity.len() > 100, "a power law: {}", celebrity.len());

    let bot: Value = get(&sim, "/users/graph-helper%5Bbot%5D", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bot["type"], "Bot");
    let gone = get(&sim, "/users/graph-suspended/followers", None).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_renamed_user_is_a_404_under_the_old_login_and_found_by_id() {
    let sim = start(|_| {}).await;
    let before: Value = get(&sim, "/users/gdev-00003", None)
        .await
        .json()
        .await
        .unwrap();
    let id = before["id"].as_i64().unwrap();
    sim.admin(
        Method::PUT,
        &format!("/_sim/accounts/{id}/login"),
        Some(json!({ "login": "gdev-renamed" })),
    )
    .await;
    let old = get(&sim, "/users/gdev-00003", None).await;
    assert_eq!(old.status(), StatusCode::NOT_FOUND);
    let by_id: Value = get(&sim, &format!("/user/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_id["login"], "gdev-renamed");
    assert_eq!(by_id["followers"], before["followers"]);
}

#[tokio::test]
async fn stargazers_are_refused_to_non_collaborators_and_history_is_kept() {
    let sim = start(|_| {}).await;
    let starred = all(&sim, "/users/graph-seed/starred", Some(STAR_JSON)).await;
    let plain = all(&sim, "/users/graph-seed/starred", None).await;
    assert_eq!(starred.len(), plain.len());
    // Some graph repository with stars: the celebrity's followers star too.
    let mut repo = None;
    for id in 30_000_000..30_000_050 {
        let r = get(&sim, &format!("/repositories/{id}"), None).await;
        if r.status() == StatusCode::OK {
            let r: Value = r.json().await.unwrap();
            if r["stargazers_count"].as_i64().unwrap() > 0 {
                repo = Some(r);
                break;
            }
        }
    }
    let repo = repo.expect("a starred graph repository");
    let name = repo["full_name"].as_str().unwrap();
    let stars = repo["stargazers_count"].as_u64().unwrap();
    let anonymous = sim
        .client
        .get(format!("{}/repos/{name}/stargazers", sim.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let refused = get(&sim, &format!("/repos/{name}/stargazers"), None).await;
    let status = refused.status();
    let body: Value = refused.json().await.unwrap();
    assert!(
        status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN || body == json!([]),
        "{status} {body}"
    );
    let count: Value = get(&sim, &format!("/repos/{name}/stargazers/count"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(count["count"].as_u64(), Some(stars));
    let weeks = all(&sim, &format!("/repos/{name}/stargazers/history"), None).await;
    let total: u64 = weeks.iter().map(|w| w["total"].as_u64().unwrap()).sum();
    assert_eq!(total, stars, "the weeks add up to the stars");
    let newest = weeks[0]["week"].as_i64().unwrap();
    assert!(weeks.iter().all(|w| w["week"].as_i64().unwrap() <= newest));
    assert_eq!(weeks[0]["days"].as_array().unwrap().len(), 7);

    // A named account's repository: the token is a collaborator there.
    let open = get(
        &sim,
        "/repos/hubpulse-walker/repo-001/stargazers",
        Some(STAR_JSON),
    )
    .await;
    assert_eq!(open.status(), StatusCode::OK);
}
