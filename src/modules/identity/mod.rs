//! Identity: who may act in a tenant.
//!
//! - [`sessions`]: `/auth`: signup, login (JSON or the OAuth2 password form), rotating
//!   refresh tokens, logout, me. Before a tenant is known it goes through the
//!   pre-tenant door (`platform::db::PreTenant`), after that through the tenant door.
//! - [`users`]: `/users`: members, their roles, deactivation.
//!
//! Tables: the foundation migration (`migrations/V1__tenancy_and_auth.sql`: tenants,
//! users, memberships, refresh tokens and the definer functions), and this folder's
//! `migrations/` (V5: the membership, not the token, decides the role).

pub mod sessions;
pub mod users;

use crate::platform::module::{Constraint, Meaning, Migration, ModuleInfo};

pub const MODULE: ModuleInfo = ModuleInfo {
    name: "identity",
    title: "Users and sessions",
    switchable: false,
    constraints: &[
        Constraint {
            name: "users_email_key",
            meaning: Meaning::Conflict("An account with this email already exists."),
        },
        Constraint {
            name: "memberships_pkey",
            meaning: Meaning::Conflict("This person is already a member of the tenant."),
        },
    ],
    migrations: &[Migration {
        name: "V5__membership_authority",
        sql: include_str!("migrations/V5__membership_authority.sql"),
    }],
};
