//! The `sessions` scenario: N session tasks, each creating a session, holding its WebSocket,
//! sending live frames and reading every event; the run's own task moves them through the
//! phases (opening → hold → close) and samples the server's memory in between.
//!
//! Every wait has an end: the open phase, the hold and the wait for late events are each bounded
//! by `--max-secs`; a task still busy then stops by itself and is counted as unfinished.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until, timeout_at};
use tokio_tungstenite::tungstenite::Message;

use super::api::{self, Created, Fault, Seen, Ws};
use super::config::SessionsConfig;
use super::frame::{FRAME_SIZE, card_frame_png};
use super::host::{self, NofileLimit};
use super::report::{Memory, SessionsReport, Stop};
use crate::stats::LatencySummary;

/// Share of the hold over which the live frames are spread; the rest leaves time for the last
/// events to arrive before the sockets close.
const SEND_SHARE: f64 = 0.8;

/// Why the scenario cannot start (exit status 2): nothing has been sent yet.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot read or raise the open-files limit (RLIMIT_NOFILE): {0}")]
    Rlimit(std::io::Error),
    #[error(
        "{sessions} sessions need about {needed} file descriptors, but this process may only \
         open {soft} (RLIMIT_NOFILE, hard limit {hard}); raise the hard limit (ulimit -Hn, \
         LimitNOFILE=, /etc/security/limits.conf) or ask for fewer --sessions"
    )]
    Descriptors {
        sessions: u64,
        needed: u64,
        soft: u64,
        hard: u64,
    },
    #[error("cannot make the live frame: {0}")]
    Frame(#[from] png::EncodingError),
    #[error("{url} did not answer 200 within --wait-secs ({secs} s); is the server running?")]
    NotReady { url: String, secs: u64 },
    #[error("--server-pid: {0}")]
    Server(#[from] host::ProcError),
}

/// Where the run is; every session task watches it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Opening,
    /// All sessions are open (or failed to); the hold began at this instant.
    Hold(Instant),
    Close,
}

/// A countdown step: adds one permit to its semaphore once, when fired or dropped.
struct Signal(Option<Arc<Semaphore>>);

impl Signal {
    fn new(sem: &Arc<Semaphore>) -> Self {
        Self(Some(Arc::clone(sem)))
    }

    fn fire(&mut self) {
        if let Some(sem) = self.0.take() {
            sem.add_permits(1);
        }
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        self.fire();
    }
}

/// What every session task shares.
struct Shared {
    cfg: SessionsConfig,
    frame: Vec<u8>,
    /// Sessions being opened at once.
    opening: Semaphore,
    /// Frame uploads in flight at once.
    uploads: Semaphore,
    /// One permit per session whose opening is over, however it went.
    open_over: Arc<Semaphore>,
    /// One permit per opened session whose events are all in (or overdue).
    events_over: Arc<Semaphore>,
    opened: AtomicU64,
    deadline: Instant,
}

/// What one session saw.
#[derive(Debug, Default)]
struct Tally {
    opened: bool,
    create: Option<Duration>,
    connect: Option<Duration>,
    frames_sent: u64,
    frames_accepted: u64,
    events: u64,
    live_events: u64,
    pings: u64,
    latencies: Vec<Duration>,
    errors: BTreeMap<String, u64>,
    unfinished: bool,
}

impl Tally {
    fn fault(&mut self, fault: Fault) {
        self.fault_n(fault, 1);
    }

    fn fault_n(&mut self, fault: Fault, n: u64) {
        if n > 0 {
            *self.errors.entry(fault.0).or_default() += n;
        }
    }
}

/// When session `index` of `sessions` sends frame `j` of `k`: frames are spread evenly over
/// the first [`SEND_SHARE`] of the hold, sessions staggered within each slot.
pub fn frame_time(
    hold_start: Instant,
    hold: Duration,
    index: u64,
    sessions: u64,
    j: u64,
    k: u64,
) -> Instant {
    let slot = (j as f64 + index as f64 / sessions.max(1) as f64) / k.max(1) as f64;
    hold_start + hold.mul_f64(SEND_SHARE * slot)
}

