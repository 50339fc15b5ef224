//! Webhook receivers that fail below HTTP: a port nothing listens on (every connection
//! refused) until a receiver starts there, a receiver that accepts the connection and
//! never answers, and one that never completes a connection. Each attempt is in the
//! endpoint's delivery log with no status and why, retrying 5 s on; nothing is lost,
//! every arrival is signed, repeats of an event keep its `webhook-id`, a hung receiver
//! does not hold up another tenant's events (they arrive well within the whole-request
//! timeout, `CRM_WEBHOOK_TIMEOUT_MS`, that the hung deliveries run to), and a connection
//! is given up on after `CRM_WEBHOOK_CONNECT_TIMEOUT_MS`.

use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    TestApp, TestUser, expect_json,
    webhooks::{
        ClosedPort, FullQueue, PATIENT_TENANTS, Receiver, Silent,
        all_verified_by_the_reference_library, bring_late_retries_forward, subscribe,
        with_worker_configured,
    },
};

/// The bound of every wait: generous, for a loaded machine; never a speed assertion.
const PATIENCE: Duration = Duration::from_secs(30);

/// An endpoint's delivery log, newest first (one page of up to 200 attempts).
async fn delivery_log(app: &TestApp, user: &TestUser, endpoint: &str) -> Vec<Value> {
    let page = expect_json(
        app.get(
            &format!("/webhooks/endpoints/{endpoint}/attempts?limit=200"),
            user,
        )
        .await,
        StatusCode::OK,
    )
    .await;
    page["items"].as_array().expect("items").clone()
}

