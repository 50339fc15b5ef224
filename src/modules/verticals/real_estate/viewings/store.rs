//! Viewing storage. Double booking is refused by the exclusion constraints; the
//! conflicting viewing is looked up afterwards, so that the answer can name it.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use uuid::Uuid;

use super::{ByStart, NewViewing, Viewing, ViewingFeedback, ViewingFilter, ViewingPatch};
use crate::platform::db::Label;
use crate::platform::{
    db::{DbError, TenantTx},
    error::ApiError,
    list::{ListQuery, PageQuery},
};

/// The columns every viewing query returns, in one place.
macro_rules! columns {
    () => {
        "id, property_id, contact_id, agent_id, scheduled_at, duration_minutes, ends_at, \
         notes, status, feedback_interest, feedback_comments, feedback_at, created_at, \
         updated_at"
    };
}

fn viewing(row: &Row) -> Viewing {
    let interest: Option<i32> = row.get("feedback_interest");
    let recorded_at: Option<DateTime<Utc>> = row.get("feedback_at");
    Viewing {
        id: row.get("id"),
        property_id: row.get("property_id"),
        contact_id: row.get("contact_id"),
        agent_id: row.get("agent_id"),
        scheduled_at: row.get("scheduled_at"),
        duration_minutes: row.get("duration_minutes"),
        ends_at: row.get("ends_at"),
        notes: row.get("notes"),
        status: row.get::<_, Label<_>>("status").0,
        feedback: interest
            .zip(recorded_at)
            .map(|(interest, recorded_at)| ViewingFeedback {
                interest,
                comments: row.get("feedback_comments"),
                recorded_at,
            }),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

/// The statement [`insert`] runs (the benchmark's pgbench scripts run it too). The
/// tenant's notification rules run in it (real estate V26).
pub const BOOK_SQL: &str = concat!(
    "INSERT INTO viewings (id, property_id, contact_id, agent_id, scheduled_at, \
                           duration_minutes, notes) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) \
     RETURNING ",
    columns!()
);

pub async fn insert(tx: TenantTx, id: Uuid, new: &NewViewing) -> Result<Viewing, DbError> {
    let rows = tx
        .query_and_commit(
            BOOK_SQL,
            &[
                &id,
                &new.property_id,
                &new.contact_id,
                &new.agent_id,
                &new.scheduled_at,
                &new.duration_minutes,
                &new.notes,
            ],
        )
        .await?;
    rows.first()
        .map(viewing)
        .ok_or_else(|| DbError::internal("INSERT returned no row"))
}

pub async fn get(tx: TenantTx, id: Uuid) -> Result<Viewing, DbError> {
    let row = tx
        .query_opt_and_commit(
            concat!("SELECT ", columns!(), " FROM viewings WHERE id = $1"),
            &[&id],
        )
        .await?;
    row.as_ref().map(viewing).ok_or(DbError::NotFound)
}

/// Outcomes before the start and feedback without `COMPLETED` are refused by the
/// table's trigger and checks.
pub async fn update(tx: TenantTx, id: Uuid, patch: &ViewingPatch) -> Result<Viewing, DbError> {
    let feedback = patch.feedback.as_ref();
    let row = tx
        .query_opt_and_commit(
            concat!(
                "UPDATE viewings SET \
                 contact_id        = coalesce($2, contact_id), \
                 agent_id          = coalesce($3, agent_id), \
                 scheduled_at      = coalesce($4, scheduled_at), \
                 duration_minutes  = coalesce($5, duration_minutes), \
                 notes             = CASE WHEN $6 THEN $7 ELSE notes END, \
                 status            = coalesce($8, status), \
                 feedback_interest = CASE WHEN $9 THEN $10 ELSE feedback_interest END, \
                 feedback_comments = CASE WHEN $9 THEN $11 ELSE feedback_comments END, \
                 feedback_at       = CASE WHEN $9 THEN \
                                       CASE WHEN $10::integer IS NULL THEN NULL ELSE now() END \
                                     ELSE feedback_at END \
             WHERE id = $1 \
             RETURNING ",
                columns!()
            ),
            &[
                &id,
                &patch.contact_id,
                &patch.agent_id,
                &patch.scheduled_at,
                &patch.duration_minutes,
                &patch.notes.is_some(),
                &patch.notes.clone().flatten(),
                &patch.status.map(Label),
                &feedback.is_some(),
                &feedback.and_then(|f| f.as_ref().map(|f| f.interest)),
                &feedback.and_then(|f| f.as_ref().and_then(|f| f.comments.as_deref())),
            ],
        )
        .await?;
    row.as_ref().map(viewing).ok_or(DbError::NotFound)
}

pub async fn delete(tx: TenantTx, id: Uuid) -> Result<(), DbError> {
    tx.affect_one_and_commit("DELETE FROM viewings WHERE id = $1 RETURNING id", &[&id])
        .await
}

/// The agenda; with `filter.property_id`, one property's viewings (`NotFound` when the
/// property is not visible).
pub async fn list(
    mut tx: TenantTx,
    property_id: Option<Uuid>,
    query: PageQuery<ByStart>,
) -> Result<(Vec<Viewing>, Option<String>), DbError> {
    if let Some(property_id) = property_id {
        tx.query_opt("SELECT 1 FROM properties WHERE id = $1", &[&property_id])
            .await?
            .ok_or(DbError::NotFound)?;
    }
    query.fetch(tx, viewing).await
}

/// The statement [`list`] runs for these arguments; refuses a bad cursor or limit.
pub fn list_query(
    filter: ViewingFilter,
    cursor: Option<String>,
    limit: Option<i64>,
) -> Result<PageQuery<ByStart>, ApiError> {
    let mut query = ListQuery::new(concat!(
        "SELECT ",
        columns!(),
        ", scheduled_at::text AS sort_key FROM viewings"
    ));
    query.filter("property_id", "=", filter.property_id);
    query.filter("scheduled_at", ">=", filter.from);
    query.filter("scheduled_at", "<", filter.to);
    query.filter("agent_id", "=", filter.agent_id);
    query.filter("contact_id", "=", filter.contact_id);
    query.filter("status", "=", filter.status.map(Label));
    query.page(ByStart, cursor, limit)
}

/// The time a booking or a change asks for; `None` fields are taken from the
/// existing viewing `viewing_id` (a new booking has them all).
pub struct Slot {
    pub viewing_id: Uuid,
    pub property_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub duration_minutes: Option<i32>,
}

/// A viewing that holds the slot another one asked for.
pub struct Conflict {
    pub id: Uuid,
    pub scheduled_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// True when it is the same property; false when it is the same agent.
    pub same_property: bool,
}

/// The earliest viewing, not cancelled, that overlaps `slot` for its property or its
/// agent. The overlap test is a filter (range operators are not LEAKPROOF, so RLS keeps
/// them out of index conditions); the lookups walk `viewings_property_idx` and
/// `viewings_agent_idx`.
pub async fn find_conflict(tx: TenantTx, slot: &Slot) -> Result<Option<Conflict>, DbError> {
    let row = tx
        .query_opt_and_commit(
            "WITH wanted AS ( \
                 SELECT coalesce($2::uuid, v.property_id) AS property_id, \
                        coalesce($3::uuid, v.agent_id) AS agent_id, \
                        coalesce($4::timestamptz, v.scheduled_at) AS starts, \
                        coalesce($5::integer, v.duration_minutes) AS minutes \
                 FROM (SELECT) AS one LEFT JOIN viewings v ON v.id = $1) \
             SELECT o.id, o.scheduled_at, o.ends_at, o.property_id = w.property_id AS same_property \
             FROM wanted w \
             JOIN viewings o ON o.status <> 'CANCELLED' AND o.id <> $1 \
              AND (o.property_id = w.property_id OR o.agent_id = w.agent_id) \
              AND tstzrange(o.scheduled_at, o.ends_at) \
                  && tstzrange(w.starts, w.starts + make_interval(mins => w.minutes)) \
             ORDER BY o.scheduled_at, o.id \
             LIMIT 1",
            &[
                &slot.viewing_id,
                &slot.property_id,
                &slot.agent_id,
                &slot.scheduled_at,
                &slot.duration_minutes,
            ],
        )
        .await?;
    Ok(row.map(|row| Conflict {
        id: row.get("id"),
        scheduled_at: row.get("scheduled_at"),
        ends_at: row.get("ends_at"),
        same_property: row.get("same_property"),
    }))
}
