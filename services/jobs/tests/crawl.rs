//! The crawl job end to end, wired as a replica wires it: real PostgreSQL
//! and Redis, the simulator over HTTP, a `GithubClient` on the Redis budget,
//! and the job run by a `WorkerPool` with every production kind. What each
//! crawl stored is checked against the simulator's own list of a topic's
//! repositories, never against a number alone.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use hubpulse_cache::{Cache, RedisBudget, RedisSettings, View};
use hubpulse_domain::wire::RepoPayload;
use hubpulse_domain::{Topic, ViewKind};
use hubpulse_github::{GithubClient, GithubSettings};
use hubpulse_jobs::kinds::{self, CrawlTopic};
use hubpulse_jobs::{
    JobContext, JobObserver, OrgSettings, Registry, WorkerPool, WorkerPoolHandle, WorkerSettings,
    enqueue,
};
use hubpulse_sim::Stats;
use hubpulse_sim::{Faults, SimSettings};
use hubpulse_store::Store;
use hubpulse_store::queue::{self, JobId, JobRecord, JobStatus};
use hubpulse_store::read_model::{self, TopicView};
use hubpulse_store::topics;
use hubpulse_testkit::{TestDb, TestRedis, TestSim};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Shaped like a real token; both replicas of a test spend it.
const TOKEN: &str = "ghp_CrawlTestToken0123456789abcdefghijklm";
/// The simulator's topic over GitHub's 1,000-result cap.
const BIG: &str = "kubernetes";
/// Longest any one crawl may take here.
const CRAWL_DEADLINE: Duration = Duration::from_secs(50);

// ---------------------------------------------------------------- simulator

/// The test data set (seed 42) with a search quota no crawl here runs into,
/// changed by `configure`.
async fn start_sim(configure: impl FnOnce(&mut SimSettings)) -> TestSim {
    TestSim::spawn_with(|settings| {
        settings.limits.search_authenticated = 10_000;
        configure(settings);
    })
    .await
}

fn status_count(stats: &Stats, status: u16) -> u64 {
    stats.with_status(status)
}

fn ids(repos: &[RepoPayload]) -> BTreeSet<i64> {
    repos.iter().map(|r| r.id).collect()
}

// ---------------------------------------------------------------- replicas

