//! `sync_user_repos`: every page of a signed-in user's `/user/repos`,
//! private repositories included, with their own token (their own rate
//! budget, and ETags kept per token by the walker), into the shared
//! repository tables, plus which private repository that user may see.
//!
//! A token about to expire is refreshed first (a refresh token is
//! single-use: the new pair is stored before it is used). GitHub refusing
//! the token (401: revoked, or expired) deletes it and ends the user's
//! sessions: the job ends `revoked`, not failed, since a retry cannot help.

use chrono::{Duration, Utc};
use hubpulse_domain::wire::RepoPayload;
use hubpulse_github::{
    Credential, GithubError, Operation, Page, PostBody, UserToken, WalkError, WalkPage, Walker,
    token_id,
};
use hubpulse_store::{StoreError, repositories, user_repos, web_users};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::user_auth::{SignIn, TokenReply};
use crate::{Job, JobContext, JobError, JobRun, Outcome, PgPages, remember_page};

/// 100 repositories a page: 20,000 at most.
const MAX_PAGES: u32 = 200;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncUserRepos {
    pub user_id: i64,
}

/// What a finished `sync_user_repos` job reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SyncUserReposOutput {
    pub user_id: i64,
    /// Repositories the user's list holds.
    pub listed: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_modified: Option<u64>,
    /// Why nothing was listed: `no token` (signed out), `revoked` (GitHub
    /// refused the token; it was deleted and the sessions ended).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
}

impl Job for SyncUserRepos {
    const KIND: &'static str = "sync_user_repos";
    type Context = JobContext;
    type Output = SyncUserReposOutput;

    fn dedup_key(&self) -> Option<String> {
        Some(format!("sync_user_repos:{}", self.user_id))
    }

    async fn run(&self, ctx: &JobContext, run: &JobRun) -> Result<Outcome<Self::Output>, JobError> {
        let sign_in = ctx
            .sign_in
            .as_ref()
            .ok_or_else(|| JobError::Permanent("sign-in is not configured".into()))?;
        let stored =
            web_users::load_token(&ctx.store.conn().await?, &sign_in.cipher, self.user_id).await?;
        let Some(stored) = stored else {
            return Ok(self.ended("no token"));
        };
        let margin = Duration::seconds(sign_in.settings.refresh_margin_secs as i64);
        let access = match (&stored.refresh, stored.expires_at) {
            (Some(refresh), Some(at)) if at - margin <= Utc::now() => {
                match self.refresh(ctx, sign_in, refresh).await? {
                    Some(token) => token,
                    None => return self.revoked(ctx).await,
                }
            }
            _ => stored.access,
        };
        match self
            .walk(ctx, run, Credential::User(UserToken::new(&access)?))
            .await
        {
            Err(JobError::Permanent(message)) if message.contains("(401)") => {
                self.revoked(ctx).await
            }
            other => other,
        }
    }
}

impl SyncUserRepos {
    fn ended(&self, why: &str) -> Outcome<SyncUserReposOutput> {
        Outcome::Done(SyncUserReposOutput {
            user_id: self.user_id,
            ended: Some(why.into()),
            ..SyncUserReposOutput::default()
        })
    }

    async fn revoked(&self, ctx: &JobContext) -> Result<Outcome<SyncUserReposOutput>, JobError> {
        web_users::delete_token(&ctx.store.conn().await?, self.user_id).await?;
        tracing::warn!(
            user_id = self.user_id,
            "GitHub refused a user's token; deleted it and ended their sessions"
        );
        Ok(self.ended("revoked"))
    }

