//! Identity: who may act in a tenant.
//!
//! - [`sessions`]: `/auth`: signup and its confirmation, accepting an invitation, login
//!   (JSON or the OAuth2 password form), rotating refresh tokens, logout, me. Before a tenant is known it goes through the
//!   pre-tenant door (`platform::db::PreTenant`), after that through the tenant door.
//! - [`users`]: `/users`: members, their roles, deactivation; `POST /users` invites.
//! - [`invitations`]: `/invitations`: the invitations a member joins by, listed, resent
//!   and revoked by managers; accepted from the emailed link (`/auth/invitations/accept`).
//! - `messages`: the texts of identity's mail (signup confirmation, invitation).
//!
//! Tables: the foundation migration (`migrations/V1__tenancy_and_auth.sql`: tenants,
//! users, memberships, refresh tokens and the definer functions), and this folder's
//! `migrations/` (V5: the membership, not the token, decides the role; V7: signups
//! confirmed by their mailbox, invitations).

pub mod invitations;
mod messages;
pub mod sessions;
pub mod users;

use crate::platform::{
    events::{DataSchema, EventKind},
    module::{Constraint, Meaning, Migration, ModuleInfo},
};

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
        Constraint {
            name: "invitation_not_pending",
            meaning: Meaning::NotFound,
        },
    ],
    events: &[
        EventKind {
            name: "member.created",
            description: "Someone joined the tenant (signed it up, or accepted an invitation); `data` is the member as `GET /users/{id}` returns it.",
            data: DataSchema::of::<users::Member>(),
        },
        EventKind {
            name: "member.updated",
            description: "A member's role, activation, email or name changed; `data` is the member as it now is.",
            data: DataSchema::of::<users::Member>(),
        },
        EventKind {
            name: "member.deleted",
            description: "A membership was removed; `data` is the member as it was.",
            data: DataSchema::of::<users::Member>(),
        },
    ],
    notified_records: &[],
    migrations: &[
        Migration {
            name: "V5__membership_authority",
            sql: include_str!("migrations/V5__membership_authority.sql"),
        },
        Migration {
            name: "V7__invitations_and_verified_signups",
            sql: include_str!("migrations/V7__invitations_and_verified_signups.sql"),
        },
        Migration {
            name: "V19__member_events",
            sql: include_str!("migrations/V19__member_events.sql"),
        },
    ],
};
