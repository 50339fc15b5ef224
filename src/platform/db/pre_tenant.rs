//! [`PreTenant`], the pre-tenant door: before a tenant is known (signup and its
//! confirmation, an invitation's link, an unsubscribe link, login, refresh) the
//! application role may call only the reviewed SECURITY DEFINER functions (migrations
//! V1, V5, V6, V7 and V28), and this type holds exactly those calls. It runs no other
//! SQL.
//! What a function vouches for (a membership, a rotated session) comes back as a
//! [`TenantContext`]; the caller never chooses one.

use tokio_postgres::Row;
use uuid::Uuid;

use super::{Db, DbError, role, settle::Effect};
use crate::platform::{module::Meaning, tenancy::TenantContext};

/// The definer functions' own constraints (the identity tables of V1).
fn meaning(constraint: &str) -> Option<Meaning> {
    match constraint {
        "users_email_key" => Some(Meaning::Conflict(
            "An account with this email was created meanwhile.",
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

/// A signup waiting for its address to confirm it (`app.request_signup`).
pub struct SignUpRequest<'a> {
    pub email: &'a str,
    pub tenant_name: &'a str,
    pub full_name: &'a str,
    pub password_hash: &'a str,
    /// Queued to an address without an account; its text carries `{token}`.
    pub confirmation: MailText<'a>,
    /// Queued instead to an address that already has an account.
    pub known: MailText<'a>,
}

/// A message's subject and text, before the database writes its token in.
#[derive(Clone, Copy)]
pub struct MailText<'a> {
    pub subject: &'a str,
    /// `{token}` is replaced by the link's secret.
    pub text: &'a str,
}

/// Whom an unsubscribe link is from, and what it stops.
pub struct Unsubscribed {
    pub tenant_name: String,
    /// `email` or `sms`.
    pub channel: String,
}

fn unsubscribed(row: &Row) -> Unsubscribed {
    Unsubscribed {
        tenant_name: row.get("tenant_name"),
        channel: row.get("channel"),
    }
}

/// What following an invitation's link did (`app.accept_invitation`).
pub enum Acceptance {
    /// The identity is now a member; the context of that membership.
    Joined(TenantContext),
    /// The identity is new or its email was never verified: a password is needed.
    PasswordRequired,
    /// The identity already belongs to the tenant.
    AlreadyMember,
    /// Unknown, wrong, used, revoked or expired token.
    Invalid,
}

impl<'a> PreTenant<'a> {
    pub(super) fn new(db: &'a Db) -> Self {
        Self { db }
    }

    /// One definer call; `effect` says whether it may write (see [`Effect`]).
    async fn call(
        &self,
        sql: &str,
        effect: Effect,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, DbError> {
        self.db.query_once((sql, effect), params, meaning).await
    }

    /// The active memberships of the identity with this email.
    pub async fn login_candidates(&self, email: &str) -> Result<Vec<LoginCandidate>, DbError> {
        let rows = self
            .call(
                "SELECT user_id, password_hash, tenant_id, tenant_name, role::text AS role \
                 FROM app.login_candidates($1)",
                Effect::Reads,
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

    /// Queues the confirmation link, or the notice for an address that already has an
    /// account; answers nothing either way, so nothing about the address is learnt.
    pub async fn request_signup(&self, request: &SignUpRequest<'_>) -> Result<(), DbError> {
        self.call(
            "SELECT app.request_signup($1, $2, $3, $4, $5, $6, $7, $8)",
            Effect::Writes,
            &[
                &request.email,
                &request.tenant_name,
                &request.full_name,
                &request.password_hash,
                &request.confirmation.subject,
                &request.confirmation.text,
                &request.known.subject,
                &request.known.text,
            ],
        )
        .await
        .map(drop)
    }

    /// What an unsubscribe link stops: the tenant's name and the channel; `None` for
    /// a malformed or forged token.
    pub async fn unsubscribe_target(&self, token: &str) -> Result<Option<Unsubscribed>, DbError> {
        let rows = self
            .call(
                "SELECT tenant_name, channel FROM app.unsubscribe_target($1)",
                Effect::Reads,
                &[&token],
            )
            .await?;
        Ok(rows.first().map(unsubscribed))
    }

    /// Follows an unsubscribe link: the message's contact opts out of its channel.
    /// `None` for a malformed or forged token.
    pub async fn unsubscribe(&self, token: &str) -> Result<Option<Unsubscribed>, DbError> {
        let rows = self
            .call(
                "SELECT tenant_name, channel FROM app.unsubscribe($1)",
                Effect::Writes,
                &[&token],
            )
            .await?;
        Ok(rows.first().map(unsubscribed))
    }

    /// Follows a confirmation link: creates the tenant and its owner (email verified)
    /// and answers the owner's context; `None` for a bad, used or expired token.
    pub async fn confirm_signup(&self, token: &str) -> Result<Option<TenantContext>, DbError> {
        let rows = self
            .call(
                "SELECT user_id, tenant_id, 'owner' AS role FROM app.confirm_signup($1)",
                Effect::Writes,
                &[&token],
            )
            .await?;
        rows.first().map(|row| vouched(row, None)).transpose()
    }

    /// Follows an invitation's link, with the acceptor's name and password hash for an
    /// identity that needs them.
    pub async fn accept_invitation(
        &self,
        token: &str,
        full_name: Option<&str>,
        password_hash: Option<&str>,
    ) -> Result<Acceptance, DbError> {
        let rows = self
            .call(
                "SELECT user_id, tenant_id, role::text AS role, outcome \
                 FROM app.accept_invitation($1, $2, $3)",
                Effect::Writes,
                &[&token, &full_name, &password_hash],
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(Acceptance::Invalid);
        };
        match row.get::<_, &str>("outcome") {
            "joined" => Ok(Acceptance::Joined(vouched(row, None)?)),
            "password_required" => Ok(Acceptance::PasswordRequired),
            "already_member" => Ok(Acceptance::AlreadyMember),
            other => Err(DbError::internal(format!(
                "unknown invitation outcome {other:?}"
            ))),
        }
    }

    /// Rotates a refresh token (`<tenant>.<id>.<secret>`): the context it was issued for
    /// and its successor, or `None` when it is unknown, wrong, expired, revoked, already
    /// used (which revokes its session) or belongs to a membership that is no longer
    /// active. The database makes the successor and fixes its lifetime.
    pub async fn rotate_refresh_token(
        &self,
        presented: &str,
    ) -> Result<Option<(TenantContext, String)>, DbError> {
        let rows = self
            .call(
                "SELECT user_id, tenant_id, role::text AS role, family_id, token \
                 FROM app.rotate_refresh_token($1)",
                Effect::Writes,
                &[&presented],
            )
            .await?;
        rows.first()
            .map(|row| Ok((vouched(row, Some(row.get("family_id")))?, row.get("token"))))
            .transpose()
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
