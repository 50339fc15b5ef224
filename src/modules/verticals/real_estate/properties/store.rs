//! Property storage. Plain SQL; tenant isolation is the policies' job.

use tokio_postgres::Row;
use uuid::Uuid;

use super::{Address, NewProperty, Property, PropertyFilter, PropertyPatch, PropertySort};
use crate::platform::db::Label;
use crate::platform::{
    db::{DbError, TenantTx},
    error::ApiError,
    list::{ListQuery, PageQuery},
};

/// The columns every property query returns, in one place.
macro_rules! columns {
    () => {
        "id, title, address_line, city, postcode, country, price_minor, currency, \
         listing_type, property_type, status, bedrooms, bathrooms, area_sqm, description, \
         owner_contact_id, agent_id, created_at, updated_at"
    };
}

/// A property from a row holding [`columns!`].
pub fn property(row: &Row) -> Property {
    Property {
        id: row.get("id"),
        title: row.get("title"),
        address: Address {
            line: row.get("address_line"),
            city: row.get("city"),
            postcode: row.get("postcode"),
            country: row.get("country"),
        },
        price_minor: row.get("price_minor"),
        currency: row.get("currency"),
        listing_type: row.get::<_, Label<_>>("listing_type").0,
        property_type: row.get::<_, Label<_>>("property_type").0,
        status: row.get::<_, Label<_>>("status").0,
        bedrooms: row.get("bedrooms"),
        bathrooms: row.get("bathrooms"),
        area_sqm: row.get("area_sqm"),
        description: row.get("description"),
        owner_contact_id: row.get("owner_contact_id"),
        agent_id: row.get("agent_id"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

pub async fn insert(tx: TenantTx, new: &NewProperty) -> Result<Property, DbError> {
    let rows = tx
        .query_and_commit(
            concat!(
                "INSERT INTO properties (id, title, address_line, city, postcode, country, \
                     price_minor, currency, listing_type, property_type, status, bedrooms, \
                     bathrooms, area_sqm, description, owner_contact_id, agent_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
                         $16, $17) \
                 RETURNING ",
                columns!()
            ),
            &[
                &Uuid::now_v7(),
                &new.title,
                &new.address.line,
                &new.address.city,
                &new.address.postcode,
                &new.address.country,
                &new.price_minor,
                &new.currency,
                &Label(new.listing_type),
                &Label(new.property_type),
                &Label(new.status),
                &new.bedrooms,
                &new.bathrooms,
                &new.area_sqm,
                &new.description,
                &new.owner_contact_id,
                &new.agent_id,
            ],
        )
        .await?;
    rows.first()
        .map(property)
        .ok_or_else(|| DbError::internal("INSERT returned no row"))
}

pub async fn get(tx: TenantTx, id: Uuid) -> Result<Property, DbError> {
    let row = tx
        .query_opt_and_commit(
            concat!("SELECT ", columns!(), " FROM properties WHERE id = $1"),
            &[&id],
        )
        .await?;
    row.as_ref().map(property).ok_or(DbError::NotFound)
}

pub async fn update(tx: TenantTx, id: Uuid, patch: &PropertyPatch) -> Result<Property, DbError> {
    let address = patch.address.as_ref();
    let row = tx
        .query_opt_and_commit(
            concat!(
                "UPDATE properties SET \
                 title            = coalesce($2, title), \
                 address_line     = CASE WHEN $3 THEN $4 ELSE address_line END, \
                 city             = CASE WHEN $3 THEN $5 ELSE city END, \
                 postcode         = CASE WHEN $3 THEN $6 ELSE postcode END, \
                 country          = CASE WHEN $3 THEN $7 ELSE country END, \
                 price_minor      = coalesce($8, price_minor), \
                 currency         = coalesce($9, currency), \
                 listing_type     = coalesce($10, listing_type), \
                 property_type    = coalesce($11, property_type), \
                 status           = coalesce($12, status), \
                 bedrooms         = CASE WHEN $13 THEN $14 ELSE bedrooms END, \
                 bathrooms        = CASE WHEN $15 THEN $16 ELSE bathrooms END, \
                 area_sqm         = CASE WHEN $17 THEN $18 ELSE area_sqm END, \
                 description      = CASE WHEN $19 THEN $20 ELSE description END, \
                 owner_contact_id = CASE WHEN $21 THEN $22 ELSE owner_contact_id END, \
                 agent_id         = CASE WHEN $23 THEN $24 ELSE agent_id END \
             WHERE id = $1 \
             RETURNING ",
                columns!()
            ),
            &[
                &id,
                &patch.title,
                &address.is_some(),
                &address.map(|a| a.line.as_str()),
                &address.map(|a| a.city.as_str()),
                &address.and_then(|a| a.postcode.as_deref()),
                &address.map(|a| a.country.as_str()),
                &patch.price_minor,
                &patch.currency,
                &patch.listing_type.map(Label),
                &patch.property_type.map(Label),
                &patch.status.map(Label),
                &patch.bedrooms.is_some(),
                &patch.bedrooms.flatten(),
                &patch.bathrooms.is_some(),
                &patch.bathrooms.flatten(),
                &patch.area_sqm.is_some(),
                &patch.area_sqm.flatten(),
                &patch.description.is_some(),
                &patch.description.clone().flatten(),
                &patch.owner_contact_id.is_some(),
                &patch.owner_contact_id.flatten(),
                &patch.agent_id.is_some(),
                &patch.agent_id.flatten(),
            ],
        )
        .await?;
    row.as_ref().map(property).ok_or(DbError::NotFound)
}

/// Deletes the property and its viewings.
pub async fn delete(tx: TenantTx, id: Uuid) -> Result<(), DbError> {
    tx.affect_one_and_commit("DELETE FROM properties WHERE id = $1 RETURNING id", &[&id])
        .await
}

pub async fn list(
    tx: TenantTx,
    query: PageQuery<PropertySort>,
) -> Result<(Vec<Property>, Option<String>), DbError> {
    query.fetch(tx, property).await
}

/// The statement [`list`] runs for these arguments; refuses a bad filter or cursor.
pub fn list_query(
    filter: PropertyFilter,
    sort: PropertySort,
    cursor: Option<String>,
    limit: Option<i64>,
) -> Result<PageQuery<PropertySort>, ApiError> {
    let mut query = ListQuery::new(match sort {
        PropertySort::CreatedAt | PropertySort::CreatedAtDesc => concat!(
            "SELECT ",
            columns!(),
            ", created_at::text AS sort_key FROM properties"
        ),
        PropertySort::Price | PropertySort::PriceDesc => concat!(
            "SELECT ",
            columns!(),
            ", price_minor::text AS sort_key FROM properties"
        ),
    });
    query.search(filter.q)?;
    query.filter("property_type", "=", filter.property_type.map(Label));
    query.filter("status", "=", filter.status.map(Label));
    query.filter("listing_type", "=", filter.listing_type.map(Label));
    query.filter("price_minor", ">=", filter.min_price);
    query.filter("price_minor", "<=", filter.max_price);
    query.filter("bedrooms", ">=", filter.min_bedrooms);
    query.filter_lower_case("city_key", filter.city);
    query.filter("agent_id", "=", filter.agent_id);
    query.page(sort, cursor, limit)
}