    /// A new token pair for the refresh token; `None` when GitHub refuses it.
    async fn refresh(
        &self,
        ctx: &JobContext,
        sign_in: &SignIn,
        refresh: &SecretString,
    ) -> Result<Option<SecretString>, JobError> {
        let url = ctx.github.url(Operation::AccessToken, &[], &[])?;
        let mut form = vec![
            ("client_id", sign_in.settings.client_id.as_str()),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.expose_secret()),
        ];
        if let Some(secret) = sign_in.client_secret() {
            form.push(("client_secret", secret));
        }
        let reply = match ctx
            .github
            .post::<TokenReply>(
                Operation::AccessToken,
                &url,
                &Credential::Anonymous,
                PostBody::Form(&form),
            )
            .await?
        {
            Page::Fresh { body, .. } => body,
            _ => {
                return Err(JobError::Retryable(
                    "the token endpoint answered no body".into(),
                ));
            }
        };
        let Some(token) = reply.access_token.filter(|t| !t.expose_secret().is_empty()) else {
            return Ok(None);
        };
        let now = Utc::now();
        let at = |s: u64| now + Duration::seconds(s.min(1 << 40) as i64);
        let new = web_users::NewToken {
            token_id: token_id(Some(token.expose_secret())),
            access: token.clone(),
            refresh: reply.refresh_token,
            expires_at: reply.expires_in.map(at),
            refresh_expires_at: reply.refresh_token_expires_in.map(at),
            scopes: reply.scope.unwrap_or_default(),
        };
        // Stored before use: the old pair is dead the moment GitHub answered.
        web_users::save_token(
            &ctx.store.conn().await?,
            &sign_in.cipher,
            self.user_id,
            &new,
        )
        .await?;
        tracing::info!(user_id = self.user_id, "refreshed a user's expiring token");
        Ok(Some(token))
    }

    async fn walk(
        &self,
        ctx: &JobContext,
        run: &JobRun,
        credential: Credential,
    ) -> Result<Outcome<SyncUserReposOutput>, JobError> {
        let url = ctx.github.url(
            Operation::AuthenticatedUserRepos,
            &[],
            &[("per_page", "100"), ("visibility", "all")],
        )?;
        let pages = PgPages::new(ctx.store.clone());
        let mut walk = Walker::<Vec<RepoPayload>, _>::new(
            &ctx.github,
            &pages,
            Operation::AuthenticatedUserRepos,
            url,
            credential,
            MAX_PAGES,
        );
        let mut out = SyncUserReposOutput {
            user_id: self.user_id,
            ..SyncUserReposOutput::default()
        };
        let (mut listed, mut private, mut page_count, mut not_modified) =
            (Vec::new(), 0u64, 0i64, 0u64);
        while let Some(page) = walk.next().await {
            let page = match page {
                Err(WalkError::Github(GithubError::Unauthorized)) => {
                    return self.revoked(ctx).await;
                }
                other => other?,
            };
            page_count += 1;
            let mut conn = ctx.store.conn().await?;
            let tx = conn.transaction().await.map_err(StoreError::from)?;
            run.fence(&tx).await?;
            match page {
                WalkPage::Fresh(page) => {
                    let stored = repositories::upsert(&tx, &page.body).await?;
                    let kept: Vec<RepoPayload> = page
                        .body
                        .iter()
                        .filter(|r| stored.binary_search(&r.id).is_ok())
                        .cloned()
                        .collect();
                    user_repos::record_listed(&tx, self.user_id, &kept).await?;
                    let ids: Vec<i64> = kept.iter().map(|r| r.id).collect();
                    private += kept.iter().filter(|r| r.private).count() as u64;
                    remember_page(&tx, &page.record(ids.clone(), None)).await?;
                    listed.extend(ids);
                }
                WalkPage::Unchanged(page) => {
                    not_modified += 1;
                    listed.extend(page.ids);
                }
                WalkPage::Empty { .. } => {}
                WalkPage::Computing { .. } => {
                    return Err(JobError::Retryable(
                        "GitHub answered /user/repos with 202".into(),
                    ));
                }
            }
            tx.commit().await.map_err(StoreError::from)?;
            run.set_progress(page_count, None).await;
        }
        user_repos::forget_unlisted(&ctx.store.conn().await?, self.user_id, &listed).await?;
        out.listed = listed.len() as u64;
        out.private = Some(private);
        out.pages = Some(page_count as u64);
        out.not_modified = Some(not_modified);
        Ok(Outcome::Done(out))
    }
}
