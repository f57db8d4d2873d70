//! Shared mutable state: the data, quotas per caller and resource, faults
//! and counters.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::data::Dataset;
use crate::settings::{Faults, Limits, SimSettings};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Resource {
    Core,
    Search,
}

impl Resource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Core => "core",
            Self::Search => "search",
        }
    }
}

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

/// What a fault roll decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injected {
    Drop,
    ServerError(u16),
    RateLimit403,
    RateLimit429,
    Secondary,
    Malformed,
    Truncated,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    pub requests: u64,
    pub by_status: BTreeMap<u16, u64>,
    /// 403s from a quota really spent, as opposed to injected faults.
    pub quota_exceeded: u64,
    pub not_modified: u64,
    pub injected: BTreeMap<String, u64>,
    /// Quota spent, by `caller/resource`.
    pub quota_used: BTreeMap<String, u64>,
    pub slow: u64,
}

pub struct SimState {
    pub settings: SimSettings,
    pub data: RwLock<Dataset>,
    windows: Mutex<HashMap<(String, Resource), Window>>,
    faults: Mutex<(Faults, StdRng)>,
    pub stats: Mutex<Stats>,
    /// Base of absolute URLs in Link headers.
    pub public_url: String,
}

pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SimState {
    pub fn new(settings: SimSettings, public_url: String) -> Self {
        let data = Dataset::generate(settings.seed, &settings.topics);
        let rng = StdRng::seed_from_u64(settings.seed.wrapping_add(17));
        Self {
            faults: Mutex::new((settings.faults.clone(), rng)),
            data: RwLock::new(data),
            windows: Mutex::new(HashMap::new()),
            stats: Mutex::new(Stats::default()),
            public_url,
            settings,
        }
    }

    fn limits(&self) -> &Limits {
        &self.settings.limits
    }

    fn fresh_window(&self, resource: Resource, authenticated: bool) -> Window {
        let l = self.limits();
        let (limit, secs) = match (resource, authenticated) {
            (Resource::Search, true) => (l.search_authenticated, l.search_window_secs),
            (Resource::Search, false) => (l.search_anonymous, l.search_window_secs),
            (Resource::Core, true) => (l.core_authenticated, l.core_window_secs),
            (Resource::Core, false) => (l.core_anonymous, l.core_window_secs),
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

    pub fn faults(&self) -> Faults {
        lock(&self.faults).0.clone()
    }

    pub fn set_faults(&self, faults: Faults) {
        lock(&self.faults).0 = faults;
    }

    /// Rolls the dice for one API request. Counted faults (rate limits) are
    /// consumed in order; shares are drawn from the seeded generator.
    pub fn roll(&self) -> (Option<Injected>, bool) {
        let mut guard = lock(&self.faults);
        let (faults, rng) = &mut *guard;
        let slow = faults.slow_rate > 0.0 && rng.random_bool(faults.slow_rate);
        let injected = if faults.rate_limit_403 > 0 {
            faults.rate_limit_403 -= 1;
            Some(Injected::RateLimit403)
        } else if faults.rate_limit_429 > 0 {
            faults.rate_limit_429 -= 1;
            Some(Injected::RateLimit429)
        } else if faults.secondary_limit > 0 {
            faults.secondary_limit -= 1;
            Some(Injected::Secondary)
        } else if faults.drop_rate > 0.0 && rng.random_bool(faults.drop_rate) {
            Some(Injected::Drop)
        } else if faults.error_rate > 0.0 && rng.random_bool(faults.error_rate) {
            Some(Injected::ServerError(
                [500, 502, 503][rng.random_range(0..3)],
            ))
        } else if faults.malformed_rate > 0.0 && rng.random_bool(faults.malformed_rate) {
            Some(Injected::Malformed)
        } else if faults.truncated_rate > 0.0 && rng.random_bool(faults.truncated_rate) {
            Some(Injected::Truncated)
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

    pub fn record(&self, status: u16, injected: Option<Injected>, slow: bool) {
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
            *stats
                .injected
                .entry(format!("{kind:?}").to_lowercase())
                .or_default() += 1;
        }
    }

    pub fn stats(&self) -> Stats {
        lock(&self.stats).clone()
    }

    pub fn reset(&self) {
        *lock(&self.stats) = Stats::default();
        lock(&self.windows).clear();
    }
}
