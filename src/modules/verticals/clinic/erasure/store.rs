//! The erasure: one call of `app.erase_patient` (V47), committed with its log row.

use uuid::Uuid;

use super::PatientErasure;
use crate::modules::verticals::clinic::access_log::Access;
use crate::platform::db::{DbError, TenantTx};

/// Erases `patient`'s personal data; `NotFound` when it is not the tenant's, the
/// conflict `patient_erasures_pkey` when it is erased already.
pub async fn erase(
    tx: TenantTx,
    patient: Uuid,
    access: &Access,
) -> Result<PatientErasure, DbError> {
    let erased_by = tx.context().user_id();
    let row = tx
        .query_opt_and_commit(
            "SELECT erased_at, notes_retention_years, notes_kept, notes_deleted \
             FROM app.erase_patient($1, $2, $3)",
            &[&patient, &access.reason, &access.client_ip],
        )
        .await?
        .ok_or_else(|| DbError::internal("the erasure returned no row"))?;
    Ok(PatientErasure {
        patient_id: patient,
        erased_at: row.get("erased_at"),
        erased_by,
        reason: access.reason.clone(),
        notes_retention_years: row.get("notes_retention_years"),
        notes_kept: row.get("notes_kept"),
        notes_deleted: row.get("notes_deleted"),
    })
}
