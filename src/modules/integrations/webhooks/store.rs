//! Endpoint storage. Plain SQL under the tenant's policies (owners and admins only);
//! the secret is written here and never read back.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use uuid::Uuid;

use super::{Attempt, AttemptOutcome, Endpoint, EndpointPatch, NewEndpoint, Redelivery};
use crate::platform::{
    db::{DbError, TenantTx},
    error::ApiError,
    list::{ListQuery, OldestFirst, PageQuery, SortOrder},
};

/// The columns every endpoint query returns.
macro_rules! columns {
    () => {
        "id, url, description, event_types, enabled, disabled_reason, failing_since, \
         consecutive_failures, created_at, updated_at"
    };
}

fn endpoint(row: &Row) -> Endpoint {
    Endpoint {
        id: row.get("id"),
        url: row.get("url"),
        description: row.get("description"),
        event_types: row.get("event_types"),
        enabled: row.get("enabled"),
        disabled_reason: row.get("disabled_reason"),
        failing_since: row.get("failing_since"),
        consecutive_failures: row.get("consecutive_failures"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

/// Creates the endpoint with its first secret, in one transaction.
pub async fn create(
    mut tx: TenantTx,
    new: &NewEndpoint,
    secret: &str,
) -> Result<Endpoint, DbError> {
    let id = Uuid::now_v7();
    let row = tx
        .query_one(
            concat!(
                "INSERT INTO webhook_endpoints (id, url, description, event_types) \
                 VALUES ($1, $2, $3, $4) RETURNING ",
                columns!()
            ),
            &[&id, &new.url, &new.description, &new.event_types],
        )
        .await?;
    tx.query_and_commit(
        "INSERT INTO webhook_secrets (endpoint_id, id, secret) VALUES ($1, $2, $3)",
        &[&id, &Uuid::now_v7(), &secret],
    )
    .await?;
    Ok(endpoint(&row))
}

pub async fn get(tx: TenantTx, id: Uuid) -> Result<Endpoint, DbError> {
    let row = tx
        .query_opt_and_commit(
            concat!(
                "SELECT ",
                columns!(),
                " FROM webhook_endpoints WHERE id = $1"
            ),
            &[&id],
        )
        .await?;
    row.as_ref().map(endpoint).ok_or(DbError::NotFound)
}

/// Applies `patch`; answers the endpoint as it now is. Enabling it again clears the
/// platform's reason for disabling it and its failure streak (which would otherwise
/// disable it again at the next failure).
pub async fn update(tx: TenantTx, id: Uuid, patch: &EndpointPatch) -> Result<Endpoint, DbError> {
    let row = tx
        .query_opt_and_commit(
            concat!(
                "UPDATE webhook_endpoints SET \
                 url = coalesce($2, url), \
                 description = coalesce($3, description), \
                 event_types = coalesce($4, event_types), \
                 enabled = coalesce($5, enabled), \
                 disabled_reason = CASE WHEN $5 THEN NULL ELSE disabled_reason END, \
                 failing_since = CASE WHEN $5 THEN NULL ELSE failing_since END, \
                 consecutive_failures = CASE WHEN $5 THEN 0 ELSE consecutive_failures END, \
                 updated_at = now() \
                 WHERE id = $1 RETURNING ",
                columns!()
            ),
            &[
                &id,
                &patch.url,
                &patch.description,
                &patch.event_types,
                &patch.enabled,
            ],
        )
        .await?;
    row.as_ref().map(endpoint).ok_or(DbError::NotFound)
}

/// Adds `secret` as the endpoint's newest; the older ones stay valid for `overlap`.
/// Answers until when. `NotFound` for no such endpoint of the tenant.
pub async fn rotate(
    tx: TenantTx,
    endpoint_id: Uuid,
    secret: &str,
    overlap_hours: i32,
) -> Result<DateTime<Utc>, DbError> {
    tx.query_and_commit(
        "INSERT INTO webhook_secrets (endpoint_id, id, secret, overlap) \
         VALUES ($1, $2, $3, make_interval(hours => $4))",
        &[&endpoint_id, &Uuid::now_v7(), &secret, &overlap_hours],
    )
    .await?;
    Ok(Utc::now() + chrono::Duration::hours(i64::from(overlap_hours)))
}

/// Deletes the endpoint, its secrets and its undelivered messages.
pub async fn delete(tx: TenantTx, id: Uuid) -> Result<(), DbError> {
    tx.affect_one_and_commit(
        "DELETE FROM webhook_endpoints WHERE id = $1 RETURNING id",
        &[&id],
    )
    .await
}

/// The statement [`list`] runs for this page, oldest first
/// (`webhook_endpoints_created_idx`); refuses a bad cursor or limit.
pub fn list_query(
    cursor: Option<String>,
    limit: Option<i64>,
) -> Result<PageQuery<OldestFirst>, ApiError> {
    ListQuery::new(concat!(
        "SELECT * FROM (SELECT ",
        columns!(),
        ", created_at::text AS sort_key FROM webhook_endpoints) AS endpoints"
    ))
    .page(OldestFirst, cursor, limit)
}

/// One page of endpoints and the cursor of the next.
pub async fn list(
    tx: TenantTx,
    query: PageQuery<OldestFirst>,
) -> Result<(Vec<Endpoint>, Option<String>), DbError> {
    query.fetch(tx, endpoint).await
}

/// The delivery log's order: newest attempt first (`webhook_attempts_endpoint_idx`,
/// read backwards).
#[derive(Debug, Clone, Copy)]
pub struct NewestAttemptFirst;

impl SortOrder for NewestAttemptFirst {
    fn name(self) -> &'static str {
        "attempted_at"
    }

    fn expression(self) -> &'static str {
        "attempted_at"
    }

    fn sql_type(self) -> &'static str {
        "timestamptz"
    }

    fn descending(self) -> bool {
        true
    }
}

