//! The Clinic API over real HTTP, with real tokens: managers set the clinic up and
//! everyone else is refused; patients are unique per contact and identifier and can be
//! found; appointments are booked only within working hours, outside time off and
//! without overlapping another (buffers included), and follow their lifecycle;
//! availability offers exactly the slots that can be booked; thirty concurrent
//! bookings of one slot keep one; and another tenant's ids, or a tenant that switched
//! the clinic off, get the answers of ids and routes that do not exist.
//!
//! The database layer itself (availability against a brute-force reference, races as
//! the application role's SQL) is in `clinic.rs`.

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, SecondsFormat, TimeZone, Timelike, Utc, Weekday,
};
use chrono_tz::Europe::Zurich;
use futures::future::join_all;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{
    TestApp, TestUser, error_fields, expect_json, expect_problem, id_of, spawn_app, spawn_app_with,
};

/// Tuesday 10 June 2031: far ahead, in a week without a daylight-saving change.
fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2031, 6, 10).expect("a date")
}

/// `hour:minute` on [`day`], Zurich time, as an instant.
pub(super) fn zurich(hour: u32, minute: u32) -> DateTime<Utc> {
    let local = day().and_hms_opt(hour, minute, 0).expect("a time of day");
    Zurich
        .from_local_datetime(&local)
        .single()
        .expect("the local time exists once")
        .to_utc()
}

fn at(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn instant(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().expect("a timestamp"))
        .expect("RFC 3339")
        .to_utc()
}

/// A location, a 30-minute type with 15 minutes after, and a member who practises
/// there every day from 08:00 to 18:00.
pub(super) struct Clinic {
    pub(super) location: String,
    pub(super) appointment_type: String,
    pub(super) practitioner: String,
    /// The member who is the practitioner (a writer, not a manager).
    pub(super) member: TestUser,
}

/// The same range at `location` on every day of the week.
pub(super) fn every_day(location: &str, starts: &str, ends: &str) -> Value {
    (1..=7)
        .map(|weekday| {
            json!({ "location_id": location, "weekday": weekday, "starts": starts, "ends": ends })
        })
        .collect()
}

pub(super) async fn set_up_clinic(app: &TestApp, owner: &TestUser) -> Clinic {
    let location = app
        .create(
            "/locations",
            owner,
            json!({ "name": "Bahnhofstrasse", "time_zone": "Europe/Zurich" }),
        )
        .await;
    let appointment_type = app
        .create(
            "/appointment-types",
            owner,
            json!({ "name": "Consultation", "duration_minutes": 30, "buffer_after_minutes": 15 }),
        )
        .await;
    let member = app.add_member(owner, "member").await;
    let practitioner = app
        .create(
            "/practitioners",
            owner,
            json!({
                "user_id": member.user_id,
                "title": "Dr. med.",
                "hours": every_day(&id_of(&location), "08:00", "18:00"),
            }),
        )
        .await;
    Clinic {
        location: id_of(&location),
        appointment_type: id_of(&appointment_type),
        practitioner: id_of(&practitioner),
        member,
    }
}

pub(super) async fn create_patient(app: &TestApp, user: &TestUser, first_name: &str) -> String {
    let contact = app.create_contact(user, first_name).await;
    id_of(
        &app.create("/patients", user, json!({ "contact_id": contact["id"] }))
            .await,
    )
}

/// A booking of `clinic`'s type with its practitioner, the location left to the hours.
pub(super) fn booking(clinic: &Clinic, patient: &str, starts_at: DateTime<Utc>) -> Value {
    json!({
        "patient_id": patient,
        "practitioner_id": clinic.practitioner,
        "appointment_type_id": clinic.appointment_type,
        "starts_at": at(starts_at),
    })
}

async fn get_query(
    app: &TestApp,
    user: &TestUser,
    path: &str,
    query: &[(&str, String)],
) -> Response {
    app.http
        .get(app.url(&format!("/api/v1{path}")))
        .bearer_auth(&user.token)
        .query(query)
        .send()
        .await
        .expect("request")
}

/// Asserts a 422 problem naming exactly `field`; returns it.
async fn expect_invalid(response: Response, field: &str) -> Value {
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&problem), [field], "{problem}");
    problem
}

/// `PATCH path` answered 200; its body.
async fn patched(app: &TestApp, user: &TestUser, path: &str, body: Value) -> Value {
    expect_json(app.patch(path, user, body).await, StatusCode::OK).await
}

/// The ids of a list's items.
fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(id_of)
        .collect()
}

async fn patient_ids(app: &TestApp, user: &TestUser, query: &[(&str, String)]) -> Vec<String> {
    ids(&expect_json(
        get_query(app, user, "/patients", query).await,
        StatusCode::OK,
    )
    .await)
}

/// `GET /availability` of `clinic`'s practitioner and type from `from` to `to`.
async fn slots(
    app: &TestApp,
    user: &TestUser,
    clinic: &Clinic,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<Value> {
    let query = [
        ("practitioner_id", clinic.practitioner.clone()),
        ("appointment_type_id", clinic.appointment_type.clone()),
        ("from", at(from)),
        ("to", at(to)),
    ];
    let answer = expect_json(
        get_query(app, user, "/availability", &query).await,
        StatusCode::OK,
    )
    .await;
    answer["slots"].as_array().expect("slots").clone()
}

/// `GET /availability/next` of `clinic`'s type from 00:00 on [`day`].
async fn next_slots(app: &TestApp, user: &TestUser, clinic: &Clinic, limit: &str) -> Value {
    let query = [
        ("appointment_type_id", clinic.appointment_type.clone()),
        ("from", at(zurich(0, 0))),
        ("limit", limit.to_owned()),
    ];
    expect_json(
        get_query(app, user, "/availability/next", &query).await,
        StatusCode::OK,
    )
    .await
}

/// Posts `body` to `path` with `field` set to another tenant's id and to a random id:
/// both 422 naming the field, with the same body.
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
        problems.push(expect_invalid(app.post(path, user, body).await, field).await);
    }
    assert_eq!(
        problems[0], problems[1],
        "{path} {field}: another tenant's id answers like a random one"
    );
}

