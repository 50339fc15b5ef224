//! Webhooks under load (issue 13): contacts are created while every seeded tenant has
//! one `contact.*` endpoint delivering to a receiver in this process, then what is
//! still queued is drained.
//!
//! - The receiver: HTTP/1.1 on 127.0.0.1 (a free port) that answers 204 to every POST
//!   and notes the first arrival of each `webhook-id`, the tenant of its path
//!   (`/t/<n>`) and its end-to-end latency: arrival minus the event's `timestamp`, which
//!   the server writes in the contact's transaction (both are this machine's wall clock).
//! - Phase A: the create-contact load of [`load`] (`--conns`, `--warmup`, `--duration`),
//!   and the deliveries that arrive in the same measured window.
//! - Phase B (unless `--no-wait`): from the end of the load until every contact created
//!   (every 2xx of the run, warm-up included) has arrived, or the drain timeout.
//!
//! The server must allow loopback receivers (`CRM_WEBHOOK_ALLOWED_NETWORKS=127.0.0.0/8`).
//! The endpoints are deleted at the end, also when a phase failed, and the messages
//! still queued for them with them, so later runs on the database are not subscribed.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Empty};
use hyper::{
    Method, Request, Response, StatusCode, body::Incoming, server::conn::http1, service::service_fn,
};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::{net::TcpListener, task::JoinHandle};

use crate::{
    Result,
    dataset::Dataset,
    load::{self, Connection, Samples, Scenario, Summary, Target, build, micros},
};

/// How the run is shaped.
pub struct Options {
    pub conns: u64,
    pub warmup: Duration,
    pub duration: Duration,
    /// How long phase B may wait for the last event; `None` skips it (`--no-wait`).
    pub drain_timeout: Option<Duration>,
}

/// What one run measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WebhookSummary {
    pub conns: u64,
    /// Endpoints registered: one per seeded tenant.
    pub endpoints: u64,
    /// The create-contact load in the measured window.
    pub create: Summary,
    /// The deliveries that arrived in the measured window: `rps` is deliveries/s, p50
    /// and p99 the end-to-end latency.
    pub delivered: Summary,
    /// Contacts created over the whole run: the events the receiver must get.
    pub created: u64,
    /// Requests to the receiver that were not a POST to `/t/<tenant>` with a
    /// `webhook-id` and a JSON body with an RFC 3339 `timestamp`.
    pub malformed: u64,
    /// Phase B; absent with `--no-wait`.
    pub drain: Option<DrainSummary>,
}

/// Phase B: the backlog left when the load stopped.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DrainSummary {
    pub timeout_secs: u64,
    /// From the end of the load to the last arrival.
    pub seconds: f64,
    /// Whether the timeout ended it before every event arrived.
    pub timed_out: bool,
    /// The deliveries after the load: `rps` over `seconds`, and their latencies.
    pub delivered: Summary,
    /// Distinct events received over the whole run.
    pub received: u64,
    /// Deliveries of an event already received (same `webhook-id`).
    pub duplicates: u64,
    /// Distinct events received by the tenant that got fewest, and by the one that got most.
    pub per_tenant_min: u64,
    pub per_tenant_max: u64,
}

impl WebhookSummary {
    /// Events created but not received (negative: more received than created); `None`
    /// without phase B.
    pub fn missing(&self) -> Option<i64> {
        self.drain
            .as_ref()
            .map(|drain| self.created as i64 - drain.received as i64)
    }
}

impl std::fmt::Display for WebhookSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = &self.delivered;
        writeln!(
            f,
            "webhooks, {} endpoints, {} conns: create {}",
            self.endpoints, self.conns, self.create
        )?;
        write!(
            f,
            "  delivered while creating {:>9.0} events/s  e2e p50 {:>8.1} ms  p99 {:>8.1} ms",
            d.rps, d.p50_ms, d.p99_ms
        )?;
        if let Some(drain) = &self.drain {
            let dd = &drain.delivered;
            write!(
                f,
                "\n  drain {:.1} s{}: {:.0} events/s  e2e p50 {:.1} ms  p99 {:.1} ms\n  \
                 created {}  received {}  duplicates {}  per tenant {}..{}",
                drain.seconds,
                if drain.timed_out { " (TIMED OUT)" } else { "" },
                dd.rps,
                dd.p50_ms,
                dd.p99_ms,
                self.created,
                drain.received,
                drain.duplicates,
                drain.per_tenant_min,
                drain.per_tenant_max
            )?;
        }
        if self.malformed > 0 {
            write!(f, "\n  MALFORMED deliveries: {}", self.malformed)?;
        }
        match self.missing() {
            Some(0) | None => Ok(()),
            Some(missing) => write!(
                f,
                "\n  MISMATCH: {} created, {} received ({missing} missing)",
                self.created,
                self.created as i64 - missing
            ),
        }
    }
}

