//! Webhook delivery by real `crm worker` processes (issue 13): a worker SIGKILLed with
//! deliveries in flight, the API server killed and restarted, then two workers at once.
//! Every event written arrives at every endpoint subscribed, every arrival of an event
//! has the same body and a signature the Standard Webhooks verifier accepts, and no
//! event is ever in one receiver's hands twice at once, nor more than 4 events at once
//! while two workers share the work. Repeats under the same webhook-id are allowed (at
//! least once) and counted.
//!
//! Two tenants of three endpoints each have at most 24 messages in flight (4 per
//! endpoint), and the receivers answer slowly: a kill finds messages claimed and not
//! yet answered, which a worker that settled before sending would lose.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    time::{Duration, Instant},
};

use futures::{StreamExt, stream};
use reqwest::StatusCode;
use serde_json::json;
use tokio_postgres::Client;

use crate::support::{
    TestApp, TestUser,
    cluster::Server,
    expect_json, id_of, spawn_app_with,
    webhooks::{Delivery, PATIENT_TENANTS, Receiver, subscribe, verdicts_of_the_reference_library},
};

/// Deliveries reach the test's receivers on loopback.
const LOOPBACK: (&str, &str) = ("CRM_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.1/32");
/// How long each receiver takes to answer, so that deliveries are in flight when the
/// worker is killed.
const ANSWER_DELAY: Duration = Duration::from_millis(300);
/// Endpoints per tenant, each at its own receiver.
const ENDPOINTS: usize = 3;
/// Contacts created before the first worker starts, and after the server's restart.
const BEFORE: usize = 200;
const AFTER: usize = 10;
/// Arrivals after which the first worker is killed (of `BEFORE * ENDPOINTS` messages).
const KILL_AFTER: usize = 60;
/// Requests in flight at once while creating contacts (the server's pool and tenant
/// share).
const WRITERS: usize = 8;
/// Deliveries in flight to one endpoint at once, across every worker (V21's claim).
const ENDPOINT_CAP: usize = 4;
/// The bound of every wait: generous, for a loaded machine; never a speed assertion.
const PATIENCE: Duration = Duration::from_secs(60);

/// A tenant's owner and endpoints.
struct Subscriber {
    user: TestUser,
    endpoints: Vec<Endpoint>,
}

