//! The admin API and /metrics on a real server: the actor tree, one session's events (masked),
//! force-expire told to the session's socket, and the Prometheus counters that follow.

use super::helpers::{Client, answer, card_image, spawn};
use std::time::Duration;

const ADMIN: &str = "admin-token-for-tests-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admins_see_the_tree_and_a_session_and_can_expire_it() {
    let server = spawn(&[("KYC__ADMIN__TOKEN", ADMIN)]).await;
    let c = Client::create(&server).await;
    let admin = |path: &str, token: Option<&str>| {
        let mut r = server.client.get(server.url(path));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r
    };
    let (status, body) = answer(admin("/admin/tree", None).send().await.expect("send")).await;
    assert_eq!(status, 401, "{body}");
    // A session token is not an admin token.
    let (status, _) = answer(
        admin("/admin/tree", Some(&c.token))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, 401);

    let mut w = c.watch(0).await;
    let (status, body) = c
        .upload("/api/v1/id-capture", card_image("img1.jpg", 10), "c.png")
        .await;
    assert_eq!(status, 202, "{body}");
    w.state(Duration::from_secs(120), "id_accepted").await;

    let (status, tree) = answer(
        admin("/admin/tree", Some(ADMIN))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, 200, "{tree}");
    let t = &tree["data"];
    assert_eq!(
        t["sessionSupervisor"]["sessionsByState"]["id_accepted"], 1,
        "{t}"
    );
    assert!(
        t["sessionSupervisor"]["running"]
            .as_u64()
            .is_some_and(|n| n >= 1),
        "{t}"
    );
    let pool = &t["enginePools"][0];
    assert_eq!(pool["name"], "face", "{t}");
    assert!(
        pool["workers_loaded"].as_u64().is_some_and(|n| n >= 1),
        "{t}"
    );
    assert!(pool["engine"]["device"].is_string(), "{t}");
    assert!(t["jobQueue"]["maxRunning"].as_u64().is_some(), "{t}");

    let (status, s) = answer(
        admin(&format!("/admin/sessions/{}", c.id), Some(ADMIN))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(status, 200, "{s}");
    let d = &s["data"];
    assert_eq!(d["state"], "id_accepted");
    assert_eq!(d["actor"]["watchers"], 1, "{d}");
    let events = d["events"].as_array().expect("events");
    assert_eq!(events.len() as u64, d["seq"].as_u64().expect("seq"));
    let last = events.last().expect("last");
    let name = last["result"]["fields"]["name"]["value"]
        .as_str()
        .unwrap_or_default();
    assert!(
        name.contains('*'),
        "names are masked in the journal too: {name}"
    );
    assert!(!s.to_string().contains("vector"), "no embeddings");

    let expire = |id: &str| {
        server
            .client
            .post(server.url(&format!("/admin/sessions/{id}/expire")))
            .bearer_auth(ADMIN)
            .send()
    };
    let (status, body) = answer(expire(&c.id).await.expect("send")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["state"], "expired");
    let e = w
        .until(Duration::from_secs(10), |e| e["state"] == "expired")
        .await;
    assert_eq!(e["seq"], body["data"]["seq"], "the socket hears it");
    let (status, body) = answer(expire(&c.id).await.expect("send")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("CONFLICT")),
        "{body}"
    );

    let text = server.metrics().await;
    for want in [
        "kyc_sessions{state=\"expired\"} 1",
        "kyc_stage_seconds_count{stage=\"id_capture\"} 1",
        "kyc_jobs_failed_total{stage=\"id_capture\"} 0",
        "kyc_engine_workers{pool=\"face\"}",
        "kyc_session_actors ",
        "kyc_jobs_waiting 0",
    ] {
        assert!(text.contains(want), "/metrics lacks `{want}`:\n{text}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_an_admin_token_the_admin_api_is_off() {
    let server = spawn(&[]).await;
    let res = server
        .client
        .get(server.url("/admin/tree"))
        .bearer_auth("anything")
        .send()
        .await
        .expect("send");
    let (status, body) = answer(res).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("FORBIDDEN")),
        "{body}"
    );
    server.stop().await;
}
