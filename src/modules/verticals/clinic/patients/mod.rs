//! `/patients`: a contact of the tenant (its name, email and phone are the contact's,
//! never copied) with clinical data: date of birth, sex, an alerts flag (allergies,
//! risks), an archived flag, and identifiers (a national health number), each unique
//! per tenant and kind. Writers keep them; every member reads.

mod api;
mod store;

pub use api::PatientsApi;
pub(super) use store::{ensure_exists, find};

use chrono::{DateTime, NaiveDate, Utc};
use poem_openapi::{Enum, Object, types::MaybeUndefined};
use serde::Deserialize;
use uuid::Uuid;

use crate::platform::{
    error::ApiError,
    validation::{Fields, patch_value},
};

/// A patient's sex, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum Sex {
    Female,
    Male,
    Other,
    Unknown,
}

/// A patient.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Patient {
    /// The patient's id.
    pub id: Uuid,
    /// The contact the patient is.
    pub contact_id: Uuid,
    /// The contact's first name.
    pub first_name: String,
    /// The contact's last name.
    pub last_name: String,
    /// The contact's email.
    pub email: Option<String>,
    /// The contact's phone.
    pub phone: Option<String>,
    /// Date of birth.
    pub date_of_birth: Option<NaiveDate>,
    /// Sex, as recorded.
    pub sex: Option<Sex>,
    /// Whether the patient has alerts (allergies, risks) to check before care.
    pub alerts: bool,
    /// Whether the patient is archived (no longer in care).
    pub archived: bool,
    /// Identifiers, by kind.
    pub identifiers: Vec<Identifier>,
    /// When the patient's personal data was erased (`/patients/{id}/erasure`); absent
    /// unless it was.
    pub erased_at: Option<DateTime<Utc>>,
    /// When the patient was created.
    pub created_at: DateTime<Utc>,
    /// When the patient's clinical data last changed.
    pub updated_at: DateTime<Utc>,
}

/// An identifier of a patient, unique in the tenant for its kind.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(example)]
pub struct Identifier {
    /// What it is: lower-case letters, digits and `_`, starting with a letter
    /// (`ahv`, `nhs_number`).
    #[oai(validator(max_length = 40, pattern = r"^[a-z][a-z0-9_]*$"))]
    pub kind: String,
    /// Its value, 1 to 100 characters.
    #[oai(validator(max_length = 100))]
    pub value: String,
}

/// A new patient. Unknown fields are ignored.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewPatientBody {
    /// The contact the patient is: a contact of the same tenant, not yet a patient.
    pub contact_id: Uuid,
    /// From 1880-01-01 to today.
    pub date_of_birth: Option<NaiveDate>,
    /// Sex, as recorded.
    pub sex: Option<Sex>,
    /// Default false.
    pub alerts: Option<bool>,
    /// One per kind, up to 20.
    #[oai(validator(max_items = 20))]
    pub identifiers: Option<Vec<Identifier>>,
}

/// Changes to a patient: absent fields stay as they are; `null` clears the date of
/// birth or the sex; `identifiers` replaces them all. The name, email and phone are
/// the contact's: change them on `/contacts/{id}`.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct PatientPatchBody {
    /// From 1880-01-01 to today.
    pub date_of_birth: MaybeUndefined<NaiveDate>,
    /// Sex, as recorded.
    pub sex: MaybeUndefined<Sex>,
    /// Whether the patient has alerts.
    pub alerts: Option<bool>,
    /// Whether the patient is archived.
    pub archived: Option<bool>,
    /// One per kind, up to 20.
    #[oai(validator(max_items = 20))]
    pub identifiers: Option<Vec<Identifier>>,
}

/// A page of patients.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PatientPage {
    /// The patients of this page, oldest first.
    pub items: Vec<Patient>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Filters of the patient list.
pub struct PatientFilter {
    pub q: Option<String>,
    pub identifier: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub archived: Option<bool>,
}

/// A validated patient; in a change, `None` keeps a field.
pub struct PatientFields {
    pub date_of_birth: Option<Option<NaiveDate>>,
    pub sex: Option<Option<Sex>>,
    pub alerts: Option<bool>,
    pub archived: Option<bool>,
    /// Kinds and values, for one `unnest`.
    pub identifiers: Option<(Vec<String>, Vec<String>)>,
}

/// A validated new patient.
pub struct NewPatient {
    pub contact_id: Uuid,
    pub fields: PatientFields,
}

impl TryFrom<NewPatientBody> for NewPatient {
    type Error = ApiError;

    fn try_from(body: NewPatientBody) -> Result<Self, ApiError> {
        let fields = PatientPatchBody {
            date_of_birth: body
                .date_of_birth
                .map_or(MaybeUndefined::Undefined, MaybeUndefined::Value),
            sex: body
                .sex
                .map_or(MaybeUndefined::Undefined, MaybeUndefined::Value),
            alerts: body.alerts,
            archived: None,
            identifiers: body.identifiers,
        }
        .try_into()?;
        Ok(Self {
            contact_id: body.contact_id,
            fields,
        })
    }
}

impl TryFrom<PatientPatchBody> for PatientFields {
    type Error = ApiError;

    fn try_from(body: PatientPatchBody) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let earliest = NaiveDate::from_ymd_opt(1880, 1, 1).unwrap_or_default();
        let today = Utc::now().date_naive();
        let patient = Self {
            date_of_birth: patch_value(body.date_of_birth, |day| {
                if day < earliest || day > today {
                    fields.error("date_of_birth", "must be from 1880-01-01 to today");
                }
                Some(day)
            }),
            sex: patch_value(body.sex, Some),
            alerts: body.alerts,
            archived: body.archived,
            identifiers: body.identifiers.map(|all| {
                all.into_iter()
                    .map(|one| {
                        let kind = one.kind.trim().to_owned();
                        let valid = (1..=40).contains(&kind.len())
                            && kind.starts_with(|c: char| c.is_ascii_lowercase())
                            && kind
                                .bytes()
                                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                        if !valid {
                            fields.error(
                                "identifiers.kind",
                                "must be lower-case letters, digits and _, starting with a letter",
                            );
                        }
                        (kind, fields.text("identifiers.value", &one.value, 1, 100))
                    })
                    .unzip()
            }),
        };
        fields.finish()?;
        Ok(patient)
    }
}

impl poem_openapi::types::Example for Identifier {
    fn example() -> Self {
        Self {
            kind: "ahv".into(),
            value: "756.1234.5678.97".into(),
        }
    }
}

impl poem_openapi::types::Example for NewPatientBody {
    fn example() -> Self {
        Self {
            contact_id: Uuid::from_u128(0x0190_a8a4_6e2e_7000_8000_0000_0000_0001),
            date_of_birth: NaiveDate::from_ymd_opt(1984, 6, 2),
            sex: Some(Sex::Female),
            alerts: Some(true),
            identifiers: Some(vec![<Identifier as poem_openapi::types::Example>::example()]),
        }
    }
}

impl poem_openapi::types::Example for PatientPatchBody {
    fn example() -> Self {
        Self {
            date_of_birth: MaybeUndefined::Undefined,
            sex: MaybeUndefined::Undefined,
            alerts: Some(false),
            archived: None,
            identifiers: None,
        }
    }
}
