//! What a `flow` run found: verifications completed and failed (by kind), decisions, the rate
//! of verifications, each stage's latency, retries and the server's memory curve, as text or
//! one JSON object.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::config::FlowConfig;
use super::memory::MemoryCurve;
use super::tally::Tally;
use crate::report::error_kinds;
use crate::stats::percentile;

/// p50 / p95 / p99 / max of one stage, in milliseconds (nearest rank, as [`percentile`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: usize,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    /// Sorts `latencies` and summarises them; `None` when there are none.
    pub fn of(latencies: &mut [Duration]) -> Option<Self> {
        latencies.sort_unstable();
        let ms = |p| percentile(latencies, p).map(|d| d.as_secs_f64() * 1e3);
        Some(Self {
            count: latencies.len(),
            p50: ms(50.0)?,
            p95: ms(95.0)?,
            p99: ms(99.0)?,
            max: ms(100.0)?,
        })
    }
}

/// `count` per minute of `elapsed_secs` (0 when no time passed).
pub fn per_minute(count: u64, elapsed_secs: f64) -> f64 {
    if elapsed_secs > 0.0 {
        count as f64 * 60.0 / elapsed_secs
    } else {
        0.0
    }
}

/// Which limit ended the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// `--duration-secs` passed (and the verifications running then ended).
    Duration,
    /// `--verifications` had started (and ended).
    Verifications,
    /// `--max-secs` ran out first.
    Time,
}

/// The outcome of one `flow` run.
#[derive(Debug, Clone, Serialize)]
pub struct FlowReport {
    pub target: String,
    pub users: u64,
    pub duration_secs: u64,
    /// `--verifications`.
    pub planned: Option<u64>,
    /// `--rate` (verifications started per minute at most).
    pub rate_per_min: Option<f64>,
    pub started: u64,
    /// Verifications that reached a decision.
    pub completed: u64,
    /// Total of `failures`.
    pub failed: u64,
    /// Failed verifications by kind (see the README); empty in a good run.
    pub failures: BTreeMap<String, u64>,
    /// Cut off by `--max-secs`.
    pub unfinished: u64,
    /// Decisions by kind: `verified`, `rejected`, `review`.
    pub decisions: BTreeMap<String, u64>,
    /// `completed` per minute of `elapsed_secs`.
    pub verifications_per_minute: f64,
    /// Upload sent → `id_accepted`.
    pub card_ms: Option<Percentiles>,
    /// Upload sent → `video_accepted`.
    pub video_ms: Option<Percentiles>,
    /// `POST /api/v1/face-similarity` sent → `decided`.
    pub compare_ms: Option<Percentiles>,
    /// Session creation → `decided`, retries included.
    pub total_ms: Option<Percentiles>,
    /// Total of `retries_by_kind`.
    pub retries: u64,
    /// Requests sent again after a 503 / 429, by `{call}_{status}`.
    pub retries_by_kind: BTreeMap<String, u64>,
    /// With `--server-pid`: every sample and first / last / max.
    pub memory: Option<MemoryCurve>,
    /// Samples of the server that could not be taken (the server went away?).
    pub memory_errors: u64,
    pub stopped_by: Stop,
    pub elapsed_secs: f64,
    pub warnings: Vec<String>,
}

impl FlowReport {
    /// The report of `cfg`'s run from what its users saw, `elapsed_secs` long.
    pub fn new(cfg: &FlowConfig, mut t: Tally, elapsed_secs: f64) -> Self {
        let [card, video, compare] = &mut t.stages;
        let stopped_by = if t.unfinished > 0 {
            Stop::Time
        } else if cfg.verifications().is_some_and(|m| t.started >= m) {
            Stop::Verifications
        } else {
            Stop::Duration
        };
        Self {
            target: cfg.base().to_string(),
            users: cfg.users(),
            duration_secs: cfg.duration().as_secs(),
            planned: cfg.verifications(),
            rate_per_min: cfg.rate(),
            started: t.started,
            completed: t.completed,
            failed: t.failures.values().sum(),
            failures: t.failures,
            unfinished: t.unfinished,
            decisions: t.decisions,
            verifications_per_minute: per_minute(t.completed, elapsed_secs),
            card_ms: Percentiles::of(card),
            video_ms: Percentiles::of(video),
            compare_ms: Percentiles::of(compare),
            total_ms: Percentiles::of(&mut t.totals),
            retries: t.retries.values().sum(),
            retries_by_kind: t.retries,
            memory: None,
            memory_errors: 0,
            stopped_by,
            elapsed_secs,
            warnings: Vec::new(),
        }
    }

