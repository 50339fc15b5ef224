//! Companies over HTTP: CRUD, validation, unique domains, search and what deleting one
//! does to its contacts and deals.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{expect_json, expect_problem, id_of, spawn_app};

fn field_names(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect()
}

#[tokio::test]
async fn company_crud() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let created = app
        .create(
            "/companies",
            &owner,
            json!({ "name": " Initech ", "domain": " Initech.COM ", "phone": "+1 555", "address": "1 Main St" }),
        )
        .await;
    assert_eq!(created["name"], "Initech", "trimmed");
    assert_eq!(created["domain"], "initech.com", "lower-cased");
    assert_eq!(created["description"], Value::Null);
    let id = id_of(&created);

    let fetched = expect_json(
        app.get(&format!("/companies/{id}"), &owner).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(fetched, created);

    let patched = app
        .patch(
            &format!("/companies/{id}"),
            &owner,
            json!({ "name": "Initrode", "phone": null, "description": "Merged" }),
        )
        .await;
    let patched = expect_json(patched, StatusCode::OK).await;
    assert_eq!(patched["name"], "Initrode");
    assert_eq!(patched["phone"], Value::Null, "null clears");
    assert_eq!(patched["description"], "Merged");
    assert_eq!(patched["domain"], "initech.com", "absent fields stay");
    assert_eq!(patched["address"], "1 Main St");
    assert_eq!(patched["created_at"], created["created_at"]);
    let fetched = expect_json(
        app.get(&format!("/companies/{id}"), &owner).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(fetched, patched, "the change is stored");

    let list = expect_json(app.get("/companies", &owner).await, StatusCode::OK).await;
    assert_eq!(list["items"], json!([patched]));

    assert_eq!(
        app.delete(&format!("/companies/{id}"), &owner)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    for response in [
        app.get(&format!("/companies/{id}"), &owner).await,
        app.delete(&format!("/companies/{id}"), &owner).await,
        app.patch(
            &format!("/companies/{id}"),
            &owner,
            json!({ "name": "Ghost" }),
        )
        .await,
    ] {
        expect_problem(response, StatusCode::NOT_FOUND).await;
    }
}

#[tokio::test]
async fn invalid_companies_are_refused_naming_every_field() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;

    let invalid = app
        .post(
            "/companies",
            &owner,
            json!({ "name": "  ", "domain": "not a domain", "phone": "1".repeat(51), "address": "a".repeat(501) }),
        )
        .await;
    let problem = expect_problem(invalid, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        field_names(&problem),
        ["address", "domain", "name", "phone"]
    );

    let company = app
        .create("/companies", &owner, json!({ "name": "Valid" }))
        .await;
    let bad_patch = app
        .patch(
            &format!("/companies/{}", id_of(&company)),
            &owner,
            json!({ "name": "", "domain": "https://x.com" }),
        )
        .await;
    let problem = expect_problem(bad_patch, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(field_names(&problem), ["domain", "name"]);

    let missing_name = app
        .post("/companies", &owner, json!({ "domain": "a.com" }))
        .await;
    let problem = expect_problem(missing_name, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(field_names(&problem), ["name"]);

    let list = expect_json(app.get("/companies", &owner).await, StatusCode::OK).await;
    assert_eq!(
        list["items"],
        json!([company]),
        "nothing else was written or changed"
    );
}

#[tokio::test]
async fn a_domain_is_unique_within_the_tenant_and_the_conflict_leaks_nothing() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    app.create(
        "/companies",
        &owner,
        json!({ "name": "First", "domain": "shared.com" }),
    )
    .await;
    let second = app
        .create(
            "/companies",
            &owner,
            json!({ "name": "Second", "domain": "second.com" }),
        )
        .await;

    let duplicate = app
        .post(
            "/companies",
            &owner,
            json!({ "name": "Copy", "domain": "SHARED.com" }),
        )
        .await;
    let problem = expect_problem(duplicate, StatusCode::CONFLICT).await;
    let text = problem.to_string();
    assert!(
        !text.contains("companies_") && !text.contains("_key") && !text.contains("lower("),
        "no constraint or index names: {problem}"
    );

    let renamed = app
        .patch(
            &format!("/companies/{}", id_of(&second)),
            &owner,
            json!({ "domain": "shared.com", "name": "Renamed" }),
        )
        .await;
    expect_problem(renamed, StatusCode::CONFLICT).await;
    let unchanged = expect_json(
        app.get(&format!("/companies/{}", id_of(&second)), &owner)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(unchanged, second, "the refused patch changed nothing");
    let list = expect_json(app.get("/companies", &owner).await, StatusCode::OK).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(2));

    // Companies without a domain never collide.
    for name in ["No domain 1", "No domain 2"] {
        app.create("/companies", &owner, json!({ "name": name }))
            .await;
    }
}

#[tokio::test]
async fn deleting_a_company_keeps_its_contacts_and_deals_without_the_link() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let company = app
        .create("/companies", &owner, json!({ "name": "Doomed" }))
        .await;
    let survivor = app
        .create("/companies", &owner, json!({ "name": "Survivor" }))
        .await;
    let company_id = id_of(&company);
    let contact = app
        .create(
            "/contacts",
            &owner,
            json!({ "first_name": "Ada", "last_name": "Worker", "company_id": company_id }),
        )
        .await;
    let other_contact = app
        .create(
            "/contacts",
            &owner,
            json!({ "first_name": "Bob", "last_name": "Elsewhere", "company_id": id_of(&survivor) }),
        )
        .await;
    let deal = app
        .create(
            "/deals",
            &owner,
            json!({ "title": "Big one", "company_id": company_id, "contact_id": id_of(&contact), "amount_minor": 500 }),
        )
        .await;
    assert_eq!(contact["company_id"], company_id.as_str());
    assert_eq!(deal["company_id"], company_id.as_str());

    assert_eq!(
        app.delete(&format!("/companies/{company_id}"), &owner)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );

    let contact_after = expect_json(
        app.get(&format!("/contacts/{}", id_of(&contact)), &owner)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(contact_after["company_id"], Value::Null, "link cleared");
    assert_eq!(contact_after["last_name"], "Worker", "the contact is kept");
    let deal_after = expect_json(
        app.get(&format!("/deals/{}", id_of(&deal)), &owner).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(deal_after["company_id"], Value::Null, "link cleared");
    assert_eq!(deal_after["contact_id"], contact["id"], "other links stay");
    assert_eq!(deal_after["amount_minor"], 500);
    let other_after = expect_json(
        app.get(&format!("/contacts/{}", id_of(&other_contact)), &owner)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        other_after, other_contact,
        "another company's contact is untouched"
    );
}

#[tokio::test]
async fn companies_are_searched_by_name_or_domain_and_paged_by_name() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let names = [
        "delta", "Alpha", "charlie", "Echo", "bravo", "Foxtrot", "golf",
    ];
    for (i, name) in names.iter().enumerate() {
        app.create(
            "/companies",
            &owner,
            json!({ "name": name, "domain": format!("site{i}.example.com") }),
        )
        .await;
    }
    let names_in = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|c| c["name"].as_str().expect("name").to_owned())
            .collect()
    };

    let by_name = expect_json(app.get("/companies?q=ALPH", &owner).await, StatusCode::OK).await;
    assert_eq!(names_in(&by_name), ["Alpha"]);
    let by_domain = expect_json(app.get("/companies?q=site4.", &owner).await, StatusCode::OK).await;
    assert_eq!(names_in(&by_domain), ["bravo"]);
    let wildcard = expect_json(
        app.get("/companies?q=site%25", &owner).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(names_in(&wildcard), Vec::<String>::new());

    for (sort, expected) in [
        (
            "name",
            [
                "Alpha", "bravo", "charlie", "delta", "Echo", "Foxtrot", "golf",
            ],
        ),
        (
            "-name",
            [
                "golf", "Foxtrot", "Echo", "delta", "charlie", "bravo", "Alpha",
            ],
        ),
    ] {
        let mut seen = Vec::new();
        let mut path = format!("/companies?sort={sort}&limit=3");
        loop {
            let page = expect_json(app.get(&path, &owner).await, StatusCode::OK).await;
            seen.extend(names_in(&page));
            match page["next_cursor"].as_str() {
                Some(next) => path = format!("/companies?sort={sort}&limit=3&cursor={next}"),
                None => break,
            }
        }
        assert_eq!(seen, expected, "{sort}");
    }
}
