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
//! member from every page), against the seen-set the job keeps under its own
//! id, so retries add to it instead of restarting. The job's GitHub calls are
//! tallied across its runs the same way: the result counts every run, and
//! its `quota_spent` (calls answered in full) is what the quota lost.

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use hubpulse_cache::View;
use hubpulse_domain::wire::{RepoPayload, SearchPage};
use hubpulse_domain::{Topic, ViewKind};
use hubpulse_github::{GithubError, Page, Resource, SearchQuery, Url};
use hubpulse_store::crawl::{self, CrawlCalls, PageWrite, StoredPage};
use hubpulse_store::{Store, StoreError, read_model, topics};
use serde::{Deserialize, Serialize};

use crate::{Job, JobContext, JobError, JobRun, Outcome, stored_view};

/// GitHub's cap on the results of one search query.
const SEARCH_CAP: u64 = 1_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrawlTopic {
    pub topic: Topic,
}

impl Job for CrawlTopic {
    const KIND: &'static str = "crawl_topic";
    type Context = JobContext;

    fn dedup_key(&self) -> Option<String> {
        Some(format!("crawl_topic:{}", self.topic))
    }

    async fn run(&self, ctx: &JobContext, run: &JobRun) -> Result<Outcome, JobError> {
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
            token_id: ctx.github.token_id().to_owned(),
            stats: Stats::default(),
            complete: true,
            items_done: 0,
            total: None,
        };
        if let Err(stop) = crawl.walk().await {
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
                Stop::Reschedule { at, reason } => {
                    tracing::info!(topic = %self.topic, run_at = %at, %reason, calls = crawl.stats.calls.github_calls, "crawl paused by a rate limit");
                    Ok(Outcome::RescheduleAt { at, reason })
                }
                Stop::Fail(err) => Err(err),
            };
        }
        let totals = {
            let mut conn = ctx.store.conn().await?;
            let tx = conn.transaction().await.map_err(StoreError::from)?;
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
        if !totals.pruned {
            tracing::warn!(
                topic = %self.topic,
                walk_complete = crawl.complete,
                seen = totals.seen,
                expected = crawl.total,
                "crawl incomplete: memberships were not pruned"
            );
        }
        rebuild_views(ctx, &self.topic).await?;
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
        Ok(Outcome::Done(serde_json::json!({
            "topic": self.topic,
            "repositories": totals.seen,
            "github_calls": calls.github_calls,
            "not_modified": calls.not_modified,
            "quota_spent": calls.quota_spent(),
            "probes": calls.probes,
            "runs": calls.runs,
            "windows": crawl.stats.windows,
            "removed": totals.removed,
            "complete": totals.pruned,
        })))
    }
}

/// Why a walk stopped early.
enum Stop {
    /// A rate limit or the shared budget: run again at `at`, not a failure.
    Reschedule {
        at: DateTime<Utc>,
        reason: String,
    },
    Fail(JobError),
}

impl From<StoreError> for Stop {
    fn from(err: StoreError) -> Self {
        Self::Fail(err.into())
    }
}