/// Polls `probe` until it answers `Ok`, for at most [`PATIENCE`]; an `Err` says what
/// it saw, for the failure message. Four polls a second stay within the refill of the
/// per-IP rate limit (300 a minute) however long the wait.
async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match probe().await {
            Ok(found) => return found,
            Err(seen) => assert!(Instant::now() < deadline, "{what}: {seen}"),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Asserts that the logged `attempt` got no answer, for a reason that contains
/// `error`, and that the message is retried on the schedule's first step: 5 s later,
/// with 10 % jitter.
fn assert_unanswered(attempt: &Value, error: &str) {
    assert_eq!(
        (&attempt["attempt"], &attempt["status"], &attempt["outcome"]),
        (&json!(1), &Value::Null, &json!("retrying")),
        "{attempt}"
    );
    let response = attempt["response"].as_str().unwrap_or_default();
    assert!(response.contains(error), "the log says why: {attempt}");
    let time = |field: &str| {
        attempt[field]
            .as_str()
            .and_then(|at| at.parse::<DateTime<Utc>>().ok())
            .unwrap_or_else(|| panic!("{field} of {attempt}"))
    };
    // The schedule counts from the attempt's end: it began `duration_ms` before.
    let took = attempt["duration_ms"].as_i64().expect("a duration");
    let wait = (time("next_attempt_at") - time("attempted_at")).num_milliseconds() - took;
    assert!(
        (4_500..=5_500).contains(&wait),
        "retried {wait} ms on: {attempt}"
    );
}

#[tokio::test]
async fn events_sent_while_nothing_listens_all_arrive_once_a_receiver_does_each_under_one_id() {
    let (app, hooks, user) = with_worker_configured(&[PATIENT_TENANTS]).await;
    let port = ClosedPort::reserve();
    let (endpoint, secret) = subscribe(&hooks, &user, &port.url(), &["contact.created"]).await;
    const EVENTS: usize = 20;
    let names: BTreeSet<String> = (0..EVENTS).map(|n| format!("Person {n}")).collect();
    join_all(names.iter().map(|name| hooks.create_contact(&user, name))).await;

    let first = eventually("every first attempt is logged", async || {
        let log = delivery_log(&hooks, &user, &endpoint).await;
        let first: Vec<Value> = log.into_iter().filter(|a| a["attempt"] == 1).collect();
        match first.len() {
            EVENTS => Ok(first),
            _ => Err(format!("{first:?}")),
        }
    })
    .await;
    for attempt in &first {
        assert_unanswered(
            attempt,
            "cannot connect to the receiver: Connection refused",
        );
    }

    let receiver = port.listen();
    let owner = app.owner_sql().await;
    let log = eventually("every message is delivered", async || {
        let log = delivery_log(&hooks, &user, &endpoint).await;
        if log.iter().filter(|a| a["outcome"] == "delivered").count() == EVENTS {
            return Ok(log);
        }
        // A second attempt made before the receiver listened was refused too, and the
        // third is 5 minutes on: the test moves it to now rather than wait.
        bring_late_retries_forward(&owner).await;
        Err(format!("{log:?}"))
    })
    .await;
    let mut last_outcomes = BTreeMap::new();
    for attempt in log.iter().rev() {
        last_outcomes.insert(attempt["message_id"].to_string(), &attempt["outcome"]);
    }
    assert_eq!(last_outcomes.len(), EVENTS, "{log:?}");
    assert!(
        last_outcomes
            .values()
            .all(|outcome| *outcome == "delivered"),
        "each message's last attempt delivered it: {log:?}"
    );

    let deliveries = receiver.deliveries();
    let mut ids_of_each_name: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for delivery in &deliveries {
        let body = delivery.json();
        assert_eq!(delivery.header("webhook-id"), body["id"], "{delivery:?}");
        ids_of_each_name
            .entry(body["data"]["first_name"].as_str().expect("a name").into())
            .or_default()
            .insert(json!(delivery.header("webhook-id")).to_string());
    }
    assert_eq!(
        ids_of_each_name.keys().cloned().collect::<BTreeSet<_>>(),
        names,
        "every event arrived"
    );
    assert!(
        ids_of_each_name.values().all(|ids| ids.len() == 1),
        "every arrival of an event has its one webhook-id: {ids_of_each_name:?}"
    );
    assert_eq!(
        ids_of_each_name
            .into_values()
            .flatten()
            .collect::<BTreeSet<_>>(),
        last_outcomes.into_keys().collect(),
        "the log names the messages by the ids they were sent under"
    );
    assert!(
        all_verified_by_the_reference_library(&secret, &deliveries).await,
        "every arrival is signed"
    );
}

/// The connect timeout of the test's worker, short.
const TIMEOUT: Duration = Duration::from_millis(1_000);
/// The whole-request timeout while a receiver hangs: long beside [`SLACK`], so an event
/// that waited for a hanging delivery to time out shows.
const HANGING: Duration = Duration::from_millis(6_000);
/// What a loaded machine may add to a wait.
const SLACK: Duration = Duration::from_millis(1_500);

#[tokio::test]
async fn a_receiver_that_never_answers_times_out_in_the_log_while_another_tenant_still_hears() {
    let timeout_ms = HANGING.as_millis().to_string();
    let (_app, hooks, a) =
        with_worker_configured(&[PATIENT_TENANTS, ("CRM_WEBHOOK_TIMEOUT_MS", &timeout_ms)]).await;
    let b = hooks.sign_up("Globex").await;
    let (silent, heard) = (Silent::start().await, Receiver::start().await);
    let (endpoint, _) = subscribe(&hooks, &a, &silent.url(), &["contact.created"]).await;
    subscribe(&hooks, &b, &heard.url(), &["contact.created"]).await;
    // The worker sends 4 of one endpoint's messages at a time: these keep deliveries to
    // A's receiver hanging for several timeouts in a row.
    const BACKLOG: usize = 24;
    let held: Vec<String> = (0..BACKLOG).map(|n| format!("Held {n}")).collect();
    join_all(held.iter().map(|name| hooks.create_contact(&a, name))).await;

    // While deliveries to A hang, each of B's events arrives without waiting for them
    // to time out: well within the timeout.
    for n in 0..3 {
        silent.until_holding(PATIENCE).await;
        let name = format!("Heard {n}");
        hooks.create_contact(&b, &name).await;
        let arrived = heard.wait_for(n + 1, 2 * SLACK).await.remove(n);
        assert_eq!(arrived.json()["data"]["first_name"], name);
    }

    let log = eventually("a batch of A's first attempts is logged", async || {
        let log = delivery_log(&hooks, &a, &endpoint).await;
        match log.iter().filter(|a| a["attempt"] == 1).count() {
            4.. => Ok(log),
            _ => Err(format!("{log:?}")),
        }
    })
    .await;
    let first: Vec<&Value> = log.iter().filter(|a| a["attempt"] == 1).collect();
    for attempt in &first {
        assert_unanswered(attempt, "the receiver did not answer in time");
        let took = attempt["duration_ms"].as_u64().expect("a duration");
        assert!(
            (HANGING..HANGING + SLACK).contains(&Duration::from_millis(took)),
            "about the timeout: {attempt}"
        );
    }
    assert!(
        silent.connections() >= first.len(),
        "every attempt reached the receiver"
    );
}

#[tokio::test]
async fn a_receiver_that_never_completes_a_connection_is_given_up_on_after_the_connect_timeout() {
    let connect_ms = TIMEOUT.as_millis().to_string();
    let (_app, hooks, user) = with_worker_configured(&[
        ("CRM_WEBHOOK_CONNECT_TIMEOUT_MS", &connect_ms),
        ("CRM_WEBHOOK_TIMEOUT_MS", "20000"),
    ])
    .await;
    let unreachable = FullQueue::start().await;
    let (endpoint, _) = subscribe(&hooks, &user, &unreachable.url(), &["contact.created"]).await;
    hooks.create_contact(&user, "Ada").await;

    let attempt = eventually("the attempt is logged", async || {
        let log = delivery_log(&hooks, &user, &endpoint).await;
        log.into_iter()
            .next()
            .ok_or_else(|| "nothing yet".to_owned())
    })
    .await;
    assert_unanswered(&attempt, "cannot connect to the receiver in time");
    let took = attempt["duration_ms"].as_u64().expect("a duration");
    assert!(
        (TIMEOUT..TIMEOUT + SLACK).contains(&Duration::from_millis(took)),
        "about the connect timeout, not the whole request's: {attempt}"
    );
}
