//! Pipelines: each tenant's sales pipelines, their stages, the moves between stages
//! they allow, and the reasons a deal is lost (`pipelines`, `pipeline_stages`,
//! `pipeline_moves`, `lost_reasons`: V50). Every member reads them; owners and admins
//! shape them. Every tenant has a default pipeline (created with the tenant) holding
//! the stages deals had before pipelines existed. Which stage may follow which, and
//! when a lost reason is needed, is the database's rule (`deals_place_in_pipeline`).

mod api;
mod lost_reasons;
mod store;

pub use api::PipelinesApi;
pub use lost_reasons::LostReasonsApi;
/// The summaries, for `/deals/summary` (the default pipeline's) and the benchmark.
pub use store::{SUMMARY_SQL, summary};

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object, types::MaybeUndefined};
use uuid::Uuid;

use crate::platform::{
    error::ApiError,
    validation::{Fields, patch_value},
};

/// How many stages a pipeline may have (a new pipeline's body says so too).
const MAX_STAGES: usize = 50;

/// Whether a stage is still open or closes the deal, won or lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Default)]
#[oai(rename_all = "lowercase")]
pub enum StageKind {
    #[default]
    Open,
    Won,
    Lost,
}

impl StageKind {
    /// The label of the `pipeline_stage_kind` enum.
    fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Won => "won",
            Self::Lost => "lost",
        }
    }

    fn from_label(label: &str) -> Self {
        match label {
            "won" => Self::Won,
            "lost" => Self::Lost,
            _ => Self::Open,
        }
    }

    /// The win probability of a new stage of this kind when none is given.
    fn default_probability(self) -> i32 {
        match self {
            Self::Open => 50,
            Self::Won => 100,
            Self::Lost => 0,
        }
    }
}

/// Which stage changes a pipeline allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Default)]
#[oai(rename_all = "snake_case")]
pub enum StageMoves {
    /// A deal in an open stage may move to any stage; a won or lost deal may reopen
    /// into any open stage.
    #[default]
    FromOpen,
    /// Only the pairs in `allowed_moves`.
    Listed,
}

impl StageMoves {
    fn as_str(self) -> &'static str {
        match self {
            Self::FromOpen => "from_open",
            Self::Listed => "listed",
        }
    }

    fn from_label(label: &str) -> Self {
        if label == "listed" {
            Self::Listed
        } else {
            Self::FromOpen
        }
    }
}

/// A pipeline with its stages, in order.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Pipeline {
    /// The pipeline's id.
    pub id: Uuid,
    /// Its name, unique among the tenant's pipelines.
    pub name: String,
    /// Whether deals created without a `pipeline_id` go here. Exactly one of the
    /// tenant's pipelines is the default.
    pub is_default: bool,
    /// Which stage changes it allows.
    pub moves: StageMoves,
    /// Its stages, in order; a new deal starts in the first unless told otherwise.
    pub stages: Vec<Stage>,
    /// With `moves: listed`, the stage changes allowed (empty otherwise).
    pub allowed_moves: Vec<StageMove>,
    /// When the pipeline was created.
    pub created_at: DateTime<Utc>,
    /// When the pipeline (not its stages) last changed.
    pub updated_at: DateTime<Utc>,
}

/// A stage of a pipeline.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Stage {
    /// How deals name the stage (`stage`), unique in its pipeline; it never changes.
    pub key: String,
    /// What people call it.
    pub name: String,
    /// Where it comes in the pipeline: stages are ordered by position, then key.
    pub position: i32,
    /// Open, won or lost.
    pub kind: StageKind,
    /// The share of a deal's amount its weighted amount counts, in percent.
    pub probability: i32,
    /// An open deal that stays longer than this many days in the stage is rotting.
    pub rot_days: Option<i32>,
}

/// One allowed stage change of a `listed` pipeline.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Object)]
pub struct StageMove {
    /// The key of the stage a deal leaves.
    #[oai(validator(pattern = r"^[A-Z][A-Z0-9_]{0,39}$"))]
    pub from_stage: String,
    /// The key of the stage it enters.
    #[oai(validator(pattern = r"^[A-Z][A-Z0-9_]{0,39}$"))]
    pub to_stage: String,
}

