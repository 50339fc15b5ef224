//! Authentication: argon2id passwords, short-lived JWT access tokens, rotating refresh
//! tokens, and the bearer security scheme every tenant operation requires.

mod api;
mod password;
mod refresh;
mod scheme;
mod store;
mod token;

pub use api::AuthApi;
pub use password::{PasswordHasher, check_password};
pub use scheme::Auth;
pub use token::{Claims, JwtKeys};

use poem_openapi::Enum;
use tokio_postgres::Row;

use crate::error::ApiError;

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

    /// Reads a `member_role` column selected as `role::text AS role`.
    pub fn from_row(row: &Row) -> Result<Self, ApiError> {
        let name: &str = row.get("role");
        Self::parse(name).ok_or_else(|| ApiError::internal(format!("unknown role {name:?}")))
    }

    pub fn can_write(self) -> bool {
        self != Self::ReadOnly
    }

    pub fn can_manage_users(self) -> bool {
        matches!(self, Self::Owner | Self::Admin)
    }
}
