//! `sync_repository {full_name | id}`: a repository and its owner, its
//! weekly star history, and its stargazers where GitHub still lists them.
//!
//! A renamed or transferred repository answers 301 to
//! `/repositories/{id}`: the client follows it once, the row (keyed by id)
//! takes the new name and the old one joins `former_names`. Asked by id,
//! the job reads `/repositories/{id}` straight away, which no rename moves. Since July
//! 2026 GitHub lists a repository's stargazers only to its admins and
//! collaborators; a 401, 403 or 404 on the list, or an empty list for a
//! repository that has stars, is recorded as `restricted` and that list is
//! never asked for again. The star history (`/stargazers/history`, weekly,
//! no identities) is kept either way.

use hubpulse_domain::RepoFullName;
use hubpulse_domain::wire::{OwnerPayload, RepoPayload, StarWeekPayload, StargazerPayload};
use hubpulse_github::{Credential, GithubError, Operation, Page, WalkError, WalkPage, Walker};
use hubpulse_store::developers;
use hubpulse_store::{StoreError, repositories};
use serde::{Deserialize, Serialize};

use crate::{Job, JobContext, JobError, JobRun, Outcome, PgPages, remember_page};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SyncRepository {
    /// `owner/name`, when the id is not known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "octocat/hello-world", pattern = "^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$")]
    pub full_name: Option<RepoFullName>,
    /// The GitHub id, which survives renames and transfers; wins over
    /// `full_name` when both are given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub id: Option<i64>,
}

impl SyncRepository {
    pub fn by_name(full_name: RepoFullName) -> Self {
        Self {
            full_name: Some(full_name),
            id: None,
        }
    }

    pub fn by_id(id: i64) -> Self {
        Self {
            full_name: None,
            id: Some(id),
        }
    }
}

/// What a finished `sync_repository` job reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SyncRepositoryOutput {
    #[schema(required = true)]
    pub repository_id: Option<i64>,
    pub repository_full_name: String,
    /// The name asked for, when GitHub answered 301 from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<String>,
    /// `listed`, `restricted` or `unknown` (no such repository).
    pub stargazers: String,
    pub stargazers_stored: u64,
    pub history_weeks: u64,
}

impl Job for SyncRepository {
    const KIND: &'static str = "sync_repository";
    type Context = JobContext;
    type Output = SyncRepositoryOutput;

    fn dedup_key(&self) -> Option<String> {
        match (self.id, &self.full_name) {
            (Some(id), _) => Some(format!("sync_repository:id:{id}")),
            (None, Some(name)) => Some(format!(
                "sync_repository:{}",
                name.to_string().to_lowercase()
            )),
            (None, None) => None,
        }
    }

    async fn run(
        &self,
        ctx: &JobContext,
        run: &JobRun,
    ) -> Result<Outcome<SyncRepositoryOutput>, JobError> {
        let (url, asked) = match (self.id, &self.full_name) {
            (Some(id), _) => (
                ctx.github.repository_url(Operation::GetRepo, id, &[])?,
                self.full_name
                    .as_ref()
                    .map_or_else(String::new, ToString::to_string),
            ),
            (None, Some(name)) => (
                ctx.github.url(
                    Operation::GetRepo,
                    &[name.owner().as_str(), name.name()],
                    &[],
                )?,
                name.to_string(),
            ),
            (None, None) => {
                return Err(JobError::Permanent("a full name or an id is needed".into()));
            }
        };
        let asked = asked.as_str();
        let mut out = SyncRepositoryOutput {
            repository_id: self.id,
            repository_full_name: asked.to_owned(),
            stargazers: "unknown".into(),
            ..SyncRepositoryOutput::default()
        };
        let repo = match ctx
            .github
            .get::<RepoPayload>(Operation::GetRepo, &url, &Credential::Service, None)
            .await
        {
            Ok(Page::Fresh { body, moved, .. }) => {
                // A name moves; `/repositories/{id}` has nothing to answer
                // 301 from, and no name was asked then.
                out.moved_from = moved
                    .filter(|_| !asked.is_empty())
                    .map(|_| asked.to_owned());
                body
            }
            Ok(_) => {
                return Err(JobError::Retryable(
                    "GitHub answered a repository with no body".into(),
                ));
            }
            Err(GithubError::NotFound) => return Ok(Outcome::Done(out)),
            Err(err) => return Err(err.into()),
        };
        let id = repo.id;
        out.repository_id = Some(id);
        out.repository_full_name = repo.full_name.clone();
        {
            let mut conn = ctx.store.conn().await?;
            let tx = conn.transaction().await.map_err(StoreError::from)?;
            repositories::upsert(&tx, std::slice::from_ref(&repo)).await?;
            developers::upsert_known(&tx, &[&repo.owner], 1).await?;
            let state = developers::stargazer_state(&tx, id).await?;
            // Lower case: looked up case-insensitively.
            let former = out.moved_from.as_deref().map(str::to_lowercase);
            developers::record_repository(&tx, id, &state, None, former.as_deref()).await?;
            tx.commit().await.map_err(StoreError::from)?;
        }
        run.set_progress(1, Some(3)).await;
        out.history_weeks = history(ctx, id, &repo).await?;
        run.set_progress(2, Some(3)).await;
        let state = developers::stargazer_state(&ctx.store.conn().await?, id).await?;
        if state == "restricted" {
            out.stargazers = state;
        } else {
            let (state, stored) = stargazers(ctx, &repo).await?;
            out.stargazers = state;
            out.stargazers_stored = stored;
        }
        Ok(Outcome::Done(out))
    }
}