/// The tenant's pipelines.
#[derive(Debug, Object)]
pub struct PipelineList {
    /// Every pipeline, the default first, then by name.
    pub items: Vec<Pipeline>,
}

/// A new pipeline.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewPipelineBody {
    /// 1 to 100 characters, unique among the tenant's pipelines.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: String,
    /// Which stage changes it allows; default `from_open`.
    pub moves: Option<StageMoves>,
    /// Its stages in order, 1 to 50, with different keys.
    #[oai(validator(min_items = 1, max_items = 50))]
    pub stages: Vec<NewStageBody>,
    /// With `moves: listed`, the stage changes allowed.
    #[oai(validator(max_items = 2500))]
    pub allowed_moves: Option<Vec<StageMove>>,
}

/// A new stage.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewStageBody {
    /// Upper-case letters, digits and `_`, starting with a letter, at most 40.
    #[oai(validator(pattern = r"^[A-Z][A-Z0-9_]{0,39}$"))]
    pub key: String,
    /// 1 to 100 characters.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: String,
    /// Default `open`.
    pub kind: Option<StageKind>,
    /// 0 to 100; default 50 for an open stage, 100 for won, 0 for lost.
    #[oai(validator(minimum(value = "0"), maximum(value = "100")))]
    pub probability: Option<i32>,
    /// 1 to 3650 days; none: the stage never rots.
    #[oai(validator(minimum(value = "1"), maximum(value = "3650")))]
    pub rot_days: Option<i32>,
    /// Where it goes (`POST /pipelines/{id}/stages` only; default after the last stage).
    pub position: Option<i32>,
}

/// Changes to a pipeline: absent fields stay as they are.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct PipelinePatchBody {
    /// 1 to 100 characters, unique among the tenant's pipelines.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: Option<String>,
    /// `true` makes it the default pipeline instead of the current one (`false` is
    /// refused: make another pipeline the default instead).
    pub is_default: Option<bool>,
    /// Which stage changes it allows.
    pub moves: Option<StageMoves>,
    /// Replaces the allowed stage changes (with `moves: listed`).
    #[oai(validator(max_items = 2500))]
    pub allowed_moves: Option<Vec<StageMove>>,
}

/// Changes to a stage: absent fields stay as they are; `null` clears `rot_days`.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct StagePatchBody {
    /// 1 to 100 characters.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: Option<String>,
    /// Where it comes in the pipeline.
    pub position: Option<i32>,
    /// Another kind: refused with 409 while the stage holds deals.
    pub kind: Option<StageKind>,
    /// 0 to 100.
    #[oai(validator(minimum(value = "0"), maximum(value = "100")))]
    pub probability: Option<i32>,
    /// 1 to 3650 days; `null`: the stage never rots.
    #[oai(validator(minimum(value = "1"), maximum(value = "3650")))]
    pub rot_days: MaybeUndefined<i32>,
}

/// A pipeline at a glance.
#[derive(Debug, Object)]
pub struct PipelineSummary {
    /// The pipeline.
    pub pipeline_id: Uuid,
    /// Every stage, in order, including stages without deals.
    pub stages: Vec<StageTotals>,
}

/// The deals in one stage.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct StageTotals {
    /// The stage's key.
    pub stage: String,
    /// Its name.
    pub name: String,
    /// Open, won or lost.
    pub kind: StageKind,
    /// Its win probability, in percent.
    pub probability: i32,
    /// How many deals are in it.
    pub count: i64,
    /// How many of them are rotting (open, and in the stage longer than its `rot_days`).
    pub rotting: i64,
    /// Their total and weighted amount per currency (currencies without deals left out).
    pub amounts: Vec<WeightedAmount>,
}

/// Totals in one currency.
#[derive(Debug, Object)]
pub struct WeightedAmount {
    /// ISO 4217 code.
    pub currency: String,
    /// The sum, in minor units, as a decimal string (it may exceed 64 bits).
    #[oai(validator(pattern = r"^[0-9]+$"))]
    pub amount_minor: String,
    /// The sum times the stage's probability, rounded down, in minor units, as a
    /// decimal string.
    #[oai(validator(pattern = r"^[0-9]+$"))]
    pub weighted_minor: String,
}

/// A stage, checked.
pub struct StageFields {
    pub key: String,
    pub name: String,
    pub kind: StageKind,
    pub probability: i32,
    pub rot_days: Option<i32>,
    pub position: Option<i32>,
}

