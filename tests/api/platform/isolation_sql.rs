//! Attacks over a direct SQL connection as the application role: what an attacker
//! with the server's database credentials (or an injection) could try. Policies must
//! hold with the context unset, empty, malformed, hand-made or someone else's; the
//! legitimate contexts below are entered as the server enters them (a claim signed by
//! the owner-only `app.mint_context`), so what each test attacks is the policies.

use tokio_postgres::{Client, error::SqlState};
use uuid::Uuid;

use crate::support::{TestApp, TestUser, id_of, spawn_app};

/// What an attacker can write without the key: every setting the policies ever read,
/// set by hand, with the role they would like.
async fn forge_context(sql: &Client, tenant: &str, user: &str, role: &str) {
    sql.execute(
        "SELECT set_config('app.tenant_id', $1, true), set_config('app.user_id', $2, true), \
                set_config('app.role', $3, true), \
                set_config('app.context', concat_ws('.', '1', $1, $2, $3, '99999999999', repeat('0', 64)), true)",
        &[&tenant, &user, &role],
    )
    .await
    .expect("set_config");
}

/// Enters `user`'s context as the server would (the role is the membership's).
async fn act_as(app: &TestApp, sql: &Client, user: &TestUser) {
    app.enter(sql, user.tenant_id, user.user_id).await;
}

async fn count(sql: &Client, table: &str) -> i64 {
    sql.query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .expect("count")
        .get(0)
}

