//! Endpoint storage. Plain SQL under the tenant's policies (owners and admins only);
//! the secret is written here and never read back.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use uuid::Uuid;

use super::{Endpoint, EndpointPatch, NewEndpoint};
use crate::platform::{
    db::{DbError, TenantTx},
    error::ApiError,
    list::{ListQuery, OldestFirst, PageQuery},
};

/// The columns every endpoint query returns.
macro_rules! columns {
    () => {
        "id, url, description, event_types, enabled, disabled_reason, created_at, updated_at"
    };
}

fn endpoint(row: &Row) -> Endpoint {
    Endpoint {
        id: row.get("id"),
        url: row.get("url"),
        description: row.get("description"),
        event_types: row.get("event_types"),
        enabled: row.get("enabled"),
        disabled_reason: row.get("disabled_reason"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

/// Creates the endpoint with its first secret, in one transaction.
pub async fn create(
    mut tx: TenantTx,
    new: &NewEndpoint,
    secret: &str,
) -> Result<Endpoint, DbError> {
    let id = Uuid::now_v7();
    let row = tx
        .query_one(
            concat!(
                "INSERT INTO webhook_endpoints (id, url, description, event_types) \
                 VALUES ($1, $2, $3, $4) RETURNING ",
                columns!()
            ),
            &[&id, &new.url, &new.description, &new.event_types],
        )
        .await?;
    tx.query_and_commit(
        "INSERT INTO webhook_secrets (endpoint_id, id, secret) VALUES ($1, $2, $3)",
        &[&id, &Uuid::now_v7(), &secret],
    )
    .await?;
    Ok(endpoint(&row))
}

pub async fn get(tx: TenantTx, id: Uuid) -> Result<Endpoint, DbError> {
    let row = tx
        .query_opt_and_commit(
            concat!(
                "SELECT ",
                columns!(),
                " FROM webhook_endpoints WHERE id = $1"
            ),
            &[&id],
        )
        .await?;
    row.as_ref().map(endpoint).ok_or(DbError::NotFound)
}

/// Applies `patch`; answers the endpoint as it now is. Enabling it again clears the
/// platform's reason for disabling it.
pub async fn update(tx: TenantTx, id: Uuid, patch: &EndpointPatch) -> Result<Endpoint, DbError> {
    let row = tx
        .query_opt_and_commit(
            concat!(
                "UPDATE webhook_endpoints SET \
                 url = coalesce($2, url), \
                 description = coalesce($3, description), \
                 event_types = coalesce($4, event_types), \
                 enabled = coalesce($5, enabled), \
                 disabled_reason = CASE WHEN $5 THEN NULL ELSE disabled_reason END, \
                 updated_at = now() \
                 WHERE id = $1 RETURNING ",
                columns!()
            ),
            &[
                &id,
                &patch.url,
                &patch.description,
                &patch.event_types,
                &patch.enabled,
            ],
        )
        .await?;
    row.as_ref().map(endpoint).ok_or(DbError::NotFound)
}

/// Adds `secret` as the endpoint's newest; the older ones stay valid for `overlap`.
/// Answers until when. `NotFound` for no such endpoint of the tenant.
pub async fn rotate(
    tx: TenantTx,
    endpoint_id: Uuid,
    secret: &str,
    overlap_hours: i32,
) -> Result<DateTime<Utc>, DbError> {
    tx.query_and_commit(
        "INSERT INTO webhook_secrets (endpoint_id, id, secret, overlap) \
         VALUES ($1, $2, $3, make_interval(hours => $4))",
        &[&endpoint_id, &Uuid::now_v7(), &secret, &overlap_hours],
    )
    .await?;
    Ok(Utc::now() + chrono::Duration::hours(i64::from(overlap_hours)))
}

/// Deletes the endpoint, its secrets and its undelivered messages.
pub async fn delete(tx: TenantTx, id: Uuid) -> Result<(), DbError> {
    tx.affect_one_and_commit(
        "DELETE FROM webhook_endpoints WHERE id = $1 RETURNING id",
        &[&id],
    )
    .await
}

/// The statement [`list`] runs for this page, oldest first
/// (`webhook_endpoints_created_idx`); refuses a bad cursor or limit.
pub fn list_query(
    cursor: Option<String>,
    limit: Option<i64>,
) -> Result<PageQuery<OldestFirst>, ApiError> {
    ListQuery::new(concat!(
        "SELECT * FROM (SELECT ",
        columns!(),
        ", created_at::text AS sort_key FROM webhook_endpoints) AS endpoints"
    ))
    .page(OldestFirst, cursor, limit)
}

/// One page of endpoints and the cursor of the next.
pub async fn list(
    tx: TenantTx,
    query: PageQuery<OldestFirst>,
) -> Result<(Vec<Endpoint>, Option<String>), DbError> {
    query.fetch(tx, endpoint).await
}