/// Registers the endpoints, runs the phases and deletes the endpoints again.
pub async fn run(
    target: &Target,
    dataset: Arc<Dataset>,
    options: Options,
) -> Result<WebhookSummary> {
    let receiver = Receiver::start(dataset.tenants).await?;
    refuse_subscribed(target, &dataset).await?;
    let mut endpoints = Vec::new();
    let measured = match subscribe(target, &dataset, receiver.port, &mut endpoints).await {
        Ok(()) => {
            let subscribed = endpoints.len() as u64;
            measure(
                target,
                Arc::clone(&dataset),
                &receiver,
                &options,
                subscribed,
            )
            .await
        }
        Err(err) => Err(err),
    };
    let removed = unsubscribe(target, &dataset, &endpoints).await;
    let summary = measured?;
    removed?;
    Ok(summary)
}

/// Phases A and B against the subscribed tenants.
async fn measure(
    target: &Target,
    dataset: Arc<Dataset>,
    receiver: &Receiver,
    options: &Options,
    endpoints: u64,
) -> Result<WebhookSummary> {
    let measure_from = Instant::now() + options.warmup;
    let end = measure_from + options.duration;
    let samples = load::run_between(
        target,
        dataset,
        Scenario::Create,
        options.conns,
        measure_from,
        options.duration,
    )
    .await?;
    let stopped = Instant::now();
    let created = samples.succeeded;
    let delivered = receiver
        .log()
        .samples(measure_from, end)
        .summary(options.duration);
    let drain = match options.drain_timeout {
        Some(timeout) => Some(drain(receiver, created, stopped, timeout).await),
        None => None,
    };
    Ok(WebhookSummary {
        conns: options.conns,
        endpoints,
        create: samples.summary(options.duration),
        delivered,
        created,
        malformed: receiver.log().malformed,
        drain,
    })
}

/// Waits until `created` distinct events have arrived or `timeout` has passed since
/// `stopped`, and measures the deliveries after `stopped`.
async fn drain(
    receiver: &Receiver,
    created: u64,
    stopped: Instant,
    timeout: Duration,
) -> DrainSummary {
    let deadline = stopped + timeout;
    while receiver.log().received() < created && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let log = receiver.log();
    let received = log.received();
    let last = log.arrivals.last().map_or(stopped, |a| a.at.max(stopped));
    let seconds = last - stopped;
    DrainSummary {
        timeout_secs: timeout.as_secs(),
        seconds: seconds.as_secs_f64(),
        timed_out: received < created,
        delivered: log
            .samples(stopped, last)
            .summary(seconds.max(Duration::from_millis(1))),
        received,
        duplicates: log.duplicates,
        per_tenant_min: log.per_tenant.iter().copied().min().unwrap_or(0),
        per_tenant_max: log.per_tenant.iter().copied().max().unwrap_or(0),
    }
}

/// Fails when some tenant already has an endpoint (a run that was interrupted before
/// deleting its own?): the create rate would pay for it, and its backlog be drained here.
async fn refuse_subscribed(target: &Target, dataset: &Dataset) -> Result<()> {
    let mut conn = Connection::open(target).await?;
    for (tenant, token) in dataset.tokens.iter().enumerate() {
        let request = build(Method::GET, ENDPOINTS, token, None);
        let body = conn.exchange(request).await?;
        let list: serde_json::Value = serde_json::from_slice(&body)?;
        if list["items"]
            .as_array()
            .is_some_and(|items| !items.is_empty())
        {
            return Err(format!(
                "tenant {tenant} already has webhook endpoints; delete them or seed again"
            )
            .into());
        }
    }
    Ok(())
}

const ENDPOINTS: &str = "/api/v1/webhooks/endpoints";

/// Registers one `contact.*` endpoint per tenant, pointing at the receiver's
/// `/t/<tenant>`; pushes each (tenant, id) as it is made, so a failure half-way still
/// leaves the ones to delete.
async fn subscribe(
    target: &Target,
    dataset: &Dataset,
    port: u16,
    endpoints: &mut Vec<(usize, String)>,
) -> Result<()> {
    let mut conn = Connection::open(target).await?;
    for (tenant, token) in dataset.tokens.iter().enumerate() {
        let body = serde_json::json!({
            "url": format!("http://127.0.0.1:{port}/t/{tenant}"),
            "description": "crm-bench webhooks",
            "event_types": ["contact.*"],
        });
        let request = build(Method::POST, ENDPOINTS, token, Some(body.to_string()));
        let created: serde_json::Value = serde_json::from_slice(&conn.exchange(request).await?)?;
        let id = created["id"]
            .as_str()
            .ok_or("the created endpoint has no id")?;
        endpoints.push((tenant, id.to_owned()));
    }
    Ok(())
}

/// Deletes the endpoints (with the messages still queued for them).
async fn unsubscribe(
    target: &Target,
    dataset: &Dataset,
    endpoints: &[(usize, String)],
) -> Result<()> {
    let mut conn = Connection::open(target).await?;
    for (tenant, id) in endpoints {
        let path = format!("{ENDPOINTS}/{id}");
        conn.send(build(Method::DELETE, &path, &dataset.tokens[*tenant], None))
            .await?;
    }
    Ok(())
}

