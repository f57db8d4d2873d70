//! The conditional list walker: every page of any GitHub list, one at a
//! time, revalidated against what was stored of it last time.
//!
//! It follows `Link: rel="next"` URLs exactly as GitHub wrote them (they
//! switch to `/user/{id}/...` and `/repositories/{id}/...` paths), sends
//! `If-None-Match` with the ETag stored for the page under (URL, media type,
//! credential), and on a 304 hands back the ids stored with the page and its
//! next URL, at no quota. It writes nothing: the caller stores each fresh
//! page's rows and its [`PageRecord`] in one transaction of its own, so a
//! page's ETag is never kept without its rows. Reading the stored pages goes
//! through [`PageMemory`], which the crate that owns the database implements.
//!
//! ```ignore
//! let url = client.url(Operation::UserRepos, &[login], &[("per_page", "100")])?;
//! let mut walk = Walker::<Vec<RepoPayload>, _>::new(&client, &memory, Operation::UserRepos, url, Credential::Service, 50);
//! while let Some(page) = walk.next().await {
//!     match page? {
//!         WalkPage::Fresh(page) => {
//!             // Overlap GitHub's latency with the write: fetch the next page meanwhile.
//!             let (ids, ()) = tokio::join!(store_rows_and(page.record(..)), walk.prefetch());
//!         }
//!         WalkPage::Unchanged(page) => { /* page.ids are still the list's */ }
//!         WalkPage::Empty { .. } => {}
//!         WalkPage::Computing { .. } => { /* reschedule */ }
//!     }
//! }
//! ```

use std::collections::HashSet;
use std::future::Future;

use chrono::{DateTime, Utc};
use hubpulse_domain::rate::RateObservation;
use serde::de::DeserializeOwned;
use url::Url;

use crate::{Credential, GithubClient, GithubError, Moved, Operation, Page};

/// Who a stored page belongs to: GitHub's ETags vary with the URL, the
/// `Accept` media type and the `Authorization` (`Vary` says so).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageKey {
    /// The URL as requested: the first one as built, later ones as `Link`
    /// gave them.
    pub url: String,
    pub media_type: String,
    /// The credential's token id ([`GithubClient::credential_id`]), never
    /// the token.
    pub credential: String,
}

/// What was stored of a page when it was last fetched in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remembered {
    pub etag: String,
    /// The ids the page yielded, in its order.
    pub ids: Vec<i64>,
    /// Its `Link` next URL, so an unchanged page continues the walk.
    pub next: Option<String>,
    /// The list's size as the page reported it (search's `total_count`).
    pub total: Option<i64>,
}

/// What to store of a fresh page, in the transaction that writes its rows.
/// `etag: None` means "keep nothing": forget what was stored for the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRecord {
    pub key: PageKey,
    pub etag: Option<String>,
    pub ids: Vec<i64>,
    pub next: Option<String>,
    pub total: Option<i64>,
}

/// Reads stored pages; implemented over Postgres by the crate that owns it.
pub trait PageMemory: Send + Sync {
    type Error: std::error::Error + Send + Sync + 'static;

    fn recall(
        &self,
        key: &PageKey,
    ) -> impl Future<Output = Result<Option<Remembered>, Self::Error>> + Send;
}

