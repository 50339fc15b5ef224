//! Attacks over a direct SQL connection as the application role: what an attacker
//! with the server's database credentials (or an injection) could try. Policies must
//! hold with the tenant unset, empty, malformed or set to someone else.

use tokio_postgres::{Client, error::SqlState};
use uuid::Uuid;

use crate::helpers::{TestApp, TestUser, id_of, spawn_app};

async fn set_context(sql: &Client, tenant: &str, user: &str, role: &str) {
    sql.execute(
        "SELECT set_config('app.tenant_id', $1, true), set_config('app.user_id', $2, true), set_config('app.role', $3, true)",
        &[&tenant, &user, &role],
    )
    .await
    .expect("set_config");
}

async fn count(sql: &Client, table: &str) -> i64 {
    sql.query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .expect("count")
        .get(0)
}

fn sqlstate(result: Result<u64, tokio_postgres::Error>) -> SqlState {
    result
        .expect_err("must be refused")
        .code()
        .cloned()
        .expect("a database error")
}

struct World {
    app: TestApp,
    a: TestUser,
    b: TestUser,
    a_contact: Uuid,
}

async fn world() -> World {
    let app = spawn_app().await;
    let a = app.sign_up("A").await;
    let b = app.sign_up("B").await;
    let a_contact = id_of(&app.create_contact(&a, "Alice").await)
        .parse()
        .expect("uuid");
    app.create_contact(&b, "Bob").await;
    World {
        app,
        a,
        b,
        a_contact,
    }
}

#[tokio::test]
async fn without_a_valid_tenant_nothing_is_visible_or_writable() {
    let w = world().await;
    let sql = w.app.app_role_sql().await;
    let tables = [
        "tenants",
        "users",
        "memberships",
        "refresh_tokens",
        "contacts",
        "companies",
        "deals",
        "deal_stage_changes",
    ];

    for setting in [None, Some(""), Some("not-a-uuid"), Some("' OR true --")] {
        sql.batch_execute("BEGIN").await.expect("begin");
        if let Some(value) = setting {
            sql.execute("SELECT set_config('app.tenant_id', $1, true), set_config('app.role', 'owner', true)", &[&value])
                .await
                .expect("set");
        }
        for table in tables {
            assert_eq!(
                count(&sql, table).await,
                0,
                "{table} with tenant {setting:?}"
            );
        }
        let insert = sql
            .execute(
                "INSERT INTO contacts (id, first_name, last_name) VALUES ($1, 'x', 'y')",
                &[&Uuid::now_v7()],
            )
            .await;
        assert!(insert.is_err(), "insert with tenant {setting:?} must fail");
        sql.batch_execute("ROLLBACK").await.expect("rollback");
    }
    // The connection is still healthy: no cast error poisoned it.
    sql.batch_execute("SELECT 1")
        .await
        .expect("connection usable");
}

