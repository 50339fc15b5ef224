//! `/locations`: where appointments take place, each in its own time zone (working
//! hours are local times there). Owners and admins keep them; every member reads.

mod api;
mod store;

pub use api::LocationsApi;

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use uuid::Uuid;

use crate::platform::{error::ApiError, validation::Fields};

/// A place of the clinic.
#[derive(Debug, Clone, Object)]
pub struct Location {
    /// The location's id.
    pub id: Uuid,
    /// Its name, such as the street or the building.
    pub name: String,
    /// The IANA time zone its working hours are written in (`Europe/Zurich`).
    pub time_zone: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

/// A new location. Unknown fields are ignored.
#[derive(Debug, Object)]
#[oai(example)]
pub struct NewLocationBody {
    /// 1 to 200 characters.
    #[oai(validator(max_length = 200))]
    pub name: String,
    /// An IANA time zone such as `Europe/Zurich`.
    #[oai(validator(max_length = 64))]
    pub time_zone: String,
}

/// Changes to a location: absent fields stay as they are. A new time zone moves the
/// instants of its working hours, not booked appointments.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct LocationPatchBody {
    /// 1 to 200 characters.
    #[oai(validator(max_length = 200))]
    pub name: Option<String>,
    /// An IANA time zone such as `Europe/Zurich`.
    #[oai(validator(max_length = 64))]
    pub time_zone: Option<String>,
}

/// A page of locations.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LocationPage {
    /// The locations of this page, oldest first.
    pub items: Vec<Location>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A validated location; in a change, `None` keeps a field.
pub struct LocationFields {
    pub name: Option<String>,
    pub time_zone: Option<String>,
}

impl TryFrom<NewLocationBody> for LocationFields {
    type Error = ApiError;

    fn try_from(body: NewLocationBody) -> Result<Self, ApiError> {
        LocationPatchBody {
            name: Some(body.name),
            time_zone: Some(body.time_zone),
        }
        .try_into()
    }
}

impl TryFrom<LocationPatchBody> for LocationFields {
    type Error = ApiError;

    fn try_from(body: LocationPatchBody) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let location = Self {
            name: body.name.map(|name| fields.text("name", &name, 1, 200)),
            time_zone: body
                .time_zone
                .map(|zone| fields.time_zone("time_zone", &zone)),
        };
        fields.finish()?;
        Ok(location)
    }
}

impl poem_openapi::types::Example for NewLocationBody {
    fn example() -> Self {
        Self {
            name: "Bahnhofstrasse 12".into(),
            time_zone: "Europe/Zurich".into(),
        }
    }
}

impl poem_openapi::types::Example for LocationPatchBody {
    fn example() -> Self {
        Self {
            name: Some("Bahnhofstrasse 14".into()),
            time_zone: None,
        }
    }
}
