//! The developer graph's writes and frontier: developers keyed by GitHub id
//! (a rename keeps the row and adds to its login history), follow edges,
//! stars, weekly star history and each repository's stargazer state. Every
//! batch is one statement over arrays, its rows sorted by id, so racing
//! workers upsert in one lock order instead of duplicating or deadlocking.
//! Repositories and owners go through `repositories::upsert`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use hubpulse_domain::wire::{OwnerKind, OwnerPayload, StarWeekPayload, UserPayload};
use tokio_postgres::GenericClient;

use crate::{Db, StoreError};

fn kind(kind: OwnerKind) -> &'static str {
    match kind {
        OwnerKind::User => "User",
        OwnerKind::Organization => "Organization",
        OwnerKind::Bot => "Bot",
        OwnerKind::Other => "Other",
    }
}

fn fits(login: &str) -> bool {
    (1..=100).contains(&login.chars().count())
}

/// A developer as the jobs need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeveloperRef {
    pub id: i64,
    pub login: String,
    pub state: String,
    pub depth: i32,
    pub profile_etag: Option<String>,
    pub synced_at: Option<DateTime<Utc>>,
}

const REF_COLUMNS: &str = "id, login, state, depth, profile_etag, synced_at";

fn to_ref(row: &tokio_postgres::Row) -> DeveloperRef {
    DeveloperRef {
        id: row.get(0),
        login: row.get(1),
        state: row.get(2),
        depth: row.get(3),
        profile_etag: row.get(4),
        synced_at: row.get(5),
    }
}

pub async fn by_id(db: &impl Db, id: i64) -> Result<Option<DeveloperRef>, StoreError> {
    let row = db
        .client()
        .query_opt(
            &format!("SELECT {REF_COLUMNS} FROM developers WHERE id = $1"),
            &[&id],
        )
        .await?;
    Ok(row.as_ref().map(to_ref))
}

/// The account holding `login` now, else the one that held it last.
pub async fn by_login(db: &impl Db, login: &str) -> Result<Option<DeveloperRef>, StoreError> {
    let row = db
        .client()
        .query_opt(
            &format!(
                "SELECT {REF_COLUMNS} FROM developers WHERE id = COALESCE( \
                   (SELECT id FROM developers WHERE lower(login) = lower($1) AND login_current), \
                   (SELECT developer_id FROM developer_logins WHERE lower(login) = lower($1) \
                    ORDER BY last_seen_at DESC LIMIT 1))"
            ),
            &[&login],
        )
        .await?;
    Ok(row.as_ref().map(to_ref))
}

/// Releases `logins` from any other account that still holds them (a
/// rename we have not seen), then records each (id, login) in the history.
async fn claim_logins(db: &impl Db, ids: &[i64], logins: &[&str]) -> Result<(), StoreError> {
    db.client()
        .execute(
            "UPDATE developers d SET login_current = false \
             FROM unnest($1::bigint[], $2::text[]) AS n(id, login) \
             WHERE d.login_current AND lower(d.login) = lower(n.login) AND d.id <> n.id",
            &[&ids, &logins],
        )
        .await?;
    Ok(())
}

async fn remember_logins(db: &impl Db, ids: &[i64], logins: &[&str]) -> Result<(), StoreError> {
    db.client()
        .execute(
            "INSERT INTO developer_logins (developer_id, login) \
             SELECT * FROM unnest($1::bigint[], $2::text[]) \
             ON CONFLICT (developer_id, lower(login)) DO UPDATE SET last_seen_at = now()",
            &[&ids, &logins],
        )
        .await?;
    Ok(())
}

/// Accounts met in a list (simple users: id, login, type): inserted as
/// "known" at `depth`, or refreshed, keeping the smaller depth. Returns
/// the ids stored, ascending.
pub async fn upsert_known(
    db: &impl Db,
    users: &[&OwnerPayload],
    depth: i32,
) -> Result<Vec<i64>, StoreError> {
    let users: BTreeMap<i64, &OwnerPayload> = users
        .iter()
        .filter(|u| fits(&u.login))
        .map(|u| (u.id, *u))
        .collect();
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = users.keys().copied().collect();
    let logins: Vec<&str> = users.values().map(|u| u.login.as_str()).collect();
    let kinds: Vec<&str> = users.values().map(|u| kind(u.kind)).collect();
    let avatars: Vec<Option<&str>> = users.values().map(|u| u.avatar_url.as_deref()).collect();
    let urls: Vec<Option<&str>> = users.values().map(|u| u.html_url.as_deref()).collect();
    claim_logins(db, &ids, &logins).await?;
    db.client()
        .execute(
            "INSERT INTO developers (id, login, kind, avatar_url, html_url, depth) \
             SELECT i, l, k, a, h, $6 FROM unnest($1::bigint[], $2::text[], $3::text[], \
                 $4::text[], $5::text[]) AS n(i, l, k, a, h) \
             ON CONFLICT (id) DO UPDATE SET login = EXCLUDED.login, login_current = true, \
                 kind = EXCLUDED.kind, avatar_url = EXCLUDED.avatar_url, \
                 html_url = EXCLUDED.html_url, depth = LEAST(developers.depth, EXCLUDED.depth), \
                 last_seen_at = now() \
             WHERE (developers.login, developers.login_current, developers.depth) \
                 IS DISTINCT FROM (EXCLUDED.login, true, LEAST(developers.depth, EXCLUDED.depth))",
            &[&ids, &logins, &kinds, &avatars, &urls, &depth],
        )
        .await?;
    remember_logins(db, &ids, &logins).await?;
    Ok(ids)
}

