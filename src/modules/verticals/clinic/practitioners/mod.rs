//! `/practitioners`: members of the tenant with a clinical profile, their weekly
//! working hours per location (several ranges a day, one place at a time) and their
//! time off. Owners and admins keep profiles and hours; writers record time off.

mod api;
mod store;

pub use api::PractitionersApi;

use chrono::{DateTime, Utc};
use poem_openapi::{Object, types::MaybeUndefined};
use serde::Deserialize;
use uuid::Uuid;

use crate::platform::{
    error::ApiError,
    validation::{Fields, patch_value},
};

/// A member with a clinical profile.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Practitioner {
    /// The member's user id, which is also the practitioner's id.
    pub id: Uuid,
    /// The member's name.
    pub full_name: String,
    /// Title (`Dr. med.`, `Physiotherapist`).
    pub title: String,
    /// Specialties, as the clinic names them.
    pub specialties: Vec<String>,
    /// Professional registration number.
    pub registration_number: Option<String>,
    /// The weekly working hours, by weekday and start.
    pub hours: Vec<WorkingHours>,
    /// When the profile was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

/// One weekly range of working hours at a location, in the location's local time.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(example)]
pub struct WorkingHours {
    /// Where: a location of the same tenant.
    pub location_id: Uuid,
    /// ISO weekday: 1 Monday ... 7 Sunday.
    #[oai(validator(minimum(value = "1"), maximum(value = "7")))]
    pub weekday: i32,
    /// Local start, `HH:MM`.
    #[oai(validator(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"))]
    pub starts: String,
    /// Local end, `HH:MM` (`24:00` for midnight), after the start.
    #[oai(validator(pattern = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"))]
    pub ends: String,
}

/// A new practitioner. Unknown fields are ignored.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewPractitionerBody {
    /// The member who practises: a user of the same tenant, not yet a practitioner.
    pub user_id: Uuid,
    /// 1 to 100 characters.
    #[oai(validator(max_length = 100))]
    pub title: String,
    /// Up to 20, each 1 to 100 characters.
    #[oai(validator(max_items = 20))]
    pub specialties: Option<Vec<String>>,
    /// 1 to 100 characters.
    #[oai(validator(max_length = 100))]
    pub registration_number: Option<String>,
    /// The weekly working hours; none by default. Ranges of one weekday must not
    /// overlap, wherever they are.
    #[oai(validator(max_items = 100))]
    pub hours: Option<Vec<WorkingHours>>,
}

/// Changes to a practitioner: absent fields stay as they are; `null` clears the
/// registration number; `hours` replaces the whole week (booked appointments stay).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct PractitionerPatchBody {
    /// 1 to 100 characters.
    #[oai(validator(max_length = 100))]
    pub title: Option<String>,
    /// Up to 20, each 1 to 100 characters.
    #[oai(validator(max_items = 20))]
    pub specialties: Option<Vec<String>>,
    /// 1 to 100 characters.
    #[oai(validator(max_length = 100))]
    pub registration_number: MaybeUndefined<String>,
    /// The new weekly working hours.
    #[oai(validator(max_items = 100))]
    pub hours: Option<Vec<WorkingHours>>,
}

/// A page of practitioners.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PractitionerPage {
    /// The practitioners of this page, oldest profile first.
    pub items: Vec<Practitioner>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A time the practitioner is away: nothing can be booked in it.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TimeOff {
    /// The time off's id.
    pub id: Uuid,
    /// Whose.
    pub practitioner_id: Uuid,
    /// When it starts.
    pub starts_at: DateTime<Utc>,
    /// When it ends.
    pub ends_at: DateTime<Utc>,
    /// Why (holiday, training).
    pub reason: Option<String>,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
}

/// New time off. Appointments already booked in it stay booked.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewTimeOffBody {
    /// When it starts.
    pub starts_at: DateTime<Utc>,
    /// When it ends: after the start.
    pub ends_at: DateTime<Utc>,
    /// Up to 500 characters.
    #[oai(validator(max_length = 500))]
    pub reason: Option<String>,
}

/// A practitioner's time off from an instant on.
#[derive(Debug, Object)]
pub struct TimeOffList {
    /// Earliest first.
    pub items: Vec<TimeOff>,
}

/// A validated practitioner; in a change, `None` keeps a field.
pub struct PractitionerFields {
    pub title: Option<String>,
    pub specialties: Option<Vec<String>>,
    pub registration_number: Option<Option<String>>,
    pub hours: Option<Hours>,
}

/// Working hours as columns, for one `unnest`.
#[derive(Default)]
pub struct Hours {
    pub locations: Vec<Uuid>,
    pub weekdays: Vec<i32>,
    pub starts: Vec<String>,
    pub ends: Vec<String>,
}

