//! `/appointments` and `/availability`: a patient with a practitioner at a location
//! for a type. PostgreSQL keeps them from double-booking the practitioner (buffers
//! included), from falling outside its working hours or into its time off, and to
//! their lifecycle (V36, V39); availability is computed in one statement by
//! `app.clinic_availability` from the same data.

mod api;
mod store;

pub use api::AppointmentsApi;
pub(super) use store::of_patient;
pub use store::{AVAILABILITY_REFERENCES_SQL, AVAILABILITY_SQL, BOOK_SQL};

use chrono::{DateTime, Duration, Utc};
use poem_openapi::{Enum, Object};
use uuid::Uuid;

use crate::platform::{error::ApiError, list::SortOrder, validation::Fields};

/// Where an appointment is in its life: booked → confirmed → arrived → in_progress →
/// completed, or cancelled (with a reason) or no_show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum AppointmentStatus {
    Booked,
    Confirmed,
    Arrived,
    InProgress,
    Completed,
    Cancelled,
    NoShow,
}

/// An appointment.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Appointment {
    /// The appointment's id.
    pub id: Uuid,
    /// Who is seen.
    pub patient_id: Uuid,
    /// Who sees them.
    pub practitioner_id: Uuid,
    /// Where.
    pub location_id: Uuid,
    /// The room it holds, when its type needs one.
    pub room_id: Option<Uuid>,
    /// What for.
    pub appointment_type_id: Uuid,
    /// When it starts.
    pub starts_at: DateTime<Utc>,
    /// When it ends: the start plus the type's duration.
    pub ends_at: DateTime<Utc>,
    /// Where it is in its life.
    pub status: AppointmentStatus,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// When it was booked.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

/// A booking. Unknown fields (such as `status`) are ignored.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewAppointmentBody {
    /// A patient of the same tenant.
    pub patient_id: Uuid,
    /// A practitioner of the same tenant.
    pub practitioner_id: Uuid,
    /// An appointment type of the same tenant: it sets the length and the buffers.
    pub appointment_type_id: Uuid,
    /// When it starts: within the practitioner's working hours, outside its time off.
    pub starts_at: DateTime<Utc>,
    /// Where; default: where the practitioner works at `starts_at`.
    pub location_id: Option<Uuid>,
    /// A room of the location; default, when the type needs one: the first room free
    /// for the whole appointment, buffers included.
    pub room_id: Option<Uuid>,
}

/// Changes to an appointment: absent fields stay as they are. A move (time,
/// practitioner, location or type) is checked like a booking and is possible while
/// the appointment is booked or confirmed; `status` follows the lifecycle; `cancelled`
/// needs `cancel_reason`.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct AppointmentPatchBody {
    /// A new start.
    pub starts_at: Option<DateTime<Utc>>,
    /// Another practitioner of the same tenant.
    pub practitioner_id: Option<Uuid>,
    /// Another location of the same tenant.
    pub location_id: Option<Uuid>,
    /// Another appointment type of the same tenant.
    pub appointment_type_id: Option<Uuid>,
    /// Another room of the appointment's location.
    pub room_id: Option<Uuid>,
    /// The next status.
    pub status: Option<AppointmentStatus>,
    /// Why it is cancelled: 1 to 500 characters, with `status` `cancelled` only.
    #[oai(validator(max_length = 500))]
    pub cancel_reason: Option<String>,
}

/// A page of appointments.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AppointmentPage {
    /// The appointments of this page, earliest first.
    pub items: Vec<Appointment>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A time an appointment of the type can be booked.
#[derive(Debug, Clone, Object)]
pub struct Slot {
    /// When it would start.
    pub starts_at: DateTime<Utc>,
    /// When it would end.
    pub ends_at: DateTime<Utc>,
    /// With whom.
    pub practitioner_id: Uuid,
    /// Where.
    pub location_id: Uuid,
}

/// Bookable start times, earliest first.
#[derive(Debug, Object)]
pub struct Availability {
    /// The slots.
    pub slots: Vec<Slot>,
}

/// Filters of the appointment list.
pub struct AppointmentFilter {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub practitioner_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    pub location_id: Option<Uuid>,
    pub status: Option<AppointmentStatus>,
}

/// A validated booking.
pub struct NewAppointment {
    pub patient_id: Uuid,
    pub practitioner_id: Uuid,
    pub appointment_type_id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub location_id: Option<Uuid>,
    pub room_id: Option<Uuid>,
}

impl TryFrom<NewAppointmentBody> for NewAppointment {
    type Error = ApiError;

    fn try_from(body: NewAppointmentBody) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let new = Self {
            patient_id: body.patient_id,
            practitioner_id: body.practitioner_id,
            appointment_type_id: body.appointment_type_id,
            starts_at: fields.instant("starts_at", body.starts_at),
            location_id: body.location_id,
            room_id: body.room_id,
        };
        fields.finish()?;
        Ok(new)
    }
}

/// A validated change; `None` keeps a field.
pub struct AppointmentPatch {
    pub starts_at: Option<DateTime<Utc>>,
    pub practitioner_id: Option<Uuid>,
    pub location_id: Option<Uuid>,
    pub appointment_type_id: Option<Uuid>,
    pub room_id: Option<Uuid>,
    pub status: Option<AppointmentStatus>,
    pub cancel_reason: Option<String>,
}

impl TryFrom<AppointmentPatchBody> for AppointmentPatch {
    type Error = ApiError;

