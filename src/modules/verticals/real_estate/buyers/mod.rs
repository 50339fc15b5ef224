//! Buyer requirements: the criteria a contact saved, and the matches between them and
//! the properties on the books, each way in one SQL query.

mod api;
mod store;

pub use api::BuyersApi;

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use uuid::Uuid;

use super::{ListingType, PropertyType, properties::Property};
use crate::platform::{error::ApiError, validation::Fields};

/// What a contact is looking for. An absent criterion matches every property.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct BuyerRequirements {
    /// The contact these criteria belong to.
    pub contact_id: Uuid,
    /// Only properties of this kind.
    pub property_type: Option<PropertyType>,
    /// Buying or renting.
    pub listing_type: Option<ListingType>,
    /// The lowest price, in minor units.
    #[oai(validator(minimum(value = "0")))]
    pub min_price_minor: Option<i64>,
    /// The highest price, in minor units.
    #[oai(validator(minimum(value = "0")))]
    pub max_price_minor: Option<i64>,
    /// Only properties priced in this currency (ISO 4217).
    #[oai(validator(pattern = r"^\s*[A-Za-z]{3}\s*$"))]
    pub currency: Option<String>,
    /// At least this many bedrooms.
    #[oai(validator(minimum(value = "0"), maximum(value = "1000")))]
    pub min_bedrooms: Option<i32>,
    /// In this city (case-insensitive).
    #[oai(validator(max_length = 100))]
    pub city: Option<String>,
    /// When the criteria were last saved.
    pub updated_at: DateTime<Utc>,
}

/// Criteria to save; they replace the contact's previous ones.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct BuyerRequirementsBody {
    /// Only properties of this kind.
    pub property_type: Option<PropertyType>,
    /// Buying or renting.
    pub listing_type: Option<ListingType>,
    /// The lowest price in minor units, at least 0.
    #[oai(validator(minimum(value = "0")))]
    pub min_price_minor: Option<i64>,
    /// The highest price in minor units, at least `min_price_minor`.
    #[oai(validator(minimum(value = "0")))]
    pub max_price_minor: Option<i64>,
    /// ISO 4217 code, three letters.
    #[oai(validator(pattern = r"^\s*[A-Za-z]{3}\s*$"))]
    pub currency: Option<String>,
    /// 0 to 1000.
    #[oai(validator(minimum(value = "0"), maximum(value = "1000")))]
    pub min_bedrooms: Option<i32>,
    /// 1 to 100 characters.
    #[oai(validator(max_length = 100))]
    pub city: Option<String>,
}

/// A contact whose saved criteria a property meets.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MatchingContact {
    /// The contact's id.
    pub contact_id: Uuid,
    /// Their first name.
    pub first_name: String,
    /// Their last name.
    pub last_name: String,
    /// Their email address.
    pub email: Option<String>,
    /// Their phone number.
    pub phone: Option<String>,
}

/// Contacts whose criteria a property meets, by last name.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ContactMatches {
    /// At most `limit` contacts.
    pub items: Vec<MatchingContact>,
}

/// Available properties that meet a contact's criteria, cheapest first.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PropertyMatches {
    /// At most `limit` properties; empty when the contact saved no criteria.
    pub items: Vec<Property>,
}

/// Validated criteria.
pub struct Requirements {
    pub property_type: Option<PropertyType>,
    pub listing_type: Option<ListingType>,
    pub min_price_minor: Option<i64>,
    pub max_price_minor: Option<i64>,
    pub currency: Option<String>,
    pub min_bedrooms: Option<i32>,
    pub city: Option<String>,
}

impl TryFrom<BuyerRequirementsBody> for Requirements {
    type Error = ApiError;

    fn try_from(body: BuyerRequirementsBody) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        if body.min_price_minor.is_some_and(|v| v < 0) {
            fields.error("min_price_minor", "must not be negative");
        }
        if let (Some(min), Some(max)) = (body.min_price_minor, body.max_price_minor) {
            if min > max {
                fields.error("max_price_minor", "must be at least min_price_minor");
            }
        }
        if body.min_bedrooms.is_some_and(|v| !(0..=1000).contains(&v)) {
            fields.error("min_bedrooms", "must be between 0 and 1000");
        }
        let requirements = Self {
            property_type: body.property_type,
            listing_type: body.listing_type,
            min_price_minor: body.min_price_minor,
            max_price_minor: body.max_price_minor,
            currency: body.currency.map(|v| fields.currency("currency", &v)),
            min_bedrooms: body.min_bedrooms,
            city: fields.optional_text("city", body.city.as_deref(), 100),
        };
        fields.finish()?;
        Ok(requirements)
    }
}

impl poem_openapi::types::Example for BuyerRequirementsBody {
    fn example() -> Self {
        Self {
            property_type: Some(PropertyType::Apartment),
            listing_type: Some(ListingType::Sale),
            min_price_minor: Some(15_000_000),
            max_price_minor: Some(30_000_000),
            currency: Some("GBP".into()),
            min_bedrooms: Some(2),
            city: Some("Leeds".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_bounds_must_be_ordered() {
        let body = BuyerRequirementsBody {
            property_type: None,
            listing_type: None,
            min_price_minor: Some(10),
            max_price_minor: Some(5),
            currency: Some("eur".to_owned()),
            min_bedrooms: None,
            city: Some(" ".to_owned()),
        };
        let Err(ApiError::Validation(errors)) = Requirements::try_from(body) else {
            panic!("expected a validation error")
        };
        assert_eq!(errors[0].field, "max_price_minor");
    }
}
