//! Developer discovery end to end: real PostgreSQL and Redis, the
//! simulator's developer graph over HTTP (`SimSettings::for_tests`: 150
//! developers, a bot and a suspended user), and two replicas' worker pools
//! running every production kind, wired as `hubpulse-api` wires them.

use std::sync::Arc;
use std::time::Duration;

use hubpulse_cache::{Cache, RedisBudget, RedisSettings};
use hubpulse_domain::{Login, RepoFullName};
use hubpulse_github::{GithubClient, GithubSettings};
use hubpulse_jobs::kinds::{self, Discover, SyncDeveloper, SyncRepository};
use hubpulse_jobs::{
    DevGraphSettings, Job, JobContext, OrgSettings, Registry, WorkerPool, WorkerPoolHandle,
    WorkerSettings, enqueue,
};
use hubpulse_store::Store;
use hubpulse_store::queue::{self, JobRecord, JobStatus};
use hubpulse_testkit::{TestDb, TestRedis, TestSim};
use secrecy::SecretString;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "ghp_GraphTestToken0123456789abcdefghijklmn";
const DEADLINE: Duration = Duration::from_secs(120);
/// Developers of the test graph, plus the bot and the suspended user.
const ACCOUNTS: i64 = 152;

struct Stack {
    _db: TestDb,
    _redis: TestRedis,
    store: Store,
    sim: TestSim,
    shutdown: CancellationToken,
    _replicas: Vec<WorkerPoolHandle>,
}

fn graph_settings() -> DevGraphSettings {
    DevGraphSettings {
        staleness_secs: 3600,
        max_edges_per_list: 10_000,
        discover_batch: 40,
        discover_interval_ms: 50,
        max_depth: 0,
        reserve_ratio: 0.1,
        requeue_after_secs: 60,
    }
}

impl Stack {
    /// `replicas` pools of two workers each on one database, Redis budget
    /// and token.
    async fn start(replicas: usize) -> Stack {
        let sim = TestSim::spawn_with(|_| {}).await;
        let db = TestDb::new().await;
        let redis = TestRedis::new().await;
        let store = db.store().await;
        let shutdown = CancellationToken::new();
        let mut github = GithubSettings::new(&sim.url, Some(SecretString::from(TOKEN)));
        github.retry_base_ms = 5;
        github.retry_max_ms = 50;
        let mut handles = Vec::new();
        for r in 0..replicas {
            let cache = Cache::connect(&RedisSettings {
                url: SecretString::from(redis.url().to_owned()),
                key_prefix: redis.key_prefix().to_owned(),
                pool_size: 2,
                connect_timeout_ms: 1_000,
                command_timeout_ms: 2_000,
            })
            .unwrap();
            let budget = RedisBudget::new(cache.clone(), github.budget_policy()).unwrap();
            let client = Arc::new(GithubClient::new(&github, Arc::new(budget), None).unwrap());
            let pool_store = db.store().await;
            handles.push(
                WorkerPool::new(
                    pool_store.clone(),
                    kinds::register_all(Registry::new()),
                    Arc::new(JobContext {
                        store: pool_store,
                        cache,
                        github: client,
                        orgs: OrgSettings {
                            tracked: Vec::new(),
                            include_bots: false,
                            include_forks: true,
                            include_archived: true,
                            stats_retry_base_ms: 50,
                            stats_retry_cap_secs: 1,
                            stats_max_computing: 5,
                        },
                        graph: graph_settings(),
                        gists: Default::default(),
                        graph_metrics: None,
                        sign_in: None,
                    }),
                    WorkerSettings {
                        count: 2,
                        lease_secs: 15,
                        poll_interval_ms: 25,
                        backoff_base_ms: 50,
                        backoff_cap_secs: 1,
                        shutdown_grace_secs: 2,
                    },
                    format!("replica-{r}"),
                )
                .start(shutdown.clone()),
            );
        }
        Stack {
            _db: db,
            _redis: redis,
            store,
            sim,
            shutdown,
            _replicas: handles,
        }
    }

