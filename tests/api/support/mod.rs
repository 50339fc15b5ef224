//! `spawn_app()` and typed helpers so tests read like stories.

pub mod cluster;
pub mod mail;
pub mod notifications;
pub mod sms;
pub mod webhooks;

use std::time::Duration;

use crm::{
    Application,
    modules::registry,
    platform::{
        auth::JwtKeys,
        config::Config,
        db::{self, Migrations},
        tenancy::TenantContext,
    },
};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::OnceCell;
use tokio_postgres::{Client, NoTls};
use uuid::Uuid;

pub const OWNER_URL: &str = "postgres://postgres@127.0.0.1:5432";
pub const APP_ROLE: &str = "crm_app";
pub const APP_PASSWORD: &str = "crm_app";
pub const JWT_SECRET: &str = "test-only-7f3a9c2e51b84d06a1e5c3b7d9f20486";
pub const PASSWORD: &str = "correct horse battery staple";

static TEMPLATE: OnceCell<String> = OnceCell::const_new();

pub struct TestApp {
    pub address: String,
    pub database: String,
    /// The server's database and its doors.
    pub db: db::Db,
    pub http: reqwest::Client,
    /// Drops the database when the test ends.
    _database: DatabaseGuard,
}

/// A member of a tenant, logged in.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub email: String,
    pub token: String,
    pub refresh_token: String,
    pub tenant_id: Uuid,
    pub user_id: Uuid,
}

pub async fn connect(database: &str, user: &str, password: &str) -> Client {
    let url = format!("postgres://{user}:{password}@127.0.0.1:5432/{database}");
    let (client, connection) = tokio_postgres::connect(&url, NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
}

/// Retries statements that fail while another session still uses the template.
async fn execute_retrying(client: &Client, sql: &str) {
    for attempt in 1.. {
        match client.batch_execute(sql).await {
            Ok(()) => return,
            Err(err)
                if attempt < 50
                    && err.code() == Some(&tokio_postgres::error::SqlState::OBJECT_IN_USE) =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => panic!("{sql}: {err}"),
        }
    }
}

/// The migrated template database for this version of the migrations, built once per
/// cluster (under an advisory lock, so concurrent test binaries share it).
async fn template() -> &'static str {
    TEMPLATE
        .get_or_init(|| async {
            let fingerprint = Migrations::of(registry::ALL)
                .expect("the migrations merge")
                .fingerprint();
            let name = format!("crm_test_template_{fingerprint}");
            let admin = connect("postgres", "postgres", "").await;
            admin
                .execute("SELECT pg_advisory_lock(7424242)", &[])
                .await
                .expect("lock");
            let exists = admin
                .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
                .await
                .expect("lookup")
                .is_some();
            if !exists {
                let building = format!("{name}_building");
                execute_retrying(
                    &admin,
                    &format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"),
                )
                .await;
                let config = test_config(&building, |_| {});
                db::prepare_database(&config, registry::ALL)
                    .await
                    .expect("migrate the template");
                execute_retrying(
                    &admin,
                    &format!("ALTER DATABASE {building} RENAME TO {name}"),
                )
                .await;
            }
            admin
                .execute("SELECT pg_advisory_unlock(7424242)", &[])
                .await
                .expect("unlock");
            name
        })
        .await
}

pub fn test_config(database: &str, customise: impl FnOnce(&mut Vec<(String, String)>)) -> Config {
    let mut vars = test_env(database);
    customise(&mut vars);
    Config::from_lookup(|name| {
        vars.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    })
    .expect("test configuration")
}

