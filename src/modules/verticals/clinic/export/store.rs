//! The export: six reads and their log rows in one transaction.

use uuid::Uuid;

use super::PatientExport;
use crate::modules::verticals::clinic::{
    access_log::{self, Access, AccessAction},
    appointments, consents, guardians, notes, patients,
};
use crate::platform::db::{DbError, TenantTx};

/// Everything about `patient` (`NotFound` when it is not the tenant's), its reads
/// logged and committed with it.
pub async fn export(
    mut tx: TenantTx,
    patient: Uuid,
    access: &Access,
) -> Result<PatientExport, DbError> {
    let record = patients::find(&mut tx, patient).await?;
    let exported_at = tx.query_one("SELECT now() AS at", &[]).await?.get("at");
    let export = PatientExport {
        exported_at,
        patient: record,
        guardians: guardians::of_patient(&mut tx, patient).await?,
        consents: consents::of_patient(&mut tx, patient).await?,
        appointments: appointments::of_patient(&mut tx, patient).await?,
        treatment_notes: notes::of_patient(&mut tx, patient).await?,
        access_log: access_log::of_patient(&mut tx, patient).await?,
    };
    for action in [AccessAction::Patient, AccessAction::Appointments] {
        access_log::append(&mut tx, &[patient], action, access).await?;
    }
    access_log::record(tx, &[patient], AccessAction::TreatmentNotes, access).await?;
    Ok(export)
}
