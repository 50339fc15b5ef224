//! Practitioner storage: the profile, its working hours (replaced as a whole), and
//! time off.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use uuid::Uuid;

use super::{
    Hours, NewPractitioner, NewTimeOff, Practitioner, PractitionerFields, TimeOff, WorkingHours,
};
use crate::modules::verticals::clinic::in_use;
use crate::platform::{
    db::{DbError, TenantTx},
    error::ApiError,
    list::{ListQuery, OldestFirst, PageQuery},
};

/// A practitioner with the member's name and the hours as one JSON array; `id` is the
/// member's user id.
macro_rules! practitioner_select {
    () => {
        "SELECT p.user_id AS id, m.full_name, p.title, p.specialties, p.registration_number, \
                p.created_at, p.updated_at, \
                coalesce((SELECT jsonb_agg(jsonb_build_object( \
                              'location_id', h.location_id, 'weekday', h.weekday, \
                              'starts', to_char(h.starts, 'HH24:MI'), \
                              'ends', to_char(h.ends, 'HH24:MI')) \
                              ORDER BY h.weekday, h.starts) \
                          FROM practitioner_hours h \
                          WHERE h.tenant_id = p.tenant_id AND h.practitioner_id = p.user_id), \
                         '[]') AS hours \
         FROM practitioners p \
         JOIN memberships m ON m.tenant_id = p.tenant_id AND m.user_id = p.user_id"
    };
}

fn practitioner(row: &Row) -> Result<Practitioner, DbError> {
    let hours: Vec<WorkingHours> =
        serde_json::from_value(row.get("hours")).map_err(DbError::internal)?;
    Ok(Practitioner {
        id: row.get("id"),
        full_name: row.get("full_name"),
        title: row.get("title"),
        specialties: row.get("specialties"),
        registration_number: row.get("registration_number"),
        hours,
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    })
}

pub async fn insert(mut tx: TenantTx, new: &NewPractitioner) -> Result<Practitioner, DbError> {
    let fields = &new.fields;
    tx.query(
        "INSERT INTO practitioners (user_id, title, specialties, registration_number) \
         VALUES ($1, $2, coalesce($3::text[], '{}'), $4)",
        &[
            &new.user_id,
            &fields.title,
            &fields.specialties,
            &fields.registration_number.clone().flatten(),
        ],
    )
    .await?;
    if let Some(hours) = &fields.hours {
        insert_hours(&mut tx, new.user_id, hours).await?;
    }
    read(tx, new.user_id).await
}

async fn insert_hours(tx: &mut TenantTx, practitioner: Uuid, hours: &Hours) -> Result<(), DbError> {
    tx.query(
        "INSERT INTO practitioner_hours (practitioner_id, location_id, weekday, starts, ends) \
         SELECT $1, h.location_id, h.weekday, h.starts::time, h.ends::time \
         FROM unnest($2::uuid[], $3::integer[], $4::text[], $5::text[]) \
              AS h (location_id, weekday, starts, ends)",
        &[
            &practitioner,
            &hours.locations,
            &hours.weekdays,
            &hours.starts,
            &hours.ends,
        ],
    )
    .await?;
    Ok(())
}

/// The practitioner as the last statement of `tx`.
async fn read(tx: TenantTx, id: Uuid) -> Result<Practitioner, DbError> {
    let row = tx
        .query_opt_and_commit(
            concat!(practitioner_select!(), " WHERE p.user_id = $1"),
            &[&id],
        )
        .await?;
    row.as_ref().map(practitioner).ok_or(DbError::NotFound)?
}

pub async fn get(tx: TenantTx, id: Uuid) -> Result<Practitioner, DbError> {
    read(tx, id).await
}

