//! What the application role's credentials (an SQL injection, a leaked password) must
//! not reach beyond its own rows: the server's connections, the migration lock,
//! unbounded statements and connections, large objects, forged history, and the global
//! counters and sizes of every table. Each attack runs over a real connection as the
//! application role.

use std::time::Duration;

use crm::Application;
use serde_json::json;
use tokio_postgres::{Client, NoTls, error::SqlState};
use uuid::Uuid;

use crate::support::{
    OWNER_URL, behind_a_pooler, connect, expect_json, fresh_database, id_of, spawn_app,
    spawn_app_with, test_config,
};

/// The key the server serialises migrations with (`platform::db::setup`).
const MIGRATION_LOCK: i64 = 0x6372_6d5f_6d69_6772;

/// The error of a statement that must fail.
fn refused<T: std::fmt::Debug>(
    result: Result<T, tokio_postgres::Error>,
    what: &str,
) -> tokio_postgres::Error {
    match result {
        Ok(value) => panic!("{what} must be refused, but answered {value:?}"),
        Err(err) => err,
    }
}

/// The SQLSTATE of a statement that must fail.
fn refusal<T: std::fmt::Debug>(result: Result<T, tokio_postgres::Error>, what: &str) -> SqlState {
    refused(result, what)
        .code()
        .cloned()
        .unwrap_or_else(|| panic!("{what}: not a database error"))
}

/// Asserts that every statement is refused for lack of privilege.
async fn all_refused(sql: &Client, statements: &[&str]) {
    for statement in statements {
        let result = sql.query(*statement, &[]).await.map(|rows| rows.len());
        assert_eq!(
            refusal(result, statement),
            SqlState::INSUFFICIENT_PRIVILEGE,
            "{statement}"
        );
    }
}

#[tokio::test]
async fn the_app_role_cannot_signal_the_servers_connections() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let server_pids: Vec<i32> = app
        .owner_sql()
        .await
        .query(
            "SELECT pid FROM pg_stat_activity \
             WHERE datname = $1 AND usename = 'crm_app' AND application_name = 'crm'",
            &[&app.database],
        )
        .await
        .expect("the server's connections")
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert!(!server_pids.is_empty(), "the server holds connections");

    let attacker = app.app_role_sql().await;
    for pid in &server_pids {
        for statement in [
            "SELECT pg_cancel_backend($1)",
            "SELECT pg_terminate_backend($1)",
        ] {
            let result = attacker.query_one(statement, &[pid]).await;
            assert_eq!(
                refusal(result.map(|row| row.get::<_, bool>(0)), statement),
                SqlState::INSUFFICIENT_PRIVILEGE,
                "{statement} on the server's backend {pid}"
            );
        }
    }
    expect_json(app.get("/contacts", &owner).await, reqwest::StatusCode::OK).await;
}

#[tokio::test]
async fn the_app_role_cannot_take_the_migration_lock() {
    let app = spawn_app().await;
    let attacker = app.app_role_sql().await;
    for statement in [
        "SELECT pg_try_advisory_lock($1)::text",
        "SELECT pg_advisory_lock($1)::text",
        "SELECT pg_try_advisory_lock_shared($1)::text",
        "SELECT pg_advisory_xact_lock($1)::text",
    ] {
        let result = attacker.query_one(statement, &[&MIGRATION_LOCK]).await;
        assert_eq!(
            refusal(result.map(|row| row.get::<_, String>(0)), statement),
            SqlState::INSUFFICIENT_PRIVILEGE,
            "{statement}"
        );
    }
}

#[tokio::test]
async fn a_held_migration_lock_stops_start_up_in_time_and_names_its_holder() {
    let database = fresh_database().await;
    let url = format!(
        "{OWNER_URL}/{}?application_name=stuck-migrator",
        database.name
    );
    let (holder, connection) = tokio_postgres::connect(&url, NoTls).await.expect("connect");
    tokio::spawn(connection);
    let pid: i32 = holder
        .query_one(
            "SELECT pg_backend_pid() FROM (SELECT pg_advisory_lock($1)) AS locked",
            &[&MIGRATION_LOCK],
        )
        .await
        .expect("hold the lock")
        .get(0);

    let config = test_config(&database.name, |vars| {
        vars.push(("CRM_MIGRATION_LOCK_TIMEOUT_MS".into(), "300".into()));
    });
    let started = tokio::time::timeout(Duration::from_secs(20), Application::build(config))
        .await
        .expect("start-up gives up on the lock instead of waiting forever");
    let err = started.err().map(|e| e.to_string()).expect("refused");
    assert!(err.contains("migration lock"), "{err}");
    assert!(
        err.contains(&format!("pid {pid}")),
        "names the holder: {err}"
    );
    assert!(err.contains("stuck-migrator"), "names the holder: {err}");
}

/// A login role of the server's group with bounds of its own, dropped at the end (the
/// shared `crm_app` is cluster-wide and used by every test at once).
struct ScratchRole(String);

impl Drop for ScratchRole {
    fn drop(&mut self) {
        let name = self.0.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let admin = connect("postgres", "postgres", "").await;
                if let Ok(row) = admin
                    .query_one(
                        "SELECT format('DROP ROLE IF EXISTS %I', $1::text)",
                        &[&name],
                    )
                    .await
                {
                    let _ = admin.batch_execute(row.get::<_, &str>(0)).await;
                }
            });
        })
        .join();
    }
}

