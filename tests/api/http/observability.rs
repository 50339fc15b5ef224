//! `/metrics`, `/ready` and `/health`, request ids, security headers and CORS.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{expect_json, expect_problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn metrics_count_requests_by_route_template_and_status() {
    let app = spawn_app().await;
    let owner = app.sign_up("Metrics").await;
    let contact = app.create_contact(&owner, "Ada").await;
    let id = contact["id"].as_str().expect("id");
    expect_json(
        app.get(&format!("/contacts/{id}"), &owner).await,
        StatusCode::OK,
    )
    .await;
    let missing = uuid::Uuid::now_v7();
    expect_problem(
        app.get(&format!("/contacts/{missing}"), &owner).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_problem(app.get_raw("/no/such/page").await, StatusCode::NOT_FOUND).await;

    let response = app.get_raw("/metrics").await;
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/plain")
    );
    let text = response.text().await.expect("metrics");
    for expected in [
        r#"crm_http_requests_total{method="GET",route="/api/v1/contacts/{id}",status="200"} 1"#,
        r#"crm_http_requests_total{method="GET",route="/api/v1/contacts/{id}",status="404"} 1"#,
        r#"crm_http_requests_total{method="POST",route="/api/v1/contacts",status="201"} 1"#,
        r#"crm_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        r#"crm_http_request_duration_seconds_bucket{method="GET",route="/api/v1/contacts/{id}",status="200",le="+Inf"} 1"#,
        "crm_http_requests_in_flight 1",
        "crm_db_pool_max_size 4",
        "crm_db_pool_size ",
        "crm_db_pool_available ",
        "crm_db_pool_waiting 0",
        "crm_login_failures_total 0",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    assert!(!text.contains(id), "raw paths never become labels");
}

#[tokio::test]
async fn database_errors_are_counted_by_sqlstate_class() {
    let app = spawn_app().await;
    let owner = app.sign_up("Errors").await;
    let body = json!({ "first_name": "A", "last_name": "B", "email": "dup@example.test" });
    app.create("/contacts", &owner, body.clone()).await;
    expect_problem(
        app.post("/contacts", &owner, body).await,
        StatusCode::CONFLICT,
    )
    .await;
    let text = app.get_raw("/metrics").await.text().await.expect("metrics");
    // The counter is per process (other tests add to it): present, with class 23.
    assert!(
        text.contains(r#"crm_db_errors_total{class="23"}"#),
        "{text}"
    );
}

#[tokio::test]
async fn a_metrics_token_protects_the_endpoint() {
    let app =
        spawn_app_with(|vars| vars.push(("CRM_METRICS_TOKEN".into(), "scrape-me-7c1e".into())))
            .await;
    expect_problem(app.get_raw("/metrics").await, StatusCode::UNAUTHORIZED).await;
    let wrong = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth("nope")
        .send()
        .await
        .expect("request");
    expect_problem(wrong, StatusCode::UNAUTHORIZED).await;
    let right = app
        .http
        .get(app.url("/metrics"))
        .bearer_auth("scrape-me-7c1e")
        .send()
        .await
        .expect("request");
    assert_eq!(right.status(), StatusCode::OK);
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = spawn_app().await;
    let given = app
        .http
        .get(app.url("/health"))
        .header("x-request-id", "trace-abc-123")
        .send()
        .await
        .expect("request");
    assert_eq!(given.headers()["x-request-id"], "trace-abc-123");
    let generated = app.get_raw("/health").await;
    let id = generated.headers()["x-request-id"].to_str().expect("id");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    let hostile = app
        .http
        .get(app.url("/health"))
        .header("x-request-id", "a b")
        .send()
        .await
        .expect("request");
    assert_ne!(hostile.headers()["x-request-id"], "a b");
}

#[tokio::test]
async fn security_headers_on_every_response() {
    let app = spawn_app().await;
    let owner = app.sign_up("Headers").await;
    let responses = [
        app.get_raw("/health").await,
        app.get_raw("/no/such/page").await,
        app.get("/contacts", &owner).await,
        app.post_anonymous("/auth/login", json!({})).await,
    ];
    for response in responses {
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["content-security-policy"], "frame-ancestors 'none'");
        assert!(
            !headers.contains_key("strict-transport-security"),
            "HSTS is for production"
        );
    }
    let api = app.get("/contacts", &owner).await;
    assert_eq!(api.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let app = spawn_app_with(|vars| {
        vars.push(("CRM_CORS_ORIGINS".into(), "https://app.example.test".into()));
    })
    .await;
    let preflight = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/contacts"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let allowed = preflight("https://app.example.test")
        .await
        .expect("preflight");
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.test"
    );
    assert!(
        !allowed
            .headers()
            .contains_key("access-control-allow-credentials")
    );
    let refused = preflight("https://evil.example.test")
        .await
        .expect("preflight");
    assert!(
        !refused
            .headers()
            .contains_key("access-control-allow-origin")
    );
    assert!(refused.status().is_client_error());

    let plain = spawn_app().await;
    let response = plain
        .http
        .get(plain.url("/health"))
        .header("origin", "https://app.example.test")
        .send()
        .await
        .expect("request");
    assert!(
        !response
            .headers()
            .contains_key("access-control-allow-origin"),
        "no CORS unless configured"
    );
}

#[tokio::test]
async fn ready_fails_while_migrations_are_pending_or_the_database_is_gone() {
    let app = spawn_app().await;
    expect_json(app.get_raw("/ready").await, StatusCode::OK).await;

    let owner = app.owner_sql().await;
    owner
        .batch_execute(
            "CREATE TABLE saved_history AS SELECT * FROM refinery_schema_history \
               WHERE version = (SELECT max(version) FROM refinery_schema_history); \
             DELETE FROM refinery_schema_history WHERE version IN (SELECT version FROM saved_history)",
        )
        .await
        .expect("forget the last migration");
    let pending = expect_json(app.get_raw("/ready").await, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(pending["status"], "migrations pending");
    owner
        .batch_execute("INSERT INTO refinery_schema_history SELECT * FROM saved_history; DROP TABLE saved_history")
        .await
        .expect("restore");
    expect_json(app.get_raw("/ready").await, StatusCode::OK).await;

    let admin = crate::support::connect("postgres", "postgres", "").await;
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {db} ALLOW_CONNECTIONS false; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'",
            db = app.database
        ))
        .await
        .expect("cut the database off");
    let gone = expect_json(app.get_raw("/ready").await, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(gone["status"], "database unreachable");
    expect_json(app.get_raw("/health").await, StatusCode::OK).await;
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {} ALLOW_CONNECTIONS true",
            app.database
        ))
        .await
        .expect("reconnect");
}
