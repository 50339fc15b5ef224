//! Appointment storage and availability. Double booking, working hours, time off and
//! the lifecycle are the table's constraints and trigger; the conflicting appointment
//! is looked up after a refusal, so that the answer can name it.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use uuid::Uuid;

use super::{
    Appointment, AppointmentFilter, AppointmentPatch, AvailabilityQuery, ByStart, NewAppointment,
    Slot,
};
use crate::platform::{
    db::{DbError, Label, TenantTx},
    error::ApiError,
    list::{ListQuery, PageQuery},
};

macro_rules! columns {
    () => {
        "id, patient_id, practitioner_id, location_id, appointment_type_id, starts_at, \
         ends_at, status, cancel_reason, created_at, updated_at"
    };
}

fn appointment(row: &Row) -> Appointment {
    Appointment {
        id: row.get("id"),
        patient_id: row.get("patient_id"),
        practitioner_id: row.get("practitioner_id"),
        location_id: row.get("location_id"),
        appointment_type_id: row.get("appointment_type_id"),
        starts_at: row.get("starts_at"),
        ends_at: row.get("ends_at"),
        status: row.get::<_, Label<_>>("status").0,
        cancel_reason: row.get("cancel_reason"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

/// The statement [`insert`] runs (the benchmark's pgbench scripts run it too). The
/// trigger derives the end, the blocked range and, when absent, the location.
pub const BOOK_SQL: &str = concat!(
    "INSERT INTO appointments (id, patient_id, practitioner_id, appointment_type_id, \
                               starts_at, location_id) \
     VALUES ($1, $2, $3, $4, $5, $6) \
     RETURNING ",
    columns!()
);

pub async fn insert(tx: TenantTx, id: Uuid, new: &NewAppointment) -> Result<Appointment, DbError> {
    let rows = tx
        .query_and_commit(
            BOOK_SQL,
            &[
                &id,
                &new.patient_id,
                &new.practitioner_id,
                &new.appointment_type_id,
                &new.starts_at,
                &new.location_id,
            ],
        )
        .await?;
    rows.first()
        .map(appointment)
        .ok_or_else(|| DbError::internal("INSERT returned no row"))
}

pub async fn get(tx: TenantTx, id: Uuid) -> Result<Appointment, DbError> {
    let row = tx
        .query_opt_and_commit(
            concat!("SELECT ", columns!(), " FROM appointments WHERE id = $1"),
            &[&id],
        )
        .await?;
    row.as_ref().map(appointment).ok_or(DbError::NotFound)
}

pub async fn update(
    tx: TenantTx,
    id: Uuid,
    patch: &AppointmentPatch,
) -> Result<Appointment, DbError> {
    let row = tx
        .query_opt_and_commit(
            concat!(
                "UPDATE appointments SET \
                 starts_at           = coalesce($2, starts_at), \
                 practitioner_id     = coalesce($3, practitioner_id), \
                 location_id         = coalesce($4, location_id), \
                 appointment_type_id = coalesce($5, appointment_type_id), \
                 status              = coalesce($6, status), \
                 cancel_reason       = coalesce($7, cancel_reason) \
                 WHERE id = $1 RETURNING ",
                columns!()
            ),
            &[
                &id,
                &patch.starts_at,
                &patch.practitioner_id,
                &patch.location_id,
                &patch.appointment_type_id,
                &patch.status.map(Label),
                &patch.cancel_reason,
            ],
        )
        .await?;
    row.as_ref().map(appointment).ok_or(DbError::NotFound)
}

pub async fn list(
    tx: TenantTx,
    query: PageQuery<ByStart>,
) -> Result<(Vec<Appointment>, Option<String>), DbError> {
    query.fetch(tx, appointment).await
}

pub fn list_query(
    filter: AppointmentFilter,
    cursor: Option<String>,
    limit: Option<i64>,
) -> Result<PageQuery<ByStart>, ApiError> {
    let mut query = ListQuery::new(concat!(
        "SELECT ",
        columns!(),
        ", starts_at::text AS sort_key FROM appointments"
    ));
    query.filter("starts_at", ">=", filter.from);
    query.filter("starts_at", "<", filter.to);
    query.filter("practitioner_id", "=", filter.practitioner_id);
    query.filter("patient_id", "=", filter.patient_id);
    query.filter("location_id", "=", filter.location_id);
    query.filter("status", "=", filter.status.map(Label));
    query.page(ByStart, cursor, limit)
}

/// The time a booking or a move asks for; `None` fields are the existing
/// appointment's (a booking has them all).
pub struct Wanted {
    pub appointment_id: Uuid,
    pub practitioner_id: Option<Uuid>,
    pub appointment_type_id: Option<Uuid>,
    pub starts_at: Option<DateTime<Utc>>,
}

/// An appointment that holds the time another one asked for.
pub struct Conflict {
    pub id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// The earliest appointment of the practitioner, not cancelled, whose buffered time
/// overlaps the buffered time `wanted` asks for: what the exclusion constraint saw.
pub async fn find_conflict(tx: TenantTx, wanted: &Wanted) -> Result<Option<Conflict>, DbError> {
    let row = tx
        .query_opt_and_commit(
            "WITH wanted AS ( \
                 SELECT coalesce($2::uuid, a.practitioner_id) AS practitioner_id, \
                        coalesce($3::uuid, a.appointment_type_id) AS type_id, \
                        coalesce($4::timestamptz, a.starts_at) AS starts \
                 FROM (SELECT) AS one LEFT JOIN appointments a ON a.id = $1) \
             SELECT o.id, o.starts_at, o.ends_at \
             FROM wanted w \
             JOIN appointment_types t ON t.id = w.type_id \
             JOIN appointments o ON o.practitioner_id = w.practitioner_id \
              AND o.status <> 'cancelled' AND o.id <> $1 \
              AND o.blocked && tstzrange( \
                      w.starts - make_interval(mins => t.buffer_before_minutes), \
                      w.starts + make_interval(mins => t.duration_minutes \
                                                       + t.buffer_after_minutes)) \
             ORDER BY o.starts_at, o.id \
             LIMIT 1",
            &[
                &wanted.appointment_id,
                &wanted.practitioner_id,
                &wanted.appointment_type_id,
                &wanted.starts_at,
            ],
        )
        .await?;
    Ok(row.map(|row| Conflict {
        id: row.get("id"),
        starts_at: row.get("starts_at"),
        ends_at: row.get("ends_at"),
    }))
}

/// What an availability question names that the tenant does not have: the
/// parameter, if any.
pub async fn missing_reference(
    tx: &mut TenantTx,
    query: &AvailabilityQuery,
) -> Result<Option<&'static str>, DbError> {
    let row = tx
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM appointment_types WHERE id = $1) AS has_type, \
                    $2::uuid IS NULL \
                    OR EXISTS (SELECT 1 FROM practitioners WHERE user_id = $2) AS has_practitioner, \
                    $3::uuid IS NULL \
                    OR EXISTS (SELECT 1 FROM clinic_locations WHERE id = $3) AS has_location",
            &[
                &query.appointment_type_id,
                &query.practitioner_id,
                &query.location_id,
            ],
        )
        .await?;
    Ok([
        ("appointment_type_id", "has_type"),
        ("practitioner_id", "has_practitioner"),
        ("location_id", "has_location"),
    ]
    .into_iter()
    .find(|(_, column)| !row.get::<_, bool>(column))
    .map(|(parameter, _)| parameter))
}

/// The statement of [`availability`]: one practitioner's bookable start times, each
/// with its end.
pub const AVAILABILITY_SQL: &str = "\
    SELECT s.starts_at, s.starts_at + make_interval(mins => t.duration_minutes) AS ends_at, \
           $1::uuid AS practitioner_id, s.location_id \
    FROM app.clinic_availability($1, $2, $3, $4, $5, make_interval(mins => $6::integer)) AS s \
    JOIN appointment_types t ON t.id = $2";

/// The statement of [`next_available`]: the earliest bookable start times across
/// practitioners.
const NEXT_AVAILABLE_SQL: &str = "\
    SELECT s.starts_at, s.starts_at + make_interval(mins => t.duration_minutes) AS ends_at, \
           p.user_id AS practitioner_id, s.location_id \
    FROM practitioners p \
    CROSS JOIN LATERAL app.clinic_availability(p.user_id, $1, $2, $3, $4, 
                                            make_interval(mins => $5::integer)) AS s \
    JOIN appointment_types t ON t.id = $1 \
    ORDER BY s.starts_at, p.user_id \
    LIMIT $6";

