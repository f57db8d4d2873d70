//! The synthetic developer graph of the graph lists benchmark (issue 13):
//! a million developers, a million repositories and ten million follow
//! edges, every value a pure function of (seed, row), so the same counts
//! and seed always give the same graph. `graphload` writes it with COPY.
//!
//! The shapes are GitHub's: followers follow a power law (most accounts
//! have none or a few, a handful have hundreds of thousands), as do stars
//! and repositories per owner; ids grow with the creation date; a tenth of
//! the accounts are only "known" (met in a list, no profile: every profile
//! field null), and of the synced ones many leave location, bio, company
//! or name empty. Ids start above [`ID_BASE`], far from the simulator's
//! and the other benchmarks', so the rows never meet a crawl's.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

/// Synthetic developers, owners and repositories have ids above this.
pub const ID_BASE: i64 = 1_000_000_000;

/// How big a graph, and from which seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphShape {
    pub developers: u64,
    pub repositories: u64,
    pub edges: u64,
    pub seed: u64,
}

/// splitmix64: a good 64-bit mix, enough for synthetic data.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A value of row `n` for the field `salt`.
pub fn hash(seed: u64, salt: u64, n: u64) -> u64 {
    mix(mix(seed ^ salt.wrapping_mul(0xd1b5_4a32_d192_ed03)) ^ n)
}

/// The same, uniform in [0, 1).
pub fn unit(seed: u64, salt: u64, n: u64) -> f64 {
    (hash(seed, salt, n) >> 11) as f64 / (1u64 << 53) as f64
}

/// A rank in `0..n`, rank r drawn with weight about 1/(r+1): Zipf's law.
pub fn zipf(u: f64, n: u64) -> u64 {
    ((n as f64).powf(u) as u64).saturating_sub(1).min(n - 1)
}

/// A Pareto draw: `scale * ((1-u)^(-1/alpha) - 1)`, floored, capped.
pub fn pareto(u: f64, scale: f64, alpha: f64, cap: u64) -> u64 {
    let v = scale * ((1.0 - u).powf(-1.0 / alpha) - 1.0);
    (v as u64).min(cap)
}

/// Rank to row: a bijection of `0..n`, so the popular rows are spread over
/// the ids (and over the creation dates) rather than the first ones.
#[derive(Debug, Clone, Copy)]
pub struct Spread {
    n: u64,
    step: u64,
    offset: u64,
}

impl Spread {
    pub fn new(n: u64, salt: u64) -> Spread {
        // A step near n / golden ratio, coprime with n: neighbouring ranks
        // land far apart.
        let gcd = |mut a: u64, mut b: u64| {
            while b != 0 {
                (a, b) = (b, a % b);
            }
            a
        };
        let mut step = ((n as f64 * 0.618_033_988_7) as u64).max(1);
        while gcd(step, n.max(1)) != 1 {
            step += 1;
        }
        Spread {
            n: n.max(1),
            step,
            offset: salt % n.max(1),
        }
    }

    pub fn row(&self, rank: u64) -> u64 {
        ((rank as u128 * self.step as u128 + self.offset as u128) % self.n as u128) as u64
    }
}

const SALT_DEGREE: u64 = 1;
const SALT_FOLLOW: u64 = 2;
const SALT_OWNER: u64 = 3;
/// Salts below 100 are the graph's; rows' fields use 100 and up.
pub const SALT_FIELDS: u64 = 100;

/// The follow edges as adjacency (row `f` follows `followees[start[f]..start[f+1]]`,
/// ascending, never itself), with every row's follower and repository counts.
pub struct Graph {
    pub shape: GraphShape,
    pub start: Vec<u64>,
    pub followees: Vec<u32>,
    pub followers: Vec<u32>,
    /// Repositories each developer row owns.
    pub owned: Vec<u32>,
}

impl Graph {
    pub fn following(&self, f: u64) -> &[u32] {
        &self.followees[self.start[f as usize] as usize..self.start[f as usize + 1] as usize]
    }

    /// The row owning repository `k`: Zipf over a spread of the developers.
    pub fn owner(shape: &GraphShape, spread: &Spread, k: u64) -> u64 {
        spread.row(zipf(unit(shape.seed, SALT_OWNER, k), shape.developers))
    }

    pub fn owner_spread(shape: &GraphShape) -> Spread {
        Spread::new(shape.developers, hash(shape.seed, SALT_OWNER, u64::MAX))
    }

