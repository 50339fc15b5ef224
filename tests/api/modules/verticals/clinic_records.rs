//! Treatment notes and the access log over real HTTP, with real tokens, and the
//! application role's own SQL: only clinicians (owners, admins, practitioners) read
//! notes, never a member without a profile nor read_only; a signed note is corrected
//! only by an addendum; every read of a patient's record, notes or appointments leaves
//! its row in the log, in the reading transaction; a practitioner without an
//! appointment with the patient must say why; the app role cannot edit the log; and
//! a row edited by hand is found by `/clinic/access-log/verify`, and a rewrite that
//! recomputed every later hash by the head kept from before it. Appointments (and
//! nothing clinical) reach webhook endpoints as the API returns them.

use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use super::clinic_api::{Clinic, booking, create_patient, set_up_clinic, zurich};
use crate::support::{
    TestApp, TestUser, error_fields, expect_json, expect_problem, id_of, spawn_app,
    webhooks::{Documented, Receiver, subscribe, with_worker},
};

/// GET `path` as `user`, with an `X-Access-Reason` when one is given.
async fn read(app: &TestApp, user: &TestUser, path: &str, reason: Option<&str>) -> Response {
    let mut request = app
        .http
        .get(app.url(&format!("/api/v1{path}")))
        .bearer_auth(&user.token);
    if let Some(reason) = reason {
        request = request.header("X-Access-Reason", reason);
    }
    request.send().await.expect("request")
}

/// A patient of `clinic` with one appointment with its practitioner.
async fn patient_with_appointment(
    app: &TestApp,
    owner: &TestUser,
    clinic: &Clinic,
) -> (String, String) {
    let patient = create_patient(app, owner, "Noemi").await;
    let appointment = app
        .create(
            "/appointments",
            owner,
            booking(clinic, &patient, zurich(9, 0)),
        )
        .await;
    (patient, id_of(&appointment))
}

/// A member of `owner`'s tenant with a practitioner profile (and no hours).
async fn another_practitioner(app: &TestApp, owner: &TestUser) -> TestUser {
    let member = app.add_member(owner, "member").await;
    app.create(
        "/practitioners",
        owner,
        json!({ "user_id": member.user_id, "title": "Physiotherapist" }),
    )
    .await;
    member
}

/// The patient's access log as its owner sees it, newest first.
async fn log_of(app: &TestApp, owner: &TestUser, patient: &str) -> Vec<Value> {
    let page = expect_json(
        read(app, owner, &format!("/patients/{patient}/access-log"), None).await,
        StatusCode::OK,
    )
    .await;
    page["items"].as_array().expect("items").clone()
}

async fn verify(app: &TestApp, owner: &TestUser) -> Value {
    expect_json(
        read(app, owner, "/clinic/access-log/verify", None).await,
        StatusCode::OK,
    )
    .await
}

