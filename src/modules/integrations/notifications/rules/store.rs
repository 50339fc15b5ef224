//! Rule storage: plain SQL under the tenant's policies (every member reads, owners and
//! admins add and delete).

use tokio_postgres::Row;
use uuid::Uuid;

use super::{MAX_RULES, NewRule, Rule};
use crate::modules::integrations::notifications::keys::{Channel, TemplateKey};
use crate::platform::db::{DbError, TenantTx};

/// The columns every rule query returns.
macro_rules! columns {
    () => {
        "id, template_key, channel, locale, offset_minutes, link, created_at, created_by"
    };
}

fn rule(row: &Row) -> Result<Rule, DbError> {
    let stored = |column: &str| DbError::internal(format!("a stored rule's {column}"));
    Ok(Rule {
        id: row.get("id"),
        template_key: TemplateKey::parse(row.get("template_key"))
            .ok_or_else(|| stored("template_key"))?,
        channel: Channel::parse(row.get("channel")).ok_or_else(|| stored("channel"))?,
        locale: row.get("locale"),
        offset_minutes: row.get("offset_minutes"),
        link: row.get("link"),
        created_at: row.get("created_at"),
        created_by: row.get("created_by"),
    })
}

/// Adds `new` unless the tenant keeps [`MAX_RULES`] already (`None`). The same key,
/// channel and offset twice is `notification_rules_once` (409).
pub async fn add(tx: TenantTx, id: Uuid, new: &NewRule) -> Result<Option<Rule>, DbError> {
    let row = tx
        .query_opt_and_commit(
            concat!(
                "INSERT INTO notification_rules \
                     (id, template_key, channel, locale, offset_minutes, link) \
                 SELECT $1, $2, $3, $4, $5, $6 \
                 WHERE (SELECT count(*) FROM notification_rules) < $7 \
                 RETURNING ",
                columns!()
            ),
            &[
                &id,
                &new.template_key.name(),
                &new.channel.name(),
                &new.locale,
                &new.offset_minutes,
                &new.link,
                &MAX_RULES,
            ],
        )
        .await?;
    row.as_ref().map(rule).transpose()
}

pub async fn list(tx: TenantTx) -> Result<Vec<Rule>, DbError> {
    let rows = tx
        .query_and_commit(
            concat!(
                "SELECT ",
                columns!(),
                " FROM notification_rules ORDER BY created_at, id"
            ),
            &[],
        )
        .await?;
    rows.iter().map(rule).collect()
}

pub async fn get(tx: TenantTx, id: Uuid) -> Result<Rule, DbError> {
    let row = tx
        .query_opt_and_commit(
            concat!(
                "SELECT ",
                columns!(),
                " FROM notification_rules WHERE id = $1"
            ),
            &[&id],
        )
        .await?;
    row.as_ref().map(rule).ok_or(DbError::NotFound)?
}

/// Deletes the rule; its trigger cancels what it queued and has not gone out.
pub async fn delete(tx: TenantTx, id: Uuid) -> Result<(), DbError> {
    tx.affect_one_and_commit(
        "DELETE FROM notification_rules WHERE id = $1 RETURNING id",
        &[&id],
    )
    .await
}
