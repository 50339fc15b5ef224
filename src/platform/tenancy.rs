//! Who is acting, for which tenant, with which role.
//!
//! A [`TenantContext`] has no public constructor: inside `platform`, the bearer scheme
//! mints one from a verified access token ([`super::auth::JwtKeys::verify`]), and the
//! pre-tenant door from what a reviewed SECURITY DEFINER function vouched for (login,
//! signup confirmation, invitation acceptance, refresh). Nothing a client sends can
//! become one.

use poem_openapi::Enum;
use uuid::Uuid;

/// A member's role inside a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, serde::Serialize, serde::Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including managing owners.
    Owner,
    /// Everything except granting or removing the owner role.
    Admin,
    /// Reads and writes CRM data.
    Member,
    /// Reads only; every write is refused, by the API and by the database policies.
    ReadOnly,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
            Self::ReadOnly => "read_only",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Owner, Self::Admin, Self::Member, Self::ReadOnly]
            .into_iter()
            .find(|role| role.as_str() == value)
    }

    pub fn can_write(self) -> bool {
        self != Self::ReadOnly
    }

    pub fn can_manage_users(self) -> bool {
        matches!(self, Self::Owner | Self::Admin)
    }
}

/// Who is acting: taken only from a verified credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantContext {
    tenant_id: Uuid,
    user_id: Uuid,
    role: Role,
    session: Option<Uuid>,
}

impl TenantContext {
    /// Only `platform` mints contexts (see the module doc). `session` is the access
    /// token's session (its refresh-token family); `None` for a membership a definer
    /// function has just vouched for (login, signup), before its session exists.
    pub(in crate::platform) fn vouched(
        tenant_id: Uuid,
        user_id: Uuid,
        role: Role,
        session: Option<Uuid>,
    ) -> Self {
        Self {
            tenant_id,
            user_id,
            role,
            session,
        }
    }

    pub fn tenant_id(&self) -> Uuid {
        self.tenant_id
    }

    pub fn user_id(&self) -> Uuid {
        self.user_id
    }

    /// The role the credential was issued with. The database reads the current one
    /// from the membership on every request ([`crate::platform::db::TenantTx::role`]).
    pub fn role(&self) -> Role {
        self.role
    }

    /// The access token's session, checked on every request: logout or a reused
    /// refresh token ends it at once.
    pub fn session(&self) -> Option<Uuid> {
        self.session
    }
}
