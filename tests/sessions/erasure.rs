//! The person's rights over a finished session, through the running server: the export holds
//! everything (the fields decrypted, the resident number masked), erasure destroys the key and
//! the personal data everywhere while the decision and the audit trail stay, bad erasures get
//! clear refusals, and `kyc audit verify` holds on the chain and names a tampered row.

use super::helpers::{Server, answer};
use super::records_db::TestDb;
use std::process::Command;

/// What the erasure test needs to know about the finished session.
pub struct Finished<'a> {
    pub id: &'a str,
    pub token: &'a str,
    pub name: &'a str,
    pub rrn: &'a str,
}

async fn call(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    token: &str,
) -> (u16, serde_json::Value) {
    answer(
        server
            .client
            .request(method, server.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("send"),
    )
    .await
}

/// The export: the card's fields in full but the resident number's serial, every face
/// sample with its embedding, the media, the decision, and the export itself audited.
pub async fn export_holds_everything(server: &Server, s: &Finished<'_>) {
    let path = format!("/api/v1/sessions/{}/export", s.id);
    // The person's browser holds the session token: it cannot export (every score is in it).
    let (status, body) = call(server, reqwest::Method::GET, &path, s.token).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("FORBIDDEN")),
        "{body}"
    );
    let (status, body) = call(server, reqwest::Method::GET, &path, &server.api_key).await;
    assert_eq!(status, 200, "{body}");
    let d = &body["data"];
    assert_eq!(d["state"], "decided", "{d}");
    assert_eq!(d["erased"], false);
    let fields = &d["documents"][0]["fields"];
    assert_eq!(fields["name"], s.name, "the name decrypted: {fields}");
    let shown = fields.to_string();
    let digits: String = s.rrn.chars().filter(char::is_ascii_digit).collect();
    assert!(
        !shown.contains(&digits[7..]),
        "the resident number's serial never leaves: {fields}"
    );
    assert!(
        fields["document_number"]
            .as_str()
            .is_some_and(|n| n.ends_with("******")),
        "{fields}"
    );
    let samples = d["faceSamples"].as_array().expect("samples");
    assert!(samples.len() >= 7, "{}", samples.len());
    for x in samples {
        assert!(
            x["embedding"].as_array().is_some_and(|e| e.len() >= 128),
            "every embedding decrypted: {x}"
        );
    }
    assert_eq!(
        d["media"].as_array().map(Vec::len),
        Some(2),
        "{}",
        d["media"]
    );
    assert!(
        d["media"]
            .as_array()
            .expect("media")
            .iter()
            .all(|m| m["present"] == true)
    );
    assert_eq!(d["decisions"][0]["outcome"], "verified");
    assert_eq!(d["consents"][0]["version"], "test-1");
    assert!(!d["events"].as_array().expect("events").is_empty());
}

