//! A whole session (generated card, selfie video, decision) leaves its records in the records
//! store — the embedded one and a fresh MariaDB database — each exactly once, through the
//! outbox written in the journal's transactions; `GET /api/v1/face-similarity/{id}` is then
//! served from the store; the data folder (journal, outbox, embedded store, media) and a
//! `mysqldump` hold neither the person's name, nor the resident number, nor a 64-byte run of
//! the uploads or the embedding. On MariaDB the session is then exported, erased (see
//! `erasure`) and the audit chain verified and tampered with.

use super::encryption::{found_in, runs};
use super::erasure;
use super::flow::run_with;
use super::helpers::{Client, Server, answer, document, spawn, video};
use super::records_db::TestDb;
use kyc::records::{Record, RecordEntry, Records, SampleSource};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::Duration;
use vision::card::DocumentType;

const ADMIN: &str = "admin-token-for-records-tests-0123";

/// What the session was: its id, its comparison, the card's name and resident number.
struct Done {
    session: uuid::Uuid,
    token: String,
    comparison: String,
    name: String,
    rrn: String,
    /// `resident_registration_card` or `driver_licence`, and the licence's number.
    doc_kind: &'static str,
    licence: Option<String>,
    /// The uploads as sent.
    card: Vec<u8>,
    clip: Vec<u8>,
}

