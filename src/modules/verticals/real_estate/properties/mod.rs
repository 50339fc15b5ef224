//! Properties: what the agency sells or lets.

mod api;
mod store;

pub use api::PropertiesApi;
pub(super) use store::property;

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object, types::MaybeUndefined};
use uuid::Uuid;

use super::{ListingType, PropertyStatus, PropertyType};
use crate::platform::{
    error::ApiError,
    list::SortOrder,
    validation::{Fields, patch_value},
};

/// A property.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Property {
    /// The property's id.
    pub id: Uuid,
    /// A short headline, such as "Sunny two-bed flat near the park".
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: String,
    /// Where it is.
    pub address: Address,
    /// The asking price (or monthly rent), in minor units of `currency`.
    #[oai(validator(minimum(value = "0")))]
    pub price_minor: i64,
    /// ISO 4217 code, upper-case.
    pub currency: String,
    /// For sale or to rent.
    pub listing_type: ListingType,
    /// What kind of property it is.
    pub property_type: PropertyType,
    /// Where it is in its life on the market.
    pub status: PropertyStatus,
    /// Number of bedrooms.
    #[oai(validator(minimum(value = "0"), maximum(value = "1000")))]
    pub bedrooms: Option<i32>,
    /// Number of bathrooms.
    #[oai(validator(minimum(value = "0"), maximum(value = "1000")))]
    pub bathrooms: Option<i32>,
    /// Floor area in square metres.
    #[oai(validator(
        minimum(value = "0", exclusive),
        maximum(value = "1000000000", exclusive)
    ))]
    pub area_sqm: Option<f64>,
    /// Free text for the listing.
    #[oai(validator(max_length = 10000))]
    pub description: Option<String>,
    /// The seller or landlord: a contact of the tenant.
    pub owner_contact_id: Option<Uuid>,
    /// The agent in charge: a user of the tenant.
    pub agent_id: Option<Uuid>,
    /// When the property was listed.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

/// A postal address.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Address {
    /// Street and number, 1 to 200 characters.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub line: String,
    /// City, 1 to 100 characters.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub city: String,
    /// Postal code, up to 20 characters.
    #[oai(validator(max_length = 20))]
    pub postcode: Option<String>,
    /// ISO 3166-1 alpha-2 country code, upper-case (`GB`, `FR`).
    #[oai(validator(pattern = r"^\s*[A-Za-z]{2}\s*$"))]
    pub country: String,
}

/// A new property. Unknown fields (such as `tenant_id` or `id`) are ignored.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewPropertyBody {
    /// 1 to 200 characters.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: String,
    /// Where it is.
    pub address: Address,
    /// Asking price (or monthly rent) in minor units of `currency`, at least 0.
    #[oai(validator(minimum(value = "0")))]
    pub price_minor: i64,
    /// ISO 4217 code, three letters; default `USD`.
    #[oai(validator(pattern = r"^\s*[A-Za-z]{3}\s*$"))]
    pub currency: Option<String>,
    /// For sale or to rent.
    pub listing_type: ListingType,
    /// What kind of property it is.
    pub property_type: PropertyType,
    /// Default `AVAILABLE`.
    pub status: Option<PropertyStatus>,
    /// 0 to 1000.
    #[oai(validator(minimum(value = "0"), maximum(value = "1000")))]
    pub bedrooms: Option<i32>,
    /// 0 to 1000.
    #[oai(validator(minimum(value = "0"), maximum(value = "1000")))]
    pub bathrooms: Option<i32>,
    /// Square metres, more than 0.
    #[oai(validator(
        minimum(value = "0", exclusive),
        maximum(value = "1000000000", exclusive)
    ))]
    pub area_sqm: Option<f64>,
    /// Free text, up to 10,000 characters.
    #[oai(validator(max_length = 10000))]
    pub description: Option<String>,
    /// The seller or landlord: a contact of the same tenant.
    pub owner_contact_id: Option<Uuid>,
    /// The agent in charge: a user of the same tenant.
    pub agent_id: Option<Uuid>,
}

/// Changes to a property: absent fields stay as they are; `null` clears an optional
/// one; an `address` replaces the whole address.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct PropertyPatchBody {
    /// 1 to 200 characters.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: Option<String>,
    /// The new address, complete.
    pub address: Option<Address>,
    /// At least 0, in minor units of `currency`.
    #[oai(validator(minimum(value = "0")))]
    pub price_minor: Option<i64>,
    /// ISO 4217 code, three letters.
    #[oai(validator(pattern = r"^\s*[A-Za-z]{3}\s*$"))]
    pub currency: Option<String>,
    /// For sale or to rent.
    pub listing_type: Option<ListingType>,
    /// What kind of property it is.
    pub property_type: Option<PropertyType>,
    /// Where it is on the market.
    pub status: Option<PropertyStatus>,
    /// 0 to 1000.
    #[oai(validator(minimum(value = "0"), maximum(value = "1000")))]
    pub bedrooms: MaybeUndefined<i32>,
    /// 0 to 1000.
    #[oai(validator(minimum(value = "0"), maximum(value = "1000")))]
    pub bathrooms: MaybeUndefined<i32>,
    /// Square metres, more than 0.
    #[oai(validator(
        minimum(value = "0", exclusive),
        maximum(value = "1000000000", exclusive)
    ))]
    pub area_sqm: MaybeUndefined<f64>,
    /// Free text, up to 10,000 characters.
    #[oai(validator(max_length = 10000))]
    pub description: MaybeUndefined<String>,
    /// A contact of the same tenant.
    pub owner_contact_id: MaybeUndefined<Uuid>,
    /// A user of the same tenant.
    pub agent_id: MaybeUndefined<Uuid>,
}

