//! Live camera frames (`mode=live`): a burst from many sessions at once is answered with the
//! quality check or a clean 503 BUSY, never more than the lane's bound decoded at once, each
//! check reaches its own session's socket as a transient event, and nothing is journaled.

use super::helpers::{Client, Server, card_image, spawn};
use futures::future::join_all;
use serde_json::Value;
use std::time::Duration;

const SESSIONS: usize = 20;
const FRAMES_EACH: usize = 10;
const LANE: usize = 2;

/// The consent sent at creation is each session's first journaled event.
const CONSENTED: u64 = 1;

/// Sends one live frame; the status, the body and the Retry-After header.
async fn live_frame(c: &Client<'_>, frame: Vec<u8>) -> (u16, Value, Option<String>) {
    let form = reqwest::multipart::Form::new()
        .text("sessionId", c.id.clone())
        .text("mode", "live")
        .part(
            "file",
            reqwest::multipart::Part::bytes(frame).file_name("frame.png"),
        );
    let res = c
        .server
        .client
        .post(c.server.url("/api/v1/id-capture"))
        .bearer_auth(&c.token)
        .multipart(form)
        .send()
        .await
        .expect("send");
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: Value = res.json().await.expect("JSON envelope");
    (status, body, retry)
}

/// The value of an unlabelled metric in `/metrics`.
async fn metric(server: &Server, name: &str) -> u64 {
    let text = server.metrics().await;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} is not in /metrics:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_live_frames_is_bounded_answered_and_not_journaled() {
    let lane = LANE.to_string();
    let server = spawn(&[
        ("KYC__SESSIONS__LIVE_FRAMES_AT_ONCE", lane.as_str()),
        ("KYC__SESSIONS__RATE_PER_IP_PER_MINUTE", "1000000"),
        ("KYC__SESSIONS__RATE_PER_SESSION_PER_MINUTE", "1000000"),
    ])
    .await;
    let frame = card_image("img1.jpg", 0);
    let mut clients = Vec::new();
    for _ in 0..SESSIONS {
        clients.push(Client::create(&server).await);
    }
    let mut watchers = Vec::new();
    for c in &clients {
        watchers.push(c.watch(CONSENTED).await);
    }

    // All 200 frames at once.
    let sends = clients.iter().enumerate().flat_map(|(i, c)| {
        let frame = frame.clone();
        (0..FRAMES_EACH).map(move |_| {
            let frame = frame.clone();
            async move { (i, live_frame(c, frame).await) }
        })
    });
    let answers = join_all(sends).await;
    let mut checked = vec![Vec::new(); SESSIONS];
    let mut busy = 0;
    for (i, (status, body, retry)) in &answers {
        match status {
            202 => {
                assert_eq!(body["data"]["status"], "checked", "{body}");
                assert_eq!(body["data"]["seq"], CONSENTED, "nothing journaled: {body}");
                let id = body["data"]["captureId"].as_str().expect("captureId");
                checked[*i].push(id.to_owned());
            }
            503 => {
                assert_eq!(body["error"]["code"], "BUSY", "{body}");
                assert!(retry.is_some(), "a 503 without Retry-After: {body}");
                busy += 1;
            }
            s => panic!("a live frame answered {s}: {body}"),
        }
    }
    let answered: usize = checked.iter().map(Vec::len).sum();
    eprintln!(
        "{} frames: {answered} checked, {busy} refused (lane of {LANE})",
        answers.len()
    );
    assert_eq!(answered + busy, SESSIONS * FRAMES_EACH);
    assert!(answered > 0, "no frame was checked");

    // Never more than the lane's bound decoded at once; every frame counted once.
    let peak = metric(&server, "kyc_live_frames_peak").await;
    assert!((1..=LANE as u64).contains(&peak), "peak {peak} over {LANE}");
    assert_eq!(
        metric(&server, "kyc_live_frames_checked_total").await,
        answered as u64
    );
    assert_eq!(
        metric(&server, "kyc_live_frames_refused_total").await,
        busy as u64
    );

    // Each check reaches its own session's socket, as a transient event.
    for ((c, w), ids) in clients.iter().zip(&mut watchers).zip(&checked) {
        // Notices arrive in the order the checks finished, not the order of the answers.
        for id in ids {
            let seen = w
                .events
                .iter()
                .any(|e| e["result"]["captureId"] == id.as_str());
            if !seen {
                w.until(Duration::from_secs(30), |e| {
                    e["result"]["captureId"] == id.as_str()
                })
                .await;
            }
        }
        assert_eq!(w.events.len(), ids.len(), "{:#?}", w.events);
        for e in &w.events {
            assert_eq!(e["seq"], CONSENTED, "{e}");
            assert_eq!(e["result"]["live"], true, "{e}");
        }
        assert!(
            w.events
                .iter()
                .all(|e| e["transient"] == true && e["sessionId"] == c.id.as_str()),
            "a journaled event among the live checks: {:#?}",
            w.events
        );
    }

    // The journal grew by no per-frame event: every session is still new, with its consent
    // only.
    for c in &clients {
        let (status, body) = c.get(&format!("/api/v1/sessions/{}", c.id)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["seq"], CONSENTED, "{body}");
        assert_eq!(body["data"]["state"], "created", "{body}");
    }
    // A socket opened after the consent replays nothing of them: its first event is the next
    // journaled one, the ID photo sent now.
    let mut again = clients[0].watch(CONSENTED).await;
    let (status, body) = clients[0]
        .upload("/api/v1/id-capture", frame.clone(), "card.png")
        .await;
    assert_eq!(status, 202, "{body}");
    let first = again.until(Duration::from_secs(30), |_| true).await;
    assert_eq!(first["seq"], CONSENTED + 1, "{first}");
    assert!(first.get("transient").is_none(), "{first}");
    server.stop().await;
}
