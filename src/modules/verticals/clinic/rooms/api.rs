//! `/rooms`.

use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{NewRoomBody, Room, RoomFields, RoomPage, RoomPatchBody, store};
use crate::modules::verticals::clinic::{ClinicTags, SETTING_UP, begin};
use crate::platform::{auth::Auth, contract::Body, error::problems, state::SharedState};

#[derive(ApiResponse)]
enum RoomResponse {
    #[oai(status = 200)]
    Ok(Json<Room>),
}

#[derive(ApiResponse)]
enum RoomCreated {
    #[oai(status = 201)]
    Created(Json<Room>),
}

#[derive(ApiResponse)]
enum RoomListResponse {
    #[oai(status = 200)]
    Ok(Json<RoomPage>),
}

#[derive(ApiResponse)]
enum RoomDeleted {
    /// Deleted.
    #[oai(status = 204)]
    Deleted,
}

pub struct RoomsApi {
    state: SharedState,
}

impl RoomsApi {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

#[OpenApi(prefix_path = "/rooms", tag = "ClinicTags::Clinic")]
impl RoomsApi {
    /// List rooms
    ///
    /// Oldest first; keyset-paginated with `cursor`.
    #[oai(path = "/", method = "get", operation_id = "listRooms")]
    async fn list(
        &self,
        auth: Auth,
        /// Only the rooms of this location.
        location_id: Query<Option<Uuid>>,
        /// Page size, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(min_length = 1, max_length = 2000, pattern = r"^[A-Za-z0-9_-]+$"))]
        cursor: Query<Option<String>>,
    ) -> Result<RoomListResponse, problems::ReadMany> {
        let query = store::list_query(location_id.0, cursor.0, limit.0);
        let (tx, query) = begin(&self.state, auth.context(), query).await?;
        let (items, next_cursor) = store::list(tx, query).await?;
        Ok(RoomListResponse::Ok(Json(RoomPage { items, next_cursor })))
    }

    /// Create a room
    ///
    /// Owners and admins only.
    #[oai(path = "/", method = "post", operation_id = "createRoom")]
    async fn create(
        &self,
        auth: Auth,
        body: Body<NewRoomBody>,
    ) -> Result<RoomCreated, problems::Write> {
        let input = auth
            .manager_or(SETTING_UP)
            .and(body.into_inner().and_then(RoomFields::try_from));
        let (tx, new) = begin(&self.state, auth.context(), input).await?;
        Ok(RoomCreated::Created(Json(store::insert(tx, &new).await?)))
    }

    /// Get a room
    #[oai(path = "/:id", method = "get", operation_id = "getRoom")]
    async fn get(
        &self,
        auth: Auth,
        /// The room's id.
        id: Path<Uuid>,
    ) -> Result<RoomResponse, problems::ReadOne> {
        let (tx, ()) = begin(&self.state, auth.context(), Ok(())).await?;
        Ok(RoomResponse::Ok(Json(store::get(tx, id.0).await?)))
    }

    /// Update a room
    ///
    /// Owners and admins only.
    #[oai(path = "/:id", method = "patch", operation_id = "updateRoom")]
    async fn update(
        &self,
        auth: Auth,
        /// The room's id.
        id: Path<Uuid>,
        body: Body<RoomPatchBody>,
    ) -> Result<RoomResponse, problems::Write> {
        let input = auth
            .manager_or(SETTING_UP)
            .and(body.into_inner().and_then(RoomFields::try_from));
        let (tx, patch) = begin(&self.state, auth.context(), input).await?;
        Ok(RoomResponse::Ok(Json(
            store::update(tx, id.0, &patch).await?,
        )))
    }

    /// Delete a room
    ///
    /// Owners and admins only. Refused with 409 while appointments hold it.
    #[oai(path = "/:id", method = "delete", operation_id = "deleteRoom")]
    async fn delete(
        &self,
        auth: Auth,
        /// The room's id.
        id: Path<Uuid>,
    ) -> Result<RoomDeleted, problems::RemoveInUse> {
        let (tx, _) = begin(&self.state, auth.context(), auth.manager_or(SETTING_UP)).await?;
        store::delete(tx, id.0).await?;
        Ok(RoomDeleted::Deleted)
    }
}
