//! Consent storage: plain SQL under the tenant's policies (every member reads, writers
//! record).

use tokio_postgres::Row;
use uuid::Uuid;

use super::{Consent, ConsentStatus};
use crate::modules::integrations::notifications::keys::Channel;
use crate::platform::db::{DbError, TenantTx};

fn consent(row: &Row) -> Result<Consent, DbError> {
    let stored = |column: &str| DbError::internal(format!("a stored consent's {column}"));
    Ok(Consent {
        contact_id: row.get("contact_id"),
        channel: Channel::parse(row.get("channel")).ok_or_else(|| stored("channel"))?,
        status: ConsentStatus::parse(row.get("status")).ok_or_else(|| stored("status"))?,
        source: row.get("source"),
        recorded_at: row.get("recorded_at"),
        recorded_by: row.get("recorded_by"),
    })
}

/// The decisions of contact `id`; `NotFound` for no such contact of the tenant.
pub async fn list(tx: TenantTx, contact_id: Uuid) -> Result<Vec<Consent>, DbError> {
    let rows = tx
        .query_and_commit(
            "SELECT c.id AS of_contact, k.contact_id, k.channel, k.status, k.source, \
                    k.recorded_at, k.recorded_by \
             FROM contacts c \
             LEFT JOIN contact_consents k ON k.tenant_id = c.tenant_id AND k.contact_id = c.id \
             WHERE c.id = $1 \
             ORDER BY k.channel",
            &[&contact_id],
        )
        .await?;
    if rows.is_empty() {
        return Err(DbError::NotFound);
    }
    rows.iter()
        .filter(|row| row.get::<_, Option<Uuid>>("contact_id").is_some())
        .map(consent)
        .collect()
}

/// Records the decision of contact `id` about `channel`, replacing the earlier one;
/// `NotFound` for no such contact of the tenant.
pub async fn record(
    tx: TenantTx,
    contact_id: Uuid,
    channel: Channel,
    status: ConsentStatus,
    source: &str,
) -> Result<Consent, DbError> {
    let row = tx
        .query_opt_and_commit(
            "INSERT INTO contact_consents (contact_id, channel, status, source) \
             SELECT c.id, $2, $3, $4 FROM contacts c WHERE c.id = $1 \
             ON CONFLICT (tenant_id, contact_id, channel) DO UPDATE \
             SET status = excluded.status, source = excluded.source, \
                 recorded_at = excluded.recorded_at, recorded_by = excluded.recorded_by \
             RETURNING contact_id, channel, status, source, recorded_at, recorded_by",
            &[&contact_id, &channel.name(), &status.name(), &source],
        )
        .await?
        .ok_or(DbError::NotFound)?;
    consent(&row)
}
