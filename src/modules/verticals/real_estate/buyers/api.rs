//! `/contacts/{id}/requirements` and the matches, `/properties/{id}/matches` and
//! `/contacts/{id}/matches`.

use crate::platform::error::problems;
use poem_openapi::{
    ApiResponse, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{
    BuyerRequirements, BuyerRequirementsBody, ContactMatches, PropertyMatches, Requirements, store,
};
use crate::modules::verticals::real_estate::{RealEstateTags, begin};
use crate::platform::{
    auth::Auth, contract::Body, list::checked_limit as match_limit, state::SharedState,
};

#[derive(ApiResponse)]
enum RequirementsResponse {
    #[oai(status = 200)]
    Ok(Json<BuyerRequirements>),
}

#[derive(ApiResponse)]
enum RequirementsDeleted {
    /// The contact no longer has saved criteria.
    #[oai(status = 204)]
    Deleted,
}

#[derive(ApiResponse)]
enum ContactMatchesResponse {
    #[oai(status = 200)]
    Ok(Json<ContactMatches>),
}

#[derive(ApiResponse)]
enum PropertyMatchesResponse {
    #[oai(status = 200)]
    Ok(Json<PropertyMatches>),
}

pub struct BuyersApi {
    state: SharedState,
}

impl BuyersApi {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

#[OpenApi(tag = "RealEstateTags::RealEstate")]
impl BuyersApi {
    /// Get a contact's requirements
    ///
    /// 404 when the contact does not exist or saved no criteria.
    #[oai(
        path = "/contacts/:id/requirements",
        method = "get",
        operation_id = "getBuyerRequirements"
    )]
    async fn get(
        &self,
        auth: Auth,

        /// The contact's id.
        id: Path<Uuid>,
    ) -> Result<RequirementsResponse, problems::ReadOne> {
        let (tx, ()) = begin(&self.state, auth.context(), Ok(())).await?;
        Ok(RequirementsResponse::Ok(Json(store::get(tx, id.0).await?)))
    }

    /// Save a contact's requirements
    ///
    /// Replaces the contact's criteria; absent criteria match every property.
    #[oai(
        path = "/contacts/:id/requirements",
        method = "put",
        operation_id = "saveBuyerRequirements"
    )]
    async fn save(
        &self,
        auth: Auth,

        /// The contact's id.
        id: Path<Uuid>,
        body: Body<BuyerRequirementsBody>,
    ) -> Result<RequirementsResponse, problems::Write> {
        let input = auth
            .writer()
            .and(body.into_inner().and_then(Requirements::try_from));
        let (tx, new) = begin(&self.state, auth.context(), input).await?;
        Ok(RequirementsResponse::Ok(Json(
            store::save(tx, id.0, &new).await?,
        )))
    }

    /// Delete a contact's requirements
    #[oai(
        path = "/contacts/:id/requirements",
        method = "delete",
        operation_id = "deleteBuyerRequirements"
    )]
    async fn delete(
        &self,
        auth: Auth,

        /// The contact's id.
        id: Path<Uuid>,
    ) -> Result<RequirementsDeleted, problems::Remove> {
        let (tx, _) = begin(&self.state, auth.context(), auth.writer()).await?;
        store::delete(tx, id.0).await?;
        Ok(RequirementsDeleted::Deleted)
    }

    /// Contacts matching a property
    ///
    /// Contacts whose saved criteria the property meets, whatever its status, by last
    /// name.
    #[oai(
        path = "/properties/:id/matches",
        method = "get",
        operation_id = "listPropertyMatches"
    )]
    async fn contacts_for_property(
        &self,
        auth: Auth,

        /// The property's id.
        id: Path<Uuid>,
        /// At most this many contacts, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
    ) -> Result<ContactMatchesResponse, problems::ReadMany> {
        let (tx, limit) = begin(&self.state, auth.context(), match_limit(limit.0)).await?;
        let items = store::contacts_for_property(tx, id.0, limit).await?;
        Ok(ContactMatchesResponse::Ok(Json(ContactMatches { items })))
    }

    /// Properties matching a contact
    ///
    /// `AVAILABLE` properties that meet the contact's saved criteria, cheapest first;
    /// empty when the contact saved none.
    #[oai(
        path = "/contacts/:id/matches",
        method = "get",
        operation_id = "listContactMatches"
    )]
    async fn properties_for_contact(
        &self,
        auth: Auth,

        /// The contact's id.
        id: Path<Uuid>,
        /// At most this many properties, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
    ) -> Result<PropertyMatchesResponse, problems::ReadMany> {
        let (tx, limit) = begin(&self.state, auth.context(), match_limit(limit.0)).await?;
        let items = store::properties_for_contact(tx, id.0, limit).await?;
        Ok(PropertyMatchesResponse::Ok(Json(PropertyMatches { items })))
    }
}