/// A profile read from `/users/{login}` or `/user/{id}`, with its ETag.
pub async fn upsert_profile(
    db: &impl Db,
    user: &UserPayload,
    etag: Option<&str>,
    depth: i32,
) -> Result<(), StoreError> {
    if !fits(&user.login) {
        return Err(StoreError::Database(format!(
            "the login of account {} is out of bounds",
            user.id
        )));
    }
    let to_i32 = |n: Option<i64>| n.and_then(|n| i32::try_from(n).ok());
    claim_logins(db, &[user.id], &[user.login.as_str()]).await?;
    db.client()
        .execute(
            "INSERT INTO developers (id, login, kind, avatar_url, html_url, name, company, blog, \
                 location, bio, hireable, twitter_username, public_repos, public_gists, followers, \
                 following, created_at, updated_at, depth, profile_etag, state) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
                 $18, $19, $20, 'synced') \
             ON CONFLICT (id) DO UPDATE SET login = EXCLUDED.login, login_current = true, \
                 kind = EXCLUDED.kind, avatar_url = EXCLUDED.avatar_url, html_url = EXCLUDED.html_url, \
                 name = EXCLUDED.name, company = EXCLUDED.company, blog = EXCLUDED.blog, \
                 location = EXCLUDED.location, bio = EXCLUDED.bio, hireable = EXCLUDED.hireable, \
                 twitter_username = EXCLUDED.twitter_username, public_repos = EXCLUDED.public_repos, \
                 public_gists = EXCLUDED.public_gists, followers = EXCLUDED.followers, \
                 following = EXCLUDED.following, created_at = EXCLUDED.created_at, \
                 updated_at = EXCLUDED.updated_at, depth = LEAST(developers.depth, EXCLUDED.depth), \
                 profile_etag = EXCLUDED.profile_etag, state = 'synced', last_seen_at = now()",
            &[
                &user.id,
                &user.login,
                &kind(user.kind),
                &user.avatar_url,
                &user.html_url,
                &user.name,
                &user.company,
                &user.blog,
                &user.location,
                &user.bio,
                &user.hireable,
                &user.twitter_username,
                &to_i32(user.public_repos),
                &to_i32(user.public_gists),
                &to_i32(user.followers),
                &to_i32(user.following),
                &user.created_at,
                &user.updated_at,
                &depth,
                &etag,
            ],
        )
        .await?;
    remember_logins(db, &[user.id], &[user.login.as_str()]).await?;
    Ok(())
}

/// Suspended or deleted: 404 by login and by id. Not synced again.
pub async fn mark_gone(db: &impl Db, id: i64) -> Result<(), StoreError> {
    db.client()
        .execute(
            "UPDATE developers SET state = 'gone', login_current = false, synced_at = now(), \
                 queued_at = NULL WHERE id = $1",
            &[&id],
        )
        .await?;
    Ok(())
}

/// The end of a sync: fresh until the staleness window passes.
pub async fn finish_sync(db: &impl Db, id: i64, truncated: &[&str]) -> Result<(), StoreError> {
    let truncated: Vec<&str> = truncated.to_vec();
    db.client()
        .execute(
            "UPDATE developers SET synced_at = now(), queued_at = NULL, truncated = $2 WHERE id = $1",
            &[&id, &truncated],
        )
        .await?;
    Ok(())
}

/// Which follow list: `Followers` of a developer, or whom it is `Following`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edges {
    Followers,
    Following,
}

