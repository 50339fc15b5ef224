//! `/patients/{id}/export`: everything the clinic holds about one patient as one JSON
//! document — the record, the related people (the emergency contact among them), the
//! consents, every appointment, every treatment note and the whole access log about
//! them — for the patient's right of access. After an erasure it holds what the
//! erasure kept, anonymised. Owners and admins only; the
//! export is itself a read, logged in the same transaction.

mod api;
mod store;

pub use api::ExportApi;

use chrono::{DateTime, Utc};
use poem_openapi::Object;

use super::{
    access_log::AccessLogEntry, appointments::Appointment, consents::PatientConsent,
    guardians::Guardian, notes::TreatmentNote, patients::Patient,
};

/// Everything about one patient.
#[derive(Debug, Object)]
pub struct PatientExport {
    /// When the export was made (the transaction's time).
    pub exported_at: DateTime<Utc>,
    /// The patient, with the contact's name, email and phone.
    pub patient: Patient,
    /// The people related to the patient, the emergency contact first.
    pub guardians: Vec<Guardian>,
    /// Every consent, revoked ones included, in the order they were signed.
    pub consents: Vec<PatientConsent>,
    /// Every appointment, cancelled ones included, earliest first.
    pub appointments: Vec<Appointment>,
    /// Every treatment note, drafts and addenda included, oldest first.
    pub treatment_notes: Vec<TreatmentNote>,
    /// Every read of the patient's data before this export, oldest first.
    pub access_log: Vec<AccessLogEntry>,
}
