//! Forged, expired and malformed tokens are refused with 401 before any database work.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{JWT_SECRET, TestApp, expect_json, expect_problem, spawn_app};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims(tenant: &str, user: &str, session: &str) -> Value {
    json!({
        "sub": user, "tid": tenant, "role": "owner", "sid": session, "iss": "crm",
        "aud": "crm-api", "iat": now(), "nbf": now(), "exp": now() + 600,
    })
}

/// The session (`sid`) of a token the server issued.
fn session_of(token: &str) -> String {
    let payload = token.split('.').nth(1).expect("a JWT");
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("json");
    claims["sid"].as_str().expect("sid").to_owned()
}

fn sign(claims: &Value, algorithm: Algorithm, secret: &str) -> String {
    encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign")
}

async fn contacts_with(app: &TestApp, token: &str) -> reqwest::Response {
    app.http
        .get(app.url("/api/v1/contacts"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn only_well_formed_current_tokens_signed_with_our_key_are_accepted() {
    let app = spawn_app().await;
    let owner = app.sign_up("Tokens").await;
    let (tenant, user) = (owner.tenant_id.to_string(), owner.user_id.to_string());
    let valid = claims(&tenant, &user, &session_of(&owner.token));

    // The control: a token we mint with the right key works, so the refusals below
    // are about what is wrong with each token, not about the harness.
    expect_json(
        contacts_with(&app, &sign(&valid, Algorithm::HS256, JWT_SECRET)).await,
        StatusCode::OK,
    )
    .await;

    let with = |field: &str, value: Value| {
        let mut claims = valid.clone();
        claims[field] = value;
        claims
    };
    let without = |field: &str| {
        let mut claims = valid.clone();
        claims.as_object_mut().expect("object").remove(field);
        claims
    };
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(valid.to_string())
    );
    let forged: Vec<(&str, String)> = vec![
        ("garbage", "not-a-jwt".to_owned()),
        ("alg none", unsigned),
        (
            "wrong key",
            sign(
                &valid,
                Algorithm::HS256,
                "another-secret-of-sufficient-length-0000",
            ),
        ),
        (
            "other algorithm",
            sign(&valid, Algorithm::HS384, JWT_SECRET),
        ),
        (
            "expired",
            sign(
                &with("exp", json!(now() - 3600)),
                Algorithm::HS256,
                JWT_SECRET,
            ),
        ),
        (
            "not yet valid",
            sign(
                &with("nbf", json!(now() + 3600)),
                Algorithm::HS256,
                JWT_SECRET,
            ),
        ),
        (
            "wrong issuer",
            sign(&with("iss", json!("evil")), Algorithm::HS256, JWT_SECRET),
        ),
        (
            "wrong audience",
            sign(
                &with("aud", json!("other-api")),
                Algorithm::HS256,
                JWT_SECRET,
            ),
        ),
        (
            "no tenant",
            sign(&without("tid"), Algorithm::HS256, JWT_SECRET),
        ),
        (
            "malformed tenant",
            sign(
                &with("tid", json!("' OR 1=1 --")),
                Algorithm::HS256,
                JWT_SECRET,
            ),
        ),
        (
            "no user",
            sign(&without("sub"), Algorithm::HS256, JWT_SECRET),
        ),
        (
            "unknown role",
            sign(
                &with("role", json!("superuser")),
                Algorithm::HS256,
                JWT_SECRET,
            ),
        ),
        (
            "no expiry",
            sign(&without("exp"), Algorithm::HS256, JWT_SECRET),
        ),
    ];
    for (what, token) in forged {
        let response = contacts_with(&app, &token).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
        expect_problem(response, StatusCode::UNAUTHORIZED).await;
    }

    let missing = app
        .http
        .get(app.url("/api/v1/contacts"))
        .send()
        .await
        .expect("request");
    expect_problem(missing, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn a_valid_token_for_a_tenant_id_that_is_not_yours_sees_nothing_of_others() {
    let app = spawn_app().await;
    let owner = app.sign_up("Victim").await;
    app.create_contact(&owner, "Secret").await;
    // Even signed with our key: no membership there, so the first flight refuses it.
    let stranger = claims(
        &uuid::Uuid::now_v7().to_string(),
        &owner.user_id.to_string(),
        &session_of(&owner.token),
    );
    expect_problem(
        contacts_with(&app, &sign(&stranger, Algorithm::HS256, JWT_SECRET)).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}
