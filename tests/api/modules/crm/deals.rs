//! Deals over HTTP: CRUD, the stage pipeline and its history, the summary, filters and
//! keyset pagination by amount.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, TestUser, expect_json, expect_problem, id_of, spawn_app};

async fn get_deal(app: &TestApp, user: &TestUser, id: &str) -> Value {
    expect_json(app.get(&format!("/deals/{id}"), user).await, StatusCode::OK).await
}

async fn history(app: &TestApp, user: &TestUser, id: &str) -> Vec<Value> {
    let body = expect_json(
        app.get(&format!("/deals/{id}/history"), user).await,
        StatusCode::OK,
    )
    .await;
    body["items"].as_array().expect("items").clone()
}

async fn move_to(app: &TestApp, user: &TestUser, id: &str, stage: &str) -> Value {
    let response = app
        .patch(&format!("/deals/{id}"), user, json!({ "stage": stage }))
        .await;
    expect_json(response, StatusCode::OK).await
}

fn titles(page: &Value) -> BTreeSet<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|d| d["title"].as_str().expect("title").to_owned())
        .collect()
}

#[tokio::test]
async fn deal_crud_with_a_contact_and_company_of_the_same_tenant() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let contact = app.create_contact(&owner, "Ada").await;
    let company = app
        .create("/companies", &owner, json!({ "name": "Initech" }))
        .await;

    let created = app
        .create(
            "/deals",
            &owner,
            json!({
                "title": " Renewal ", "contact_id": id_of(&contact), "company_id": id_of(&company),
                "amount_minor": 125_000, "currency": "eur", "expected_close_date": "2030-06-30",
                "description": "Three seats"
            }),
        )
        .await;
    assert_eq!(created["title"], "Renewal");
    assert_eq!(created["contact_id"], contact["id"]);
    assert_eq!(created["company_id"], company["id"]);
    assert_eq!(created["amount_minor"], 125_000);
    assert_eq!(created["currency"], "EUR");
    assert_eq!(created["stage"], "NEW", "deals start in NEW");
    assert_eq!(created["expected_close_date"], "2030-06-30");
    let id = id_of(&created);
    assert_eq!(get_deal(&app, &owner, &id).await, created);

    let defaults = app
        .create("/deals", &owner, json!({ "title": "Bare" }))
        .await;
    assert_eq!(
        (
            &defaults["amount_minor"],
            &defaults["currency"],
            &defaults["stage"],
            &defaults["contact_id"]
        ),
        (&json!(0), &json!("USD"), &json!("NEW"), &Value::Null)
    );

    let patched = app
        .patch(
            &format!("/deals/{id}"),
            &owner,
            json!({ "title": "Renewal 2030", "contact_id": null, "amount_minor": 99, "description": null }),
        )
        .await;
    let patched = expect_json(patched, StatusCode::OK).await;
    assert_eq!(patched["title"], "Renewal 2030");
    assert_eq!(patched["contact_id"], Value::Null, "null clears");
    assert_eq!(patched["company_id"], company["id"], "absent fields stay");
    assert_eq!(patched["amount_minor"], 99);
    assert_eq!(patched["currency"], "EUR");
    assert_eq!(patched["description"], Value::Null);
    assert_eq!(get_deal(&app, &owner, &id).await, patched, "stored");

    assert_eq!(
        app.delete(&format!("/deals/{id}"), &owner).await.status(),
        StatusCode::NO_CONTENT
    );
    for path in [format!("/deals/{id}"), format!("/deals/{id}/history")] {
        expect_problem(app.get(&path, &owner).await, StatusCode::NOT_FOUND).await;
    }
    expect_problem(
        app.delete(&format!("/deals/{id}"), &owner).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let rest = expect_json(app.get("/deals", &owner).await, StatusCode::OK).await;
    assert_eq!(titles(&rest), BTreeSet::from(["Bare".to_owned()]));
    let company_after = expect_json(
        app.get(&format!("/companies/{}", id_of(&company)), &owner)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(company_after, company, "deleting a deal keeps its company");
}

#[tokio::test]
async fn invalid_deals_are_refused_naming_every_field() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;

    let invalid = app
        .post(
            "/deals",
            &owner,
            json!({ "title": "", "amount_minor": -1, "currency": "EURO" }),
        )
        .await;
    let problem = expect_problem(invalid, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["amount_minor", "currency", "title"]);

    for (field, body) in [
        (
            "contact_id",
            json!({ "title": "T", "contact_id": uuid::Uuid::now_v7() }),
        ),
        (
            "company_id",
            json!({ "title": "T", "company_id": uuid::Uuid::now_v7() }),
        ),
    ] {
        let problem = expect_problem(
            app.post("/deals", &owner, body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }

    // Values outside an enum are refused naming the field, in bodies and in queries.
    for (response, field) in [
        (
            app.post("/deals", &owner, json!({ "title": "T", "stage": "WON" }))
                .await,
            "stage",
        ),
        (app.get("/deals?stage=won", &owner).await, "stage"),
        (app.get("/deals?sort=title", &owner).await, "sort"),
    ] {
        let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }

    let deal = app
        .create("/deals", &owner, json!({ "title": "Valid" }))
        .await;
    let bad_patch = app
        .patch(
            &format!("/deals/{}", id_of(&deal)),
            &owner,
            json!({ "amount_minor": -5, "currency": "12" }),
        )
        .await;
    let problem = expect_problem(bad_patch, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], "amount_minor");
    assert_eq!(problem["errors"][1]["field"], "currency");
    assert_eq!(get_deal(&app, &owner, &id_of(&deal)).await, deal);

    let list = expect_json(app.get("/deals", &owner).await, StatusCode::OK).await;
    assert_eq!(list["items"], json!([deal]), "only the valid deal exists");
}

#[tokio::test]
async fn stage_moves_are_recorded_in_order_with_who_made_them() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let seller = app.add_member(&owner, "member").await;
    let deal = app
        .create("/deals", &owner, json!({ "title": "Pipeline" }))
        .await;
    let id = id_of(&deal);

    assert_eq!(
        move_to(&app, &seller, &id, "NEGOTIATION").await["stage"],
        "NEGOTIATION"
    );
    assert_eq!(move_to(&app, &owner, &id, "NEW").await["stage"], "NEW");
    move_to(&app, &seller, &id, "NEGOTIATION").await;
    assert_eq!(
        move_to(&app, &owner, &id, "CLOSED_WON").await["stage"],
        "CLOSED_WON"
    );
    move_to(&app, &seller, &id, "NEGOTIATION").await;
    move_to(&app, &seller, &id, "CLOSED_LOST").await;
    // Neither other edits nor "moving" to the current stage are stage changes.
    move_to(&app, &owner, &id, "CLOSED_LOST").await;
    let renamed = app
        .patch(
            &format!("/deals/{id}"),
            &owner,
            json!({ "title": "Lost one" }),
        )
        .await;
    expect_json(renamed, StatusCode::OK).await;

    let changes = history(&app, &seller, &id).await;
    let (o, s) = (owner.user_id.to_string(), seller.user_id.to_string());
    let expected = [
        (Value::Null, "NEW", &o),
        (json!("NEW"), "NEGOTIATION", &s),
        (json!("NEGOTIATION"), "NEW", &o),
        (json!("NEW"), "NEGOTIATION", &s),
        (json!("NEGOTIATION"), "CLOSED_WON", &o),
        (json!("CLOSED_WON"), "NEGOTIATION", &s),
        (json!("NEGOTIATION"), "CLOSED_LOST", &s),
    ];
    let actual: Vec<(Value, &str, &str)> = changes
        .iter()
        .map(|c| {
            (
                c["from_stage"].clone(),
                c["to_stage"].as_str().expect("to_stage"),
                c["changed_by"].as_str().expect("changed_by"),
            )
        })
        .collect();
    let expected: Vec<(Value, &str, &str)> = expected
        .into_iter()
        .map(|(from, to, by)| (from, to, by.as_str()))
        .collect();
    assert_eq!(actual, expected);

    let instants: Vec<chrono::DateTime<chrono::Utc>> = changes
        .iter()
        .map(|c| {
            c["changed_at"]
                .as_str()
                .and_then(|t| t.parse().ok())
                .expect("changed_at")
        })
        .collect();
    assert!(
        instants.windows(2).all(|w| w[0] < w[1]),
        "oldest first: {instants:?}"
    );
    let created_at: chrono::DateTime<chrono::Utc> = deal["created_at"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("created_at");
    assert!(instants[0] >= created_at);
}

#[tokio::test]
async fn a_forbidden_stage_move_is_a_422_on_stage_and_changes_nothing() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let forbidden = [
        ("NEW", "CLOSED_WON"),
        ("CLOSED_WON", "NEW"),
        ("CLOSED_WON", "CLOSED_LOST"),
        ("CLOSED_LOST", "NEW"),
        ("CLOSED_LOST", "CLOSED_WON"),
    ];
    for (from, to) in forbidden {
        let deal = app
            .create(
                "/deals",
                &owner,
                json!({ "title": format!("From {from}"), "stage": from, "amount_minor": 10 }),
            )
            .await;
        let id = id_of(&deal);
        let refused = app
            .patch(
                &format!("/deals/{id}"),
                &owner,
                json!({ "stage": to, "title": "Sneaky", "amount_minor": 99 }),
            )
            .await;
        let problem = expect_problem(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(
            problem["errors"][0]["field"], "stage",
            "{from} -> {to}: {problem}"
        );
        assert!(
            !problem.to_string().contains("deals_stage_transition"),
            "no constraint names: {problem}"
        );
        assert_eq!(
            get_deal(&app, &owner, &id).await,
            deal,
            "{from} -> {to}: the deal is unchanged"
        );
        let changes = history(&app, &owner, &id).await;
        assert_eq!(changes.len(), 1, "{from} -> {to}: only the creation");
        assert_eq!(changes[0]["from_stage"], Value::Null);
        assert_eq!(changes[0]["to_stage"], from);
    }
}

#[tokio::test]
async fn the_summary_counts_and_totals_every_stage_per_currency() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let empty = expect_json(app.get("/deals/summary", &owner).await, StatusCode::OK).await;
    assert_eq!(
        empty,
        json!({ "stages": [
            { "stage": "NEW", "count": 0, "amounts": [] },
            { "stage": "NEGOTIATION", "count": 0, "amounts": [] },
            { "stage": "CLOSED_WON", "count": 0, "amounts": [] },
            { "stage": "CLOSED_LOST", "count": 0, "amounts": [] },
        ]})
    );

    for (title, stage, amount, currency) in [
        ("a", "NEW", 1_000, "USD"),
        ("b", "NEW", 2_500, "USD"),
        ("c", "NEW", 700, "EUR"),
        ("d", "NEGOTIATION", 10_000, "GBP"),
        ("e", "NEGOTIATION", 1, "EUR"),
        ("f", "CLOSED_WON", 0, "USD"),
    ] {
        app.create(
            "/deals",
            &owner,
            json!({ "title": title, "stage": stage, "amount_minor": amount, "currency": currency }),
        )
        .await;
    }
    let summary = expect_json(app.get("/deals/summary", &owner).await, StatusCode::OK).await;
    assert_eq!(
        summary,
        json!({ "stages": [
            { "stage": "NEW", "count": 3, "amounts": [
                { "currency": "EUR", "amount_minor": "700" },
                { "currency": "USD", "amount_minor": "3500" },
            ]},
            { "stage": "NEGOTIATION", "count": 2, "amounts": [
                { "currency": "EUR", "amount_minor": "1" },
                { "currency": "GBP", "amount_minor": "10000" },
            ]},
            { "stage": "CLOSED_WON", "count": 1, "amounts": [
                { "currency": "USD", "amount_minor": "0" },
            ]},
            { "stage": "CLOSED_LOST", "count": 0, "amounts": [] },
        ]})
    );
}

