//! The durable records of a session's stages, built from what the stages already computed and
//! keep (the card read, the faces and their embeddings, the comparison table, the verdict):
//! personal fields and embeddings sealed with the session's data key, bound to the session,
//! the record kind and the item, before they leave the stage.

use super::decide::ComparisonReport;
use crate::crypto::DataKey;
use crate::records::{
    Comparison, ComparisonPair, DecisionRecord, DocumentRead, FaceSample as SampleRecord,
    FaceSamples, MediaStored, Record, SampleSource, VerdictFigures,
};
use crate::verify::{AssessedFrame, FaceSample};
use actors::session::SessionId;
use anyhow::Context;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;
use uuid::Uuid;
use vision::decision::Outcome;

/// The id of the `n`-th face sample taken from media `media` (the ID face: 0; a video frame:
/// its index): the same on every run, so a comparison's pairs name the samples recorded before.
pub fn sample_id(media: &Uuid, n: u64) -> Uuid {
    let mut h = Sha256::new();
    h.update(b"kyc face sample v1\0");
    h.update(media.as_bytes());
    h.update(n.to_be_bytes());
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// The associated data of a sealed personal field of a record: the session, the record kind
/// and the item (document or face sample) it belongs to.
pub fn record_aad(session: &SessionId, kind: &str, item: &Uuid) -> Vec<u8> {
    format!(
        "kyc record v1\0{}\0{kind}\0{}",
        session.simple(),
        item.simple()
    )
    .into_bytes()
}

/// An embedding as stored (sealed): its float32 values, little-endian.
pub fn embedding_bytes(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn seal(key: &DataKey, aad: &[u8], plain: &[u8]) -> anyhow::Result<Vec<u8>> {
    key.seal(aad, plain)
        .context("sealing a record's personal data")
}

/// The fields read from the card (in full, as read), sealed: the card `capture_id` of `session`.
pub fn document_read<F: Serialize>(
    key: &DataKey,
    session: &SessionId,
    capture_id: Uuid,
    doc_kind: &str,
    fields: &F,
) -> anyhow::Result<Record> {
    let plain = zeroize::Zeroizing::new(serde_json::to_vec(fields)?);
    Ok(Record::DocumentRead(DocumentRead {
        document_id: capture_id,
        doc_kind: doc_kind.to_owned(),
        fields_enc: seal(
            key,
            &record_aad(session, "document_read", &capture_id),
            &plain,
        )?,
    }))
}

/// A stored upload (already encrypted on disk): where under `data_dir`, its size and the
/// SHA-256 of the stored bytes. Blocking: reads the file once.
pub fn media_stored(
    data_dir: &Path,
    media_id: Uuid,
    media_kind: &str,
    path: &Path,
) -> anyhow::Result<Record> {
    let mut file = std::fs::File::open(path)
        .with_context(|| format!("opening {} to record it", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).context("reading a stored upload")?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        size += n as u64;
    }
    let storage_key = path
        .strip_prefix(data_dir)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned();
    Ok(Record::MediaStored(MediaStored {
        media_id,
        media_kind: media_kind.to_owned(),
        storage_key,
        // The extension is the one its content was sniffed as.
        content_type: path
            .extension()
            .and_then(|e| e.to_str())
            .and_then(crate::http::sniff::by_ext)
            .map_or("application/octet-stream", |f| f.mime)
            .to_owned(),
        size_bytes: size,
        sha256: h.finalize().into(),
    }))
}

fn sample(
    key: &DataKey,
    session: &SessionId,
    id: Uuid,
    face: &FaceSample,
    fields: (Uuid, SampleSource, Option<u32>, Option<i64>, f32),
) -> anyhow::Result<SampleRecord> {
    let (media_id, source, frame_index, frame_ms, quality) = fields;
    let plain = zeroize::Zeroizing::new(embedding_bytes(&face.vector));
    Ok(SampleRecord {
        sample_id: id,
        media_id: Some(media_id),
        source,
        frame_index,
        frame_ms,
        engine: face.engine.clone(),
        model: face.model.clone(),
        quality,
        embedding_enc: seal(key, &record_aad(session, "face_samples", &id), &plain)?,
    })
}

/// The ID card's face (sample 0 of the capture), its embedding sealed.
pub fn id_face_samples(
    key: &DataKey,
    session: &SessionId,
    capture_id: Uuid,
    face: &FaceSample,
    quality: f32,
) -> anyhow::Result<Record> {
    let id = sample_id(&capture_id, 0);
    let s = sample(
        key,
        session,
        id,
        face,
        (capture_id, SampleSource::IdImage, None, None, quality),
    )?;
    Ok(Record::FaceSamples(FaceSamples { samples: vec![s] }))
}

/// Every sampled frame of the video where a face was found, its embedding sealed.
pub fn video_face_samples(
    key: &DataKey,
    session: &SessionId,
    video_id: Uuid,
    frames: &[AssessedFrame],
) -> anyhow::Result<Record> {
    let samples = frames
        .iter()
        .filter_map(|f| f.face.as_ref().map(|face| (f, face)))
        .map(|(f, face)| {
            sample(
                key,
                session,
                sample_id(&video_id, f.index),
                face,
                (
                    video_id,
                    SampleSource::VideoFrame,
                    Some(u32::try_from(f.index).unwrap_or(u32::MAX)),
                    Some(f.timestamp_ms.round() as i64),
                    f.quality.score,
                ),
            )
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Record::FaceSamples(FaceSamples { samples }))
}

/// The name of an outcome as recorded (`verified`, `rejected`, `review`, `failed`).
fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Verified => "verified",
        Outcome::Rejected => "rejected",
        Outcome::Review => "review",
        Outcome::Failed => "failed",
    }
}

/// The comparison (the ID face against every frame with a face: one pair each) and the
/// decision, as recorded — and as `GET /api/v1/face-similarity/{id}` shows them until they
/// are in the records store.
pub fn comparison_records(report: &ComparisonReport) -> (Comparison, DecisionRecord) {
    let id_sample = sample_id(&report.id_capture_id, 0);
    let pairs: Vec<ComparisonPair> = report
        .pairs
        .iter()
        .filter_map(|row| {
            row.similarity.map(|similarity| ComparisonPair {
                id_sample_id: id_sample,
                frame_sample_id: sample_id(&report.video_id, row.index),
                frame_index: u32::try_from(row.index).unwrap_or(u32::MAX),
                similarity,
            })
        })
        .collect();
    let best = pairs
        .iter()
        .map(|p| p.similarity)
        .fold(None, |acc: Option<f32>, s| {
            Some(acc.map_or(s, |a| a.max(s)))
        });
    let comparison = Comparison {
        comparison_id: report.comparison_id,
        engine: report.id_face.engine.clone(),
        model: report.id_face.model.clone(),
        threshold: report.verdict.threshold,
        best_similarity: best.unwrap_or(0.0),
        pairs,
        verdict: VerdictFigures {
            score: report.verdict.score,
            consistency: report.verdict.consistency,
            frames_sampled: u32::try_from(report.verdict.frames_sampled).ok(),
            frames_kept: u32::try_from(report.verdict.frames_kept).ok(),
            liveness: report.verdict.liveness.clone().map(Box::new),
        },
    };
    let decision = DecisionRecord {
        outcome: outcome_name(report.verdict.decision).to_owned(),
        reasons: report.verdict.reasons.clone(),
        comparison_id: Some(report.comparison_id),
    };
    (comparison, decision)
}
