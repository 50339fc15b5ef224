//! `/pipelines`: the tenant's pipelines, their stages and allowed moves, and each
//! pipeline's summary.

use poem_openapi::{ApiResponse, OpenApi, Tags, param::Path, payload::Json};
use uuid::Uuid;

use super::{
    NewPipeline, NewPipelineBody, NewStageBody, Pipeline, PipelineList, PipelinePatch,
    PipelinePatchBody, PipelineSummary, Stage, StageFields, StagePatch, StagePatchBody, store,
};
use crate::modules::crm::MODULE;
use crate::platform::{auth::Auth, contract::Body, error::problems, state::SharedState};

#[derive(Tags)]
pub(super) enum PipelineTags {
    /// Pipelines of deals, their stages and moves, and the reasons deals are lost.
    Pipelines,
}

#[derive(ApiResponse)]
enum PipelineResponse {
    #[oai(status = 200)]
    Ok(Json<Pipeline>),
}

#[derive(ApiResponse)]
enum PipelineCreated {
    #[oai(status = 201)]
    Created(Json<Pipeline>),
}

#[derive(ApiResponse)]
enum PipelineListResponse {
    #[oai(status = 200)]
    Ok(Json<PipelineList>),
}

#[derive(ApiResponse)]
enum StageResponse {
    #[oai(status = 200)]
    Ok(Json<Stage>),
}

#[derive(ApiResponse)]
enum StageCreated {
    #[oai(status = 201)]
    Created(Json<Stage>),
}

#[derive(ApiResponse)]
enum PipelineSummaryResponse {
    #[oai(status = 200)]
    Ok(Json<PipelineSummary>),
}

#[derive(ApiResponse)]
enum PipelineDone {
    /// Deleted.
    #[oai(status = 204)]
    Deleted,
}

pub struct PipelinesApi {
    state: SharedState,
}

impl PipelinesApi {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

#[OpenApi(prefix_path = "/pipelines", tag = "PipelineTags::Pipelines")]
impl PipelinesApi {
    /// List pipelines
    ///
    /// Every pipeline of the tenant (at most 50), the default first, each with its
    /// stages and allowed moves.
    #[oai(path = "/", method = "get", operation_id = "listPipelines")]
    async fn list(&self, auth: Auth) -> Result<PipelineListResponse, problems::ReadMany> {
        let items = store::list(self.state.db.tx(auth.context(), &MODULE).await?).await?;
        Ok(PipelineListResponse::Ok(Json(PipelineList { items })))
    }

    /// Create a pipeline
    ///
    /// Owners and admins. Its stages in order; `moves: listed` with `allowed_moves`
    /// restricts which stage may follow which.
    #[oai(path = "/", method = "post", operation_id = "createPipeline")]
    async fn create(
        &self,
        auth: Auth,
        body: Body<NewPipelineBody>,
    ) -> Result<PipelineCreated, problems::Write> {
        let context = auth.manager()?;
        let new = NewPipeline::try_from(body.into_inner()?)?;
        let tx = self.state.db.tx(context, &MODULE).await?;
        Ok(PipelineCreated::Created(Json(
            store::insert(tx, &new).await?,
        )))
    }

    /// Get a pipeline
    #[oai(path = "/:id", method = "get", operation_id = "getPipeline")]
    async fn get(
        &self,
        auth: Auth,
        /// The pipeline's id.
        id: Path<Uuid>,
    ) -> Result<PipelineResponse, problems::ReadOne> {
        let tx = self.state.db.tx(auth.context(), &MODULE).await?;
        Ok(PipelineResponse::Ok(Json(store::get(tx, id.0).await?)))
    }

    /// Update a pipeline
    ///
    /// Owners and admins: rename it, make it the default, change its moves rule, or
    /// replace its allowed moves.
    #[oai(path = "/:id", method = "patch", operation_id = "updatePipeline")]
    async fn update(
        &self,
        auth: Auth,
        /// The pipeline's id.
        id: Path<Uuid>,
        body: Body<PipelinePatchBody>,
    ) -> Result<PipelineResponse, problems::Write> {
        let context = auth.manager()?;
        let patch = PipelinePatch::try_from(body.into_inner()?)?;
        let tx = self.state.db.tx(context, &MODULE).await?;
        Ok(PipelineResponse::Ok(Json(
            store::update(tx, id.0, &patch).await?,
        )))
    }

