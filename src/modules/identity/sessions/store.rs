//! Session storage once the tenant is known (the pre-tenant calls of signup and its
//! confirmation, accepting an invitation, login and refresh are the pre-tenant door's,
//! `platform::db::PreTenant`).

use super::refresh::NewRefreshToken;
use crate::platform::{
    db::{DbError, TenantTx, role},
    tenancy::Role,
};

/// Starts a new refresh-token family for the caller (at signup or login).
pub async fn store_refresh_token(
    tx: TenantTx,
    token: &NewRefreshToken,
    lifetime_secs: i64,
) -> Result<(), DbError> {
    let user_id = tx.context().user_id();
    tx.query_and_commit(
        "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, expires_at) \
         VALUES ($1, $1, $2, $3, now() + $4::bigint * interval '1 second')",
        &[&token.id, &user_id, &token.hash, &lifetime_secs],
    )
    .await?;
    Ok(())
}

/// Logout: revokes the family of one of the caller's refresh tokens and the session of
/// the caller's access token (usually the same family).
pub async fn revoke_refresh_family(tx: TenantTx, presented_hash: &[u8]) -> Result<(), DbError> {
    let session = tx.context().session();
    tx.query_and_commit(
        "UPDATE refresh_tokens SET revoked_at = now() \
         WHERE revoked_at IS NULL \
           AND (family_id = $2 \
                OR family_id IN (SELECT family_id FROM refresh_tokens WHERE token_hash = $1))",
        &[&presented_hash, &session],
    )
    .await?;
    Ok(())
}

/// The caller as the database sees them.
pub struct Me {
    pub email: String,
    pub full_name: String,
    pub tenant_name: String,
    pub role: Role,
}

/// The caller's active membership; `None` once it was deactivated.
pub async fn me(tx: TenantTx) -> Result<Option<Me>, DbError> {
    let user_id = tx.context().user_id();
    let row = tx
        .query_opt_and_commit(
            "SELECT u.email, u.full_name, t.name AS tenant_name, m.role::text AS role \
             FROM memberships m \
             JOIN users u ON u.id = m.user_id \
             JOIN tenants t ON t.id = m.tenant_id \
             WHERE m.user_id = $1 AND m.active",
            &[&user_id],
        )
        .await?;
    row.map(|row| {
        Ok(Me {
            email: row.get("email"),
            full_name: row.get("full_name"),
            tenant_name: row.get("tenant_name"),
            role: role(&row)?,
        })
    })
    .transpose()
}
