//! The load driver: exactly `conns` HTTP/1.1 keep-alive connections, each a closed
//! loop (send, wait for the whole response, send the next), for a fixed duration after
//! a warm-up that is not measured.
//!
//! Latencies go into a plain `Vec<u32>` of microseconds per connection, merged and
//! sorted at the end: exact percentiles, no extra crate, and at most a few MB (4 bytes
//! per request) for the request rates this machine can reach.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode, client::conn::http1};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::{net::TcpStream, sync::Semaphore};

use crate::{
    Result,
    dataset::{Clinic, Dataset, Kind, LAST_NAMES, Rng, search_terms},
};

/// The subject and text of every notification the `notify` scenario queues (pgbench
/// queues the same).
pub const NOTIFY_SUBJECT: &str = "Your viewing tomorrow";
pub const NOTIFY_TEXT: &str = "Hello, this is a reminder of your viewing tomorrow at 14:30.";

/// Every booking lasts one slot, so slots never overlap: the agent (each tenant's
/// owner) is never double-booked. pgbench books from [`PGBENCH_SLOTS_FROM`] on, by
/// a sequence; the API from 2100 on, in one of 500 regions of 100,000 slots picked by
/// the run's nonce.
pub const SLOT_MINUTES: i64 = 30;
pub const PGBENCH_SLOTS_FROM: &str = "2030-01-01T00:00:00Z";

/// The start of booking slot `slot` of the run with `nonce`, as RFC 3339.
fn api_booking_slot(nonce: u64, slot: u64) -> String {
    let base = chrono::DateTime::parse_from_rfc3339("2100-01-01T00:00:00Z")
        .expect("a constant instant")
        .to_utc();
    let index = (nonce % 500) * 100_000 + slot % 100_000;
    let minutes = i64::try_from(index).unwrap_or_default() * SLOT_MINUTES;
    (base + chrono::Duration::minutes(minutes)).to_rfc3339()
}

/// The clinic's bookings take one slot of [`CLINIC_SLOT_MINUTES`] (the type's 30
/// minutes and its 10 minutes' buffer after), [`CLINIC_SLOTS_PER_DAY`] a day from 06:00
/// UTC to 18:30 UTC: within the practitioners' 07:00 to 21:00 in Zurich in winter
/// (UTC+1) as in summer (UTC+2), so no slot depends on daylight saving. pgbench books
/// from [`PGBENCH_CLINIC_SLOTS_FROM`] on, slot `n` of a sequence each, so no two of its
/// bookings share a time whatever the practitioner; the API from 2200 on, in one of
/// 500 regions of 1,000,000 slots picked by the run's nonce, slot `i` with practitioner
/// `i % practitioners`. Both are far beyond the seeded appointments.
pub const CLINIC_SLOT_MINUTES: i64 = 40;
pub const CLINIC_SLOTS_PER_DAY: u64 = 19;
pub const PGBENCH_CLINIC_SLOTS_FROM: &str = "2030-01-01T06:00:00Z";
const API_CLINIC_SLOTS_FROM: &str = "2200-01-01T06:00:00Z";

/// The `availability` scenario asks for one practitioner's slots over this many days,
/// starting at a UTC midnight from the day after the seed on, on this grid (the
/// server's default, sent explicitly so that pgbench binds the same).
pub const AVAILABILITY_DAYS: u64 = 7;
pub const AVAILABILITY_STEP_MINUTES: i32 = 15;

/// The start of slot `index` of the clinic grid from `base` (06:00 UTC of a day).
pub fn clinic_slot(base: &str, index: u64) -> chrono::DateTime<chrono::Utc> {
    let base = chrono::DateTime::parse_from_rfc3339(base)
        .expect("a constant instant")
        .to_utc();
    let day = i64::try_from(index / CLINIC_SLOTS_PER_DAY).unwrap_or_default();
    let step = i64::try_from(index % CLINIC_SLOTS_PER_DAY).unwrap_or_default();
    base + chrono::Duration::hours(24 * day) + chrono::Duration::minutes(step * CLINIC_SLOT_MINUTES)
}

