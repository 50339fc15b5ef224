//! Health, readiness, the OpenAPI document and the docs pages.

use reqwest::StatusCode;

use crate::support::{expect_json, expect_problem, spawn_app};

#[tokio::test]
async fn health_ready_spec_and_docs_answer() {
    let app = spawn_app().await;
    let health = expect_json(
        app.http
            .get(app.url("/health"))
            .send()
            .await
            .expect("health"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(health["status"], "ok");
    let ready = expect_json(
        app.http.get(app.url("/ready")).send().await.expect("ready"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(ready["status"], "ready");

    let spec = expect_json(
        app.http
            .get(app.url("/openapi.json"))
            .send()
            .await
            .expect("spec"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(spec["servers"][0]["url"], "/api/v1");
    assert!(
        spec["paths"]["/contacts/{id}"]["get"]["summary"].is_string(),
        "operations are documented"
    );
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["flows"]["password"]["tokenUrl"],
        "/api/v1/auth/login"
    );

    for page in ["/docs", "/redoc"] {
        let response = app.http.get(app.url(page)).send().await.expect("docs");
        assert_eq!(response.status(), StatusCode::OK, "{page}");
    }
}

#[tokio::test]
async fn unknown_routes_and_trailing_slashes() {
    let app = spawn_app().await;
    let owner = app.sign_up("Slash").await;
    for path in ["/contacts", "/contacts/"] {
        expect_json(app.get(path, &owner).await, StatusCode::OK).await;
    }
    let missing = app
        .http
        .get(app.url("/api/v1/no-such-thing"))
        .send()
        .await
        .expect("request");
    expect_problem(missing, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn the_healthcheck_command_asks_the_running_server() {
    let app = spawn_app().await;
    let port = app.address.rsplit(':').next().expect("port").to_owned();
    // Async: the server shares this test's runtime and must keep answering.
    let run = |bind: String| async move {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_crm"))
            .arg("healthcheck")
            .env_clear()
            .env("CRM_BIND", bind)
            .status()
            .await
            .expect("run crm healthcheck")
    };
    assert!(run(format!("0.0.0.0:{port}")).await.success());
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    assert!(!run(format!("127.0.0.1:{closed}")).await.success());
}
