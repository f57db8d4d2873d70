//! GitHub's rate limits, and the budget every replica spends them through.
//!
//! GitHub counts calls per token and per resource (`core`, `search`, ...) in
//! fixed windows that end at a `reset` instant. Each replica learns the truth
//! only from the `x-ratelimit-*` headers of its own replies, so replicas that
//! spend independently overshoot together. A [`RateBudget`] is the one
//! counter they all ask before a call: the GitHub client consumes it, the
//! cache crate implements it on Redis, and [`LocalBudget`] implements it for a
//! single process.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// A GitHub rate-limit bucket, as `x-ratelimit-resource` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    Core,
    Search,
    CodeSearch,
    Graphql,
    /// A bucket this service never draws from on purpose (GitHub adds them
    /// now and then); kept apart so it never skews `core` or `search`.
    #[serde(other)]
    Other,
}

impl Resource {
    pub const ALL: [Resource; 5] = [
        Self::Core,
        Self::Search,
        Self::CodeSearch,
        Self::Graphql,
        Self::Other,
    ];

    /// Never fails: an unknown name is [`Resource::Other`], because a new
    /// bucket at GitHub must not break header parsing.
    pub fn from_header(raw: &str) -> Self {
        match raw.trim().to_ascii_lowercase().as_str() {
            "core" => Self::Core,
            "search" => Self::Search,
            "code_search" => Self::CodeSearch,
            "graphql" => Self::Graphql,
            _ => Self::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Core => "core",
            Self::Search => "search",
            Self::CodeSearch => "code_search",
            Self::Graphql => "graphql",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one reply's `x-ratelimit-*` headers said about a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateObservation {
    pub limit: u64,
    pub remaining: u64,
    pub used: u64,
    /// When the window ends and `remaining` goes back to `limit`.
    pub reset: DateTime<Utc>,
}

impl RateObservation {
    /// True when `self` is at least as recent as `other`: a later window, or
    /// the same window with no more left (calls only ever use quota up).
    pub fn supersedes(&self, other: &RateObservation) -> bool {
        self.reset > later(other.reset, WINDOW_TOLERANCE)
            || (same_window(self.reset, other.reset) && self.remaining <= other.remaining)
    }
}

/// The answer to "may I make one call now?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Go ahead. `window` is the reset instant of the window the unit came
    /// from (`None` for the single probe into an unknown window), to hand
    /// back to [`RateBudget::refund`] if the call turned out free.
    Granted { window: Option<DateTime<Utc>> },
    /// Not before `until`: the window's spendable share is gone, or GitHub
    /// asked us to pause.
    Denied { until: DateTime<Utc> },
    /// Another caller's probe into an unknown window is out. Its reply
    /// settles the window within moments, so ask again soon; `until` is when
    /// its lease ends and another probe may go.
    Probing { until: DateTime<Utc> },
}

/// How much of each window the budget hands out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetPolicy {
    /// Share of `limit` never spent (0.1 keeps 10% in reserve), so calls
    /// already in flight, clock skew and other users of the token never push
    /// GitHub to a 403.
    pub reserve_ratio: f64,
    /// How long the single probe into an unknown window may stay out before
    /// another caller may probe: a probe that dies without a reply must not
    /// block the bucket for good.
    pub probe_lease: Duration,
}

impl Default for BudgetPolicy {
    fn default() -> Self {
        Self {
            reserve_ratio: 0.1,
            probe_lease: Duration::from_secs(5),
        }
    }
}

impl BudgetPolicy {
    /// Units of a window of `limit` that are never handed out.
    pub fn reserve(&self, limit: u64) -> u64 {
        let ratio = if self.reserve_ratio.is_finite() {
            self.reserve_ratio.clamp(0.0, 1.0)
        } else {
            0.0
        };
        // Quotas are far below 2^52, so the f64 round trip is exact.
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let reserve = (limit as f64 * ratio).ceil() as u64;
        reserve.min(limit)
    }

    pub fn validate(&self) -> Result<(), String> {
        if !(self.reserve_ratio.is_finite() && (0.0..1.0).contains(&self.reserve_ratio)) {
            return Err("must be at least 0 and below 1".into());
        }
        if self.probe_lease.is_zero() {
            return Err("the probe lease must be above 0".into());
        }
        Ok(())
    }
}

/// Resets that differ by this much or less name the same window: GitHub's
/// `reset` is whole seconds and a replica's rounding may differ by one.
pub const WINDOW_TOLERANCE: TimeDelta = TimeDelta::seconds(1);

