//! Guardian storage: one row per related person and patient, with the contact's name
//! and addresses read from the contact (never copied).

use tokio_postgres::Row;
use uuid::Uuid;

use super::{Guardian, GuardianLink};
use crate::modules::verticals::clinic::{
    access_log::{self, Access, AccessAction},
    patients,
};
use crate::platform::db::{DbError, Label, TenantTx};

/// A link with its contact's name and addresses, for `WHERE`.
macro_rules! guardian_select {
    () => {
        "SELECT g.contact_id, c.first_name, c.last_name, c.email, c.phone, g.relationship, \
                g.permissions, g.emergency_contact, g.created_at, g.updated_at \
         FROM patient_guardians g \
         JOIN contacts c ON c.tenant_id = g.tenant_id AND c.id = g.contact_id"
    };
}

fn guardian(row: &Row) -> Guardian {
    Guardian {
        contact_id: row.get("contact_id"),
        first_name: row.get("first_name"),
        last_name: row.get("last_name"),
        email: row.get("email"),
        phone: row.get("phone"),
        relationship: row.get::<_, Label<_>>("relationship").0,
        permissions: row
            .get::<_, Vec<Label<_>>>("permissions")
            .into_iter()
            .map(|permission| permission.0)
            .collect(),
        emergency_contact: row.get("emergency_contact"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

/// The people related to `patient`, the emergency contact first, in `tx`, which
/// stays open.
pub async fn of_patient(tx: &mut TenantTx, patient: Uuid) -> Result<Vec<Guardian>, DbError> {
    let rows = tx
        .query(
            concat!(
                guardian_select!(),
                " WHERE g.patient_id = $1 \
                 ORDER BY g.emergency_contact DESC, g.created_at, g.contact_id"
            ),
            &[&patient],
        )
        .await?;
    Ok(rows.iter().map(guardian).collect())
}

/// The patient's related people, the read logged as a read of the patient's record.
pub async fn list(
    mut tx: TenantTx,
    patient: Uuid,
    access: &Access,
) -> Result<Vec<Guardian>, DbError> {
    patients::ensure_exists(&mut tx, patient).await?;
    let guardians = of_patient(&mut tx, patient).await?;
    access_log::record(tx, &[patient], AccessAction::Patient, access).await?;
    Ok(guardians)
}

/// Creates or replaces the link of `contact` to `patient`; `NotFound` when the
/// patient is not the tenant's (the contact's foreign key says so of the contact).
/// Whether it was created.
pub async fn put(
    mut tx: TenantTx,
    patient: Uuid,
    contact: Uuid,
    link: &GuardianLink,
) -> Result<(Guardian, bool), DbError> {
    let permissions: Vec<Label<_>> = link.permissions.iter().copied().map(Label).collect();
    let row = tx
        .query_opt(
            "INSERT INTO patient_guardians (patient_id, patient_contact_id, contact_id, \
                                            relationship, permissions, emergency_contact) \
             SELECT p.id, p.contact_id, $2, $3, $4, $5 FROM patients p WHERE p.id = $1 \
             ON CONFLICT (tenant_id, patient_id, contact_id) DO UPDATE SET \
                 relationship = excluded.relationship, permissions = excluded.permissions, \
                 emergency_contact = excluded.emergency_contact \
             RETURNING (xmax = 0) AS created",
            &[
                &patient,
                &contact,
                &Label(link.relationship),
                &permissions,
                &link.emergency_contact,
            ],
        )
        .await?
        .ok_or(DbError::NotFound)?;
    let created: bool = row.get("created");
    let saved = tx
        .query_opt_and_commit(
            concat!(
                guardian_select!(),
                " WHERE g.patient_id = $1 AND g.contact_id = $2"
            ),
            &[&patient, &contact],
        )
        .await?
        .as_ref()
        .map(guardian)
        .ok_or_else(|| DbError::internal("the saved link is gone"))?;
    Ok((saved, created))
}

/// Removes the link of `contact` to `patient`; `NotFound` when there is none.
pub async fn delete(tx: TenantTx, patient: Uuid, contact: Uuid) -> Result<(), DbError> {
    tx.affect_one_and_commit(
        "DELETE FROM patient_guardians WHERE patient_id = $1 AND contact_id = $2 \
         RETURNING contact_id",
        &[&patient, &contact],
    )
    .await
}
