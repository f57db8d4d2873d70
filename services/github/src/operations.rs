//! Every GitHub operation HubPulse calls, as data: one row per operation in
//! [`Operation::spec`]. The client takes its method, origin, rate-limit
//! bucket, media type and the meaning of its statuses from here; the metric
//! label of a call is the row's path template; tests and the simulator's
//! routes read the same rows. Adding an endpoint is adding a variant and its
//! row (and to [`Operation::ALL`]).

use http::StatusCode;
use hubpulse_domain::rate::Resource;
use url::Url;

use crate::GithubError;
use crate::encode::{endpoint, set_query};

/// GitHub's default media type for REST.
pub const JSON: &str = "application/vnd.github+json";
/// Star lists with `starred_at` on each item.
pub const STAR_JSON: &str = "application/vnd.github.star+json";
/// What GitHub's OAuth endpoints answer in when asked (their default is a form).
pub const OAUTH_JSON: &str = "application/json";

/// A GitHub operation HubPulse calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    SearchRepositories,
    RateLimit,
    GetRepo,
    RepoContributors,
    RepoStargazers,
    RepoStargazerHistory,
    RepoStargazerCount,
    RepoContributorStats,
    GetUser,
    GetUserById,
    UserFollowers,
    UserFollowing,
    UserStarred,
    UserRepos,
    UserGists,
    OrgRepos,
    AuthenticatedUser,
    AuthenticatedUserRepos,
    DeviceCode,
    AccessToken,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    pub fn as_http(self) -> http::Method {
        match self {
            Self::Get => http::Method::GET,
            Self::Post => http::Method::POST,
        }
    }
}

/// Which origin an operation lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    /// The REST API (`github.base_url`).
    Api,
    /// github.com itself, for the OAuth device flow (`github.oauth_base_url`).
    /// Never sent a token.
    OAuth,
}

/// What a status means for an operation, beyond the rules every call shares
/// (401, 403 and 429 rate limits, 5xx retries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    /// 200, 201: the body, decoded.
    Body,
    /// 202: GitHub is still computing the answer; ask again later.
    Computing,
    /// 204: nothing here (an empty list, an empty repository).
    Empty,
    /// 301, 308: moved for good (a renamed or transferred repository answers
    /// from `/repositories/{id}`); followed once and reported.
    Moved,
    /// 302, 307: elsewhere for this request only; followed once, not reported.
    Redirected,
    /// 304: unchanged since the ETag sent; cost no quota.
    NotModified,
    /// 400 from the OAuth origin: the flow is refused (`device_flow_disabled`).
    BadRequest,
    /// 404: absent, or hidden from this credential.
    NotFound,
    /// 410: gone for good, or an API version GitHub no longer serves.
    Gone,
    /// 422: a request GitHub will not run (search past its 1,000th result,
    /// a list paged too deep, a spammed endpoint).
    Unprocessable,
    /// 451: blocked for legal reasons.
    Unavailable,
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    pub method: Method,
    pub host: Host,
    /// Segments in `{braces}` are filled by [`Operation::url`], in order.
    pub path: &'static str,
    /// Paths GitHub's `Link` and `Location` headers rewrite this one to (by
    /// numeric id, so they survive a rename): the same operation.
    pub aliases: &'static [&'static str],
    /// The bucket each call counts against; `None` off the REST API.
    pub resource: Option<Resource>,
    /// False where GitHub does not count a call (`/rate_limit`): no unit of
    /// the budget is spent on it.
    pub costs_quota: bool,
    /// Sent as `Accept`; part of a stored page's identity (`Vary: Accept`).
    pub media_type: &'static str,
    /// Followed through `Link: rel="next"`.
    pub paged: bool,
    /// Safe to send twice: retried on 5xx, timeouts and dropped connections.
    pub idempotent: bool,
    /// The statuses GitHub documents for it, besides the shared ones.
    pub statuses: &'static [(u16, Meaning)],
}

use Meaning::{
    BadRequest, Body, Computing, Empty, Gone, Moved, NotFound, NotModified, Unavailable,
    Unprocessable,
};

