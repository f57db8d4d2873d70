//! `deliver_outbox`: one tracked user's new gist files to Pipedrive, one
//! activity each on the user's one deal, exactly once in effect.
//!
//! Pipedrive has no idempotency keys, so every POST is recorded before it
//! is sent (committed), and its remote id after. A row (or the deal) found
//! attempted and not done had an unknown outcome: a timeout, a crash, a
//! reply lost after Pipedrive accepted the post. Before posting it again
//! the job lists the deal's activities (`GET /api/v2/activities?deal_id=`,
//! cursor-paged) and looks for the row's marker in their notes; the deal's
//! own marker is in its title. A 429 reschedules the job after the reset
//! seconds; 5xx and dropped connections put the row back with a backoff; a
//! refusal (a plan limit, a bad request) parks the row with its reason.
//!
//! The job posts at most `deliver_batch` rows a run, then reschedules
//! itself (no attempt spent), so a replica killed mid-delivery costs one
//! attempt, not the whole outbox.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use hubpulse_pipedrive::{Disposition, NewActivity, NewDeal, PipedriveClient, PipedriveError};
use hubpulse_runtime::backoff::Backoff;
use hubpulse_store::StoreError;
use hubpulse_store::gist_outbox::{self, OutboxRow};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{GistContext, Job, JobContext, JobError, JobRun, Outcome};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverOutbox {
    /// The tracked user's GitHub id.
    pub user_id: i64,
}

/// What a finished `deliver_outbox` job reports (its last run).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliverOutboxOutput {
    pub user_id: i64,
    pub deal_id: Option<i64>,
    pub posted: u64,
    /// Found already in Pipedrive after an attempt with an unknown outcome.
    pub reconciled: u64,
    pub parked: u64,
}

/// What identifies a gist file in Pipedrive: in the activity's note.
pub fn file_marker(gist_id: &str, filename: &str) -> String {
    let name = hex::encode(&Sha256::digest(filename.as_bytes())[..8]);
    format!("hubpulse:gist:{gist_id}:{name}")
}

/// What identifies a tracked user's deal: in its title.
pub fn deal_marker(user_id: i64) -> String {
    format!("[hubpulse:user:{user_id}]")
}

/// Text for Pipedrive's HTML note.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn subject(filename: &str, login: &str) -> String {
    let subject = format!("New gist file {filename} by {login}");
    // Pipedrive's subjects are short; names can be long.
    subject.chars().take(250).collect()
}

impl Job for DeliverOutbox {
    const KIND: &'static str = "deliver_outbox";
    /// Row failures never fail the job (they back off or park); attempts
    /// are only spent by workers dying mid-run, which the fault suite does
    /// a hundred times over.
    const MAX_ATTEMPTS: i32 = 100;
    type Context = JobContext;
    type Output = DeliverOutboxOutput;

    fn dedup_key(&self) -> Option<String> {
        Some(format!("deliver_outbox:{}", self.user_id))
    }

