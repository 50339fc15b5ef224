//! The production binary's logs: one JSON line per request with the route template,
//! tenant and user, and never a password, token or secret. Also: SIGTERM stops it
//! cleanly.

use std::process::Stdio;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::{
    JWT_SECRET, OWNER_URL, PASSWORD, connect, expect_json, fresh_database, token_in,
};

const PEPPER: &str = "logs-test-pepper-4a7d1c9e2b5f8a3d6c0e";

#[tokio::test]
async fn production_logs_are_json_lines_without_secrets() {
    let database = fresh_database().await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_crm"))
        .arg("serve")
        .env_clear()
        .env("CRM_ENV", "production")
        .env("DATABASE_URL", format!("{OWNER_URL}/{}", database.name))
        .env("CRM_APP_PASSWORD", crate::support::APP_PASSWORD)
        .env("CRM_WORKER_PASSWORD", "crm_job_host")
        .env("CRM_JWT_SECRET", JWT_SECRET)
        .env("CRM_PASSWORD_PEPPER", format!("1:{PEPPER}"))
        .env("CRM_BIND", "127.0.0.1:0")
        .env("CRM_POOL_SIZE", "2")
        // The test reads the confirmation link from the outbox before anything sends it.
        .env("CRM_RUN_WORKER", "false")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start crm");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut lines: Vec<String> = Vec::new();
    let port = loop {
        let line = stdout
            .next_line()
            .await
            .expect("read")
            .expect("crm exited before listening");
        let port = serde_json::from_str::<Value>(&line)
            .ok()
            .filter(|v| v["message"] == "listening")
            .and_then(|v| v["port"].as_u64());
        lines.push(line);
        if let Some(port) = port {
            break port;
        }
    };
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let email = format!("logs-{}@example.test", uuid::Uuid::new_v4().simple());

    let signup = http
        .post(format!("{base}/api/v1/auth/signup"))
        .json(&json!({ "tenant_name": "Logs", "email": email, "password": PASSWORD, "full_name": "L" }))
        .send()
        .await
        .expect("signup");
    assert_eq!(
        signup.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
    expect_json(signup, StatusCode::ACCEPTED).await;
    let link: String = connect(&database.name, "postgres", "")
        .await
        .query_one(
            "SELECT text_body FROM system_mail_outbox WHERE recipient = $1",
            &[&email],
        )
        .await
        .expect("the confirmation is queued")
        .get(0);
    let link = token_in(&link);
    let confirmed = http
        .post(format!("{base}/api/v1/auth/signup/confirm"))
        .json(&json!({ "token": link }))
        .send()
        .await
        .expect("confirm");
    let tokens = expect_json(confirmed, StatusCode::CREATED).await;
    let access = tokens["access_token"].as_str().expect("token").to_owned();
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let me = http
        .get(format!("{base}/api/v1/auth/me"))
        .bearer_auth(&access)
        .header("x-request-id", "logs-test-me")
        .send()
        .await
        .expect("me");
    let me = expect_json(me, StatusCode::OK).await;
    let wrong = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({ "email": email, "password": "not the password at all" }))
        .send()
        .await
        .expect("login");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let refreshed = http
        .post(format!("{base}/api/v1/auth/refresh"))
        .json(&json!({ "refresh_token": refresh }))
        .send()
        .await
        .expect("refresh");
    let refreshed = expect_json(refreshed, StatusCode::OK).await;

    // SIGTERM, as an orchestrator stops a pod; the server exits cleanly.
    let pid = child.id().expect("pid").to_string();
    let killed = tokio::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .expect("kill");
    assert!(killed.success());
    while let Some(line) = stdout.next_line().await.expect("read") {
        lines.push(line);
    }
    let status = child.wait().await.expect("exit");
    assert!(status.success(), "exit status {status}");
    let mut stderr = String::new();
    if let Some(mut err) = child.stderr.take() {
        tokio::io::AsyncReadExt::read_to_string(&mut err, &mut stderr)
            .await
            .expect("stderr");
    }
    let all = format!("{}\n{stderr}", lines.join("\n"));

    for secret in [
        PASSWORD,
        "not the password at all",
        JWT_SECRET,
        PEPPER,
        &access,
        &refresh,
        &link,
        refreshed["access_token"].as_str().expect("token"),
        refreshed["refresh_token"].as_str().expect("token"),
        &email,
    ] {
        assert!(!all.contains(secret), "{secret:?} reached the logs:\n{all}");
    }

    let entries: Vec<Value> = lines
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let requests: Vec<&Value> = entries
        .iter()
        .filter(|entry| entry["message"] == "request")
        .collect();
    assert_eq!(requests.len(), 5, "one line per request:\n{all}");
    let me_line = requests
        .iter()
        .find(|entry| entry["span"]["request_id"] == "logs-test-me")
        .unwrap_or_else(|| panic!("no line for the request id:\n{all}"));
    assert_eq!(me_line["span"]["method"], "GET");
    assert_eq!(me_line["span"]["route"], "/api/v1/auth/me");
    assert_eq!(me_line["span"]["tenant_id"], me["tenant_id"]);
    assert_eq!(me_line["span"]["user_id"], me["user_id"]);
    assert_eq!(me_line["status"], 200);
    assert!(me_line["latency_ms"].is_number());
    let login_line = requests
        .iter()
        .find(|entry| entry["span"]["route"] == "/api/v1/auth/login")
        .unwrap_or_else(|| panic!("no login line:\n{all}"));
    assert_eq!(login_line["status"], 401);
    assert!(
        entries.iter().any(|entry| entry["message"] == "stopped"),
        "{all}"
    );
}