/// Two deals at the largest amount overflowed a 64-bit total and answered 422 for the
/// whole tenant; the total is a decimal string now.
#[tokio::test]
async fn the_summary_totals_amounts_past_64_bits() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    for title in ["a", "b"] {
        app.create(
            "/deals",
            &owner,
            json!({ "title": title, "amount_minor": i64::MAX, "currency": "USD" }),
        )
        .await;
    }
    let summary = expect_json(app.get("/deals/summary", &owner).await, StatusCode::OK).await;
    assert_eq!(
        summary["stages"][0]["amounts"],
        json!([{ "currency": "USD", "amount_minor": "18446744073709551614" }])
    );
}

#[tokio::test]
async fn list_filters_select_exactly_the_matching_deals() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let ada = id_of(&app.create_contact(&owner, "Ada").await);
    let bob = id_of(&app.create_contact(&owner, "Bob").await);
    let initech = id_of(
        &app.create("/companies", &owner, json!({ "name": "Initech" }))
            .await,
    );
    let globex = id_of(
        &app.create("/companies", &owner, json!({ "name": "Globex" }))
            .await,
    );
    for (title, stage, amount, contact, company) in [
        ("Alpha renewal", "NEW", 100, Some(&ada), Some(&initech)),
        ("Beta upsell", "NEGOTIATION", 500, Some(&ada), None),
        (
            "Gamma renewal",
            "NEGOTIATION",
            1_000,
            Some(&bob),
            Some(&globex),
        ),
        ("Delta 100% deal", "CLOSED_WON", 5_000, None, Some(&initech)),
        ("Epsilon", "CLOSED_LOST", 0, Some(&bob), None),
    ] {
        app.create(
            "/deals",
            &owner,
            json!({ "title": title, "stage": stage, "amount_minor": amount, "contact_id": contact, "company_id": company }),
        )
        .await;
    }

    let cases = [
        (
            "stage=NEGOTIATION".to_owned(),
            vec!["Beta upsell", "Gamma renewal"],
        ),
        ("stage=CLOSED_LOST".to_owned(), vec!["Epsilon"]),
        (
            format!("contact_id={ada}"),
            vec!["Alpha renewal", "Beta upsell"],
        ),
        (
            format!("company_id={initech}"),
            vec!["Alpha renewal", "Delta 100% deal"],
        ),
        (
            "min_amount=500".to_owned(),
            vec!["Beta upsell", "Gamma renewal", "Delta 100% deal"],
        ),
        (
            "max_amount=500".to_owned(),
            vec!["Alpha renewal", "Beta upsell", "Epsilon"],
        ),
        (
            "min_amount=100&max_amount=1000".to_owned(),
            vec!["Alpha renewal", "Beta upsell", "Gamma renewal"],
        ),
        (
            "q=RENEWAL".to_owned(),
            vec!["Alpha renewal", "Gamma renewal"],
        ),
        ("q=100%25".to_owned(), vec!["Delta 100% deal"]),
        (format!("q=renewal&contact_id={bob}"), vec!["Gamma renewal"]),
        (format!("stage=NEW&company_id={globex}"), vec![]),
        (format!("contact_id={}", uuid::Uuid::now_v7()), vec![]),
    ];
    for (query, expected) in cases {
        let page = expect_json(
            app.get(&format!("/deals?{query}"), &owner).await,
            StatusCode::OK,
        )
        .await;
        let expected: BTreeSet<String> = expected.into_iter().map(str::to_owned).collect();
        assert_eq!(titles(&page), expected, "{query}");
    }
}

