//! The records suite: every test runs against the embedded backend and against MariaDB (a
//! fresh database each), through the same generic function.

use crate::db::TestDb;
use crate::sample::{self, RECORDS_PER_SESSION};
use kyc::records::*;
use sled::Transactional;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// `embedded_NAME` and `mariadb_NAME` running `NAME(&backend)`.
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $name() {
                    let r = kyc::records::Embedded::temporary().expect("embedded store");
                    super::$name(&r).await;
                }
            )*
        }
        mod mariadb {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = crate::db::TestDb::create().await;
                    let r = db.backend().await;
                    super::$name(&r).await;
                    super::mariadb_rows_match(&db, &r).await;
                }
            )*
        }
    };
}

both_backends!(
    a_whole_session_reads_back_as_written,
    the_same_record_twice_is_stored_once,
    records_read_back_in_sequence_order_whatever_the_delivery_order,
    a_comparison_report_has_every_pair,
    decisions_are_listed_by_time,
    the_outbox_drains_every_record_once_in_order,
    erasures_remove_what_their_scope_says_and_redelivery_brings_nothing_back,
    the_audit_chain_reads_back_in_chain_order_and_verifies,
);

/// After a MariaDB test: one `record_log` row per (session, seq), and no (session, seq) twice
/// in any table.
async fn mariadb_rows_match(db: &TestDb, _r: &MariaDb) {
    let dup = db
        .count(
            "SELECT COUNT(*) FROM (SELECT session_id, seq FROM record_log \
             GROUP BY session_id, seq HAVING COUNT(*) > 1) d",
        )
        .await;
    assert_eq!(dup, 0);
    // A session purged whole keeps only its audit entries and erasures (and every key in
    // record_log, so a redelivery stays a no-op).
    let logged = db
        .count(
            "SELECT COUNT(*) FROM record_log WHERE kind IN ('audit', 'erasure') OR session_id \
             NOT IN (SELECT session_id FROM erasures WHERE scope = 'session')",
        )
        .await;
    let rows = db
        .count(
            "SELECT (SELECT COUNT(*) FROM sessions) + (SELECT COUNT(*) FROM consents) \
             + (SELECT COUNT(*) FROM documents) + (SELECT COUNT(*) FROM media_objects) \
             + (SELECT COUNT(DISTINCT session_id, seq) FROM face_samples) \
             + (SELECT COUNT(*) FROM comparisons) + (SELECT COUNT(*) FROM decisions) \
             + (SELECT COUNT(*) FROM audit_events) + (SELECT COUNT(*) FROM erasures)",
        )
        .await;
    assert_eq!(
        logged, rows,
        "every logged record has its rows, and only those"
    );
}

async fn a_whole_session_reads_back_as_written<R: Records>(r: &R) {
    let sid = Uuid::new_v4();
    let entries = sample::sample_session(sid, 1_700_000_000_000);
    assert_eq!(r.write_batch(&entries).await.expect("write"), entries.len());
    let back = r.session_records(sid).await.expect("read");
    assert_eq!(back, entries);
    assert!(
        r.session_records(Uuid::new_v4())
            .await
            .expect("read")
            .is_empty()
    );
}

async fn the_same_record_twice_is_stored_once<R: Records>(r: &R) {
    let sid = Uuid::new_v4();
    let entries = sample::sample_session(sid, 1_700_000_000_000);
    assert_eq!(r.write_batch(&entries[..5]).await.expect("write"), 5);
    // Redelivered: the first five again with the other four, then everything once more.
    assert_eq!(r.write_batch(&entries).await.expect("write"), 4);
    assert_eq!(r.write_batch(&entries).await.expect("write"), 0);
    for e in &entries {
        assert_eq!(r.write(e).await.expect("write"), 0);
    }
    // A different record under a used (session, seq) is a redelivery too: the first stays.
    let mut other = entries[1].clone();
    other.record = Record::SessionCreated;
    assert_eq!(r.write(&other).await.expect("write"), 0);
    let back = r.session_records(sid).await.expect("read");
    assert_eq!(back.len() as u64, RECORDS_PER_SESSION);
    assert_eq!(back, entries);
}

