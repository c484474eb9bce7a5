//! Rate limits: a token bucket per key (a client address, a session, a tenant), refilled
//! continuously, so a burst up to a minute's allowance passes and a flood gets 429 with the
//! seconds to wait. Memory is bounded: past `MAX_KEYS` the oldest key makes room, unless it is
//! still in use (then the next oldest is looked at, a few at most) — found from a queue of keys
//! by age, never by scanning every bucket.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

/// Buckets kept at most.
const MAX_KEYS: usize = 100_000;
/// Oldest keys looked at for one that is idle before the oldest goes regardless.
const EVICT_TRIES: usize = 8;

struct Bucket {
    tokens: f64,
    at: Instant,
    /// Tokens per second and capacity, as last asked for.
    rate: f64,
    cap: f64,
}

impl Bucket {
    /// How full it is by now, 0–1: at 1 nothing is lost by dropping it.
    fn fill(&self, now: Instant) -> f64 {
        ((self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate) / self.cap).min(1.0)
    }
}

#[derive(Default)]
struct Buckets {
    map: HashMap<String, Bucket>,
    /// Every key of `map`, oldest first.
    order: VecDeque<String>,
}

impl Buckets {
    /// Drops one key to make room: of the few oldest, the fullest (a key that is being
    /// limited, nearly empty, is the last to go, so a flood of new keys cannot reset it).
    fn evict(&mut self, now: Instant) {
        let n = EVICT_TRIES.min(self.order.len());
        let oldest: Vec<String> = self.order.drain(..n).collect();
        let fill = |k: &String| self.map.get(k).map_or(1.0, |b| b.fill(now));
        let Some(victim) = (0..oldest.len()).max_by(|&a, &b| {
            fill(&oldest[a])
                .total_cmp(&fill(&oldest[b]))
                .then(b.cmp(&a))
        }) else {
            return;
        };
        self.map.remove(&oldest[victim]);
        // The others stay where they were, oldest first.
        for (i, k) in oldest.into_iter().enumerate().rev() {
            if i != victim {
                self.order.push_front(k);
            }
        }
    }
}

/// Token buckets by key.
pub struct RateLimiter {
    buckets: Mutex<Buckets>,
    max_keys: usize,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::with_max_keys(MAX_KEYS)
    }
}

impl RateLimiter {
    /// A limiter keeping at most `max_keys` buckets.
    pub fn with_max_keys(max_keys: usize) -> Self {
        Self {
            buckets: Mutex::default(),
            max_keys: max_keys.max(1),
        }
    }

    /// Takes one token from `key`'s bucket (capacity and refill: `per_minute`). `Err(secs)`:
    /// empty, try again in `secs` seconds.
    pub fn check(&self, key: &str, per_minute: u32) -> Result<(), u64> {
        let rate = f64::from(per_minute.max(1)) / 60.0;
        let cap = f64::from(per_minute.max(1));
        let now = Instant::now();
        let mut all = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !all.map.contains_key(key) {
            while all.map.len() >= self.max_keys {
                all.evict(now);
            }
            all.order.push_back(key.to_owned());
        }
        let b = all.map.entry(key.to_owned()).or_insert(Bucket {
            tokens: cap,
            at: now,
            rate,
            cap,
        });
        b.rate = rate;
        b.cap = cap;
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(cap);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / rate).ceil().max(1.0) as u64)
        }
    }

    /// Buckets kept now.
    pub fn len(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .map
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// At most `admin.rate_per_minute` calls to `/admin` from one client address, counted before
/// the token is looked at.
pub(super) async fn admin_rate(
    axum::extract::State(app): axum::extract::State<super::AppState>,
    super::kyc::ClientIp(ip): super::kyc::ClientIp,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if req.uri().path().starts_with("/admin")
        && let Err(e) = app.limit(&format!("admin:{ip}"), app.settings.admin.rate_per_minute)
    {
        return axum::response::IntoResponse::into_response(e);
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_key_waits_and_others_do_not() {
        let l = RateLimiter::default();
        for _ in 0..3 {
            assert!(l.check("a", 3).is_ok());
        }
        let wait = l.check("a", 3).expect_err("limited");
        assert!((1..=20).contains(&wait), "{wait}");
        assert!(l.check("b", 3).is_ok());
    }

    #[test]
    fn memory_stays_bounded_and_a_limited_key_keeps_its_state_through_a_flood() {
        let l = RateLimiter::with_max_keys(100);
        // A key that used up its allowance…
        for _ in 0..3 {
            let _ = l.check("busy", 3);
        }
        assert!(l.check("busy", 3).is_err());
        // …survives 10 000 fresh keys (each used once: idle as soon as it refills, which at
        // 600 a minute is not at once, so some make room for others by age).
        for i in 0..10_000 {
            let _ = l.check(&format!("k{i}"), 600);
            assert!(l.len() <= 100);
        }
        assert_eq!(l.len(), 100);
        assert!(l.check("busy", 3).is_err(), "still limited");
    }
}
