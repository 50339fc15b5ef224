//! The API contract: what `/openapi.json` promises, and that the server keeps it.
//! Each test reproduces a finding of the outside review (issue 10). The whole document
//! is also compared with its committed snapshot, validated by openapi-spec-validator,
//! turned into Python and TypeScript clients and fuzzed by schemathesis (`tests/contract`).

use crm::platform::contract::Contract;
use poem_openapi::registry::MetaSchemaRef;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, expect_json, expect_problem, id_of, spawn_app};

const SNAPSHOT: &str = "tests/api/openapi.snapshot.json";

async fn document(app: &TestApp) -> Value {
    expect_json(app.get_raw("/openapi.json").await, StatusCode::OK).await
}

/// Every `(path, method, operation)` of the document.
fn operations(document: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            found.push((path.clone(), method.clone(), operation.clone()));
        }
    }
    found
}

fn walk<'a>(value: &'a Value, visit: &mut impl FnMut(&'a Value)) {
    visit(value);
    match value {
        Value::Object(object) => object.values().for_each(|v| walk(v, visit)),
        Value::Array(items) => items.iter().for_each(|v| walk(v, visit)),
        _ => {}
    }
}

fn field_names(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|error| error["field"].as_str().expect("field").to_owned())
        .collect()
}

#[tokio::test]
async fn the_served_document_matches_the_committed_snapshot() {
    let app = spawn_app().await;
    let served = document(&app).await;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(SNAPSHOT);
    let pretty = serde_json::to_string_pretty(&served).expect("json") + "\n";
    if std::env::var_os("UPDATE_OPENAPI_SNAPSHOT").is_some() {
        std::fs::write(&path, &pretty).expect("write the snapshot");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == pretty,
        "/openapi.json differs from {SNAPSHOT}: the API changed. If that is intended, run\n    \
         UPDATE_OPENAPI_SNAPSHOT=1 cargo test --test api the_served_document_matches\n\
         review the diff, and add breaking changes to the README's changelog."
    );
}

/// openapi-spec-validator refused the document: OAuth2 flows must list `scopes`.
#[tokio::test]
async fn the_oauth2_password_flow_declares_its_scopes() {
    let app = spawn_app().await;
    let document = document(&app).await;
    let flow = &document["components"]["securitySchemes"]["bearer"]["flows"]["password"];
    assert_eq!(flow["tokenUrl"], "/api/v1/auth/login");
    assert!(flow["scopes"].is_object(), "flow: {flow}");
}

/// The documentation pages show the same finished document, not the framework's.
#[tokio::test]
async fn the_documentation_pages_embed_the_served_document() {
    let app = spawn_app().await;
    let served = app
        .get_raw("/openapi.json")
        .await
        .text()
        .await
        .expect("document");
    for page in ["/docs", "/redoc"] {
        let response = app.get_raw(page).await;
        assert_eq!(response.status(), StatusCode::OK, "{page}");
        let html = response.text().await.expect("html");
        assert!(html.contains(&served), "{page} embeds another document");
    }
}

/// openapi-python-client dropped 22 schemas and 8 operations over
/// `allOf: [$ref, {description}]`; and `naive-date` is a format no one knows.
#[tokio::test]
async fn references_carry_no_second_schema_and_formats_are_standard() {
    let app = spawn_app().await;
    let document = document(&app).await;
    let mut wrappers = 0;
    walk(&document, &mut |value| {
        if let Some(parts) = value.get("allOf").and_then(Value::as_array) {
            wrappers += 1;
            assert_eq!(parts.len(), 1, "{value}");
            assert!(parts[0]["$ref"].is_string(), "{value}");
        }
        if let Some(format) = value.get("format").and_then(Value::as_str) {
            assert!(
                [
                    "uuid",
                    "date-time",
                    "date",
                    "int32",
                    "int64",
                    "float",
                    "double"
                ]
                .contains(&format),
                "unknown format {format}"
            );
        }
    });
    assert!(wrappers > 20, "the described references are still there");
    assert_eq!(
        document["components"]["schemas"]["NewDealBody"]["properties"]["expected_close_date"]["format"],
        "date"
    );
}

