//! Deals: what a tenant hopes to sell, moving through the stages of one of its
//! pipelines (the default one unless told otherwise).

mod api;
mod stages;
mod store;

pub use api::DealsApi;
pub use stages::DealStageChanged;
/// The SQL the store runs, for the query-plan test and the benchmark's pgbench scripts.
pub use store::{UPDATE_SQL, list_query};

use chrono::{DateTime, NaiveDate, Utc};
use poem_openapi::{Enum, Object, types::MaybeUndefined};
use uuid::Uuid;

use crate::platform::{
    error::ApiError,
    list::SortOrder,
    validation::{Fields, patch_value},
};

/// The currency of a deal created without one.
const DEFAULT_CURRENCY: &str = "USD";

/// A deal.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Deal {
    /// The deal's id.
    pub id: Uuid,
    /// What is being sold.
    pub title: String,
    /// The contact the deal is with.
    pub contact_id: Option<Uuid>,
    /// The company the deal is with.
    pub company_id: Option<Uuid>,
    /// The value, in minor units of `currency` (cents for USD).
    pub amount_minor: i64,
    /// ISO 4217 code, upper-case.
    pub currency: String,
    /// The pipeline the deal moves through.
    pub pipeline_id: Uuid,
    /// The key of its stage in that pipeline.
    pub stage: String,
    /// Why it was lost (in a lost stage, once the tenant keeps a list of reasons).
    pub lost_reason_id: Option<Uuid>,
    /// When it entered its stage (an open deal rots after the stage's `rot_days`).
    pub stage_entered_at: DateTime<Utc>,
    /// When the deal is expected to close.
    pub expected_close_date: Option<NaiveDate>,
    /// Notes about the deal.
    pub description: Option<String>,
    /// When the deal was created.
    pub created_at: DateTime<Utc>,
    /// When the deal was last changed.
    pub updated_at: DateTime<Utc>,
}

/// A new deal. Unknown fields (such as `tenant_id` or `id`) are ignored.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewDealBody {
    /// 1 to 200 characters.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: String,
    /// A contact of the same tenant.
    pub contact_id: Option<Uuid>,
    /// A company of the same tenant.
    pub company_id: Option<Uuid>,
    /// The value in minor units of `currency` (cents for USD), at least 0; default 0.
    #[oai(validator(minimum(value = "0")))]
    pub amount_minor: Option<i64>,
    /// ISO 4217 code, three letters; default `USD`.
    #[oai(validator(pattern = r"^\s*[A-Za-z]{3}\s*$"))]
    pub currency: Option<String>,
    /// One of the tenant's pipelines; default: the default pipeline.
    pub pipeline_id: Option<Uuid>,
    /// The key of the starting stage, one of the pipeline's; default its first
    /// (`NEW` in the default pipeline as every tenant starts with it).
    #[oai(validator(pattern = r"^[A-Z][A-Z0-9_]{0,39}$"))]
    pub stage: Option<String>,
    /// One of the tenant's lost reasons, for a deal created in a lost stage.
    pub lost_reason_id: Option<Uuid>,
    /// When the deal is expected to close.
    pub expected_close_date: Option<NaiveDate>,
    /// Free text, up to 10,000 characters.
    #[oai(validator(max_length = 10000))]
    pub description: Option<String>,
}

