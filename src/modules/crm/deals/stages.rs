//! The deal pipeline: its stages, the summary per stage, a deal's stage history and
//! the `data` of its `deal.stage_changed` events.
//!
//! Which stage may follow which is the database's rule (`deals_check_stage_transition`),
//! so it holds for every writer; the API only reports a refusal as a 422 on `stage`.

use std::error::Error;

use bytes::BytesMut;
use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object};
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use uuid::Uuid;

use super::Deal;

/// A stage of the pipeline: NEW -> NEGOTIATION -> CLOSED_WON | CLOSED_LOST. A new deal
/// may also be lost at once, a negotiation may step back to NEW, and a closed deal may
/// be reopened into NEGOTIATION.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Default)]
#[oai(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DealStage {
    #[default]
    New,
    Negotiation,
    ClosedWon,
    ClosedLost,
}

impl DealStage {
    /// The label of the `deal_stage` enum in PostgreSQL.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "NEW",
            Self::Negotiation => "NEGOTIATION",
            Self::ClosedWon => "CLOSED_WON",
            Self::ClosedLost => "CLOSED_LOST",
        }
    }

    fn from_label(label: &str) -> Option<Self> {
        [
            Self::New,
            Self::Negotiation,
            Self::ClosedWon,
            Self::ClosedLost,
        ]
        .into_iter()
        .find(|stage| stage.as_str() == label)
    }
}

/// Enum values travel as their labels in the binary protocol.
impl ToSql for DealStage {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        out.extend_from_slice(self.as_str().as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        ty.name() == "deal_stage"
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for DealStage {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        let label = std::str::from_utf8(raw)?;
        Self::from_label(label).ok_or_else(|| format!("unknown deal stage {label:?}").into())
    }

    fn accepts(ty: &Type) -> bool {
        ty.name() == "deal_stage"
    }
}

/// The tenant's pipeline at a glance.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DealSummary {
    /// Every stage, in pipeline order, including stages without deals.
    pub stages: Vec<StageSummary>,
}

/// The deals in one stage.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct StageSummary {
    /// The stage.
    pub stage: DealStage,
    /// How many deals are in it.
    pub count: i64,
    /// Their total amount per currency (currencies without deals are left out).
    pub amounts: Vec<CurrencyAmount>,
}

/// A total in one currency.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct CurrencyAmount {
    /// ISO 4217 code.
    pub currency: String,
    /// The sum, in minor units of the currency (cents for USD), as a decimal string:
    /// a sum of many 64-bit amounts does not fit in 64 bits, nor in a JSON number
    /// most clients read exactly.
    #[oai(validator(pattern = r"^[0-9]+$"))]
    pub amount_minor: String,
}

/// A deal's stage history, oldest change first.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DealHistory {
    /// The changes, starting with the deal's creation.
    pub items: Vec<DealStageChange>,
}

/// One move of a deal through the pipeline.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DealStageChange {
    /// The stage before; absent for the deal's creation.
    pub from_stage: Option<DealStage>,
    /// The stage after.
    pub to_stage: DealStage,
    /// The user who made the change.
    pub changed_by: Option<Uuid>,
    /// When it was made.
    pub changed_at: DateTime<Utc>,
}

/// The `data` of a `deal.stage_changed` event: the change as the deal's history lists
/// it, and the deal as it now is.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DealStageChanged {
    /// The stage before.
    pub from_stage: DealStage,
    /// The stage after.
    pub to_stage: DealStage,
    /// The user who made the change.
    pub changed_by: Option<Uuid>,
    /// When it was made.
    pub changed_at: DateTime<Utc>,
    /// The deal, in its new stage.
    pub deal: Deal,
}