/// Adds the edges between `id` and `others` (all stored developers).
pub async fn add_edges(
    db: &impl Db,
    edges: Edges,
    id: i64,
    others: &[i64],
) -> Result<(), StoreError> {
    if others.is_empty() {
        return Ok(());
    }
    let sql = match edges {
        Edges::Followers => {
            "INSERT INTO follows (follower_id, followee_id) SELECT o, $1 FROM unnest($2::bigint[]) AS o \
             ORDER BY o ON CONFLICT DO NOTHING"
        }
        Edges::Following => {
            "INSERT INTO follows (follower_id, followee_id) SELECT $1, o FROM unnest($2::bigint[]) AS o \
             ORDER BY o ON CONFLICT DO NOTHING"
        }
    };
    db.client().execute(sql, &[&id, &others]).await?;
    Ok(())
}

/// After a complete walk of a list: drops the edges it no longer holds.
pub async fn prune_edges(
    db: &impl Db,
    edges: Edges,
    id: i64,
    keep: &[i64],
) -> Result<u64, StoreError> {
    let sql = match edges {
        Edges::Followers => {
            "DELETE FROM follows WHERE followee_id = $1 AND NOT follower_id = ANY($2)"
        }
        Edges::Following => {
            "DELETE FROM follows WHERE follower_id = $1 AND NOT followee_id = ANY($2)"
        }
    };
    Ok(db.client().execute(sql, &[&id, &keep]).await?)
}

/// Stars of developer `id` (repositories stored already), with `starred_at`.
pub async fn add_stars(
    db: &impl Db,
    id: i64,
    stars: &[(i64, Option<DateTime<Utc>>)],
) -> Result<(), StoreError> {
    let stars: BTreeMap<i64, Option<DateTime<Utc>>> = stars.iter().copied().collect();
    if stars.is_empty() {
        return Ok(());
    }
    let repos: Vec<i64> = stars.keys().copied().collect();
    let at: Vec<Option<DateTime<Utc>>> = stars.values().copied().collect();
    db.client()
        .execute(
            "INSERT INTO stars (developer_id, repository_id, starred_at) \
             SELECT $1, r, a FROM unnest($2::bigint[], $3::timestamptz[]) AS n(r, a) \
             ON CONFLICT (developer_id, repository_id) DO UPDATE SET starred_at = EXCLUDED.starred_at \
             WHERE stars.starred_at IS DISTINCT FROM EXCLUDED.starred_at",
            &[&id, &repos, &at],
        )
        .await?;
    Ok(())
}

pub async fn prune_stars(db: &impl Db, id: i64, keep: &[i64]) -> Result<u64, StoreError> {
    Ok(db
        .client()
        .execute(
            "DELETE FROM stars WHERE developer_id = $1 AND NOT repository_id = ANY($2)",
            &[&id, &keep],
        )
        .await?)
}

/// Stargazers of repository `repository_id` (developers stored already).
pub async fn add_stargazers(
    db: &impl Db,
    repository_id: i64,
    stars: &[(i64, Option<DateTime<Utc>>)],
) -> Result<(), StoreError> {
    let stars: BTreeMap<i64, Option<DateTime<Utc>>> = stars.iter().copied().collect();
    if stars.is_empty() {
        return Ok(());
    }
    let devs: Vec<i64> = stars.keys().copied().collect();
    let at: Vec<Option<DateTime<Utc>>> = stars.values().copied().collect();
    db.client()
        .execute(
            "INSERT INTO stars (developer_id, repository_id, starred_at) \
             SELECT d, $1, a FROM unnest($2::bigint[], $3::timestamptz[]) AS n(d, a) \
             ON CONFLICT (developer_id, repository_id) DO UPDATE SET starred_at = EXCLUDED.starred_at \
             WHERE stars.starred_at IS DISTINCT FROM EXCLUDED.starred_at",
            &[&repository_id, &devs, &at],
        )
        .await?;
    Ok(())
}

/// `sync_developer` jobs queued, running or waiting: discovery is not done
/// while any is.
pub async fn live_syncs(db: &impl Db) -> Result<i64, StoreError> {
    Ok(db
        .client()
        .query_one(
            "SELECT count(*) FROM jobs WHERE kind = 'sync_developer' \
               AND status IN ('queued', 'running', 'rescheduled')",
            &[],
        )
        .await?
        .get(0))
}