/// A new pipeline, checked.
pub struct NewPipeline {
    pub name: String,
    pub moves: StageMoves,
    pub stages: Vec<StageFields>,
    pub allowed_moves: Vec<StageMove>,
}

/// A pipeline's changes, checked.
pub struct PipelinePatch {
    pub name: Option<String>,
    pub make_default: bool,
    pub moves: Option<StageMoves>,
    pub allowed_moves: Option<Vec<StageMove>>,
}

/// A stage's changes, checked: `rot_days` `Some(None)` clears it.
pub struct StagePatch {
    pub name: Option<String>,
    pub position: Option<i32>,
    pub kind: Option<StageKind>,
    pub probability: Option<i32>,
    pub rot_days: Option<Option<i32>>,
}

impl StageFields {
    fn check(fields: &mut Fields, body: NewStageBody) -> Self {
        let kind = body.kind.unwrap_or_default();
        Self {
            name: fields.text("name", &body.name, 1, 100),
            key: body.key,
            kind,
            probability: body
                .probability
                .unwrap_or_else(|| kind.default_probability()),
            rot_days: body.rot_days,
            position: body.position,
        }
    }
}

impl TryFrom<NewStageBody> for StageFields {
    type Error = ApiError;

    fn try_from(body: NewStageBody) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let stage = Self::check(&mut fields, body);
        fields.finish()?;
        Ok(stage)
    }
}

impl TryFrom<NewPipelineBody> for NewPipeline {
    type Error = ApiError;

    fn try_from(body: NewPipelineBody) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let name = fields.text("name", &body.name, 1, 100);
        let moves = body.moves.unwrap_or_default();
        let stages: Vec<StageFields> = body
            .stages
            .into_iter()
            .map(|stage| StageFields::check(&mut fields, stage))
            .collect();
        let mut keys = HashSet::new();
        if !stages.iter().all(|stage| keys.insert(stage.key.as_str())) {
            fields.error("stages", "two stages have the same key");
        }
        let allowed_moves = body.allowed_moves.unwrap_or_default();
        check_moves(&mut fields, moves, &allowed_moves);
        if allowed_moves
            .iter()
            .any(|m| !keys.contains(m.from_stage.as_str()) || !keys.contains(m.to_stage.as_str()))
        {
            fields.error("allowed_moves", "names a stage the pipeline does not have");
        }
        fields.finish()?;
        Ok(Self {
            name,
            moves,
            stages,
            allowed_moves: dedup(allowed_moves),
        })
    }
}

impl TryFrom<PipelinePatchBody> for PipelinePatch {
    type Error = ApiError;

    fn try_from(body: PipelinePatchBody) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let name = body.name.map(|name| fields.text("name", &name, 1, 100));
        if body.is_default == Some(false) {
            fields.error(
                "is_default",
                "a pipeline stops being the default when another one becomes it",
            );
        }
        if let Some(allowed) = &body.allowed_moves {
            check_moves(
                &mut fields,
                body.moves.unwrap_or(StageMoves::Listed),
                allowed,
            );
        }
        fields.finish()?;
        Ok(Self {
            name,
            make_default: body.is_default == Some(true),
            moves: body.moves,
            allowed_moves: body.allowed_moves.map(dedup),
        })
    }
}

impl TryFrom<StagePatchBody> for StagePatch {
    type Error = ApiError;

    fn try_from(body: StagePatchBody) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let name = body.name.map(|name| fields.text("name", &name, 1, 100));
        fields.finish()?;
        Ok(Self {
            name,
            position: body.position,
            kind: body.kind,
            probability: body.probability,
            rot_days: patch_value(body.rot_days, Some),
        })
    }
}

/// Allowed moves go with `listed` only, each to another stage.
fn check_moves(fields: &mut Fields, moves: StageMoves, allowed: &[StageMove]) {
    if moves == StageMoves::FromOpen && !allowed.is_empty() {
        fields.error("allowed_moves", "only a `listed` pipeline lists its moves");
    }
    if allowed.iter().any(|m| m.from_stage == m.to_stage) {
        fields.error("allowed_moves", "a move goes to another stage");
    }
}

