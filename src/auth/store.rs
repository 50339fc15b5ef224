//! Storage for authentication. Before a tenant is known (signup, login, refresh) the
//! only door is one of the reviewed SECURITY DEFINER functions of migration V1; once it
//! is known, everything goes through [`TenantTx`].

use uuid::Uuid;

use super::{Role, refresh::NewRefreshToken};
use crate::{
    db::{Pool, TenantContext, TenantTx},
    error::ApiError,
};

/// One membership of the identity behind an email.
pub struct LoginCandidate {
    pub user_id: Uuid,
    pub password_hash: String,
    pub tenant_id: Uuid,
    pub tenant_name: String,
    pub role: Role,
}

pub async fn login_candidates(pool: &Pool, email: &str) -> Result<Vec<LoginCandidate>, ApiError> {
    let rows = pool
        .query_once(
            "SELECT user_id, password_hash, tenant_id, tenant_name, role::text AS role \
             FROM app.login_candidates($1)",
            &[&email],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(LoginCandidate {
                user_id: row.get("user_id"),
                password_hash: row.get("password_hash"),
                tenant_id: row.get("tenant_id"),
                tenant_name: row.get("tenant_name"),
                role: Role::from_row(row)?,
            })
        })
        .collect()
}

pub struct SignUp {
    pub tenant_id: Uuid,
    pub tenant_name: String,
    pub user_id: Uuid,
    pub email: String,
    pub full_name: String,
    pub password_hash: String,
}

pub async fn sign_up(pool: &Pool, new: &SignUp) -> Result<(), ApiError> {
    pool.query_once(
        "SELECT app.sign_up($1, $2, $3, $4, $5, $6)",
        &[
            &new.tenant_id,
            &new.tenant_name,
            &new.user_id,
            &new.email,
            &new.full_name,
            &new.password_hash,
        ],
    )
    .await?;
    Ok(())
}

/// Rotates a refresh token: the context it was issued for, or `None` when it is
/// unknown, expired, revoked, already used (which revokes its family) or belongs to
/// a membership that is no longer active.
pub async fn rotate_refresh_token(
    pool: &Pool,
    presented_hash: &[u8],
    next: &NewRefreshToken,
    lifetime_secs: i64,
) -> Result<Option<TenantContext>, ApiError> {
    let rows = pool
        .query_once(
            "SELECT user_id, tenant_id, role::text AS role \
             FROM app.rotate_refresh_token($1, $2, $3, $4::bigint * interval '1 second')",
            &[&presented_hash, &next.id, &next.hash, &lifetime_secs],
        )
        .await?;
    rows.into_iter()
        .next()
        .map(|row| {
            Ok(TenantContext {
                user_id: row.get("user_id"),
                tenant_id: row.get("tenant_id"),
                role: Role::from_row(&row)?,
            })
        })
        .transpose()
}

/// Starts a new refresh-token family for the caller (at signup or login).
pub async fn store_refresh_token(
    tx: TenantTx,
    token: &NewRefreshToken,
    lifetime_secs: i64,
) -> Result<(), ApiError> {
    let user_id = tx.context().user_id;
    tx.query_and_commit(
        "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, expires_at) \
         VALUES ($1, $1, $2, $3, now() + $4::bigint * interval '1 second')",
        &[&token.id, &user_id, &token.hash, &lifetime_secs],
    )
    .await?;
    Ok(())
}

/// Revokes the family of one of the caller's refresh tokens (logout).
pub async fn revoke_refresh_family(tx: TenantTx, presented_hash: &[u8]) -> Result<(), ApiError> {
    tx.query_and_commit(
        "UPDATE refresh_tokens SET revoked_at = now() \
         WHERE revoked_at IS NULL \
           AND family_id IN (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)",
        &[&presented_hash],
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

pub async fn me(tx: TenantTx) -> Result<Me, ApiError> {
    let user_id = tx.context().user_id;
    let row = tx
        .query_opt_and_commit(
            "SELECT u.email, u.full_name, t.name AS tenant_name, m.role::text AS role \
             FROM memberships m \
             JOIN users u ON u.id = m.user_id \
             JOIN tenants t ON t.id = m.tenant_id \
             WHERE m.user_id = $1 AND m.active",
            &[&user_id],
        )
        .await?
        .ok_or(ApiError::Unauthorized(
            "This membership is no longer active.",
        ))?;
    Ok(Me {
        email: row.get("email"),
        full_name: row.get("full_name"),
        tenant_name: row.get("tenant_name"),
        role: Role::from_row(&row)?,
    })
}