    async fn run(
        &self,
        ctx: &JobContext,
        run: &JobRun,
    ) -> Result<Outcome<DeliverOutboxOutput>, JobError> {
        let gists = &ctx.gists;
        let Some(pd) = gists.pipedrive.clone() else {
            return Ok(Outcome::RescheduleAt {
                at: Utc::now() + chrono::Duration::hours(1),
                reason: "no Pipedrive token is configured".into(),
            });
        };
        let mut out = DeliverOutboxOutput {
            user_id: self.user_id,
            ..DeliverOutboxOutput::default()
        };
        let Some((login, state)) =
            gist_outbox::deal(&ctx.store.conn().await?, self.user_id).await?
        else {
            return Ok(Outcome::Done(out));
        };
        let deal_id = match state.deal_id {
            Some(id) => id,
            None => match ensure_deal(ctx, &pd, run, self.user_id, &login, state.attempted).await {
                Ok(id) => id,
                Err(DealError::Store(err)) => return Err(err.into()),
                Err(DealError::Pipedrive(err)) => {
                    return self.deal_failed(ctx, err, &mut out).await;
                }
            },
        };
        out.deal_id = Some(deal_id);
        let rows = gist_outbox::due(
            &ctx.store.conn().await?,
            self.user_id,
            gists.settings.deliver_batch,
        )
        .await?;
        // The deal's markers, listed once a run when a row needs them.
        let mut remote: Option<HashMap<String, i64>> = None;
        for row in &rows {
            let marker = file_marker(&row.gist_id, &row.filename);
            if row.attempted_at.is_some() {
                if remote.is_none() {
                    match markers(&pd, deal_id).await {
                        Ok(found) => remote = Some(found),
                        Err(err) => return self.later(ctx, row, err, &mut out).await,
                    }
                }
                if let Some(&id) = remote.as_ref().and_then(|r| r.get(&marker)) {
                    self.done(ctx, run, row, id, "reconciled").await?;
                    out.reconciled += 1;
                    continue;
                }
            }
            {
                let mut conn = ctx.store.conn().await?;
                let tx = conn.transaction().await.map_err(StoreError::from)?;
                run.fence(&tx).await?;
                gist_outbox::mark_attempt(&tx, row.id).await?;
                tx.commit().await.map_err(StoreError::from)?;
            }
            let activity = NewActivity {
                subject: subject(&row.filename, &login),
                kind: gists.activity_type.clone(),
                deal_id,
                done: false,
                note: format!(
                    "<p>{} added <b>{}</b> to a gist: <a href=\"{url}\">{url}</a></p><p>{marker}</p>",
                    escape(&login),
                    escape(&row.filename),
                    url = escape(&row.html_url),
                ),
            };
            match pd.create_activity(&activity).await {
                Ok(created) => {
                    self.done(ctx, run, row, created.id, "posted").await?;
                    out.posted += 1;
                }
                Err(err) => match err.disposition() {
                    Disposition::GiveUp => {
                        gist_outbox::park(&ctx.store.conn().await?, row.id, &err.to_string())
                            .await?;
                        count(gists, "parked");
                        out.parked += 1;
                    }
                    _ => return self.later(ctx, row, err, &mut out).await,
                },
            }
        }
        match gist_outbox::next_due(&ctx.store.conn().await?, self.user_id).await? {
            None => Ok(Outcome::Done(out)),
            Some(at) => Ok(Outcome::RescheduleAt {
                at: at.max(Utc::now()),
                reason: "more of the outbox to deliver".into(),
            }),
        }
    }
}

fn count(gists: &GistContext, outcome: &str) {
    if let Some(m) = &gists.metrics {
        m.posts.with_label_values(&[outcome]).inc();
    }
}

impl DeliverOutbox {
    async fn done(
        &self,
        ctx: &JobContext,
        run: &JobRun,
        row: &OutboxRow,
        activity_id: i64,
        outcome: &str,
    ) -> Result<(), JobError> {
        let mut conn = ctx.store.conn().await?;
        let tx = conn.transaction().await.map_err(StoreError::from)?;
        run.fence(&tx).await?;
        let age = gist_outbox::delivered(&tx, row.id, activity_id).await?;
        tx.commit().await.map_err(StoreError::from)?;
        count(&ctx.gists, outcome);
        if let (Some(age), Some(m)) = (age, &ctx.gists.metrics) {
            m.latency.observe(age);
        }
        Ok(())
    }

