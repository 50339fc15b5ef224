//! `/patients/{id}/erasure`: the erasure of a patient's personal data (V47). Owners
//! and admins only, in one transaction through `app.erase_patient`: the contact is
//! anonymised, the patient's date of birth and sex, identifiers, related people,
//! consents' signers, messages, outbox mails, contact webhook deliveries and buyer
//! requirements go; appointments stay (future open ones cancelled); treatment notes
//! signed within the tenant's `notes_retention_years` stay, the others go. The access
//! log stays as it is and records the erasure (`patient.erase`, who, why). A second
//! erasure answers 409; an erased patient takes no new record.

mod api;
mod store;

pub use api::ErasureApi;

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use uuid::Uuid;

/// What an erasure did.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PatientErasure {
    /// The erased patient (its id stays, anonymised).
    pub patient_id: Uuid,
    /// When it was erased.
    pub erased_at: DateTime<Utc>,
    /// Who erased it: the caller.
    pub erased_by: Uuid,
    /// Why: the caller's `X-Access-Reason`.
    pub reason: Option<String>,
    /// The retention the treatment notes were kept by, in years.
    pub notes_retention_years: i32,
    /// The treatment notes kept: signed within the retention period, or amended by
    /// one that was.
    pub notes_kept: i32,
    /// The treatment notes deleted: drafts, and notes signed before the period.
    pub notes_deleted: i32,
}
