//! Tag storage. Plain SQL: tenant isolation is the policies' job, and the link tables'
//! composite foreign keys keep a link within one tenant.

use tokio_postgres::Row;
use uuid::Uuid;

use super::{Tag, TagFields, Tagged, TagsByName};
use crate::platform::{
    db::{DbError, TenantTx},
    error::ApiError,
    list::{ListQuery, PageQuery},
};

macro_rules! columns {
    () => {
        "id, name, color, created_at, updated_at"
    };
}

fn tag(row: &Row) -> Tag {
    Tag {
        id: row.get("id"),
        name: row.get("name"),
        color: row.get("color"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

impl Tagged {
    /// Whether the tenant has the record.
    fn exists_sql(self) -> &'static str {
        match self {
            Self::Contact => "SELECT 1 FROM contacts WHERE id = $1",
            Self::Company => "SELECT 1 FROM companies WHERE id = $1",
            Self::Deal => "SELECT 1 FROM deals WHERE id = $1",
        }
    }

    /// Tags record `$1` with tag `$2`; nothing when it already is. An unknown record
    /// or tag (another tenant's included) fails a foreign key.
    fn link_sql(self) -> &'static str {
        match self {
            Self::Contact => {
                "INSERT INTO contact_tags (contact_id, tag_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
            }
            Self::Company => {
                "INSERT INTO company_tags (company_id, tag_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
            }
            Self::Deal => {
                "INSERT INTO deal_tags (deal_id, tag_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
            }
        }
    }

    fn unlink_sql(self) -> &'static str {
        match self {
            Self::Contact => {
                "DELETE FROM contact_tags WHERE contact_id = $1 AND tag_id = $2 RETURNING tag_id"
            }
            Self::Company => {
                "DELETE FROM company_tags WHERE company_id = $1 AND tag_id = $2 RETURNING tag_id"
            }
            Self::Deal => {
                "DELETE FROM deal_tags WHERE deal_id = $1 AND tag_id = $2 RETURNING tag_id"
            }
        }
    }

    fn tags_sql(self) -> &'static str {
        match self {
            Self::Contact => {
                "SELECT t.id, t.name, t.color, t.created_at, t.updated_at FROM tags t \
                 JOIN contact_tags l ON l.tenant_id = t.tenant_id AND l.tag_id = t.id \
                 WHERE l.contact_id = $1 ORDER BY t.name_key"
            }
            Self::Company => {
                "SELECT t.id, t.name, t.color, t.created_at, t.updated_at FROM tags t \
                 JOIN company_tags l ON l.tenant_id = t.tenant_id AND l.tag_id = t.id \
                 WHERE l.company_id = $1 ORDER BY t.name_key"
            }
            Self::Deal => {
                "SELECT t.id, t.name, t.color, t.created_at, t.updated_at FROM tags t \
                 JOIN deal_tags l ON l.tenant_id = t.tenant_id AND l.tag_id = t.id \
                 WHERE l.deal_id = $1 ORDER BY t.name_key"
            }
        }
    }
}

/// One tag by id.
const GET_SQL: &str = concat!("SELECT ", columns!(), " FROM tags WHERE id = $1");

pub async fn insert(tx: TenantTx, new: &TagFields) -> Result<Tag, DbError> {
    let rows = tx
        .query_and_commit(
            concat!(
                "INSERT INTO tags (id, name, color) VALUES ($1, $2, $3) RETURNING ",
                columns!()
            ),
            &[&Uuid::now_v7(), &new.name, &new.color.clone().flatten()],
        )
        .await?;
    rows.first()
        .map(tag)
        .ok_or_else(|| DbError::internal("INSERT returned no row"))
}

pub async fn get(tx: TenantTx, id: Uuid) -> Result<Tag, DbError> {
    let row = tx.query_opt_and_commit(GET_SQL, &[&id]).await?;
    row.as_ref().map(tag).ok_or(DbError::NotFound)
}

pub async fn update(tx: TenantTx, id: Uuid, patch: &TagFields) -> Result<Tag, DbError> {
    let row = tx
        .query_opt_and_commit(
            concat!(
                "UPDATE tags SET name = coalesce($2, name), \
                 color = CASE WHEN $3 THEN $4 ELSE color END \
                 WHERE id = $1 RETURNING ",
                columns!()
            ),
            &[
                &id,
                &patch.name,
                &patch.color.is_some(),
                &patch.color.clone().flatten(),
            ],
        )
        .await?;
    row.as_ref().map(tag).ok_or(DbError::NotFound)
}

pub async fn delete(tx: TenantTx, id: Uuid) -> Result<(), DbError> {
    tx.affect_one_and_commit("DELETE FROM tags WHERE id = $1 RETURNING id", &[&id])
        .await
}

/// Merges tag `id` into `into` (`app.merge_tags`); the tag merged into. `NotFound`
/// when `id` is not the tenant's; `Ok(None)` when `into` is not.
pub async fn merge(mut tx: TenantTx, id: Uuid, into: Uuid) -> Result<Option<Tag>, DbError> {
    let Some(target) = tx.query_opt(GET_SQL, &[&into]).await? else {
        return Ok(None);
    };
    let merged: bool = tx
        .query_one("SELECT app.merge_tags($1, $2)", &[&id, &into])
        .await?
        .get(0);
    if !merged {
        return Err(DbError::NotFound);
    }
    tx.commit().await?;
    Ok(Some(tag(&target)))
}

pub async fn list(
    tx: TenantTx,
    query: PageQuery<TagsByName>,
) -> Result<(Vec<Tag>, Option<String>), DbError> {
    query.fetch(tx, tag).await
}

pub fn list_query(
    cursor: Option<String>,
    limit: Option<i64>,
) -> Result<PageQuery<TagsByName>, ApiError> {
    ListQuery::new(concat!(
        "SELECT ",
        columns!(),
        ", name_key AS sort_key FROM tags"
    ))
    .page(TagsByName, cursor, limit)
}

/// Tags `record` with `tag`.
pub async fn link(tx: TenantTx, kind: Tagged, record: Uuid, tag: Uuid) -> Result<(), DbError> {
    tx.query_and_commit(kind.link_sql(), &[&record, &tag])
        .await?;
    Ok(())
}

/// Takes `tag` off `record`; `NotFound` when it was not on it.
pub async fn unlink(tx: TenantTx, kind: Tagged, record: Uuid, tag: Uuid) -> Result<(), DbError> {
    tx.affect_one_and_commit(kind.unlink_sql(), &[&record, &tag])
        .await
}

/// The tags of `record`, by name; `NotFound` when the tenant has no such record.
pub async fn of_record(mut tx: TenantTx, kind: Tagged, record: Uuid) -> Result<Vec<Tag>, DbError> {
    tx.query_opt(kind.exists_sql(), &[&record])
        .await?
        .ok_or(DbError::NotFound)?;
    let rows = tx.query_and_commit(kind.tags_sql(), &[&record]).await?;
    Ok(rows.iter().map(tag).collect())
}
