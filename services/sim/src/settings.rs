use hubpulse_domain::wire::OwnerKind;
use hubpulse_runtime::{LogSettings, SettingsError, Validate};
use serde::Deserialize;

pub const DEFAULTS: &str = include_str!("defaults.toml");

/// The binary's settings: `[sim]` and `[log]`.
#[derive(Debug, Clone, Deserialize)]
pub struct BinSettings {
    pub sim: SimSettings,
    pub log: LogSettings,
}

impl Validate for BinSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        self.sim.validate()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct TopicSpec {
    pub name: String,
    pub size: usize,
}

/// Per-caller quotas, GitHub's defaults.
#[derive(Debug, Clone, Deserialize)]
pub struct Limits {
    pub search_authenticated: u64,
    pub search_anonymous: u64,
    pub search_window_secs: u64,
    pub core_authenticated: u64,
    pub core_anonymous: u64,
    pub core_window_secs: u64,
}

/// Faults on demand; also settable at run time through `PUT /_sim/faults`.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Share of requests answered 500, 502 or 503.
    pub error_rate: f64,
    /// Share of requests answered only after `slow_ms`.
    pub slow_rate: f64,
    pub slow_ms: u64,
    /// Share of requests whose connection is closed without a reply.
    pub drop_rate: f64,
    /// Share answered 200 with a body that is not JSON.
    pub malformed_rate: f64,
    /// Share answered 200 with the JSON cut short.
    pub truncated_rate: f64,
    /// The next N requests: 403 with `x-ratelimit-remaining: 0`.
    pub rate_limit_403: u32,
    /// The next N requests: 429 with `retry-after`.
    pub rate_limit_429: u32,
    /// The next N requests: 403 secondary rate limit with `retry-after`.
    pub secondary_limit: u32,
    /// `retry-after` seconds for the two above.
    pub retry_after_secs: u64,
    /// Share of search pages that say `incomplete_results: true`.
    pub incomplete_rate: f64,
}

/// The accounts: every owner of a topic's repositories is one, plus the
/// named ones; how densely the generated users connect.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSettings {
    /// Mean accounts a generated user follows (a long tail: a few follow
    /// many, and a few are followed by many).
    pub follows_per_user: usize,
    /// Mean repositories a generated user has starred.
    pub stars_per_user: usize,
    /// Mean members of a generated organisation.
    pub members_per_org: usize,
    /// Mean public gists of a generated user.
    pub gists_per_user: usize,
    /// Accounts whose shape tests and the demo rely on.
    pub named: Vec<NamedAccount>,
}

/// An account with a fixed login and repositories `{login}/repo-000`,
/// `repo-001`, ... in that order of creation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedAccount {
    pub login: String,
    /// `User` or `Organization`.
    #[serde(rename = "type")]
    pub kind: OwnerKind,
    pub repos: usize,
    /// The last N repositories are empty: size 0, never pushed, and their
    /// contributor statistics answer 204.
    #[serde(default)]
    pub empty_repos: usize,
    /// The first N repositories were renamed, `repo-000` to
    /// `repo-000-renamed`: the old name answers 301.
    #[serde(default)]
    pub renamed_repos: usize,
}

/// `GET /repos/{o}/{r}/stats/contributors`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsSettings {
    /// How many first asks per repository answer 202 "still computing".
    pub computing_replies: u32,
}

/// The developer graph (`data/graph.rs`): accounts apart from the topics'
/// owners, connected by follow edges from `graph-seed`, with their own
/// repositories and stars.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphSettings {
    /// Developers (users and organisations), besides a bot and a suspended user.
    pub developers: usize,
    /// Mean further accounts a developer follows (a power law: low indexes
    /// are followed most).
    pub follows_per_developer: usize,
    /// Share of developers who follow `graph-celebrity`.
    pub celebrity_share: f64,
    /// Mean repositories a developer owns, and stars a developer gives.
    pub repos_per_developer: usize,
    pub stars_per_developer: usize,
    /// Every Nth developer is an organisation (0: none).
    pub org_every: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SimSettings {
    pub host: String,
    pub port: u16,
    /// Base of absolute URLs in `Link` headers; defaults to the bound address.
    #[serde(default)]
    pub public_url: Option<String>,
    pub seed: u64,
    pub topics: Vec<TopicSpec>,
    pub limits: Limits,
    #[serde(default)]
    pub faults: Faults,
    pub accounts: AccountSettings,
    pub stats: StatsSettings,
    pub graph: GraphSettings,
    /// The OAuth device flow and signed-in users (`areas/oauth.rs`, `areas/user.rs`).
    pub oauth: OAuthSettings,
    pub pipedrive: PipedriveStandInSettings,
}