fn slot(row: &Row) -> Slot {
    Slot {
        starts_at: row.get("starts_at"),
        ends_at: row.get("ends_at"),
        practitioner_id: row.get("practitioner_id"),
        location_id: row.get("location_id"),
    }
}

/// One practitioner's slots (`query.practitioner_id` is set).
pub async fn availability(tx: TenantTx, query: &AvailabilityQuery) -> Result<Vec<Slot>, DbError> {
    let rows = tx
        .query_and_commit(
            AVAILABILITY_SQL,
            &[
                &query.practitioner_id,
                &query.appointment_type_id,
                &query.from,
                &query.to,
                &query.location_id,
                &query.step_minutes,
            ],
        )
        .await?;
    Ok(rows.iter().map(slot).collect())
}

/// The earliest `limit` slots across practitioners.
pub async fn next_available(
    tx: TenantTx,
    query: &AvailabilityQuery,
    limit: i64,
) -> Result<Vec<Slot>, DbError> {
    let rows = tx
        .query_and_commit(
            NEXT_AVAILABLE_SQL,
            &[
                &query.appointment_type_id,
                &query.from,
                &query.to,
                &query.location_id,
                &query.step_minutes,
                &limit,
            ],
        )
        .await?;
    Ok(rows.iter().map(slot).collect())
}
