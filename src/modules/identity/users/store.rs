//! Membership storage. Plain SQL: the policies decide which memberships exist for the
//! caller and who may change them. Members join by invitation (`super::super::invitations`).

use tokio_postgres::Row;
use uuid::Uuid;

use super::{Member, MemberPatch};
use crate::platform::{
    db::{DbError, TenantTx, role},
    error::ApiError,
    list::{ListQuery, OldestFirst, PageQuery},
    tenancy::Role,
};

/// The columns every member query returns (`m`: memberships, which carry the member's
/// email and name: the identities themselves are out of the application role's reach).
macro_rules! columns {
    () => {
        "m.user_id AS id, m.email, m.full_name, m.role::text AS role, m.active, m.created_at"
    };
}

/// Every member query reads memberships.
macro_rules! select_members {
    () => {
        concat!("SELECT ", columns!(), " FROM memberships m")
    };
}

fn member(row: &Row) -> Result<Member, DbError> {
    Ok(Member {
        id: row.get("id"),
        email: row.get("email"),
        full_name: row.get("full_name"),
        role: role(row)?,
        active: row.get("active"),
        created_at: row.get("created_at"),
    })
}

/// The statement [`list`] runs for this page, oldest first (`memberships_joined_idx`);
/// refuses a bad cursor or limit.
pub fn list_query(
    cursor: Option<String>,
    limit: Option<i64>,
) -> Result<PageQuery<OldestFirst>, ApiError> {
    ListQuery::new(concat!(
        "SELECT * FROM (SELECT ",
        columns!(),
        ", m.created_at::text AS sort_key FROM memberships m) AS members"
    ))
    .page(OldestFirst, cursor, limit)
}

/// One page of members and the cursor of the next.
pub async fn list(
    tx: TenantTx,
    query: PageQuery<OldestFirst>,
) -> Result<(Vec<Member>, Option<String>), DbError> {
    let (members, next) = query.fetch(tx, member).await?;
    Ok((members.into_iter().collect::<Result<_, _>>()?, next))
}

pub async fn get(tx: TenantTx, id: Uuid) -> Result<Member, DbError> {
    let row = tx
        .query_opt_and_commit(concat!(select_members!(), " WHERE m.user_id = $1"), &[&id])
        .await?;
    row.as_ref()
        .map(member)
        .transpose()?
        .ok_or(DbError::NotFound)
}

/// Locks the active owners' memberships, so concurrent changes that could remove an
/// owner run one after the other and each sees the other's result (two owners cannot
/// demote each other at once). Rows an admin may not update are skipped by the policy;
/// an admin cannot remove an owner anyway.
pub async fn lock_active_owners(tx: &mut TenantTx) -> Result<(), DbError> {
    tx.query(
        "SELECT user_id FROM memberships WHERE role = 'owner' AND active \
         ORDER BY user_id FOR UPDATE",
        &[],
    )
    .await?;
    Ok(())
}

/// The member's role now; `NotFound` for no such member of this tenant.
pub async fn current_role(tx: &mut TenantTx, id: Uuid) -> Result<Role, DbError> {
    let row = tx
        .query_one(
            "SELECT role::text AS role FROM memberships WHERE user_id = $1",
            &[&id],
        )
        .await?;
    role(&row)
}

/// Applies `patch` and answers the member as it now is.
pub async fn apply(tx: &mut TenantTx, id: Uuid, patch: MemberPatch) -> Result<Member, DbError> {
    let role = patch.role.map(Role::as_str);
    let row = tx
        .query_one(
            concat!(
                "WITH m AS ( \
                     UPDATE memberships SET \
                         role   = coalesce($2::text::member_role, role), \
                         active = coalesce($3, active) \
                     WHERE user_id = $1 \
                     RETURNING user_id, email, full_name, role, active, created_at) \
                 SELECT ",
                columns!(),
                " FROM m"
            ),
            &[&id, &role, &patch.active],
        )
        .await?;
    member(&row)
}

/// The caller's role now, as the membership says at this statement (the context's role
/// is the one read when the transaction began); `Revoked` when it is gone.
pub async fn caller_role(tx: &mut TenantTx) -> Result<Role, DbError> {
    let row = tx
        .query_opt(
            "SELECT role::text AS role FROM memberships \
             WHERE user_id = (SELECT app.current_user_id()) AND active",
            &[],
        )
        .await?
        .ok_or(DbError::Revoked)?;
    role(&row)
}

/// How many active owners the tenant has.
pub async fn active_owners(tx: &mut TenantTx) -> Result<i64, DbError> {
    let row = tx
        .query_one(
            "SELECT count(*) AS owners FROM memberships WHERE role = 'owner' AND active",
            &[],
        )
        .await?;
    Ok(row.get("owners"))
}