    /// Delete a pipeline
    ///
    /// Owners and admins. Refused (409) for the default pipeline and while any of its
    /// stages holds deals.
    #[oai(path = "/:id", method = "delete", operation_id = "deletePipeline")]
    async fn delete(
        &self,
        auth: Auth,
        /// The pipeline's id.
        id: Path<Uuid>,
    ) -> Result<PipelineDone, problems::RemoveInUse> {
        let context = auth.manager()?;
        store::delete(self.state.db.tx(context, &MODULE).await?, id.0).await?;
        Ok(PipelineDone::Deleted)
    }

    /// Summarise a pipeline
    ///
    /// Every stage in order with its number of deals, how many are rotting, and their
    /// total and weighted amounts per currency, in one statement.
    #[oai(
        path = "/:id/summary",
        method = "get",
        operation_id = "getPipelineSummary"
    )]
    async fn summary(
        &self,
        auth: Auth,
        /// The pipeline's id.
        id: Path<Uuid>,
    ) -> Result<PipelineSummaryResponse, problems::ReadOne> {
        let tx = self.state.db.tx(auth.context(), &MODULE).await?;
        let (pipeline_id, stages) = store::summary(tx, Some(id.0)).await?;
        Ok(PipelineSummaryResponse::Ok(Json(PipelineSummary {
            pipeline_id,
            stages,
        })))
    }

    /// Add a stage
    ///
    /// Owners and admins; at most 50 stages per pipeline.
    #[oai(
        path = "/:id/stages",
        method = "post",
        operation_id = "createPipelineStage"
    )]
    async fn add_stage(
        &self,
        auth: Auth,
        /// The pipeline's id.
        id: Path<Uuid>,
        body: Body<NewStageBody>,
    ) -> Result<StageCreated, problems::Write> {
        let context = auth.manager()?;
        let new = StageFields::try_from(body.into_inner()?)?;
        let tx = self.state.db.tx(context, &MODULE).await?;
        Ok(StageCreated::Created(Json(
            store::add_stage(tx, id.0, &new).await?,
        )))
    }

    /// Update a stage
    ///
    /// Owners and admins. Its key never changes; its kind only while it holds no deals.
    #[oai(
        path = "/:id/stages/:key",
        method = "patch",
        operation_id = "updatePipelineStage"
    )]
    async fn update_stage(
        &self,
        auth: Auth,
        /// The pipeline's id.
        id: Path<Uuid>,
        /// The stage's key.
        #[oai(validator(pattern = r"^[A-Z][A-Z0-9_]{0,39}$"))]
        key: Path<String>,
        body: Body<StagePatchBody>,
    ) -> Result<StageResponse, problems::Write> {
        let context = auth.manager()?;
        let patch = StagePatch::try_from(body.into_inner()?)?;
        let tx = self.state.db.tx(context, &MODULE).await?;
        Ok(StageResponse::Ok(Json(
            store::update_stage(tx, id.0, &key.0, &patch).await?,
        )))
    }

    /// Delete a stage
    ///
    /// Owners and admins. Refused (409) while it holds deals, and for the last stage.
    #[oai(
        path = "/:id/stages/:key",
        method = "delete",
        operation_id = "deletePipelineStage"
    )]
    async fn delete_stage(
        &self,
        auth: Auth,
        /// The pipeline's id.
        id: Path<Uuid>,
        /// The stage's key.
        #[oai(validator(pattern = r"^[A-Z][A-Z0-9_]{0,39}$"))]
        key: Path<String>,
    ) -> Result<PipelineDone, problems::ActOnce> {
        let context = auth.manager()?;
        store::delete_stage(self.state.db.tx(context, &MODULE).await?, id.0, &key.0).await?;
        Ok(PipelineDone::Deleted)
    }
}
