//! The schema's migrations: the foundation's (`migrations/` at the top of the
//! repository: the `app` schema, tenants and identities, the definer functions) and
//! every module's (`migrations/` in its folder), merged into one refinery runner in one
//! global version order. Each is embedded with its file's name and SQL, exactly as
//! refinery's `embed_migrations!` did, so databases migrated before the merge keep
//! their checksums.

use refinery::Runner;
use sha2::{Digest, Sha256};

use super::SetupError;
use crate::platform::module::{Migration, ModuleInfo};

/// The foundation every module stands on.
const FOUNDATION: &[Migration] = &[
    Migration {
        name: "V1__tenancy_and_auth",
        sql: include_str!("../../../migrations/V1__tenancy_and_auth.sql"),
    },
    Migration {
        name: "V8__signed_context",
        sql: include_str!("../../../migrations/V8__signed_context.sql"),
    },
    Migration {
        name: "V12__identity_out_of_reach",
        sql: include_str!("../../../migrations/V12__identity_out_of_reach.sql"),
    },
    Migration {
        name: "V14__enter_in_two_plans",
        sql: include_str!("../../../migrations/V14__enter_in_two_plans.sql"),
    },
];

/// Every migration of the foundation and of `modules`, sorted by version.
pub struct Migrations(Vec<refinery::Migration>);

impl Migrations {
    /// Merges the foundation's migrations with `modules`'; refuses a malformed name
    /// or a version used twice.
    pub fn of(modules: &[&ModuleInfo]) -> Result<Self, SetupError> {
        let mut merged = FOUNDATION
            .iter()
            .chain(modules.iter().flat_map(|module| module.migrations))
            .map(|migration| refinery::Migration::unapplied(migration.name, migration.sql))
            .collect::<Result<Vec<_>, _>>()?;
        merged.sort_by_key(refinery::Migration::version);
        if let Some(pair) = merged.windows(2).find(|w| w[0].version() == w[1].version()) {
            return Err(SetupError::VersionUsedTwice(
                pair[0].to_string(),
                pair[1].to_string(),
            ));
        }
        Ok(Self(merged))
    }

    /// Every migration, oldest first.
    pub fn all(&self) -> &[refinery::Migration] {
        &self.0
    }

    /// Applies pending migrations. Callers hold the migration advisory lock.
    pub async fn run(&self, client: &mut tokio_postgres::Client) -> Result<(), refinery::Error> {
        let report = Runner::new(&self.0).run_async(client).await?;
        for migration in report.applied_migrations() {
            tracing::info!(migration = %migration, "applied migration");
        }
        Ok(())
    }

    /// The version of the newest migration: `/ready` compares the database to it.
    pub fn latest(&self) -> i64 {
        self.0.last().map_or(0, |m| i64::from(m.version()))
    }

    /// A short digest of every migration; it changes whenever one does.
    pub fn fingerprint(&self) -> String {
        let mut hasher = Sha256::new();
        for migration in &self.0 {
            hasher.update(migration.to_string().as_bytes());
            hasher.update(migration.checksum().to_le_bytes());
        }
        hasher
            .finalize()
            .iter()
            .take(6)
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}
