//! The access log's storage: appended by `app.log_clinical_access`, read by owners and
//! admins, verified by `app.verify_clinical_access_log`.

use tokio_postgres::Row;
use uuid::Uuid;

use super::{Access, AccessAction, AccessLogEntry, AccessLogVerification, ChainHead};
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

/// Verifies the tenant's chain and, when valid, names its head; with an `anchor`,
/// also whether the chain still holds it.
pub async fn verify(
    mut tx: TenantTx,
    anchor: Option<&ChainHead>,
) -> Result<AccessLogVerification, DbError> {
    let row = tx
        .query_opt(
            "SELECT rows, valid, first_broken_seq FROM app.verify_clinical_access_log()",
            &[],
        )
        .await?
        .ok_or_else(|| DbError::internal("the verification returned no row"))?;
    let (valid, rows): (bool, i64) = (row.get("valid"), row.get("rows"));
    let head = match valid && rows > 0 {
        true => place(&mut tx, rows).await?,
        false => None,
    };
    let anchor_matches = match anchor {
        Some(anchor) => Some(place(&mut tx, anchor.seq).await?.as_ref() == Some(anchor)),
        None => None,
    };
    tx.commit().await?;
    Ok(AccessLogVerification {
        valid: valid && anchor_matches != Some(false),
        rows,
        first_broken_seq: row.get("first_broken_seq"),
        head,
        anchor_matches,
    })
}

/// The row at `seq` of the tenant's chain, if there is one.
async fn place(tx: &mut TenantTx, seq: i64) -> Result<Option<ChainHead>, DbError> {
    let row = tx
        .query_opt(
            "SELECT seq, encode(hash, 'hex') AS hash FROM clinic_access_log WHERE seq = $1",
            &[&seq],
        )
        .await?;
    Ok(row.map(|row| ChainHead {
        seq: row.get("seq"),
        hash: row.get("hash"),
    }))
}
