//! Deal storage. Plain SQL: tenant isolation is the policies' job, and the deal's
//! place in its pipeline and its history are the triggers' job.

use tokio_postgres::Row;
use uuid::Uuid;

use super::{Deal, DealFilter, DealPatch, DealSort, NewDeal, stages::DealStageChange};
use crate::platform::{
    db::{DbError, TenantTx},
    error::ApiError,
    list::{ListQuery, PageQuery},
};

/// The columns every deal query returns, in one place.
macro_rules! columns {
    () => {
        "id, title, contact_id, company_id, amount_minor, currency, pipeline_id, stage, \
         lost_reason_id, stage_entered_at, expected_close_date, description, created_at, \
         updated_at"
    };
}

fn deal(row: &Row) -> Deal {
    Deal {
        id: row.get("id"),
        title: row.get("title"),
        contact_id: row.get("contact_id"),
        company_id: row.get("company_id"),
        amount_minor: row.get("amount_minor"),
        currency: row.get("currency"),
        pipeline_id: row.get("pipeline_id"),
        stage: row.get("stage"),
        lost_reason_id: row.get("lost_reason_id"),
        stage_entered_at: row.get("stage_entered_at"),
        expected_close_date: row.get("expected_close_date"),
        description: row.get("description"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

pub async fn insert(tx: TenantTx, new: &NewDeal) -> Result<Deal, DbError> {
    let rows = tx
        .query_and_commit(
            concat!(
                "INSERT INTO deals (id, title, contact_id, company_id, amount_minor, currency, \
                                    pipeline_id, stage, lost_reason_id, expected_close_date, \
                                    description) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 RETURNING ",
                columns!()
            ),
            &[
                &Uuid::now_v7(),
                &new.title,
                &new.contact_id,
                &new.company_id,
                &new.amount_minor,
                &new.currency,
                &new.pipeline_id,
                &new.stage,
                &new.lost_reason_id,
                &new.expected_close_date,
                &new.description,
            ],
        )
        .await?;
    rows.first()
        .map(deal)
        .ok_or_else(|| DbError::internal("INSERT returned no row"))
}

pub async fn get(tx: TenantTx, id: Uuid) -> Result<Deal, DbError> {
    let row = tx
        .query_opt_and_commit(
            concat!("SELECT ", columns!(), " FROM deals WHERE id = $1"),
            &[&id],
        )
        .await?;
    row.as_ref().map(deal).ok_or(DbError::NotFound)
}

/// The statement [`update`] runs (the benchmark's pgbench scripts run it too).
pub const UPDATE_SQL: &str = concat!(
    "UPDATE deals SET \
                 title               = coalesce($2, title), \
                 contact_id          = CASE WHEN $3 THEN $4 ELSE contact_id END, \
                 company_id          = CASE WHEN $5 THEN $6 ELSE company_id END, \
                 amount_minor        = coalesce($7, amount_minor), \
                 currency            = coalesce($8, currency), \
                 stage               = coalesce($9, stage), \
                 expected_close_date = CASE WHEN $10 THEN $11 ELSE expected_close_date END, \
                 description         = CASE WHEN $12 THEN $13 ELSE description END, \
                 pipeline_id         = coalesce($14, pipeline_id), \
                 lost_reason_id      = CASE WHEN $15 THEN $16 ELSE lost_reason_id END \
             WHERE id = $1 \
             RETURNING ",
    columns!()
);

/// A refused stage change fails in the `deals_place_in_pipeline` trigger.
pub async fn update(tx: TenantTx, id: Uuid, patch: &DealPatch) -> Result<Deal, DbError> {
    let row = tx
        .query_opt_and_commit(
            UPDATE_SQL,
            &[
                &id,
                &patch.title,
                &patch.contact_id.is_some(),
                &patch.contact_id.flatten(),
                &patch.company_id.is_some(),
                &patch.company_id.flatten(),
                &patch.amount_minor,
                &patch.currency,
                &patch.stage,
                &patch.expected_close_date.is_some(),
                &patch.expected_close_date.flatten(),
                &patch.description.is_some(),
                &patch.description.clone().flatten(),
                &patch.pipeline_id,
                &patch.lost_reason_id.is_some(),
                &patch.lost_reason_id.flatten(),
            ],
        )
        .await?;
    row.as_ref().map(deal).ok_or(DbError::NotFound)
}

pub async fn delete(tx: TenantTx, id: Uuid) -> Result<(), DbError> {
    tx.affect_one_and_commit("DELETE FROM deals WHERE id = $1 RETURNING id", &[&id])
        .await
}

pub async fn list(
    tx: TenantTx,
    query: PageQuery<DealSort>,
) -> Result<(Vec<Deal>, Option<String>), DbError> {
    query.fetch(tx, deal).await
}

/// The statement [`list`] runs for these arguments (the query-plan test EXPLAINs it);
/// refuses a bad filter or cursor.
pub fn list_query(
    filter: DealFilter,
    sort: DealSort,
    cursor: Option<String>,
    limit: Option<i64>,
) -> Result<PageQuery<DealSort>, ApiError> {
    let mut query = ListQuery::new(match sort {
        DealSort::CreatedAt | DealSort::CreatedAtDesc => {
            concat!(
                "SELECT ",
                columns!(),
                ", created_at::text AS sort_key FROM deals"
            )
        }
        DealSort::Amount | DealSort::AmountDesc => {
            concat!(
                "SELECT ",
                columns!(),
                ", amount_minor::text AS sort_key FROM deals"
            )
        }
    });
    query.search(filter.q)?;
    query.filter("pipeline_id", "=", filter.pipeline_id);
    query.filter("stage", "=", filter.stage);
    query.filter("contact_id", "=", filter.contact_id);
    query.filter("company_id", "=", filter.company_id);
    query.filter("amount_minor", ">=", filter.min_amount);
    query.filter("amount_minor", "<=", filter.max_amount);
    query.filter("created_at", ">=", filter.created_after);
    query.filter("created_at", "<", filter.created_before);
    query.filter_around(
        "id IN (SELECT l.deal_id FROM deal_tags l WHERE l.tag_id = ",
        filter.tag_id,
        ")",
    );
    query.page(sort, cursor, limit)
}

/// The deal's stage changes, oldest first; `NotFound` when the deal is not visible.
/// One statement: the deal is joined so that "no such deal" and "no changes" differ.
pub async fn history(tx: TenantTx, id: Uuid) -> Result<Vec<DealStageChange>, DbError> {
    let rows = tx
        .query_and_commit(
            "SELECT c.from_pipeline_id, c.from_stage, c.pipeline_id, c.to_stage, c.changed_by, \
                    c.changed_at \
             FROM deals d \
             LEFT JOIN deal_stage_changes c ON c.tenant_id = d.tenant_id AND c.deal_id = d.id \
             WHERE d.id = $1 \
             ORDER BY c.changed_at, c.id",
            &[&id],
        )
        .await?;
    if rows.is_empty() {
        return Err(DbError::NotFound);
    }
    Ok(rows.iter().filter_map(stage_change).collect())
}

/// `None` for the all-NULL row of a deal without changes.
fn stage_change(row: &Row) -> Option<DealStageChange> {
    Some(DealStageChange {
        to_stage: row.get::<_, Option<_>>("to_stage")?,
        pipeline_id: row.get::<_, Option<_>>("pipeline_id")?,
        from_pipeline_id: row.get("from_pipeline_id"),
        from_stage: row.get("from_stage"),
        changed_by: row.get("changed_by"),
        changed_at: row.get("changed_at"),
    })
}
