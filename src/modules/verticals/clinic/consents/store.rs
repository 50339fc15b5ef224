//! PatientConsent storage: inserted, read, and revoked once (V46's triggers keep the rest
//! as it was signed).

use tokio_postgres::Row;
use uuid::Uuid;

use super::{NewConsent, PatientConsent};
use crate::modules::verticals::clinic::{
    access_log::{self, Access, AccessAction},
    patients,
};
use crate::platform::db::{DbError, Label, TenantTx};

macro_rules! columns {
    () => {
        "id, patient_id, scope, version, signed_at, signed_by_contact_id, recorded_by, \
         recorded_at, revoked_at, revoked_by"
    };
}

fn consent(row: &Row) -> PatientConsent {
    PatientConsent {
        id: row.get("id"),
        patient_id: row.get("patient_id"),
        scope: row.get::<_, Label<_>>("scope").0,
        version: row.get("version"),
        signed_at: row.get("signed_at"),
        signed_by_contact_id: row.get("signed_by_contact_id"),
        recorded_by: row.get("recorded_by"),
        recorded_at: row.get("recorded_at"),
        revoked_at: row.get("revoked_at"),
        revoked_by: row.get("revoked_by"),
    }
}

/// The first row of a statement that returns one.
fn only(rows: &[Row]) -> Result<PatientConsent, DbError> {
    rows.first()
        .map(consent)
        .ok_or_else(|| DbError::internal("the statement returned no row"))
}

/// The consents of `patient`, in the order they were signed, in `tx`, which stays
/// open.
pub async fn of_patient(tx: &mut TenantTx, patient: Uuid) -> Result<Vec<PatientConsent>, DbError> {
    let rows = tx
        .query(
            concat!(
                "SELECT ",
                columns!(),
                " FROM patient_consents WHERE patient_id = $1 ORDER BY signed_at, id"
            ),
            &[&patient],
        )
        .await?;
    Ok(rows.iter().map(consent).collect())
}

/// The patient's consents, the read logged as a read of the patient's record;
/// `NotFound` when the patient is not the tenant's.
pub async fn list(
    mut tx: TenantTx,
    patient: Uuid,
    access: &Access,
) -> Result<Vec<PatientConsent>, DbError> {
    patients::ensure_exists(&mut tx, patient).await?;
    let consents = of_patient(&mut tx, patient).await?;
    access_log::record(tx, &[patient], AccessAction::Patient, access).await?;
    Ok(consents)
}

/// Records a consent of `patient`, signed by the patient's own contact unless the
/// consent names its signer; `NotFound` when the patient is not the tenant's.
pub async fn insert(
    tx: TenantTx,
    patient: Uuid,
    new: &NewConsent,
) -> Result<PatientConsent, DbError> {
    let rows = tx
        .query_and_commit(
            concat!(
                "INSERT INTO patient_consents (id, patient_id, scope, version, signed_at, \
                                               signed_by_contact_id) \
                 SELECT $1, p.id, $3, $4, coalesce($5, now()), coalesce($6, p.contact_id) \
                 FROM patients p WHERE p.id = $2 \
                 RETURNING ",
                columns!()
            ),
            &[
                &Uuid::now_v7(),
                &patient,
                &Label(new.scope),
                &new.version,
                &new.signed_at,
                &new.signed_by_contact_id,
            ],
        )
        .await?;
    match rows.is_empty() {
        true => Err(DbError::NotFound),
        false => only(&rows),
    }
}

/// Revokes the consent (stamped by V46's trigger); `NotFound` when it is not one of
/// `patient`'s, the trigger's conflict when it is revoked already.
pub async fn revoke(tx: TenantTx, patient: Uuid, id: Uuid) -> Result<PatientConsent, DbError> {
    let rows = tx
        .query_and_commit(
            concat!(
                "UPDATE patient_consents SET revoked_at = now() \
                 WHERE id = $1 AND patient_id = $2 RETURNING ",
                columns!()
            ),
            &[&id, &patient],
        )
        .await?;
    match rows.is_empty() {
        true => Err(DbError::NotFound),
        false => only(&rows),
    }
}
