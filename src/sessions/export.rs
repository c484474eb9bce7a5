//! The data-subject export: everything held about one session — its course, consent, the
//! document fields and embeddings decrypted with the session's key, media metadata,
//! comparisons, decision, erasures and the audit entries about it — as one JSON document.
//! Records come from the store and, for those still on their way, from the outbox.

use super::{Sessions, SessionsError};
use crate::flow::mask::export_field;
use crate::flow::records::record_aad;
use crate::records::{Record, RecordEntry, Records, Store};
use actors::session::{Decision, SessionEvent, SessionId, SessionState};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// Everything held about a session.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionExport {
    pub session_id: Uuid,
    pub state: SessionState,
    pub decision: Option<Decision>,
    pub created_ms: u64,
    pub updated_ms: u64,
    /// The session's personal data was erased: nothing below can be decrypted any more.
    pub erased: bool,
    pub consents: Vec<ExportConsent>,
    /// The session's events as its watchers saw them (masked results).
    pub events: Vec<SessionEvent>,
    pub documents: Vec<ExportDocument>,
    pub media: Vec<ExportMedia>,
    pub face_samples: Vec<ExportSample>,
    #[schema(value_type = Vec<Object>)]
    pub comparisons: Vec<crate::records::Comparison>,
    #[schema(value_type = Vec<Object>)]
    pub decisions: Vec<crate::records::DecisionRecord>,
    pub erasures: Vec<ExportErasure>,
    pub audit: Vec<ExportAudit>,
    /// How many of these records are still waiting in the outbox for the records store.
    pub pending_records: usize,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportConsent {
    pub version: String,
    pub purposes: Vec<String>,
    pub given_ms: i64,
}

/// A document read from the card: its fields in full but the resident number's serial;
/// `fields` is null once erased.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportDocument {
    pub document_id: Uuid,
    pub kind: String,
    pub read_ms: i64,
    pub fields: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportMedia {
    pub media_id: Uuid,
    pub kind: String,
    pub content_type: String,
    pub size_bytes: u64,
    pub stored_ms: i64,
    /// Still on disk (retention or erasure deletes the files; the record stays).
    pub present: bool,
}

/// A face found in the ID photo or a video frame; `embedding` is null once erased.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportSample {
    pub sample_id: Uuid,
    pub source: String,
    pub frame_index: Option<u32>,
    pub frame_ms: Option<i64>,
    pub engine: String,
    pub model: String,
    pub quality: f32,
    pub embedding: Option<Vec<f32>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportErasure {
    pub scope: String,
    pub at_ms: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExportAudit {
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
}

impl Sessions {
    /// Session `id`'s export (audited as read by `actor`). Fails when the store cannot be
    /// read: an export is complete or not given.
    pub async fn export(
        &self,
        id: SessionId,
        store: &Store,
        actor: &str,
    ) -> Result<SessionExport, SessionsError> {
        let record = self.find(&id)?;
        self.audit(id, actor, "export", "session").await?;
        let mut entries: BTreeMap<u64, RecordEntry> = store
            .session_records(id)
            .await?
            .into_iter()
            .map(|e| (e.seq, e))
            .collect();
        // The outbox walk, the key and the events are local reads: on the blocking pool.
        let (outbox, media, journal) = (
            self.outbox.clone(),
            self.media.clone(),
            self.journal.clone(),
        );
        let (pending, key, events) = tokio::task::spawn_blocking(move || {
            Ok::<_, SessionsError>((
                outbox.pending_of(&id)?,
                media.data_key(&id)?,
                journal.events(&id, 0)?,
            ))
        })
        .await
        .map_err(|_| SessionsError::Down)??;
        let mut pending_records = 0;
        for e in pending {
            if let std::collections::btree_map::Entry::Vacant(v) = entries.entry(e.seq) {
                pending_records += 1;
                v.insert(e);
            }
        }
        let mut out = SessionExport {
            session_id: id,
            state: record.state,
            decision: record.decision,
            created_ms: record.created_ms,
            updated_ms: record.updated_ms,
            erased: record.state == SessionState::Erased,
            consents: Vec::new(),
            events,
            documents: Vec::new(),
            media: Vec::new(),
            face_samples: Vec::new(),
            comparisons: Vec::new(),
            decisions: Vec::new(),
            erasures: Vec::new(),
            audit: Vec::new(),
            pending_records,
        };
        let data_dir = self.media.data_dir();
        for e in entries.into_values() {
            match e.record {
                Record::SessionCreated => {}
                Record::Consent(c) => out.consents.push(ExportConsent {
                    version: c.version,
                    purposes: c.purposes,
                    given_ms: e.at_ms,
                }),
                Record::DocumentRead(d) => {
                    let aad = record_aad(&id, "document_read", &d.document_id);
                    let fields = key
                        .as_ref()
                        .filter(|_| !d.fields_enc.is_empty())
                        .and_then(|k| k.open(&aad, &d.fields_enc).ok())
                        .and_then(|plain| export_fields(&d.doc_kind, &plain));
                    out.documents.push(ExportDocument {
                        document_id: d.document_id,
                        kind: d.doc_kind,
                        read_ms: e.at_ms,
                        fields,
                    });
                }
                Record::MediaStored(m) => out.media.push(ExportMedia {
                    media_id: m.media_id,
                    present: data_dir.join(&m.storage_key).exists(),
                    kind: m.media_kind,
                    content_type: m.content_type,
                    size_bytes: m.size_bytes,
                    stored_ms: e.at_ms,
                }),
                Record::FaceSamples(f) => {
                    for s in f.samples {
                        let aad = record_aad(&id, "face_samples", &s.sample_id);
                        let embedding = key
                            .as_ref()
                            .filter(|_| !s.embedding_enc.is_empty())
                            .and_then(|k| k.open(&aad, &s.embedding_enc).ok())
                            .map(|plain| {
                                plain
                                    .chunks_exact(4)
                                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                                    .collect()
                            });
                        out.face_samples.push(ExportSample {
                            sample_id: s.sample_id,
                            source: s.source.as_str().to_owned(),
                            frame_index: s.frame_index,
                            frame_ms: s.frame_ms,
                            engine: s.engine,
                            model: s.model,
                            quality: s.quality,
                            embedding,
                        });
                    }
                }
                Record::Comparison(c) => out.comparisons.push(c),
                Record::Decision(d) => out.decisions.push(d),
                Record::Erasure(x) => out.erasures.push(ExportErasure {
                    scope: x.scope.as_str().to_owned(),
                    at_ms: e.at_ms,
                }),
                Record::Audit(a) => out.audit.push(ExportAudit {
                    at_ms: e.at_ms,
                    actor: a.actor,
                    action: a.action,
                    target: a.target,
                }),
            }
        }
        Ok(out)
    }
}

/// The sealed fields (`{key: {value, confidence, box}}`) as the export shows them.
fn export_fields(doc_kind: &str, plain: &[u8]) -> Option<BTreeMap<String, String>> {
    let doc: vision::card::DocumentType =
        serde_json::from_value(serde_json::Value::String(doc_kind.to_owned())).ok()?;
    let fields: BTreeMap<String, serde_json::Value> = serde_json::from_slice(plain).ok()?;
    Some(
        fields
            .into_iter()
            .filter_map(|(k, v)| {
                let value = v.get("value").and_then(|x| x.as_str())?.to_owned();
                Some((k.clone(), export_field(doc, &k, &value)))
            })
            .collect(),
    )
}
