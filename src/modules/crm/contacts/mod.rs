//! Contacts: the people a tenant does business with.

mod api;
mod store;

pub use api::ContactsApi;
/// The SQL the store runs, for the query-plan test and the benchmark's pgbench scripts.
pub use store::{GET_SQL, INSERT_SQL, list_query};

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object, types::MaybeUndefined};
use uuid::Uuid;

use crate::platform::{
    error::ApiError,
    list::SortOrder,
    validation::{Fields, patch_value},
};

/// A contact.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Contact {
    /// The contact's id.
    pub id: Uuid,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Email address, lower-case; unique among the tenant's contacts.
    pub email: Option<String>,
    /// Phone number as entered.
    pub phone: Option<String>,
    /// The BCP 47 locale (`de-CH`) messages to this contact are worded in; absent:
    /// the tenant's.
    pub locale: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// The company this person works for.
    pub company_id: Option<Uuid>,
    /// When the contact was created.
    pub created_at: DateTime<Utc>,
    /// When the contact last changed.
    pub updated_at: DateTime<Utc>,
}

/// A new contact. Unknown fields (such as `tenant_id` or `id`) are ignored.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewContactBody {
    /// Given name, 1 to 100 characters.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub first_name: String,
    /// Family name, 1 to 100 characters.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub last_name: String,
    /// Unique among the tenant's contacts.
    #[oai(validator(
        min_length = 3,
        max_length = 320,
        pattern = r"^\s*[^\s@\x00-\x1F\x7F-\x9F]+@[^\s.\x00-\x1F\x7F-\x9F][^\s\x00-\x1F\x7F-\x9F]*\.[^\s\x00-\x1F\x7F-\x9F]*\s*$"
    ))]
    pub email: Option<String>,
    /// Up to 50 characters.
    #[oai(validator(max_length = 50))]
    pub phone: Option<String>,
    /// A BCP 47 locale: a language, an optional script and region (`en`, `de-CH`),
    /// stored in canonical case; messages to the contact are worded in it.
    #[oai(validator(min_length = 2, max_length = 35))]
    pub locale: Option<String>,
    /// Free text, up to 10,000 characters.
    #[oai(validator(max_length = 10000))]
    pub description: Option<String>,
    /// A company of the same tenant.
    pub company_id: Option<Uuid>,
}

/// Changes to a contact: absent fields stay as they are; `null` clears an optional one.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct ContactPatchBody {
    /// Given name, 1 to 100 characters.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub first_name: Option<String>,
    /// Family name, 1 to 100 characters.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub last_name: Option<String>,
    /// Unique among the tenant's contacts; `null` removes it.
    #[oai(validator(
        min_length = 3,
        max_length = 320,
        pattern = r"^\s*[^\s@\x00-\x1F\x7F-\x9F]+@[^\s.\x00-\x1F\x7F-\x9F][^\s\x00-\x1F\x7F-\x9F]*\.[^\s\x00-\x1F\x7F-\x9F]*\s*$"
    ))]
    pub email: MaybeUndefined<String>,
    /// Up to 50 characters; `null` removes it.
    #[oai(validator(max_length = 50))]
    pub phone: MaybeUndefined<String>,
    /// A BCP 47 locale (`en`, `de-CH`); `null` returns the contact to the tenant's.
    #[oai(validator(min_length = 2, max_length = 35))]
    pub locale: MaybeUndefined<String>,
    /// Free text, up to 10,000 characters; `null` removes it.
    #[oai(validator(max_length = 10000))]
    pub description: MaybeUndefined<String>,
    /// A company of the same tenant; `null` unlinks it.
    pub company_id: MaybeUndefined<Uuid>,
}

/// One page of contacts.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ContactPage {
    /// The contacts on this page, in the requested order.
    pub items: Vec<Contact>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Contact sort orders; `-` means descending.
