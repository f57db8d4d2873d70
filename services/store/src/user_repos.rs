//! Which signed-in user may see which private repository, and the export of
//! a login's repositories. The repositories themselves are the shared rows
//! (`repositories::upsert`); this module keeps their visibility as their
//! owner's `/user/repos` listed it, and who listed them.
//!
//! The export is read in pages by repository id (keyset), so a caller can
//! stream 100,000 rows while holding one page.

use chrono::{DateTime, Utc};
use hubpulse_domain::wire::RepoPayload;
use tokio_postgres::GenericClient;

use crate::{Db, StoreError, Transaction};

/// Records that `user_id`'s `/user/repos` lists `repos`, with the
/// visibility each one was listed with. Call after `repositories::upsert`
/// in the same transaction.
pub async fn record_listed(
    tx: &Transaction<'_>,
    user_id: i64,
    repos: &[RepoPayload],
) -> Result<(), StoreError> {
    if repos.is_empty() {
        return Ok(());
    }
    let mut sorted: Vec<&RepoPayload> = repos.iter().collect();
    sorted.sort_by_key(|r| r.id);
    sorted.dedup_by_key(|r| r.id);
    let ids: Vec<i64> = sorted.iter().map(|r| r.id).collect();
    let private: Vec<bool> = sorted.iter().map(|r| r.private).collect();
    let visibility: Vec<Option<&str>> = sorted.iter().map(|r| r.visibility.as_deref()).collect();
    tx.execute(
        "INSERT INTO repository_visibility (repository_id, private, visibility) \
         SELECT t.id, t.private, t.visibility \
         FROM unnest($1::bigint[], $2::bool[], $3::text[]) AS t(id, private, visibility) \
         WHERE EXISTS (SELECT 1 FROM repositories r WHERE r.id = t.id) \
         ON CONFLICT (repository_id) DO UPDATE SET private = EXCLUDED.private, \
             visibility = EXCLUDED.visibility, updated_at = now()",
        &[&ids, &private, &visibility],
    )
    .await?;
    tx.execute(
        "INSERT INTO user_repositories (user_id, repository_id) \
         SELECT $1, id FROM unnest($2::bigint[]) AS t(id) \
         WHERE EXISTS (SELECT 1 FROM repositories r WHERE r.id = t.id) \
         ON CONFLICT (user_id, repository_id) DO UPDATE SET seen_at = now()",
        &[&user_id, &ids],
    )
    .await?;
    Ok(())
}

/// After a whole walk: what the user's list no longer holds, they may no
/// longer see.
pub async fn forget_unlisted(
    db: &impl Db,
    user_id: i64,
    listed: &[i64],
) -> Result<u64, StoreError> {
    Ok(db
        .client()
        .execute(
            "DELETE FROM user_repositories WHERE user_id = $1 AND NOT (repository_id = ANY($2))",
            &[&user_id, &listed],
        )
        .await?)
}

/// One exported repository; columns in the CSV's order.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportRow {
    pub id: i64,
    pub full_name: String,
    pub owner: String,
    pub name: String,
    pub private: bool,
    pub visibility: String,
    pub description: Option<String>,
    pub language: Option<String>,
    pub stargazers_count: i64,
    pub forks_count: i64,
    pub open_issues_count: i64,
    pub fork: bool,
    pub archived: bool,
    pub default_branch: Option<String>,
    pub license: Option<String>,
    pub homepage: Option<String>,
    pub html_url: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub pushed_at: Option<DateTime<Utc>>,
}

/// Which rows an export holds: the repositories `login` owns or whose
/// `/user/repos` listed them; private ones only where `viewer` (a signed-in
/// user's id) may see them.
const SCOPE: &str = "FROM repositories r JOIN owners o ON o.id = r.owner_id \
     LEFT JOIN repository_visibility v ON v.repository_id = r.id \
     WHERE (lower(o.login) = lower($1) OR r.id IN ( \
         SELECT ur.repository_id FROM user_repositories ur \
         JOIN github_users u ON u.id = ur.user_id WHERE lower(u.login) = lower($1))) \
       AND (NOT coalesce(v.private, false) OR EXISTS ( \
         SELECT 1 FROM user_repositories a WHERE a.repository_id = r.id AND a.user_id = $2))";

/// How many rows the export holds and when the newest changed: its
/// validator, without reading the rows.
pub async fn export_version(
    db: &impl Db,
    login: &str,
    viewer: Option<i64>,
) -> Result<(i64, Option<DateTime<Utc>>, i64), StoreError> {
    let sql = format!(
        "SELECT count(*), max(greatest(r.last_seen_at, coalesce(v.updated_at, r.last_seen_at))), \
             coalesce(sum(CASE WHEN coalesce(v.private, false) THEN 1 ELSE 0 END), 0)::bigint {SCOPE}"
    );
    let row = db.client().query_one(&sql, &[&login, &viewer]).await?;
    Ok((row.get(0), row.get(1), row.get(2)))
}

/// Up to `limit` rows with ids above `after`, by id.
pub async fn export_page(
    db: &impl Db,
    login: &str,
    viewer: Option<i64>,
    after: i64,
    limit: i64,
) -> Result<Vec<ExportRow>, StoreError> {
    let sql = format!(
        "SELECT r.id, o.login, r.name, coalesce(v.private, false), \
             coalesce(v.visibility, CASE WHEN coalesce(v.private, false) THEN 'private' ELSE 'public' END), \
             r.description, r.language, r.stargazers_count, r.forks_count, r.open_issues_count, \
             r.fork, r.archived, r.default_branch, r.license_key, r.homepage, r.html_url, \
             r.created_at, r.updated_at, r.pushed_at \
         {SCOPE} AND r.id > $3 ORDER BY r.id LIMIT $4"
    );
    let rows = db
        .client()
        .query(&sql, &[&login, &viewer, &after, &limit])
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let owner: String = r.get(1);
            let name: String = r.get(2);
            ExportRow {
                id: r.get(0),
                full_name: format!("{owner}/{name}"),
                owner,
                name,
                private: r.get(3),
                visibility: r.get(4),
                description: r.get(5),
                language: r.get(6),
                stargazers_count: r.get(7),
                forks_count: r.get(8),
                open_issues_count: r.get(9),
                fork: r.get(10),
                archived: r.get(11),
                default_branch: r.get(12),
                license: r.get(13),
                homepage: r.get(14),
                html_url: r.get(15),
                created_at: r.get(16),
                updated_at: r.get(17),
                pushed_at: r.get(18),
            }
        })
        .collect())
}
