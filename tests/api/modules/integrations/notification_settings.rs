//! A tenant's sending settings (`/notifications/settings`) hold messages back when the
//! worker claims them: quiet hours in the tenant's time zone until they end, an hourly
//! limit until the window has room. And a message whose contact is deleted is
//! cancelled instead of going to the address it had. The worker sends to a real SMTP
//! server; time is driven through the queue and the messages' `sent_at`.

use std::time::Duration as Wait;

use chrono::{Duration, Timelike, Utc};
use chrono_tz::Tz;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_postgres::Client;

use crate::support::{
    TestApp, TestUser, error_fields, expect_json, expect_problem, id_of,
    mail::SmtpServer,
    notifications::{ARRIVAL, address, contact, due_in, due_now, message_when, sending, settled},
    sms::SmsProvider,
    spawn_app,
};

const SETTINGS: &str = "/notifications/settings";

async fn put_settings(app: &TestApp, user: &TestUser, body: Value) -> Value {
    expect_json(
        app.call(Method::PUT, SETTINGS, user, Some(body)).await,
        StatusCode::OK,
    )
    .await
}

async fn mail(app: &TestApp, user: &TestUser, contact: &str, subject: &str) -> String {
    let message = app
        .create(
            "/notifications",
            user,
            json!({ "contact_id": contact, "channel": "email", "subject": subject,
                    "text": "Hello" }),
        )
        .await;
    id_of(&message)
}

/// Message `id` once the worker's claim has held it back by more than a minute.
async fn held(app: &TestApp, user: &TestUser, owner: &Client, id: &str) -> f64 {
    message_when(app, user, id, |message| message["status"] == "queued").await;
    for _ in 0..400 {
        if let Some(due) = due_in(owner, id).await.filter(|due| *due > 60.0) {
            return due;
        }
        tokio::time::sleep(Wait::from_millis(50)).await;
    }
    panic!("message {id} was never held back");
}

/// `HH:MM` of now plus `minutes` in `zone`.
fn local_clock(zone: Tz, minutes: i64) -> String {
    let local = (Utc::now() + Duration::minutes(minutes)).with_timezone(&zone);
    format!("{:02}:{:02}", local.hour(), local.minute())
}

