//! [`PreTenant`], the pre-tenant door: before a tenant is known (signup, login,
//! refresh) the application role may call only the reviewed SECURITY DEFINER functions
//! of migration V1, and this type holds exactly those calls. It runs no other SQL.
//! What a function vouches for (a membership, a rotated session) comes back as a
//! [`TenantContext`]; the caller never chooses one.

use tokio_postgres::Row;
use uuid::Uuid;

use super::{Db, DbError, role};
use crate::platform::{
    mail::Email,
    module::Meaning,
    tenancy::{Role, TenantContext},
};

/// The definer functions' own constraints (the identity tables of V1).
fn meaning(constraint: &str) -> Option<Meaning> {
    match constraint {
        "users_email_key" => Some(Meaning::Conflict(
            "An account with this email already exists.",
        )),
        _ => None,
    }
}

pub struct PreTenant<'a> {
    db: &'a Db,
}

/// One membership of the identity behind an email, as `app.login_candidates` returns it.
pub struct LoginCandidate {
    pub password_hash: String,
    pub tenant_name: String,
    /// The membership; act on it only once the password is verified.
    pub context: TenantContext,
}

/// A new tenant with its first user, its owner.
pub struct SignUp<'a> {
    pub tenant_id: Uuid,
    pub tenant_name: &'a str,
    pub user_id: Uuid,
    pub email: &'a str,
    pub full_name: &'a str,
    pub password_hash: &'a str,
}

impl<'a> PreTenant<'a> {
    pub(super) fn new(db: &'a Db) -> Self {
        Self { db }
    }

    async fn call(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, DbError> {
        self.db.query_once(sql, params, meaning).await
    }

    /// The active memberships of the identity with this email.
    pub async fn login_candidates(&self, email: &str) -> Result<Vec<LoginCandidate>, DbError> {
        let rows = self
            .call(
                "SELECT user_id, password_hash, tenant_id, tenant_name, role::text AS role \
                 FROM app.login_candidates($1)",
                &[&email],
            )
            .await?;
        rows.iter()
            .map(|row| {
                Ok(LoginCandidate {
                    password_hash: row.get("password_hash"),
                    tenant_name: row.get("tenant_name"),
                    context: vouched(row, None)?,
                })
            })
            .collect()
    }

    /// Creates the tenant and its owner; the context of that owner.
    pub async fn sign_up(&self, new: &SignUp<'_>) -> Result<TenantContext, DbError> {
        self.call(
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
        Ok(TenantContext::vouched(
            new.tenant_id,
            new.user_id,
            Role::Owner,
            None,
        ))
    }

    /// Rotates a refresh token: the context it was issued for, or `None` when it is
    /// unknown, expired, revoked, already used (which revokes its family) or belongs
    /// to a membership that is no longer active.
    pub async fn rotate_refresh_token(
        &self,
        presented_hash: &[u8],
        next_id: Uuid,
        next_hash: &[u8],
        lifetime_secs: i64,
    ) -> Result<Option<TenantContext>, DbError> {
        let rows = self
            .call(
                "SELECT user_id, tenant_id, role::text AS role, family_id \
                 FROM app.rotate_refresh_token($1, $2, $3, $4::bigint * interval '1 second')",
                &[&presented_hash, &next_id, &next_hash, &lifetime_secs],
            )
            .await?;
        rows.first()
            .map(|row| vouched(row, Some(row.get("family_id"))))
            .transpose()
    }

    /// Queues `email` outside any tenant (`app.enqueue_system_mail`, migration V6): for
    /// mail with no tenant to belong to, such as a notice to an address that someone
    /// tried to sign up with. Sent by the worker like a tenant's mail.
    pub async fn enqueue_mail(&self, email: &Email) -> Result<(), DbError> {
        self.call(
            "SELECT app.enqueue_system_mail($1, $2, $3, $4)",
            &[&email.to(), &email.subject(), &email.text(), &email.html()],
        )
        .await
        .map(drop)
    }
}

/// The membership a definer function returned (`user_id`, `tenant_id`, `role`).
fn vouched(row: &Row, session: Option<Uuid>) -> Result<TenantContext, DbError> {
    Ok(TenantContext::vouched(
        row.get("tenant_id"),
        row.get("user_id"),
        role(row)?,
        session,
    ))
}