#[derive(Debug, Clone, Copy, Enum, Default)]
pub enum ContactSort {
    #[oai(rename = "created_at")]
    CreatedAt,
    #[default]
    #[oai(rename = "-created_at")]
    CreatedAtDesc,
    #[oai(rename = "last_name")]
    LastName,
    #[oai(rename = "-last_name")]
    LastNameDesc,
}

impl SortOrder for ContactSort {
    fn name(self) -> &'static str {
        match self {
            Self::CreatedAt => "created_at",
            Self::CreatedAtDesc => "-created_at",
            Self::LastName => "last_name",
            Self::LastNameDesc => "-last_name",
        }
    }

    fn expression(self) -> &'static str {
        match self {
            Self::CreatedAt | Self::CreatedAtDesc => "created_at",
            Self::LastName | Self::LastNameDesc => "last_name_key",
        }
    }

    fn sql_type(self) -> &'static str {
        match self {
            Self::CreatedAt | Self::CreatedAtDesc => "timestamptz",
            Self::LastName | Self::LastNameDesc => "text",
        }
    }

    fn descending(self) -> bool {
        matches!(self, Self::CreatedAtDesc | Self::LastNameDesc)
    }
}

/// A validated new contact.
pub struct NewContact {
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub locale: Option<String>,
    pub description: Option<String>,
    pub company_id: Option<Uuid>,
}

impl TryFrom<NewContactBody> for NewContact {
    type Error = ApiError;

    fn try_from(body: NewContactBody) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let contact = Self {
            first_name: fields.text("first_name", &body.first_name, 1, 100),
            last_name: fields.text("last_name", &body.last_name, 1, 100),
            email: fields.optional_email("email", body.email.as_deref()),
            phone: fields.optional_text("phone", body.phone.as_deref(), 50),
            locale: body.locale.map(|v| fields.locale("locale", &v)),
            description: fields.optional_text("description", body.description.as_deref(), 10_000),
            company_id: body.company_id,
        };
        fields.finish()?;
        Ok(contact)
    }
}

/// A validated change: `None` keeps a field, `Some(None)` clears an optional one.
pub struct ContactPatch {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub locale: Option<Option<String>>,
    pub description: Option<Option<String>>,
    pub company_id: Option<Option<Uuid>>,
}

impl TryFrom<ContactPatchBody> for ContactPatch {
    type Error = ApiError;

    fn try_from(body: ContactPatchBody) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let patch = Self {
            first_name: body
                .first_name
                .map(|v| fields.text("first_name", &v, 1, 100)),
            last_name: body.last_name.map(|v| fields.text("last_name", &v, 1, 100)),
            email: patch_value(body.email, |v| fields.optional_email("email", Some(&v))),
            phone: patch_value(body.phone, |v| fields.optional_text("phone", Some(&v), 50)),
            locale: patch_value(body.locale, |v| Some(fields.locale("locale", &v))),
            description: patch_value(body.description, |v| {
                fields.optional_text("description", Some(&v), 10_000)
            }),
            company_id: patch_value(body.company_id, Some),
        };
        fields.finish()?;
        Ok(patch)
    }
}

/// Filters of the contact list.
pub struct ContactFilter {
    pub q: Option<String>,
    pub company_id: Option<Uuid>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub tag_id: Option<Uuid>,
}

impl poem_openapi::types::Example for NewContactBody {
    fn example() -> Self {
        Self {
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
            email: Some("ada@example.com".into()),
            phone: Some("+44 20 7946 0000".into()),
            locale: Some("en-GB".into()),
            description: None,
            company_id: None,
        }
    }
}

impl poem_openapi::types::Example for ContactPatchBody {
    fn example() -> Self {
        Self {
            first_name: None,
            last_name: None,
            email: MaybeUndefined::Value("ada.lovelace@example.com".into()),
            phone: MaybeUndefined::Null,
            locale: MaybeUndefined::Undefined,
            description: MaybeUndefined::Undefined,
            company_id: MaybeUndefined::Undefined,
        }
    }
}