/// Updates the profile; new hours replace the whole week, in the same transaction.
pub async fn update(
    mut tx: TenantTx,
    id: Uuid,
    patch: &PractitionerFields,
) -> Result<Practitioner, DbError> {
    tx.query_opt(
        "UPDATE practitioners SET \
         title               = coalesce($2, title), \
         specialties         = coalesce($3, specialties), \
         registration_number = CASE WHEN $4 THEN $5 ELSE registration_number END \
         WHERE user_id = $1 RETURNING user_id",
        &[
            &id,
            &patch.title,
            &patch.specialties,
            &patch.registration_number.is_some(),
            &patch.registration_number.clone().flatten(),
        ],
    )
    .await?
    .ok_or(DbError::NotFound)?;
    if let Some(hours) = &patch.hours {
        tx.query(
            "DELETE FROM practitioner_hours WHERE practitioner_id = $1",
            &[&id],
        )
        .await?;
        insert_hours(&mut tx, id, hours).await?;
    }
    read(tx, id).await
}

/// Deletes the profile, its hours and time off (the member stays); refused while the
/// practitioner has appointments.
pub async fn delete(tx: TenantTx, id: Uuid) -> Result<(), DbError> {
    tx.affect_one_and_commit(
        "DELETE FROM practitioners WHERE user_id = $1 RETURNING user_id",
        &[&id],
    )
    .await
    .map_err(in_use(
        "The practitioner has appointments; it cannot be deleted.",
    ))
}

pub async fn list(
    tx: TenantTx,
    query: PageQuery<OldestFirst>,
) -> Result<(Vec<Practitioner>, Option<String>), DbError> {
    let (rows, next) = query.fetch(tx, practitioner).await?;
    Ok((rows.into_iter().collect::<Result<_, _>>()?, next))
}

pub fn list_query(
    cursor: Option<String>,
    limit: Option<i64>,
) -> Result<PageQuery<OldestFirst>, ApiError> {
    ListQuery::new(concat!(
        "SELECT *, created_at::text AS sort_key FROM (",
        practitioner_select!(),
        ") AS practitioners"
    ))
    .page(OldestFirst, cursor, limit)
}

macro_rules! time_off_columns {
    () => {
        "id, practitioner_id, lower(during) AS starts_at, upper(during) AS ends_at, reason, \
         created_at"
    };
}

fn time_off(row: &Row) -> TimeOff {
    TimeOff {
        id: row.get("id"),
        practitioner_id: row.get("practitioner_id"),
        starts_at: row.get("starts_at"),
        ends_at: row.get("ends_at"),
        reason: row.get("reason"),
        created_at: row.get("created_at"),
    }
}

/// `NotFound` when the practitioner is not the tenant's.
pub async fn insert_time_off(
    tx: TenantTx,
    practitioner: Uuid,
    new: &NewTimeOff,
) -> Result<TimeOff, DbError> {
    let rows = tx
        .query_and_commit(
            concat!(
                "INSERT INTO practitioner_time_off (id, practitioner_id, during, reason) \
                 VALUES ($1, $2, tstzrange($3, $4), $5) RETURNING ",
                time_off_columns!()
            ),
            &[
                &Uuid::now_v7(),
                &practitioner,
                &new.starts_at,
                &new.ends_at,
                &new.reason,
            ],
        )
        .await?;
    rows.first()
        .map(time_off)
        .ok_or_else(|| DbError::internal("INSERT returned no row"))
}

/// The practitioner's time off that ends after `from`, earliest first (at most 500);
/// `NotFound` when the practitioner is not the tenant's.
pub async fn list_time_off(
    mut tx: TenantTx,
    practitioner: Uuid,
    from: DateTime<Utc>,
) -> Result<Vec<TimeOff>, DbError> {
    tx.query_opt(
        "SELECT 1 FROM practitioners WHERE user_id = $1",
        &[&practitioner],
    )
    .await?
    .ok_or(DbError::NotFound)?;
    let rows = tx
        .query_and_commit(
            concat!(
                "SELECT ",
                time_off_columns!(),
                " FROM practitioner_time_off \
                 WHERE practitioner_id = $1 AND upper(during) > $2 \
                 ORDER BY lower(during), id LIMIT 500"
            ),
            &[&practitioner, &from],
        )
        .await?;
    Ok(rows.iter().map(time_off).collect())
}

pub async fn delete_time_off(tx: TenantTx, practitioner: Uuid, id: Uuid) -> Result<(), DbError> {
    tx.affect_one_and_commit(
        "DELETE FROM practitioner_time_off WHERE practitioner_id = $1 AND id = $2 RETURNING id",
        &[&practitioner, &id],
    )
    .await
}