/// A session from creation (with consent) to its decision; its comparison then served from
/// the store.
async fn full_session(server: &Server, doc: DocumentType) -> Done {
    let tmp = tempfile::tempdir().expect("tmp");
    let (card, truth) = document(doc, "img1.jpg", 23);
    let doc_kind = match doc {
        DocumentType::DriverLicence => "driver_licence",
        _ => "resident_registration_card",
    };
    let clip = std::fs::read(video(tmp.path(), "img2.jpg", 4)).expect("clip");
    let client = Client::create(server).await;
    let mut w = client.watch(0).await;
    // Asked at once, the comparison is there (from the store, or the journal until then).
    let first = run_with(&client, card.clone(), doc_kind, clip.clone(), &mut w).await;
    assert_eq!(first["decision"], "verified", "{first}");
    let comparison = first["comparisonId"]
        .as_str()
        .expect("comparisonId")
        .to_owned();
    wait_drained(server).await;
    let (s, body) = server
        .tenant_get(&format!("/api/v1/face-similarity/{comparison}"))
        .await;
    assert_eq!(s, 200, "{body}");
    let d = &body["data"];
    assert_eq!(d["source"], "records", "served from the store: {d}");
    for k in [
        "decision",
        "pairs",
        "threshold",
        "bestSimilarity",
        "reasons",
        "score",
        "consistency",
        "framesSampled",
        "framesKept",
    ] {
        assert_eq!(d[k], first[k], "{k}: the store and the journal agree");
    }
    assert!(d["score"].as_f64().is_some_and(|s| s > 0.0), "{d}");
    assert!(d["framesKept"].as_u64().is_some_and(|n| n > 0), "{d}");
    // The admin views read the same store.
    let admin = |path: String| {
        server
            .client
            .get(server.url(&path))
            .bearer_auth(ADMIN)
            .send()
    };
    let (s, body) = answer(
        admin(format!("/admin/sessions/{}", client.id))
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let cmp = &body["data"]["comparisons"];
    assert_eq!(cmp.as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(cmp[0]["source"], "records", "{body}");
    assert_eq!(cmp[0]["pairs"], d["pairs"]);
    let (s, body) = answer(admin("/admin/decisions".into()).await.expect("send")).await;
    assert_eq!(s, 200, "{body}");
    let listed = body["data"]["decisions"].as_array().expect("decisions");
    assert!(
        listed
            .iter()
            .any(|r| r["sessionId"] == client.id.as_str() && r["decision"]["outcome"] == "verified"),
        "{body}"
    );
    Done {
        session: client.id.parse().expect("uuid"),
        token: client.token.clone(),
        comparison,
        name: truth.name,
        rrn: truth.rrn,
        doc_kind,
        licence: truth.licence_number,
        card,
        clip,
    }
}

/// Until `/readyz` says the outbox is empty.
async fn wait_drained(server: &Server) {
    let started = tokio::time::Instant::now();
    let deadline = started + Duration::from_secs(60);
    loop {
        let body: serde_json::Value = server
            .client
            .get(server.url("/readyz"))
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        let d = &body["data"];
        assert!(d["recordsBackend"].is_string(), "{body}");
        assert_eq!(d["lagging"], false, "{body}");
        if d["outbox"]["count"] == 0 {
            assert_eq!(d["outbox"]["dead"], 0, "{body}");
            eprintln!(
                "{}: outbox empty {} ms after the comparison was read",
                d["recordsBackend"],
                started.elapsed().as_millis()
            );
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the outbox did not drain: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every record kind of the session exactly once (media and face samples once per upload),
/// the pairs naming the samples recorded, and the sealed parts opening with the session's key.
/// Returns the ID face's embedding (float32 bytes).
fn check_records(server: &Server, done: &Done, entries: &[RecordEntry]) -> Vec<u8> {
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for e in entries {
        *kinds.entry(e.record.kind()).or_default() += 1;
    }
    let expected: BTreeMap<&str, usize> = [
        ("session_created", 1),
        ("consent", 1),
        ("document_read", 1),
        ("media_stored", 2),
        ("face_samples", 2),
        ("comparison", 1),
        ("decision", 1),
        // The admin view read the session: audited.
        ("audit", 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(kinds, expected, "{entries:#?}");
    let mut seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
    seqs.dedup();
    assert_eq!(seqs.len(), entries.len(), "unique sequence numbers");

    let settings = &server.settings;
    let master = kyc::media::master::resolve(settings).expect("master key");
    let media = kyc::media::MediaStore::open(&settings.server.data_dir, master).expect("media");
    let key = media
        .data_key(&done.session)
        .expect("key")
        .expect("the session has a key");
    let aad =
        |kind: &str, item: &uuid::Uuid| kyc::flow::records::record_aad(&done.session, kind, item);
    let (mut id_sample, mut frames, mut id_embedding) = (None, Vec::new(), Vec::new());
    let mut media_kinds = Vec::new();
    for e in entries {
        match &e.record {
            Record::Consent(c) => assert_eq!(c.version, "test-1"),
            Record::DocumentRead(d) => {
                let plain = key
                    .open(&aad("document_read", &d.document_id), &d.fields_enc)
                    .expect("the fields open with the session's key");
                let fields: serde_json::Value = serde_json::from_slice(&plain).expect("json");
                assert!(fields.get("name").is_some(), "{fields}");
                assert_eq!(d.doc_kind, done.doc_kind);
            }
            Record::MediaStored(m) => {
                media_kinds.push(m.media_kind.clone());
                let stored = settings.server.data_dir.join(&m.storage_key);
                let bytes = std::fs::read(&stored).expect("the stored file");
                assert_eq!(bytes.len() as u64, m.size_bytes);
                let sha: [u8; 32] = Sha256::digest(&bytes).into();
                assert_eq!(sha, m.sha256, "{}", m.storage_key);
            }
            Record::FaceSamples(f) => {
                for s in &f.samples {
                    let plain = key
                        .open(&aad("face_samples", &s.sample_id), &s.embedding_enc)
                        .expect("the embedding opens with the session's key");
                    assert_eq!(plain.len() % 4, 0);
                    match s.source {
                        SampleSource::IdImage => {
                            id_sample = Some(s.sample_id);
                            id_embedding = plain.to_vec();
                        }
                        SampleSource::VideoFrame => frames.push(s.sample_id),
                    }
                }
            }
            Record::Comparison(c) => {
                assert_eq!(c.comparison_id.to_string(), done.comparison);
                assert!(!c.pairs.is_empty());
                for p in &c.pairs {
                    assert_eq!(Some(p.id_sample_id), id_sample, "pairs after samples");
                    assert!(frames.contains(&p.frame_sample_id), "{p:?}");
                }
            }
            Record::Decision(d) => {
                assert_eq!(d.outcome, "verified");
                assert_eq!(
                    d.comparison_id.map(|c| c.to_string()),
                    Some(done.comparison.clone())
                );
            }
            _ => {}
        }
    }
    media_kinds.sort();
    assert_eq!(media_kinds, ["id_image", "video"]);
    assert!(frames.len() >= 6, "{frames:?}");
    assert!(id_embedding.len() >= 4 * 128, "the ID face's embedding");
    id_embedding
}

/// Neither the name nor the resident number in UTF-8, nor a 64-byte run of the embedding, is
/// anywhere in the data folder.
fn check_no_plaintext(server: &Server, done: &Done, embedding: &[u8]) {
    let data = server.data_dir.path();
    for (what, text) in needles(done) {
        let mut hits = Vec::new();
        search(data, text.as_bytes(), &mut hits);
        assert!(hits.is_empty(), "the card's {what} is in clear in {hits:?}");
    }
    for (what, bytes) in [("ID photo", &done.card), ("video", &done.clip)] {
        let hits = found_in(data, &runs(bytes, 64));
        assert!(
            hits.is_empty(),
            "a run of the {what} is in clear in {hits:?}"
        );
    }
    let hits = found_in(data, &runs(embedding, 4));
    assert!(hits.is_empty(), "the embedding is in clear in {hits:?}");
}

/// What must never be found in clear: the name, the resident number (with and without its
/// dash) and, on a licence, the licence number (with and without its dashes).
fn needles(done: &Done) -> Vec<(&'static str, String)> {
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    let mut out = vec![
        ("name", done.name.clone()),
        ("resident number", done.rrn.clone()),
        ("resident number digits", digits(&done.rrn)),
    ];
    if let Some(l) = &done.licence {
        out.push(("licence number", l.clone()));
        out.push(("licence number digits", digits(l)));
    }
    out
}

fn search(dir: &std::path::Path, needle: &[u8], hits: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("ls").flatten() {
        let p = e.path();
        if e.file_type().expect("type").is_dir() {
            search(&p, needle, hits);
        } else if let Ok(bytes) = std::fs::read(&p)
            && bytes.windows(needle.len()).any(|w| w == needle)
        {
            hits.push(p);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_leaves_every_record_once_in_the_embedded_store_and_nothing_in_clear() {
    let mut server = spawn(&[("KYC__ADMIN__TOKEN", ADMIN)]).await;
    // A driver's licence here (its number must stay sealed too), a resident card on MariaDB.
    let done = full_session(&server, DocumentType::DriverLicence).await;
    assert!(done.licence.is_some());
    // The embedded store is the server's own sled database: read it once the server stopped.
    server.halt().await;
    let store = server.records_store().await;
    let entries = store.session_records(done.session).await.expect("records");
    drop(store);
    let embedding = check_records(&server, &done, &entries);
    check_no_plaintext(&server, &done, &embedding);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_leaves_every_record_once_in_mariadb() {
    let db = TestDb::create().await;
    let url = db.url_via(None);
    let vars = [
        ("KYC__DATABASE__URL", url.as_str()),
        ("KYC__ADMIN__TOKEN", ADMIN),
    ];
    let mut server = spawn(&vars).await;
    let done = full_session(&server, DocumentType::ResidentRegistrationCard).await;
    let entries = db
        .backend()
        .await
        .session_records(done.session)
        .await
        .expect("records");
    let embedding = check_records(&server, &done, &entries);
    check_no_plaintext(&server, &done, &embedding);
    // Nor in the database: the dump holds neither the name, nor the resident number, nor a
    // 64-byte run of the uploads or of the embedding.
    let dumped = erasure::dump(&db);
    for (what, needle) in needles(&done) {
        assert!(
            !dumped.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "the {what} is in the dump in clear"
        );
    }
    for (what, bytes, every) in [
        ("ID photo", &done.card, 64),
        ("video", &done.clip, 64),
        ("embedding", &embedding, 4),
    ] {
        assert!(
            !erasure::has_run(&dumped, &runs(bytes, every)),
            "a run of the {what} is in the dump"
        );
    }

    let s = erasure::Finished {
        id: &done.session.to_string(),
        token: &done.token,
        name: &done.name,
        rrn: &done.rrn,
    };
    erasure::export_holds_everything(&server, &s).await;
    erasure::erasure_destroys_the_key_and_keeps_the_outline(&server, &s).await;
    wait_drained(&server).await;
    // In MariaDB: the fields and embeddings gone, the decision, the erasure and the audit kept.
    let sid = done.session.as_bytes().to_vec();
    let count = |sql: &'static str| {
        let sid = sid.clone();
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .bind(sid)
                .fetch_one(&pool)
                .await
                .expect(sql)
        }
    };
    assert_eq!(
        count("SELECT COUNT(*) FROM documents WHERE session_id = ? AND LENGTH(fields_enc) > 0")
            .await,
        0
    );
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM face_samples WHERE session_id = ? AND LENGTH(embedding_enc) > 0"
        )
        .await,
        0
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM decisions WHERE session_id = ?").await,
        1
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM erasures WHERE session_id = ? AND scope = 'personal'").await,
        1
    );
    server.halt().await;
    erasure::audit_chain_verifies_and_names_a_tampered_row(&db).await;
}