#[derive(Debug, thiserror::Error)]
pub enum WalkError<E> {
    #[error(transparent)]
    Github(#[from] GithubError),
    #[error("reading a stored GitHub page: {0}")]
    Memory(#[source] E),
}

/// One page of a walk.
#[derive(Debug)]
pub enum WalkPage<T> {
    /// 200: store its rows and [`FreshPage::record`] together.
    Fresh(Box<FreshPage<T>>),
    /// 304: the page holds what it held when stored.
    Unchanged(UnchangedPage),
    /// 204: nothing here; the walk ends.
    Empty {
        key: PageKey,
        etag: Option<String>,
        rate: Option<RateObservation>,
        attempts: u32,
    },
    /// 202: GitHub is still computing the list; the walk ends. Walk again
    /// later (from a rescheduled job, not a waiting one).
    Computing {
        retry_after: Option<DateTime<Utc>>,
        rate: Option<RateObservation>,
        attempts: u32,
    },
}

#[derive(Debug)]
pub struct FreshPage<T> {
    pub body: T,
    pub key: PageKey,
    pub etag: Option<String>,
    pub next: Option<Url>,
    /// The URL that answered (after a redirect).
    pub url: Url,
    pub moved: Option<Box<Moved>>,
    pub rate: Option<RateObservation>,
    pub attempts: u32,
}

impl<T> FreshPage<T> {
    /// The record to store with the page's rows: the ids it yielded, and the
    /// list's size if it says one.
    pub fn record(&self, ids: Vec<i64>, total: Option<i64>) -> PageRecord {
        PageRecord {
            key: self.key.clone(),
            etag: self.etag.clone(),
            ids,
            next: self.next.as_ref().map(|u| u.as_str().to_owned()),
            total,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct UnchangedPage {
    pub key: PageKey,
    pub ids: Vec<i64>,
    pub total: Option<i64>,
    pub next: Option<Url>,
    pub rate: Option<RateObservation>,
    pub attempts: u32,
}

type Step<T, E> = Result<WalkPage<T>, WalkError<E>>;

/// Walks one list from its first URL; see the module docs.
pub struct Walker<'a, T, M: PageMemory> {
    client: &'a GithubClient,
    memory: &'a M,
    operation: Operation,
    credential: Credential,
    max_pages: u32,
    /// The page `next` hands out next, once admitted.
    next: Option<Url>,
    /// Every URL admitted so far: one seen twice is a cycle.
    walked: HashSet<String>,
    /// The page last handed out, for [`Walker::refetch`].
    current: Option<Url>,
    prefetched: Option<(Url, Step<T, M::Error>)>,
}

impl<'a, T, M> Walker<'a, T, M>
where
    T: DeserializeOwned + Send,
    M: PageMemory,
{
    /// A walk of `operation`'s list from `first` as `credential`, reading at
    /// most `max_pages` pages: asking for one more is
    /// [`GithubError::TooManyPages`].
    pub fn new(
        client: &'a GithubClient,
        memory: &'a M,
        operation: Operation,
        first: Url,
        credential: Credential,
        max_pages: u32,
    ) -> Self {
        Self {
            client,
            memory,
            operation,
            credential,
            max_pages,
            next: Some(first),
            walked: HashSet::new(),
            current: None,
            prefetched: None,
        }
    }

    /// Pages fetched or asked for so far (a prefetched one included).
    pub fn pages(&self) -> usize {
        self.walked.len()
    }

    /// The next page, `None` after the last. An error ends the walk.
    pub async fn next(&mut self) -> Option<Step<T, M::Error>> {
        if let Some((url, step)) = self.prefetched.take() {
            return Some(self.hand_out(url, step));
        }
        let url = self.next.take()?;
        let step = match self.admit(&url) {
            Ok(()) => self.fetch(&url, true).await,
            Err(err) => Err(err),
        };
        Some(self.hand_out(url, step))
    }

    /// Fetches the page after the one last handed out, for the next call
    /// to [`Walker::next`]: run it beside the write of the current page, so
    /// GitHub's latency and the database's overlap. Its error, if any, comes
    /// out of that call. Does nothing when there is no next page.
    pub async fn prefetch(&mut self) {
        if self.prefetched.is_some() {
            return;
        }
        let Some(url) = self.next.take() else {
            return;
        };
        let step = match self.admit(&url) {
            Ok(()) => self.fetch(&url, true).await,
            Err(err) => Err(err),
        };
        self.prefetched = Some((url, step));
    }

    /// Fetches the page last handed out again, in full (no
    /// `If-None-Match`): for a caller who found that the ids stored for an
    /// unchanged page no longer match its database. A prefetched page is
    /// dropped; the walk goes on from the fresh page's `Link`.
    pub async fn refetch(&mut self) -> Step<T, M::Error> {
        if let Some((url, _)) = self.prefetched.take() {
            self.walked.remove(url.as_str());
        }
        let Some(url) = self.current.clone() else {
            return Err(GithubError::Url("no page to fetch again".into()).into());
        };
        let step = self.fetch(&url, false).await;
        self.hand_out(url, step)
    }

    fn admit(&mut self, url: &Url) -> Result<(), WalkError<M::Error>> {
        let endpoint = self.operation.label();
        if self.walked.contains(url.as_str()) {
            return Err(GithubError::LinkCycle { endpoint }.into());
        }
        if self.walked.len() >= self.max_pages as usize {
            return Err(GithubError::TooManyPages {
                endpoint,
                pages: self.max_pages,
            }
            .into());
        }
        self.walked.insert(url.as_str().to_owned());
        Ok(())
    }

    /// Sets where the walk goes after `step`.
    fn hand_out(&mut self, url: Url, step: Step<T, M::Error>) -> Step<T, M::Error> {
        self.next = match &step {
            Ok(WalkPage::Fresh(page)) => page.next.clone(),
            Ok(WalkPage::Unchanged(page)) => page.next.clone(),
            Ok(WalkPage::Empty { .. } | WalkPage::Computing { .. }) | Err(_) => None,
        };
        self.current = Some(url);
        step
    }

    fn key(&self, url: &Url) -> PageKey {
        PageKey {
            url: url.as_str().to_owned(),
            media_type: self.operation.spec().media_type.to_owned(),
            credential: self.client.credential_id(&self.credential).to_owned(),
        }
    }

    async fn fetch(&self, url: &Url, conditional: bool) -> Step<T, M::Error> {
        let key = self.key(url);
        let remembered = if conditional {
            self.memory
                .recall(&key)
                .await
                .map_err(WalkError::Memory)?
                // A stored next URL that no longer parses cannot continue
                // the walk: ask for the page in full.
                .filter(|r| r.next.as_deref().is_none_or(|n| Url::parse(n).is_ok()))
        } else {
            None
        };
        let etag = remembered.as_ref().map(|r| r.etag.as_str());
        let page = self
            .client
            .get::<T>(self.operation, url, &self.credential, etag)
            .await?;
        Ok(match page {
            Page::Fresh {
                body,
                etag,
                next,
                url,
                moved,
                rate,
                attempts,
            } => WalkPage::Fresh(Box::new(FreshPage {
                body,
                key,
                etag,
                next,
                url,
                moved,
                rate,
                attempts,
            })),
            Page::NotModified { rate, attempts } => {
                let Some(remembered) = remembered else {
                    return Err(GithubError::Status {
                        status: 304,
                        message: "a 304 to a request without If-None-Match".into(),
                    }
                    .into());
                };
                WalkPage::Unchanged(UnchangedPage {
                    key,
                    ids: remembered.ids,
                    total: remembered.total,
                    next: remembered.next.as_deref().and_then(|n| Url::parse(n).ok()),
                    rate,
                    attempts,
                })
            }
            Page::Empty {
                etag,
                rate,
                attempts,
            } => WalkPage::Empty {
                key,
                etag,
                rate,
                attempts,
            },
            Page::Computing {
                retry_after,
                rate,
                attempts,
            } => WalkPage::Computing {
                retry_after,
                rate,
                attempts,
            },
        })
    }
}
