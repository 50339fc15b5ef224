//! `/appointment-types`: what is booked, for how long, with which buffers before and
//! after (kept free of the practitioner's other appointments), at what price and with
//! how much notice. Owners and admins keep them; every member reads.

mod api;
mod store;

pub use api::AppointmentTypesApi;

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use uuid::Uuid;

use crate::platform::{error::ApiError, validation::Fields};

/// What can be booked.
#[derive(Debug, Clone, Object)]
pub struct AppointmentType {
    /// The type's id.
    pub id: Uuid,
    /// Its name (`First consultation`).
    pub name: String,
    /// How long the appointment lasts, in minutes.
    pub duration_minutes: i32,
    /// Minutes kept free before it (preparing the room).
    pub buffer_before_minutes: i32,
    /// Minutes kept free after it (notes, cleaning).
    pub buffer_after_minutes: i32,
    /// The price in minor units of `currency` (cents).
    pub price_minor: i64,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Whether patients may book it themselves online.
    pub online_booking: bool,
    /// How long before its start it can be booked at the latest, in minutes.
    pub min_notice_minutes: i32,
    /// Whether it holds a room of the location (see `/rooms`).
    pub needs_room: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

/// A new appointment type. Unknown fields are ignored.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewAppointmentTypeBody {
    /// 1 to 200 characters.
    #[oai(validator(max_length = 200))]
    pub name: String,
    /// 5 to 480 minutes.
    #[oai(validator(minimum(value = "5"), maximum(value = "480")))]
    pub duration_minutes: i32,
    /// 0 to 120 minutes; default 0.
    #[oai(validator(minimum(value = "0"), maximum(value = "120")))]
    pub buffer_before_minutes: Option<i32>,
    /// 0 to 120 minutes; default 0.
    #[oai(validator(minimum(value = "0"), maximum(value = "120")))]
    pub buffer_after_minutes: Option<i32>,
    /// Minor units, 0 or more; default 0.
    #[oai(validator(minimum(value = "0")))]
    pub price_minor: Option<i64>,
    /// ISO 4217 code; default `CHF`.
    pub currency: Option<String>,
    /// Default false.
    pub online_booking: Option<bool>,
    /// 0 to 43,200 minutes (30 days); default 0.
    #[oai(validator(minimum(value = "0"), maximum(value = "43200")))]
    pub min_notice_minutes: Option<i32>,
    /// Whether it holds a room; default false.
    pub needs_room: Option<bool>,
}

/// Changes to an appointment type: absent fields stay as they are. Booked
/// appointments keep their times.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct AppointmentTypePatchBody {
    /// 1 to 200 characters.
    #[oai(validator(max_length = 200))]
    pub name: Option<String>,
    /// 5 to 480 minutes.
    #[oai(validator(minimum(value = "5"), maximum(value = "480")))]
    pub duration_minutes: Option<i32>,
    /// 0 to 120 minutes.
    #[oai(validator(minimum(value = "0"), maximum(value = "120")))]
    pub buffer_before_minutes: Option<i32>,
    /// 0 to 120 minutes.
    #[oai(validator(minimum(value = "0"), maximum(value = "120")))]
    pub buffer_after_minutes: Option<i32>,
    /// Minor units, 0 or more.
    #[oai(validator(minimum(value = "0")))]
    pub price_minor: Option<i64>,
    /// ISO 4217 code.
    pub currency: Option<String>,
    /// Whether patients may book it online.
    pub online_booking: Option<bool>,
    /// 0 to 43,200 minutes.
    #[oai(validator(minimum(value = "0"), maximum(value = "43200")))]
    pub min_notice_minutes: Option<i32>,
    /// Whether it holds a room (booked appointments keep theirs).
    pub needs_room: Option<bool>,
}

/// A page of appointment types.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AppointmentTypePage {
    /// The types of this page, oldest first.
    pub items: Vec<AppointmentType>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A validated type; `None` keeps a field (or, in a creation, takes the default).
pub struct AppointmentTypeFields {
    pub name: Option<String>,
    pub duration_minutes: Option<i32>,
    pub buffer_before_minutes: Option<i32>,
    pub buffer_after_minutes: Option<i32>,
    pub price_minor: Option<i64>,
    pub currency: Option<String>,
    pub online_booking: Option<bool>,
    pub min_notice_minutes: Option<i32>,
    pub needs_room: Option<bool>,
}

impl TryFrom<NewAppointmentTypeBody> for AppointmentTypeFields {
    type Error = ApiError;

    fn try_from(body: NewAppointmentTypeBody) -> Result<Self, ApiError> {
        AppointmentTypePatchBody {
            name: Some(body.name),
            duration_minutes: Some(body.duration_minutes),
            buffer_before_minutes: body.buffer_before_minutes,
            buffer_after_minutes: body.buffer_after_minutes,
            price_minor: body.price_minor,
            currency: body.currency,
            online_booking: body.online_booking,
            min_notice_minutes: body.min_notice_minutes,
            needs_room: body.needs_room,
        }
        .try_into()
    }
}

impl TryFrom<AppointmentTypePatchBody> for AppointmentTypeFields {
    type Error = ApiError;

    fn try_from(body: AppointmentTypePatchBody) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let mut within = |field: &str, value: Option<i32>, min: i32, max: i32| {
            if value.is_some_and(|v| !(min..=max).contains(&v)) {
                fields.error(field, format!("must be between {min} and {max}"));
            }
            value
        };
        let duration_minutes = within("duration_minutes", body.duration_minutes, 5, 480);
        let buffer_before_minutes =
            within("buffer_before_minutes", body.buffer_before_minutes, 0, 120);
        let buffer_after_minutes =
            within("buffer_after_minutes", body.buffer_after_minutes, 0, 120);
        let min_notice_minutes = within("min_notice_minutes", body.min_notice_minutes, 0, 43_200);
        if body.price_minor.is_some_and(|price| price < 0) {
            fields.error("price_minor", "must not be negative");
        }
        let kind = Self {
            name: body.name.map(|name| fields.text("name", &name, 1, 200)),
            duration_minutes,
            buffer_before_minutes,
            buffer_after_minutes,
            price_minor: body.price_minor,
            currency: body.currency.map(|code| fields.currency("currency", &code)),
            online_booking: body.online_booking,
            min_notice_minutes,
            needs_room: body.needs_room,
        };
        fields.finish()?;
        Ok(kind)
    }
}

impl poem_openapi::types::Example for NewAppointmentTypeBody {
    fn example() -> Self {
        Self {
            name: "First consultation".into(),
            duration_minutes: 45,
            buffer_before_minutes: Some(0),
            buffer_after_minutes: Some(15),
            price_minor: Some(12_000),
            currency: Some("CHF".into()),
            online_booking: Some(true),
            min_notice_minutes: Some(120),
            needs_room: Some(false),
        }
    }
}

impl poem_openapi::types::Example for AppointmentTypePatchBody {
    fn example() -> Self {
        Self {
            name: None,
            duration_minutes: Some(60),
            buffer_before_minutes: None,
            buffer_after_minutes: None,
            price_minor: Some(15_000),
            currency: None,
            online_booking: None,
            min_notice_minutes: None,
            needs_room: None,
        }
    }
}
