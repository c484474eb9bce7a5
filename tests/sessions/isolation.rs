//! Many sessions at once: 100 concurrent sessions of ten different people, each with its own
//! card (card seeds 0–99, every one: no list of seeds that happen to pass) and video (half of them someone else's video), each ends with its own correct
//! decision and sees only its own events; and a full waiting line answers 503 with
//! Retry-After while the waiting sessions hear their place in line.

use super::helpers::{Client, card_image, spawn, video};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Card photo and video photo of the same person (see ../shared/testdata/faces/pairs.csv);
/// neighbours in the list are different people (an impostor's video is the next one's).
const PEOPLE: [(&str, &str); 10] = [
    ("img1.jpg", "img2.jpg"),
    ("img3.jpg", "img12.jpg"),
    ("img8.jpg", "img9.jpg"),
    ("img13.jpg", "img14.jpg"),
    ("img4.jpg", "img5.jpg"),
    ("img18.jpg", "img19.jpg"),
    ("img20.jpg", "img21.jpg"),
    ("img22.jpg", "img23.jpg"),
    ("img24.jpg", "img25.jpg"),
    // The photo the capture gate's old, whole-card sharpness measure refused on every card.
    ("img16.jpg", "img17.jpg"),
];
const LONG: Duration = Duration::from_secs(900);

/// One session: its card photo (generated card `seed`, accepted on the first try), its video,
/// the decision it must reach.
async fn one(
    client: Client<'_>,
    person: usize,
    seed: u64,
    clip: Arc<Vec<u8>>,
    expected: &str,
) -> Vec<Value> {
    let mut w = client.watch(0).await;
    let card = card_image(PEOPLE[person].0, seed);
    let (status, body) = client.upload("/api/v1/id-capture", card, "card.png").await;
    assert_eq!(status, 202, "{body}");
    let e = w.state(LONG, "id_accepted").await;
    assert_eq!(
        e["state"], "id_accepted",
        "person {person}, card seed {seed}: the clean card was not accepted: {e}"
    );
    let (status, body) = client
        .upload("/api/v1/face-video", clip.to_vec(), "v.mp4")
        .await;
    assert_eq!(status, 202, "{body}");
    let e = w.state(LONG, "video_accepted").await;
    assert_eq!(e["state"], "video_accepted", "{e}");
    let (status, body) = client.compare().await;
    assert_eq!(status, 202, "{body}");
    let last = w
        .until(LONG, |e| e["state"] == "decided" || e["state"] == "failed")
        .await;
    assert_eq!(
        last["decision"], expected,
        "session of person {person} (expected {expected}): {last}"
    );
    for e in &w.events {
        assert_eq!(
            e["sessionId"].as_str(),
            Some(client.id.as_str()),
            "another session's event: {e}"
        );
    }
    let seqs = w.seqs();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    w.events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_sessions_each_reach_their_own_decision() {
    let server = spawn(&[("KYC__SESSIONS__RATE_PER_IP_PER_MINUTE", "100000")]).await;
    let media = tempfile::tempdir().expect("tmp");
    let clips: Vec<Arc<Vec<u8>>> = PEOPLE
        .iter()
        .map(|(_, v)| Arc::new(std::fs::read(video(media.path(), v, 3)).expect("clip")))
        .collect();
    let server = Arc::new(server);
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for i in 0..100usize {
        let person = i % PEOPLE.len();
        // Every other round of ten shows someone else in the video.
        let impostor = (i / PEOPLE.len()) % 2 == 1;
        let (clip, expected) = if impostor {
            (Arc::clone(&clips[(person + 1) % PEOPLE.len()]), "rejected")
        } else {
            (Arc::clone(&clips[person]), "verified")
        };
        let server = Arc::clone(&server);
        tasks.push(tokio::spawn(async move {
            let client = Client::create(&server).await;
            let events = one(client, person, i as u64, clip, expected).await;
            events.iter().any(|e| e["result"]["queuePosition"].is_u64())
        }));
    }
    let mut queued = 0;
    for t in tasks {
        if t.await.expect("session task") {
            queued += 1;
        }
    }
    eprintln!(
        "100 concurrent sessions decided in {:.1} s; {queued} of them waited in line",
        started.elapsed().as_secs_f64()
    );
    assert!(queued > 0, "with 100 sessions some waited for an engine");
    if let Ok(server) = Arc::try_unwrap(server) {
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_waiting_line_answers_503_with_retry_after() {
    let server = spawn(&[
        ("KYC__SESSIONS__MAX_RUNNING_JOBS", "1"),
        ("KYC__SESSIONS__MAX_WAITING_JOBS", "1"),
    ])
    .await;
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(Client::create(&server).await);
    }
    let mut wb = clients[1].watch(0).await;
    // All made before the first upload: the uploads follow each other within milliseconds,
    // while the first one's job (OCR ≈ 0.5 s) holds the only slot.
    let cards: Vec<Vec<u8>> = ["img1.jpg", "img3.jpg", "img8.jpg", "img13.jpg"]
        .iter()
        .map(|p| card_image(p, 10))
        .collect();
    let mut answers = Vec::new();
    for (i, (c, card)) in clients.iter().zip(cards).enumerate() {
        let (bytes, started) = (card.len(), std::time::Instant::now());
        let form = reqwest::multipart::Form::new()
            .text("sessionId", c.id.clone())
            .part(
                "file",
                reqwest::multipart::Part::bytes(card).file_name("c.png"),
            );
        let res = server
            .client
            .post(server.url("/api/v1/id-capture"))
            .bearer_auth(&c.token)
            .multipart(form)
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "upload {i} ({bytes} bytes) failed after {:?}: {e:?}",
                    started.elapsed()
                )
            });
        let retry = res
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let (status, body) = super::helpers::answer(res).await;
        answers.push((status, body, retry));
    }
    assert_eq!(answers[0].0, 202, "{}", answers[0].1);
    assert_eq!(answers[1].0, 202, "{}", answers[1].1);
    let busy: Vec<_> = answers[2..].iter().filter(|a| a.0 == 503).collect();
    assert!(
        !busy.is_empty(),
        "a full line refuses new work: {answers:?}"
    );
    for (_, body, retry) in &busy {
        assert_eq!(body["error"]["code"], "BUSY", "{body}");
        assert!(
            retry
                .as_ref()
                .is_some_and(|r| r.parse::<u64>().is_ok_and(|s| s >= 1))
        );
    }
    // The second session heard its place in line, then went on once the first was done.
    let e = wb
        .until(LONG, |e| e["result"]["queuePosition"].is_u64())
        .await;
    assert_eq!(e["result"]["queuePosition"], 1, "{e}");
    let e = wb
        .until(LONG, |e| {
            e["state"] == "id_accepted" || e["result"]["status"] == "retake"
        })
        .await;
    assert!(e["seq"].as_u64().is_some());
    server.stop().await;
}