/// An endpoint subscribed to `contact.created`, at a receiver of its own.
struct Endpoint {
    receiver: Receiver,
    id: String,
    secret: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_and_a_restarted_server_lose_no_event_and_none_is_sent_twice_at_once() {
    let app = spawn_app_with(|vars| vars.push((LOOPBACK.0.into(), LOOPBACK.1.into()))).await;
    let subscribers = [
        subscriber(&app, "North").await,
        subscriber(&app, "South").await,
    ];
    let pool = [
        ("CRM_POOL_SIZE", "8"),
        ("CRM_TENANT_MAX_CONNECTIONS", "8"),
        PATIENT_TENANTS,
    ];
    let mut server = Server::serve(&app.database, &pool).await;
    let mut acknowledged = create_contacts(&server, &subscribers, BEFORE).await;

    let in_flight = kill_a_worker_mid_delivery(&app, &subscribers).await;
    server.kill().await;
    let server = server.restart().await;
    for (ids, more) in acknowledged
        .iter_mut()
        .zip(create_contacts(&server, &subscribers, AFTER).await)
    {
        ids.extend(more);
    }
    let owner = app.owner_sql().await;
    let moved = let_the_dead_workers_leases_run_out(&owner).await;
    let mut workers = two_workers(&app, &subscribers).await;
    until_every_message_is_delivered(&owner, (BEFORE + AFTER) * ENDPOINTS).await;
    assert!(
        workers.iter_mut().all(Server::is_running),
        "both workers ran to the end"
    );

    let written = written_events(&owner).await;
    let mut repeats = 0;
    for (subscriber, contacts) in subscribers.iter().zip(&acknowledged) {
        for endpoint in &subscriber.endpoints {
            let events = written.get(&endpoint.id).cloned().unwrap_or_default();
            repeats += check_arrivals(endpoint, &events, contacts).await;
        }
    }
    eprintln!(
        "webhook workers: {} events to {} endpoints each, {in_flight} deliveries in flight \
         at the kill, {moved} leases run out, {repeats} repeated deliveries (same \
         webhook-id, never at once)",
        BEFORE + AFTER,
        ENDPOINTS
    );
}

/// A new tenant with [`ENDPOINTS`] endpoints subscribed to `contact.created`, each at a
/// slow receiver of its own.
async fn subscriber(app: &TestApp, name: &str) -> Subscriber {
    let user = app.sign_up(name).await;
    let mut endpoints = Vec::new();
    for _ in 0..ENDPOINTS {
        let receiver = Receiver::start().await;
        receiver.delay(ANSWER_DELAY);
        let (id, secret) = subscribe(app, &user, &receiver.url(), &["contact.created"]).await;
        endpoints.push(Endpoint {
            receiver,
            id,
            secret,
        });
    }
    Subscriber { user, endpoints }
}

/// Starts a worker process, SIGKILLs it once some deliveries arrived and others are in
/// the receivers' hands; answers how many were in hand at the kill.
async fn kill_a_worker_mid_delivery(app: &TestApp, subscribers: &[Subscriber]) -> usize {
    let mut worker = Server::worker(&app.database, &[LOOPBACK]).await;
    until_some_arrived_and_some_in_flight(subscribers).await;
    worker.kill().await;
    let killed_at = Instant::now();
    let in_flight = in_hand_at(subscribers, killed_at);
    assert!(in_flight > 0, "the worker was killed mid-delivery");
    in_flight
}

/// Starts two worker processes, the second once the first delivers: two started at
/// the same moment race in their database set-up, and one may exit (see the report
/// of this test's commit); that is not what this test is about.
async fn two_workers(app: &TestApp, subscribers: &[Subscriber]) -> [Server; 2] {
    let started = Instant::now();
    let first = Server::worker(&app.database, &[LOOPBACK]).await;
    let deadline = started + PATIENCE;
    while !all_deliveries(subscribers)
        .iter()
        .any(|d| d.arrived > started)
    {
        assert!(
            Instant::now() < deadline,
            "the first worker never delivered"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    [first, Server::worker(&app.database, &[LOOPBACK]).await]
}

/// What the dead worker held stays leased for the claim's 2 minutes (V15's
/// `app.claim_webhooks`). Rather than wait, the test moves those leases' clock 2
/// minutes on, as the table owner, while no worker runs (a live worker's lease must
/// never be cut short). Answers how many leases it moved.
async fn let_the_dead_workers_leases_run_out(owner: &Client) -> u64 {
    owner
        .execute(
            "UPDATE webhook_messages SET next_attempt_at = next_attempt_at - interval '2 minutes' \
             WHERE claim IS NOT NULL AND delivered_at IS NULL",
            &[],
        )
        .await
        .expect("move the dead worker's leases on")
}

/// Creates `count` contacts through `server`, spread over the subscribers' tenants,
/// [`WRITERS`] at a time; answers the ids acknowledged to each tenant.
async fn create_contacts(
    server: &Server,
    subscribers: &[Subscriber],
    count: usize,
) -> Vec<HashSet<String>> {
    let http = reqwest::Client::new();
    let url = server.url("/api/v1/contacts");
    let created: Vec<(usize, String)> = stream::iter(0..count)
        .map(|n| {
            let tenant = n % subscribers.len();
            let request = http
                .post(&url)
                .bearer_auth(&subscribers[tenant].user.token)
                .json(&json!({ "first_name": format!("Person {n}"), "last_name": "Fault" }));
            async move {
                let response = request.send().await.expect("the server answers");
                (
                    tenant,
                    id_of(&expect_json(response, StatusCode::CREATED).await),
                )
            }
        })
        .buffer_unordered(WRITERS)
        .collect()
        .await;
    let mut acknowledged = vec![HashSet::new(); subscribers.len()];
    for (tenant, id) in created {
        acknowledged[tenant].insert(id);
    }
    acknowledged
}

/// Every delivery the subscribers' receivers got so far.
fn all_deliveries(subscribers: &[Subscriber]) -> Vec<Delivery> {
    subscribers
        .iter()
        .flat_map(|subscriber| &subscriber.endpoints)
        .flat_map(|endpoint| endpoint.receiver.deliveries())
        .collect()
}

/// Waits (bounded) until [`KILL_AFTER`] deliveries arrived and some are in hand.
async fn until_some_arrived_and_some_in_flight(subscribers: &[Subscriber]) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let deliveries = all_deliveries(subscribers);
        let in_hand = deliveries.iter().filter(|d| d.finished.is_none()).count();
        if deliveries.len() >= KILL_AFTER && in_hand > 0 {
            assert!(
                deliveries.len() < BEFORE * ENDPOINTS,
                "everything arrived before the kill"
            );
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} deliveries arrived, {in_hand} in hand",
            deliveries.len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// How many deliveries had arrived but were not yet done with at `moment`.
fn in_hand_at(subscribers: &[Subscriber], moment: Instant) -> usize {
    all_deliveries(subscribers)
        .iter()
        .filter(|d| d.arrived < moment && d.finished.is_none_or(|done| done > moment))
        .count()
}

/// Waits (bounded) until the database has `count` messages, every one delivered.
async fn until_every_message_is_delivered(owner: &Client, count: usize) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let row = owner
            .query_one(
                "SELECT count(*), count(*) FILTER (WHERE delivered_at IS NOT NULL) \
                 FROM webhook_messages",
                &[],
            )
            .await
            .expect("count the messages");
        let (written, delivered): (i64, i64) = (row.get(0), row.get(1));
        if written == count as i64 && delivered == written {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{delivered} of {written} messages delivered ({count} expected)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The events written, as the table owner sees them: endpoint id → event id → body.
async fn written_events(owner: &Client) -> HashMap<String, HashMap<String, String>> {
    let rows = owner
        .query(
            "SELECT endpoint_id::text, id::text, body FROM webhook_messages",
            &[],
        )
        .await
        .expect("read the messages");
    let mut written: HashMap<String, HashMap<String, String>> = HashMap::new();
    for row in rows {
        written
            .entry(row.get(0))
            .or_default()
            .insert(row.get(1), row.get(2));
    }
    written
}

/// Checks what `endpoint`'s receiver got against `events` (id → body, written for it)
/// and the contacts acknowledged to its tenant; answers how many arrivals repeated an
/// earlier one.
async fn check_arrivals(
    endpoint: &Endpoint,
    events: &HashMap<String, String>,
    acknowledged: &HashSet<String>,
) -> usize {
    let about: HashSet<String> = events
        .values()
        .map(|body| {
            let body: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
            body["data"]["id"]
                .as_str()
                .expect("a contact id")
                .to_owned()
        })
        .collect();
    assert_eq!(&about, acknowledged, "one event per acknowledged contact");

    let deliveries = endpoint.receiver.deliveries();
    let by_id = by_webhook_id(&deliveries);
    let received: HashSet<&str> = by_id.keys().copied().collect();
    let written: HashSet<&str> = events.keys().map(String::as_str).collect();
    let lost: Vec<_> = written.difference(&received).collect();
    let unknown: Vec<_> = received.difference(&written).collect();
    assert!(
        lost.is_empty(),
        "{} events never arrived: {lost:?}",
        lost.len()
    );
    assert!(unknown.is_empty(), "arrivals of no event: {unknown:?}");
    for (id, arrivals) in &by_id {
        assert!(
            arrivals.iter().all(|d| d.body == events[*id]),
            "{id}: every arrival carries the body written"
        );
    }
    assert_never_in_hand_twice(&by_id);
    assert_at_most_in_hand_at_once(&deliveries, ENDPOINT_CAP);
    assert_signed(&endpoint.secret, &deliveries).await;
    deliveries.len() - events.len()
}

/// The deliveries by their `webhook-id`, each event's in order of arrival.
fn by_webhook_id(deliveries: &[Delivery]) -> BTreeMap<&str, Vec<&Delivery>> {
    let mut by_id: BTreeMap<&str, Vec<&Delivery>> = BTreeMap::new();
    for delivery in deliveries {
        by_id
            .entry(delivery.header("webhook-id"))
            .or_default()
            .push(delivery);
    }
    for arrivals in by_id.values_mut() {
        arrivals.sort_by_key(|d| d.arrived);
    }
    by_id
}

/// No event arrived again before the receiver was done with its previous arrival.
fn assert_never_in_hand_twice(by_id: &BTreeMap<&str, Vec<&Delivery>>) {
    for (id, arrivals) in by_id {
        for pair in arrivals.windows(2) {
            let done = pair[0].finished.expect("every delivery was done with");
            assert!(
                pair[1].arrived >= done,
                "{id} arrived again {:?} before its previous delivery was done",
                done - pair[1].arrived
            );
        }
    }
}

/// The receiver never had more than `cap` deliveries in hand at once, whichever
/// workers sent them.
fn assert_at_most_in_hand_at_once(deliveries: &[Delivery], cap: usize) {
    for delivery in deliveries {
        let moment = delivery.arrived;
        let in_hand = deliveries
            .iter()
            .filter(|d| d.arrived <= moment && d.finished.is_none_or(|done| done > moment))
            .count();
        assert!(
            in_hand <= cap,
            "{in_hand} deliveries in one receiver's hands at once (at most {cap})"
        );
    }
}

/// The reference verifier accepts every arrival with the endpoint's `secret`.
async fn assert_signed(secret: &str, deliveries: &[Delivery]) {
    let verdicts = verdicts_of_the_reference_library(secret, deliveries).await;
    let refused: Vec<&str> = deliveries
        .iter()
        .zip(verdicts)
        .filter(|(_, accepted)| !accepted)
        .map(|(delivery, _)| delivery.header("webhook-id"))
        .collect();
    assert!(
        refused.is_empty(),
        "{} of {} arrivals fail verification: {refused:?}",
        refused.len(),
        deliveries.len()
    );
}
