//! `/tags` and the tags of each contact, company and deal.

use poem_openapi::{
    ApiResponse, OpenApi, Tags,
    param::{Path, Query},
    payload::Json,
};
use uuid::Uuid;

use super::{
    NewTagBody, RecordTags, Tag, TagFields, TagMergeBody, TagPage, TagPatchBody, Tagged, store,
};
use crate::modules::crm::MODULE;
use crate::platform::{
    auth::Auth, contract::Body, error::ApiError, error::problems, state::SharedState,
};

#[derive(Tags)]
enum TagTags {
    /// Labels on contacts, companies and deals, by which their lists filter.
    Tags,
}

#[derive(ApiResponse)]
enum TagResponse {
    #[oai(status = 200)]
    Ok(Json<Tag>),
}

#[derive(ApiResponse)]
enum TagCreated {
    #[oai(status = 201)]
    Created(Json<Tag>),
}

#[derive(ApiResponse)]
enum TagListResponse {
    #[oai(status = 200)]
    Ok(Json<TagPage>),
}

#[derive(ApiResponse)]
enum RecordTagsResponse {
    #[oai(status = 200)]
    Ok(Json<RecordTags>),
}

#[derive(ApiResponse)]
enum TagDone {
    /// Done.
    #[oai(status = 204)]
    Done,
}

pub struct TagsApi {
    state: SharedState,
}

impl TagsApi {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }

    async fn record_tags(
        &self,
        auth: &Auth,
        kind: Tagged,
        record: Uuid,
    ) -> Result<RecordTagsResponse, problems::ReadOne> {
        let tx = self.state.db.tx(auth.context(), &MODULE).await?;
        Ok(RecordTagsResponse::Ok(Json(RecordTags {
            items: store::of_record(tx, kind, record).await?,
        })))
    }

    async fn tag(
        &self,
        auth: &Auth,
        kind: Tagged,
        record: Uuid,
        tag: Uuid,
    ) -> Result<TagDone, problems::Remove> {
        let context = auth.writer()?;
        store::link(self.state.db.tx(context, &MODULE).await?, kind, record, tag).await?;
        Ok(TagDone::Done)
    }

    async fn untag(
        &self,
        auth: &Auth,
        kind: Tagged,
        record: Uuid,
        tag: Uuid,
    ) -> Result<TagDone, problems::Remove> {
        let context = auth.writer()?;
        store::unlink(self.state.db.tx(context, &MODULE).await?, kind, record, tag).await?;
        Ok(TagDone::Done)
    }
}

#[OpenApi(tag = "TagTags::Tags")]
impl TagsApi {
    /// List tags
    ///
    /// The tenant's tags by name (case-insensitive); keyset-paginated with `cursor`.
    #[oai(path = "/tags", method = "get", operation_id = "listTags")]
    async fn list(
        &self,
        auth: Auth,
        /// Page size, 1 to 200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        #[oai(validator(min_length = 1, max_length = 2000, pattern = r"^[A-Za-z0-9_-]+$"))]
        cursor: Query<Option<String>>,
    ) -> Result<TagListResponse, problems::ReadMany> {
        let query = store::list_query(cursor.0, limit.0)?;
        let (items, next_cursor) =
            store::list(self.state.db.tx(auth.context(), &MODULE).await?, query).await?;
        Ok(TagListResponse::Ok(Json(TagPage { items, next_cursor })))
    }

    /// Create a tag
    ///
    /// Writers create tags; a name another tag has, whatever its case, is a 409.
    #[oai(path = "/tags", method = "post", operation_id = "createTag")]
    async fn create(
        &self,
        auth: Auth,
        body: Body<NewTagBody>,
    ) -> Result<TagCreated, problems::Write> {
        let context = auth.writer()?;
        let new = TagFields::try_from(body.into_inner()?)?;
        Ok(TagCreated::Created(Json(
            store::insert(self.state.db.tx(context, &MODULE).await?, &new).await?,
        )))
    }

    /// Get a tag
    #[oai(path = "/tags/:id", method = "get", operation_id = "getTag")]
    async fn get(
        &self,
        auth: Auth,
        /// The tag's id.
        id: Path<Uuid>,
    ) -> Result<TagResponse, problems::ReadOne> {
        Ok(TagResponse::Ok(Json(
            store::get(self.state.db.tx(auth.context(), &MODULE).await?, id.0).await?,
        )))
    }

    /// Rename or recolour a tag
    ///
    /// Owners and admins only: every record tagged shows the change.
    #[oai(path = "/tags/:id", method = "patch", operation_id = "updateTag")]
    async fn update(
        &self,
        auth: Auth,
        /// The tag's id.
        id: Path<Uuid>,
        body: Body<TagPatchBody>,
    ) -> Result<TagResponse, problems::Write> {
        let context = auth.manager()?;
        let patch = TagFields::try_from(body.into_inner()?)?;
        Ok(TagResponse::Ok(Json(
            store::update(self.state.db.tx(context, &MODULE).await?, id.0, &patch).await?,
        )))
    }

    /// Delete a tag
    ///
    /// Owners and admins only; the tag comes off every record.
    #[oai(path = "/tags/:id", method = "delete", operation_id = "deleteTag")]
    async fn delete(
        &self,
        auth: Auth,
        /// The tag's id.
        id: Path<Uuid>,
    ) -> Result<TagDone, problems::Remove> {
        let context = auth.manager()?;
        store::delete(self.state.db.tx(context, &MODULE).await?, id.0).await?;
        Ok(TagDone::Done)
    }

