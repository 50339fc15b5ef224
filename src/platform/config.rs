//! Every setting, read once from environment variables, with defaults that work on a
//! developer machine. Production mode (`CRM_ENV=production`) refuses the defaults that
//! are only safe locally.

use std::{fmt, net::SocketAddr, time::Duration};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

/// A value that must never reach a log line.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where the server runs: development tolerates local defaults, production does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

/// Log output: readable text for people, JSON lines for log pipelines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub environment: Environment,
    pub bind: SocketAddr,
    /// Owner connection: creates the database, runs migrations, manages the app role.
    pub database_url: Secret,
    /// The login role requests run as (never the owner, never a superuser).
    pub app_role: String,
    pub app_password: Secret,
    /// The login role the job host claims cross-tenant work as (`CRM_WORKER_ROLE`,
    /// default `crm_job_host`): a member of `crm_worker` only, never of `crm_api`.
    pub worker_role: String,
    pub worker_password: Secret,
    pub pool_size: usize,
    pub pool_wait_timeout: Duration,
    /// Pooled connections one tenant may hold at once (`CRM_TENANT_MAX_CONNECTIONS`,
    /// default a quarter of the pool, at least 2, at most the pool).
    pub tenant_max_connections: usize,
    /// How many of those may run text searches at once (`CRM_TENANT_MAX_SEARCHES`,
    /// default half of them, at least 1).
    pub tenant_max_searches: usize,
    /// How long a tenant's request waits for one of its slots before a 429
    /// (`CRM_TENANT_QUEUE_MS`, default 250).
    pub tenant_queue_wait: Duration,
    pub statement_timeout: Duration,
    pub jwt: JwtConfig,
    pub log_format: LogFormat,
    /// Concurrent argon2 computations; the rest wait their turn.
    pub password_hashing_concurrency: usize,
    /// The switchable modules served (`CRM_MODULES`: comma-separated names, `none`;
    /// default all). The module registry checks the names when the server is built.
    pub modules: ModuleSelection,
    /// Whether `crm serve` also runs the job host in-process (`CRM_RUN_WORKER`,
    /// default true); deployments that run `crm worker` apart turn it off.
    pub run_worker: bool,
    /// How long a request waits for an argon2 slot before a 503.
    pub password_hashing_wait: Duration,
    /// The key passwords are peppered with before hashing (`CRM_PASSWORD_PEPPER`,
    /// `<id>:<secret>`); required in production.
    pub password_pepper: Pepper,
    /// Retired peppers that still verify older hashes (`CRM_PASSWORD_PEPPERS_RETIRED`,
    /// comma-separated `<id>:<secret>`).
    pub password_peppers_retired: Vec<Pepper>,
    /// True when no pepper was configured and the development one is used.
    pub password_pepper_is_default: bool,
    /// Where the application pool connects (PgBouncer); defaults to DATABASE_URL.
    /// Without a database name, DATABASE_URL's is used. The user and password are
    /// always the app role's.
    pub app_database_url: Option<Secret>,
    /// Behind PgBouncer in transaction mode: no named statements kept across
    /// transactions, and timeouts set inside each transaction instead of at connect.
    pub pgbouncer: bool,
    pub http: HttpConfig,
    pub rate_limit: RateLimitConfig,
    /// Shares rate limits between instances; in memory when unset.
    pub redis_url: Option<Secret>,
    /// When set, `/metrics` requires `Authorization: Bearer <token>`.
    pub metrics_token: Option<Secret>,
    pub mail: MailConfig,
    /// The SMS provider; without one, text messages go to the log.
    pub sms: Option<SmsConfig>,
    pub webhooks: WebhookConfig,
    /// How long set-up waits for another session's migration lock before giving up
    /// and naming the holder (`CRM_MIGRATION_LOCK_TIMEOUT_MS`, default 60 s).
    pub migration_lock_timeout: Duration,
    /// Bounds set on the application role itself, so they hold for every session of
    /// it, also those the server does not open.
    pub app_role_bounds: RoleBounds,
}

/// Role-level bounds of the application role (`ALTER ROLE`, applied at set-up).
#[derive(Clone, Copy, Debug)]
pub struct RoleBounds {
    /// The role's default `statement_timeout` (`CRM_APP_ROLE_STATEMENT_TIMEOUT_MS`,
    /// default 5 s); its `idle_in_transaction_session_timeout` is twice that.
    pub statement_timeout: Duration,
    /// `CONNECTION LIMIT` across all instances (`CRM_APP_CONNECTION_LIMIT`, default
    /// four instances: 4 × (`CRM_POOL_SIZE` + the readiness probe's connection); at
    /// least one instance).
    pub connection_limit: i32,
}

impl RoleBounds {
    pub fn idle_in_transaction_timeout(&self) -> Duration {
        self.statement_timeout * 2
    }
}

