//! Counters and latency histograms of the session work that `/metrics` exports and `/admin`
//! shows: how long each stage's job took (waiting for an engine included) and how many jobs
//! failed. Lock-free: jobs update them from any thread.

use actors::session::Stage;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, seconds.
pub const BOUNDS: [f64; 12] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0,
];

/// A Prometheus-style histogram (cumulative buckets are computed when read).
#[derive(Default)]
pub struct Histogram {
    buckets: [AtomicU64; BOUNDS.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        if let Some(i) = BOUNDS.iter().position(|b| s <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    /// (upper bound, cumulative count) per bucket, then the count and the sum in seconds.
    pub fn read(&self) -> (Vec<(f64, u64)>, u64, f64) {
        let mut acc = 0;
        let buckets = BOUNDS
            .iter()
            .zip(&self.buckets)
            .map(|(b, n)| {
                acc += n.load(Ordering::Relaxed);
                (*b, acc)
            })
            .collect();
        (
            buckets,
            self.count.load(Ordering::Relaxed),
            self.sum_us.load(Ordering::Relaxed) as f64 / 1e6,
        )
    }
}

#[derive(Default)]
pub struct Metrics {
    stage: [Histogram; Stage::WORK.len()],
    failed: [AtomicU64; Stage::WORK.len()],
}

impl Metrics {
    fn index(stage: Stage) -> Option<usize> {
        Stage::WORK.iter().position(|s| *s == stage)
    }

    /// A job of `stage` ended after `d`; `ok` false when it failed on a system error.
    pub fn job(&self, stage: Stage, d: Duration, ok: bool) {
        if let Some(i) = Self::index(stage) {
            self.stage[i].observe(d);
            if !ok {
                self.failed[i].fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn stage(&self, stage: Stage) -> Option<&Histogram> {
        Self::index(stage).map(|i| &self.stage[i])
    }

    pub fn failed(&self, stage: Stage) -> u64 {
        Self::index(stage).map_or(0, |i| self.failed[i].load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_failures_counted() {
        let m = Metrics::default();
        m.job(Stage::Video, Duration::from_millis(700), true);
        m.job(Stage::Video, Duration::from_secs(3), false);
        m.job(Stage::Session, Duration::from_secs(1), false);
        let (b, count, sum) = m.stage(Stage::Video).expect("video").read();
        assert_eq!(count, 2);
        assert!((sum - 3.7).abs() < 1e-6);
        assert_eq!(b.iter().find(|(u, _)| *u == 1.0).map(|x| x.1), Some(1));
        assert_eq!(b.last().map(|x| x.1), Some(2));
        assert_eq!(m.failed(Stage::Video), 1);
        assert_eq!(m.failed(Stage::IdCapture), 0);
    }
}