fn dedup(moves: Vec<StageMove>) -> Vec<StageMove> {
    let mut seen = HashSet::new();
    moves
        .into_iter()
        .filter(|m| seen.insert(m.clone()))
        .collect()
}

impl poem_openapi::types::Example for NewPipelineBody {
    fn example() -> Self {
        Self {
            name: "Renewals".into(),
            moves: Some(StageMoves::FromOpen),
            stages: vec![
                NewStageBody::example(),
                NewStageBody {
                    key: "RENEWED".into(),
                    name: "Renewed".into(),
                    kind: Some(StageKind::Won),
                    probability: None,
                    rot_days: None,
                    position: None,
                },
                NewStageBody {
                    key: "CHURNED".into(),
                    name: "Churned".into(),
                    kind: Some(StageKind::Lost),
                    probability: None,
                    rot_days: None,
                    position: None,
                },
            ],
            allowed_moves: None,
        }
    }
}

impl poem_openapi::types::Example for NewStageBody {
    fn example() -> Self {
        Self {
            key: "DUE".into(),
            name: "Due for renewal".into(),
            kind: Some(StageKind::Open),
            probability: Some(70),
            rot_days: Some(30),
            position: None,
        }
    }
}

impl poem_openapi::types::Example for PipelinePatchBody {
    fn example() -> Self {
        Self {
            name: Some("Renewals 2027".into()),
            is_default: None,
            moves: None,
            allowed_moves: None,
        }
    }
}

impl poem_openapi::types::Example for StagePatchBody {
    fn example() -> Self {
        Self {
            name: None,
            position: None,
            kind: None,
            probability: Some(80),
            rot_days: MaybeUndefined::Value(14),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(key: &str, kind: StageKind) -> NewStageBody {
        NewStageBody {
            key: key.into(),
            name: key.to_lowercase(),
            kind: Some(kind),
            probability: None,
            rot_days: None,
            position: None,
        }
    }

    fn pipeline(moves: StageMoves, allowed: Vec<(&str, &str)>) -> NewPipelineBody {
        NewPipelineBody {
            name: " Renewals ".into(),
            moves: Some(moves),
            stages: vec![stage("A", StageKind::Open), stage("W", StageKind::Won)],
            allowed_moves: Some(
                allowed
                    .into_iter()
                    .map(|(from, to)| StageMove {
                        from_stage: from.into(),
                        to_stage: to.into(),
                    })
                    .collect(),
            ),
        }
    }

    fn refused_field(result: Result<NewPipeline, ApiError>) -> String {
        let Err(ApiError::Validation(errors)) = result else {
            panic!("expected a validation error")
        };
        errors[0].field.clone()
    }

    #[test]
    fn probabilities_default_by_kind() {
        let new = NewPipeline::try_from(pipeline(StageMoves::FromOpen, vec![])).expect("valid");
        assert_eq!(new.name, "Renewals");
        let probabilities: Vec<i32> = new.stages.iter().map(|s| s.probability).collect();
        assert_eq!(probabilities, [50, 100]);
    }

    #[test]
    fn listed_moves_name_stages_of_the_pipeline_once() {
        let new = NewPipeline::try_from(pipeline(
            StageMoves::Listed,
            vec![("A", "W"), ("A", "W"), ("W", "A")],
        ))
        .expect("valid");
        assert_eq!(new.allowed_moves.len(), 2, "duplicates collapse");
        for bad in [vec![("A", "X")], vec![("A", "A")]] {
            let body = pipeline(StageMoves::Listed, bad);
            assert_eq!(refused_field(NewPipeline::try_from(body)), "allowed_moves");
        }
        let body = pipeline(StageMoves::FromOpen, vec![("A", "W")]);
        assert_eq!(refused_field(NewPipeline::try_from(body)), "allowed_moves");
    }

    #[test]
    fn stage_keys_differ() {
        let mut body = pipeline(StageMoves::FromOpen, vec![]);
        body.stages.push(stage("A", StageKind::Lost));
        assert_eq!(refused_field(NewPipeline::try_from(body)), "stages");
    }

    #[test]
    fn a_pipeline_is_not_undefaulted() {
        let body = PipelinePatchBody {
            name: None,
            is_default: Some(false),
            moves: None,
            allowed_moves: None,
        };
        assert!(PipelinePatch::try_from(body).is_err());
    }
}
