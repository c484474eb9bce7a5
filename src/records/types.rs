//! The typed records a session leaves behind: what is written to the outbox, delivered to a
//! backend and read back. Personal fields and embeddings travel as already-encrypted bytes.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One record of one session, identified by (session, sequence number): delivering the same
/// key twice stores it once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordEntry {
    pub session_id: Uuid,
    /// The session's sequence number of the step that produced the record (unique per session).
    pub seq: u64,
    /// When the record was made (ms since the Unix epoch).
    pub at_ms: i64,
    /// The tenant the session belongs to; `None` until tenants exist.
    pub tenant_id: Option<String>,
    pub record: Record,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Record {
    SessionCreated,
    Consent(Consent),
    DocumentRead(DocumentRead),
    MediaStored(MediaStored),
    FaceSamples(FaceSamples),
    Comparison(Comparison),
    Decision(DecisionRecord),
    Audit(AuditEntry),
    Erasure(Erasure),
}

impl Record {
    /// The stable name of the kind (the `kind` column of `record_log`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::SessionCreated => "session_created",
            Self::Consent(_) => "consent",
            Self::DocumentRead(_) => "document_read",
            Self::MediaStored(_) => "media_stored",
            Self::FaceSamples(_) => "face_samples",
            Self::Comparison(_) => "comparison",
            Self::Decision(_) => "decision",
            Self::Audit(_) => "audit",
            Self::Erasure(_) => "erasure",
        }
    }
}

/// What the person agreed to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Consent {
    /// Version of the consent text shown.
    pub version: String,
    pub purposes: Vec<String>,
}

/// The fields read from an ID document. `fields_enc` is the caller's ciphertext (the fields
/// encrypted with the session's data key): this layer never sees them in clear.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentRead {
    pub document_id: Uuid,
    /// `resident_card`, `driver_licence`, `passport`, …
    pub doc_kind: String,
    pub fields_enc: Vec<u8>,
}

/// A stored file (ID image, selfie video, extracted frame). The bytes stay in the data folder
/// under `storage_key`; the record says what and where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaStored {
    pub media_id: Uuid,
    /// `id_image`, `video`, `frame`.
    pub media_kind: String,
    pub storage_key: String,
    pub content_type: String,
    pub size_bytes: u64,
    /// SHA-256 of the stored (encrypted) bytes.
    pub sha256: [u8; 32],
}

/// Faces found in one piece of media (the ID photo or the video's frames).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaceSamples {
    pub samples: Vec<FaceSample>,
}

/// Where a face sample came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleSource {
    IdImage,
    VideoFrame,
}

impl SampleSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IdImage => "id_image",
            Self::VideoFrame => "video_frame",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "id_image" => Some(Self::IdImage),
            "video_frame" => Some(Self::VideoFrame),
            _ => None,
        }
    }
}

/// One face: its (encrypted) embedding and what made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaceSample {
    pub sample_id: Uuid,
    pub media_id: Option<Uuid>,
    pub source: SampleSource,
    /// Frame number in the video (video frames only).
    pub frame_index: Option<u32>,
    /// Frame time in the video, ms (video frames only).
    pub frame_ms: Option<i64>,
    /// Face engine (`insightface`, `opencv`) and recognizer model: embeddings from different
    /// recognizers are never compared.
    pub engine: String,
    pub model: String,
    pub quality: f32,
    /// The embedding, encrypted by the caller with the session's data key.
    pub embedding_enc: Vec<u8>,
}

/// A comparison of the ID face(s) with the video's frames, with every pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    pub comparison_id: Uuid,
    pub engine: String,
    pub model: String,
    pub threshold: f32,
    pub best_similarity: f32,
    pub pairs: Vec<ComparisonPair>,
    /// The figures the decision rests on (empty in records written before they were kept).
    #[serde(default)]
    pub verdict: VerdictFigures,
}

/// A comparison's verdict in numbers: what `GET /api/v1/face-similarity/{id}` shows beside the
/// pairs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerdictFigures {
    /// Median similarity of the best kept frames (None when the comparison failed).
    pub score: Option<f32>,
    /// Lowest per-frame consistency among the kept frames (None with fewer than two).
    pub consistency: Option<f32>,
    /// Frames sampled from the video, and those kept (a face good enough to compare).
    pub frames_sampled: Option<u32>,
    pub frames_kept: Option<u32>,
    /// The liveness verdict: each check's finding, score and reason, each asked action with
    /// its time (absent when liveness was off or in records written before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub liveness: Option<Box<vision::liveness::verdict::LivenessVerdict>>,
}

/// One cell of the ID image × video frame table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComparisonPair {
    pub id_sample_id: Uuid,
    pub frame_sample_id: Uuid,
    pub frame_index: u32,
    pub similarity: f32,
}

/// The session's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionRecord {
    /// `verified`, `rejected`, `review`, or `failed` (nothing could be decided).
    pub outcome: String,
    /// Reason codes (no personal data).
    pub reasons: Vec<String>,
    pub comparison_id: Option<Uuid>,
}

/// One link of the audit chain; the writer computes both hashes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub actor: String,
    pub action: String,
    pub target: String,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
}

/// What an erasure removed from the records (applied by every backend when delivered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Erasure {
    pub scope: ErasureScope,
}

/// How much of a session an [`Erasure`] removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureScope {
    /// The person's data: document fields and embeddings (their ciphertext; the key is gone
    /// anyway). The session, consent, media metadata, comparisons, decision and audit stay.
    Personal,
    /// Retention of raw media: the files are deleted; the records keep their metadata.
    Media,
    /// Retention of the whole session: every record but the audit entries and this one.
    Session,
}

impl ErasureScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Personal => "personal",
            Self::Media => "media",
            Self::Session => "session",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "personal" => Some(Self::Personal),
            "media" => Some(Self::Media),
            "session" => Some(Self::Session),
            _ => None,
        }
    }
}

/// A comparison as `GET /api/v1/face-similarity/{id}` and the admin views show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComparisonReport {
    pub session_id: Uuid,
    pub seq: u64,
    pub tenant_id: Option<String>,
    pub compared_ms: i64,
    pub comparison: Comparison,
}

/// A decision with its session, for listings by time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionRow {
    pub session_id: Uuid,
    pub seq: u64,
    pub tenant_id: Option<String>,
    pub decided_ms: i64,
    pub decision: DecisionRecord,
}

impl ComparisonReport {
    /// The report of `entry` when it is a comparison.
    pub fn from_entry(entry: &RecordEntry) -> Option<Self> {
        match &entry.record {
            Record::Comparison(c) => Some(Self {
                session_id: entry.session_id,
                seq: entry.seq,
                tenant_id: entry.tenant_id.clone(),
                compared_ms: entry.at_ms,
                comparison: c.clone(),
            }),
            _ => None,
        }
    }
}

impl DecisionRow {
    /// The row of `entry` when it is a decision.
    pub fn from_entry(entry: &RecordEntry) -> Option<Self> {
        match &entry.record {
            Record::Decision(d) => Some(Self {
                session_id: entry.session_id,
                seq: entry.seq,
                tenant_id: entry.tenant_id.clone(),
                decided_ms: entry.at_ms,
                decision: d.clone(),
            }),
            _ => None,
        }
    }
}