/// One page of properties.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PropertyPage {
    /// The properties of this page.
    pub items: Vec<Property>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Property sort orders; `-` means descending. Prices sort by their number of minor
/// units, whatever the currency.
#[derive(Debug, Clone, Copy, Enum, Default)]
pub enum PropertySort {
    #[oai(rename = "created_at")]
    CreatedAt,
    #[default]
    #[oai(rename = "-created_at")]
    CreatedAtDesc,
    #[oai(rename = "price")]
    Price,
    #[oai(rename = "-price")]
    PriceDesc,
}

impl SortOrder for PropertySort {
    fn name(self) -> &'static str {
        match self {
            Self::CreatedAt => "created_at",
            Self::CreatedAtDesc => "-created_at",
            Self::Price => "price",
            Self::PriceDesc => "-price",
        }
    }

    fn expression(self) -> &'static str {
        match self {
            Self::CreatedAt | Self::CreatedAtDesc => "created_at",
            Self::Price | Self::PriceDesc => "price_minor",
        }
    }

    fn sql_type(self) -> &'static str {
        match self {
            Self::CreatedAt | Self::CreatedAtDesc => "timestamptz",
            Self::Price | Self::PriceDesc => "bigint",
        }
    }

    fn descending(self) -> bool {
        matches!(self, Self::CreatedAtDesc | Self::PriceDesc)
    }
}

/// Filters of the property list.
pub struct PropertyFilter {
    pub q: Option<String>,
    pub property_type: Option<PropertyType>,
    pub status: Option<PropertyStatus>,
    pub listing_type: Option<ListingType>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub min_bedrooms: Option<i32>,
    /// Lower-cased; compared with the lower-cased city.
    pub city: Option<String>,
    pub agent_id: Option<Uuid>,
}

/// A validated new property, defaults applied.
pub struct NewProperty {
    pub title: String,
    pub address: Address,
    pub price_minor: i64,
    pub currency: String,
    pub listing_type: ListingType,
    pub property_type: PropertyType,
    pub status: PropertyStatus,
    pub bedrooms: Option<i32>,
    pub bathrooms: Option<i32>,
    pub area_sqm: Option<f64>,
    pub description: Option<String>,
    pub owner_contact_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
}

impl TryFrom<NewPropertyBody> for NewProperty {
    type Error = ApiError;

    fn try_from(body: NewPropertyBody) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let property = Self {
            title: fields.text("title", &body.title, 1, 200),
            address: address(&mut fields, &body.address),
            price_minor: price(&mut fields, body.price_minor),
            currency: fields.currency("currency", body.currency.as_deref().unwrap_or("USD")),
            listing_type: body.listing_type,
            property_type: body.property_type,
            status: body.status.unwrap_or_default(),
            bedrooms: body.bedrooms.map(|v| rooms(&mut fields, "bedrooms", v)),
            bathrooms: body.bathrooms.map(|v| rooms(&mut fields, "bathrooms", v)),
            area_sqm: body.area_sqm.map(|v| area(&mut fields, v)),
            description: fields.optional_text("description", body.description.as_deref(), 10_000),
            owner_contact_id: body.owner_contact_id,
            agent_id: body.agent_id,
        };
        fields.finish()?;
        Ok(property)
    }
}

/// A validated change: `None` keeps a field, `Some(None)` clears an optional one.
pub struct PropertyPatch {
    pub title: Option<String>,
    pub address: Option<Address>,
    pub price_minor: Option<i64>,
    pub currency: Option<String>,
    pub listing_type: Option<ListingType>,
    pub property_type: Option<PropertyType>,
    pub status: Option<PropertyStatus>,
    pub bedrooms: Option<Option<i32>>,
    pub bathrooms: Option<Option<i32>>,
    pub area_sqm: Option<Option<f64>>,
    pub description: Option<Option<String>>,
    pub owner_contact_id: Option<Option<Uuid>>,
    pub agent_id: Option<Option<Uuid>>,
}

impl TryFrom<PropertyPatchBody> for PropertyPatch {
    type Error = ApiError;

