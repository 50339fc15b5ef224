//! `/deals`: CRUD, search, the pipeline summary and each deal's stage history.

use crate::platform::error::problems;
use chrono::{DateTime, Utc};
use poem_openapi::{
    ApiResponse, OpenApi, Tags,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{
    Deal, DealFilter, DealPage, DealPatch, DealPatchBody, DealSort, NewDeal, NewDealBody,
    stages::{DealHistory, DealSummary},
    store,
};
use crate::modules::crm::{MODULE, pipelines};
use crate::platform::{auth::Auth, contract::Body, state::SharedState};

#[derive(Tags)]
enum DealTags {
    /// Sales opportunities and the stage pipeline they move through.
    Deals,
}

#[derive(ApiResponse)]
enum DealResponse {
    #[oai(status = 200)]
    Ok(Json<Deal>),
}

#[derive(ApiResponse)]
enum DealCreated {
    #[oai(status = 201)]
    Created(Json<Deal>),
}

#[derive(ApiResponse)]
enum DealListResponse {
    #[oai(status = 200)]
    Ok(Json<DealPage>),
}

#[derive(ApiResponse)]
enum DealDeleted {
    /// Deleted, together with its stage history.
    #[oai(status = 204)]
    Deleted,
}

#[derive(ApiResponse)]
enum DealSummaryResponse {
    #[oai(status = 200)]
    Ok(Json<DealSummary>),
}

#[derive(ApiResponse)]
enum DealHistoryResponse {
    #[oai(status = 200)]
    Ok(Json<DealHistory>),
}

pub struct DealsApi {
    state: SharedState,
}

impl DealsApi {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

#[OpenApi(prefix_path = "/deals", tag = "DealTags::Deals")]
impl DealsApi {
    /// List deals
    ///
    /// Newest first by default; keyset-paginated with `cursor`.
    #[oai(path = "/", method = "get", operation_id = "listDeals")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: Auth,
        /// Text search in the title (case-insensitive substring).
        /// 1 to 100 characters, with at least one word of 3 or more letters or digits
        /// (what the trigram index can look up; `ab` or `%%` alone is a 422); `%`, `_`
        /// and `\` match literally.
        #[oai(validator(
            min_length = 1,
            max_length = 100,
            pattern = r"^[^\x00]*[^\s\x00][^\x00]*$"
        ))]
        q: Query<Option<String>>,
        /// Only deals in this pipeline.
        pipeline_id: Query<Option<Uuid>>,
        /// Only deals in a stage with this key (of any pipeline, unless `pipeline_id`).
        #[oai(validator(pattern = r"^[A-Z][A-Z0-9_]{0,39}$"))]
        stage: Query<Option<String>>,
        /// Only deals with this contact.
        contact_id: Query<Option<Uuid>>,
        /// Only deals with this company.
        company_id: Query<Option<Uuid>>,
        /// Only deals worth at least this many minor units (any currency).
        min_amount: Query<Option<i64>>,
        /// Only deals worth at most this many minor units (any currency).
        max_amount: Query<Option<i64>>,
        /// Only deals created at or after this instant.
        created_after: Query<Option<DateTime<Utc>>>,
        /// Only deals created before this instant.
        created_before: Query<Option<DateTime<Utc>>>,
        /// Only deals with this tag.
        tag_id: Query<Option<Uuid>>,
        /// Sort order.
        sort: Query<Option<DealSort>>,
        /// Page size, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(min_length = 1, max_length = 2000, pattern = r"^[A-Za-z0-9_-]+$"))]
        cursor: Query<Option<String>>,
    ) -> Result<DealListResponse, problems::ReadMany> {
        let filter = DealFilter {
            q: q.0,
            pipeline_id: pipeline_id.0,
            stage: stage.0,
            contact_id: contact_id.0,
            company_id: company_id.0,
            min_amount: min_amount.0,
            max_amount: max_amount.0,
            created_after: created_after.0,
            created_before: created_before.0,
            tag_id: tag_id.0,
        };
        let query = store::list_query(filter, sort.0.unwrap_or_default(), cursor.0, limit.0)?;
        let (items, next_cursor) = store::list(
            self.state
                .db
                .tx_for(auth.context(), &MODULE, query.searches())
                .await?,
            query,
        )
        .await?;
        Ok(DealListResponse::Ok(Json(DealPage { items, next_cursor })))
    }

    /// Create a deal
    ///
    /// Goes into the default pipeline unless a `pipeline_id` is given, and starts in its
    /// first stage (`NEW`) unless a `stage` is given; the creation opens the deal's history.
    #[oai(path = "/", method = "post", operation_id = "createDeal")]
    async fn create(
        &self,
        auth: Auth,
        body: Body<NewDealBody>,
    ) -> Result<DealCreated, problems::Write> {
        let context = auth.writer()?;
        let new = NewDeal::try_from(body.into_inner()?)?;
        Ok(DealCreated::Created(Json(
            store::insert(self.state.db.tx(context, &MODULE).await?, &new).await?,
        )))
    }

    /// Summarise the default pipeline
    ///
    /// Every stage of the default pipeline, in order, with its number of deals and their
    /// total amount per currency (`/pipelines/{id}/summary` tells more, of any pipeline).
    #[oai(path = "/summary", method = "get", operation_id = "getDealSummary")]
    async fn summary(&self, auth: Auth) -> Result<DealSummaryResponse, problems::ReadMany> {
        let tx = self.state.db.tx(auth.context(), &MODULE).await?;
        let (_, stages) = pipelines::summary(tx, None).await?;
        Ok(DealSummaryResponse::Ok(Json(DealSummary {
            stages: stages.into_iter().map(Into::into).collect(),
        })))
    }

    /// Get a deal
    #[oai(path = "/:id", method = "get", operation_id = "getDeal")]
    async fn get(
        &self,
        auth: Auth,
        /// The deal's id.
        id: Path<Uuid>,
    ) -> Result<DealResponse, problems::ReadOne> {
        Ok(DealResponse::Ok(Json(
            store::get(self.state.db.tx(auth.context(), &MODULE).await?, id.0).await?,
        )))
    }

    /// Update a deal
    ///
    /// Moving `stage` must follow the pipeline (422 on `stage` otherwise), and entering a
    /// lost stage needs a `lost_reason_id` once the tenant keeps a list; a new
    /// `pipeline_id` maps the stage. Moves are recorded in the deal's history as the
    /// calling user.
    #[oai(path = "/:id", method = "patch", operation_id = "updateDeal")]
    async fn update(
        &self,
        auth: Auth,

        /// The deal's id.
        id: Path<Uuid>,
        body: Body<DealPatchBody>,
    ) -> Result<DealResponse, problems::Write> {
        let context = auth.writer()?;
        let patch = DealPatch::try_from(body.into_inner()?)?;
        Ok(DealResponse::Ok(Json(
            store::update(self.state.db.tx(context, &MODULE).await?, id.0, &patch).await?,
        )))
    }

    /// Delete a deal
    #[oai(path = "/:id", method = "delete", operation_id = "deleteDeal")]
    async fn delete(
        &self,
        auth: Auth,
        /// The deal's id.
        id: Path<Uuid>,
    ) -> Result<DealDeleted, problems::Remove> {
        let context = auth.writer()?;
        store::delete(self.state.db.tx(context, &MODULE).await?, id.0).await?;
        Ok(DealDeleted::Deleted)
    }

    /// Get a deal's stage history
    ///
    /// Every stage change, oldest first, starting with the deal's creation.
    #[oai(path = "/:id/history", method = "get", operation_id = "getDealHistory")]
    async fn history(
        &self,
        auth: Auth,

        /// The deal's id.
        id: Path<Uuid>,
    ) -> Result<DealHistoryResponse, problems::ReadOne> {
        let items = store::history(self.state.db.tx(auth.context(), &MODULE).await?, id.0).await?;
        Ok(DealHistoryResponse::Ok(Json(DealHistory { items })))
    }
}
