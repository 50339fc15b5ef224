//! Invitation storage. Plain SQL under the tenant's policies (managers only; only an
//! owner invites an owner), except the secret: `app.send_invitation` makes it and
//! queues the link, and the application role can neither read nor write it.

use tokio_postgres::Row;
use uuid::Uuid;

use super::{Invitation, InvitationStatus, NewInvitation};
use crate::modules::identity::messages::Message;
use crate::platform::{
    db::{DbError, TenantTx, role},
    error::ApiError,
    list::{ListQuery, OldestFirst, PageQuery},
    tenancy::Role,
};

/// The columns every invitation query returns.
macro_rules! columns {
    () => {
        "id, email, role::text AS role, \
         CASE WHEN accepted_at IS NOT NULL THEN 'accepted' \
              WHEN revoked_at IS NOT NULL THEN 'revoked' \
              WHEN expires_at <= now() THEN 'expired' \
              ELSE 'pending' END AS status, \
         expires_at, created_at"
    };
}

fn invitation(row: &Row) -> Result<Invitation, DbError> {
    let status: &str = row.get("status");
    Ok(Invitation {
        id: row.get("id"),
        email: row.get("email"),
        role: role(row)?,
        status: InvitationStatus::parse(status)
            .ok_or_else(|| DbError::internal(format!("unknown status {status:?}")))?,
        expires_at: row.get("expires_at"),
        created_at: row.get("created_at"),
    })
}

/// The statement [`list`] runs for this page, oldest first (`invitations_created_idx`);
/// refuses a bad cursor or limit.
pub fn list_query(
    cursor: Option<String>,
    limit: Option<i64>,
) -> Result<PageQuery<OldestFirst>, ApiError> {
    ListQuery::new(concat!(
        "SELECT * FROM (SELECT ",
        columns!(),
        ", created_at::text AS sort_key FROM invitations) AS invitations"
    ))
    .page(OldestFirst, cursor, limit)
}

/// One page of invitations and the cursor of the next.
pub async fn list(
    tx: TenantTx,
    query: PageQuery<OldestFirst>,
) -> Result<(Vec<Invitation>, Option<String>), DbError> {
    let (items, next) = query.fetch(tx, invitation).await?;
    Ok((items.into_iter().collect::<Result<_, _>>()?, next))
}

/// Whether a member of the tenant (active or not) logs in with `email`: the tenant's
/// own data, so saying so reveals nothing about other tenants.
pub async fn has_member_with_email(tx: &mut TenantTx, email: &str) -> Result<bool, DbError> {
    let row = tx
        .query_opt(
            "SELECT 1 FROM memberships WHERE lower(email) = lower($1)",
            &[&email],
        )
        .await?;
    Ok(row.is_some())
}

/// Creates the invitation and queues its link; answers it as it now is.
pub async fn create(
    mut tx: TenantTx,
    new: &NewInvitation,
    message: &Message,
) -> Result<Invitation, DbError> {
    let id = Uuid::now_v7();
    tx.query(
        "INSERT INTO invitations (id, email, role) VALUES ($1, $2, $3::text::member_role)",
        &[&id, &new.email, &new.role.as_str()],
    )
    .await?;
    send_and_commit(tx, id, message).await
}

/// The role of a pending-or-not invitation of the tenant; `NotFound` for none.
pub async fn role_of(tx: &mut TenantTx, id: Uuid) -> Result<Role, DbError> {
    let row = tx
        .query_opt(
            "SELECT role::text AS role FROM invitations WHERE id = $1",
            &[&id],
        )
        .await?
        .ok_or(DbError::NotFound)?;
    role(&row)
}

/// A fresh link for a pending (or expired) invitation: the previous one stops working.
pub async fn send_and_commit(
    mut tx: TenantTx,
    id: Uuid,
    message: &Message,
) -> Result<Invitation, DbError> {
    tx.query(
        "SELECT app.send_invitation($1, $2, $3)",
        &[&id, &message.subject, &message.text],
    )
    .await?;
    tx.query_opt_and_commit(
        concat!("SELECT ", columns!(), " FROM invitations WHERE id = $1"),
        &[&id],
    )
    .await?
    .as_ref()
    .map(invitation)
    .transpose()?
    .ok_or_else(|| DbError::internal("the invitation is not visible to its tenant"))
}

/// Revokes a pending invitation; `NotFound` when there is no such pending one.
pub async fn revoke(tx: TenantTx, id: Uuid) -> Result<(), DbError> {
    tx.affect_one_and_commit(
        "UPDATE invitations SET revoked_at = now() \
         WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL RETURNING id",
        &[&id],
    )
    .await
}