#[tokio::test]
async fn only_clinicians_read_notes_and_a_signed_note_changes_only_by_addendum() {
    let app = spawn_app().await;
    let owner = app.sign_up("Praxis").await;
    let clinic = set_up_clinic(&app, &owner).await;
    let practitioner = &clinic.member;
    let (patient, appointment) = patient_with_appointment(&app, &owner, &clinic).await;
    let notes = format!("/patients/{patient}/treatment-notes");

    let draft = expect_json(
        app.post(
            &notes,
            practitioner,
            json!({ "body": "Lower back pain.", "appointment_id": appointment }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["author_id"], json!(practitioner.user_id));
    let note = format!("/treatment-notes/{}", id_of(&draft));

    // A member without a profile and a read-only member: nothing, whatever the route.
    let receptionist = app.add_member(&owner, "member").await;
    let read_only = app.add_member(&owner, "read_only").await;
    for user in [&receptionist, &read_only] {
        expect_problem(read(&app, user, &notes, None).await, StatusCode::FORBIDDEN).await;
        expect_problem(read(&app, user, &note, None).await, StatusCode::FORBIDDEN).await;
    }
    expect_problem(
        app.post(&notes, &receptionist, json!({ "body": "x" }))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;

    // The owner reads it but only its author edits it.
    let listed = expect_json(read(&app, &owner, &notes, None).await, StatusCode::OK).await;
    assert_eq!(listed["items"][0]["id"], draft["id"]);
    expect_problem(
        app.patch(&note, &owner, json!({ "body": "Rewritten." }))
            .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let edited = expect_json(
        app.patch(
            &note,
            practitioner,
            json!({ "body": "Lower back pain, two weeks." }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(edited["body"], "Lower back pain, two weeks.");

    // Signed: immutable; corrected by an addendum, which amends a signed note only.
    let signed = expect_json(
        app.patch(&note, practitioner, json!({ "status": "signed" }))
            .await,
        StatusCode::OK,
    )
    .await;
    assert!(signed["signed_at"].is_string(), "{signed}");
    expect_problem(
        app.patch(&note, practitioner, json!({ "body": "Nothing happened." }))
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    expect_problem(app.delete(&note, practitioner).await, StatusCode::CONFLICT).await;
    let addendum = expect_json(
        app.post(
            &notes,
            practitioner,
            json!({ "body": "Addendum: and a mild fever.", "amends_id": draft["id"] }),
        )
        .await,
        StatusCode::CREATED,
    )
    .await;
    let problem = expect_problem(
        app.post(
            &notes,
            practitioner,
            json!({ "body": "x", "amends_id": addendum["id"] }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error_fields(&problem), ["amends_id"]);

    // An appointment of another patient is not this patient's.
    let other = create_patient(&app, &owner, "Otto").await;
    let problem = expect_problem(
        app.post(
            &format!("/patients/{other}/treatment-notes"),
            practitioner,
            json!({ "body": "x", "appointment_id": appointment }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error_fields(&problem), ["appointment_id"]);

    // Another tenant's owner: A's note answers like a note that does not exist.
    let stranger = app.sign_up("Elsewhere").await;
    let theirs = expect_problem(
        read(&app, &stranger, &note, None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let random = format!("/treatment-notes/{}", Uuid::now_v7());
    let none = expect_problem(
        read(&app, &stranger, &random, None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(theirs, none);
}

#[tokio::test]
async fn the_app_role_with_a_members_context_reads_no_note() {
    let app = spawn_app().await;
    let owner = app.sign_up("Praxis").await;
    let clinic = set_up_clinic(&app, &owner).await;
    let (patient, _) = patient_with_appointment(&app, &owner, &clinic).await;
    app.create(
        &format!("/patients/{patient}/treatment-notes"),
        &clinic.member,
        json!({ "body": "Confidential." }),
    )
    .await;
    let receptionist = app.add_member(&owner, "member").await;
    let read_only = app.add_member(&owner, "read_only").await;
    let sql = app.app_role_sql().await;
    let count = |user: &TestUser| {
        let (sql, app, tenant, id) = (&sql, &app, user.tenant_id, user.user_id);
        async move {
            sql.batch_execute("BEGIN").await.expect("begin");
            app.enter(sql, tenant, id).await;
            let row = sql
                .query_one("SELECT count(*) AS n FROM treatment_notes", &[])
                .await
                .expect("count");
            sql.batch_execute("ROLLBACK").await.expect("rollback");
            row.get::<_, i64>("n")
        }
    };
    assert_eq!(
        count(&clinic.member).await,
        1,
        "the practitioner reads the note"
    );
    assert_eq!(count(&owner).await, 1, "the owner reads the note");
    assert_eq!(
        count(&receptionist).await,
        0,
        "a member without a profile reads nothing"
    );
    assert_eq!(count(&read_only).await, 0, "read_only reads nothing");
}

#[tokio::test]
async fn every_read_of_a_patient_is_logged_with_who_why_and_break_glass() {
    let app = spawn_app().await;
    let owner = app.sign_up("Praxis").await;
    let clinic = set_up_clinic(&app, &owner).await;
    let (patient, appointment) = patient_with_appointment(&app, &owner, &clinic).await;
    assert!(
        log_of(&app, &owner, &patient).await.is_empty(),
        "booking is not reading"
    );

    expect_json(
        read(
            &app,
            &clinic.member,
            &format!("/patients/{patient}"),
            Some("intake"),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    expect_json(
        read(
            &app,
            &clinic.member,
            &format!("/appointments/{appointment}"),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    expect_json(
        read(
            &app,
            &clinic.member,
            &format!("/patients/{patient}/treatment-notes"),
            None,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let log = log_of(&app, &owner, &patient).await;
    let actions: Vec<&str> = log
        .iter()
        .map(|e| e["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        actions,
        ["treatment_notes.read", "appointments.read", "patient.read"]
    );
    assert!(
        log.iter()
            .all(|e| e["user_id"] == json!(clinic.member.user_id))
    );
    assert_eq!(log[2]["reason"], "intake");
    assert_eq!(log[2]["client_ip"], "127.0.0.1");
    assert!(log.iter().all(|e| e["break_glass"] == false));

    // One row per patient read: a list of two patients adds two.
    create_patient(&app, &owner, "Otto").await;
    expect_json(
        read(&app, &clinic.member, "/patients", None).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(log_of(&app, &owner, &patient).await.len(), 4);

    // Break-glass: another practitioner, without an appointment with the patient.
    let colleague = another_practitioner(&app, &owner).await;
    let notes = format!("/patients/{patient}/treatment-notes");
    let problem = expect_problem(
        read(&app, &colleague, &notes, None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error_fields(&problem), ["X-Access-Reason"]);
    assert_eq!(
        log_of(&app, &owner, &patient).await.len(),
        4,
        "a refused read logs nothing"
    );
    expect_json(
        read(&app, &colleague, &notes, Some("covering for Dr. med.")).await,
        StatusCode::OK,
    )
    .await;
    let newest = &log_of(&app, &owner, &patient).await[0];
    assert_eq!(newest["break_glass"], true);
    assert_eq!(newest["reason"], "covering for Dr. med.");
    assert_eq!(newest["user_id"], json!(colleague.user_id));

    // The log is for owners and admins.
    expect_problem(
        read(
            &app,
            &clinic.member,
            &format!("/patients/{patient}/access-log"),
            None,
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_problem(
        read(&app, &clinic.member, "/clinic/access-log/verify", None).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let verified = verify(&app, &owner).await;
    assert_eq!(
        (
            &verified["valid"],
            &verified["rows"],
            &verified["head"]["seq"]
        ),
        (&json!(true), &json!(6), &json!(6)),
        "{verified}"
    );
}

/// A clinic whose owner read one patient's record three times, with the reasons
/// "first", "second" and "third": the owner and the patient.
async fn three_logged_reads(app: &TestApp) -> (TestUser, String) {
    let owner = app.sign_up("Praxis").await;
    let clinic = set_up_clinic(app, &owner).await;
    let (patient, _) = patient_with_appointment(app, &owner, &clinic).await;
    for reason in ["first", "second", "third"] {
        expect_json(
            read(app, &owner, &format!("/patients/{patient}"), Some(reason)).await,
            StatusCode::OK,
        )
        .await;
    }
    (owner, patient)
}

#[tokio::test]
async fn the_app_role_cannot_edit_the_log_and_a_row_edited_by_hand_breaks_the_chain() {
    let app = spawn_app().await;
    let (owner, _) = three_logged_reads(&app).await;
    assert_eq!(verify(&app, &owner).await["valid"], true);

    let sql = app.app_role_sql().await;
    for statement in [
        "UPDATE clinic_access_log SET reason = 'nothing to see'",
        "DELETE FROM clinic_access_log",
        "UPDATE clinic_access_chain SET seq = 0",
    ] {
        sql.batch_execute("BEGIN").await.expect("begin");
        app.enter(&sql, owner.tenant_id, owner.user_id).await;
        let refused = sql.batch_execute(statement).await.expect_err(statement);
        assert_eq!(
            refused.code(),
            Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
            "{statement}: {refused}"
        );
        sql.batch_execute("ROLLBACK").await.expect("rollback");
    }

    // The owner of the tables rewrites the second read's reason: verify names it.
    app.owner_sql()
        .await
        .execute(
            "UPDATE clinic_access_log SET reason = 'routine' WHERE tenant_id = $1 AND seq = 2",
            &[&owner.tenant_id],
        )
        .await
        .expect("tamper");
    assert_eq!(
        verify(&app, &owner).await,
        json!({ "valid": false, "rows": 1, "first_broken_seq": 2 })
    );
    // And cutting off the tail (the last row) is found too, at the row that is gone.
    app.owner_sql()
        .await
        .execute(
            "UPDATE clinic_access_log SET reason = 'second' WHERE tenant_id = $1 AND seq = 2",
            &[&owner.tenant_id],
        )
        .await
        .expect("restore");
    app.owner_sql()
        .await
        .execute(
            "DELETE FROM clinic_access_log WHERE tenant_id = $1 AND seq = 3",
            &[&owner.tenant_id],
        )
        .await
        .expect("cut the tail");
    assert_eq!(
        verify(&app, &owner).await,
        json!({ "valid": false, "rows": 2, "first_broken_seq": 3 })
    );
    let stranger = app.sign_up("Elsewhere").await;
    assert_eq!(
        verify(&app, &stranger).await,
        json!({ "valid": true, "rows": 0 }),
        "another tenant's chain is its own"
    );
}

/// `GET /clinic/access-log/verify` with a head kept from an earlier verification.
async fn verify_against(app: &TestApp, owner: &TestUser, head: &Value) -> Response {
    let query = [
        ("anchor_seq", head["seq"].to_string()),
        (
            "anchor_hash",
            head["hash"].as_str().expect("hash").to_owned(),
        ),
    ];
    app.http
        .get(app.url("/api/v1/clinic/access-log/verify"))
        .bearer_auth(&owner.token)
        .query(&query)
        .send()
        .await
        .expect("request")
}

/// The limit of a chain whose head is in the database: the tables' owner rewrites a
/// row and recomputes every later hash and the head, and the chain verifies again.
/// A head kept outside (the anchor) does not match any more.
#[tokio::test]
async fn a_head_kept_outside_catches_a_rewrite_that_recomputed_every_hash() {
    let app = spawn_app().await;
    let (owner, patient) = three_logged_reads(&app).await;
    let verified = verify(&app, &owner).await;
    let head = verified["head"].clone();
    assert_eq!(head["seq"], verified["rows"], "{verified}");
    assert!(
        head["hash"]
            .as_str()
            .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit())),
        "{verified}"
    );
    let kept = expect_json(verify_against(&app, &owner, &head).await, StatusCode::OK).await;
    assert_eq!(
        (&kept["valid"], &kept["anchor_matches"]),
        (&json!(true), &json!(true))
    );

    // The rewrite: the second read's reason, and every hash from there on, and the head.
    let superuser = app.owner_sql().await;
    superuser
        .execute(
            "SELECT set_config('rewrite.tenant', $1::uuid::text, false)",
            &[&owner.tenant_id],
        )
        .await
        .expect("the tenant to rewrite");
    superuser
        .batch_execute(
            "DO $$
             DECLARE
                 v_tenant uuid := current_setting('rewrite.tenant')::uuid;
                 v_hash bytea;
                 r clinic_access_log%ROWTYPE;
             BEGIN
                 SELECT hash INTO v_hash FROM clinic_access_log WHERE tenant_id = v_tenant AND seq = 1;
                 FOR r IN SELECT * FROM clinic_access_log
                          WHERE tenant_id = v_tenant AND seq >= 2 ORDER BY seq LOOP
                     IF r.seq = 2 THEN r.reason := 'routine'; END IF;
                     UPDATE clinic_access_log
                     SET reason = r.reason, previous_hash = v_hash,
                         hash = app.access_log_hash(v_hash, r.tenant_id, r.seq, r.at, r.user_id,
                                                    r.patient_id, r.action, r.reason,
                                                    r.break_glass, r.client_ip)
                     WHERE tenant_id = v_tenant AND seq = r.seq
                     RETURNING hash INTO v_hash;
                 END LOOP;
                 UPDATE clinic_access_chain SET hash = v_hash WHERE tenant_id = v_tenant;
             END $$",
        )
        .await
        .expect("rewrite the chain");
    let log = log_of(&app, &owner, &patient).await;
    assert!(
        log.iter().any(|entry| entry["reason"] == "routine"),
        "the rewrite took: {log:?}"
    );
    let unanchored = verify(&app, &owner).await;
    assert_eq!(
        unanchored["valid"], true,
        "undetectable from inside: {unanchored}"
    );
    assert_ne!(unanchored["head"], head);
    let anchored = expect_json(verify_against(&app, &owner, &head).await, StatusCode::OK).await;
    assert_eq!(
        (&anchored["valid"], &anchored["anchor_matches"]),
        (&json!(false), &json!(false)),
        "{anchored}"
    );

    // An anchor is both of its parameters, and a hash is 64 hex digits.
    let hex = "ab".repeat(32);
    for (query, field) in [
        (vec![("anchor_seq", "3")], "anchor_hash"),
        (vec![("anchor_hash", hex.as_str())], "anchor_seq"),
        (
            vec![("anchor_seq", "3"), ("anchor_hash", "not hex")],
            "anchor_hash",
        ),
    ] {
        let response = app
            .http
            .get(app.url("/api/v1/clinic/access-log/verify"))
            .bearer_auth(&owner.token)
            .query(&query)
            .send()
            .await
            .expect("request");
        let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(error_fields(&problem), [field], "{problem}");
    }
}

#[tokio::test]
async fn appointment_events_arrive_as_the_api_returns_them_and_nothing_clinical_is_an_event() {
    let (_app, app, owner) = with_worker().await;
    let receiver = Receiver::start().await;
    subscribe(&app, &owner, &receiver.url(), &["appointment.*"]).await;
    let clinic = set_up_clinic(&app, &owner).await;
    let (_, appointment) = patient_with_appointment(&app, &owner, &clinic).await;
    let path = format!("/appointments/{appointment}");
    let booked = expect_json(app.get(&path, &owner).await, StatusCode::OK).await;
    let patch = |body: Value| {
        let (app, owner, path) = (&app, &owner, &path);
        async move { expect_json(app.patch(path, owner, body).await, StatusCode::OK).await }
    };
    let moved = patch(json!({ "starts_at": zurich(11, 0).to_rfc3339() })).await;
    let confirmed = patch(json!({ "status": "confirmed" })).await;
    let cancelled = patch(json!({ "status": "cancelled", "cancel_reason": "Ill." })).await;

    let deliveries = receiver.wait_for(4, Duration::from_secs(20)).await;
    let documented = Documented::of(&app).await;
    let mut seen: Vec<(String, Value)> = deliveries
        .iter()
        .map(|delivery| {
            let body = delivery.json();
            documented.assert_describes(&body);
            (
                body["type"].as_str().unwrap_or_default().to_owned(),
                body["data"].clone(),
            )
        })
        .collect();
    seen.sort_by_key(|(_, data)| data["updated_at"].as_str().unwrap_or_default().to_owned());
    assert_eq!(
        seen,
        [
            ("appointment.booked".to_owned(), booked),
            ("appointment.rescheduled".to_owned(), moved),
            ("appointment.updated".to_owned(), confirmed),
            ("appointment.cancelled".to_owned(), cancelled),
        ]
    );

    // Nothing clinical is an event kind: patients and notes stay in the clinic.
    let catalogue = expect_json(
        app.get("/webhooks/event-types", &owner).await,
        StatusCode::OK,
    )
    .await;
    let kinds: Vec<&str> = catalogue["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|kind| kind["type"].as_str())
        .collect();
    assert!(kinds.contains(&"appointment.no_show"), "{catalogue}");
    assert!(
        kinds
            .iter()
            .all(|kind| !kind.starts_with("patient") && !kind.starts_with("treatment")),
        "{catalogue}"
    );
}

#[tokio::test]
async fn a_patients_export_holds_everything_about_them_and_is_itself_logged() {
    let app = spawn_app().await;
    let owner = app.sign_up("Praxis").await;
    let clinic = set_up_clinic(&app, &owner).await;
    let (patient, appointment) = patient_with_appointment(&app, &owner, &clinic).await;
    let note = app
        .create(
            &format!("/patients/{patient}/treatment-notes"),
            &clinic.member,
            json!({ "body": "Knee pain.", "appointment_id": appointment }),
        )
        .await;
    expect_json(
        read(
            &app,
            &clinic.member,
            &format!("/patients/{patient}"),
            Some("intake"),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let path = format!("/patients/{patient}/export");

    let export = expect_json(
        read(&app, &owner, &path, Some("access request")).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(export["patient"]["id"], json!(patient));
    assert_eq!(export["patient"]["first_name"], "Noemi");
    assert_eq!(export["appointments"][0]["id"], json!(appointment));
    assert_eq!(export["treatment_notes"][0], note);
    let earlier: Vec<&str> = export["access_log"]
        .as_array()
        .expect("access_log")
        .iter()
        .map(|entry| entry["reason"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(earlier, ["intake"], "the log as it was before the export");
    let log = log_of(&app, &owner, &patient).await;
    let logged: Vec<(&str, &str)> = log[..3]
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default(),
                e["reason"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        logged,
        [
            ("treatment_notes.read", "access request"),
            ("appointments.read", "access request"),
            ("patient.read", "access request"),
        ],
        "the export is logged as the reads it is"
    );

    expect_problem(
        read(&app, &clinic.member, &path, None).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let stranger = app.sign_up("Elsewhere").await;
    let theirs = expect_problem(
        read(&app, &stranger, &path, None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let random = format!("/patients/{}/export", Uuid::now_v7());
    let none = expect_problem(
        read(&app, &stranger, &random, None).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(theirs, none);
}