/// Outbound webhooks.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// Networks deliveries may reach although they are not public
    /// (`CRM_WEBHOOK_ALLOWED_NETWORKS`, comma-separated CIDRs or addresses; default
    /// none): on-premise receivers, and the tests' loopback receivers.
    pub allowed_networks: Vec<ipnet::IpNet>,
    /// How long a delivery may take to connect (`CRM_WEBHOOK_CONNECT_TIMEOUT_MS`, 5 s;
    /// at most the whole delivery's).
    pub connect_timeout: Duration,
    /// How long a whole delivery may take (`CRM_WEBHOOK_TIMEOUT_MS`, 15 s; at most 60 s,
    /// well within the claim's lease).
    pub timeout: Duration,
    /// How long delivered and given-up messages, and their delivery log, are kept
    /// (`CRM_WEBHOOK_RETENTION_DAYS`, 30; at least 1).
    pub retention: Duration,
    /// Deliveries one worker host keeps in flight (`CRM_WEBHOOK_CONCURRENCY`, 32; 1 to
    /// 256). Lower bounds what deliveries take of a shared machine, at a steep cost in
    /// delivery rate and latency.
    pub concurrency: usize,
}

/// Outbound mail.
#[derive(Clone, Debug)]
pub struct MailConfig {
    /// The SMTP server (`CRM_SMTP_HOST`); without one, messages go to the log.
    pub smtp: Option<SmtpConfig>,
    /// The From of every message (`CRM_MAIL_FROM`, `Name <address>` or an address).
    pub from: lettre::message::Mailbox,
    /// Where people reach the service (`CRM_PUBLIC_URL`, default
    /// `http://127.0.0.1:8000`, no trailing slash): the base of the links in mail.
    pub public_url: String,
}

/// The SMS provider's HTTP API, in the widely used shape: a form POST of `To`, `From`
/// and `Body` with HTTP basic authentication, answered with the message's id.
#[derive(Clone, Debug)]
pub struct SmsConfig {
    /// The URL messages are posted to (`CRM_SMS_URL`, http:// or https://), such as a
    /// provider's `…/Accounts/<account>/Messages.json`.
    pub url: url::Url,
    /// The sender: a number in international form or an alphanumeric id
    /// (`CRM_SMS_FROM`).
    pub from: String,
    /// `CRM_SMS_USERNAME` (an account id) and `CRM_SMS_PASSWORD` (its token).
    pub username: String,
    pub password: Secret,
    /// How long one request may take (`CRM_SMS_TIMEOUT_MS`, 10 s; 1 ms to 60 s).
    pub timeout: Duration,
}

/// Where and how to reach the SMTP server.
#[derive(Clone, Debug)]
pub struct SmtpConfig {
    pub host: String,
    /// `CRM_SMTP_PORT`; by default 465 with `tls`, 587 otherwise.
    pub port: u16,
    pub tls: SmtpTls,
    /// `CRM_SMTP_USERNAME` and `CRM_SMTP_PASSWORD`, both or neither.
    pub credentials: Option<SmtpCredentials>,
}

/// How the SMTP connection is protected (`CRM_SMTP_TLS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text: only for a relay on loopback or a trusted network.
    None,
    /// STARTTLS, required (the connection fails rather than continue in plain text).
    StartTls,
    /// TLS from the first byte (implicit TLS, usually port 465).
    Tls,
}

/// SMTP AUTH credentials.
#[derive(Clone, Debug)]
pub struct SmtpCredentials {
    pub username: String,
    pub password: Secret,
}

/// A password pepper: a secret kept outside the database, named so it can be rotated.
#[derive(Clone, Debug)]
pub struct Pepper {
    /// Letters and digits; stored in front of each hash made with it.
    pub id: String,
    pub key: Secret,
}

/// The pepper of a development machine when none is configured: public, so refused in
/// production.
const DEVELOPMENT_PEPPER: &str = "dev:development-pepper-not-a-secret-0f3b7c1d9e";

fn pepper(name: &'static str, value: &str) -> Result<Pepper, ConfigError> {
    let Some((id, key)) = value.trim().split_once(':') else {
        return Err(invalid(name, "expected <id>:<secret>"));
    };
    if id.is_empty() || id.len() > 16 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(invalid(name, "the id is 1 to 16 letters or digits"));
    }
    if key.len() < MIN_SECRET_BYTES {
        return Err(invalid(
            name,
            format!("use at least {MIN_SECRET_BYTES} bytes of random data"),
        ));
    }
    Ok(Pepper {
        id: id.to_owned(),
        key: Secret::new(key),
    })
}

/// `CRM_MODULES`: absent means every switchable module, `none` means none, otherwise
/// a comma-separated list of module names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModuleSelection {
    All,
    Listed(Vec<String>),
}