    /// A row that could not be posted now: back off (5xx, no reply) or
    /// wait for the reset (429); the job comes back when the row is due.
    async fn later(
        &self,
        ctx: &JobContext,
        row: &OutboxRow,
        err: PipedriveError,
        out: &mut DeliverOutboxOutput,
    ) -> Result<Outcome<DeliverOutboxOutput>, JobError> {
        let settings = &ctx.gists.settings;
        let at: DateTime<Utc> = match err.disposition() {
            Disposition::RescheduleAt(at) => {
                count(&ctx.gists, "rate_limited");
                at
            }
            _ => {
                count(&ctx.gists, "retry");
                let backoff = Backoff::new(
                    std::time::Duration::from_millis(settings.retry_base_ms),
                    std::time::Duration::from_secs(settings.retry_cap_secs),
                );
                let wait = backoff.delay(row.attempts.max(1) as u32);
                Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default()
            }
        };
        gist_outbox::defer(&ctx.store.conn().await?, row.id, at, &err.to_string()).await?;
        tracing::info!(user_id = self.user_id, error = %err, "a Pipedrive post put off");
        let next = gist_outbox::next_due(&ctx.store.conn().await?, self.user_id)
            .await?
            .unwrap_or(at);
        let _ = out;
        Ok(Outcome::RescheduleAt {
            at: next.max(Utc::now()),
            reason: format!("Pipedrive: {err}"),
        })
    }

    /// The deal could not be made: a plan limit parks the user's rows with
    /// the reason; anything passing is tried again later.
    async fn deal_failed(
        &self,
        ctx: &JobContext,
        err: PipedriveError,
        out: &mut DeliverOutboxOutput,
    ) -> Result<Outcome<DeliverOutboxOutput>, JobError> {
        match err.disposition() {
            Disposition::GiveUp => {
                let reason = format!("creating the user's deal: {err}");
                out.parked =
                    gist_outbox::park_owner(&ctx.store.conn().await?, self.user_id, &reason)
                        .await?;
                count(&ctx.gists, "parked");
                Ok(Outcome::Done(out.clone()))
            }
            Disposition::RescheduleAt(at) => Ok(Outcome::RescheduleAt {
                at,
                reason: format!("Pipedrive: {err}"),
            }),
            Disposition::Retry => Err(JobError::Retryable(format!("Pipedrive: {err}"))),
        }
    }
}

/// The user's deal: found by its marker when an earlier POST may have
/// landed, else created (the attempt recorded first).
async fn ensure_deal(
    ctx: &JobContext,
    pd: &PipedriveClient,
    run: &JobRun,
    user_id: i64,
    login: &str,
    attempted: bool,
) -> Result<i64, DealError> {
    let marker = deal_marker(user_id);
    if attempted {
        let mut cursor: Option<String> = None;
        loop {
            let page = pd.deals(cursor.as_deref()).await?;
            if let Some(deal) = page.data.iter().find(|d| d.title.contains(&marker)) {
                return Ok(
                    gist_outbox::set_deal(&ctx.store.conn().await?, user_id, deal.id).await?,
                );
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    {
        let mut conn = ctx.store.conn().await?;
        let tx = conn.transaction().await.map_err(StoreError::from)?;
        run.fence(&tx).await?;
        gist_outbox::mark_deal_attempt(&tx, user_id).await?;
        tx.commit().await.map_err(StoreError::from)?;
    }
    let deal = pd
        .create_deal(&NewDeal {
            title: format!("GitHub gists of {login} {marker}"),
        })
        .await?;
    Ok(gist_outbox::set_deal(&ctx.store.conn().await?, user_id, deal.id).await?)
}

/// Every marker in the deal's activities, with the activity's id.
async fn markers(
    pd: &PipedriveClient,
    deal_id: i64,
) -> Result<HashMap<String, i64>, PipedriveError> {
    let mut found = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = pd.deal_activities(deal_id, cursor.as_deref()).await?;
        for activity in page.data {
            if let Some(note) = &activity.note
                && let Some(at) = note.find("hubpulse:gist:")
            {
                let marker: String = note[at..].chars().take_while(|c| *c != '<').collect();
                found.insert(marker, activity.id);
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(found),
        }
    }
}

/// `ensure_deal`'s errors: Pipedrive's, or the store's (retried as a job error).
enum DealError {
    Pipedrive(PipedriveError),
    Store(StoreError),
}

impl From<PipedriveError> for DealError {
    fn from(err: PipedriveError) -> Self {
        Self::Pipedrive(err)
    }
}

impl From<StoreError> for DealError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}
