//! The server's memory over a long run: its VmRSS (read by [`crate::sessions::host`]) and open
//! file descriptors, sampled every `--sample-secs`, so that a soak shows whether they stay flat.

use std::time::Duration;

use serde::Serialize;
use tokio::sync::oneshot;
use tokio::time::{Instant, sleep_until};

use crate::sessions::host::{self, ProcError};

/// One look at the server.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sample {
    /// Seconds since the run began.
    pub elapsed_s: f64,
    /// VmRSS in MiB.
    pub rss_mib: f64,
    /// Entries of `/proc/PID/fd`; `None` when that folder cannot be read (another user's
    /// process).
    pub open_fds: Option<u64>,
}

/// Every sample of a run and what they add up to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemoryCurve {
    pub pid: u32,
    pub first_mib: f64,
    pub last_mib: f64,
    pub max_mib: f64,
    /// `last_mib - first_mib`: near zero when memory is flat.
    pub growth_mib: f64,
    pub samples: Vec<Sample>,
}

impl MemoryCurve {
    /// The curve of `samples` (in time order); `None` when there are none.
    pub fn new(pid: u32, samples: Vec<Sample>) -> Option<Self> {
        let first_mib = samples.first()?.rss_mib;
        let last_mib = samples.last()?.rss_mib;
        let max_mib = samples.iter().map(|s| s.rss_mib).fold(first_mib, f64::max);
        Some(Self {
            pid,
            first_mib,
            last_mib,
            max_mib,
            growth_mib: last_mib - first_mib,
            samples,
        })
    }
}

/// The number of open file descriptors of process `pid`, when `/proc/PID/fd` can be listed.
pub fn open_fds(pid: u32) -> Option<u64> {
    let entries = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(entries.filter(Result::is_ok).count() as u64)
}

/// Samples process `pid` now, `elapsed` into the run.
pub fn sample(pid: u32, elapsed: Duration) -> Result<Sample, ProcError> {
    let kb = host::vm_rss_kb(pid)?;
    Ok(Sample {
        elapsed_s: elapsed.as_secs_f64(),
        rss_mib: kb as f64 / 1024.0,
        open_fds: open_fds(pid),
    })
}

/// What the sampler gathered: the samples and the reads that failed.
#[derive(Debug, Default)]
pub struct Sampled {
    pub samples: Vec<Sample>,
    pub errors: Vec<String>,
}

/// Samples `pid` at `start` and every `every` after it until `stop` fires (or is dropped),
/// then once more.
pub async fn sample_until(
    pid: u32,
    start: Instant,
    every: Duration,
    mut stop: oneshot::Receiver<()>,
) -> Sampled {
    let mut out = Sampled::default();
    let take = |out: &mut Sampled| match sample(pid, start.elapsed()) {
        Ok(s) => out.samples.push(s),
        Err(e) => out.errors.push(e.to_string()),
    };
    let mut next = start;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            () = sleep_until(next) => {
                take(&mut out);
                next += every;
            }
        }
    }
    take(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(elapsed_s: f64, rss_mib: f64) -> Sample {
        Sample {
            elapsed_s,
            rss_mib,
            open_fds: Some(10),
        }
    }

    #[test]
    fn curve_summary() {
        assert_eq!(MemoryCurve::new(1, Vec::new()), None);
        let c =
            MemoryCurve::new(7, vec![at(0.0, 500.0), at(60.0, 540.0), at(120.0, 510.5)]).unwrap();
        assert_eq!(
            (c.pid, c.first_mib, c.last_mib, c.max_mib, c.growth_mib),
            (7, 500.0, 510.5, 540.0, 10.5)
        );
        let shrinking = MemoryCurve::new(7, vec![at(0.0, 600.0), at(1.0, 550.0)]).unwrap();
        assert_eq!((shrinking.max_mib, shrinking.growth_mib), (600.0, -50.0));
    }

    #[test]
    fn own_process_is_sampled() {
        let s = sample(std::process::id(), Duration::from_secs(3)).unwrap();
        assert_eq!(s.elapsed_s, 3.0);
        assert!(s.rss_mib > 0.1, "{s:?}");
        assert!(s.open_fds.is_some_and(|n| n >= 3), "{s:?}");
        assert_eq!(open_fds(u32::MAX), None);
        assert!(sample(u32::MAX, Duration::ZERO).is_err());
    }

    #[tokio::test]
    async fn samples_at_the_start_every_period_and_at_the_end() {
        let (tx, rx) = oneshot::channel();
        let start = Instant::now();
        let every = Duration::from_millis(40);
        let task = tokio::spawn(sample_until(std::process::id(), start, every, rx));
        tokio::time::sleep(Duration::from_millis(150)).await;
        tx.send(()).unwrap();
        let sampled = task.await.unwrap();
        assert!(sampled.errors.is_empty(), "{:?}", sampled.errors);
        let times: Vec<f64> = sampled.samples.iter().map(|s| s.elapsed_s).collect();
        // At 0, 40, 80, 120 ms (a busy machine may skip one), then at the stop.
        assert!((3..=5).contains(&times.len()), "{times:?}");
        assert!(times[0] < 0.04, "{times:?}");
        assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
        assert!(times[times.len() - 1] >= 0.15, "{times:?}");
    }
}
