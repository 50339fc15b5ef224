//! Prometheus metrics, served as text at `/metrics`.
//!
//! The `prometheus` crate (TiKV) rather than `metrics` + an exporter: its registries
//! are plain values, so every server (and every test server in one process) owns
//! its own, with no global recorder to install or share.

use std::sync::LazyLock;

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

/// Database errors by SQLSTATE class, counted where errors are converted
/// ([`crate::platform::db::DbError`]), which knows no registry: one counter per process,
/// registered in every registry.
pub static DB_ERRORS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    IntCounterVec::new(
        Opts::new(
            "crm_db_errors_total",
            "Database errors by SQLSTATE class (first two characters; 'connection' without one).",
        ),
        &["class"],
    )
    .unwrap_or_else(|err| panic!("static metric definition: {err}"))
});

/// Statements the database could not serve, by cause (see
/// [`crate::platform::db::Outage`]), each answered 503; one counter per process,
/// registered in every registry.
pub static DB_UNAVAILABLE: LazyLock<IntCounterVec> = LazyLock::new(|| {
    IntCounterVec::new(
        Opts::new(
            "crm_db_unavailable_total",
            "Statements the database could not serve (answered 503), by cause: cannot_connect, \
             connection_lost, shutting_down, starting, read_only.",
        ),
        &["cause"],
    )
    .unwrap_or_else(|err| panic!("static metric definition: {err}"))
});

/// Rate-limit store (Redis) failures; requests are let through meanwhile.
pub static RATE_LIMIT_STORE_ERRORS: LazyLock<IntCounter> = LazyLock::new(|| {
    IntCounter::new(
        "crm_rate_limit_store_errors_total",
        "Failed calls to the shared rate-limit store (requests were allowed).",
    )
    .unwrap_or_else(|err| panic!("static metric definition: {err}"))
});

/// Webhook delivery attempts by outcome (`delivered`, `refused`: the receiver answered
/// but not 2xx, `unreachable`: no answer or an address webhooks may not reach).
pub static WEBHOOK_DELIVERIES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    IntCounterVec::new(
        Opts::new(
            "crm_webhook_deliveries_total",
            "Webhook delivery attempts, by outcome (delivered, refused, unreachable).",
        ),
        &["outcome"],
    )
    .unwrap_or_else(|err| panic!("static metric definition: {err}"))
});

/// The webhook queue across tenants (`pending`: neither delivered nor given up; `due`:
/// of those, due now), set by the worker's webhook upkeep job: one per process,
/// registered in every registry, so the process that runs the job host shows them.
pub static WEBHOOK_MESSAGES: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    IntGaugeVec::new(
        Opts::new(
            "crm_webhook_messages",
            "Webhook messages across tenants, by state (pending, due).",
        ),
        &["state"],
    )
    .unwrap_or_else(|err| panic!("static metric definition: {err}"))
});

/// How long the oldest due webhook message has waited since it was written.
pub static WEBHOOK_OLDEST_DUE: LazyLock<Gauge> = LazyLock::new(|| {
    Gauge::new(
        "crm_webhook_oldest_due_seconds",
        "Age of the oldest webhook message due for delivery (0 when none is).",
    )
    .unwrap_or_else(|err| panic!("static metric definition: {err}"))
});

/// Enabled webhook endpoints whose last attempt failed (each endpoint's streak is in
/// the API: `failing_since`, `consecutive_failures`).
pub static WEBHOOK_FAILING_ENDPOINTS: LazyLock<IntGauge> = LazyLock::new(|| {
    IntGauge::new(
        "crm_webhook_failing_endpoints",
        "Enabled webhook endpoints whose last delivery attempt failed.",
    )
    .unwrap_or_else(|err| panic!("static metric definition: {err}"))
});

/// Attempts to send outbound mail by outcome (`sent`, `failed`), counted by the
/// worker's mail job, which knows no registry: one counter per process, registered in
/// every registry.
pub static MAIL_DELIVERIES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    IntCounterVec::new(
        Opts::new(
            "crm_mail_deliveries_total",
            "Attempts to send outbound mail, by outcome (sent, failed).",
        ),
        &["outcome"],
    )
    .unwrap_or_else(|err| panic!("static metric definition: {err}"))
});

