//! The synthetic graph's rows in COPY's text format, one function per
//! table, each row a pure function of (seed, row number). No value holds a
//! tab, newline or backslash, so nothing needs escaping; `\N` is NULL.

use std::io::Write as _;

use chrono::{DateTime, TimeDelta, Utc};

use crate::graphgen::{Graph, ID_BASE, SALT_FIELDS, created, epoch, hash, pareto, ts, unit, zipf};

const FIRST: &[&str] = &[
    "ana", "ben", "chen", "dara", "eli", "fatima", "gus", "hana", "ivan", "jo", "kai", "lena",
    "mo", "nia", "omar", "pia", "quinn", "ravi", "sara", "tomas", "uma", "vik", "wen", "xia",
    "yusuf", "zoe",
];
const LAST: &[&str] = &[
    "Okafor", "Schmidt", "Tanaka", "Garcia", "Nguyen", "Kowalski", "Silva", "Haddad", "Larsen",
    "Ivanova", "Mensah", "Rossi", "Kim", "Dubois", "Patel", "Cohen",
];
/// Most common first, as GitHub's profiles are.
const CITIES: &[&str] = &[
    "San Francisco",
    "Berlin",
    "London",
    "Bangalore",
    "Beijing",
    "New York",
    "Paris",
    "Sao Paulo",
    "Tokyo",
    "Toronto",
    "Seattle",
    "Amsterdam",
    "Moscow",
    "Shanghai",
    "Sydney",
    "Stockholm",
    "Lagos",
    "Warsaw",
    "Madrid",
    "Zurich",
    "Seoul",
    "Buenos Aires",
    "Nairobi",
    "Cape Town",
    "Mexico City",
    "Dublin",
    "Vienna",
    "Helsinki",
    "Istanbul",
    "Jakarta",
    "Remote",
    "Earth",
];
const WORDS: &[&str] = &[
    "swift", "tiny", "open", "rapid", "quiet", "bright", "deep", "lazy", "async", "smart",
];
const NOUNS: &[&str] = &[
    "parser",
    "cache",
    "router",
    "engine",
    "kit",
    "cli",
    "server",
    "bot",
    "dashboard",
    "sdk",
    "compiler",
    "notes",
    "config",
    "scraper",
    "game",
    "api",
];
/// Languages by share of repositories, in per mille; the rest have none.
/// JavaScript's 31% gives a language filter 10,000 pages of 30 at a million.
pub const LANGUAGES: &[(&str, u32)] = &[
    ("JavaScript", 310),
    ("Python", 140),
    ("TypeScript", 80),
    ("Java", 60),
    ("Go", 40),
    ("C++", 30),
    ("Rust", 20),
    ("Ruby", 20),
    ("PHP", 20),
    ("C", 20),
    ("C#", 20),
    ("Shell", 20),
    ("HTML", 15),
    ("Kotlin", 10),
    ("Swift", 10),
    ("R", 5),
    ("Scala", 5),
    ("Lua", 4),
    ("Haskell", 3),
    ("Elixir", 3),
];

fn pick<'a>(list: &[&'a str], h: u64) -> &'a str {
    list[(h % list.len() as u64) as usize]
}

fn b36(mut n: u64) -> String {
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(digits[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).expect("ascii")
}

/// A field of row `n`: its own salt, so fields are independent.
struct Row {
    seed: u64,
    n: u64,
}

impl Row {
    fn u(&self, field: u64) -> f64 {
        unit(self.seed, SALT_FIELDS + field, self.n)
    }
    fn h(&self, field: u64) -> u64 {
        hash(self.seed, SALT_FIELDS + field, self.n)
    }
}

fn opt(out: &mut Vec<u8>, value: Option<impl std::fmt::Display>) {
    match value {
        Some(v) => {
            let _ = write!(out, "{v}");
        }
        None => out.extend_from_slice(b"\\N"),
    }
}

/// One column of a row: appends its value.
type Field<'a> = &'a dyn Fn(&mut Vec<u8>);

/// Appends `fields` tab-separated and a newline.
fn line(out: &mut Vec<u8>, fields: &[Field<'_>]) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        f(out);
    }
    out.push(b'\n');
}

pub fn developer_id(n: u64) -> i64 {
    ID_BASE + n as i64 + 1
}

pub fn repository_id(k: u64) -> i64 {
    ID_BASE + k as i64 + 1
}

/// `User`, now and then an `Organization` or a `Bot`.
pub fn kind(seed: u64, n: u64) -> &'static str {
    match (Row { seed, n }).u(1) {
        u if u < 0.005 => "Bot",
        u if u < 0.03 => "Organization",
        _ => "User",
    }
}

