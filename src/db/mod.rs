//! Everything that talks to PostgreSQL: the owner-side set-up (database, migrations,
//! application role), the application pool, and [`TenantTx`], the one door to tenant
//! data.

mod audit;
mod migrations;
mod pool;
mod setup;
mod tenant_tx;

pub use audit::{Finding, audit};
pub use migrations::{latest_migration, migration_fingerprint, run_migrations};
pub use pool::{Pool, TransactionPooler, app_pool};
pub use setup::{SetupError, owner_connect, prepare_database};
pub use tenant_tx::{SET_CONTEXT, TenantContext, TenantTx};
