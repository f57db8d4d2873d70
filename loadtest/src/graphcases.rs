//! What the graph lists benchmark (`graphlists`) asks: every sort of
//! `/v1/developers` and `/v1/repositories` both ways, and two filters of
//! each in the list's default order, with what the bench's own `OFFSET`
//! query needs to find the same rows (the source, the order's expression
//! from `graph_lists::Order`, the filter's SQL as the route builds it).

use hubpulse_store::graph_lists::Order;

/// One list, one order, maybe a filter.
#[derive(Debug, Clone)]
pub struct Spec {
    pub path: &'static str,
    /// What the lists read (`graph_lists::Source::table`).
    pub table: &'static str,
    /// The query string, without `per_page` and `cursor`.
    pub query: String,
    pub order: Order,
    /// The filter's SQL as the route builds it, with its value inlined.
    pub filter: Option<&'static str>,
}

fn sorts(
    path: &'static str,
    table: &'static str,
    sorts: &[(&str, Order)],
    filters: &[(&str, &'static str)],
) -> Vec<Spec> {
    let mut out = Vec::new();
    for (name, order) in sorts {
        let other = if order.descending { "asc" } else { "desc" };
        for (query, order) in [
            (format!("sort={name}"), *order),
            (format!("sort={name}&direction={other}"), order.reversed()),
        ] {
            out.push(Spec {
                path,
                table,
                query,
                order,
                filter: None,
            });
        }
    }
    for (query, sql) in filters {
        out.push(Spec {
            path,
            table,
            query: (*query).to_owned(),
            order: sorts[0].1,
            filter: Some(sql),
        });
    }
    out
}

/// Every sort both ways, and two filters per list in its default order.
pub fn specs() -> Vec<Spec> {
    let mut out = sorts(
        "/v1/developers",
        "developers",
        &[
            ("followers", Order::FOLLOWERS),
            ("created", Order::DEV_CREATED),
            ("login", Order::LOGIN),
            ("repos", Order::PUBLIC_REPOS),
        ],
        &[
            ("has_location=false", "location IS NULL"),
            (
                "followers_min=1&followers_max=100000",
                "COALESCE(followers, -1) >= 1 AND COALESCE(followers, -1) <= 100000",
            ),
        ],
    );
    out.extend(sorts(
        "/v1/repositories",
        "repositories_view",
        &[
            ("stars", Order::STARS),
            ("created", Order::REPO_CREATED),
            ("name", Order::NAME),
        ],
        &[
            (
                "language=JavaScript",
                "lower(language) = lower('JavaScript')",
            ),
            (
                "stars_min=1&stars_max=100000",
                "stargazers_count >= 1 AND stargazers_count <= 100000",
            ),
        ],
    ));
    out
}
