//! Webhooks end to end, against HTTP receivers on loopback: a subscribed endpoint gets
//! each change of a contact as the API returns it, signed so that the Standard Webhooks
//! project's verifier accepts it; a rolled-back change sends nothing; another tenant
//! hears nothing; a receiver that was down gets every event once it is up, under the
//! same ids; addresses webhooks may not reach are refused, before and after DNS; and
//! the application role can neither read a secret nor forge, claim or settle a message.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_postgres::error::SqlState;

use crate::support::{
    TestApp, TestUser, expect_json, expect_problem, id_of, spawn_app, start_server,
    webhooks::{
        Documented, PATIENT_TENANTS, Receiver, all_verified_by_the_reference_library,
        bring_late_retries_forward, subscribe, verified_by_the_reference_library, with_worker,
        with_worker_configured,
    },
};

const ARRIVAL: Duration = Duration::from_secs(20);

/// The delivery whose body has `type`.
fn of_type<'a>(
    deliveries: &'a [crate::support::webhooks::Delivery],
    kind: &str,
) -> &'a crate::support::webhooks::Delivery {
    deliveries
        .iter()
        .find(|d| d.json()["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} among {deliveries:?}"))
}

#[tokio::test]
async fn each_change_of_a_contact_arrives_as_the_api_returns_it_signed_the_standard_way() {
    let (_app, app, user) = with_worker().await;
    let receiver = Receiver::start().await;
    let (endpoint, secret) = subscribe(&app, &user, &receiver.url(), &["contact.*"]).await;

    let created = app.create_contact(&user, "Ada").await;
    let path = format!("/contacts/{}", id_of(&created));
    let updated = expect_json(
        app.patch(&path, &user, json!({ "phone": "+44 20 7946 0000" }))
            .await,
        StatusCode::OK,
    )
    .await;
    let response = app.delete(&path, &user).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let deliveries = receiver.wait_for(3, ARRIVAL).await;
    assert_eq!(deliveries.len(), 3, "{deliveries:?}");
    let documented = Documented::of(&app).await;
    for (kind, resource) in [
        ("contact.created", &created),
        ("contact.updated", &updated),
        ("contact.deleted", &updated),
    ] {
        let delivery = of_type(&deliveries, kind);
        let body = delivery.json();
        assert_eq!(
            &body["data"], resource,
            "{kind}: data is the API's resource"
        );
        documented.assert_describes(&body);
        assert_eq!(delivery.header("webhook-id"), body["id"], "{kind}");
        assert!(body["timestamp"].is_string(), "{body}");
        assert_eq!(delivery.header("content-type"), "application/json");
        assert!(
            verified_by_the_reference_library(&secret, delivery).await,
            "{kind}: standardwebhooks accepts the signature: {delivery:?}"
        );
        let mut forged = delivery.clone();
        forged.body = forged.body.replace("Ada", "Eve");
        assert!(
            !verified_by_the_reference_library(&secret, &forged).await,
            "{kind}: an edited body fails verification"
        );
    }

    // The secret was shown once: the endpoint as read has none.
    let read = expect_json(
        app.get(&format!("/webhooks/endpoints/{endpoint}"), &user)
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(read["event_types"], json!(["contact.*"]));
    assert!(read.get("secret").is_none(), "{read}");
    let types = expect_json(
        app.get("/webhooks/event-types", &user).await,
        StatusCode::OK,
    )
    .await;
    assert!(
        types["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|t| t["type"] == "contact.deleted")),
        "{types}"
    );
}

/// The delivery of event `kind` about the record `id`.
fn about(deliveries: &[crate::support::webhooks::Delivery], kind: &str, id: &Value) -> Value {
    let found = deliveries.iter().map(|d| d.json()).find(|body| {
        body["type"] == kind && (body["data"]["id"] == *id || body["data"]["deal"]["id"] == *id)
    });
    found.unwrap_or_else(|| panic!("no {kind} of {id} among {deliveries:?}"))["data"].take()
}

#[tokio::test]
async fn every_modules_events_arrive_with_the_record_as_the_api_returns_it() {
    let (_app, app, user) = with_worker().await;
    let receiver = Receiver::start().await;
    let types = ["company.*", "deal.*", "property.*", "viewing.*", "member.*"];
    subscribe(&app, &user, &receiver.url(), &types).await;

    let company = app
        .create(
            "/companies",
            &user,
            json!({ "name": "Initech", "domain": "initech.test" }),
        )
        .await;
    let deal = app
        .create(
            "/deals",
            &user,
            json!({ "title": "Renewal", "company_id": company["id"], "amount_minor": 120_000,
                    "currency": "EUR", "expected_close_date": "2027-03-31" }),
        )
        .await;
    let deal_path = format!("/deals/{}", id_of(&deal));
    let moved = expect_json(
        app.patch(&deal_path, &user, json!({ "stage": "NEGOTIATION" }))
            .await,
        StatusCode::OK,
    )
    .await;
    let history = expect_json(
        app.get(&format!("{deal_path}/history"), &user).await,
        StatusCode::OK,
    )
    .await;
    let property = app
        .create(
            "/properties",
            &user,
            json!({ "title": "Mill loft", "price_minor": 25_000_000, "currency": "GBP",
                    "address": { "line": "2 Mill St", "city": "Leeds", "country": "GB" },
                    "listing_type": "SALE", "property_type": "APARTMENT", "area_sqm": 88.5 }),
        )
        .await;
    let buyer = app.create_contact(&user, "Bea").await;
    let viewings = format!("/properties/{}/viewings", id_of(&property));
    let past = (chrono::Utc::now() - chrono::Duration::hours(3)).to_rfc3339();
    let future = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let held = app
        .create(
            &viewings,
            &user,
            json!({ "contact_id": buyer["id"], "scheduled_at": past }),
        )
        .await;
    let booked = app
        .create(
            &viewings,
            &user,
            json!({ "contact_id": buyer["id"], "scheduled_at": future }),
        )
        .await;
    let patch_viewing = |viewing: &Value, body: Value| {
        let path = format!("/viewings/{}", id_of(viewing));
        let app = &app;
        let user = &user;
        async move { expect_json(app.patch(&path, user, body).await, StatusCode::OK).await }
    };
    let completed = patch_viewing(
        &held,
        json!({ "status": "COMPLETED", "feedback": { "interest": 4, "comments": "Likes it" } }),
    )
    .await;
    let later = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
    let rescheduled = patch_viewing(&booked, json!({ "scheduled_at": later })).await;
    let cancelled = patch_viewing(&booked, json!({ "status": "CANCELLED" })).await;
    let member = app.add_member(&user, "member").await;
    let member_read = expect_json(
        app.get(&format!("/users/{}", member.user_id), &user).await,
        StatusCode::OK,
    )
    .await;
    let response = app.delete(&deal_path, &user).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    // company, deal (created, updated, stage_changed, deleted), property, two viewings
    // booked, completed, rescheduled, cancelled, and the member.
    let deliveries = receiver.wait_for(12, ARRIVAL).await;
    // Each as the document describes its kind, to the last field.
    let documented = Documented::of(&app).await;
    for delivery in &deliveries {
        documented.assert_describes(&delivery.json());
    }
    for (kind, record) in [
        ("company.created", &company),
        ("deal.created", &deal),
        ("deal.updated", &moved),
        ("deal.deleted", &moved),
        ("property.created", &property),
        ("viewing.booked", &held),
        ("viewing.booked", &booked),
        ("viewing.completed", &completed),
        ("viewing.rescheduled", &rescheduled),
        ("viewing.cancelled", &cancelled),
        ("member.created", &member_read),
    ] {
        assert_eq!(
            &about(&deliveries, kind, &record["id"]),
            record,
            "{kind}: data is the API's resource"
        );
    }
    let mut change = about(&deliveries, "deal.stage_changed", &deal["id"]);
    assert_eq!(change["deal"], moved);
    change.as_object_mut().expect("an object").remove("deal");
    assert_eq!(
        change, history["items"][1],
        "the change as the history lists it"
    );
    assert_eq!(
        (
            &change["from_stage"],
            &change["to_stage"],
            &change["changed_by"]
        ),
        (&json!("NEW"), &json!("NEGOTIATION"), &json!(user.user_id)),
        "{change}"
    );
    assert!(
        deliveries
            .iter()
            .all(|d| d.json()["type"] != "contact.created"),
        "the endpoint did not subscribe to contacts: {deliveries:?}"
    );

    let catalogue = expect_json(
        app.get("/webhooks/event-types", &user).await,
        StatusCode::OK,
    )
    .await;
    let listed: Vec<&Value> = catalogue["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|kind| &kind["type"])
        .collect();
    for kind in ["deal.stage_changed", "viewing.no_show", "member.deleted"] {
        assert!(listed.contains(&&json!(kind)), "{kind} in {catalogue}");
    }
    // The document describes exactly the catalogue's kinds, and the test message.
    let mut expected: Vec<&str> = listed.iter().filter_map(|kind| kind.as_str()).collect();
    expected.push("webhook.test");
    expected.sort_unstable();
    let mut described = documented.kinds();
    described.sort_unstable();
    assert_eq!(described, expected);
}

#[tokio::test]
async fn a_rolled_back_change_sends_nothing_and_another_tenant_hears_nothing() {
    let (_app, app, a) = with_worker().await;
    let b = app.sign_up("Globex").await;
    let (to_a, to_b) = (Receiver::start().await, Receiver::start().await);
    subscribe(&app, &a, &to_a.url(), &["contact.created"]).await;
    subscribe(&app, &b, &to_b.url(), &["*"]).await;

    let body = json!({ "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.test" });
    expect_json(
        app.post("/contacts", &a, body.clone()).await,
        StatusCode::CREATED,
    )
    .await;
    // The same email again: the INSERT fails, the transaction rolls back.
    expect_problem(app.post("/contacts", &a, body).await, StatusCode::CONFLICT).await;
    // A change A's endpoint does not subscribe to.
    let grace = app.create_contact(&a, "Grace").await;
    let path = format!("/contacts/{}", id_of(&grace));
    expect_json(
        app.patch(&path, &a, json!({ "last_name": "Hopper" })).await,
        StatusCode::OK,
    )
    .await;
    // A marker after everything above, so that waiting for it waits for the rest.
    app.create_contact(&a, "Marker").await;

    let deliveries = to_a.wait_for(3, ARRIVAL).await;
    let names: Vec<Value> = deliveries
        .iter()
        .map(|d| d.json()["data"]["first_name"].clone())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    for name in ["Ada", "Grace", "Marker"] {
        assert!(
            names.contains(&json!(name)),
            "{name} created once: {names:?}"
        );
    }
    assert!(
        deliveries
            .iter()
            .all(|d| d.json()["type"] == "contact.created"),
        "{deliveries:?}"
    );
    assert!(
        to_b.deliveries().is_empty(),
        "B heard A: {:?}",
        to_b.deliveries()
    );
}

#[tokio::test]
async fn a_receiver_that_was_down_gets_every_event_once_it_is_up_under_the_same_ids() {
    let (app, hooks, user) = with_worker_configured(&[PATIENT_TENANTS]).await;
    let receiver = Receiver::start().await;
    receiver.answer(503);
    let (_, secret) = subscribe(&hooks, &user, &receiver.url(), &["contact.created"]).await;

    const EVENTS: usize = 24;
    let names: Vec<String> = (0..EVENTS).map(|n| format!("Person {n}")).collect();
    futures::future::join_all(names.iter().map(|name| hooks.create_contact(&user, name))).await;
    receiver.wait_for(EVENTS, ARRIVAL).await;

    // Every first attempt was refused, and the log says the second is due 5 s later
    // (10 % jitter). Read from the log, this holds however long settling took.
    let owner = app.owner_sql().await;
    let count = |sql: &'static str| {
        let owner = &owner;
        async move {
            owner
                .query_one(sql, &[])
                .await
                .expect("a count")
                .get::<_, i64>(0)
        }
    };
    let until = |sql: &'static str, what: &'static str| async move {
        let deadline = std::time::Instant::now() + ARRIVAL;
        while count(sql).await < EVENTS as i64 {
            assert!(std::time::Instant::now() < deadline, "{what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    until(
        "SELECT count(*) FROM webhook_attempts WHERE attempt = 1 AND status = 503 \
         AND outcome = 'retrying' \
         AND next_attempt_at - (attempted_at + duration_ms * interval '1 millisecond') \
             BETWEEN interval '4.5 seconds' AND interval '5.5 seconds'",
        "not every first attempt was refused and scheduled 5 s on",
    )
    .await;

    receiver.answer(200);
    let deadline = std::time::Instant::now() + ARRIVAL;
    while count("SELECT count(*) FROM webhook_messages WHERE delivered_at IS NOT NULL").await
        < EVENTS as i64
    {
        assert!(
            std::time::Instant::now() < deadline,
            "not all marked delivered"
        );
        // On a loaded machine a second attempt may have been refused too, and the third
        // is 5 minutes on: the test moves it to now rather than wait.
        bring_late_retries_forward(&owner).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deliveries = receiver.deliveries();
    let mut ids: Vec<&str> = deliveries.iter().map(|d| d.header("webhook-id")).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        ids.len(),
        EVENTS,
        "one id per event, the same on every retry"
    );
    assert!(
        all_verified_by_the_reference_library(&secret, &deliveries).await,
        "every attempt is signed"
    );

    // 410 Gone: the platform stops and disables the endpoint.
    let before = deliveries.len();
    receiver.answer(410);
    hooks.create_contact(&user, "After").await;
    receiver.wait_for(before + 1, ARRIVAL).await;
    let deadline = std::time::Instant::now() + ARRIVAL;
    loop {
        let listed = expect_json(
            hooks.get("/webhooks/endpoints", &user).await,
            StatusCode::OK,
        )
        .await;
        if listed["items"][0]["enabled"] == false {
            assert!(
                listed["items"][0]["disabled_reason"].is_string(),
                "{listed}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never disabled: {listed}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    hooks.create_contact(&user, "Unheard").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        receiver.deliveries().len(),
        before + 1,
        "nothing more after 410"
    );
}

/// Rotating the secret: during the overlap each delivery carries a signature under the
/// new and the previous secret, after it only the newest signs; a paused endpoint gets
/// nothing, and a changed subscription applies from the next change.
#[tokio::test]
async fn a_rotated_secret_overlaps_the_old_one_and_an_endpoint_can_be_paused_and_changed() {
    let (_app, app, user) = with_worker().await;
    let receiver = Receiver::start().await;
    let (endpoint, first) = subscribe(&app, &user, &receiver.url(), &["contact.created"]).await;
    let path = format!("/webhooks/endpoints/{endpoint}");
    let rotated = expect_json(
        app.post(&format!("{path}/secret?overlap_hours=1"), &user, json!({}))
            .await,
        StatusCode::CREATED,
    )
    .await;
    let second = rotated["secret"].as_str().expect("a secret").to_owned();
    assert_ne!(first, second);

    app.create_contact(&user, "During").await;
    let during = receiver.wait_for(1, ARRIVAL).await.remove(0);
    assert_eq!(
        during.header("webhook-signature").split(' ').count(),
        2,
        "{during:?}"
    );
    assert!(
        verified_by_the_reference_library(&first, &during).await,
        "the old secret still verifies"
    );
    assert!(
        verified_by_the_reference_library(&second, &during).await,
        "the new one too"
    );

    let third = expect_json(
        app.post(&format!("{path}/secret?overlap_hours=0"), &user, json!({}))
            .await,
        StatusCode::CREATED,
    )
    .await["secret"]
        .as_str()
        .expect("a secret")
        .to_owned();
    app.create_contact(&user, "After").await;
    let after = receiver.wait_for(2, ARRIVAL).await.remove(1);
    assert!(verified_by_the_reference_library(&third, &after).await);
    for old in [&first, &second] {
        assert!(
            !verified_by_the_reference_library(old, &after).await,
            "an ended secret no longer signs"
        );
    }

    // Paused: changes are not queued for it; resumed with a wider subscription, the
    // next changes go out.
    let paused = expect_json(
        app.patch(
            &path,
            &user,
            json!({ "enabled": false, "event_types": ["contact.*"] }),
        )
        .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(paused["enabled"], false);
    assert_eq!(paused["event_types"], json!(["contact.*"]));
    app.create_contact(&user, "Unsent").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        receiver.deliveries().len(),
        2,
        "nothing is sent while paused"
    );
    expect_json(
        app.patch(&path, &user, json!({ "enabled": true })).await,
        StatusCode::OK,
    )
    .await;
    let resumed = app.create_contact(&user, "Resumed").await;
    let changed = format!("/contacts/{}", id_of(&resumed));
    expect_json(
        app.patch(&changed, &user, json!({ "last_name": "Changed" }))
            .await,
        StatusCode::OK,
    )
    .await;
    let deliveries = receiver.wait_for(4, ARRIVAL).await;
    let kinds: Vec<Value> = deliveries[2..]
        .iter()
        .map(|d| d.json()["type"].clone())
        .collect();
    assert!(
        kinds.contains(&json!("contact.created")) && kinds.contains(&json!("contact.updated")),
        "{kinds:?}"
    );
    assert!(
        deliveries
            .iter()
            .all(|d| d.json()["data"]["first_name"] != "Unsent"),
        "{deliveries:?}"
    );

    // Another tenant can neither change nor rotate it, and a bad change is a 422.
    let other = app.sign_up("Globex").await;
    expect_problem(
        app.patch(&path, &other, json!({ "enabled": false })).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_problem(
        app.post(&format!("{path}/secret"), &other, json!({})).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let problem = expect_problem(
        app.patch(&path, &user, json!({ "url": "http://169.254.169.254/" }))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "url", "{problem}");
}

/// A's receiver answers slowly with a backlog of 600 messages: B's event still goes
/// out at once. (A claim that took the oldest due messages of all tenants would have
/// held B's behind every one of A's.)
#[tokio::test]
async fn a_slow_receiver_with_a_backlog_does_not_hold_up_another_tenants_events() {
    let (app, hooks, a) = with_worker().await;
    let b = hooks.sign_up("Globex").await;
    let (slow, quick) = (Receiver::start().await, Receiver::start().await);
    slow.delay(Duration::from_secs(3));
    let (endpoint, _) = subscribe(&hooks, &a, &slow.url(), &["contact.created"]).await;
    subscribe(&hooks, &b, &quick.url(), &["contact.created"]).await;
    // The backlog, as if A's receiver had been slow for a while.
    app.owner_sql()
        .await
        .execute(
            "INSERT INTO webhook_messages (tenant_id, endpoint_id, id, event_type, body, created_at, next_attempt_at) \
             SELECT $1, $2, gen_random_uuid(), 'contact.created', '{}', now() - interval '1 hour', \
                    now() - interval '1 hour' + n * interval '1 second' \
             FROM generate_series(1, 600) AS n",
            &[&a.tenant_id, &endpoint.parse::<uuid::Uuid>().expect("an id")],
        )
        .await
        .expect("the backlog");
    slow.wait_for(1, ARRIVAL).await;

    hooks.create_contact(&b, "Ada").await;
    let arrived = quick.wait_for(1, Duration::from_secs(6)).await;
    assert_eq!(arrived[0].json()["data"]["first_name"], "Ada");
    assert!(
        slow.deliveries().len() <= 8,
        "A's backlog went at its own pace"
    );
}

#[tokio::test]
async fn addresses_webhooks_may_not_reach_are_refused_before_and_after_dns() {
    // This instance allows no private network.
    let app = spawn_app().await;
    let user = app.sign_up("Acme").await;
    let receiver = Receiver::start().await;
    for url in [
        receiver.url(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://[::1]:8080/hook".to_owned(),
        "http://10.0.0.1/hook".to_owned(),
        "ftp://example.com/hook".to_owned(),
        "https://user:password@example.com/hook".to_owned(),
    ] {
        let problem = expect_problem(
            app.post(
                "/webhooks/endpoints",
                &user,
                json!({ "url": url, "event_types": ["*"] }),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], "url", "{url}: {problem}");
    }
    let problem = expect_problem(
        app.post(
            "/webhooks/endpoints",
            &user,
            json!({ "url": "https://example.com/hook", "event_types": ["deal.signed", "contact.*"] }),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "event_types[0]", "{problem}");

    // A host name is checked after DNS: `localhost` is accepted when saved, and every
    // delivery to it is refused because it resolves to loopback.
    let url = format!("http://localhost:{}/hook", receiver.port());
    subscribe(&app, &user, &url, &["contact.created"]).await;
    let (address, db) = start_server(&app.database, |vars| {
        vars.push(("CRM_RUN_WORKER".into(), "true".into()));
    })
    .await;
    let worker = app.other_instance(address, db);
    worker.create_contact(&user, "Ada").await;
    let owner = app.owner_sql().await;
    let deadline = std::time::Instant::now() + ARRIVAL;
    let error = loop {
        let row = owner
            .query_one("SELECT attempts, last_error FROM webhook_messages", &[])
            .await
            .expect("the message");
        if let Some(error) = row.get::<_, Option<String>>(1) {
            break error;
        }
        assert!(std::time::Instant::now() < deadline, "never attempted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(error.contains("may not reach"), "{error}");
    assert!(
        receiver.deliveries().is_empty(),
        "{:?}",
        receiver.deliveries()
    );
}

#[tokio::test]
async fn only_managers_manage_endpoints_and_the_app_role_can_neither_read_secrets_nor_forge() {
    let (app, hooks, owner) = with_worker().await;
    let receiver = Receiver::start().await;
    let (endpoint, _) = subscribe(&hooks, &owner, &receiver.url(), &["*"]).await;
    let member = hooks.add_member(&owner, "member").await;
    let body = json!({ "url": receiver.url(), "event_types": ["*"] });
    expect_problem(
        hooks.post("/webhooks/endpoints", &member, body).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_problem(
        hooks.get("/webhooks/endpoints", &member).await,
        StatusCode::FORBIDDEN,
    )
    .await;

    // Another tenant's endpoint answers like one that does not exist.
    let other = hooks.sign_up("Globex").await;
    let path = format!("/webhooks/endpoints/{endpoint}");
    expect_problem(hooks.get(&path, &other).await, StatusCode::NOT_FOUND).await;
    expect_problem(hooks.delete(&path, &other).await, StatusCode::NOT_FOUND).await;

    // As the application role, inside the owner's own signed context.
    let sql = app.app_role_sql().await;
    sql.batch_execute("BEGIN").await.expect("begin");
    app.enter(&sql, owner.tenant_id, owner.user_id).await;
    for (attempt, statement) in [
        ("read a secret", "SELECT secret FROM webhook_secrets"),
        ("read the messages", "SELECT body FROM webhook_messages"),
        (
            "forge a message",
            "INSERT INTO webhook_messages (tenant_id, endpoint_id, id, event_type, body) \
             SELECT tenant_id, id, gen_random_uuid(), 'contact.created', '{}' FROM webhook_endpoints",
        ),
        (
            "emit an event",
            "SELECT app.emit_event('contact.created', c) FROM contacts c",
        ),
        ("claim messages", "SELECT * FROM app.claim_webhooks(10)"),
        (
            "settle a message",
            "SELECT app.webhook_delivered(gen_random_uuid(), 200, 1, '')",
        ),
    ] {
        sql.batch_execute("SAVEPOINT attempt")
            .await
            .expect("savepoint");
        let err = sql.batch_execute(statement).await.expect_err(attempt);
        assert_eq!(
            err.as_db_error().map(|db| db.code()),
            Some(&SqlState::INSUFFICIENT_PRIVILEGE),
            "{attempt}: {err}"
        );
        sql.batch_execute("ROLLBACK TO SAVEPOINT attempt")
            .await
            .expect("rollback");
    }
    sql.batch_execute("ROLLBACK").await.expect("rollback");

    let response = hooks.delete(&path, &owner).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    expect_problem(hooks.get(&path, &owner).await, StatusCode::NOT_FOUND).await;
}

/// The endpoint's delivery log, once it holds at least `count` attempts, newest first.
async fn log_of(app: &TestApp, user: &TestUser, endpoint: &str, count: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + ARRIVAL;
    loop {
        let log = expect_json(
            app.get(&format!("/webhooks/endpoints/{endpoint}/attempts"), user)
                .await,
            StatusCode::OK,
        )
        .await;
        let items = log["items"].as_array().expect("items").clone();
        if items.len() >= count {
            return items;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {count} attempts logged: {log}",
            items.len()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn the_delivery_log_shows_every_attempt_and_messages_can_be_tested_and_sent_again() {
    let (_app, app, user) = with_worker().await;
    let receiver = Receiver::start().await;
    let (endpoint, secret) = subscribe(&app, &user, &receiver.url(), &["contact.created"]).await;
    let path = format!("/webhooks/endpoints/{endpoint}");

    // A test message, signed like any other.
    let ping = expect_json(
        app.post(&format!("{path}/test"), &user, json!({})).await,
        StatusCode::ACCEPTED,
    )
    .await;
    let arrived = receiver.wait_for(1, ARRIVAL).await.remove(0);
    assert_eq!(arrived.json()["type"], "webhook.test");
    assert_eq!(arrived.json()["data"], json!({ "endpoint_id": endpoint }));
    Documented::of(&app).await.assert_describes(&arrived.json());
    assert_eq!(json!(arrived.header("webhook-id")), ping["message_id"]);
    assert!(verified_by_the_reference_library(&secret, &arrived).await);

    // A refused delivery is logged as retrying, and the endpoint's failure streak begins.
    receiver.answer(503);
    app.create_contact(&user, "Ada").await;
    let log = log_of(&app, &user, &endpoint, 2).await;
    let (refused, delivered) = (&log[0], &log[1]);
    assert_eq!(
        (
            &refused["event_type"],
            &refused["status"],
            &refused["outcome"]
        ),
        (&json!("contact.created"), &json!(503), &json!("retrying")),
        "{refused}"
    );
    assert_eq!(refused["response"], "noted", "the start of the answer");
    assert!(refused["next_attempt_at"].is_string(), "{refused}");
    assert_eq!(
        (
            &delivered["message_id"],
            &delivered["outcome"],
            &delivered["status"]
        ),
        (&ping["message_id"], &json!("delivered"), &json!(200)),
        "{delivered}"
    );
    assert!(delivered["duration_ms"].as_i64().is_some_and(|ms| ms >= 0));
    let failing = expect_json(app.get(&path, &user).await, StatusCode::OK).await;
    assert_eq!(failing["consecutive_failures"], 1, "{failing}");
    assert!(failing["failing_since"].is_string(), "{failing}");

    // The retry, 5 s later, is accepted: the streak ends.
    receiver.answer(200);
    let log = log_of(&app, &user, &endpoint, 3).await;
    assert_eq!(
        (&log[0]["attempt"], &log[0]["outcome"]),
        (&json!(2), &json!("delivered")),
        "{log:?}"
    );
    let healthy = expect_json(app.get(&path, &user).await, StatusCode::OK).await;
    assert_eq!(healthy["consecutive_failures"], 0, "{healthy}");
    assert!(healthy.get("failing_since").is_none(), "{healthy}");

    // Sent again on request, under the same id; then everything since a time.
    let message_id = ping["message_id"].as_str().expect("an id");
    let again = expect_json(
        app.post(
            &format!("{path}/messages/{message_id}/redeliver"),
            &user,
            json!({}),
        )
        .await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(again["requeued"], 1);
    log_of(&app, &user, &endpoint, 4).await;
    let resent = receiver.wait_for(4, ARRIVAL).await.remove(3);
    assert_eq!(json!(resent.header("webhook-id")), ping["message_id"]);
    let since = format!("{path}/redeliver?since=2020-01-01T00:00:00Z");
    let all = expect_json(
        app.post(&since, &user, json!({})).await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(all["requeued"], 2, "the test message and the contact's");
    expect_problem(
        app.post(
            &format!("{path}/redeliver?since=yesterday"),
            &user,
            json!({}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let unknown = uuid::Uuid::new_v4();
    expect_problem(
        app.post(
            &format!("{path}/messages/{unknown}/redeliver"),
            &user,
            json!({}),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;

    // Another tenant's endpoint answers like one that does not exist.
    let other = app.sign_up("Globex").await;
    expect_problem(
        app.get(&format!("{path}/attempts"), &other).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_problem(
        app.post(&format!("{path}/test"), &other, json!({})).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_problem(
        app.post(&since, &other, json!({})).await,
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_problem(
        app.post(
            &format!("{path}/messages/{message_id}/redeliver"),
            &other,
            json!({}),
        )
        .await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn an_endpoint_failing_for_days_is_disabled_and_its_managers_are_told() {
    let (app, hooks, owner) = with_worker().await;
    let admin = hooks.add_member(&owner, "admin").await;
    let member = hooks.add_member(&owner, "member").await;
    let receiver = Receiver::start().await;
    receiver.answer(500);
    let (endpoint, _) = subscribe(&hooks, &owner, &receiver.url(), &["contact.created"]).await;
    // Days of failures, moved into the past: what counts is when the streak began.
    let id: uuid::Uuid = endpoint.parse().expect("a uuid");
    app.owner_sql()
        .await
        .execute(
            "UPDATE webhook_endpoints \
             SET failing_since = now() - interval '5 days 1 minute', consecutive_failures = 40 \
             WHERE id = $1",
            &[&id],
        )
        .await
        .expect("age the streak");

    hooks.create_contact(&owner, "Ada").await;
    let path = format!("/webhooks/endpoints/{endpoint}");
    let deadline = std::time::Instant::now() + ARRIVAL;
    let disabled = loop {
        let read = expect_json(hooks.get(&path, &owner).await, StatusCode::OK).await;
        if read["enabled"] == false {
            break read;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never disabled: {read}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let reason = disabled["disabled_reason"].as_str().expect("a reason");
    assert!(
        reason.contains("more than 5 days") && reason.contains("HTTP 500"),
        "{reason}"
    );
    for manager in [&owner, &admin] {
        let mail = app.last_tenant_mail(&manager.email).await;
        assert!(
            mail.contains(&endpoint) && mail.contains("\"enabled\": true"),
            "{mail}"
        );
    }
    let told_member: i64 = app
        .owner_sql()
        .await
        .query_one(
            "SELECT count(*) FROM mail_outbox WHERE lower(recipient) = lower($1) \
             AND subject = 'A webhook endpoint was disabled'",
            &[&member.email],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(told_member, 0, "a member who is not a manager is not told");

    // Enabled again, it starts afresh.
    let enabled = expect_json(
        hooks.patch(&path, &owner, json!({ "enabled": true })).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        (&enabled["enabled"], &enabled["consecutive_failures"]),
        (&json!(true), &json!(0)),
        "{enabled}"
    );
    assert!(enabled.get("failing_since").is_none(), "{enabled}");
    assert!(enabled.get("disabled_reason").is_none(), "{enabled}");
}
