//! The conditional list walker over a list that is not search: a user's
//! repositories and a repository's contributor statistics, from the
//! simulator over HTTP, with the walker's pages kept in Postgres
//! (`PgPages`) exactly as the topic crawl keeps its own. Each outcome is
//! checked against what the simulator says it holds and spent.

use std::collections::BTreeSet;
use std::sync::Arc;

use hubpulse_domain::rate::LocalBudget;
use hubpulse_domain::wire::RepoPayload;
use hubpulse_github::{
    Credential, GithubClient, GithubError, GithubSettings, Operation, Url, WalkError, WalkPage,
    Walker,
};
use hubpulse_jobs::{PgPages, remember_page};
use hubpulse_sim::{LinkCycle, ListControl};
use hubpulse_store::{Store, StoreError, repositories};
use hubpulse_testkit::{TestDb, TestSim};
use secrecy::SecretString;
use serde_json::Value;

const TOKEN: &str = "ghp_WalkerTestToken0123456789abcdefghijklm";
/// The simulator's account with 230 repositories: three pages of 100.
const WALKER: &str = "hubpulse-walker";
const WALKER_ID: i64 = 9_000_001;

struct Fixture {
    sim: TestSim,
    _db: TestDb,
    store: Store,
    pages: PgPages,
    github: GithubClient,
}

async fn fixture() -> Fixture {
    let sim = TestSim::spawn_with(|_| {}).await;
    let db = TestDb::new().await;
    let store = db.store().await;
    let mut settings = GithubSettings::new(&sim.url, Some(SecretString::from(TOKEN)));
    settings.retry_base_ms = 5;
    settings.retry_max_ms = 50;
    let budget = Arc::new(LocalBudget::new(settings.budget_policy()));
    let github = GithubClient::new(&settings, budget, None).unwrap();
    Fixture {
        sim,
        _db: db,
        pages: PgPages::new(store.clone()),
        store,
        github,
    }
}

/// What one walk of a list saw.
#[derive(Debug, Default)]
struct Walked {
    urls: Vec<Url>,
    fresh: usize,
    unchanged: usize,
    ids: Vec<i64>,
}

impl Fixture {
    fn repos_url(&self) -> Url {
        self.github
            .url(Operation::UserRepos, &[WALKER], &[("per_page", "100")])
            .unwrap()
    }

    /// Every page of `login`'s repositories, each fresh page's rows and
    /// validator written in one transaction of its own, as a job does.
    async fn walk_repos(&self, max_pages: u32) -> Result<Walked, WalkError<StoreError>> {
        let mut walk = Walker::<Vec<RepoPayload>, _>::new(
            &self.github,
            &self.pages,
            Operation::UserRepos,
            self.repos_url(),
            Credential::Service,
            max_pages,
        );
        let mut walked = Walked::default();
        while let Some(page) = walk.next().await {
            match page? {
                WalkPage::Fresh(page) => {
                    walked.urls.push(Url::parse(&page.key.url).unwrap());
                    walked.fresh += 1;
                    let mut conn = self.store.conn().await.unwrap();
                    let tx = conn.transaction().await.unwrap();
                    let ids = repositories::upsert(&tx, &page.body).await.unwrap();
                    remember_page(&tx, &page.record(ids.clone(), None))
                        .await
                        .unwrap();
                    tx.commit().await.unwrap();
                    walked.ids.extend(ids);
                }
                WalkPage::Unchanged(page) => {
                    walked.urls.push(Url::parse(&page.key.url).unwrap());
                    walked.unchanged += 1;
                    walked.ids.extend(page.ids);
                }
                other => panic!("a user's repositories answered {other:?}"),
            }
        }
        Ok(walked)
    }

    /// Walks `repo`'s contributor statistics once: a one-page list.
    async fn walk_stats(&self, repo: &str) -> WalkPage<Vec<Value>> {
        let url = self
            .github
            .url(Operation::RepoContributorStats, &[WALKER, repo], &[])
            .unwrap();
        let mut walk = Walker::<Vec<Value>, _>::new(
            &self.github,
            &self.pages,
            Operation::RepoContributorStats,
            url,
            Credential::Service,
            1,
        );
        let page = walk.next().await.expect("a first page").unwrap();
        assert!(walk.next().await.is_none(), "statistics are one page");
        page
    }

    async fn core_quota_used(&self) -> u64 {
        self.sim.stats().await.quota_used_on("core")
    }

    async fn stored_repositories(&self, ids: &[i64]) -> i64 {
        let conn = self.store.conn().await.unwrap();
        conn.query_one(
            "SELECT count(*) FROM repositories WHERE id = ANY($1)",
            &[&ids],
        )
        .await
        .unwrap()
        .get(0)
    }
}

