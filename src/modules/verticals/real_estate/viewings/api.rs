//! `/properties/{id}/viewings` and `/viewings`: booking, the agenda, outcomes and
//! feedback.

use chrono::{DateTime, SecondsFormat, Utc};
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{
    NewViewing, NewViewingBody, Viewing, ViewingFilter, ViewingPage, ViewingPatch,
    ViewingPatchBody,
    store::{self, Slot},
};
use crate::modules::verticals::real_estate::{RealEstateTags, ViewingStatus, begin};
use crate::platform::{
    auth::Auth,
    contract::Body,
    db::DbError,
    error::{ApiError, problems},
    module::Meaning,
    state::SharedState,
    tenancy::TenantContext,
};

#[derive(ApiResponse)]
enum ViewingResponse {
    #[oai(status = 200)]
    Ok(Json<Viewing>),
}

#[derive(ApiResponse)]
enum ViewingCreated {
    #[oai(status = 201)]
    Created(Json<Viewing>),
}

#[derive(ApiResponse)]
enum ViewingListResponse {
    #[oai(status = 200)]
    Ok(Json<ViewingPage>),
}

#[derive(ApiResponse)]
enum ViewingDeleted {
    /// Deleted; the slot is free again.
    #[oai(status = 204)]
    Deleted,
}

pub struct ViewingsApi {
    state: SharedState,
}

impl ViewingsApi {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }

    /// The 409 for a refused booking, naming the viewing that holds the slot. Looked
    /// up after the refusal (the database error text never reaches a client); if that
    /// viewing is gone by then, the answer says so without naming it.
    async fn double_booking(&self, context: TenantContext, slot: Slot) -> ApiError {
        let found = match begin(&self.state, context, Ok(())).await {
            Ok((tx, ())) => store::find_conflict(tx, &slot)
                .await
                .map_err(ApiError::from),
            Err(err) => Err(err),
        };
        match found {
            Ok(Some(conflict)) => ApiError::Conflict(format!(
                "The {} is already booked from {} to {} by viewing {}.",
                if conflict.same_property {
                    "property"
                } else {
                    "agent"
                },
                conflict
                    .scheduled_at
                    .to_rfc3339_opts(SecondsFormat::Secs, true),
                conflict.ends_at.to_rfc3339_opts(SecondsFormat::Secs, true),
                conflict.id
            )),
            Ok(None) => ApiError::Conflict(
                "The property or the agent was booked at that time; try again.".to_owned(),
            ),
            Err(err) => err,
        }
    }
}

