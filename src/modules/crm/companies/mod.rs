//! Companies: the organisations a tenant's contacts and deals belong to.

mod api;
mod store;

pub use api::CompaniesApi;

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object, types::MaybeUndefined};
use uuid::Uuid;

use crate::platform::{
    error::ApiError,
    list::SortOrder,
    validation::{Fields, patch_value},
};

/// A company.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Company {
    /// The company's id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// Web domain, lower-case (`example.com`); unique among the tenant's companies.
    pub domain: Option<String>,
    /// Main phone number.
    pub phone: Option<String>,
    /// Postal address, free text.
    pub address: Option<String>,
    /// Notes about the company.
    pub description: Option<String>,
    /// When the company was created.
    pub created_at: DateTime<Utc>,
    /// When the company was last changed.
    pub updated_at: DateTime<Utc>,
}

/// A new company. Unknown fields (such as `tenant_id` or `id`) are ignored.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewCompanyBody {
    /// 1 to 200 characters.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: String,
    /// A host name such as `example.com`, stored lower-case; unique among the tenant's
    /// companies.
    #[oai(validator(
        min_length = 3,
        max_length = 253,
        pattern = r"^\s*([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{1,63}\s*$"
    ))]
    pub domain: Option<String>,
    /// Up to 50 characters.
    #[oai(validator(max_length = 50))]
    pub phone: Option<String>,
    /// Up to 500 characters.
    #[oai(validator(max_length = 500))]
    pub address: Option<String>,
    /// Free text, up to 10,000 characters.
    #[oai(validator(max_length = 10000))]
    pub description: Option<String>,
}

/// Changes to a company: absent fields stay as they are; `null` clears an optional one.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct CompanyPatchBody {
    /// 1 to 200 characters.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: Option<String>,
    /// A host name such as `example.com`; unique among the tenant's companies.
    #[oai(validator(
        min_length = 3,
        max_length = 253,
        pattern = r"^\s*([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{1,63}\s*$"
    ))]
    pub domain: MaybeUndefined<String>,
    /// Up to 50 characters.
    #[oai(validator(max_length = 50))]
    pub phone: MaybeUndefined<String>,
    /// Up to 500 characters.
    #[oai(validator(max_length = 500))]
    pub address: MaybeUndefined<String>,
    /// Free text, up to 10,000 characters.
    #[oai(validator(max_length = 10000))]
    pub description: MaybeUndefined<String>,
}

/// One page of companies.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CompanyPage {
    /// The companies of this page.
    pub items: Vec<Company>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Company sort orders; `-` means descending. Names sort case-insensitively.
#[derive(Debug, Clone, Copy, Enum, Default)]
pub enum CompanySort {
    #[oai(rename = "created_at")]
    CreatedAt,
    #[default]
    #[oai(rename = "-created_at")]
    CreatedAtDesc,
    #[oai(rename = "name")]
    Name,
    #[oai(rename = "-name")]
    NameDesc,
}

impl SortOrder for CompanySort {
    fn name(self) -> &'static str {
        match self {
            Self::CreatedAt => "created_at",
            Self::CreatedAtDesc => "-created_at",
            Self::Name => "name",
            Self::NameDesc => "-name",
        }
    }

    fn expression(self) -> &'static str {
        match self {
            Self::CreatedAt | Self::CreatedAtDesc => "created_at",
            Self::Name | Self::NameDesc => "name_key",
        }
    }

    fn sql_type(self) -> &'static str {
        match self {
            Self::CreatedAt | Self::CreatedAtDesc => "timestamptz",
            Self::Name | Self::NameDesc => "text",
        }
    }

    fn descending(self) -> bool {
        matches!(self, Self::CreatedAtDesc | Self::NameDesc)
    }
}

/// A validated new company.
pub struct NewCompany {
    pub name: String,
    pub domain: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub description: Option<String>,
}

impl TryFrom<NewCompanyBody> for NewCompany {
    type Error = ApiError;

    fn try_from(body: NewCompanyBody) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let company = Self {
            name: fields.text("name", &body.name, 1, 200),
            domain: fields.optional_domain("domain", body.domain.as_deref()),
            phone: fields.optional_text("phone", body.phone.as_deref(), 50),
            address: fields.optional_text("address", body.address.as_deref(), 500),
            description: fields.optional_text("description", body.description.as_deref(), 10_000),
        };
        fields.finish()?;
        Ok(company)
    }
}

/// A validated change: `None` keeps a field, `Some(None)` clears an optional one.
pub struct CompanyPatch {
    pub name: Option<String>,
    pub domain: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub address: Option<Option<String>>,
    pub description: Option<Option<String>>,
}

impl TryFrom<CompanyPatchBody> for CompanyPatch {
    type Error = ApiError;

    fn try_from(body: CompanyPatchBody) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let patch = Self {
            name: body.name.map(|v| fields.text("name", &v, 1, 200)),
            domain: patch_value(body.domain, |v| fields.optional_domain("domain", Some(&v))),
            phone: patch_value(body.phone, |v| fields.optional_text("phone", Some(&v), 50)),
            address: patch_value(body.address, |v| {
                fields.optional_text("address", Some(&v), 500)
            }),
            description: patch_value(body.description, |v| {
                fields.optional_text("description", Some(&v), 10_000)
            }),
        };
        fields.finish()?;
        Ok(patch)
    }
}

/// Filters of the company list.
pub struct CompanyFilter {
    pub q: Option<String>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub tag_id: Option<Uuid>,
}

impl poem_openapi::types::Example for NewCompanyBody {
    fn example() -> Self {
        Self {
            name: "Analytical Engines Ltd".into(),
            domain: Some("engines.example.com".into()),
            phone: None,
            address: Some("12 Marylebone Road, London".into()),
            description: None,
        }
    }
}

impl poem_openapi::types::Example for CompanyPatchBody {
    fn example() -> Self {
        Self {
            name: Some("Analytical Engines plc".into()),
            domain: MaybeUndefined::Undefined,
            phone: MaybeUndefined::Null,
            address: MaybeUndefined::Undefined,
            description: MaybeUndefined::Undefined,
        }
    }
}
