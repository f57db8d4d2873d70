//! Owners, repositories and their licenses: the rows every crawler writes,
//! whichever GitHub list the repositories came from. Each upsert is one
//! multi-row statement (never a round trip per row), its rows deduplicated
//! and sorted by key: a row twice in one upsert is an error, and one lock
//! order across concurrent crawls avoids deadlocks.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use hubpulse_domain::wire::{LicensePayload, OwnerKind, OwnerPayload, RepoPayload};
use tokio_postgres::GenericClient;

use crate::{Db, StoreError};

/// The schema's limits on names; a row outside them would fail the whole
/// statement, so [`upsert`] leaves it out (and logs it) instead.
pub fn storable(repo: &RepoPayload) -> bool {
    let fits = |s: &str| (1..=100).contains(&s.chars().count());
    fits(&repo.name) && fits(&repo.owner.login)
}

/// Stores a batch of repositories with their owners and licenses, in the
/// order the foreign keys need. Repositories that are not [`storable`] are
/// skipped. Returns the ids stored, ascending.
///
/// Three statements: pass a transaction when they must land together with
/// the caller's other writes.
pub async fn upsert(db: &impl Db, repos: &[RepoPayload]) -> Result<Vec<i64>, StoreError> {
    let kept = storable_by_id(repos);
    upsert_references(db, &kept).await?;
    upsert_repositories(db, &kept).await?;
    Ok(kept.iter().map(|r| r.id).collect())
}

/// The [`storable`] repositories of a batch, one per id, ascending; the
/// others are logged and left out.
pub fn storable_by_id(repos: &[RepoPayload]) -> Vec<&RepoPayload> {
    let mut kept: BTreeMap<i64, &RepoPayload> = BTreeMap::new();
    for repo in repos {
        if storable(repo) {
            kept.insert(repo.id, repo);
        } else {
            tracing::warn!(
                repository_id = repo.id,
                "skipping a repository whose name or owner login is out of bounds"
            );
        }
    }
    kept.into_values().collect()
}

/// The licenses and owners of a batch of repositories, which
/// [`upsert_repositories`] needs stored first. Two statements; a writer that
/// runs pages side by side commits these on their own, so the rows every
/// page shares are locked for a statement, not for a page's transaction.
pub async fn upsert_references(db: &impl Db, repos: &[&RepoPayload]) -> Result<(), StoreError> {
    let licenses: Vec<&LicensePayload> = repos.iter().filter_map(|r| r.license.as_ref()).collect();
    let owners: Vec<&OwnerPayload> = repos.iter().map(|r| &r.owner).collect();
    upsert_licenses(db, &licenses).await?;
    upsert_owners(db, &owners).await
}

/// Inserts or refreshes licenses by key; a row whose name and SPDX id are
/// unchanged is not rewritten.
pub async fn upsert_licenses(db: &impl Db, licenses: &[&LicensePayload]) -> Result<(), StoreError> {
    let licenses: BTreeMap<&str, &LicensePayload> =
        licenses.iter().map(|l| (l.key.as_str(), *l)).collect();
    if licenses.is_empty() {
        return Ok(());
    }
    let keys: Vec<&str> = licenses.keys().copied().collect();
    let names: Vec<&str> = licenses.values().map(|l| l.name.as_str()).collect();
    let spdx: Vec<Option<&str>> = licenses.values().map(|l| l.spdx_id.as_deref()).collect();
    db.client()
        .execute(
            "INSERT INTO licenses (key, name, spdx_id) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) \
             ON CONFLICT (key) DO UPDATE SET name = EXCLUDED.name, spdx_id = EXCLUDED.spdx_id \
             WHERE (licenses.name, licenses.spdx_id) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.spdx_id)",
            &[&keys, &names, &spdx],
        )
        .await?;
    Ok(())
}

fn owner_kind(kind: OwnerKind) -> &'static str {
    match kind {
        OwnerKind::User => "User",
        OwnerKind::Organization => "Organization",
        OwnerKind::Bot => "Bot",
        OwnerKind::Other => "Other",
    }
}

/// Inserts or refreshes owners (users and organisations) by id, marking
/// them seen now. Logins must fit the schema (1 to 100 characters).
pub async fn upsert_owners(db: &impl Db, owners: &[&OwnerPayload]) -> Result<(), StoreError> {
    let owners: BTreeMap<i64, &OwnerPayload> = owners.iter().map(|o| (o.id, *o)).collect();
    if owners.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = owners.keys().copied().collect();
    let logins: Vec<&str> = owners.values().map(|o| o.login.as_str()).collect();
    let kinds: Vec<&str> = owners.values().map(|o| owner_kind(o.kind)).collect();
    let avatars: Vec<Option<&str>> = owners.values().map(|o| o.avatar_url.as_deref()).collect();
    let urls: Vec<Option<&str>> = owners.values().map(|o| o.html_url.as_deref()).collect();
    db.client()
        .execute(
            "INSERT INTO owners (id, login, kind, avatar_url, html_url) \
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[]) \
             ON CONFLICT (id) DO UPDATE SET login = EXCLUDED.login, kind = EXCLUDED.kind, \
                 avatar_url = EXCLUDED.avatar_url, html_url = EXCLUDED.html_url, last_seen_at = now()",
            &[&ids, &logins, &kinds, &avatars, &urls],
        )
        .await?;
    Ok(())
}

