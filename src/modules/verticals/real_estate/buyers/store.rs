//! Buyer requirements storage and the two matching queries.

use tokio_postgres::Row;
use uuid::Uuid;

use super::{BuyerRequirements, MatchingContact, Requirements};
use crate::modules::verticals::real_estate::properties::{Property, property};
use crate::platform::db::{DbError, Label, TenantTx};

macro_rules! columns {
    () => {
        "contact_id, property_type, listing_type, min_price_minor, max_price_minor, currency, \
         min_bedrooms, city, updated_at"
    };
}

fn requirements(row: &Row) -> BuyerRequirements {
    BuyerRequirements {
        contact_id: row.get("contact_id"),
        property_type: row.get::<_, Option<Label<_>>>("property_type").map(|l| l.0),
        listing_type: row.get::<_, Option<Label<_>>>("listing_type").map(|l| l.0),
        min_price_minor: row.get("min_price_minor"),
        max_price_minor: row.get("max_price_minor"),
        currency: row.get("currency"),
        min_bedrooms: row.get("min_bedrooms"),
        city: row.get("city"),
        updated_at: row.get("updated_at"),
    }
}

/// Saves (replaces) the contact's criteria; `NotFound` when the contact is not visible
/// (the composite foreign key refuses it).
pub async fn save(
    tx: TenantTx,
    contact_id: Uuid,
    new: &Requirements,
) -> Result<BuyerRequirements, DbError> {
    let rows = tx
        .query_and_commit(
            concat!(
                "INSERT INTO buyer_requirements (contact_id, property_type, listing_type, \
                     min_price_minor, max_price_minor, currency, min_bedrooms, city) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (tenant_id, contact_id) DO UPDATE SET \
                     property_type = EXCLUDED.property_type, \
                     listing_type = EXCLUDED.listing_type, \
                     min_price_minor = EXCLUDED.min_price_minor, \
                     max_price_minor = EXCLUDED.max_price_minor, \
                     currency = EXCLUDED.currency, \
                     min_bedrooms = EXCLUDED.min_bedrooms, \
                     city = EXCLUDED.city \
                 RETURNING ",
                columns!()
            ),
            &[
                &contact_id,
                &new.property_type.map(Label),
                &new.listing_type.map(Label),
                &new.min_price_minor,
                &new.max_price_minor,
                &new.currency,
                &new.min_bedrooms,
                &new.city,
            ],
        )
        .await?;
    rows.first()
        .map(requirements)
        .ok_or_else(|| DbError::internal("INSERT returned no row"))
}

pub async fn get(tx: TenantTx, contact_id: Uuid) -> Result<BuyerRequirements, DbError> {
    let row = tx
        .query_opt_and_commit(
            concat!(
                "SELECT ",
                columns!(),
                " FROM buyer_requirements WHERE contact_id = $1"
            ),
            &[&contact_id],
        )
        .await?;
    row.as_ref().map(requirements).ok_or(DbError::NotFound)
}

pub async fn delete(tx: TenantTx, contact_id: Uuid) -> Result<(), DbError> {
    let deleted = tx
        .query_and_commit(
            "DELETE FROM buyer_requirements WHERE contact_id = $1 RETURNING contact_id",
            &[&contact_id],
        )
        .await?;
    if deleted.is_empty() {
        Err(DbError::NotFound)
    } else {
        Ok(())
    }
}

/// Contacts whose criteria the property meets; `NotFound` when it is not visible.
pub async fn contacts_for_property(
    tx: TenantTx,
    property_id: Uuid,
    limit: i64,
) -> Result<Vec<MatchingContact>, DbError> {
    let rows = tx
        .query_and_commit(
            include_str!("property_matches.sql"),
            &[&property_id, &limit],
        )
        .await?;
    if rows.is_empty() {
        return Err(DbError::NotFound);
    }
    Ok(rows
        .iter()
        .filter_map(|row| {
            Some(MatchingContact {
                contact_id: row.get::<_, Option<Uuid>>("contact_id")?,
                first_name: row.get("first_name"),
                last_name: row.get("last_name"),
                email: row.get("email"),
                phone: row.get("phone"),
            })
        })
        .collect())
}

/// Available properties that meet the contact's criteria; `NotFound` when the contact
/// is not visible.
pub async fn properties_for_contact(
    tx: TenantTx,
    contact_id: Uuid,
    limit: i64,
) -> Result<Vec<Property>, DbError> {
    let rows = tx
        .query_and_commit(include_str!("contact_matches.sql"), &[&contact_id, &limit])
        .await?;
    if rows.is_empty() {
        return Err(DbError::NotFound);
    }
    Ok(rows
        .iter()
        .filter(|row| row.get::<_, Option<Uuid>>("id").is_some())
        .map(property)
        .collect())
}
