//! Latency percentiles: every latency is recorded, sorted once, and indexed (nearest rank).
//!
//! Exact rather than estimated: a run of a few million requests costs a few tens of MiB, and an
//! exact p99 is what a regression is judged on.

use std::time::Duration;

use serde::Serialize;

/// The `p`-th percentile of `sorted` (ascending) by the nearest-rank method: the smallest value
/// such that at least `p` % of the values are at or below it. `p` is clamped to 0..=100; `None`
/// when there are no values.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 100.0) };
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.saturating_sub(1).min(sorted.len() - 1)])
}

/// p50 / p90 / p99 / max of a run, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencySummary {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl LatencySummary {
    /// Sorts `latencies` in place and summarises them; `None` when there are none.
    pub fn from_latencies(latencies: &mut [Duration]) -> Option<Self> {
        latencies.sort_unstable();
        let ms = |p| percentile(latencies, p).map(|d| d.as_secs_f64() * 1e3);
        Some(Self {
            p50: ms(50.0)?,
            p90: ms(90.0)?,
            p99: ms(99.0)?,
            max: ms(100.0)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: impl IntoIterator<Item = u64>) -> Vec<Duration> {
        values.into_iter().map(Duration::from_millis).collect()
    }

    #[test]
    fn empty_has_no_percentiles() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(LatencySummary::from_latencies(&mut []), None);
    }

    #[test]
    fn single_value_is_every_percentile() {
        let v = ms([7]);
        for p in [0.0, 1.0, 50.0, 99.0, 100.0] {
            assert_eq!(percentile(&v, p), Some(Duration::from_millis(7)));
        }
    }

    #[test]
    fn nearest_rank_on_one_to_hundred() {
        let v = ms(1..=100);
        assert_eq!(percentile(&v, 0.0), Some(Duration::from_millis(1)));
        assert_eq!(percentile(&v, 1.0), Some(Duration::from_millis(1)));
        assert_eq!(percentile(&v, 50.0), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&v, 90.0), Some(Duration::from_millis(90)));
        assert_eq!(percentile(&v, 99.0), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&v, 99.5), Some(Duration::from_millis(100)));
        assert_eq!(percentile(&v, 100.0), Some(Duration::from_millis(100)));
    }

    #[test]
    fn nearest_rank_on_small_sets() {
        // Worked examples of the nearest-rank method: rank = ceil(p/100 * n).
        let v = ms([15, 20, 35, 40, 50]);
        assert_eq!(percentile(&v, 5.0), Some(Duration::from_millis(15)));
        assert_eq!(percentile(&v, 30.0), Some(Duration::from_millis(20)));
        assert_eq!(percentile(&v, 40.0), Some(Duration::from_millis(20)));
        assert_eq!(percentile(&v, 50.0), Some(Duration::from_millis(35)));
        assert_eq!(percentile(&v, 100.0), Some(Duration::from_millis(50)));
        let v = ms([1, 2]);
        assert_eq!(percentile(&v, 50.0), Some(Duration::from_millis(1)));
        assert_eq!(percentile(&v, 50.1), Some(Duration::from_millis(2)));
    }

    #[test]
    fn out_of_range_p_is_clamped() {
        let v = ms([1, 2, 3]);
        assert_eq!(percentile(&v, -5.0), Some(Duration::from_millis(1)));
        assert_eq!(percentile(&v, 250.0), Some(Duration::from_millis(3)));
        assert_eq!(percentile(&v, f64::NAN), Some(Duration::from_millis(1)));
    }

    #[test]
    fn summary_sorts_unsorted_input() {
        let mut v = ms((1..=1000).rev());
        let s = LatencySummary::from_latencies(&mut v).unwrap();
        assert_eq!(
            s,
            LatencySummary {
                p50: 500.0,
                p90: 900.0,
                p99: 990.0,
                max: 1000.0
            }
        );
        assert!(v.windows(2).all(|w| w[0] <= w[1]));
    }
}