/// The next `batch` developers to sync, claimed for this transaction: never
/// synced first, then the stalest, none synced inside `window`, none gone,
/// none queued in the last `requeue_after`, none deeper than `max_depth`.
/// Marks them queued; commit with their jobs.
pub async fn claim_frontier(
    db: &impl Db,
    batch: i64,
    window: std::time::Duration,
    requeue_after: std::time::Duration,
    max_depth: Option<i32>,
) -> Result<Vec<DeveloperRef>, StoreError> {
    let window = window.as_secs_f64();
    let requeue = requeue_after.as_secs_f64();
    let rows = db
        .client()
        .query(
            &format!(
                "WITH next AS ( \
                   SELECT id FROM developers \
                   WHERE state <> 'gone' \
                     AND (synced_at IS NULL OR synced_at < now() - make_interval(secs => $2)) \
                     AND (queued_at IS NULL OR queued_at < now() - make_interval(secs => $3)) \
                     AND ($4::int IS NULL OR depth <= $4) \
                   ORDER BY synced_at NULLS FIRST, id LIMIT $1 FOR UPDATE SKIP LOCKED) \
                 UPDATE developers d SET queued_at = now() FROM next WHERE d.id = next.id \
                 RETURNING {}",
                REF_COLUMNS
                    .split(", ")
                    .map(|c| format!("d.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            &[&batch, &window, &requeue, &max_depth],
        )
        .await?;
    let mut refs: Vec<DeveloperRef> = rows.iter().map(to_ref).collect();
    refs.sort_by_key(|r| (r.synced_at, r.id));
    Ok(refs)
}

/// Developers left to sync (the frontier's size), within `max_depth`.
pub async fn frontier_size(
    db: &impl Db,
    window: std::time::Duration,
    max_depth: Option<i32>,
) -> Result<i64, StoreError> {
    let window = window.as_secs_f64();
    Ok(db
        .client()
        .query_one(
            "SELECT count(*) FROM developers WHERE state <> 'gone' \
               AND (synced_at IS NULL OR synced_at < now() - make_interval(secs => $1)) \
               AND ($2::int IS NULL OR depth <= $2)",
            &[&window, &max_depth],
        )
        .await?
        .get(0))
}

/// Writes weeks of a repository's star history (one page of GitHub's).
pub async fn upsert_star_history(
    db: &impl Db,
    repository_id: i64,
    weeks: &[StarWeekPayload],
) -> Result<(), StoreError> {
    let weeks: BTreeMap<i64, &StarWeekPayload> = weeks.iter().map(|w| (w.week, w)).collect();
    let at: Vec<DateTime<Utc>> = weeks
        .keys()
        .map(|&w| DateTime::from_timestamp(w, 0).unwrap_or_default())
        .collect();
    let totals: Vec<i64> = weeks.values().map(|w| w.total).collect();
    let days: Vec<String> = weeks
        .values()
        .map(|w| {
            let d: Vec<String> = w.days.iter().map(i64::to_string).collect();
            format!("{{{}}}", d.join(","))
        })
        .collect();
    db.client()
        .execute(
            "INSERT INTO star_history (repository_id, week, total, days) \
             SELECT $1, w, t, d::bigint[] FROM unnest($2::timestamptz[], $3::bigint[], $4::text[]) AS n(w, t, d) \
             ON CONFLICT (repository_id, week) DO UPDATE SET total = EXCLUDED.total, days = EXCLUDED.days",
            &[&repository_id, &at, &totals, &days],
        )
        .await?;
    Ok(())
}

/// A repository's stargazer state: `unknown`, `listed` or `restricted`.
pub async fn stargazer_state(db: &impl Db, repository_id: i64) -> Result<String, StoreError> {
    Ok(db
        .client()
        .query_opt(
            "SELECT stargazers FROM repository_graph WHERE repository_id = $1",
            &[&repository_id],
        )
        .await?
        .map_or_else(|| "unknown".to_owned(), |r| r.get(0)))
}

/// Records what sync_repository learnt: the stargazer state (and the
/// status of a refusal) and any former full name.
pub async fn record_repository(
    db: &impl Db,
    repository_id: i64,
    stargazers: &str,
    refused_status: Option<i32>,
    former_name: Option<&str>,
) -> Result<(), StoreError> {
    db.client()
        .execute(
            "INSERT INTO repository_graph (repository_id, stargazers, refused_status, former_names, synced_at) \
             VALUES ($1, $2, $3, CASE WHEN $4::text IS NULL THEN '{}'::text[] ELSE ARRAY[$4::text] END, now()) \
             ON CONFLICT (repository_id) DO UPDATE SET stargazers = EXCLUDED.stargazers, \
                 refused_status = CASE WHEN EXCLUDED.stargazers = 'restricted' \
                     THEN COALESCE(EXCLUDED.refused_status, repository_graph.refused_status) END, \
                 synced_at = now(), \
                 former_names = CASE WHEN $4::text IS NULL OR $4::text = ANY(repository_graph.former_names) \
                     THEN repository_graph.former_names \
                     ELSE repository_graph.former_names || $4::text END",
            &[&repository_id, &stargazers, &refused_status, &former_name],
        )
        .await?;
    Ok(())
}