    fn try_from(body: PropertyPatchBody) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let patch = Self {
            title: body.title.map(|v| fields.text("title", &v, 1, 200)),
            address: body.address.map(|v| address(&mut fields, &v)),
            price_minor: body.price_minor.map(|v| price(&mut fields, v)),
            currency: body.currency.map(|v| fields.currency("currency", &v)),
            listing_type: body.listing_type,
            property_type: body.property_type,
            status: body.status,
            bedrooms: patch_value(body.bedrooms, |v| Some(rooms(&mut fields, "bedrooms", v))),
            bathrooms: patch_value(body.bathrooms, |v| Some(rooms(&mut fields, "bathrooms", v))),
            area_sqm: patch_value(body.area_sqm, |v| Some(area(&mut fields, v))),
            description: patch_value(body.description, |v| {
                fields.optional_text("description", Some(&v), 10_000)
            }),
            owner_contact_id: patch_value(body.owner_contact_id, Some),
            agent_id: patch_value(body.agent_id, Some),
        };
        fields.finish()?;
        Ok(patch)
    }
}

fn address(fields: &mut Fields, value: &Address) -> Address {
    let country = value.country.trim().to_ascii_uppercase();
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        fields.error(
            "address.country",
            "must be an ISO 3166-1 alpha-2 code such as GB",
        );
    }
    Address {
        line: fields.text("address.line", &value.line, 1, 200),
        city: fields.text("address.city", &value.city, 1, 100),
        postcode: fields.optional_text("address.postcode", value.postcode.as_deref(), 20),
        country,
    }
}

fn price(fields: &mut Fields, value: i64) -> i64 {
    if value < 0 {
        fields.error("price_minor", "must not be negative");
    }
    value
}

fn rooms(fields: &mut Fields, field: &str, value: i32) -> i32 {
    if !(0..=1000).contains(&value) {
        fields.error(field, "must be between 0 and 1000");
    }
    value
}

fn area(fields: &mut Fields, value: f64) -> f64 {
    if !(value.is_finite() && value > 0.0 && value < 1e9) {
        fields.error("area_sqm", "must be a positive number of square metres");
    }
    value
}

impl poem_openapi::types::Example for NewPropertyBody {
    fn example() -> Self {
        Self {
            title: "Two-bed flat by the park".into(),
            address: Address {
                line: "1 High Street".into(),
                city: "Leeds".into(),
                postcode: Some("LS1 1AA".into()),
                country: "GB".into(),
            },
            price_minor: 25_000_000,
            currency: Some("GBP".into()),
            listing_type: ListingType::Sale,
            property_type: PropertyType::Apartment,
            status: None,
            bedrooms: Some(2),
            bathrooms: Some(1),
            area_sqm: Some(68.5),
            description: None,
            owner_contact_id: None,
            agent_id: None,
        }
    }
}

impl poem_openapi::types::Example for PropertyPatchBody {
    fn example() -> Self {
        Self {
            title: None,
            address: None,
            price_minor: Some(24_500_000),
            currency: None,
            listing_type: None,
            property_type: None,
            status: Some(PropertyStatus::Pending),
            bedrooms: MaybeUndefined::Undefined,
            bathrooms: MaybeUndefined::Undefined,
            area_sqm: MaybeUndefined::Undefined,
            description: MaybeUndefined::Undefined,
            owner_contact_id: MaybeUndefined::Undefined,
            agent_id: MaybeUndefined::Undefined,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> NewPropertyBody {
        NewPropertyBody {
            title: " Flat ".to_owned(),
            address: Address {
                line: "1 High St".to_owned(),
                city: "Leeds".to_owned(),
                postcode: Some(" ".to_owned()),
                country: "gb".to_owned(),
            },
            price_minor: 100,
            currency: None,
            listing_type: ListingType::Sale,
            property_type: PropertyType::Apartment,
            status: None,
            bedrooms: Some(2),
            bathrooms: None,
            area_sqm: Some(55.5),
            description: None,
            owner_contact_id: None,
            agent_id: None,
        }
    }

    #[test]
    fn new_property_is_cleaned_and_defaulted() {
        let property = NewProperty::try_from(body()).expect("valid");
        assert_eq!(property.title, "Flat");
        assert_eq!(property.address.country, "GB");
        assert_eq!(property.address.postcode, None);
        assert_eq!(property.currency, "USD");
        assert_eq!(property.status, PropertyStatus::Available);
    }

    #[test]
    fn every_bad_field_is_named() {
        let mut bad = body();
        bad.price_minor = -1;
        bad.bedrooms = Some(-2);
        bad.area_sqm = Some(f64::NAN);
        bad.address.country = "GBR".to_owned();
        let Err(ApiError::Validation(errors)) = NewProperty::try_from(bad) else {
            panic!("expected a validation error")
        };
        let named: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            named,
            ["address.country", "price_minor", "bedrooms", "area_sqm"]
        );
    }
}
