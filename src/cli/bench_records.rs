//! `kyc bench records`: the cost of the outbox on the request path (append + flush of a
//! decided session's records) and the time until those records are committed to the records
//! backend by the drainer, p50/p99 over many sessions.

use super::{EXIT_BAD_INPUT, EXIT_FAILURE};
use crate::records::{
    Comparison, ComparisonPair, DecisionRecord, Drainer, DrainerTuning, Embedded, FaceSample,
    FaceSamples, MariaDb, Outbox, Record, RecordEntry, Records, SampleSource, Store,
    VerdictFigures, now_ms,
};
use clap::Args;
use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(Debug, Args)]
pub struct RecordsBenchArgs {
    /// Decided sessions to write.
    #[arg(long, default_value_t = 1000)]
    pub sessions: usize,
    /// Sessions appending at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Video frames compared with the ID photo per session.
    #[arg(long, default_value_t = 12)]
    pub frames: u32,
    /// Sessions decided per second (0: as fast as the outbox takes them, a burst).
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    /// Use the embedded store even when `database.url` is set.
    #[arg(long)]
    pub embedded: bool,
}

/// What a session writes when its comparison is decided: the face samples, the comparison with
/// its pairs, the decision (embeddings stand in as 2 KiB of opaque bytes).
fn decided(session_id: Uuid, frames: u32) -> Vec<RecordEntry> {
    let face = |source, frame: Option<u32>| FaceSample {
        sample_id: Uuid::new_v4(),
        media_id: None,
        source,
        frame_index: frame,
        frame_ms: frame.map(|f| i64::from(f) * 33),
        engine: "insightface".into(),
        model: "w600k_mbf".into(),
        quality: 0.8,
        embedding_enc: vec![0x5a; 2076],
    };
    let id = face(SampleSource::IdImage, None);
    let video: Vec<_> = (0..frames)
        .map(|f| face(SampleSource::VideoFrame, Some(f * 5)))
        .collect();
    let pairs = video
        .iter()
        .map(|v| ComparisonPair {
            id_sample_id: id.sample_id,
            frame_sample_id: v.sample_id,
            frame_index: v.frame_index.unwrap_or(0),
            similarity: 0.6,
        })
        .collect();
    let comparison_id = Uuid::new_v4();
    let now = now_ms();
    [
        Record::FaceSamples(FaceSamples {
            samples: std::iter::once(id).chain(video).collect(),
        }),
        Record::Comparison(Comparison {
            comparison_id,
            engine: "insightface".into(),
            model: "w600k_mbf".into(),
            threshold: 0.35,
            best_similarity: 0.6,
            pairs,
            verdict: VerdictFigures {
                score: Some(0.58),
                consistency: Some(0.5),
                frames_sampled: Some(30),
                frames_kept: Some(12),
                liveness: None,
            },
        }),
        Record::Decision(DecisionRecord {
            outcome: "verified".into(),
            reasons: vec!["face_match".into()],
            comparison_id: Some(comparison_id),
        }),
    ]
    .into_iter()
    .zip(1u64..)
    .map(|(record, seq)| RecordEntry {
        session_id,
        seq,
        at_ms: now,
        tenant_id: None,
        record,
    })
    .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

pub fn run(args: RecordsBenchArgs) -> ExitCode {
    let settings = match super::load_settings("bench records") {
        Ok(s) => s,
        Err(code) => return code,
    };
    if args.sessions == 0 || args.concurrency == 0 {
        eprintln!("kyc bench records: --sessions and --concurrency must be at least 1");
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    let rt = match super::runtime("bench records") {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("kyc bench records: no temporary folder: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let result = rt.block_on(async {
        let store = match (&settings.database.url, args.embedded) {
            (Some(_), false) => Store::MariaDb(MariaDb::connect(&settings.database).await?.0),
            _ => Store::Embedded(Embedded::open(&dir.path().join("records"))?),
        };
        bench(store, dir.path(), &args).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kyc bench records: {e}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

async fn bench(
    store: Store,
    dir: &std::path::Path,
    args: &RecordsBenchArgs,
) -> Result<(), Box<dyn std::error::Error>> {
    let backend = store.name();
    let db = sled::Config::new().path(dir.join("outbox")).open()?;
    let outbox = Outbox::open(&db)?;
    let drainer = Drainer::spawn(outbox.clone(), Arc::new(store), DrainerTuning::default());
    let mut commits = drainer.subscribe();
    let last_seq = 3;
    let collector = tokio::spawn(async move {
        let mut at = HashMap::new();
        while let Ok(d) = commits.recv().await {
            if d.seq == last_seq {
                at.insert(d.session_id, d.committed_at);
            }
        }
        at
    });
    let started = Instant::now();
    let limit = Arc::new(tokio::sync::Semaphore::new(args.concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    let gap = (args.rate > 0.0).then(|| Duration::from_secs_f64(1.0 / args.rate));
    for i in 0..args.sessions {
        if let Some(gap) = gap {
            tokio::time::sleep_until((started + gap * i as u32).into()).await;
        }
        let permit = limit.clone().acquire_owned().await?;
        let (outbox, entries) = (outbox.clone(), decided(Uuid::new_v4(), args.frames));
        tasks.spawn(async move {
            let _permit = permit;
            let t = Instant::now();
            outbox.append_batch(&entries)?;
            outbox.flush().await?;
            Ok::<_, crate::records::OutboxError>((entries[0].session_id, t, t.elapsed()))
        });
    }
    let mut appended = Vec::with_capacity(args.sessions);
    while let Some(r) = tasks.join_next().await {
        appended.push(r??);
    }
    let wall_append = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(120);
    while drainer.backlog().count > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stats = drainer.stats();
    drainer.stop().await;
    let committed = collector.await?;
    let mut append: Vec<Duration> = appended.iter().map(|(_, _, d)| *d).collect();
    let mut to_db: Vec<Duration> = appended
        .iter()
        .filter_map(|(sid, t, _)| committed.get(sid).map(|c| c.saturating_duration_since(*t)))
        .collect();
    append.sort();
    to_db.sort();
    println!(
        "backend {backend}: {} sessions ({} records each, {} pairs) at {}, {} at once, all appended in {:.2} s",
        args.sessions,
        last_seq,
        args.frames,
        if args.rate > 0.0 {
            format!("{} per second", args.rate)
        } else {
            "full speed".to_owned()
        },
        args.concurrency,
        wall_append.as_secs_f64()
    );
    println!(
        "outbox append + flush (request path): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&append, 0.5),
        percentile(&append, 0.99),
        percentile(&append, 1.0)
    );
    println!(
        "until committed in {backend}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} of {} timed)",
        percentile(&to_db, 0.5),
        percentile(&to_db, 0.99),
        percentile(&to_db, 1.0),
        to_db.len(),
        args.sessions
    );
    println!(
        "drainer: {} delivered, {} duplicates, {} failures, backlog left {}",
        stats.delivered, stats.duplicates, stats.failures, stats.backlog.count
    );
    if to_db.len() != args.sessions || stats.backlog.count != 0 {
        return Err("not every session's records were committed".into());
    }
    Ok(())
}
