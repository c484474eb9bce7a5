//! The `flow` scenario: `--users` tasks, each running one whole verification after another
//! (session, socket, ID card, video, comparison), started no faster than `--rate`, while the
//! server's memory is sampled alongside.
//!
//! Every wait has an end: each request and each event wait by `--step-timeout-secs`, the whole
//! run by `--max-secs`; a verification still running then is abandoned and counted unfinished.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, sleep_until, timeout, timeout_at};

use super::api::{self, Media, Step};
use super::config::FlowConfig;
use super::memory::{self, MemoryCurve};
use super::report::FlowReport;
use super::tally::Tally;
use crate::sessions::api::{Created, Fault, Ws, connect_ws};
use crate::sessions::scenario::{SetupError, wait_ready};

/// A user's pause after a failed verification, so a server that refuses everything is not
/// hammered in a tight loop.
const FAILURE_PAUSE: Duration = Duration::from_secs(1);

/// How long before a refused WebSocket upgrade (503 `AT_CAPACITY`) is tried again: the server's
/// `Retry-After` for it, which the socket's error does not carry.
const WS_RETRY: Duration = Duration::from_secs(5);

/// Why the scenario cannot start (exit status 2): nothing has been sent yet.
#[derive(Debug, thiserror::Error)]
pub enum FlowSetupError {
    #[error("cannot read --{flag} {path}: {source}")]
    File {
        flag: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("--{flag} {path} is empty")]
    Empty { flag: &'static str, path: String },
    #[error(transparent)]
    Setup(#[from] SetupError),
}

/// What every user shares.
struct Shared {
    cfg: FlowConfig,
    media: Media,
    /// Verifications handed out so far (the next one's number).
    tickets: AtomicU64,
    start: Instant,
    /// No verification starts at or after this.
    last_start: Instant,
    /// Everything still running is abandoned here.
    deadline: Instant,
}

/// When verification `k` (from 0) may start, after the run's start: `k` × 60 / `rate` with a
/// rate per minute, at once without.
pub fn start_offset(rate_per_min: Option<f64>, k: u64) -> Duration {
    match rate_per_min {
        Some(rate) if rate > 0.0 => {
            Duration::try_from_secs_f64(k as f64 * 60.0 / rate).unwrap_or(Duration::MAX)
        }
        _ => Duration::ZERO,
    }
}

impl Shared {
    /// The instant the calling user's next verification starts at; `None` once
    /// `--verifications` are handed out or `--duration-secs` is over.
    fn next_start(&self) -> Option<Instant> {
        let k = self.tickets.fetch_add(1, Ordering::SeqCst);
        if self.cfg.verifications().is_some_and(|m| k >= m) {
            return None;
        }
        let at = self
            .start
            .checked_add(start_offset(self.cfg.rate(), k))
            .unwrap_or(self.last_start)
            .max(Instant::now());
        (at < self.last_start).then_some(at)
    }
}

/// Reads `path` whole; empty or unreadable files stop the run before it starts.
async fn read_file(flag: &'static str, path: &Path) -> Result<Vec<u8>, FlowSetupError> {
    let shown = path.display().to_string();
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|source| FlowSetupError::File {
            flag,
            path: shown.clone(),
            source,
        })?;
    if bytes.is_empty() {
        return Err(FlowSetupError::Empty { flag, path: shown });
    }
    Ok(bytes)
}

/// Runs the scenario: see the module's documentation and `loadtest flow --help`.
pub async fn run_flow(cfg: &FlowConfig) -> Result<FlowReport, FlowSetupError> {
    let media = Media {
        card: read_file("card", cfg.card()).await?,
        video: read_file("video", cfg.video()).await?,
    };
    wait_ready(cfg.client(), cfg.url("/readyz"), cfg.wait()).await?;
    if let Some(pid) = cfg.server_pid() {
        crate::sessions::host::vm_rss_kb(pid).map_err(SetupError::from)?;
    }

    let start = Instant::now();
    let shared = Arc::new(Shared {
        cfg: cfg.clone(),
        media,
        tickets: AtomicU64::new(0),
        start,
        last_start: start + cfg.duration(),
        deadline: start + cfg.max_duration(),
    });
    let (stop_sampling, stopped) = oneshot::channel();
    let sampler = cfg.server_pid().map(|pid| {
        tokio::spawn(memory::sample_until(
            pid,
            start,
            cfg.sample_every(),
            stopped,
        ))
    });

    let mut set = JoinSet::new();
    for _ in 0..cfg.users() {
        set.spawn(user(Arc::clone(&shared)));
    }
    let mut tally = Tally::default();
    let last_call = shared.deadline + Duration::from_secs(5);
    while let Ok(Some(joined)) = timeout_at(last_call, set.join_next()).await {
        match joined {
            Ok(t) => tally.merge(t),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => unreachable!("user tasks are only cancelled after the last join: {e}"),
        }
    }
    tally.unfinished += set.len() as u64;
    set.abort_all();

    let _ = stop_sampling.send(());
    let sampled = match sampler {
        Some(task) => task.await.unwrap_or_default(),
        None => memory::Sampled::default(),
    };
    let mut report = FlowReport::new(cfg, tally, start.elapsed().as_secs_f64());
    report.memory = cfg
        .server_pid()
        .and_then(|pid| MemoryCurve::new(pid, sampled.samples));
    report.memory_errors = sampled.errors.len() as u64;
    report.warnings = sampled.errors;
    Ok(report)
}

/// One virtual user: verifications one after another until none may start any more.
async fn user(shared: Arc<Shared>) -> Tally {
    let mut t = Tally::default();
    while let Some(at) = shared.next_start() {
        sleep_until(at).await;
        t.started += 1;
        let begun = Instant::now();
        match timeout_at(shared.deadline, verify(&shared, &mut t)).await {
            Ok(Ok(decision)) => t.decided(decision, begun.elapsed()),
            Ok(Err(fault)) => {
                t.failed(fault);
                sleep(FAILURE_PAUSE).await;
            }
            Err(_) => {
                t.unfinished += 1;
                break;
            }
        }
    }
    t
}

/// One whole verification; its decision, or why it failed. Each step's time goes into `t`.
async fn verify(shared: &Shared, t: &mut Tally) -> Result<String, Fault> {
    let cfg = &shared.cfg;
    let step_end = || Instant::now() + cfg.step_timeout();
    let created = api::create(cfg, step_end(), &mut t.retries).await?;
    let mut ws = open_socket(&created, step_end(), t).await?;
    let mut decision = None;
    for step in [Step::Card, Step::Video, Step::Compare] {
        let sent = api::start(
            cfg,
            step,
            &created,
            &shared.media,
            step_end(),
            &mut t.retries,
        )
        .await?;
        decision = api::wait(&mut ws, step, &created.session_id, step_end()).await?;
        t.stage(step, sent.elapsed());
    }
    // A clean close, bounded; how it goes does not change the verification's outcome.
    let _ = timeout(Duration::from_secs(5), async {
        let _ = ws.close(None).await;
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
    decision.ok_or_else(|| Fault::new("compare_no_decision"))
}

/// Opens the session's socket, trying again after [`WS_RETRY`] while the server is at capacity.
async fn open_socket(created: &Created, until: Instant, t: &mut Tally) -> Result<Ws, Fault> {
    loop {
        let fault = match timeout_at(until, connect_ws(created)).await {
            Ok(Ok(ws)) => return Ok(ws),
            Ok(Err(fault)) => fault,
            Err(_) => return Err(Fault::new("ws_timeout")),
        };
        let busy = matches!(fault.0.as_str(), "ws_status_503" | "ws_status_429");
        if !busy || Instant::now() + WS_RETRY >= until {
            return Err(fault);
        }
        let key = fault.0.replace("ws_status_", "ws_");
        *t.retries.entry(key).or_default() += 1;
        sleep(WS_RETRY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_are_paced_by_the_rate() {
        assert_eq!(start_offset(None, 0), Duration::ZERO);
        assert_eq!(start_offset(None, 1000), Duration::ZERO);
        assert_eq!(start_offset(Some(30.0), 0), Duration::ZERO);
        assert_eq!(start_offset(Some(30.0), 1), Duration::from_secs(2));
        assert_eq!(start_offset(Some(30.0), 15), Duration::from_secs(30));
        assert_eq!(start_offset(Some(120.0), 3), Duration::from_millis(1500));
        assert_eq!(start_offset(Some(1e-300), u64::MAX), Duration::MAX);
    }

    fn shared(extra: &[&str]) -> Shared {
        let cfg = FlowConfig::for_tests(extra).unwrap();
        let start = Instant::now();
        Shared {
            media: Media::default(),
            tickets: AtomicU64::new(0),
            start,
            last_start: start + cfg.duration(),
            deadline: start + cfg.max_duration(),
            cfg,
        }
    }

    #[tokio::test]
    async fn tickets_stop_at_the_count_and_the_duration() {
        let s = shared(&["--verifications", "3"]);
        let starts: Vec<_> = std::iter::from_fn(|| s.next_start()).take(10).collect();
        assert_eq!(starts.len(), 3);
        assert!(
            starts
                .iter()
                .all(|&at| at < s.start + Duration::from_secs(1))
        );
        // 60 per minute for 10 s: starts at 0, 1, …, 9 s, none at 10 s.
        let s = shared(&["--rate", "60", "--duration-secs", "10"]);
        let starts: Vec<_> = std::iter::from_fn(|| s.next_start()).take(20).collect();
        assert_eq!(starts.len(), 10);
        assert_eq!(starts[9] - s.start, Duration::from_secs(9));
    }
}