/// Erasure and its refusals; afterwards nothing of the person opens and the outline stays.
pub async fn erasure_destroys_the_key_and_keeps_the_outline(server: &Server, s: &Finished<'_>) {
    let path = format!("/api/v1/sessions/{}", s.id);
    // Refusals first: nothing is lost by them.
    let (status, body) = call(
        server,
        reqwest::Method::DELETE,
        &path,
        "not-this-sessions-token",
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let unknown = format!("/api/v1/sessions/{}", uuid::Uuid::new_v4());
    let (status, body) = call(server, reqwest::Method::DELETE, &path, s.token).await;
    assert_eq!(status, 403, "the session token cannot erase: {body}");
    let (status, body) = call(server, reqwest::Method::DELETE, &unknown, &server.api_key).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("NOT_FOUND")),
        "{body}"
    );

    let (status, body) = call(server, reqwest::Method::DELETE, &path, &server.api_key).await;
    assert_eq!(status, 200, "{body}");
    let removed = &body["data"]["removed"];
    assert_eq!(body["data"]["state"], "erased");
    assert_eq!(removed["keyDestroyed"], true, "{body}");
    assert_eq!(removed["mediaFiles"], 2, "{body}");
    assert!(
        removed["artifacts"].as_u64().is_some_and(|n| n >= 3),
        "{body}"
    );

    let (status, body) = call(server, reqwest::Method::DELETE, &path, &server.api_key).await;
    assert_eq!(status, 410, "{body}");
    assert_eq!(body["error"]["code"], "SESSION_ERASED", "{body}");
    // An upload to the erased session is refused the same way.
    let form = reqwest::multipart::Form::new()
        .text("sessionId", s.id.to_owned())
        .part(
            "file",
            reqwest::multipart::Part::bytes(vec![0xff, 0xd8, 0xff]).file_name("x.jpg"),
        );
    let res = server
        .client
        .post(server.url("/api/v1/id-capture"))
        .bearer_auth(s.token)
        .multipart(form)
        .send()
        .await
        .expect("send");
    let (status, body) = answer(res).await;
    assert_eq!(status, 410, "{body}");

    // The outline: state, decision and times answer; the events carry no results.
    let (status, body) = call(server, reqwest::Method::GET, &path, s.token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["state"], "erased");
    assert_eq!(body["data"]["decision"], "verified");
    let (status, body) = call(
        server,
        reqwest::Method::GET,
        &format!("{path}/export"),
        &server.api_key,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let d = &body["data"];
    assert_eq!(d["erased"], true);
    assert!(d["documents"][0]["fields"].is_null(), "{}", d["documents"]);
    assert!(
        d["faceSamples"]
            .as_array()
            .expect("samples")
            .iter()
            .all(|x| x["embedding"].is_null()),
        "no embedding opens"
    );
    assert!(
        d["media"]
            .as_array()
            .expect("media")
            .iter()
            .all(|m| m["present"] == false)
    );
    assert!(
        d["events"]
            .as_array()
            .expect("events")
            .iter()
            .all(|e| e.get("result").is_none())
    );
    assert_eq!(
        d["decisions"][0]["outcome"], "verified",
        "the decision stays"
    );
    let actions: Vec<&str> = d["audit"]
        .as_array()
        .expect("audit")
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"export") && actions.contains(&"erase"),
        "{actions:?}"
    );

    // The data key is gone: nothing sealed with it can be opened by anyone.
    let settings = &server.settings;
    let master = kyc::media::master::resolve(settings).expect("master key");
    let media = kyc::media::MediaStore::open(&settings.server.data_dir, master).expect("media");
    let id: uuid::Uuid = s.id.parse().expect("uuid");
    assert!(
        media.data_key(&id).expect("read").is_none(),
        "the key is destroyed"
    );
    assert!(media.is_erased(&id));
}

/// `kyc audit verify` against `db`: the chain holds; one altered row is named.
pub async fn audit_chain_verifies_and_names_a_tampered_row(db: &TestDb) {
    let run = |url: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_kyc"))
            .args(["audit", "verify"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("KYC_ENV", "test")
            .env("KYC__DATABASE__URL", url)
            .output()
            .expect("kyc runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let url = db.url_via(None);
    let (code, out, err) = run(&url);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("the chain holds"), "{out}");
    let entries: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events")
        .fetch_one(&db.pool)
        .await
        .expect("count");
    assert!(entries >= 3, "admin read, export, erase: {entries}");
    // One row altered behind the server's back.
    sqlx::query("UPDATE audit_events SET actor = 'nobody' WHERE seq = (SELECT seq FROM (SELECT seq FROM audit_events ORDER BY seq LIMIT 1 OFFSET 1) t)")
        .execute(&db.pool)
        .await
        .expect("tamper");
    let (code, out, err) = run(&url);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        err.contains("BROKEN at link 2") && err.contains("altered"),
        "{err}"
    );
}

/// The database as `mysqldump --hex-blob` writes it, every `0x…` blob decoded back to bytes
/// and appended, so a search sees text columns and binary columns alike.
pub fn dump(db: &TestDb) -> Vec<u8> {
    let url = super::records_db::server_url();
    let out = Command::new("mysqldump")
        .args([
            "--hex-blob",
            "--skip-extended-insert",
            "-h",
            "127.0.0.1",
            "-u",
            "root",
        ])
        .arg(&db.name)
        .output()
        .unwrap_or_else(|e| {
            panic!("mysqldump (Debian's mariadb-client) is needed here ({url}): {e}")
        });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut bytes = out.stdout.clone();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    for blob in text.split("0x").skip(1) {
        let hex: String = blob.chars().take_while(char::is_ascii_hexdigit).collect();
        if let Ok(b) = hex::decode(&hex[..hex.len() / 2 * 2]) {
            bytes.extend_from_slice(&b);
        }
    }
    assert!(bytes.len() > 1000, "the dump has the tables: {text}");
    bytes
}

/// Whether any of `runs` (see `encryption::runs`) occurs in `bytes`.
pub fn has_run(bytes: &[u8], runs: &std::collections::HashMap<[u8; 8], Vec<[u8; 64]>>) -> bool {
    bytes.windows(64).any(|w| {
        let mut head = [0u8; 8];
        head.copy_from_slice(&w[..8]);
        runs.get(&head)
            .is_some_and(|c| c.iter().any(|r| r[..] == *w))
    })
}
