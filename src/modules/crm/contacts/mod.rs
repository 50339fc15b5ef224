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
pub struct Contact {
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub description: Option<String>,
    /// The company this person works for.
    pub company_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A new contact. Unknown fields (such as `tenant_id` or `id`) are ignored.
#[derive(Debug, Object)]
pub struct NewContactBody {
    /// 1 to 100 characters.
    pub first_name: String,
    /// 1 to 100 characters.
    pub last_name: String,
    /// Unique among the tenant's contacts.
    pub email: Option<String>,
    /// Up to 50 characters.
    pub phone: Option<String>,
    /// Free text, up to 10,000 characters.
    pub description: Option<String>,
    /// A company of the same tenant.
    pub company_id: Option<Uuid>,
}

/// Changes to a contact: absent fields stay as they are; `null` clears an optional one.
#[derive(Debug, Object)]
pub struct ContactPatchBody {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: MaybeUndefined<String>,
    pub phone: MaybeUndefined<String>,
    pub description: MaybeUndefined<String>,
    pub company_id: MaybeUndefined<Uuid>,
}

/// One page of contacts.
#[derive(Debug, Object)]
pub struct ContactPage {
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
            Self::LastName | Self::LastNameDesc => "lower(last_name)",
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
}
