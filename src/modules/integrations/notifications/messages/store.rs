//! Message storage: plain SQL under the tenant's policies (every member reads, writers
//! queue). The address, the contact's values and the consent rules are the insert
//! trigger's (V24); the status is the worker's.

use std::collections::BTreeMap;

use tokio_postgres::Row;
use uuid::Uuid;

use super::{Filters, Message, NewMessage, Purpose, RecordRef, ReviewOutcome, Status};
use crate::modules::integrations::notifications::keys::{Channel, TemplateKey};
use crate::platform::{
    db::{DbError, TenantTx},
    error::ApiError,
    list::{ListQuery, NewestFirst, PageQuery},
    module::Meaning,
};

/// The columns every message query returns.
macro_rules! columns {
    () => {
        "id, channel, purpose, contact_id, recipient, template_key, locale, variables, \
         subject, text_body, html_body, cause, record_type, record_id, rule_id, send_at, status, \
         reason, provider_id, attempts, idempotency_key, created_at, created_by, updated_at, \
         sent_at"
    };
}

fn message(row: &Row) -> Result<Message, DbError> {
    let stored = |column: &str| DbError::internal(format!("a stored message's {column}"));
    let template_key: Option<&str> = row.get("template_key");
    let variables: serde_json::Value = row.get("variables");
    let record_type: Option<String> = row.get("record_type");
    let record_id: Option<Uuid> = row.get("record_id");
    Ok(Message {
        id: row.get("id"),
        channel: Channel::parse(row.get("channel")).ok_or_else(|| stored("channel"))?,
        purpose: Purpose::parse(row.get("purpose")).ok_or_else(|| stored("purpose"))?,
        contact_id: row.get("contact_id"),
        recipient: row.get("recipient"),
        template_key: template_key
            .map(|key| TemplateKey::parse(key).ok_or_else(|| stored("template_key")))
            .transpose()?,
        locale: row.get("locale"),
        variables: serde_json::from_value::<BTreeMap<String, String>>(variables)
            .map_err(|_| stored("variables"))?,
        subject: row.get("subject"),
        text: row.get("text_body"),
        html: row.get("html_body"),
        cause: row.get("cause"),
        record: record_type
            .zip(record_id)
            .map(|(kind, id)| RecordRef { kind, id }),
        rule_id: row.get("rule_id"),
        send_at: row.get("send_at"),
        status: Status::parse(row.get("status")).ok_or_else(|| stored("status"))?,
        reason: row.get("reason"),
        provider_id: row.get("provider_id"),
        attempts: row.get("attempts"),
        idempotency_key: row.get("idempotency_key"),
        created_at: row.get("created_at"),
        created_by: row.get("created_by"),
        updated_at: row.get("updated_at"),
        sent_at: row.get("sent_at"),
    })
}

/// What queuing came to.
pub enum Queued {
    /// A new message.
    Created(Message),
    /// The message first queued with the same idempotency key.
    Replayed(Message),
}

/// The statement [`queue`] runs (the benchmark's pgbench scripts run it too).
pub const QUEUE_SQL: &str = concat!(
    "WITH queued AS (INSERT INTO notification_messages (id, channel, purpose, \
     contact_id, template_key, locale, variables, subject, text_body, html_body, \
     send_at, idempotency_key) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
     ON CONFLICT (tenant_id, idempotency_key) DO NOTHING \
     RETURNING ",
    columns!(),
    ") SELECT *, true AS created FROM queued \
     UNION ALL \
     SELECT ",
    columns!(),
    ", false FROM notification_messages \
     WHERE idempotency_key = $12 AND NOT EXISTS (SELECT 1 FROM queued)"
);

/// Queues `new` (the trigger decides its address and whether it is suppressed), or,
/// when its idempotency key was used before, answers that message: a conflict when it
/// was for another contact, channel, purpose or template, or when another request is
/// queuing it at this very moment (its row is not in this statement's snapshot yet).
/// One statement, sent with the commit. A contact of no message of this tenant is
/// `notification_messages_contact_fkey` (422).
pub async fn queue(tx: TenantTx, new: &NewMessage) -> Result<Queued, DbError> {
    let id = Uuid::now_v7();
    let variables = serde_json::to_value(&new.variables).map_err(DbError::internal)?;
    let row = tx
        .query_opt_and_commit(
            QUEUE_SQL,
            &[
                &id,
                &new.channel.name(),
                &new.purpose.name(),
                &new.contact_id,
                &new.template_key.map(TemplateKey::name),
                &new.locale,
                &variables,
                &new.subject,
                &new.text,
                &new.html,
                &new.send_at,
                &new.idempotency_key,
            ],
        )
        .await?
        .ok_or(DbError::Constraint(Meaning::Conflict(
            "Another message with this idempotency key is being queued at this moment; send \
             again to get it.",
        )))?;
    let message = message(&row)?;
    if row.get("created") {
        return Ok(Queued::Created(message));
    }
    let same = message.contact_id == Some(new.contact_id)
        && message.channel == new.channel
        && message.purpose == new.purpose
        && message.template_key == new.template_key;
    if same {
        Ok(Queued::Replayed(message))
    } else {
        Err(DbError::Constraint(Meaning::Conflict(
            "This idempotency key was used for another message (another contact, channel, \
             purpose or template).",
        )))
    }
}

/// Resolves message `id` under review (`app.resolve_notification`, V29, which checks
/// the caller manages the context's tenant) and answers it; `None` when it exists but
/// is not under review, `NotFound` for no such message.
pub async fn resolve(
    mut tx: TenantTx,
    id: Uuid,
    outcome: ReviewOutcome,
    provider_id: Option<&str>,
) -> Result<Option<Message>, DbError> {
    let resolved: bool = tx
        .query_one(
            "SELECT app.resolve_notification($1, $2, $3)",
            &[&id, &outcome.name(), &provider_id],
        )
        .await?
        .get(0);
    let message = get(tx, id).await?;
    Ok(resolved.then_some(message))
}

/// Message `id` of the tenant.
pub async fn get(tx: TenantTx, id: Uuid) -> Result<Message, DbError> {
    let row = tx
        .query_opt_and_commit(
            concat!(
                "SELECT ",
                columns!(),
                " FROM notification_messages WHERE id = $1"
            ),
            &[&id],
        )
        .await?
        .ok_or(DbError::NotFound)?;
    message(&row)
}

/// The statement [`list`] runs for this page, newest first (the message indexes, read
/// backwards); refuses a bad cursor or limit.
pub fn list_query(
    filters: Filters,
    cursor: Option<String>,
    limit: Option<i64>,
) -> Result<PageQuery<NewestFirst>, ApiError> {
    let mut query = ListQuery::new(concat!(
        "SELECT ",
        columns!(),
        ", created_at::text AS sort_key FROM notification_messages"
    ));
    query.filter("contact_id", "=", filters.contact_id);
    query.filter("record_id", "=", filters.record_id);
    query.filter("status", "=", filters.status.map(Status::name));
    query.filter("channel", "=", filters.channel.map(Channel::name));
    query.page(NewestFirst, cursor, limit)
}

/// One page of messages and the cursor of the next.
pub async fn list(
    tx: TenantTx,
    query: PageQuery<NewestFirst>,
) -> Result<(Vec<Message>, Option<String>), DbError> {
    let (rows, next) = query.fetch(tx, message).await?;
    Ok((rows.into_iter().collect::<Result<_, _>>()?, next))
}
