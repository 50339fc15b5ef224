//! `/rooms`: a location's treatment rooms. An appointment of a type that needs a room
//! holds one (named, or the first free one at its location), and two appointments
//! never hold one room at overlapping times (V42). Owners and admins keep them.

mod api;
mod store;

pub use api::RoomsApi;

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use uuid::Uuid;

use crate::platform::{error::ApiError, validation::Fields};

/// A room of a location.
#[derive(Debug, Clone, Object)]
pub struct Room {
    /// The room's id.
    pub id: Uuid,
    /// Where it is.
    pub location_id: Uuid,
    /// Its name (`Room 2`, `Physio gym`).
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

/// A new room. Unknown fields are ignored.
#[derive(Debug, Object)]
#[oai(example)]
pub struct NewRoomBody {
    /// A location of the same tenant.
    pub location_id: Uuid,
    /// 1 to 200 characters.
    #[oai(validator(max_length = 200))]
    pub name: String,
}

/// Changes to a room: its name.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct RoomPatchBody {
    /// 1 to 200 characters.
    #[oai(validator(max_length = 200))]
    pub name: Option<String>,
}

/// A page of rooms.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RoomPage {
    /// The rooms of this page, oldest first.
    pub items: Vec<Room>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A validated room; in a change, `None` keeps the name.
pub struct RoomFields {
    pub location_id: Option<Uuid>,
    pub name: Option<String>,
}

impl TryFrom<NewRoomBody> for RoomFields {
    type Error = ApiError;

    fn try_from(body: NewRoomBody) -> Result<Self, ApiError> {
        let patch = RoomFields::try_from(RoomPatchBody {
            name: Some(body.name),
        })?;
        Ok(Self {
            location_id: Some(body.location_id),
            ..patch
        })
    }
}

impl TryFrom<RoomPatchBody> for RoomFields {
    type Error = ApiError;

    fn try_from(body: RoomPatchBody) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let room = Self {
            location_id: None,
            name: body.name.map(|name| fields.text("name", &name, 1, 200)),
        };
        fields.finish()?;
        Ok(room)
    }
}

impl poem_openapi::types::Example for NewRoomBody {
    fn example() -> Self {
        Self {
            location_id: Uuid::from_u128(0x0190_a8a4_6e2e_7000_8000_0000_0000_0010),
            name: "Room 2".into(),
        }
    }
}

impl poem_openapi::types::Example for RoomPatchBody {
    fn example() -> Self {
        Self {
            name: Some("Physio gym".into()),
        }
    }
}
