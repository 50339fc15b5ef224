//! `/locations`.

use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{Location, LocationFields, LocationPage, LocationPatchBody, NewLocationBody, store};
use crate::modules::verticals::clinic::{ClinicTags, SETTING_UP, begin};
use crate::platform::{auth::Auth, contract::Body, error::problems, state::SharedState};

#[derive(ApiResponse)]
enum LocationResponse {
    #[oai(status = 200)]
    Ok(Json<Location>),
}

#[derive(ApiResponse)]
enum LocationCreated {
    #[oai(status = 201)]
    Created(Json<Location>),
}

#[derive(ApiResponse)]
enum LocationListResponse {
    #[oai(status = 200)]
    Ok(Json<LocationPage>),
}

#[derive(ApiResponse)]
enum LocationDeleted {
    /// Deleted, with the working hours there.
    #[oai(status = 204)]
    Deleted,
}

pub struct LocationsApi {
    state: SharedState,
}

impl LocationsApi {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

#[OpenApi(prefix_path = "/locations", tag = "ClinicTags::Clinic")]
impl LocationsApi {
    /// List locations
    ///
    /// Oldest first; keyset-paginated with `cursor`.
    #[oai(path = "/", method = "get", operation_id = "listLocations")]
    async fn list(
        &self,
        auth: Auth,
        /// Page size, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(min_length = 1, max_length = 2000, pattern = r"^[A-Za-z0-9_-]+$"))]
        cursor: Query<Option<String>>,
    ) -> Result<LocationListResponse, problems::ReadMany> {
        let query = store::list_query(cursor.0, limit.0);
        let (tx, query) = begin(&self.state, auth.context(), query).await?;
        let (items, next_cursor) = store::list(tx, query).await?;
        Ok(LocationListResponse::Ok(Json(LocationPage {
            items,
            next_cursor,
        })))
    }

    /// Create a location
    ///
    /// Owners and admins only.
    #[oai(path = "/", method = "post", operation_id = "createLocation")]
    async fn create(
        &self,
        auth: Auth,
        body: Body<NewLocationBody>,
    ) -> Result<LocationCreated, problems::Write> {
        let input = auth
            .manager_or(SETTING_UP)
            .and(body.into_inner().and_then(LocationFields::try_from));
        let (tx, new) = begin(&self.state, auth.context(), input).await?;
        Ok(LocationCreated::Created(Json(
            store::insert(tx, &new).await?,
        )))
    }

    /// Get a location
    #[oai(path = "/:id", method = "get", operation_id = "getLocation")]
    async fn get(
        &self,
        auth: Auth,
        /// The location's id.
        id: Path<Uuid>,
    ) -> Result<LocationResponse, problems::ReadOne> {
        let (tx, ()) = begin(&self.state, auth.context(), Ok(())).await?;
        Ok(LocationResponse::Ok(Json(store::get(tx, id.0).await?)))
    }

    /// Update a location
    ///
    /// Owners and admins only.
    #[oai(path = "/:id", method = "patch", operation_id = "updateLocation")]
    async fn update(
        &self,
        auth: Auth,
        /// The location's id.
        id: Path<Uuid>,
        body: Body<LocationPatchBody>,
    ) -> Result<LocationResponse, problems::Write> {
        let input = auth
            .manager_or(SETTING_UP)
            .and(body.into_inner().and_then(LocationFields::try_from));
        let (tx, patch) = begin(&self.state, auth.context(), input).await?;
        Ok(LocationResponse::Ok(Json(
            store::update(tx, id.0, &patch).await?,
        )))
    }

    /// Delete a location
    ///
    /// Owners and admins only; its working hours go with it. Refused with 409 while
    /// appointments are booked there.
    #[oai(path = "/:id", method = "delete", operation_id = "deleteLocation")]
    async fn delete(
        &self,
        auth: Auth,
        /// The location's id.
        id: Path<Uuid>,
    ) -> Result<LocationDeleted, problems::RemoveInUse> {
        let (tx, _) = begin(&self.state, auth.context(), auth.manager_or(SETTING_UP)).await?;
        store::delete(tx, id.0).await?;
        Ok(LocationDeleted::Deleted)
    }
}
