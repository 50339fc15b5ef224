//! Signup, login (JSON and OAuth2 form), refresh rotation, logout.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{PASSWORD, expect_json, expect_problem, spawn_app};

#[tokio::test]
async fn signup_creates_a_tenant_whose_owner_can_log_in_both_ways() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let me = expect_json(app.get("/auth/me", &owner).await, StatusCode::OK).await;
    assert_eq!(me["role"], "owner");
    assert_eq!(me["tenant_name"], "Acme");

    let json_login = app
        .post_anonymous(
            "/auth/login",
            json!({ "email": owner.email, "password": PASSWORD }),
        )
        .await;
    let tokens = expect_json(json_login, StatusCode::OK).await;
    assert_eq!(tokens["token_type"], "bearer");
    assert_eq!(tokens["expires_in"], 900);

    let form_login = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .form(&[
            ("grant_type", "password"),
            ("username", owner.email.as_str()),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .expect("request");
    let tokens = expect_json(form_login, StatusCode::OK).await;
    let again = app.user_from_tokens(owner.email.clone(), &tokens).await;
    assert_eq!(again.tenant_id, owner.tenant_id);
}

#[tokio::test]
async fn unknown_email_and_wrong_password_answer_alike() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let wrong_password = app
        .post_anonymous(
            "/auth/login",
            json!({ "email": owner.email, "password": "wrong password!" }),
        )
        .await;
    let unknown_email = app
        .post_anonymous(
            "/auth/login",
            json!({ "email": "nobody@example.test", "password": PASSWORD }),
        )
        .await;
    let a = expect_problem(wrong_password, StatusCode::UNAUTHORIZED).await;
    let b = expect_problem(unknown_email, StatusCode::UNAUTHORIZED).await;
    assert_eq!(a, b);
}

#[tokio::test]
async fn signup_validates_fields_and_refuses_a_taken_email() {
    let app = spawn_app().await;
    let bad = app
        .post_anonymous(
            "/auth/signup",
            json!({ "tenant_name": "", "email": "nope", "password": "short", "full_name": "X" }),
        )
        .await;
    let problem = expect_problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["email", "password", "tenant_name"]);

    let owner = app.sign_up("Acme").await;
    let taken = app
        .post_anonymous(
            "/auth/signup",
            json!({ "tenant_name": "Other", "email": owner.email.to_uppercase(), "password": PASSWORD, "full_name": "Y" }),
        )
        .await;
    let problem = expect_problem(taken, StatusCode::CONFLICT).await;
    assert!(
        !problem.to_string().contains("users_email_key"),
        "no constraint names leak: {problem}"
    );
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;

    let first = app
        .post_anonymous(
            "/auth/refresh",
            json!({ "refresh_token": owner.refresh_token }),
        )
        .await;
    let first = expect_json(first, StatusCode::OK).await;
    let rotated = first["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned();
    assert_ne!(rotated, owner.refresh_token);
    let refreshed = app.user_from_tokens(owner.email.clone(), &first).await;
    assert_eq!(
        (refreshed.tenant_id, refreshed.user_id),
        (owner.tenant_id, owner.user_id)
    );

    // The old token again: refused, and the whole family with it.
    let replay = app
        .post_anonymous(
            "/auth/refresh",
            json!({ "refresh_token": owner.refresh_token }),
        )
        .await;
    expect_problem(replay, StatusCode::UNAUTHORIZED).await;
    let after_replay = app
        .post_anonymous("/auth/refresh", json!({ "refresh_token": rotated }))
        .await;
    expect_problem(after_replay, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn logout_revokes_the_refresh_token() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let response = app
        .post(
            "/auth/logout",
            &owner,
            json!({ "refresh_token": owner.refresh_token }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let refresh = app
        .post_anonymous(
            "/auth/refresh",
            json!({ "refresh_token": owner.refresh_token }),
        )
        .await;
    expect_problem(refresh, StatusCode::UNAUTHORIZED).await;
}
