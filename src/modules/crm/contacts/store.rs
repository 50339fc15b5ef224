//! Contact storage. Plain SQL: tenant isolation is the policies' job.

use tokio_postgres::Row;
use uuid::Uuid;

use super::{Contact, ContactFilter, ContactPatch, ContactSort, NewContact};
use crate::platform::{
    db::{DbError, TenantTx},
    error::ApiError,
    list::{ListQuery, PageQuery},
};

/// The columns every contact query returns, in one place.
macro_rules! columns {
    () => {
        "id, first_name, last_name, email, phone, locale, description, company_id, created_at, \
         updated_at"
    };
}

fn contact(row: &Row) -> Contact {
    Contact {
        id: row.get("id"),
        first_name: row.get("first_name"),
        last_name: row.get("last_name"),
        email: row.get("email"),
        phone: row.get("phone"),
        locale: row.get("locale"),
        description: row.get("description"),
        company_id: row.get("company_id"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

/// The statement [`insert`] runs (the benchmark's pgbench scripts run it too).
pub const INSERT_SQL: &str = concat!(
    "INSERT INTO contacts (id, first_name, last_name, email, phone, locale, description, \
     company_id) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
     RETURNING ",
    columns!()
);

/// The statement [`get`] runs (the query-plan test EXPLAINs it).
pub const GET_SQL: &str = concat!("SELECT ", columns!(), " FROM contacts WHERE id = $1");

pub async fn insert(tx: TenantTx, new: &NewContact) -> Result<Contact, DbError> {
    let rows = tx
        .query_and_commit(
            INSERT_SQL,
            &[
                &Uuid::now_v7(),
                &new.first_name,
                &new.last_name,
                &new.email,
                &new.phone,
                &new.locale,
                &new.description,
                &new.company_id,
            ],
        )
        .await?;
    rows.first()
        .map(contact)
        .ok_or_else(|| DbError::internal("INSERT returned no row"))
}

pub async fn get(tx: TenantTx, id: Uuid) -> Result<Contact, DbError> {
    let row = tx.query_opt_and_commit(GET_SQL, &[&id]).await?;
    row.as_ref().map(contact).ok_or(DbError::NotFound)
}

pub async fn update(tx: TenantTx, id: Uuid, patch: &ContactPatch) -> Result<Contact, DbError> {
    let row = tx
        .query_opt_and_commit(
            concat!(
                "UPDATE contacts SET \
                 first_name  = coalesce($2, first_name), \
                 last_name   = coalesce($3, last_name), \
                 email       = CASE WHEN $4 THEN $5 ELSE email END, \
                 phone       = CASE WHEN $6 THEN $7 ELSE phone END, \
                 description = CASE WHEN $8 THEN $9 ELSE description END, \
                 company_id  = CASE WHEN $10 THEN $11 ELSE company_id END, \
                 locale      = CASE WHEN $12 THEN $13 ELSE locale END \
             WHERE id = $1 \
             RETURNING ",
                columns!()
            ),
            &[
                &id,
                &patch.first_name,
                &patch.last_name,
                &patch.email.is_some(),
                &patch.email.clone().flatten(),
                &patch.phone.is_some(),
                &patch.phone.clone().flatten(),
                &patch.description.is_some(),
                &patch.description.clone().flatten(),
                &patch.company_id.is_some(),
                &patch.company_id.flatten(),
                &patch.locale.is_some(),
                &patch.locale.clone().flatten(),
            ],
        )
        .await?;
    row.as_ref().map(contact).ok_or(DbError::NotFound)
}

pub async fn delete(tx: TenantTx, id: Uuid) -> Result<(), DbError> {
    tx.affect_one_and_commit("DELETE FROM contacts WHERE id = $1 RETURNING id", &[&id])
        .await
}

pub async fn list(
    tx: TenantTx,
    query: PageQuery<ContactSort>,
) -> Result<(Vec<Contact>, Option<String>), DbError> {
    query.fetch(tx, contact).await
}

/// The statement [`list`] runs for these arguments (the query-plan test EXPLAINs it);
/// refuses a bad filter or cursor.
pub fn list_query(
    filter: ContactFilter,
    sort: ContactSort,
    cursor: Option<String>,
    limit: Option<i64>,
) -> Result<PageQuery<ContactSort>, ApiError> {
    let mut query = ListQuery::new(match sort {
        ContactSort::CreatedAt | ContactSort::CreatedAtDesc => {
            concat!(
                "SELECT ",
                columns!(),
                ", created_at::text AS sort_key FROM contacts"
            )
        }
        ContactSort::LastName | ContactSort::LastNameDesc => {
            concat!(
                "SELECT ",
                columns!(),
                ", last_name_key AS sort_key FROM contacts"
            )
        }
    });
    query.search(filter.q)?;
    query.filter("company_id", "=", filter.company_id);
    query.filter("created_at", ">=", filter.created_after);
    query.filter("created_at", "<", filter.created_before);
    query.filter_around(
        "id IN (SELECT l.contact_id FROM contact_tags l WHERE l.tag_id = ",
        filter.tag_id,
        ")",
    );
    query.page(sort, cursor, limit)
}
