//! `sync_developer {login | id}`: a developer's profile, followers,
//! following, starred repositories (with `starred_at`) and repositories.
//!
//! Identity is the GitHub id. A login that answers 404 is looked up by the
//! id already stored for it (`/user/{id}`): a renamed account keeps its row
//! and gains a login in its history; one that is 404 by id too (suspended,
//! deleted) is marked gone and never synced again. The profile is asked
//! with its stored ETag, and every list goes through the walker, so an
//! unchanged profile or page costs no quota. A developer synced inside the
//! staleness window is skipped without a call unless `force` is set. Each
//! list is read up to `graph.max_edges_per_list` edges; a longer one is cut
//! there and recorded as truncated. Accounts met in the lists are stored as
//! known developers one step deeper, for discovery to sync later.

use hubpulse_domain::Login;
use hubpulse_domain::wire::{OwnerPayload, RepoPayload, StarredPayload, UserPayload};
use hubpulse_github::{Credential, GithubError, Operation, Page, WalkPage, Walker};
use hubpulse_store::developers::{self, DeveloperRef, Edges};
use hubpulse_store::{StoreError, Transaction, repositories};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{Job, JobContext, JobError, JobRun, Outcome, PgPages, remember_page};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SyncDeveloper {
    /// The login to sync (a seed), when the id is not known yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "octocat", pattern = "^[A-Za-z0-9][A-Za-z0-9-]{0,38}(\\[bot\\])?$")]
    pub login: Option<Login>,
    /// The GitHub id, which survives renames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// Follow steps from a seed; a job without one syncs a seed (0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<i32>,
    /// Sync even inside the staleness window.
    #[serde(default)]
    pub force: bool,
}

/// What a finished `sync_developer` job reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SyncDeveloperOutput {
    /// The developer's GitHub id, when GitHub knows it.
    #[schema(required = true)]
    pub developer_id: Option<i64>,
    pub developer_login: String,
    /// `synced`, `fresh` (inside the staleness window: no call made),
    /// `gone` (404 by login and id) or `unknown` (404, no id known).
    pub developer_state: String,
    /// The login it had before, when this sync found it renamed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<String>,
    pub followers: u64,
    pub following: u64,
    pub starred: u64,
    pub repositories: u64,
    pub pages: u64,
    pub not_modified: u64,
    /// Lists cut at the edge cap.
    pub truncated: Vec<String>,
}

impl Job for SyncDeveloper {
    const KIND: &'static str = "sync_developer";
    type Context = JobContext;
    type Output = SyncDeveloperOutput;

    fn dedup_key(&self) -> Option<String> {
        match (&self.id, &self.login) {
            (Some(id), _) => Some(format!("sync_developer:{id}")),
            (None, Some(login)) => Some(format!(
                "sync_developer:login:{}",
                login.as_str().to_lowercase()
            )),
            (None, None) => None,
        }
    }

    async fn run(
        &self,
        ctx: &JobContext,
        run: &JobRun,
    ) -> Result<Outcome<SyncDeveloperOutput>, JobError> {
        let outcome = self.sync(ctx, run).await;
        if let (Ok(Outcome::Done(out)), Some(metrics)) = (&outcome, &ctx.graph_metrics) {
            metrics.synced(&out.developer_state);
        }
        outcome
    }
}

