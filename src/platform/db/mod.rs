//! Everything that talks to PostgreSQL: [`Db`], the application pool, and its doors;
//! [`DbError`]; and the owner-side set-up (database,
//! migrations, application role, audit).
//!
//! The doors, one type each:
//! - [`Db::tx`] → [`TenantTx`]: tenant data, for a [`TenantContext`] and a module
//!   (a context signed by [`ContextSigner`] entered inside every transaction; the
//!   module switch and the module's constraint meanings come with it).
//! - [`Db::pre_tenant`] → [`PreTenant`]: the reviewed SECURITY DEFINER calls that run
//!   before a tenant is known (login, signup, invitation links, refresh, mail
//!   outside a tenant).
//! - [`Db::dispatcher`] → [`Dispatcher`]: the worker's claim of due mail across
//!   tenants, through the mail module's reviewed definer functions only.
//!
//! [`TenantContext`]: crate::platform::tenancy::TenantContext

mod audit;
mod budget;
mod context;
mod dispatcher;
mod error;
mod label;
mod migrations;
mod pool;
mod pre_tenant;
mod settle;
mod setup;
mod tenant_tx;

pub use audit::{Finding, audit};
pub use context::{ContextSigner, load_signer, retire_context_keys, rotate_context_key};
pub use dispatcher::{
    ClaimedMail, ClaimedNotification, ClaimedWebhook, Dispatcher, MailClaim, NotificationClaim,
    WebhookAttempt, WebhookClaim, WebhookQueue, Wording,
};
pub use error::{DbError, Outage};
pub use label::Label;
pub use migrations::Migrations;
use pool::TransactionPooler;
pub use pool::{Db, app_pool};
pub use pre_tenant::{
    Acceptance, LoginCandidate, MailText, PreTenant, SignUpRequest, Unsubscribed,
};
pub use setup::{LockHolder, SetupError, owner_connect, prepare_database};
pub use tenant_tx::{ENTER, REQUIRE_MODULE, TenantTx};

use crate::platform::tenancy::Role;

/// Reads a `member_role` column selected as `role::text AS role`.
pub fn role(row: &tokio_postgres::Row) -> Result<Role, DbError> {
    let name: &str = row.get("role");
    Role::parse(name).ok_or_else(|| DbError::internal(format!("unknown role {name:?}")))
}
