//! `/practitioners` and their time off.

use chrono::{DateTime, Utc};
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{
    NewPractitioner, NewPractitionerBody, NewTimeOff, NewTimeOffBody, Practitioner,
    PractitionerFields, PractitionerPage, PractitionerPatchBody, TimeOff, TimeOffList, store,
};
use crate::modules::verticals::clinic::{ClinicTags, SETTING_UP, begin};
use crate::platform::{auth::Auth, contract::Body, error::problems, state::SharedState};

#[derive(ApiResponse)]
enum PractitionerResponse {
    #[oai(status = 200)]
    Ok(Json<Practitioner>),
}

#[derive(ApiResponse)]
enum PractitionerCreated {
    #[oai(status = 201)]
    Created(Json<Practitioner>),
}

#[derive(ApiResponse)]
enum PractitionerListResponse {
    #[oai(status = 200)]
    Ok(Json<PractitionerPage>),
}

#[derive(ApiResponse)]
enum PractitionerDeleted {
    /// Deleted, with its hours and time off; the member stays.
    #[oai(status = 204)]
    Deleted,
}

#[derive(ApiResponse)]
enum TimeOffCreated {
    #[oai(status = 201)]
    Created(Json<TimeOff>),
}

#[derive(ApiResponse)]
enum TimeOffListResponse {
    #[oai(status = 200)]
    Ok(Json<TimeOffList>),
}

#[derive(ApiResponse)]
enum TimeOffDeleted {
    /// Deleted; the time is bookable again.
    #[oai(status = 204)]
    Deleted,
}

pub struct PractitionersApi {
    state: SharedState,
}

impl PractitionersApi {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

#[OpenApi(prefix_path = "/practitioners", tag = "ClinicTags::Clinic")]
impl PractitionersApi {
    /// List practitioners
    ///
    /// Oldest profile first, each with its weekly hours; keyset-paginated with `cursor`.
    #[oai(path = "/", method = "get", operation_id = "listPractitioners")]
    async fn list(
        &self,
        auth: Auth,
        /// Page size, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(min_length = 1, max_length = 2000, pattern = r"^[A-Za-z0-9_-]+$"))]
        cursor: Query<Option<String>>,
    ) -> Result<PractitionerListResponse, problems::ReadMany> {
        let query = store::list_query(cursor.0, limit.0);
        let (tx, query) = begin(&self.state, auth.context(), query).await?;
        let (items, next_cursor) = store::list(tx, query).await?;
        Ok(PractitionerListResponse::Ok(Json(PractitionerPage {
            items,
            next_cursor,
        })))
    }

    /// Make a member a practitioner
    ///
    /// Owners and admins only. The practitioner's id is the member's user id; a
    /// member is one practitioner at most (409).
    #[oai(path = "/", method = "post", operation_id = "createPractitioner")]
    async fn create(
        &self,
        auth: Auth,
        body: Body<NewPractitionerBody>,
    ) -> Result<PractitionerCreated, problems::Write> {
        let input = auth
            .manager_or(SETTING_UP)
            .and(body.into_inner().and_then(NewPractitioner::try_from));
        let (tx, new) = begin(&self.state, auth.context(), input).await?;
        Ok(PractitionerCreated::Created(Json(
            store::insert(tx, &new).await?,
        )))
    }

    /// Get a practitioner
    #[oai(path = "/:id", method = "get", operation_id = "getPractitioner")]
    async fn get(
        &self,
        auth: Auth,
        /// The practitioner's id (the member's user id).
        id: Path<Uuid>,
    ) -> Result<PractitionerResponse, problems::ReadOne> {
        let (tx, ()) = begin(&self.state, auth.context(), Ok(())).await?;
        Ok(PractitionerResponse::Ok(Json(store::get(tx, id.0).await?)))
    }

    /// Update a practitioner
    ///
    /// Owners and admins only. `hours` replaces the whole week.
    #[oai(path = "/:id", method = "patch", operation_id = "updatePractitioner")]
    async fn update(
        &self,
        auth: Auth,
        /// The practitioner's id.
        id: Path<Uuid>,
        body: Body<PractitionerPatchBody>,
    ) -> Result<PractitionerResponse, problems::Write> {
        let input = auth
            .manager_or(SETTING_UP)
            .and(body.into_inner().and_then(PractitionerFields::try_from));
        let (tx, patch) = begin(&self.state, auth.context(), input).await?;
        Ok(PractitionerResponse::Ok(Json(
            store::update(tx, id.0, &patch).await?,
        )))
    }

    /// Delete a practitioner
    ///
    /// Owners and admins only; the member stays a member. Refused with 409 while the
    /// practitioner has appointments.
    #[oai(path = "/:id", method = "delete", operation_id = "deletePractitioner")]
    async fn delete(
        &self,
        auth: Auth,
        /// The practitioner's id.
        id: Path<Uuid>,
    ) -> Result<PractitionerDeleted, problems::RemoveInUse> {
        let (tx, _) = begin(&self.state, auth.context(), auth.manager_or(SETTING_UP)).await?;
        store::delete(tx, id.0).await?;
        Ok(PractitionerDeleted::Deleted)
    }

    /// List a practitioner's time off
    ///
    /// The time off that ends after `from` (default: now), earliest first, at most 500.
    #[oai(path = "/:id/time-off", method = "get", operation_id = "listTimeOff")]
    async fn list_time_off(
        &self,
        auth: Auth,
        /// The practitioner's id.
        id: Path<Uuid>,
        /// Only time off that ends after this instant; default now.
        from: Query<Option<DateTime<Utc>>>,
    ) -> Result<TimeOffListResponse, problems::ReadMany> {
        let (tx, ()) = begin(&self.state, auth.context(), Ok(())).await?;
        let from = from.0.unwrap_or_else(Utc::now);
        Ok(TimeOffListResponse::Ok(Json(TimeOffList {
            items: store::list_time_off(tx, id.0, from).await?,
        })))
    }

    /// Record time off
    ///
    /// Nothing can be booked in it afterwards; appointments already booked in it stay
    /// (move or cancel them).
    #[oai(
        path = "/:id/time-off",
        method = "post",
        operation_id = "createTimeOff"
    )]
    async fn create_time_off(
        &self,
        auth: Auth,
        /// The practitioner's id.
        id: Path<Uuid>,
        body: Body<NewTimeOffBody>,
    ) -> Result<TimeOffCreated, problems::Write> {
        let input = auth
            .writer()
            .and(body.into_inner().and_then(NewTimeOff::try_from));
        let (tx, new) = begin(&self.state, auth.context(), input).await?;
        Ok(TimeOffCreated::Created(Json(
            store::insert_time_off(tx, id.0, &new).await?,
        )))
    }

    /// Delete time off
    #[oai(
        path = "/:id/time-off/:time_off_id",
        method = "delete",
        operation_id = "deleteTimeOff"
    )]
    async fn delete_time_off(
        &self,
        auth: Auth,
        /// The practitioner's id.
        id: Path<Uuid>,
        /// The time off's id.
        time_off_id: Path<Uuid>,
    ) -> Result<TimeOffDeleted, problems::Remove> {
        let (tx, _) = begin(&self.state, auth.context(), auth.writer()).await?;
        store::delete_time_off(tx, id.0, time_off_id.0).await?;
        Ok(TimeOffDeleted::Deleted)
    }
}
