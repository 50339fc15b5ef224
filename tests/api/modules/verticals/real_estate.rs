//! The Real Estate module over HTTP: the agency workflow, double booking under
//! concurrency, filters and pagination at volume, the module switches, and every
//! cross-tenant reference answering like an id that does not exist.

use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{
    TestApp, TestUser, expect_json, expect_problem, id_of, spawn_app, spawn_app_with,
};

fn property_body(title: &str, price_minor: i64, listing_type: &str) -> Value {
    json!({
        "title": title,
        "address": { "line": "1 Park Row", "city": "Leeds", "postcode": "LS1 5AB", "country": "gb" },
        "price_minor": price_minor,
        "currency": "GBP",
        "listing_type": listing_type,
        "property_type": "HOUSE",
        "bedrooms": 3,
        "bathrooms": 2,
        "area_sqm": 120.5
    })
}

fn at(time: DateTime<Utc>) -> String {
    time.to_rfc3339()
}

async fn create_property(app: &TestApp, user: &TestUser, title: &str) -> Value {
    app.create(
        "/properties",
        user,
        property_body(title, 35_000_000, "SALE"),
    )
    .await
}

#[tokio::test]
async fn agency_workflow_from_listing_to_feedback() {
    let app = spawn_app().await;
    let agent = app.sign_up("Homes & Co").await;
    let seller = app.create_contact(&agent, "Sam").await;
    let buyer = app.create_contact(&agent, "Bea").await;

    // List a property; a second one that the buyer's criteria rule out.
    let mut body = property_body("Three-bed house near the park", 35_000_000, "SALE");
    body["owner_contact_id"] = seller["id"].clone();
    body["agent_id"] = json!(agent.user_id);
    let house = app.create("/properties", &agent, body).await;
    assert_eq!(house["status"], "AVAILABLE");
    assert_eq!(house["address"]["country"], "GB");
    assert_eq!(house["agent_id"], json!(agent.user_id));
    let flat = app
        .create(
            "/properties",
            &agent,
            property_body("Flat to let", 120_000, "RENT"),
        )
        .await;
    let house_id = id_of(&house);

    // Register the buyer's criteria and match both ways.
    let criteria = json!({
        "listing_type": "SALE", "property_type": "HOUSE", "min_price_minor": 30_000_000,
        "max_price_minor": 40_000_000, "currency": "gbp", "min_bedrooms": 2, "city": "leeds"
    });
    let saved = expect_json(
        app.call(
            Method::PUT,
            &format!("/contacts/{}/requirements", id_of(&buyer)),
            &agent,
            Some(criteria),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(saved["currency"], "GBP");
    let matches = expect_json(
        app.get(&format!("/properties/{house_id}/matches"), &agent)
            .await,
        StatusCode::OK,
    )
    .await;
    let contacts: Vec<&Value> = matches["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| &c["contact_id"])
        .collect();
    assert_eq!(contacts, [&buyer["id"]], "only the buyer wants this house");
    let matches = expect_json(
        app.get(&format!("/properties/{}/matches", id_of(&flat)), &agent)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(matches["items"], json!([]), "nobody wants the flat");
    let matches = expect_json(
        app.get(&format!("/contacts/{}/matches", id_of(&buyer)), &agent)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(matches["items"], json!([house.clone()]));
    let matches = expect_json(
        app.get(&format!("/contacts/{}/matches", id_of(&seller)), &agent)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(matches["items"], json!([]), "no criteria, no matches");

    // Book a viewing (it took place this morning), then a clashing one.
    let start = Utc::now() - Duration::hours(3);
    let viewing = app
        .create(
            &format!("/properties/{house_id}/viewings"),
            &agent,
            json!({ "contact_id": buyer["id"], "scheduled_at": at(start), "notes": "Bring the keys" }),
        )
        .await;
    assert_eq!(viewing["status"], "SCHEDULED");
    assert_eq!(viewing["duration_minutes"], 30);
    assert_eq!(
        viewing["agent_id"],
        json!(agent.user_id),
        "the caller by default"
    );
    let clash = app
        .post(
            &format!("/properties/{house_id}/viewings"),
            &agent,
            json!({ "contact_id": seller["id"], "scheduled_at": at(start + Duration::minutes(15)) }),
        )
        .await;
    let problem = expect_problem(clash, StatusCode::CONFLICT).await;
    let detail = problem["detail"].as_str().expect("detail");
    assert!(
        detail.contains(&id_of(&viewing)) && detail.contains("property"),
        "{detail}"
    );
    assert!(
        !detail.contains("viewings_"),
        "no constraint names: {detail}"
    );

    // The same agent elsewhere at that time is refused too; back to back is fine.
    let clash = app
        .post(
            &format!("/properties/{}/viewings", id_of(&flat)),
            &agent,
            json!({ "contact_id": seller["id"], "scheduled_at": at(start + Duration::minutes(29)) }),
        )
        .await;
    let problem = expect_problem(clash, StatusCode::CONFLICT).await;
    let detail = problem["detail"].as_str().expect("detail");
    assert!(
        detail.contains(&id_of(&viewing)) && detail.contains("agent"),
        "{detail}"
    );
    app.create(
        &format!("/properties/{house_id}/viewings"),
        &agent,
        json!({ "contact_id": seller["id"], "scheduled_at": at(start + Duration::minutes(30)) }),
    )
    .await;

    // The agenda finds it.
    let agenda = expect_json(
        app.http
            .get(app.url("/api/v1/viewings"))
            .bearer_auth(&agent.token)
            .query(&[
                ("from", at(start - Duration::minutes(1))),
                ("to", at(start + Duration::minutes(1))),
                ("agent_id", agent.user_id.to_string()),
                ("contact_id", id_of(&buyer)),
                ("status", "SCHEDULED".to_owned()),
            ])
            .send()
            .await
            .expect("request"),
        StatusCode::OK,
    )
    .await;
    assert_eq!(agenda["items"], json!([viewing.clone()]));

    // Feedback needs a completed viewing; a future viewing cannot be completed.
    let viewing_path = format!("/viewings/{}", id_of(&viewing));
    let early = app
        .patch(
            &viewing_path,
            &agent,
            json!({ "feedback": { "interest": 4 } }),
        )
        .await;
    let problem = expect_problem(early, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], "feedback");
    let future = app
        .create(
            &format!("/properties/{house_id}/viewings"),
            &agent,
            json!({ "contact_id": buyer["id"], "scheduled_at": at(Utc::now() + Duration::days(2)) }),
        )
        .await;
    let too_soon = app
        .patch(
            &format!("/viewings/{}", id_of(&future)),
            &agent,
            json!({ "status": "COMPLETED" }),
        )
        .await;
    let problem = expect_problem(too_soon, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], "status");

    let completed = expect_json(
        app.patch(
            &viewing_path,
            &agent,
            json!({ "status": "COMPLETED", "feedback": { "interest": 5, "comments": "Loved the garden" } }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(completed["status"], "COMPLETED");
    assert_eq!(completed["feedback"]["interest"], 5);
    assert_eq!(completed["feedback"]["comments"], "Loved the garden");
    let fetched = expect_json(app.get(&viewing_path, &agent).await, StatusCode::OK).await;
    assert_eq!(fetched, completed);

    // Cancelling frees the slot; deleting the property takes its viewings along.
    let cancelled = app
        .patch(
            &format!("/viewings/{}", id_of(&future)),
            &agent,
            json!({ "status": "CANCELLED" }),
        )
        .await;
    expect_json(cancelled, StatusCode::OK).await;
    app.create(
        &format!("/properties/{house_id}/viewings"),
        &agent,
        json!({ "contact_id": seller["id"], "scheduled_at": future["scheduled_at"] }),
    )
    .await;
    let listed = expect_json(
        app.get(&format!("/properties/{house_id}/viewings"), &agent)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["items"].as_array().expect("items").len(), 4);
    assert_eq!(
        app.delete(&format!("/properties/{house_id}"), &agent)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    expect_problem(app.get(&viewing_path, &agent).await, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn concurrent_bookings_of_one_slot_let_exactly_one_win() {
    // The 24 bookings queue for the tenant's share of the pool instead of taking a 429
    // after the default 250 ms, which a loaded machine exceeds: the test is about the
    // exclusion constraint.
    let app = spawn_app_with(|vars| {
        vars.push(("CRM_POOL_SIZE".into(), "8".into()));
        vars.push(("CRM_TENANT_QUEUE_MS".into(), "20000".into()));
    })
    .await;
    let agent = app.sign_up("Homes & Co").await;
    let property = create_property(&app, &agent, "Popular house").await;
    let buyer = app.create_contact(&agent, "Bea").await;
    let path = format!("/properties/{}/viewings", id_of(&property));
    let slot = at(Utc::now() + Duration::days(1));

    let attempts = join_all((0..24).map(|i| {
        app.post(
            &path,
            &agent,
            json!({ "contact_id": buyer["id"], "scheduled_at": slot, "duration_minutes": 30 + i }),
        )
    }))
    .await;
    let statuses: Vec<StatusCode> = attempts.iter().map(reqwest::Response::status).collect();
    let won = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((won, refused), (1, 23), "{statuses:?}");

    let listed = expect_json(app.get(&path, &agent).await, StatusCode::OK).await;
    let items = listed["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "exactly one booking is stored");
    for attempt in attempts
        .into_iter()
        .filter(|r| r.status() == StatusCode::CONFLICT)
    {
        let problem = expect_problem(attempt, StatusCode::CONFLICT).await;
        assert!(
            problem["detail"]
                .as_str()
                .expect("detail")
                .contains(&id_of(&items[0])),
            "each refusal names the winner: {problem}"
        );
    }
}

/// Inserts `count` varied properties for `user`'s tenant in one statement.
async fn insert_properties(app: &TestApp, user: &TestUser, count: i32) {
    app.owner_sql()
        .await
        .execute(
            "INSERT INTO properties (tenant_id, id, title, address_line, city, country, \
                 price_minor, currency, listing_type, property_type, status, bedrooms, created_at) \
             SELECT $1, gen_random_uuid(), 'Property ' || i, i || ' Main Street', \
                    (ARRAY['Leeds', 'York', 'Hull'])[1 + i % 3], 'GB', i * 1000, 'GBP', \
                    (ARRAY['SALE', 'RENT'])[1 + i % 2], \
                    (ARRAY['HOUSE', 'APARTMENT', 'COMMERCIAL', 'LAND'])[1 + i % 4], \
                    CASE WHEN i % 5 = 0 THEN 'SOLD' ELSE 'AVAILABLE' END, i % 7, \
                    now() - i * interval '1 second' \
             FROM generate_series(1, $2) AS i",
            &[&user.tenant_id, &count],
        )
        .await
        .expect("bulk insert");
}

/// Follows `next_cursor` from `query` to the end; returns every item.
async fn walk(app: &TestApp, user: &TestUser, query: &[(&str, &str)]) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = app
            .http
            .get(app.url("/api/v1/properties"))
            .bearer_auth(&user.token)
            .query(query);
        if let Some(cursor) = &cursor {
            request = request.query(&[("cursor", cursor)]);
        }
        let page = expect_json(request.send().await.expect("request"), StatusCode::OK).await;
        items.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
}

#[tokio::test]
async fn property_filters_and_pagination_at_volume() {
    let app = spawn_app().await;
    let agency = app.sign_up("Big Agency").await;
    let other = app.sign_up("Other Agency").await;
    insert_properties(&app, &agency, 3000).await;
    insert_properties(&app, &other, 500).await;
    // What the generator made, in Rust: i -> (city, listing, type, status, bedrooms).
    let city = |i: i64| ["leeds", "york", "hull"][(i % 3) as usize];
    let listing = |i: i64| ["SALE", "RENT"][(i % 2) as usize];
    let kind = |i: i64| ["HOUSE", "APARTMENT", "COMMERCIAL", "LAND"][(i % 4) as usize];
    let sold = |i: i64| i % 5 == 0;

    let all = walk(&app, &agency, &[("limit", "200")]).await;
    assert_eq!(
        all.len(),
        3000,
        "every row once, none of the other tenant's"
    );
    let created: Vec<&str> = all
        .iter()
        .map(|p| p["created_at"].as_str().expect("created_at"))
        .collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "newest first");

    let found = walk(
        &app,
        &agency,
        &[
            ("city", "LEEDS"),
            ("listing_type", "SALE"),
            ("min_bedrooms", "3"),
            ("sort", "price"),
            ("limit", "37"),
        ],
    )
    .await;
    let expected: Vec<i64> = (1..=3000)
        .filter(|&i| city(i) == "leeds" && listing(i) == "SALE" && i % 7 >= 3)
        .map(|i| i * 1000)
        .collect();
    let prices: Vec<i64> = found
        .iter()
        .map(|p| p["price_minor"].as_i64().expect("price"))
        .collect();
    assert_eq!(
        prices, expected,
        "filtered, cheapest first, no gaps or repeats across pages"
    );

    let found = walk(
        &app,
        &agency,
        &[
            ("property_type", "LAND"),
            ("status", "SOLD"),
            ("min_price", "500000"),
            ("max_price", "2000000"),
            ("sort", "-price"),
            ("limit", "11"),
        ],
    )
    .await;
    let expected: Vec<i64> = (500..=2000)
        .rev()
        .filter(|&i| kind(i) == "LAND" && sold(i))
        .map(|i| i * 1000)
        .collect();
    let prices: Vec<i64> = found
        .iter()
        .map(|p| p["price_minor"].as_i64().expect("price"))
        .collect();
    assert_eq!(prices, expected);

    let found = walk(
        &app,
        &agency,
        &[("q", "7 main"), ("agent_id", &Uuid::nil().to_string())],
    )
    .await;
    assert!(found.is_empty(), "nobody is agent nil");
    let found = walk(&app, &agency, &[("q", "2999 main")]).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["title"], "Property 2999");

    let forged = app.get("/properties?cursor=not-a-cursor", &agency).await;
    expect_problem(forged, StatusCode::BAD_REQUEST).await;
    let bad_limit = app.get("/properties?limit=0", &agency).await;
    expect_problem(bad_limit, StatusCode::UNPROCESSABLE_ENTITY).await;
}

#[tokio::test]
async fn a_tenant_can_switch_the_module_off_and_on_without_losing_rows() {
    let app = spawn_app().await;
    let a = app.sign_up("Tenant A").await;
    let b = app.sign_up("Tenant B").await;
    let property = create_property(&app, &a, "Kept house").await;
    let property_path = format!("/properties/{}", id_of(&property));

    let modules = expect_json(app.get("/tenant/modules", &a).await, StatusCode::OK).await;
    assert_eq!(
        modules,
        json!({ "modules": [
            { "name": "real_estate", "title": "Real Estate", "enabled": true },
            { "name": "clinic", "title": "Clinic", "enabled": true },
        ] }),
        "new tenants have every module on"
    );
    let off = app
        .call(
            Method::PUT,
            "/tenant/modules",
            &a,
            Some(json!({ "modules": [{ "name": "real_estate", "enabled": false }] })),
        )
        .await;
    assert_eq!(
        expect_json(off, StatusCode::OK).await["modules"][0]["enabled"],
        false
    );

    let unknown_route =
        expect_problem(app.get("/no-such-route", &a).await, StatusCode::NOT_FOUND).await;
    for (method, path, body) in [
        (Method::GET, "/properties".to_owned(), None),
        (Method::GET, property_path.clone(), None),
        (
            Method::POST,
            "/properties".to_owned(),
            Some(property_body("New", 1, "SALE")),
        ),
        (
            Method::POST,
            "/properties".to_owned(),
            Some(
                json!({ "title": "", "address": { "line": "", "city": "", "country": "" }, "price_minor": -1, "listing_type": "SALE", "property_type": "LAND" }),
            ),
        ),
        (
            Method::PATCH,
            property_path.clone(),
            Some(json!({ "title": "Changed" })),
        ),
        (Method::DELETE, property_path.clone(), None),
        (Method::GET, "/viewings".to_owned(), None),
        (Method::GET, format!("{property_path}/matches"), None),
    ] {
        let response = app.call(method.clone(), &path, &a, body).await;
        let problem = expect_problem(response, StatusCode::NOT_FOUND).await;
        assert_eq!(
            problem, unknown_route,
            "{method} {path} answers like an unknown route"
        );
    }
    expect_json(app.get("/properties", &b).await, StatusCode::OK).await;
    create_property(&app, &b, "B carries on").await;

    let on = app
        .call(
            Method::PUT,
            "/tenant/modules",
            &a,
            Some(json!({ "modules": [{ "name": "real_estate", "enabled": true }] })),
        )
        .await;
    assert_eq!(
        expect_json(on, StatusCode::OK).await["modules"][0]["enabled"],
        true
    );
    let back = expect_json(app.get(&property_path, &a).await, StatusCode::OK).await;
    assert_eq!(back, property, "rows are intact after re-enabling");

    let unknown = app
        .call(
            Method::PUT,
            "/tenant/modules",
            &a,
            Some(json!({ "modules": [{ "name": "dental", "enabled": true }] })),
        )
        .await;
    expect_problem(unknown, StatusCode::UNPROCESSABLE_ENTITY).await;
}

#[tokio::test]
async fn a_deployment_without_real_estate_has_no_such_routes() {
    let app = spawn_app_with(|vars| vars.push(("CRM_MODULES".into(), "none".into()))).await;
    let owner = app.sign_up("Acme").await;
    let unknown_route = expect_problem(
        app.get("/no-such-route", &owner).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    for path in [
        "/properties",
        "/viewings",
        "/properties/00000000-0000-0000-0000-000000000000/matches",
    ] {
        let problem = expect_problem(app.get(path, &owner).await, StatusCode::NOT_FOUND).await;
        assert_eq!(problem, unknown_route, "{path}");
    }
    let modules = expect_json(app.get("/tenant/modules", &owner).await, StatusCode::OK).await;
    assert_eq!(modules, json!({ "modules": [] }));
    expect_json(app.get("/contacts", &owner).await, StatusCode::OK).await;

    // Nor does its document describe the vertical's events.
    let document = expect_json(app.get_raw("/openapi.json").await, StatusCode::OK).await;
    let kinds: Vec<&String> = document["x-webhooks"]
        .as_object()
        .expect("x-webhooks")
        .keys()
        .collect();
    assert!(
        kinds.iter().any(|kind| *kind == "contact.created"),
        "{kinds:?}"
    );
    assert!(
        !kinds
            .iter()
            .any(|kind| kind.starts_with("property.") || kind.starts_with("viewing.")),
        "{kinds:?}"
    );
    let schemas = &document["components"]["schemas"];
    assert!(schemas.get("ContactCreatedEvent").is_some());
    assert!(schemas.get("ViewingBookedEvent").is_none());
}

#[tokio::test]
async fn the_openapi_document_tags_real_estate_operations() {
    let app = spawn_app().await;
    let spec: Value = app
        .http
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    for (path, method) in [
        ("/properties", "post"),
        ("/viewings/{id}", "patch"),
        ("/contacts/{id}/matches", "get"),
    ] {
        assert_eq!(
            spec["paths"][path][method]["tags"],
            json!(["Real Estate"]),
            "{method} {path}"
        );
    }
    assert_eq!(
        spec["paths"]["/tenant/modules"]["put"]["tags"],
        json!(["Tenant"])
    );
}

/// Calls `path` with B's token on A's id and on a random id: both 404, same body.
async fn assert_hidden(
    app: &TestApp,
    stranger: &TestUser,
    method: Method,
    path: &str,
    id: &str,
    body: Option<Value>,
) {
    let random = Uuid::now_v7().to_string();
    let theirs = app
        .call(
            method.clone(),
            &path.replace("{id}", id),
            stranger,
            body.clone(),
        )
        .await;
    let missing = app
        .call(
            method.clone(),
            &path.replace("{id}", &random),
            stranger,
            body,
        )
        .await;
    let theirs = expect_problem(theirs, StatusCode::NOT_FOUND).await;
    let missing = expect_problem(missing, StatusCode::NOT_FOUND).await;
    assert_eq!(theirs, missing, "{method} {path}");
}

/// Creates with `field` set to A's id and to a random id: both 422 naming the field.
async fn assert_reference_refused(
    app: &TestApp,
    user: &TestUser,
    path: &str,
    body: &Value,
    field: &str,
    theirs: &str,
) {
    let mut problems = Vec::new();
    for id in [theirs.to_owned(), Uuid::now_v7().to_string()] {
        let mut body = body.clone();
        body[field] = json!(id);
        let problem = expect_problem(
            app.post(path, user, body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
        problems.push(problem);
    }
    assert_eq!(
        problems[0], problems[1],
        "{path} {field}: another tenant's id answers like a random one"
    );
}

#[tokio::test]
async fn other_tenants_properties_viewings_and_people_are_out_of_reach() {
    let app = spawn_app().await;
    let a = app.sign_up("Tenant A").await;
    let b = app.sign_up("Tenant B").await;
    let a_contact = app.create_contact(&a, "Alice").await;
    let a_property = create_property(&app, &a, "A's house").await;
    let a_viewing = app
        .create(
            &format!("/properties/{}/viewings", id_of(&a_property)),
            &a,
            json!({ "contact_id": a_contact["id"], "scheduled_at": at(Utc::now() + Duration::days(1)) }),
        )
        .await;
    app.call(
        Method::PUT,
        &format!("/contacts/{}/requirements", id_of(&a_contact)),
        &a,
        Some(json!({})),
    )
    .await;
    let (property_id, viewing_id, contact_id) =
        (id_of(&a_property), id_of(&a_viewing), id_of(&a_contact));

    for (method, path, id, body) in [
        (Method::GET, "/properties/{id}", &property_id, None),
        (
            Method::PATCH,
            "/properties/{id}",
            &property_id,
            Some(json!({ "title": "Mine now" })),
        ),
        (Method::DELETE, "/properties/{id}", &property_id, None),
        (Method::GET, "/properties/{id}/viewings", &property_id, None),
        (Method::GET, "/properties/{id}/matches", &property_id, None),
        (Method::GET, "/viewings/{id}", &viewing_id, None),
        (
            Method::PATCH,
            "/viewings/{id}",
            &viewing_id,
            Some(json!({ "status": "CANCELLED" })),
        ),
        (Method::DELETE, "/viewings/{id}", &viewing_id, None),
        (
            Method::GET,
            "/contacts/{id}/requirements",
            &contact_id,
            None,
        ),
        (
            Method::PUT,
            "/contacts/{id}/requirements",
            &contact_id,
            Some(json!({ "city": "York" })),
        ),
        (
            Method::DELETE,
            "/contacts/{id}/requirements",
            &contact_id,
            None,
        ),
        (Method::GET, "/contacts/{id}/matches", &contact_id, None),
    ] {
        assert_hidden(&app, &b, method, path, id, body).await;
    }
    let b_contact = app.create_contact(&b, "Bob").await;
    assert_hidden(
        &app,
        &b,
        Method::POST,
        "/properties/{id}/viewings",
        &property_id,
        Some(json!({ "contact_id": b_contact["id"], "scheduled_at": at(Utc::now() + Duration::days(3)) })),
    )
    .await;

    // References to A's contact or A's agent from B's data: like random ids.
    let b_property = create_property(&app, &b, "B's house").await;
    let body = property_body("B's other house", 1, "SALE");
    assert_reference_refused(
        &app,
        &b,
        "/properties",
        &body,
        "owner_contact_id",
        &contact_id,
    )
    .await;
    assert_reference_refused(
        &app,
        &b,
        "/properties",
        &body,
        "agent_id",
        &a.user_id.to_string(),
    )
    .await;
    let viewings = format!("/properties/{}/viewings", id_of(&b_property));
    let booking = json!({ "contact_id": b_contact["id"], "scheduled_at": at(Utc::now() + Duration::days(4)) });
    assert_reference_refused(&app, &b, &viewings, &booking, "contact_id", &contact_id).await;
    assert_reference_refused(
        &app,
        &b,
        &viewings,
        &booking,
        "agent_id",
        &a.user_id.to_string(),
    )
    .await;

    // A's rows are untouched and B's lists never show them.
    assert_eq!(
        expect_json(
            app.get(&format!("/properties/{property_id}"), &a).await,
            StatusCode::OK
        )
        .await,
        a_property
    );
    assert_eq!(
        expect_json(
            app.get(&format!("/viewings/{viewing_id}"), &a).await,
            StatusCode::OK
        )
        .await,
        a_viewing
    );
    expect_json(
        app.get(&format!("/contacts/{contact_id}/requirements"), &a)
            .await,
        StatusCode::OK,
    )
    .await;
    for list in ["/properties", "/viewings"] {
        let body = expect_json(app.get(list, &b).await, StatusCode::OK).await;
        assert!(
            !body.to_string().contains(&property_id) && !body.to_string().contains(&viewing_id),
            "{list}"
        );
    }
}