/// The practitioner and start of clinic booking `slot` of the run with `nonce`.
fn api_clinic_booking(nonce: u64, slot: u64, practitioners: u64) -> (u64, String) {
    let practitioners = practitioners.max(1);
    let index = (nonce % 500) * 1_000_000 + slot % 1_000_000;
    let at = clinic_slot(API_CLINIC_SLOTS_FROM, index / practitioners);
    (
        index % practitioners,
        at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

/// The last day (after the seed's) an availability window may start on: its
/// [`AVAILABILITY_DAYS`] stay within the densely booked future.
pub fn availability_last_day(clinic: &Clinic) -> u64 {
    clinic
        .booked_days_ahead
        .saturating_sub(AVAILABILITY_DAYS)
        .max(1)
}

/// UTC midnight of the seed's day plus `days`, as RFC 3339 (`Z`: no `+` in a query).
fn seeded_midnight_plus(clinic: &Clinic, days: u64) -> String {
    let day = chrono::NaiveDate::parse_from_str(&clinic.seeded_on, "%Y-%m-%d")
        .unwrap_or_default()
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let at = day + chrono::Duration::hours(24 * i64::try_from(days).unwrap_or_default());
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A benchmark scenario: one kind of request, or the 80/20 mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// GET /contacts/{id}
    Get,
    /// GET /contacts?limit=50
    List,
    /// GET /contacts?limit=50&q=<last name>
    Search,
    /// POST /contacts
    Create,
    /// PATCH /deals/{id} {"stage": ...}, alternating NEGOTIATION and NEW
    UpdateStage,
    /// POST /notifications: an email as it is (subject and text) to a seeded contact
    /// of the tenant (not in the mix)
    Notify,
    /// POST /properties/{id}/viewings: a free slot of the tenant's property for a
    /// seeded contact, which queues a confirmation and two reminders by the tenant's
    /// rules (not in the mix)
    Book,
    /// GET /contacts?tag_id=...&limit=50: the tenant's tag, on a tenth of its contacts
    /// (not in the mix)
    #[value(alias = "list_tag")]
    ListTag,
    /// 50% get, 20% list, 10% search (reads 80%); 10% create, 10% update stage
    Mix,
    /// GET /availability: one practitioner of tenant 0's clinic over 7 days of the
    /// densely booked future (not in the mix, nor in the suite's default)
    Availability,
    /// POST /appointments: a free slot of a practitioner of tenant 0's clinic, beyond
    /// the seeded appointments (not in the mix, nor in the suite's default)
    #[value(alias = "clinic_book")]
    ClinicBook,
}

impl Scenario {
    /// What `suite` runs without `--scenarios`: all but the clinic's, which ask for
    /// one tenant's clinic (`bench/run` runs them on their own, at 16 connections).
    pub const SUITE: [Self; 9] = [
        Self::Get,
        Self::List,
        Self::Search,
        Self::ListTag,
        Self::Create,
        Self::UpdateStage,
        Self::Notify,
        Self::Book,
        Self::Mix,
    ];

    /// The clinic's scenarios, which need the seeded clinic (`Dataset::clinic`); the
    /// report lists them after [`Self::SUITE`].
    pub const CLINIC: [Self; 2] = [Self::Availability, Self::ClinicBook];

    pub fn needs_clinic(self) -> bool {
        Self::CLINIC.contains(&self)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Get => "get contact by id",
            Self::List => "list contacts (limit 50)",
            Self::Search => "list + text search",
            Self::ListTag => "list by tag (limit 50)",
            Self::Create => "create contact",
            Self::UpdateStage => "update deal stage",
            Self::Notify => "queue a notification",
            Self::Book => "book a viewing (3 rules)",
            Self::Mix => "mix 80% read / 20% write",
            Self::Availability => "availability (7 days)",
            Self::ClinicBook => "book an appointment",
        }
    }

    /// The single-request scenarios the mix draws from, with their weights (of 100).
    pub fn mix() -> [(Self, u32); 5] {
        [
            (Self::Get, 50),
            (Self::List, 20),
            (Self::Search, 10),
            (Self::Create, 10),
            (Self::UpdateStage, 10),
        ]
    }
}

/// Where the server listens.
#[derive(Clone, Debug)]
pub struct Target {
    pub addr: SocketAddr,
}

/// Latencies and errors of one run.
#[derive(Default)]
pub struct Samples {
    pub micros: Vec<u32>,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Successful requests of the whole run, warm-up and the last in flight included
    /// ([`run_between`] counts them: a webhook benchmark awaits one event for each
    /// contact created).
    pub succeeded: u64,
}

impl Samples {
    pub(crate) fn merge(&mut self, other: Self) {
        self.micros.extend(other.micros);
        self.errors += other.errors;
        self.succeeded += other.succeeded;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    pub(crate) fn error(&mut self, what: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(what);
        }
    }

    /// Requests/s over `window`, p50, p99 and errors.
    pub fn summary(mut self, window: Duration) -> Summary {
        self.micros.sort_unstable();
        let pct = |p: f64| -> f64 {
            if self.micros.is_empty() {
                return 0.0;
            }
            let rank = ((p / 100.0) * self.micros.len() as f64).ceil() as usize;
            f64::from(self.micros[rank.clamp(1, self.micros.len()) - 1]) / 1000.0
        };
        Summary {
            requests: self.micros.len() as u64,
            rps: self.micros.len() as f64 / window.as_secs_f64(),
            p50_ms: pct(50.0),
            p99_ms: pct(99.0),
            errors: self.errors,
            first_error: self.first_error.clone(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Summary {
    pub requests: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
    pub first_error: Option<String>,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>9.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {}",
            self.rps, self.p50_ms, self.p99_ms, self.errors
        )?;
        if let Some(error) = &self.first_error {
            write!(f, "  (first: {error})")?;
        }
        Ok(())
    }
}

/// Builds the requests of one simulated client.
pub struct Client {
    dataset: Arc<Dataset>,
    rng: Rng,
    index: u64,
    clients: u64,
    nonce: u64,
    sequence: u64,
    terms: Vec<String>,
    /// What this client last set each of its deals to (deals are partitioned between
    /// clients, so no other client moves them during a run).
    stages: HashMap<u64, &'static str>,
}

impl Client {
    pub fn new(dataset: Arc<Dataset>, index: u64, clients: u64, nonce: u64) -> Self {
        Self {
            dataset,
            rng: Rng::new(nonce ^ (index << 20)),
            index,
            clients: clients.max(1),
            nonce,
            sequence: 0,
            terms: search_terms(),
            stages: HashMap::new(),
        }
    }

    fn pick(&mut self, scenario: Scenario) -> Scenario {
        if scenario != Scenario::Mix {
            return scenario;
        }
        let mut roll = self.rng.below(100) as u32;
        for (choice, weight) in Scenario::mix() {
            if roll < weight {
                return choice;
            }
            roll -= weight;
        }
        Scenario::Get
    }

    /// The next request of `scenario` (a concrete one for the mix).
    pub fn request(&mut self, scenario: Scenario) -> Request<Full<Bytes>> {
        let d = Arc::clone(&self.dataset);
        let tenant = self.rng.below(d.tenants);
        let row = self.rng.below(d.contacts_per_tenant);
        let (method, path, body) = match self.pick(scenario) {
            Scenario::Get | Scenario::Mix => (
                Method::GET,
                format!(
                    "/api/v1/contacts/{}",
                    Kind::Contact.id(tenant * d.contacts_per_tenant + row)
                ),
                None,
            ),
            Scenario::List => (Method::GET, "/api/v1/contacts?limit=50".to_owned(), None),
            Scenario::ListTag => (
                Method::GET,
                format!("/api/v1/contacts?limit=50&tag_id={}", Kind::Tag.id(tenant)),
                None,
            ),
            Scenario::Search => {
                let term = &self.terms[self.rng.below(self.terms.len() as u64) as usize];
                (
                    Method::GET,
                    format!("/api/v1/contacts?limit=50&q={term}"),
                    None,
                )
            }
            Scenario::Create => {
                self.sequence += 1;
                let last = LAST_NAMES[self.rng.below(LAST_NAMES.len() as u64) as usize];
                let body = serde_json::json!({
                    "first_name": "Bench",
                    "last_name": last,
                    "email": format!("api-{:x}-{}-{}@bench.test", self.nonce, self.index, self.sequence),
                });
                (
                    Method::POST,
                    "/api/v1/contacts".to_owned(),
                    Some(body.to_string()),
                )
            }
            Scenario::Notify => {
                let body = serde_json::json!({
                    "contact_id": Kind::Contact.id(tenant * d.contacts_per_tenant + row),
                    "channel": "email",
                    "subject": NOTIFY_SUBJECT,
                    "text": NOTIFY_TEXT,
                });
                (
                    Method::POST,
                    "/api/v1/notifications".to_owned(),
                    Some(body.to_string()),
                )
            }
            Scenario::Book => {
                self.sequence += 1;
                let slot = self.sequence * self.clients + self.index;
                let body = serde_json::json!({
                    "contact_id": Kind::Contact.id(tenant * d.contacts_per_tenant + row),
                    "scheduled_at": api_booking_slot(self.nonce, slot),
                });
                (
                    Method::POST,
                    format!("/api/v1/properties/{}/viewings", Kind::Property.id(tenant)),
                    Some(body.to_string()),
                )
            }
            Scenario::Availability => {
                let clinic = d.clinic.as_ref().expect("checked by run_between");
                let practitioner = self.rng.below(clinic.practitioners);
                let day = 1 + self.rng.below(availability_last_day(clinic));
                let path = format!(
                    "/api/v1/availability?practitioner_id={}&appointment_type_id={}\
                     &from={}&to={}&step_minutes={AVAILABILITY_STEP_MINUTES}",
                    Kind::Practitioner.id(practitioner),
                    Kind::AppointmentType.id(0),
                    seeded_midnight_plus(clinic, day),
                    seeded_midnight_plus(clinic, day + AVAILABILITY_DAYS),
                );
                return build(Method::GET, &path, &d.tokens[0], None);
            }
            Scenario::ClinicBook => {
                let clinic = d.clinic.as_ref().expect("checked by run_between");
                self.sequence += 1;
                let slot = self.sequence * self.clients + self.index;
                let (practitioner, starts_at) =
                    api_clinic_booking(self.nonce, slot, clinic.practitioners);
                let body = serde_json::json!({
                    "patient_id": Kind::Patient.id(self.rng.below(clinic.patients)),
                    "practitioner_id": Kind::Practitioner.id(practitioner),
                    "appointment_type_id": Kind::AppointmentType.id(0),
                    "starts_at": starts_at,
                    "location_id": Kind::Location.id(0),
                });
                return build(
                    Method::POST,
                    "/api/v1/appointments",
                    &d.tokens[0],
                    Some(body.to_string()),
                );
            }
            Scenario::UpdateStage => {
                // A deal of this client's partition: n % clients == index.
                let mut n = tenant * d.deals_per_tenant + self.rng.below(d.deals_per_tenant);
                n = n - n % self.clients + self.index;
                if n >= d.deals() {
                    n = n.saturating_sub(self.clients);
                }
                let tenant_of_deal = n / d.deals_per_tenant;
                // NEGOTIATION is allowed from every stage, and NEW from NEGOTIATION.
                let next = match self.stages.get(&n) {
                    Some(&"NEGOTIATION") => "NEW",
                    _ => "NEGOTIATION",
                };
                self.stages.insert(n, next);
                return build(
                    Method::PATCH,
                    &format!("/api/v1/deals/{}", Kind::Deal.id(n)),
                    &d.tokens[tenant_of_deal as usize],
                    Some(format!("{{\"stage\":\"{next}\"}}")),
                );
            }
        };
        build(method, &path, &d.tokens[tenant as usize], body)
    }
}

pub(crate) fn build(
    method: Method,
    path: &str,
    token: &str,
    body: Option<String>,
) -> Request<Full<Bytes>> {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "bench")
        .header("authorization", format!("Bearer {token}"));
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    request
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .expect("a request built from valid parts")
}

/// One keep-alive connection.
pub struct Connection {
    sender: http1::SendRequest<Full<Bytes>>,
}

impl Connection {
    pub async fn open(target: &Target) -> Result<Self> {
        let stream = TcpStream::connect(target.addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Self { sender })
    }

    /// Whether the server closed the connection (a fresh one is needed).
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// Sends `request` and reads the whole response; Err names what went wrong.
    pub async fn send(&mut self, request: Request<Full<Bytes>>) -> std::result::Result<(), String> {
        self.exchange(request).await.map(drop)
    }

    /// Sends `request` and answers the body of a 2xx response; Err names what went wrong.
    pub async fn exchange(
        &mut self,
        request: Request<Full<Bytes>>,
    ) -> std::result::Result<Bytes, String> {
        self.sender
            .ready()
            .await
            .map_err(|err| format!("connection: {err}"))?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|err| format!("request: {err}"))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|err| format!("body: {err}"))?
            .to_bytes();
        if status.is_success() {
            Ok(body)
        } else {
            Err(status_error(status, &body))
        }
    }
}

