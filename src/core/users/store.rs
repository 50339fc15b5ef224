//! Membership storage. Plain SQL: the policies decide which memberships exist for the
//! caller and who may change them; adding a member goes through `app.add_member`.

use tokio_postgres::Row;
use uuid::Uuid;

use super::{Member, MemberPatch, NewMember};
use crate::{auth::Role, db::TenantTx, error::ApiError};

/// The columns every member query returns (`m`: memberships, `u`: users).
macro_rules! columns {
    () => {
        "u.id, u.email, u.full_name, m.role::text AS role, m.active, m.created_at"
    };
}

/// Every member query reads memberships joined to their identities.
macro_rules! select_members {
    () => {
        concat!(
            "SELECT ",
            columns!(),
            " FROM memberships m JOIN users u ON u.id = m.user_id"
        )
    };
}

fn member(row: &Row) -> Result<Member, ApiError> {
    Ok(Member {
        id: row.get("id"),
        email: row.get("email"),
        full_name: row.get("full_name"),
        role: Role::from_row(row)?,
        active: row.get("active"),
        created_at: row.get("created_at"),
    })
}

pub async fn list(tx: TenantTx) -> Result<Vec<Member>, ApiError> {
    let rows = tx
        .query_and_commit(
            concat!(select_members!(), " ORDER BY m.created_at, m.user_id"),
            &[],
        )
        .await?;
    rows.iter().map(member).collect()
}

pub async fn get(tx: TenantTx, id: Uuid) -> Result<Member, ApiError> {
    let row = tx
        .query_opt_and_commit(concat!(select_members!(), " WHERE m.user_id = $1"), &[&id])
        .await?;
    row.as_ref()
        .map(member)
        .transpose()?
        .ok_or(ApiError::NotFound)
}

/// Adds a member with `app.add_member`: the existing identity for the email (whose
/// name and password stay as they are), or a new one with `password_hash`.
pub async fn add(
    mut tx: TenantTx,
    new: &NewMember,
    password_hash: &str,
) -> Result<Member, ApiError> {
    let role = new.role.as_str();
    let added = tx
        .query_one(
            "SELECT app.add_member($1, $2, $3, $4, $5::text::member_role) AS user_id",
            &[
                &Uuid::now_v7(),
                &new.email,
                &new.full_name,
                &password_hash,
                &role,
            ],
        )
        .await?;
    let user_id: Uuid = added.get("user_id");
    let row = tx
        .query_opt_and_commit(
            concat!(select_members!(), " WHERE m.user_id = $1"),
            &[&user_id],
        )
        .await?;
    row.as_ref()
        .map(member)
        .transpose()?
        .ok_or_else(|| ApiError::internal("the new member is not visible to its tenant"))
}

/// Applies `patch` to a member, provided the caller may, and the tenant still has an
/// active owner afterwards (else nothing changes: 409).
pub async fn update(mut tx: TenantTx, id: Uuid, patch: MemberPatch) -> Result<Member, ApiError> {
    if patch.may_remove_an_owner() {
        lock_active_owners(&mut tx).await?;
    }
    let target = current_role(&mut tx, id).await?;
    patch.check_allowed(tx.context().role, target)?;
    let updated = apply(&mut tx, id, patch).await?;
    ensure_an_active_owner(&mut tx).await?;
    tx.commit().await?;
    Ok(updated)
}

/// Locks the active owners' memberships, so concurrent changes that could remove an
/// owner run one after the other and each sees the other's result (two owners cannot
/// demote each other at once). Rows an admin may not update are skipped by the policy;
/// an admin cannot remove an owner anyway.
async fn lock_active_owners(tx: &mut TenantTx) -> Result<(), ApiError> {
    tx.query(
        "SELECT user_id FROM memberships WHERE role = 'owner' AND active \
         ORDER BY user_id FOR UPDATE",
        &[],
    )
    .await?;
    Ok(())
}

async fn current_role(tx: &mut TenantTx, id: Uuid) -> Result<Role, ApiError> {
    let row = tx
        .query_one(
            "SELECT role::text AS role FROM memberships WHERE user_id = $1",
            &[&id],
        )
        .await?;
    Role::from_row(&row)
}

async fn apply(tx: &mut TenantTx, id: Uuid, patch: MemberPatch) -> Result<Member, ApiError> {
    let role = patch.role.map(Role::as_str);
    let row = tx
        .query_one(
            concat!(
                "WITH m AS ( \
                     UPDATE memberships SET \
                         role   = coalesce($2::text::member_role, role), \
                         active = coalesce($3, active) \
                     WHERE user_id = $1 \
                     RETURNING user_id, role, active, created_at) \
                 SELECT ",
                columns!(),
                " FROM m JOIN users u ON u.id = m.user_id"
            ),
            &[&id, &role, &patch.active],
        )
        .await?;
    member(&row)
}

async fn ensure_an_active_owner(tx: &mut TenantTx) -> Result<(), ApiError> {
    let row = tx
        .query_one(
            "SELECT count(*) AS owners FROM memberships WHERE role = 'owner' AND active",
            &[],
        )
        .await?;
    let owners: i64 = row.get("owners");
    if owners > 0 {
        Ok(())
    } else {
        Err(ApiError::Conflict(
            "A tenant must keep at least one active owner.".to_owned(),
        ))
    }
}
