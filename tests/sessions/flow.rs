//! Whole sessions: ID card photo, selfie video, comparison — to `verified` for the same person,
//! `rejected` for another — watched over the WebSocket, with the events' order and numbering
//! checked; and a socket dropped mid-processing that reconnects with `since`.

use super::helpers::{Client, Watcher, card_image, rank, spawn, video};
use serde_json::Value;
use std::time::Duration;

const STEP: Duration = Duration::from_secs(120);

/// Runs one session to its decision; returns the events seen from `since=0` and the
/// comparison.
pub(super) async fn run(
    client: &Client<'_>,
    card: Vec<u8>,
    clip: Vec<u8>,
    w: &mut Watcher,
) -> Value {
    run_with(client, card, "resident_registration_card", clip, w).await
}

/// [`run`] with a card of type `doc` (`resident_registration_card`, `driver_licence`).
pub(super) async fn run_with(
    client: &Client<'_>,
    card: Vec<u8>,
    doc: &str,
    clip: Vec<u8>,
    w: &mut Watcher,
) -> Value {
    let (status, body) = client.upload("/api/v1/id-capture", card, "card.png").await;
    assert_eq!(status, 202, "{body}");
    assert!(body["data"]["captureId"].is_string(), "{body}");
    let e = w.state(STEP, "id_accepted").await;
    assert_eq!(e["state"], "id_accepted", "ID photo not accepted: {e}");

    let (status, capture) = client
        .get(&format!("/api/v1/id-capture/{}", client.id))
        .await;
    assert_eq!(status, 200, "{capture}");
    let c = &capture["data"];
    assert_eq!(c["status"], "accepted");
    assert_eq!(c["documentType"], doc);
    let name = c["fields"]["name"]["value"].as_str().unwrap_or_default();
    assert!(name.contains('*'), "the name is masked: {name}");
    assert!(c["face"]["engine"].is_string(), "{c}");

    let (status, body) = client
        .upload("/api/v1/face-video", clip, "selfie.mp4")
        .await;
    assert_eq!(status, 202, "{body}");
    let e = w.state(STEP, "video_accepted").await;
    assert_eq!(e["state"], "video_accepted", "video not accepted: {e}");

    let (status, body) = client.compare().await;
    assert_eq!(status, 202, "{body}");
    let cid = body["data"]["comparisonId"]
        .as_str()
        .expect("comparisonId")
        .to_owned();
    let last = w
        .until(STEP, |e| e["state"] == "decided" || e["state"] == "failed")
        .await;
    assert!(
        last["decision"].is_string(),
        "the final event carries the decision: {last}"
    );

    // The person's token sees the outcome and nothing to tune a spoof with.
    let path = format!("/api/v1/face-similarity/{cid}");
    let (status, seen) = client.get(&path).await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["data"]["decision"], last["decision"], "{seen}");
    for hidden in ["pairs", "threshold", "score", "reasons", "bestSimilarity"] {
        assert!(seen["data"][hidden].is_null(), "{hidden} shown: {seen}");
    }
    for hidden in ["score", "threshold", "reasons", "consistency"] {
        assert!(
            last["result"][hidden].is_null(),
            "{hidden} on the socket: {last}"
        );
    }
    // The tenant's key sees all of it.
    let (status, cmp) = client.server.tenant_get(&path).await;
    assert_eq!(status, 200, "{cmp}");
    let d = cmp["data"].clone();
    assert_eq!(d["decision"], last["decision"], "{d}");
    assert_eq!(
        d["pairs"].as_array().map(Vec::len),
        Some(12),
        "one row per sampled frame"
    );
    d
}

