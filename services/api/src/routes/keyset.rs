//! What the developer graph's lists share: the `{count, next, previous,
//! results}` envelope, opaque keyset cursors, and strict parsing of the
//! numbers and flags in a query (a bad one is a 400, never a default).

use axum::http::Uri;
use hubpulse_store::graph_lists::{Count, KeyPage, Keyset};
use serde::Serialize;

use crate::error::ApiError;

pub const DEFAULT_PER_PAGE: i64 = 30;
pub const MAX_PER_PAGE: i64 = 100;
/// `count` is exact up to this many rows, an estimate above.
pub const COUNT_BOUND: i64 = 10_000;

/// A page of a list.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Envelope<T> {
    /// Rows matching the filters: exact up to 10,000, else an estimate.
    pub count: i64,
    /// True when `count` is the planner's estimate.
    pub count_estimated: bool,
    /// The next page's URL, `null` on the last page.
    #[schema(required = true)]
    pub next: Option<String>,
    /// The previous page's URL, `null` on the first page.
    #[schema(required = true)]
    pub previous: Option<String>,
    pub results: Vec<T>,
}

/// A cursor as the client sees it: opaque hex of `a|b:id:key`.
pub fn encode(cursor: &Keyset) -> String {
    cursor.cursor()
}

/// Every string of the documented pattern decodes; others are a 400.
pub fn decode(raw: &str) -> Result<Keyset, ApiError> {
    let bad = || ApiError::BadRequest("cursor is not one this API gave out".into());
    let bytes = hex::decode(raw).map_err(|_| bad())?;
    let text = String::from_utf8_lossy(&bytes);
    let mut parts = text.splitn(3, ':');
    let before = match parts.next() {
        Some("a") => false,
        Some("b") => true,
        _ => return Err(bad()),
    };
    let id = parts
        .next()
        .filter(|s| (1..=18).contains(&s.len()))
        .and_then(|s| s.parse().ok())
        .ok_or_else(bad)?;
    let key = parts.next().ok_or_else(bad)?.to_owned();
    if key.len() > 400 {
        return Err(bad());
    }
    Ok(Keyset { key, id, before })
}

/// Whether a cursor's sort value is of the order's type. One that is not
/// (a cursor of another sort, or made up) points nowhere: its page is
/// empty rather than an error, since its shape was right.
pub fn fits(cast: &str, key: &str) -> bool {
    match cast {
        "int" => key.parse::<i32>().is_ok(),
        "bigint" => key.parse::<i64>().is_ok(),
        "timestamptz" => {
            key == "-infinity"
                || chrono::DateTime::parse_from_str(key, "%Y-%m-%d %H:%M:%S%.f%#z").is_ok()
        }
        _ => !key.contains('\0'),
    }
}

/// The page of a cursor that points nowhere.
pub fn nowhere<T>() -> Envelope<T> {
    Envelope {
        count: 0,
        count_estimated: false,
        next: None,
        previous: None,
        results: Vec::new(),
    }
}

/// `per_page`: 1 to 100, 30 when absent.
pub fn per_page(raw: Option<&str>) -> Result<i64, ApiError> {
    number("per_page", raw, 1, MAX_PER_PAGE).map(|n| n.unwrap_or(DEFAULT_PER_PAGE))
}

pub fn number(key: &str, raw: Option<&str>, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
    raw.map(|raw| {
        raw.parse::<i64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| {
                ApiError::BadRequest(format!("{key} must be a whole number from {min} to {max}"))
            })
    })
    .transpose()
}

pub fn flag(key: &str, raw: Option<&str>) -> Result<Option<bool>, ApiError> {
    raw.map(|raw| match raw {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ApiError::BadRequest(format!("{key} must be true or false"))),
    })
    .transpose()
}

/// Free text for a "contains" filter: 1 to 100 characters. NUL, which
/// no stored text holds, is dropped.
pub fn text(key: &str, raw: Option<&str>) -> Result<Option<String>, ApiError> {
    raw.map(|raw| {
        (1..=100)
            .contains(&raw.chars().count())
            .then(|| raw.replace('\0', ""))
            .ok_or_else(|| ApiError::BadRequest(format!("{key} must be 1 to 100 characters")))
    })
    .transpose()
}

/// This request's URL with `cursor` set to `value`.
fn with_cursor(uri: &Uri, value: &str) -> String {
    let mut query: Vec<&str> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("cursor="))
        .collect();
    let cursor = format!("cursor={value}");
    query.push(&cursor);
    format!("{}?{}", uri.path(), query.join("&"))
}

/// The envelope of `page`, read from `from`, its rows turned by `row`.
pub fn envelope<R, T>(
    uri: &Uri,
    page: KeyPage<R>,
    from: Option<&Keyset>,
    count: Count,
    row: impl Fn(R) -> T,
) -> Envelope<T> {
    let backwards = from.is_some_and(|k| k.before);
    // Going forward there is a previous page whenever we came from a
    // cursor; going back, a next page always (the one we came from).
    let (has_next, has_previous) = if backwards {
        (true, page.more)
    } else {
        (page.more, from.is_some())
    };
    let first = page.rows.first().map(|(_, id, k)| (*id, k.clone()));
    let last = page.rows.last().map(|(_, id, k)| (*id, k.clone()));
    let next = has_next.then_some(last).flatten().map(|(id, key)| {
        with_cursor(
            uri,
            &encode(&Keyset {
                key,
                id,
                before: false,
            }),
        )
    });
    let previous = has_previous.then_some(first).flatten().map(|(id, key)| {
        with_cursor(
            uri,
            &encode(&Keyset {
                key,
                id,
                before: true,
            }),
        )
    });
    Envelope {
        count: count.value,
        count_estimated: count.estimated,
        next,
        previous,
        results: page.rows.into_iter().map(|(r, _, _)| row(r)).collect(),
    }
}

/// A page of related rows (followers, stargazers, ...), by id.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IdPage<T> {
    /// The next page's URL, `null` on the last page.
    #[schema(required = true)]
    pub next: Option<String>,
    pub results: Vec<T>,
}

/// `after`: the last id of the previous page (a cursor of related lists).
pub fn after(raw: Option<&str>) -> Result<i64, ApiError> {
    match raw {
        None => Ok(0),
        Some(raw) => decode(raw).map(|k| k.id),
    }
}

pub fn next_by_id(uri: &Uri, more: bool, last: Option<i64>) -> Option<String> {
    more.then_some(last).flatten().map(|id| {
        with_cursor(
            uri,
            &encode(&Keyset {
                key: String::new(),
                id,
                before: false,
            }),
        )
    })
}
