//! Health, readiness, the OpenAPI document and the docs pages.

use reqwest::StatusCode;

use crate::helpers::{expect_json, expect_problem, spawn_app};

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