/// The statement [`attempts`] runs for this page of endpoint `endpoint_id`'s log;
/// refuses a bad cursor or limit.
pub fn attempts_query(
    endpoint_id: Uuid,
    cursor: Option<String>,
    limit: Option<i64>,
) -> Result<PageQuery<NewestAttemptFirst>, ApiError> {
    let mut query = ListQuery::new(
        "SELECT * FROM (SELECT id, endpoint_id, message_id, event_type, attempt, attempted_at, \
         status, duration_ms, response, outcome, next_attempt_at, \
         attempted_at::text AS sort_key FROM webhook_attempts) AS attempts",
    );
    query.filter("endpoint_id", "=", Some(endpoint_id));
    query.page(NewestAttemptFirst, cursor, limit)
}

fn attempt(row: &Row) -> Attempt {
    let outcome = match row.get::<_, &str>("outcome") {
        "delivered" => AttemptOutcome::Delivered,
        "retrying" => AttemptOutcome::Retrying,
        _ => AttemptOutcome::GivenUp,
    };
    Attempt {
        id: row.get("id"),
        message_id: row.get("message_id"),
        event_type: row.get("event_type"),
        attempt: row.get("attempt"),
        attempted_at: row.get("attempted_at"),
        status: row.get("status"),
        duration_ms: row.get("duration_ms"),
        response: row.get("response"),
        outcome,
        next_attempt_at: row.get("next_attempt_at"),
    }
}

/// Fails with `NotFound` unless the tenant has endpoint `id`.
async fn require_endpoint(tx: &mut TenantTx, id: Uuid) -> Result<(), DbError> {
    tx.query_opt("SELECT 1 FROM webhook_endpoints WHERE id = $1", &[&id])
        .await?
        .map(drop)
        .ok_or(DbError::NotFound)
}

/// One page of the endpoint's delivery log and the cursor of the next; `NotFound`
/// for no such endpoint of the tenant.
pub async fn attempts(
    mut tx: TenantTx,
    endpoint_id: Uuid,
    query: PageQuery<NewestAttemptFirst>,
) -> Result<(Vec<Attempt>, Option<String>), DbError> {
    require_endpoint(&mut tx, endpoint_id).await?;
    query.fetch(tx, attempt).await
}

/// Queues the endpoint's messages `what` names again (`app.redeliver_webhooks`);
/// answers how many. `NotFound` for no such endpoint of the tenant, or for a message id
/// it has not (or that a worker is sending right now).
pub async fn redeliver(
    mut tx: TenantTx,
    endpoint_id: Uuid,
    what: Redelivery,
) -> Result<i64, DbError> {
    require_endpoint(&mut tx, endpoint_id).await?;
    let (message, since) = match what {
        Redelivery::Message(id) => (Some(id), None),
        Redelivery::Since(since) => (None, Some(since)),
    };
    let row = tx
        .query_opt_and_commit(
            "SELECT app.redeliver_webhooks($1, $2, $3) AS requeued",
            &[&endpoint_id, &message, &since],
        )
        .await?
        .ok_or(DbError::NotFound)?;
    let requeued: i64 = row.get("requeued");
    if requeued == 0 && message.is_some() {
        return Err(DbError::NotFound);
    }
    Ok(requeued)
}

/// Queues a `webhook.test` message for the endpoint (`app.ping_webhook_endpoint`);
/// answers its id. `NotFound` for no such endpoint of the tenant.
pub async fn ping(tx: TenantTx, endpoint_id: Uuid) -> Result<Uuid, DbError> {
    let row = tx
        .query_opt_and_commit(
            "SELECT app.ping_webhook_endpoint($1) AS message_id",
            &[&endpoint_id],
        )
        .await?
        .ok_or(DbError::NotFound)?;
    row.get::<_, Option<Uuid>>("message_id")
        .ok_or(DbError::NotFound)
}