/// Runs `statement` inside the open transaction and asserts it is refused for lack of
/// privilege, leaving the transaction usable (a savepoint around the attempt).
async fn assert_refused(sql: &Client, statement: &str) {
    sql.batch_execute("SAVEPOINT attempt")
        .await
        .expect("savepoint");
    let result = sql.execute(statement, &[]).await;
    assert_eq!(
        sqlstate(result),
        SqlState::INSUFFICIENT_PRIVILEGE,
        "{statement}"
    );
    sql.batch_execute("ROLLBACK TO SAVEPOINT attempt")
        .await
        .expect("rollback to savepoint");
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
    // (users and refresh_tokens are not readable at all: `side_channels.rs`.)
    let tables = [
        "tenants",
        "memberships",
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
    act_as(&w.app, &sql, &w.b).await;

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
    act_as(&w.app, &sql, &w.b).await;

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
    act_as(&w.app, &sql, &w.b).await;

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
        act_as(&w.app, &sql, &w.b).await;
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

/// The role comes from the membership, not from a setting: a read-only member who sets
/// `app.role` to `owner` by hand (an SQL injection could) still writes nothing.
#[tokio::test]
async fn read_only_members_cannot_write_even_through_sql() {
    let w = world().await;
    let reader = w.app.add_member(&w.a, "read_only").await;
    let sql = w.app.app_role_sql().await;
    sql.batch_execute("BEGIN").await.expect("begin");
    act_as(&w.app, &sql, &reader).await;
    sql.execute("SELECT set_config('app.role', 'owner', true)", &[])
        .await
        .expect("set app.role by hand");
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
    for (user, expected) in [(&w.a, "Alice"), (&w.b, "Bob")]
        .into_iter()
        .cycle()
        .take(12)
    {
        sql.batch_execute("BEGIN").await.expect("begin");
        act_as(&w.app, &sql, user).await;
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
    act_as(&w.app, &sql, &w.b).await;
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

/// An invitation row written directly as the app role; the raw result.
async fn invite_sql(sql: &Client, email: &str, role: &str) -> Result<u64, tokio_postgres::Error> {
    sql.execute(
        "INSERT INTO invitations (id, email, role) VALUES ($1, $2, $3::text::member_role)",
        &[&Uuid::now_v7(), &email, &role],
    )
    .await
}

#[tokio::test]
async fn inviting_needs_a_tenant_and_a_managing_role() {
    let w = world().await;
    let admin = w.app.add_member(&w.a, "admin").await;
    let member = w.app.add_member(&w.a, "member").await;
    let reader = w.app.add_member(&w.a, "read_only").await;
    let sql = w.app.app_role_sql().await;
    let email = "intruder@example.test";
    let tenant = w.a.tenant_id.to_string();

    assert_eq!(
        sqlstate(invite_sql(&sql, email, "member").await),
        SqlState::INSUFFICIENT_PRIVILEGE,
        "no context"
    );
    for forged_tenant in ["", "not-a-uuid", tenant.as_str()] {
        sql.batch_execute("BEGIN").await.expect("begin");
        forge_context(&sql, forged_tenant, &w.a.user_id.to_string(), "owner").await;
        assert_eq!(
            sqlstate(invite_sql(&sql, email, "member").await),
            SqlState::INSUFFICIENT_PRIVILEGE,
            "a hand-made context for tenant {forged_tenant:?}"
        );
        sql.batch_execute("ROLLBACK").await.expect("rollback");
    }
    for (user, role, inviting) in [
        (&reader, "read_only", "member"),
        (&member, "member", "read_only"),
        (&admin, "admin", "owner"),
    ] {
        sql.batch_execute("BEGIN").await.expect("begin");
        act_as(&w.app, &sql, user).await;
        assert_eq!(
            sqlstate(invite_sql(&sql, email, inviting).await),
            SqlState::INSUFFICIENT_PRIVILEGE,
            "{role} inviting {inviting}"
        );
        sql.batch_execute("ROLLBACK").await.expect("rollback");
    }

    sql.batch_execute("BEGIN").await.expect("begin");
    act_as(&w.app, &sql, &admin).await;
    // The inviter, the secret and the expiry are not the caller's to choose.
    for statement in [
        "INSERT INTO invitations (id, email, role, invited_by) \
         VALUES (gen_random_uuid(), 'x@example.test', 'member', gen_random_uuid())",
        "INSERT INTO invitations (id, email, role, secret_hash) \
         VALUES (gen_random_uuid(), 'x@example.test', 'member', sha256('known'::bytea))",
        "INSERT INTO invitations (id, email, role, expires_at) \
         VALUES (gen_random_uuid(), 'x@example.test', 'member', now() + interval '1 year')",
    ] {
        assert_refused(&sql, statement).await;
    }
    // The same insert is well formed: an admin may invite a member.
    assert_eq!(
        invite_sql(&sql, email, "member")
            .await
            .expect("an admin invites a member"),
        1
    );
    sql.batch_execute("ROLLBACK").await.expect("rollback");
}

/// Finding 1 at the database: only a link's holder can create or join an identity.
/// The secrets are made and hashed by the definer functions; the app role can neither
/// read nor set them, so it cannot forge a link for anyone's address.
#[tokio::test]
async fn the_app_role_can_neither_read_nor_set_a_links_secret() {
    let w = world().await;
    let invitee = "invitee@example.test";
    let token = w.app.invite(&w.a, invitee, "member").await;
    let request = w
        .app
        .request_signup("Pending", "pending@example.test")
        .await;
    let sql = w.app.app_role_sql().await;
    sql.batch_execute("BEGIN").await.expect("begin");
    act_as(&w.app, &sql, &w.a).await;
    for statement in [
        "SELECT secret_hash FROM invitations",
        "UPDATE invitations SET secret_hash = sha256('known'::bytea)",
        "UPDATE invitations SET expires_at = now() + interval '1 year'",
        "SELECT * FROM pending_signups",
        "UPDATE pending_signups SET secret_hash = sha256('known'::bytea)",
        "SELECT text_body FROM mail_outbox",
        "SELECT text_body FROM system_mail_outbox",
    ] {
        assert_refused(&sql, statement).await;
    }
    sql.batch_execute("ROLLBACK").await.expect("rollback");

    // Guessed and forged tokens accept nothing; the right ids with a wrong secret
    // neither.
    let (ids, _) = token.rsplit_once('.').expect("tenant.id.secret");
    let (signup_id, _) = request.split_once('.').expect("id.secret");
    for forged in [
        String::new(),
        "garbage".to_owned(),
        format!("{ids}.{}", "0".repeat(64)),
        format!("{ids}."),
        ids.to_owned(),
        format!("{}.{}.{}", w.b.tenant_id, Uuid::new_v4(), "a".repeat(64)),
        format!("{token}.extra"),
    ] {
        let rows = sql
            .query(
                "SELECT * FROM app.accept_invitation($1, NULL, 'attacker-hash')",
                &[&forged],
            )
            .await
            .expect("the call itself is allowed");
        assert!(rows.is_empty(), "{forged:?} accepted something");
    }
    for forged in [
        format!("{signup_id}.{}", "0".repeat(64)),
        format!("{signup_id}."),
        signup_id.to_owned(),
        format!("{}.{}", Uuid::new_v4(), "b".repeat(64)),
    ] {
        let rows = sql
            .query("SELECT * FROM app.confirm_signup($1)", &[&forged])
            .await
            .expect("the call itself is allowed");
        assert!(rows.is_empty(), "{forged:?} confirmed something");
    }
    let owner = w.app.owner_sql().await;
    let identities: i64 = owner
        .query_one(
            "SELECT count(*) FROM users WHERE email IN ($1, 'pending@example.test')",
            &[&invitee],
        )
        .await
        .expect("users")
        .get(0);
    assert_eq!(identities, 0, "no forged token created an identity");
}

/// `app.send_invitation` is a definer: it must apply the tenant guard itself. Another
/// tenant's invitation raises and its link is left as it was.
#[tokio::test]
async fn send_invitation_of_another_tenants_invitation_raises() {
    let w = world().await;
    let b_token = w.app.invite(&w.b, "b-invitee@example.test", "member").await;
    let owner = w.app.owner_sql().await;
    let b_invitation: Uuid = owner
        .query_one(
            "SELECT id FROM invitations WHERE tenant_id = $1",
            &[&w.b.tenant_id],
        )
        .await
        .expect("B's invitation")
        .get(0);
    let sql = w.app.app_role_sql().await;
    let a_admin = w.app.add_member(&w.a, "admin").await;
    for (user, label) in [(&w.a, "A's owner"), (&a_admin, "A's admin")] {
        sql.batch_execute("BEGIN").await.expect("begin");
        act_as(&w.app, &sql, user).await;
        let err = sql
            .execute(
                "SELECT app.send_invitation($1, 'Hi', 'link {token}')",
                &[&b_invitation],
            )
            .await
            .expect_err(label);
        assert_eq!(err.code(), Some(&SqlState::NO_DATA_FOUND), "{label}: {err}");
        sql.batch_execute("ROLLBACK").await.expect("rollback");
    }
    // Not even B's own member (not a manager) can resend it.
    let b_member = w.app.add_member(&w.b, "member").await;
    sql.batch_execute("BEGIN").await.expect("begin");
    act_as(&w.app, &sql, &b_member).await;
    let err = sql
        .execute(
            "SELECT app.send_invitation($1, 'Hi', 'link {token}')",
            &[&b_invitation],
        )
        .await
        .expect_err("a member cannot resend");
    assert_eq!(err.code(), Some(&SqlState::NO_DATA_FOUND));
    sql.batch_execute("ROLLBACK").await.expect("rollback");

    let queued: i64 = owner
        .query_one(
            "SELECT count(*) FROM mail_outbox WHERE recipient = 'b-invitee@example.test'",
            &[],
        )
        .await
        .expect("outbox")
        .get(0);
    assert_eq!(queued, 1, "only B's own invitation mail");
    let accepted = w.app.accept(&b_token).await;
    assert_eq!(
        accepted.status(),
        reqwest::StatusCode::OK,
        "B's link still works"
    );
}

/// Signup through SQL answers nothing, for a known email as for an unknown one; what
/// it queued is not readable by the app role.
#[tokio::test]
async fn request_signup_answers_nothing_observable() {
    let w = world().await;
    let sql = w.app.app_role_sql().await;
    let call = "SELECT app.request_signup($1, 'T', 'N', 'hash', 'new', 'new {token}', \
                'known', 'known {token}')::text AS answer";
    let known = sql.query(call, &[&w.a.email]).await.expect("a known email");
    let unknown = sql
        .query(call, &[&"nobody-yet@example.test"])
        .await
        .expect("an unknown email");
    let answers = |rows: &[tokio_postgres::Row]| -> Vec<Option<String>> {
        rows.iter().map(|row| row.get("answer")).collect()
    };
    assert_eq!(answers(&known), answers(&unknown));
    assert_eq!(answers(&known), [Some(String::new())], "void, nothing else");
    for table in ["pending_signups", "system_mail_outbox"] {
        let err = sql
            .query(&format!("SELECT count(*) FROM {table}"), &[])
            .await;
        assert_eq!(
            err.expect_err(table).code(),
            Some(&SqlState::INSUFFICIENT_PRIVILEGE),
            "{table}"
        );
    }
}

/// Every membership of a tenant as (user, role, active), read as the superuser.
async fn memberships_of(app: &TestApp, tenant: Uuid) -> Vec<(Uuid, String, bool)> {
    app.owner_sql()
        .await
        .query(
            "SELECT user_id, role::text, active FROM memberships WHERE tenant_id = $1 ORDER BY user_id",
            &[&tenant],
        )
        .await
        .expect("memberships")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

#[tokio::test]
async fn an_admin_cannot_update_an_owners_membership() {
    let w = world().await;
    let admin = w.app.add_member(&w.a, "admin").await;
    let member = w.app.add_member(&w.a, "member").await;
    let before = memberships_of(&w.app, w.a.tenant_id).await;
    let sql = w.app.app_role_sql().await;

    sql.batch_execute("BEGIN").await.expect("begin");
    act_as(&w.app, &sql, &admin).await;
    for statement in [
        "UPDATE memberships SET role = 'member' WHERE user_id = $1",
        "UPDATE memberships SET active = false WHERE user_id = $1",
    ] {
        let updated = sql
            .execute(statement, &[&w.a.user_id])
            .await
            .expect("update");
        assert_eq!(updated, 0, "{statement}");
    }
    sql.batch_execute("COMMIT").await.expect("commit");
    assert_eq!(memberships_of(&w.app, w.a.tenant_id).await, before);

    // The admin may change a member, but not make anyone an owner.
    sql.batch_execute("BEGIN").await.expect("begin");
    act_as(&w.app, &sql, &admin).await;
    let demoted = sql
        .execute(
            "UPDATE memberships SET role = 'read_only' WHERE user_id = $1",
            &[&member.user_id],
        )
        .await
        .expect("update a member");
    assert_eq!(demoted, 1, "admins do manage members");
    let promoted = sql
        .execute(
            "UPDATE memberships SET role = 'owner' WHERE user_id = $1",
            &[&member.user_id],
        )
        .await;
    assert_eq!(sqlstate(promoted), SqlState::INSUFFICIENT_PRIVILEGE);
    sql.batch_execute("ROLLBACK").await.expect("rollback");
    assert_eq!(memberships_of(&w.app, w.a.tenant_id).await, before);
}

#[tokio::test]
async fn members_and_readers_cannot_update_memberships_at_all() {
    let w = world().await;
    let member = w.app.add_member(&w.a, "member").await;
    let reader = w.app.add_member(&w.a, "read_only").await;
    let before = memberships_of(&w.app, w.a.tenant_id).await;
    let sql = w.app.app_role_sql().await;

    for (user, role) in [(&member, "member"), (&reader, "read_only")] {
        sql.batch_execute("BEGIN").await.expect("begin");
        act_as(&w.app, &sql, user).await;
        let visible: i64 = sql
            .query_one("SELECT count(*) FROM memberships", &[])
            .await
            .expect("count")
            .get(0);
        assert_eq!(visible, 3, "{role} sees the tenant's members");
        for (statement, target) in [
            ("UPDATE memberships SET role = 'admin'", None),
            (
                "UPDATE memberships SET role = 'owner' WHERE user_id = $1",
                Some(user.user_id),
            ),
            (
                "UPDATE memberships SET active = false WHERE user_id = $1",
                Some(w.a.user_id),
            ),
        ] {
            let updated = match target {
                Some(id) => sql.execute(statement, &[&id]).await,
                None => sql.execute(statement, &[]).await,
            };
            assert_eq!(updated.expect("update"), 0, "{role}: {statement}");
        }
        sql.batch_execute("COMMIT").await.expect("commit");
    }
    assert_eq!(memberships_of(&w.app, w.a.tenant_id).await, before);
}

/// Sessions are out of the application role's reach (issue 12, finding 1): not even
/// a member's own refresh tokens can be read, changed or planted; the one logout door,
/// `app.end_session`, ends only the caller's own sessions whatever ids it is given.
#[tokio::test]
async fn sessions_are_reachable_only_through_their_definers() {
    let w = world().await;
    let member = w.app.add_member(&w.a, "member").await;
    let sql = w.app.app_role_sql().await;
    let owner_sql = w.app.owner_sql().await;
    let live_sessions = |user: Uuid| {
        let owner_sql = &owner_sql;
        async move {
            owner_sql
                .query(
                    "SELECT DISTINCT family_id FROM refresh_tokens \
                     WHERE user_id = $1 AND revoked_at IS NULL ORDER BY family_id",
                    &[&user],
                )
                .await
                .expect("sessions")
                .iter()
                .map(|r| r.get::<_, Uuid>(0))
                .collect::<Vec<_>>()
        }
    };
    let owners = live_sessions(w.a.user_id).await;
    assert!(!owners.is_empty(), "there is something to protect");

    sql.batch_execute("BEGIN").await.expect("begin");
    act_as(&w.app, &sql, &member).await;
    for statement in [
        "SELECT count(*) FROM refresh_tokens",
        "SELECT token_hash FROM refresh_tokens",
        "UPDATE refresh_tokens SET revoked_at = now()",
        "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, expires_at) \
         VALUES (gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), '\\x00', now())",
        "SELECT id FROM users",
    ] {
        assert_refused(&sql, statement).await;
    }
    sql.execute("SELECT app.end_session($1, 'not-a-token')", &[&owners[0]])
        .await
        .expect("the call itself is allowed");
    sql.batch_execute("COMMIT").await.expect("commit");
    assert_eq!(
        live_sessions(w.a.user_id).await,
        owners,
        "the member ended nothing of the owner's"
    );
}
