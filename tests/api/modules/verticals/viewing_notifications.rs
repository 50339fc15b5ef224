//! A viewing's notifications follow the tenant's rules (`/notifications/rules`) and
//! the calendar: booking confirms at once and schedules the reminders, moving the
//! viewing moves them, cancelling or completing it cancels what is still queued, and
//! completing it asks for feedback. All of it happens in the transaction that changes
//! the viewing. The worker sends to a real SMTP server and an SMS provider stand-in;
//! time is driven through the queue, never by sleeping out a delay.

use std::time::{Duration as Wait, Instant};

use chrono::{DateTime, Duration, DurationRound, Utc};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tokio_postgres::Client;
use uuid::Uuid;

use crate::support::{
    TestApp, TestUser, error_fields, expect_json, expect_problem, id_of,
    mail::{ReceivedMail, SmtpServer},
    notifications::{ARRIVAL, address, due_in, due_now, sending, settled},
    sms::SmsProvider,
    spawn_app,
};

fn at(time: DateTime<Utc>) -> String {
    time.to_rfc3339()
}

/// A whole minute `ahead` from now, so the rendered times are exact.
fn minute_in(ahead: Duration) -> DateTime<Utc> {
    (Utc::now() + ahead)
        .duration_trunc(Duration::minutes(1))
        .expect("a minute")
}

async fn rule(app: &TestApp, user: &TestUser, body: Value) -> Value {
    app.create("/notifications/rules", user, body).await
}

/// Adds every rule of `bodies`, in order.
async fn rules(app: &TestApp, user: &TestUser, bodies: &[Value]) -> Vec<Value> {
    let mut added = Vec::new();
    for body in bodies {
        added.push(rule(app, user, body.clone()).await);
    }
    added
}

/// A property and a contact reachable by email and SMS.
async fn property_and_contact(app: &TestApp, user: &TestUser, email: &str) -> (String, String) {
    let property = app
        .create(
            "/properties",
            user,
            json!({
                "title": "Sunny flat",
                "address": { "line": "Bahnhofstrasse 1", "city": "Zürich", "country": "ch" },
                "price_minor": 120_000_000, "currency": "CHF", "listing_type": "SALE",
                "property_type": "APARTMENT",
            }),
        )
        .await;
    let contact = app
        .create(
            "/contacts",
            user,
            json!({ "first_name": "Ada", "last_name": "Lovelace", "email": email,
                    "phone": "+41 44 668 18 00" }),
        )
        .await;
    (id_of(&property), id_of(&contact))
}

async fn book(
    app: &TestApp,
    user: &TestUser,
    property: &str,
    contact: &str,
    start: DateTime<Utc>,
) -> String {
    let viewing = app
        .create(
            &format!("/properties/{property}/viewings"),
            user,
            json!({ "contact_id": contact, "scheduled_at": at(start) }),
        )
        .await;
    id_of(&viewing)
}

async fn change(app: &TestApp, user: &TestUser, viewing: &str, body: Value) -> Value {
    expect_json(
        app.patch(&format!("/viewings/{viewing}"), user, body).await,
        StatusCode::OK,
    )
    .await
}

