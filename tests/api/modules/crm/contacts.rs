//! Contacts over HTTP: CRUD, validation, search and keyset pagination.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{error_fields, expect_json, expect_problem, id_of, spawn_app};

#[tokio::test]
async fn contact_crud() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let created = app
        .create("/contacts", &owner, json!({ "first_name": " Ada ", "last_name": "Lovelace", "email": "Ada@Example.com", "phone": "+44 1" }))
        .await;
    assert_eq!(created["first_name"], "Ada", "trimmed");
    assert_eq!(created["email"], "ada@example.com", "lower-cased");
    let id = id_of(&created);

    let fetched = expect_json(
        app.get(&format!("/contacts/{id}"), &owner).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(fetched, created);

    let patched = app
        .patch(
            &format!("/contacts/{id}"),
            &owner,
            json!({ "last_name": "King", "phone": null }),
        )
        .await;
    let patched = expect_json(patched, StatusCode::OK).await;
    assert_eq!(patched["last_name"], "King");
    assert_eq!(patched["first_name"], "Ada", "absent fields stay");
    assert_eq!(patched["phone"], Value::Null, "null clears");
    assert_eq!(patched["email"], "ada@example.com");

    assert_eq!(
        app.delete(&format!("/contacts/{id}"), &owner)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    expect_problem(
        app.get(&format!("/contacts/{id}"), &owner).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_problem(
        app.delete(&format!("/contacts/{id}"), &owner).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn a_contact_keeps_its_locale_in_canonical_case_until_cleared() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let created = app
        .create(
            "/contacts",
            &owner,
            json!({ "first_name": "Ada", "last_name": "Lovelace", "locale": "de_ch" }),
        )
        .await;
    assert_eq!(created["locale"], "de-CH");
    let path = format!("/contacts/{}", id_of(&created));
    for refused in ["german", "de-CHE", "d"] {
        let problem = expect_problem(
            app.patch(&path, &owner, json!({ "locale": refused })).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(error_fields(&problem), ["locale"], "{refused}: {problem}");
    }
    let kept = expect_json(app.get(&path, &owner).await, StatusCode::OK).await;
    assert_eq!(kept["locale"], "de-CH", "a refused change writes nothing");
    let cleared = expect_json(
        app.patch(&path, &owner, json!({ "locale": null })).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(cleared.get("locale"), None, "null: the tenant's again");
}

#[tokio::test]
async fn bad_input_is_a_clear_4xx_and_writes_nothing() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;

    let invalid = app
        .post(
            "/contacts",
            &owner,
            json!({ "first_name": "", "last_name": "x".repeat(101), "email": "no" }),
        )
        .await;
    let problem = expect_problem(invalid, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["email", "first_name", "last_name"]);

    let malformed = app
        .http
        .post(app.url("/api/v1/contacts"))
        .bearer_auth(&owner.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("request");
    expect_problem(malformed, StatusCode::BAD_REQUEST).await;
    expect_problem(
        app.get("/contacts/not-a-uuid", &owner).await,
        StatusCode::BAD_REQUEST,
    )
    .await;

    let unknown_company = app
        .post(
            "/contacts",
            &owner,
            json!({ "first_name": "A", "last_name": "B", "company_id": uuid::Uuid::now_v7() }),
        )
        .await;
    let problem = expect_problem(unknown_company, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], "company_id");

    app.create(
        "/contacts",
        &owner,
        json!({ "first_name": "A", "last_name": "B", "email": "dup@example.com" }),
    )
    .await;
    let duplicate = app
        .post(
            "/contacts",
            &owner,
            json!({ "first_name": "C", "last_name": "D", "email": "DUP@example.com" }),
        )
        .await;
    let problem = expect_problem(duplicate, StatusCode::CONFLICT).await;
    assert!(
        !problem.to_string().contains("contacts_"),
        "no constraint names: {problem}"
    );

    let list = expect_json(app.get("/contacts", &owner).await, StatusCode::OK).await;
    assert_eq!(
        list["items"].as_array().map(Vec::len),
        Some(1),
        "only the one valid contact was written"
    );
}

#[tokio::test]
async fn mass_assignment_of_tenant_and_id_is_ignored() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let other = app.sign_up("Other").await;
    let forced_id = uuid::Uuid::now_v7();
    let created = app
        .create(
            "/contacts",
            &owner,
            json!({ "first_name": "A", "last_name": "B", "tenant_id": other.tenant_id, "id": forced_id, "created_at": "2000-01-01T00:00:00Z" }),
        )
        .await;
    assert_ne!(id_of(&created), forced_id.to_string());
    assert!(
        !created["created_at"]
            .as_str()
            .expect("created_at")
            .starts_with("2000")
    );
    let theirs = expect_json(app.get("/contacts", &other).await, StatusCode::OK).await;
    assert_eq!(theirs["items"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn keyset_pagination_walks_every_row_once_in_each_sort_order() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    for i in 0..23 {
        app.create("/contacts", &owner, json!({ "first_name": format!("P{i}"), "last_name": format!("Name{:02}", (i * 7) % 23) }))
            .await;
    }
    for sort in ["created_at", "-created_at", "last_name", "-last_name"] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/contacts?limit=5&sort={sort}");
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let page = expect_json(app.get(&path, &owner).await, StatusCode::OK).await;
            seen.extend(
                page["items"]
                    .as_array()
                    .expect("items")
                    .iter()
                    .map(|c| c["last_name"].as_str().expect("name").to_owned()),
            );
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen.len(), 23, "{sort}");
        if sort.ends_with("last_name") {
            let mut sorted = seen.clone();
            sorted.sort();
            if sort.starts_with('-') {
                sorted.reverse();
            }
            assert_eq!(seen, sorted, "{sort}");
        }
    }
}

#[tokio::test]
async fn search_treats_wildcards_literally_and_limits_are_checked() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    app.create(
        "/contacts",
        &owner,
        json!({ "first_name": "Grace", "last_name": "Hopper", "email": "grace@navy.mil" }),
    )
    .await;
    app.create(
        "/contacts",
        &owner,
        json!({ "first_name": "Alan", "last_name": "Turing", "phone": "100%_sure" }),
    )
    .await;

    let found = |body: Value| {
        body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|c| c["last_name"].clone())
            .collect::<Vec<_>>()
    };
    let by_mail = expect_json(app.get("/contacts?q=NAVY", &owner).await, StatusCode::OK).await;
    assert_eq!(found(by_mail), [json!("Hopper")]);
    let percent = expect_json(app.get("/contacts?q=100%25", &owner).await, StatusCode::OK).await;
    assert_eq!(
        found(percent),
        [json!("Turing")],
        "% matches only a literal %"
    );
    let underscore = expect_json(
        app.get("/contacts?q=%25_sure", &owner).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        found(underscore),
        [json!("Turing")],
        "_ matches only a literal _"
    );

    for bad in [
        "/contacts?limit=0",
        "/contacts?limit=201",
        "/contacts?limit=-5",
        "/contacts?sort=bogus",
    ] {
        expect_problem(app.get(bad, &owner).await, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    for bad in [
        "/contacts?cursor=garbage",
        "/contacts?cursor=eyJzb3J0IjoiLWNyZWF0ZWRfYXQiLCJrZXkiOiJ4IiwiaWQiOiIwMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDAifQ",
    ] {
        expect_problem(app.get(bad, &owner).await, StatusCode::BAD_REQUEST).await;
    }
}
