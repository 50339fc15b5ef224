//! Over HTTP with real tokens: tenant B can neither see nor change tenant A's rows,
//! and A's ids answer B exactly like ids that do not exist.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, expect_json, expect_problem, id_of, spawn_app};

/// Calls every id route of `collection` with B's token on A's object and on a random
/// id; both answer 404 with the same body, and A's object is unchanged.
async fn assert_hidden(
    app: &TestApp,
    collection: &str,
    owner: &TestUser,
    stranger: &TestUser,
    object: &Value,
    patch: Value,
) {
    let id = id_of(object);
    let random = uuid::Uuid::now_v7();
    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(patch)),
        (Method::DELETE, None),
    ] {
        let theirs = app
            .call(
                method.clone(),
                &format!("{collection}/{id}"),
                stranger,
                body.clone(),
            )
            .await;
        let missing = app
            .call(
                method.clone(),
                &format!("{collection}/{random}"),
                stranger,
                body,
            )
            .await;
        let theirs = expect_problem(theirs, StatusCode::NOT_FOUND).await;
        let missing = expect_problem(missing, StatusCode::NOT_FOUND).await;
        assert_eq!(
            theirs, missing,
            "{method} {collection}: another tenant's id answers like a missing one"
        );
    }
    let unchanged = expect_json(
        app.get(&format!("{collection}/{id}"), owner).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(&unchanged, object, "{collection}: A's object is unchanged");

    let list = expect_json(app.get(collection, stranger).await, StatusCode::OK).await;
    assert!(
        !list.to_string().contains(&id),
        "{collection}: B's list never shows A's id"
    );
}

#[tokio::test]
async fn contacts_of_one_tenant_are_invisible_to_another() {
    let app = spawn_app().await;
    let a = app.sign_up("A").await;
    let b = app.sign_up("B").await;
    let contact = app.create_contact(&a, "Alice").await;
    app.create_contact(&b, "Bob").await;
    assert_hidden(
        &app,
        "/contacts",
        &a,
        &b,
        &contact,
        json!({ "first_name": "Hacked" }),
    )
    .await;

    let a_list = expect_json(app.get("/contacts", &a).await, StatusCode::OK).await;
    assert_eq!(a_list["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn the_tenant_cannot_be_chosen_by_header_query_or_body() {
    let app = spawn_app().await;
    let a = app.sign_up("A").await;
    let b = app.sign_up("B").await;
    app.create_contact(&a, "Alice").await;
    let response = app
        .http
        .get(app.url(&format!("/api/v1/contacts?tenant_id={}", a.tenant_id)))
        .bearer_auth(&b.token)
        .header("X-Tenant-Id", a.tenant_id.to_string())
        .send()
        .await
        .expect("request");
    let list = expect_json(response, StatusCode::OK).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn same_email_in_two_tenants_is_no_conflict() {
    let app = spawn_app().await;
    let a = app.sign_up("A").await;
    let b = app.sign_up("B").await;
    let body = json!({ "first_name": "Same", "last_name": "Person", "email": "same@example.com" });
    app.create("/contacts", &a, body.clone()).await;
    app.create("/contacts", &b, body).await;
}
