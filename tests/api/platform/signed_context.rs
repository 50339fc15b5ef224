//! The tenant context only the server can make (issue 12, "a context that SQL injection
//! and a leaked app-role password cannot forge"). Every test holds the application
//! role's own SQL connection, as an injection or a leaked `crm_app` password would, and
//! knows the victim's tenant and user ids.

use tokio_postgres::{Client, error::SqlState};
use uuid::Uuid;

use reqwest::StatusCode;

use crate::support::{TestApp, TestUser, id_of, spawn_app, start_server};

struct World {
    app: TestApp,
    a: TestUser,
    b: TestUser,
}

async fn world() -> World {
    let app = spawn_app().await;
    let a = app.sign_up("A").await;
    let b = app.sign_up("B").await;
    app.create_contact(&a, "Alice").await;
    app.create_contact(&b, "Bob").await;
    World { app, a, b }
}

async fn first_names(sql: &Client) -> Vec<String> {
    sql.query("SELECT first_name FROM contacts ORDER BY first_name", &[])
        .await
        .expect("select")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// What the earlier design accepted: the settings the policies read, set by hand.
async fn set_by_hand(sql: &Client, victim: &TestUser) {
    sql.execute(
        "SELECT set_config('app.tenant_id', $1, true), set_config('app.user_id', $2, true), \
                set_config('app.role', 'owner', true)",
        &[&victim.tenant_id.to_string(), &victim.user_id.to_string()],
    )
    .await
    .expect("set_config is allowed; it must reach nothing");
}

async fn insert_contact(sql: &Client, tenant: Uuid) -> Result<u64, tokio_postgres::Error> {
    sql.execute(
        "INSERT INTO contacts (tenant_id, id, first_name, last_name) VALUES ($1, $2, 'Mallory', 'X')",
        &[&tenant, &Uuid::now_v7()],
    )
    .await
}

fn refused(result: Result<impl std::fmt::Debug, tokio_postgres::Error>) -> SqlState {
    result
        .expect_err("must be refused")
        .code()
        .cloned()
        .expect("a database error")
}

#[tokio::test]
async fn set_config_by_hand_reaches_no_tenant() {
    let w = world().await;
    let sql = w.app.app_role_sql().await;
    sql.batch_execute("BEGIN").await.expect("begin");
    set_by_hand(&sql, &w.a).await;
    assert_eq!(first_names(&sql).await, Vec::<String>::new());
    assert_eq!(
        refused(insert_contact(&sql, w.a.tenant_id).await),
        SqlState::INSUFFICIENT_PRIVILEGE
    );
    sql.batch_execute("ROLLBACK").await.expect("rollback");
}

/// An injection inside B's own request: the context is B's, server-made; rewriting the
/// settings moves it nowhere, and a hand-edited copy of B's signed context is no
/// context at all.
#[tokio::test]
async fn an_injection_in_one_tenants_request_cannot_move_to_another() {
    let w = world().await;
    let sql = w.app.app_role_sql().await;
    sql.batch_execute("BEGIN").await.expect("begin");
    w.app.enter(&sql, w.b.tenant_id, w.b.user_id).await;
    assert_eq!(first_names(&sql).await, ["Bob"], "B's context is B's");

    set_by_hand(&sql, &w.a).await;
    assert_eq!(
        first_names(&sql).await,
        ["Bob"],
        "app.tenant_id means nothing"
    );

    let signed: String = sql
        .query_one("SELECT current_setting('app.context')", &[])
        .await
        .expect("B can read its own context")
        .get(0);
    let moved = signed.replace(&w.b.tenant_id.to_string(), &w.a.tenant_id.to_string());
    assert_ne!(moved, signed);
    sql.execute("SELECT set_config('app.context', $1, true)", &[&moved])
        .await
        .expect("set");
    assert_eq!(
        first_names(&sql).await,
        Vec::<String>::new(),
        "a tampered context fails closed: not A's rows, not even B's"
    );
    assert_eq!(
        refused(insert_contact(&sql, w.a.tenant_id).await),
        SqlState::INSUFFICIENT_PRIVILEGE
    );
    sql.batch_execute("ROLLBACK").await.expect("rollback");
}

/// The role is signed too: a read-only member who edits the role in its own signed
/// context writes nothing.
#[tokio::test]
async fn the_role_in_a_signed_context_cannot_be_raised() {
    let w = world().await;
    let reader = w.app.add_member(&w.a, "read_only").await;
    let sql = w.app.app_role_sql().await;
    sql.batch_execute("BEGIN").await.expect("begin");
    w.app.enter(&sql, reader.tenant_id, reader.user_id).await;
    let signed: String = sql
        .query_one("SELECT current_setting('app.context')", &[])
        .await
        .expect("context")
        .get(0);
    assert!(signed.contains(".read_only."), "{signed}");
    sql.execute(
        "SELECT set_config('app.context', replace($1, '.read_only.', '.owner.'), true)",
        &[&signed],
    )
    .await
    .expect("set");
    let updated = sql
        .execute("UPDATE contacts SET first_name = 'pwned'", &[])
        .await
        .expect("update");
    assert_eq!(updated, 0);
    assert_eq!(
        refused(insert_contact(&sql, w.a.tenant_id).await),
        SqlState::INSUFFICIENT_PRIVILEGE
    );
    sql.batch_execute("ROLLBACK").await.expect("rollback");
}

/// `app.enter` is the only way in, and it takes only what the server signed: a made-up
/// signature, a claim moved to another tenant or user, an expired claim, and a claim
/// for a membership that does not exist are all refused, aborting the transaction.
#[tokio::test]
async fn app_enter_refuses_every_claim_the_server_did_not_sign() {
    let w = world().await;
    let sql = w.app.app_role_sql().await;
    let own = w.app.claim(w.b.tenant_id, w.b.user_id, None).await;
    let (body, _) = own.rsplit_once('.').expect("claim.signature");
    let expired = w
        .app
        .owner_sql()
        .await
        .query_one(
            "SELECT app.mint_context($1, $2, NULL, interval '-1 second')",
            &[&w.b.tenant_id, &w.b.user_id],
        )
        .await
        .expect("mint")
        .get::<_, String>(0);
    let forged = [
        (format!("{body}.{}", "0".repeat(64)), "a made-up signature"),
        (
            own.replace(&w.b.tenant_id.to_string(), &w.a.tenant_id.to_string()),
            "B's claim moved to A",
        ),
        (
            own.replace(&w.b.user_id.to_string(), &w.a.user_id.to_string()),
            "B's claim moved to A's owner",
        ),
        (expired, "an expired claim"),
        (String::new(), "nothing"),
        ("1.x.y..1.z".to_owned(), "garbage"),
    ];
    for (claim, what) in forged {
        sql.batch_execute("BEGIN").await.expect("begin");
        let err = sql
            .query("SELECT * FROM app.enter($1)", &[&claim])
            .await
            .expect_err(what);
        let db = err.as_db_error().expect("a database error");
        assert_eq!(db.code(), &SqlState::INSUFFICIENT_PRIVILEGE, "{what}");
        assert_eq!(db.constraint(), Some("context_not_signed"), "{what}");
        sql.batch_execute("ROLLBACK").await.expect("rollback");
    }

    // Signed, but for a membership that does not exist (B's owner in A).
    let stranger = w.app.claim(w.a.tenant_id, w.b.user_id, None).await;
    sql.batch_execute("BEGIN").await.expect("begin");
    let err = sql
        .query("SELECT * FROM app.enter($1)", &[&stranger])
        .await
        .expect_err("no such membership");
    assert_eq!(
        err.as_db_error().and_then(|db| db.constraint()),
        Some("membership_inactive")
    );
    sql.batch_execute("ROLLBACK").await.expect("rollback");
}

#[tokio::test]
async fn the_app_role_can_neither_read_the_keys_nor_mint_a_context() {
    let w = world().await;
    let sql = w.app.app_role_sql().await;
    for statement in [
        "SELECT secret FROM app.context_keys",
        "INSERT INTO app.context_keys DEFAULT VALUES",
        "SELECT app.mint_context(gen_random_uuid(), gen_random_uuid(), NULL, interval '1 day')",
        "SELECT app.context_signature(1, 'enter.anything')",
    ] {
        assert_eq!(
            refused(sql.query(statement, &[]).await),
            SqlState::INSUFFICIENT_PRIVILEGE,
            "{statement}"
        );
    }
}

/// Rotation: a server keeps working while the key it loaded is present; once the keys
/// before the newest are retired, its contexts match nothing and its requests fail
/// (closed), while a server started after the rotation signs with the new key.
#[tokio::test]
async fn retiring_a_key_ends_every_context_signed_with_it() {
    let w = world().await;
    let contact = id_of(&w.app.create_contact(&w.a, "Carol").await);
    let path = format!("/contacts/{contact}");
    let config = crate::support::test_config(&w.app.database, |_| {});
    let under_the_old_key = w.app.claim(w.a.tenant_id, w.a.user_id, None).await;

    crm::platform::db::rotate_context_key(&config)
        .await
        .expect("rotate");
    let response = w.app.get(&path, &w.a).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the old key is still valid"
    );

    crm::platform::db::retire_context_keys(&config)
        .await
        .expect("retire");
    let response = w.app.get(&path, &w.a).await;
    assert_eq!(
        response.status(),
        StatusCode::INTERNAL_SERVER_ERROR,
        "a server still signing with a retired key is refused"
    );
    let sql = w.app.app_role_sql().await;
    sql.batch_execute("BEGIN").await.expect("begin");
    let err = sql
        .query("SELECT * FROM app.enter($1)", &[&under_the_old_key])
        .await
        .expect_err("a claim under a retired key");
    assert_eq!(
        err.as_db_error().and_then(|db| db.constraint()),
        Some("context_not_signed")
    );
    sql.batch_execute("ROLLBACK").await.expect("rollback");

    let (address, db) = start_server(&w.app.database, |_| {}).await;
    let restarted = w.app.other_instance(address, db);
    let response = restarted.get(&path, &w.a).await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "a server started after the rotation signs with the new key"
    );
}
