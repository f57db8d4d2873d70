//! `crawl_topic`: every repository of a GitHub topic into Postgres, then the
//! topic's three views rebuilt from Postgres into Redis.
//!
//! GitHub's search answers at most 1,000 results per query, so a topic with
//! more is split into `created:` windows, each halved until it holds at most
//! 1,000 (a window's size is read from a `per_page=1` probe). Every page and
//! probe keeps its ETag per token; asked again with `If-None-Match`, an
//! unchanged page is a 304 that costs no quota and reuses the ids stored with
//! it. That memory is also what makes a retried or rescheduled run cheap: the
//! pages an earlier attempt stored come back as 304s.
//!
//! Membership is pruned only after a complete walk that met at least as many
//! repositories as the search reported (pages that shift mid-walk can hide a
//! member from every page), and, when it would drop more than a tenth of the
//! topic at once (one short or empty answer from GitHub), only once a second
//! such crawl agrees; against the seen-set the job keeps under its own
//! id, so retries add to it instead of restarting. The job's GitHub calls are
//! tallied across its runs the same way: the result counts every run, and
//! its `quota_spent` (calls answered in full) is what the quota lost.

use std::future::Future;
use std::time::Instant;

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use futures::stream::{FuturesOrdered, StreamExt};
use hubpulse_cache::View;
use hubpulse_domain::wire::{RepoPayload, SearchPage};
use hubpulse_domain::{Topic, ViewKind};
use hubpulse_github::{
    Credential, FreshPage, Operation, SearchQuery, UnchangedPage, Url, WalkPage, Walker,
};
use hubpulse_store::crawl::{self, CrawlCalls, PageWrite};
use hubpulse_store::{StoreError, read_model, repositories, topics};
use serde::{Deserialize, Serialize};

use crate::{Job, JobContext, JobError, JobRun, Outcome, PgPages, remember_page, stored_view};

/// GitHub's cap on the results of one search query.
const SEARCH_CAP: u64 = 1_000;

/// A search serves its 1,000 results 100 a page: a walk never needs more.
const SEARCH_PAGES: u32 = 10;

/// Pages of one search written at once, each in its own transaction. A
/// page's foreign-key checks and index entries are most of a crawl's time,
/// and one write at a time left Postgres idle between them and the second
/// core unused.
const WRITES_IN_FLIGHT: usize = 2;

/// How often a crawl records its progress at most.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

type Search = SearchPage<RepoPayload>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrawlTopic {
    pub topic: Topic,
}

/// What a finished crawl reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CrawlTopicOutput {
    pub topic: String,
    /// Repositories the topic holds after the crawl.
    pub repositories: i64,
    /// GitHub calls over every run of the job, 304s and probes included.
    pub github_calls: i64,
    /// Of those, pages GitHub said were unchanged (free of quota).
    pub not_modified: i64,
    /// Calls answered in full: what the quota lost.
    pub quota_spent: i64,
    /// `per_page=1` searches that sized a `created:` window.
    pub probes: i64,
    /// Runs of the job (a rate limit or a lost lease adds one).
    pub runs: i64,
    /// `created:` windows the search was split into.
    pub windows: u64,
    /// Memberships removed because the complete walk no longer met them.
    pub removed: u64,
    /// The walk was complete: memberships were pruned, or a large drop is
    /// held until a second crawl agrees.
    pub complete: bool,
    /// Memberships a drop past the threshold would have removed, kept until
    /// the next crawl agrees.
    pub held: u64,
}

impl Job for CrawlTopic {
    const KIND: &'static str = "crawl_topic";
    type Context = JobContext;
    type Output = CrawlTopicOutput;

    fn dedup_key(&self) -> Option<String> {
        Some(format!("crawl_topic:{}", self.topic))
    }

