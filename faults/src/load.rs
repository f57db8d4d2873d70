//! Steady read load, generated in-process: a fixed number of workers, each
//! paced to its share of the rate, each waiting for its reply before the
//! next request, until stopped or the request budget is spent. Every reply
//! is read to the end, so a reply cut short counts as a failure too.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

/// The header naming the replica that answered.
pub const REPLICA_HEADER: &str = "x-hubpulse-replica";

#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// Requested in turn.
    pub urls: Vec<String>,
    /// Requests per second, all workers together.
    pub rate: u32,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// No more than this many requests, however long the load runs.
    pub max_requests: u64,
    /// Prefix of every `X-Request-Id`, so nginx's log lines of this load can
    /// be told from the others'.
    pub tag: String,
}

/// What the load saw. Counters only grow; [`Tally::since`] gives a phase.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub sent: u64,
    /// 2xx and 304.
    pub ok: u64,
    /// Replies by status, failed or not.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests without a whole reply, by what went wrong.
    pub transport: BTreeMap<&'static str, u64>,
    /// Successful replies by the replica that answered.
    pub replicas: BTreeMap<String, u64>,
    /// The first few failures, as seen, for the report.
    pub samples: Vec<String>,
}

impl Tally {
    pub fn failed(&self) -> u64 {
        self.sent - self.ok
    }

    pub fn from_replica(&self, name: &str) -> u64 {
        self.replicas.get(name).copied().unwrap_or(0)
    }

    /// What happened after `earlier` was taken.
    pub fn since(&self, earlier: &Tally) -> Tally {
        fn minus<K: Ord + Clone>(a: &BTreeMap<K, u64>, b: &BTreeMap<K, u64>) -> BTreeMap<K, u64> {
            a.iter()
                .map(|(k, v)| (k.clone(), v - b.get(k).copied().unwrap_or(0)))
                .filter(|(_, v)| *v > 0)
                .collect()
        }
        Tally {
            sent: self.sent - earlier.sent,
            ok: self.ok - earlier.ok,
            statuses: minus(&self.statuses, &earlier.statuses),
            transport: minus(&self.transport, &earlier.transport),
            replicas: minus(&self.replicas, &earlier.replicas),
            samples: self.samples[earlier.samples.len().min(self.samples.len())..].to_vec(),
        }
    }
}

impl fmt::Display for Tally {
    /// `3000 sent, 3000 ok, 0 failed (200×2990 304×10; api-1 1490, api-2 1510)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} sent, {} ok, {} failed",
            self.sent,
            self.ok,
            self.failed()
        )?;
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}×{n}"))
            .chain(self.transport.iter().map(|(k, n)| format!("{k}×{n}")))
            .collect();
        let replicas: Vec<String> = self
            .replicas
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        write!(f, " ({}; {})", statuses.join(" "), replicas.join(", "))
    }
}

pub struct Load {
    tally: Arc<Mutex<Tally>>,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
    started: Instant,
}

const SAMPLES: usize = 5;

impl Load {
    pub fn start(client: reqwest::Client, spec: LoadSpec) -> Load {
        assert!(!spec.urls.is_empty() && spec.rate > 0 && spec.concurrency > 0);
        let tally = Arc::new(Mutex::new(Tally::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let budget = Arc::new(AtomicU64::new(spec.max_requests));
        let spec = Arc::new(spec);
        // Each worker sends one request per period: together, the rate.
        let period = Duration::from_secs_f64(spec.concurrency as f64 / f64::from(spec.rate));
        let workers = (0..spec.concurrency)
            .map(|w| {
                let (client, spec, tally, stop, budget) = (
                    client.clone(),
                    spec.clone(),
                    tally.clone(),
                    stop.clone(),
                    budget.clone(),
                );
                tokio::spawn(async move {
                    // Spread over the period rather than in lockstep.
                    tokio::time::sleep(period.mul_f64(w as f64 / spec.concurrency as f64)).await;
                    let mut tick = tokio::time::interval(period);
                    // A slow reply delays the next request; it never causes a burst.
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    let mut n = 0usize;
                    loop {
                        tick.tick().await;
                        if stop.load(Ordering::Relaxed)
                            || budget
                                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                                    b.checked_sub(1)
                                })
                                .is_err()
                        {
                            return;
                        }
                        let url = &spec.urls[(w + n) % spec.urls.len()];
                        let id = format!("{}-{w}-{n}", spec.tag);
                        n += 1;
                        let outcome = request(&client, url, &id).await;
                        record(&tally, url, &id, outcome);
                    }
                })
            })
            .collect();
        Load {
            tally,
            stop,
            workers,
            started: Instant::now(),
        }
    }

    /// What the load saw so far.
    pub fn tally(&self) -> Tally {
        self.tally.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Stops sending, waits for the replies in flight, and returns the total.
    pub async fn stop(self) -> (Tally, Duration) {
        self.stop.store(true, Ordering::Relaxed);
        for worker in self.workers {
            let _ = worker.await;
        }
        let elapsed = self.started.elapsed();
        let tally = self.tally.lock().unwrap_or_else(|p| p.into_inner()).clone();
        (tally, elapsed)
    }
}

enum Outcome {
    Reply {
        status: u16,
        replica: Option<String>,
    },
    Transport(&'static str, String),
}

async fn request(client: &reqwest::Client, url: &str, id: &str) -> Outcome {
    let reply = match client.get(url).header("x-request-id", id).send().await {
        Ok(reply) => reply,
        Err(err) => return Outcome::Transport(error_kind(&err), err.to_string()),
    };
    let status = reply.status().as_u16();
    let replica = reply
        .headers()
        .get(REPLICA_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match reply.bytes().await {
        Ok(_) => Outcome::Reply { status, replica },
        Err(err) => Outcome::Transport("body", format!("status {status}, body: {err}")),
    }
}

fn error_kind(err: &reqwest::Error) -> &'static str {
    if err.is_timeout() {
        "timeout"
    } else if err.is_connect() {
        "connect"
    } else {
        "transport"
    }
}

fn record(tally: &Mutex<Tally>, url: &str, id: &str, outcome: Outcome) {
    let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
    t.sent += 1;
    let failure = match outcome {
        Outcome::Reply { status, replica } => {
            *t.statuses.entry(status).or_default() += 1;
            if (200..300).contains(&status) || status == 304 {
                t.ok += 1;
                if let Some(replica) = replica {
                    *t.replicas.entry(replica).or_default() += 1;
                }
                None
            } else {
                Some(format!(
                    "{status} from {}",
                    replica.as_deref().unwrap_or("nginx")
                ))
            }
        }
        Outcome::Transport(kind, detail) => {
            *t.transport.entry(kind).or_default() += 1;
            Some(detail)
        }
    };
    if let Some(failure) = failure
        && t.samples.len() < SAMPLES
    {
        t.samples.push(format!("{id} GET {url}: {failure}"));
    }
}