/// The Pipedrive API v2 stand-in under `/api/v2`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipedriveStandInSettings {
    /// The one token `x-api-token` must carry.
    pub api_token: String,
    /// Requests per token and 2-second window; more get 429.
    pub burst_limit: u64,
}

/// `[sim.oauth]`: GitHub's device flow and what a signed-in user sees.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthSettings {
    /// `interval` of a new device code (GitHub: 5).
    pub interval_secs: u64,
    /// `expires_in` of a new device code (GitHub: 900).
    pub expires_in_secs: u64,
    /// What a `slow_down` adds to the interval (GitHub: 5).
    pub slow_down_step_secs: u64,
    /// Private repositories each signed-in user owns, beyond the public ones.
    pub private_repos: usize,
    /// Tokens like a GitHub App's: `expires_in` and a single-use refresh token.
    pub expiring_tokens: bool,
    pub token_expires_in_secs: u64,
}

impl SimSettings {
    /// The built-in defaults, for tests and embedding.
    pub fn defaults() -> Self {
        let bin: BinSettings =
            hubpulse_runtime::load_settings(DEFAULTS, None).expect("built-in defaults are valid");
        bin.sim
    }

    /// Small and fast: for tests. Windows are short so resets can be observed.
    pub fn for_tests(seed: u64) -> Self {
        let mut settings = Self::defaults();
        settings.port = 0;
        settings.seed = seed;
        settings.topics = vec![
            TopicSpec {
                name: "kubernetes".into(),
                size: 2500,
            },
            TopicSpec {
                name: "rust".into(),
                size: 250,
            },
            TopicSpec {
                name: "tiny".into(),
                size: 7,
            },
        ];
        settings.graph.developers = 150;
        settings
    }
}

impl Validate for SimSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |key, reason: String| SettingsError::Invalid { key, reason };
        if self.host.parse::<std::net::IpAddr>().is_err() {
            return Err(invalid("sim.host", "must be an IP address".into()));
        }
        for topic in &self.topics {
            if hubpulse_domain::Topic::parse(&topic.name).is_err() {
                return Err(invalid(
                    "sim.topics",
                    format!("{:?} is not a valid topic name", topic.name),
                ));
            }
            if topic.size > 1_000_000 {
                return Err(invalid(
                    "sim.topics",
                    format!("{} is larger than 1,000,000", topic.name),
                ));
            }
        }
        for (key, value) in [
            (
                "sim.limits.search_window_secs",
                self.limits.search_window_secs,
            ),
            ("sim.limits.core_window_secs", self.limits.core_window_secs),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be above 0".into()));
            }
        }
        let mut logins = std::collections::HashSet::new();
        for named in &self.accounts.named {
            if hubpulse_domain::Login::parse(&named.login).is_err()
                || !logins.insert(named.login.to_lowercase())
            {
                return Err(invalid(
                    "sim.accounts.named",
                    format!("{:?} is not a valid, unique login", named.login),
                ));
            }
            if named.repos > 10_000 || named.empty_repos + named.renamed_repos > named.repos {
                return Err(invalid(
                    "sim.accounts.named",
                    format!(
                        "{}: at most 10,000 repositories, and empty plus renamed ones at most that",
                        named.login
                    ),
                ));
            }
        }
        if self.graph.developers < 2 || self.graph.developers > 1_000_000 {
            return Err(invalid(
                "sim.graph.developers",
                "between 2 and 1,000,000".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.graph.celebrity_share) {
            return Err(invalid(
                "sim.graph.celebrity_share",
                "must be between 0 and 1".into(),
            ));
        }
        let f = &self.faults;
        for (key, rate) in [
            ("sim.faults.error_rate", f.error_rate),
            ("sim.faults.slow_rate", f.slow_rate),
            ("sim.faults.drop_rate", f.drop_rate),
            ("sim.faults.malformed_rate", f.malformed_rate),
            ("sim.faults.truncated_rate", f.truncated_rate),
            ("sim.faults.incomplete_rate", f.incomplete_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(invalid(key, "must be between 0 and 1".into()));
            }
        }
        Ok(())
    }
}
