//! What a run found: counts, errors by kind, throughput and latency, as text or one JSON object.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::stats::LatencySummary;

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorKind {
    /// The server answered with a status outside 2xx (redirects are not followed).
    Status(u16),
    /// The connection could not be made (refused, reset while connecting, ...).
    Connect,
    /// The request took longer than `--timeout-secs`.
    Timeout,
    /// The answer began but its body could not be read to the end.
    Body,
    /// Anything else reqwest reports.
    Other,
}

impl ErrorKind {
    /// Classifies a reqwest failure.
    pub fn of(err: &reqwest::Error) -> Self {
        if err.is_timeout() {
            Self::Timeout
        } else if err.is_connect() {
            Self::Connect
        } else if err.is_body() || err.is_decode() {
            Self::Body
        } else {
            Self::Other
        }
    }

    /// Stable key used in the report: `status_503`, `connect`, `timeout`, `body`, `other`.
    pub fn key(&self) -> String {
        match self {
            Self::Status(code) => format!("status_{code}"),
            Self::Connect => "connect".into(),
            Self::Timeout => "timeout".into(),
            Self::Body => "body".into(),
            Self::Other => "other".into(),
        }
    }
}

/// Which limit ended the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Every requested request was sent and answered (or failed).
    Requests,
    /// `--max-secs` ran out first.
    Time,
}

/// The outcome of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// URL every request went to.
    pub target: String,
    /// `--requests`.
    pub planned: u64,
    /// `--concurrency`.
    pub concurrency: usize,
    /// Requests started: `ok + failed + unfinished`.
    pub sent: u64,
    /// Answered with a 2xx status.
    pub ok: u64,
    /// Failed for any reason in `errors`.
    pub failed: u64,
    /// Failed requests by [`ErrorKind::key`].
    pub errors: BTreeMap<String, u64>,
    /// Still in flight when `--max-secs` ran out; abandoned, not counted as errors.
    pub unfinished: u64,
    pub stopped_by: StopReason,
    pub elapsed_secs: f64,
    /// Finished requests (`ok + failed`) per second of `elapsed_secs`.
    pub throughput_rps: f64,
    /// Over every request that got an HTTP answer, whatever its status; time to the last body byte.
    pub latency_ms: Option<LatencySummary>,
}

impl Report {
    /// True when every finished request got a 2xx answer.
    pub fn all_ok(&self) -> bool {
        self.failed == 0
    }

    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a report always serialises")
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "target      {}", self.target)?;
        match self.stopped_by {
            StopReason::Requests => writeln!(f, "stopped by  request count ({})", self.planned)?,
            StopReason::Time => writeln!(f, "stopped by  time limit")?,
        }
        writeln!(f, "concurrency {}", self.concurrency)?;
        writeln!(f, "sent        {}", self.sent)?;
        writeln!(f, "ok          {}", self.ok)?;
        write!(f, "errors      {}", self.failed)?;
        writeln!(f, "{}", error_kinds(&self.errors))?;
        if self.unfinished > 0 {
            writeln!(
                f,
                "unfinished  {} (abandoned at the time limit)",
                self.unfinished
            )?;
        }
        writeln!(f, "elapsed     {:.3} s", self.elapsed_secs)?;
        writeln!(f, "throughput  {:.1} req/s", self.throughput_rps)?;
        match &self.latency_ms {
            Some(l) => write!(
                f,
                "latency ms  p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}",
                l.p50, l.p90, l.p99, l.max
            ),
            None => write!(f, "latency ms  (no answers)"),
        }
    }
}

/// ` (kind: n, kind: n)` after an error count, or nothing when there were none.
pub(crate) fn error_kinds(errors: &BTreeMap<String, u64>) -> String {
    if errors.is_empty() {
        return String::new();
    }
    let kinds: Vec<String> = errors.iter().map(|(k, n)| format!("{k}: {n}")).collect();
    format!(" ({})", kinds.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_keys() {
        assert_eq!(ErrorKind::Status(503).key(), "status_503");
        assert_eq!(ErrorKind::Connect.key(), "connect");
        assert_eq!(ErrorKind::Timeout.key(), "timeout");
    }

    #[test]
    fn json_is_one_object() {
        let report = Report {
            target: "http://127.0.0.1:1/healthz".into(),
            planned: 3,
            concurrency: 1,
            sent: 3,
            ok: 2,
            failed: 1,
            errors: BTreeMap::from([("connect".into(), 1)]),
            unfinished: 0,
            stopped_by: StopReason::Requests,
            elapsed_secs: 0.5,
            throughput_rps: 6.0,
            latency_ms: None,
        };
        let json = report.to_json();
        assert!(!json.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["ok"], 2);
        assert_eq!(v["errors"]["connect"], 1);
        assert_eq!(v["stopped_by"], "requests");
        assert!(v["latency_ms"].is_null());
        assert!(!report.all_ok());
        assert!(report.to_string().contains("errors      1 (connect: 1)"));
    }
}