/// The environment of a test server on `database` (later entries win): what
/// [`test_config`] reads, and what a test's `crm` child process is started with
/// ([`cluster::Server::serve`]), so both ask the same of the cluster-wide roles.
pub fn test_env(database: &str) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = vec![
        ("DATABASE_URL".into(), format!("{OWNER_URL}/{database}")),
        ("CRM_BIND".into(), "127.0.0.1:0".into()),
        ("CRM_JWT_SECRET".into(), JWT_SECRET.into()),
        ("CRM_APP_ROLE".into(), APP_ROLE.into()),
        ("CRM_APP_PASSWORD".into(), APP_PASSWORD.into()),
        ("CRM_POOL_SIZE".into(), "4".into()),
        // crm_app's connection limit is cluster-wide: every test (whatever its pool
        // size) and tests/sql/run ask for the same one, so none changes it under another.
        ("CRM_APP_CONNECTION_LIMIT".into(), "200".into()),
        // The in-process mail worker would send (and so clear) the bodies the helpers
        // read their links from; the mail tests turn it on (`support::mail::smtp_env`).
        ("CRM_RUN_WORKER".into(), "false".into()),
    ];
    // tests/through-pgbouncer: every server's pool goes through a PgBouncer.
    if let Ok(url) = std::env::var("CRM_TEST_PGBOUNCER_URL") {
        vars.push(("CRM_PGBOUNCER".into(), "true".into()));
        vars.push(("CRM_APP_DATABASE_URL".into(), url));
    }
    vars
}

/// Opens a transaction on `sql` holding the contact's row locked (FOR UPDATE), so the
/// requests that update it wait; commit or roll back `sql` to let them go.
pub async fn lock_contact(sql: &Client, contact: &str) {
    sql.batch_execute("BEGIN").await.expect("begin");
    sql.execute(
        "SELECT 1 FROM contacts WHERE id = $1::text::uuid FOR UPDATE",
        &[&contact],
    )
    .await
    .expect("lock the contact's row");
}

/// Whether the tests run as root (PostgreSQL's tools and PgBouncer then run as
/// `postgres`: they refuse root).
pub fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}

/// Whether every test server's pool goes through a PgBouncer (tests/through-pgbouncer),
/// for the tests that cannot run there; says `why` they skip.
pub fn behind_a_pooler(why: &str) -> bool {
    let pooled = std::env::var_os("CRM_TEST_PGBOUNCER_URL").is_some();
    if pooled {
        eprintln!("SKIPPED behind a transaction pooler: {why}");
    }
    pooled
}

/// A fresh database cloned from the template; dropped with the returned guard.
pub async fn fresh_database() -> DatabaseGuard {
    let template = template().await;
    let name = format!("crm_test_{}", Uuid::new_v4().simple());
    let admin = connect("postgres", "postgres", "").await;
    execute_retrying(
        &admin,
        &format!("CREATE DATABASE {name} TEMPLATE {template}"),
    )
    .await;
    DatabaseGuard { name }
}

pub struct DatabaseGuard {
    pub name: String,
}

impl DatabaseGuard {
    /// A guard that drops nothing (for a second view of a database another owns).
    fn borrowed() -> Self {
        Self {
            name: String::new(),
        }
    }
}

impl Drop for DatabaseGuard {
    fn drop(&mut self) {
        if self.name.is_empty() {
            return;
        }
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let admin = connect("postgres", "postgres", "").await;
                let _ = admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            });
        })
        .join();
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the server as production does, with extra environment variables.
pub async fn spawn_app_with(customise: impl FnOnce(&mut Vec<(String, String)>)) -> TestApp {
    let guard = fresh_database().await;
    let (address, db) = start_server(&guard.name, customise).await;
    TestApp {
        address,
        database: guard.name.clone(),
        db,
        http: reqwest::Client::new(),
        _database: guard,
    }
}

/// A built but not yet running server on a fresh database, for tests that run it
/// themselves (graceful shutdown).
pub async fn build_app_with(
    customise: impl FnOnce(&mut Vec<(String, String)>),
) -> (Application, TestApp) {
    let guard = fresh_database().await;
    let config = test_config(&guard.name, customise);
    let app = Application::build(config).await.expect("the app builds");
    let test_app = TestApp {
        address: format!("http://127.0.0.1:{}", app.port()),
        database: guard.name.clone(),
        db: app.db().clone(),
        http: reqwest::Client::new(),
        _database: guard,
    };
    (app, test_app)
}