/// Calls `path` with `stranger`'s token on another tenant's `id` and on a random id:
/// both 404 with the same body.
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

#[tokio::test]
async fn a_manager_sets_up_the_clinic_and_everyone_else_is_refused() {
    let app = spawn_app().await;
    let owner = app.sign_up("Praxis am See").await;

    let location = app
        .create(
            "/locations",
            &owner,
            json!({ "name": "Bahnhofstrasse", "time_zone": "Europe/Zurich" }),
        )
        .await;
    assert_eq!(location["name"], "Bahnhofstrasse");
    assert_eq!(location["time_zone"], "Europe/Zurich");
    let location_id = id_of(&location);
    let kind = app
        .create(
            "/appointment-types",
            &owner,
            json!({ "name": "Consultation", "duration_minutes": 30, "buffer_after_minutes": 15 }),
        )
        .await;
    for (field, value) in [
        ("duration_minutes", json!(30)),
        ("buffer_before_minutes", json!(0)),
        ("buffer_after_minutes", json!(15)),
        ("price_minor", json!(0)),
        ("currency", json!("CHF")),
        ("online_booking", json!(false)),
        ("min_notice_minutes", json!(0)),
    ] {
        assert_eq!(kind[field], value, "{field}: {kind}");
    }

    let member = app.add_member(&owner, "member").await;
    let practitioner = app
        .create(
            "/practitioners",
            &owner,
            json!({
                "user_id": member.user_id,
                "title": "Dr. med.",
                "specialties": ["general practice"],
                "hours": every_day(&location_id, "08:00", "18:00"),
            }),
        )
        .await;
    assert_eq!(
        practitioner["id"],
        json!(member.user_id),
        "keyed by the member"
    );
    assert_eq!(practitioner["full_name"], "A member");
    assert_eq!(practitioner["title"], "Dr. med.");
    assert_eq!(practitioner["specialties"], json!(["general practice"]));
    let mut hours = practitioner["hours"].as_array().expect("hours").clone();
    hours.sort_by_key(|range| range["weekday"].as_i64());
    assert_eq!(
        Value::Array(hours),
        every_day(&location_id, "08:00", "18:00")
    );
    let listed = expect_json(app.get("/practitioners", &member).await, StatusCode::OK).await;
    assert_eq!(ids(&listed), [id_of(&practitioner)], "every member reads");

    // Only managers set the clinic up; a read-only member writes nothing.
    let read_only = app.add_member(&owner, "read_only").await;
    for (path, body) in [
        (
            "/locations",
            json!({ "name": "Annex", "time_zone": "Europe/Zurich" }),
        ),
        (
            "/appointment-types",
            json!({ "name": "Check-up", "duration_minutes": 15 }),
        ),
        (
            "/practitioners",
            json!({ "user_id": read_only.user_id, "title": "Dr." }),
        ),
    ] {
        expect_problem(app.post(path, &member, body).await, StatusCode::FORBIDDEN).await;
    }
    let contact = app.create_contact(&owner, "Paula").await;
    expect_problem(
        app.post(
            "/patients",
            &read_only,
            json!({ "contact_id": contact["id"] }),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
    let admin = app.add_member(&owner, "admin").await;
    app.create(
        "/locations",
        &admin,
        json!({ "name": "Annex", "time_zone": "Europe/Zurich" }),
    )
    .await;

    // A time zone must be a real IANA zone, not merely look like one.
    let nowhere = json!({ "name": "Nowhere", "time_zone": "Mars/Olympus_Mons" });
    expect_invalid(app.post("/locations", &owner, nowhere).await, "time_zone").await;

    // Overlapping ranges on one weekday: refused, nothing half-created.
    let overlapping = json!([
        { "location_id": location_id, "weekday": 1, "starts": "08:00", "ends": "12:00" },
        { "location_id": location_id, "weekday": 1, "starts": "11:00", "ends": "14:00" },
    ]);
    expect_invalid(
        app.post(
            "/practitioners",
            &owner,
            json!({ "user_id": admin.user_id, "title": "Dr.", "hours": overlapping }),
        )
        .await,
        "hours",
    )
    .await;
    expect_problem(
        app.get(&format!("/practitioners/{}", admin.user_id), &owner)
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;

    // One practitioner per member.
    expect_problem(
        app.post(
            "/practitioners",
            &owner,
            json!({ "user_id": member.user_id, "title": "Dr. again" }),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;

    // Another tenant's member answers like nobody.
    let other = app.sign_up("Other Praxis").await;
    assert_reference_refused(
        &app,
        &owner,
        "/practitioners",
        &json!({ "title": "Dr. stranger" }),
        "user_id",
        &other.user_id.to_string(),
    )
    .await;
}

#[tokio::test]
async fn patients_are_unique_findable_and_their_identifiers_replaceable() {
    let app = spawn_app().await;
    let owner = app.sign_up("Praxis").await;
    let zebedee = app
        .create(
            "/contacts",
            &owner,
            json!({ "first_name": "Zebedee", "last_name": "Quill", "email": "zebedee@example.test" }),
        )
        .await;
    let patient = app
        .create(
            "/patients",
            &owner,
            json!({
                "contact_id": zebedee["id"],
                "date_of_birth": "1980-05-17",
                "sex": "female",
                "alerts": true,
                "identifiers": [{ "kind": "ahv", "value": "756.1234.5678.97" }],
            }),
        )
        .await;
    for (field, value) in [
        ("contact_id", zebedee["id"].clone()),
        ("first_name", json!("Zebedee")),
        ("last_name", json!("Quill")),
        ("email", json!("zebedee@example.test")),
        ("date_of_birth", json!("1980-05-17")),
        ("sex", json!("female")),
        ("alerts", json!(true)),
        ("archived", json!(false)),
        (
            "identifiers",
            json!([{ "kind": "ahv", "value": "756.1234.5678.97" }]),
        ),
    ] {
        assert_eq!(patient[field], value, "{field}: {patient}");
    }
    let patient_id = id_of(&patient);

    // An identifier names one patient; a contact is one patient.
    let marguerite = app.create_contact(&owner, "Marguerite").await;
    let clash = app
        .post(
            "/patients",
            &owner,
            json!({ "contact_id": marguerite["id"], "identifiers": [{ "kind": "ahv", "value": "756.1234.5678.97" }] }),
        )
        .await;
    expect_problem(clash, StatusCode::CONFLICT).await;
    let again = app
        .post("/patients", &owner, json!({ "contact_id": zebedee["id"] }))
        .await;
    expect_problem(again, StatusCode::CONFLICT).await;
    let other = app
        .create(
            "/patients",
            &owner,
            json!({
                "contact_id": marguerite["id"],
                "date_of_birth": "1975-01-02",
                "identifiers": [{ "kind": "insurance", "value": "INS-42" }],
            }),
        )
        .await;
    let other_id = id_of(&other);

    // Found by name, by identifier, by date of birth.
    let q = |k: &'static str, v: &str| [(k, v.to_owned())];
    assert_eq!(
        patient_ids(&app, &owner, &q("q", "Zebedee")).await,
        std::slice::from_ref(&patient_id)
    );
    assert_eq!(
        patient_ids(&app, &owner, &q("identifier", "INS-42")).await,
        std::slice::from_ref(&other_id)
    );
    assert_eq!(
        patient_ids(&app, &owner, &q("date_of_birth", "1980-05-17")).await,
        std::slice::from_ref(&patient_id)
    );

    // PATCH identifiers replaces them all; the rest stays.
    let path = format!("/patients/{patient_id}");
    let insurance = json!([{ "kind": "insurance", "value": "INS-77" }]);
    let replaced = patched(&app, &owner, &path, json!({ "identifiers": insurance })).await;
    assert_eq!(replaced["identifiers"], insurance);
    assert_eq!(replaced["date_of_birth"], "1980-05-17");
    assert_eq!(
        expect_json(app.get(&path, &owner).await, StatusCode::OK).await,
        replaced
    );
    assert!(
        patient_ids(&app, &owner, &q("identifier", "756.1234.5678.97"))
            .await
            .is_empty()
    );
    assert_eq!(
        patient_ids(&app, &owner, &q("identifier", "INS-77")).await,
        std::slice::from_ref(&patient_id)
    );
    // Another tenant's contact answers like a contact that does not exist.
    let rival = app.sign_up("Rival").await;
    let rival_contact = app.create_contact(&rival, "Rita").await;
    assert_reference_refused(
        &app,
        &owner,
        "/patients",
        &json!({}),
        "contact_id",
        &id_of(&rival_contact),
    )
    .await;
}

#[tokio::test]
async fn an_appointment_is_booked_only_into_free_working_time_and_follows_its_lifecycle() {
    let app = spawn_app().await;
    let owner = app.sign_up("Praxis").await;
    let clinic = set_up_clinic(&app, &owner).await;
    let patient = create_patient(&app, &owner, "Paula").await;
    let writer = &clinic.member;
    let book = |starts_at| {
        app.post(
            "/appointments",
            writer,
            booking(&clinic, &patient, starts_at),
        )
    };

    let first = expect_json(book(zurich(10, 0)).await, StatusCode::CREATED).await;
    assert_eq!(first["status"], "booked");
    assert_eq!(
        first["location_id"],
        json!(clinic.location),
        "where the practitioner works then"
    );
    assert_eq!(first["practitioner_id"], json!(clinic.practitioner));
    assert_eq!(instant(&first["starts_at"]), zurich(10, 0));
    assert_eq!(instant(&first["ends_at"]), zurich(10, 30));
    let first_id = id_of(&first);

    // 10:30 falls in the 15 minutes after the first; 10:45 is back to back.
    let problem = expect_problem(book(zurich(10, 30)).await, StatusCode::CONFLICT).await;
    let detail = problem["detail"].as_str().expect("detail");
    assert!(detail.contains(&first_id), "names the other: {detail}");
    assert!(
        !detail.contains("appointments_"),
        "no constraint names: {detail}"
    );
    let second = expect_json(book(zurich(10, 45)).await, StatusCode::CREATED).await;

    // Before opening, after closing, and running past closing time.
    for starts_at in [zurich(7, 45), zurich(20, 0), zurich(17, 45)] {
        expect_invalid(book(starts_at).await, "starts_at").await;
    }

    // Time off, recorded by the practitioner (a writer) themselves.
    let time_off_path = format!("/practitioners/{}/time-off", clinic.practitioner);
    let time_off = app
        .create(
            &time_off_path,
            writer,
            json!({ "starts_at": at(zurich(14, 0)), "ends_at": at(zurich(15, 0)), "reason": "Conference" }),
        )
        .await;
    assert_eq!(time_off["practitioner_id"], json!(clinic.practitioner));
    let listed = expect_json(app.get(&time_off_path, writer).await, StatusCode::OK).await;
    assert_eq!(ids(&listed), [id_of(&time_off)]);
    let inverted = app
        .post(
            &time_off_path,
            writer,
            json!({ "starts_at": at(zurich(16, 0)), "ends_at": at(zurich(15, 0)) }),
        )
        .await;
    expect_problem(inverted, StatusCode::UNPROCESSABLE_ENTITY).await;
    expect_invalid(book(zurich(14, 15)).await, "starts_at").await;
    let before_time_off = expect_json(book(zurich(13, 30)).await, StatusCode::CREATED).await;
    assert_eq!(instant(&before_time_off["ends_at"]), zurich(14, 0));

    // The lifecycle, step by step; no way back, no skipping to the end.
    let first_path = format!("/appointments/{first_id}");
    for status in ["confirmed", "arrived", "in_progress", "completed"] {
        let moved = patched(&app, writer, &first_path, json!({ "status": status })).await;
        assert_eq!(moved["status"], status);
    }
    let second_path = format!("/appointments/{}", id_of(&second));
    for (path, status) in [(&first_path, "booked"), (&second_path, "completed")] {
        expect_invalid(
            app.patch(path, writer, json!({ "status": status })).await,
            "status",
        )
        .await;
    }

    // Cancelling needs a reason, and frees the slot.
    expect_invalid(
        app.patch(&second_path, writer, json!({ "status": "cancelled" }))
            .await,
        "cancel_reason",
    )
    .await;
    let cancelled = patched(
        &app,
        writer,
        &second_path,
        json!({ "status": "cancelled", "cancel_reason": "The patient is ill" }),
    )
    .await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["cancel_reason"], "The patient is ill");
    let third = expect_json(book(zurich(10, 45)).await, StatusCode::CREATED).await;

    // A reschedule onto a booked slot is refused like a booking; into free time it moves.
    let fourth = expect_json(book(zurich(12, 0)).await, StatusCode::CREATED).await;
    let fourth_path = format!("/appointments/{}", id_of(&fourth));
    let problem = expect_problem(
        app.patch(
            &fourth_path,
            writer,
            json!({ "starts_at": at(zurich(10, 45)) }),
        )
        .await,
        StatusCode::CONFLICT,
    )
    .await;
    let detail = problem["detail"].as_str().expect("detail");
    assert!(detail.contains(&id_of(&third)), "{detail}");
    let moved = patched(
        &app,
        writer,
        &fourth_path,
        json!({ "starts_at": at(zurich(12, 30)) }),
    )
    .await;
    assert_eq!(instant(&moved["ends_at"]), zurich(13, 0));
}

#[tokio::test]
async fn availability_offers_exactly_the_free_slots_inside_working_hours() {
    let app = spawn_app().await;
    let owner = app.sign_up("Praxis").await;
    let clinic = set_up_clinic(&app, &owner).await;
    let patient = create_patient(&app, &owner, "Paula").await;
    app.create(
        "/appointments",
        &owner,
        booking(&clinic, &patient, zurich(10, 0)),
    )
    .await;
    let (from, to) = (zurich(0, 0), zurich(0, 0) + Duration::days(1));

    let offered = slots(&app, &owner, &clinic, from, to).await;
    for slot in &offered {
        let (starts, ends) = (instant(&slot["starts_at"]), instant(&slot["ends_at"]));
        assert_eq!(ends - starts, Duration::minutes(30), "{slot}");
        assert!(
            starts >= zurich(8, 0) && ends <= zurich(18, 0),
            "within working hours: {slot}"
        );
        assert_eq!(slot["practitioner_id"], json!(clinic.practitioner));
        assert_eq!(slot["location_id"], json!(clinic.location));
    }
    // Every quarter hour from 08:00 whose 30 + 15 minutes stay clear of 10:00-10:45.
    let expected: Vec<DateTime<Utc>> = (0_i64..)
        .map(|quarter| zurich(8, 0) + Duration::minutes(15 * quarter))
        .take_while(|starts| *starts + Duration::minutes(30) <= zurich(18, 0))
        .filter(|starts| {
            *starts + Duration::minutes(45) <= zurich(10, 0) || *starts >= zurich(10, 45)
        })
        .collect();
    let starts: Vec<DateTime<Utc>> = offered.iter().map(|s| instant(&s["starts_at"])).collect();
    assert_eq!(starts, expected);
    assert!(starts.contains(&zurich(9, 15)) && !starts.contains(&zurich(9, 30)));

    // The first slot books, and is gone from a fresh answer.
    let first = &offered[0];
    let mut body = booking(&clinic, &patient, instant(&first["starts_at"]));
    body["location_id"] = first["location_id"].clone();
    app.create("/appointments", &owner, body).await;
    let fresh = slots(&app, &owner, &clinic, from, to).await;
    let fresh_starts: Vec<DateTime<Utc>> = fresh.iter().map(|s| instant(&s["starts_at"])).collect();
    assert!(
        !fresh_starts.contains(&instant(&first["starts_at"])),
        "{fresh_starts:?}"
    );
    // And every other slot offered can be booked too (each cancelled again to free it).
    for slot in &fresh {
        let booked = expect_json(
            app.post(
                "/appointments",
                &owner,
                booking(&clinic, &patient, instant(&slot["starts_at"])),
            )
            .await,
            StatusCode::CREATED,
        )
        .await;
        patched(
            &app,
            &owner,
            &format!("/appointments/{}", id_of(&booked)),
            json!({ "status": "cancelled", "cancel_reason": "Only checking" }),
        )
        .await;
    }

    // Another tenant's practitioner answers like one that does not exist.
    let rival = app.sign_up("Rival").await;
    let rival_type = app
        .create(
            "/appointment-types",
            &rival,
            json!({ "name": "Visit", "duration_minutes": 30 }),
        )
        .await;
    let mut problems = Vec::new();
    for practitioner in [clinic.practitioner.clone(), Uuid::now_v7().to_string()] {
        let query = [
            ("practitioner_id", practitioner),
            ("appointment_type_id", id_of(&rival_type)),
            ("from", at(from)),
            ("to", at(to)),
        ];
        let problem = expect_invalid(
            get_query(&app, &rival, "/availability", &query).await,
            "practitioner_id",
        )
        .await;
        problems.push(problem);
    }
    assert_eq!(problems[0], problems[1]);

    // An empty or backwards range is refused.
    for (from, to) in [(from, from), (to, from)] {
        let query = [
            ("practitioner_id", clinic.practitioner.clone()),
            ("appointment_type_id", clinic.appointment_type.clone()),
            ("from", at(from)),
            ("to", at(to)),
        ];
        expect_problem(
            get_query(&app, &owner, "/availability", &query).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
}

#[tokio::test]
async fn next_availability_finds_the_earliest_slots_across_practitioners() {
    let app = spawn_app().await;
    let owner = app.sign_up("Praxis").await;
    let clinic = set_up_clinic(&app, &owner).await;
    assert_eq!(day().weekday(), Weekday::Tue);
    let early_bird = app.add_member(&owner, "member").await;
    app.create(
        "/practitioners",
        &owner,
        json!({
            "user_id": early_bird.user_id,
            "title": "Dr. early",
            "hours": [{ "location_id": clinic.location, "weekday": 2, "starts": "07:00", "ends": "12:00" }],
        }),
    )
    .await;
    let early = early_bird.user_id.to_string();

    let answer = next_slots(&app, &owner, &clinic, "1").await;
    let slots = answer["slots"].as_array().expect("slots");
    assert_eq!(slots.len(), 1, "{answer}");
    assert_eq!(slots[0]["practitioner_id"], json!(early));
    assert_eq!(instant(&slots[0]["starts_at"]), zurich(7, 0));

    // The first ten: the early bird alone until 08:00, then both.
    let answer = next_slots(&app, &owner, &clinic, "10").await;
    let got: Vec<(DateTime<Utc>, String)> = answer["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .map(|s| {
            (
                instant(&s["starts_at"]),
                s["practitioner_id"]
                    .as_str()
                    .expect("practitioner_id")
                    .to_owned(),
            )
        })
        .collect();
    assert!(
        got.windows(2).all(|w| w[0].0 <= w[1].0),
        "earliest first: {got:?}"
    );
    let mut sorted = got.clone();
    sorted.sort();
    let mut expected: Vec<(DateTime<Utc>, String)> = [(7, 0), (7, 15), (7, 30), (7, 45)]
        .map(|(h, m)| (zurich(h, m), early.clone()))
        .into_iter()
        .chain([(8, 0), (8, 15), (8, 30)].into_iter().flat_map(|(h, m)| {
            [
                (zurich(h, m), early.clone()),
                (zurich(h, m), clinic.practitioner.clone()),
            ]
        }))
        .collect();
    expected.sort();
    assert_eq!(sorted, expected);
}

/// `/availability/next` asks a week at a time: a practitioner away for the first ten
/// days is offered from the day after, not "nothing in the first week".
#[tokio::test]
async fn next_availability_looks_past_an_empty_week() {
    let app = spawn_app().await;
    let owner = app.sign_up("Praxis").await;
    let clinic = set_up_clinic(&app, &owner).await;
    let back = zurich(0, 0) + Duration::days(10);
    app.create(
        &format!("/practitioners/{}/time-off", clinic.practitioner),
        &owner,
        json!({ "starts_at": at(zurich(0, 0)), "ends_at": at(back), "reason": "Holiday" }),
    )
    .await;

    let answer = next_slots(&app, &owner, &clinic, "3").await;
    let starts: Vec<DateTime<Utc>> = answer["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .map(|s| instant(&s["starts_at"]))
        .collect();
    let eight = back + Duration::hours(8);
    assert_eq!(
        starts,
        [
            eight,
            eight + Duration::minutes(15),
            eight + Duration::minutes(30)
        ],
        "{answer}"
    );
}

#[tokio::test]
async fn thirty_concurrent_bookings_of_one_slot_over_http_keep_exactly_one() {
    // The 30 requests queue for the tenant's share of the pool instead of taking a 429
    // after the default wait: the test is about the exclusion constraint.
    let app = spawn_app_with(|vars| {
        vars.push(("CRM_POOL_SIZE".into(), "8".into()));
        vars.push(("CRM_TENANT_QUEUE_MS".into(), "20000".into()));
    })
    .await;
    let owner = app.sign_up("Praxis").await;
    let clinic = set_up_clinic(&app, &owner).await;
    let patient = create_patient(&app, &owner, "Paula").await;
    let body = booking(&clinic, &patient, zurich(9, 0));

    let attempts = join_all((0..30).map(|_| app.post("/appointments", &owner, body.clone()))).await;
    let statuses: Vec<StatusCode> = attempts.iter().map(Response::status).collect();
    let won = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((won, refused), (1, 29), "{statuses:?}");

    let listed = expect_json(
        get_query(
            &app,
            &owner,
            "/appointments",
            &[("practitioner_id", clinic.practitioner.clone())],
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let kept = ids(&listed);
    assert_eq!(kept.len(), 1, "exactly one appointment is stored: {listed}");
    for attempt in attempts
        .into_iter()
        .filter(|r| r.status() == StatusCode::CONFLICT)
    {
        let problem = expect_problem(attempt, StatusCode::CONFLICT).await;
        assert!(
            problem["detail"]
                .as_str()
                .expect("detail")
                .contains(&kept[0]),
            "each refusal names the winner: {problem}"
        );
    }
}

#[tokio::test]
async fn another_tenants_clinic_ids_answer_like_ids_that_do_not_exist() {
    let app = spawn_app().await;
    let a = app.sign_up("Tenant A").await;
    let b = app.sign_up("Tenant B").await;
    let clinic = set_up_clinic(&app, &a).await;
    let patient = create_patient(&app, &a, "Alice").await;
    let appointment = app
        .create(
            "/appointments",
            &a,
            booking(&clinic, &patient, zurich(9, 0)),
        )
        .await;
    let time_off = app
        .create(
            &format!("/practitioners/{}/time-off", clinic.practitioner),
            &a,
            json!({ "starts_at": at(zurich(15, 0)), "ends_at": at(zurich(16, 0)) }),
        )
        .await;
    let appointment_id = id_of(&appointment);
    let (location, kind, practitioner) = (
        &clinic.location,
        &clinic.appointment_type,
        &clinic.practitioner,
    );
    // Each of A's records: its path, its id, a change, whether it can be deleted.
    let records = [
        (
            "/locations/{id}",
            location,
            json!({ "name": "Mine now" }),
            true,
        ),
        (
            "/appointment-types/{id}",
            kind,
            json!({ "name": "Mine now" }),
            true,
        ),
        (
            "/practitioners/{id}",
            practitioner,
            json!({ "title": "Mine now" }),
            true,
        ),
        (
            "/patients/{id}",
            &patient,
            json!({ "archived": true }),
            false,
        ),
        (
            "/appointments/{id}",
            &appointment_id,
            json!({ "status": "cancelled", "cancel_reason": "Mine now" }),
            false,
        ),
    ];
    let mut before = Vec::new();
    for (path, id, _, _) in &records {
        let path = path.replace("{id}", id);
        before.push(expect_json(app.get(&path, &a).await, StatusCode::OK).await);
    }

    // Every route with one of A's ids, every method: B gets the 404 of a random id.
    for (path, id, change, deletable) in &records {
        assert_hidden(&app, &b, Method::GET, path, id, None).await;
        assert_hidden(&app, &b, Method::PATCH, path, id, Some(change.clone())).await;
        if *deletable {
            assert_hidden(&app, &b, Method::DELETE, path, id, None).await;
        }
    }
    let time_off_path = "/practitioners/{id}/time-off";
    let away = json!({ "starts_at": at(zurich(8, 0)), "ends_at": at(zurich(18, 0)) });
    assert_hidden(&app, &b, Method::GET, time_off_path, practitioner, None).await;
    assert_hidden(
        &app,
        &b,
        Method::POST,
        time_off_path,
        practitioner,
        Some(away),
    )
    .await;
    assert_hidden(
        &app,
        &b,
        Method::DELETE,
        &format!("/practitioners/{practitioner}/time-off/{{id}}"),
        &id_of(&time_off),
        None,
    )
    .await;

    // B has a clinic of its own.
    let b_clinic = set_up_clinic(&app, &b).await;
    let b_patient = create_patient(&app, &b, "Bob").await;
    let b_booking = booking(&b_clinic, &b_patient, zurich(9, 0));
    app.create("/appointments", &b, b_booking).await;

    // B's lists never show A's rows; filtering by A's id is like a random id.
    let a_ids = [location, kind, practitioner, &patient, &appointment_id];
    for list in [
        "/locations",
        "/appointment-types",
        "/practitioners",
        "/patients",
        "/appointments",
    ] {
        let body = expect_json(app.get(list, &b).await, StatusCode::OK).await;
        assert_eq!(ids(&body).len(), 1, "{list}: B's own row: {body}");
        let text = body.to_string();
        assert!(
            a_ids.iter().all(|id| !text.contains(id.as_str())),
            "{list}: {text}"
        );
    }
    let theirs = [("practitioner_id", practitioner.clone())];
    let random = [("practitioner_id", Uuid::now_v7().to_string())];
    let theirs = get_query(&app, &b, "/appointments", &theirs).await;
    let random = get_query(&app, &b, "/appointments", &random).await;
    assert_eq!(theirs.status(), random.status());
    assert_eq!(
        theirs.text().await.expect("body"),
        random.text().await.expect("body")
    );

    // A's rows are untouched.
    for ((path, id, _, _), original) in records.iter().zip(&before) {
        let path = path.replace("{id}", id);
        let now = expect_json(app.get(&path, &a).await, StatusCode::OK).await;
        assert_eq!(&now, original, "{path}");
    }

    // B's bookings cannot name A's patient, practitioner, type or location.
    let b_booking = booking(&b_clinic, &b_patient, zurich(11, 0));
    for (field, theirs) in [
        ("patient_id", &patient),
        ("practitioner_id", practitioner),
        ("appointment_type_id", kind),
        ("location_id", location),
    ] {
        assert_reference_refused(&app, &b, "/appointments", &b_booking, field, theirs).await;
    }
}

#[tokio::test]
async fn a_tenant_that_switches_the_clinic_off_gets_404_and_keeps_its_rows() {
    let app = spawn_app().await;
    let a = app.sign_up("Tenant A").await;
    let b = app.sign_up("Tenant B").await;
    let clinic = set_up_clinic(&app, &a).await;
    let patient = create_patient(&app, &a, "Alice").await;
    let patient_path = format!("/patients/{patient}");
    let kept = expect_json(app.get(&patient_path, &a).await, StatusCode::OK).await;

    let switch = |enabled: bool| {
        app.call(
            Method::PUT,
            "/tenant/modules",
            &a,
            Some(json!({ "modules": [{ "name": "clinic", "enabled": enabled }] })),
        )
    };
    let modules = expect_json(switch(false).await, StatusCode::OK).await;
    let clinic_module = modules["modules"]
        .as_array()
        .expect("modules")
        .iter()
        .find(|m| m["name"] == "clinic")
        .expect("the clinic module");
    assert_eq!(clinic_module["enabled"], false);

    let unknown_route =
        expect_problem(app.get("/no-such-route", &a).await, StatusCode::NOT_FOUND).await;
    for (method, path, body) in [
        (Method::GET, "/patients".to_owned(), None),
        (Method::GET, patient_path.clone(), None),
        (
            Method::POST,
            "/appointments".to_owned(),
            Some(booking(&clinic, &patient, zurich(9, 0))),
        ),
        (Method::GET, "/locations".to_owned(), None),
    ] {
        let problem = expect_problem(
            app.call(method.clone(), &path, &a, body).await,
            StatusCode::NOT_FOUND,
        )
        .await;
        assert_eq!(
            problem, unknown_route,
            "{method} {path} answers like an unknown route"
        );
    }
    expect_json(app.get("/patients", &b).await, StatusCode::OK).await;

    expect_json(switch(true).await, StatusCode::OK).await;
    assert_eq!(
        expect_json(app.get(&patient_path, &a).await, StatusCode::OK).await,
        kept,
        "rows are intact after switching back on"
    );
    let appointments = expect_json(app.get("/appointments", &a).await, StatusCode::OK).await;
    assert!(
        ids(&appointments).is_empty(),
        "the refused booking left nothing"
    );
}

/// A member of `owner`'s tenant who practises at `clinic`'s location every day from
/// 08:00 to 18:00.
async fn second_practitioner(app: &TestApp, owner: &TestUser, clinic: &Clinic) -> String {
    let member = app.add_member(owner, "member").await;
    let practitioner = app
        .create(
            "/practitioners",
            owner,
            json!({
                "user_id": member.user_id,
                "title": "Physiotherapist",
                "hours": every_day(&clinic.location, "08:00", "18:00"),
            }),
        )
        .await;
    id_of(&practitioner)
}

#[tokio::test]
async fn a_room_shared_by_two_practitioners_is_booked_once_whatever_the_concurrency() {
    let app = spawn_app_with(|vars| {
        vars.push(("CRM_POOL_SIZE".into(), "8".into()));
        vars.push(("CRM_TENANT_QUEUE_MS".into(), "20000".into()));
    })
    .await;
    let owner = app.sign_up("Praxis").await;
    let clinic = set_up_clinic(&app, &owner).await;
    let other = second_practitioner(&app, &owner, &clinic).await;
    let room = app
        .create(
            "/rooms",
            &owner,
            json!({ "location_id": clinic.location, "name": "Treatment room" }),
        )
        .await;
    let with_room = app
        .create(
            "/appointment-types",
            &owner,
            json!({ "name": "Ultrasound", "duration_minutes": 30, "needs_room": true }),
        )
        .await;
    let patient = create_patient(&app, &owner, "Paula").await;
    let body = |practitioner: &str| {
        json!({
            "patient_id": patient,
            "practitioner_id": practitioner,
            "appointment_type_id": with_room["id"],
            "room_id": room["id"],
            "starts_at": at(zurich(9, 0)),
        })
    };
    // Fifteen attempts by each practitioner, all for the one room at 09:00.
    let attempts = join_all((0..30).map(|n| {
        let practitioner = if n % 2 == 0 {
            &clinic.practitioner
        } else {
            &other
        };
        app.post("/appointments", &owner, body(practitioner))
    }))
    .await;
    let statuses: Vec<StatusCode> = attempts.iter().map(Response::status).collect();
    let won = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((won, refused), (1, 29), "{statuses:?}");
    let listed = expect_json(
        get_query(
            &app,
            &owner,
            "/appointments",
            &[("patient_id", patient.clone())],
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let kept = ids(&listed);
    assert_eq!(kept.len(), 1, "{listed}");
    for attempt in attempts
        .into_iter()
        .filter(|r| r.status() == StatusCode::CONFLICT)
    {
        let problem = expect_problem(attempt, StatusCode::CONFLICT).await;
        let detail = problem["detail"].as_str().expect("detail");
        assert!(
            detail.contains(&kept[0]),
            "each refusal names the winner: {problem}"
        );
    }
}

#[tokio::test]
async fn a_type_that_needs_a_room_takes_a_free_one_and_availability_counts_them() {
    let app = spawn_app().await;
    let owner = app.sign_up("Praxis").await;
    let clinic = set_up_clinic(&app, &owner).await;
    let second = second_practitioner(&app, &owner, &clinic).await;
    let third = second_practitioner(&app, &owner, &clinic).await;
    let mut rooms = Vec::new();
    for name in ["Room 1", "Room 2"] {
        let room = app
            .create(
                "/rooms",
                &owner,
                json!({ "location_id": clinic.location, "name": name }),
            )
            .await;
        rooms.push(id_of(&room));
    }
    let with_room = id_of(
        &app.create(
            "/appointment-types",
            &owner,
            json!({ "name": "Ultrasound", "duration_minutes": 30, "needs_room": true }),
        )
        .await,
    );
    let patient = create_patient(&app, &owner, "Paula").await;
    let book = |practitioner: &str| {
        json!({
            "patient_id": patient,
            "practitioner_id": practitioner,
            "appointment_type_id": with_room,
            "starts_at": at(zurich(10, 0)),
        })
    };
    let first = app
        .create("/appointments", &owner, book(&clinic.practitioner))
        .await;
    let then = app.create("/appointments", &owner, book(&second)).await;
    let mut taken: Vec<String> = [&first, &then]
        .iter()
        .map(|booked| booked["room_id"].as_str().expect("a room").to_owned())
        .collect();
    taken.sort();
    rooms.sort();
    assert_eq!(taken, rooms, "each booking took a room of its own");
    expect_invalid(
        app.post("/appointments", &owner, book(&third)).await,
        "room_id",
    )
    .await;

    // The third practitioner is free at 10:00, but no room is: no slot then.
    let query = [
        ("practitioner_id", third.clone()),
        ("appointment_type_id", with_room.clone()),
        ("from", at(zurich(9, 0))),
        ("to", at(zurich(11, 0))),
    ];
    let answer = expect_json(
        get_query(&app, &owner, "/availability", &query).await,
        StatusCode::OK,
    )
    .await;
    let starts: Vec<DateTime<Utc>> = answer["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .map(|slot| instant(&slot["starts_at"]))
        .collect();
    assert_eq!(
        starts,
        [
            zurich(9, 0),
            zurich(9, 15),
            zurich(9, 30),
            zurich(10, 30),
            zurich(10, 45)
        ],
        "09:45, 10:00 and 10:15 would need a room while both are taken"
    );
}

/// `hour:minute` Zurich time on `date` (`YYYY-MM-DD`), as an instant.
fn zurich_on(date: &str, hour: u32, minute: u32) -> DateTime<Utc> {
    let day = NaiveDate::parse_from_str(date, "%Y-%m-%d").expect("a date");
    Zurich
        .from_local_datetime(&day.and_hms_opt(hour, minute, 0).expect("a time"))
        .single()
        .expect("the local time exists once")
        .to_utc()
}

#[tokio::test]
async fn a_weekly_series_is_booked_all_or_nothing_at_the_same_local_time() {
    let app = spawn_app().await;
    let owner = app.sign_up("Praxis").await;
    let clinic = set_up_clinic(&app, &owner).await;
    let patient = create_patient(&app, &owner, "Paula").await;
    // Four Tuesdays at 10:00 in Zurich, across the end of summer time (26 October 2031).
    let tuesdays = ["2031-10-14", "2031-10-21", "2031-10-28", "2031-11-04"];
    let series = json!({
        "patient_id": patient,
        "practitioner_id": clinic.practitioner,
        "appointment_type_id": clinic.appointment_type,
        "starts_at": at(zurich_on(tuesdays[0], 10, 0)),
        "count": 4,
    });
    let other = create_patient(&app, &owner, "Otto").await;
    let blocker = app
        .create(
            "/appointments",
            &owner,
            booking(&clinic, &other, zurich_on(tuesdays[2], 10, 0)),
        )
        .await;

    let problem = expect_problem(
        app.post("/appointments/series", &owner, series.clone())
            .await,
        StatusCode::CONFLICT,
    )
    .await;
    let detail = problem["detail"].as_str().expect("detail");
    assert!(
        detail.contains("1 of the 4") && detail.contains(&at(zurich_on(tuesdays[2], 10, 0))),
        "{problem}"
    );
    let mine = [("patient_id", patient.clone())];
    let listed = expect_json(
        get_query(&app, &owner, "/appointments", &mine).await,
        StatusCode::OK,
    )
    .await;
    assert!(
        ids(&listed).is_empty(),
        "nothing of the series was kept: {listed}"
    );

    patched(
        &app,
        &owner,
        &format!("/appointments/{}", id_of(&blocker)),
        json!({ "status": "cancelled", "cancel_reason": "Moved away." }),
    )
    .await;
    let booked = expect_json(
        app.post("/appointments/series", &owner, series.clone())
            .await,
        StatusCode::CREATED,
    )
    .await;
    let starts: Vec<DateTime<Utc>> = booked["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|appointment| instant(&appointment["starts_at"]))
        .collect();
    let expected: Vec<DateTime<Utc>> = tuesdays.iter().map(|day| zurich_on(day, 10, 0)).collect();
    assert_eq!(
        starts, expected,
        "10:00 in Zurich each week, summer time or not"
    );
    assert_eq!(expected[0].hour(), 8, "10:00 CEST is 08:00 UTC");
    assert_eq!(expected[3].hour(), 9, "10:00 CET is 09:00 UTC");

    let mut both = series.clone();
    both["until"] = json!(at(zurich_on("2031-12-31", 0, 0)));
    expect_invalid(
        app.post("/appointments/series", &owner, both).await,
        "count",
    )
    .await;
}
