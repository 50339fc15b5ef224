//! Migrations live with their modules and run merged in one version order; a database
//! migrated before they moved keeps working: same names and checksums for V1..V4, and
//! only the migrations added since are applied. The fixture is a `pg_dump --inserts` of
//! a database that main at c9ef946 (the last commit with every migration in
//! `migrations/`) had migrated.

use crm::{Application, modules::registry, platform::db::Migrations};
use uuid::Uuid;

use crate::support::{DatabaseGuard, connect, fresh_database, test_config};

const MIGRATED_BY_C9EF946: &str = include_str!("../fixtures/migrated_by_c9ef946.sql");

async fn history(database: &str) -> Vec<(i32, String, String)> {
    connect(database, "postgres", "")
        .await
        .query(
            "SELECT version, name, checksum FROM refinery_schema_history ORDER BY version",
            &[],
        )
        .await
        .expect("the migration history")
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect()
}

#[tokio::test]
async fn a_database_migrated_before_the_move_starts_and_keeps_its_history() {
    // The template's set-up has created the cluster-wide roles the dump grants to.
    drop(fresh_database().await);
    let old = DatabaseGuard {
        name: format!("crm_test_{}", Uuid::new_v4().simple()),
    };
    connect("postgres", "postgres", "")
        .await
        .batch_execute(&format!("CREATE DATABASE {}", old.name))
        .await
        .expect("create");
    connect(&old.name, "postgres", "")
        .await
        .batch_execute(MIGRATED_BY_C9EF946)
        .await
        .expect("restore the old database");
    let before = history(&old.name).await;
    assert_eq!(before.len(), 4, "the fixture holds V1..V4");

    let app = Application::build(test_config(&old.name, |_| {}))
        .await
        .expect("the server starts on the old database");
    drop(app);

    let merged: Vec<(i32, String, String)> = Migrations::of(registry::ALL)
        .expect("the migrations merge")
        .all()
        .iter()
        .map(|m| (m.version(), m.name().to_owned(), m.checksum().to_string()))
        .collect();
    assert_eq!(
        merged[..before.len()],
        before[..],
        "the merged runner has the recorded names and checksums"
    );
    assert_eq!(
        history(&old.name).await,
        merged,
        "the recorded history is kept and the newer migrations are applied on top"
    );
}