    /// True when at least one verification was decided and none failed or was cut off.
    pub fn all_ok(&self) -> bool {
        self.completed > 0 && self.failed == 0 && self.unfinished == 0 && self.memory_errors == 0
    }

    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a report always serialises")
    }
}

fn latency(f: &mut fmt::Formatter<'_>, label: &str, l: Option<&Percentiles>) -> fmt::Result {
    match l {
        Some(l) => writeln!(
            f,
            "{label:<18}p50 {:.0}  p95 {:.0}  p99 {:.0}  max {:.0}  (n {})",
            l.p50, l.p95, l.p99, l.max, l.count
        ),
        None => writeln!(f, "{label:<18}(none)"),
    }
}

impl fmt::Display for FlowReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "target            {}", self.target)?;
        write!(f, "users             {}", self.users)?;
        match self.rate_per_min {
            Some(r) => writeln!(f, ", at most {r} verifications started per minute")?,
            None => writeln!(f, ", unpaced")?,
        }
        match (self.stopped_by, self.planned) {
            (Stop::Verifications, Some(m)) => writeln!(f, "stopped by        count ({m})")?,
            (Stop::Time, _) => writeln!(f, "stopped by        time limit (--max-secs)")?,
            _ => writeln!(f, "stopped by        duration ({} s)", self.duration_secs)?,
        }
        writeln!(
            f,
            "verifications     {} started, {} completed, {} failed, {} unfinished",
            self.started, self.completed, self.failed, self.unfinished
        )?;
        writeln!(
            f,
            "per minute        {:.2} completed",
            self.verifications_per_minute
        )?;
        let decisions = error_kinds(&self.decisions);
        writeln!(f, "decisions         {}{decisions}", self.completed)?;
        writeln!(
            f,
            "failures          {}{}",
            self.failed,
            error_kinds(&self.failures)
        )?;
        writeln!(
            f,
            "retries           {}{}",
            self.retries,
            error_kinds(&self.retries_by_kind)
        )?;
        latency(f, "card ms", self.card_ms.as_ref())?;
        latency(f, "video ms", self.video_ms.as_ref())?;
        latency(f, "compare ms", self.compare_ms.as_ref())?;
        latency(f, "total ms", self.total_ms.as_ref())?;
        match &self.memory {
            Some(m) => {
                writeln!(
                    f,
                    "server memory     VmRSS first {:.1} MiB, last {:.1} MiB ({:+.1} MiB), \
                     max {:.1} MiB, {} samples",
                    m.first_mib,
                    m.last_mib,
                    m.growth_mib,
                    m.max_mib,
                    m.samples.len()
                )?;
                writeln!(f, "  elapsed s   RSS MiB   open fds")?;
                for s in &m.samples {
                    let fds = s.open_fds.map_or_else(|| "-".to_owned(), |n| n.to_string());
                    writeln!(f, "  {:>9.1}   {:>7.1}   {fds:>8}", s.elapsed_s, s.rss_mib)?;
                }
            }
            None => writeln!(f, "server memory     (not measured; give --server-pid)")?,
        }
        if self.memory_errors > 0 {
            writeln!(f, "memory errors     {}", self.memory_errors)?;
        }
        for w in &self.warnings {
            writeln!(f, "warning           {w}")?;
        }
        write!(f, "elapsed           {:.1} s", self.elapsed_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::api::Step;
    use crate::flow::memory::Sample;
    use crate::sessions::api::Fault;

    fn cfg(extra: &[&str]) -> FlowConfig {
        FlowConfig::for_tests(extra).unwrap()
    }

    fn ms(values: impl IntoIterator<Item = u64>) -> Vec<Duration> {
        values.into_iter().map(Duration::from_millis).collect()
    }

    #[test]
    fn rates_and_percentiles() {
        assert_eq!(per_minute(30, 60.0), 30.0);
        assert_eq!(per_minute(30, 120.0), 15.0);
        assert_eq!(per_minute(5, 0.0), 0.0);
        assert_eq!(Percentiles::of(&mut []), None);
        let p = Percentiles::of(&mut ms((1..=200).rev())).unwrap();
        assert_eq!(
            p,
            Percentiles {
                count: 200,
                p50: 100.0,
                p95: 190.0,
                p99: 198.0,
                max: 200.0
            }
        );
    }

    fn tally() -> Tally {
        let mut a = Tally {
            started: 3,
            ..Tally::default()
        };
        a.stage(Step::Card, Duration::from_millis(100));
        a.stage(Step::Card, Duration::from_millis(300));
        a.stage(Step::Video, Duration::from_millis(2000));
        a.stage(Step::Compare, Duration::from_millis(500));
        a.decided("verified".into(), Duration::from_millis(3000));
        a.failed(Fault::new("video_refused"));
        a.retries.insert("card_503".into(), 2);
        let mut b = Tally {
            started: 2,
            ..Tally::default()
        };
        b.stage(Step::Card, Duration::from_millis(200));
        b.decided("review".into(), Duration::from_millis(4000));
        b.decided("verified".into(), Duration::from_millis(5000));
        b.retries.insert("card_503".into(), 1);
        b.retries.insert("create_429".into(), 1);
        a.merge(b);
        a
    }

    #[test]
    fn report_of_a_run() {
        let r = FlowReport::new(&cfg(&[]), tally(), 120.0);
        assert_eq!(
            (r.started, r.completed, r.failed, r.unfinished),
            (5, 3, 1, 0)
        );
        assert_eq!(r.verifications_per_minute, 1.5);
        assert_eq!(r.decisions["verified"], 2);
        assert_eq!(r.decisions["review"], 1);
        assert_eq!(r.failures["video_refused"], 1);
        assert_eq!(r.retries, 4);
        assert_eq!(r.retries_by_kind["card_503"], 3);
        let card = r.card_ms.unwrap();
        assert_eq!((card.count, card.p50, card.max), (3, 200.0, 300.0));
        assert_eq!(r.total_ms.unwrap().p99, 5000.0);
        assert_eq!(r.stopped_by, Stop::Duration);
        assert!(!r.all_ok(), "a verification failed");

        let mut ok = Tally::default();
        ok.decided("rejected".into(), Duration::from_secs(1));
        ok.started = 10;
        let r = FlowReport::new(&cfg(&["--verifications", "10"]), ok, 60.0);
        assert_eq!(r.stopped_by, Stop::Verifications);
        assert!(r.all_ok());
        let cut = Tally {
            unfinished: 1,
            ..Tally::default()
        };
        let r = FlowReport::new(&cfg(&[]), cut, 60.0);
        assert_eq!(r.stopped_by, Stop::Time);
        assert!(!r.all_ok());
    }

    #[test]
    fn text_and_json() {
        let mut r = FlowReport::new(&cfg(&["--rate", "30"]), tally(), 120.0);
        let samples = vec![
            Sample {
                elapsed_s: 0.0,
                rss_mib: 500.0,
                open_fds: Some(40),
            },
            Sample {
                elapsed_s: 60.0,
                rss_mib: 512.5,
                open_fds: None,
            },
        ];
        r.memory = MemoryCurve::new(42, samples);
        let text = r.to_string();
        for needle in [
            "users             4, at most 30 verifications started per minute",
            "verifications     5 started, 3 completed, 1 failed, 0 unfinished",
            "per minute        1.50 completed",
            "decisions         3 (review: 1, verified: 2)",
            "failures          1 (video_refused: 1)",
            "retries           4 (card_503: 3, create_429: 1)",
            "card ms           p50 200  p95 300  p99 300  max 300  (n 3)",
            "compare ms        p50 500",
            "first 500.0 MiB, last 512.5 MiB (+12.5 MiB), max 512.5 MiB, 2 samples",
            "       60.0     512.5          -",
        ] {
            assert!(text.contains(needle), "{needle:?} not in\n{text}");
        }
        let json = r.to_json();
        assert!(!json.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["completed"], 3);
        assert_eq!(v["decisions"]["verified"], 2);
        assert_eq!(v["failures"]["video_refused"], 1);
        assert_eq!(v["verifications_per_minute"], 1.5);
        assert_eq!(v["video_ms"]["p95"], 2000.0);
        assert_eq!(v["memory"]["samples"][1]["rss_mib"], 512.5);
        assert!(v["memory"]["samples"][1]["open_fds"].is_null());
        assert_eq!(v["memory"]["growth_mib"], 12.5);
        assert_eq!(v["stopped_by"], "duration");
        assert_eq!(v["rate_per_min"], 30.0);
    }
}