/// Every finished attempt by replica and outcome: what the API turns into
/// metrics.
#[derive(Default)]
struct Outcomes(Mutex<BTreeMap<(String, &'static str), u64>>);

impl Outcomes {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, &'static str), u64>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Attempts that ended in `outcome`, on any replica.
    fn get(&self, outcome: &str) -> u64 {
        self.lock()
            .iter()
            .filter(|((_, o), _)| *o == outcome)
            .map(|(_, n)| n)
            .sum()
    }

    /// Attempts that ended on `replica`, whatever their outcome.
    fn on(&self, replica: &str) -> u64 {
        self.lock()
            .iter()
            .filter(|((r, _), _)| r == replica)
            .map(|(_, n)| n)
            .sum()
    }

    fn all(&self) -> BTreeMap<(String, &'static str), u64> {
        self.lock().clone()
    }
}

/// One replica's ear on its pool.
struct Observer {
    replica: String,
    outcomes: Arc<Outcomes>,
}

impl JobObserver for Observer {
    fn attempt_finished(&self, _kind: &str, outcome: &'static str, _duration: Duration) {
        *self
            .outcomes
            .lock()
            .entry((self.replica.clone(), outcome))
            .or_default() += 1;
    }
}

/// Fast client retries (5xx are provoked on purpose here); the rest is
/// production's defaults unless a test changes it.
fn github_settings(base: &str) -> GithubSettings {
    let mut settings = GithubSettings::new(base, Some(SecretString::from(TOKEN)));
    settings.request_timeout_ms = 5_000;
    settings.retry_base_ms = 5;
    settings.retry_max_ms = 50;
    settings
}

fn worker_settings(count: usize) -> WorkerSettings {
    WorkerSettings {
        count,
        lease_secs: 15,
        poll_interval_ms: 25,
        backoff_base_ms: 50,
        backoff_cap_secs: 1,
        shutdown_grace_secs: 2,
    }
}

async fn connect_cache(redis: &TestRedis) -> Cache {
    let cache = Cache::connect(&RedisSettings {
        url: SecretString::from(redis.url().to_owned()),
        key_prefix: redis.key_prefix().to_owned(),
        pool_size: 2,
        connect_timeout_ms: 1_000,
        command_timeout_ms: 2_000,
    })
    .unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        while cache.ping().await.is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("redis answers");
    cache
}

/// A session of the test's own holding one repository's row lock. A crawl
/// that must write the row (its page fetched in full) waits for it: the test
/// then knows the crawl is past every earlier page and short of every later
/// one, and can change the world at exactly that point.
struct HeldRow {
    session: tokio_postgres::Client,
    pid: i32,
}

impl HeldRow {
    async fn release(self) {
        self.session.batch_execute("ROLLBACK").await.unwrap();
    }
}

/// A database, a Redis key space, a simulator, and worker pools ("replicas")
/// built the way `hubpulse-api` builds its own.
struct Stack {
    db: TestDb,
    redis: TestRedis,
    store: Store,
    cache: Cache,
    sim: TestSim,
    github: GithubSettings,
    outcomes: Arc<Outcomes>,
    shutdown: CancellationToken,
    replicas: Vec<WorkerPoolHandle>,
}

impl Stack {
    /// One replica, `replica-a`, with `workers` workers.
    async fn start(
        workers: usize,
        configure_sim: impl FnOnce(&mut SimSettings),
        configure_github: impl FnOnce(&mut GithubSettings),
    ) -> Stack {
        let sim = start_sim(configure_sim).await;
        let db = TestDb::new().await;
        let redis = TestRedis::new().await;
        let store = db.store().await;
        let cache = connect_cache(&redis).await;
        let mut github = github_settings(&sim.url);
        configure_github(&mut github);
        let mut stack = Stack {
            db,
            redis,
            store,
            cache,
            sim,
            github,
            outcomes: Arc::new(Outcomes::default()),
            shutdown: CancellationToken::new(),
            replicas: Vec::new(),
        };
        stack.add_replica("replica-a", workers).await;
        stack
    }

    /// Another replica: its own pools, Redis budget and GitHub client, on the
    /// same database, key prefix and token.
    async fn add_replica(&mut self, name: &str, workers: usize) {
        let store = self.db.store().await;
        let cache = connect_cache(&self.redis).await;
        let budget = RedisBudget::new(cache.clone(), self.github.budget_policy()).unwrap();
        let github = Arc::new(GithubClient::new(&self.github, Arc::new(budget), None).unwrap());
        let handle = WorkerPool::new(
            store.clone(),
            kinds::register_all(Registry::new()),
            Arc::new(JobContext {
                store,
                cache,
                github,
                orgs: OrgSettings {
                    tracked: Vec::new(),
                    include_bots: false,
                    include_forks: true,
                    include_archived: true,
                    stats_retry_base_ms: 50,
                    stats_retry_cap_secs: 1,
                    stats_max_computing: 5,
                },
                gists: Default::default(),
                graph_metrics: None,
                sign_in: None,
                graph: hubpulse_jobs::DevGraphSettings {
                    staleness_secs: 3600,
                    max_edges_per_list: 1000,
                    discover_batch: 20,
                    discover_interval_ms: 100,
                    max_depth: 0,
                    reserve_ratio: 0.1,
                    requeue_after_secs: 60,
                },
            }),
            worker_settings(workers),
            name,
        )
        .with_observer(Arc::new(Observer {
            replica: name.to_owned(),
            outcomes: self.outcomes.clone(),
        }))
        .start(self.shutdown.clone());
        self.replicas.push(handle);
    }

    async fn enqueue(&self, topic: &str) -> JobId {
        let topic = Topic::parse(topic).unwrap();
        let conn = self.store.conn().await.unwrap();
        topics::track(&conn, &topic).await.unwrap();
        enqueue(&conn, &CrawlTopic { topic }).await.unwrap().id()
    }

    async fn job(&self, id: JobId) -> JobRecord {
        queue::job(&self.store.conn().await.unwrap(), id)
            .await
            .unwrap()
            .unwrap()
    }

    /// Polls the job until `done` holds for it; panics at the deadline with
    /// what the job last showed.
    async fn wait_job(
        &self,
        id: JobId,
        what: &str,
        done: impl Fn(&JobRecord) -> bool,
    ) -> JobRecord {
        let deadline = tokio::time::Instant::now() + CRAWL_DEADLINE;
        loop {
            let job = self.job(id).await;
            if done(&job) {
                return job;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "job {id} not {what} after {CRAWL_DEADLINE:?}: {job:?}; attempts seen {:?}",
                self.outcomes.all()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn wait_finished(&self, id: JobId) -> JobRecord {
        self.wait_job(id, "finished", |j| {
            matches!(j.status, JobStatus::Succeeded | JobStatus::Failed)
        })
        .await
    }

    /// Crawls `topic` once and returns the finished job, which must have
    /// succeeded.
    async fn crawl(&self, topic: &str) -> (JobRecord, Value) {
        let id = self.enqueue(topic).await;
        let job = self.wait_finished(id).await;
        assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
        let result = job.result.clone().expect("a finished crawl has a result");
        (job, result)
    }

    /// The pages the last crawl remembers that held repositories: by URL,
    /// their ids and next URL.
    async fn remembered_pages(&self) -> BTreeMap<String, (Vec<i64>, Option<String>)> {
        self.store
            .conn()
            .await
            .unwrap()
            .query(
                "SELECT url, ids, next_url FROM github_pages WHERE cardinality(ids) > 0",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| (row.get(0), (row.get(1), row.get(2))))
            .collect()
    }

    /// Forgets every page (so each is fetched in full again, as after a
    /// lost memory: only a full page writes), then crawls `topic` until its
    /// write of the held row waits on the lock.
    async fn crawl_until_blocked(&self, topic: &str, held: i64) -> (HeldRow, JobId) {
        self.store
            .conn()
            .await
            .unwrap()
            .execute("DELETE FROM github_pages", &[])
            .await
            .unwrap();
        let row = self.hold_row(held).await;
        let id = self.enqueue(topic).await;
        self.wait_blocked(&row).await;
        (row, id)
    }

    async fn hold_row(&self, repository_id: i64) -> HeldRow {
        let session = self.db.client().await;
        session
            .batch_execute(&format!(
                "BEGIN; SELECT 1 FROM repositories WHERE id = {repository_id} FOR UPDATE"
            ))
            .await
            .unwrap();
        let pid = session
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap()
            .get(0);
        HeldRow { session, pid }
    }

    /// Waits until another session waits for the held row: the crawl.
    async fn wait_blocked(&self, row: &HeldRow) {
        let blocked = format!(
            "SELECT count(*) FROM pg_stat_activity WHERE {} = ANY(pg_blocking_pids(pid))",
            row.pid
        );
        let deadline = tokio::time::Instant::now() + CRAWL_DEADLINE;
        while self.count(&blocked).await == 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the crawl never reached the held row"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn members_in_db(&self, topic: &str) -> BTreeSet<i64> {
        let conn = self.store.conn().await.unwrap();
        conn.query(
            "SELECT rt.repository_id FROM repository_topics rt \
             JOIN topics t ON t.id = rt.topic_id WHERE t.name = $1",
            &[&topic],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
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

    async fn views(&self, topic: &str) -> HashMap<ViewKind, View> {
        let topic = Topic::parse(topic).unwrap();
        let mut views = HashMap::new();
        for kind in ViewKind::ALL {
            let view = self
                .cache
                .get_view(&topic, kind)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("no {} view in Redis", kind.as_str()));
            // The read model holds the same view: what a replica answers
            // from once Redis has lost it.
            let TopicView::Stored(stored) =
                read_model::topic_view(&self.store.conn().await.unwrap(), &topic, kind)
                    .await
                    .unwrap()
            else {
                panic!("no stored {} view in Postgres", kind.as_str())
            };
            assert_eq!(stored.etag, view.etag.to_vec(), "{}", kind.as_str());
            assert_eq!(stored.plain, view.plain.to_vec(), "{}", kind.as_str());
            assert_eq!(stored.brotli, view.brotli.to_vec(), "{}", kind.as_str());
            views.insert(kind, view);
        }
        views
    }

    /// Stops every replica, then checks no job was left failed.
    async fn stop(mut self) {
        self.shutdown.cancel();
        for replica in std::mem::take(&mut self.replicas) {
            replica.join().await;
        }
        let failed = self
            .count("SELECT count(*) FROM jobs WHERE status = 'failed'")
            .await;
        assert_eq!(failed, 0, "a job was left failed");
        let seen = self.count("SELECT count(*) FROM crawl_seen").await;
        assert_eq!(seen, 0, "finished crawls left their seen-sets behind");
    }
}

/// `result[key]` as a number.
fn num(result: &Value, key: &str) -> u64 {
    result[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing from {result}"))
}

/// Asserts the database holds exactly the simulator's members of `topic`,
/// with their owners, and returns them.
async fn assert_stored_in_full(stack: &Stack, topic: &str) -> Vec<RepoPayload> {
    let members = stack.sim.members(topic).await;
    assert_eq!(
        stack.members_in_db(topic).await,
        ids(&members),
        "membership of {topic} differs from the simulator's"
    );
    let conn = stack.store.conn().await.unwrap();
    let repo_ids: Vec<i64> = members.iter().map(|r| r.id).collect();
    let rows = conn
        .query(
            "SELECT r.id, r.stargazers_count, o.id, o.login FROM repositories r \
             JOIN owners o ON o.id = r.owner_id WHERE r.id = ANY($1)",
            &[&repo_ids],
        )
        .await
        .unwrap();
    assert_eq!(
        rows.len(),
        members.len(),
        "repositories without their owner"
    );
    let by_id: HashMap<i64, &RepoPayload> = members.iter().map(|r| (r.id, r)).collect();
    for row in rows {
        let repo = by_id[&row.get::<_, i64>(0)];
        assert_eq!(
            row.get::<_, i64>(1),
            repo.stargazers_count,
            "{}",
            repo.full_name
        );
        assert_eq!(row.get::<_, i64>(2), repo.owner.id, "{}", repo.full_name);
        assert_eq!(
            row.get::<_, String>(3),
            repo.owner.login,
            "{}",
            repo.full_name
        );
    }
    members
}

/// To Postgres's precision: GitHub's timestamps are whole seconds, but a
/// repository the simulator touches was pushed at `now`, nanoseconds and all.
fn micros(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

fn ts(value: &Value) -> Option<DateTime<Utc>> {
    value.as_str().map(|s| {
        DateTime::parse_from_rfc3339(s)
            .unwrap_or_else(|e| panic!("{s:?} is not RFC 3339: {e}"))
            .to_utc()
    })
}

/// Each view holds the first 500 of the topic's repositories in its order,
/// every item with the fields the API promises, equal to the simulator's.
fn assert_views(views: &HashMap<ViewKind, View>, members: &[RepoPayload]) {
    let mut by_name: Vec<&RepoPayload> = members.iter().collect();
    by_name.sort_by_key(|r| (r.full_name.to_lowercase(), r.id));
    let mut by_stars: Vec<&RepoPayload> = members.iter().collect();
    by_stars.sort_by_key(|r| (std::cmp::Reverse(r.stargazers_count), r.id));
    let mut by_push: Vec<&RepoPayload> = members.iter().collect();
    // Most recent first, never pushed last, ties by id.
    by_push.sort_by_key(|r| (r.pushed_at.is_none(), std::cmp::Reverse(r.pushed_at), r.id));
    for (kind, expected) in [
        (ViewKind::ByName, by_name),
        (ViewKind::Popularity, by_stars),
        (ViewKind::Activity, by_push),
    ] {
        let view = &views[&kind];
        let items: Vec<Value> = serde_json::from_slice(&view.plain).unwrap();
        assert_eq!(items.len(), 500, "{} view", kind.as_str());
        assert_eq!(view.len(), 500);
        let got: Vec<i64> = items.iter().map(|i| i["id"].as_i64().unwrap()).collect();
        let want: Vec<i64> = expected.iter().take(500).map(|r| r.id).collect();
        assert_eq!(got, want, "{} view order", kind.as_str());
        for (item, repo) in items.iter().zip(&expected) {
            let at = |field: &str| format!("{} view, {}: {field}", kind.as_str(), repo.full_name);
            assert_eq!(item["name"], repo.name.as_str(), "{}", at("name"));
            assert_eq!(
                item["full_name"],
                repo.full_name.as_str(),
                "{}",
                at("full_name")
            );
            assert_eq!(
                item["html_url"],
                repo.html_url.as_str(),
                "{}",
                at("html_url")
            );
            assert_eq!(
                item["description"],
                json!(repo.description),
                "{}",
                at("description")
            );
            assert_eq!(item["language"], json!(repo.language), "{}", at("language"));
            assert_eq!(
                item["stargazers_count"],
                repo.stargazers_count,
                "{}",
                at("stars")
            );
            assert_eq!(item["forks_count"], repo.forks_count, "{}", at("forks"));
            assert_eq!(
                item["open_issues_count"],
                repo.open_issues_count,
                "{}",
                at("issues")
            );
            assert_eq!(
                ts(&item["created_at"]),
                Some(micros(repo.created_at)),
                "{}",
                at("created_at")
            );
            assert_eq!(
                ts(&item["updated_at"]),
                Some(micros(repo.updated_at)),
                "{}",
                at("updated_at")
            );
            assert_eq!(
                ts(&item["pushed_at"]),
                repo.pushed_at.map(micros),
                "{}",
                at("pushed_at")
            );
        }
    }
}

// ------------------------------------------------------------------- tests

#[tokio::test]
async fn a_topic_over_the_cap_is_crawled_in_full_in_about_one_call_per_hundred() {
    let stack = Stack::start(2, |_| {}, |_| {}).await;
    let (job, result) = stack.crawl(BIG).await;

    let members = assert_stored_in_full(&stack, BIG).await;
    let n = members.len() as u64;
    assert!(n > 2_000, "the simulator's big topic holds {n}");
    assert_eq!(num(&result, "repositories"), n, "{result}");
    assert_eq!(result["complete"], true, "{result}");
    assert_eq!(num(&result, "removed"), 0);
    assert_eq!(
        (job.progress_done, job.progress_total),
        (Some(n as i64), Some(n as i64)),
        "progress ends at the topic's size"
    );

    // The calls: one per page of at most 100, plus the probes that sized the
    // windows; each window may end on a part page, and the first page of the
    // unsplit search is read before the split is known.
    let calls = num(&result, "github_calls");
    let probes = num(&result, "probes");
    let windows = num(&result, "windows");
    assert!(windows > 1, "{result}");
    let pages = n.div_ceil(100);
    assert!(
        calls >= pages + probes && calls <= pages + probes + windows + 1,
        "{calls} calls for {n} repositories in {windows} windows with {probes} probes: {result}"
    );
    assert_eq!(num(&result, "not_modified"), 0);
    assert_eq!(num(&result, "quota_spent"), calls);
    assert_eq!(num(&result, "runs"), 1);
    // The job's count is the simulator's: nothing was spent unrecorded.
    let stats = stack.sim.stats().await;
    assert_eq!(stack.sim.search_quota_used().await, calls, "{stats:?}");
    assert_eq!(stats.requests, calls, "{stats:?}");

    assert_views(&stack.views(BIG).await, &members);
    assert_eq!(
        stack.outcomes.all(),
        BTreeMap::from([(("replica-a".to_owned(), "succeeded"), 1)]),
        "one attempt, and it succeeded"
    );
    stack.stop().await;
}

#[tokio::test]
async fn an_unchanged_topic_is_crawled_again_for_free_and_keeps_its_etags() {
    let stack = Stack::start(2, |_| {}, |_| {}).await;
    let (_, first) = stack.crawl(BIG).await;
    let etags: HashMap<ViewKind, _> = stack
        .views(BIG)
        .await
        .into_iter()
        .map(|(k, v)| (k, v.etag))
        .collect();
    let spent = stack.sim.search_quota_used().await;
    let not_modified = stack.sim.stats().await.not_modified;

    let (_, second) = stack.crawl(BIG).await;
    let calls = num(&second, "github_calls");
    assert_eq!(calls, num(&first, "github_calls"), "{first} then {second}");
    assert_eq!(
        num(&second, "not_modified"),
        calls,
        "every page a 304: {second}"
    );
    assert_eq!(num(&second, "quota_spent"), 0, "{second}");
    assert_eq!(
        num(&second, "repositories"),
        num(&first, "repositories"),
        "a 304 still counts its page's repositories as seen"
    );
    assert_eq!(num(&second, "removed"), 0);
    assert_eq!(
        stack.sim.search_quota_used().await,
        spent,
        "search quota spent again"
    );
    assert_eq!(stack.sim.stats().await.not_modified - not_modified, calls);
    assert_stored_in_full(&stack, BIG).await;
    for (kind, view) in stack.views(BIG).await {
        assert_eq!(view.etag, etags[&kind], "{} view changed", kind.as_str());
    }
    stack.stop().await;
}

#[tokio::test]
async fn changed_repositories_are_fetched_again_and_the_views_follow() {
    let stack = Stack::start(2, |_| {}, |_| {}).await;
    let (_, first) = stack.crawl(BIG).await;
    let etags: HashMap<ViewKind, _> = stack
        .views(BIG)
        .await
        .into_iter()
        .map(|(k, v)| (k, v.etag))
        .collect();
    let changed = stack.sim.touch(BIG, 0.01).await;
    assert!(changed > 0);
    let spent = stack.sim.search_quota_used().await;

    let (_, second) = stack.crawl(BIG).await;
    // Pages holding a changed repository are read in full, the rest are 304s.
    assert!(num(&second, "not_modified") > 0, "{second}");
    assert!(num(&second, "quota_spent") > 0, "{second}");
    assert!(
        num(&second, "quota_spent") < num(&first, "quota_spent"),
        "{first} then {second}"
    );
    assert_eq!(
        num(&second, "quota_spent"),
        stack.sim.search_quota_used().await - spent
    );
    assert_eq!(num(&second, "removed"), 0);
    // Stars and push times as the simulator has them now, in every view.
    let members = assert_stored_in_full(&stack, BIG).await;
    let views = stack.views(BIG).await;
    assert_views(&views, &members);
    assert_ne!(
        views[&ViewKind::Activity].etag,
        etags[&ViewKind::Activity],
        "the touched repositories were pushed just now"
    );
    stack.stop().await;
}

#[tokio::test]
async fn repositories_that_left_a_topic_lose_it_after_the_next_complete_crawl_only() {
    let stack = Stack::start(2, |_| {}, |_| {}).await;
    stack.crawl(BIG).await;
    let before = ids(&stack.sim.members(BIG).await);
    assert_eq!(stack.members_in_db(BIG).await, before);

    // Forty repositories leave the topic on GitHub.
    stack.sim.resize(BIG, before.len() - 40).await;
    let after = ids(&stack.sim.members(BIG).await);
    let left: BTreeSet<i64> = before.difference(&after).copied().collect();
    assert_eq!(left.len(), 40);

    // A crawl whose results GitHub says are incomplete prunes nothing.
    stack
        .sim
        .set_faults(Faults {
            incomplete_rate: 1.0,
            ..Faults::default()
        })
        .await;
    let (_, incomplete) = stack.crawl(BIG).await;
    assert_eq!(incomplete["complete"], false, "{incomplete}");
    assert_eq!(num(&incomplete, "removed"), 0, "{incomplete}");
    assert_eq!(stack.members_in_db(BIG).await, before);
    stack.sim.set_faults(Faults::default()).await;

    // A complete crawl interrupted by a rate limit prunes nothing until it
    // has walked every page. The test holds a row of a page the crawl must
    // write, so the crawl is provably mid-walk when the limit is set. The
    // walk goes window by window from the oldest: a repository of the
    // median creation date is on a page half-way through it.
    let mut remaining = stack.sim.members(BIG).await;
    remaining.sort_by_key(|r| (r.created_at, r.id));
    let held = stack.hold_row(remaining[remaining.len() / 2].id).await;
    let spent_before = stack.sim.search_quota_used().await;
    let id = stack.enqueue(BIG).await;
    stack.wait_blocked(&held).await;
    stack
        .sim
        .set_faults(Faults {
            rate_limit_429: 1,
            retry_after_secs: 1,
            ..Faults::default()
        })
        .await;
    held.release().await;
    let paused = stack
        .wait_job(id, "rescheduled", |j| j.status == JobStatus::Rescheduled)
        .await;
    assert!(paused.last_error.is_some(), "{paused:?}");
    assert_eq!(
        stack.members_in_db(BIG).await,
        before,
        "memberships pruned before the walk was complete"
    );

    let done = stack.wait_finished(id).await;
    assert_eq!(done.status, JobStatus::Succeeded, "{done:?}");
    let result = done.result.unwrap();
    assert_eq!(result["complete"], true, "{result}");
    assert_eq!(num(&result, "removed"), 40, "{result}");
    assert_eq!(num(&result, "repositories"), after.len() as u64, "{result}");
    assert_eq!(
        num(&result, "runs"),
        2,
        "one run paused, one finished: {result}"
    );
    assert_eq!(
        num(&result, "quota_spent"),
        stack.sim.search_quota_used().await - spent_before,
        "the result counts both runs' calls: {result}"
    );
    assert_stored_in_full(&stack, BIG).await;
    assert_eq!(status_count(&stack.sim.stats().await, 429), 1);
    // The repositories themselves stay: other topics may hold them.
    let conn = stack.store.conn().await.unwrap();
    let left: Vec<i64> = left.into_iter().collect();
    let kept: i64 = conn
        .query_one(
            "SELECT count(*) FROM repositories WHERE id = ANY($1)",
            &[&left],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(kept, 40);
    drop(conn);
    stack.stop().await;
}

/// Two pages are written at once: while one page's write waits on a row
/// lock, the page after it is written and committed; the walk goes no
/// further ahead than that until the stalled write is done.
#[tokio::test]
async fn a_stalled_page_write_lets_the_next_page_commit_and_holds_the_walk() {
    let stack = Stack::start(1, |_| {}, |_| {}).await;
    stack.crawl(BIG).await;
    let pages = stack.remembered_pages().await;
    // A window's page with two more after it, none sharing a repository.
    let (held, next, after) = pages
        .iter()
        .filter(|(url, _)| url.contains("created"))
        .find_map(|(_, (ids, next))| {
            let next_page = pages.get(next.as_ref()?)?;
            let after = &pages.get(next_page.1.as_ref()?)?.0;
            Some((*ids.last()?, next_page.0.clone(), after.clone()))
        })
        .expect("a window of three pages or more");
    let (row, id) = stack.crawl_until_blocked(BIG, held).await;
    let seen = |ids: &[i64]| {
        format!(
            "SELECT count(*) FROM crawl_seen WHERE job_id = {id} AND repository_id IN ({})",
            ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
        )
    };
    let deadline = tokio::time::Instant::now() + CRAWL_DEADLINE;
    while stack.count(&seen(&next)).await < next.len() as i64 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the page after the stalled one was never written"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Time enough for a walk that ran ahead to write the page after that.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        stack.count(&seen(&after)).await,
        0,
        "the walk ran more than a page ahead of a stalled write"
    );
    row.release().await;
    let job = stack.wait_finished(id).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    assert_stored_in_full(&stack, BIG).await;
    stack.stop().await;
}

#[tokio::test]
async fn a_member_skipped_when_pages_shift_mid_walk_keeps_its_topic() {
    let stack = Stack::start(2, |_| {}, |_| {}).await;
    stack.crawl(BIG).await;
    let before = ids(&stack.sim.members(BIG).await);

    // From the pages the first crawl remembers: a page P of a window and the
    // page after it. P's first repository will leave the topic while the
    // crawl is held on P's last one; every later page of the window then
    // shifts by one, and the first repository of the next page slides onto
    // P, which the crawl has already read: a member no page shows it.
    let pages = stack.remembered_pages().await;
    // The unsplit search's first page is read before any window.
    let first: BTreeSet<i64> = pages
        .iter()
        .filter(|(url, _)| !url.contains("created"))
        .flat_map(|(_, (ids, _))| ids.iter().copied())
        .collect();
    assert_eq!(first.len(), 100);
    let (leaving, held, skipped) = pages
        .iter()
        .filter(|(url, _)| url.contains("created"))
        .find_map(|(_, (ids, next))| {
            let following = &pages.get(next.as_ref()?)?.0;
            let (leaving, held, skipped) = (ids[0], *ids.last()?, following[0]);
            (!first.contains(&held) && !first.contains(&skipped) && leaving != held)
                .then_some((leaving, held, skipped))
        })
        .expect("a window of two pages or more");
    let (row, id) = stack.crawl_until_blocked(BIG, held).await;
    stack.sim.leave(BIG, leaving).await;
    row.release().await;
    let job = stack.wait_finished(id).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{job:?}");
    let result = job.result.unwrap();
    assert_eq!(
        num(&result, "repositories"),
        before.len() as u64 - 1,
        "the shifted page hid one member: {result}"
    );
    assert_eq!(result["complete"], false, "{result}");
    assert_eq!(num(&result, "removed"), 0, "{result}");
    let members = stack.members_in_db(BIG).await;
    assert!(
        members.contains(&skipped),
        "a member no page showed lost its topic"
    );
    assert_eq!(members, before);

    // The next crawl reads the settled pages and prunes the one that left.
    let (_, settled) = stack.crawl(BIG).await;
    assert_eq!(settled["complete"], true, "{settled}");
    assert_eq!(num(&settled, "removed"), 1, "{settled}");
    assert!(!stack.members_in_db(BIG).await.contains(&leaving));
    assert_stored_in_full(&stack, BIG).await;
    stack.stop().await;
}

#[tokio::test]
async fn server_errors_and_rate_limits_reschedule_the_crawl_which_still_gets_everything() {
    // 20 search calls per 3-second window (18 spendable, the rest kept in
    // reserve): the crawl needs about 35, so the budget runs out mid-walk.
    let stack = Stack::start(
        2,
        |sim| {
            sim.limits.search_authenticated = 20;
            sim.limits.search_window_secs = 3;
        },
        // Any budget wait reschedules the job instead of sleeping in it.
        |github| github.budget_wait_max_ms = 0,
    )
    .await;
    stack
        .sim
        .set_faults(Faults {
            error_rate: 0.1,
            ..Faults::default()
        })
        .await;
    let id = stack.enqueue(BIG).await;

    // The budget stops the walk part-way: the job is rescheduled, not failed.
    let paused = stack
        .wait_job(id, "rescheduled", |j| j.status == JobStatus::Rescheduled)
        .await;
    assert!(
        paused
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("budget")),
        "{paused:?}"
    );
    assert!(paused.progress_done.unwrap_or(0) > 0, "{paused:?}");
    // GitHub's own limit next: a 429 to the first call after the pause.
    stack
        .sim
        .set_faults(Faults {
            error_rate: 0.1,
            rate_limit_429: 1,
            retry_after_secs: 1,
            ..Faults::default()
        })
        .await;

    let done = stack.wait_finished(id).await;
    assert_eq!(done.status, JobStatus::Succeeded, "{done:?}");
    let result = done.result.clone().unwrap();
    let members = assert_stored_in_full(&stack, BIG).await;
    let n = members.len() as u64;
    assert_eq!(num(&result, "repositories"), n);
    assert_eq!(result["complete"], true, "{result}");
    // Each run walks again from the start, its stored pages coming back as
    // 304s: the pauses cost requests, not quota. Every page was paid for
    // once, plus the probes of one walk (at most two per window walked).
    let spent = num(&result, "quota_spent");
    let windows = num(&result, "windows");
    assert_eq!(spent, stack.sim.search_quota_used().await, "{result}");
    assert!(
        spent <= n.div_ceil(100) + 1 + windows + 2 * windows,
        "{spent} calls paid for {n} repositories: {result}"
    );
    assert_eq!(
        num(&result, "runs"),
        1 + stack.outcomes.get("rescheduled") + stack.outcomes.get("retry"),
        "{result}"
    );

    let stats = stack.sim.stats().await;
    let server_errors: u64 = [500, 502, 503]
        .into_iter()
        .map(|status| status_count(&stats, status))
        .sum();
    assert!(server_errors > 0, "no 5xx was injected: {stats:?}");
    assert_eq!(status_count(&stats, 429), 1, "{stats:?}");
    assert_eq!(
        stats.quota_exceeded, 0,
        "the budget let a call through past the quota: {stats:?}"
    );
    assert_eq!(status_count(&stats, 403), 0, "{stats:?}");
    let outcomes = stack.outcomes.all();
    assert!(
        stack.outcomes.get("rescheduled") >= 2,
        "the budget and the 429 each reschedule: {outcomes:?}"
    );
    assert_eq!(stack.outcomes.get("failed"), 0, "{outcomes:?}");
    assert_eq!(stack.outcomes.get("succeeded"), 1, "{outcomes:?}");
    // Reschedules spend no attempt.
    assert_eq!(
        done.attempts as u64,
        1 + stack.outcomes.get("retry"),
        "{done:?} {outcomes:?}"
    );
    assert_views(&stack.views(BIG).await, &members);
    stack.stop().await;
}

#[tokio::test]
async fn two_replicas_crawling_at_once_never_overspend_the_shared_quota() {
    // 20 search calls per 2-second window for the one token both replicas
    // spend; the three topics need about 45 together.
    let mut stack = Stack::start(
        1,
        |sim| {
            sim.limits.search_authenticated = 20;
            sim.limits.search_window_secs = 2;
        },
        |_| {},
    )
    .await;
    stack.add_replica("replica-b", 1).await;
    let jobs = [
        (BIG, stack.enqueue(BIG).await),
        ("rust", stack.enqueue("rust").await),
        ("tiny", stack.enqueue("tiny").await),
    ];
    let mut calls = 0;
    for (topic, id) in jobs {
        let job = stack.wait_finished(id).await;
        assert_eq!(job.status, JobStatus::Succeeded, "{topic}: {job:?}");
        let result = job.result.unwrap();
        let members = assert_stored_in_full(&stack, topic).await;
        assert_eq!(
            num(&result, "repositories"),
            members.len() as u64,
            "{topic}"
        );
        calls += num(&result, "quota_spent");
    }
    let stats = stack.sim.stats().await;
    assert_eq!(stats.quota_exceeded, 0, "{stats:?}");
    assert_eq!(
        status_count(&stats, 403) + status_count(&stats, 429),
        0,
        "{stats:?}"
    );
    let spent = stack.sim.search_quota_used().await;
    assert!(
        spent > 20,
        "the crawls fitted in one window ({spent}): nothing was shared"
    );
    assert_eq!(
        spent, calls,
        "the jobs' results count every call the quota paid for"
    );
    // One worker each, so both replicas crawl: neither can hold two jobs.
    for replica in ["replica-a", "replica-b"] {
        assert!(
            stack.outcomes.on(replica) > 0,
            "{replica} ran nothing: {:?}",
            stack.outcomes.all()
        );
    }
    stack.stop().await;
}

#[tokio::test]
async fn a_retry_after_of_136_years_reschedules_no_later_than_the_bound_and_the_crawl_completes() {
    const BOUND_SECS: u32 = 2;
    let stack = Stack::start(2, |_| {}, |github| github.max_wait_search_secs = BOUND_SECS).await;
    // The first search call is a 429 asking to come back in 2153.
    stack
        .sim
        .set_faults(Faults {
            rate_limit_429: 1,
            retry_after_secs: 4_000_000_000,
            ..Faults::default()
        })
        .await;
    let id = stack.enqueue(BIG).await;
    let paused = stack
        .wait_job(id, "rescheduled", |j| j.status == JobStatus::Rescheduled)
        .await;
    let bound = Utc::now() + chrono::TimeDelta::seconds(i64::from(BOUND_SECS) + 1);
    assert!(
        paused.run_at <= bound,
        "rescheduled past the bound: {paused:?}"
    );

    let done = stack.wait_finished(id).await;
    assert_eq!(done.status, JobStatus::Succeeded, "{done:?}");
    assert_stored_in_full(&stack, BIG).await;
    assert_eq!(status_count(&stack.sim.stats().await, 429), 1);
    stack.stop().await;
}

#[tokio::test]
async fn an_empty_answer_for_a_large_topic_prunes_nothing_until_a_second_crawl_agrees() {
    let stack = Stack::start(2, |_| {}, |_| {}).await;
    stack.crawl(BIG).await;
    let before = ids(&stack.sim.members(BIG).await);
    assert!(before.len() > 1_000, "{}", before.len());
    assert_eq!(stack.members_in_db(BIG).await, before);

    // GitHub answers `total_count: 0` for once.
    stack.sim.resize(BIG, 0).await;
    let (_, empty) = stack.crawl(BIG).await;
    assert_eq!(num(&empty, "removed"), 0, "{empty}");
    assert_eq!(num(&empty, "held"), before.len() as u64, "{empty}");
    assert_eq!(stack.members_in_db(BIG).await, before);

    // A second crawl that sees the same agrees: the topic is empty now.
    let (_, agreed) = stack.crawl(BIG).await;
    assert_eq!(num(&agreed, "removed"), before.len() as u64, "{agreed}");
    assert_eq!(num(&agreed, "held"), 0, "{agreed}");
    assert!(stack.members_in_db(BIG).await.is_empty());
    stack.stop().await;
}

#[tokio::test]
async fn a_crawl_that_finishes_after_its_topic_was_untracked_publishes_no_view() {
    let stack = Stack::start(2, |_| {}, |_| {}).await;
    let topic = Topic::parse(BIG).unwrap();
    stack.crawl(BIG).await;
    let first = stack.views(BIG).await;
    // Pages change, so the next crawl writes rows; it is held mid-walk (see
    // above), the topic untracked meanwhile (its views dropped), then let go.
    let size = stack.sim.members(BIG).await.len();
    stack.sim.resize(BIG, size - 10).await;
    let mut members = stack.sim.members(BIG).await;
    members.sort_by_key(|r| (r.created_at, r.id));
    let held = stack.hold_row(members[members.len() / 2].id).await;
    let id = stack.enqueue(BIG).await;
    stack.wait_blocked(&held).await;
    assert!(
        topics::untrack(&stack.store.conn().await.unwrap(), &topic)
            .await
            .unwrap()
    );
    stack.cache.delete_views(&topic).await.unwrap();
    held.release().await;

    let done = stack.wait_finished(id).await;
    assert_eq!(done.status, JobStatus::Succeeded, "{done:?}");
    for kind in ViewKind::ALL {
        assert!(
            stack.cache.get_view(&topic, kind).await.unwrap().is_none(),
            "{} view published for an untracked topic",
            kind.as_str()
        );
        let stored = read_model::topic_view(&stack.store.conn().await.unwrap(), &topic, kind)
            .await
            .unwrap();
        if let TopicView::Stored(stored) = stored {
            assert_eq!(stored.etag, first[&kind].etag.to_vec(), "{}", kind.as_str());
        }
    }
    stack.stop().await;
}