/// The first arrival of an event.
struct Arrival {
    at: Instant,
    latency_micros: u32,
}

/// What the receiver has seen.
#[derive(Default)]
struct Log {
    /// First arrivals, in order.
    arrivals: Vec<Arrival>,
    seen: HashSet<String>,
    duplicates: u64,
    malformed: u64,
    /// Distinct events per tenant index.
    per_tenant: Vec<u64>,
}

impl Log {
    fn received(&self) -> u64 {
        self.arrivals.len() as u64
    }

    /// The latencies of the first arrivals in `from..=to`.
    fn samples(&self, from: Instant, to: Instant) -> Samples {
        Samples {
            micros: self
                .arrivals
                .iter()
                .filter(|a| a.at >= from && a.at <= to)
                .map(|a| a.latency_micros)
                .collect(),
            ..Samples::default()
        }
    }

    /// Notes one delivery to `/t/<tenant>`; malformed without a tenant, id or timestamp.
    fn note(
        &mut self,
        tenant: Option<usize>,
        id: Option<String>,
        timestamp: Option<DateTime<Utc>>,
        at: Instant,
        now: DateTime<Utc>,
    ) {
        let (Some(tenant), Some(id), Some(timestamp)) = (tenant, id, timestamp) else {
            self.malformed += 1;
            return;
        };
        let Some(count) = self.per_tenant.get_mut(tenant) else {
            self.malformed += 1;
            return;
        };
        if !self.seen.insert(id) {
            self.duplicates += 1;
            return;
        }
        *count += 1;
        let latency = (now - timestamp).to_std().unwrap_or_default();
        self.arrivals.push(Arrival {
            at,
            latency_micros: micros(latency),
        });
    }
}

/// The in-process receiver; stops accepting when dropped.
struct Receiver {
    port: u16,
    log: Arc<Mutex<Log>>,
    accepting: JoinHandle<()>,
}

impl Receiver {
    /// Listens on 127.0.0.1 for deliveries to `tenants` tenants.
    async fn start(tenants: u64) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let log = Arc::new(Mutex::new(Log {
            per_tenant: vec![0; tenants as usize],
            ..Log::default()
        }));
        let accepting = tokio::spawn(accept(listener, Arc::clone(&log)));
        Ok(Self {
            port,
            log,
            accepting,
        })
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        lock(&self.log)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

fn lock(log: &Mutex<Log>) -> MutexGuard<'_, Log> {
    log.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Serves each connection the server opens, HTTP/1.1 keep-alive.
async fn accept(listener: TcpListener, log: Arc<Mutex<Log>>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let log = Arc::clone(&log);
        tokio::spawn(async move {
            let service = service_fn(move |request| receive(Arc::clone(&log), request));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// One delivery: 204 to a POST, noted in `log`; 405 to anything else.
async fn receive(
    log: Arc<Mutex<Log>>,
    request: Request<Incoming>,
) -> std::result::Result<Response<Empty<Bytes>>, hyper::Error> {
    let (at, now) = (Instant::now(), Utc::now());
    if request.method() != Method::POST {
        return Ok(status(StatusCode::METHOD_NOT_ALLOWED));
    }
    let tenant = request
        .uri()
        .path()
        .strip_prefix("/t/")
        .and_then(|n| n.parse().ok());
    let id = request
        .headers()
        .get("webhook-id")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let body = request.into_body().collect().await?.to_bytes();
    lock(&log).note(tenant, id, event_timestamp(&body), at, now);
    Ok(status(StatusCode::NO_CONTENT))
}

/// The `timestamp` of a delivery's body.
fn event_timestamp(body: &[u8]) -> Option<DateTime<Utc>> {
    let body: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = body["timestamp"].as_str()?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

fn status(code: StatusCode) -> Response<Empty<Bytes>> {
    let mut response = Response::new(Empty::new());
    *response.status_mut() = code;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_servers_timestamps() {
        let body = br#"{"id":"x","type":"contact.created","timestamp":"2026-12-01T10:00:00.123456+00:00","data":{}}"#;
        let at = event_timestamp(body).expect("a timestamp");
        assert_eq!(at.timestamp_subsec_micros(), 123_456);
        assert!(event_timestamp(br#"{"timestamp":"yesterday"}"#).is_none());
    }

    #[test]
    fn counts_duplicates_and_malformed_deliveries_apart() {
        let mut log = Log {
            per_tenant: vec![0; 2],
            ..Log::default()
        };
        let (at, now) = (Instant::now(), Utc::now());
        let id = || Some("e1".to_owned());
        log.note(Some(1), id(), Some(now), at, now);
        log.note(Some(1), id(), Some(now), at, now);
        log.note(Some(2), Some("e2".to_owned()), Some(now), at, now);
        log.note(Some(0), None, Some(now), at, now);
        assert_eq!((log.received(), log.duplicates, log.malformed), (1, 1, 2));
        assert_eq!(log.per_tenant, [0, 1]);
    }
}
