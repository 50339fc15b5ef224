//! For the fault tests: a PostgreSQL cluster of the test's own (so restarting or
//! killing it disturbs no other test), and the `crm` server or worker as a real process
//! (so it can be killed and signalled like a deployment's), on such a cluster or on a
//! test's own database of the shared one.
//!
//! The cluster is made with `initdb` from `pg_config --bindir`, listens on a free
//! loopback port with its socket in its own directory, and is stopped and deleted when
//! dropped. As root, PostgreSQL's tools run as the `postgres` user (they refuse root).

use std::{
    path::PathBuf,
    process::{Command, Stdio},
    time::Duration,
};

use reqwest::StatusCode;
use serde_json::json;
use tokio_postgres::{Client, NoTls};
use uuid::Uuid;

use super::{
    APP_PASSWORD, JWT_SECRET, PASSWORD, expect_json, is_root, mail::free_port, test_env, token_in,
};

pub struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    pub port: u16,
}

/// How `pg_ctl` stops the cluster (`-m`).
#[derive(Clone, Copy)]
pub enum StopMode {
    /// Sessions are terminated (57P01), a checkpoint is written.
    Fast,
    /// Every process quits at once; the next start recovers from the WAL.
    Immediate,
}

impl Cluster {
    pub fn start() -> Self {
        let bin = PathBuf::from(
            String::from_utf8(
                Command::new("pg_config")
                    .arg("--bindir")
                    .output()
                    .expect("pg_config --bindir")
                    .stdout,
            )
            .expect("utf-8")
            .trim(),
        );
        let data = std::env::temp_dir().join(format!("crm-fault-{}", Uuid::new_v4().simple()));
        std::fs::create_dir(&data).expect("the cluster's directory");
        let cluster = Self {
            bin,
            data,
            port: free_port(),
        };
        cluster.hand_to_postgres();
        cluster.pg(
            "initdb",
            &[
                "-D",
                cluster.pgdata(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        cluster.start_again();
        cluster
    }

    fn pgdata(&self) -> &str {
        self.data.to_str().expect("a UTF-8 path")
    }

    /// As root, the data directory belongs to `postgres`, who runs the tools.
    fn hand_to_postgres(&self) {
        if is_root() {
            let status = Command::new("chown")
                .args(["postgres:postgres", self.pgdata()])
                .status()
                .expect("chown");
            assert!(status.success(), "chown the cluster's directory");
        }
    }

    fn pg(&self, tool: &str, args: &[&str]) {
        let output = self
            .command(tool)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|err| panic!("{tool}: {err}"));
        assert!(
            output.status.success(),
            "{tool} {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
    }

    /// One of PostgreSQL's tools, run as `postgres` when this is root.
    fn command(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        match is_root() {
            true => {
                let mut command = Command::new("runuser");
                command.args(["-u", "postgres", "--"]).arg(program);
                command
            }
            false => Command::new(program),
        }
    }

    fn options(&self) -> String {
        format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=60",
            self.port,
            self.pgdata()
        )
    }

    pub fn start_again(&self) {
        let log = self.data.join("server.log");
        self.pg(
            "pg_ctl",
            &[
                "start",
                "-w",
                "-D",
                self.pgdata(),
                "-l",
                log.to_str().expect("UTF-8"),
                "-o",
                &self.options(),
            ],
        );
    }

    pub fn stop(&self, mode: StopMode) {
        let mode = match mode {
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        };
        self.pg("pg_ctl", &["stop", "-w", "-D", self.pgdata(), "-m", mode]);
    }

    pub fn restart(&self, mode: StopMode) {
        self.stop(mode);
        self.start_again();
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// A superuser connection to `database`.
    pub async fn sql(&self, database: &str) -> Client {
        let (client, connection) = tokio_postgres::connect(&self.url(database), NoTls)
            .await
            .expect("connect to the private cluster");
        tokio::spawn(connection);
        client
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["stop", "-D", self.pgdata(), "-m", "immediate"])
            .output();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// The `crm` binary as a child process: `crm serve` answering on `port`, or `crm worker`
/// (the job host alone, no HTTP), so it can be killed and signalled like a deployment's.
pub struct Server {
    child: tokio::process::Child,
    pub port: u16,
    command: &'static str,
    env: Vec<(String, String)>,
}

/// What every test process runs with, after its database's environment: its own port,
/// no job host in `crm serve`, limits no test's load reaches, and quiet logs.
fn process_env(port: u16, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let fixed = [
        ("CRM_BIND", format!("127.0.0.1:{port}")),
        ("CRM_RUN_WORKER", "false".to_owned()),
        ("CRM_RATE_LIMIT_IP", "1000000".to_owned()),
        ("CRM_RATE_LIMIT_USER", "1000000".to_owned()),
        ("CRM_RATE_LIMIT_TENANT", "1000000".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ];
    fixed
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .chain(
            extra
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
        )
        .collect()
}

impl Server {
    /// Starts `crm serve` on the database `crm` of `cluster`, on a free port, and waits
    /// until `/ready` answers 200.
    pub async fn start(cluster: &Cluster, extra: &[(&str, &str)]) -> Self {
        let port = free_port();
        let mut env: Vec<(String, String)> = [
            ("DATABASE_URL", cluster.url("crm")),
            ("CRM_JWT_SECRET", JWT_SECRET.to_owned()),
            ("CRM_APP_PASSWORD", APP_PASSWORD.to_owned()),
            ("CRM_POOL_SIZE", "8".to_owned()),
            // One tenant's load, as a single-tenant deployment runs it.
            ("CRM_TENANT_MAX_CONNECTIONS", "8".to_owned()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
        env.extend(process_env(port, extra));
        Self::spawn("serve", port, env).await
    }

    /// Starts `crm serve` on a test's own `database` of the shared cluster, configured
    /// as [`test_env`] configures an in-process server, and waits until it is ready.
    pub async fn serve(database: &str, extra: &[(&str, &str)]) -> Self {
        let port = free_port();
        let mut env = test_env(database);
        env.extend(process_env(port, extra));
        Self::spawn("serve", port, env).await
    }

    /// Starts `crm worker` on a test's own `database` of the shared cluster (configured
    /// as [`Self::serve`]); it has no readiness to wait for.
    pub async fn worker(database: &str, extra: &[(&str, &str)]) -> Self {
        let mut env = test_env(database);
        env.extend(process_env(0, extra));
        Self::spawn("worker", 0, env).await
    }

    async fn spawn(command: &'static str, port: u16, env: Vec<(String, String)>) -> Self {
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_crm"))
            .arg(command)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start the crm binary");
        let server = Self {
            child,
            port,
            command,
            env,
        };
        if command == "serve" {
            server.until_ready().await;
        }
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn until_ready(&self) {
        let http = reqwest::Client::new();
        for _ in 0..600 {
            if let Ok(response) = http.get(self.url("/ready")).send().await {
                if response.status() == StatusCode::OK {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the server never became ready");
    }

    /// Whether the process still runs (it did not exit, at start-up or later).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL: the process dies at once, nothing is finished.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("kill the server");
    }

    /// SIGTERM, as a deployment stops it.
    pub fn terminate(&self) {
        let pid = self.child.id().expect("the server runs");
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success(), "signal the server");
    }

    /// Waits for the process to exit (bounded) and answers whether it exited 0.
    pub async fn exited_cleanly(&mut self, within: Duration) -> bool {
        tokio::time::timeout(within, self.child.wait())
            .await
            .expect("the server exits in time")
            .expect("wait for the server")
            .success()
    }

    /// The same process again, with the same environment and port (after a kill).
    pub async fn restart(self) -> Self {
        let Self {
            port, command, env, ..
        } = self;
        Self::spawn(command, port, env).await
    }

    /// Signs up a tenant as a person would (the link from the queued confirmation) and
    /// answers its owner's access token.
    pub async fn sign_up(&self, cluster: &Cluster) -> String {
        let http = reqwest::Client::new();
        let email = format!("owner-{}@example.test", Uuid::new_v4().simple());
        let signup = http
            .post(self.url("/api/v1/auth/signup"))
            .json(&json!({
                "tenant_name": "Faults", "email": email, "password": PASSWORD, "full_name": "Owner",
            }))
            .send()
            .await
            .expect("signup");
        expect_json(signup, StatusCode::ACCEPTED).await;
        let mail: String = cluster
            .sql("crm")
            .await
            .query_one(
                "SELECT text_body FROM system_mail_outbox WHERE recipient = $1",
                &[&email],
            )
            .await
            .expect("the confirmation was queued")
            .get(0);
        let confirm = http
            .post(self.url("/api/v1/auth/signup/confirm"))
            .json(&json!({ "token": token_in(&mail) }))
            .send()
            .await
            .expect("confirm");
        let tokens = expect_json(confirm, StatusCode::CREATED).await;
        tokens["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }
}