    async fn run(
        &self,
        ctx: &JobContext,
        run: &JobRun,
    ) -> Result<Outcome<CrawlTopicOutput>, JobError> {
        let topic_id = {
            let conn = ctx.store.conn().await?;
            let topic_id = topics::id(&conn, &self.topic).await?.ok_or_else(|| {
                JobError::Permanent(format!(
                    "topic {} is not known: track it first (POST /v1/topics)",
                    self.topic
                ))
            })?;
            crawl::start_crawl(&conn, topic_id, run.id).await?;
            topic_id
        };
        let mut crawl = Crawl {
            ctx,
            run,
            topic: &self.topic,
            topic_id,
            pages: PgPages::new(ctx.store.clone()),
            stats: Stats::default(),
            complete: true,
            items_done: 0,
            total: None,
            progress_recorded: Instant::now(),
            progress_task: None,
        };
        let walked = crawl.walk().await;
        crawl.record_progress().await;
        if let Err(stop) = walked {
            // Best effort: a tally lost here only makes the result count
            // fewer calls than were made.
            let recorded = async {
                let conn = ctx.store.conn().await?;
                crawl::add_crawl_calls(&conn, topic_id, run.id, &crawl.stats.calls).await
            };
            if let Err(err) = recorded.await {
                tracing::warn!(topic = %self.topic, error = %err, "could not record this run's GitHub calls");
            }
            return match stop {
                JobError::RescheduleAt { at, reason } => {
                    tracing::info!(topic = %self.topic, run_at = %at, %reason, calls = crawl.stats.calls.github_calls, "crawl paused by a rate limit");
                    Ok(Outcome::RescheduleAt { at, reason })
                }
                err => Err(err),
            };
        }
        let totals = {
            let mut conn = ctx.store.conn().await?;
            let tx = conn.transaction().await.map_err(StoreError::from)?;
            run.fence(&tx).await?;
            let totals = crawl::finish_crawl(
                &tx,
                topic_id,
                run.id,
                crawl.complete,
                crawl.total.unwrap_or(0),
                &crawl.stats.calls,
            )
            .await?;
            tx.commit().await.map_err(StoreError::from)?;
            totals
        };
        if totals.held > 0 {
            tracing::warn!(
                topic = %self.topic,
                seen = totals.seen,
                held = totals.held,
                "crawl would drop a large share of the topic at once: kept until a second crawl agrees"
            );
        } else if !totals.pruned {
            tracing::warn!(
                topic = %self.topic,
                walk_complete = crawl.complete,
                seen = totals.seen,
                expected = crawl.total,
                "crawl incomplete: memberships were not pruned"
            );
        }
        // Untracked while this crawl ran: its views must not come back. (A
        // publish racing an untrack is caught by the readers, which check
        // that a topic is tracked before serving it.)
        let conn = ctx.store.conn().await?;
        if topics::is_tracked(&conn, &self.topic).await? {
            // Best effort: without it the views are built all the same, slower.
            match topics::refresh_member_statistics(&conn, topic_id).await {
                Ok(true) => {
                    tracing::info!(topic = %self.topic, "planner statistics of topic memberships refreshed")
                }
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(topic = %self.topic, error = %err, "could not refresh the planner statistics of topic memberships")
                }
            }
            drop(conn);
            rebuild_views(ctx, &self.topic).await?;
        } else {
            tracing::info!(topic = %self.topic, "topic untracked during its crawl: views not published");
        }
        let calls = &totals.calls;
        tracing::info!(
            topic = %self.topic,
            repositories = totals.seen,
            removed = totals.removed,
            github_calls = calls.github_calls,
            not_modified = calls.not_modified,
            probes = calls.probes,
            runs = calls.runs,
            windows = crawl.stats.windows,
            "crawl finished"
        );
        Ok(Outcome::Done(CrawlTopicOutput {
            topic: self.topic.to_string(),
            repositories: totals.seen,
            github_calls: calls.github_calls,
            not_modified: calls.not_modified,
            quota_spent: calls.quota_spent(),
            probes: calls.probes,
            runs: calls.runs,
            windows: crawl.stats.windows,
            removed: totals.removed,
            // The walk met everything the search reported; a large drop may
            // still be held for a second crawl (`held`).
            complete: totals.pruned || totals.held > 0,
            held: totals.held,
        }))
    }
}

#[derive(Debug)]
struct Stats {
    /// This run's calls: pages and probes GitHub answered, 304s included.
    /// Neither the client's own retries of one request nor calls refused by
    /// a rate limit or the budget are counted, so `quota_spent` is what the
    /// search quota lost. The store adds earlier runs' calls at the end.
    calls: CrawlCalls,
    /// Searches whose pages were walked: 1 for a topic under the cap.
    windows: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            calls: CrawlCalls {
                runs: 1,
                ..CrawlCalls::default()
            },
            windows: 0,
        }
    }
}

