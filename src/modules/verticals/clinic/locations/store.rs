//! Location storage.

use tokio_postgres::Row;
use uuid::Uuid;

use super::{Location, LocationFields};
use crate::modules::verticals::clinic::in_use;
use crate::platform::{
    db::{DbError, TenantTx},
    error::ApiError,
    list::{ListQuery, OldestFirst, PageQuery},
};

macro_rules! columns {
    () => {
        "id, name, time_zone, created_at, updated_at"
    };
}

fn location(row: &Row) -> Location {
    Location {
        id: row.get("id"),
        name: row.get("name"),
        time_zone: row.get("time_zone"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

pub async fn insert(tx: TenantTx, new: &LocationFields) -> Result<Location, DbError> {
    let rows = tx
        .query_and_commit(
            concat!(
                "INSERT INTO clinic_locations (id, name, time_zone) VALUES ($1, $2, $3) \
                 RETURNING ",
                columns!()
            ),
            &[&Uuid::now_v7(), &new.name, &new.time_zone],
        )
        .await?;
    rows.first()
        .map(location)
        .ok_or_else(|| DbError::internal("INSERT returned no row"))
}

pub async fn get(tx: TenantTx, id: Uuid) -> Result<Location, DbError> {
    let row = tx
        .query_opt_and_commit(
            concat!(
                "SELECT ",
                columns!(),
                " FROM clinic_locations WHERE id = $1"
            ),
            &[&id],
        )
        .await?;
    row.as_ref().map(location).ok_or(DbError::NotFound)
}

pub async fn update(tx: TenantTx, id: Uuid, patch: &LocationFields) -> Result<Location, DbError> {
    let row = tx
        .query_opt_and_commit(
            concat!(
                "UPDATE clinic_locations SET \
                 name      = coalesce($2, name), \
                 time_zone = coalesce($3, time_zone) \
                 WHERE id = $1 RETURNING ",
                columns!()
            ),
            &[&id, &patch.name, &patch.time_zone],
        )
        .await?;
    row.as_ref().map(location).ok_or(DbError::NotFound)
}

/// Deletes the location and the working hours there; refused while appointments
/// are booked there.
pub async fn delete(tx: TenantTx, id: Uuid) -> Result<(), DbError> {
    tx.affect_one_and_commit(
        "DELETE FROM clinic_locations WHERE id = $1 RETURNING id",
        &[&id],
    )
    .await
    .map_err(in_use(
        "The location has appointments; it cannot be deleted.",
    ))
}

pub async fn list(
    tx: TenantTx,
    query: PageQuery<OldestFirst>,
) -> Result<(Vec<Location>, Option<String>), DbError> {
    query.fetch(tx, location).await
}

pub fn list_query(
    cursor: Option<String>,
    limit: Option<i64>,
) -> Result<PageQuery<OldestFirst>, ApiError> {
    ListQuery::new(concat!(
        "SELECT ",
        columns!(),
        ", created_at::text AS sort_key FROM clinic_locations"
    ))
    .page(OldestFirst, cursor, limit)
}