fn status_error(status: StatusCode, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    format!("{status}: {}", text.chars().take(200).collect::<String>())
}

/// A closed-loop run: `conns` clients for `warmup + duration`; only `duration` counts.
pub async fn run(
    target: &Target,
    dataset: Arc<Dataset>,
    scenario: Scenario,
    conns: u64,
    warmup: Duration,
    duration: Duration,
) -> Result<Summary> {
    let measure_from = Instant::now() + warmup;
    let samples = run_between(target, dataset, scenario, conns, measure_from, duration).await?;
    Ok(samples.summary(duration))
}

/// The closed loop of [`run`] from now until `measure_from + duration`, measuring from
/// `measure_from` on; the samples also count every success of the whole run.
pub async fn run_between(
    target: &Target,
    dataset: Arc<Dataset>,
    scenario: Scenario,
    conns: u64,
    measure_from: Instant,
    duration: Duration,
) -> Result<Samples> {
    if scenario.needs_clinic() && dataset.clinic.is_none() {
        return Err(format!(
            "{} needs the clinic of a data set seeded with appointments (`seed --small`, `--large` or `--appointments`)",
            scenario.name()
        )
        .into());
    }
    let nonce = nonce();
    let end = measure_from + duration;
    let mut tasks = Vec::new();
    for index in 0..conns {
        let target = target.clone();
        let mut client = Client::new(Arc::clone(&dataset), index, conns, nonce);
        tasks.push(tokio::spawn(async move {
            let mut samples = Samples::default();
            let mut connection = None;
            while Instant::now() < end {
                let conn = match connection.as_mut() {
                    Some(conn) => conn,
                    None => match Connection::open(&target).await {
                        Ok(conn) => connection.insert(conn),
                        Err(err) => {
                            samples.error(format!("connect: {err}"));
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let request = client.request(scenario);
                let sent = Instant::now();
                let result = conn.send(request).await;
                let done = Instant::now();
                samples.succeeded += u64::from(result.is_ok());
                if sent >= measure_from && done <= end {
                    match result {
                        Ok(()) => samples.micros.push(micros(done - sent)),
                        Err(err) => samples.error(err),
                    }
                }
                if matches!(&connection, Some(c) if c.sender.is_closed()) {
                    connection = None;
                }
            }
            samples
        }));
    }
    let mut all = Samples::default();
    for task in tasks {
        all.merge(task.await?);
    }
    Ok(all)
}

pub(crate) fn micros(elapsed: Duration) -> u32 {
    u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX)
}

fn nonce() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
}

/// The result of holding many idle-ish keep-alive connections.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HoldSummary {
    pub conns: u64,
    pub connected: u64,
    pub seconds: u64,
    pub interval_ms: u64,
    pub requests: Summary,
    pub server_rss_max_mb: f64,
    pub server_rss_end_mb: f64,
}