/// An inclusive `created:` range, to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

impl Window {
    /// From before GitHub's launch to the end of the current year: the same
    /// bounds all year, so the windows, their URLs and their ETags repeat
    /// from one crawl to the next.
    fn everything(now: DateTime<Utc>) -> Self {
        let from = Utc
            .with_ymd_and_hms(2007, 10, 1, 0, 0, 0)
            .single()
            .unwrap_or_default();
        let to = Utc
            .with_ymd_and_hms(now.year() + 1, 1, 1, 0, 0, 0)
            .single()
            .map_or(now + Duration::days(366), |t| t - Duration::seconds(1));
        Self { from, to }
    }

    /// Two halves that cover it without overlap; `None` when one second wide.
    fn halves(self) -> Option<(Self, Self)> {
        let span = (self.to - self.from).num_seconds();
        if span < 1 {
            return None;
        }
        let mid = self.from + Duration::seconds(span / 2);
        Some((
            Self {
                from: self.from,
                to: mid,
            },
            Self {
                from: mid + Duration::seconds(1),
                to: self.to,
            },
        ))
    }
}

/// What walking one search's pages found.
enum Walked {
    /// All pages stored; the search held this many.
    All(u64),
    /// The first page said the search holds more than the cap: split it.
    OverCap(u64),
}

struct Crawl<'a> {
    ctx: &'a JobContext,
    run: &'a JobRun,
    topic: &'a Topic,
    topic_id: i64,
    pages: PgPages,
    stats: Stats,
    /// False when something was out of reach (a one-second window over the
    /// cap, incomplete results): then no membership is pruned.
    complete: bool,
    items_done: i64,
    total: Option<i64>,
    progress_recorded: Instant,
    progress_task: Option<tokio::task::JoinHandle<()>>,
}