/// No operation had an `operationId`; 16 operations, 24 properties and 23 parameters
/// had no description.
#[tokio::test]
async fn every_operation_is_named_and_everything_is_described() {
    let app = spawn_app().await;
    let document = document(&app).await;
    let operations = operations(&document);
    assert_eq!(operations.len(), 163);
    let mut ids = Vec::new();
    for (path, method, operation) in &operations {
        let id = operation["operationId"].as_str().unwrap_or_default();
        assert!(
            id.len() > 3 && id.chars().all(char::is_alphanumeric),
            "{method} {path} has operationId {id:?}"
        );
        assert!(id.starts_with(char::is_lowercase), "{id} is not camelCase");
        ids.push(id.to_owned());
        let summary = operation["summary"].as_str().unwrap_or_default();
        assert!(!summary.is_empty(), "{method} {path} has no summary");
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            assert!(
                parameter["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{method} {path}: parameter {} has no description",
                parameter["name"]
            );
        }
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), operations.len(), "operationIds repeat");
    for id in ["listContacts", "createViewing", "getDealSummary", "logIn"] {
        assert!(ids.contains(&id.to_owned()), "{id} is missing");
    }
    for (name, schema) in document["components"]["schemas"]
        .as_object()
        .expect("schemas")
    {
        assert!(
            schema["description"].is_string(),
            "schema {name} has no description"
        );
        for (property, definition) in schema["properties"].as_object().into_iter().flatten() {
            assert!(
                definition["description"]
                    .as_str()
                    .is_some_and(|d| !d.is_empty()),
                "{name}.{property} has no description"
            );
        }
    }
}

/// Every rule lived in prose only: no `minLength`, `maxLength`, `pattern`, `minimum`,
/// `maximum` or enum of module names.
#[tokio::test]
async fn validation_rules_are_machine_readable() {
    let app = spawn_app().await;
    let document = document(&app).await;
    let schemas = &document["components"]["schemas"];
    let first_name = &schemas["NewContactBody"]["properties"]["first_name"];
    assert_eq!(first_name["minLength"], 1);
    assert_eq!(first_name["maxLength"], 100);
    assert!(first_name["pattern"].is_string());
    assert!(schemas["NewContactBody"]["properties"]["email"]["pattern"].is_string());
    assert_eq!(
        schemas["NewDealBody"]["properties"]["amount_minor"]["minimum"],
        0.0
    );
    let duration = &schemas["NewViewingBody"]["properties"]["duration_minutes"];
    assert_eq!(
        (&duration["minimum"], &duration["maximum"]),
        (&json!(5.0), &json!(480.0))
    );
    assert_eq!(
        schemas["TenantModuleSwitch"]["properties"]["name"]["enum"],
        json!(["real_estate", "clinic"])
    );
    let limit = document["paths"]["/contacts"]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .find(|p| p["name"] == "limit")
        .expect("limit")
        .clone();
    assert_eq!(
        (&limit["schema"]["minimum"], &limit["schema"]["maximum"]),
        (&json!(1.0), &json!(200.0))
    );
    for (path, method, operation) in operations(&document) {
        for media in operation["requestBody"]["content"]
            .as_object()
            .into_iter()
            .flatten()
        {
            let schema = media.1["schema"]["$ref"]
                .as_str()
                .expect("a named body schema");
            let name = schema.trim_start_matches("#/components/schemas/");
            assert!(
                schemas[name]["example"].is_object(),
                "{method} {path}: {name} has no example"
            );
        }
    }
}

/// The examples clients copy from the document pass the check the server runs on
/// bodies (schemathesis's examples phase cannot run here, see tests/contract/run).
#[tokio::test]
async fn request_body_examples_satisfy_their_own_schemas() {
    let app = spawn_app().await;
    let served = app
        .get_raw("/openapi.json")
        .await
        .text()
        .await
        .expect("document");
    let contract = Contract::new(&served, &[], &[]).expect("the served document finishes again");
    let document: Value = serde_json::from_str(&served).expect("json");
    let mut checked = 0;
    for (path, method, operation) in operations(&document) {
        for (_, media) in operation["requestBody"]["content"]
            .as_object()
            .into_iter()
            .flatten()
        {
            let reference = media["schema"]["$ref"]
                .as_str()
                .expect("a named body schema");
            let name = reference.trim_start_matches("#/components/schemas/");
            let example = &document["components"]["schemas"][name]["example"];
            let verdict = contract.check(&MetaSchemaRef::Reference(name.to_owned()), example);
            assert!(
                verdict.is_ok(),
                "{method} {path}: the {name} example: {verdict:?}"
            );
            checked += 1;
        }
    }
    assert!(checked > 15, "only {checked} examples");
}

/// 415 was answered but never declared; every declared status must be answerable.
#[tokio::test]
async fn unsupported_media_type_is_declared_exactly_where_a_body_is_read() {
    let app = spawn_app().await;
    let document = document(&app).await;
    for (path, method, operation) in operations(&document) {
        let takes_body = operation.get("requestBody").is_some();
        let declares = operation["responses"].get("415").is_some();
        assert_eq!(takes_body, declares, "{method} {path}");
    }
    let owner = app.sign_up("Acme").await;
    let response = app
        .http
        .post(app.url("/api/v1/contacts"))
        .bearer_auth(&owner.token)
        .header("content-type", "text/plain")
        .body("first_name=Ada")
        .send()
        .await
        .expect("request");
    expect_problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
}