#[tokio::test]
async fn paging_by_amount_visits_every_deal_once_in_order() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    // 25 deals, with repeated amounts so ties are broken by id.
    for i in 0..25 {
        app.create(
            "/deals",
            &owner,
            json!({ "title": format!("Deal {i:02}"), "amount_minor": (i * 7 % 10) * 100 }),
        )
        .await;
    }
    for (sort, extra, expected_count) in [
        ("amount", "", 25),
        ("-amount", "", 25),
        ("amount", "&min_amount=300&max_amount=700", 12),
    ] {
        let mut seen: Vec<(i64, String)> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/deals?sort={sort}&limit=4{extra}");
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let page = expect_json(app.get(&path, &owner).await, StatusCode::OK).await;
            let items = page["items"].as_array().expect("items");
            assert!(items.len() <= 4);
            seen.extend(
                items
                    .iter()
                    .map(|d| (d["amount_minor"].as_i64().expect("amount"), id_of(d))),
            );
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen.len(), expected_count, "{sort}{extra}");
        let distinct: BTreeSet<&String> = seen.iter().map(|(_, id)| id).collect();
        assert_eq!(
            distinct.len(),
            expected_count,
            "{sort}{extra}: each deal once"
        );
        let mut sorted = seen.clone();
        sorted.sort();
        if sort.starts_with('-') {
            sorted.reverse();
        }
        assert_eq!(seen, sorted, "{sort}{extra}: ordered by amount, then id");
    }
}