impl Crawl<'_> {
    async fn walk(&mut self) -> Result<(), JobError> {
        let root = SearchQuery::topic(self.topic.clone());
        let total = match self.walk_search(&root, true).await? {
            Walked::All(_) => return Ok(()),
            Walked::OverCap(total) => total,
        };
        // Depth first, older half first: the store sees one window at a time.
        let mut pending = match Window::everything(Utc::now()).halves() {
            Some((a, b)) => vec![b, a],
            None => Vec::new(),
        };
        let mut covered = 0u64;
        while let Some(window) = pending.pop() {
            let query =
                SearchQuery::topic(self.topic.clone()).created_between(window.from, window.to);
            let count = self.probe(&query).await?;
            if count == 0 {
                continue;
            }
            if count > SEARCH_CAP
                && let Some((a, b)) = window.halves()
            {
                pending.push(b);
                pending.push(a);
                continue;
            }
            match self.walk_search(&query, window.halves().is_some()).await? {
                Walked::All(n) => covered += n,
                // Grown past the cap since the probe.
                Walked::OverCap(_) => match window.halves() {
                    Some((a, b)) => {
                        pending.push(b);
                        pending.push(a);
                    }
                    None => covered += SEARCH_CAP,
                },
            }
        }
        if covered < total {
            // Repositories outside every window (or lost to a data change
            // mid-walk): some were not fetched, so none may be pruned.
            tracing::warn!(topic = %self.topic, covered, total, "windows cover fewer repositories than the topic holds");
            self.complete = false;
        }
        Ok(())
    }

    /// Reads a window's size with a `per_page=1` search (or its stored
    /// count on a 304).
    async fn probe(&mut self, query: &SearchQuery) -> Result<u64, JobError> {
        let mut query = query.clone();
        query.per_page = 1;
        let url = self.ctx.github.search_repositories_url(&query);
        let mut walk = self.walker(url);
        let page = walk
            .next()
            .await
            .ok_or_else(|| JobError::Retryable("a probe fetched no page".into()))??;
        self.stats.calls.github_calls += 1;
        self.stats.calls.probes += 1;
        match page {
            WalkPage::Fresh(page) => {
                let count = page.body.total_count;
                if page.body.incomplete_results {
                    self.complete = false;
                } else {
                    let total = i64::try_from(count).unwrap_or(i64::MAX);
                    let conn = self.ctx.store.conn().await?;
                    remember_page(&conn, &page.record(Vec::new(), Some(total))).await?;
                }
                Ok(count)
            }
            WalkPage::Unchanged(page) => {
                self.stats.calls.not_modified += 1;
                Ok(page.total.and_then(|t| u64::try_from(t).ok()).unwrap_or(0))
            }
            WalkPage::Empty { .. } | WalkPage::Computing { .. } => Err(unexpected()),
        }
    }

    fn walker(&self, first: Url) -> Walker<'_, Search, PgPages> {
        Walker::new(
            &self.ctx.github,
            &self.pages,
            Operation::SearchRepositories,
            first,
            Credential::Service,
            SEARCH_PAGES,
        )
    }

    /// Walks every page of one search from its first, following `Link`
    /// next URLs as given. With `can_split`, stops after the first page when
    /// the search holds more than the cap.
    ///
    /// Pages are written behind the walk, [`WRITES_IN_FLIGHT`] at once, each
    /// in its own transaction, while the next page is fetched; the walk
    /// waits for the oldest write, so it never runs further ahead of a
    /// stalled page than that. A fetch that fails (a rate limit) first lets
    /// the writes under way finish, so a later run finds their pages stored.
    async fn walk_search(
        &mut self,
        query: &SearchQuery,
        can_split: bool,
    ) -> Result<Walked, JobError> {
        let pages = self.pages.clone();
        let (ctx, run, topic_id) = (self.ctx, self.run, self.topic_id);
        let mut walk = Walker::<Search, _>::new(
            &ctx.github,
            &pages,
            Operation::SearchRepositories,
            ctx.github.search_repositories_url(query),
            Credential::Service,
            SEARCH_PAGES,
        );
        let mut writes = FuturesOrdered::new();
        let mut total = None;
        loop {
            while writes.len() >= WRITES_IN_FLIGHT {
                if let Some(stored) = writes.next().await {
                    self.written(stored?);
                }
            }
            let step = {
                let fetch = walk.next();
                tokio::pin!(fetch);
                loop {
                    tokio::select! {
                        step = &mut fetch => break step,
                        Some(stored) = writes.next() => self.written(stored?),
                    }
                }
            };
            let Some(step) = step else { break };
            let page = match step {
                Ok(page) => page,
                Err(err) => {
                    self.finish_writes(&mut writes).await?;
                    return Err(err.into());
                }
            };
            self.stats.calls.github_calls += 1;
            let page = match page {
                WalkPage::Fresh(page) => page,
                WalkPage::Unchanged(page) => {
                    self.stats.calls.not_modified += 1;
                    // Its memberships are written here and now: after the
                    // pages before it, one transaction at a time.
                    self.finish_writes(&mut writes).await?;
                    if let Some((count, reused)) = self.reuse(&page).await? {
                        if total.is_none() {
                            let stop = self.first_page(count, can_split);
                            if stop {
                                return Ok(Walked::OverCap(count));
                            }
                            total = Some(count);
                        }
                        self.written(reused);
                        continue;
                    }
                    // The memory no longer matches the database: ask again in full.
                    tracing::info!("stored page is stale; fetching it again");
                    self.stats.calls.github_calls += 1;
                    match walk.refetch().await? {
                        WalkPage::Fresh(page) => page,
                        _ => return Err(unexpected()),
                    }
                }
                WalkPage::Empty { .. } | WalkPage::Computing { .. } => return Err(unexpected()),
            };
            if page.body.incomplete_results {
                self.complete = false;
            }
            let count = page.body.total_count;
            if total.is_none() {
                if self.first_page(count, can_split) {
                    // Its repositories are stored, but the windows meet them
                    // again: counting them here would take progress past the
                    // total. No next page is fetched: it would be quota spent
                    // for nothing.
                    store_page(ctx, run, topic_id, page).await?;
                    return Ok(Walked::OverCap(count));
                }
                total = Some(count);
            }
            writes.push_back(store_page(ctx, run, topic_id, page));
        }
        self.finish_writes(&mut writes).await?;
        Ok(Walked::All(total.unwrap_or(0)))
    }

    /// What the first page of a search says: its size, and whether the walk
    /// stops there to split it (`true`).
    fn first_page(&mut self, count: u64, can_split: bool) -> bool {
        if self.total.is_none() {
            self.total = Some(i64::try_from(count).unwrap_or(i64::MAX));
        }
        if count > SEARCH_CAP && can_split {
            return true;
        }
        if count > SEARCH_CAP {
            // A one-second window over the cap: take the 1,000 GitHub gives.
            self.complete = false;
        }
        self.stats.windows += 1;
        false
    }

    /// Waits for the page writes under way.
    async fn finish_writes<F>(&mut self, writes: &mut FuturesOrdered<F>) -> Result<(), StoreError>
    where
        F: Future<Output = Result<i64, StoreError>>,
    {
        while let Some(stored) = writes.next().await {
            self.written(stored?);
        }
        Ok(())
    }

    /// Counts a written page's repositories, and records the job's progress
    /// every [`PROGRESS_EVERY`] in a task of its own: its update waits for
    /// the job's row, which a page write holds while it commits, and that
    /// write only moves while this walk polls it.
    fn written(&mut self, stored: i64) {
        self.items_done += stored;
        // One update at a time, so they land in order.
        let idle = self
            .progress_task
            .as_ref()
            .is_none_or(|task| task.is_finished());
        if idle && self.progress_recorded.elapsed() >= PROGRESS_EVERY {
            let (run, done, total) = (self.run.clone(), self.items_done, self.total);
            self.progress_task = Some(tokio::spawn(
                async move { run.set_progress(done, total).await },
            ));
            self.progress_recorded = Instant::now();
        }
    }

    /// Records the progress and waits for it, after the update under way:
    /// only with no write under way.
    async fn record_progress(&mut self) {
        if let Some(task) = self.progress_task.take() {
            let _ = task.await;
        }
        self.run.set_progress(self.items_done, self.total).await;
        self.progress_recorded = Instant::now();
    }

    /// A page answered 304: its stored repositories are members still and
    /// seen by this job. `None` when some are no longer stored.
    async fn reuse(&self, page: &UnchangedPage) -> Result<Option<(u64, i64)>, JobError> {
        let mut conn = self.ctx.store.conn().await?;
        let tx = conn.transaction().await.map_err(StoreError::from)?;
        self.run.fence(&tx).await?;
        let found = crawl::reuse_search_page(&tx, self.run.id, self.topic_id, &page.ids).await?;
        tx.commit().await.map_err(StoreError::from)?;
        let total = page.total.and_then(|t| u64::try_from(t).ok()).unwrap_or(0);
        Ok((found == page.ids.len()).then_some((total, found as i64)))
    }
}