async fn erasures_remove_what_their_scope_says_and_redelivery_brings_nothing_back<R: Records>(
    r: &R,
) {
    let (sid, t0) = (Uuid::new_v4(), 1_700_000_000_000);
    let entries = sample::sample_session(sid, t0);
    r.write_batch(&entries).await.expect("write");
    let erasure = |seq: u64, scope| RecordEntry {
        session_id: sid,
        seq,
        at_ms: t0 + 100,
        tenant_id: Some("tenant-a".into()),
        record: Record::Erasure(Erasure { scope }),
    };
    let personal = erasure(10, ErasureScope::Personal);
    assert_eq!(r.write(&personal).await.expect("erase"), 1);
    let check_personal = |back: &[RecordEntry]| {
        assert_eq!(back.len(), entries.len() + 1);
        for (got, was) in back.iter().zip(&entries) {
            match (&got.record, &was.record) {
                (Record::DocumentRead(g), Record::DocumentRead(w)) => {
                    assert!(g.fields_enc.is_empty(), "the fields are gone");
                    assert_eq!(g.document_id, w.document_id);
                }
                (Record::FaceSamples(g), Record::FaceSamples(w)) => {
                    assert_eq!(g.samples.len(), w.samples.len());
                    assert!(g.samples.iter().all(|s| s.embedding_enc.is_empty()));
                }
                _ => assert_eq!(got, was, "kept as written"),
            }
        }
        assert_eq!(back.last(), Some(&personal));
    };
    check_personal(&r.session_records(sid).await.expect("read"));
    // Delivered again (a lost acknowledgement): nothing comes back.
    assert_eq!(r.write_batch(&entries).await.expect("again"), 0);
    assert_eq!(r.write(&personal).await.expect("again"), 0);
    check_personal(&r.session_records(sid).await.expect("read"));
    let cmp_id = entries
        .iter()
        .find_map(|e| ComparisonReport::from_entry(e).map(|c| c.comparison.comparison_id))
        .expect("a comparison");
    assert!(r.comparison(cmp_id).await.expect("cmp").is_some());

    // Retention's purge of the whole session: the audit entry and the erasures stay.
    let whole = erasure(SESSION_PURGE_SEQ, ErasureScope::Session);
    assert_eq!(r.write(&whole).await.expect("purge"), 1);
    let check_whole = |back: Vec<RecordEntry>| {
        let kinds: Vec<_> = back.iter().map(|e| e.record.kind()).collect();
        assert_eq!(kinds, ["audit", "erasure", "erasure"], "{back:#?}");
    };
    check_whole(r.session_records(sid).await.expect("read"));
    assert_eq!(r.write_batch(&entries).await.expect("again"), 0);
    assert_eq!(r.write(&whole).await.expect("again"), 0);
    check_whole(r.session_records(sid).await.expect("read"));
    assert!(r.comparison(cmp_id).await.expect("cmp").is_none());
    let decided = r.decisions_between(0, i64::MAX, 100).await.expect("list");
    assert!(decided.iter().all(|d| d.session_id != sid), "{decided:?}");
}

async fn the_audit_chain_reads_back_in_chain_order_and_verifies<R: Records>(r: &R) {
    let db = sled::Config::new().temporary(true).open().expect("sled");
    let outbox = Outbox::open(&db).expect("outbox");
    let log = AuditLog::open(&outbox).expect("log");
    let sessions = [Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4()];
    let chain: Vec<RecordEntry> = (0..7)
        .map(|i| {
            log.append(&AuditEvent {
                session_id: sessions[i % 3],
                tenant_id: None,
                actor: "admin",
                action: "read",
                target: "GET /admin/sessions/{id}",
            })
            .expect("append")
        })
        .collect();
    // Delivered out of order, read back in the chain's.
    for e in chain.iter().rev() {
        assert_eq!(r.write(e).await.expect("write"), 1);
    }
    let all = r.audit_after(AUDIT_SEQ_BASE, 100).await.expect("read");
    assert_eq!(all, chain);
    let first = r.audit_after(AUDIT_SEQ_BASE, 3).await.expect("page");
    assert_eq!(first, chain[..3]);
    let next = r.audit_after(first[2].seq, 3).await.expect("page");
    assert_eq!(next, chain[3..6]);
    let mut v = Verifier::default();
    for e in &all {
        v.check(e).expect("every link holds");
    }
    assert_eq!(v.verified(), 7);
    assert_eq!(log.head().expect("head"), (7, v.last_hash()));
}