    fn try_from(body: AppointmentPatchBody) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let patch = Self {
            starts_at: body.starts_at.map(|at| fields.instant("starts_at", at)),
            practitioner_id: body.practitioner_id,
            location_id: body.location_id,
            appointment_type_id: body.appointment_type_id,
            room_id: body.room_id,
            status: body.status,
            cancel_reason: body
                .cancel_reason
                .map(|reason| fields.text("cancel_reason", &reason, 1, 500)),
        };
        fields.finish()?;
        Ok(patch)
    }
}

/// A weekly series of appointments, booked all or nothing. Give `count` or `until`.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewSeriesBody {
    /// The first appointment; the others are at the same local time.
    #[oai(flatten)]
    pub first: NewAppointmentBody,
    /// Weeks between two appointments, 1 to 12; default 1.
    #[oai(validator(minimum(value = "1"), maximum(value = "12")))]
    pub every_weeks: Option<i32>,
    /// How many appointments, 2 to 52.
    #[oai(validator(minimum(value = "2"), maximum(value = "52")))]
    pub count: Option<i32>,
    /// Appointments until this instant (at most 52).
    pub until: Option<DateTime<Utc>>,
}

/// The appointments of a series, earliest first.
#[derive(Debug, Object)]
pub struct AppointmentSeries {
    /// Every appointment of the series.
    pub items: Vec<Appointment>,
}

/// The most appointments one series books.
pub const MAX_SERIES: usize = 52;

/// A validated series.
pub struct NewSeries {
    pub first: NewAppointment,
    pub every_weeks: i32,
    pub count: Option<i32>,
    pub until: Option<DateTime<Utc>>,
}

impl TryFrom<NewSeriesBody> for NewSeries {
    type Error = ApiError;

    fn try_from(body: NewSeriesBody) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let every_weeks = body.every_weeks.unwrap_or(1);
        if !(1..=12).contains(&every_weeks) {
            fields.error("every_weeks", "must be between 1 and 12");
        }
        if body.count.is_some_and(|count| !(2..=52).contains(&count)) {
            fields.error("count", "must be between 2 and 52");
        }
        if body.count.is_some() == body.until.is_some() {
            fields.error("count", "give count or until, one of them");
        }
        if body
            .until
            .is_some_and(|until| until <= body.first.starts_at)
        {
            fields.error("until", "must be after starts_at");
        }
        let until = body.until.map(|until| fields.instant("until", until));
        fields.finish()?;
        Ok(Self {
            first: NewAppointment::try_from(body.first)?,
            every_weeks,
            count: body.count,
            until,
        })
    }
}

/// The longest span one availability request covers.
pub const MAX_SPAN_DAYS: i64 = 31;

/// A validated availability question.
pub struct AvailabilityQuery {
    pub practitioner_id: Option<Uuid>,
    pub appointment_type_id: Uuid,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub location_id: Option<Uuid>,
    pub step_minutes: i32,
}

impl AvailabilityQuery {
    /// Checks the span (`to` after `from`, at most [`MAX_SPAN_DAYS`]) and the step.
    pub fn new(
        practitioner_id: Option<Uuid>,
        appointment_type_id: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        location_id: Option<Uuid>,
        step_minutes: i32,
    ) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let from = fields.instant("from", from);
        if to <= from {
            fields.error("to", "must be after from");
        } else if to - from > Duration::days(MAX_SPAN_DAYS) {
            fields.error(
                "to",
                format!("must be at most {MAX_SPAN_DAYS} days after from"),
            );
        }
        if !(5..=240).contains(&step_minutes) {
            fields.error("step_minutes", "must be between 5 and 240");
        }
        fields.finish()?;
        Ok(Self {
            practitioner_id,
            appointment_type_id,
            from,
            to,
            location_id,
            step_minutes,
        })
    }
}

/// Appointments are listed by start, earliest first (`appointments_starts_idx`).
#[derive(Debug, Clone, Copy)]
pub struct ByStart;

impl SortOrder for ByStart {
    fn name(self) -> &'static str {
        "starts_at"
    }

    fn expression(self) -> &'static str {
        "starts_at"
    }

    fn sql_type(self) -> &'static str {
        "timestamptz"
    }

    fn descending(self) -> bool {
        false
    }
}

impl poem_openapi::types::Example for NewAppointmentBody {
    fn example() -> Self {
        Self {
            patient_id: Uuid::from_u128(0x0190_a8a4_6e2e_7000_8000_0000_0000_0030),
            practitioner_id: Uuid::from_u128(0x0190_a8a4_6e2e_7000_8000_0000_0000_0020),
            appointment_type_id: Uuid::from_u128(0x0190_a8a4_6e2e_7000_8000_0000_0000_0040),
            starts_at: DateTime::from_timestamp(1_924_938_000, 0).unwrap_or_default(),
            location_id: None,
            room_id: None,
        }
    }
}

impl poem_openapi::types::Example for NewSeriesBody {
    /// Every Tuesday at 10:00 (Zurich), ten times.
    fn example() -> Self {
        Self {
            first: <NewAppointmentBody as poem_openapi::types::Example>::example(),
            every_weeks: Some(1),
            count: Some(10),
            until: None,
        }
    }
}

impl poem_openapi::types::Example for AppointmentPatchBody {
    fn example() -> Self {
        Self {
            starts_at: None,
            practitioner_id: None,
            location_id: None,
            appointment_type_id: None,
            room_id: None,
            status: Some(AppointmentStatus::Cancelled),
            cancel_reason: Some("The patient is ill.".into()),
        }
    }
}
