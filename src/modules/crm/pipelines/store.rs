//! Pipeline storage. Plain SQL: tenant isolation is the policies' job, the rules of
//! stages and moves are the constraints' and triggers' job (V50).

use tokio_postgres::Row;
use uuid::Uuid;

use super::{
    NewPipeline, Pipeline, PipelinePatch, Stage, StageFields, StageKind, StageMove, StageMoves,
    StagePatch, StageTotals, WeightedAmount,
};
use crate::platform::{
    db::{DbError, TenantTx},
    module::Meaning,
};

/// How many pipelines a tenant may have.
const MAX_PIPELINES: i64 = 50;
/// How many stages a pipeline may have (a new pipeline is checked with its body).
const MAX_STAGES: i64 = super::MAX_STAGES as i64;

/// The statement [`summary`] runs (the benchmark's pgbench script runs it too).
pub const SUMMARY_SQL: &str = include_str!("summary.sql");

macro_rules! stage_columns {
    () => {
        "pipeline_id, key, name, position, kind::text AS kind, probability, rot_days"
    };
}

const PIPELINES_SQL: &str = "SELECT id, name, is_default, moves, created_at, updated_at \
     FROM pipelines ORDER BY is_default DESC, name";
const PIPELINE_SQL: &str = "SELECT id, name, is_default, moves, created_at, updated_at \
     FROM pipelines WHERE id = $1";
const STAGES_SQL: &str = concat!(
    "SELECT ",
    stage_columns!(),
    " FROM pipeline_stages WHERE pipeline_id = ANY ($1) ORDER BY position, key"
);
const MOVES_SQL: &str = "SELECT pipeline_id, from_stage, to_stage FROM pipeline_moves \
     WHERE pipeline_id = ANY ($1) ORDER BY from_stage, to_stage";

fn stage(row: &Row) -> Stage {
    Stage {
        key: row.get("key"),
        name: row.get("name"),
        position: row.get("position"),
        kind: StageKind::from_label(row.get("kind")),
        probability: row.get("probability"),
        rot_days: row.get("rot_days"),
    }
}

/// Pipelines `rows`, each with its stages and moves (read in two more statements).
async fn assemble(tx: &mut TenantTx, rows: &[Row]) -> Result<Vec<Pipeline>, DbError> {
    let ids: Vec<Uuid> = rows.iter().map(|row| row.get("id")).collect();
    let stages = tx.query(STAGES_SQL, &[&ids]).await?;
    let moves = tx.query(MOVES_SQL, &[&ids]).await?;
    Ok(rows
        .iter()
        .map(|row| {
            let id: Uuid = row.get("id");
            let of_this = |r: &&Row| r.get::<_, Uuid>("pipeline_id") == id;
            Pipeline {
                id,
                name: row.get("name"),
                is_default: row.get("is_default"),
                moves: StageMoves::from_label(row.get("moves")),
                stages: stages.iter().filter(of_this).map(stage).collect(),
                allowed_moves: moves
                    .iter()
                    .filter(of_this)
                    .map(|r| StageMove {
                        from_stage: r.get("from_stage"),
                        to_stage: r.get("to_stage"),
                    })
                    .collect(),
                created_at: row.get("created_at"),
                updated_at: row.get("updated_at"),
            }
        })
        .collect())
}

async fn read_one(tx: &mut TenantTx, id: Uuid) -> Result<Pipeline, DbError> {
    let row = tx
        .query_opt(PIPELINE_SQL, &[&id])
        .await?
        .ok_or(DbError::NotFound)?;
    let mut pipelines = assemble(tx, &[row]).await?;
    pipelines
        .pop()
        .ok_or_else(|| DbError::internal("assembled no pipeline"))
}

pub async fn list(mut tx: TenantTx) -> Result<Vec<Pipeline>, DbError> {
    let rows = tx.query(PIPELINES_SQL, &[]).await?;
    let pipelines = assemble(&mut tx, &rows).await?;
    tx.commit().await?;
    Ok(pipelines)
}

pub async fn get(mut tx: TenantTx, id: Uuid) -> Result<Pipeline, DbError> {
    let pipeline = read_one(&mut tx, id).await?;
    tx.commit().await?;
    Ok(pipeline)
}

