//! Tags: a tenant's labels, put on its contacts, companies and deals (`tags`,
//! `contact_tags`, `company_tags`, `deal_tags`: V48). Every member reads them, writers
//! create tags and tag records, owners and admins rename, merge and delete tags. The
//! lists of tagged records filter on `tag_id`.

mod api;
mod store;

pub use api::TagsApi;

use chrono::{DateTime, Utc};
use poem_openapi::{Object, types::MaybeUndefined};
use uuid::Uuid;

use crate::platform::{
    error::ApiError,
    list::SortOrder,
    validation::{Fields, patch_value},
};

/// A tag.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Tag {
    /// The tag's id.
    pub id: Uuid,
    /// Its name, unique among the tenant's tags whatever its case.
    pub name: String,
    /// A colour for clients to show it in, `#rrggbb`.
    pub color: Option<String>,
    /// When the tag was created.
    pub created_at: DateTime<Utc>,
    /// When the tag last changed.
    pub updated_at: DateTime<Utc>,
}

/// A new tag.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewTagBody {
    /// 1 to 50 characters; no other tag of the tenant has it, whatever its case.
    #[oai(validator(min_length = 1, max_length = 50))]
    pub name: String,
    /// `#rrggbb`.
    #[oai(validator(pattern = "^#[0-9a-fA-F]{6}$"))]
    pub color: Option<String>,
}

/// Changes to a tag: absent fields stay as they are; `null` clears the colour.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct TagPatchBody {
    /// A new name, 1 to 50 characters: the rename shows on every record tagged.
    #[oai(validator(min_length = 1, max_length = 50))]
    pub name: Option<String>,
    /// `#rrggbb`; `null` removes it.
    #[oai(validator(pattern = "^#[0-9a-fA-F]{6}$"))]
    pub color: MaybeUndefined<String>,
}

/// A merge: every record tagged with this tag gets `into_tag_id` instead.
#[derive(Debug, Object)]
#[oai(example)]
pub struct TagMergeBody {
    /// Another tag of the tenant, which the merged one's records will carry.
    pub into_tag_id: Uuid,
}

/// One page of tags.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TagPage {
    /// The tags on this page, by name.
    pub items: Vec<Tag>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The tags of one record.
#[derive(Debug, Object)]
pub struct RecordTags {
    /// Its tags, by name.
    pub items: Vec<Tag>,
}

/// A tag's fields, checked.
#[derive(Debug)]
pub struct TagFields {
    pub name: Option<String>,
    /// `None`: unchanged; `Some(None)`: cleared.
    pub color: Option<Option<String>>,
}

impl TryFrom<NewTagBody> for TagFields {
    type Error = ApiError;

    fn try_from(body: NewTagBody) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let name = fields.text("name", &body.name, 1, 50);
        fields.finish()?;
        Ok(Self {
            name: Some(name),
            color: Some(body.color.map(|c| c.to_ascii_lowercase())),
        })
    }
}

impl TryFrom<TagPatchBody> for TagFields {
    type Error = ApiError;

    fn try_from(body: TagPatchBody) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let name = body.name.map(|name| fields.text("name", &name, 1, 50));
        let color = patch_value(body.color, |c| Some(c.to_ascii_lowercase()));
        fields.finish()?;
        Ok(Self { name, color })
    }
}

/// The kinds of record a tag goes on, each with its link table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tagged {
    Contact,
    Company,
    Deal,
}

/// Tags sort by name only (`tags_name_key`, case-insensitive), like
/// [`crate::platform::list::OldestFirst`] for lists with one order.
#[derive(Debug, Clone, Copy)]
pub struct TagsByName;

impl SortOrder for TagsByName {
    fn name(self) -> &'static str {
        "name"
    }

    fn expression(self) -> &'static str {
        "name_key"
    }

    fn sql_type(self) -> &'static str {
        "text"
    }

    fn descending(self) -> bool {
        false
    }
}

impl poem_openapi::types::Example for NewTagBody {
    fn example() -> Self {
        Self {
            name: "VIP".to_owned(),
            color: Some("#e11d48".to_owned()),
        }
    }
}

impl poem_openapi::types::Example for TagPatchBody {
    fn example() -> Self {
        Self {
            name: Some("Key account".to_owned()),
            color: MaybeUndefined::Undefined,
        }
    }
}

impl poem_openapi::types::Example for TagMergeBody {
    fn example() -> Self {
        Self {
            into_tag_id: Uuid::from_u128(0x0193_8f3a_7c1e_7b2a_9d4e_5f6a_7b8c_9d0e),
        }
    }
}