/// Events are numbered 1, 2, 3… with no gap, their states never go back (retries aside),
/// progress is within 0–100, every message is bilingual.
fn check_events(events: &[Value]) {
    let seqs: Vec<u64> = events
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "numbering"
    );
    let mut prev = 0;
    for e in events {
        let r = rank(e["state"].as_str().expect("state"));
        assert!(r >= prev, "state went back at {e}");
        prev = r;
        let p = &e["progress"];
        assert!(p["stage"].as_u64().is_some_and(|v| v <= 100), "{e}");
        assert!(p["overall"].as_u64().is_some_and(|v| v <= 100), "{e}");
        assert!(
            e["message"]["en"].is_string() && e["message"]["ko"].is_string(),
            "{e}"
        );
    }
    let states: Vec<&str> = events.iter().filter_map(|e| e["state"].as_str()).collect();
    for s in [
        "id_capture",
        "id_accepted",
        "video",
        "video_accepted",
        "comparing",
        "decided",
    ] {
        assert!(states.contains(&s), "no {s} event: {states:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_person_is_verified_and_another_rejected_over_rest_and_websocket() {
    let server = spawn(&[]).await;
    let media = tempfile::tempdir().expect("tmp");
    // img1 and img2 show the same person; img3 another.
    let same = std::fs::read(video(media.path(), "img2.jpg", 4)).expect("clip");
    let other = std::fs::read(video(media.path(), "img3.jpg", 4)).expect("clip");

    for (clip, expected) in [(same, "verified"), (other, "rejected")] {
        let client = Client::create(&server).await;
        let mut w = client.watch(0).await;
        // A second socket on the same session gets the same events.
        let mut w2 = client.watch(0).await;
        let report = run(&client, card_image("img1.jpg", 10), clip, &mut w).await;
        eprintln!(
            "{expected}: decision {} score {} kept {}",
            report["decision"], report["score"], report["framesKept"]
        );
        assert_eq!(report["decision"], expected, "{report}");
        check_events(&w.events);
        let n = w.events.len() as u64;
        w2.until(STEP, |e| e["seq"].as_u64() == Some(n)).await;
        assert_eq!(w2.events, w.events, "both sockets saw the same events");
        // The journal has exactly what the sockets saw.
        let (status, s) = client.get(&format!("/api/v1/sessions/{}", client.id)).await;
        assert_eq!(status, 200);
        assert_eq!(s["data"]["seq"].as_u64(), Some(n));
        assert_eq!(s["data"]["decision"], expected);
        // A decided session takes no more uploads and no second comparison.
        let (status, body) = client
            .upload("/api/v1/id-capture", card_image("img1.jpg", 9), "c.png")
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (409, Some("CONFLICT")),
            "{body}"
        );
        let (status, _) = client.compare().await;
        assert_eq!(status, 409);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_socket_dropped_mid_processing_gets_exactly_the_missed_events_on_reconnect() {
    let server = spawn(&[]).await;
    let media = tempfile::tempdir().expect("tmp");
    let clip = std::fs::read(video(media.path(), "img2.jpg", 4)).expect("clip");
    let client = Client::create(&server).await;
    let mut full = client.watch(0).await;
    let mut dropped = client.watch(0).await;

    let (status, body) = client
        .upload("/api/v1/id-capture", card_image("img1.jpg", 7), "c.png")
        .await;
    assert_eq!(status, 202, "{body}");
    full.state(STEP, "id_accepted").await;
    let (status, body) = client.upload("/api/v1/face-video", clip, "v.mp4").await;
    assert_eq!(status, 202, "{body}");
    // Drop the second socket in the middle of the video's analysis.
    let seen = dropped
        .until(STEP, |e| {
            e["state"] == "video" && e["result"]["framesAnalysed"].as_u64() == Some(2)
        })
        .await;
    let last_seen = seen["seq"].as_u64().expect("seq");
    let before = dropped.events.clone();
    drop(dropped);

    full.state(STEP, "video_accepted").await;
    let (status, body) = client.compare().await;
    assert_eq!(status, 202, "{body}");
    let end = full.until(STEP, |e| e["state"] == "decided").await;
    let total = end["seq"].as_u64().expect("seq");
    assert!(total > last_seen + 3, "events were missed while away");

    // Reconnect after the decision: exactly last_seen+1 ..= total, then nothing more.
    let mut again = client.watch(last_seen).await;
    again
        .until(STEP, |e| e["seq"].as_u64() == Some(total))
        .await;
    assert_eq!(again.seqs(), (last_seen + 1..=total).collect::<Vec<_>>());
    let mut joined = before;
    joined.extend(again.events.clone());
    assert_eq!(
        joined, full.events,
        "the two connections add up to the whole story"
    );
    let extra = tokio::time::timeout(
        Duration::from_millis(300),
        futures::StreamExt::next(&mut again.ws),
    )
    .await;
    assert!(
        !matches!(
            extra,
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(_))))
        ),
        "no duplicate after the last event: {extra:?}"
    );
    server.stop().await;
}

/// The media of the `loadtest flow` benchmark (BENCHMARKS.md): a generated 주민등록증 with a
/// real photo (`card.png`) and a selfie clip of the same person (`selfie.mp4`), written to
/// `KYC_BENCH_MEDIA` (a folder). Not a test:
/// `KYC_BENCH_MEDIA=/tmp/bench cargo test --release --test sessions bench_media -- --ignored`
#[test]
#[ignore = "writes the flow benchmark's media: run it by name with --ignored"]
fn bench_media() {
    let dir = std::path::PathBuf::from(
        std::env::var("KYC_BENCH_MEDIA").expect("KYC_BENCH_MEDIA names the folder to write to"),
    );
    std::fs::create_dir_all(&dir).expect("the folder");
    std::fs::write(dir.join("card.png"), card_image("img1.jpg", 1801)).expect("card.png");
    let clip = video(&dir, "img1.jpg", 4);
    std::fs::rename(&clip, dir.join("selfie.mp4")).expect("selfie.mp4");
    println!("{}", dir.display());
}