/// Changes to a deal: absent fields stay as they are; `null` clears an optional one.
/// A new `stage` must be allowed by the pipeline from the current one. A new
/// `pipeline_id` without a `stage` keeps the stage key if the new pipeline has it,
/// else takes its first stage of the same kind.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct DealPatchBody {
    /// 1 to 200 characters.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub title: Option<String>,
    /// A contact of the same tenant.
    pub contact_id: MaybeUndefined<Uuid>,
    /// A company of the same tenant.
    pub company_id: MaybeUndefined<Uuid>,
    /// The value in minor units of `currency`, at least 0.
    #[oai(validator(minimum(value = "0")))]
    pub amount_minor: Option<i64>,
    /// ISO 4217 code, three letters.
    #[oai(validator(pattern = r"^\s*[A-Za-z]{3}\s*$"))]
    pub currency: Option<String>,
    /// Another of the tenant's pipelines; the move is recorded in the deal's history.
    pub pipeline_id: Option<Uuid>,
    /// The key of the next stage (of the deal's pipeline, or of the new `pipeline_id`);
    /// the change is recorded in the deal's history.
    #[oai(validator(pattern = r"^[A-Z][A-Z0-9_]{0,39}$"))]
    pub stage: Option<String>,
    /// Why it was lost: one of the tenant's lost reasons, for a deal in (or entering)
    /// a lost stage; leaving the lost stage drops it.
    pub lost_reason_id: MaybeUndefined<Uuid>,
    /// When the deal is expected to close.
    pub expected_close_date: MaybeUndefined<NaiveDate>,
    /// Free text, up to 10,000 characters.
    #[oai(validator(max_length = 10000))]
    pub description: MaybeUndefined<String>,
}

/// One page of deals.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DealPage {
    /// The deals of this page.
    pub items: Vec<Deal>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Deal sort orders; `-` means descending. Amounts sort by their number of minor
/// units, whatever the currency.
#[derive(Debug, Clone, Copy, Enum, Default)]
pub enum DealSort {
    #[oai(rename = "created_at")]
    CreatedAt,
    #[default]
    #[oai(rename = "-created_at")]
    CreatedAtDesc,
    #[oai(rename = "amount")]
    Amount,
    #[oai(rename = "-amount")]
    AmountDesc,
}

impl SortOrder for DealSort {
    fn name(self) -> &'static str {
        match self {
            Self::CreatedAt => "created_at",
            Self::CreatedAtDesc => "-created_at",
            Self::Amount => "amount",
            Self::AmountDesc => "-amount",
        }
    }

    fn expression(self) -> &'static str {
        match self {
            Self::CreatedAt | Self::CreatedAtDesc => "created_at",
            Self::Amount | Self::AmountDesc => "amount_minor",
        }
    }

    fn sql_type(self) -> &'static str {
        match self {
            Self::CreatedAt | Self::CreatedAtDesc => "timestamptz",
            Self::Amount | Self::AmountDesc => "bigint",
        }
    }

    fn descending(self) -> bool {
        matches!(self, Self::CreatedAtDesc | Self::AmountDesc)
    }
}

/// A validated new deal, defaults applied.
pub struct NewDeal {
    pub title: String,
    pub contact_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    pub amount_minor: i64,
    pub currency: String,
    pub pipeline_id: Option<Uuid>,
    pub stage: Option<String>,
    pub lost_reason_id: Option<Uuid>,
    pub expected_close_date: Option<NaiveDate>,
    pub description: Option<String>,
}

impl TryFrom<NewDealBody> for NewDeal {
    type Error = ApiError;

    fn try_from(body: NewDealBody) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let deal = Self {
            title: fields.text("title", &body.title, 1, 200),
            contact_id: body.contact_id,
            company_id: body.company_id,
            amount_minor: amount(&mut fields, body.amount_minor.unwrap_or(0)),
            currency: fields.currency(
                "currency",
                body.currency.as_deref().unwrap_or(DEFAULT_CURRENCY),
            ),
            pipeline_id: body.pipeline_id,
            stage: body.stage,
            lost_reason_id: body.lost_reason_id,
            expected_close_date: body.expected_close_date,
            description: fields.optional_text("description", body.description.as_deref(), 10_000),
        };
        fields.finish()?;
        Ok(deal)
    }
}

/// A validated change: `None` keeps a field, `Some(None)` clears an optional one.
pub struct DealPatch {
    pub title: Option<String>,
    pub contact_id: Option<Option<Uuid>>,
    pub company_id: Option<Option<Uuid>>,
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub pipeline_id: Option<Uuid>,
    pub stage: Option<String>,
    pub lost_reason_id: Option<Option<Uuid>>,
    pub expected_close_date: Option<Option<NaiveDate>>,
    pub description: Option<Option<String>>,
}