/// The viewing's messages, oldest first.
async fn messages_of(app: &TestApp, user: &TestUser, viewing: &str) -> Vec<Value> {
    let page = expect_json(
        app.get(
            &format!("/notifications?record_id={viewing}&limit=100"),
            user,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    let mut items = page["items"].as_array().expect("items").clone();
    items.reverse();
    items
}

/// The mail for `to` once `count` messages have arrived.
async fn mails_to(smtp: &SmtpServer, to: &str, count: usize) -> Vec<ReceivedMail> {
    let deadline = Instant::now() + ARRIVAL;
    loop {
        let mails = smtp.messages_to(to);
        if mails.len() >= count {
            return mails;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {count} messages for {to}",
            mails.len()
        );
        tokio::time::sleep(Wait::from_millis(50)).await;
    }
}

/// Waits for the viewing's newest confirmation to be sent.
async fn newest_confirmation_sent(app: &TestApp, user: &TestUser, viewing: &str) {
    let messages = messages_of(app, user, viewing).await;
    let newest = messages
        .iter()
        .rfind(|m| m["template_key"] == "viewing_confirmation")
        .expect("a confirmation");
    let sent = settled(app, user, &id_of(newest)).await;
    assert_eq!(sent["status"], "sent", "{sent}");
}

fn one<'a>(messages: &'a [Value], key: &str, channel: &str) -> &'a Value {
    let found: Vec<&Value> = messages
        .iter()
        .filter(|m| m["template_key"] == key && m["channel"] == channel)
        .collect();
    assert_eq!(found.len(), 1, "one {key} by {channel}: {messages:?}");
    found[0]
}

fn send_at(message: &Value) -> DateTime<Utc> {
    message["send_at"]
        .as_str()
        .expect("send_at")
        .parse()
        .expect("an instant")
}

/// Seconds from now until `time`.
fn seconds_until(time: DateTime<Utc>) -> f64 {
    (time - Utc::now()).num_milliseconds() as f64 / 1000.0
}

async fn assert_due_around(owner: &Client, message: &Value, expected: DateTime<Utc>) {
    let due = due_in(owner, &id_of(message)).await.expect("in the queue");
    assert!(
        (due - seconds_until(expected)).abs() < 30.0,
        "due in {due} s, expected {} s: {message}",
        seconds_until(expected)
    );
}

#[tokio::test]
async fn a_viewing_booked_for_tomorrow_confirms_now_and_reminds_24_and_2_hours_ahead() {
    let (smtp, sms) = (SmtpServer::start().await, SmsProvider::start().await);
    let (_app, worker, user) = sending(&smtp, &sms).await;
    let to = address("ada");
    let (property, contact) = property_and_contact(&worker, &user, &to).await;
    worker
        .create(
            "/notifications/templates",
            &user,
            json!({ "key": "viewing_confirmation", "channel": "email",
                    "subject": "Booked: {{ property.title }}",
                    "text": "{{ contact.first_name }}, {{ viewing.scheduled_at | datetime(tz, 'short') }} with {{ viewing.agent_name }}." }),
        )
        .await;
    let added = rules(
        &worker,
        &user,
        &[
            json!({ "template_key": "viewing_confirmation", "channel": "email" }),
            json!({ "template_key": "viewing_reminder", "channel": "email", "offset_minutes": 1440 }),
            json!({ "template_key": "viewing_reminder", "channel": "sms", "offset_minutes": 120 }),
        ],
    )
    .await;
    let day_ahead = &added[1];
    assert_eq!(day_ahead["offset_minutes"], 1440);

    let start = minute_in(Duration::hours(26));
    let viewing = book(&worker, &user, &property, &contact, start).await;

    let received = smtp.wait_for_message(&to, ARRIVAL).await;
    assert_eq!(received.header("Subject"), Some("Booked: Sunny flat"));
    let when = start.format("%Y-%m-%d %H:%M");
    assert!(
        received.body.contains(&format!("Ada, {when} with Owner.")),
        "{received:?}"
    );
    let messages = messages_of(&worker, &user, &viewing).await;
    assert_eq!(messages.len(), 3, "{messages:?}");
    let confirmation = settled(
        &worker,
        &user,
        &id_of(one(&messages, "viewing_confirmation", "email")),
    )
    .await;
    assert_eq!(confirmation["status"], "sent", "{confirmation}");
    assert_eq!(confirmation["cause"], "viewing.booked");
    assert_eq!(
        confirmation["record"],
        json!({ "type": "viewing", "id": viewing })
    );
    let owner = worker.owner_sql().await;
    let email_reminder = one(&messages, "viewing_reminder", "email");
    let sms_reminder = one(&messages, "viewing_reminder", "sms");
    assert_eq!(email_reminder["rule_id"], day_ahead["id"]);
    assert_eq!(email_reminder["cause"], "viewing.upcoming");
    assert_eq!(send_at(email_reminder), start - Duration::hours(24));
    assert_eq!(send_at(sms_reminder), start - Duration::hours(2));
    assert_due_around(&owner, email_reminder, start - Duration::hours(24)).await;
    assert_due_around(&owner, sms_reminder, start - Duration::hours(2)).await;

    // T-24 h.
    due_now(&owner, &id_of(email_reminder)).await;
    let reminded = settled(&worker, &user, &id_of(email_reminder)).await;
    assert_eq!(reminded["status"], "sent", "{reminded}");
    let mails = mails_to(&smtp, &to, 2).await;
    assert!(
        mails
            .iter()
            .any(|mail| mail.header("Subject") == Some("Reminder: your viewing of Sunny flat")),
        "the confirmation and the reminder: {mails:?}"
    );
    assert!(sms.requests().is_empty(), "the SMS is not due yet");

    // T-2 h.
    due_now(&owner, &id_of(sms_reminder)).await;
    let requests = sms.wait_for(1, ARRIVAL).await;
    assert_eq!(requests[0].form["To"], "+41446681800");
    assert_eq!(
        requests[0].form["Body"],
        format!("Acme: reminder of your viewing at Bahnhofstrasse 1, Zürich on {when}.")
    );
    tokio::time::sleep(Wait::from_millis(500)).await;
    assert_eq!(smtp.messages_to(&to).len(), 2, "exactly the expected mail");
    assert_eq!(sms.requests().len(), 1, "exactly the expected SMS");
}

