//! MariaDB goes away under the running server: a TCP proxy (started here) between the server
//! and MariaDB is cut while 50 sessions are created and decided, then restored. The server
//! decides sessions and answers `/readyz` throughout, the outbox grows during the cut and
//! drains after it, and every session's records are in MariaDB exactly once.

use super::flow::run;
use super::helpers::{Client, Server, card, spawn, video};
use super::records_db::TestDb;
use super::records_proxy::{Proxy, upstream};
use futures::StreamExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

const SESSIONS: usize = 50;
const AT_ONCE: usize = 6;
/// The proxy is cut once this many sessions are decided, restored at `RESTORE_AT`.
const CUT_AT: usize = 10;
const RESTORE_AT: usize = 30;

async fn readyz(server: &Server) -> Option<(u16, serde_json::Value)> {
    let res = server
        .client
        .get(server.url("/readyz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    let status = res.status().as_u16();
    Some((status, res.json().await.ok()?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_are_decided_through_a_mariadb_outage_and_every_record_arrives_once() {
    let db = TestDb::create().await;
    // Migrated directly first, so the cut hits deliveries, not the schema.
    drop(db.backend().await);
    let proxy = Proxy::start(upstream(&db.url_via(None))).await;
    let url = db.url_via(Some(proxy.port));
    let server = spawn(&[
        ("KYC__DATABASE__URL", url.as_str()),
        ("KYC__DATABASE__CONNECT_TIMEOUT_SECS", "1"),
        ("KYC__DATABASE__ACQUIRE_TIMEOUT_SECS", "1"),
        ("KYC__SESSIONS__RATE_PER_IP_PER_MINUTE", "1000000"),
    ])
    .await;
    let tmp = tempfile::tempdir().expect("tmp");
    let clip = std::fs::read(video(tmp.path(), "img5.jpg", 2)).expect("clip");
    let card = card("img5.jpg", 41).0;

    let decided = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    // The server answers /readyz throughout; the backlog it reports during the cut.
    let probe = async {
        let (mut answers, mut peak) = (0usize, 0u64);
        while !done.load(Ordering::SeqCst) {
            let (status, body) = readyz(&server).await.expect("/readyz answers");
            assert_eq!(status, 200, "{body}");
            answers += 1;
            peak = peak.max(body["data"]["outbox"]["count"].as_u64().unwrap_or(0));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (answers, peak)
    };
    let control = async {
        let wait_for = |n: usize| {
            let decided = &decided;
            async move {
                while decided.load(Ordering::SeqCst) < n {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        wait_for(CUT_AT).await;
        proxy.cut().await;
        eprintln!("MariaDB cut after {CUT_AT} decisions");
        wait_for(RESTORE_AT).await;
        let (_, body) = readyz(&server).await.expect("/readyz answers");
        let during = body["data"].clone();
        proxy.restore();
        eprintln!("MariaDB restored after {RESTORE_AT} decisions: {during}");
        during
    };
    let sessions = futures::stream::iter(0..SESSIONS)
        .map(|_| {
            let (card, clip) = (card.clone(), clip.clone());
            let (server, decided) = (&server, &decided);
            async move {
                let client = Client::create(server).await;
                let mut w = client.watch(0).await;
                let last = run(&client, card, clip, &mut w).await;
                assert_eq!(last["decision"], "verified", "{last}");
                decided.fetch_add(1, Ordering::SeqCst);
                client.id
            }
        })
        .buffer_unordered(AT_ONCE)
        .collect::<Vec<String>>();
    let (ids, during, (answers, peak)) = tokio::join!(
        async {
            let ids = sessions.await;
            done.store(true, Ordering::SeqCst);
            ids
        },
        control,
        probe
    );
    assert_eq!(ids.len(), SESSIONS);
    assert!(
        during["outbox"]["count"].as_u64().is_some_and(|n| n > 0),
        "records waited in the outbox during the cut: {during}"
    );
    eprintln!("/readyz answered {answers} times, all 200; outbox peak {peak} records");

    // The outbox drains once MariaDB is back.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (_, body) = readyz(&server).await.expect("/readyz answers");
        if body["data"]["outbox"]["count"] == 0 {
            assert_eq!(body["data"]["outbox"]["dead"], 0, "{body}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not drained: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Exactly once, counted in the database itself: every session with each of its records,
    // and every table holding one row set per logged record.
    let n = SESSIONS as i64;
    for (sql, want) in [
        ("SELECT COUNT(*) FROM sessions", n),
        ("SELECT COUNT(*) FROM consents", n),
        ("SELECT COUNT(*) FROM documents", n),
        ("SELECT COUNT(*) FROM media_objects", 2 * n),
        (
            "SELECT COUNT(*) FROM (SELECT DISTINCT session_id, seq FROM face_samples) f",
            2 * n,
        ),
        ("SELECT COUNT(*) FROM comparisons", n),
        ("SELECT COUNT(*) FROM decisions", n),
        ("SELECT COUNT(*) FROM record_log", 9 * n),
        (
            "SELECT COUNT(*) FROM (SELECT session_id FROM record_log GROUP BY session_id \
             HAVING COUNT(*) = 9 AND COUNT(DISTINCT kind) = 7) s",
            n,
        ),
    ] {
        assert_eq!(db.count(sql).await, want, "{sql}");
    }
    for id in &ids {
        let sid = uuid::Uuid::parse_str(id).expect("uuid");
        let logged: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM decisions WHERE session_id = ?")
            .bind(sid.as_bytes().as_slice())
            .fetch_one(&db.pool)
            .await
            .expect("count");
        assert_eq!(logged, 1, "session {id}'s decision");
    }
    server.stop().await;
}
