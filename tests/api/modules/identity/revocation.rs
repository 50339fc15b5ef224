//! Revocation takes effect on the next request: every request reads the caller's
//! membership (active, role) and session in its first flight, and the policies read the
//! role from the membership. Each test replays a step of the outside review's sequence 3
//! with a token issued before the revocation (it used to work for its whole lifetime).

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{TestApp, TestUser, expect_json, expect_problem, spawn_app};

async fn set_member(app: &TestApp, by: &TestUser, who: &TestUser, change: serde_json::Value) {
    expect_json(
        app.patch(&format!("/users/{}", who.user_id), by, change)
            .await,
        StatusCode::OK,
    )
    .await;
}

async fn role_of(app: &TestApp, by: &TestUser, who: &TestUser) -> String {
    let member = expect_json(
        app.get(&format!("/users/{}", who.user_id), by).await,
        StatusCode::OK,
    )
    .await;
    member["role"].as_str().expect("role").to_owned()
}

#[tokio::test]
async fn a_deactivated_member_cannot_reactivate_themselves_or_do_anything() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let admin = app.add_member(&owner, "admin").await;
    set_member(&app, &owner, &admin, json!({ "active": false })).await;

    let undo = app
        .patch(
            &format!("/users/{}", admin.user_id),
            &admin,
            json!({ "active": true }),
        )
        .await;
    expect_problem(undo, StatusCode::UNAUTHORIZED).await;
    expect_problem(app.get("/contacts", &admin).await, StatusCode::UNAUTHORIZED).await;
    expect_problem(
        app.post(
            "/contacts",
            &admin,
            json!({ "first_name": "A", "last_name": "B" }),
        )
        .await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    expect_problem(
        app.log_in(&admin.email, None).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let member = expect_json(
        app.get(&format!("/users/{}", admin.user_id), &owner).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(member["active"], false, "the revocation stands");
}

#[tokio::test]
async fn a_demoted_admin_cannot_promote_themselves_back() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let admin = app.add_member(&owner, "admin").await;
    let victim = app.add_member(&owner, "member").await;
    set_member(&app, &owner, &admin, json!({ "role": "member" })).await;

    let back = app
        .patch(
            &format!("/users/{}", admin.user_id),
            &admin,
            json!({ "role": "admin" }),
        )
        .await;
    expect_problem(back, StatusCode::FORBIDDEN).await;
    let other = app
        .patch(
            &format!("/users/{}", victim.user_id),
            &admin,
            json!({ "active": false }),
        )
        .await;
    expect_problem(other, StatusCode::FORBIDDEN).await;
    assert_eq!(role_of(&app, &owner, &admin).await, "member");
    let victim_now = expect_json(
        app.get(&format!("/users/{}", victim.user_id), &owner).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(victim_now["active"], true);
}

#[tokio::test]
async fn a_demoted_owner_cannot_promote_themselves_nor_remove_the_other_owner() {
    let app = spawn_app().await;
    let first = app.sign_up("Acme").await;
    let second = app.add_member(&first, "owner").await;
    set_member(&app, &first, &second, json!({ "role": "admin" })).await;

    let back = app
        .patch(
            &format!("/users/{}", second.user_id),
            &second,
            json!({ "role": "owner" }),
        )
        .await;
    expect_problem(back, StatusCode::FORBIDDEN).await;
    let coup = app
        .patch(
            &format!("/users/{}", first.user_id),
            &second,
            json!({ "active": false }),
        )
        .await;
    expect_problem(coup, StatusCode::FORBIDDEN).await;
    assert_eq!(role_of(&app, &first, &second).await, "admin");
    assert_eq!(role_of(&app, &first, &first).await, "owner");
}

#[tokio::test]
async fn a_member_made_read_only_cannot_write_with_an_older_token() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let member = app.add_member(&owner, "member").await;
    set_member(&app, &owner, &member, json!({ "role": "read_only" })).await;

    let write = app
        .post(
            "/contacts",
            &member,
            json!({ "first_name": "A", "last_name": "B" }),
        )
        .await;
    expect_problem(write, StatusCode::FORBIDDEN).await;
    let list = expect_json(app.get("/contacts", &owner).await, StatusCode::OK).await;
    assert_eq!(
        list["items"].as_array().map(Vec::len),
        Some(0),
        "nothing written"
    );
    expect_json(app.get("/contacts", &member).await, StatusCode::OK).await;
}

#[tokio::test]
async fn logout_ends_the_access_token_at_once() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let second_login = expect_json(app.log_in(&owner.email, None).await, StatusCode::OK).await;
    let other_session = app
        .user_from_tokens(owner.email.clone(), &second_login)
        .await;

    let logout = app
        .post(
            "/auth/logout",
            &owner,
            json!({ "refresh_token": owner.refresh_token }),
        )
        .await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    expect_problem(app.get("/contacts", &owner).await, StatusCode::UNAUTHORIZED).await;
    // Another session of the same person is untouched.
    expect_json(app.get("/contacts", &other_session).await, StatusCode::OK).await;
}

/// Finding 6: `bearer` in lower case is the same caller everywhere: the per-user and
/// per-tenant buckets count it (not the per-IP one), and the request log names it.
#[tokio::test]
async fn a_lower_case_bearer_is_limited_as_the_user() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let response = app
        .http
        .get(app.url("/api/v1/contacts"))
        .header("authorization", format!("bearer {}", owner.token))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let policies = response
        .headers()
        .get("ratelimit-policy")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        policies.contains("\"user\"")
            && policies.contains("\"tenant\"")
            && !policies.contains("\"ip\""),
        "{policies}"
    );
}