impl SyncDeveloper {
    async fn sync(
        &self,
        ctx: &JobContext,
        run: &JobRun,
    ) -> Result<Outcome<SyncDeveloperOutput>, JobError> {
        let stored = {
            let conn = ctx.store.conn().await?;
            match (self.id, &self.login) {
                (Some(id), _) => developers::by_id(&conn, id).await?,
                (None, Some(login)) => developers::by_login(&conn, login.as_str()).await?,
                (None, None) => {
                    return Err(JobError::Permanent("a login or an id is needed".into()));
                }
            }
        };
        let mut out = SyncDeveloperOutput {
            developer_id: stored.as_ref().map(|d| d.id).or(self.id),
            developer_login: stored
                .as_ref()
                .map(|d| d.login.clone())
                .or(self.login.as_ref().map(|l| l.as_str().to_owned()))
                .unwrap_or_default(),
            ..SyncDeveloperOutput::default()
        };
        if let Some(dev) = &stored {
            let fresh = dev.synced_at.is_some_and(|at| {
                chrono::Utc::now()
                    .signed_duration_since(at)
                    .to_std()
                    .unwrap_or_default()
                    < ctx.graph.staleness()
            });
            if dev.state == "gone" || (fresh && !self.force) {
                out.developer_state = if dev.state == "gone" { "gone" } else { "fresh" }.into();
                return Ok(Outcome::Done(out));
            }
        }
        let depth = self
            .depth
            .unwrap_or(0)
            .min(stored.as_ref().map_or(i32::MAX, |d| d.depth));
        let Some(dev) = self.profile(ctx, stored.as_ref(), depth, &mut out).await? else {
            return Ok(Outcome::Done(out));
        };
        run.set_progress(1, Some(5)).await;
        let next = depth.saturating_add(1);
        let lists = [
            (Operation::UserFollowers, "followers"),
            (Operation::UserFollowing, "following"),
            (Operation::UserStarred, "starred"),
            (Operation::UserRepos, "repositories"),
        ];
        for (done, (op, name)) in lists.into_iter().enumerate() {
            let walked = match op {
                Operation::UserStarred => {
                    walk::<StarredPayload>(ctx, op, &dev, next, Body::Starred).await?
                }
                Operation::UserRepos => {
                    walk::<RepoPayload>(ctx, op, &dev, next, Body::Repos).await?
                }
                _ => walk::<OwnerPayload>(ctx, op, &dev, next, Body::Users).await?,
            };
            // Dropped before `set_progress`, which takes a connection of
            // its own from the same pool.
            let conn = ctx.store.conn().await?;
            if !walked.truncated {
                match op {
                    Operation::UserFollowers => {
                        developers::prune_edges(&conn, Edges::Followers, dev.id, &walked.ids)
                            .await?;
                    }
                    Operation::UserFollowing => {
                        developers::prune_edges(&conn, Edges::Following, dev.id, &walked.ids)
                            .await?;
                    }
                    Operation::UserStarred => {
                        developers::prune_stars(&conn, dev.id, &walked.ids).await?;
                    }
                    _ => {}
                }
            } else {
                out.truncated.push(name.to_owned());
            }
            let n = walked.ids.len() as u64;
            match op {
                Operation::UserFollowers => out.followers = n,
                Operation::UserFollowing => out.following = n,
                Operation::UserStarred => out.starred = n,
                _ => out.repositories = n,
            }
            drop(conn);
            out.pages += walked.pages;
            out.not_modified += walked.not_modified;
            run.set_progress(done as i64 + 2, Some(5)).await;
        }
        let truncated: Vec<&str> = out.truncated.iter().map(String::as_str).collect();
        developers::finish_sync(&ctx.store.conn().await?, dev.id, &truncated).await?;
        out.developer_state = "synced".into();
        tracing::info!(
            developer_id = dev.id,
            pages = out.pages,
            not_modified = out.not_modified,
            "developer synced"
        );
        Ok(Outcome::Done(out))
    }

    /// Reads the profile (by login, then by id after a 404) and stores it;
    /// `None` when GitHub no longer has the account.
    async fn profile(
        &self,
        ctx: &JobContext,
        stored: Option<&DeveloperRef>,
        depth: i32,
        out: &mut SyncDeveloperOutput,
    ) -> Result<Option<DeveloperRef>, JobError> {
        let login = out.developer_login.clone();
        let etag = stored
            .filter(|d| d.state == "synced")
            .and_then(|d| d.profile_etag.clone());
        // Asked by id alone, and not stored: straight to `/user/{id}`.
        let page = if login.is_empty() {
            None
        } else {
            let url = ctx.github.url(Operation::GetUser, &[&login], &[])?;
            match ctx
                .github
                .get::<UserPayload>(
                    Operation::GetUser,
                    &url,
                    &Credential::Service,
                    etag.as_deref(),
                )
                .await
            {
                Ok(page) => Some(page),
                Err(GithubError::NotFound) => None,
                Err(err) => return Err(err.into()),
            }
        };
        let page = match (page, out.developer_id) {
            (Some(page), _) => page,
            (None, None) => {
                out.developer_state = "unknown".into();
                return Ok(None);
            }
            (None, Some(id)) => {
                let url = ctx
                    .github
                    .url(Operation::GetUserById, &[&id.to_string()], &[])?;
                match ctx
                    .github
                    .get::<UserPayload>(Operation::GetUserById, &url, &Credential::Service, None)
                    .await
                {
                    Ok(page) => page,
                    Err(GithubError::NotFound) => {
                        developers::mark_gone(&ctx.store.conn().await?, id).await?;
                        out.developer_state = "gone".into();
                        return Ok(None);
                    }
                    Err(err) => return Err(err.into()),
                }
            }
        };
        match page {
            Page::Fresh { body, etag, .. } => {
                if !body.login.eq_ignore_ascii_case(&login) && !login.is_empty() {
                    out.renamed_from = Some(login);
                }
                developers::upsert_profile(&ctx.store.conn().await?, &body, etag.as_deref(), depth)
                    .await?;
                out.developer_id = Some(body.id);
                out.developer_login = body.login.clone();
                Ok(Some(DeveloperRef {
                    id: body.id,
                    login: body.login,
                    state: "synced".into(),
                    depth,
                    profile_etag: etag,
                    synced_at: None,
                }))
            }
            Page::NotModified { .. } => Ok(stored.cloned()),
            Page::Computing { .. } | Page::Empty { .. } => Err(JobError::Retryable(
                "GitHub answered a profile with no body".into(),
            )),
        }
    }
}

