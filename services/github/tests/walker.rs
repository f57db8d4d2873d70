//! The conditional list walker over real HTTP: the simulator's search (Link
//! URLs under another path, a revalidation of every page at no quota, the
//! next page prefetched while the current one is written), and a scripted
//! stand-in for what the simulator does not serve yet (`/user/{id}/...` Link
//! paths, a cycle, an endless list, 204, 202, a stale memory).

mod common;

use common::script::{Reply, Script};
use common::{MemoryPages, Search, client, settings};
use hubpulse_domain::Topic;
use hubpulse_github::{
    Credential, Disposition, GithubError, Operation, SearchQuery, WalkError, WalkPage, Walker,
};
use hubpulse_testkit::TestSim;
use serde_json::{Value, json};

type Items = Vec<Value>;

fn ids(items: &[Value]) -> Vec<i64> {
    items.iter().map(|i| i["id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn a_search_walked_twice_is_revalidated_page_by_page_at_no_quota() {
    let sim = TestSim::roomy().await;
    let client = client(&settings(&sim.url));
    let memory = MemoryPages::default();
    let first =
        client.search_repositories_url(&SearchQuery::topic(Topic::parse("kubernetes").unwrap()));

    let mut walked = Vec::new();
    let mut walk = Walker::<Search, _>::new(
        &client,
        &memory,
        Operation::SearchRepositories,
        first.clone(),
        Credential::Service,
        10,
    );
    while let Some(page) = walk.next().await {
        let WalkPage::Fresh(page) = page.unwrap() else {
            panic!("nothing stored yet: every page is fresh")
        };
        let record = page.record(
            page.body.items.iter().map(|r| r.id).collect(),
            Some(page.body.total_count as i64),
        );
        // The write and the next page's fetch overlap.
        let ((), ()) = tokio::join!(async { memory.remember(&record) }, walk.prefetch());
        walked.push((page.key.url.clone(), record.ids));
    }
    assert_eq!(walked.len(), 10, "1,000 results, 100 a page");
    assert_eq!(walk.pages(), 10);
    assert!(
        walked[1].0.contains("/api/v3/"),
        "Link URLs followed as given"
    );
    assert_eq!(memory.len(), 10);
    assert_eq!(sim.search_quota_used().await, 10);

    let mut walk = Walker::<Search, _>::new(
        &client,
        &memory,
        Operation::SearchRepositories,
        first,
        Credential::Service,
        10,
    );
    let mut again = Vec::new();
    while let Some(page) = walk.next().await {
        let WalkPage::Unchanged(page) = page.unwrap() else {
            panic!("nothing changed: every page is a 304")
        };
        assert!(page.total.unwrap() > 1_000);
        again.push((page.key.url, page.ids));
    }
    assert_eq!(
        again, walked,
        "the same pages, in order, with their stored ids"
    );
    assert_eq!(sim.stats().await.with_status(304), 10);
    assert_eq!(
        sim.search_quota_used().await,
        10,
        "the revalidation cost nothing"
    );
    // Stored per credential: another token starts from nothing.
    assert!(memory.keys().iter().all(
        |k| k.credential == client.token_id() && k.media_type == "application/vnd.github+json"
    ));
}

#[tokio::test]
async fn link_urls_by_id_are_followed_and_a_cycle_or_an_endless_list_stops() {
    let script = Script::start().await;
    let link = |path: &str| format!("<{}>; rel=\"next\"", script.url(path));
    script
        .on(
            "/users/octocat/repos?per_page=2",
            Reply::json(200, json!([{"id": 1}, {"id": 2}]))
                .header("link", &link("/user/583231/repos?per_page=2&page=2")),
        )
        .on(
            "/user/583231/repos?per_page=2&page=2",
            Reply::json(200, json!([{"id": 3}]))
                .header("link", &link("/users/octocat/repos?per_page=2")),
        );
    for page in 1..=4 {
        script.on(
            &format!("/users/endless/repos?page={page}"),
            Reply::json(200, json!([{"id": page}])).header(
                "link",
                &link(&format!("/users/endless/repos?page={}", page + 1)),
            ),
        );
    }
    let client = client(&settings(&script.base));
    let memory = MemoryPages::default();

    let first = client
        .url(Operation::UserRepos, &["octocat"], &[("per_page", "2")])
        .unwrap();
    let mut walk = Walker::<Items, _>::new(
        &client,
        &memory,
        Operation::UserRepos,
        first,
        Credential::Service,
        10,
    );
    let mut seen = Vec::new();
    let err = loop {
        match walk.next().await.expect("the cycle ends it with an error") {
            Ok(WalkPage::Fresh(page)) => seen.extend(ids(&page.body)),
            Ok(other) => panic!("{other:?}"),
            Err(err) => break err,
        }
    };
    assert_eq!(seen, [1, 2, 3]);
    let WalkError::Github(err) = err;
    assert!(
        matches!(
            err,
            GithubError::LinkCycle {
                endpoint: "users/{username}/repos"
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.disposition(), Disposition::GiveUp);
    assert!(walk.next().await.is_none(), "an error ends the walk");

    let first = client
        .url(Operation::UserRepos, &["endless"], &[("page", "1")])
        .unwrap();
    let mut walk = Walker::<Items, _>::new(
        &client,
        &memory,
        Operation::UserRepos,
        first,
        Credential::Service,
        3,
    );
    let mut pages = 0;
    let err = loop {
        match walk.next().await.unwrap() {
            Ok(_) => pages += 1,
            Err(err) => break err,
        }
    };
    assert_eq!(pages, 3);
    assert!(
        matches!(
            err,
            WalkError::Github(GithubError::TooManyPages { pages: 3, .. })
        ),
        "{err:?}"
    );
    assert_eq!(
        script.seen().len(),
        2 + 3,
        "the page past the cap was never asked for"
    );
}

#[tokio::test]
async fn an_empty_list_or_one_still_computing_ends_the_walk() {
    let script = Script::start().await;
    script
        .on("/repos/o/empty/contributors", Reply::empty(204))
        .on(
            "/repos/o/busy/stats/contributors",
            Reply::json(202, json!({})),
        );
    let client = client(&settings(&script.base));
    let memory = MemoryPages::default();

    let url = client
        .url(Operation::RepoContributors, &["o", "empty"], &[])
        .unwrap();
    let mut walk = Walker::<Items, _>::new(
        &client,
        &memory,
        Operation::RepoContributors,
        url,
        Credential::Service,
        5,
    );
    assert!(matches!(
        walk.next().await,
        Some(Ok(WalkPage::Empty { .. }))
    ));
    assert!(walk.next().await.is_none());

    let url = client
        .url(Operation::RepoContributorStats, &["o", "busy"], &[])
        .unwrap();
    let mut walk = Walker::<Items, _>::new(
        &client,
        &memory,
        Operation::RepoContributorStats,
        url,
        Credential::Service,
        5,
    );
    assert!(matches!(
        walk.next().await,
        Some(Ok(WalkPage::Computing { .. }))
    ));
    assert!(walk.next().await.is_none());
}

#[tokio::test]
async fn a_stale_memory_is_refetched_in_full_and_the_walk_goes_on() {
    let script = Script::start().await;
    let path = "/users/octocat/followers";
    let next = format!("<{}>; rel=\"next\"", script.url("/user/1/followers?page=2"));
    script
        .on(
            path,
            Reply::json(200, json!([{"id": 7}]))
                .header("etag", "W/\"one\"")
                .header("link", &next),
        )
        .on(
            "/user/1/followers",
            Reply::json(200, json!([{"id": 8}])).header("etag", "W/\"two\""),
        )
        .on(path, Reply::empty(304))
        .on(
            path,
            Reply::json(200, json!([{"id": 9}]))
                .header("etag", "W/\"three\"")
                .header("link", &next),
        )
        .on("/user/1/followers", Reply::json(200, json!([{"id": 10}])));
    let client = client(&settings(&script.base));
    let memory = MemoryPages::default();
    let url = client
        .url(Operation::UserFollowers, &["octocat"], &[])
        .unwrap();

    let mut walk = Walker::<Items, _>::new(
        &client,
        &memory,
        Operation::UserFollowers,
        url.clone(),
        Credential::Service,
        5,
    );
    while let Some(page) = walk.next().await {
        let WalkPage::Fresh(page) = page.unwrap() else {
            panic!()
        };
        memory.remember(&page.record(ids(&page.body), None));
    }
    assert_eq!(memory.len(), 2);

    let mut walk = Walker::<Items, _>::new(
        &client,
        &memory,
        Operation::UserFollowers,
        url,
        Credential::Service,
        5,
    );
    let Some(Ok(WalkPage::Unchanged(page))) = walk.next().await else {
        panic!()
    };
    assert_eq!(page.ids, [7]);
    assert_eq!(page.next.unwrap().path(), "/user/1/followers");
    // The caller finds id 7 no longer stored: the page again, in full.
    let WalkPage::Fresh(page) = walk.refetch().await.unwrap() else {
        panic!()
    };
    assert_eq!(ids(&page.body), [9]);
    let Some(Ok(WalkPage::Fresh(last))) = walk.next().await else {
        panic!()
    };
    assert_eq!(ids(&last.body), [10]);
    assert!(walk.next().await.is_none());

    let seen = script.seen();
    let etags: Vec<Option<&str>> = seen.iter().map(|s| s.header("if-none-match")).collect();
    assert_eq!(
        etags,
        [None, None, Some("W/\"one\""), None, Some("W/\"two\"")],
        "conditional where a page is stored, not on the refetch"
    );
}
