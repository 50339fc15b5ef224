//! Sending notifications end to end: `POST /notifications` queues a message, the worker
//! renders the tenant's wording and hands it to a real SMTP server (aiosmtpd) or an
//! SMS provider stand-in, and the message's row tells what happened. Consent decides
//! what goes out; a refusal is retried or given up; a worker that dies before or after
//! the hand-over sends once or leaves the message for review; and neither another
//! tenant nor the application role's own SQL can read, send or settle a message.
//! Time is driven through the queue (`notification_queue.due_at`), never by sleeping
//! out a delay.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use crate::support::{
    TestApp, TestUser, error_fields, expect_json, expect_problem, id_of,
    mail::SmtpServer,
    notifications::{ARRIVAL, address, contact, due_in, due_now, message_when, sending, settled},
    sms::{ACCOUNT, FROM, SmsProvider, TOKEN},
    spawn_app, start_server,
};

/// The viewing values a viewing template needs besides the contact's and the tenant's.
fn viewing_values() -> Value {
    json!({
        "viewing.scheduled_at": "2026-06-01T14:30:00Z",
        "viewing.duration_minutes": "45",
        "viewing.agent_name": "Grace Hopper",
        "property.title": "Sunny flat",
        "property.address.line": "Bahnhofstrasse 1",
        "property.address.city": "Zürich",
        "property.address.country": "CH",
    })
}

async fn send(app: &TestApp, user: &TestUser, body: Value) -> Value {
    expect_json(
        app.post("/notifications", user, body).await,
        StatusCode::CREATED,
    )
    .await
}

/// Message `id` once it has been attempted `attempts` times and is queued again.
async fn queued_after(app: &TestApp, user: &TestUser, id: &str, attempts: i64) -> Value {
    message_when(app, user, id, |message| {
        message["status"] == "queued" && message["attempts"] == attempts
    })
    .await
}

#[tokio::test]
async fn a_template_is_rendered_in_the_tenants_wording_and_reaches_the_smtp_server() {
    let (smtp, sms) = (SmtpServer::start().await, SmsProvider::start().await);
    let (_app, worker, user) = sending(&smtp, &sms).await;
    let to = address("ada");
    let contact = contact(&worker, &user, Some(&to), None).await;
    worker
        .create(
            "/notifications/templates",
            &user,
            json!({
                "key": "viewing_reminder", "channel": "email", "locale": "de",
                "subject": "Erinnerung: {{ property.title }}",
                "text": "Hallo {{ contact.first_name }}, {{ viewing.scheduled_at | datetime('Europe/Zurich', 'short') }} bei {{ tenant.name }}.",
            }),
        )
        .await;

    let queued = send(
        &worker,
        &user,
        json!({
            "contact_id": contact, "channel": "email", "template_key": "viewing_reminder",
            "locale": "de-CH", "variables": viewing_values(),
        }),
    )
    .await;
    assert_eq!(queued["status"], "queued", "{queued}");
    assert_eq!(queued["recipient"], to.as_str());
    assert_eq!(queued["variables"]["contact.first_name"], "Ada", "{queued}");
    assert_eq!(queued["cause"], "api");

    let received = smtp.wait_for_message(&to, ARRIVAL).await;
    assert_eq!(received.header("Subject"), Some("Erinnerung: Sunny flat"));
    assert!(
        received
            .body
            .contains("Hallo Ada, 2026-06-01 16:30 bei Acme."),
        "{received:?}"
    );
    let sent = settled(&worker, &user, &id_of(&queued)).await;
    assert_eq!(sent["status"], "sent", "{sent}");
    assert_eq!(sent["attempts"], 1);
    assert_eq!(
        sent["subject"], "Erinnerung: Sunny flat",
        "the rendered subject is kept"
    );
    assert!(sent["sent_at"].is_string());
    let message_id = received.header("Message-ID").expect("a Message-ID");
    assert!(
        message_id.starts_with(&format!("<{}@", id_of(&queued))),
        "made from the message's id, the same on every attempt: {message_id}"
    );
    assert_eq!(
        sent["provider_id"].as_str(),
        Some(message_id),
        "the provider id"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.messages_to(&to).len(), 1, "exactly one message");
    assert!(sms.requests().is_empty());
}