    /// Queues `job`, waits for it to finish, and returns its result; it
    /// must have succeeded.
    async fn run<J: Job>(&self, job: &J) -> Value {
        let id = enqueue(&self.store.conn().await.unwrap(), job)
            .await
            .unwrap()
            .id();
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let job: JobRecord = queue::job(&self.store.conn().await.unwrap(), id)
                .await
                .unwrap()
                .unwrap();
            if matches!(job.status, JobStatus::Succeeded | JobStatus::Failed) {
                assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
                return job.result.unwrap();
            }
            assert!(tokio::time::Instant::now() < deadline, "{job:?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn count(&self, sql: &str) -> i64 {
        self.store
            .conn()
            .await
            .unwrap()
            .query_one(sql, &[])
            .await
            .unwrap()
            .get(0)
    }

    async fn core_used(&self) -> u64 {
        self.sim
            .admin
            .stats()
            .await
            .unwrap()
            .stats
            .quota_used_on("core")
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn seed(login: &str) -> SyncDeveloper {
    SyncDeveloper {
        login: Some(Login::parse(login).unwrap()),
        id: None,
        depth: None,
        force: false,
    }
}

fn pages(n: u64) -> u64 {
    n.div_ceil(100).max(1)
}

#[tokio::test]
async fn discovery_reaches_the_whole_graph_once_at_the_minimum_calls() {
    let stack = Stack::start(2).await;
    stack.run(&seed("graph-seed")).await;
    let done = stack.run(&Discover::default()).await;
    assert_eq!(done["frontier"], 0, "{done}");

    // Every account, once: the id is the key, and no edge is doubled.
    assert_eq!(
        stack.count("SELECT count(*) FROM developers").await,
        ACCOUNTS
    );
    assert_eq!(
        stack
            .count("SELECT count(*) FROM developers WHERE state = 'synced'")
            .await,
        ACCOUNTS - 1
    );
    let gone: i64 = stack
        .count("SELECT count(*) FROM developers WHERE state = 'gone' AND login = 'graph-suspended'")
        .await;
    assert_eq!(gone, 1, "the suspended user is marked gone");

    // The calls are the minimum: one profile and one call per 100 items of
    // each list; the suspended user costs its 404 by login and by id.
    let logins: Vec<String> = stack
        .store
        .conn()
        .await
        .unwrap()
        .query("SELECT login FROM developers WHERE state = 'synced'", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut minimum = 2;
    let mut edges = 0;
    for login in &logins {
        let a = stack.sim.admin.account(login).await.unwrap();
        minimum += 1
            + pages(a.followers)
            + pages(a.following)
            + pages(a.starred)
            + pages(a.repositories.len() as u64);
        edges += a.following;
    }
    let used = stack.core_used().await;
    // A retried attempt (a deadlock between racing workers, say) asks its
    // uncommitted page again: the only calls above the minimum.
    let retries = stack
        .count(
            "SELECT COALESCE(sum(attempts - 1), 0)::bigint FROM jobs WHERE kind = 'sync_developer'",
        )
        .await as u64;
    assert!(
        used >= minimum && used <= minimum + retries && retries <= 3,
        "GitHub calls {used} against the minimum {minimum}, {retries} retries"
    );
    assert_eq!(
        stack.count("SELECT count(*) FROM follows").await as u64,
        edges,
        "every follow edge once"
    );
    let stats = stack.sim.admin.stats().await.unwrap().stats;
    assert_eq!(stats.quota_exceeded, 0, "never over the quota");

    // Inside the staleness window a second discovery spends nothing.
    let again = stack.run(&Discover::default()).await;
    assert_eq!(again["queued"], 0);
    assert_eq!(stack.core_used().await, used);
    let fresh = stack.run(&seed("graph-celebrity")).await;
    assert_eq!(fresh["developer_state"], "fresh");
    assert_eq!(stack.core_used().await, used);
}

#[tokio::test]
async fn renamed_users_and_repositories_keep_one_row_and_their_history() {
    let stack = Stack::start(1).await;
    let first = stack.run(&seed("gdev-00003")).await;
    let id = first["developer_id"].as_i64().unwrap();
    stack
        .sim
        .admin
        .rename_account(id, "gdev-moved")
        .await
        .unwrap();
    let again = stack
        .run(&SyncDeveloper {
            force: true,
            ..seed("gdev-00003")
        })
        .await;
    assert_eq!(again["renamed_from"], "gdev-00003", "{again}");
    assert_eq!(again["developer_login"], "gdev-moved");
    let rows = stack
        .count(&format!("SELECT count(*) FROM developers WHERE id = {id}"))
        .await;
    assert_eq!(rows, 1);
    let history = stack
        .count(&format!(
            "SELECT count(*) FROM developer_logins WHERE developer_id = {id}"
        ))
        .await;
    assert_eq!(history, 2, "both logins kept");

    // A bot, end to end.
    let bot = stack.run(&seed("graph-helper[bot]")).await;
    assert_eq!(bot["developer_state"], "synced", "{bot}");

    // A repository renamed after it was stored: the old name answers 301.
    let account = stack.sim.admin.account("gdev-moved").await.unwrap();
    let Some(repo) = account.repositories.first() else {
        return;
    };
    let old = RepoFullName::parse(&repo.full_name).unwrap();
    stack.run(&SyncRepository::by_name(old.clone())).await;
    stack
        .sim
        .admin
        .rename_repository(repo.id, "renamed-here")
        .await
        .unwrap();
    let moved = stack.run(&SyncRepository::by_name(old)).await;
    assert_eq!(moved["moved_from"], repo.full_name.as_str(), "{moved}");
    // By id: `/repositories/{id}` straight away, the current name back, no
    // move to report, and still the one row.
    let by_id = stack.run(&SyncRepository::by_id(repo.id)).await;
    assert_eq!(by_id["repository_id"], repo.id, "{by_id}");
    let owner = repo.full_name.split('/').next().unwrap();
    assert_eq!(
        by_id["repository_full_name"],
        format!("{owner}/renamed-here"),
        "{by_id}"
    );
    assert!(by_id.get("moved_from").is_none(), "{by_id}");
    assert_eq!(
        stack
            .count(&format!(
                "SELECT count(*) FROM repositories WHERE id = {}",
                repo.id
            ))
            .await,
        1
    );
    let gone = stack.run(&SyncRepository::by_id(987_654_321)).await;
    assert_eq!(gone["stargazers"], "unknown", "{gone}");
    assert_eq!(
        stack
            .count(&format!(
                "SELECT count(*) FROM repositories WHERE id = {} AND name = 'renamed-here'",
                repo.id
            ))
            .await,
        1
    );
    assert_eq!(
        stack
            .count(&format!(
                "SELECT count(*) FROM repository_graph WHERE repository_id = {} \
                 AND cardinality(former_names) = 1",
                repo.id
            ))
            .await,
        1
    );
}

#[tokio::test]
async fn refused_stargazers_are_recorded_once_and_the_star_history_kept() {
    let stack = Stack::start(1).await;
    // Their lists store repositories, some of them starred.
    stack.run(&seed("graph-seed")).await;
    stack.run(&seed("graph-celebrity")).await;
    let starred: Vec<(i64, String, i64)> = stack
        .store
        .conn()
        .await
        .unwrap()
        .query(
            "SELECT r.id, o.login || '/' || r.name, r.stargazers_count FROM repositories r \
             JOIN owners o ON o.id = r.owner_id WHERE r.stargazers_count > 0 ORDER BY r.id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert!(!starred.is_empty(), "the seed starred something");
    let (id, name, stars) = starred[0].clone();
    let job = SyncRepository::by_name(RepoFullName::parse(&name).unwrap());
    let first = stack.run(&job).await;
    assert_eq!(first["stargazers"], "restricted", "{first}");
    let total = stack
        .count(&format!(
            "SELECT COALESCE(sum(total), 0)::bigint FROM star_history WHERE repository_id = {id}"
        ))
        .await;
    let sim_count: serde_json::Value =
        reqwest::get(format!("{}/repos/{name}/stargazers/count", stack.sim.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(
        total, stars,
        "the weekly history adds up to the stars of {id} {name}: {first}, sim {sim_count}"
    );
    let before = stack.core_used().await;
    let second = stack.run(&job).await;
    assert_eq!(second["stargazers"], "restricted");
    // Only the repository itself: the history revalidates at no cost and
    // the refused list is not asked again.
    assert_eq!(stack.core_used().await, before + 1);
}
