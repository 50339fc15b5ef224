//! A deal in its pipeline: the default pipeline's summary per stage, a deal's stage
//! history and the `data` of its `deal.stage_changed` events.
//!
//! Which stage may follow which is the database's rule (`deals_place_in_pipeline`,
//! from the pipeline's moves), so it holds for every writer; the API only reports a
//! refusal as a 422 on `stage`.

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use uuid::Uuid;

use super::Deal;
use crate::modules::crm::pipelines::StageTotals;

/// The tenant's default pipeline at a glance (`/pipelines/{id}/summary` tells more,
/// of any pipeline).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DealSummary {
    /// Every stage of the default pipeline, in order, including stages without deals.
    pub stages: Vec<StageSummary>,
}

/// The deals in one stage.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct StageSummary {
    /// The stage's key.
    pub stage: String,
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

/// One move of a deal through its pipeline, or into another pipeline. Stages are
/// named by their keys as they were.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DealStageChange {
    /// The pipeline before; absent for the deal's creation.
    pub from_pipeline_id: Option<Uuid>,
    /// The stage before; absent for the deal's creation.
    pub from_stage: Option<String>,
    /// The pipeline after.
    pub pipeline_id: Uuid,
    /// The stage after.
    pub to_stage: String,
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
    /// The pipeline before.
    pub from_pipeline_id: Uuid,
    /// The stage before.
    pub from_stage: String,
    /// The pipeline after.
    pub pipeline_id: Uuid,
    /// The stage after.
    pub to_stage: String,
    /// The user who made the change.
    pub changed_by: Option<Uuid>,
    /// When it was made.
    pub changed_at: DateTime<Utc>,
    /// The deal, in its new stage.
    pub deal: Deal,
}

impl From<StageTotals> for StageSummary {
    fn from(stage: StageTotals) -> Self {
        Self {
            stage: stage.stage,
            count: stage.count,
            amounts: stage
                .amounts
                .into_iter()
                .map(|amount| CurrencyAmount {
                    currency: amount.currency,
                    amount_minor: amount.amount_minor,
                })
                .collect(),
        }
    }
}
