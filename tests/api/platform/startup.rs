//! The server refuses to start as a role that could bypass row-level security, and
//! replicas starting at once all start.

use crm::{
    Application,
    modules::registry,
    platform::{config::Config, db},
};
use uuid::Uuid;

use crate::support::{OWNER_URL, connect, fresh_database, test_config};

/// Builds the app as a scratch role prepared by `grant` (run as superuser) and returns
/// the start-up error.
async fn start_as(grant: &str) -> String {
    let database = fresh_database().await;
    let role = format!("crm_test_{}", Uuid::new_v4().simple());
    let admin = connect("postgres", "postgres", "").await;
    admin
        .batch_execute(&grant.replace("{role}", &role))
        .await
        .expect("scratch role");
    let vars = [
        ("DATABASE_URL", format!("{OWNER_URL}/{}", database.name)),
        ("CRM_BIND", "127.0.0.1:0".to_owned()),
        ("CRM_APP_ROLE", role.clone()),
        ("CRM_APP_PASSWORD", "scratch".to_owned()),
    ];
    let config = Config::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .expect("config");
    let result = Application::build(config).await;
    admin
        .batch_execute(&format!("DROP ROLE {role}"))
        .await
        .expect("drop scratch role");
    match result {
        Ok(_) => panic!("the server started as an unsafe role ({grant})"),
        Err(err) => err.to_string(),
    }
}

#[tokio::test]
async fn refuses_a_superuser() {
    let err = start_as("CREATE ROLE {role} LOGIN SUPERUSER PASSWORD 'scratch'").await;
    assert!(err.contains("is a superuser"), "{err}");
}

#[tokio::test]
async fn refuses_bypassrls() {
    let err = start_as("CREATE ROLE {role} LOGIN BYPASSRLS PASSWORD 'scratch'").await;
    assert!(err.contains("has BYPASSRLS"), "{err}");
}

#[tokio::test]
async fn refuses_a_role_default_tenant() {
    let err = start_as(
        "CREATE ROLE {role} LOGIN PASSWORD 'scratch'; \
         ALTER ROLE {role} SET app.tenant_id = '00000000-0000-0000-0000-000000000001'",
    )
    .await;
    assert!(err.contains("sets app.tenant_id"), "{err}");
}

#[tokio::test]
async fn refuses_a_table_owner() {
    let database = fresh_database().await;
    let role = format!("crm_test_{}", Uuid::new_v4().simple());
    let admin = connect("postgres", "postgres", "").await;
    admin
        .batch_execute(&format!("CREATE ROLE {role} LOGIN PASSWORD 'scratch'"))
        .await
        .expect("role");
    let db = connect(&database.name, "postgres", "").await;
    db.batch_execute(&format!("ALTER TABLE contacts OWNER TO {role}"))
        .await
        .expect("owner");
    let vars = [
        ("DATABASE_URL", format!("{OWNER_URL}/{}", database.name)),
        ("CRM_BIND", "127.0.0.1:0".to_owned()),
        ("CRM_APP_ROLE", role.clone()),
        ("CRM_APP_PASSWORD", "scratch".to_owned()),
    ];
    let config = Config::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .expect("config");
    let result = Application::build(config).await;
    db.batch_execute("ALTER TABLE contacts OWNER TO postgres")
        .await
        .expect("owner back");
    drop(db);
    admin
        .batch_execute(&format!("DROP ROLE {role}"))
        .await
        .expect("drop role");
    let err = result.err().map(|e| e.to_string()).expect("refused");
    assert!(
        err.contains("owns, or is a member of the owner of, contacts"),
        "{err}"
    );
}

/// Replicas start at once on one database (a deployment rolls out several, or several
/// workers): every one of them prepares it, and none fails on another's grants.
#[tokio::test]
async fn replicas_starting_at_once_all_prepare_the_database() {
    let database = fresh_database().await;
    for round in 0..10 {
        let starts = (0..6).map(|_| {
            let config = test_config(&database.name, |_| {});
            async move { db::prepare_database(&config, registry::ALL).await }
        });
        for result in futures::future::join_all(starts).await {
            if let Err(err) = result {
                panic!("round {round}: a replica failed to start: {err}");
            }
        }
    }
}
