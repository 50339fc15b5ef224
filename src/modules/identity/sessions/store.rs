//! Session storage once the tenant is known (the pre-tenant calls of signup and its
//! confirmation, accepting an invitation, login and refresh are the pre-tenant door's,
//! `platform::db::PreTenant`).

use uuid::Uuid;

use crate::platform::{
    db::{DbError, TenantTx, role},
    tenancy::Role,
};

/// A session just started: its id (the access tokens' `sid`) and its first refresh
/// token, `<tenant>.<id>.<secret>`, made by the database (which keeps only a hash).
pub struct NewSession {
    pub id: Uuid,
    pub refresh_token: String,
}

/// Starts a new session for the caller (at signup, login or accepting an invitation);
/// the database bounds `lifetime_secs` (five minutes to 90 days).
pub async fn start_session(tx: TenantTx, lifetime_secs: i64) -> Result<NewSession, DbError> {
    let row = tx
        .query_opt_and_commit(
            "SELECT session, token FROM app.start_session($1::bigint * interval '1 second')",
            &[&lifetime_secs],
        )
        .await?
        .ok_or_else(|| DbError::internal("app.start_session answered no row"))?;
    Ok(NewSession {
        id: row.get("session"),
        refresh_token: row.get("token"),
    })
}

/// Logout: ends the session of the caller's access token and the session of
/// `refresh_token` when it is one of the caller's.
pub async fn end_session(tx: TenantTx, refresh_token: &str) -> Result<(), DbError> {
    let session = tx.context().session();
    tx.query_and_commit(
        "SELECT app.end_session($1, $2)",
        &[&session, &refresh_token],
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
            "SELECT m.email, m.full_name, t.name AS tenant_name, m.role::text AS role \
             FROM memberships m \
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
