//! `sync_org`: every repository of a tracked owner into the shared
//! repository tables, then one `repo_stats` job per repository.
//!
//! The owner is tried as an organisation (`/orgs/{org}/repos`) and, on a
//! 404, as a user (`/users/{user}/repos`); an owner GitHub does not know
//! ends the job successfully with `"found": false` (a retry would get the
//! same 404). Pages go through the walker, so
//! an unchanged page is a free 304 that hands back the ids stored with it.
//! Each page's rows, its validator and its repositories' `repo_stats` jobs
//! commit in one transaction: a crash between pages loses nothing a retry
//! would not redo, and no statistics job exists for a repository that is
//! not stored. The statistics jobs are queued for unchanged pages too: a
//! repository's statistics change without its metadata changing.

use hubpulse_domain::Login;
use hubpulse_domain::wire::RepoPayload;
use hubpulse_github::{Credential, GithubError, Operation, WalkError, WalkPage, Walker};
use hubpulse_store::{StoreError, orgs, repositories};
use serde::{Deserialize, Serialize};

use super::RepoStats;
use crate::{Job, JobContext, JobError, JobRun, Outcome, PgPages, enqueue, remember_page};

/// 100 repositories a page: an owner of 10,000 repositories at most.
const MAX_PAGES: u32 = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncOrg {
    pub name: Login,
}

impl Job for SyncOrg {
    const KIND: &'static str = "sync_org";
    type Context = JobContext;
    type Output = SyncOrgOutput;

    fn dedup_key(&self) -> Option<String> {
        Some(format!("sync_org:{}", self.name.as_str().to_lowercase()))
    }

    async fn run(
        &self,
        ctx: &JobContext,
        _run: &JobRun,
    ) -> Result<Outcome<SyncOrgOutput>, JobError> {
        let login = self.name.as_str();
        if !orgs::is_tracked(&ctx.store.conn().await?, login).await? {
            return Ok(Outcome::Done(SyncOrgOutput {
                owner: login.to_owned(),
                skipped: Some("not tracked".into()),
                ..SyncOrgOutput::default()
            }));
        }
        let synced = match self.walk(ctx, Operation::OrgRepos).await? {
            Some(synced) => Some(synced),
            None => self.walk(ctx, Operation::UserRepos).await?,
        };
        let Some(synced) = synced else {
            // Not a failure: the login may be taken later, and a retry
            // would get the same 404. The owner stays tracked.
            tracing::warn!(
                owner = login,
                "GitHub knows no organisation or user of this name"
            );
            return Ok(Outcome::Done(SyncOrgOutput {
                owner: login.to_owned(),
                found: Some(false),
                ..SyncOrgOutput::default()
            }));
        };
        orgs::synced(&ctx.store.conn().await?, login, synced.owner_id).await?;
        tracing::info!(
            owner = login,
            repositories = synced.repositories,
            pages = synced.pages,
            not_modified = synced.not_modified,
            "owner synced"
        );
        Ok(Outcome::Done(SyncOrgOutput {
            owner: login.to_owned(),
            skipped: None,
            found: Some(true),
            repositories: Some(synced.repositories),
            pages: Some(synced.pages),
            not_modified: Some(synced.not_modified),
        }))
    }
}

/// What a finished `sync_org` job reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SyncOrgOutput {
    pub owner: String,
    /// Why nothing was synced (the owner is no longer tracked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Whether GitHub knows an organisation or user of this name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repositories: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_modified: Option<u64>,
}

#[derive(Debug, Default)]
struct Synced {
    owner_id: Option<i64>,
    repositories: u64,
    pages: u64,
    not_modified: u64,
}

impl SyncOrg {
    /// Every page of the owner's repositories as `operation` lists them;
    /// `None` when GitHub has no such owner there (a 404 on the first page).
    async fn walk(
        &self,
        ctx: &JobContext,
        operation: Operation,
    ) -> Result<Option<Synced>, JobError> {
        let settings = &ctx.orgs;
        let url = ctx.github.url(
            operation,
            &[self.name.as_str()],
            &[("per_page", "100"), ("type", "all"), ("sort", "full_name")],
        )?;
        let pages = PgPages::new(ctx.store.clone());
        let mut walk = Walker::<Vec<RepoPayload>, _>::new(
            &ctx.github,
            &pages,
            operation,
            url,
            Credential::Service,
            MAX_PAGES,
        );
        let mut synced = Synced::default();
        while let Some(page) = walk.next().await {
            let page = match page {
                Err(WalkError::Github(GithubError::NotFound)) if synced.pages == 0 => {
                    return Ok(None);
                }
                other => other?,
            };
            synced.pages += 1;
            let mut conn = ctx.store.conn().await?;
            let tx = conn.transaction().await.map_err(StoreError::from)?;
            let ids = match page {
                WalkPage::Fresh(page) => {
                    let kept: Vec<RepoPayload> = page
                        .body
                        .iter()
                        .filter(|r| settings.include_forks || !r.fork)
                        .filter(|r| settings.include_archived || !r.archived)
                        .cloned()
                        .collect();
                    synced.owner_id = synced.owner_id.or(kept.first().map(|r| r.owner.id));
                    let stored = repositories::upsert(&tx, &kept).await?;
                    // In the page's order, for a later 304.
                    let ids: Vec<i64> = kept
                        .iter()
                        .map(|r| r.id)
                        .filter(|id| stored.binary_search(id).is_ok())
                        .collect();
                    remember_page(&tx, &page.record(ids.clone(), None)).await?;
                    ids
                }
                WalkPage::Unchanged(page) => {
                    synced.not_modified += 1;
                    page.ids
                }
                WalkPage::Empty { .. } => Vec::new(),
                WalkPage::Computing { .. } => {
                    return Err(JobError::Retryable(
                        "GitHub answered a repository list with 202".into(),
                    ));
                }
            };
            orgs::ensure_stats(&tx, &ids).await?;
            for &repository_id in &ids {
                enqueue(&tx, &RepoStats { repository_id }).await?;
            }
            tx.commit().await.map_err(StoreError::from)?;
            synced.repositories += ids.len() as u64;
        }
        Ok(Some(synced))
    }
}