/// Optional fields were sent as `null` where the document says absent-when-empty
/// (`next_cursor` is "absent on the last page"); a generated client crashed on it.
#[tokio::test]
async fn empty_optional_fields_are_absent_from_responses() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let contact = app.create_contact(&owner, "Ada").await;
    for field in ["email", "phone", "description", "company_id"] {
        assert!(contact.get(field).is_none(), "{field} in {contact}");
    }
    let page = expect_json(app.get("/contacts", &owner).await, StatusCode::OK).await;
    assert!(page.get("next_cursor").is_none(), "{page}");
    let deal = app
        .create("/deals", &owner, json!({ "title": "Renewal" }))
        .await;
    let history = expect_json(
        app.get(&format!("/deals/{}/history", id_of(&deal)), &owner)
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(history["items"][0].get("from_stage").is_none(), "{history}");
}

/// `POST /companies {"name": false}` answered 201 with `"name": "false"`.
#[tokio::test]
async fn string_fields_refuse_numbers_and_booleans() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    for name in [json!(false), json!(42), json!(["Acme"])] {
        let problem = expect_problem(
            app.post("/companies", &owner, json!({ "name": name }))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(field_names(&problem), ["name"], "{problem}");
    }
}

/// A missing required field answered 400 with a framework message.
#[tokio::test]
async fn a_missing_required_field_is_a_422_naming_it() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let problem = expect_problem(
        app.post("/contacts", &owner, json!({ "first_name": "Ada" }))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(field_names(&problem), ["last_name"]);
    let problem = expect_problem(
        app.post(
            "/properties",
            &owner,
            json!({ "title": "Flat", "address": { "line": "1 High St" } }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let fields = field_names(&problem);
    for field in [
        "address.city",
        "address.country",
        "price_minor",
        "listing_type",
    ] {
        assert!(
            fields.contains(&field.to_owned()),
            "{field} not in {fields:?}"
        );
    }
}

/// `GET /contacts?q=a%00b` answered 422 naming `body`, a range error of the database.
#[tokio::test]
async fn a_nul_byte_in_a_query_parameter_is_refused_on_that_parameter() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    for (path, field) in [
        ("/contacts?q=a%00b", "q"),
        ("/companies?q=a%00b", "q"),
        ("/properties?city=a%00b", "city"),
        ("/contacts?limit=0", "limit"),
    ] {
        let problem = expect_problem(
            app.get(path, &owner).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(field_names(&problem), [field], "{path}: {problem}");
    }
}

/// Dates past year 9999 were accepted and answered as `+10000-01-01T…`, not RFC 3339.
#[tokio::test]
async fn dates_stay_within_four_digit_years() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let problem = expect_problem(
        app.post(
            "/deals",
            &owner,
            json!({ "title": "Far", "expected_close_date": "+10000-01-01" }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(field_names(&problem), ["expected_close_date"]);
    let contact = id_of(&app.create_contact(&owner, "Ada").await);
    let property = app
        .create(
            "/properties",
            &owner,
            json!({
                "title": "Flat", "price_minor": 100, "listing_type": "SALE", "property_type": "APARTMENT",
                "address": { "line": "1 High St", "city": "Leeds", "country": "GB" }
            }),
        )
        .await;
    let viewings = format!("/properties/{}/viewings", id_of(&property));
    for at in ["+10000-01-01T00:00:00Z", "9999-12-31T23:00:00Z"] {
        let problem = expect_problem(
            app.post(
                &viewings,
                &owner,
                json!({ "contact_id": contact, "scheduled_at": at, "duration_minutes": 480 }),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(field_names(&problem), ["scheduled_at"], "{at}");
    }
}

/// RFC 9110 requires `Allow` on a 405; none was sent.
#[tokio::test]
async fn method_not_allowed_lists_the_allowed_methods() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    for (method, path, allow) in [
        (Method::DELETE, "/contacts", "GET, POST"),
        (
            Method::PUT,
            "/contacts/0190a8a4-6e2e-7000-8000-000000000000",
            "DELETE, GET, PATCH",
        ),
        (Method::GET, "/auth/login", "POST"),
    ] {
        let response = app.call(method.clone(), path, &owner, None).await;
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        let header = response
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(header, allow, "{method} {path}");
        expect_problem(response, StatusCode::METHOD_NOT_ALLOWED).await;
    }
}
