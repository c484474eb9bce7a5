//! What a `sessions` run found: sessions opened, errors by kind, event delivery latency,
//! heartbeat pings and the server's memory per session, as text or one JSON object.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::config::SessionsConfig;
use crate::stats::LatencySummary;

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// Every session went through all phases (successfully or not).
    Completed,
    /// `--max-secs` ran out first.
    Time,
}

/// The server's resident memory (VmRSS, KiB) before the sessions and with all of them open.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Memory {
    pub pid: u32,
    pub before_kb: u64,
    /// Sampled at the end of the hold, every event delivered, before any socket closes.
    pub all_open_kb: u64,
    /// `all_open_kb - before_kb` (may be negative when the server gave memory back).
    pub delta_kb: i64,
    /// `delta_kb` per open session; `None` when none opened.
    pub per_session_kb: Option<f64>,
}

impl Memory {
    pub fn new(pid: u32, before_kb: u64, all_open_kb: u64, sessions_open: u64) -> Self {
        let delta_kb = i64::try_from(all_open_kb).unwrap_or(i64::MAX)
            - i64::try_from(before_kb).unwrap_or(i64::MAX);
        Self {
            pid,
            before_kb,
            all_open_kb,
            delta_kb,
            per_session_kb: (sessions_open > 0).then(|| delta_kb as f64 / sessions_open as f64),
        }
    }
}

/// The outcome of one `sessions` run.
#[derive(Debug, Clone, Serialize)]
pub struct SessionsReport {
    pub target: String,
    /// `--sessions`.
    pub planned: u64,
    /// `--events` (live frames per session).
    pub events_per_session: u64,
    pub hold_secs: u64,
    /// Sessions created whose WebSocket opened.
    pub opened: u64,
    pub frames_sent: u64,
    /// Frames answered 202.
    pub frames_accepted: u64,
    /// Every event received, including the replayed `created` ones.
    pub events_received: u64,
    /// Answers to live frames: one per accepted frame in a good run.
    pub live_events_received: u64,
    /// Total of `errors`.
    pub failed: u64,
    /// Failures by kind (see the README); empty in a good run.
    pub errors: BTreeMap<String, u64>,
    /// Sessions cut off by `--max-secs`.
    pub unfinished: u64,
    pub stopped_by: Stop,
    /// Receive time − the event's `atMs`, over live-frame events.
    pub event_latency_ms: Option<LatencySummary>,
    /// `POST /api/v1/sessions` round trips.
    pub create_ms: Option<LatencySummary>,
    /// WebSocket connect + handshake.
    pub ws_connect_ms: Option<LatencySummary>,
    /// WebSocket pings from the server, over all sessions.
    pub pings_received: u64,
    /// Fewest pings any open session received.
    pub pings_min_per_session: Option<u64>,
    /// With `--server-pid`.
    pub memory: Option<Memory>,
    /// Our soft RLIMIT_NOFILE after raising it.
    pub client_nofile_limit: u64,
    /// The server's soft RLIMIT_NOFILE, with `--server-pid`.
    pub server_nofile_limit: Option<u64>,
    /// Seconds until every session was open (or had failed).
    pub open_secs: f64,
    pub elapsed_secs: f64,
    pub warnings: Vec<String>,
}

impl SessionsReport {
    /// An empty report for `cfg`'s run.
    pub fn new(cfg: &SessionsConfig) -> Self {
        Self {
            target: cfg.base().to_string(),
            planned: cfg.sessions(),
            events_per_session: cfg.events(),
            hold_secs: cfg.hold().as_secs(),
            opened: 0,
            frames_sent: 0,
            frames_accepted: 0,
            events_received: 0,
            live_events_received: 0,
            failed: 0,
            errors: BTreeMap::new(),
            unfinished: 0,
            stopped_by: Stop::Completed,
            event_latency_ms: None,
            create_ms: None,
            ws_connect_ms: None,
            pings_received: 0,
            pings_min_per_session: None,
            memory: None,
            client_nofile_limit: 0,
            server_nofile_limit: None,
            open_secs: 0.0,
            elapsed_secs: 0.0,
            warnings: Vec::new(),
        }
    }

    /// Counts `n` failures of kind `key`.
    pub fn add_errors(&mut self, key: &str, n: u64) {
        *self.errors.entry(key.to_owned()).or_default() += n;
        self.failed += n;
    }

    /// True when every session opened, ran to the end, and nothing failed.
    pub fn all_ok(&self) -> bool {
        self.failed == 0 && self.unfinished == 0 && self.opened == self.planned
    }

    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a report always serialises")
    }
}

fn latency(f: &mut fmt::Formatter<'_>, label: &str, l: Option<&LatencySummary>) -> fmt::Result {
    match l {
        Some(l) => writeln!(
            f,
            "{label:<18}p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1}",
            l.p50, l.p90, l.p99, l.max
        ),
        None => writeln!(f, "{label:<18}(none)"),
    }
}