#[tokio::test]
async fn a_user_repositories_walk_follows_links_as_given_and_revalidates_for_free() {
    let f = fixture().await;
    let account = f.sim.admin.account(WALKER).await.unwrap();
    let expected: BTreeSet<i64> = account.repositories.iter().map(|r| r.id).collect();
    assert_eq!(expected.len(), 230);

    let first = f.walk_repos(10).await.unwrap();
    assert_eq!((first.fresh, first.unchanged), (3, 0));
    assert_eq!(first.urls[0].path(), format!("/users/{WALKER}/repos"));
    // GitHub's Link URLs switch to the id form; the walker follows them as
    // given instead of building page URLs itself.
    for url in &first.urls[1..] {
        assert_eq!(url.path(), format!("/user/{WALKER_ID}/repos"));
    }
    let seen: BTreeSet<i64> = first.ids.iter().copied().collect();
    assert_eq!(seen, expected);
    let ids: Vec<i64> = expected.iter().copied().collect();
    assert_eq!(f.stored_repositories(&ids).await, 230);
    assert_eq!(f.core_quota_used().await, 3);

    let stats_before = f.sim.stats().await;
    let again = f.walk_repos(10).await.unwrap();
    assert_eq!((again.fresh, again.unchanged), (0, 3));
    assert_eq!(again.urls, first.urls);
    assert_eq!(again.ids, first.ids, "the ids each page stored come back");
    let stats_after = f.sim.stats().await;
    assert_eq!(
        stats_after.not_modified - stats_before.not_modified,
        3,
        "every page was revalidated"
    );
    assert_eq!(f.core_quota_used().await, 3, "304s spend no quota");
}

#[tokio::test]
async fn a_list_still_computing_answers_computing_then_its_pages() {
    let f = fixture().await;
    f.sim
        .admin
        .control_list(&ListControl {
            path: format!("/users/{WALKER}/repos"),
            accepted: 1,
            no_content: 0,
            link_cycle: None,
        })
        .await
        .unwrap();
    let mut walk = Walker::<Vec<RepoPayload>, _>::new(
        &f.github,
        &f.pages,
        Operation::UserRepos,
        f.repos_url(),
        Credential::Service,
        10,
    );
    assert!(matches!(
        walk.next().await,
        Some(Ok(WalkPage::Computing { .. }))
    ));
    assert!(walk.next().await.is_none(), "a 202 ends this walk");
    let later = f.walk_repos(10).await.unwrap();
    assert_eq!(later.fresh, 3);
    assert_eq!(later.ids.len(), 230);
}

#[tokio::test]
async fn statistics_move_with_a_renamed_repository_and_an_empty_one_has_none() {
    let f = fixture().await;
    // repo-000 was renamed: its old name answers 301 to /repositories/{id},
    // and the statistics there are computed (202) before they are served.
    let renamed = f.walk_stats("repo-000").await;
    assert!(matches!(renamed, WalkPage::Computing { .. }), "{renamed:?}");
    let WalkPage::Fresh(page) = f.walk_stats("repo-000").await else {
        panic!("statistics computed once are served");
    };
    let moved = page.moved.as_ref().expect("the 301 is reported");
    assert_eq!(
        moved.from.path(),
        "/repos/hubpulse-walker/repo-000/stats/contributors"
    );
    assert_eq!(moved.to.path(), "/repositories/90000000/stats/contributors");
    assert!(
        !page.body.is_empty(),
        "a repository with commits has contributors"
    );

    // repo-229 is empty: 204, however often it is asked.
    let mut empty = f.walk_stats("repo-229").await;
    if matches!(empty, WalkPage::Computing { .. }) {
        empty = f.walk_stats("repo-229").await;
    }
    assert!(matches!(empty, WalkPage::Empty { .. }), "{empty:?}");
}

#[tokio::test]
async fn a_link_cycle_and_an_endless_list_stop_with_clear_errors() {
    let f = fixture().await;
    f.sim
        .admin
        .control_list(&ListControl {
            path: format!("/user/{WALKER_ID}/repos"),
            accepted: 0,
            no_content: 0,
            link_cycle: Some(LinkCycle {
                at_page: Some(3),
                to_page: 2,
            }),
        })
        .await
        .unwrap();
    match f.walk_repos(50).await {
        Err(WalkError::Github(GithubError::LinkCycle { .. })) => {}
        other => panic!("a Link back to page 2 is a cycle: {other:?}"),
    }
    let spent = f.core_quota_used().await;
    assert_eq!(spent, 3, "the cycle stops before page 2 is fetched again");

    f.sim.admin.clear_list_controls().await.unwrap();
    match f.walk_repos(2).await {
        Err(WalkError::Github(GithubError::TooManyPages { pages: 2, .. })) => {}
        other => panic!("a third page is past the cap of two: {other:?}"),
    }
}
