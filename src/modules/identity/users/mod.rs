//! Users: the members of a tenant, their roles, and whether they may still log in.
//!
//! A person's identity (email, name, password) is global and may belong to several
//! tenants; what a tenant manages is its membership: the role and the active flag.
//! Members are never deleted: deactivating one keeps their history attributable. New
//! members come by invitation (`super::invitations`).

mod api;
mod store;

pub use api::UsersApi;

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use uuid::Uuid;

use crate::platform::{error::ApiError, tenancy::Role};

/// A member of the tenant.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Member {
    /// The user's id; the same person has the same id in every tenant they belong to.
    pub id: Uuid,
    /// The email address the member logs in with.
    pub email: String,
    /// The member's name.
    pub full_name: String,
    /// What the member may do in this tenant.
    pub role: Role,
    /// False once deactivated: the member can no longer log in or refresh tokens.
    pub active: bool,
    /// When the member joined this tenant.
    pub created_at: DateTime<Utc>,
}

/// One page of the tenant's members.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MemberList {
    /// Oldest membership first.
    pub items: Vec<Member>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Changes to a membership: absent fields stay as they are; at least one is required.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct MemberPatchBody {
    /// The new role; only owners may grant or revoke the owner role.
    pub role: Option<Role>,
    /// `false` deactivates the member (there is no delete), `true` reactivates them.
    pub active: Option<bool>,
}

/// A validated change to a membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberPatch {
    pub role: Option<Role>,
    pub active: Option<bool>,
}

impl TryFrom<MemberPatchBody> for MemberPatch {
    type Error = ApiError;

    fn try_from(body: MemberPatchBody) -> Result<Self, ApiError> {
        if body.role.is_none() && body.active.is_none() {
            return Err(ApiError::invalid("body", "give `role`, `active` or both"));
        }
        Ok(Self {
            role: body.role,
            active: body.active,
        })
    }
}

impl MemberPatch {
    /// May `caller` (their current role) apply this change to a member whose role is
    /// now `target`? Only managers change memberships; only owners touch owners.
    pub fn check_allowed(self, caller: Role, target: Role) -> Result<(), ApiError> {
        if !caller.can_manage_users() {
            return Err(ApiError::Forbidden("Only owners and admins manage users."));
        }
        require_owner_for(
            caller,
            target == Role::Owner || self.role == Some(Role::Owner),
        )
    }

    /// Could this change leave the tenant with fewer active owners?
    pub fn may_remove_an_owner(self) -> bool {
        self.role.is_some_and(|role| role != Role::Owner) || self.active == Some(false)
    }
}

/// Only an owner may make someone an owner or change an owner's membership.
pub fn require_owner_for(caller: Role, touches_owner: bool) -> Result<(), ApiError> {
    if touches_owner && caller != Role::Owner {
        Err(ApiError::Forbidden(
            "Only owners can grant the owner role or change an owner's membership.",
        ))
    } else {
        Ok(())
    }
}

impl poem_openapi::types::Example for MemberPatchBody {
    fn example() -> Self {
        Self {
            role: Some(Role::Admin),
            active: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(role: Option<Role>, active: Option<bool>) -> MemberPatch {
        MemberPatch { role, active }
    }

    #[test]
    fn only_owners_touch_the_owner_role() {
        let promote = patch(Some(Role::Owner), None);
        let deactivate = patch(None, Some(false));
        assert!(promote.check_allowed(Role::Owner, Role::Member).is_ok());
        assert!(promote.check_allowed(Role::Admin, Role::Member).is_err());
        assert!(deactivate.check_allowed(Role::Admin, Role::Owner).is_err());
        assert!(deactivate.check_allowed(Role::Admin, Role::Member).is_ok());
        assert!(deactivate.check_allowed(Role::Owner, Role::Owner).is_ok());
    }

    #[test]
    fn knows_which_changes_may_remove_an_owner() {
        assert!(patch(Some(Role::Admin), None).may_remove_an_owner());
        assert!(patch(None, Some(false)).may_remove_an_owner());
        assert!(!patch(Some(Role::Owner), Some(true)).may_remove_an_owner());
    }

    #[test]
    fn an_empty_patch_is_rejected() {
        let empty = MemberPatchBody {
            role: None,
            active: None,
        };
        assert!(matches!(
            MemberPatch::try_from(empty),
            Err(ApiError::Validation(_))
        ));
    }
}
