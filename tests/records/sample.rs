//! Made-up records of whole sessions (opaque bytes stand in for the caller's ciphertext).

use kyc::records::*;
use uuid::Uuid;

/// Records of one session made by `sample_session`, in sequence order.
pub const RECORDS_PER_SESSION: u64 = 9;
/// ID samples and video frame samples in `sample_session`'s comparison.
pub const ID_SAMPLES: usize = 1;
pub const FRAME_SAMPLES: usize = 3;

fn bytes(seed: u8, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| seed.wrapping_mul(31).wrapping_add(i as u8))
        .collect()
}

fn sample(source: SampleSource, frame: Option<u32>, media: Uuid, seed: u8) -> FaceSample {
    FaceSample {
        sample_id: Uuid::new_v4(),
        media_id: Some(media),
        source,
        frame_index: frame,
        frame_ms: frame.map(|f| i64::from(f) * 33),
        engine: "insightface".into(),
        model: "w600k_mbf".into(),
        quality: 0.5 + f32::from(seed) / 1000.0,
        embedding_enc: bytes(seed, 2048 + 28),
    }
}

/// A comparison of `ids` × `frames` (similarities made up, exact in f32).
pub fn comparison(ids: &[FaceSample], frames: &[FaceSample]) -> Comparison {
    let mut pairs = Vec::new();
    for (i, a) in ids.iter().enumerate() {
        for (j, b) in frames.iter().enumerate() {
            pairs.push(ComparisonPair {
                id_sample_id: a.sample_id,
                frame_sample_id: b.sample_id,
                frame_index: b.frame_index.unwrap_or(0),
                similarity: (i * 1000 + j) as f32 / 4096.0,
            });
        }
    }
    Comparison {
        comparison_id: Uuid::new_v4(),
        engine: "insightface".into(),
        model: "w600k_mbf".into(),
        threshold: 0.35,
        best_similarity: 0.71875,
        pairs,
        verdict: VerdictFigures {
            score: Some(0.625),
            consistency: Some(0.5),
            frames_sampled: Some(30),
            frames_kept: Some(12),
            // A liveness verdict with every part filled (a clip where no face was tracked).
            liveness: Some(Box::new(vision::liveness::verdict::judge(
                &[],
                Some(&[vision::liveness::actions::Action::Blink]),
                &vision::liveness::verdict::LivenessPolicy::default(),
            ))),
        },
    }
}

/// Every kind of record of one session, seq 1..=9, made at `t0` + seq ms.
pub fn sample_session(session_id: Uuid, t0: i64) -> Vec<RecordEntry> {
    let (id_media, video) = (Uuid::new_v4(), Uuid::new_v4());
    let ids: Vec<_> = (0..ID_SAMPLES)
        .map(|i| sample(SampleSource::IdImage, None, id_media, i as u8))
        .collect();
    let frames: Vec<_> = (0..FRAME_SAMPLES)
        .map(|i| {
            sample(
                SampleSource::VideoFrame,
                Some(i as u32 * 10),
                video,
                50 + i as u8,
            )
        })
        .collect();
    let cmp = comparison(&ids, &frames);
    let decision = DecisionRecord {
        outcome: "verified".into(),
        reasons: vec!["face_match".into(), "live".into()],
        comparison_id: Some(cmp.comparison_id),
    };
    let media = |media_id, kind: &str, n: u64| MediaStored {
        media_id,
        media_kind: kind.into(),
        storage_key: format!("sessions/{session_id}/{media_id}"),
        content_type: if kind == "video" {
            "video/mp4"
        } else {
            "image/jpeg"
        }
        .into(),
        size_bytes: n,
        sha256: [n as u8; 32],
    };
    let records = vec![
        Record::SessionCreated,
        Record::Consent(Consent {
            version: "2026-01".into(),
            purposes: vec!["identity_verification".into()],
        }),
        Record::MediaStored(media(id_media, "id_image", 123_456)),
        Record::DocumentRead(DocumentRead {
            document_id: Uuid::new_v4(),
            doc_kind: "resident_card".into(),
            fields_enc: bytes(7, 300),
        }),
        Record::MediaStored(media(video, "video", 9_876_543)),
        Record::FaceSamples(FaceSamples {
            samples: ids.into_iter().chain(frames).collect(),
        }),
        Record::Comparison(cmp),
        Record::Decision(decision),
        Record::Audit(AuditEntry {
            actor: "tenant:test".into(),
            action: "read_result".into(),
            target: format!("session:{session_id}"),
            prev_hash: [1; 32],
            hash: *Uuid::new_v4()
                .as_bytes()
                .repeat(2)
                .first_chunk()
                .unwrap_or(&[2; 32]),
        }),
    ];
    records
        .into_iter()
        .zip(1u64..)
        .map(|(record, seq)| RecordEntry {
            session_id,
            seq,
            at_ms: t0 + seq as i64,
            tenant_id: Some("tenant-a".into()),
            record,
        })
        .collect()
}
