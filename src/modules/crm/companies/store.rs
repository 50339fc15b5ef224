//! Company storage. Plain SQL: tenant isolation is the policies' job.

use tokio_postgres::Row;
use uuid::Uuid;

use super::{Company, CompanyFilter, CompanyPatch, CompanySort, NewCompany};
use crate::platform::{
    db::{DbError, TenantTx},
    error::ApiError,
    list::{ListQuery, PageQuery},
};

/// The columns every company query returns, in one place.
macro_rules! columns {
    () => {
        "id, name, domain, phone, address, description, created_at, updated_at"
    };
}

fn company(row: &Row) -> Company {
    Company {
        id: row.get("id"),
        name: row.get("name"),
        domain: row.get("domain"),
        phone: row.get("phone"),
        address: row.get("address"),
        description: row.get("description"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

pub async fn insert(tx: TenantTx, new: &NewCompany) -> Result<Company, DbError> {
    let rows = tx
        .query_and_commit(
            concat!(
                "INSERT INTO companies (id, name, domain, phone, address, description) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 RETURNING ",
                columns!()
            ),
            &[
                &Uuid::now_v7(),
                &new.name,
                &new.domain,
                &new.phone,
                &new.address,
                &new.description,
            ],
        )
        .await?;
    rows.first()
        .map(company)
        .ok_or_else(|| DbError::internal("INSERT returned no row"))
}

pub async fn get(tx: TenantTx, id: Uuid) -> Result<Company, DbError> {
    let row = tx
        .query_opt_and_commit(
            concat!("SELECT ", columns!(), " FROM companies WHERE id = $1"),
            &[&id],
        )
        .await?;
    row.as_ref().map(company).ok_or(DbError::NotFound)
}

pub async fn update(tx: TenantTx, id: Uuid, patch: &CompanyPatch) -> Result<Company, DbError> {
    let row = tx
        .query_opt_and_commit(
            concat!(
                "UPDATE companies SET \
                 name        = coalesce($2, name), \
                 domain      = CASE WHEN $3 THEN $4 ELSE domain END, \
                 phone       = CASE WHEN $5 THEN $6 ELSE phone END, \
                 address     = CASE WHEN $7 THEN $8 ELSE address END, \
                 description = CASE WHEN $9 THEN $10 ELSE description END \
             WHERE id = $1 \
             RETURNING ",
                columns!()
            ),
            &[
                &id,
                &patch.name,
                &patch.domain.is_some(),
                &patch.domain.clone().flatten(),
                &patch.phone.is_some(),
                &patch.phone.clone().flatten(),
                &patch.address.is_some(),
                &patch.address.clone().flatten(),
                &patch.description.is_some(),
                &patch.description.clone().flatten(),
            ],
        )
        .await?;
    row.as_ref().map(company).ok_or(DbError::NotFound)
}

pub async fn delete(tx: TenantTx, id: Uuid) -> Result<(), DbError> {
    tx.affect_one_and_commit("DELETE FROM companies WHERE id = $1 RETURNING id", &[&id])
        .await
}

pub async fn list(
    tx: TenantTx,
    query: PageQuery<CompanySort>,
) -> Result<(Vec<Company>, Option<String>), DbError> {
    query.fetch(tx, company).await
}

/// The statement [`list`] runs for these arguments; refuses a bad filter or cursor.
pub fn list_query(
    filter: CompanyFilter,
    sort: CompanySort,
    cursor: Option<String>,
    limit: Option<i64>,
) -> Result<PageQuery<CompanySort>, ApiError> {
    let mut query = ListQuery::new(match sort {
        CompanySort::CreatedAt | CompanySort::CreatedAtDesc => {
            concat!(
                "SELECT ",
                columns!(),
                ", created_at::text AS sort_key FROM companies"
            )
        }
        CompanySort::Name | CompanySort::NameDesc => {
            concat!(
                "SELECT ",
                columns!(),
                ", name_key AS sort_key FROM companies"
            )
        }
    });
    query.search(filter.q)?;
    query.filter("created_at", ">=", filter.created_after);
    query.filter("created_at", "<", filter.created_before);
    query.filter_around(
        "id IN (SELECT l.company_id FROM company_tags l WHERE l.tag_id = ",
        filter.tag_id,
        ")",
    );
    query.page(sort, cursor, limit)
}