impl TryFrom<PractitionerPatchBody> for PractitionerFields {
    type Error = ApiError;

    fn try_from(body: PractitionerPatchBody) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let practitioner = Self {
            title: body.title.map(|title| fields.text("title", &title, 1, 100)),
            specialties: body.specialties.map(|all| {
                all.iter()
                    .map(|one| fields.text("specialties", one, 1, 100))
                    .collect()
            }),
            registration_number: patch_value(body.registration_number, |number| {
                Some(fields.text("registration_number", &number, 1, 100))
            }),
            hours: body.hours.map(|hours| checked_hours(&mut fields, hours)),
        };
        fields.finish()?;
        Ok(practitioner)
    }
}

/// A validated new practitioner.
pub struct NewPractitioner {
    pub user_id: Uuid,
    pub fields: PractitionerFields,
}

impl TryFrom<NewPractitionerBody> for NewPractitioner {
    type Error = ApiError;

    fn try_from(body: NewPractitionerBody) -> Result<Self, ApiError> {
        let fields = PractitionerPatchBody {
            title: Some(body.title),
            specialties: body.specialties,
            registration_number: body
                .registration_number
                .map_or(MaybeUndefined::Undefined, MaybeUndefined::Value),
            hours: body.hours,
        }
        .try_into()?;
        Ok(Self {
            user_id: body.user_id,
            fields,
        })
    }
}

/// Each range ends after it starts; the database refuses overlaps.
fn checked_hours(fields: &mut Fields, ranges: Vec<WorkingHours>) -> Hours {
    let mut hours = Hours::default();
    for range in ranges {
        if !(1..=7).contains(&range.weekday) {
            fields.error("hours.weekday", "must be 1 (Monday) to 7 (Sunday)");
        }
        // `HH:MM` compares as text; `24:00` is after every start.
        if range.ends <= range.starts {
            fields.error("hours.ends", "must be after the range's start");
        }
        hours.locations.push(range.location_id);
        hours.weekdays.push(range.weekday);
        hours.starts.push(range.starts);
        hours.ends.push(range.ends);
    }
    hours
}

/// Validated time off.
pub struct NewTimeOff {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub reason: Option<String>,
}

impl TryFrom<NewTimeOffBody> for NewTimeOff {
    type Error = ApiError;

    fn try_from(body: NewTimeOffBody) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let time_off = Self {
            starts_at: fields.instant("starts_at", body.starts_at),
            ends_at: fields.instant("ends_at", body.ends_at),
            reason: fields.optional_text("reason", body.reason.as_deref(), 500),
        };
        if time_off.ends_at <= time_off.starts_at {
            fields.error("ends_at", "must be after starts_at");
        }
        fields.finish()?;
        Ok(time_off)
    }
}

/// The documented examples' location.
const EXAMPLE_LOCATION: Uuid = Uuid::from_u128(0x0190_a8a4_6e2e_7000_8000_0000_0000_0010);

impl poem_openapi::types::Example for WorkingHours {
    fn example() -> Self {
        Self {
            location_id: EXAMPLE_LOCATION,
            weekday: 1,
            starts: "08:00".into(),
            ends: "12:30".into(),
        }
    }
}

impl poem_openapi::types::Example for NewPractitionerBody {
    /// Every day from 08:00 to 18:00 at one location.
    fn example() -> Self {
        Self {
            user_id: Uuid::from_u128(0x0190_a8a4_6e2e_7000_8000_0000_0000_0020),
            title: "Dr. med.".into(),
            specialties: Some(vec!["General medicine".into()]),
            registration_number: Some("GLN 7601000000000".into()),
            hours: Some(
                (1..=7)
                    .map(|weekday| WorkingHours {
                        location_id: EXAMPLE_LOCATION,
                        weekday,
                        starts: "08:00".into(),
                        ends: "18:00".into(),
                    })
                    .collect(),
            ),
        }
    }
}

impl poem_openapi::types::Example for PractitionerPatchBody {
    fn example() -> Self {
        Self {
            title: None,
            specialties: Some(vec!["General medicine".into(), "Sports medicine".into()]),
            registration_number: MaybeUndefined::Undefined,
            hours: None,
        }
    }
}

impl poem_openapi::types::Example for NewTimeOffBody {
    fn example() -> Self {
        Self {
            starts_at: DateTime::from_timestamp(2_051_222_400, 0).unwrap_or_default(),
            ends_at: DateTime::from_timestamp(2_051_827_200, 0).unwrap_or_default(),
            reason: Some("Holiday".into()),
        }
    }
}
