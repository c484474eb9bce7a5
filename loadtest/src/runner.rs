//! The load loop: `concurrency` workers take request tickets until the count or the deadline runs out.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::config::Config;
use crate::report::{ErrorKind, Report, StopReason};
use crate::stats::LatencySummary;

/// What one worker saw.
#[derive(Default)]
struct Tally {
    sent: u64,
    ok: u64,
    errors: BTreeMap<ErrorKind, u64>,
    unfinished: u64,
    latencies: Vec<Duration>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.sent += other.sent;
        self.ok += other.ok;
        for (kind, n) in other.errors {
            *self.errors.entry(kind).or_default() += n;
        }
        self.unfinished += other.unfinished;
        self.latencies.extend(other.latencies);
    }
}

/// Sends GET requests to `cfg.target()` until `cfg.requests()` have been sent or
/// `cfg.max_duration()` has passed, whichever comes first, with `cfg.concurrency()` in flight.
///
/// Requests still in flight at the deadline are abandoned and reported as `unfinished`.
pub async fn run(cfg: &Config) -> Report {
    let start = Instant::now();
    let deadline = start + cfg.max_duration();
    let tickets = Arc::new(AtomicU64::new(0));
    let workers = (cfg.concurrency() as u64).min(cfg.requests()).max(1);

    let mut set = JoinSet::new();
    for _ in 0..workers {
        let client = cfg.client().clone();
        let url = cfg.target().clone();
        let tickets = Arc::clone(&tickets);
        let planned = cfg.requests();
        set.spawn(async move {
            let mut tally = Tally::default();
            while Instant::now() < deadline && tickets.fetch_add(1, Ordering::Relaxed) < planned {
                tally.sent += 1;
                let sent_at = Instant::now();
                match tokio::time::timeout_at(deadline, get(&client, url.clone())).await {
                    Err(_) => {
                        tally.unfinished += 1;
                        break;
                    }
                    Ok(Ok(status)) => {
                        tally.latencies.push(sent_at.elapsed());
                        if status.is_success() {
                            tally.ok += 1;
                        } else {
                            *tally
                                .errors
                                .entry(ErrorKind::Status(status.as_u16()))
                                .or_default() += 1;
                        }
                    }
                    Ok(Err(err)) => *tally.errors.entry(ErrorKind::of(&err)).or_default() += 1,
                }
            }
            tally
        });
    }

    let mut total = Tally::default();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(tally) => total.merge(tally),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => unreachable!("load workers are never cancelled: {e}"),
        }
    }
    let elapsed = start.elapsed().as_secs_f64();

    let failed: u64 = total.errors.values().sum();
    let finished = total.ok + failed;
    Report {
        target: cfg.target().to_string(),
        planned: cfg.requests(),
        concurrency: cfg.concurrency(),
        sent: total.sent,
        ok: total.ok,
        failed,
        errors: total.errors.iter().map(|(k, n)| (k.key(), *n)).collect(),
        unfinished: total.unfinished,
        stopped_by: if total.sent == cfg.requests() && total.unfinished == 0 {
            StopReason::Requests
        } else {
            StopReason::Time
        },
        elapsed_secs: elapsed,
        throughput_rps: if elapsed > 0.0 {
            finished as f64 / elapsed
        } else {
            0.0
        },
        latency_ms: LatencySummary::from_latencies(&mut total.latencies),
    }
}

/// One GET, read to the last body byte so the connection can be reused and the latency is whole.
async fn get(
    client: &reqwest::Client,
    url: reqwest::Url,
) -> Result<reqwest::StatusCode, reqwest::Error> {
    let response = client.get(url).send().await?;
    let status = response.status();
    response.bytes().await?;
    Ok(status)
}