pub async fn insert(mut tx: TenantTx, new: &NewPipeline) -> Result<Pipeline, DbError> {
    let id = Uuid::now_v7();
    tx.query_opt(
        "INSERT INTO pipelines (id, name, moves) \
         SELECT $1, $2, $3 WHERE (SELECT count(*) FROM pipelines) < $4 RETURNING id",
        &[&id, &new.name, &new.moves.as_str(), &MAX_PIPELINES],
    )
    .await?
    .ok_or(DbError::Constraint(Meaning::Conflict(
        "A tenant has at most 50 pipelines.",
    )))?;
    let keys: Vec<&str> = new.stages.iter().map(|s| s.key.as_str()).collect();
    let names: Vec<&str> = new.stages.iter().map(|s| s.name.as_str()).collect();
    let kinds: Vec<&str> = new.stages.iter().map(|s| s.kind.as_str()).collect();
    let probabilities: Vec<i32> = new.stages.iter().map(|s| s.probability).collect();
    let rot_days: Vec<Option<i32>> = new.stages.iter().map(|s| s.rot_days).collect();
    tx.query(
        "INSERT INTO pipeline_stages (pipeline_id, key, name, position, kind, probability, rot_days) \
         SELECT $1, s.key, s.name, s.position::integer, s.kind::pipeline_stage_kind, \
                s.probability, s.rot_days \
         FROM unnest($2::text[], $3::text[], $4::text[], $5::integer[], $6::integer[]) \
              WITH ORDINALITY AS s (key, name, kind, probability, rot_days, position)",
        &[&id, &keys, &names, &kinds, &probabilities, &rot_days],
    )
    .await?;
    insert_moves(&mut tx, id, &new.allowed_moves).await?;
    let pipeline = read_one(&mut tx, id).await?;
    tx.commit().await?;
    Ok(pipeline)
}

async fn insert_moves(tx: &mut TenantTx, id: Uuid, moves: &[StageMove]) -> Result<(), DbError> {
    let from: Vec<&str> = moves.iter().map(|m| m.from_stage.as_str()).collect();
    let to: Vec<&str> = moves.iter().map(|m| m.to_stage.as_str()).collect();
    tx.query(
        "INSERT INTO pipeline_moves (pipeline_id, from_stage, to_stage) \
         SELECT $1, m.from_stage, m.to_stage FROM unnest($2::text[], $3::text[]) AS m (from_stage, to_stage)",
        &[&id, &from, &to],
    )
    .await?;
    Ok(())
}

/// Renames, makes the default (the current default stops being it, in the same
/// transaction), changes the moves rule; a `from_open` pipeline keeps no listed moves.
pub async fn update(
    mut tx: TenantTx,
    id: Uuid,
    patch: &PipelinePatch,
) -> Result<Pipeline, DbError> {
    if patch.make_default {
        tx.query(
            "UPDATE pipelines SET is_default = false WHERE is_default AND id <> $1",
            &[&id],
        )
        .await?;
    }
    let row = tx
        .query_opt(
            "UPDATE pipelines SET name = coalesce($2, name), moves = coalesce($3, moves), \
                                  is_default = is_default OR $4 \
             WHERE id = $1 RETURNING moves",
            &[
                &id,
                &patch.name,
                &patch.moves.map(StageMoves::as_str),
                &patch.make_default,
            ],
        )
        .await?
        .ok_or(DbError::NotFound)?;
    let moves = StageMoves::from_label(row.get("moves"));
    if let Some(allowed) = &patch.allowed_moves {
        if moves == StageMoves::FromOpen && !allowed.is_empty() {
            return Err(DbError::Constraint(Meaning::Invalid {
                field: "allowed_moves",
                message: "only a `listed` pipeline lists its moves",
            }));
        }
    }
    if moves == StageMoves::FromOpen || patch.allowed_moves.is_some() {
        tx.query("DELETE FROM pipeline_moves WHERE pipeline_id = $1", &[&id])
            .await?;
    }
    if let Some(allowed) = &patch.allowed_moves {
        insert_moves(&mut tx, id, allowed).await?;
    }
    let pipeline = read_one(&mut tx, id).await?;
    tx.commit().await?;
    Ok(pipeline)
}

/// Refused for the default pipeline and for one whose stages hold deals.
pub async fn delete(tx: TenantTx, id: Uuid) -> Result<(), DbError> {
    tx.affect_one_and_commit("DELETE FROM pipelines WHERE id = $1 RETURNING id", &[&id])
        .await
}