/// Opens `conns` keep-alive connections (at most 200 handshakes at once), keeps every
/// one open for `duration`, each sending a GET by id every `interval` (first at a
/// random offset), and samples the server's resident memory twice a second.
pub async fn hold(
    target: &Target,
    dataset: Arc<Dataset>,
    conns: u64,
    duration: Duration,
    interval: Duration,
    server_pid: Option<u32>,
) -> Result<HoldSummary> {
    let nonce = nonce();
    let connecting = Arc::new(Semaphore::new(200));
    let connected = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let mut max = 0.0f64;
            while !done.load(Ordering::Relaxed) {
                if let Some(rss) = server_pid.and_then(rss_mb) {
                    max = max.max(rss);
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            max
        })
    };
    let started = Instant::now();
    let end = started + duration;
    let mut tasks = Vec::new();
    for index in 0..conns {
        let target = target.clone();
        let connecting = Arc::clone(&connecting);
        let connected = Arc::clone(&connected);
        let mut client = Client::new(Arc::clone(&dataset), index, conns, nonce);
        let offset = Duration::from_micros(Rng::new(nonce ^ index).below(micros(interval).into()));
        tasks.push(tokio::spawn(async move {
            let mut samples = Samples::default();
            let permit = connecting.acquire().await;
            let opened = Connection::open(&target).await;
            drop(permit);
            let mut conn = match opened {
                Ok(conn) => conn,
                Err(err) => {
                    samples.error(format!("connect: {err}"));
                    return samples;
                }
            };
            connected.fetch_add(1, Ordering::Relaxed);
            let mut next = Instant::now() + offset;
            while next < end {
                tokio::time::sleep_until(next.into()).await;
                let sent = Instant::now();
                match conn.send(client.request(Scenario::Get)).await {
                    Ok(()) => samples.micros.push(micros(sent.elapsed())),
                    Err(err) => samples.error(err),
                }
                next += interval;
            }
            // Still open at the end? (the server must not have dropped it)
            if conn.sender.is_closed() {
                samples.error("connection closed by the server".to_owned());
            }
            samples
        }));
    }
    let mut all = Samples::default();
    for task in tasks {
        all.merge(task.await?);
    }
    done.store(true, Ordering::Relaxed);
    let server_rss_max_mb = sampler.await?;
    Ok(HoldSummary {
        conns,
        connected: connected.load(Ordering::Relaxed) as u64,
        seconds: duration.as_secs(),
        interval_ms: interval.as_millis() as u64,
        requests: all.summary(duration),
        server_rss_max_mb,
        server_rss_end_mb: server_pid.and_then(rss_mb).unwrap_or(0.0),
    })
}

