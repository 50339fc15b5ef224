//! What the notification tests share: a worker that sends to a real SMTP server and
//! an SMS provider stand-in, waiting for a message to settle, and time driven through
//! the queue (`notification_queue.due_at`) instead of sleeping.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_postgres::Client;
use uuid::Uuid;

use super::{
    TestApp, TestUser, expect_json, id_of, mail::SmtpServer, sms::SmsProvider, spawn_app,
    start_server,
};

pub const ARRIVAL: Duration = Duration::from_secs(20);

/// A server without a worker and a signed-up tenant, and a second instance on the
/// same database whose worker sends mail to `smtp` and text messages to `sms`. Tests
/// talk to the second one.
pub async fn sending(smtp: &SmtpServer, sms: &SmsProvider) -> (TestApp, TestApp, TestUser) {
    let app = spawn_app().await;
    let user = app.sign_up("Acme").await;
    let (address, db) = start_server(&app.database, |vars| {
        vars.extend(smtp.env());
        vars.extend(sms.env());
    })
    .await;
    let worker = app.other_instance(address, db);
    (app, worker, user)
}

/// A new contact, Ada Lovelace, with this email address and phone number; its id.
pub async fn contact(
    app: &TestApp,
    user: &TestUser,
    email: Option<&str>,
    phone: Option<&str>,
) -> String {
    let body =
        json!({ "first_name": "Ada", "last_name": "Lovelace", "email": email, "phone": phone });
    id_of(&app.create("/contacts", user, body).await)
}

pub fn address(name: &str) -> String {
    format!("{name}-{}@example.test", Uuid::new_v4().simple())
}

/// Message `id` once `ready` holds for it, polled until [`ARRIVAL`].
pub async fn message_when(
    app: &TestApp,
    user: &TestUser,
    id: &str,
    ready: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + ARRIVAL;
    loop {
        let message = expect_json(
            app.get(&format!("/notifications/{id}"), user).await,
            StatusCode::OK,
        )
        .await;
        if ready(&message) {
            return message;
        }
        assert!(Instant::now() < deadline, "still as it was: {message}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Message `id` once its status is no longer `queued` or `sending`.
pub async fn settled(app: &TestApp, user: &TestUser, id: &str) -> Value {
    message_when(app, user, id, |message| {
        !matches!(message["status"].as_str(), Some("queued" | "sending"))
    })
    .await
}

/// Time passes for message `id`: it is due now.
pub async fn due_now(owner: &Client, id: &str) {
    let id: Uuid = id.parse().expect("a uuid");
    owner
        .execute(
            "UPDATE notification_queue SET due_at = now() WHERE message_id = $1",
            &[&id],
        )
        .await
        .expect("due now");
}

/// Seconds until message `id` is due, as the queue holds it.
pub async fn due_in(owner: &Client, id: &str) -> Option<f64> {
    let id: Uuid = id.parse().expect("a uuid");
    owner
        .query_opt(
            "SELECT extract(epoch FROM due_at - now())::float8 FROM notification_queue \
             WHERE message_id = $1",
            &[&id],
        )
        .await
        .expect("the queue")
        .map(|row| row.get(0))
}