#[tokio::test]
async fn moving_a_viewing_moves_its_reminders_and_cancelling_it_drops_them() {
    let (smtp, sms) = (SmtpServer::start().await, SmsProvider::start().await);
    let (_app, worker, user) = sending(&smtp, &sms).await;
    let to = address("ada");
    let (property, contact) = property_and_contact(&worker, &user, &to).await;
    rules(
        &worker,
        &user,
        &[
            json!({ "template_key": "viewing_confirmation", "channel": "email" }),
            json!({ "template_key": "viewing_reminder", "channel": "email", "offset_minutes": 1440 }),
        ],
    )
    .await;
    let start = minute_in(Duration::days(3));
    let viewing = book(&worker, &user, &property, &contact, start).await;
    smtp.wait_for_message(&to, ARRIVAL).await;
    let owner = worker.owner_sql().await;
    let reminder = one(
        &messages_of(&worker, &user, &viewing).await,
        "viewing_reminder",
        "email",
    )
    .clone();

    // A clash is refused, and the reminder stays where it was: one transaction.
    let (_, someone_else) = property_and_contact(&worker, &user, &address("bob")).await;
    let other = book(
        &worker,
        &user,
        &property,
        &someone_else,
        minute_in(Duration::days(5)),
    )
    .await;
    let clash = worker
        .patch(
            &format!("/viewings/{viewing}"),
            &user,
            json!({ "scheduled_at": at(minute_in(Duration::days(5))) }),
        )
        .await;
    expect_problem(clash, StatusCode::CONFLICT).await;
    let unchanged = one(
        &messages_of(&worker, &user, &viewing).await,
        "viewing_reminder",
        "email",
    )
    .clone();
    assert_eq!(send_at(&unchanged), start - Duration::hours(24));
    change(&worker, &user, &other, json!({ "status": "CANCELLED" })).await;

    // Moved two days later: the same reminder, at its new moment, with the new time.
    let later = minute_in(Duration::days(5));
    change(
        &worker,
        &user,
        &viewing,
        json!({ "scheduled_at": at(later) }),
    )
    .await;
    let messages = messages_of(&worker, &user, &viewing).await;
    let moved = one(&messages, "viewing_reminder", "email");
    assert_eq!(moved["id"], reminder["id"], "moved, not replaced");
    assert_eq!(send_at(moved), later - Duration::hours(24));
    assert_eq!(
        moved["variables"]["viewing.scheduled_at"]
            .as_str()
            .map(|s| s.parse::<DateTime<Utc>>().expect("an instant")),
        Some(later)
    );
    assert_due_around(&owner, moved, later - Duration::hours(24)).await;
    let confirmations: Vec<&Value> = messages
        .iter()
        .filter(|m| m["template_key"] == "viewing_confirmation")
        .collect();
    assert_eq!(confirmations.len(), 2, "confirmed again: {messages:?}");
    assert_eq!(confirmations[1]["cause"], "viewing.rescheduled");
    settled(&worker, &user, &id_of(confirmations[1])).await;
    mails_to(&smtp, &to, 2).await;

    // Moved to within a day: too late for the day-ahead reminder.
    let soon = minute_in(Duration::hours(20));
    change(
        &worker,
        &user,
        &viewing,
        json!({ "scheduled_at": at(soon) }),
    )
    .await;
    newest_confirmation_sent(&worker, &user, &viewing).await;
    let too_late = one(
        &messages_of(&worker, &user, &viewing).await,
        "viewing_reminder",
        "email",
    )
    .clone();
    assert_eq!(too_late["status"], "cancelled", "{too_late}");
    assert!(
        too_late["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("too_late:")),
        "{too_late}"
    );
    assert_eq!(due_in(&owner, &id_of(&too_late)).await, None);

    // Back to next week: a new reminder; then cancelled: dropped.
    let next_week = minute_in(Duration::days(7));
    change(
        &worker,
        &user,
        &viewing,
        json!({ "scheduled_at": at(next_week) }),
    )
    .await;
    newest_confirmation_sent(&worker, &user, &viewing).await;
    let messages = messages_of(&worker, &user, &viewing).await;
    let queued: Vec<&Value> = messages
        .iter()
        .filter(|m| m["template_key"] == "viewing_reminder" && m["status"] == "queued")
        .collect();
    assert_eq!(queued.len(), 1, "{messages:?}");
    assert_eq!(send_at(queued[0]), next_week - Duration::hours(24));
    let pending = id_of(queued[0]);
    change(&worker, &user, &viewing, json!({ "status": "CANCELLED" })).await;
    let dropped = expect_json(
        worker
            .get(&format!("/notifications/{pending}"), &user)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(dropped["status"], "cancelled", "{dropped}");
    assert!(
        dropped["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("viewing_cancelled:")),
        "{dropped}"
    );
    assert_eq!(due_in(&owner, &pending).await, None, "out of the queue");
    let mails = mails_to(&smtp, &to, 4).await;
    tokio::time::sleep(Wait::from_millis(500)).await;
    assert_eq!(
        smtp.messages_to(&to).len(),
        4,
        "a confirmation for each move"
    );
    assert!(
        mails
            .iter()
            .all(|mail| mail.header("Subject") == Some("Your viewing of Sunny flat is booked")),
        "never a reminder: {mails:?}"
    );
}

#[tokio::test]
async fn a_completed_viewing_asks_for_feedback_and_a_deleted_rule_takes_its_reminders_along() {
    let (smtp, sms) = (SmtpServer::start().await, SmsProvider::start().await);
    let (_app, worker, user) = sending(&smtp, &sms).await;
    let to = address("ada");
    let (property, contact) = property_and_contact(&worker, &user, &to).await;
    let added = rules(
        &worker,
        &user,
        &[
            json!({ "template_key": "viewing_feedback_request", "channel": "email",
                    "link": "https://agency.example/feedback?viewing={viewing_id}" }),
            json!({ "template_key": "viewing_reminder", "channel": "sms", "offset_minutes": 10080 }),
        ],
    )
    .await;
    let week_ahead = &added[1];

    // This morning's viewing: its reminder time is past, none is queued.
    let viewing = book(
        &worker,
        &user,
        &property,
        &contact,
        minute_in(-Duration::hours(3)),
    )
    .await;
    assert!(messages_of(&worker, &user, &viewing).await.is_empty());
    change(&worker, &user, &viewing, json!({ "status": "COMPLETED" })).await;
    let received = smtp.wait_for_message(&to, ARRIVAL).await;
    assert_eq!(
        received.header("Subject"),
        Some("How was your viewing of Sunny flat?")
    );
    let request = &messages_of(&worker, &user, &viewing).await[0];
    assert_eq!(request["cause"], "viewing.completed");
    let sent = settled(&worker, &user, &id_of(request)).await;
    let link = format!("https://agency.example/feedback?viewing={viewing}");
    assert!(
        sent["text"]
            .as_str()
            .is_some_and(|text| text.contains(&link)),
        "the link as it was sent: {sent}"
    );

    // Next month's viewing has its week-ahead reminder until the rule goes.
    let later = book(
        &worker,
        &user,
        &property,
        &contact,
        minute_in(Duration::days(30)),
    )
    .await;
    let reminder = id_of(&messages_of(&worker, &user, &later).await[0]);
    let deleted = worker
        .delete(
            &format!("/notifications/rules/{}", id_of(week_ahead)),
            &user,
        )
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let cancelled = expect_json(
        worker
            .get(&format!("/notifications/{reminder}"), &user)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert!(cancelled.get("rule_id").is_none(), "the rule is gone");
    assert!(
        cancelled["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("rule_deleted:"))
    );
    assert_eq!(due_in(&worker.owner_sql().await, &reminder).await, None);
    tokio::time::sleep(Wait::from_millis(500)).await;
    assert_eq!(smtp.messages_to(&to).len(), 1);
    assert!(sms.requests().is_empty());
}

#[tokio::test]
async fn a_rule_is_checked_whole_and_only_owners_and_admins_change_rules() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let problem = expect_problem(
        app.post(
            "/notifications/rules",
            &owner,
            json!({ "template_key": "viewing_feedback_request", "channel": "email",
                    "offset_minutes": 20000, "locale": "english" }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let fields = error_fields(&problem);
    assert_eq!(fields, ["link", "locale", "offset_minutes"], "{problem}");
    for refused in [
        json!({ "template_key": "viewing_reminder", "channel": "email" }),
        json!({ "template_key": "viewing_reminder", "channel": "email", "offset_minutes": 2 }),
        json!({ "template_key": "viewing_confirmation", "channel": "sms", "link": "https://x.example" }),
        json!({ "template_key": "invitation", "channel": "email" }),
        json!({ "template_key": "viewing_feedback_request", "channel": "sms", "link": "javascript:alert(1)" }),
    ] {
        expect_problem(
            app.post("/notifications/rules", &owner, refused.clone())
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let body =
        json!({ "template_key": "viewing_reminder", "channel": "sms", "offset_minutes": 60 });
    let added = rule(&app, &owner, body.clone()).await;
    assert_eq!(
        added.get("locale"),
        None,
        "no locale: each contact's, else the tenant's"
    );
    expect_problem(
        app.post("/notifications/rules", &owner, body).await,
        StatusCode::CONFLICT,
    )
    .await;

    let member = app.add_member(&owner, "member").await;
    let refused = app
        .post(
            "/notifications/rules",
            &member,
            json!({ "template_key": "viewing_confirmation", "channel": "sms" }),
        )
        .await;
    expect_problem(refused, StatusCode::FORBIDDEN).await;
    let path = format!("/notifications/rules/{}", id_of(&added));
    expect_problem(app.delete(&path, &member).await, StatusCode::FORBIDDEN).await;
    let listed = expect_json(
        app.get("/notifications/rules", &member).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["items"], json!([added]), "members read them");
}

#[tokio::test]
async fn another_tenants_rules_answer_like_ids_that_do_not_exist_and_never_fire_for_it() {
    let app = spawn_app().await;
    let (a, b) = (app.sign_up("Acme").await, app.sign_up("Rival").await);
    let theirs = rule(
        &app,
        &a,
        json!({ "template_key": "viewing_reminder", "channel": "email", "offset_minutes": 60 }),
    )
    .await;
    let path = format!("/notifications/rules/{}", id_of(&theirs));
    let missing = format!("/notifications/rules/{}", Uuid::now_v7());
    for target in [&path, &missing] {
        let read = expect_problem(app.get(target, &b).await, StatusCode::NOT_FOUND).await;
        let deleted = expect_problem(app.delete(target, &b).await, StatusCode::NOT_FOUND).await;
        assert_eq!(read["detail"], deleted["detail"]);
    }
    let listed = expect_json(app.get("/notifications/rules", &b).await, StatusCode::OK).await;
    assert_eq!(listed["items"], json!([]));

    // B's viewing is untouched by A's rule; A's rule still stands.
    let (property, contact) = property_and_contact(&app, &b, &address("bob")).await;
    let viewing = book(&app, &b, &property, &contact, minute_in(Duration::days(2))).await;
    assert!(messages_of(&app, &b, &viewing).await.is_empty());
    expect_json(app.get(&path, &a).await, StatusCode::OK).await;
}

/// The reminder queued for `viewing` (the only one).
async fn reminder_of(app: &TestApp, user: &TestUser, viewing: &str) -> Value {
    let messages = messages_of(app, user, viewing).await;
    let reminders: Vec<&Value> = messages
        .iter()
        .filter(|m| m["template_key"] == "viewing_reminder" && m["status"] == "queued")
        .collect();
    assert_eq!(reminders.len(), 1, "{messages:?}");
    reminders[0].clone()
}

#[tokio::test]
async fn a_reminder_due_in_quiet_hours_goes_the_minute_before_they_begin() {
    let app = spawn_app().await;
    let owner = app.sign_up("Acme").await;
    let sql = app.owner_sql().await;
    // Quiet hours from 3 to 6 hours ahead, in the tenant's zone (UTC): overnight or
    // not depending on the time of day the test runs at, both of which count.
    let now = minute_in(Duration::zero());
    let (quiet_from, quiet_until) = (now + Duration::hours(3), now + Duration::hours(6));
    let settings = json!({ "quiet_hours": {
        "start": quiet_from.format("%H:%M").to_string(),
        "end": quiet_until.format("%H:%M").to_string(),
    } });
    let set = app
        .call(
            reqwest::Method::PUT,
            "/notifications/settings",
            &owner,
            Some(settings),
        )
        .await;
    expect_json(set, StatusCode::OK).await;
    rule(
        &app,
        &owner,
        json!({ "template_key": "viewing_reminder", "channel": "sms", "offset_minutes": 120 }),
    )
    .await;
    let (property, contact) = property_and_contact(&app, &owner, &address("ada")).await;
    let before_quiet = quiet_from - Duration::minutes(1);

    // Due 5 hours ahead, in the quiet hours: brought forward.
    let viewing = book(&app, &owner, &property, &contact, now + Duration::hours(7)).await;
    let reminder = reminder_of(&app, &owner, &viewing).await;
    assert_due_around(&sql, &reminder, before_quiet).await;
    assert_eq!(
        reminder["send_at"]
            .as_str()
            .map(|at| at.parse::<DateTime<Utc>>().ok()),
        Some(Some(before_quiet)),
        "{reminder}"
    );

    // Moved so that it is due as they end: it goes then.
    let later = now + Duration::hours(8);
    change(&app, &owner, &viewing, json!({ "scheduled_at": at(later) })).await;
    let moved = reminder_of(&app, &owner, &viewing).await;
    assert_eq!(moved["id"], reminder["id"], "the same reminder, moved");
    assert_due_around(&sql, &moved, quiet_until).await;

    // Moved back into them: brought forward again.
    let back = now + Duration::minutes(6 * 60 + 30);
    change(&app, &owner, &viewing, json!({ "scheduled_at": at(back) })).await;
    assert_due_around(
        &sql,
        &reminder_of(&app, &owner, &viewing).await,
        before_quiet,
    )
    .await;
}

/// Previews `template` (an inline viewing reminder's text) with `record`.
async fn preview_of(app: &TestApp, user: &TestUser, text: &str, record: Value) -> Response {
    let body = json!({
        "template": { "key": "viewing_reminder", "channel": "sms", "text": text },
        "record": record,
    });
    app.post("/notifications/templates/preview", user, body)
        .await
}

#[tokio::test]
async fn a_preview_renders_a_real_viewing_and_another_tenants_answers_like_none() {
    let app = spawn_app().await;
    let (a, b) = (app.sign_up("Acme").await, app.sign_up("Rival").await);
    let (property, contact) = property_and_contact(&app, &a, &address("ada")).await;
    let start = minute_in(Duration::days(1));
    let viewing = book(&app, &a, &property, &contact, start).await;
    let text = "{{ contact.first_name }} {{ contact.last_name }} with {{ viewing.agent_name }}, \
                {{ viewing.scheduled_at | datetime(tz, '%Y-%m-%d %H:%M') }}, \
                {{ property.title }} in {{ property.address.city }}";
    let real = |id: &str| json!({ "type": "viewing", "id": id });

    let rendered = expect_json(
        preview_of(&app, &a, text, real(&viewing)).await,
        StatusCode::OK,
    )
    .await;
    let when = start.format("%Y-%m-%d %H:%M");
    assert_eq!(
        rendered["text"],
        format!("Ada Lovelace with Owner, {when}, Sunny flat in Zürich"),
        "the viewing's, its property's, its agent's and its contact's values"
    );
    let overridden = expect_json(
        app.post(
            "/notifications/templates/preview",
            &a,
            json!({
                "template": { "key": "viewing_reminder", "channel": "sms", "text": text },
                "record": real(&viewing), "variables": { "property.title": "Loft" },
            }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        overridden["text"],
        format!("Ada Lovelace with Owner, {when}, Loft in Zürich"),
        "given values override the record's"
    );
    let of_contact = expect_json(
        preview_of(&app, &a, text, json!({ "type": "contact", "id": contact })).await,
        StatusCode::OK,
    )
    .await;
    assert!(
        of_contact["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("Ada Lovelace with Grace Hopper")),
        "a contact's values, the key's samples for the rest: {of_contact}"
    );

    // B names A's viewing and A's contact: the answers of ids that do not exist.
    let missing = Uuid::now_v7().to_string();
    for (kind, theirs) in [("viewing", &viewing), ("contact", &contact)] {
        let mut answers = Vec::new();
        for id in [theirs, &missing] {
            let record = json!({ "type": kind, "id": id });
            let problem = expect_problem(
                preview_of(&app, &b, text, record).await,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
            assert_eq!(error_fields(&problem), ["record.id"], "{problem}");
            answers.push(problem["errors"].clone());
        }
        assert_eq!(answers[0], answers[1], "{kind}: theirs answers like none");
    }
    let unknown = expect_problem(
        preview_of(&app, &a, text, json!({ "type": "deal", "id": missing })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error_fields(&unknown), ["record.type"], "{unknown}");

    let off = app
        .call(
            reqwest::Method::PUT,
            "/tenant/modules",
            &a,
            Some(json!({ "modules": [{ "name": "real_estate", "enabled": false }] })),
        )
        .await;
    expect_json(off, StatusCode::OK).await;
    let switched_off = expect_problem(
        preview_of(&app, &a, text, real(&viewing)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        error_fields(&switched_off),
        ["record.type"],
        "{switched_off}"
    );
}