/// How long past `reset` a window is still taken as current, so a replica
/// whose clock runs ahead of GitHub's does not probe a window GitHub has not
/// opened yet.
pub const RESET_SKEW: TimeDelta = TimeDelta::seconds(1);

/// `at + by`, or the last instant chrono can hold: an extreme `reset` from
/// a reply must never make date arithmetic panic (`+` does on overflow).
pub fn later(at: DateTime<Utc>, by: TimeDelta) -> DateTime<Utc> {
    at.checked_add_signed(by)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The longest wait a rate-limit reply may impose per bucket: GitHub's
/// windows last an hour (`core`, `graphql`) or a minute (`search`,
/// `code_search`), so a `retry-after` or `x-ratelimit-reset` further out
/// than the window plus a margin is a broken or hostile reply, and waiting
/// it out would freeze the work for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitBounds {
    pub core: TimeDelta,
    pub search: TimeDelta,
}

impl Default for WaitBounds {
    fn default() -> Self {
        Self {
            core: TimeDelta::hours(1) + WAIT_MARGIN,
            search: TimeDelta::minutes(1) + WAIT_MARGIN,
        }
    }
}

/// Slack above a window's length for clock skew and GitHub's rounding.
pub const WAIT_MARGIN: TimeDelta = TimeDelta::seconds(60);

impl WaitBounds {
    pub fn of(&self, resource: Resource) -> TimeDelta {
        match resource {
            Resource::Search | Resource::CodeSearch => self.search,
            Resource::Core | Resource::Graphql | Resource::Other => self.core,
        }
    }

    /// The latest instant a wait on `resource` that starts `now` may end.
    pub fn bound(&self, resource: Resource, now: DateTime<Utc>) -> DateTime<Utc> {
        later(now, self.of(resource))
    }
}

pub fn same_window(a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
    (a - b).abs() <= WINDOW_TOLERANCE
}

#[derive(Debug, thiserror::Error)]
pub enum BudgetError {
    /// The shared store could not be asked; the detail names no secret.
    #[error("the rate budget is unavailable: {0}")]
    Unavailable(String),
}

pub type BudgetFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, BudgetError>> + Send + 'a>>;

/// One counter per (token id, resource), shared by every caller that spends
/// the same token. `token_id` is an opaque short hash, never the token.
pub trait RateBudget: Send + Sync + fmt::Debug {
    /// Takes one unit, or says until when none can be had.
    fn acquire<'a>(&'a self, token_id: &'a str, resource: Resource) -> BudgetFuture<'a, Grant>;

    /// Brings the counter in line with what a reply said: within one window
    /// the lower `remaining` wins (ours counts calls GitHub has not answered
    /// yet), a later window replaces the old one, an older one is ignored.
    fn observe<'a>(
        &'a self,
        token_id: &'a str,
        resource: Resource,
        seen: RateObservation,
    ) -> BudgetFuture<'a, ()>;

    /// Hands back a unit that cost nothing (a `304 Not Modified`), if its
    /// window is still the current one.
    fn refund<'a>(
        &'a self,
        token_id: &'a str,
        resource: Resource,
        window: DateTime<Utc>,
    ) -> BudgetFuture<'a, ()>;

    /// Ends a probe (a [`Grant::Granted`] with no window) that got no
    /// `x-ratelimit-*` headers back (a timeout, a dropped connection, a 5xx
    /// without them), so the next caller may probe at once instead of after
    /// the lease.
    fn release_probe<'a>(&'a self, token_id: &'a str, resource: Resource) -> BudgetFuture<'a, ()>;

    /// Denies every caller until `until` (GitHub's secondary limits and
    /// `retry-after` concern the token, not the caller that met them).
    fn pause<'a>(
        &'a self,
        token_id: &'a str,
        resource: Resource,
        until: DateTime<Utc>,
    ) -> BudgetFuture<'a, ()>;

    /// The buckets a pause holds now, for operators.
    fn pauses(&self) -> BudgetFuture<'_, Vec<Pause>>;

    /// Lifts every pause (an operator who knows better than the reply that
    /// set it); answers how many were lifted.
    fn clear_pauses(&self) -> BudgetFuture<'_, u64>;

    /// Every bucket the budget holds now (met in a reply, paused or being
    /// probed), sorted by credential and resource, for operators.
    fn buckets(&self) -> BudgetFuture<'_, Vec<BucketView>>;
}

