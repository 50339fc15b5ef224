//! `/appointment-types`.

use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{
    AppointmentType, AppointmentTypeFields, AppointmentTypePage, AppointmentTypePatchBody,
    NewAppointmentTypeBody, store,
};
use crate::modules::verticals::clinic::{ClinicTags, SETTING_UP, begin};
use crate::platform::{auth::Auth, contract::Body, error::problems, state::SharedState};

#[derive(ApiResponse)]
enum AppointmentTypeResponse {
    #[oai(status = 200)]
    Ok(Json<AppointmentType>),
}

#[derive(ApiResponse)]
enum AppointmentTypeCreated {
    #[oai(status = 201)]
    Created(Json<AppointmentType>),
}

#[derive(ApiResponse)]
enum AppointmentTypeListResponse {
    #[oai(status = 200)]
    Ok(Json<AppointmentTypePage>),
}

#[derive(ApiResponse)]
enum AppointmentTypeDeleted {
    /// Deleted.
    #[oai(status = 204)]
    Deleted,
}

pub struct AppointmentTypesApi {
    state: SharedState,
}

impl AppointmentTypesApi {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

#[OpenApi(prefix_path = "/appointment-types", tag = "ClinicTags::Clinic")]
impl AppointmentTypesApi {
    /// List appointment-types
    ///
    /// Oldest first; keyset-paginated with `cursor`.
    #[oai(path = "/", method = "get", operation_id = "listAppointmentTypes")]
    async fn list(
        &self,
        auth: Auth,
        /// Page size, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(min_length = 1, max_length = 2000, pattern = r"^[A-Za-z0-9_-]+$"))]
        cursor: Query<Option<String>>,
    ) -> Result<AppointmentTypeListResponse, problems::ReadMany> {
        let query = store::list_query(cursor.0, limit.0);
        let (tx, query) = begin(&self.state, auth.context(), query).await?;
        let (items, next_cursor) = store::list(tx, query).await?;
        Ok(AppointmentTypeListResponse::Ok(Json(AppointmentTypePage {
            items,
            next_cursor,
        })))
    }

    /// Create an appointment type
    ///
    /// Owners and admins only.
    #[oai(path = "/", method = "post", operation_id = "createAppointmentType")]
    async fn create(
        &self,
        auth: Auth,
        body: Body<NewAppointmentTypeBody>,
    ) -> Result<AppointmentTypeCreated, problems::Write> {
        let input = auth
            .manager_or(SETTING_UP)
            .and(body.into_inner().and_then(AppointmentTypeFields::try_from));
        let (tx, new) = begin(&self.state, auth.context(), input).await?;
        Ok(AppointmentTypeCreated::Created(Json(
            store::insert(tx, &new).await?,
        )))
    }

    /// Get an appointment type
    #[oai(path = "/:id", method = "get", operation_id = "getAppointmentType")]
    async fn get(
        &self,
        auth: Auth,
        /// The type's id.
        id: Path<Uuid>,
    ) -> Result<AppointmentTypeResponse, problems::ReadOne> {
        let (tx, ()) = begin(&self.state, auth.context(), Ok(())).await?;
        Ok(AppointmentTypeResponse::Ok(Json(
            store::get(tx, id.0).await?,
        )))
    }

    /// Update an appointment type
    ///
    /// Owners and admins only.
    #[oai(
        path = "/:id",
        method = "patch",
        operation_id = "updateAppointmentType"
    )]
    async fn update(
        &self,
        auth: Auth,
        /// The type's id.
        id: Path<Uuid>,
        body: Body<AppointmentTypePatchBody>,
    ) -> Result<AppointmentTypeResponse, problems::Write> {
        let input = auth
            .manager_or(SETTING_UP)
            .and(body.into_inner().and_then(AppointmentTypeFields::try_from));
        let (tx, patch) = begin(&self.state, auth.context(), input).await?;
        Ok(AppointmentTypeResponse::Ok(Json(
            store::update(tx, id.0, &patch).await?,
        )))
    }

    /// Delete an appointment type
    ///
    /// Owners and admins only. Refused with 409 while appointments of the type exist.
    #[oai(
        path = "/:id",
        method = "delete",
        operation_id = "deleteAppointmentType"
    )]
    async fn delete(
        &self,
        auth: Auth,
        /// The type's id.
        id: Path<Uuid>,
    ) -> Result<AppointmentTypeDeleted, problems::RemoveInUse> {
        let (tx, _) = begin(&self.state, auth.context(), auth.manager_or(SETTING_UP)).await?;
        store::delete(tx, id.0).await?;
        Ok(AppointmentTypeDeleted::Deleted)
    }
}
