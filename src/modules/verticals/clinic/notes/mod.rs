//! Treatment notes: what a clinician writes about a patient, optionally for one of the
//! patient's appointments. A draft its author edits, then signed: immutable, corrected
//! only by an addendum (a new note that `amends` it). Only clinicians read them
//! (owners, admins, and members with a practitioner profile; never a member without
//! one nor read_only): the policies of V40 say so, whatever the SQL. Every read is in
//! the access log; a practitioner reading the notes of a patient it has no
//! appointment with gives a reason (break-glass).

mod api;
mod store;

pub use api::NotesApi;
pub(super) use store::of_patient;

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use uuid::Uuid;

use crate::platform::{error::ApiError, validation::Fields};

/// A draft, or signed (immutable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum NoteStatus {
    Draft,
    Signed,
}

/// A treatment note.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TreatmentNote {
    /// The note's id.
    pub id: Uuid,
    /// Whose.
    pub patient_id: Uuid,
    /// The appointment it is about, one of the patient's.
    pub appointment_id: Option<Uuid>,
    /// The signed note it corrects.
    pub amends_id: Option<Uuid>,
    /// Who wrote it: a user of the tenant.
    pub author_id: Uuid,
    /// What it says.
    pub body: String,
    /// A draft, or signed.
    pub status: NoteStatus,
    /// When it was signed.
    pub signed_at: Option<DateTime<Utc>>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A new note, a draft of the caller's. Unknown fields are ignored.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewNoteBody {
    /// 1 to 100,000 characters.
    #[oai(validator(max_length = 100000))]
    pub body: String,
    /// One of the patient's appointments.
    pub appointment_id: Option<Uuid>,
    /// A signed note of the patient's that this one corrects.
    pub amends_id: Option<Uuid>,
}

/// Changes to a draft, by its author: a new body, or `signed` (then it is immutable).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NotePatchBody {
    /// 1 to 100,000 characters.
    #[oai(validator(max_length = 100000))]
    pub body: Option<String>,
    /// `signed` signs it.
    pub status: Option<NoteStatus>,
}

/// A patient's notes, oldest first.
#[derive(Debug, Object)]
pub struct NoteList {
    /// The notes, addenda after what they amend.
    pub items: Vec<TreatmentNote>,
}

/// A validated note.
pub struct NewNote {
    pub body: String,
    pub appointment_id: Option<Uuid>,
    pub amends_id: Option<Uuid>,
}

impl TryFrom<NewNoteBody> for NewNote {
    type Error = ApiError;

    fn try_from(body: NewNoteBody) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let note = Self {
            body: fields.text("body", &body.body, 1, 100_000),
            appointment_id: body.appointment_id,
            amends_id: body.amends_id,
        };
        fields.finish()?;
        Ok(note)
    }
}

/// A validated change; `None` keeps a field.
pub struct NotePatch {
    pub body: Option<String>,
    pub status: Option<NoteStatus>,
}

impl TryFrom<NotePatchBody> for NotePatch {
    type Error = ApiError;

    fn try_from(body: NotePatchBody) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let patch = Self {
            body: body.body.map(|text| fields.text("body", &text, 1, 100_000)),
            status: body.status,
        };
        fields.finish()?;
        Ok(patch)
    }
}

impl poem_openapi::types::Example for NewNoteBody {
    fn example() -> Self {
        Self {
            body: "Lower back pain for two weeks; no red flags. Physiotherapy prescribed.".into(),
            appointment_id: None,
            amends_id: None,
        }
    }
}

impl poem_openapi::types::Example for NotePatchBody {
    fn example() -> Self {
        Self {
            body: None,
            status: Some(NoteStatus::Signed),
        }
    }
}