/// One bucket as `GET /v1/rate_limit` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketView {
    /// The credential's token id (a hash), never the token.
    pub credential: String,
    pub resource: Resource,
    pub state: BucketState,
}

/// A bucket held by a pause, as `GET /v1/rate_limit` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pause {
    /// The credential's token id (a hash), never the token.
    pub credential: String,
    pub resource: Resource,
    pub until: DateTime<Utc>,
}

/// The budget's state for one bucket: the same fields the Redis
/// implementation keeps in its hash, and the same rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BucketState {
    pub limit: u64,
    pub remaining: u64,
    pub reset: Option<DateTime<Utc>>,
    pub probe_until: Option<DateTime<Utc>>,
    pub paused_until: Option<DateTime<Utc>>,
}

impl BucketState {
    /// The acquire rule, shared by [`LocalBudget`] and documented for the
    /// Lua twin in the cache crate.
    pub fn acquire(&mut self, now: DateTime<Utc>, policy: &BudgetPolicy) -> Grant {
        if let Some(until) = self.paused_until.filter(|until| *until > now) {
            return Grant::Denied { until };
        }
        match self.reset.filter(|reset| later(*reset, RESET_SKEW) > now) {
            Some(reset) => {
                if self.remaining > policy.reserve(self.limit) {
                    self.remaining -= 1;
                    Grant::Granted {
                        window: Some(reset),
                    }
                } else {
                    Grant::Denied {
                        until: later(reset, RESET_SKEW),
                    }
                }
            }
            // No window known, or it has ended: GitHub alone knows the new
            // limit, so one caller asks and the rest wait for its reply.
            None => {
                if let Some(until) = self.probe_until.filter(|until| *until > now) {
                    return Grant::Probing { until };
                }
                self.probe_until = Some(later(
                    now,
                    TimeDelta::from_std(policy.probe_lease).unwrap_or(TimeDelta::MAX),
                ));
                Grant::Granted { window: None }
            }
        }
    }

    pub fn observe(&mut self, seen: &RateObservation) {
        match self.reset {
            Some(reset) if same_window(reset, seen.reset) => {
                self.remaining = self.remaining.min(seen.remaining);
                self.limit = seen.limit;
            }
            Some(reset) if seen.reset < reset => {}
            _ => {
                self.limit = seen.limit;
                self.remaining = seen.remaining;
                self.reset = Some(seen.reset);
            }
        }
        self.probe_until = None;
    }

    pub fn refund(&mut self, window: DateTime<Utc>) {
        if self.reset.is_some_and(|reset| same_window(reset, window)) {
            self.remaining = (self.remaining + 1).min(self.limit);
        }
    }

    pub fn release_probe(&mut self) {
        self.probe_until = None;
    }

    pub fn pause(&mut self, until: DateTime<Utc>) {
        self.paused_until = Some(self.paused_until.map_or(until, |old| old.max(until)));
    }
}

/// A budget for one process: right when a single replica (or a tool, or a
/// test) holds the token, wrong when several do (use the Redis one then).
#[derive(Debug, Default)]
pub struct LocalBudget {
    policy: BudgetPolicy,
    buckets: Mutex<HashMap<(String, Resource), BucketState>>,
}

impl LocalBudget {
    pub fn new(policy: BudgetPolicy) -> Self {
        Self {
            policy,
            buckets: Mutex::default(),
        }
    }

    /// The bucket's state, for reporting and tests.
    pub fn state(&self, token_id: &str, resource: Resource) -> Option<BucketState> {
        self.lock().get(&(token_id.to_owned(), resource)).copied()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, Resource), BucketState>> {
        // Every update is a few plain field writes, so a panic elsewhere
        // while the lock was held cannot have left a bucket half-changed.
        self.buckets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn with<T>(
        &self,
        token_id: &str,
        resource: Resource,
        f: impl FnOnce(&mut BucketState) -> T,
    ) -> T {
        f(self
            .lock()
            .entry((token_id.to_owned(), resource))
            .or_default())
    }
}

impl RateBudget for LocalBudget {
    fn acquire<'a>(&'a self, token_id: &'a str, resource: Resource) -> BudgetFuture<'a, Grant> {
        let grant = self.with(token_id, resource, |b| b.acquire(Utc::now(), &self.policy));
        Box::pin(async move { Ok(grant) })
    }

