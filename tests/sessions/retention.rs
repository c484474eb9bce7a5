//! Retention through the running server, with its periods set to seconds: a finished
//! session's uploads go first (its key and records stay), then the whole session, each run of
//! the purge audited once; a restart runs the purge again and changes nothing more.

use super::helpers::{Client, Server, answer, card, spawn};
use kyc::records::{Record, Records};
use std::time::Duration;

const ADMIN: &str = "admin-token-for-retention-tests-01";
/// One second, in days.
const SECOND: f64 = 1.0 / 86_400.0;

/// Polls `f` every 100 ms until it is true or `secs` pass.
async fn until(secs: u64, what: &str, f: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {secs} s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn uploads(server: &Server, id: &uuid::Uuid) -> Option<Vec<String>> {
    let dir = server
        .settings
        .server
        .data_dir
        .join("media")
        .join(id.simple().to_string());
    let names = std::fs::read_dir(dir).ok()?;
    Some(
        names
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "data.key")
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn media_then_sessions_leave_on_schedule_and_the_purge_is_idempotent_across_a_restart() {
    let (media, session) = (format!("{}", 2.0 * SECOND), format!("{}", 5.0 * SECOND));
    let mut server = spawn(&[
        ("KYC__ADMIN__TOKEN", ADMIN),
        ("KYC__RETENTION__MEDIA_DAYS", media.as_str()),
        ("KYC__RETENTION__SESSION_DAYS", session.as_str()),
        ("KYC__RETENTION__PURGE_INTERVAL_SECS", "0.2"),
    ])
    .await;
    // A live session is never purged; a finished one is.
    let live = Client::create(&server).await;
    let finished = Client::create(&server).await;
    let id: uuid::Uuid = finished.id.parse().expect("uuid");
    let mut w = finished.watch(0).await;
    let (status, body) = finished
        .upload("/api/v1/id-capture", card("img3.jpg", 71).0, "card.jpg")
        .await;
    assert_eq!(status, 202, "{body}");
    let e = w.state(Duration::from_secs(60), "id_accepted").await;
    assert_eq!(e["state"], "id_accepted", "{e}");
    let first = uploads(&server, &id).expect("the session's folder");
    assert_eq!(first.len(), 1, "the ID photo is kept");
    // A retake supersedes it: the earlier photo is deleted at once.
    let (status, body) = finished
        .upload("/api/v1/id-capture", card("img4.jpg", 72).0, "card.jpg")
        .await;
    assert_eq!(status, 202, "{body}");
    let e = w.state(Duration::from_secs(60), "id_accepted").await;
    assert_eq!(e["state"], "id_accepted", "{e}");
    let second = uploads(&server, &id).expect("the session's folder");
    assert_eq!(second.len(), 1, "{second:?}");
    assert_ne!(second, first, "only the retake is kept");
    let res = server
        .client
        .post(server.url(&format!("/admin/sessions/{id}/expire")))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("send");
    let (status, body) = answer(res).await;
    assert_eq!(status, 200, "{body}");

    // The uploads go after ~2 s; the session and its key stay until ~5 s.
    until(10, "the uploads are deleted", || {
        uploads(&server, &id).is_some_and(|u| u.is_empty())
    })
    .await;
    let (status, body) = finished.get(&format!("/api/v1/sessions/{id}")).await;
    assert_eq!(
        (status, body["data"]["state"].as_str()),
        (200, Some("expired")),
        "{body}"
    );
    until(15, "the session is purged", || {
        uploads(&server, &id).is_none()
    })
    .await;
    let (status, body) = finished.get(&format!("/api/v1/sessions/{id}")).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = live.get(&format!("/api/v1/sessions/{}", live.id)).await;
    assert_eq!(
        (status, body["data"]["state"].as_str()),
        (200, Some("created")),
        "{body}"
    );

    // Again after a restart: the purge runs at start and every 0.2 s and finds nothing more.
    server.restart().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.halt().await;
    let store = server.records_store().await;
    let records = store.session_records(id).await.expect("records");
    drop(store);
    let mut kinds: Vec<String> = records
        .iter()
        .map(|e| match &e.record {
            Record::Audit(a) => format!("audit {}", a.action),
            Record::Erasure(x) => format!("erasure {}", x.scope.as_str()),
            other => other.kind().to_owned(),
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "audit purge_media",
            "audit purge_session",
            "erasure media",
            "erasure session"
        ],
        "each purge once, and nothing else of the session left"
    );
    // The chain still holds (`kyc audit verify` on the stopped server's embedded store).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kyc"))
        .args(["audit", "verify"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("KYC_ENV", "test")
        .env("KYC__SERVER__DATA_DIR", server.data_dir.path())
        .output()
        .expect("kyc runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("the chain holds: 2 entries"), "{text}");
}
