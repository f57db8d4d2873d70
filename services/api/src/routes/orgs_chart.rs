//! `GET /v1/orgs/{name}/new-contributors.svg`: the same data as monthly
//! bars, with a strong ETag (a 304 when unchanged) and a short public
//! cache lifetime, as the topic views have. Kept in Redis as the views are
//! (`views.chart_ttl_secs`, dropped at untrack): a kept chart costs no
//! Postgres query, and Postgres down still serves it.

use std::fmt::Write as _;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::NaiveDate;
use hubpulse_store::orgs::{self, MonthQuery};
use sha2::{Digest, Sha256};

use super::orgs::{MonthParams, checked_query, owner};
use crate::error::ApiError;
use crate::state::AppState;

const HEIGHT: usize = 240;
const TOP: usize = 30;
const BOTTOM: usize = 40;
const LEFT: usize = 40;
const BAR: usize = 14;

/// First-time contributors per month of a tracked owner, as an SVG bar chart.
#[utoipa::path(get, path = "/v1/orgs/{name}/new-contributors.svg", tag = "orgs",
    params(("name" = String, Path, description = "A tracked owner's login", pattern = "^[A-Za-z0-9][A-Za-z0-9-]{0,38}$"), MonthParams),
    responses(
        (status = 200, description = "Monthly bars (page and page_size are ignored)", content_type = "image/svg+xml", body = String),
        (status = 304, description = "Unchanged since the ETag in If-None-Match"),
        (status = 400, description = "Not a login, or a bad parameter", body = crate::error::ErrorBody),
        (status = 404, description = "The owner is not tracked", body = crate::error::ErrorBody),
        (status = 503, description = "Postgres is unavailable", body = crate::error::ErrorBody),
    ))]
pub async fn chart(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(params): Query<MonthParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let login = owner(&name)?;
    let checked = checked_query(&params)?;
    let owner_name = login.as_str().to_lowercase();
    // What the chart depends on, checked and normalised: one kept chart per
    // distinct answer, whatever the spelling of the query.
    let key = format!(
        "from={:?};to={:?};repo={:?}",
        checked.from,
        checked.to,
        params.repo()
    );
    let kept = match state.cache().get_chart(&owner_name, &key).await {
        Ok(kept) => kept,
        Err(err) => {
            tracing::debug!(error = %err, "no kept chart: Redis unavailable");
            None
        }
    };
    let svg = match kept {
        Some(svg) => svg,
        None => {
            let conn = state.store().read_conn().await?;
            if !orgs::is_tracked(&conn, login.as_str()).await? {
                return Err(ApiError::NotFound(format!("{login} is not tracked")));
            }
            let query = MonthQuery {
                from: checked.from,
                to: checked.to,
                repo: params.repo(),
                limit: 0,
                offset: 0,
            };
            let totals = orgs::monthly_totals(&conn, login.as_str(), &query).await?;
            drop(conn);
            let svg = Bytes::from(render(&owner_name, &totals));
            let ttl = Duration::from_secs(state.settings().views.chart_ttl_secs);
            if let Err(err) = state
                .cache()
                .put_chart(&owner_name, &key, svg.clone(), ttl)
                .await
            {
                tracing::debug!(error = %err, "could not keep a chart in Redis");
            }
            svg
        }
    };
    let etag = format!("\"{}\"", hex::encode(&Sha256::digest(&svg)[..12]));
    let mut out = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        out.insert(header::ETAG, value);
    }
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|inm| {
            inm.split(',')
                .any(|t| t.trim() == "*" || t.trim().trim_start_matches("W/") == etag)
        });
    if unchanged {
        return Ok((StatusCode::NOT_MODIFIED, out).into_response());
    }
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml"),
    );
    Ok((out, svg).into_response())
}

/// One bar per month with contributors (months without any are left out,
/// not drawn as gaps), a label every few bars, the count in each bar's
/// tooltip. Only digits, `-` and the login's letters reach the text, so
/// nothing needs escaping beyond what `Login` already rules out.
fn render(owner: &str, totals: &[(NaiveDate, i64)]) -> String {
    let width = LEFT * 2 + BAR * totals.len().max(1);
    let max = totals.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let plot = HEIGHT - TOP - BOTTOM;
    let mut svg = String::with_capacity(256 + totals.len() * 160);
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{HEIGHT}\" \
         viewBox=\"0 0 {width} {HEIGHT}\" font-family=\"sans-serif\" font-size=\"10\">\
         <title>First-time contributors per month: {owner}</title>\
         <text x=\"{LEFT}\" y=\"18\" font-size=\"12\">First-time contributors per month: {owner} (max {max})</text>\
         <line x1=\"{LEFT}\" y1=\"{base}\" x2=\"{right}\" y2=\"{base}\" stroke=\"#888\"/>",
        base = HEIGHT - BOTTOM,
        right = width - LEFT,
    );
    let every = (totals.len() / 12).max(1);
    for (i, (month, n)) in totals.iter().enumerate() {
        let h =
            (usize::try_from(*n).unwrap_or(0) * plot).div_ceil(usize::try_from(max).unwrap_or(1));
        let x = LEFT + i * BAR;
        let y = HEIGHT - BOTTOM - h;
        let label = month.format("%Y-%m");
        let _ = write!(
            svg,
            "<rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" fill=\"#2f81f7\">\
             <title>{label}: {n}</title></rect>",
            w = BAR - 2,
        );
        if i % every == 0 {
            let _ = write!(
                svg,
                "<text x=\"{x}\" y=\"{ly}\" transform=\"rotate(45 {x} {ly})\">{label}</text>",
                ly = HEIGHT - BOTTOM + 12,
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_month() {
        let jan = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let feb = NaiveDate::from_ymd_opt(2026, 2, 1).unwrap();
        let svg = render("hubpulse-org", &[(jan, 2), (feb, 4)]);
        assert!(svg.starts_with("<svg xmlns="));
        assert!(svg.ends_with("</svg>"));
        let plot = HEIGHT - TOP - BOTTOM;
        assert!(svg.contains(&format!("height=\"{}\" fill", plot / 2)));
        assert!(svg.contains(&format!("height=\"{plot}\" fill")));
        assert!(svg.contains("<title>2026-02: 4</title>"));
        let empty = render("hubpulse-org", &[]);
        assert!(!empty.contains("<rect"));
    }
}
