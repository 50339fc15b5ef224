//! Appointment type storage.

use tokio_postgres::Row;
use uuid::Uuid;

use super::{AppointmentType, AppointmentTypeFields};
use crate::modules::verticals::clinic::in_use;
use crate::platform::{
    db::{DbError, TenantTx},
    error::ApiError,
    list::{ListQuery, OldestFirst, PageQuery},
};

macro_rules! columns {
    () => {
        "id, name, duration_minutes, buffer_before_minutes, buffer_after_minutes, \
         price_minor, currency, online_booking, min_notice_minutes, needs_room, created_at, \
         updated_at"
    };
}

fn appointment_type(row: &Row) -> AppointmentType {
    AppointmentType {
        id: row.get("id"),
        name: row.get("name"),
        duration_minutes: row.get("duration_minutes"),
        buffer_before_minutes: row.get("buffer_before_minutes"),
        buffer_after_minutes: row.get("buffer_after_minutes"),
        price_minor: row.get("price_minor"),
        currency: row.get("currency"),
        online_booking: row.get("online_booking"),
        min_notice_minutes: row.get("min_notice_minutes"),
        needs_room: row.get("needs_room"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

/// Absent optional fields take the table's defaults.
pub async fn insert(tx: TenantTx, new: &AppointmentTypeFields) -> Result<AppointmentType, DbError> {
    let rows = tx
        .query_and_commit(
            concat!(
                "INSERT INTO appointment_types (id, name, duration_minutes, \
                     buffer_before_minutes, buffer_after_minutes, price_minor, currency, \
                     online_booking, min_notice_minutes, needs_room) \
                 VALUES ($1, $2, $3, coalesce($4, 0), coalesce($5, 0), coalesce($6::bigint, 0), \
                         coalesce($7, 'CHF'), coalesce($8, false), coalesce($9, 0), \
                         coalesce($10, false)) \
                 RETURNING ",
                columns!()
            ),
            &[
                &Uuid::now_v7(),
                &new.name,
                &new.duration_minutes,
                &new.buffer_before_minutes,
                &new.buffer_after_minutes,
                &new.price_minor,
                &new.currency,
                &new.online_booking,
                &new.min_notice_minutes,
                &new.needs_room,
            ],
        )
        .await?;
    rows.first()
        .map(appointment_type)
        .ok_or_else(|| DbError::internal("INSERT returned no row"))
}

pub async fn get(tx: TenantTx, id: Uuid) -> Result<AppointmentType, DbError> {
    let row = tx
        .query_opt_and_commit(
            concat!(
                "SELECT ",
                columns!(),
                " FROM appointment_types WHERE id = $1"
            ),
            &[&id],
        )
        .await?;
    row.as_ref().map(appointment_type).ok_or(DbError::NotFound)
}

pub async fn update(
    tx: TenantTx,
    id: Uuid,
    patch: &AppointmentTypeFields,
) -> Result<AppointmentType, DbError> {
    let row = tx
        .query_opt_and_commit(
            concat!(
                "UPDATE appointment_types SET \
                 name                  = coalesce($2, name), \
                 duration_minutes      = coalesce($3, duration_minutes), \
                 buffer_before_minutes = coalesce($4, buffer_before_minutes), \
                 buffer_after_minutes  = coalesce($5, buffer_after_minutes), \
                 price_minor           = coalesce($6, price_minor), \
                 currency              = coalesce($7, currency), \
                 online_booking        = coalesce($8, online_booking), \
                 min_notice_minutes    = coalesce($9, min_notice_minutes), \
                 needs_room            = coalesce($10, needs_room) \
                 WHERE id = $1 RETURNING ",
                columns!()
            ),
            &[
                &id,
                &patch.name,
                &patch.duration_minutes,
                &patch.buffer_before_minutes,
                &patch.buffer_after_minutes,
                &patch.price_minor,
                &patch.currency,
                &patch.online_booking,
                &patch.min_notice_minutes,
                &patch.needs_room,
            ],
        )
        .await?;
    row.as_ref().map(appointment_type).ok_or(DbError::NotFound)
}

/// Refused while appointments of the type exist.
pub async fn delete(tx: TenantTx, id: Uuid) -> Result<(), DbError> {
    tx.affect_one_and_commit(
        "DELETE FROM appointment_types WHERE id = $1 RETURNING id",
        &[&id],
    )
    .await
    .map_err(in_use(
        "Appointments of this type exist; it cannot be deleted.",
    ))
}

pub async fn list(
    tx: TenantTx,
    query: PageQuery<OldestFirst>,
) -> Result<(Vec<AppointmentType>, Option<String>), DbError> {
    query.fetch(tx, appointment_type).await
}

pub fn list_query(
    cursor: Option<String>,
    limit: Option<i64>,
) -> Result<PageQuery<OldestFirst>, ApiError> {
    ListQuery::new(concat!(
        "SELECT ",
        columns!(),
        ", created_at::text AS sort_key FROM appointment_types"
    ))
    .page(OldestFirst, cursor, limit)
}