async fn records_read_back_in_sequence_order_whatever_the_delivery_order<R: Records>(r: &R) {
    let sid = Uuid::new_v4();
    let entries = sample::sample_session(sid, 1_700_000_000_000);
    for i in [6, 0, 8, 2, 4, 1, 7, 3, 5] {
        r.write(&entries[i]).await.expect("write");
    }
    let back = r.session_records(sid).await.expect("read");
    let seqs: Vec<u64> = back.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=RECORDS_PER_SESSION).collect::<Vec<_>>());
    assert_eq!(back, entries);
}

async fn a_comparison_report_has_every_pair<R: Records>(r: &R) {
    let sid = Uuid::new_v4();
    let mut entries = sample::sample_session(sid, 1_700_000_000_000);
    // 2 ID faces × 150 frames = 300 pairs (more than one insert statement's worth).
    let ids: Vec<FaceSample> = (0..2).map(|_| face(SampleSource::IdImage, None)).collect();
    let frames: Vec<FaceSample> = (0..150)
        .map(|i| face(SampleSource::VideoFrame, Some(i * 2)))
        .collect();
    let cmp = sample::comparison(&ids, &frames);
    entries[5].record = Record::FaceSamples(FaceSamples {
        samples: ids.iter().chain(&frames).cloned().collect(),
    });
    entries[6].record = Record::Comparison(cmp.clone());
    r.write_batch(&entries).await.expect("write");
    let report = r
        .comparison(cmp.comparison_id)
        .await
        .expect("read")
        .expect("the comparison is there");
    assert_eq!(report.comparison.pairs.len(), 300);
    assert_eq!(report.comparison, cmp, "pairs in order, every value exact");
    assert_eq!((report.session_id, report.seq), (sid, 7));
    assert_eq!(report.tenant_id.as_deref(), Some("tenant-a"));
    // Every frame sample is paired with every ID sample.
    for f in &frames {
        let n = cmp
            .pairs
            .iter()
            .filter(|p| p.frame_sample_id == f.sample_id)
            .count();
        assert_eq!(n, 2);
    }
    assert_eq!(r.comparisons_of(sid).await.expect("read"), vec![report]);
    assert!(r.comparison(Uuid::new_v4()).await.expect("read").is_none());
    assert!(
        r.comparisons_of(Uuid::new_v4())
            .await
            .expect("read")
            .is_empty()
    );
}

fn face(source: SampleSource, frame: Option<u32>) -> FaceSample {
    FaceSample {
        sample_id: Uuid::new_v4(),
        media_id: None,
        source,
        frame_index: frame,
        frame_ms: frame.map(i64::from),
        engine: "opencv".into(),
        model: "w600k_mbf".into(),
        quality: 0.25,
        embedding_enc: vec![9; 64],
    }
}

async fn decisions_are_listed_by_time<R: Records>(r: &R) {
    let t0 = 1_800_000_000_000;
    let mut sessions = Vec::new();
    // Written newest first; decided at t0 + 1000 i + 8.
    for i in (0..5i64).rev() {
        let sid = Uuid::new_v4();
        r.write_batch(&sample::sample_session(sid, t0 + 1000 * i))
            .await
            .expect("write");
        sessions.push((i, sid));
    }
    sessions.sort();
    let rows = r
        .decisions_between(t0 + 1000, t0 + 4000, 100)
        .await
        .expect("read");
    let got: Vec<(Uuid, i64)> = rows.iter().map(|d| (d.session_id, d.decided_ms)).collect();
    let want: Vec<(Uuid, i64)> = sessions[1..4]
        .iter()
        .map(|(i, sid)| (*sid, t0 + 1000 * i + 8))
        .collect();
    assert_eq!(got, want, "decisions in [from, to), oldest first");
    assert!(
        rows.iter()
            .all(|d| d.seq == 8 && d.decision.outcome == "verified")
    );
    let two = r.decisions_between(t0, t0 + 5000, 2).await.expect("read");
    assert_eq!(two.len(), 2);
    assert_eq!(two[0].session_id, sessions[0].1);
    assert!(
        r.decisions_between(t0 - 10, t0, 10)
            .await
            .expect("read")
            .is_empty()
    );
}