/// Every week of the star history, newest first, into `star_history`.
/// An unchanged page (304, no quota) holds exactly the weeks stored from
/// it; a fresh one's weeks are written with its validator. Returns the
/// weeks GitHub listed.
async fn history(ctx: &JobContext, id: i64, repo: &RepoPayload) -> Result<u64, JobError> {
    let (owner, name) = (&repo.owner.login, &repo.name);
    let url = ctx.github.url(
        Operation::RepoStargazerHistory,
        &[owner, name],
        &[("per_page", "30")],
    )?;
    let pages = PgPages::new(ctx.store.clone());
    let mut walk = Walker::<Vec<StarWeekPayload>, _>::new(
        &ctx.github,
        &pages,
        Operation::RepoStargazerHistory,
        url,
        Credential::Service,
        100,
    );
    let mut weeks = 0u64;
    while let Some(page) = walk.next().await {
        match page? {
            WalkPage::Fresh(page) => {
                let ids = page.body.iter().map(|w| w.week).collect();
                let mut conn = ctx.store.conn().await?;
                let tx = conn.transaction().await.map_err(StoreError::from)?;
                developers::upsert_star_history(&tx, id, &page.body).await?;
                remember_page(&tx, &page.record(ids, None)).await?;
                tx.commit().await.map_err(StoreError::from)?;
                weeks += page.body.len() as u64;
            }
            WalkPage::Unchanged(page) => weeks += page.ids.len() as u64,
            WalkPage::Empty { .. } => {}
            WalkPage::Computing { .. } => {
                return Err(JobError::Retryable("star history is being computed".into()));
            }
        }
    }
    Ok(weeks)
}

/// The stargazer list where GitHub gives it; `restricted` where it does
/// not. Returns the state and the stargazers stored.
async fn stargazers(ctx: &JobContext, repo: &RepoPayload) -> Result<(String, u64), JobError> {
    let url = ctx.github.url(
        Operation::RepoStargazers,
        &[&repo.owner.login, &repo.name],
        &[("per_page", "100")],
    )?;
    let pages = PgPages::new(ctx.store.clone());
    let cap = ctx.graph.max_pages();
    let mut walk = Walker::<Vec<StargazerPayload>, _>::new(
        &ctx.github,
        &pages,
        Operation::RepoStargazers,
        url,
        Credential::Service,
        cap + 1,
    );
    let mut stored = 0u64;
    let mut first = true;
    let restrict = |status: i32| async move {
        developers::record_repository(
            &ctx.store.conn().await?,
            repo.id,
            "restricted",
            Some(status),
            None,
        )
        .await?;
        Ok::<_, JobError>(("restricted".to_owned(), 0))
    };
    while let Some(page) = walk.next().await {
        let page = match page {
            Err(WalkError::Github(err)) if first => match err {
                GithubError::Unauthorized => return restrict(401).await,
                GithubError::Forbidden { .. } => return restrict(403).await,
                GithubError::NotFound => return restrict(404).await,
                other => return Err(other.into()),
            },
            other => other?,
        };
        let was_first = std::mem::replace(&mut first, false);
        let has_next = match page {
            WalkPage::Fresh(page) => {
                if was_first && page.body.is_empty() && repo.stargazers_count > 0 {
                    return restrict(200).await;
                }
                let mut conn = ctx.store.conn().await?;
                let tx = conn.transaction().await.map_err(StoreError::from)?;
                let users: Vec<&OwnerPayload> =
                    page.body.iter().filter_map(|s| s.user.as_ref()).collect();
                let ids = developers::upsert_known(&tx, &users, 1).await?;
                let stars: Vec<_> = page
                    .body
                    .iter()
                    .filter_map(|s| s.user.as_ref().map(|u| (u.id, s.starred_at)))
                    .filter(|(u, _)| ids.binary_search(u).is_ok())
                    .collect();
                developers::add_stargazers(&tx, repo.id, &stars).await?;
                remember_page(&tx, &page.record(ids.clone(), None)).await?;
                tx.commit().await.map_err(StoreError::from)?;
                stored += ids.len() as u64;
                page.next.is_some()
            }
            WalkPage::Unchanged(page) => {
                stored += page.ids.len() as u64;
                page.next.is_some()
            }
            WalkPage::Empty { .. } | WalkPage::Computing { .. } => false,
        };
        if has_next && walk.pages() >= cap as usize {
            break;
        }
    }
    developers::record_repository(&ctx.store.conn().await?, repo.id, "listed", None, None).await?;
    Ok(("listed".into(), stored))
}