    /// Merge a tag into another
    ///
    /// Every record carrying this tag carries `into_tag_id` instead (once), and this
    /// tag is deleted, in one transaction. Owners and admins only. Answers the tag
    /// merged into.
    #[oai(path = "/tags/:id/merge", method = "post", operation_id = "mergeTag")]
    async fn merge(
        &self,
        auth: Auth,
        /// The tag to merge (and delete).
        id: Path<Uuid>,
        body: Body<TagMergeBody>,
    ) -> Result<TagResponse, problems::Write> {
        let context = auth.manager()?;
        let into = body.into_inner()?.into_tag_id;
        if into == id.0 {
            return Err(ApiError::invalid("into_tag_id", "is the tag merged").into());
        }
        let tx = self.state.db.tx(context, &MODULE).await?;
        match store::merge(tx, id.0, into).await? {
            Some(tag) => Ok(TagResponse::Ok(Json(tag))),
            None => Err(ApiError::invalid("into_tag_id", "names no tag of this tenant").into()),
        }
    }

    /// A contact's tags
    #[oai(
        path = "/contacts/:id/tags",
        method = "get",
        operation_id = "listContactTags"
    )]
    async fn contact_tags(
        &self,
        auth: Auth,
        /// The contact's id.
        id: Path<Uuid>,
    ) -> Result<RecordTagsResponse, problems::ReadOne> {
        self.record_tags(&auth, Tagged::Contact, id.0).await
    }

    /// Tag a contact
    ///
    /// Writers; tagging a contact that already has the tag changes nothing.
    #[oai(
        path = "/contacts/:id/tags/:tag_id",
        method = "put",
        operation_id = "tagContact"
    )]
    async fn tag_contact(
        &self,
        auth: Auth,
        /// The contact's id.
        id: Path<Uuid>,
        /// The tag's id.
        tag_id: Path<Uuid>,
    ) -> Result<TagDone, problems::Remove> {
        self.tag(&auth, Tagged::Contact, id.0, tag_id.0).await
    }

    /// Take a tag off a contact
    #[oai(
        path = "/contacts/:id/tags/:tag_id",
        method = "delete",
        operation_id = "untagContact"
    )]
    async fn untag_contact(
        &self,
        auth: Auth,
        /// The contact's id.
        id: Path<Uuid>,
        /// The tag's id.
        tag_id: Path<Uuid>,
    ) -> Result<TagDone, problems::Remove> {
        self.untag(&auth, Tagged::Contact, id.0, tag_id.0).await
    }

    /// A company's tags
    #[oai(
        path = "/companies/:id/tags",
        method = "get",
        operation_id = "listCompanyTags"
    )]
    async fn company_tags(
        &self,
        auth: Auth,
        /// The company's id.
        id: Path<Uuid>,
    ) -> Result<RecordTagsResponse, problems::ReadOne> {
        self.record_tags(&auth, Tagged::Company, id.0).await
    }

    /// Tag a company
    ///
    /// Writers; tagging a company that already has the tag changes nothing.
    #[oai(
        path = "/companies/:id/tags/:tag_id",
        method = "put",
        operation_id = "tagCompany"
    )]
    async fn tag_company(
        &self,
        auth: Auth,
        /// The company's id.
        id: Path<Uuid>,
        /// The tag's id.
        tag_id: Path<Uuid>,
    ) -> Result<TagDone, problems::Remove> {
        self.tag(&auth, Tagged::Company, id.0, tag_id.0).await
    }

    /// Take a tag off a company
    #[oai(
        path = "/companies/:id/tags/:tag_id",
        method = "delete",
        operation_id = "untagCompany"
    )]
    async fn untag_company(
        &self,
        auth: Auth,
        /// The company's id.
        id: Path<Uuid>,
        /// The tag's id.
        tag_id: Path<Uuid>,
    ) -> Result<TagDone, problems::Remove> {
        self.untag(&auth, Tagged::Company, id.0, tag_id.0).await
    }

    /// A deal's tags
    #[oai(
        path = "/deals/:id/tags",
        method = "get",
        operation_id = "listDealTags"
    )]
    async fn deal_tags(
        &self,
        auth: Auth,
        /// The deal's id.
        id: Path<Uuid>,
    ) -> Result<RecordTagsResponse, problems::ReadOne> {
        self.record_tags(&auth, Tagged::Deal, id.0).await
    }

    /// Tag a deal
    ///
    /// Writers; tagging a deal that already has the tag changes nothing.
    #[oai(
        path = "/deals/:id/tags/:tag_id",
        method = "put",
        operation_id = "tagDeal"
    )]
    async fn tag_deal(
        &self,
        auth: Auth,
        /// The deal's id.
        id: Path<Uuid>,
        /// The tag's id.
        tag_id: Path<Uuid>,
    ) -> Result<TagDone, problems::Remove> {
        self.tag(&auth, Tagged::Deal, id.0, tag_id.0).await
    }

    /// Take a tag off a deal
    #[oai(
        path = "/deals/:id/tags/:tag_id",
        method = "delete",
        operation_id = "untagDeal"
    )]
    async fn untag_deal(
        &self,
        auth: Auth,
        /// The deal's id.
        id: Path<Uuid>,
        /// The tag's id.
        tag_id: Path<Uuid>,
    ) -> Result<TagDone, problems::Remove> {
        self.untag(&auth, Tagged::Deal, id.0, tag_id.0).await
    }
}
