//! Everything that talks to PostgreSQL: the owner-side set-up (database, migrations,
//! application role), the application pool, and [`TenantTx`], the one door to tenant
//! data.

mod migrations;
mod pool;
mod role;
mod setup;
mod tenant_tx;

pub use migrations::{migration_fingerprint, run_migrations};
pub use pool::{Pool, app_pool};
pub use role::{RoleProblem, app_role_problems};
pub use setup::{SetupError, owner_connect, prepare_database};
pub use tenant_tx::{TenantContext, TenantTx};
