//! `/companies`: CRUD and search.

use crate::platform::error::problems;
use chrono::{DateTime, Utc};
use poem_openapi::{
    ApiResponse, OpenApi, Tags,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{
    Company, CompanyFilter, CompanyPage, CompanyPatch, CompanyPatchBody, CompanySort, NewCompany,
    NewCompanyBody, store,
};
use crate::modules::crm::MODULE;
use crate::platform::{auth::Auth, contract::Body, state::SharedState};

#[derive(Tags)]
enum CompanyTags {
    /// Organisations the tenant's contacts and deals belong to.
    Companies,
}

#[derive(ApiResponse)]
enum CompanyResponse {
    #[oai(status = 200)]
    Ok(Json<Company>),
}

#[derive(ApiResponse)]
enum CompanyCreated {
    #[oai(status = 201)]
    Created(Json<Company>),
}

#[derive(ApiResponse)]
enum CompanyListResponse {
    #[oai(status = 200)]
    Ok(Json<CompanyPage>),
}

#[derive(ApiResponse)]
enum CompanyDeleted {
    /// Deleted; its contacts and deals stay but lose the link.
    #[oai(status = 204)]
    Deleted,
}

pub struct CompaniesApi {
    state: SharedState,
}

impl CompaniesApi {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

#[OpenApi(prefix_path = "/companies", tag = "CompanyTags::Companies")]
impl CompaniesApi {
    /// List companies
    ///
    /// Newest first by default; keyset-paginated with `cursor`.
    #[oai(path = "/", method = "get", operation_id = "listCompanies")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: Auth,
        /// Text search in name and domain (case-insensitive substring).
        /// 1 to 100 characters, with at least one word of 3 or more letters or digits
        /// (what the trigram index can look up; `ab` or `%%` alone is a 422); `%`, `_`
        /// and `\` match literally.
        #[oai(validator(
            min_length = 1,
            max_length = 100,
            pattern = r"^[^\x00]*[^\s\x00][^\x00]*$"
        ))]
        q: Query<Option<String>>,
        /// Only companies created at or after this instant.
        created_after: Query<Option<DateTime<Utc>>>,
        /// Only companies created before this instant.
        created_before: Query<Option<DateTime<Utc>>>,
        /// Only companies with this tag.
        tag_id: Query<Option<Uuid>>,
        /// Sort order.
        sort: Query<Option<CompanySort>>,
        /// Page size, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(min_length = 1, max_length = 2000, pattern = r"^[A-Za-z0-9_-]+$"))]
        cursor: Query<Option<String>>,
    ) -> Result<CompanyListResponse, problems::ReadMany> {
        let filter = CompanyFilter {
            q: q.0,
            created_after: created_after.0,
            created_before: created_before.0,
            tag_id: tag_id.0,
        };
        let query = store::list_query(filter, sort.0.unwrap_or_default(), cursor.0, limit.0)?;
        let (items, next_cursor) = store::list(
            self.state
                .db
                .tx_for(auth.context(), &MODULE, query.searches())
                .await?,
            query,
        )
        .await?;
        Ok(CompanyListResponse::Ok(Json(CompanyPage {
            items,
            next_cursor,
        })))
    }

    /// Create a company
    #[oai(path = "/", method = "post", operation_id = "createCompany")]
    async fn create(
        &self,
        auth: Auth,
        body: Body<NewCompanyBody>,
    ) -> Result<CompanyCreated, problems::Write> {
        let context = auth.writer()?;
        let new = NewCompany::try_from(body.into_inner()?)?;
        Ok(CompanyCreated::Created(Json(
            store::insert(self.state.db.tx(context, &MODULE).await?, &new).await?,
        )))
    }

    /// Get a company
    #[oai(path = "/:id", method = "get", operation_id = "getCompany")]
    async fn get(
        &self,
        auth: Auth,
        /// The company's id.
        id: Path<Uuid>,
    ) -> Result<CompanyResponse, problems::ReadOne> {
        Ok(CompanyResponse::Ok(Json(
            store::get(self.state.db.tx(auth.context(), &MODULE).await?, id.0).await?,
        )))
    }

    /// Update a company
    #[oai(path = "/:id", method = "patch", operation_id = "updateCompany")]
    async fn update(
        &self,
        auth: Auth,

        /// The company's id.
        id: Path<Uuid>,
        body: Body<CompanyPatchBody>,
    ) -> Result<CompanyResponse, problems::Write> {
        let context = auth.writer()?;
        let patch = CompanyPatch::try_from(body.into_inner()?)?;
        Ok(CompanyResponse::Ok(Json(
            store::update(self.state.db.tx(context, &MODULE).await?, id.0, &patch).await?,
        )))
    }

    /// Delete a company
    #[oai(path = "/:id", method = "delete", operation_id = "deleteCompany")]
    async fn delete(
        &self,
        auth: Auth,
        /// The company's id.
        id: Path<Uuid>,
    ) -> Result<CompanyDeleted, problems::Remove> {
        let context = auth.writer()?;
        store::delete(self.state.db.tx(context, &MODULE).await?, id.0).await?;
        Ok(CompanyDeleted::Deleted)
    }
}