/// Writes a fresh page: first its owners and licenses, committed on their
/// own (every page shares some, and a transaction holding them would make
/// the page written beside it wait for its end); then, in one transaction,
/// its validator, its repositories, the seen-set and membership. Returns how
/// many repositories were stored.
async fn store_page(
    ctx: &JobContext,
    run: &JobRun,
    topic_id: i64,
    page: Box<FreshPage<Search>>,
) -> Result<i64, StoreError> {
    let body = &page.body;
    let repos = repositories::storable_by_id(&body.items);
    let mut conn = ctx.store.conn().await?;
    repositories::upsert_references(&conn, &repos).await?;
    let tx = conn.transaction().await?;
    // The ids in the page's own order, for a later 304.
    let ids: Vec<i64> = body
        .items
        .iter()
        .filter(|r| repos.binary_search_by_key(&r.id, |kept| kept.id).is_ok())
        .map(|r| r.id)
        .collect();
    let mut record = page.record(
        ids,
        Some(i64::try_from(body.total_count).unwrap_or(i64::MAX)),
    );
    if body.incomplete_results {
        // An incomplete page must not be reused as if whole.
        record.etag = None;
    }
    remember_page(&tx, &record).await?;
    let stored = crawl::store_search_page(
        &tx,
        &PageWrite {
            job_id: run.id,
            topic_id,
            repos: &repos,
        },
    )
    .await?;
    // Fenced last: the job's row stays locked only while this commits, so
    // the page written beside this one, and the lease's renewal, wait for
    // a commit rather than for a whole page.
    run.fence(&tx).await?;
    tx.commit().await?;
    Ok(stored.len() as i64)
}