#[tokio::test]
async fn a_session_the_server_did_not_open_is_bounded_in_time_and_number() {
    if behind_a_pooler("the scratch role is not in PgBouncer's auth_file") {
        return;
    }
    let role = ScratchRole(format!("crm_test_bounds_{}", Uuid::new_v4().simple()));
    let app = spawn_app_with(|vars| {
        vars.push(("CRM_APP_ROLE".into(), role.0.clone()));
        vars.push(("CRM_APP_PASSWORD".into(), "scratch".into()));
        vars.push(("CRM_POOL_SIZE".into(), "1".into()));
        vars.push(("CRM_APP_CONNECTION_LIMIT".into(), "3".into()));
        vars.push(("CRM_APP_ROLE_STATEMENT_TIMEOUT_MS".into(), "200".into()));
    })
    .await;
    let login = || connect(&app.database, &role.0, "scratch");

    // A statement longer than the role's timeout is cancelled.
    let sql = login().await;
    let slow = sql
        .query("SELECT pg_sleep(1)", &[])
        .await
        .map(|rows| rows.len());
    assert_eq!(refusal(slow, "pg_sleep(1)"), SqlState::QUERY_CANCELED);

    // A transaction left open is ended by the server.
    sql.batch_execute("BEGIN").await.expect("begin");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(
        sql.batch_execute("SELECT 1").await.is_err(),
        "an idle transaction outlived the role's idle_in_transaction_session_timeout"
    );

    // Connections beyond the role's limit are refused (the server's pool holds one).
    let mut held = Vec::new();
    let url = format!(
        "postgres://{}:scratch@127.0.0.1:5432/{}",
        role.0, app.database
    );
    let refused = loop {
        match tokio_postgres::connect(&url, NoTls).await {
            Ok((client, connection)) => {
                tokio::spawn(connection);
                held.push(client);
                assert!(held.len() < 10, "10 connections and no limit");
            }
            Err(err) => break err,
        }
    };
    assert_eq!(
        refused.code(),
        Some(&SqlState::TOO_MANY_CONNECTIONS),
        "{refused}"
    );
    assert!(held.len() <= 3, "{} connections held", held.len());
}

#[tokio::test]
async fn the_app_role_cannot_store_large_objects() {
    let app = spawn_app().await;
    let attacker = app.app_role_sql().await;
    all_refused(
        &attacker,
        &[
            "SELECT lo_from_bytea(0, '\\x00'::bytea)",
            "SELECT lo_create(0)",
            "SELECT lo_creat(-1)",
            "SELECT lo_put(1, 0, '\\x00'::bytea)",
            "SELECT lo_open(1, 131072)",
        ],
    )
    .await;
}

#[tokio::test]
async fn the_app_role_cannot_forge_or_rewrite_deal_history() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let deal = id_of(
        &app.create("/deals", &owner, json!({ "title": "Renewal" }))
            .await,
    );
    let deal: Uuid = deal.parse().expect("uuid");

    let attacker = app.app_role_sql().await;
    attacker.batch_execute("BEGIN").await.expect("begin");
    app.enter(&attacker, owner.tenant_id, owner.user_id).await;
    for statement in [
        "INSERT INTO deal_stage_changes (deal_id, from_stage, to_stage, changed_at) \
         VALUES ($1, 'NEGOTIATION', 'CLOSED_WON', '2001-01-01')",
        "UPDATE deal_stage_changes SET changed_at = '2001-01-01' WHERE deal_id = $1",
        "DELETE FROM deal_stage_changes WHERE deal_id = $1",
    ] {
        let err = refused(attacker.execute(statement, &[&deal]).await, statement);
        assert_eq!(
            err.code(),
            Some(&SqlState::INSUFFICIENT_PRIVILEGE),
            "{statement}"
        );
        assert!(
            err.as_db_error()
                .is_some_and(|e| e.message().starts_with("permission denied for table")),
            "refused by privilege, not by a policy: {err}"
        );
        attacker
            .batch_execute("ROLLBACK; BEGIN")
            .await
            .expect("restart");
    }
    attacker.batch_execute("ROLLBACK").await.expect("rollback");

    // The trigger still writes it, with the tenant and user of the change.
    let moved = app
        .patch(
            &format!("/deals/{deal}"),
            &owner,
            json!({ "stage": "NEGOTIATION" }),
        )
        .await;
    expect_json(moved, reqwest::StatusCode::OK).await;
    let rows = app
        .owner_sql()
        .await
        .query(
            "SELECT tenant_id, changed_by FROM deal_stage_changes WHERE deal_id = $1 ORDER BY changed_at",
            &[&deal],
        )
        .await
        .expect("history");
    let written: Vec<(Uuid, Option<Uuid>)> =
        rows.iter().map(|row| (row.get(0), row.get(1))).collect();
    assert_eq!(
        written,
        vec![(owner.tenant_id, Some(owner.user_id)); 2],
        "creation and move recorded"
    );
}

#[tokio::test]
async fn the_app_role_cannot_read_global_counters_sizes_or_sessions() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    app.create_contact(&owner, "Ada").await;
    let attacker = app.app_role_sql().await;
    all_refused(
        &attacker,
        &[
            "SELECT n_live_tup FROM pg_stat_user_tables WHERE relname = 'contacts'",
            "SELECT n_tup_ins FROM pg_stat_all_tables WHERE relname = 'contacts'",
            "SELECT heap_blks_read FROM pg_statio_user_tables WHERE relname = 'contacts'",
            "SELECT idx_scan FROM pg_stat_user_indexes WHERE relname = 'contacts'",
            "SELECT pg_stat_get_live_tuples('contacts'::regclass)",
            "SELECT pg_stat_get_tuples_inserted('contacts'::regclass)",
            "SELECT pg_relation_size('contacts')",
            "SELECT pg_total_relation_size('contacts')",
            "SELECT pg_table_size('contacts')",
            "SELECT pg_indexes_size('contacts')",
            "SELECT pg_database_size(current_database())",
            "SELECT query FROM pg_stat_activity",
        ],
    )
    .await;
}
