//! Shared mutable state: the data, quotas per caller and resource, faults
//! and counters.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

pub use hubpulse_domain::rate::Resource;

use crate::controls::Controls;
use crate::data::Dataset;
use crate::fault::FaultKind;
use crate::settings::{Faults, Limits, SimSettings};

#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub limit: u64,
    pub used: u64,
    /// Unix seconds.
    pub reset: i64,
}

impl Window {
    pub fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.used)
    }
}

/// `stats` of `GET /_sim/stats`.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub requests: u64,
    pub by_status: BTreeMap<u16, u64>,
    /// 403s from a quota really spent, as opposed to injected faults.
    pub quota_exceeded: u64,
    pub not_modified: u64,
    pub injected: BTreeMap<FaultKind, u64>,
    /// Quota spent, by `caller/resource`.
    pub quota_used: BTreeMap<String, u64>,
    pub slow: u64,
}

impl Stats {
    /// Quota really spent on `resource` (`core`, `search`, ...), by every
    /// caller together.
    pub fn quota_used_on(&self, resource: &str) -> u64 {
        let suffix = format!("/{resource}");
        self.quota_used
            .iter()
            .filter(|(caller, _)| caller.ends_with(&suffix))
            .map(|(_, used)| used)
            .sum()
    }

    /// Search quota really spent, by every caller together.
    pub fn search_quota_used(&self) -> u64 {
        self.quota_used_on("search")
    }

    /// Faults of any of `kinds` injected so far.
    pub fn injected(&self, kinds: &[FaultKind]) -> u64 {
        kinds
            .iter()
            .map(|kind| self.injected.get(kind).copied().unwrap_or(0))
            .sum()
    }

    pub fn with_status(&self, status: u16) -> u64 {
        self.by_status.get(&status).copied().unwrap_or(0)
    }
}

/// A repository's statistics as steered by a test.
#[derive(Debug, Default, Clone, Copy)]
struct StatsControl {
    /// 202s still to answer before the statistics; `u32::MAX` is forever.
    computing: u32,
    /// Contributors with a first (and only) commit in the last week.
    newcomers: u32,
}

/// The body of `PUT /_sim/repositories/{id}/stats`; absent fields keep
/// their value.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsChange {
    /// The next this many asks answer 202 (`u32::MAX`: every ask from now on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub computing: Option<u32>,
    /// Contributors added to the statistics, each with commits only in
    /// the last week.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newcomers: Option<u32>,
}

pub struct SimState {
    pub settings: SimSettings,
    pub data: RwLock<Dataset>,
    windows: Mutex<HashMap<(String, Resource), Window>>,
    faults: Mutex<(Faults, StdRng)>,
    pub stats: Mutex<Stats>,
    /// Replies forced on paths by `/_sim/lists`.
    pub controls: Controls,
    /// How often each repository's contributor statistics were asked for,
    /// for the "still computing" 202s of the first asks.
    stats_asks: Mutex<HashMap<i64, u32>>,
    /// Per-repository statistics set by `PUT /_sim/repositories/{id}/stats`.
    stats_controls: Mutex<HashMap<i64, StatsControl>>,
    /// Base of absolute URLs in Link headers.
    pub public_url: String,
    /// The device flow's codes and the tokens issued (`oauth.rs`).
    pub oauth: crate::oauth::OAuthState,
}

pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SimState {
    pub fn new(settings: SimSettings, public_url: String) -> Self {
        let data = Dataset::generate(&settings);
        let rng = StdRng::seed_from_u64(settings.seed.wrapping_add(17));
        Self {
            faults: Mutex::new((settings.faults.clone(), rng)),
            data: RwLock::new(data),
            windows: Mutex::new(HashMap::new()),
            stats: Mutex::new(Stats::default()),
            controls: Controls::default(),
            stats_asks: Mutex::new(HashMap::new()),
            stats_controls: Mutex::new(HashMap::new()),
            public_url,
            settings,
            oauth: crate::oauth::OAuthState::default(),
        }
    }

    fn limits(&self) -> &Limits {
        &self.settings.limits
    }

    fn fresh_window(&self, resource: Resource, authenticated: bool) -> Window {
        let l = self.limits();
        // The simulator has limits for `search` and `core`; any other bucket
        // a route declares gets core's until it needs its own.
        let (limit, secs) = match (resource, authenticated) {
            (Resource::Search, true) => (l.search_authenticated, l.search_window_secs),
            (Resource::Search, false) => (l.search_anonymous, l.search_window_secs),
            (_, true) => (l.core_authenticated, l.core_window_secs),
            (_, false) => (l.core_anonymous, l.core_window_secs),
        };
        Window {
            limit,
            used: 0,
            reset: unix_now() + secs as i64,
        }
    }

    /// The caller's current window, renewed when its reset time has passed.
    pub fn window(&self, caller: &str, resource: Resource) -> Window {
        let mut windows = lock(&self.windows);
        let entry = windows
            .entry((caller.to_owned(), resource))
            .or_insert_with(|| self.fresh_window(resource, caller != "anonymous"));
        if unix_now() >= entry.reset {
            *entry = self.fresh_window(resource, caller != "anonymous");
        }
        *entry
    }

    /// Spends one unit; `Err(window)` when none is left.
    pub fn spend(&self, caller: &str, resource: Resource) -> Result<Window, Window> {
        let current = self.window(caller, resource);
        let mut windows = lock(&self.windows);
        let entry = windows
            .entry((caller.to_owned(), resource))
            .or_insert(current);
        if entry.remaining() == 0 {
            drop(windows);
            lock(&self.stats).quota_exceeded += 1;
            return Err(current);
        }
        entry.used += 1;
        let after = *entry;
        drop(windows);
        *lock(&self.stats)
            .quota_used
            .entry(format!("{caller}/{}", resource.as_str()))
            .or_default() += 1;
        Ok(after)
    }

    /// Whether this ask for a repository's contributor statistics is one of
    /// the first `computing_replies`, which GitHub answers 202 while it
    /// computes them.
    pub fn still_computing(&self, repo_id: i64) -> bool {
        if let Some(control) = lock(&self.stats_controls).get_mut(&repo_id)
            && control.computing > 0
        {
            // u32::MAX: GitHub never finishes computing this one.
            if control.computing != u32::MAX {
                control.computing -= 1;
            }
            return true;
        }
        let mut asks = lock(&self.stats_asks);
        let n = asks.entry(repo_id).or_default();
        if *n < self.settings.stats.computing_replies {
            *n += 1;
            true
        } else {
            false
        }
    }

    /// Changes a repository's statistics from now on: `computing` replaces
    /// the 202s still to come, `newcomers` the contributors added to it.
    pub fn control_stats(&self, repo_id: i64, change: StatsChange) {
        let mut controls = lock(&self.stats_controls);
        let control = controls.entry(repo_id).or_default();
        if let Some(n) = change.computing {
            control.computing = n;
        }
        if let Some(n) = change.newcomers {
            control.newcomers = n;
        }
    }

    /// Contributors added to a repository's statistics by a control.
    pub fn newcomers(&self, repo_id: i64) -> u32 {
        lock(&self.stats_controls)
            .get(&repo_id)
            .map_or(0, |c| c.newcomers)
    }

    pub fn faults(&self) -> Faults {
        lock(&self.faults).0.clone()
    }

    pub fn set_faults(&self, faults: Faults) {
        lock(&self.faults).0 = faults;
    }

    /// Rolls the dice for one API request. Counted faults (rate limits) are
    /// consumed in order; shares are drawn from the seeded generator.
    pub fn roll(&self) -> (Option<FaultKind>, bool) {
        let mut guard = lock(&self.faults);
        let (faults, rng) = &mut *guard;
        let slow = faults.slow_rate > 0.0 && rng.random_bool(faults.slow_rate);
        let injected = if faults.rate_limit_403 > 0 {
            faults.rate_limit_403 -= 1;
            Some(FaultKind::RateLimit403)
        } else if faults.rate_limit_429 > 0 {
            faults.rate_limit_429 -= 1;
            Some(FaultKind::RateLimit429)
        } else if faults.secondary_limit > 0 {
            faults.secondary_limit -= 1;
            Some(FaultKind::Secondary)
        } else if faults.drop_rate > 0.0 && rng.random_bool(faults.drop_rate) {
            Some(FaultKind::Drop)
        } else if faults.error_rate > 0.0 && rng.random_bool(faults.error_rate) {
            Some(FaultKind::SERVER_ERRORS[rng.random_range(0..3)])
        } else if faults.malformed_rate > 0.0 && rng.random_bool(faults.malformed_rate) {
            Some(FaultKind::Malformed)
        } else if faults.truncated_rate > 0.0 && rng.random_bool(faults.truncated_rate) {
            Some(FaultKind::Truncated)
        } else {
            None
        };
        (injected, slow)
    }

    pub fn incomplete(&self) -> bool {
        let mut guard = lock(&self.faults);
        let (faults, rng) = &mut *guard;
        faults.incomplete_rate > 0.0 && rng.random_bool(faults.incomplete_rate)
    }

    pub fn record(&self, status: u16, injected: Option<FaultKind>, slow: bool) {
        let mut stats = lock(&self.stats);
        stats.requests += 1;
        *stats.by_status.entry(status).or_default() += 1;
        if status == 304 {
            stats.not_modified += 1;
        }
        if slow {
            stats.slow += 1;
        }
        if let Some(kind) = injected {
            *stats.injected.entry(kind).or_default() += 1;
        }
    }

    pub fn stats(&self) -> Stats {
        lock(&self.stats).clone()
    }

    /// Counters, quotas, the statistics' 202 countdowns and their controls
    /// start over.
    pub fn reset(&self) {
        *lock(&self.stats) = Stats::default();
        lock(&self.windows).clear();
        lock(&self.stats_asks).clear();
        lock(&self.stats_controls).clear();
    }
}
