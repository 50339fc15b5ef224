//! The schema's migrations (refinery SQL files under `migrations/`, embedded in the binary).

use refinery::embed_migrations;
use sha2::{Digest, Sha256};

embed_migrations!("migrations");

/// Applies pending migrations. Callers hold the migration advisory lock.
pub async fn run_migrations(client: &mut tokio_postgres::Client) -> Result<(), refinery::Error> {
    let report = migrations::runner().run_async(client).await?;
    for migration in report.applied_migrations() {
        tracing::info!(migration = %migration, "applied migration");
    }
    Ok(())
}

/// A short digest of every embedded migration; it changes whenever one does.
pub fn migration_fingerprint() -> String {
    let mut hasher = Sha256::new();
    for migration in migrations::runner().get_migrations() {
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

/// The version of the newest embedded migration: `/ready` compares the database to it.
pub fn latest_migration() -> i64 {
    migrations::runner()
        .get_migrations()
        .iter()
        .map(|m| i64::from(m.version()))
        .max()
        .unwrap_or(0)
}
