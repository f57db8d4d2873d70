//! Pacing under Pipedrive's burst limit: at most `per_window` requests in
//! any 2 seconds from this process, and none at all until a 429's reset
//! has passed.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

const WINDOW: Duration = Duration::from_secs(2);

pub struct Pace {
    per_window: usize,
    state: Mutex<(VecDeque<Instant>, Option<Instant>)>,
}

impl Pace {
    pub fn new(per_window: u32) -> Self {
        Pace {
            per_window: per_window.max(1) as usize,
            state: Mutex::new((VecDeque::new(), None)),
        }
    }

    /// Waits for a slot, then takes it.
    pub async fn slot(&self) {
        loop {
            let wait = {
                let mut guard = self.state.lock().await;
                let (sent, paused) = &mut *guard;
                let now = Instant::now();
                while sent
                    .front()
                    .is_some_and(|&t| now.duration_since(t) >= WINDOW)
                {
                    sent.pop_front();
                }
                match *paused {
                    Some(until) if until > now => until - now,
                    _ if sent.len() < self.per_window => {
                        sent.push_back(now);
                        return;
                    }
                    _ => WINDOW.saturating_sub(now.duration_since(sent[0])),
                }
            };
            tokio::time::sleep(wait.max(Duration::from_millis(5))).await;
        }
    }

    /// Nobody sends before `secs` from now (a 429's `x-ratelimit-reset`).
    pub async fn pause(&self, secs: u64) {
        let until = Instant::now() + Duration::from_secs(secs);
        let mut guard = self.state.lock().await;
        guard.1 = Some(guard.1.map_or(until, |t| t.max(until)));
    }
}