#[tokio::test]
async fn tenant_a_cannot_read_write_or_reference_tenant_b() {
    let w = world().await;
    let sql = w.app.app_role_sql().await;
    sql.batch_execute("BEGIN").await.expect("begin");
    set_context(
        &sql,
        &w.b.tenant_id.to_string(),
        &w.b.user_id.to_string(),
        "owner",
    )
    .await;

    assert_eq!(
        count(&sql, "contacts").await,
        1,
        "B sees only its own contact"
    );
    let read = sql
        .query("SELECT 1 FROM contacts WHERE id = $1", &[&w.a_contact])
        .await
        .expect("select");
    assert!(read.is_empty());
    let updated = sql
        .execute(
            "UPDATE contacts SET first_name = 'pwned' WHERE id = $1",
            &[&w.a_contact],
        )
        .await
        .expect("update");
    assert_eq!(updated, 0);
    let deleted = sql
        .execute("DELETE FROM contacts WHERE id = $1", &[&w.a_contact])
        .await
        .expect("delete");
    assert_eq!(deleted, 0);
    let moved = sql
        .execute("UPDATE contacts SET tenant_id = $1", &[&w.a.tenant_id])
        .await;
    assert_eq!(
        sqlstate(moved),
        SqlState::INSUFFICIENT_PRIVILEGE,
        "moving rows to A is refused"
    );
    sql.batch_execute("ROLLBACK; BEGIN").await.expect("restart");
    set_context(
        &sql,
        &w.b.tenant_id.to_string(),
        &w.b.user_id.to_string(),
        "owner",
    )
    .await;

    let foreign = sql
        .execute(
            "INSERT INTO contacts (tenant_id, id, first_name, last_name) VALUES ($1, $2, 'x', 'y')",
            &[&w.a.tenant_id, &Uuid::now_v7()],
        )
        .await;
    assert_eq!(
        sqlstate(foreign),
        SqlState::INSUFFICIENT_PRIVILEGE,
        "insert into A refused"
    );
    sql.batch_execute("ROLLBACK; BEGIN").await.expect("restart");
    set_context(
        &sql,
        &w.b.tenant_id.to_string(),
        &w.b.user_id.to_string(),
        "owner",
    )
    .await;

    // ON CONFLICT aimed at A's primary key cannot touch A's row: B's insert is keyed
    // by B's tenant, so there is no conflict with A at all.
    sql.execute(
        "INSERT INTO contacts (id, first_name, last_name) VALUES ($1, 'x', 'y') \
         ON CONFLICT (tenant_id, id) DO UPDATE SET first_name = 'pwned'",
        &[&w.a_contact],
    )
    .await
    .expect("upsert lands in B");
    sql.batch_execute("COMMIT").await.expect("commit");

    let owner = w.app.owner_sql().await;
    let name: String = owner
        .query_one(
            "SELECT first_name FROM contacts WHERE tenant_id = $1 AND id = $2",
            &[&w.a.tenant_id, &w.a_contact],
        )
        .await
        .expect("A's row")
        .get(0);
    assert_eq!(name, "Alice", "A's contact is untouched");
}

#[tokio::test]
async fn a_reference_to_another_tenants_row_fails_like_a_missing_one() {
    let w = world().await;
    let owner = w.app.owner_sql().await;
    let a_company = Uuid::now_v7();
    owner
        .execute(
            "INSERT INTO companies (tenant_id, id, name) VALUES ($1, $2, 'A Corp')",
            &[&w.a.tenant_id, &a_company],
        )
        .await
        .expect("seed A's company");

    let sql = w.app.app_role_sql().await;
    let mut errors = Vec::new();
    for company in [a_company, Uuid::now_v7()] {
        sql.batch_execute("BEGIN").await.expect("begin");
        set_context(
            &sql,
            &w.b.tenant_id.to_string(),
            &w.b.user_id.to_string(),
            "owner",
        )
        .await;
        let err = sql
            .execute(
                "INSERT INTO contacts (id, first_name, last_name, company_id) VALUES ($1, 'x', 'y', $2)",
                &[&Uuid::now_v7(), &company],
            )
            .await
            .expect_err("reference refused");
        let db = err.as_db_error().expect("db error");
        errors.push((db.code().clone(), db.constraint().map(str::to_owned)));
        sql.batch_execute("ROLLBACK").await.expect("rollback");
    }
    assert_eq!(
        errors[0], errors[1],
        "A's company and a random id fail the same way"
    );
    assert_eq!(errors[0].0, SqlState::FOREIGN_KEY_VIOLATION);
}

#[tokio::test]
async fn the_app_role_cannot_change_the_rules() {
    let w = world().await;
    let sql = w.app.app_role_sql().await;
    let denied = SqlState::INSUFFICIENT_PRIVILEGE;
    let attempts = [
        ("TRUNCATE contacts", &denied),
        ("ALTER TABLE contacts DISABLE ROW LEVEL SECURITY", &denied),
        ("ALTER TABLE contacts NO FORCE ROW LEVEL SECURITY", &denied),
        ("DROP POLICY tenant_guard ON contacts", &denied),
        ("CREATE POLICY open ON contacts USING (true)", &denied),
        ("CREATE TABLE public.evil (id int)", &denied),
        (
            "CREATE VIEW public.all_contacts AS SELECT * FROM contacts",
            &denied,
        ),
        (
            "CREATE FUNCTION public.evil() RETURNS int LANGUAGE sql AS 'SELECT 1'",
            &denied,
        ),
        ("CREATE TEMP TABLE evil (id int)", &denied),
        ("SET ROLE postgres", &denied),
        ("SELECT password_hash FROM users", &denied),
        ("CALL app.enable_tenant_rls('contacts')", &denied),
        ("COPY contacts FROM STDIN", &SqlState::FEATURE_NOT_SUPPORTED),
    ];
    for (statement, expected) in attempts {
        let err = sql.batch_execute(statement).await.expect_err(statement);
        assert_eq!(err.code(), Some(expected), "{statement}: {err:?}");
    }
}

