//! Appointment storage and availability. Double booking, working hours, time off and
//! the lifecycle are the table's constraints and trigger; the conflicting appointment
//! is looked up after a refusal, so that the answer can name it.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use uuid::Uuid;

use super::{
    Appointment, AppointmentFilter, AppointmentPatch, AvailabilityQuery, ByStart, MAX_SERIES,
    NewAppointment, NewSeries, Slot,
};
use crate::modules::verticals::clinic::access_log::{self, Access, AccessAction};
use crate::platform::{
    db::{DbError, Label, TenantTx},
    error::ApiError,
    list::{ListQuery, PageQuery},
};

macro_rules! columns {
    () => {
        "id, patient_id, practitioner_id, location_id, room_id, appointment_type_id, \
         starts_at, ends_at, status, cancel_reason, created_at, updated_at"
    };
}

fn appointment(row: &Row) -> Appointment {
    Appointment {
        id: row.get("id"),
        patient_id: row.get("patient_id"),
        practitioner_id: row.get("practitioner_id"),
        location_id: row.get("location_id"),
        room_id: row.get("room_id"),
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
/// triggers derive the end, the blocked range and, when absent, the location and
/// (for a type that needs one) the room.
pub const BOOK_SQL: &str = concat!(
    "INSERT INTO appointments (id, patient_id, practitioner_id, appointment_type_id, \
                               starts_at, location_id, room_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) \
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
                &new.room_id,
            ],
        )
        .await?;
    rows.first()
        .map(appointment)
        .ok_or_else(|| DbError::internal("INSERT returned no row"))
}

/// Every appointment of `patient`, earliest first, in `tx`, which stays open.
pub async fn of_patient(tx: &mut TenantTx, patient: Uuid) -> Result<Vec<Appointment>, DbError> {
    let rows = tx
        .query(
            concat!(
                "SELECT ",
                columns!(),
                " FROM appointments WHERE patient_id = $1 ORDER BY starts_at, id"
            ),
            &[&patient],
        )
        .await?;
    Ok(rows.iter().map(appointment).collect())
}

/// The appointment, the read of its patient's appointments logged.
/// An occurrence of a series that could not be booked, and the constraint that
/// refused it.
pub struct Refusal {
    pub starts_at: DateTime<Utc>,
    pub constraint: String,
}

/// Books `series` in `tx` (app.book_series, V43): committed with every appointment, or
/// rolled back with the refusals of the occurrences that could not be booked and how
/// many occurrences the series has.
pub async fn insert_series(
    mut tx: TenantTx,
    series: &NewSeries,
) -> Result<Result<Vec<Appointment>, (Vec<Refusal>, usize)>, DbError> {
    let ids: Vec<Uuid> = (0..MAX_SERIES).map(|_| Uuid::now_v7()).collect();
    let first = &series.first;
    let rows = tx
        .query(
            "SELECT starts_at, appointment_id, refused_by \
             FROM app.book_series($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &ids,
                &first.patient_id,
                &first.practitioner_id,
                &first.appointment_type_id,
                &first.starts_at,
                &series.every_weeks,
                &series.count,
                &series.until,
                &first.location_id,
                &first.room_id,
            ],
        )
        .await?;
    let refusals: Vec<Refusal> = rows
        .iter()
        .filter_map(|row| {
            row.get::<_, Option<String>>("refused_by")
                .map(|constraint| Refusal {
                    starts_at: row.get("starts_at"),
                    constraint,
                })
        })
        .collect();
    if !refusals.is_empty() {
        return Ok(Err((refusals, rows.len())));
    }
    let booked: Vec<Uuid> = rows.iter().map(|row| row.get("appointment_id")).collect();
    let rows = tx
        .query_and_commit(
            concat!(
                "SELECT ",
                columns!(),
                " FROM appointments WHERE id = ANY($1) ORDER BY starts_at"
            ),
            &[&booked],
        )
        .await?;
    Ok(Ok(rows.iter().map(appointment).collect()))
}

pub async fn get(mut tx: TenantTx, id: Uuid, access: &Access) -> Result<Appointment, DbError> {
    let found = tx
        .query_opt(
            concat!("SELECT ", columns!(), " FROM appointments WHERE id = $1"),
            &[&id],
        )
        .await?
        .as_ref()
        .map(appointment)
        .ok_or(DbError::NotFound)?;
    access_log::record(tx, &[found.patient_id], AccessAction::Appointments, access).await?;
    Ok(found)
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
                 room_id             = coalesce($8, room_id), \
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
                &patch.room_id,
            ],
        )
        .await?;
    row.as_ref().map(appointment).ok_or(DbError::NotFound)
}

/// A page of the agenda, the read of each patient's appointments logged once.
pub async fn list(
    mut tx: TenantTx,
    query: PageQuery<ByStart>,
    access: &Access,
) -> Result<(Vec<Appointment>, Option<String>), DbError> {
    let (items, next) = query.fetch_open(&mut tx, appointment).await?;
    let mut patients: Vec<Uuid> = items.iter().map(|a| a.patient_id).collect();
    patients.sort_unstable();
    patients.dedup();
    access_log::record(tx, &patients, AccessAction::Appointments, access).await?;
    Ok((items, next))
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
    pub room_id: Option<Uuid>,
}