/// Runs the scenario: see the module's documentation and `loadtest sessions --help`.
pub async fn run_sessions(cfg: &SessionsConfig) -> Result<SessionsReport, SetupError> {
    let NofileLimit { soft, hard } = host::raise_nofile().map_err(SetupError::Rlimit)?;
    let needed = cfg.descriptors_needed();
    if soft < needed {
        return Err(SetupError::Descriptors {
            sessions: cfg.sessions(),
            needed,
            soft,
            hard,
        });
    }
    let mut warnings = Vec::new();
    let server_nofile = cfg.server_pid().and_then(host::nofile_soft_of);
    if let Some(limit) = server_nofile.filter(|&l| l < cfg.sessions() + 64) {
        warnings.push(format!(
            "the server may only open {limit} files (its RLIMIT_NOFILE); {} sockets will not fit",
            cfg.sessions()
        ));
    }
    let (w, h) = FRAME_SIZE;
    let frame = card_frame_png(w, h)?;
    wait_ready(cfg.client(), cfg.endpoint("/readyz"), cfg.wait()).await?;
    let rss_before = cfg.server_pid().map(host::vm_rss_kb).transpose()?;

    let start = Instant::now();
    let deadline = start + cfg.max_duration();
    let shared = Arc::new(Shared {
        cfg: cfg.clone(),
        frame,
        opening: Semaphore::new(cfg.open_concurrency()),
        uploads: Semaphore::new(cfg.upload_concurrency()),
        open_over: Arc::new(Semaphore::new(0)),
        events_over: Arc::new(Semaphore::new(0)),
        opened: AtomicU64::new(0),
        deadline,
    });
    let (phase_tx, phase_rx) = watch::channel(Phase::Opening);
    let mut set = JoinSet::new();
    for index in 0..cfg.sessions() {
        set.spawn(session(index, Arc::clone(&shared), phase_rx.clone()));
    }
    drop(phase_rx);

    // Opening: every task says when its attempt is over.
    let all = u32::try_from(cfg.sessions()).unwrap_or(u32::MAX);
    let _ = timeout_at(deadline, shared.open_over.acquire_many(all)).await;
    let open_secs = start.elapsed().as_secs_f64();

    // The hold: all sockets open together; frames go out and heartbeats flow.
    let hold_start = Instant::now();
    phase_tx.send_replace(Phase::Hold(hold_start));
    sleep_until((hold_start + cfg.hold()).min(deadline)).await;
    let opened = u32::try_from(shared.opened.load(Ordering::SeqCst)).unwrap_or(u32::MAX);
    let _ = timeout_at(deadline, shared.events_over.acquire_many(opened)).await;

    let mut server_errors = 0;
    let rss_open = match cfg.server_pid().map(host::vm_rss_kb) {
        Some(Ok(kb)) => Some(kb),
        Some(Err(e)) => {
            warnings.push(e.to_string());
            server_errors += 1;
            None
        }
        None => None,
    };
    phase_tx.send_replace(Phase::Close);

    let mut tallies = Vec::with_capacity(set.len());
    let last_call = deadline + cfg.timeout() + Duration::from_secs(5);
    while let Ok(Some(joined)) = timeout_at(last_call, set.join_next()).await {
        match joined {
            Ok(tally) => tallies.push(tally),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => unreachable!("session tasks are only cancelled after the last join: {e}"),
        }
    }
    let lost = set.len() as u64;
    set.abort_all();

    let memory = match (cfg.server_pid(), rss_before, rss_open) {
        (Some(pid), Some(before_kb), Some(open_kb)) => {
            Some(Memory::new(pid, before_kb, open_kb, opened.into()))
        }
        _ => None,
    };
    let mut report = summarise(cfg, tallies, lost);
    if server_errors > 0 {
        report.add_errors("server_memory", server_errors);
    }
    report.stopped_by = if report.unfinished == 0 {
        Stop::Completed
    } else {
        Stop::Time
    };
    report.open_secs = open_secs;
    report.elapsed_secs = start.elapsed().as_secs_f64();
    report.memory = memory;
    report.client_nofile_limit = soft;
    report.server_nofile_limit = server_nofile;
    report.warnings = warnings;
    Ok(report)
}

