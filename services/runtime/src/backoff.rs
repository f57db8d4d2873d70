//! HubPulse's one backoff policy, on `backon`: waits double from a base up
//! to a cap, and each wait is a random point between half its bound and the
//! bound, so processes restarted together (cron, the replicas' workers) do
//! not retry in step. The queue stores a retry time ([`Backoff::delay`]);
//! loops that sleep retry with [`Retryable`] and a builder from here.

use std::time::Duration;

pub use backon::{BackoffBuilder, ExponentialBuilder, Retryable};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
}

impl Backoff {
    /// For waiting on something that is about to happen (a server coming
    /// up, a job finishing): quick first looks, then a few a second.
    pub const POLL: Backoff = Backoff::new(Duration::from_millis(20), Duration::from_millis(250));

    /// Bounds `base`, `2 base`, `4 base` … up to `cap` (a cap below the
    /// base is the base).
    pub const fn new(base: Duration, cap: Duration) -> Backoff {
        let cap = if cap.as_nanos() < base.as_nanos() {
            base
        } else {
            cap
        };
        Backoff { base, cap }
    }

    /// The bound of the wait after failed attempt `attempt` (1-based),
    /// before jitter.
    pub fn bound(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(32);
        self.base
            .saturating_mul(1 << doublings.min(31))
            .min(self.cap)
    }

    /// Every wait, endlessly: for `Retryable::retry`. backon's jitter adds up
    /// to one more of the current delay, so halving its bounds gives waits
    /// between half the bound and the bound.
    pub fn builder(&self) -> ExponentialBuilder {
        ExponentialBuilder::new()
            .with_min_delay(self.base / 2)
            .with_max_delay(self.cap / 2)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
    }

    /// Every wait, endlessly, for a loop that sleeps by itself.
    pub fn waits(&self) -> backon::ExponentialBackoff {
        self.builder().build()
    }

    /// At most `attempts` tries in all (so `attempts - 1` waits).
    pub fn attempts(&self, attempts: u32) -> ExponentialBuilder {
        self.builder()
            .with_max_times(attempts.saturating_sub(1) as usize)
    }

    /// Tries until the waits add up to `within`: a poll with a deadline.
    pub fn within(&self, within: Duration) -> ExponentialBuilder {
        self.builder().with_total_delay(Some(within))
    }

    /// The wait after failed attempt `attempt` (1-based), for a caller that
    /// records a time to try again rather than sleeping.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.waits()
            .nth(attempt.saturating_sub(1).min(64) as usize)
            .unwrap_or(self.cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_double_up_to_the_cap() {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let bounds: Vec<u64> = (1..=6)
            .map(|a| backoff.bound(a).as_millis() as u64)
            .collect();
        assert_eq!(bounds, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(backoff.bound(u32::MAX), backoff.cap);
        assert_eq!(backoff.bound(0), backoff.base);
    }

    #[test]
    fn each_wait_lies_between_half_its_bound_and_the_bound() {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        for _ in 0..50 {
            for (i, wait) in backoff.builder().build().take(8).enumerate() {
                let bound = backoff.bound(i as u32 + 1);
                assert!(
                    wait >= bound / 2 && wait <= bound,
                    "wait {} = {wait:?}, bound {bound:?}",
                    i + 1
                );
            }
            for attempt in 1..=8 {
                let (wait, bound) = (backoff.delay(attempt), backoff.bound(attempt));
                assert!(wait >= bound / 2 && wait <= bound, "{attempt}: {wait:?}");
            }
        }
    }

    #[test]
    fn jitter_differs_between_policies_built_alike() {
        let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let waits: std::collections::HashSet<Duration> =
            (0..20).map(|_| backoff.delay(3)).collect();
        assert!(waits.len() > 1, "no jitter: {waits:?}");
    }

    #[test]
    fn attempts_count_the_first_try() {
        let backoff = Backoff::new(Duration::from_millis(1), Duration::from_millis(4));
        assert_eq!(backoff.attempts(3).build().count(), 2);
        assert_eq!(backoff.attempts(1).build().count(), 0);
    }

    #[test]
    fn a_cap_below_the_base_is_the_base() {
        let backoff = Backoff::new(Duration::from_secs(2), Duration::from_secs(1));
        assert_eq!(backoff.bound(5), Duration::from_secs(2));
    }
}
