//! Through PgBouncer in transaction mode (Debian's 1.18, started here on a free port
//! with a generated configuration): server connections are shared between clients
//! and tenants one transaction at a time, and the tenant setting, being
//! transaction-local, never crosses over.

use std::{path::PathBuf, process::Stdio, time::Duration};

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::support::{
    APP_PASSWORD, APP_ROLE, TestApp, expect_json, fresh_database, lock_contact, start_server,
    test_config,
};

const SERVER_CONNECTIONS: usize = 2;

/// A running pgbouncer; killed when dropped.
struct PgBouncer {
    port: u16,
    _child: tokio::process::Child,
    dir: PathBuf,
}

impl PgBouncer {
    /// Points a test server's pool at this PgBouncer, in pooler mode.
    fn serve(&self, vars: &mut Vec<(String, String)>) {
        vars.push(("CRM_PGBOUNCER".into(), "true".into()));
        vars.push((
            "CRM_APP_DATABASE_URL".into(),
            format!("postgres://127.0.0.1:{}", self.port),
        ));
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn binary() -> Option<PathBuf> {
    [
        "/usr/sbin/pgbouncer",
        "/usr/bin/pgbouncer",
        "/usr/local/bin/pgbouncer",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|path| path.exists())
}

async fn start_pgbouncer() -> Option<PgBouncer> {
    let Some(binary) = binary() else {
        eprintln!(
            "\n\n!!!!!!!! SKIPPED: pgbouncer is not installed (apt-get install pgbouncer; .ci/run does) !!!!!!!!\n\n"
        );
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("free port")
        .port();
    let dir = std::env::temp_dir().join(format!("crm-pgbouncer-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let ini = dir.join("pgbouncer.ini");
    std::fs::write(
        dir.join("userlist.txt"),
        format!("\"{APP_ROLE}\" \"{APP_PASSWORD}\"\n"),
    )
    .expect("userlist");
    std::fs::write(
        &ini,
        format!(
            "[databases]\n* = host=127.0.0.1 port=5432\n\n[pgbouncer]\n\
             listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
             auth_type = trust\nauth_file = {dir}/userlist.txt\n\
             pool_mode = transaction\ndefault_pool_size = {SERVER_CONNECTIONS}\n\
             max_client_conn = 200\nlogfile = {dir}/pgbouncer.log\n",
            dir = dir.display()
        ),
    )
    .expect("ini");
    let mut command = tokio::process::Command::new(binary);
    // pgbouncer refuses to run as root; drop to postgres then.
    if crate::support::is_root() {
        use std::os::unix::fs::PermissionsExt;
        for path in [dir.clone(), ini.clone(), dir.join("userlist.txt")] {
            let mode = if path.is_dir() { 0o777 } else { 0o644 };
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        }
        command.args(["-u", "postgres"]);
    }
    let child = command
        .arg(&ini)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start pgbouncer");
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Some(PgBouncer {
                port,
                _child: child,
                dir,
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let log = std::fs::read_to_string(dir.join("pgbouncer.log")).unwrap_or_default();
    panic!("pgbouncer did not start:\n{log}");
}

#[tokio::test]
async fn the_api_works_through_pgbouncer_in_transaction_mode() {
    let Some(bouncer) = start_pgbouncer().await else {
        return;
    };
    let database = fresh_database().await;
    let via_bouncer = |vars: &mut Vec<(String, String)>| {
        bouncer.serve(vars);
        vars.push(("CRM_POOL_SIZE".into(), "8".into()));
        // Ten requests of one tenant at once queue for its share rather than get 429.
        vars.push(("CRM_TENANT_QUEUE_MS".into(), "5000".into()));
    };
    let (address, pool) = start_server(&database.name, via_bouncer).await;
    let app = TestApp::attach(address, pool, &database.name);

    expect_json(app.get_raw("/ready").await, StatusCode::OK).await;
    let a = app.sign_up("Bounced A").await;
    let b = app.sign_up("Bounced B").await;

    // Many transactions of two tenants at once on two server connections.
    let mut tasks = Vec::new();
    for (user, name) in [(&a, "A"), (&b, "B")] {
        for i in 0..10 {
            let http = app.http.clone();
            let url = app.url("/api/v1/contacts");
            let token = user.token.clone();
            tasks.push(tokio::spawn(async move {
                http.post(url)
                    .bearer_auth(token)
                    .json(&json!({ "first_name": format!("{name}{i}"), "last_name": name }))
                    .send()
                    .await
                    .expect("request")
                    .status()
            }));
        }
    }
    for task in tasks {
        assert_eq!(task.await.expect("task"), StatusCode::CREATED);
    }
    for (user, name) in [(&a, "A"), (&b, "B")] {
        let list = expect_json(app.get("/contacts?limit=100", user).await, StatusCode::OK).await;
        let items = list["items"].as_array().expect("items");
        assert_eq!(items.len(), 10, "{list}");
        assert!(items.iter().all(|c| c["last_name"] == name), "{list}");
    }

    // Login, refresh and logout run through the reviewed functions, also bounced.
    let login = app
        .post_anonymous(
            "/auth/login",
            json!({ "email": a.email, "password": crate::support::PASSWORD }),
        )
        .await;
    let tokens = expect_json(login, StatusCode::OK).await;
    let refresh = app
        .post_anonymous(
            "/auth/refresh",
            json!({ "refresh_token": tokens["refresh_token"] }),
        )
        .await;
    expect_json(refresh, StatusCode::OK).await;

    // The app's eight pooled clients shared at most two server connections.
    let admin = crate::support::connect("postgres", "postgres", "").await;
    let servers: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND usename = $2",
            &[&database.name, &APP_ROLE],
        )
        .await
        .expect("activity")
        .get(0);
    assert!(
        servers <= SERVER_CONNECTIONS as i64,
        "{servers} server connections"
    );
}

#[tokio::test]
async fn without_pgbouncer_mode_the_pool_is_refused_by_pgbouncer() {
    let Some(bouncer) = start_pgbouncer().await else {
        return;
    };
    let database = fresh_database().await;
    let config = test_config(&database.name, |vars| {
        vars.push(("CRM_PGBOUNCER".into(), "false".into()));
        vars.push((
            "CRM_APP_DATABASE_URL".into(),
            format!("postgres://127.0.0.1:{}", bouncer.port),
        ));
    });
    let err = crm::Application::build(config)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("application pool"), "{err}");
}

/// Behind a transaction pooler no cancel is sent at the deadline (PgBouncer 1.18, as
/// Debian ships it, exits on tokio-postgres's cancel requests: pgbouncer/pgbouncer#801):
/// a write past its deadline is answered with its outcome when its statement ends,
/// never as a failure that later commits, and PgBouncer keeps serving.
#[tokio::test]
async fn behind_pgbouncer_a_write_past_its_deadline_is_answered_with_its_outcome() {
    let Some(bouncer) = start_pgbouncer().await else {
        return;
    };
    let database = fresh_database().await;
    let via_bouncer = |vars: &mut Vec<(String, String)>| {
        bouncer.serve(vars);
        vars.push(("CRM_REQUEST_TIMEOUT_MS".into(), "300".into()));
        vars.push(("CRM_TENANT_MAX_CONNECTIONS".into(), "4".into()));
        vars.push(("CRM_STATEMENT_TIMEOUT_MS".into(), "1500".into()));
    };
    let (address, pool) = start_server(&database.name, via_bouncer).await;
    let app = TestApp::attach(address, pool, &database.name);
    let owner = app.sign_up("Bounced").await;
    let contact = crate::support::id_of(&app.create_contact(&owner, "Ada").await);

    let lock = app.owner_sql().await;
    lock_contact(&lock, &contact).await;
    // One write on each server connection, both past their deadline.
    let updates: Vec<_> = (0..SERVER_CONNECTIONS)
        .map(|n| {
            let app = app.other_instance(app.address.clone(), app.db.clone());
            let (owner, path) = (owner.clone(), format!("/contacts/{contact}"));
            tokio::spawn(async move {
                app.patch(&path, &owner, json!({ "first_name": format!("Late {n}") }))
                    .await
            })
        })
        .collect();
    for update in updates {
        // Answered when the statement timeout ended the wait: rolled back, said so.
        let update = update.await.expect("task");
        crate::support::expect_problem(update, StatusCode::SERVICE_UNAVAILABLE).await;
    }
    lock.batch_execute("COMMIT").await.expect("unlock");

    let read = expect_json(
        app.get(&format!("/contacts/{contact}"), &owner).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        read["first_name"], "Ada",
        "the answered-failed write never committed"
    );
}