#[tokio::test]
async fn quiet_hours_in_the_tenants_zone_hold_a_message_until_they_end() {
    let (smtp, sms) = (SmtpServer::start().await, SmsProvider::start().await);
    let (_app, worker, user) = sending(&smtp, &sms).await;
    let zone: Tz = "Pacific/Auckland".parse().expect("a zone");
    expect_json(
        worker
            .patch(
                "/tenant/settings",
                &user,
                json!({ "time_zone": zone.name() }),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    let quiet = json!({ "start": local_clock(zone, -60), "end": local_clock(zone, 60) });
    let set = put_settings(&worker, &user, json!({ "quiet_hours": quiet })).await;
    assert_eq!(set, json!({ "quiet_hours": quiet }), "the limits stay off");

    let to = address("night");
    let ada = contact(&worker, &user, Some(&to), None).await;
    let id = mail(&worker, &user, &ada, "At night").await;
    let owner = worker.owner_sql().await;
    let due = held(&worker, &user, &owner, &id).await;
    assert!(
        (3_500.0..=3_600.0).contains(&due),
        "held until the quiet hours end, in about an hour: {due} s"
    );
    assert!(smtp.messages_to(&to).is_empty(), "nothing at night");

    // The hours end (the queue says so): it goes out.
    put_settings(&worker, &user, json!({})).await;
    due_now(&owner, &id).await;
    let sent = settled(&worker, &user, &id).await;
    assert_eq!(sent["status"], "sent", "{sent}");
    smtp.wait_for_message(&to, ARRIVAL).await;
}

#[tokio::test]
async fn an_hourly_limit_holds_what_is_over_it_until_the_oldest_send_leaves_the_hour() {
    let (smtp, sms) = (SmtpServer::start().await, SmsProvider::start().await);
    let (_app, worker, user) = sending(&smtp, &sms).await;
    put_settings(&worker, &user, json!({ "hourly_limit": 2 })).await;
    let to = address("limited");
    let ada = contact(&worker, &user, Some(&to), None).await;
    let first = mail(&worker, &user, &ada, "One").await;
    let second = mail(&worker, &user, &ada, "Two").await;
    for id in [&first, &second] {
        assert_eq!(settled(&worker, &user, id).await["status"], "sent");
    }
    let third = mail(&worker, &user, &ada, "Three").await;
    let owner = worker.owner_sql().await;
    let due = held(&worker, &user, &owner, &third).await;
    assert!(
        (3_500.0..=3_600.0).contains(&due),
        "held until the first send is an hour old: {due} s"
    );
    tokio::time::sleep(Wait::from_millis(500)).await;
    assert_eq!(smtp.messages_to(&to).len(), 2, "two within the hour");

    // An hour passes for the tenant's sends.
    owner
        .execute(
            "UPDATE notification_messages SET sent_at = sent_at - interval '1 hour' \
             WHERE sent_at IS NOT NULL",
            &[],
        )
        .await
        .expect("an hour ago");
    due_now(&owner, &third).await;
    assert_eq!(settled(&worker, &user, &third).await["status"], "sent");
    tokio::time::sleep(Wait::from_millis(500)).await;
    assert_eq!(smtp.messages_to(&to).len(), 3, "exactly the three");
}

#[tokio::test]
async fn a_message_to_a_deleted_contact_is_cancelled_and_forgets_the_address() {
    let app = spawn_app().await;
    let user = app.sign_up("Acme").await;
    let ada = contact(&app, &user, Some(&address("gone")), None).await;
    let later = (Utc::now() + Duration::days(2)).to_rfc3339();
    let message = app
        .create(
            "/notifications",
            &user,
            json!({ "contact_id": ada, "channel": "email", "subject": "Later",
                    "text": "x", "send_at": later }),
        )
        .await;
    let deleted = app.delete(&format!("/contacts/{ada}"), &user).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let cancelled = expect_json(
        app.get(&format!("/notifications/{}", id_of(&message)), &user)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    assert!(cancelled.get("recipient").is_none(), "{cancelled}");
    assert!(cancelled.get("contact_id").is_none(), "{cancelled}");
    assert_eq!(due_in(&app.owner_sql().await, &id_of(&message)).await, None);
}

#[tokio::test]
async fn settings_are_checked_whole_set_by_managers_and_kept_per_tenant() {
    let app = spawn_app().await;
    let (owner, rival) = (app.sign_up("Acme").await, app.sign_up("Rival").await);
    let none = expect_json(app.get(SETTINGS, &owner).await, StatusCode::OK).await;
    assert_eq!(none, json!({}), "everything off until set");
    let refused = expect_problem(
        app.call(
            Method::PUT,
            SETTINGS,
            &owner,
            Some(json!({ "quiet_hours": { "start": "21:00", "end": "21:00" },
                         "hourly_limit": 0, "daily_limit": 20_000_000 })),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        error_fields(&refused),
        ["daily_limit", "hourly_limit", "quiet_hours.end"],
        "{refused}"
    );
    let malformed = app
        .call(
            Method::PUT,
            SETTINGS,
            &owner,
            Some(json!({ "quiet_hours": { "start": "9pm", "end": "08:00" } })),
        )
        .await;
    expect_problem(malformed, StatusCode::UNPROCESSABLE_ENTITY).await;

    let body = json!({ "quiet_hours": { "start": "21:00", "end": "08:00" },
                       "hourly_limit": 500, "daily_limit": 5000 });
    assert_eq!(put_settings(&app, &owner, body.clone()).await, body);
    let member = app.add_member(&owner, "member").await;
    assert_eq!(
        expect_json(app.get(SETTINGS, &member).await, StatusCode::OK).await,
        body
    );
    let forbidden = app
        .call(Method::PUT, SETTINGS, &member, Some(json!({})))
        .await;
    expect_problem(forbidden, StatusCode::FORBIDDEN).await;
    assert_eq!(
        expect_json(app.get(SETTINGS, &rival).await, StatusCode::OK).await,
        json!({}),
        "another tenant's settings are its own"
    );
    put_settings(&app, &rival, json!({ "hourly_limit": 1 })).await;
    assert_eq!(
        expect_json(app.get(SETTINGS, &owner).await, StatusCode::OK).await,
        body
    );
}