    /// Draws the edges: each row's out-degree from a Pareto law, scaled so
    /// the degrees add up to `shape.edges`; the followees by Zipf's law
    /// over a spread of the rows (the celebrities), distinct per follower.
    pub fn generate(shape: GraphShape) -> Graph {
        let n = shape.developers;
        assert!(n >= 2, "a graph needs two developers");
        // Few accounts follow more than a few thousand.
        let cap = (n / 10).clamp(1, 5_000);
        let raw: Vec<u64> = (0..n)
            .map(|f| pareto(unit(shape.seed, SALT_DEGREE, f), 4.0, 1.6, cap))
            .collect();
        let total: u64 = raw.iter().sum::<u64>().max(1);
        let ratio = shape.edges as f64 / total as f64;
        let spread = Spread::new(n, hash(shape.seed, SALT_FOLLOW, u64::MAX));
        let mut start = Vec::with_capacity(n as usize + 1);
        let mut followees: Vec<u32> = Vec::with_capacity(shape.edges as usize);
        let mut followers = vec![0u32; n as usize];
        let mut wanted = 0.0f64;
        let mut picked = Vec::new();
        for f in 0..n {
            start.push(followees.len() as u64);
            // What a capped degree or a short draw left out moves on to
            // the next rows, so the edges add up to the count asked.
            wanted += raw[f as usize] as f64 * ratio;
            let degree = (wanted.round() as u64)
                .saturating_sub(followees.len() as u64)
                .min(cap) as usize;
            picked.clear();
            let mut draw = 0u64;
            // Popular accounts are drawn again and again: redraw, within reason.
            while picked.len() < degree && draw < 40 * degree as u64 + 100 {
                let u = unit(shape.seed, SALT_FOLLOW, f.wrapping_mul(1 << 20) ^ draw);
                draw += 1;
                let to = spread.row(zipf(u, n));
                if to != f {
                    picked.push(to as u32);
                    if picked.len() == degree {
                        picked.sort_unstable();
                        picked.dedup();
                    }
                }
            }
            picked.sort_unstable();
            picked.dedup();
            for &to in &picked {
                followers[to as usize] += 1;
            }
            followees.extend_from_slice(&picked);
        }
        start.push(followees.len() as u64);
        let owner_spread = Graph::owner_spread(&shape);
        let mut owned = vec![0u32; n as usize];
        for k in 0..shape.repositories {
            owned[Graph::owner(&shape, &owner_spread, k) as usize] += 1;
        }
        Graph {
            shape,
            start,
            followees,
            followers,
            owned,
        }
    }
}

/// GitHub's first account (2007-10-20) to the graph's "now" (2026-11-30):
/// ids grow with the creation date, as GitHub's do.
pub fn epoch() -> (DateTime<Utc>, DateTime<Utc>) {
    (
        Utc.with_ymd_and_hms(2007, 10, 20, 0, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2026, 11, 30, 0, 0, 0).unwrap(),
    )
}

/// When row `n` of `count` was created: in id order, a little jitter.
pub fn created(n: u64, count: u64, jitter: f64) -> DateTime<Utc> {
    let (first, now) = epoch();
    let span = (now - first).num_seconds() as f64;
    let at = (n as f64 / count.max(1) as f64 * span + (jitter - 0.5) * 86_400.0 * 20.0)
        .clamp(0.0, span - 1.0);
    first + TimeDelta::seconds(at as i64)
}

/// Postgres's text form of a timestamp in UTC.
pub fn ts(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S+00").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_graph_is_deterministic_and_has_the_asked_edges() {
        let shape = GraphShape {
            developers: 5_000,
            repositories: 4_000,
            edges: 50_000,
            seed: 7,
        };
        let a = Graph::generate(shape);
        let b = Graph::generate(shape);
        assert_eq!(a.followees, b.followees);
        let edges = a.followees.len() as u64;
        // Short draws are made up by the rows after.
        assert!(edges > 49_500 && edges <= 50_000, "{edges}");
        for f in 0..shape.developers {
            let list = a.following(f);
            assert!(list.windows(2).all(|w| w[0] < w[1]), "sorted, distinct");
            assert!(!list.contains(&(f as u32)), "nobody follows itself");
        }
        assert_eq!(a.followers.iter().map(|&x| x as u64).sum::<u64>(), edges);
        assert_eq!(a.owned.iter().map(|&x| x as u64).sum::<u64>(), 4_000);
        // A power law: a celebrity far above the median, many with none.
        let mut sorted = a.followers.clone();
        sorted.sort_unstable();
        let median = sorted[sorted.len() / 2];
        let top = *sorted.last().unwrap();
        assert!(top > 50 * median.max(1), "top {top}, median {median}");
        assert!(sorted[0] == 0);
    }

    #[test]
    fn spread_is_a_bijection() {
        for n in [2u64, 7, 1000, 1_000_003 * 2] {
            let s = Spread::new(n, 12345);
            if n <= 1000 {
                let mut seen: Vec<u64> = (0..n).map(|r| s.row(r)).collect();
                seen.sort_unstable();
                assert_eq!(seen, (0..n).collect::<Vec<_>>());
            } else {
                assert_ne!(s.row(1), s.row(2));
            }
        }
    }
}