async fn the_outbox_drains_every_record_once_in_order<R: Records + Clone>(r: &R) {
    let db = sled::Config::new().temporary(true).open().expect("sled");
    let outbox = Outbox::open(&db).expect("outbox");
    let sids: Vec<Uuid> = (0..20).map(|_| Uuid::new_v4()).collect();
    let all: Vec<Vec<RecordEntry>> = sids
        .iter()
        .map(|s| sample::sample_session(*s, 1_700_000_000_000))
        .collect();
    // Half before the drainer starts, in a caller's own transaction with another tree.
    let steps = db.open_tree("steps").expect("tree");
    for entries in &all[..10] {
        let staged: Vec<_> = entries
            .iter()
            .map(|e| outbox.stage(e).expect("stage"))
            .collect();
        (&steps, outbox.tree())
            .transaction(|(steps, ob)| {
                steps.insert(entries[0].session_id.as_bytes(), &b"step"[..])?;
                for s in &staged {
                    s.write(ob)?;
                }
                Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
            })
            .expect("transaction");
    }
    outbox.notify();
    assert_eq!(outbox.backlog().count, 10 * RECORDS_PER_SESSION);
    let drainer = Drainer::spawn(
        outbox.clone(),
        Arc::new(r.clone()),
        DrainerTuning::default(),
    );
    for entries in &all[10..] {
        for e in entries {
            outbox.append(e).expect("append");
        }
        // One record delivered twice (a redelivery after a lost acknowledgement).
        outbox.append(&entries[3]).expect("append");
    }
    wait_until_empty(&drainer, Duration::from_secs(30)).await;
    let stats = drainer.stats();
    drainer.stop().await;
    assert_eq!(stats.delivered, 20 * RECORDS_PER_SESSION);
    assert_eq!(stats.duplicates, 10);
    assert_eq!(stats.set_aside, 0);
    for (sid, entries) in sids.iter().zip(&all) {
        assert_eq!(&r.session_records(*sid).await.expect("read"), entries);
    }
}

/// Waits for the outbox to empty; fails the test after `limit`.
pub async fn wait_until_empty(drainer: &DrainerHandle, limit: Duration) {
    let start = Instant::now();
    while drainer.backlog().count > 0 {
        assert!(
            start.elapsed() < limit,
            "the outbox did not drain in {limit:?}: {:?}",
            drainer.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn mariadb_migrations_apply_once_and_say_so() {
    let db = TestDb::create().await;
    let url = db.url_via(None);
    let (_, first) = MariaDb::connect(&crate::db::settings(&url, 5))
        .await
        .expect("migrate");
    let carried = MIGRATOR.iter().count();
    assert_eq!((first.applied.len(), first.already), (carried, 0));
    let (_, again) = MariaDb::connect(&crate::db::settings(&url, 5))
        .await
        .expect("migrate");
    assert_eq!((again.applied.len(), again.already), (0, carried));
    assert_eq!(db.count("SELECT COUNT(*) FROM record_log").await, 0);
}

#[tokio::test]
async fn mariadb_unreachable_is_a_transient_error_not_a_hang() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let r = MariaDb::lazy(&crate::db::settings(
        &format!("mysql://root@127.0.0.1:{port}/none"),
        1,
    ))
    .expect("lazy pool");
    let start = Instant::now();
    let e = r
        .write(&sample::sample_session(Uuid::new_v4(), 0)[0])
        .await
        .expect_err("nothing to write to");
    assert!(e.is_transient(), "{e}");
    assert!(start.elapsed() < Duration::from_secs(5));
}