#[tokio::test]
async fn a_message_naming_no_locale_is_worded_in_its_contacts_else_the_tenants() {
    let (smtp, sms) = (SmtpServer::start().await, SmsProvider::start().await);
    let (_app, worker, user) = sending(&smtp, &sms).await;
    for (locale, subject) in [("de", "Erinnerung"), ("fr", "Rappel")] {
        let body = json!({
            "key": "viewing_reminder", "channel": "email", "locale": locale,
            "subject": format!("{subject}: {{{{ property.title }}}}"),
            "text": "{{ contact.first_name }}",
        });
        worker.create("/notifications/templates", &user, body).await;
    }
    let settings = expect_json(
        worker
            .call(
                Method::PATCH,
                "/tenant/settings",
                &user,
                Some(json!({ "locale": "fr-ch" })),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(settings["locale"], "fr-CH");
    assert_eq!(settings["time_zone"], "UTC", "a setting not given stays");
    let (de, fr, en) = (address("de"), address("fr"), address("en"));
    let austrian = contact(&worker, &user, Some(&de), None).await;
    expect_json(
        worker
            .patch(
                &format!("/contacts/{austrian}"),
                &user,
                json!({ "locale": "de-AT" }),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    let swiss = contact(&worker, &user, Some(&fr), None).await;
    let asked_for_english = contact(&worker, &user, Some(&en), None).await;

    let reminder = |contact: &str| {
        json!({ "contact_id": contact, "channel": "email",
                "template_key": "viewing_reminder", "variables": viewing_values() })
    };
    let mut english = reminder(&asked_for_english);
    english["locale"] = json!("en");
    for (body, to, locale, subject) in [
        (reminder(&austrian), &de, "de-AT", "Erinnerung: Sunny flat"),
        (reminder(&swiss), &fr, "fr-CH", "Rappel: Sunny flat"),
        (english, &en, "en", "Reminder: your viewing of Sunny flat"),
    ] {
        let queued = send(&worker, &user, body).await;
        assert_eq!(queued["locale"], locale, "{queued}");
        let received = smtp.wait_for_message(to, ARRIVAL).await;
        assert_eq!(received.header("Subject"), Some(subject), "{locale}");
    }
}

#[tokio::test]
async fn an_sms_is_posted_once_to_the_provider_with_its_credentials_and_id() {
    let (smtp, sms) = (SmtpServer::start().await, SmsProvider::start().await);
    let (_app, worker, user) = sending(&smtp, &sms).await;
    let contact = contact(&worker, &user, None, Some("+41 (44) 668-18.00")).await;

    let queued = send(
        &worker,
        &user,
        json!({ "contact_id": contact, "channel": "sms", "text": "Your viewing is confirmed." }),
    )
    .await;
    assert_eq!(
        queued["recipient"], "+41446681800",
        "the number in international form"
    );

    let requests = sms.wait_for(1, ARRIVAL).await;
    let request = &requests[0];
    assert_eq!(
        request.path,
        format!("/2010-04-01/Accounts/{ACCOUNT}/Messages.json")
    );
    assert_eq!(request.form["To"], "+41446681800");
    assert_eq!(request.form["From"], FROM);
    assert_eq!(request.form["Body"], "Your viewing is confirmed.");
    assert_eq!(
        request.credentials.as_deref(),
        Some(format!("{ACCOUNT}:{TOKEN}").as_str())
    );
    assert_eq!(
        request.idempotency_key.as_deref(),
        Some(id_of(&queued).as_str())
    );
    let sent = settled(&worker, &user, &id_of(&queued)).await;
    assert_eq!(sent["status"], "sent", "{sent}");
    assert_eq!(
        sent["provider_id"],
        json!(request.sid),
        "the provider's answer"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sms.requests().len(), 1, "exactly one request");
}

/// Records contact `id`'s decision about `channel`.
async fn consent(app: &TestApp, user: &TestUser, id: &str, channel: &str, status: &str) -> Value {
    let response = app
        .call(
            reqwest::Method::PUT,
            &format!("/contacts/{id}/consents"),
            user,
            Some(json!({ "channel": channel, "status": status, "source": "web form" })),
        )
        .await;
    expect_json(response, StatusCode::OK).await
}

#[tokio::test]
async fn consent_decides_what_goes_out_and_every_suppression_is_recorded() {
    let (smtp, sms) = (SmtpServer::start().await, SmsProvider::start().await);
    let (_app, worker, user) = sending(&smtp, &sms).await;
    let (out, fan) = (address("out"), address("fan"));
    let opted_out = contact(&worker, &user, Some(&out), Some("+41446681801")).await;
    let opted_in = contact(&worker, &user, Some(&fan), None).await;
    let no_phone = contact(&worker, &user, Some(&address("nophone")), Some("ext. 12")).await;
    let recorded = consent(&worker, &user, &opted_out, "email", "opted_out").await;
    assert_eq!(recorded["source"], "web form");
    consent(&worker, &user, &opted_in, "email", "opted_in").await;
    let email = |contact: &str, purpose: &str| {
        json!({ "contact_id": contact, "channel": "email", "purpose": purpose,
                "subject": "News", "text": "Our new listings." })
    };

    let refused = send(&worker, &user, email(&opted_out, "transactional")).await;
    assert_eq!(refused["status"], "suppressed");
    assert!(
        refused["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("opted_out")),
        "{refused}"
    );
    let unasked = send(&worker, &user, email(&no_phone, "marketing")).await;
    assert_eq!(unasked["status"], "suppressed");
    assert!(
        unasked["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("not_opted_in")),
        "{unasked}"
    );
    let no_number = send(
        &worker,
        &user,
        json!({ "contact_id": no_phone, "channel": "sms", "text": "Hi" }),
    )
    .await;
    assert_eq!(no_number["status"], "suppressed");
    assert!(
        no_number["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("no_address"))
    );
    // The other channel is not opted out.
    let by_sms = send(
        &worker,
        &user,
        json!({ "contact_id": opted_out, "channel": "sms", "text": "Hi" }),
    )
    .await;
    assert_eq!(by_sms["status"], "queued");

    let welcome = send(&worker, &user, email(&opted_in, "marketing")).await;
    smtp.wait_for_message(&fan, ARRIVAL).await;
    assert_eq!(
        settled(&worker, &user, &id_of(&welcome)).await["status"],
        "sent"
    );
    sms.wait_for(1, ARRIVAL).await;

    // Opting out after a message was queued stops it too.
    let scheduled = send(
        &worker,
        &user,
        json!({ "contact_id": opted_in, "channel": "email", "subject": "Later", "text": "x",
                "send_at": (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339() }),
    )
    .await;
    consent(&worker, &user, &opted_in, "email", "opted_out").await;
    due_now(&worker.owner_sql().await, &id_of(&scheduled)).await;
    let stopped = settled(&worker, &user, &id_of(&scheduled)).await;
    assert_eq!(stopped["status"], "suppressed", "{stopped}");

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        smtp.messages_to(&out).is_empty(),
        "the opted-out contact received nothing"
    );
    assert_eq!(smtp.messages_to(&fan).len(), 1);
    let listed = expect_json(
        worker.get("/notifications?status=suppressed", &user).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(4),
        "{listed}"
    );
}

#[tokio::test]
async fn a_passing_refusal_is_retried_with_backoff_and_a_final_one_fails_the_message() {
    let (smtp, sms) = (SmtpServer::start().await, SmsProvider::start().await);
    let (_app, worker, user) = sending(&smtp, &sms).await;
    let owner = worker.owner_sql().await;
    let contact = contact(&worker, &user, None, Some("+41446681802")).await;
    let text = |text: &str| json!({ "contact_id": contact, "channel": "sms", "text": text });

    sms.answer(503);
    let busy = id_of(&send(&worker, &user, text("busy")).await);
    let retried = queued_after(&worker, &user, &busy, 1).await;
    assert!(
        retried["reason"]
            .as_str()
            .is_some_and(|r| r.contains("503")),
        "{retried}"
    );
    let wait = due_in(&owner, &busy).await.expect("still queued");
    assert!(
        (20.0..=30.0).contains(&wait),
        "a backoff of about 30 s, got {wait}"
    );
    sms.answer(201);
    due_now(&owner, &busy).await;
    let sent = settled(&worker, &user, &busy).await;
    assert_eq!(
        (sent["status"].as_str(), sent["attempts"].as_i64()),
        (Some("sent"), Some(2))
    );

    sms.answer(400);
    let bad = id_of(&send(&worker, &user, text("bad")).await);
    let failed = settled(&worker, &user, &bad).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(
        failed["reason"].as_str().is_some_and(|r| r.contains("400")),
        "{failed}"
    );
    assert_eq!(
        due_in(&owner, &bad).await,
        None,
        "a failed message leaves the queue"
    );
    let bodies: Vec<String> = sms
        .requests()
        .iter()
        .map(|r| r.form["Body"].clone())
        .collect();
    assert_eq!(bodies, ["busy", "busy", "bad"]);
}

#[tokio::test]
async fn a_template_that_runs_away_on_real_values_fails_at_render_and_sends_nothing() {
    let (smtp, sms) = (SmtpServer::start().await, SmsProvider::start().await);
    let (_app, worker, user) = sending(&smtp, &sms).await;
    let contact = contact(&worker, &user, None, Some("+41446681803")).await;
    // Fine with the sample title (21 characters: 21² turns); not with 2,000.
    worker
        .create(
            "/notifications/templates",
            &user,
            json!({
                "key": "viewing_confirmation", "channel": "sms",
                "text": "{% for a in property.title %}{% for b in property.title %}{% endfor %}{% endfor %}done",
            }),
        )
        .await;
    let mut values = viewing_values();
    values["property.title"] = json!("x".repeat(2000));
    let queued = send(
        &worker,
        &user,
        json!({ "contact_id": contact, "channel": "sms", "template_key": "viewing_confirmation",
                "variables": values }),
    )
    .await;
    let failed = settled(&worker, &user, &id_of(&queued)).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(
        failed["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("the template did not render")),
        "{failed}"
    );
    assert_eq!(failed["attempts"], 1, "never retried");
    assert!(
        failed.get("text").is_none(),
        "nothing was handed over: {failed}"
    );
    assert!(sms.requests().is_empty());
}

/// Leases messages `ids` as a worker that then dies: through the worker's own door,
/// as the job does, handing over those `handed_over` names; then their leases run out.
async fn claim_and_die(worker: &TestApp, ids: &[&str], handed_over: &[&str]) {
    let dispatcher = worker.db.dispatcher();
    let claimed = dispatcher.claim_notifications(10).await.expect("a claim");
    let mut claimed_ids: Vec<String> = claimed.iter().map(|m| m.message_id.to_string()).collect();
    claimed_ids.sort_unstable();
    let mut expected: Vec<String> = ids.iter().map(|id| (*id).to_owned()).collect();
    expected.sort_unstable();
    assert_eq!(claimed_ids, expected, "the messages are claimed");
    for message in claimed {
        if handed_over.contains(&message.message_id.to_string().as_str()) {
            assert!(
                dispatcher
                    .notification_handing_over(message.claim, Some("Hi"), "Hello", None)
                    .await
                    .expect("handed over")
            );
        }
    }
    let owner = worker.owner_sql().await;
    for id in ids {
        due_now(&owner, id).await;
    }
}

#[tokio::test]
async fn a_worker_killed_before_the_hand_over_sends_once_and_after_it_leaves_it_for_review() {
    let (smtp, sms) = (SmtpServer::start().await, SmsProvider::start().await);
    // The dead worker: a server with no job host; its dispatcher door claims as the job would.
    let app = spawn_app().await;
    let user = app.sign_up("Acme").await;
    let (before, after) = (address("before"), address("after"));
    let body = |contact: &str| json!({ "contact_id": contact, "channel": "email", "subject": "Hi", "text": "Hello" });
    let to_before = contact(&app, &user, Some(&before), None).await;
    let to_after = contact(&app, &user, Some(&after), None).await;
    let first = id_of(&send(&app, &user, body(&to_before)).await);
    let second = id_of(&send(&app, &user, body(&to_after)).await);
    claim_and_die(&app, &[&first, &second], &[&second]).await;

    // The restarted worker.
    let (address, db) = start_server(&app.database, |vars| {
        vars.extend(smtp.env());
        vars.extend(sms.env());
    })
    .await;
    let worker = app.other_instance(address, db);
    smtp.wait_for_message(&before, ARRIVAL).await;
    let sent = settled(&worker, &user, &first).await;
    assert_eq!(
        (sent["status"].as_str(), sent["attempts"].as_i64()),
        (Some("sent"), Some(2))
    );
    let review = settled(&worker, &user, &second).await;
    assert_eq!(review["status"], "review", "{review}");
    assert!(
        review["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("lost")),
        "{review}"
    );
    assert_eq!(review["text"], "Hello", "what was handed over is kept");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(smtp.messages_to(&before).len(), 1, "sent once");
    assert!(smtp.messages_to(&after).is_empty(), "never sent twice");
}

#[tokio::test]
async fn a_manager_resolves_a_message_under_review_as_sent_or_sends_it_again() {
    let (smtp, sms) = (SmtpServer::start().await, SmsProvider::start().await);
    let app = spawn_app().await;
    let user = app.sign_up("Acme").await;
    let (went, lost) = (address("went"), address("lost"));
    let body = |contact: &str| json!({ "contact_id": contact, "channel": "email", "subject": "Hi", "text": "Hello" });
    let to_went = contact(&app, &user, Some(&went), None).await;
    let to_lost = contact(&app, &user, Some(&lost), None).await;
    let first = id_of(&send(&app, &user, body(&to_went)).await);
    let second = id_of(&send(&app, &user, body(&to_lost)).await);
    claim_and_die(&app, &[&first, &second], &[&first, &second]).await;
    let (address, db) = start_server(&app.database, |vars| {
        vars.extend(smtp.env());
        vars.extend(sms.env());
    })
    .await;
    let worker = app.other_instance(address, db);
    for id in [&first, &second] {
        assert_eq!(settled(&worker, &user, id).await["status"], "review");
    }
    let resolve = |id: &str| format!("/notifications/{id}/resolve");

    let member = worker.add_member(&user, "member").await;
    let refused = worker
        .post(&resolve(&first), &member, json!({ "outcome": "sent" }))
        .await;
    expect_problem(refused, StatusCode::FORBIDDEN).await;
    let rival = worker.sign_up("Rival").await;
    let hidden = worker
        .post(&resolve(&first), &rival, json!({ "outcome": "sent" }))
        .await;
    let missing = worker
        .post(
            &resolve(&Uuid::now_v7().to_string()),
            &rival,
            json!({ "outcome": "sent" }),
        )
        .await;
    let (hidden, missing) = (
        expect_problem(hidden, StatusCode::NOT_FOUND).await,
        expect_problem(missing, StatusCode::NOT_FOUND).await,
    );
    assert_eq!(hidden["detail"], missing["detail"]);

    let marked = expect_json(
        worker
            .post(
                &resolve(&first),
                &user,
                json!({ "outcome": "sent", "provider_id": "checked-by-hand" }),
            )
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(marked["status"], "sent", "{marked}");
    assert_eq!(marked["provider_id"], "checked-by-hand");
    assert!(
        marked["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("resolved: marked sent"))
    );
    let again = worker
        .post(&resolve(&first), &user, json!({ "outcome": "send_again" }))
        .await;
    expect_problem(again, StatusCode::CONFLICT).await;

    let requeued = expect_json(
        worker
            .post(&resolve(&second), &user, json!({ "outcome": "send_again" }))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(requeued["status"], "queued", "{requeued}");
    smtp.wait_for_message(&lost, ARRIVAL).await;
    assert_eq!(settled(&worker, &user, &second).await["status"], "sent");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.messages_to(&lost).len(), 1, "sent again, once");
    assert!(
        smtp.messages_to(&went).is_empty(),
        "marked sent, never sent again"
    );
}

#[tokio::test]
async fn an_idempotency_key_answers_the_first_message_and_refuses_another_use() {
    let app = spawn_app().await;
    let user = app.sign_up("Acme").await;
    let ada = contact(&app, &user, None, Some("+41446681804")).await;
    let bob = contact(&app, &user, None, Some("+41446681805")).await;
    let body = |contact: &str| json!({ "contact_id": contact, "channel": "sms", "text": "Once", "idempotency_key": "k-1" });
    let first = send(&app, &user, body(&ada)).await;
    let again = expect_json(
        app.post("/notifications", &user, body(&ada)).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(again["id"], first["id"]);
    let other = expect_problem(
        app.post("/notifications", &user, body(&bob)).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert!(
        other["detail"]
            .as_str()
            .is_some_and(|d| d.contains("idempotency key"))
    );
    let owner = app.owner_sql().await;
    let rows: i64 = owner
        .query_one("SELECT count(*) FROM notification_messages", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(rows, 1);
}

#[tokio::test]
async fn a_message_that_cannot_render_or_reach_anyone_is_a_422_naming_each_field() {
    let app = spawn_app().await;
    let user = app.sign_up("Acme").await;
    let ada = contact(&app, &user, None, None).await;
    let mut values = viewing_values();
    values.as_object_mut().map(|v| v.remove("property.title"));
    values["viewing.secret"] = json!("x");
    values["contact.first_name"] = json!("Eve");
    let problem = expect_problem(
        app.post(
            "/notifications",
            &user,
            json!({ "contact_id": ada, "channel": "email", "template_key": "viewing_reminder",
                    "variables": values, "subject": "x" }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let fields = error_fields(&problem);
    assert_eq!(
        fields,
        [
            "subject",
            "variables.contact.first_name",
            "variables.property.title",
            "variables.viewing.secret"
        ],
        "{problem}"
    );
    let unknown = expect_problem(
        app.post(
            "/notifications",
            &user,
            json!({ "contact_id": Uuid::new_v4(), "channel": "sms", "text": "Hi" }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(unknown["errors"][0]["field"], "contact_id", "{unknown}");
    let owner = app.owner_sql().await;
    let rows: i64 = owner
        .query_one("SELECT count(*) FROM notification_messages", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(rows, 0, "nothing was queued");
}

#[tokio::test]
async fn another_tenants_messages_and_consents_answer_like_ids_that_do_not_exist() {
    let app = spawn_app().await;
    let a = app.sign_up("A").await;
    let b = app.sign_up("B").await;
    let a_contact = contact(&app, &a, None, Some("+41446681806")).await;
    let message = id_of(
        &send(
            &app,
            &a,
            json!({ "contact_id": a_contact, "channel": "sms", "text": "A's" }),
        )
        .await,
    );

    for path in [
        format!("/notifications/{message}"),
        format!("/contacts/{a_contact}/consents"),
    ] {
        let theirs = expect_problem(app.get(&path, &b).await, StatusCode::NOT_FOUND).await;
        let random = path
            .replace(&message, &Uuid::new_v4().to_string())
            .replace(&a_contact, &Uuid::new_v4().to_string());
        let nobody = expect_problem(app.get(&random, &b).await, StatusCode::NOT_FOUND).await;
        assert_eq!(theirs, nobody, "{path}");
    }
    let listed = expect_json(app.get("/notifications", &b).await, StatusCode::OK).await;
    assert_eq!(listed["items"], json!([]));
    let use_theirs = expect_problem(
        app.post(
            "/notifications",
            &b,
            json!({ "contact_id": a_contact, "channel": "sms", "text": "x" }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let use_nobody = expect_problem(
        app.post(
            "/notifications",
            &b,
            json!({ "contact_id": Uuid::new_v4(), "channel": "sms", "text": "x" }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(use_theirs, use_nobody);
    let opt_out = app
        .call(
            reqwest::Method::PUT,
            &format!("/contacts/{a_contact}/consents"),
            &b,
            Some(json!({ "channel": "sms", "status": "opted_out", "source": "attack" })),
        )
        .await;
    expect_problem(opt_out, StatusCode::NOT_FOUND).await;
    let consents = expect_json(
        app.get(&format!("/contacts/{a_contact}/consents"), &a)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        consents["items"],
        json!([]),
        "A's contact kept no decision of B's"
    );

    let reader = app.add_member(&a, "read_only").await;
    expect_problem(
        app.post(
            "/notifications",
            &reader,
            json!({ "contact_id": a_contact, "channel": "sms", "text": "x" }),
        )
        .await,
        StatusCode::FORBIDDEN,
    )
    .await;
}

#[tokio::test]
async fn the_application_role_can_neither_see_the_queue_nor_move_a_message_nor_claim() {
    let app = spawn_app().await;
    let a = app.sign_up("A").await;
    let a_contact = contact(&app, &a, None, Some("+41446681807")).await;
    let message: Uuid = id_of(
        &send(
            &app,
            &a,
            json!({ "contact_id": a_contact, "channel": "sms", "text": "A's" }),
        )
        .await,
    )
    .parse()
    .expect("a uuid");
    let sql = app.app_role_sql().await;
    sql.batch_execute("BEGIN").await.expect("begin");
    app.enter(
        &sql,
        app.context_of(&a).tenant_id(),
        app.context_of(&a).user_id(),
    )
    .await;
    let refused = |result: Result<u64, tokio_postgres::Error>| {
        result.expect_err("refused").code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE)
    };
    sql.batch_execute("SAVEPOINT s").await.expect("savepoint");
    assert!(refused(
        sql.execute(
            "UPDATE notification_messages SET status = 'sent' WHERE id = $1",
            &[&message]
        )
        .await
    ));
    sql.batch_execute("ROLLBACK TO s").await.expect("rollback");
    assert!(refused(
        sql.execute("SELECT * FROM notification_queue", &[]).await
    ));
    sql.batch_execute("ROLLBACK TO s").await.expect("rollback");
    assert!(refused(
        sql.execute("DELETE FROM notification_messages", &[]).await
    ));
    sql.batch_execute("ROLLBACK TO s").await.expect("rollback");
    assert!(refused(
        sql.execute(
            "INSERT INTO notification_messages (id, channel, contact_id, text_body, status) \
             VALUES (gen_random_uuid(), 'sms', $1, 'x', 'sent')",
            &[&a_contact.parse::<Uuid>().expect("a uuid")],
        )
        .await
    ));
    sql.batch_execute("ROLLBACK TO s").await.expect("rollback");
    for call in [
        "SELECT * FROM app.claim_notifications(10)",
        "SELECT app.notification_sent(gen_random_uuid(), 'x')",
        "SELECT app.notification_failed(gen_random_uuid(), 'x', true)",
        "SELECT app.notification_handing_over(gen_random_uuid(), 'x', 'x', NULL)",
    ] {
        assert!(refused(sql.execute(call, &[]).await), "{call}");
        sql.batch_execute("ROLLBACK TO s").await.expect("rollback");
    }
}