/// An appointment that holds the time another one asked for.
pub struct Conflict {
    pub id: Uuid,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// True when it is the same practitioner; false when it is the same room.
    pub same_practitioner: bool,
}

/// The earliest appointment of the practitioner or in the room, not cancelled, whose
/// buffered time overlaps the buffered time `wanted` asks for: what one of the
/// exclusion constraints saw.
pub async fn find_conflict(tx: TenantTx, wanted: &Wanted) -> Result<Option<Conflict>, DbError> {
    let row = tx
        .query_opt_and_commit(
            "WITH wanted AS ( \
                 SELECT coalesce($2::uuid, a.practitioner_id) AS practitioner_id, \
                        coalesce($3::uuid, a.appointment_type_id) AS type_id, \
                        coalesce($4::timestamptz, a.starts_at) AS starts, \
                        coalesce($5::uuid, a.room_id) AS room_id \
                 FROM (SELECT) AS one LEFT JOIN appointments a ON a.id = $1) \
             SELECT o.id, o.starts_at, o.ends_at, \
                    o.practitioner_id = w.practitioner_id AS same_practitioner \
             FROM wanted w \
             JOIN appointment_types t ON t.id = w.type_id \
             JOIN appointments o \
               ON (o.practitioner_id = w.practitioner_id OR o.room_id = w.room_id) \
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
                &wanted.room_id,
            ],
        )
        .await?;
    Ok(row.map(|row| Conflict {
        id: row.get("id"),
        starts_at: row.get("starts_at"),
        ends_at: row.get("ends_at"),
        same_practitioner: row.get("same_practitioner"),
    }))
}

/// The first statement of an availability question: which of the type, the
/// practitioner and the location it names (`$1`, `$2`, `$3`; the last two may be NULL)
/// the tenant has.
pub const AVAILABILITY_REFERENCES_SQL: &str = "\
    SELECT EXISTS (SELECT 1 FROM appointment_types WHERE id = $1) AS has_type, \
           $2::uuid IS NULL \
           OR EXISTS (SELECT 1 FROM practitioners WHERE user_id = $2) AS has_practitioner, \
           $3::uuid IS NULL \
           OR EXISTS (SELECT 1 FROM clinic_locations WHERE id = $3) AS has_location";

/// What an availability question names that the tenant does not have: the
/// parameter, if any.
pub async fn missing_reference(
    tx: &mut TenantTx,
    query: &AvailabilityQuery,
) -> Result<Option<&'static str>, DbError> {
    let row = tx
        .query_one(
            AVAILABILITY_REFERENCES_SQL,
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

/// The condition on a slot `s` of type `t`: a type that needs a room needs one of
/// the location free for the slot's whole buffered time.
macro_rules! room_free {
    () => {
        "(NOT t.needs_room OR app.clinic_room_free(s.location_id, tstzrange( \
             s.starts_at - make_interval(mins => t.buffer_before_minutes), \
             s.starts_at + make_interval(mins => t.duration_minutes + t.buffer_after_minutes))))"
    };
}

/// The statement of [`availability`]: one practitioner's bookable start times, each
/// with its end.
pub const AVAILABILITY_SQL: &str = concat!(
    "SELECT s.starts_at, s.starts_at + make_interval(mins => t.duration_minutes) AS ends_at, \
            $1::uuid AS practitioner_id, s.location_id \
     FROM app.clinic_availability($1, $2, $3, $4, $5, make_interval(mins => $6::integer)) AS s \
     JOIN appointment_types t ON t.id = $2 \
     WHERE ",
    room_free!()
);

/// The statement of [`next_available`]: the earliest bookable start times across
/// practitioners.
const NEXT_AVAILABLE_SQL: &str = concat!(
    "SELECT s.starts_at, s.starts_at + make_interval(mins => t.duration_minutes) AS ends_at, \
            p.user_id AS practitioner_id, s.location_id \
     FROM practitioners p \
     CROSS JOIN LATERAL app.clinic_availability(p.user_id, $1, $2, $3, $4, \
                                                make_interval(mins => $5::integer)) AS s \
     JOIN appointment_types t ON t.id = $1 \
     WHERE ",
    room_free!(),
    " ORDER BY s.starts_at, p.user_id \
     LIMIT $6"
);

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

/// How much of the span [`next_available`] asks about at a time: each practitioner's
/// availability is computed for one window, and the next window only while fewer
/// than `limit` slots were found (a large clinic with free slots this week never
/// computes the month).
const NEXT_AVAILABLE_WINDOW_DAYS: i64 = 7;

/// The earliest `limit` slots across practitioners, window by window.
pub async fn next_available(
    mut tx: TenantTx,
    query: &AvailabilityQuery,
    limit: i64,
) -> Result<Vec<Slot>, DbError> {
    let mut slots = Vec::new();
    let mut from = query.from;
    while from < query.to && (slots.len() as i64) < limit {
        let to = query
            .to
            .min(from + chrono::Duration::days(NEXT_AVAILABLE_WINDOW_DAYS));
        let wanted = limit - slots.len() as i64;
        let rows = tx
            .query(
                NEXT_AVAILABLE_SQL,
                &[
                    &query.appointment_type_id,
                    &from,
                    &to,
                    &query.location_id,
                    &query.step_minutes,
                    &wanted,
                ],
            )
            .await?;
        slots.extend(rows.iter().map(slot));
        from = to;
    }
    tx.commit().await?;
    Ok(slots)
}
