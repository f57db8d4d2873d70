//! `scan_gists`: one tracked user's public gists, every page, through the
//! conditional walker, into `gists`/`gist_files` with an outbox row per new
//! file, in one transaction per page.
//!
//! One scan per user per window, whatever the replicas: the job claims the
//! user's row for its window (`gists::claim_scan`), and a job that finds
//! the window taken ends at once, "skipped", without calling GitHub.
//!
//! `since`: GitHub filters on `updated_at` while ordering by `created_at`,
//! so the walk never stops early by position; it reads every page. The
//! `since` sent stays the same while the list fits one page, so an
//! unchanged list keeps its URL and its ETag and costs nothing (a 304);
//! only a list that outgrew one page moves `since` up to the last complete
//! scan's start (less a margin). A scan without `since` (the first, and one
//! every `full_scan_every_secs`) lists every gist, and the gists it did
//! not list are marked gone.

use std::collections::HashSet;

use chrono::Utc;
use hubpulse_domain::gist::GistPayload;
use hubpulse_github::{Credential, GithubError, Operation, WalkError, WalkPage, Walker};
use hubpulse_store::StoreError;
use hubpulse_store::gists::{self, FileRow, GistRow};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::DeliverOutbox;
use crate::{Job, JobContext, JobError, JobRun, Outcome, PgPages, enqueue, remember_page};

/// 100 gists a page: 10,000 gists at most.
const MAX_PAGES: u32 = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanGists {
    /// The user's GitHub id.
    pub user_id: i64,
    /// The scan window (`GistSettings::window`).
    pub window: i64,
}

/// What a finished `scan_gists` job reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScanGistsOutput {
    pub user_id: i64,
    pub window: i64,
    /// Why nothing was scanned (the window was taken, the user untracked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    pub gist_pages: u64,
    pub not_modified: u64,
    pub new_files: u64,
    pub gone_gists: u64,
}

/// A gist id as the walker's page ids (i64): the first 8 bytes of its SHA-256.
fn page_id(gist_id: &str) -> i64 {
    let digest = Sha256::digest(gist_id.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

fn row(gist: &GistPayload) -> GistRow {
    GistRow {
        id: gist.id.clone(),
        html_url: gist.html_url.clone(),
        description: gist.description.clone(),
        created_at: gist.created_at,
        updated_at: gist.updated_at,
        files: gist
            .files
            .iter()
            .map(|(name, file)| FileRow {
                filename: name.clone(),
                language: file.language.clone(),
                size: file.size.map(|s| s.min(i64::MAX as u64) as i64),
                raw_url: file.raw_url.clone(),
            })
            .collect(),
    }
}

impl Job for ScanGists {
    const KIND: &'static str = "scan_gists";
    type Context = JobContext;
    type Output = ScanGistsOutput;

    fn dedup_key(&self) -> Option<String> {
        Some(format!("scan_gists:{}:{}", self.user_id, self.window))
    }

    async fn run(
        &self,
        ctx: &JobContext,
        run: &JobRun,
    ) -> Result<Outcome<ScanGistsOutput>, JobError> {
        let mut out = ScanGistsOutput {
            user_id: self.user_id,
            window: self.window,
            ..ScanGistsOutput::default()
        };
        let count = |outcome: &str| {
            if let Some(m) = &ctx.gists.metrics {
                m.scans.with_label_values(&[outcome]).inc();
            }
        };
        let claim =
            gists::claim_scan(&ctx.store.conn().await?, self.user_id, self.window, run.id).await?;
        let Some(claim) = claim else {
            count("skipped");
            out.skipped = Some("another scan holds this window, or the user is not tracked".into());
            return Ok(Outcome::Done(out));
        };
        let settings = &ctx.gists.settings;
        let started = Utc::now();
        let full_due = claim
            .last_full_scan_at
            .is_none_or(|at| (started - at).num_seconds() >= settings.full_scan_every_secs as i64);
        let since = if full_due { None } else { claim.since };
        let since_text = since.map(|s| s.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        let mut query = vec![("per_page", "100")];
        if let Some(since) = &since_text {
            query.push(("since", since.as_str()));
        }
        let url = ctx
            .github
            .url(Operation::UserGists, &[&claim.login], &query)?;
        let pages = PgPages::new(ctx.store.clone());
        let mut walk = Walker::<Vec<GistPayload>, _>::new(
            &ctx.github,
            &pages,
            Operation::UserGists,
            url,
            Credential::Service,
            MAX_PAGES,
        );
        let mut seen: HashSet<i64> = HashSet::new();
        while let Some(page) = walk.next().await {
            let page = match page {
                Err(WalkError::Github(GithubError::NotFound)) if out.gist_pages == 0 => {
                    // A renamed or deleted account: not a failure, and a
                    // retry would get the same 404.
                    count("not_found");
                    out.skipped = Some(format!("GitHub knows no user {}", claim.login));
                    return Ok(Outcome::Done(out));
                }
                other => other?,
            };
            out.gist_pages += 1;
            match page {
                WalkPage::Fresh(page) => {
                    let rows: Vec<GistRow> = page.body.iter().map(row).collect();
                    let ids: Vec<i64> = rows.iter().map(|g| page_id(&g.id)).collect();
                    seen.extend(&ids);
                    let mut conn = ctx.store.conn().await?;
                    let tx = conn.transaction().await.map_err(StoreError::from)?;
                    run.fence(&tx).await?;
                    let new = gists::record_gists(&tx, self.user_id, &rows).await?;
                    remember_page(&tx, &page.record(ids, None)).await?;
                    if new > 0 {
                        // With the rows: no file is stored without its delivery.
                        enqueue(
                            &tx,
                            &DeliverOutbox {
                                user_id: self.user_id,
                            },
                        )
                        .await?;
                    }
                    tx.commit().await.map_err(StoreError::from)?;
                    out.new_files += new;
                }
                WalkPage::Unchanged(page) => {
                    out.not_modified += 1;
                    seen.extend(page.ids);
                }
                WalkPage::Empty { .. } => {}
                WalkPage::Computing { .. } => {
                    return Err(JobError::Retryable(
                        "GitHub answered a gist list with 202".into(),
                    ));
                }
            }
        }
        let full = since.is_none();
        if full && out.not_modified < out.gist_pages {
            let live = gists::live_gist_ids(&ctx.store.conn().await?, self.user_id).await?;
            let gone: Vec<String> = live
                .into_iter()
                .filter(|id| !seen.contains(&page_id(id)))
                .collect();
            if !gone.is_empty() {
                let mut conn = ctx.store.conn().await?;
                let tx = conn.transaction().await.map_err(StoreError::from)?;
                run.fence(&tx).await?;
                out.gone_gists = gists::mark_gone(&tx, self.user_id, &gone).await?;
                tx.commit().await.map_err(StoreError::from)?;
            }
        }
        // Keep the URL (and its free 304s) while the list fits one page.
        let next_since = if out.gist_pages > 1 {
            Some(started - chrono::Duration::seconds(settings.since_margin_secs as i64))
        } else {
            since
        };
        gists::finish_scan(&ctx.store.conn().await?, self.user_id, next_since, full).await?;
        count("scanned");
        tracing::info!(user_id = self.user_id, login = %claim.login, pages = out.gist_pages,
            not_modified = out.not_modified, new_files = out.new_files, "gists scanned");
        Ok(Outcome::Done(out))
    }
}
