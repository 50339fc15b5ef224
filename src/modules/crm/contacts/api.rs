//! `/contacts`: CRUD and search.

use crate::platform::error::problems;
use chrono::{DateTime, Utc};
use poem_openapi::{
    ApiResponse, OpenApi, Tags,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{
    Contact, ContactFilter, ContactPage, ContactPatch, ContactPatchBody, ContactSort, NewContact,
    NewContactBody, store,
};
use crate::modules::crm::MODULE;
use crate::platform::{auth::Auth, contract::Body, state::SharedState};

#[derive(Tags)]
enum ContactTags {
    /// People the tenant does business with.
    Contacts,
}

#[derive(ApiResponse)]
enum ContactResponse {
    #[oai(status = 200)]
    Ok(Json<Contact>),
}

#[derive(ApiResponse)]
enum ContactCreated {
    #[oai(status = 201)]
    Created(Json<Contact>),
}

#[derive(ApiResponse)]
enum ContactListResponse {
    #[oai(status = 200)]
    Ok(Json<ContactPage>),
}

#[derive(ApiResponse)]
enum ContactDeleted {
    /// Deleted; its deals keep their history but lose the link.
    #[oai(status = 204)]
    Deleted,
}

pub struct ContactsApi {
    state: SharedState,
}

impl ContactsApi {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

#[OpenApi(prefix_path = "/contacts", tag = "ContactTags::Contacts")]
impl ContactsApi {
    /// List contacts
    ///
    /// Newest first by default; keyset-paginated with `cursor`.
    #[oai(path = "/", method = "get", operation_id = "listContacts")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: Auth,
        /// Text search in names, email and phone (case-insensitive substring).
        /// 1 to 100 characters, with at least one word of 3 or more letters or digits
        /// (what the trigram index can look up; `ab` or `%%` alone is a 422); `%`, `_`
        /// and `\` match literally.
        #[oai(validator(
            min_length = 1,
            max_length = 100,
            pattern = r"^[^\x00]*[^\s\x00][^\x00]*$"
        ))]
        q: Query<Option<String>>,
        /// Only contacts of this company.
        company_id: Query<Option<Uuid>>,
        /// Only contacts created at or after this instant.
        created_after: Query<Option<DateTime<Utc>>>,
        /// Only contacts created before this instant.
        created_before: Query<Option<DateTime<Utc>>>,
        /// Only contacts with this tag.
        tag_id: Query<Option<Uuid>>,
        /// Sort order.
        sort: Query<Option<ContactSort>>,
        /// Page size, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(min_length = 1, max_length = 2000, pattern = r"^[A-Za-z0-9_-]+$"))]
        cursor: Query<Option<String>>,
    ) -> Result<ContactListResponse, problems::ReadMany> {
        let filter = ContactFilter {
            q: q.0,
            company_id: company_id.0,
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
        Ok(ContactListResponse::Ok(Json(ContactPage {
            items,
            next_cursor,
        })))
    }

    /// Create a contact
    #[oai(path = "/", method = "post", operation_id = "createContact")]
    async fn create(
        &self,
        auth: Auth,
        body: Body<NewContactBody>,
    ) -> Result<ContactCreated, problems::Write> {
        let context = auth.writer()?;
        let new = NewContact::try_from(body.into_inner()?)?;
        Ok(ContactCreated::Created(Json(
            store::insert(self.state.db.tx(context, &MODULE).await?, &new).await?,
        )))
    }

    /// Get a contact
    #[oai(path = "/:id", method = "get", operation_id = "getContact")]
    async fn get(
        &self,
        auth: Auth,
        /// The contact's id.
        id: Path<Uuid>,
    ) -> Result<ContactResponse, problems::ReadOne> {
        Ok(ContactResponse::Ok(Json(
            store::get(self.state.db.tx(auth.context(), &MODULE).await?, id.0).await?,
        )))
    }

    /// Update a contact
    #[oai(path = "/:id", method = "patch", operation_id = "updateContact")]
    async fn update(
        &self,
        auth: Auth,

        /// The contact's id.
        id: Path<Uuid>,
        body: Body<ContactPatchBody>,
    ) -> Result<ContactResponse, problems::Write> {
        let context = auth.writer()?;
        let patch = ContactPatch::try_from(body.into_inner()?)?;
        Ok(ContactResponse::Ok(Json(
            store::update(self.state.db.tx(context, &MODULE).await?, id.0, &patch).await?,
        )))
    }

    /// Delete a contact
    #[oai(path = "/:id", method = "delete", operation_id = "deleteContact")]
    async fn delete(
        &self,
        auth: Auth,
        /// The contact's id.
        id: Path<Uuid>,
    ) -> Result<ContactDeleted, problems::Remove> {
        let context = auth.writer()?;
        store::delete(self.state.db.tx(context, &MODULE).await?, id.0).await?;
        Ok(ContactDeleted::Deleted)
    }
}