#[tokio::test]
async fn read_only_members_cannot_write_even_through_sql() {
    let w = world().await;
    let sql = w.app.app_role_sql().await;
    sql.batch_execute("BEGIN").await.expect("begin");
    set_context(
        &sql,
        &w.a.tenant_id.to_string(),
        &w.a.user_id.to_string(),
        "read_only",
    )
    .await;
    assert_eq!(count(&sql, "contacts").await, 1, "read_only reads");
    let updated = sql
        .execute("UPDATE contacts SET first_name = 'x'", &[])
        .await
        .expect("update");
    assert_eq!(updated, 0, "read_only updates nothing");
    let deleted = sql
        .execute("DELETE FROM contacts", &[])
        .await
        .expect("delete");
    assert_eq!(deleted, 0, "read_only deletes nothing");
    let insert = sql
        .execute(
            "INSERT INTO contacts (id, first_name, last_name) VALUES ($1, 'x', 'y')",
            &[&Uuid::now_v7()],
        )
        .await;
    assert_eq!(sqlstate(insert), SqlState::INSUFFICIENT_PRIVILEGE);
    sql.batch_execute("ROLLBACK").await.expect("rollback");
}

#[tokio::test]
async fn a_statement_prepared_under_one_tenant_sees_only_the_next_tenants_rows() {
    let w = world().await;
    let sql = w.app.app_role_sql().await;
    let statement = sql
        .prepare("SELECT first_name FROM contacts")
        .await
        .expect("prepare");
    // Enough executions for PostgreSQL to switch to a generic plan.
    for (tenant, expected) in [(w.a.tenant_id, "Alice"), (w.b.tenant_id, "Bob")]
        .into_iter()
        .cycle()
        .take(12)
    {
        sql.batch_execute("BEGIN").await.expect("begin");
        set_context(
            &sql,
            &tenant.to_string(),
            &Uuid::nil().to_string(),
            "member",
        )
        .await;
        let names: Vec<String> = sql
            .query(&statement, &[])
            .await
            .expect("query")
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(names, [expected]);
        sql.batch_execute("COMMIT").await.expect("commit");
    }
}

#[tokio::test]
async fn a_later_permissive_policy_cannot_widen_the_restrictive_guard() {
    let w = world().await;
    let owner = w.app.owner_sql().await;
    owner
        .batch_execute(
            "CREATE POLICY oops_everything ON contacts FOR SELECT TO crm_api USING (true)",
        )
        .await
        .expect("policy");
    let sql = w.app.app_role_sql().await;
    sql.batch_execute("BEGIN").await.expect("begin");
    set_context(
        &sql,
        &w.b.tenant_id.to_string(),
        &w.b.user_id.to_string(),
        "owner",
    )
    .await;
    assert_eq!(count(&sql, "contacts").await, 1);
    sql.batch_execute("ROLLBACK").await.expect("rollback");
}

#[tokio::test]
async fn planner_statistics_of_tenant_tables_are_hidden() {
    let w = world().await;
    w.app
        .owner_sql()
        .await
        .batch_execute("ANALYZE contacts")
        .await
        .expect("analyze");
    let sql = w.app.app_role_sql().await;
    let visible: i64 = sql
        .query_one(
            "SELECT count(*) FROM pg_stats WHERE tablename = 'contacts'",
            &[],
        )
        .await
        .expect("pg_stats")
        .get(0);
    assert_eq!(visible, 0);
}