/// Starts one more server on `database` (as a second instance behind a load
/// balancer would be); returns its address and database.
pub async fn start_server(
    database: &str,
    customise: impl FnOnce(&mut Vec<(String, String)>),
) -> (String, db::Db) {
    let config = test_config(database, customise);
    let app = Application::build(config).await.expect("the app starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let db = app.db().clone();
    tokio::spawn(app.run_until_stopped());
    (address, db)
}

impl TestApp {
    /// The same tests against another instance of the server on the same database.
    pub fn other_instance(&self, address: String, db: db::Db) -> TestApp {
        TestApp {
            address,
            database: self.database.clone(),
            db,
            http: reqwest::Client::new(),
            _database: DatabaseGuard::borrowed(),
        }
    }

    /// A view of a server started with [`start_server`] on a database someone else owns.
    pub fn attach(address: String, db: db::Db, database: &str) -> TestApp {
        TestApp {
            address,
            database: database.to_owned(),
            db,
            http: reqwest::Client::new(),
            _database: DatabaseGuard::borrowed(),
        }
    }

    /// `GET path` (outside `/api/v1`), anonymous.
    pub async fn get_raw(&self, path: &str) -> Response {
        self.http.get(self.url(path)).send().await.expect("request")
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// An authenticated request to `/api/v1{path}`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        user: &TestUser,
        body: Option<Value>,
    ) -> Response {
        let mut request = self
            .http
            .request(method, self.url(&format!("/api/v1{path}")))
            .bearer_auth(&user.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("request")
    }

    pub async fn get(&self, path: &str, user: &TestUser) -> Response {
        self.call(Method::GET, path, user, None).await
    }

    pub async fn post(&self, path: &str, user: &TestUser, body: Value) -> Response {
        self.call(Method::POST, path, user, Some(body)).await
    }

    pub async fn patch(&self, path: &str, user: &TestUser, body: Value) -> Response {
        self.call(Method::PATCH, path, user, Some(body)).await
    }

    pub async fn delete(&self, path: &str, user: &TestUser) -> Response {
        self.call(Method::DELETE, path, user, None).await
    }

    /// An unauthenticated POST to `/api/v1{path}`.
    pub async fn post_anonymous(&self, path: &str, body: Value) -> Response {
        self.http
            .post(self.url(&format!("/api/v1{path}")))
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    /// Signs up a new tenant as a person would: the signup, the link from the queued
    /// confirmation message, its confirmation. The returned user is its owner.
    pub async fn sign_up(&self, tenant_name: &str) -> TestUser {
        let email = format!("owner-{}@example.test", Uuid::new_v4().simple());
        self.sign_up_as(tenant_name, &email).await
    }

    /// [`Self::sign_up`] with a chosen email.
    pub async fn sign_up_as(&self, tenant_name: &str, email: &str) -> TestUser {
        let token = self.request_signup(tenant_name, email).await;
        let response = self
            .post_anonymous("/auth/signup/confirm", json!({ "token": token }))
            .await;
        let body = expect_json(response, StatusCode::CREATED).await;
        self.user_from_tokens(email.to_owned(), &body).await
    }

    /// `POST /auth/signup` (202) and the token of the confirmation then queued for
    /// `email`.
    pub async fn request_signup(&self, tenant_name: &str, email: &str) -> String {
        let response = self
            .post_anonymous(
                "/auth/signup",
                json!({ "tenant_name": tenant_name, "email": email, "password": PASSWORD, "full_name": "Owner" }),
            )
            .await;
        expect_json(response, StatusCode::ACCEPTED).await;
        token_in(&self.last_system_mail(email).await)
    }

    /// The text of the newest message queued outside any tenant for `recipient`.
    pub async fn last_system_mail(&self, recipient: &str) -> String {
        self.owner_sql()
            .await
            .query_one(
                "SELECT text_body FROM system_mail_outbox WHERE lower(recipient) = lower($1) \
                 ORDER BY created_at DESC, id DESC LIMIT 1",
                &[&recipient],
            )
            .await
            .expect("a message was queued outside any tenant")
            .get(0)
    }

    /// The text of the newest message any tenant queued for `recipient`.
    pub async fn last_tenant_mail(&self, recipient: &str) -> String {
        self.owner_sql()
            .await
            .query_one(
                "SELECT text_body FROM mail_outbox WHERE lower(recipient) = lower($1) \
                 ORDER BY created_at DESC, id DESC LIMIT 1",
                &[&recipient],
            )
            .await
            .expect("a tenant queued a message")
            .get(0)
    }

    /// `by` invites `email` with `role` (202) and the token of the link then queued.
    pub async fn invite(&self, by: &TestUser, email: &str, role: &str) -> String {
        let response = self
            .post("/users", by, json!({ "email": email, "role": role }))
            .await;
        expect_json(response, StatusCode::ACCEPTED).await;
        token_in(&self.last_tenant_mail(email).await)
    }

    /// `POST /auth/invitations/accept` with the shared test password.
    pub async fn accept(&self, token: &str) -> Response {
        self.post_anonymous(
            "/auth/invitations/accept",
            json!({ "token": token, "password": PASSWORD }),
        )
        .await
    }

    /// Completes a TestUser from a token response by asking `/auth/me`.
    pub async fn user_from_tokens(&self, email: String, tokens: &Value) -> TestUser {
        let mut user = TestUser {
            email,
            token: tokens["access_token"]
                .as_str()
                .expect("access_token")
                .to_owned(),
            refresh_token: tokens["refresh_token"]
                .as_str()
                .expect("refresh_token")
                .to_owned(),
            tenant_id: Uuid::nil(),
            user_id: Uuid::nil(),
        };
        let me = expect_json(self.get("/auth/me", &user).await, StatusCode::OK).await;
        user.tenant_id = me["tenant_id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .expect("tenant_id");
        user.user_id = me["user_id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .expect("user_id");
        user
    }

    /// `POST /auth/login` with the shared test password, optionally naming a tenant.
    pub async fn log_in(&self, email: &str, tenant: Option<Uuid>) -> Response {
        let mut body = json!({ "email": email, "password": PASSWORD });
        if let Some(tenant) = tenant {
            body["tenant"] = json!(tenant);
        }
        self.post_anonymous("/auth/login", body).await
    }

    /// Adds a new person with `role` to `by`'s tenant as people do: `by` invites them,
    /// they accept from the queued link with [`PASSWORD`]. Logged in to that tenant.
    pub async fn add_member(&self, by: &TestUser, role: &str) -> TestUser {
        let email = format!("{role}-{}@example.test", Uuid::new_v4().simple());
        self.add_member_as(by, &email, role).await
    }

    /// [`Self::add_member`] with a chosen email.
    pub async fn add_member_as(&self, by: &TestUser, email: &str, role: &str) -> TestUser {
        let token = self.invite(by, email, role).await;
        let accepted = self
            .post_anonymous(
                "/auth/invitations/accept",
                json!({ "token": token, "password": PASSWORD, "full_name": format!("A {role}") }),
            )
            .await;
        let tokens = expect_json(accepted, StatusCode::OK).await;
        self.user_from_tokens(email.to_owned(), &tokens).await
    }

    pub async fn create(&self, path: &str, user: &TestUser, body: Value) -> Value {
        expect_json(self.post(path, user, body).await, StatusCode::CREATED).await
    }

    pub async fn create_contact(&self, user: &TestUser, first_name: &str) -> Value {
        self.create(
            "/contacts",
            user,
            json!({ "first_name": first_name, "last_name": "Tester" }),
        )
        .await
    }

    /// A direct SQL connection as the application role, as an attacker holding its
    /// credentials would have.
    /// The context a request with `user`'s access token acts as: the token verified
    /// with the server's keys (the only way a context is minted outside the server).
    pub fn context_of(&self, user: &TestUser) -> TenantContext {
        let config = test_config(&self.database, |_| {});
        JwtKeys::new(&config.jwt)
            .verify(&user.token)
            .expect("the user's token verifies")
    }

    /// A claim for `user` of `tenant` (and `session`, when given), signed with the
    /// database's newest context key by the owner-only `app.mint_context`: what the
    /// server sends as the first statement of a request.
    pub async fn claim(&self, tenant: Uuid, user: Uuid, session: Option<Uuid>) -> String {
        self.owner_sql()
            .await
            .query_one(
                "SELECT app.mint_context($1, $2, $3, interval '5 minutes')",
                &[&tenant, &user, &session],
            )
            .await
            .expect("mint a context")
            .get(0)
    }

    /// Enters `user`'s server-made context on `sql`, an application-role connection
    /// inside a transaction, exactly as a request's first statement does.
    pub async fn enter(&self, sql: &Client, tenant: Uuid, user: Uuid) {
        let claim = self.claim(tenant, user, None).await;
        sql.query_one("SELECT role FROM app.enter($1)", &[&claim])
            .await
            .expect("enter a server-made context");
    }

    pub async fn app_role_sql(&self) -> Client {
        connect(&self.database, APP_ROLE, APP_PASSWORD).await
    }

    /// A superuser connection, only for looking at what really is in a table.
    pub async fn owner_sql(&self) -> Client {
        connect(&self.database, "postgres", "").await
    }

    /// The backends of this database waiting for a lock (requests held up).
    pub async fn lock_waiters(&self) -> Vec<i32> {
        self.owner_sql()
            .await
            .query(
                "SELECT pid FROM pg_stat_activity \
                 WHERE datname = $1 AND wait_event_type = 'Lock'",
                &[&self.database],
            )
            .await
            .expect("pg_stat_activity")
            .iter()
            .map(|row| row.get(0))
            .collect()
    }

    /// Waits (bounded) until at least `count` backends wait for a lock; answers them.
    pub async fn until_lock_waiters(&self, count: usize) -> Vec<i32> {
        tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let waiting = self.lock_waiters().await;
                if waiting.len() >= count {
                    return waiting;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the requests reach the lock")
    }
}

/// Runs a server built with [`build_app_with`] until the returned sender fires (or
/// is dropped).
pub fn run_until_signalled(
    server: Application,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run_until_stopped_with(async {
        let _ = stopped.await;
    }));
    (stop, running)
}

/// Asserts the status and returns the JSON body.
pub async fn expect_json(response: Response, status: StatusCode) -> Value {
    let actual = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(actual, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Asserts an RFC 9457 problem response with this status; returns the problem.
/// The fields a validation problem names, sorted.
pub fn error_fields(problem: &Value) -> Vec<String> {
    let mut fields: Vec<String> = problem["errors"]
        .as_array()
        .expect("a validation problem lists its errors")
        .iter()
        .filter_map(|error| error["field"].as_str().map(str::to_owned))
        .collect();
    fields.sort_unstable();
    fields
}

pub async fn expect_problem(response: Response, status: StatusCode) -> Value {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let problem = expect_json(response, status).await;
    assert_eq!(
        content_type, "application/problem+json",
        "problem: {problem}"
    );
    assert_eq!(problem["status"], status.as_u16(), "problem: {problem}");
    assert!(
        problem["type"].is_string() && problem["title"].is_string(),
        "problem: {problem}"
    );
    problem
}

/// The token of the link in a message's text (what follows `token=`).
pub fn token_in(text: &str) -> String {
    let (_, rest) = text
        .split_once("token=")
        .expect("the message carries a link");
    rest.split_whitespace().next().expect("a token").to_owned()
}

pub fn id_of(value: &Value) -> String {
    value["id"].as_str().expect("id").to_owned()
}