const fn get(path: &'static str, resource: Resource, statuses: &'static [(u16, Meaning)]) -> Spec {
    Spec {
        method: Method::Get,
        host: Host::Api,
        path,
        aliases: &[],
        resource: Some(resource),
        costs_quota: true,
        media_type: JSON,
        paged: false,
        idempotent: true,
        statuses,
    }
}

const fn list(path: &'static str, aliases: &'static [&'static str]) -> Spec {
    Spec {
        paged: true,
        aliases,
        ..get(path, Resource::Core, LIST)
    }
}

const fn oauth(path: &'static str, idempotent: bool) -> Spec {
    Spec {
        method: Method::Post,
        host: Host::OAuth,
        path,
        aliases: &[],
        resource: None,
        costs_quota: false,
        media_type: OAUTH_JSON,
        paged: false,
        idempotent,
        statuses: &[
            (200, Body),
            (400, BadRequest),
            (404, NotFound),
            (422, Unprocessable),
        ],
    }
}

const LIST: &[(u16, Meaning)] = &[(200, Body), (304, NotModified), (404, NotFound)];
const REPO: &[(u16, Meaning)] = &[
    (200, Body),
    (301, Moved),
    (304, NotModified),
    (404, NotFound),
    (451, Unavailable),
];
const REPO_LIST: &[(u16, Meaning)] = &[
    (200, Body),
    (204, Empty),
    (301, Moved),
    (304, NotModified),
    (404, NotFound),
    (451, Unavailable),
];

impl Operation {
    pub const ALL: [Operation; 20] = [
        Self::SearchRepositories,
        Self::RateLimit,
        Self::GetRepo,
        Self::RepoContributors,
        Self::RepoStargazers,
        Self::RepoStargazerHistory,
        Self::RepoStargazerCount,
        Self::RepoContributorStats,
        Self::GetUser,
        Self::GetUserById,
        Self::UserFollowers,
        Self::UserFollowing,
        Self::UserStarred,
        Self::UserRepos,
        Self::UserGists,
        Self::OrgRepos,
        Self::AuthenticatedUser,
        Self::AuthenticatedUserRepos,
        Self::DeviceCode,
        Self::AccessToken,
    ];

    /// The table.
    pub const fn spec(self) -> Spec {
        match self {
            Self::SearchRepositories => Spec {
                paged: true,
                ..get(
                    "/search/repositories",
                    Resource::Search,
                    &[(200, Body), (304, NotModified), (422, Unprocessable)],
                )
            },
            Self::RateLimit => Spec {
                costs_quota: false,
                ..get(
                    "/rate_limit",
                    Resource::Core,
                    &[(200, Body), (304, NotModified)],
                )
            },
            Self::GetRepo => Spec {
                aliases: &["/repositories/{repository_id}"],
                ..get("/repos/{owner}/{repo}", Resource::Core, REPO)
            },
            Self::RepoContributors => Spec {
                paged: true,
                aliases: &["/repositories/{repository_id}/contributors"],
                ..get(
                    "/repos/{owner}/{repo}/contributors",
                    Resource::Core,
                    REPO_LIST,
                )
            },
            // Since July 2026 only for a repository's admins and
            // collaborators: others get 401, 403, 404 or an empty list.
            Self::RepoStargazers => Spec {
                paged: true,
                aliases: &["/repositories/{repository_id}/stargazers"],
                media_type: STAR_JSON,
                ..get(
                    "/repos/{owner}/{repo}/stargazers",
                    Resource::Core,
                    &[
                        (200, Body),
                        (301, Moved),
                        (304, NotModified),
                        (404, NotFound),
                        (422, Unprocessable),
                    ],
                )
            },
            Self::RepoStargazerHistory => Spec {
                paged: true,
                aliases: &["/repositories/{repository_id}/stargazers/history"],
                ..get(
                    "/repos/{owner}/{repo}/stargazers/history",
                    Resource::Core,
                    REPO_LIST,
                )
            },
            Self::RepoStargazerCount => Spec {
                aliases: &["/repositories/{repository_id}/stargazers/count"],
                ..get(
                    "/repos/{owner}/{repo}/stargazers/count",
                    Resource::Core,
                    REPO,
                )
            },
            Self::RepoContributorStats => Spec {
                aliases: &["/repositories/{repository_id}/stats/contributors"],
                ..get(
                    "/repos/{owner}/{repo}/stats/contributors",
                    Resource::Core,
                    &[
                        (200, Body),
                        (202, Computing),
                        (204, Empty),
                        (301, Moved),
                        (304, NotModified),
                        (404, NotFound),
                        (422, Unprocessable),
                    ],
                )
            },
            Self::GetUser => get(
                "/users/{username}",
                Resource::Core,
                &[(200, Body), (304, NotModified), (404, NotFound)],
            ),
            Self::GetUserById => get(
                "/user/{account_id}",
                Resource::Core,
                &[(200, Body), (304, NotModified), (404, NotFound)],
            ),
            Self::UserFollowers => list(
                "/users/{username}/followers",
                &["/user/{account_id}/followers"],
            ),
            Self::UserFollowing => list(
                "/users/{username}/following",
                &["/user/{account_id}/following"],
            ),
            Self::UserStarred => Spec {
                media_type: STAR_JSON,
                ..list("/users/{username}/starred", &["/user/{account_id}/starred"])
            },
            Self::UserRepos => list("/users/{username}/repos", &["/user/{account_id}/repos"]),
            Self::UserGists => list("/users/{username}/gists", &["/user/{account_id}/gists"]),
            Self::OrgRepos => list("/orgs/{org}/repos", &["/organizations/{org_id}/repos"]),
            Self::AuthenticatedUser => {
                get("/user", Resource::Core, &[(200, Body), (304, NotModified)])
            }
            Self::AuthenticatedUserRepos => Spec {
                paged: true,
                ..get(
                    "/user/repos",
                    Resource::Core,
                    &[(200, Body), (304, NotModified), (422, Unprocessable)],
                )
            },
            // A repeated code request only makes a second code: not retried.
            Self::DeviceCode => oauth("/login/device/code", false),
            // Polled anyway; asking twice changes nothing.
            Self::AccessToken => oauth("/login/oauth/access_token", true),
        }
    }

    /// The metric label and log name: the path template without its
    /// leading slash (`repos/{owner}/{repo}/contributors`).
    pub fn label(self) -> &'static str {
        self.spec().path.trim_start_matches('/')
    }

    /// What `status` means for this operation: its own row first, then the
    /// meaning every operation shares. `None` for the statuses the client
    /// reads the same way everywhere (401, 403, 429, 5xx, and the rest).
    pub fn meaning(self, status: StatusCode) -> Option<Meaning> {
        let code = status.as_u16();
        if let Some((_, meaning)) = self.spec().statuses.iter().find(|(c, _)| *c == code) {
            return Some(*meaning);
        }
        Some(match code {
            200 | 201 => Body,
            202 => Computing,
            204 => Empty,
            301 | 308 => Moved,
            302 | 307 => Meaning::Redirected,
            304 => NotModified,
            404 => NotFound,
            410 => Gone,
            422 => Unprocessable,
            451 => Unavailable,
            _ => return None,
        })
    }

    /// The operation's URL under `base`, with `params` in its `{placeholders}`
    /// in order, each percent-encoded as one segment, and `query` pairs.
    pub fn url(
        self,
        base: &Url,
        params: &[&str],
        query: &[(&str, &str)],
    ) -> Result<Url, GithubError> {
        let mut segments = Vec::new();
        let mut params = params.iter();
        for segment in self.spec().path.split('/').filter(|s| !s.is_empty()) {
            if segment.starts_with('{') {
                let value = params.next().ok_or_else(|| {
                    GithubError::Url(format!("{} needs a value for {segment}", self.label()))
                })?;
                segments.push(*value);
            } else {
                segments.push(segment);
            }
        }
        if params.next().is_some() {
            return Err(GithubError::Url(format!(
                "{} was given more values than it has placeholders",
                self.label()
            )));
        }
        let mut url = endpoint(base, &segments)?;
        set_query(&mut url, query);
        Ok(url)
    }

    /// `operation`'s URL by a repository's id: its
    /// `/repositories/{repository_id}` alias, which a rename or a transfer
    /// does not change.
    pub fn url_by_repository_id(
        self,
        base: &Url,
        id: i64,
        query: &[(&str, &str)],
    ) -> Result<Url, GithubError> {
        let alias = self
            .spec()
            .aliases
            .iter()
            .find(|a| a.starts_with("/repositories/{repository_id}"))
            .ok_or_else(|| GithubError::Url(format!("{} has no by-id path", self.label())))?;
        let id = id.to_string();
        let segments: Vec<&str> = alias
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| if s.starts_with('{') { id.as_str() } else { s })
            .collect();
        let mut url = endpoint(base, &segments)?;
        set_query(&mut url, query);
        Ok(url)
    }

    /// The operation a URL calls, matched against every path and alias in
    /// the table by its last segments (a `Link` URL may carry a prefix of
    /// its own: GitHub Enterprise's `/api/v3`, the simulator's). The longest
    /// template wins, then the one with more literal segments
    /// (`/user/repos` over `/user/{account_id}`).
    pub fn matching(url: &Url) -> Option<Operation> {
        let segments: Vec<&str> = url.path_segments()?.filter(|s| !s.is_empty()).collect();
        let mut best: Option<(usize, usize, Operation)> = None;
        for op in Self::ALL {
            let spec = op.spec();
            for template in std::iter::once(&spec.path).chain(spec.aliases) {
                let parts: Vec<&str> = template.split('/').filter(|s| !s.is_empty()).collect();
                if parts.len() > segments.len() {
                    continue;
                }
                let tail = &segments[segments.len() - parts.len()..];
                let fits = parts
                    .iter()
                    .zip(tail)
                    .all(|(part, seg)| part.starts_with('{') || part == seg);
                if !fits {
                    continue;
                }
                let literals = parts.iter().filter(|p| !p.starts_with('{')).count();
                if best.is_none_or(|(len, lit, _)| (parts.len(), literals) > (len, lit)) {
                    best = Some((parts.len(), literals, op));
                }
            }
        }
        best.map(|(_, _, op)| op)
    }
}