impl fmt::Display for SessionsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "target            {}", self.target)?;
        match self.stopped_by {
            Stop::Completed => writeln!(f, "stopped by        completion")?,
            Stop::Time => writeln!(f, "stopped by        time limit")?,
        }
        writeln!(
            f,
            "sessions          {} opened of {} (all open after {:.1} s, held {} s)",
            self.opened, self.planned, self.open_secs, self.hold_secs
        )?;
        writeln!(
            f,
            "live frames       {} sent, {} accepted",
            self.frames_sent, self.frames_accepted
        )?;
        writeln!(
            f,
            "events            {} live received ({} expected), {} in all",
            self.live_events_received,
            self.planned * self.events_per_session,
            self.events_received
        )?;
        write!(f, "errors            {}", self.failed)?;
        writeln!(f, "{}", crate::report::error_kinds(&self.errors))?;
        if self.unfinished > 0 {
            writeln!(
                f,
                "unfinished        {} (cut off by --max-secs)",
                self.unfinished
            )?;
        }
        latency(f, "event latency ms", self.event_latency_ms.as_ref())?;
        latency(f, "create ms", self.create_ms.as_ref())?;
        latency(f, "ws connect ms", self.ws_connect_ms.as_ref())?;
        write!(f, "pings             {} received", self.pings_received)?;
        if let Some(min) = self.pings_min_per_session {
            write!(f, " (at least {min} per open session)")?;
        }
        writeln!(f)?;
        match &self.memory {
            Some(m) => {
                write!(
                    f,
                    "server memory     VmRSS {} KB before, {} KB with all open: {:+} KB",
                    m.before_kb, m.all_open_kb, m.delta_kb
                )?;
                match m.per_session_kb {
                    Some(kb) => writeln!(f, ", {kb:.1} KB per session")?,
                    None => writeln!(f)?,
                }
            }
            None => writeln!(f, "server memory     (not measured; give --server-pid)")?,
        }
        write!(f, "open files limit  {} here", self.client_nofile_limit)?;
        if let Some(l) = self.server_nofile_limit {
            write!(f, ", {l} on the server")?;
        }
        writeln!(f)?;
        for w in &self.warnings {
            writeln!(f, "warning           {w}")?;
        }
        write!(f, "elapsed           {:.1} s", self.elapsed_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn report() -> SessionsReport {
        let cfg = super::super::SessionsCli::try_parse_from([
            "loadtest sessions",
            "--url",
            "http://127.0.0.1:18090",
            "--api-key",
            "kyc_test",
            "--sessions",
            "2",
        ])
        .unwrap()
        .into_config()
        .unwrap();
        SessionsReport::new(&cfg)
    }

    #[test]
    fn memory_per_session() {
        let m = Memory::new(7, 1_000, 5_000, 100);
        assert_eq!(m.delta_kb, 4_000);
        assert_eq!(m.per_session_kb, Some(40.0));
        let m = Memory::new(7, 5_000, 4_000, 10);
        assert_eq!((m.delta_kb, m.per_session_kb), (-1_000, Some(-100.0)));
        assert_eq!(Memory::new(7, 1, 2, 0).per_session_kb, None);
    }

    #[test]
    fn ok_only_when_everything_opened_and_nothing_failed() {
        let mut r = report();
        assert!(!r.all_ok(), "nothing opened yet");
        r.opened = 2;
        assert!(r.all_ok());
        r.add_errors("create_status_429", 2);
        r.add_errors("create_status_429", 1);
        assert_eq!(r.failed, 3);
        assert_eq!(r.errors["create_status_429"], 3);
        assert!(!r.all_ok());
        let mut r = report();
        r.opened = 2;
        r.unfinished = 1;
        assert!(!r.all_ok());
    }

    #[test]
    fn text_and_json() {
        let mut r = report();
        r.opened = 2;
        r.add_errors("missing_event", 1);
        r.event_latency_ms = Some(LatencySummary {
            p50: 1.0,
            p90: 2.0,
            p99: 3.0,
            max: 4.0,
        });
        r.pings_received = 20;
        r.pings_min_per_session = Some(9);
        r.memory = Some(Memory::new(42, 100_000, 102_000, 2));
        let text = r.to_string();
        for needle in [
            "2 opened of 2",
            "errors            1 (missing_event: 1)",
            "event latency ms  p50 1.0  p90 2.0  p99 3.0  max 4.0",
            "create ms         (none)",
            "20 received (at least 9 per open session)",
            "100000 KB before, 102000 KB with all open: +2000 KB, 1000.0 KB per session",
        ] {
            assert!(text.contains(needle), "{needle:?} not in\n{text}");
        }
        let json = r.to_json();
        assert!(!json.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["errors"]["missing_event"], 1);
        assert_eq!(v["memory"]["per_session_kb"], 1000.0);
        assert_eq!(v["stopped_by"], "completed");
        assert_eq!(v["event_latency_ms"]["p99"], 3.0);
    }
}