impl ModuleSelection {
    pub fn parse(value: Option<&str>) -> Self {
        match value.map(str::trim) {
            None => Self::All,
            Some("none") => Self::Listed(Vec::new()),
            Some(list) => Self::Listed(
                list.split(',')
                    .map(str::trim)
                    .filter(|name| !name.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
        }
    }
}

/// Limits of the HTTP layer.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    /// How long a client has to send a request's head, counted from when the
    /// connection waits for one (`CRM_HEADER_READ_TIMEOUT_MS`, default 10000).
    pub header_read_timeout: Duration,
    /// How long a connection may carry no byte either way before it is closed
    /// (`CRM_IDLE_TIMEOUT_MS`, default 60000).
    pub idle_timeout: Duration,
    /// How long in-flight requests may run on after SIGTERM (after the drain).
    pub shutdown_timeout: Duration,
    /// How long after SIGTERM the server still accepts and serves while `/ready`
    /// fails, so a load balancer polling it stops sending first
    /// (`CRM_SHUTDOWN_DRAIN_SECS`, default 0: Kubernetes' preStop pause does this).
    pub shutdown_drain: Duration,
    /// Allowed CORS origins; empty means no cross-origin access.
    pub cors_origins: Vec<String>,
    pub cors_allow_credentials: bool,
}

/// Rate-limit quotas, each per `window`; 0 switches one off.
#[derive(Clone, Debug)]
pub struct RateLimitConfig {
    pub window: Duration,
    /// Unauthenticated API requests (login, signup, refresh, bad tokens) per client IP.
    pub ip: u32,
    pub user: u32,
    pub tenant: u32,
    /// Failed logins per client IP and, separately, per email.
    pub login_failures: u32,
    /// Proxies in front of the server that append to `X-Forwarded-For`; 0 trusts none.
    pub trusted_proxy_hops: usize,
    /// Prefix of every Redis key.
    pub key_prefix: String,
}

#[derive(Clone, Debug)]
pub struct JwtConfig {
    pub secret: Secret,
    /// True when no secret was configured and one was generated for this process.
    pub generated: bool,
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("{name} must be set when CRM_ENV=production")]
    RequiredInProduction { name: &'static str },
}

const MIN_SECRET_BYTES: usize = 32;
const WELL_KNOWN_SECRETS: &[&str] = &["secret", "changeme", "change-me", "password", "jwt-secret"];

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, so tests can supply their own values.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty());
        let environment = match var("CRM_ENV").as_deref() {
            None | Some("development") => Environment::Development,
            Some("production") => Environment::Production,
            Some(other) => {
                return Err(invalid(
                    "CRM_ENV",
                    format!("expected development or production, got {other:?}"),
                ));
            }
        };
        let production = environment == Environment::Production;
        let required = |name: &'static str| -> Result<Option<String>, ConfigError> {
            match var(name) {
                None if production => Err(ConfigError::RequiredInProduction { name }),
                value => Ok(value),
            }
        };

        let database_url = required("DATABASE_URL")?
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/crm".to_owned());
        let app_password = required("CRM_APP_PASSWORD")?.unwrap_or_else(|| "crm_app".to_owned());
        let worker_password =
            required("CRM_WORKER_PASSWORD")?.unwrap_or_else(|| "crm_job_host".to_owned());
        let jwt_secret = required("CRM_JWT_SECRET")?;
        let pool_size: usize = parse(&var, "CRM_POOL_SIZE", "16")?;
        let share = tenant_max_connections(&var, pool_size)?;

        let config = Self {
            environment,
            bind: parse(&var, "CRM_BIND", "127.0.0.1:8000")?,
            database_url: Secret::new(database_url),
            app_role: role_name(var("CRM_APP_ROLE").unwrap_or_else(|| "crm_app".to_owned()))?,
            app_password: Secret::new(app_password),
            worker_role: role_name(
                var("CRM_WORKER_ROLE").unwrap_or_else(|| "crm_job_host".to_owned()),
            )?,
            worker_password: Secret::new(worker_password),
            pool_size,
            pool_wait_timeout: Duration::from_millis(parse(&var, "CRM_POOL_TIMEOUT_MS", "5000")?),
            tenant_max_connections: share,
            tenant_max_searches: tenant_max_searches(&var, share)?,
            tenant_queue_wait: millis(&var, "CRM_TENANT_QUEUE_MS", "250")?,
            statement_timeout: Duration::from_millis(parse(
                &var,
                "CRM_STATEMENT_TIMEOUT_MS",
                "5000",
            )?),
            jwt: JwtConfig {
                generated: jwt_secret.is_none(),
                secret: jwt_secret.map_or_else(|| Ok(generated_secret()), checked_secret)?,
                issuer: var("CRM_JWT_ISSUER").unwrap_or_else(|| "crm".to_owned()),
                audience: var("CRM_JWT_AUDIENCE").unwrap_or_else(|| "crm-api".to_owned()),
                access_ttl: Duration::from_secs(parse(&var, "CRM_ACCESS_TOKEN_TTL_SECS", "900")?),
                refresh_ttl: Duration::from_secs(parse(
                    &var,
                    "CRM_REFRESH_TOKEN_TTL_SECS",
                    "2592000",
                )?),
            },
            log_format: match var("CRM_LOG_FORMAT").as_deref() {
                None if production => LogFormat::Json,
                None | Some("text") => LogFormat::Text,
                Some("json") => LogFormat::Json,
                Some(other) => {
                    return Err(invalid(
                        "CRM_LOG_FORMAT",
                        format!("expected text or json, got {other:?}"),
                    ));
                }
            },
            password_hashing_concurrency: parse(&var, "CRM_PASSWORD_HASHING_CONCURRENCY", "2")?,
            modules: ModuleSelection::parse(var("CRM_MODULES").as_deref()),
            run_worker: parse(&var, "CRM_RUN_WORKER", "true")?,
            password_hashing_wait: millis(&var, "CRM_PASSWORD_HASHING_WAIT_MS", "5000")?,
            password_pepper_is_default: var("CRM_PASSWORD_PEPPER").is_none(),
            password_pepper: pepper(
                "CRM_PASSWORD_PEPPER",
                &required("CRM_PASSWORD_PEPPER")?.unwrap_or_else(|| DEVELOPMENT_PEPPER.to_owned()),
            )?,
            password_peppers_retired: var("CRM_PASSWORD_PEPPERS_RETIRED")
                .unwrap_or_default()
                .split(',')
                .filter(|item| !item.trim().is_empty())
                .map(|item| pepper("CRM_PASSWORD_PEPPERS_RETIRED", item))
                .collect::<Result<_, _>>()?,
            app_database_url: var("CRM_APP_DATABASE_URL").map(Secret::new),
            pgbouncer: parse(&var, "CRM_PGBOUNCER", "false")?,
            http: http_config(&var, production)?,
            rate_limit: RateLimitConfig {
                window: Duration::from_secs(parse(&var, "CRM_RATE_LIMIT_WINDOW_SECS", "60")?),
                ip: parse(&var, "CRM_RATE_LIMIT_IP", "300")?,
                user: parse(&var, "CRM_RATE_LIMIT_USER", "1200")?,
                tenant: parse(&var, "CRM_RATE_LIMIT_TENANT", "6000")?,
                login_failures: parse(&var, "CRM_RATE_LIMIT_LOGIN_FAILURES", "10")?,
                trusted_proxy_hops: parse(&var, "CRM_TRUSTED_PROXY_HOPS", "0")?,
                key_prefix: var("CRM_RATE_LIMIT_PREFIX").unwrap_or_else(|| "crm:rl".to_owned()),
            },
            redis_url: var("CRM_REDIS_URL").map(Secret::new),
            metrics_token: var("CRM_METRICS_TOKEN").map(Secret::new),
            mail: mail_config(&var)?,
            sms: sms_config(&var)?,
            webhooks: webhook_config(&var)?,
            migration_lock_timeout: millis(&var, "CRM_MIGRATION_LOCK_TIMEOUT_MS", "60000")?,
            app_role_bounds: role_bounds(&var, pool_size)?,
        };
        config.statements_end_within_the_grace()?;
        Ok(config)
    }

    /// Behind a transaction pooler no statement is cancelled at a deadline (see
    /// `platform::db`'s settle): those in flight at a stop must end, by their
    /// statement timeout, within the shutdown grace, with the 2 s kept for answering.
    fn statements_end_within_the_grace(&self) -> Result<(), ConfigError> {
        let needed = self.statement_timeout + Duration::from_secs(2);
        if self.pgbouncer && self.http.shutdown_timeout < needed {
            return Err(invalid(
                "CRM_SHUTDOWN_TIMEOUT_SECS",
                format!(
                    "behind a transaction pooler (CRM_PGBOUNCER=true) it must exceed \
                     CRM_STATEMENT_TIMEOUT_MS by 2 s ({} s at least), so that statements \
                     in flight at a stop end and are answered within it",
                    needed.as_secs_f64().ceil()
                ),
            ));
        }
        Ok(())
    }
}