/// One page of a list, as its kind reads it.
enum Body {
    Users(Vec<OwnerPayload>),
    Starred(Vec<StarredPayload>),
    Repos(Vec<RepoPayload>),
}

#[derive(Debug, Default)]
struct Walked {
    /// What the list held, in its order (developers or repositories).
    ids: Vec<i64>,
    pages: u64,
    not_modified: u64,
    truncated: bool,
}

/// Walks `op`'s list of `dev`, storing each fresh page's rows and
/// validator in one transaction.
async fn walk<T: DeserializeOwned + Send>(
    ctx: &JobContext,
    op: Operation,
    dev: &DeveloperRef,
    depth: i32,
    into: fn(Vec<T>) -> Body,
) -> Result<Walked, JobError> {
    let url = ctx.github.url(op, &[&dev.login], &[("per_page", "100")])?;
    let pages = PgPages::new(ctx.store.clone());
    let cap = ctx.graph.max_pages();
    let mut walk =
        Walker::<Vec<T>, _>::new(&ctx.github, &pages, op, url, Credential::Service, cap + 1);
    let mut walked = Walked::default();
    while let Some(page) = walk.next().await {
        walked.pages += 1;
        let has_next = match page? {
            WalkPage::Fresh(mut page) => {
                let mut conn = ctx.store.conn().await?;
                let tx = conn.transaction().await.map_err(StoreError::from)?;
                let body = std::mem::take(&mut page.body);
                let ids = store_page(&tx, op, dev.id, depth, into(body)).await?;
                remember_page(&tx, &page.record(ids.clone(), None)).await?;
                tx.commit().await.map_err(StoreError::from)?;
                walked.ids.extend(ids);
                page.next.is_some()
            }
            WalkPage::Unchanged(page) => {
                walked.not_modified += 1;
                walked.ids.extend(page.ids);
                page.next.is_some()
            }
            WalkPage::Empty { .. } => false,
            WalkPage::Computing { .. } => {
                return Err(JobError::Retryable(format!(
                    "GitHub answered {} with 202",
                    op.label()
                )));
            }
        };
        if has_next && walked.pages >= u64::from(cap) {
            walked.truncated = true;
            break;
        }
    }
    Ok(walked)
}

/// Stores one page: the accounts or repositories it names, and the edges
/// or stars between them and `id`. Returns the page's ids in its order.
async fn store_page(
    tx: &Transaction<'_>,
    op: Operation,
    id: i64,
    depth: i32,
    body: Body,
) -> Result<Vec<i64>, StoreError> {
    Ok(match body {
        Body::Users(users) => {
            let refs: Vec<&OwnerPayload> = users.iter().collect();
            let stored = developers::upsert_known(tx, &refs, depth).await?;
            let edges = if op == Operation::UserFollowers {
                Edges::Followers
            } else {
                Edges::Following
            };
            developers::add_edges(tx, edges, id, &stored).await?;
            users
                .iter()
                .map(|u| u.id)
                .filter(|i| stored.binary_search(i).is_ok())
                .collect()
        }
        Body::Starred(items) => {
            let repos: Vec<RepoPayload> = items.iter().map(|s| s.repo.clone()).collect();
            let stored = store_repos(tx, &repos, depth).await?;
            let stars: Vec<_> = items
                .iter()
                .filter(|s| stored.binary_search(&s.repo.id).is_ok())
                .map(|s| (s.repo.id, s.starred_at))
                .collect();
            developers::add_stars(tx, id, &stars).await?;
            stars.iter().map(|s| s.0).collect()
        }
        Body::Repos(repos) => {
            let stored = store_repos(tx, &repos, depth).await?;
            repos
                .iter()
                .map(|r| r.id)
                .filter(|i| stored.binary_search(i).is_ok())
                .collect()
        }
    })
}

/// Repositories into the shared tables, and their owners into the graph
/// as known developers (they are accounts too).
async fn store_repos(
    tx: &Transaction<'_>,
    repos: &[RepoPayload],
    depth: i32,
) -> Result<Vec<i64>, StoreError> {
    let stored = repositories::upsert(tx, repos).await?;
    let owners: Vec<&OwnerPayload> = repos.iter().map(|r| &r.owner).collect();
    developers::upsert_known(tx, &owners, depth).await?;
    Ok(stored)
}
