//! The erasure of a patient over real HTTP (V47): afterwards the patient's export
//! names nobody (no name, email, phone, identifier or date of birth anywhere in it),
//! the messages and webhook deliveries that carried the person's data are gone, the
//! treatment notes follow the tenant's retention setting, the access log still
//! verifies and records the erasure, and the erased patient takes no new booking or
//! record. Only owners and admins erase; another tenant's patient is a patient that
//! does not exist.

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use super::clinic_api::{booking, create_patient, set_up_clinic, zurich};
use crate::support::{
    TestApp, TestUser, error_fields, expect_json, expect_problem, id_of, spawn_app,
};

/// `POST /patients/{patient}/erasure` as `user`, with a reason when one is given.
async fn erase(app: &TestApp, user: &TestUser, patient: &str, reason: Option<&str>) -> Response {
    let mut request = app
        .http
        .post(app.url(&format!("/api/v1/patients/{patient}/erasure")))
        .bearer_auth(&user.token);
    if let Some(reason) = reason {
        request = request.header("X-Access-Reason", reason);
    }
    request.send().await.expect("request")
}

/// A signed note of `author`'s about `patient`.
async fn signed_note(app: &TestApp, author: &TestUser, patient: &str, body: Value) -> String {
    let note = id_of(
        &app.create(
            &format!("/patients/{patient}/treatment-notes"),
            author,
            body,
        )
        .await,
    );
    expect_json(
        app.patch(
            &format!("/treatment-notes/{note}"),
            author,
            json!({ "status": "signed" }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    note
}

/// Moves the signature of `notes` `years` into the past, as the tables' owner with
/// the triggers off (no API can).
async fn signed_years_ago(app: &TestApp, notes: &[&str], years: i32) {
    let ids: Vec<Uuid> = notes.iter().map(|id| id.parse().expect("uuid")).collect();
    let sql = app.owner_sql().await;
    sql.batch_execute("SET session_replication_role = replica")
        .await
        .expect("triggers off");
    sql.execute(
        "UPDATE treatment_notes SET signed_at = now() - make_interval(years => $2) \
         WHERE id = ANY($1)",
        &[&ids, &years],
    )
    .await
    .expect("backdate");
}

/// How many rows of `table` (a fixed name below) mention `text`, as the owner sees it.
async fn mentions(app: &TestApp, query: &str, text: &str) -> i64 {
    app.owner_sql()
        .await
        .query_one(query, &[&format!("%{text}%")])
        .await
        .expect("count")
        .get(0)
}

const WEBHOOKS_MENTIONING: &str = "SELECT count(*) FROM webhook_messages WHERE body LIKE $1";
const MESSAGES_MENTIONING: &str = "SELECT count(*) FROM notification_messages \
     WHERE coalesce(recipient, '') || coalesce(text_body, '') || variables::text LIKE $1";

#[tokio::test]
async fn after_an_erasure_the_export_names_nobody_the_log_verifies_and_notes_follow_retention() {
    let app = spawn_app().await;
    let owner = app.sign_up("Praxis").await;
    let clinic = set_up_clinic(&app, &owner).await;
    let practitioner = &clinic.member;
    expect_json(
        app.call(
            Method::PUT,
            "/clinic/settings",
            &owner,
            Some(json!({ "notes_retention_years": 1 })),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    app.create(
        "/webhooks/endpoints",
        &owner,
        json!({ "url": "https://receiver.example.com/hooks", "event_types": ["contact.*"] }),
    )
    .await;
    let (name, surname, email, phone) = (
        "Noemi",
        "Zwahlen",
        "noemi.zwahlen@example.test",
        "+41 79 555 01 23",
    );
    let contact = id_of(
        &app.create(
            "/contacts",
            &owner,
            json!({ "first_name": name, "last_name": surname, "email": email, "phone": phone }),
        )
        .await,
    );
    let identifier = "756.9999.8888.77";
    let patient = id_of(
        &app.create(
            "/patients",
            &owner,
            json!({ "contact_id": contact, "date_of_birth": "1984-06-02", "sex": "female",
                    "identifiers": [{ "kind": "ahv", "value": identifier }] }),
        )
        .await,
    );
    let mother = id_of(
        &app.create(
            "/contacts",
            &owner,
            json!({ "first_name": "Maria", "last_name": "Rossi" }),
        )
        .await,
    );
    expect_json(
        app.call(
            Method::PUT,
            &format!("/patients/{patient}/guardians/{mother}"),
            &owner,
            Some(
                json!({ "relationship": "parent", "permissions": ["consent"],
                         "emergency_contact": true }),
            ),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    app.create(
        &format!("/patients/{patient}/consents"),
        &owner,
        json!({ "scope": "treatment", "version": "v1", "signed_by_contact_id": mother }),
    )
    .await;
    let message = app
        .post(
            "/notifications",
            &owner,
            json!({ "contact_id": contact, "channel": "email", "subject": "Your visit",
                    "text": format!("Dear {name} {surname}, see you soon.") }),
        )
        .await;
    assert!(message.status().is_success(), "{:?}", message.text().await);
    let appointment = id_of(
        &app.create(
            "/appointments",
            &owner,
            booking(&clinic, &patient, zurich(9, 0)),
        )
        .await,
    );

    // Notes: one signed now and one three years ago (kept and deleted with a retention
    // of one year), an old one a recent addendum corrects (both kept), and a draft.
    let recent = signed_note(
        &app,
        practitioner,
        &patient,
        json!({ "body": "Knee pain.", "appointment_id": appointment }),
    )
    .await;
    let old = signed_note(&app, practitioner, &patient, json!({ "body": "Old." })).await;
    let corrected = signed_note(&app, practitioner, &patient, json!({ "body": "Older." })).await;
    signed_years_ago(&app, &[&old, &corrected], 3).await;
    let addendum = signed_note(
        &app,
        practitioner,
        &patient,
        json!({ "body": "Addendum.", "amends_id": corrected }),
    )
    .await;
    app.create(
        &format!("/patients/{patient}/treatment-notes"),
        practitioner,
        json!({ "body": "Draft." }),
    )
    .await;
    expect_json(
        app.get(&format!("/patients/{patient}"), practitioner).await,
        StatusCode::OK,
    )
    .await;
    assert!(mentions(&app, WEBHOOKS_MENTIONING, name).await > 0);
    assert!(mentions(&app, MESSAGES_MENTIONING, name).await > 0);

    let diagnosis = id_of(
        &app.create("/tags", &owner, json!({ "name": "Diabetic" }))
            .await,
    );
    let tag_path = format!("/contacts/{contact}/tags/{diagnosis}");
    let tagged = app.call(Method::PUT, &tag_path, &owner, None).await;
    assert_eq!(tagged.status(), StatusCode::NO_CONTENT);

    let erased = expect_json(
        erase(&app, &owner, &patient, Some("the patient's request")).await,
        StatusCode::OK,
    )
    .await;
    let tags = expect_json(
        app.get(&format!("/contacts/{contact}/tags"), &owner).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(tags["items"], json!([]), "the erased contact keeps no tag");
    expect_json(
        app.get(&format!("/tags/{diagnosis}"), &owner).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(erased["patient_id"], json!(patient));
    assert_eq!(erased["erased_by"], json!(owner.user_id));
    assert_eq!(erased["reason"], "the patient's request");
    assert_eq!(
        (
            &erased["notes_retention_years"],
            &erased["notes_kept"],
            &erased["notes_deleted"]
        ),
        (&json!(1), &json!(3), &json!(2))
    );

    // The export names nobody.
    let export = expect_json(
        app.get(&format!("/patients/{patient}/export"), &owner)
            .await,
        StatusCode::OK,
    )
    .await;
    let text = export.to_string();
    for personal in [
        name,
        surname,
        email,
        phone,
        identifier,
        "1984-06-02",
        "Rossi",
        &mother,
    ] {
        assert!(!text.contains(personal), "{personal} in {text}");
    }
    assert_eq!(export["patient"]["first_name"], "Erased");
    assert!(export["patient"]["erased_at"].is_string(), "{export}");
    assert_eq!(export["patient"]["archived"], true);
    assert_eq!(export["guardians"], json!([]));
    assert!(export["consents"][0].get("signed_by_contact_id").is_none());
    assert_eq!(export["consents"][0]["scope"], "treatment");
    assert_eq!(export["appointments"][0]["id"], json!(appointment));
    assert_eq!(export["appointments"][0]["status"], "cancelled");
    let mut kept: Vec<&str> = export["treatment_notes"]
        .as_array()
        .expect("notes")
        .iter()
        .filter_map(|note| note["id"].as_str())
        .collect();
    kept.sort_unstable();
    let mut expected = vec![recent.as_str(), corrected.as_str(), addendum.as_str()];
    expected.sort_unstable();
    assert_eq!(kept, expected);

    // Nothing outside the clinic carries the person either.
    assert_eq!(mentions(&app, WEBHOOKS_MENTIONING, name).await, 0);
    assert_eq!(mentions(&app, MESSAGES_MENTIONING, name).await, 0);
    assert_eq!(mentions(&app, MESSAGES_MENTIONING, email).await, 0);

    // The access log still verifies and records the erasure.
    let verified = expect_json(
        app.get("/clinic/access-log/verify", &owner).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(verified["valid"], true, "{verified}");
    let log = expect_json(
        app.get(&format!("/patients/{patient}/access-log"), &owner)
            .await,
        StatusCode::OK,
    )
    .await;
    let erasure = log["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|entry| entry["action"] == "patient.erase")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(erasure["reason"], "the patient's request", "{log}");
    assert_eq!(erasure["user_id"], json!(owner.user_id));

    // Once; and an erased patient takes nothing new.
    expect_problem(
        erase(&app, &owner, &patient, None).await,
        StatusCode::CONFLICT,
    )
    .await;
    expect_problem(
        app.post(
            "/appointments",
            &owner,
            booking(&clinic, &patient, zurich(11, 0)),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    expect_problem(
        app.patch(
            &format!("/patients/{patient}"),
            &owner,
            json!({ "date_of_birth": "1984-06-02" }),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    expect_problem(
        app.post(
            &format!("/patients/{patient}/consents"),
            &owner,
            json!({ "scope": "research", "version": "v1" }),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    expect_problem(
        app.post(
            &format!("/patients/{patient}/treatment-notes"),
            practitioner,
            json!({ "body": "More." }),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
}

#[tokio::test]
async fn only_owners_and_admins_erase_and_another_tenants_patient_does_not_exist() {
    let app = spawn_app().await;
    let owner = app.sign_up("Praxis").await;
    let clinic = set_up_clinic(&app, &owner).await;
    let patient = create_patient(&app, &owner, "Noemi").await;
    let path = format!("/patients/{patient}");
    let before = expect_json(app.get(&path, &owner).await, StatusCode::OK).await;
    let member = app.add_member(&owner, "member").await;
    let read_only = app.add_member(&owner, "read_only").await;
    for user in [&member, &read_only, &clinic.member] {
        expect_problem(
            erase(&app, user, &patient, None).await,
            StatusCode::FORBIDDEN,
        )
        .await;
    }

    let stranger = app.sign_up("Elsewhere").await;
    let theirs = expect_problem(
        erase(&app, &stranger, &patient, None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let random = Uuid::now_v7().to_string();
    let none = expect_problem(
        erase(&app, &stranger, &random, None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(theirs, none);
    let long = "x".repeat(501);
    let problem = expect_problem(
        erase(&app, &owner, &patient, Some(&long)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error_fields(&problem), ["X-Access-Reason"]);
    assert_eq!(
        expect_json(app.get(&path, &owner).await, StatusCode::OK).await,
        before,
        "nothing was erased"
    );

    let admin = app.add_member(&owner, "admin").await;
    let erased = expect_json(erase(&app, &admin, &patient, None).await, StatusCode::OK).await;
    assert_eq!(erased["notes_retention_years"], 10, "the default retention");
    assert!(erased.get("reason").is_none(), "{erased}");
}

#[tokio::test]
async fn the_notes_retention_is_read_by_members_and_set_by_managers() {
    let app = spawn_app().await;
    let owner = app.sign_up("Praxis").await;
    let member = app.add_member(&owner, "member").await;
    let defaults = expect_json(app.get("/clinic/settings", &member).await, StatusCode::OK).await;
    assert_eq!(defaults, json!({ "notes_retention_years": 10 }));
    let put = |user: &TestUser, years: Value| {
        let (app, user) = (&app, user.clone());
        async move {
            app.call(
                Method::PUT,
                "/clinic/settings",
                &user,
                Some(json!({ "notes_retention_years": years })),
            )
            .await
        }
    };
    expect_problem(put(&member, json!(3)).await, StatusCode::FORBIDDEN).await;
    for years in [json!(-1), json!(101), json!("ten")] {
        let problem =
            expect_problem(put(&owner, years).await, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(
            error_fields(&problem),
            ["notes_retention_years"],
            "{problem}"
        );
    }
    let saved = expect_json(put(&owner, json!(0)).await, StatusCode::OK).await;
    assert_eq!(saved["notes_retention_years"], 0);
    assert!(saved["updated_at"].is_string(), "{saved}");
    let read = expect_json(app.get("/clinic/settings", &member).await, StatusCode::OK).await;
    assert_eq!(read, saved);
    let stranger = app.sign_up("Elsewhere").await;
    let theirs = expect_json(app.get("/clinic/settings", &stranger).await, StatusCode::OK).await;
    assert_eq!(theirs, defaults, "another tenant's settings are its own");
}
