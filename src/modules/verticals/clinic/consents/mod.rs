//! `/patients/{id}/consents`: what a patient agreed to (the scope and the version of
//! the text), when and by whom it was signed (the patient's own contact, or a guardian
//! who may consent: the database checks it), which member recorded it, and its
//! revocation. A consent never changes except by its one-way revocation, and is never
//! deleted (V46). Writers record and revoke; every member reads, each read logged as a
//! read of the patient's record.

mod api;
mod store;

pub use api::ConsentsApi;
pub(super) use store::of_patient;

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use uuid::Uuid;

use crate::platform::{error::ApiError, validation::Fields};

/// What a consent covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum PatientConsentScope {
    Treatment,
    DataProcessing,
    DataSharing,
    Telemedicine,
    Photography,
    Research,
    Marketing,
}

/// A patient's consent.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PatientConsent {
    /// The consent's id.
    pub id: Uuid,
    /// Whose consent.
    pub patient_id: Uuid,
    /// What it covers.
    pub scope: PatientConsentScope,
    /// The version of the text agreed to, as the clinic names it.
    pub version: String,
    /// When it was signed.
    pub signed_at: DateTime<Utc>,
    /// Who signed it: the patient's contact, or a guardian who may consent; absent
    /// once the patient's data is erased.
    pub signed_by_contact_id: Option<Uuid>,
    /// The member who recorded it.
    pub recorded_by: Uuid,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// When it was revoked; absent while it holds.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The member who recorded the revocation.
    pub revoked_by: Option<Uuid>,
}

/// A signed consent to record. Unknown fields are ignored.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewPatientConsentBody {
    /// What it covers.
    pub scope: PatientConsentScope,
    /// The version of the text agreed to (`2024-03`, `v2`), 1 to 50 characters.
    #[oai(validator(max_length = 50))]
    pub version: String,
    /// When it was signed: not in the future (default: now).
    pub signed_at: Option<DateTime<Utc>>,
    /// Who signed it: the patient's own contact (the default) or a guardian of the
    /// patient whose permissions include `consent` (422 otherwise).
    pub signed_by_contact_id: Option<Uuid>,
}

/// A patient's consents.
#[derive(Debug, Object)]
pub struct PatientConsentList {
    /// The consents, revoked ones included, in the order they were signed.
    pub items: Vec<PatientConsent>,
}

/// A validated consent.
pub struct NewConsent {
    pub scope: PatientConsentScope,
    pub version: String,
    pub signed_at: Option<DateTime<Utc>>,
    pub signed_by_contact_id: Option<Uuid>,
}

impl TryFrom<NewPatientConsentBody> for NewConsent {
    type Error = ApiError;

    fn try_from(body: NewPatientConsentBody) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let consent = Self {
            scope: body.scope,
            version: fields.text("version", &body.version, 1, 50),
            signed_at: body.signed_at.map(|at| fields.instant("signed_at", at)),
            signed_by_contact_id: body.signed_by_contact_id,
        };
        fields.finish()?;
        Ok(consent)
    }
}

impl poem_openapi::types::Example for NewPatientConsentBody {
    fn example() -> Self {
        Self {
            scope: PatientConsentScope::DataSharing,
            version: "2024-03".into(),
            signed_at: None,
            signed_by_contact_id: None,
        }
    }
}