/// Polls `url` (the server's `GET /readyz`) until it answers 200, for at most `wait` (zero: not
/// at all).
pub async fn wait_ready(
    client: &reqwest::Client,
    url: reqwest::Url,
    wait: Duration,
) -> Result<(), SetupError> {
    if wait.is_zero() {
        return Ok(());
    }
    let until = Instant::now() + wait;
    loop {
        let ready = timeout_at(until, client.get(url.clone()).send()).await;
        match ready {
            Ok(Ok(r)) if r.status().is_success() => return Ok(()),
            Err(_) => break,
            Ok(_) => {}
        }
        if Instant::now() + Duration::from_millis(250) >= until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(SetupError::NotReady {
        url: url.to_string(),
        secs: wait.as_secs(),
    })
}

fn summarise(cfg: &SessionsConfig, tallies: Vec<Tally>, lost: u64) -> SessionsReport {
    let mut report = SessionsReport::new(cfg);
    let mut latencies = Vec::new();
    let mut creates = Vec::new();
    let mut connects = Vec::new();
    report.unfinished = lost;
    for t in tallies {
        report.opened += u64::from(t.opened);
        report.frames_sent += t.frames_sent;
        report.frames_accepted += t.frames_accepted;
        report.events_received += t.events;
        report.live_events_received += t.live_events;
        report.pings_received += t.pings;
        if t.opened {
            report.pings_min_per_session = Some(
                report
                    .pings_min_per_session
                    .map_or(t.pings, |m| m.min(t.pings)),
            );
        }
        report.unfinished += u64::from(t.unfinished);
        for (key, n) in t.errors {
            report.add_errors(&key, n);
        }
        latencies.extend(t.latencies);
        creates.extend(t.create);
        connects.extend(t.connect);
    }
    report.event_latency_ms = LatencySummary::from_latencies(&mut latencies);
    report.create_ms = LatencySummary::from_latencies(&mut creates);
    report.ws_connect_ms = LatencySummary::from_latencies(&mut connects);
    report
}

/// Creates the session and opens its socket, `--open-concurrency` at a time.
async fn open(shared: &Shared, t: &mut Tally) -> Result<(Created, Ws), Fault> {
    let _permit = shared.opening.acquire().await;
    let started = Instant::now();
    let created = api::create_session(&shared.cfg).await?;
    t.create = Some(started.elapsed());
    let started = Instant::now();
    let ws = tokio::time::timeout(shared.cfg.timeout(), api::connect_ws(&created))
        .await
        .map_err(|_| Fault::new("ws_timeout"))??;
    t.connect = Some(started.elapsed());
    Ok((created, ws))
}

async fn session(index: u64, shared: Arc<Shared>, phase: watch::Receiver<Phase>) -> Tally {
    let mut t = Tally::default();
    let mut open_over = Signal::new(&shared.open_over);
    let (created, mut ws) = match timeout_at(shared.deadline, open(&shared, &mut t)).await {
        Ok(Ok(pair)) => pair,
        Ok(Err(fault)) => {
            t.fault(fault);
            return t;
        }
        Err(_) => {
            t.unfinished = true;
            return t;
        }
    };
    t.opened = true;
    shared.opened.fetch_add(1, Ordering::SeqCst);
    let events_over = Signal::new(&shared.events_over);
    open_over.fire();

    let open = live(
        index,
        &shared,
        &created,
        &mut ws,
        phase,
        events_over,
        &mut t,
    )
    .await;
    if open && !t.unfinished {
        // A clean close handshake, bounded like any request.
        let closing = async {
            let _ = ws.close(None).await;
            while let Some(Ok(_)) = ws.next().await {}
        };
        if tokio::time::timeout(shared.cfg.timeout(), closing)
            .await
            .is_err()
        {
            t.fault(Fault::new("close_timeout"));
        }
    }
    t
}

type Upload = Pin<Box<dyn Future<Output = Result<(), Fault>> + Send>>;

/// Polls the upload in flight, if any; never ready otherwise.
async fn upload_done(upload: &mut Option<Upload>) -> Result<(), Fault> {
    match upload {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

/// The open session's life until the close phase: reads every message (pongs go out as it
/// reads), sends the live frames in its slots once the hold begins, and fires `events_over`
/// once every accepted frame's event is in. Returns whether the socket is still open.
async fn live(
    index: u64,
    shared: &Arc<Shared>,
    created: &Created,
    ws: &mut Ws,
    mut phase: watch::Receiver<Phase>,
    mut events_over: Signal,
    t: &mut Tally,
) -> bool {
    let cfg = &shared.cfg;
    let k = cfg.events();
    let mut hold_start = None;
    let mut sent = 0u64;
    let mut upload: Option<Upload> = None;
    let mut last_seq = 0u64;
    let mut waiting = true;
    loop {
        if waiting && sent == k && upload.is_none() && t.live_events >= t.frames_accepted {
            waiting = false;
            events_over.fire();
        }
        let next_frame = hold_start
            .filter(|_| sent < k && upload.is_none())
            .map(|s| frame_time(s, cfg.hold(), index, cfg.sessions(), sent, k));
        let overdue = hold_start
            .filter(|_| waiting)
            .map(|s| s + cfg.hold() + cfg.timeout());
        tokio::select! {
            changed = phase.changed() => {
                match changed.map(|()| *phase.borrow_and_update()) {
                    Ok(Phase::Hold(s)) => hold_start = Some(s),
                    Ok(Phase::Opening) => {}
                    Ok(Phase::Close) | Err(_) => return true,
                }
            }
            message = ws.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    t.events += 1;
                    match api::classify(text.as_str(), &created.session_id, last_seq, api::now_ms()) {
                        Ok(Seen::Live { seq, latency }) => {
                            last_seq = seq;
                            t.live_events += 1;
                            t.latencies.push(latency);
                        }
                        Ok(Seen::Other { seq }) => last_seq = seq,
                        Err(fault) => t.fault(fault),
                    }
                }
                Some(Ok(Message::Ping(_))) => t.pings += 1,
                Some(Ok(Message::Binary(_))) => t.fault(Fault::new("ws_binary")),
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.map_or(1005, |f| u16::from(f.code));
                    t.fault(Fault(format!("ws_closed_{code}")));
                    return false;
                }
                Some(Ok(Message::Pong(_) | Message::Frame(_))) => {}
                Some(Err(e)) => {
                    t.fault(Fault::ws(&e));
                    return false;
                }
                None => {
                    t.fault(Fault::new("ws_dropped"));
                    return false;
                }
            },
            result = upload_done(&mut upload) => {
                upload = None;
                match result {
                    Ok(()) => t.frames_accepted += 1,
                    Err(fault) => t.fault(fault),
                }
            }
            () = sleep_until(next_frame.unwrap_or(shared.deadline)), if next_frame.is_some() => {
                sent += 1;
                t.frames_sent += 1;
                upload = Some(Box::pin(send_frame(shared, created)));
            }
            () = sleep_until(overdue.unwrap_or(shared.deadline)), if overdue.is_some() => {
                // The hold and its grace are over: whatever has not arrived is missing.
                t.fault_n(Fault::new("missing_event"), t.frames_accepted.saturating_sub(t.live_events));
                t.fault_n(Fault::new("frame_not_sent"), k - sent);
                if upload.take().is_some() {
                    t.fault(Fault::new("frame_timeout"));
                }
                sent = k;
                waiting = false;
                events_over.fire();
            }
            () = sleep_until(shared.deadline) => {
                t.unfinished = true;
                return true;
            }
        }
    }
}