/// Attempts to send notifications by channel (`email`, `sms`) and outcome (`sent`,
/// `failed`), counted by the worker's notification job, like [`MAIL_DELIVERIES`].
pub static NOTIFICATION_SENDS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    IntCounterVec::new(
        Opts::new(
            "crm_notification_sends_total",
            "Attempts to send notifications, by channel (email, sms) and outcome (sent, failed).",
        ),
        &["channel", "outcome"],
    )
    .unwrap_or_else(|err| panic!("static metric definition: {err}"))
});

/// Counts one database error.
pub fn db_error(err: &tokio_postgres::Error) {
    let class = err
        .code()
        .map_or("connection", |code| code.code().get(..2).unwrap_or("??"));
    DB_ERRORS.with_label_values(&[class]).inc();
}

/// Counts one statement the database could not serve.
pub fn db_unavailable(cause: &'static str) {
    DB_UNAVAILABLE.with_label_values(&[cause]).inc();
}

pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub latency: HistogramVec,
    pub in_flight: IntGauge,
    pub rate_limited: IntCounterVec,
    pub login_failures: IntCounter,
    /// Every argon2 computation (hash or verify).
    pub password_hashes: IntCounter,
    pool_size: IntGauge,
    pool_available: IntGauge,
    pool_waiting: IntGauge,
    pool_max: IntGauge,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("crm_http_requests_total", "HTTP requests answered."),
            &["method", "route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "crm_http_request_duration_seconds",
                "Time to answer an HTTP request.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["method", "route", "status"],
        )?;
        let in_flight = IntGauge::new("crm_http_requests_in_flight", "Requests being served.")?;
        let rate_limited = IntCounterVec::new(
            Opts::new(
                "crm_rate_limited_total",
                "Requests refused by a rate limit, by policy.",
            ),
            &["policy"],
        )?;
        let login_failures = IntCounter::new("crm_login_failures_total", "Failed login attempts.")?;
        let password_hashes = IntCounter::new(
            "crm_password_hashes_total",
            "argon2 computations (hashing or verifying a password).",
        )?;
        let pool_size = IntGauge::new("crm_db_pool_size", "Open connections in the pool.")?;
        let pool_available = IntGauge::new(
            "crm_db_pool_available",
            "Idle connections ready for a checkout.",
        )?;
        let pool_waiting = IntGauge::new(
            "crm_db_pool_waiting",
            "Requests waiting for a pooled connection.",
        )?;
        let pool_max = IntGauge::new("crm_db_pool_max_size", "Largest size the pool may grow to.")?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(rate_limited.clone()))?;
        registry.register(Box::new(login_failures.clone()))?;
        registry.register(Box::new(password_hashes.clone()))?;
        registry.register(Box::new(pool_size.clone()))?;
        registry.register(Box::new(pool_available.clone()))?;
        registry.register(Box::new(pool_waiting.clone()))?;
        registry.register(Box::new(pool_max.clone()))?;
        registry.register(Box::new(DB_ERRORS.clone()))?;
        registry.register(Box::new(DB_UNAVAILABLE.clone()))?;
        registry.register(Box::new(RATE_LIMIT_STORE_ERRORS.clone()))?;
        registry.register(Box::new(MAIL_DELIVERIES.clone()))?;
        registry.register(Box::new(NOTIFICATION_SENDS.clone()))?;
        registry.register(Box::new(WEBHOOK_DELIVERIES.clone()))?;
        registry.register(Box::new(WEBHOOK_MESSAGES.clone()))?;
        registry.register(Box::new(WEBHOOK_OLDEST_DUE.clone()))?;
        registry.register(Box::new(WEBHOOK_FAILING_ENDPOINTS.clone()))?;
        Ok(Self {
            registry,
            requests,
            latency,
            in_flight,
            rate_limited,
            login_failures,
            password_hashes,
            pool_size,
            pool_available,
            pool_waiting,
            pool_max,
        })
    }

    /// The text exposition of every metric, with the pool gauges read now.
    pub fn render(&self, status: deadpool_postgres::Status) -> String {
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.pool_size.set(gauge(status.size));
        self.pool_available.set(gauge(status.available));
        self.pool_waiting.set(gauge(status.waiting));
        self.pool_max.set(gauge(status.max_size));
        let mut out = Vec::new();
        if let Err(err) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %err, "encoding metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}
