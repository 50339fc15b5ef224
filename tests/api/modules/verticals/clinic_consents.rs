//! Guardians and consents over real HTTP, with real tokens (V46): a patient's related
//! people are contacts of the tenant, never the patient itself, with at most one
//! emergency contact; a consent is signed by the patient or by a guardian who may
//! consent, recorded and revoked in the caller's name, revoked once; read_only changes
//! nothing; both are in the patient's export; and another tenant's patients and
//! consents answer like ids that do not exist.

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use super::clinic_api::create_patient;
use crate::support::{
    TestApp, TestUser, error_fields, expect_json, expect_problem, id_of, spawn_app,
};

/// `PUT /patients/{patient}/guardians/{contact}` with `body`.
async fn put_guardian(
    app: &TestApp,
    user: &TestUser,
    patient: &str,
    contact: &str,
    body: Value,
) -> Response {
    app.call(
        Method::PUT,
        &format!("/patients/{patient}/guardians/{contact}"),
        user,
        Some(body),
    )
    .await
}

/// The contact id of `patient`.
async fn contact_of(app: &TestApp, user: &TestUser, patient: &str) -> String {
    let found = expect_json(
        app.get(&format!("/patients/{patient}"), user).await,
        StatusCode::OK,
    )
    .await;
    found["contact_id"].as_str().expect("contact_id").to_owned()
}

/// Asserts a 422 problem naming exactly `field`; returns it.
async fn expect_invalid(response: Response, field: &str) -> Value {
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&problem), [field], "{problem}");
    problem
}

/// `patient`'s guardians and consents as `user` reads them.
async fn guardians_and_consents(app: &TestApp, user: &TestUser, patient: &str) -> [Value; 2] {
    let mut views = [Value::Null, Value::Null];
    for (view, part) in views.iter_mut().zip(["guardians", "consents"]) {
        let path = format!("/patients/{patient}/{part}");
        *view = expect_json(app.get(&path, user).await, StatusCode::OK).await;
    }
    views
}

fn items(list: &Value) -> Vec<Value> {
    list["items"].as_array().expect("items").clone()
}