/// VmRSS of a process in MB, from /proc/<pid>/status.
pub fn rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// GET by id at `conns` while `login_clients` clients log in back to back.
pub async fn logins(
    target: &Target,
    dataset: Arc<Dataset>,
    conns: u64,
    login_clients: u64,
    warmup: Duration,
    duration: Duration,
) -> Result<(Summary, Summary)> {
    let started = Instant::now();
    let measure_from = started + warmup;
    let end = measure_from + duration;
    let mut tasks = Vec::new();
    for index in 0..login_clients {
        let target = target.clone();
        let dataset = Arc::clone(&dataset);
        tasks.push(tokio::spawn(async move {
            let mut samples = Samples::default();
            let mut rng = Rng::new(nonce() ^ index);
            let mut conn = match Connection::open(&target).await {
                Ok(conn) => conn,
                Err(err) => {
                    samples.error(format!("connect: {err}"));
                    return samples;
                }
            };
            while Instant::now() < end {
                let tenant = rng.below(dataset.tenants);
                let body = serde_json::json!({
                    "email": Dataset::owner_email(tenant),
                    "password": dataset.password,
                })
                .to_string();
                let request = Request::builder()
                    .method(Method::POST)
                    .uri("/api/v1/auth/login")
                    .header("host", "bench")
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(body)))
                    .expect("a request built from valid parts");
                let sent = Instant::now();
                let result = conn.send(request).await;
                if sent >= measure_from && Instant::now() <= end {
                    match result {
                        Ok(()) => samples.micros.push(micros(sent.elapsed())),
                        Err(err) => samples.error(err),
                    }
                }
            }
            samples
        }));
    }
    let reads = run(target, dataset, Scenario::Get, conns, warmup, duration).await?;
    let mut all = Samples::default();
    for task in tasks {
        all.merge(task.await?);
    }
    Ok((reads, all.summary(duration)))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use chrono::Timelike;

    use super::*;

    /// Every clinic slot (its 30 minutes) lies within 07:00 to 21:00 in Zurich in
    /// winter (UTC+1) and in summer (UTC+2), and one run's API bookings never share a
    /// practitioner's slot.
    #[test]
    fn clinic_slots_fit_the_working_hours_and_never_collide() {
        for index in [0, 18, 19, 37, 38, 1_000_003] {
            for base in [PGBENCH_CLINIC_SLOTS_FROM, API_CLINIC_SLOTS_FROM] {
                let at = clinic_slot(base, index);
                let minute = at.hour() * 60 + at.minute();
                assert!((6 * 60..=19 * 60 - 30).contains(&minute), "{at}");
            }
        }
        assert_eq!(
            clinic_slot(PGBENCH_CLINIC_SLOTS_FROM, 19).to_rfc3339(),
            "2030-01-02T06:00:00+00:00"
        );
        let clients = 16;
        let mut seen = HashSet::new();
        for index in 0..clients {
            for sequence in 1..=2_000 {
                let booking = api_clinic_booking(42, sequence * clients + index, 50);
                assert!(seen.insert(booking.clone()), "{booking:?} twice");
            }
        }
    }
}
