//! MariaDB goes away in the middle of the load: a TCP proxy (started here) between the drainer
//! and MariaDB is cut while 60 sessions' records are appended, then restored. Every record
//! must end up in MariaDB exactly once, and the backlog must rise during the cut and fall to 0.

use crate::db::{TestDb, settings};
use crate::proxy::{Proxy, upstream};
use crate::sample::{self, FRAME_SAMPLES, ID_SAMPLES, RECORDS_PER_SESSION};
use crate::suite::wait_until_empty;
use kyc::records::*;
use std::sync::Arc;
use std::time::Duration;

const SESSIONS: usize = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_cut_mid_load_every_record_arrives_exactly_once() {
    let db = TestDb::create().await;
    // Migrated directly first, so the cut hits deliveries, not the schema.
    drop(db.backend().await);
    let proxy = Proxy::start(upstream(&db.url_via(None))).await;
    let backend = MariaDb::lazy(&settings(&db.url_via(Some(proxy.port)), 1)).expect("backend");
    let sled_db = sled::Config::new().temporary(true).open().expect("sled");
    let outbox = Outbox::open(&sled_db).expect("outbox");
    let tuning = DrainerTuning {
        batch: 16,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(400),
        idle_poll: Duration::from_millis(50),
    };
    let drainer = Drainer::spawn(outbox.clone(), Arc::new(backend), tuning);

    let sessions: Vec<Vec<RecordEntry>> = (0..SESSIONS)
        .map(|i| sample::sample_session(uuid::Uuid::new_v4(), 1_700_000_000_000 + i as i64))
        .collect();
    let mut peak_during_cut = 0;
    for (i, entries) in sessions.iter().enumerate() {
        if i == 20 {
            assert!(
                drainer.stats().delivered > 0,
                "deliveries were flowing before the cut: {:?}",
                drainer.stats()
            );
            proxy.cut().await;
        }
        // The session's records, one step at a time, as the request path appends them.
        for e in entries {
            outbox.append(e).expect("append");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if (20..45).contains(&i) {
            peak_during_cut = peak_during_cut.max(drainer.backlog().count);
        }
        if i == 44 {
            let noticed = std::time::Instant::now();
            while !drainer.stats().retrying {
                assert!(
                    noticed.elapsed() < Duration::from_secs(10),
                    "the drainer did not notice the cut: {:?}",
                    drainer.stats()
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let s = drainer.stats();
            assert!(s.failures > 0, "{s:?}");
            assert!(
                s.backlog.oldest_age_ms > 0,
                "the backlog has an age while the database is away: {s:?}"
            );
            proxy.restore();
        }
    }
    assert!(
        peak_during_cut >= 20 * RECORDS_PER_SESSION,
        "the backlog grew during the cut: peak {peak_during_cut}"
    );
    wait_until_empty(&drainer, Duration::from_secs(60)).await;
    let stats = drainer.stats();
    drainer.stop().await;
    assert_eq!(stats.backlog.count, 0);
    assert_eq!(stats.set_aside, 0, "nothing refused: {stats:?}");
    assert_eq!(
        stats.delivered,
        SESSIONS as u64 * RECORDS_PER_SESSION,
        "{stats:?}"
    );

    // Exactly once, counted in the database itself.
    let n = SESSIONS as i64;
    let per = RECORDS_PER_SESSION as i64;
    assert_eq!(db.count("SELECT COUNT(*) FROM record_log").await, n * per);
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM (SELECT session_id FROM record_log GROUP BY session_id \
             HAVING COUNT(*) = 9 AND COUNT(DISTINCT seq) = 9 AND MIN(seq) = 1 AND MAX(seq) = 9) s"
        )
        .await,
        n,
        "every session has seq 1..=9, no gap, no duplicate"
    );
    for (sql, want) in [
        ("SELECT COUNT(*) FROM sessions", n),
        ("SELECT COUNT(*) FROM consents", n),
        ("SELECT COUNT(*) FROM documents", n),
        ("SELECT COUNT(*) FROM media_objects", 2 * n),
        (
            "SELECT COUNT(*) FROM face_samples",
            n * (ID_SAMPLES + FRAME_SAMPLES) as i64,
        ),
        ("SELECT COUNT(*) FROM comparisons", n),
        (
            "SELECT COUNT(*) FROM comparison_pairs",
            n * (ID_SAMPLES * FRAME_SAMPLES) as i64,
        ),
        ("SELECT COUNT(*) FROM decisions", n),
        ("SELECT COUNT(*) FROM audit_events", n),
    ] {
        assert_eq!(db.count(sql).await, want, "{sql}");
    }
    // Each session's records read back whole.
    let direct = db.backend().await;
    for entries in &sessions {
        let back = direct
            .session_records(entries[0].session_id)
            .await
            .expect("read");
        assert_eq!(&back, entries);
    }
}
