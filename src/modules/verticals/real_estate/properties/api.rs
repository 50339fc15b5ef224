//! `/properties`: CRUD, filters, sorts and keyset pagination.

use crate::platform::error::problems;
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{
    NewProperty, NewPropertyBody, Property, PropertyFilter, PropertyPage, PropertyPatch,
    PropertyPatchBody, PropertySort, store,
};
use crate::modules::verticals::real_estate::{
    ListingType, PropertyStatus, PropertyType, RealEstateTags, begin, begin_searching,
};
use crate::platform::{auth::Auth, contract::Body, state::SharedState};

#[derive(ApiResponse)]
enum PropertyResponse {
    #[oai(status = 200)]
    Ok(Json<Property>),
}

#[derive(ApiResponse)]
enum PropertyCreated {
    #[oai(status = 201)]
    Created(Json<Property>),
}

#[derive(ApiResponse)]
enum PropertyListResponse {
    #[oai(status = 200)]
    Ok(Json<PropertyPage>),
}

#[derive(ApiResponse)]
enum PropertyDeleted {
    /// Deleted, together with its viewings.
    #[oai(status = 204)]
    Deleted,
}

pub struct PropertiesApi {
    state: SharedState,
}

impl PropertiesApi {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

#[OpenApi(prefix_path = "/properties", tag = "RealEstateTags::RealEstate")]
impl PropertiesApi {
    /// List properties
    ///
    /// Newest first by default; keyset-paginated with `cursor`.
    #[oai(path = "/", method = "get", operation_id = "listProperties")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: Auth,
        /// Text search in title and address (case-insensitive substring).
        /// 1 to 100 characters, with at least one word of 3 or more letters or digits
        /// (what the trigram index can look up; `ab` or `%%` alone is a 422); `%`, `_`
        /// and `\` match literally.
        #[oai(validator(
            min_length = 1,
            max_length = 100,
            pattern = r"^[^\x00]*[^\s\x00][^\x00]*$"
        ))]
        q: Query<Option<String>>,
        /// Only properties of this kind.
        property_type: Query<Option<PropertyType>>,
        /// Only properties in this status.
        status: Query<Option<PropertyStatus>>,
        /// Only properties for sale, or only to rent.
        listing_type: Query<Option<ListingType>>,
        /// Only properties priced at least this many minor units (any currency).
        min_price: Query<Option<i64>>,
        /// Only properties priced at most this many minor units (any currency).
        max_price: Query<Option<i64>>,
        /// Only properties with at least this many bedrooms.
        min_bedrooms: Query<Option<i32>>,
        /// Only properties in this city (case-insensitive).
        #[oai(validator(max_length = 100, pattern = r"^[^\x00]*$"))]
        city: Query<Option<String>>,
        /// Only properties this agent is in charge of.
        agent_id: Query<Option<Uuid>>,
        /// Sort order.
        sort: Query<Option<PropertySort>>,
        /// Page size, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(min_length = 1, max_length = 2000, pattern = r"^[A-Za-z0-9_-]+$"))]
        cursor: Query<Option<String>>,
    ) -> Result<PropertyListResponse, problems::ReadMany> {
        let filter = PropertyFilter {
            q: q.0,
            property_type: property_type.0,
            status: status.0,
            listing_type: listing_type.0,
            min_price: min_price.0,
            max_price: max_price.0,
            min_bedrooms: min_bedrooms.0,
            city: city.0.map(|c| c.trim().to_lowercase()),
            agent_id: agent_id.0,
        };
        let query = store::list_query(filter, sort.0.unwrap_or_default(), cursor.0, limit.0);
        let searches = query.as_ref().is_ok_and(|query| query.searches());
        let (tx, query) = begin_searching(&self.state, auth.context(), query, searches).await?;
        let (items, next_cursor) = store::list(tx, query).await?;
        Ok(PropertyListResponse::Ok(Json(PropertyPage {
            items,
            next_cursor,
        })))
    }

    /// List a property
    ///
    /// Puts a property on the books. The owner contact and the agent must belong to
    /// the tenant (422 naming the field otherwise).
    #[oai(path = "/", method = "post", operation_id = "createProperty")]
    async fn create(
        &self,
        auth: Auth,
        body: Body<NewPropertyBody>,
    ) -> Result<PropertyCreated, problems::Write> {
        let input = auth
            .writer()
            .and(body.into_inner().and_then(NewProperty::try_from));
        let (tx, new) = begin(&self.state, auth.context(), input).await?;
        Ok(PropertyCreated::Created(Json(
            store::insert(tx, &new).await?,
        )))
    }

    /// Get a property
    #[oai(path = "/:id", method = "get", operation_id = "getProperty")]
    async fn get(
        &self,
        auth: Auth,
        /// The property's id.
        id: Path<Uuid>,
    ) -> Result<PropertyResponse, problems::ReadOne> {
        let (tx, ()) = begin(&self.state, auth.context(), Ok(())).await?;
        Ok(PropertyResponse::Ok(Json(store::get(tx, id.0).await?)))
    }

    /// Update a property
    #[oai(path = "/:id", method = "patch", operation_id = "updateProperty")]
    async fn update(
        &self,
        auth: Auth,

        /// The property's id.
        id: Path<Uuid>,
        body: Body<PropertyPatchBody>,
    ) -> Result<PropertyResponse, problems::Write> {
        let input = auth
            .writer()
            .and(body.into_inner().and_then(PropertyPatch::try_from));
        let (tx, patch) = begin(&self.state, auth.context(), input).await?;
        Ok(PropertyResponse::Ok(Json(
            store::update(tx, id.0, &patch).await?,
        )))
    }

    /// Delete a property
    ///
    /// Its viewings go with it.
    #[oai(path = "/:id", method = "delete", operation_id = "deleteProperty")]
    async fn delete(
        &self,
        auth: Auth,

        /// The property's id.
        id: Path<Uuid>,
    ) -> Result<PropertyDeleted, problems::Remove> {
        let (tx, _) = begin(&self.state, auth.context(), auth.writer()).await?;
        store::delete(tx, id.0).await?;
        Ok(PropertyDeleted::Deleted)
    }
}
