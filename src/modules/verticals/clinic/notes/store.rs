//! Treatment note storage. Who reads and who writes is the policies' (V40); a refusal
//! is explained afterwards by what the caller may see.

use tokio_postgres::Row;
use uuid::Uuid;

use super::{NewNote, NotePatch, TreatmentNote};
use crate::modules::verticals::clinic::access_log::{self, Access, AccessAction};
use crate::platform::{
    db::{DbError, Label, TenantTx},
    error::ApiError,
};

macro_rules! columns {
    () => {
        "id, patient_id, appointment_id, amends_id, author_id, body, status, signed_at, \
         created_at, updated_at"
    };
}

fn note(row: &Row) -> TreatmentNote {
    TreatmentNote {
        id: row.get("id"),
        patient_id: row.get("patient_id"),
        appointment_id: row.get("appointment_id"),
        amends_id: row.get("amends_id"),
        author_id: row.get("author_id"),
        body: row.get("body"),
        status: row.get::<_, Label<_>>("status").0,
        signed_at: row.get("signed_at"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

/// The refusal of a caller who is not a clinician.
pub const CLINICIANS_ONLY: &str =
    "Only practitioners, owners and admins read and write treatment notes.";

/// Refuses a caller who is not a clinician (`app.is_clinician`).
async fn ensure_clinician(tx: &mut TenantTx) -> Result<(), ApiError> {
    let row = tx
        .query_one("SELECT app.is_clinician() AS clinician", &[])
        .await?;
    if row.get("clinician") {
        Ok(())
    } else {
        Err(ApiError::Forbidden(CLINICIANS_ONLY))
    }
}

/// The patient's notes, oldest first, their read logged; `NotFound` when the patient
/// is not the tenant's (before a non-clinician's 403, which says nothing of it).
pub async fn list(
    mut tx: TenantTx,
    patient: Uuid,
    access: &Access,
) -> Result<Vec<TreatmentNote>, ApiError> {
    tx.query_opt("SELECT 1 FROM patients WHERE id = $1", &[&patient])
        .await?
        .ok_or(DbError::NotFound)?;
    ensure_clinician(&mut tx).await?;
    let notes = of_patient(&mut tx, patient).await?;
    access_log::record(tx, &[patient], AccessAction::TreatmentNotes, access).await?;
    Ok(notes)
}

/// The notes of `patient` the caller may read, oldest first, in `tx`, which stays open.
pub async fn of_patient(tx: &mut TenantTx, patient: Uuid) -> Result<Vec<TreatmentNote>, DbError> {
    let rows = tx
        .query(
            concat!(
                "SELECT ",
                columns!(),
                " FROM treatment_notes WHERE patient_id = $1 ORDER BY created_at, id"
            ),
            &[&patient],
        )
        .await?;
    Ok(rows.iter().map(note).collect())
}

/// A new draft of the caller's; the policies refuse a caller who is not a clinician.
pub async fn insert(
    mut tx: TenantTx,
    patient: Uuid,
    new: &NewNote,
) -> Result<TreatmentNote, ApiError> {
    ensure_clinician(&mut tx).await?;
    let rows = tx
        .query_and_commit(
            concat!(
                "INSERT INTO treatment_notes (id, patient_id, appointment_id, amends_id, body) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING ",
                columns!()
            ),
            &[
                &Uuid::now_v7(),
                &patient,
                &new.appointment_id,
                &new.amends_id,
                &new.body,
            ],
        )
        .await?;
    Ok(rows
        .first()
        .map(note)
        .ok_or_else(|| DbError::internal("INSERT returned no row"))?)
}

/// The note, its read logged.
pub async fn get(mut tx: TenantTx, id: Uuid, access: &Access) -> Result<TreatmentNote, ApiError> {
    ensure_clinician(&mut tx).await?;
    let found = tx
        .query_opt(
            concat!("SELECT ", columns!(), " FROM treatment_notes WHERE id = $1"),
            &[&id],
        )
        .await?
        .as_ref()
        .map(note)
        .ok_or(DbError::NotFound)?;
    access_log::record(
        tx,
        &[found.patient_id],
        AccessAction::TreatmentNotes,
        access,
    )
    .await?;
    Ok(found)
}

/// Changes the caller's own draft; signing stamps it (V40's trigger).
pub async fn update(
    mut tx: TenantTx,
    id: Uuid,
    patch: &NotePatch,
) -> Result<TreatmentNote, ApiError> {
    ensure_clinician(&mut tx).await?;
    let row = tx
        .query_opt(
            concat!(
                "UPDATE treatment_notes SET body = coalesce($2, body), \
                     status = coalesce($3, status) \
                 WHERE id = $1 RETURNING ",
                columns!()
            ),
            &[&id, &patch.body, &patch.status.map(Label)],
        )
        .await?;
    match row {
        Some(row) => {
            tx.commit().await?;
            Ok(note(&row))
        }
        None => Err(refusal(tx, id).await),
    }
}

/// Deletes the caller's own draft.
pub async fn delete(mut tx: TenantTx, id: Uuid) -> Result<(), ApiError> {
    ensure_clinician(&mut tx).await?;
    let deleted = tx
        .query_opt(
            "DELETE FROM treatment_notes WHERE id = $1 RETURNING id",
            &[&id],
        )
        .await?;
    match deleted {
        Some(_) => Ok(tx.commit().await?),
        None => Err(refusal(tx, id).await),
    }
}

/// Why the policies let no row of `id` change: not visible (404), or another
/// clinician's note (403). (A signed note of the caller's is refused by the trigger.)
async fn refusal(tx: TenantTx, id: Uuid) -> ApiError {
    let row = tx
        .query_opt_and_commit("SELECT 1 FROM treatment_notes WHERE id = $1", &[&id])
        .await;
    match row {
        Ok(None) => DbError::NotFound.into(),
        Ok(Some(_)) => ApiError::Forbidden("Only its author changes a note."),
        Err(err) => err.into(),
    }
}
