//! KYC sessions: the state machine, the events every transition produces, the sled journal
//! that makes them durable before anyone hears of them, the actor that owns one session and
//! the supervisor that restarts it from its journal.

pub mod actor;
pub mod beside;
pub mod event;
pub mod journal;
pub mod state;
pub mod supervisor;
pub mod work;

pub use actor::{SessionActor, SessionError, SessionMsg, SessionSnapshot, Step};
pub use beside::{ArtifactSeal, BesideTree, OutboxWrite, RecordSource, StepRecords, Unsealed};
pub use event::{Message, Progress, SessionEvent, Stage};
pub use journal::{Journal, JournalError, Owner, SessionRecord};
pub use state::{Decision, Intake, SessionState, TransitionError};
pub use supervisor::{SessionSupervisor, SupervisorArgs, SupervisorMsg, SupervisorStats};
pub use work::{Artifacts, Job, JobContext, JobEnd, JobLimits, Pipeline, StepSink};

/// A session's id: a random UUID, printed as its 32 hex digits with dashes.
pub type SessionId = uuid::Uuid;