#[tokio::test]
async fn guardians_are_the_tenants_contacts_never_the_patient_with_one_emergency_contact() {
    let app = spawn_app().await;
    let owner = app.sign_up("Praxis").await;
    let patient = create_patient(&app, &owner, "Noemi").await;
    let own = contact_of(&app, &owner, &patient).await;
    let mother = id_of(&app.create_contact(&owner, "Maria").await);
    let uncle = id_of(&app.create_contact(&owner, "Ugo").await);
    let guardians = format!("/patients/{patient}/guardians");

    let link = |contact: &str, body: Value| {
        let (app, owner, patient, contact) = (&app, &owner, &patient, contact.to_owned());
        async move { put_guardian(app, owner, patient, &contact, body).await }
    };

    let created = expect_json(
        link(
            &mother,
            json!({ "relationship": "parent", "permissions": ["consent", "book", "consent"],
                    "emergency_contact": true }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created["first_name"], "Maria");
    assert_eq!(created["permissions"], json!(["book", "consent"]));
    assert_eq!(created["emergency_contact"], true);
    let replaced = expect_json(
        link(
            &mother,
            json!({ "relationship": "legal_guardian", "permissions": ["consent"],
                    "emergency_contact": true }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(replaced["relationship"], "legal_guardian");
    assert_eq!(replaced["permissions"], json!(["consent"]));
    assert_eq!(replaced["created_at"], created["created_at"]);

    // One emergency contact; never the patient itself; a relationship of the list.
    let second = json!({ "relationship": "relative", "emergency_contact": true });
    let problem = expect_problem(link(&uncle, second).await, StatusCode::CONFLICT).await;
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("emergency contact")),
        "{problem}"
    );
    let linked = expect_json(
        link(&uncle, json!({ "relationship": "relative" })).await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(linked["permissions"], json!([]));
    assert_eq!(linked["emergency_contact"], false);
    for (contact, body, field) in [
        (&own, json!({ "relationship": "other" }), "contact_id"),
        (&uncle, json!({ "relationship": "friend" }), "relationship"),
        (
            &uncle,
            json!({ "relationship": "relative", "permissions": ["drive"] }),
            "permissions[0]",
        ),
    ] {
        expect_invalid(link(contact, body).await, field).await;
    }

    // Another tenant's contact is a contact that does not exist.
    let stranger = app.sign_up("Elsewhere").await;
    let theirs = id_of(&app.create_contact(&stranger, "Sandro").await);
    let body = json!({ "relationship": "other" });
    let foreign = expect_problem(
        put_guardian(&app, &owner, &patient, &theirs, body.clone()).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let random = Uuid::now_v7().to_string();
    let missing = expect_problem(
        put_guardian(&app, &owner, &patient, &random, body).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(foreign, missing);

    let listed = expect_json(app.get(&guardians, &owner).await, StatusCode::OK).await;
    let order: Vec<String> = items(&listed)
        .iter()
        .map(|g| g["contact_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        order,
        [mother.clone(), uncle.clone()],
        "emergency contact first"
    );

    // read_only changes nothing; a writer unlinks; the contact stays.
    let read_only = app.add_member(&owner, "read_only").await;
    expect_problem(
        put_guardian(
            &app,
            &read_only,
            &patient,
            &uncle,
            json!({ "relationship": "sibling" }),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let uncle_link = format!("{guardians}/{uncle}");
    expect_problem(
        app.delete(&uncle_link, &read_only).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let read_only_view = expect_json(app.get(&guardians, &read_only).await, StatusCode::OK).await;
    assert_eq!(
        read_only_view, listed,
        "every member reads, nothing changed"
    );
    let member = app.add_member(&owner, "member").await;
    let deleted = app.delete(&uncle_link, &member).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    expect_problem(
        app.delete(&uncle_link, &member).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_json(
        app.get(&format!("/contacts/{uncle}"), &owner).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        items(&expect_json(app.get(&guardians, &owner).await, StatusCode::OK).await).len(),
        1
    );

    // Deleting the related contact removes its link.
    let gone = app.delete(&format!("/contacts/{mother}"), &owner).await;
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    let after = expect_json(app.get(&guardians, &owner).await, StatusCode::OK).await;
    assert!(items(&after).is_empty(), "{after}");
}

#[tokio::test]
async fn consents_are_signed_by_the_patient_or_a_guardian_who_may_consent_and_revoked_once() {
    let app = spawn_app().await;
    let owner = app.sign_up("Praxis").await;
    let reception = app.add_member(&owner, "member").await;
    let patient = create_patient(&app, &owner, "Noemi").await;
    let own = contact_of(&app, &owner, &patient).await;
    let mother = id_of(&app.create_contact(&owner, "Maria").await);
    let uncle = id_of(&app.create_contact(&owner, "Ugo").await);
    for (contact, permissions) in [(&mother, json!(["consent"])), (&uncle, json!(["book"]))] {
        let body = json!({ "relationship": "relative", "permissions": permissions });
        expect_json(
            put_guardian(&app, &owner, &patient, contact, body).await,
            StatusCode::CREATED,
        )
        .await;
    }
    let consents = format!("/patients/{patient}/consents");

    let signed = expect_json(
        app.post(
            &consents,
            &reception,
            json!({ "scope": "treatment", "version": "2024-03" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(
        signed["signed_by_contact_id"],
        json!(own),
        "the patient by default"
    );
    assert_eq!(signed["recorded_by"], json!(reception.user_id));
    assert_eq!(signed["patient_id"], json!(patient));
    assert!(signed.get("revoked_at").is_none(), "{signed}");
    let by_mother = expect_json(
        app.post(
            &consents,
            &reception,
            json!({ "scope": "data_sharing", "version": "v2", "signed_by_contact_id": mother,
                    "signed_at": "2024-05-01T09:30:00Z" }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(by_mother["signed_at"], "2024-05-01T09:30:00+00:00");

    // Only the patient or a guardian who may consent signs; another tenant's contact
    // is a contact that does not exist.
    let stranger = app.sign_up("Elsewhere").await;
    let theirs = id_of(&app.create_contact(&stranger, "Sandro").await);
    let mut refusals = Vec::new();
    for signer in [uncle.clone(), theirs, Uuid::now_v7().to_string()] {
        let body = json!({ "scope": "research", "version": "v1", "signed_by_contact_id": signer });
        refusals.push(
            expect_invalid(
                app.post(&consents, &reception, body).await,
                "signed_by_contact_id",
            )
            .await,
        );
    }
    assert_eq!(
        refusals[1], refusals[2],
        "another tenant's contact answers like a random id"
    );
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    for (body, field) in [
        (
            json!({ "scope": "research", "version": "v1", "signed_at": tomorrow }),
            "signed_at",
        ),
        (json!({ "scope": "research", "version": " " }), "version"),
        (json!({ "scope": "everything", "version": "v1" }), "scope"),
    ] {
        expect_invalid(app.post(&consents, &reception, body).await, field).await;
    }

    // Revoked once, in the caller's name; read_only does neither.
    let read_only = app.add_member(&owner, "read_only").await;
    let revoke = format!("{consents}/{}/revoke", id_of(&signed));
    expect_problem(
        app.post(&revoke, &read_only, json!({})).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_problem(
        app.post(
            &consents,
            &read_only,
            json!({ "scope": "treatment", "version": "v1" }),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let revoked = expect_json(app.post(&revoke, &owner, json!({})).await, StatusCode::OK).await;
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    assert_eq!(revoked["revoked_by"], json!(owner.user_id));
    assert_eq!(revoked["recorded_by"], signed["recorded_by"]);
    let again = expect_problem(
        app.post(&revoke, &owner, json!({})).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        again["detail"]
            .as_str()
            .is_some_and(|d| d.contains("revoked already")),
        "{again}"
    );
    // A consent of another patient, or none, through this patient's path: 404.
    let other = create_patient(&app, &owner, "Otto").await;
    let elsewhere = format!("/patients/{other}/consents/{}/revoke", id_of(&by_mother));
    let wrong_patient = expect_problem(
        app.post(&elsewhere, &owner, json!({})).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let none = format!("{consents}/{}/revoke", Uuid::now_v7());
    let no_consent = expect_problem(
        app.post(&none, &owner, json!({})).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(wrong_patient, no_consent);

    let listed = expect_json(app.get(&consents, &read_only).await, StatusCode::OK).await;
    let listed = items(&listed);
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0], by_mother, "in the order they were signed");
    assert_eq!(listed[1], revoked);

    // Both are in the patient's export, with the related people.
    let export = expect_json(
        app.get(&format!("/patients/{patient}/export"), &owner)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(export["consents"], json!([by_mother, revoked]));
    let related: Vec<&str> = export["guardians"]
        .as_array()
        .expect("guardians")
        .iter()
        .filter_map(|g| g["first_name"].as_str())
        .collect();
    assert_eq!(related, ["Maria", "Ugo"]);
}

#[tokio::test]
async fn reads_of_guardians_and_consents_are_logged_as_reads_of_the_patient() {
    let app = spawn_app().await;
    let owner = app.sign_up("Praxis").await;
    let member = app.add_member(&owner, "member").await;
    let patient = create_patient(&app, &owner, "Noemi").await;
    for path in ["guardians", "consents"] {
        let response = app
            .http
            .get(app.url(&format!("/api/v1/patients/{patient}/{path}")))
            .bearer_auth(&member.token)
            .header("X-Access-Reason", path)
            .send()
            .await
            .expect("request");
        expect_json(response, StatusCode::OK).await;
    }
    let log = expect_json(
        app.get(&format!("/patients/{patient}/access-log"), &owner)
            .await,
        StatusCode::OK,
    )
    .await;
    let logged: Vec<(String, String)> = items(&log)
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_owned(),
                e["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        logged,
        [
            ("patient.read".to_owned(), "consents".to_owned()),
            ("patient.read".to_owned(), "guardians".to_owned()),
        ]
    );
}

#[tokio::test]
async fn another_tenants_patients_guardians_and_consents_answer_like_ids_that_do_not_exist() {
    let app = spawn_app().await;
    let a = app.sign_up("Tenant A").await;
    let b = app.sign_up("Tenant B").await;
    let patient = create_patient(&app, &a, "Alice").await;
    let mother = id_of(&app.create_contact(&a, "Maria").await);
    let link = json!({ "relationship": "parent", "permissions": ["consent"] });
    expect_json(
        put_guardian(&app, &a, &patient, &mother, link.clone()).await,
        StatusCode::CREATED,
    )
    .await;
    let consent = id_of(
        &app.create(
            &format!("/patients/{patient}/consents"),
            &a,
            json!({ "scope": "treatment", "version": "v1", "signed_by_contact_id": mother }),
        )
        .await,
    );
    let b_patient = create_patient(&app, &b, "Bob").await;
    let before = guardians_and_consents(&app, &a, &patient).await;

    let consent_body = json!({ "scope": "treatment", "version": "v9" });
    let attacks: [(Method, String, Option<Value>); 6] = [
        (Method::GET, "/patients/{id}/guardians".into(), None),
        (
            Method::PUT,
            format!("/patients/{{id}}/guardians/{mother}"),
            Some(link.clone()),
        ),
        (
            Method::DELETE,
            format!("/patients/{{id}}/guardians/{mother}"),
            None,
        ),
        (Method::GET, "/patients/{id}/consents".into(), None),
        (
            Method::POST,
            "/patients/{id}/consents".into(),
            Some(consent_body),
        ),
        (
            Method::POST,
            format!("/patients/{{id}}/consents/{consent}/revoke"),
            Some(json!({})),
        ),
    ];
    for (method, path, body) in &attacks {
        let theirs = app
            .call(
                method.clone(),
                &path.replace("{id}", &patient),
                &b,
                body.clone(),
            )
            .await;
        let random = app
            .call(
                method.clone(),
                &path.replace("{id}", &Uuid::now_v7().to_string()),
                &b,
                body.clone(),
            )
            .await;
        let theirs = expect_problem(theirs, StatusCode::NOT_FOUND).await;
        let random = expect_problem(random, StatusCode::NOT_FOUND).await;
        assert_eq!(theirs, random, "{method} {path}");
    }
    // A's consent and A's contact through B's own patient: like ids that do not exist.
    let revoke_theirs = format!("/patients/{b_patient}/consents/{consent}/revoke");
    let revoke_random = format!("/patients/{b_patient}/consents/{}/revoke", Uuid::now_v7());
    let theirs = expect_problem(
        app.post(&revoke_theirs, &b, json!({})).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let random = expect_problem(
        app.post(&revoke_random, &b, json!({})).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(theirs, random);
    let signed_by_a =
        json!({ "scope": "treatment", "version": "v1", "signed_by_contact_id": mother });
    expect_invalid(
        app.post(&format!("/patients/{b_patient}/consents"), &b, signed_by_a)
            .await,
        "signed_by_contact_id",
    )
    .await;
    expect_problem(
        put_guardian(&app, &b, &b_patient, &mother, link).await,
        StatusCode::NOT_FOUND,
    )
    .await;

    let after = guardians_and_consents(&app, &a, &patient).await;
    assert_eq!(before, after, "A's guardians and consents are untouched");
}