/// Unique: the row number in base 36 ends every login.
pub fn login(seed: u64, n: u64) -> String {
    let r = Row { seed, n };
    match kind(seed, n) {
        "Bot" => format!("{}-bot-{}[bot]", pick(NOUNS, r.h(2)), b36(n)),
        "Organization" => format!("{}-{}-{}", pick(WORDS, r.h(2)), pick(NOUNS, r.h(3)), b36(n)),
        _ => format!("{}-{}", pick(FIRST, r.h(2)), b36(n)),
    }
}

/// `synced` (a profile read), a tenth `known` (only met in a list), a few `gone`.
pub fn state(seed: u64, n: u64) -> &'static str {
    match (Row { seed, n }).u(4) {
        u if u < 0.001 => "gone",
        u if u < 0.101 => "known",
        _ => "synced",
    }
}

pub const DEVELOPER_COLUMNS: &str = "id, login, login_current, kind, avatar_url, html_url, name, \
     company, blog, location, bio, hireable, twitter_username, public_repos, public_gists, \
     followers, following, created_at, updated_at, state, depth, profile_etag, synced_at, \
     queued_at, truncated, first_seen_at, last_seen_at";

pub fn developer(out: &mut Vec<u8>, g: &Graph, n: u64, now: DateTime<Utc>) {
    let seed = g.shape.seed;
    let r = Row { seed, n };
    let id = developer_id(n);
    let login = login(seed, n);
    let st = state(seed, n);
    let profile = st == "synced";
    let p = |share: f64, field: u64| profile && r.u(field) < share;
    let name = p(0.7, 10).then(|| {
        let first = pick(FIRST, r.h(11));
        let mut first = first.to_owned();
        first[..1].make_ascii_uppercase();
        format!("{first} {}", pick(LAST, r.h(12)))
    });
    let company = p(0.3, 13).then(|| format!("{} {}", pick(WORDS, r.h(14)), pick(NOUNS, r.h(15))));
    let blog = p(0.2, 16).then(|| format!("https://{}.dev", login.trim_end_matches("[bot]")));
    let location = p(0.55, 17).then(|| CITIES[zipf(r.u(18), CITIES.len() as u64) as usize]);
    let bio = p(0.35, 19).then(|| {
        format!(
            "Building {} {}s. Likes {}.",
            pick(WORDS, r.h(20)),
            pick(NOUNS, r.h(21)),
            pick(NOUNS, r.h(22))
        )
    });
    let hireable = p(0.4, 23).then(|| r.u(24) < 0.5);
    let twitter = p(0.15, 25).then(|| format!("{}_{}", pick(FIRST, r.h(26)), b36(n)));
    let count = |v: u32| profile.then_some(v);
    let created_at = created(n, g.shape.developers, r.u(27));
    let (_, epoch_now) = epoch();
    let updated_at = created_at + (epoch_now - created_at) * ((r.u(28) * 1000.0) as i32) / 1000;
    let synced_at = now - TimeDelta::seconds((r.u(29) * 72_000.0) as i64);
    let first_seen = synced_at - TimeDelta::days((r.u(30) * 60.0) as i64);
    let avatar = format!("https://avatars.githubusercontent.com/u/{id}?v=4");
    let html = format!("https://github.com/{login}");
    let ts_opt = |t: DateTime<Utc>| profile.then(|| ts(t));
    line(
        out,
        &[
            &|o| opt(o, Some(id)),
            &|o| o.extend_from_slice(login.as_bytes()),
            &|o| o.push(b't'),
            &|o| o.extend_from_slice(kind(seed, n).as_bytes()),
            &|o| o.extend_from_slice(avatar.as_bytes()),
            &|o| o.extend_from_slice(html.as_bytes()),
            &|o| opt(o, name.as_ref()),
            &|o| opt(o, company.as_ref()),
            &|o| opt(o, blog.as_ref()),
            &|o| opt(o, location),
            &|o| opt(o, bio.as_ref()),
            &|o| opt(o, hireable.map(|h| if h { 't' } else { 'f' })),
            &|o| opt(o, twitter.as_ref()),
            &|o| opt(o, count(g.owned[n as usize])),
            &|o| opt(o, count(pareto(r.u(31), 1.0, 1.2, 500) as u32)),
            &|o| opt(o, count(g.followers[n as usize])),
            &|o| opt(o, count(g.following(n).len() as u32)),
            &|o| opt(o, ts_opt(created_at)),
            &|o| opt(o, ts_opt(updated_at)),
            &|o| o.extend_from_slice(st.as_bytes()),
            &|o| opt(o, Some(zipf(r.u(32), 9))),
            &|o| opt(o, profile.then(|| format!("W/\"{:016x}\"", r.h(33)))),
            &|o| opt(o, (st != "known").then(|| ts(synced_at))),
            &|o| o.extend_from_slice(b"\\N"),
            &|o| o.extend_from_slice(b"{}"),
            &|o| o.extend_from_slice(ts(first_seen).as_bytes()),
            &|o| o.extend_from_slice(ts(synced_at).as_bytes()),
        ],
    );
}

pub const LOGIN_COLUMNS: &str = "developer_id, login";