fn unexpected() -> JobError {
    JobError::Retryable("GitHub answered a search with 202 or 204".into())
}

/// Rebuilds the topic's three views from Postgres and publishes them. Redis
/// down is logged, not a failure: the API reads from Postgres then.
async fn rebuild_views(ctx: &JobContext, topic: &Topic) -> Result<(), JobError> {
    for kind in ViewKind::ALL {
        let items = topics::view_items(&ctx.store.conn().await?, topic, kind).await?;
        // Thorough compression takes tens of milliseconds: off the async
        // workers, which meanwhile answer this replica's requests.
        let view = tokio::task::spawn_blocking(move || View::from_items(&items))
            .await
            .map_err(|e| JobError::Permanent(format!("building the {} view: {e}", kind.as_str())))?
            .map_err(|e| {
                JobError::Permanent(format!("building the {} view: {e}", kind.as_str()))
            })?;
        // Postgres first: it is what a replica answers from once Redis has
        // lost the view.
        read_model::save_view(&ctx.store.conn().await?, topic, kind, &stored_view(&view)).await?;
        if !ctx.cache.is_connected() {
            tracing::warn!(%topic, view = kind.as_str(), "redis is not connected; view not published");
            continue;
        }
        if let Err(err) = ctx.cache.put_view(topic, kind, &view).await {
            tracing::warn!(%topic, view = kind.as_str(), error = %err, "could not publish a view");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
    }

    #[test]
    fn everything_spans_githubs_life_to_the_end_of_the_year_all_year() {
        let window = Window::everything(at("2026-11-23T09:00:00Z"));
        assert_eq!(window.from, at("2007-10-01T00:00:00Z"));
        assert_eq!(window.to, at("2026-12-31T23:59:59Z"));
        // The same bounds on any day of the year: the windows' URLs, and so
        // their ETags, repeat from one crawl to the next.
        assert_eq!(Window::everything(at("2026-01-01T00:00:00Z")), window);
        assert_eq!(Window::everything(at("2026-12-31T23:59:59Z")), window);
        assert_ne!(Window::everything(at("2027-01-01T00:00:00Z")), window);
    }

    #[test]
    fn halves_cover_the_window_without_overlap_or_gap() {
        let mut pending = vec![Window::everything(at("2026-06-01T00:00:00Z"))];
        let mut leaves = 0;
        // Down to a single second along the oldest edge: every split on the
        // way must partition its window.
        while let Some(w) = pending.pop() {
            let Some((a, b)) = w.halves() else {
                assert_eq!(w.from, w.to, "only a one-second window has no halves");
                leaves += 1;
                continue;
            };
            assert_eq!((a.from, b.to), (w.from, w.to));
            assert_eq!(a.to + Duration::seconds(1), b.from, "{w:?}");
            assert!(a.from <= a.to && b.from <= b.to, "{w:?}");
            // The halves differ in length by at most a second.
            assert!(((b.to - b.from) - (a.to - a.from)).num_seconds().abs() <= 1);
            assert_eq!(w.halves(), Some((a, b)), "halving is deterministic");
            pending.push(a);
        }
        assert_eq!(leaves, 1);
    }

    #[test]
    fn halving_reaches_single_seconds_in_about_thirty_steps() {
        let mut window = Window::everything(at("2026-06-01T00:00:00Z"));
        let mut depth = 0;
        while let Some((_, newer)) = window.halves() {
            window = newer;
            depth += 1;
        }
        assert_eq!(window.from, window.to);
        // About 6e8 seconds: 30 halvings.
        assert!((29..=31).contains(&depth), "{depth}");
        let two = Window {
            from: at("2020-01-01T00:00:00Z"),
            to: at("2020-01-01T00:00:01Z"),
        };
        let (a, b) = two.halves().unwrap();
        assert_eq!((a.from, a.to), (two.from, two.from));
        assert_eq!((b.from, b.to), (two.to, two.to));
    }
}