/// Adds a stage at `position` (default: after the last); `NotFound` without the
/// pipeline, a conflict when it is full.
pub async fn add_stage(
    mut tx: TenantTx,
    pipeline: Uuid,
    new: &StageFields,
) -> Result<Stage, DbError> {
    let stages: i64 = tx
        .query_opt(
            "SELECT (SELECT count(*) FROM pipeline_stages s WHERE s.pipeline_id = p.id) AS stages \
             FROM pipelines p WHERE p.id = $1 FOR UPDATE",
            &[&pipeline],
        )
        .await?
        .ok_or(DbError::NotFound)?
        .get("stages");
    if stages >= MAX_STAGES {
        return Err(DbError::Constraint(Meaning::Conflict(
            "A pipeline has at most 50 stages.",
        )));
    }
    let row = tx
        .query_opt_and_commit(
            concat!(
                "INSERT INTO pipeline_stages (pipeline_id, key, name, position, kind, probability, rot_days) \
                 SELECT $1, $2, $3, \
                        coalesce($4, (SELECT coalesce(max(s.position), 0) + 1 FROM pipeline_stages s \
                                      WHERE s.pipeline_id = $1)), \
                        $5::text::pipeline_stage_kind, $6, $7 \
                 RETURNING ",
                stage_columns!()
            ),
            &[
                &pipeline,
                &new.key,
                &new.name,
                &new.position,
                &new.kind.as_str(),
                &new.probability,
                &new.rot_days,
            ],
        )
        .await?;
    row.as_ref()
        .map(stage)
        .ok_or_else(|| DbError::internal("INSERT returned no row"))
}

pub async fn update_stage(
    tx: TenantTx,
    pipeline: Uuid,
    key: &str,
    patch: &StagePatch,
) -> Result<Stage, DbError> {
    let row = tx
        .query_opt_and_commit(
            concat!(
                "UPDATE pipeline_stages SET name = coalesce($3, name), \
                        position = coalesce($4, position), \
                        kind = coalesce($5::text::pipeline_stage_kind, kind), \
                        probability = coalesce($6, probability), \
                        rot_days = CASE WHEN $7 THEN $8 ELSE rot_days END \
                 WHERE pipeline_id = $1 AND key = $2 RETURNING ",
                stage_columns!()
            ),
            &[
                &pipeline,
                &key,
                &patch.name,
                &patch.position,
                &patch.kind.map(StageKind::as_str),
                &patch.probability,
                &patch.rot_days.is_some(),
                &patch.rot_days.flatten(),
            ],
        )
        .await?;
    row.as_ref().map(stage).ok_or(DbError::NotFound)
}

/// Deletes a stage; refused while it holds deals, and for a pipeline's last stage
/// (the statement's RETURNING counts the stages as they were before it).
pub async fn delete_stage(mut tx: TenantTx, pipeline: Uuid, key: &str) -> Result<(), DbError> {
    let row = tx
        .query_opt(
            "DELETE FROM pipeline_stages WHERE pipeline_id = $1 AND key = $2 \
             RETURNING (SELECT count(*) FROM pipeline_stages s WHERE s.pipeline_id = $1) AS stages",
            &[&pipeline, &key],
        )
        .await?
        .ok_or(DbError::NotFound)?;
    if row.get::<_, i64>("stages") <= 1 {
        return Err(DbError::Constraint(Meaning::Conflict(
            "A pipeline keeps at least one stage.",
        )));
    }
    tx.commit().await
}

/// The summary of `pipeline`, or of the default one; `NotFound` when the tenant has
/// no such pipeline.
pub async fn summary(
    tx: TenantTx,
    pipeline: Option<Uuid>,
) -> Result<(Uuid, Vec<StageTotals>), DbError> {
    let rows = tx.query_and_commit(SUMMARY_SQL, &[&pipeline]).await?;
    let id = rows
        .first()
        .map(|row| row.get("pipeline_id"))
        .ok_or(DbError::NotFound)?;
    Ok((id, rows.iter().map(stage_totals).collect::<Result<_, _>>()?))
}

fn stage_totals(row: &Row) -> Result<StageTotals, DbError> {
    let currencies: Vec<String> = row.get("currencies");
    let totals: Vec<String> = row.get("totals");
    let weighted: Vec<String> = row.get("weighted");
    if currencies.len() != totals.len() || totals.len() != weighted.len() {
        return Err(DbError::internal("summary arrays differ in length"));
    }
    Ok(StageTotals {
        stage: row.get("stage"),
        name: row.get("name"),
        kind: StageKind::from_label(row.get("kind")),
        probability: row.get("probability"),
        count: row.get("count"),
        rotting: row.get("rotting"),
        amounts: currencies
            .into_iter()
            .zip(totals)
            .zip(weighted)
            .map(
                |((currency, amount_minor), weighted_minor)| WeightedAmount {
                    currency,
                    amount_minor,
                    weighted_minor,
                },
            )
            .collect(),
    })
}
