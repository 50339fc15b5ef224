//! The access log's storage: appended by `app.log_clinical_access`, read by owners and
//! admins, verified by `app.verify_clinical_access_log`.

use tokio_postgres::Row;
use uuid::Uuid;

use super::{Access, AccessAction, AccessLogEntry, AccessLogVerification};
use crate::platform::db::{DbError, Label, TenantTx};

/// The statement that logs a read (V40's only writer of the log).
const LOG_SQL: &str = "SELECT app.log_clinical_access($1, $2, $3, $4)";

/// Logs that the transaction's member read `action` of each of `patients`, in `tx`,
/// which it then commits: the read and its log rows are committed together or not at
/// all.
pub async fn record(
    tx: TenantTx,
    patients: &[Uuid],
    action: AccessAction,
    access: &Access,
) -> Result<(), DbError> {
    tx.query_and_commit(
        LOG_SQL,
        &[&patients, &Label(action), &access.reason, &access.client_ip],
    )
    .await?;
    Ok(())
}

/// [`record`] in `tx`, which stays open.
pub async fn append(
    tx: &mut TenantTx,
    patients: &[Uuid],
    action: AccessAction,
    access: &Access,
) -> Result<(), DbError> {
    tx.query(
        LOG_SQL,
        &[&patients, &Label(action), &access.reason, &access.client_ip],
    )
    .await?;
    Ok(())
}

/// Every entry about `patient`, oldest first, in `tx`, which stays open.
pub async fn of_patient(tx: &mut TenantTx, patient: Uuid) -> Result<Vec<AccessLogEntry>, DbError> {
    let rows = tx
        .query(
            "SELECT seq, at, user_id, patient_id, action, reason, break_glass, client_ip \
             FROM clinic_access_log WHERE patient_id = $1 ORDER BY seq",
            &[&patient],
        )
        .await?;
    Ok(rows.iter().map(entry).collect())
}

fn entry(row: &Row) -> AccessLogEntry {
    AccessLogEntry {
        seq: row.get("seq"),
        at: row.get("at"),
        user_id: row.get("user_id"),
        patient_id: row.get("patient_id"),
        action: row.get::<_, Label<_>>("action").0,
        reason: row.get("reason"),
        break_glass: row.get("break_glass"),
        client_ip: row.get("client_ip"),
    }
}

/// The patient's entries before `before` (all when `None`), newest first, at most
/// `limit`; `NotFound` when the patient is not the tenant's.
pub async fn list(
    mut tx: TenantTx,
    patient: Uuid,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AccessLogEntry>, DbError> {
    tx.query_opt("SELECT 1 FROM patients WHERE id = $1", &[&patient])
        .await?
        .ok_or(DbError::NotFound)?;
    let rows = tx
        .query_and_commit(
            "SELECT seq, at, user_id, patient_id, action, reason, break_glass, client_ip \
             FROM clinic_access_log \
             WHERE patient_id = $1 AND seq < coalesce($2, 9223372036854775807) \
             ORDER BY seq DESC LIMIT $3",
            &[&patient, &before, &limit],
        )
        .await?;
    Ok(rows.iter().map(entry).collect())
}

pub async fn verify(tx: TenantTx) -> Result<AccessLogVerification, DbError> {
    let row = tx
        .query_opt_and_commit(
            "SELECT rows, valid, first_broken_seq FROM app.verify_clinical_access_log()",
            &[],
        )
        .await?
        .ok_or_else(|| DbError::internal("the verification returned no row"))?;
    Ok(AccessLogVerification {
        valid: row.get("valid"),
        rows: row.get("rows"),
        first_broken_seq: row.get("first_broken_seq"),
    })
}
