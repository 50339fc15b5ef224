//! `/patients/{id}/guardians`: the contacts related to a patient (a parent, a legal
//! guardian, a partner, a caregiver), each with the relationship, what the person may
//! do for the patient, and whether the person is the patient's emergency contact (at
//! most one per patient). A contact is linked once per patient and never to itself as
//! its own patient (V46). Writers keep the links; every member reads them, and each
//! read is logged as a read of the patient's record.

mod api;
mod store;

pub use api::GuardiansApi;
pub(super) use store::of_patient;

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use uuid::Uuid;

/// How the person is related to the patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum GuardianRelationship {
    Parent,
    LegalGuardian,
    SpouseOrPartner,
    Child,
    Sibling,
    Relative,
    Caregiver,
    Other,
}

/// What a related person may do for the patient. `consent` is enforced by the
/// database (only the patient or a guardian who may consent signs a consent); the
/// others tell the clinic's staff and its workflows what the patient allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Enum)]
#[oai(rename_all = "snake_case")]
pub enum GuardianPermission {
    /// Book, move and cancel the patient's appointments.
    Book,
    /// Sign consents on the patient's behalf.
    Consent,
    /// Be told about, and receive copies of, the patient's records.
    ViewRecords,
    /// Receive the patient's appointment reminders.
    ReceiveReminders,
}

/// A person related to a patient.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Guardian {
    /// The contact who is the related person.
    pub contact_id: Uuid,
    /// The contact's first name.
    pub first_name: String,
    /// The contact's last name.
    pub last_name: String,
    /// The contact's email.
    pub email: Option<String>,
    /// The contact's phone.
    pub phone: Option<String>,
    /// How the person is related to the patient.
    pub relationship: GuardianRelationship,
    /// What the person may do for the patient, in a fixed order.
    pub permissions: Vec<GuardianPermission>,
    /// Whether the person is the patient's emergency contact.
    pub emergency_contact: bool,
    /// When the link was made.
    pub created_at: DateTime<Utc>,
    /// When the link last changed.
    pub updated_at: DateTime<Utc>,
}

/// A related person's link to the patient, created or replaced as a whole. Unknown
/// fields are ignored.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct GuardianBody {
    /// How the person is related to the patient.
    pub relationship: GuardianRelationship,
    /// What the person may do for the patient (default none; repeats are ignored).
    #[oai(validator(max_items = 4))]
    pub permissions: Option<Vec<GuardianPermission>>,
    /// Whether the person is the emergency contact (default false). A patient has at
    /// most one: naming a second one is refused with 409 until the first is unset.
    pub emergency_contact: Option<bool>,
}

/// The people related to a patient.
#[derive(Debug, Object)]
pub struct GuardianList {
    /// The links, the emergency contact first, then by when they were made.
    pub items: Vec<Guardian>,
}

/// A validated link.
pub struct GuardianLink {
    pub relationship: GuardianRelationship,
    /// Sorted, without repeats.
    pub permissions: Vec<GuardianPermission>,
    pub emergency_contact: bool,
}

impl From<GuardianBody> for GuardianLink {
    fn from(body: GuardianBody) -> Self {
        let mut permissions = body.permissions.unwrap_or_default();
        permissions.sort();
        permissions.dedup();
        Self {
            relationship: body.relationship,
            permissions,
            emergency_contact: body.emergency_contact.unwrap_or(false),
        }
    }
}

impl poem_openapi::types::Example for GuardianBody {
    fn example() -> Self {
        Self {
            relationship: GuardianRelationship::Parent,
            permissions: Some(vec![GuardianPermission::Book, GuardianPermission::Consent]),
            emergency_contact: Some(true),
        }
    }
}