fn role_bounds(
    var: &impl Fn(&'static str) -> Option<String>,
    pool_size: usize,
) -> Result<RoleBounds, ConfigError> {
    let statement_timeout = millis(var, "CRM_APP_ROLE_STATEMENT_TIMEOUT_MS", "5000")?;
    if statement_timeout.is_zero() {
        return Err(invalid(
            "CRM_APP_ROLE_STATEMENT_TIMEOUT_MS",
            "0 would leave the role without a timeout",
        ));
    }
    // An instance holds its pool and the readiness probe's connection.
    let per_instance = pool_size + 1;
    let default_limit = (per_instance * 4).to_string();
    let connection_limit: i32 = parse(var, "CRM_APP_CONNECTION_LIMIT", &default_limit)?;
    if usize::try_from(connection_limit).map_or(true, |limit| limit < per_instance) {
        return Err(invalid(
            "CRM_APP_CONNECTION_LIMIT",
            format!(
                "{connection_limit} cannot hold one instance \
                 (CRM_POOL_SIZE = {pool_size}, and the readiness probe's connection)"
            ),
        ));
    }
    Ok(RoleBounds {
        statement_timeout,
        connection_limit,
    })
}

fn mail_config(var: &impl Fn(&'static str) -> Option<String>) -> Result<MailConfig, ConfigError> {
    let raw_from = var("CRM_MAIL_FROM").unwrap_or_else(|| "CRM <crm@localhost>".to_owned());
    let from = raw_from.trim().parse().map_err(|err| {
        invalid(
            "CRM_MAIL_FROM",
            format!("{raw_from:?} is not an address like CRM <crm@example.com>: {err}"),
        )
    })?;
    let public_url = var("CRM_PUBLIC_URL")
        .unwrap_or_else(|| "http://127.0.0.1:8000".to_owned())
        .trim()
        .trim_end_matches('/')
        .to_owned();
    if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
        return Err(invalid(
            "CRM_PUBLIC_URL",
            format!("{public_url:?} is not an http:// or https:// URL"),
        ));
    }
    let Some(host) = var("CRM_SMTP_HOST").map(|host| host.trim().to_owned()) else {
        return Ok(MailConfig {
            smtp: None,
            from,
            public_url,
        });
    };
    let tls = match var("CRM_SMTP_TLS").as_deref().map(str::trim) {
        None | Some("starttls") => SmtpTls::StartTls,
        Some("tls") => SmtpTls::Tls,
        Some("none") => SmtpTls::None,
        Some(other) => {
            return Err(invalid(
                "CRM_SMTP_TLS",
                format!("expected none, starttls or tls, got {other:?}"),
            ));
        }
    };
    let default_port = if tls == SmtpTls::Tls { "465" } else { "587" };
    let credentials = match (var("CRM_SMTP_USERNAME"), var("CRM_SMTP_PASSWORD")) {
        (None, None) => None,
        (Some(username), Some(password)) => Some(SmtpCredentials {
            username,
            password: Secret::new(password),
        }),
        (Some(_), None) => {
            return Err(invalid(
                "CRM_SMTP_PASSWORD",
                "set it with CRM_SMTP_USERNAME",
            ));
        }
        (None, Some(_)) => {
            return Err(invalid(
                "CRM_SMTP_USERNAME",
                "set it with CRM_SMTP_PASSWORD",
            ));
        }
    };
    Ok(MailConfig {
        smtp: Some(SmtpConfig {
            host,
            port: parse(var, "CRM_SMTP_PORT", default_port)?,
            tls,
            credentials,
        }),
        from,
        public_url,
    })
}

fn sms_config(
    var: &impl Fn(&'static str) -> Option<String>,
) -> Result<Option<SmsConfig>, ConfigError> {
    let Some(raw_url) = var("CRM_SMS_URL") else {
        return Ok(None);
    };
    let url = url::Url::parse(raw_url.trim())
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
        .ok_or_else(|| invalid("CRM_SMS_URL", format!("{raw_url:?} is not an http(s) URL")))?;
    let needed = |name: &'static str| {
        var(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
            .ok_or_else(|| invalid(name, "must be set with CRM_SMS_URL"))
    };
    let timeout = millis(var, "CRM_SMS_TIMEOUT_MS", "10000")?;
    if timeout.is_zero() || timeout > Duration::from_secs(60) {
        return Err(invalid("CRM_SMS_TIMEOUT_MS", "must be 1 to 60000"));
    }
    Ok(Some(SmsConfig {
        url,
        from: needed("CRM_SMS_FROM")?,
        username: needed("CRM_SMS_USERNAME")?,
        password: Secret::new(needed("CRM_SMS_PASSWORD")?),
        timeout,
    }))
}

/// `CRM_TENANT_MAX_CONNECTIONS`: 1 to the pool size; by default a quarter of the
/// pool (at least 2), so one tenant leaves most of it to the others.
fn tenant_max_searches(
    var: &impl Fn(&'static str) -> Option<String>,
    share: usize,
) -> Result<usize, ConfigError> {
    let default = (share / 2).max(1).to_string();
    let searches: usize = parse(var, "CRM_TENANT_MAX_SEARCHES", &default)?;
    if (1..=share).contains(&searches) {
        Ok(searches)
    } else {
        Err(invalid(
            "CRM_TENANT_MAX_SEARCHES",
            format!("must be between 1 and the tenant's share of the pool ({share})"),
        ))
    }
}

fn tenant_max_connections(
    var: &impl Fn(&'static str) -> Option<String>,
    pool_size: usize,
) -> Result<usize, ConfigError> {
    let default = (pool_size / 4).max(2).min(pool_size).to_string();
    let share: usize = parse(var, "CRM_TENANT_MAX_CONNECTIONS", &default)?;
    if (1..=pool_size).contains(&share) {
        Ok(share)
    } else {
        Err(invalid(
            "CRM_TENANT_MAX_CONNECTIONS",
            format!("must be between 1 and CRM_POOL_SIZE ({pool_size})"),
        ))
    }
}

fn millis(
    var: &impl Fn(&'static str) -> Option<String>,
    name: &'static str,
    default: &str,
) -> Result<Duration, ConfigError> {
    Ok(Duration::from_millis(parse(var, name, default)?))
}

/// Whole days, at least one.
fn days(
    var: &impl Fn(&'static str) -> Option<String>,
    name: &'static str,
    default: &str,
) -> Result<Duration, ConfigError> {
    match parse::<u64>(var, name, default)? {
        0 => Err(invalid(name, "must be at least 1 (day)")),
        days => Ok(Duration::from_secs(days.saturating_mul(86_400))),
    }
}

fn http_config(
    var: &impl Fn(&'static str) -> Option<String>,
    production: bool,
) -> Result<HttpConfig, ConfigError> {
    let cors_origins: Vec<String> = var("CRM_CORS_ORIGINS")
        .unwrap_or_default()
        .split(',')
        .map(|origin| origin.trim().trim_end_matches('/').to_owned())
        .filter(|origin| !origin.is_empty())
        .collect();
    let cors_allow_credentials = parse(var, "CRM_CORS_ALLOW_CREDENTIALS", "false")?;
    let wildcard = cors_origins.iter().any(|origin| origin == "*");
    if wildcard && production {
        return Err(invalid(
            "CRM_CORS_ORIGINS",
            "a wildcard origin is refused in production; list the origins",
        ));
    }
    if wildcard && cors_allow_credentials {
        return Err(invalid(
            "CRM_CORS_ORIGINS",
            "a wildcard origin cannot be combined with CRM_CORS_ALLOW_CREDENTIALS",
        ));
    }
    if let Some(bad) = cors_origins
        .iter()
        .find(|o| *o != "*" && !(o.starts_with("https://") || o.starts_with("http://")))
    {
        return Err(invalid(
            "CRM_CORS_ORIGINS",
            format!("{bad:?} is not an origin like https://app.example.com"),
        ));
    }
    Ok(HttpConfig {
        max_body_bytes: parse(var, "CRM_MAX_BODY_BYTES", "1048576")?,
        request_timeout: millis(var, "CRM_REQUEST_TIMEOUT_MS", "30000")?,
        header_read_timeout: millis(var, "CRM_HEADER_READ_TIMEOUT_MS", "10000")?,
        idle_timeout: millis(var, "CRM_IDLE_TIMEOUT_MS", "60000")?,
        shutdown_timeout: Duration::from_secs(parse(var, "CRM_SHUTDOWN_TIMEOUT_SECS", "30")?),
        shutdown_drain: Duration::from_secs(parse(var, "CRM_SHUTDOWN_DRAIN_SECS", "0")?),
        cors_origins,
        cors_allow_credentials,
    })
}

fn webhook_config(
    var: &impl Fn(&'static str) -> Option<String>,
) -> Result<WebhookConfig, ConfigError> {
    let allowed_networks = var("CRM_WEBHOOK_ALLOWED_NETWORKS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|net| !net.is_empty())
        .map(|net| {
            net.parse::<ipnet::IpNet>()
                .or_else(|_| net.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    invalid(
                        "CRM_WEBHOOK_ALLOWED_NETWORKS",
                        format!("{net:?} is neither a network (10.0.0.0/8) nor an address"),
                    )
                })
        })
        .collect::<Result<_, _>>()?;
    let connect_timeout = millis(var, "CRM_WEBHOOK_CONNECT_TIMEOUT_MS", "5000")?;
    let timeout = millis(var, "CRM_WEBHOOK_TIMEOUT_MS", "15000")?;
    if timeout.is_zero() || timeout > MAX_WEBHOOK_TIMEOUT {
        return Err(invalid(
            "CRM_WEBHOOK_TIMEOUT_MS",
            "must be 1 to 60000: a delivery must end well within the claim's 2-minute \
             lease, or another worker sends the message at the same time",
        ));
    }
    if connect_timeout.is_zero() || connect_timeout > timeout {
        return Err(invalid(
            "CRM_WEBHOOK_CONNECT_TIMEOUT_MS",
            "must be at least 1 and at most CRM_WEBHOOK_TIMEOUT_MS",
        ));
    }
    Ok(WebhookConfig {
        allowed_networks,
        connect_timeout,
        timeout,
        retention: days(var, "CRM_WEBHOOK_RETENTION_DAYS", "30")?,
        concurrency: match parse::<usize>(var, "CRM_WEBHOOK_CONCURRENCY", "32")? {
            concurrency @ 1..=256 => concurrency,
            _ => return Err(invalid("CRM_WEBHOOK_CONCURRENCY", "must be 1 to 256")),
        },
    })
}

/// The longest a whole delivery may take: half the claim's lease (webhooks V15).
const MAX_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(60);

fn invalid(name: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name,
        reason: reason.into(),
    }
}

fn parse<T: std::str::FromStr>(
    var: &impl Fn(&'static str) -> Option<String>,
    name: &'static str,
    default: &str,
) -> Result<T, ConfigError>
where
    T::Err: fmt::Display,
{
    let raw = var(name).unwrap_or_else(|| default.to_owned());
    raw.trim()
        .parse()
        .map_err(|e| invalid(name, format!("{raw:?}: {e}")))
}

/// Role names are interpolated into DDL (quoted), so only plain identifiers are accepted.
fn role_name(name: String) -> Result<String, ConfigError> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(name)
    } else {
        Err(invalid(
            "CRM_APP_ROLE",
            "use lowercase letters, digits and _ (at most 63)",
        ))
    }
}

fn checked_secret(secret: String) -> Result<Secret, ConfigError> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(invalid(
            "CRM_JWT_SECRET",
            format!("use at least {MIN_SECRET_BYTES} bytes of random data"),
        ));
    }
    let lowered = secret.to_ascii_lowercase();
    let first = secret.chars().next();
    let repetitive = secret.chars().all(|c| Some(c) == first);
    if repetitive
        || WELL_KNOWN_SECRETS
            .iter()
            .any(|known| lowered.contains(known))
    {
        return Err(invalid(
            "CRM_JWT_SECRET",
            "this value is well known or trivially guessable",
        ));
    }
    Ok(Secret::new(secret))
}

fn generated_secret() -> Secret {
    let mut bytes = [0u8; 48];
    OsRng.fill_bytes(&mut bytes);
    Secret::new(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn defaults_work_locally_and_generate_a_jwt_secret() {
        let config = config(&[]).expect("defaults are valid");
        assert_eq!(config.bind.to_string(), "127.0.0.1:8000");
        assert_eq!(config.app_role, "crm_app");
        assert!(config.jwt.generated);
        assert!(config.jwt.secret.expose().len() >= MIN_SECRET_BYTES);
    }

    #[test]
    fn behind_a_pooler_statements_must_end_within_the_shutdown_grace() {
        let pooled = [
            ("CRM_PGBOUNCER", "true"),
            ("CRM_STATEMENT_TIMEOUT_MS", "5000"),
        ];
        config(&pooled).expect("the defaults leave 30 s");
        let short = [pooled.as_slice(), &[("CRM_SHUTDOWN_TIMEOUT_SECS", "6")]].concat();
        let err = config(&short).expect_err("5 s statements, 6 s grace");
        assert!(
            err.to_string().contains("CRM_SHUTDOWN_TIMEOUT_SECS"),
            "{err}"
        );
        let direct = [
            ("CRM_SHUTDOWN_TIMEOUT_SECS", "6"),
            ("CRM_STATEMENT_TIMEOUT_MS", "5000"),
        ];
        config(&direct).expect("a direct pool cancels at the deadline");
    }

    #[test]
    fn webhook_timeouts_end_a_delivery_within_its_lease() {
        let webhooks = config(&[]).expect("defaults").webhooks;
        assert_eq!(
            (webhooks.connect_timeout, webhooks.timeout),
            (Duration::from_secs(5), Duration::from_secs(15))
        );
        for (vars, named) in [
            (
                &[("CRM_WEBHOOK_TIMEOUT_MS", "0")][..],
                "CRM_WEBHOOK_TIMEOUT_MS",
            ),
            (
                &[("CRM_WEBHOOK_TIMEOUT_MS", "120000")],
                "CRM_WEBHOOK_TIMEOUT_MS",
            ),
            (
                &[("CRM_WEBHOOK_CONNECT_TIMEOUT_MS", "0")],
                "CRM_WEBHOOK_CONNECT_TIMEOUT_MS",
            ),
            (
                &[("CRM_WEBHOOK_CONNECT_TIMEOUT_MS", "20000")],
                "CRM_WEBHOOK_CONNECT_TIMEOUT_MS",
            ),
        ] {
            let err = config(vars).expect_err(named);
            assert!(err.to_string().contains(named), "{err}");
        }
        config(&[("CRM_WEBHOOK_TIMEOUT_MS", "60000")]).expect("at the bound");
    }

    #[test]
    fn webhook_concurrency_is_bounded() {
        assert_eq!(config(&[]).expect("defaults").webhooks.concurrency, 32);
        for value in ["0", "257", "-1"] {
            let err = config(&[("CRM_WEBHOOK_CONCURRENCY", value)]).expect_err(value);
            assert!(err.to_string().contains("CRM_WEBHOOK_CONCURRENCY"), "{err}");
        }
        let one = config(&[("CRM_WEBHOOK_CONCURRENCY", "1")]).expect("one at a time");
        assert_eq!(one.webhooks.concurrency, 1);
    }

    #[test]
    fn the_app_role_is_bounded_by_default_and_never_unbounded() {
        let bounds = config(&[("CRM_POOL_SIZE", "10")])
            .expect("defaults")
            .app_role_bounds;
        assert_eq!(
            bounds.connection_limit, 44,
            "four instances' pools and probes"
        );
        assert_eq!(bounds.statement_timeout, Duration::from_secs(5));
        assert_eq!(
            bounds.idle_in_transaction_timeout(),
            Duration::from_secs(10)
        );
        for (name, value) in [
            ("CRM_APP_CONNECTION_LIMIT", "10"),
            ("CRM_APP_CONNECTION_LIMIT", "-1"),
            ("CRM_APP_CONNECTION_LIMIT", "3000000000"),
            ("CRM_APP_ROLE_STATEMENT_TIMEOUT_MS", "0"),
        ] {
            let err = config(&[("CRM_POOL_SIZE", "10"), (name, value)]).expect_err(value);
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn a_tenant_gets_a_quarter_of_the_pool_by_default_and_at_most_all_of_it() {
        let share = |vars: &[(&str, &str)]| config(vars).map(|c| c.tenant_max_connections);
        assert_eq!(share(&[]).expect("default"), 4);
        assert_eq!(share(&[("CRM_POOL_SIZE", "4")]).expect("small pool"), 2);
        assert_eq!(share(&[("CRM_POOL_SIZE", "1")]).expect("one connection"), 1);
        let err = share(&[("CRM_POOL_SIZE", "4"), ("CRM_TENANT_MAX_CONNECTIONS", "5")])
            .expect_err("over the pool");
        assert!(
            err.to_string().contains("CRM_TENANT_MAX_CONNECTIONS"),
            "{err}"
        );
    }

    #[test]
    fn short_or_well_known_jwt_secrets_are_refused() {
        for secret in [
            "short",
            "changeme-changeme-changeme-changeme",
            &"a".repeat(40),
        ] {
            let err = config(&[("CRM_JWT_SECRET", secret)]).expect_err(secret);
            assert!(err.to_string().contains("CRM_JWT_SECRET"), "{err}");
        }
    }

    #[test]
    fn production_requires_explicit_secrets() {
        let err = config(&[("CRM_ENV", "production")]).expect_err("defaults refused");
        assert!(matches!(
            err,
            ConfigError::RequiredInProduction {
                name: "DATABASE_URL"
            }
        ));
    }

    #[test]
    fn production_refuses_a_wildcard_cors_origin() {
        let production = [
            ("CRM_ENV", "production"),
            ("DATABASE_URL", "postgres://owner:pw@db/crm"),
            ("CRM_APP_PASSWORD", "app-password"),
            ("CRM_WORKER_PASSWORD", "worker-password"),
            ("CRM_JWT_SECRET", "f1d2c3b4a5968778695a4b3c2d1e0f1234567890"),
            (
                "CRM_PASSWORD_PEPPER",
                "1:9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d",
            ),
        ];
        let mut wildcard = production.to_vec();
        wildcard.push(("CRM_CORS_ORIGINS", "*"));
        let err = config(&wildcard).expect_err("wildcard refused");
        assert!(err.to_string().contains("CRM_CORS_ORIGINS"), "{err}");
        let mut listed = production.to_vec();
        listed.push((
            "CRM_CORS_ORIGINS",
            "https://app.example.com/, https://admin.example.com",
        ));
        let config = config(&listed).expect("listed origins");
        assert_eq!(
            config.http.cors_origins,
            ["https://app.example.com", "https://admin.example.com"]
        );
    }

    #[test]
    fn wildcard_cors_with_credentials_is_refused() {
        let err = config(&[
            ("CRM_CORS_ORIGINS", "*"),
            ("CRM_CORS_ALLOW_CREDENTIALS", "true"),
        ])
        .expect_err("refused");
        assert!(
            err.to_string().contains("CRM_CORS_ALLOW_CREDENTIALS"),
            "{err}"
        );
    }

    #[test]
    fn role_names_must_be_plain_identifiers() {
        assert!(config(&[("CRM_APP_ROLE", "crm_app; DROP TABLE x")]).is_err());
        assert!(config(&[("CRM_APP_ROLE", "tenant_app2")]).is_ok());
    }

    #[test]
    fn mail_goes_to_the_log_unless_an_smtp_host_is_set() {
        let local = config(&[]).expect("defaults are valid");
        assert!(local.mail.smtp.is_none());
        assert_eq!(local.mail.from.email.to_string(), "crm@localhost");
        assert_eq!(local.mail.public_url, "http://127.0.0.1:8000");
        let public = config(&[("CRM_PUBLIC_URL", "https://crm.example.com/")]).expect("valid");
        assert_eq!(
            public.mail.public_url, "https://crm.example.com",
            "no trailing slash"
        );

        let smtp = config(&[
            ("CRM_SMTP_HOST", "smtp.example.com"),
            ("CRM_SMTP_TLS", "tls"),
            ("CRM_SMTP_USERNAME", "crm"),
            ("CRM_SMTP_PASSWORD", "smtp-password"),
            ("CRM_MAIL_FROM", "Acme CRM <noreply@acme.example>"),
        ])
        .expect("valid");
        let server = smtp.mail.smtp.as_ref().expect("an SMTP server");
        assert_eq!(
            (server.host.as_str(), server.port, server.tls),
            ("smtp.example.com", 465, SmtpTls::Tls)
        );
        assert!(!format!("{smtp:?}").contains("smtp-password"));
        let starttls = config(&[("CRM_SMTP_HOST", "smtp.example.com")]).expect("valid");
        let server = starttls.mail.smtp.expect("an SMTP server");
        assert_eq!((server.port, server.tls), (587, SmtpTls::StartTls));

        for (name, vars) in [
            (
                "CRM_SMTP_TLS",
                vec![("CRM_SMTP_HOST", "h"), ("CRM_SMTP_TLS", "ssl")],
            ),
            (
                "CRM_SMTP_PASSWORD",
                vec![("CRM_SMTP_HOST", "h"), ("CRM_SMTP_USERNAME", "u")],
            ),
            ("CRM_MAIL_FROM", vec![("CRM_MAIL_FROM", "not an address")]),
            (
                "CRM_PUBLIC_URL",
                vec![("CRM_PUBLIC_URL", "crm.example.com")],
            ),
        ] {
            let err = config(&vars).expect_err(name);
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let config = config(&[]).expect("defaults are valid");
        let printed = format!("{config:?}");
        assert!(!printed.contains(config.jwt.secret.expose()));
        assert!(!printed.contains("crm_app@") && printed.contains("Secret(***)"));
    }
}
