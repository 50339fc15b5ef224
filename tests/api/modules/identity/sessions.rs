//! Signup and its confirmation, login (JSON and OAuth2 form), refresh rotation, logout.
//! Signup with a known email: `invitations.rs` (it must answer like an unknown one).

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
async fn signup_validates_fields_and_creates_nothing_until_confirmed() {
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

    let email = "ada@signup.test";
    let token = app.request_signup("Acme", email).await;
    let owner = app.owner_sql().await;
    let count = |sql: &'static str| {
        let owner = &owner;
        async move {
            owner
                .query_one(sql, &[&email])
                .await
                .expect("count")
                .get::<_, i64>(0)
        }
    };
    let users = "SELECT count(*) FROM users WHERE email = $1";
    assert_eq!(
        count(users).await,
        0,
        "no identity before the link is followed"
    );
    expect_problem(app.log_in(email, None).await, StatusCode::UNAUTHORIZED).await;

    for forged in [
        "",
        "not-a-token",
        &format!("{}.{}", uuid::Uuid::new_v4(), "0".repeat(64)),
        &format!("{}x", token),
    ] {
        let refused = app
            .post_anonymous("/auth/signup/confirm", json!({ "token": forged }))
            .await;
        let problem = expect_problem(refused, StatusCode::UNAUTHORIZED).await;
        assert_eq!(
            problem["detail"],
            "The confirmation link is invalid, expired or already used."
        );
    }
    let confirmed = app
        .post_anonymous("/auth/signup/confirm", json!({ "token": token }))
        .await;
    let user = app
        .user_from_tokens(
            email.to_owned(),
            &expect_json(confirmed, StatusCode::CREATED).await,
        )
        .await;
    let me = expect_json(app.get("/auth/me", &user).await, StatusCode::OK).await;
    assert_eq!(
        (me["role"].as_str(), me["tenant_name"].as_str()),
        (Some("owner"), Some("Acme"))
    );
    assert_eq!(
        count("SELECT count(*) FROM users WHERE email = $1 AND email_verified_at IS NOT NULL")
            .await,
        1,
        "the owner's email is verified"
    );
    let again = app
        .post_anonymous("/auth/signup/confirm", json!({ "token": token }))
        .await;
    expect_problem(again, StatusCode::UNAUTHORIZED).await;
    assert_eq!(count(users).await, 1, "the link works once");
}

/// A confirmation link not followed in time creates nothing.
#[tokio::test]
async fn an_expired_signup_link_is_refused() {
    let app = spawn_app().await;
    let email = "late@signup.test";
    let token = app.request_signup("Late", email).await;
    app.owner_sql()
        .await
        .execute(
            "UPDATE pending_signups SET expires_at = now() - interval '1 second' WHERE email = $1",
            &[&email],
        )
        .await
        .expect("expire");
    let refused = app
        .post_anonymous("/auth/signup/confirm", json!({ "token": token }))
        .await;
    expect_problem(refused, StatusCode::UNAUTHORIZED).await;
    expect_problem(app.log_in(email, None).await, StatusCode::UNAUTHORIZED).await;
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
