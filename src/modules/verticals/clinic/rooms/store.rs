//! Room storage.

use tokio_postgres::Row;
use uuid::Uuid;

use super::{Room, RoomFields};
use crate::modules::verticals::clinic::in_use;
use crate::platform::{
    db::{DbError, TenantTx},
    error::ApiError,
    list::{ListQuery, OldestFirst, PageQuery},
};

macro_rules! columns {
    () => {
        "id, location_id, name, created_at, updated_at"
    };
}

fn room(row: &Row) -> Room {
    Room {
        id: row.get("id"),
        location_id: row.get("location_id"),
        name: row.get("name"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

pub async fn insert(tx: TenantTx, new: &RoomFields) -> Result<Room, DbError> {
    let rows = tx
        .query_and_commit(
            concat!(
                "INSERT INTO clinic_rooms (id, location_id, name) VALUES ($1, $2, $3) \
                 RETURNING ",
                columns!()
            ),
            &[&Uuid::now_v7(), &new.location_id, &new.name],
        )
        .await?;
    rows.first()
        .map(room)
        .ok_or_else(|| DbError::internal("INSERT returned no row"))
}

pub async fn get(tx: TenantTx, id: Uuid) -> Result<Room, DbError> {
    let row = tx
        .query_opt_and_commit(
            concat!("SELECT ", columns!(), " FROM clinic_rooms WHERE id = $1"),
            &[&id],
        )
        .await?;
    row.as_ref().map(room).ok_or(DbError::NotFound)
}

pub async fn update(tx: TenantTx, id: Uuid, patch: &RoomFields) -> Result<Room, DbError> {
    let row = tx
        .query_opt_and_commit(
            concat!(
                "UPDATE clinic_rooms SET \
                 name = coalesce($2, name) \
                 WHERE id = $1 RETURNING ",
                columns!()
            ),
            &[&id, &patch.name],
        )
        .await?;
    row.as_ref().map(room).ok_or(DbError::NotFound)
}

/// Deletes the room; refused while appointments hold it.
pub async fn delete(tx: TenantTx, id: Uuid) -> Result<(), DbError> {
    tx.affect_one_and_commit(
        "DELETE FROM clinic_rooms WHERE id = $1 RETURNING id",
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
) -> Result<(Vec<Room>, Option<String>), DbError> {
    query.fetch(tx, room).await
}

pub fn list_query(
    location: Option<Uuid>,
    cursor: Option<String>,
    limit: Option<i64>,
) -> Result<PageQuery<OldestFirst>, ApiError> {
    let mut query = ListQuery::new(concat!(
        "SELECT ",
        columns!(),
        ", created_at::text AS sort_key FROM clinic_rooms"
    ));
    query.filter("location_id", "=", location);
    query.page(OldestFirst, cursor, limit)
}
