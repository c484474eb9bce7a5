//! A session in liveness challenge mode: the challenge drawn when the ID card is accepted, sent
//! over the WebSocket with the prompts and kept with the capture; a video made from a photo
//! (which performs nothing) rejected with a reason the person understands and no figures, the
//! tenant seeing each check. (A real person performing a drawn challenge needs a camera: the
//! real clips pass their own challenges through `kyc verify`, the same code path.) A tenant
//! chooses its own liveness mode.

use super::helpers::{Client, Watcher, card_image, spawn, video};
use serde_json::Value;
use std::time::Duration;

const STEP: Duration = Duration::from_secs(120);

/// Uploads `clip`, asks for the comparison once it is accepted (no liveness figures on the
/// socket), and returns the last event and the comparison's id.
async fn video_and_decision(
    client: &Client<'_>,
    w: &mut Watcher,
    clip: Vec<u8>,
) -> (Value, String) {
    let (status, body) = client
        .upload("/api/v1/face-video", clip, "selfie.mp4")
        .await;
    assert_eq!(status, 202, "{body}");
    let e = w.state(STEP, "video_accepted").await;
    assert_eq!(e["state"], "video_accepted", "{e}");
    assert!(
        e["result"]["liveness"].is_null(),
        "no figures on the socket: {e}"
    );
    let (status, body) = client.compare().await;
    assert_eq!(status, 202, "{body}");
    let cid = body["data"]["comparisonId"]
        .as_str()
        .expect("id")
        .to_owned();
    let last = w
        .until(STEP, |e| e["state"] == "decided" || e["state"] == "failed")
        .await;
    (last, cid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_photo_video_is_rejected_for_the_challenge_it_did_not_perform() {
    let server = spawn(&[("KYC__LIVENESS__MODE", "challenge")]).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let clip = std::fs::read(video(tmp.path(), "img2.jpg", 3)).expect("clip");
    let client = Client::create(&server).await;
    let mut w = client.watch(0).await;

    let (status, body) = client
        .upload("/api/v1/id-capture", card_image("img1.jpg", 11), "card.png")
        .await;
    assert_eq!(status, 202, "{body}");
    let accepted = w.state(STEP, "id_accepted").await;
    assert_eq!(accepted["state"], "id_accepted", "{accepted}");
    let challenge = &accepted["result"]["challenge"];
    let actions = challenge["actions"].as_array().expect("actions");
    assert!((2..=3).contains(&actions.len()), "{challenge}");
    assert!(
        actions
            .iter()
            .all(|a| ["turn_left", "turn_right", "look_up", "blink"]
                .contains(&a.as_str().unwrap_or(""))),
        "{challenge}"
    );
    assert_eq!(
        challenge["nonce"].as_str().map(str::len),
        Some(32),
        "{challenge}"
    );
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let deadline = challenge["deadlineMs"].as_u64().expect("deadline");
    assert!(
        deadline > now_ms && deadline <= now_ms + 601_000,
        "{challenge}"
    );
    let prompt = accepted["message"]["en"].as_str().unwrap_or_default();
    assert!(prompt.contains("In the video, "), "{prompt}");
    assert!(
        accepted["message"]["ko"]
            .as_str()
            .unwrap_or_default()
            .contains("영상에서")
    );
    // The capture keeps it (a reconnecting page shows the same prompts).
    let (status, capture) = client
        .get(&format!("/api/v1/id-capture/{}", client.id))
        .await;
    assert_eq!(status, 200, "{capture}");
    assert_eq!(capture["data"]["challenge"], *challenge);

    let (last, cid) = video_and_decision(&client, &mut w, clip).await;
    assert_eq!(last["decision"], "rejected", "{last}");
    let said = last["message"]["en"].as_str().unwrap_or_default();
    assert!(said.starts_with("Rejected: We asked you to "), "{said}");
    assert!(
        !said.chars().any(|c| c.is_ascii_digit()),
        "no figures: {said}"
    );
    assert!(last["result"]["liveness"].is_null(), "{last}");

    // The tenant sees every check.
    let (status, report) = server
        .tenant_get(&format!("/api/v1/face-similarity/{cid}"))
        .await;
    assert_eq!(status, 200, "{report}");
    let live = &report["data"]["liveness"];
    assert_eq!(live["mode"], "challenge", "{report}");
    assert_eq!(live["finding"], "failed", "{live}");
    assert_eq!(
        live["actions"].as_array().map(Vec::len),
        Some(actions.len())
    );
    assert_eq!(
        live["planar"]["finding"], "failed",
        "a photo is flat: {live}"
    );
    assert!(live["framesTracked"].as_u64().unwrap_or(0) >= 20, "{live}");
    server.stop().await;
}

const ADMIN: &str = "admin-token-for-liveness-tests-012";

/// Sets the test tenant's options through the admin API.
async fn tenant_options(server: &super::helpers::Server, options: serde_json::Value) {
    let (status, body) = server
        .with_bearer(
            reqwest::Method::PATCH,
            &format!("/admin/tenants/{}", server.tenant_id),
            ADMIN,
            Some(serde_json::json!({ "options": options })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["options"], options, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tenant_chooses_its_own_liveness_mode() {
    let server = spawn(&[
        ("KYC__LIVENESS__MODE", "challenge"),
        ("KYC__ADMIN__TOKEN", ADMIN),
    ])
    .await;
    let tmp = tempfile::tempdir().expect("tmp");
    let clip = std::fs::read(video(tmp.path(), "img2.jpg", 3)).expect("clip");

    // Liveness off for this tenant: no challenge, and the photo video is matched alone.
    tenant_options(
        &server,
        serde_json::json!({ "showScores": false, "livenessMode": "off" }),
    )
    .await;
    let client = Client::create(&server).await;
    let mut w = client.watch(0).await;
    let (status, body) = client
        .upload("/api/v1/id-capture", card_image("img1.jpg", 12), "card.png")
        .await;
    assert_eq!(status, 202, "{body}");
    let accepted = w.state(STEP, "id_accepted").await;
    assert!(accepted["result"]["challenge"].is_null(), "{accepted}");
    let (last, cid) = video_and_decision(&client, &mut w, clip).await;
    assert_eq!(last["decision"], "verified", "{last}");
    let (status, report) = server
        .tenant_get(&format!("/api/v1/face-similarity/{cid}"))
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["data"]["liveness"]["mode"], "off", "{report}");

    // Back to the server's mode: the next session's card brings a challenge.
    tenant_options(&server, serde_json::json!({ "showScores": false })).await;
    let client = Client::create(&server).await;
    let mut w = client.watch(0).await;
    let (status, body) = client
        .upload("/api/v1/id-capture", card_image("img1.jpg", 13), "card.png")
        .await;
    assert_eq!(status, 202, "{body}");
    let accepted = w.state(STEP, "id_accepted").await;
    assert!(
        accepted["result"]["challenge"]["actions"].is_array(),
        "{accepted}"
    );
    server.stop().await;
}

/// The reverse: liveness off on the server, on for one tenant. The workers hold the liveness
/// models anyway, so that tenant's video is tracked and judged (a photo fails the challenge).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tenant_turns_liveness_on_where_the_server_has_it_off() {
    let server = spawn(&[("KYC__LIVENESS__MODE", "off"), ("KYC__ADMIN__TOKEN", ADMIN)]).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let clip = std::fs::read(video(tmp.path(), "img2.jpg", 3)).expect("clip");
    tenant_options(
        &server,
        serde_json::json!({ "showScores": false, "livenessMode": "challenge" }),
    )
    .await;
    let client = Client::create(&server).await;
    let mut w = client.watch(0).await;
    let (status, body) = client
        .upload("/api/v1/id-capture", card_image("img1.jpg", 14), "card.png")
        .await;
    assert_eq!(status, 202, "{body}");
    let accepted = w.state(STEP, "id_accepted").await;
    assert!(
        accepted["result"]["challenge"]["actions"].is_array(),
        "{accepted}"
    );
    let (last, cid) = video_and_decision(&client, &mut w, clip).await;
    assert_eq!(last["decision"], "rejected", "{last}");
    let (status, report) = server
        .tenant_get(&format!("/api/v1/face-similarity/{cid}"))
        .await;
    assert_eq!(status, 200, "{report}");
    let live = &report["data"]["liveness"];
    assert_eq!(live["mode"], "challenge", "{report}");
    assert!(live["framesTracked"].as_u64().unwrap_or(0) >= 20, "{live}");
    server.stop().await;
}
