//! The clinic's access log: every read of a patient's record, notes or appointments
//! writes, in the reading transaction, who read which patient, when, from where and
//! why (`X-Access-Reason`), through `app.log_clinical_access` (V40), which alone writes
//! the log. Rows are hash-chained per tenant; owners and admins read a patient's log
//! (`/patients/{id}/access-log`) and verify the chain (`/clinic/access-log/verify`).
//! The chain's head lives in the same database, so whoever may rewrite the tables
//! may also recompute every hash after a change: a verification's `head`, kept
//! outside and passed back as the anchor, is what catches that.

mod api;
mod store;

pub use api::AccessLogApi;
pub use store::{append, of_patient, record};

use chrono::{DateTime, Utc};
use poem::Request;
use poem_openapi::{Enum, Object};
use uuid::Uuid;

use crate::platform::{error::ApiError, limits::client_ip, state::SharedState, validation::Fields};

/// What was read, or done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum AccessAction {
    /// The patient's record.
    #[oai(rename = "patient.read")]
    Patient,
    /// The patient's treatment notes.
    #[oai(rename = "treatment_notes.read")]
    TreatmentNotes,
    /// The patient's appointments.
    #[oai(rename = "appointments.read")]
    Appointments,
    /// The patient's personal data was erased (written by the erasure itself).
    #[oai(rename = "patient.erase")]
    Erase,
}

/// Who reads, from where and why: what every logged read records.
pub struct Access {
    pub reason: Option<String>,
    pub client_ip: String,
}

impl Access {
    /// The request's client address and its `X-Access-Reason` (trimmed; empty is
    /// none; at most 500 characters).
    pub fn of(
        req: &Request,
        state: &SharedState,
        reason: Option<String>,
    ) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let reason = fields.optional_text("X-Access-Reason", reason.as_deref(), 500);
        fields.finish()?;
        Ok(Self {
            reason,
            client_ip: client_ip(req, state.limits.trusted_proxy_hops),
        })
    }
}

/// One read of one patient's data.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AccessLogEntry {
    /// Its place in the tenant's chain, from 1.
    pub seq: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who read: a user of the tenant.
    pub user_id: Uuid,
    /// Whose data.
    pub patient_id: Uuid,
    /// What was read, or done.
    pub action: AccessAction,
    /// The reader's `X-Access-Reason`.
    pub reason: Option<String>,
    /// A practitioner read the notes of a patient it has no appointment with.
    pub break_glass: bool,
    /// The client's address.
    pub client_ip: Option<String>,
}

/// A page of a patient's access log, newest first.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AccessLogPage {
    /// The entries of this page.
    pub items: Vec<AccessLogEntry>,
    /// Pass as `before` to get the next page; absent on the last page.
    pub next_before: Option<i64>,
}

/// Whether the tenant's access log is as it was written.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AccessLogVerification {
    /// Whether every row's hash matches its values and the previous row's hash, and
    /// the chain's head matches the last row.
    pub valid: bool,
    /// The rows verified before the first break (all of them when valid).
    pub rows: i64,
    /// The first place in the chain that does not hold: a row changed, added or
    /// removed by hand, or the tail cut off.
    pub first_broken_seq: Option<i64>,
    /// The last row of a valid chain. Keep it outside this system (a ticket, a
    /// signed e-mail, another database) and pass it later as the anchor: whoever can
    /// rewrite the log and recompute every hash after their change (the database's
    /// superuser) cannot make an earlier head match again.
    pub head: Option<ChainHead>,
    /// Whether the chain still holds the anchor asked about (`anchor_seq` and
    /// `anchor_hash`); absent without one. When false, `valid` is false too.
    pub anchor_matches: Option<bool>,
}

/// A place in the tenant's chain and its hash.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct ChainHead {
    /// The row's place in the chain (from 1).
    pub seq: i64,
    /// Its SHA-256 hash, over its values and the previous row's hash, in hex.
    pub hash: String,
}

impl ChainHead {
    /// The anchor of a verification, from its two query parameters: both or neither.
    pub fn anchor(seq: Option<i64>, hash: Option<String>) -> Result<Option<Self>, ApiError> {
        match (seq, hash) {
            (Some(seq), Some(hash)) => Ok(Some(Self { seq, hash })),
            (None, None) => Ok(None),
            (Some(_), None) => Err(ApiError::invalid("anchor_hash", "goes with anchor_seq")),
            (None, Some(_)) => Err(ApiError::invalid("anchor_seq", "goes with anchor_hash")),
        }
    }
}