/// The current login, and for one developer in a hundred the login it had
/// before a rename.
pub fn logins(out: &mut Vec<u8>, seed: u64, n: u64) {
    let id = developer_id(n);
    let login = login(seed, n);
    let _ = writeln!(out, "{id}\t{login}");
    if (Row { seed, n }).u(40) < 0.01 {
        let _ = writeln!(out, "{id}\t{}-old", login.trim_end_matches("[bot]"));
    }
}

pub const OWNER_COLUMNS: &str = "id, login, kind, avatar_url, html_url";

/// Every developer owning a repository is an owner too (same id and login).
pub fn owner(out: &mut Vec<u8>, seed: u64, n: u64) {
    let id = developer_id(n);
    let login = login(seed, n);
    let _ = writeln!(
        out,
        "{id}\t{login}\t{}\thttps://avatars.githubusercontent.com/u/{id}?v=4\thttps://github.com/{login}",
        kind(seed, n)
    );
}

pub const REPOSITORY_COLUMNS: &str = "id, owner_id, name, html_url, description, homepage, \
     language, stargazers_count, forks_count, open_issues_count, watchers_count, size, \
     default_branch, fork, archived, created_at, updated_at, pushed_at";

pub fn language(u: f64) -> Option<&'static str> {
    let mut at = (u * 1000.0) as u32;
    for (name, share) in LANGUAGES {
        if at < *share {
            return Some(name);
        }
        at -= share;
    }
    None
}

/// Repository `k` of the owner in row `owner`.
pub fn repository(out: &mut Vec<u8>, g: &Graph, k: u64, owner: u64) {
    let seed = g.shape.seed;
    // Fields of repositories use salts of their own (300 and up).
    let r = Row { seed, n: k };
    let ru = |f: u64| r.u(300 + f);
    let rh = |f: u64| r.h(300 + f);
    let owner_login = login(seed, owner);
    let name = format!("{}-{}-{}", pick(WORDS, rh(1)), pick(NOUNS, rh(2)), b36(k));
    let description = (ru(3) < 0.65).then(|| {
        format!(
            "A {} {} for {}",
            pick(WORDS, rh(4)),
            pick(NOUNS, rh(5)),
            pick(NOUNS, rh(6))
        )
    });
    let homepage = (ru(7) < 0.1).then(|| format!("https://{name}.example.org"));
    let stars = pareto(ru(8), 1.0, 0.9, 500_000);
    let forks = (stars as f64 * ru(9) * 0.3) as u64;
    let issues = pareto(ru(10), 1.0, 1.3, 5_000);
    let size = pareto(ru(11), 500.0, 1.2, 5_000_000);
    let created_at = created(k, g.shape.repositories, ru(12));
    let (_, now) = epoch();
    let pushed_at = (ru(13) > 0.08)
        .then(|| created_at + (now - created_at) * ((ru(14) * 1000.0) as i32) / 1000);
    let updated_at = pushed_at.unwrap_or(created_at) + TimeDelta::hours((ru(15) * 48.0) as i64);
    let _ = write!(
        out,
        "{}\t{}\t{name}\thttps://github.com/{owner_login}/{name}\t",
        repository_id(k),
        developer_id(owner)
    );
    opt(out, description.as_ref());
    out.push(b'\t');
    opt(out, homepage.as_ref());
    out.push(b'\t');
    opt(out, language(ru(16)));
    let _ = write!(
        out,
        "\t{stars}\t{forks}\t{issues}\t{stars}\t{size}\tmain\t{}\t{}\t{}\t{}\t",
        if ru(17) < 0.15 { 't' } else { 'f' },
        if ru(18) < 0.05 { 't' } else { 'f' },
        ts(created_at),
        ts(updated_at)
    );
    opt(out, pushed_at.map(ts));
    out.push(b'\n');
}

pub const REPOSITORY_GRAPH_COLUMNS: &str = "repository_id, stargazers, refused_status, synced_at";

/// What sync_repository learnt: a twelfth of the repositories synced, most
/// of those with their stargazer list refused (GitHub since July 2026).
pub fn repository_graph(out: &mut Vec<u8>, seed: u64, k: u64, now: DateTime<Utc>) {
    let u = (Row { seed, n: k }).u(320);
    if u < 0.08 {
        let _ = writeln!(out, "{}\trestricted\t403\t{}", repository_id(k), ts(now));
    } else if u < 0.12 {
        let _ = writeln!(out, "{}\tlisted\t\\N\t{}", repository_id(k), ts(now));
    }
}

pub const FOLLOW_COLUMNS: &str = "follower_id, followee_id";

/// Row `f`'s follow edges, ascending by followee (the primary key's order).
pub fn follows(out: &mut Vec<u8>, g: &Graph, f: u64) {
    let follower = developer_id(f);
    for &to in g.following(f) {
        let _ = writeln!(out, "{follower}\t{}", developer_id(to as u64));
    }
}
