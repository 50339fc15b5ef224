//! Over HTTP with real tokens: tenant B can neither see nor change tenant A's rows,
//! and A's ids answer B exactly like ids that do not exist.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, TestUser, expect_json, expect_problem, id_of, spawn_app};

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
    assert_hidden_on(
        app,
        collection,
        &[Method::GET, Method::PATCH, Method::DELETE],
        owner,
        stranger,
        object,
        patch,
    )
    .await;
}

/// [`assert_hidden`] for a collection whose id routes are only `methods`.
async fn assert_hidden_on(
    app: &TestApp,
    collection: &str,
    methods: &[Method],
    owner: &TestUser,
    stranger: &TestUser,
    object: &Value,
    patch: Value,
) {
    let id = id_of(object);
    let random = uuid::Uuid::now_v7();
    for method in methods {
        let body = (method == Method::PATCH).then(|| patch.clone());
        assert_answers_like_missing(
            app,
            method.clone(),
            &format!("{collection}/{id}"),
            &format!("{collection}/{random}"),
            stranger,
            body,
        )
        .await;
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

/// `theirs` (another tenant's object) and `missing` (a random id) both answer 404 with
/// the same body.
async fn assert_answers_like_missing(
    app: &TestApp,
    method: Method,
    theirs: &str,
    missing: &str,
    stranger: &TestUser,
    body: Option<Value>,
) {
    let theirs_response = app
        .call(method.clone(), theirs, stranger, body.clone())
        .await;
    let missing_response = app.call(method.clone(), missing, stranger, body).await;
    let theirs_problem = expect_problem(theirs_response, StatusCode::NOT_FOUND).await;
    let missing_problem = expect_problem(missing_response, StatusCode::NOT_FOUND).await;
    assert_eq!(
        theirs_problem, missing_problem,
        "{method} {theirs}: another tenant's id answers like a missing one"
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

#[tokio::test]
async fn companies_of_one_tenant_are_invisible_to_another() {
    let app = spawn_app().await;
    let a = app.sign_up("A").await;
    let b = app.sign_up("B").await;
    let company = app
        .create(
            "/companies",
            &a,
            json!({ "name": "A Corp", "domain": "a-corp.com" }),
        )
        .await;
    app.create("/companies", &b, json!({ "name": "B Corp" }))
        .await;
    assert_hidden(
        &app,
        "/companies",
        &a,
        &b,
        &company,
        json!({ "name": "Hacked" }),
    )
    .await;

    // Domains are unique per tenant: B may use A's, and learns nothing about A.
    app.create(
        "/companies",
        &b,
        json!({ "name": "Also", "domain": "a-corp.com" }),
    )
    .await;
    let searched = expect_json(app.get("/companies?q=a-corp", &b).await, StatusCode::OK).await;
    assert_eq!(searched["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(searched["items"][0]["name"], "Also");
}

#[tokio::test]
async fn deals_and_their_history_are_invisible_to_another_tenant() {
    let app = spawn_app().await;
    let a = app.sign_up("A").await;
    let b = app.sign_up("B").await;
    let deal = app
        .create(
            "/deals",
            &a,
            json!({ "title": "A's deal", "amount_minor": 100 }),
        )
        .await;
    let id = id_of(&deal);
    app.create("/deals", &b, json!({ "title": "B's deal" }))
        .await;

    assert_answers_like_missing(
        &app,
        Method::GET,
        &format!("/deals/{id}/history"),
        &format!("/deals/{}/history", uuid::Uuid::now_v7()),
        &b,
        None,
    )
    .await;
    // A stage move by B is refused like any other change.
    assert_answers_like_missing(
        &app,
        Method::PATCH,
        &format!("/deals/{id}"),
        &format!("/deals/{}", uuid::Uuid::now_v7()),
        &b,
        Some(json!({ "stage": "NEGOTIATION" })),
    )
    .await;
    assert_hidden(
        &app,
        "/deals",
        &a,
        &b,
        &deal,
        json!({ "title": "Hacked", "amount_minor": 1 }),
    )
    .await;

    let history = expect_json(
        app.get(&format!("/deals/{id}/history"), &a).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        history["items"].as_array().map(Vec::len),
        Some(1),
        "only A's creation is recorded: {history}"
    );
}

#[tokio::test]
async fn members_of_one_tenant_are_invisible_to_another() {
    let app = spawn_app().await;
    let a = app.sign_up("A").await;
    let b = app.sign_up("B").await;
    let a_admin = app.add_member(&a, "admin").await;
    let member = expect_json(
        app.get(&format!("/users/{}", a_admin.user_id), &a).await,
        StatusCode::OK,
    )
    .await;
    assert_hidden_on(
        &app,
        "/users",
        &[Method::GET, Method::PATCH],
        &a,
        &b,
        &member,
        json!({ "role": "read_only", "active": false }),
    )
    .await;

    let b_members = expect_json(app.get("/users", &b).await, StatusCode::OK).await;
    assert_eq!(
        b_members["items"].as_array().map(Vec::len),
        Some(1),
        "B sees only its owner: {b_members}"
    );
    assert!(!b_members.to_string().contains(&a.email));
    assert!(!b_members.to_string().contains(&a_admin.email));
}

#[tokio::test]
async fn the_summary_of_one_tenant_never_counts_anothers_deals() {
    let app = spawn_app().await;
    let a = app.sign_up("A").await;
    let b = app.sign_up("B").await;
    for (amount, stage) in [(1_000, "NEW"), (2_000, "NEW"), (3_000, "CLOSED_WON")] {
        app.create(
            "/deals",
            &a,
            json!({ "title": "A", "amount_minor": amount, "currency": "USD", "stage": stage }),
        )
        .await;
    }
    app.create(
        "/deals",
        &b,
        json!({ "title": "B", "amount_minor": 7, "currency": "USD" }),
    )
    .await;

    let summary = expect_json(app.get("/deals/summary", &b).await, StatusCode::OK).await;
    assert_eq!(
        summary,
        json!({ "stages": [
            { "stage": "NEW", "count": 1, "amounts": [{ "currency": "USD", "amount_minor": "7" }] },
            { "stage": "NEGOTIATION", "count": 0, "amounts": [] },
            { "stage": "CLOSED_WON", "count": 0, "amounts": [] },
            { "stage": "CLOSED_LOST", "count": 0, "amounts": [] },
        ]})
    );
    let list = expect_json(app.get("/deals", &b).await, StatusCode::OK).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    let a_summary = expect_json(app.get("/deals/summary", &a).await, StatusCode::OK).await;
    assert_eq!(a_summary["stages"][0]["count"], 2);
    assert_eq!(a_summary["stages"][0]["amounts"][0]["amount_minor"], "3000");
}

#[tokio::test]
async fn a_reference_to_another_tenants_row_fails_like_a_random_id() {
    let app = spawn_app().await;
    let a = app.sign_up("A").await;
    let b = app.sign_up("B").await;
    let a_contact = id_of(&app.create_contact(&a, "Alice").await);
    let a_company = id_of(
        &app.create("/companies", &a, json!({ "name": "A Corp" }))
            .await,
    );
    let b_contact = id_of(&app.create_contact(&b, "Bob").await);
    let b_deal = app
        .create("/deals", &b, json!({ "title": "B's deal" }))
        .await;
    let random = uuid::Uuid::now_v7().to_string();

    let attempts = [
        (
            "/contacts",
            "company_id",
            json!({ "first_name": "X", "last_name": "Y" }),
            &a_company,
        ),
        ("/deals", "company_id", json!({ "title": "X" }), &a_company),
        ("/deals", "contact_id", json!({ "title": "X" }), &a_contact),
    ];
    for (collection, field, base, theirs) in attempts {
        let mut bodies = Vec::new();
        for reference in [theirs, &random] {
            let mut body = base.clone();
            body[field] = json!(reference);
            let response = app.post(collection, &b, body).await;
            bodies.push(expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await);
        }
        assert_eq!(
            bodies[0]["errors"][0]["field"], field,
            "{collection}: {}",
            bodies[0]
        );
        assert_eq!(
            bodies[0], bodies[1],
            "POST {collection} {field}: same answer"
        );
    }

    for (path, field, theirs) in [
        (
            format!("/deals/{}", id_of(&b_deal)),
            "contact_id",
            &a_contact,
        ),
        (
            format!("/deals/{}", id_of(&b_deal)),
            "company_id",
            &a_company,
        ),
        (format!("/contacts/{b_contact}"), "company_id", &a_company),
    ] {
        let mut bodies = Vec::new();
        for reference in [theirs, &random] {
            let response = app.patch(&path, &b, json!({ field: reference })).await;
            bodies.push(expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await);
        }
        assert_eq!(
            bodies[0]["errors"][0]["field"], field,
            "{path}: {}",
            bodies[0]
        );
        assert_eq!(bodies[0], bodies[1], "PATCH {path} {field}: same answer");
    }

    let b_deals = expect_json(app.get("/deals", &b).await, StatusCode::OK).await;
    assert_eq!(
        b_deals["items"],
        json!([b_deal]),
        "nothing written or changed"
    );
    let b_contacts = expect_json(app.get("/contacts", &b).await, StatusCode::OK).await;
    assert_eq!(b_contacts["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(b_contacts["items"][0]["company_id"], Value::Null);
}
