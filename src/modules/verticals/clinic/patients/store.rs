//! Patient storage: the patient, its contact's name and addresses, its identifiers
//! (replaced as a whole).

use tokio_postgres::Row;
use uuid::Uuid;

use super::{Identifier, NewPatient, Patient, PatientFields, PatientFilter};
use crate::modules::verticals::clinic::access_log::{self, Access, AccessAction};
use crate::platform::{
    db::{DbError, Label, TenantTx},
    error::ApiError,
    list::{ListQuery, OldestFirst, PageQuery},
};

/// A patient with its contact's name and addresses and its identifiers as one JSON
/// array.
macro_rules! patient_select {
    () => {
        "SELECT p.id, p.contact_id, c.first_name, c.last_name, c.email, c.phone, \
                c.search_text, p.date_of_birth, p.sex, p.alerts, p.archived, p.erased_at, \
                p.created_at, p.updated_at, \
                coalesce((SELECT jsonb_agg(jsonb_build_object('kind', i.kind, 'value', i.value) \
                                           ORDER BY i.kind) \
                          FROM patient_identifiers i \
                          WHERE i.tenant_id = p.tenant_id AND i.patient_id = p.id), \
                         '[]') AS identifiers \
         FROM patients p \
         JOIN contacts c ON c.tenant_id = p.tenant_id AND c.id = p.contact_id"
    };
}

fn patient(row: &Row) -> Result<Patient, DbError> {
    let identifiers: Vec<Identifier> =
        serde_json::from_value(row.get("identifiers")).map_err(DbError::internal)?;
    Ok(Patient {
        id: row.get("id"),
        contact_id: row.get("contact_id"),
        first_name: row.get("first_name"),
        last_name: row.get("last_name"),
        email: row.get("email"),
        phone: row.get("phone"),
        date_of_birth: row.get("date_of_birth"),
        sex: row.get::<_, Option<Label<_>>>("sex").map(|sex| sex.0),
        alerts: row.get("alerts"),
        archived: row.get("archived"),
        identifiers,
        erased_at: row.get("erased_at"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    })
}

pub async fn insert(mut tx: TenantTx, new: &NewPatient) -> Result<Patient, DbError> {
    let id = Uuid::now_v7();
    let fields = &new.fields;
    tx.query(
        "INSERT INTO patients (id, contact_id, date_of_birth, sex, alerts) \
         VALUES ($1, $2, $3, $4, coalesce($5, false))",
        &[
            &id,
            &new.contact_id,
            &fields.date_of_birth.flatten(),
            &fields.sex.flatten().map(Label),
            &fields.alerts,
        ],
    )
    .await?;
    if let Some(identifiers) = &fields.identifiers {
        insert_identifiers(&mut tx, id, identifiers).await?;
    }
    read(tx, id).await
}

async fn insert_identifiers(
    tx: &mut TenantTx,
    patient: Uuid,
    (kinds, values): &(Vec<String>, Vec<String>),
) -> Result<(), DbError> {
    tx.query(
        "INSERT INTO patient_identifiers (patient_id, kind, value) \
         SELECT $1, i.kind, i.value FROM unnest($2::text[], $3::text[]) AS i (kind, value)",
        &[&patient, kinds, values],
    )
    .await?;
    Ok(())
}

/// The patient as the last statement of `tx`.
async fn read(tx: TenantTx, id: Uuid) -> Result<Patient, DbError> {
    let row = tx
        .query_opt_and_commit(concat!(patient_select!(), " WHERE p.id = $1"), &[&id])
        .await?;
    row.as_ref().map(patient).ok_or(DbError::NotFound)?
}

/// The patient, in `tx`, which stays open; `NotFound` when it is not the tenant's.
pub async fn find(tx: &mut TenantTx, id: Uuid) -> Result<Patient, DbError> {
    tx.query_opt(concat!(patient_select!(), " WHERE p.id = $1"), &[&id])
        .await?
        .as_ref()
        .map(patient)
        .ok_or(DbError::NotFound)?
}

/// `NotFound` when `id` is not a patient of the tenant, in `tx`, which stays open.
pub async fn ensure_exists(tx: &mut TenantTx, id: Uuid) -> Result<(), DbError> {
    tx.query_opt("SELECT 1 FROM patients WHERE id = $1", &[&id])
        .await?
        .ok_or(DbError::NotFound)?;
    Ok(())
}

/// The patient, its read logged.
pub async fn get(mut tx: TenantTx, id: Uuid, access: &Access) -> Result<Patient, DbError> {
    let found = find(&mut tx, id).await?;
    access_log::record(tx, &[id], AccessAction::Patient, access).await?;
    Ok(found)
}

/// Updates the clinical data; new identifiers replace the old ones, in the same
/// transaction.
pub async fn update(mut tx: TenantTx, id: Uuid, patch: &PatientFields) -> Result<Patient, DbError> {
    tx.query_opt(
        "UPDATE patients SET \
         date_of_birth = CASE WHEN $2 THEN $3 ELSE date_of_birth END, \
         sex           = CASE WHEN $4 THEN $5 ELSE sex END, \
         alerts        = coalesce($6, alerts), \
         archived      = coalesce($7, archived) \
         WHERE id = $1 RETURNING id",
        &[
            &id,
            &patch.date_of_birth.is_some(),
            &patch.date_of_birth.flatten(),
            &patch.sex.is_some(),
            &patch.sex.flatten().map(Label),
            &patch.alerts,
            &patch.archived,
        ],
    )
    .await?
    .ok_or(DbError::NotFound)?;
    if let Some(identifiers) = &patch.identifiers {
        tx.query(
            "DELETE FROM patient_identifiers WHERE patient_id = $1",
            &[&id],
        )
        .await?;
        insert_identifiers(&mut tx, id, identifiers).await?;
    }
    read(tx, id).await
}

/// A page of patients, the read of each logged.
pub async fn list(
    mut tx: TenantTx,
    query: PageQuery<OldestFirst>,
    access: &Access,
) -> Result<(Vec<Patient>, Option<String>), DbError> {
    let (rows, next) = query.fetch_open(&mut tx, patient).await?;
    let patients: Vec<Patient> = rows.into_iter().collect::<Result<_, _>>()?;
    let ids: Vec<Uuid> = patients.iter().map(|p| p.id).collect();
    access_log::record(tx, &ids, AccessAction::Patient, access).await?;
    Ok((patients, next))
}

/// The statement [`list`] runs; refuses a search no index can serve, or a bad cursor.
pub fn list_query(
    filter: PatientFilter,
    cursor: Option<String>,
    limit: Option<i64>,
) -> Result<PageQuery<OldestFirst>, ApiError> {
    let mut query = ListQuery::new(concat!(
        "SELECT *, created_at::text AS sort_key FROM (",
        patient_select!(),
        ") AS patients"
    ));
    query.search(filter.q)?;
    query.filter_around(
        "id IN (SELECT i.patient_id FROM patient_identifiers i WHERE i.value = ",
        filter.identifier,
        ")",
    );
    query.filter("date_of_birth", "=", filter.date_of_birth);
    query.filter("archived", "=", filter.archived);
    query.page(OldestFirst, cursor, limit)
}
