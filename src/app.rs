//! The composition root: builds the shared state, mounts the route table and runs the
//! HTTP host and the job host.

use std::{net::SocketAddr, sync::Arc};

use futures::FutureExt;
use poem::{
    EndpointExt, Route,
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
    middleware::{Cors, NormalizePath, TrailingSlash},
};
use poem_openapi::OpenApiService;

use crate::{
    http,
    jobs::{
        JobHost,
        mail::MailJob,
        notifications::{Channels, NotificationJob},
        webhooks::{WebhookJob, WebhookUpkeepJob},
    },
    modules::registry::{self, Apis},
    platform::{
        auth::{JwtKeys, PasswordHasher, Peppers},
        config::{self, Config},
        contract::{ClosedSet, Contract, ContractError},
        db::{self, Migrations, SetupError},
        deadline::Stopping,
        error::ApiError,
        lane::Lanes,
        limits,
        mail::{MailSetupError, Mailer},
        metrics,
        sms::{SmsSetupError, Texter},
        state::{AppState, SharedState},
        webhooks::Guard,
    },
};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Database(#[from] SetupError),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("CRM_MODULES is invalid: {0}")]
    Modules(String),
    #[error("cannot prepare password hashing: {0}")]
    Hasher(ApiError),
    #[error("cannot set up rate limits: {0}")]
    Limits(#[from] limits::LimitError),
    #[error("cannot set up metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error(transparent)]
    Mail(#[from] MailSetupError),
    #[error(transparent)]
    Sms(#[from] SmsSetupError),
    #[error("cannot finish the OpenAPI document: {0}")]
    Contract(#[from] ContractError),
    #[error("cannot set up the webhooks' HTTP client: {0}")]
    Webhooks(#[from] reqwest::Error),
}

/// The server, built and bound, ready to run: the HTTP host and, unless
/// `CRM_RUN_WORKER=false`, the job host in the same process.
pub struct Application {
    acceptor: TcpAcceptor,
    port: u16,
    state: SharedState,
    contract: Arc<Contract>,
    http: config::HttpConfig,
    production: bool,
    jobs: Option<JobHost>,
}

/// The job host alone (`crm worker`), for deployments that run workers apart.
pub struct Worker {
    state: SharedState,
    jobs: JobHost,
}

/// Prepares the database (as the owner), opens the application pool, verifies the
/// application role, and builds what every handler and job shares.
async fn build_state(config: &Config) -> Result<SharedState, StartError> {
    if config.jwt.generated {
        tracing::warn!(
            "CRM_JWT_SECRET is not set: using a random secret; tokens will not survive a restart"
        );
    }
    let modules = registry::served(&config.modules).map_err(StartError::Modules)?;
    db::prepare_database(config, registry::ALL).await?;
    let schema_version = Migrations::of(registry::ALL)?.latest();
    let signer = db::load_signer(config).await?;
    let db = db::app_pool(config, signer).await?;
    if config.password_pepper_is_default {
        tracing::warn!("CRM_PASSWORD_PEPPER is not set: using the public development pepper");
    }
    let metrics = metrics::Metrics::new()?;
    Ok(Arc::new(AppState {
        db,
        jwt: Arc::new(JwtKeys::new(&config.jwt)),
        hasher: PasswordHasher::new(
            config.password_hashing_concurrency,
            config.password_hashing_wait,
            Peppers::new(
                config.password_pepper.clone(),
                config.password_peppers_retired.clone(),
            ),
            metrics.password_hashes.clone(),
        )
        .map_err(StartError::Hasher)?,
        refresh_ttl: config.jwt.refresh_ttl,
        modules,
        schema_version,
        limits: limits::Limits::new(
            &config.rate_limit,
            config.redis_url.as_ref().map(config::Secret::expose),
        )
        .await?,
        metrics,
        metrics_token: config.metrics_token.clone(),
        public_url: config.mail.public_url.clone(),
        webhooks: Guard::new(&config.webhooks)?,
        stopping: Stopping::default(),
    }))
}

/// Every module's jobs: the sender of the mail outbox, the sender of notifications, the
/// deliverer of webhooks and their upkeep.
fn job_host(config: &Config, state: &SharedState) -> Result<JobHost, StartError> {
    let mail = MailJob::new(state.db.clone(), Mailer::new(config)?);
    let notifications = NotificationJob::new(
        state.db.clone(),
        Channels {
            mailer: Mailer::new(config)?,
            texter: Texter::new(config)?,
            public_url: config.mail.public_url.clone(),
        },
    );
    let webhooks = WebhookJob::new(
        state.db.clone(),
        state.webhooks.clone(),
        config.webhooks.concurrency,
    );
    let upkeep = WebhookUpkeepJob::new(state.db.clone(), config.webhooks.retention);
    Ok(JobHost::new(
        vec![
            Arc::new(mail),
            Arc::new(notifications),
            Arc::new(webhooks),
            Arc::new(upkeep),
        ],
        config.http.shutdown_timeout,
    ))
}

impl Application {
    /// Builds the shared state (see `build_state`) and binds the listener.
    pub async fn build(config: Config) -> Result<Self, StartError> {
        let state = build_state(&config).await?;
        let contract = Arc::new(contract(&state)?);
        let bind_error = |source| StartError::Bind {
            address: config.bind,
            source,
        };
        let acceptor = TcpListener::bind(config.bind)
            .into_acceptor()
            .await
            .map_err(bind_error)?;
        let port = acceptor
            .local_addr()
            .first()
            .and_then(|addr| addr.as_socket_addr().map(SocketAddr::port))
            .unwrap_or(config.bind.port());
        let jobs = match config.run_worker {
            true => Some(job_host(&config, &state)?),
            false => None,
        };
        Ok(Self {
            acceptor,
            port,
            state,
            contract,
            http: config.http.clone(),
            production: config.environment == config::Environment::Production,
            jobs,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The database and its doors (tests use it to watch connections).
    pub fn db(&self) -> &db::Db {
        &self.state.db
    }

    /// Serves until SIGINT or SIGTERM, then finishes in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until_stopped_with(shutdown_signal()).await
    }

    /// Serves until `signal` completes; then fails `/ready` while serving on for
    /// `CRM_SHUTDOWN_DRAIN_SECS`, stops accepting connections, lets in-flight requests
    /// and job runs finish for at most `CRM_SHUTDOWN_TIMEOUT_SECS` (requests still
    /// running near its end are answered with what the database did: see
    /// [`crate::platform::deadline`]) and closes the pool.
    pub async fn run_until_stopped_with(
        self,
        signal: impl std::future::Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        tracing::info!(port = self.port, "listening");
        let state = self.state.clone();
        let grace = self.http.shutdown_timeout;
        let stopping = state.stopping.clone();
        let drain = self.http.shutdown_drain;
        let signal = async move {
            signal.await;
            stopping.drain();
            if !drain.is_zero() {
                tracing::info!(
                    seconds = drain.as_secs(),
                    "draining: /ready fails, serving on"
                );
                tokio::time::sleep(drain).await;
            }
            // Requests still running when the grace ends minus the time to answer
            // them are cut at their deadline: answered with what the database did.
            let answer_by = grace.saturating_sub(http::SETTLE * 2);
            stopping.stop_by(tokio::time::Instant::now() + answer_by);
            tracing::info!("shutting down: finishing in-flight requests");
        }
        .boxed()
        .shared();
        let jobs = async {
            if let Some(jobs) = self.jobs {
                jobs.run_until_stopped_with(signal.clone()).await;
            }
        };
        let limits = http::ConnectionLimits {
            header_read_timeout: self.http.header_read_timeout,
            idle_timeout: self.http.idle_timeout,
        };
        let server = http::serve(
            self.acceptor,
            routes(self.state, self.contract, self.http, self.production),
            limits,
            signal.clone(),
            grace,
        );
        let (result, ()) = tokio::join!(server, jobs);
        state.db.close();
        tracing::info!("stopped");
        result
    }
}

impl Worker {
    pub async fn build(config: Config) -> Result<Self, StartError> {
        let state = build_state(&config).await?;
        let jobs = job_host(&config, &state)?;
        Ok(Self { state, jobs })
    }

    /// Runs the jobs until SIGINT or SIGTERM, then stops them gracefully.
    pub async fn run_until_stopped(self) {
        self.run_until_stopped_with(shutdown_signal()).await;
    }

    /// Runs the jobs until `signal` completes; lets runs in progress finish (for at
    /// most `CRM_SHUTDOWN_TIMEOUT_SECS`) and closes the pool.
    pub async fn run_until_stopped_with(
        self,
        signal: impl std::future::Future<Output = ()> + Send,
    ) {
        self.jobs.run_until_stopped_with(signal).await;
        self.state.db.close();
        tracing::info!("stopped");
    }
}

/// The OpenAPI service of every API, mounted under `/api/v1`.
pub fn openapi(state: &SharedState) -> OpenApiService<Apis, ()> {
    OpenApiService::new(registry::apis(state), "crm", env!("CARGO_PKG_VERSION"))
        .description(
            "Multi-tenant CRM API. Tenant isolation is enforced by PostgreSQL row-level security.",
        )
        .server("/api/v1")
}

/// The document `/openapi.json` serves and request bodies are checked against: the
/// framework's, finished, with the module names this deployment serves as a closed set
/// and the webhook messages of the modules it serves.
pub fn contract(state: &SharedState) -> Result<Contract, ContractError> {
    let modules: Vec<&str> = state.modules.iter().map(|module| module.name).collect();
    let closed_sets = ["TenantModule", "TenantModuleSwitch"].map(|schema| ClosedSet {
        schema,
        property: "name",
        values: modules.clone(),
    });
    Contract::new(
        &openapi(state).spec(),
        &closed_sets,
        &registry::messages(state),
    )
}

fn routes(
    state: SharedState,
    contract: Arc<Contract>,
    config: config::HttpConfig,
    production: bool,
) -> impl poem::Endpoint {
    let api = openapi(&state);
    let templates = http::RouteTemplates::from_spec(contract.json(), "/api/v1");
    let document = bytes::Bytes::from(contract.json().to_owned());
    let spec = poem::endpoint::make_sync(move |_| {
        poem::Response::builder()
            .content_type("application/json; charset=utf-8")
            .body(document.clone())
    });
    // The documentation pages embed a document: the finished one, as /openapi.json serves.
    let framework_document = api.spec();
    let page = |html: String| {
        let html = html.replace(&framework_document, contract.json());
        poem::endpoint::make_sync(move |_| poem::web::Html(html.clone()))
    };
    let swagger = page(api.swagger_ui_html());
    let redoc = page(api.redoc_html());
    Route::new()
        .nest("/api/v1", api.with(http::RateLimit::new(state.clone())))
        .at("/openapi.json", spec)
        .at("/docs", swagger)
        .at("/redoc", redoc)
        .at("/health", http::health)
        .at("/ready", http::ready)
        .at("/metrics", http::metrics)
        .with(NormalizePath::new(TrailingSlash::Trim))
        .with(http::Guards {
            max_body_bytes: config.max_body_bytes,
            timeout: config.request_timeout,
            stopping: state.stopping.clone(),
            lanes: Lanes::from_paths(contract.paths(), "/api/v1"),
        })
        .with_if(!config.cors_origins.is_empty(), cors(&config))
        .data(state.jwt.clone())
        .data(state.clone())
        .data(contract)
        .catch_all_error(http::render_error)
        .with(http::SecurityHeaders { hsts: production })
        .with(http::RequestLog::new(state, templates))
}

/// CORS for the configured origins (`*` only outside production, never with
/// credentials: the config refuses both).
fn cors(config: &config::HttpConfig) -> Cors {
    let cors = Cors::new()
        .allow_credentials(config.cors_allow_credentials)
        .allow_methods(["GET", "POST", "PATCH", "PUT", "DELETE"])
        .allow_headers(["authorization", "content-type", "x-request-id"])
        .expose_headers([
            "ratelimit",
            "ratelimit-policy",
            "retry-after",
            "x-request-id",
        ]);
    if config.cors_origins.iter().any(|origin| origin == "*") {
        cors
    } else {
        cors.allow_origins(config.cors_origins.iter().map(String::as_str))
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = interrupt => {}
            () = terminate => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