impl TryFrom<DealPatchBody> for DealPatch {
    type Error = ApiError;

    fn try_from(body: DealPatchBody) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let patch = Self {
            title: body.title.map(|v| fields.text("title", &v, 1, 200)),
            contact_id: patch_value(body.contact_id, Some),
            company_id: patch_value(body.company_id, Some),
            amount_minor: body.amount_minor.map(|v| amount(&mut fields, v)),
            currency: body.currency.map(|v| fields.currency("currency", &v)),
            pipeline_id: body.pipeline_id,
            stage: body.stage,
            lost_reason_id: patch_value(body.lost_reason_id, Some),
            expected_close_date: patch_value(body.expected_close_date, Some),
            description: patch_value(body.description, |v| {
                fields.optional_text("description", Some(&v), 10_000)
            }),
        };
        fields.finish()?;
        Ok(patch)
    }
}

/// An amount in minor units: never negative.
fn amount(fields: &mut Fields, value: i64) -> i64 {
    if value < 0 {
        fields.error("amount_minor", "must not be negative");
    }
    value
}

/// Filters of the deal list.
pub struct DealFilter {
    pub q: Option<String>,
    pub pipeline_id: Option<Uuid>,
    pub stage: Option<String>,
    pub contact_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    pub min_amount: Option<i64>,
    pub max_amount: Option<i64>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub tag_id: Option<Uuid>,
}

impl poem_openapi::types::Example for NewDealBody {
    fn example() -> Self {
        Self {
            title: "Annual licence".into(),
            contact_id: None,
            company_id: None,
            amount_minor: Some(125_000),
            currency: Some("EUR".into()),
            pipeline_id: None,
            stage: Some("NEW".into()),
            lost_reason_id: None,
            expected_close_date: NaiveDate::from_ymd_opt(2030, 6, 30),
            description: None,
        }
    }
}

impl poem_openapi::types::Example for DealPatchBody {
    fn example() -> Self {
        Self {
            title: None,
            contact_id: MaybeUndefined::Undefined,
            company_id: MaybeUndefined::Undefined,
            amount_minor: Some(150_000),
            currency: None,
            pipeline_id: None,
            stage: Some("NEGOTIATION".into()),
            lost_reason_id: MaybeUndefined::Undefined,
            expected_close_date: MaybeUndefined::Undefined,
            description: MaybeUndefined::Undefined,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(currency: Option<&str>, amount_minor: Option<i64>) -> NewDealBody {
        NewDealBody {
            title: " Renewal ".to_owned(),
            contact_id: None,
            company_id: None,
            amount_minor,
            currency: currency.map(str::to_owned),
            pipeline_id: None,
            stage: None,
            lost_reason_id: None,
            expected_close_date: None,
            description: None,
        }
    }

    #[test]
    fn new_deal_defaults() {
        let deal = NewDeal::try_from(body(None, None)).expect("valid");
        assert_eq!(deal.title, "Renewal");
        assert_eq!(deal.amount_minor, 0);
        assert_eq!(deal.currency, "USD");
        assert_eq!(deal.stage, None, "the pipeline's first stage");
    }

    #[test]
    fn currency_is_normalised_and_checked() {
        let deal = NewDeal::try_from(body(Some(" eur "), Some(5))).expect("valid");
        assert_eq!(deal.currency, "EUR");
        for bad in ["EURO", "E1R", "", "ÉUR"] {
            assert!(NewDeal::try_from(body(Some(bad), None)).is_err(), "{bad}");
        }
    }

    #[test]
    fn negative_amount_is_rejected() {
        let Err(ApiError::Validation(errors)) = NewDeal::try_from(body(None, Some(-1))) else {
            panic!("expected a validation error")
        };
        assert_eq!(errors[0].field, "amount_minor");
    }
}