    fn observe<'a>(
        &'a self,
        token_id: &'a str,
        resource: Resource,
        seen: RateObservation,
    ) -> BudgetFuture<'a, ()> {
        self.with(token_id, resource, |b| b.observe(&seen));
        Box::pin(async { Ok(()) })
    }

    fn refund<'a>(
        &'a self,
        token_id: &'a str,
        resource: Resource,
        window: DateTime<Utc>,
    ) -> BudgetFuture<'a, ()> {
        self.with(token_id, resource, |b| b.refund(window));
        Box::pin(async { Ok(()) })
    }

    fn release_probe<'a>(&'a self, token_id: &'a str, resource: Resource) -> BudgetFuture<'a, ()> {
        self.with(token_id, resource, BucketState::release_probe);
        Box::pin(async { Ok(()) })
    }

    fn pause<'a>(
        &'a self,
        token_id: &'a str,
        resource: Resource,
        until: DateTime<Utc>,
    ) -> BudgetFuture<'a, ()> {
        self.with(token_id, resource, |b| b.pause(until));
        Box::pin(async { Ok(()) })
    }

    fn pauses(&self) -> BudgetFuture<'_, Vec<Pause>> {
        let now = Utc::now();
        let mut pauses: Vec<Pause> = self
            .lock()
            .iter()
            .filter_map(|((credential, resource), b)| {
                let until = b.paused_until.filter(|until| *until > now)?;
                Some(Pause {
                    credential: credential.clone(),
                    resource: *resource,
                    until,
                })
            })
            .collect();
        pauses.sort_by(|a, b| (&a.credential, a.resource).cmp(&(&b.credential, b.resource)));
        Box::pin(async { Ok(pauses) })
    }

    fn clear_pauses(&self) -> BudgetFuture<'_, u64> {
        let now = Utc::now();
        let mut cleared = 0;
        for bucket in self.lock().values_mut() {
            if bucket.paused_until.take().is_some_and(|until| until > now) {
                cleared += 1;
            }
        }
        Box::pin(async move { Ok(cleared) })
    }

    fn buckets(&self) -> BudgetFuture<'_, Vec<BucketView>> {
        let mut buckets: Vec<BucketView> = self
            .lock()
            .iter()
            .map(|((credential, resource), state)| BucketView {
                credential: credential.clone(),
                resource: *resource,
                state: *state,
            })
            .collect();
        buckets.sort_by(|a, b| (&a.credential, a.resource).cmp(&(&b.credential, b.resource)));
        Box::pin(async { Ok(buckets) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    fn seen(limit: u64, remaining: u64, reset: i64) -> RateObservation {
        RateObservation {
            limit,
            remaining,
            used: limit - remaining,
            reset: at(reset),
        }
    }

    fn policy(ratio: f64) -> BudgetPolicy {
        BudgetPolicy {
            reserve_ratio: ratio,
            probe_lease: Duration::from_secs(5),
        }
    }

    #[test]
    fn resource_names_round_trip_and_unknown_ones_are_other() {
        for r in Resource::ALL {
            assert_eq!(Resource::from_header(r.as_str()), r);
        }
        assert_eq!(Resource::from_header(" Search "), Resource::Search);
        assert_eq!(
            Resource::from_header("dependency_snapshots"),
            Resource::Other
        );
    }

    #[test]
    fn reserve_rounds_up_and_never_exceeds_the_limit() {
        assert_eq!(policy(0.1).reserve(30), 3);
        assert_eq!(policy(0.1).reserve(5_000), 500);
        assert_eq!(policy(0.1).reserve(1), 1);
        assert_eq!(policy(0.0).reserve(30), 0);
        assert_eq!(policy(f64::NAN).reserve(30), 0);
        assert_eq!(policy(7.0).reserve(30), 30);
        assert!(policy(1.0).validate().is_err());
        assert!(policy(-0.1).validate().is_err());
        assert!(policy(0.25).validate().is_ok());
    }

    #[test]
    fn an_unknown_window_allows_one_probe_until_its_reply_or_lease_end() {
        let p = policy(0.1);
        let mut b = BucketState::default();
        assert_eq!(b.acquire(at(0), &p), Grant::Granted { window: None });
        assert_eq!(b.acquire(at(1), &p), Grant::Probing { until: at(5) });
        // The probe died without a reply: after its lease another may probe,
        // or at once if its caller says so.
        assert_eq!(b.acquire(at(5), &p), Grant::Granted { window: None });
        b.release_probe();
        assert_eq!(b.acquire(at(5), &p), Grant::Granted { window: None });
        b.observe(&seen(10, 9, 60));
        assert_eq!(
            b.acquire(at(6), &p),
            Grant::Granted {
                window: Some(at(60))
            }
        );
    }

    #[test]
    fn spends_down_to_the_reserve_then_waits_for_the_reset() {
        let p = policy(0.1);
        let mut b = BucketState::default();
        b.observe(&seen(30, 30, 60));
        let granted = (0..40)
            .filter(|_| matches!(b.acquire(at(1), &p), Grant::Granted { .. }))
            .count();
        assert_eq!(granted, 27, "3 of 30 stay in reserve");
        assert_eq!(
            b.acquire(at(2), &p),
            Grant::Denied {
                until: at(60) + RESET_SKEW
            }
        );
        // Once the window is over, one probe learns the new one.
        assert_eq!(b.acquire(at(61), &p), Grant::Granted { window: None });
        b.observe(&seen(30, 29, 120));
        assert_eq!(b.remaining, 29);
    }

    #[test]
    fn observations_take_the_lower_count_in_a_window_and_replace_on_a_new_one() {
        let mut b = BucketState::default();
        b.observe(&seen(30, 20, 60));
        b.observe(&seen(30, 25, 60));
        assert_eq!(
            b.remaining, 20,
            "a late reply must not give back spent units"
        );
        b.observe(&seen(30, 12, 61));
        assert_eq!(b.remaining, 12, "one second apart is the same window");
        b.observe(&seen(30, 29, 0));
        assert_eq!(b.remaining, 12, "a reply from an older window is ignored");
        b.observe(&seen(30, 29, 120));
        assert_eq!((b.remaining, b.reset), (29, Some(at(120))));
    }

    #[test]
    fn refund_gives_back_only_within_the_same_window_and_never_past_the_limit() {
        let mut b = BucketState::default();
        b.observe(&seen(30, 29, 60));
        b.refund(at(60));
        assert_eq!(b.remaining, 30);
        b.refund(at(60));
        assert_eq!(b.remaining, 30);
        b.observe(&seen(30, 10, 120));
        b.refund(at(60));
        assert_eq!(b.remaining, 10);
    }

    #[test]
    fn a_pause_denies_even_with_quota_left() {
        let p = policy(0.0);
        let mut b = BucketState::default();
        b.observe(&seen(30, 30, 60));
        b.pause(at(10));
        b.pause(at(5));
        assert_eq!(b.acquire(at(1), &p), Grant::Denied { until: at(10) });
        assert!(matches!(b.acquire(at(10), &p), Grant::Granted { .. }));
    }

    #[test]
    fn supersedes_orders_observations() {
        assert!(seen(30, 5, 60).supersedes(&seen(30, 6, 60)));
        assert!(!seen(30, 7, 60).supersedes(&seen(30, 6, 60)));
        assert!(seen(30, 30, 120).supersedes(&seen(30, 0, 60)));
        assert!(!seen(30, 0, 0).supersedes(&seen(30, 30, 60)));
    }

    /// The local budget's futures are ready at once; no runtime needed.
    fn now<T>(fut: BudgetFuture<'_, T>) -> T {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match std::pin::pin!(fut).poll(&mut cx) {
            std::task::Poll::Ready(out) => out.unwrap(),
            std::task::Poll::Pending => panic!("a local budget future was pending"),
        }
    }

    #[test]
    fn local_budget_keeps_tokens_and_resources_apart() {
        let budget = LocalBudget::new(policy(0.0));
        let window = RateObservation {
            limit: 1,
            remaining: 1,
            used: 0,
            reset: Utc::now() + TimeDelta::hours(1),
        };
        now(budget.observe("a", Resource::Search, window));
        assert!(matches!(
            now(budget.acquire("a", Resource::Search)),
            Grant::Granted { .. }
        ));
        assert!(matches!(
            now(budget.acquire("a", Resource::Search)),
            Grant::Denied { .. }
        ));
        // Another token, or another bucket of the same token, is untouched.
        assert_eq!(
            now(budget.acquire("b", Resource::Search)),
            Grant::Granted { window: None }
        );
        assert_eq!(
            now(budget.acquire("a", Resource::Core)),
            Grant::Granted { window: None }
        );
        assert_eq!(budget.state("a", Resource::Search).unwrap().remaining, 0);
        let listed: Vec<(String, Resource, u64)> = now(budget.buckets())
            .into_iter()
            .map(|b| (b.credential, b.resource, b.state.remaining))
            .collect();
        assert_eq!(
            listed,
            vec![
                ("a".into(), Resource::Core, 0),
                ("a".into(), Resource::Search, 0),
                ("b".into(), Resource::Search, 0),
            ]
        );
    }
}
