//! `/lost-reasons`: the tenant's list of reasons a deal is lost. Once the list has a
//! reason, a deal entering a lost stage must name one (`lost_reason_id`); deleting a
//! reason takes it off the deals that gave it. At most 100 reasons, read in one page.

use chrono::{DateTime, Utc};
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json, types::Example};
use tokio_postgres::Row;
use uuid::Uuid;

use super::api::PipelineTags;
use crate::modules::crm::MODULE;
use crate::platform::{
    auth::Auth,
    contract::Body,
    db::{DbError, TenantTx},
    error::{ApiError, problems},
    module::Meaning,
    state::SharedState,
    validation::Fields,
};

/// How many lost reasons a tenant may have.
const MAX_REASONS: i64 = 100;

/// A reason a deal is lost.
#[derive(Debug, Clone, Object)]
pub struct LostReason {
    /// The reason's id.
    pub id: Uuid,
    /// Its name, unique among the tenant's reasons.
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A lost reason's name.
#[derive(Debug, Object)]
#[oai(example)]
pub struct LostReasonBody {
    /// 1 to 100 characters, unique among the tenant's reasons.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: String,
}

impl Example for LostReasonBody {
    fn example() -> Self {
        Self {
            name: "Chose a competitor".into(),
        }
    }
}

/// The tenant's lost reasons.
#[derive(Debug, Object)]
pub struct LostReasonList {
    /// Every reason, by name.
    pub items: Vec<LostReason>,
}

#[derive(ApiResponse)]
enum LostReasonResponse {
    #[oai(status = 200)]
    Ok(Json<LostReason>),
}

#[derive(ApiResponse)]
enum LostReasonCreated {
    #[oai(status = 201)]
    Created(Json<LostReason>),
}

#[derive(ApiResponse)]
enum LostReasonListResponse {
    #[oai(status = 200)]
    Ok(Json<LostReasonList>),
}

#[derive(ApiResponse)]
enum LostReasonDeleted {
    /// Deleted; the deals that gave it keep no reason.
    #[oai(status = 204)]
    Deleted,
}

pub struct LostReasonsApi {
    state: SharedState,
}

impl LostReasonsApi {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

fn checked_name(body: LostReasonBody) -> Result<String, ApiError> {
    let mut fields = Fields::new();
    let name = fields.text("name", &body.name, 1, 100);
    fields.finish()?;
    Ok(name)
}

#[OpenApi(prefix_path = "/lost-reasons", tag = "PipelineTags::Pipelines")]
impl LostReasonsApi {
    /// List lost reasons
    #[oai(path = "/", method = "get", operation_id = "listLostReasons")]
    async fn list(&self, auth: Auth) -> Result<LostReasonListResponse, problems::ReadMany> {
        let items = list(self.state.db.tx(auth.context(), &MODULE).await?).await?;
        Ok(LostReasonListResponse::Ok(Json(LostReasonList { items })))
    }

    /// Create a lost reason
    ///
    /// Owners and admins. From now on a deal entering a lost stage names a reason.
    #[oai(path = "/", method = "post", operation_id = "createLostReason")]
    async fn create(
        &self,
        auth: Auth,
        body: Body<LostReasonBody>,
    ) -> Result<LostReasonCreated, problems::Write> {
        let context = auth.manager()?;
        let name = checked_name(body.into_inner()?)?;
        let tx = self.state.db.tx(context, &MODULE).await?;
        Ok(LostReasonCreated::Created(Json(insert(tx, &name).await?)))
    }

    /// Get a lost reason
    #[oai(path = "/:id", method = "get", operation_id = "getLostReason")]
    async fn get(
        &self,
        auth: Auth,
        /// The reason's id.
        id: Path<Uuid>,
    ) -> Result<LostReasonResponse, problems::ReadOne> {
        let tx = self.state.db.tx(auth.context(), &MODULE).await?;
        Ok(LostReasonResponse::Ok(Json(get(tx, id.0).await?)))
    }

    /// Rename a lost reason
    ///
    /// Owners and admins; the deals that gave it show the new name.
    #[oai(path = "/:id", method = "patch", operation_id = "updateLostReason")]
    async fn update(
        &self,
        auth: Auth,
        /// The reason's id.
        id: Path<Uuid>,
        body: Body<LostReasonBody>,
    ) -> Result<LostReasonResponse, problems::Write> {
        let context = auth.manager()?;
        let name = checked_name(body.into_inner()?)?;
        let tx = self.state.db.tx(context, &MODULE).await?;
        Ok(LostReasonResponse::Ok(Json(rename(tx, id.0, &name).await?)))
    }

    /// Delete a lost reason
    ///
    /// Owners and admins; the deals that gave it keep no reason.
    #[oai(path = "/:id", method = "delete", operation_id = "deleteLostReason")]
    async fn delete(
        &self,
        auth: Auth,
        /// The reason's id.
        id: Path<Uuid>,
    ) -> Result<LostReasonDeleted, problems::Remove> {
        let context = auth.manager()?;
        delete(self.state.db.tx(context, &MODULE).await?, id.0).await?;
        Ok(LostReasonDeleted::Deleted)
    }
}

fn lost_reason(row: &Row) -> LostReason {
    LostReason {
        id: row.get("id"),
        name: row.get("name"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

async fn list(tx: TenantTx) -> Result<Vec<LostReason>, DbError> {
    let rows = tx
        .query_and_commit(
            "SELECT id, name, created_at, updated_at FROM lost_reasons ORDER BY name",
            &[],
        )
        .await?;
    Ok(rows.iter().map(lost_reason).collect())
}

async fn insert(tx: TenantTx, name: &str) -> Result<LostReason, DbError> {
    let row = tx
        .query_opt_and_commit(
            "INSERT INTO lost_reasons (id, name) \
             SELECT $1, $2 WHERE (SELECT count(*) FROM lost_reasons) < $3 \
             RETURNING id, name, created_at, updated_at",
            &[&Uuid::now_v7(), &name, &MAX_REASONS],
        )
        .await?;
    row.as_ref()
        .map(lost_reason)
        .ok_or(DbError::Constraint(Meaning::Conflict(
            "A tenant has at most 100 lost reasons.",
        )))
}

async fn get(tx: TenantTx, id: Uuid) -> Result<LostReason, DbError> {
    let row = tx
        .query_opt_and_commit(
            "SELECT id, name, created_at, updated_at FROM lost_reasons WHERE id = $1",
            &[&id],
        )
        .await?;
    row.as_ref().map(lost_reason).ok_or(DbError::NotFound)
}

async fn rename(tx: TenantTx, id: Uuid, name: &str) -> Result<LostReason, DbError> {
    let row = tx
        .query_opt_and_commit(
            "UPDATE lost_reasons SET name = $2 WHERE id = $1 \
             RETURNING id, name, created_at, updated_at",
            &[&id, &name],
        )
        .await?;
    row.as_ref().map(lost_reason).ok_or(DbError::NotFound)
}

async fn delete(tx: TenantTx, id: Uuid) -> Result<(), DbError> {
    tx.affect_one_and_commit(
        "DELETE FROM lost_reasons WHERE id = $1 RETURNING id",
        &[&id],
    )
    .await
}