/// A metric label for any URL: its operation's, or `other`.
pub fn label_of(url: &Url) -> &'static str {
    Operation::matching(url).map_or("other", Operation::label)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(raw: &str) -> Url {
        Url::parse(raw).unwrap()
    }

    #[test]
    fn all_lists_every_variant_once() {
        let mut seen = std::collections::HashSet::new();
        for op in Operation::ALL {
            assert!(seen.insert(op), "{op:?} twice");
            // An exhaustive match: a variant missing from ALL fails to compile here.
            let _: () = match op {
                Operation::SearchRepositories
                | Operation::RateLimit
                | Operation::GetRepo
                | Operation::RepoContributors
                | Operation::RepoStargazers
                | Operation::RepoStargazerHistory
                | Operation::RepoStargazerCount
                | Operation::RepoContributorStats
                | Operation::GetUser
                | Operation::GetUserById
                | Operation::UserFollowers
                | Operation::UserFollowing
                | Operation::UserStarred
                | Operation::UserRepos
                | Operation::UserGists
                | Operation::OrgRepos
                | Operation::AuthenticatedUser
                | Operation::AuthenticatedUserRepos
                | Operation::DeviceCode
                | Operation::AccessToken => (),
            };
        }
    }

    #[test]
    fn by_id_urls_take_the_repositories_alias_and_match_back() {
        let base = url("https://api.github.com/");
        let got = Operation::GetRepo
            .url_by_repository_id(&base, 1296269, &[])
            .unwrap();
        assert_eq!(got.as_str(), "https://api.github.com/repositories/1296269");
        assert_eq!(Operation::matching(&got), Some(Operation::GetRepo));
        let count = Operation::RepoStargazerCount
            .url_by_repository_id(&base, 7, &[("x", "1")])
            .unwrap();
        assert_eq!(
            count.as_str(),
            "https://api.github.com/repositories/7/stargazers/count?x=1"
        );
        assert!(
            Operation::GetUser
                .url_by_repository_id(&base, 7, &[])
                .is_err()
        );
    }

    #[test]
    fn every_row_is_consistent() {
        for op in Operation::ALL {
            let spec = op.spec();
            assert!(spec.path.starts_with('/'), "{op:?}");
            assert!(!op.label().starts_with('/'), "{op:?}");
            match spec.host {
                Host::Api => {
                    assert_eq!(spec.method, Method::Get, "{op:?}");
                    assert!(spec.resource.is_some(), "{op:?} counts against a bucket");
                    assert_eq!(op.meaning(StatusCode::NOT_MODIFIED), Some(NotModified));
                }
                Host::OAuth => {
                    assert_eq!(spec.method, Method::Post, "{op:?}");
                    assert_eq!(spec.resource, None, "{op:?}: no REST quota off the API");
                }
            }
            // Every path and alias leads back to its own operation.
            for template in std::iter::once(&spec.path).chain(spec.aliases) {
                let filled = template
                    .split('/')
                    .map(|s| if s.starts_with('{') { "x1" } else { s })
                    .collect::<Vec<_>>()
                    .join("/");
                let u = url(&format!("https://api.github.com{filled}"));
                assert_eq!(Operation::matching(&u), Some(op), "{template}");
            }
        }
    }

    #[test]
    fn urls_fill_placeholders_encoded_and_refuse_a_wrong_count() {
        let base = url("https://ghe.example/api/v3");
        let u = Operation::UserStarred
            .url(&base, &["dependabot[bot]"], &[("per_page", "100")])
            .unwrap();
        assert_eq!(
            u.as_str(),
            "https://ghe.example/api/v3/users/dependabot%5Bbot%5D/starred?per_page=100"
        );
        assert!(Operation::GetRepo.url(&base, &["o"], &[]).is_err());
        assert!(Operation::GetUser.url(&base, &["a", "b"], &[]).is_err());
        assert!(Operation::GetUser.url(&base, &[".."], &[]).is_err());
    }

    #[test]
    fn labels_hide_names_and_ids_and_ignore_prefixes() {
        let cases = [
            (
                "https://api.github.com/search/repositories?q=topic:x&page=3",
                "search/repositories",
            ),
            (
                "http://127.0.0.1:9/_sim/link/search/repositories?page=2",
                "search/repositories",
            ),
            (
                "https://api.github.com/repos/kubernetes/kubernetes/contributors",
                "repos/{owner}/{repo}/contributors",
            ),
            (
                "https://api.github.com/users/shipit%5Bbot%5D",
                "users/{username}",
            ),
            // Link URLs by numeric id are the same operation.
            (
                "https://api.github.com/user/583231/followers?page=2",
                "users/{username}/followers",
            ),
            (
                "https://api.github.com/repositories/1300192",
                "repos/{owner}/{repo}",
            ),
            ("https://api.github.com/user/repos?page=2", "user/repos"),
            ("https://api.github.com/user/583231", "user/{account_id}"),
            (
                "https://api.github.com/repos/user/repos",
                "repos/{owner}/{repo}",
            ),
            ("https://github.com/login/device/code", "login/device/code"),
            ("https://api.github.com/nowhere/x", "other"),
        ];
        for (raw, label) in cases {
            assert_eq!(label_of(&url(raw)), label, "{raw}");
        }
    }

    #[test]
    fn statuses_mean_what_the_row_says_then_what_all_share() {
        let stats = Operation::RepoContributorStats;
        assert_eq!(stats.meaning(StatusCode::ACCEPTED), Some(Computing));
        assert_eq!(stats.meaning(StatusCode::NO_CONTENT), Some(Empty));
        assert_eq!(
            Operation::GetRepo.meaning(StatusCode::MOVED_PERMANENTLY),
            Some(Moved)
        );
        assert_eq!(
            Operation::DeviceCode.meaning(StatusCode::BAD_REQUEST),
            Some(BadRequest)
        );
        assert_eq!(Operation::GetUser.meaning(StatusCode::GONE), Some(Gone));
        assert_eq!(Operation::GetUser.meaning(StatusCode::BAD_REQUEST), None);
        assert_eq!(Operation::GetUser.meaning(StatusCode::FORBIDDEN), None);
        assert_eq!(Operation::UserStarred.spec().media_type, STAR_JSON);
    }
}