/// Columns of the repositories upsert, one array each.
#[derive(Default)]
struct RepoColumns<'a> {
    id: Vec<i64>,
    owner_id: Vec<i64>,
    name: Vec<&'a str>,
    html_url: Vec<&'a str>,
    description: Vec<Option<&'a str>>,
    homepage: Vec<Option<&'a str>>,
    language: Vec<Option<&'a str>>,
    license_key: Vec<Option<&'a str>>,
    stars: Vec<i64>,
    forks: Vec<i64>,
    open_issues: Vec<i64>,
    watchers: Vec<i64>,
    size: Vec<i64>,
    default_branch: Vec<Option<&'a str>>,
    fork: Vec<bool>,
    archived: Vec<bool>,
    created_at: Vec<DateTime<Utc>>,
    updated_at: Vec<DateTime<Utc>>,
    pushed_at: Vec<Option<DateTime<Utc>>>,
}

/// Inserts or refreshes repositories by id, marking them seen now. Their
/// owners and licenses must be stored already (see [`upsert`]), and their
/// names must be [`storable`].
pub async fn upsert_repositories(db: &impl Db, repos: &[&RepoPayload]) -> Result<(), StoreError> {
    let repos: BTreeMap<i64, &RepoPayload> = repos.iter().map(|r| (r.id, *r)).collect();
    if repos.is_empty() {
        return Ok(());
    }
    let mut cols = RepoColumns::default();
    for repo in repos.values() {
        cols.id.push(repo.id);
        cols.owner_id.push(repo.owner.id);
        cols.name.push(&repo.name);
        cols.html_url.push(&repo.html_url);
        cols.description.push(repo.description.as_deref());
        cols.homepage.push(repo.homepage.as_deref());
        cols.language.push(repo.language.as_deref());
        cols.license_key
            .push(repo.license.as_ref().map(|l| l.key.as_str()));
        cols.stars.push(repo.stargazers_count);
        cols.forks.push(repo.forks_count);
        cols.open_issues.push(repo.open_issues_count);
        cols.watchers.push(repo.watchers_count);
        cols.size.push(repo.size);
        cols.default_branch.push(repo.default_branch.as_deref());
        cols.fork.push(repo.fork);
        cols.archived.push(repo.archived);
        cols.created_at.push(repo.created_at);
        cols.updated_at.push(repo.updated_at);
        cols.pushed_at.push(repo.pushed_at);
    }
    db.client()
        .execute(
            "INSERT INTO repositories (id, owner_id, name, html_url, description, homepage, language, \
                 license_key, stargazers_count, forks_count, open_issues_count, watchers_count, size, \
                 default_branch, fork, archived, created_at, updated_at, pushed_at) \
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], \
                 $6::text[], $7::text[], $8::text[], $9::bigint[], $10::bigint[], $11::bigint[], \
                 $12::bigint[], $13::bigint[], $14::text[], $15::bool[], $16::bool[], \
                 $17::timestamptz[], $18::timestamptz[], $19::timestamptz[]) \
             ON CONFLICT (id) DO UPDATE SET owner_id = EXCLUDED.owner_id, name = EXCLUDED.name, \
                 html_url = EXCLUDED.html_url, description = EXCLUDED.description, \
                 homepage = EXCLUDED.homepage, language = EXCLUDED.language, \
                 license_key = EXCLUDED.license_key, stargazers_count = EXCLUDED.stargazers_count, \
                 forks_count = EXCLUDED.forks_count, open_issues_count = EXCLUDED.open_issues_count, \
                 watchers_count = EXCLUDED.watchers_count, size = EXCLUDED.size, \
                 default_branch = EXCLUDED.default_branch, fork = EXCLUDED.fork, \
                 archived = EXCLUDED.archived, created_at = EXCLUDED.created_at, \
                 updated_at = EXCLUDED.updated_at, pushed_at = EXCLUDED.pushed_at, \
                 last_seen_at = now()",
            &[
                &cols.id,
                &cols.owner_id,
                &cols.name,
                &cols.html_url,
                &cols.description,
                &cols.homepage,
                &cols.language,
                &cols.license_key,
                &cols.stars,
                &cols.forks,
                &cols.open_issues,
                &cols.watchers,
                &cols.size,
                &cols.default_branch,
                &cols.fork,
                &cols.archived,
                &cols.created_at,
                &cols.updated_at,
                &cols.pushed_at,
            ],
        )
        .await?;
    Ok(())
}