impl From<GithubError> for Stop {
    fn from(err: GithubError) -> Self {
        if let Some(at) = err.reschedule_at() {
            return Self::Reschedule {
                at,
                reason: err.to_string(),
            };
        }
        let message = format!("searching GitHub: {err}");
        match err {
            // Another attempt gets the same answer.
            GithubError::Unauthorized
            | GithubError::Forbidden { .. }
            | GithubError::NotFound
            | GithubError::Gone
            | GithubError::Unprocessable { .. }
            | GithubError::Url(_)
            | GithubError::Config(_) => Self::Fail(JobError::Permanent(message)),
            _ => Self::Fail(JobError::Retryable(message)),
        }
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
    token_id: String,
    stats: Stats,
    /// False when something was out of reach (a one-second window over the
    /// cap, incomplete results): then no membership is pruned.
    complete: bool,
    items_done: i64,
    total: Option<i64>,
}

impl Crawl<'_> {
    async fn walk(&mut self) -> Result<(), Stop> {
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
    async fn probe(&mut self, query: &SearchQuery) -> Result<u64, Stop> {
        let mut query = query.clone();
        query.per_page = 1;
        let url = self.ctx.github.search_repositories_url(&query);
        let stored = stored_page(&self.ctx.store, &self.token_id, url.as_str()).await?;
        let page = self
            .ctx
            .github
            .get_page::<SearchPage<RepoPayload>>(
                &url,
                Resource::Search,
                stored.as_ref().map(|s| s.etag.as_str()),
            )
            .await?;
        self.stats.calls.github_calls += 1;
        self.stats.calls.probes += 1;
        match (page, stored) {
            (Page::Fresh { body, etag, .. }, _) => {
                if body.incomplete_results {
                    self.complete = false;
                } else if let Some(etag) = etag {
                    let count = i64::try_from(body.total_count).unwrap_or(i64::MAX);
                    let conn = self.ctx.store.conn().await?;
                    crawl::save_probe(&conn, &self.token_id, url.as_str(), &etag, count).await?;
                }
                Ok(body.total_count)
            }
            (Page::NotModified { .. }, Some(stored)) => {
                self.stats.calls.not_modified += 1;
                Ok(u64::try_from(stored.total_count).unwrap_or(0))
            }
            (Page::NotModified { .. }, None) => Err(Stop::Fail(JobError::Retryable(
                "GitHub answered 304 to a request without If-None-Match".into(),
            ))),
        }
    }

    /// Walks every page of one search from its first, following `Link`
    /// next URLs as given. With `can_split`, stops after the first page when
    /// the search holds more than the cap.
    async fn walk_search(&mut self, query: &SearchQuery, can_split: bool) -> Result<Walked, Stop> {
        let mut url = Some(self.ctx.github.search_repositories_url(query));
        let mut total = None;
        let mut first = true;
        let mut prefetched = None;
        while let Some(page_url) = url.take() {
            let (count, next, stored, following) = self
                .page(&page_url, prefetched.take(), first && can_split)
                .await?;
            if first {
                first = false;
                if self.total.is_none() {
                    self.total = Some(i64::try_from(count).unwrap_or(i64::MAX));
                }
                if count > SEARCH_CAP && can_split {
                    // Its repositories are stored, but the windows meet them
                    // again: counting them here would take progress past the total.
                    return Ok(Walked::OverCap(count));
                }
                if count > SEARCH_CAP {
                    // A one-second window over the cap: take the 1,000 GitHub gives.
                    self.complete = false;
                }
                self.stats.windows += 1;
                total = Some(count);
            }
            self.items_done += stored;
            self.run.set_progress(self.items_done, self.total).await;
            // The next page came while this one was written; a failure to
            // fetch it stops the walk now, after this page's progress counts.
            prefetched = following.transpose()?;
            url = next;
        }
        Ok(Walked::All(total.unwrap_or(0)))
    }

    /// A page as GitHub answers it, asked with the ETag stored for it.
    async fn fetch(&self, url: &Url) -> Result<Fetched, Stop> {
        let stored = stored_page(&self.ctx.store, &self.token_id, url.as_str()).await?;
        let page = self
            .ctx
            .github
            .get_page::<SearchPage<RepoPayload>>(
                url,
                Resource::Search,
                stored.as_ref().map(|s| s.etag.as_str()),
            )
            .await?;
        Ok(Fetched { stored, page })
    }

    /// One page: stored, or a 304 that reuses what is stored. Returns the
    /// search's `total_count`, the next page's URL, how many repositories
    /// the page held, and the next page itself when it was fetched while
    /// this one was written: GitHub's latency and Postgres's overlap. Not
    /// when `over_cap_stops` and the search is over the cap, as the walk
    /// stops after this page and a fetched next page would be quota spent
    /// for nothing.
    async fn page(
        &mut self,
        url: &Url,
        prefetched: Option<Fetched>,
        over_cap_stops: bool,
    ) -> Result<(u64, Option<Url>, i64, Option<Result<Fetched, Stop>>), Stop> {
        let Fetched { stored, mut page } = match prefetched {
            Some(fetched) => fetched,
            None => self.fetch(url).await?,
        };
        loop {
            self.stats.calls.github_calls += 1;
            match page {
                Page::Fresh {
                    body, etag, next, ..
                } => {
                    if body.incomplete_results {
                        self.complete = false;
                    }
                    let next_text = next.as_ref().map(Url::as_str);
                    let write = PageWrite {
                        job_id: self.run.id,
                        topic_id: self.topic_id,
                        token_id: &self.token_id,
                        url: url.as_str(),
                        // An incomplete page must not be reused as if whole.
                        etag: etag.as_deref().filter(|_| !body.incomplete_results),
                        total_count: i64::try_from(body.total_count).unwrap_or(i64::MAX),
                        next_url: next_text,
                        repos: &body.items,
                    };
                    let prefetch = next
                        .as_ref()
                        .filter(|_| !(over_cap_stops && body.total_count > SEARCH_CAP));
                    let (ids, following) = match prefetch {
                        Some(next_url) => {
                            let (ids, following) = tokio::join!(
                                store_search_page(&self.ctx.store, &write),
                                self.fetch(next_url)
                            );
                            (ids?, Some(following))
                        }
                        None => (store_search_page(&self.ctx.store, &write).await?, None),
                    };
                    return Ok((body.total_count, next, ids.len() as i64, following));
                }
                Page::NotModified { .. } => {
                    self.stats.calls.not_modified += 1;
                    let Some(stored) = stored.as_ref() else {
                        return Err(Stop::Fail(JobError::Retryable(
                            "GitHub answered 304 to a request without If-None-Match".into(),
                        )));
                    };
                    let next = match stored.next_url.as_deref().map(Url::parse) {
                        None => Some(None),
                        Some(Ok(next)) => Some(Some(next)),
                        Some(Err(_)) => None,
                    };
                    let conn = self.ctx.store.conn().await?;
                    let found = crawl::reuse_search_page(
                        &conn,
                        self.run.id,
                        self.topic_id,
                        &stored.repository_ids,
                    )
                    .await?;
                    drop(conn);
                    match next {
                        Some(next) if found == stored.repository_ids.len() => {
                            let total = u64::try_from(stored.total_count).unwrap_or(0);
                            return Ok((total, next, found as i64, None));
                        }
                        // The memory no longer matches the database: ask again in full.
                        _ => {
                            tracing::info!("stored page is stale; fetching it again");
                            page = self
                                .ctx
                                .github
                                .get_page::<SearchPage<RepoPayload>>(url, Resource::Search, None)
                                .await?;
                        }
                    }
                }
            }
        }
    }
}

/// A search page as GitHub answered it, beside what was stored of it before.
struct Fetched {
    stored: Option<StoredPage>,
    page: Page<SearchPage<RepoPayload>>,
}

async fn stored_page(
    store: &Store,
    token_id: &str,
    url: &str,
) -> Result<Option<StoredPage>, StoreError> {
    crawl::stored_page(&store.conn().await?, token_id, url).await
}

/// Writes a fetched page in a transaction of its own.
async fn store_search_page(store: &Store, write: &PageWrite<'_>) -> Result<Vec<i64>, StoreError> {
    let mut conn = store.conn().await?;
    let tx = conn.transaction().await?;
    let ids = crawl::store_search_page(&tx, write).await?;
    tx.commit().await?;
    Ok(ids)
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