#[OpenApi(tag = "RealEstateTags::RealEstate")]
impl ViewingsApi {
    /// List a property's viewings
    ///
    /// Earliest first; keyset-paginated with `cursor`.
    #[oai(
        path = "/properties/:id/viewings",
        method = "get",
        operation_id = "listPropertyViewings"
    )]
    async fn list_for_property(
        &self,
        auth: Auth,

        /// The property's id.
        id: Path<Uuid>,
        /// Only viewings in this status.
        status: Query<Option<ViewingStatus>>,
        /// Page size, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(min_length = 1, max_length = 2000, pattern = r"^[A-Za-z0-9_-]+$"))]
        cursor: Query<Option<String>>,
    ) -> Result<ViewingListResponse, problems::ReadMany> {
        let filter = ViewingFilter {
            property_id: Some(id.0),
            status: status.0,
            ..ViewingFilter::default()
        };
        let property_id = filter.property_id;
        let query = store::list_query(filter, cursor.0, limit.0);
        let (tx, query) = begin(&self.state, auth.context(), query).await?;
        let (items, next_cursor) = store::list(tx, property_id, query).await?;
        Ok(ViewingListResponse::Ok(Json(ViewingPage {
            items,
            next_cursor,
        })))
    }

    /// Book a viewing
    ///
    /// The property, the contact and the agent (default: the caller) must belong to
    /// the tenant. A viewing that overlaps another one, not cancelled, of the same
    /// property or the same agent is refused with 409 naming that viewing and its time.
    #[oai(
        path = "/properties/:id/viewings",
        method = "post",
        operation_id = "createViewing"
    )]
    async fn create(
        &self,
        auth: Auth,

        /// The property's id.
        id: Path<Uuid>,
        body: Body<NewViewingBody>,
    ) -> Result<ViewingCreated, problems::Write> {
        let input = auth.writer().and_then(|caller| {
            body.into_inner()
                .and_then(|body| NewViewing::parse(id.0, caller.user_id(), body))
        });
        let (tx, new) = begin(&self.state, auth.context(), input).await?;
        let viewing_id = Uuid::now_v7();
        match store::insert(tx, viewing_id, &new).await {
            Ok(viewing) => Ok(ViewingCreated::Created(Json(viewing))),
            Err(DbError::Constraint(Meaning::Conflict(_))) => {
                let slot = Slot {
                    viewing_id,
                    property_id: Some(new.property_id),
                    agent_id: Some(new.agent_id),
                    scheduled_at: Some(new.scheduled_at),
                    duration_minutes: Some(new.duration_minutes),
                };
                Err(self.double_booking(auth.context(), slot).await.into())
            }
            Err(err) => Err(err.into()),
        }
    }

    /// The agenda
    ///
    /// Viewings starting in `[from, to)`, earliest first, optionally for one agent,
    /// one contact or one status; keyset-paginated with `cursor`.
    #[oai(path = "/viewings", method = "get", operation_id = "listViewings")]
    #[allow(clippy::too_many_arguments)]
    async fn agenda(
        &self,
        auth: Auth,
        /// Only viewings starting at or after this instant.
        from: Query<Option<DateTime<Utc>>>,
        /// Only viewings starting before this instant.
        to: Query<Option<DateTime<Utc>>>,
        /// Only this agent's viewings.
        agent_id: Query<Option<Uuid>>,
        /// Only this contact's viewings.
        contact_id: Query<Option<Uuid>>,
        /// Only viewings in this status.
        status: Query<Option<ViewingStatus>>,
        /// Page size, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(min_length = 1, max_length = 2000, pattern = r"^[A-Za-z0-9_-]+$"))]
        cursor: Query<Option<String>>,
    ) -> Result<ViewingListResponse, problems::ReadMany> {
        let filter = ViewingFilter {
            property_id: None,
            from: from.0,
            to: to.0,
            agent_id: agent_id.0,
            contact_id: contact_id.0,
            status: status.0,
        };
        let property_id = filter.property_id;
        let query = store::list_query(filter, cursor.0, limit.0);
        let (tx, query) = begin(&self.state, auth.context(), query).await?;
        let (items, next_cursor) = store::list(tx, property_id, query).await?;
        Ok(ViewingListResponse::Ok(Json(ViewingPage {
            items,
            next_cursor,
        })))
    }

    /// Get a viewing
    #[oai(path = "/viewings/:id", method = "get", operation_id = "getViewing")]
    async fn get(
        &self,
        auth: Auth,
        /// The viewing's id.
        id: Path<Uuid>,
    ) -> Result<ViewingResponse, problems::ReadOne> {
        let (tx, ()) = begin(&self.state, auth.context(), Ok(())).await?;
        Ok(ViewingResponse::Ok(Json(store::get(tx, id.0).await?)))
    }

    /// Update a viewing
    ///
    /// Reschedule, reassign, cancel (`CANCELLED` frees the slot), record the outcome
    /// (`COMPLETED`, `NO_SHOW`: once it has started) and the feedback (with
    /// `COMPLETED`). A move onto a booked slot is refused with 409 like a booking.
    #[oai(
        path = "/viewings/:id",
        method = "patch",
        operation_id = "updateViewing"
    )]
    async fn update(
        &self,
        auth: Auth,

        /// The viewing's id.
        id: Path<Uuid>,
        body: Body<ViewingPatchBody>,
    ) -> Result<ViewingResponse, problems::Write> {
        let input = auth
            .writer()
            .and(body.into_inner().and_then(ViewingPatch::try_from));
        let (tx, patch) = begin(&self.state, auth.context(), input).await?;
        match store::update(tx, id.0, &patch).await {
            Ok(viewing) => Ok(ViewingResponse::Ok(Json(viewing))),
            Err(DbError::Constraint(Meaning::Conflict(_))) => {
                let slot = Slot {
                    viewing_id: id.0,
                    property_id: None,
                    agent_id: patch.agent_id,
                    scheduled_at: patch.scheduled_at,
                    duration_minutes: patch.duration_minutes,
                };
                Err(self.double_booking(auth.context(), slot).await.into())
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Delete a viewing
    ///
    /// To keep a record of it, set `status` to `CANCELLED` instead.
    #[oai(
        path = "/viewings/:id",
        method = "delete",
        operation_id = "deleteViewing"
    )]
    async fn delete(
        &self,
        auth: Auth,
        /// The viewing's id.
        id: Path<Uuid>,
    ) -> Result<ViewingDeleted, problems::Remove> {
        let (tx, _) = begin(&self.state, auth.context(), auth.writer()).await?;
        store::delete(tx, id.0).await?;
        Ok(ViewingDeleted::Deleted)
    }
}