fn send_frame(shared: &Arc<Shared>, created: &Created) -> Upload {
    let shared = Arc::clone(shared);
    let created = created.clone();
    Box::pin(async move {
        // The permit is taken here, so it only counts while an upload is in flight.
        let _permit = shared.uploads.acquire().await;
        api::send_live_frame(&shared.cfg, &created, shared.frame.clone()).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_spread_over_most_of_the_hold() {
        let start = Instant::now();
        let hold = Duration::from_secs(20);
        let at = |index, j| frame_time(start, hold, index, 100, j, 4) - start;
        assert_eq!(at(0, 0), Duration::ZERO);
        // Frame j of every session falls in slot j of 4 (4 s each, 16 s in all).
        assert_eq!(at(0, 1), Duration::from_secs(4));
        assert_eq!(at(50, 1), Duration::from_secs(6));
        let last = at(99, 3);
        assert!(last < Duration::from_secs(16) && last > Duration::from_millis(15_900));
        // Each session's frames are in order, and sessions are staggered within a slot.
        for index in 0..100 {
            assert!((0..3).all(|j| at(index, j) < at(index, j + 1)));
        }
        assert!((0..99).all(|i| at(i, 2) < at(i + 1, 2)));
        // One session, one frame: at the start of the hold.
        assert_eq!(frame_time(start, hold, 0, 1, 0, 1), start);
    }

    #[test]
    fn signals_count_once() {
        let sem = Arc::new(Semaphore::new(0));
        let mut fired = Signal::new(&sem);
        fired.fire();
        fired.fire();
        drop(fired);
        drop(Signal::new(&sem));
        assert_eq!(sem.available_permits(), 2);
    }
}
