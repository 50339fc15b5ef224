//! `crm`: an API-first, multi-tenant CRM whose tenant isolation is enforced by
//! PostgreSQL row-level security.
//!
//! - [`config`]: every setting, from the environment.
//! - [`db`]: set-up as the owner, the application pool, and [`db::TenantTx`], the one
//!   door to tenant data (`set_config(..., true)` inside every transaction).
//! - [`auth`]: passwords, tokens, and the bearer scheme that yields a tenant context.
//! - [`core`]: users, contacts, companies, deals and the stage pipeline.
//! - [`modules`]: industry verticals (Real Estate), switched per deployment and tenant.
//! - [`http`]: health probes, `/metrics`, problem+json for every error, request
//!   logging, rate limits, body and deadline guards, security headers and CORS.
//! - [`limits`]: rate-limit buckets, in memory or shared through Redis.
//! - [`metrics`]: the Prometheus registry.
//! - [`error`]: the one API error type and its SQLSTATE mapping.

pub mod auth;
pub mod config;
pub mod core;
pub mod db;
pub mod error;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod modules;
pub mod state;
pub mod telemetry;
pub mod validation;

use std::{net::SocketAddr, sync::Arc};

use poem::{
    EndpointExt, Route, Server,
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
    middleware::{Cors, NormalizePath, TrailingSlash},
};
use poem_openapi::OpenApiService;

use crate::{
    auth::{AuthApi, JwtKeys, PasswordHasher},
    config::Config,
    core::{companies::CompaniesApi, contacts::ContactsApi, deals::DealsApi, users::UsersApi},
    db::SetupError,
    state::{AppState, SharedState},
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
    #[error("cannot prepare password hashing: {0}")]
    Hasher(error::ApiError),
    #[error("cannot set up rate limits: {0}")]
    Limits(#[from] limits::LimitError),
    #[error("cannot set up metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// The server, built and bound, ready to run.
pub struct Application {
    acceptor: TcpAcceptor,
    port: u16,
    state: SharedState,
    http: config::HttpConfig,
    production: bool,
}

impl Application {
    /// Prepares the database (as the owner), opens the application pool, verifies the
    /// application role, and binds the listener.
    pub async fn build(config: Config) -> Result<Self, StartError> {
        if config.jwt.generated {
            tracing::warn!(
                "CRM_JWT_SECRET is not set: using a random secret; tokens will not survive a restart"
            );
        }
        db::prepare_database(&config).await?;
        let pool = db::app_pool(&config).await?;
        let state = Arc::new(AppState {
            pool,
            jwt: Arc::new(JwtKeys::new(&config.jwt)),
            hasher: PasswordHasher::new(
                config.password_hashing_concurrency,
                config.password_hashing_wait,
            )
            .map_err(StartError::Hasher)?,
            refresh_ttl: config.jwt.refresh_ttl,
            modules: config.modules.clone(),
            limits: limits::Limits::new(
                &config.rate_limit,
                config.redis_url.as_ref().map(config::Secret::expose),
            )
            .await?,
            metrics: metrics::Metrics::new()?,
            metrics_token: config.metrics_token.clone(),
        });
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
        Ok(Self {
            acceptor,
            port,
            state,
            http: config.http.clone(),
            production: config.environment == config::Environment::Production,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The application pool (tests use it to watch connections).
    pub fn pool(&self) -> &db::Pool {
        &self.state.pool
    }

    /// Serves until SIGINT or SIGTERM, then finishes in-flight requests.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until_stopped_with(shutdown_signal()).await
    }

    /// Serves until `signal` completes; then stops accepting connections, lets
    /// in-flight requests finish (for at most `CRM_SHUTDOWN_TIMEOUT_SECS`) and closes
    /// the pool.
    pub async fn run_until_stopped_with(
        self,
        signal: impl std::future::Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        tracing::info!(port = self.port, "listening");
        let pool = self.state.pool.clone();
        let grace = self.http.shutdown_timeout;
        let signal = async {
            signal.await;
            tracing::info!("shutting down: finishing in-flight requests");
        };
        let result = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(
                routes(self.state, self.http, self.production),
                signal,
                Some(grace),
            )
            .await;
        pool.close();
        tracing::info!("stopped");
        result
    }
}

/// Every API of the service, in the order the docs list them.
pub type Apis = (
    AuthApi,
    UsersApi,
    ContactsApi,
    CompaniesApi,
    DealsApi,
    modules::ModuleApis,
);

/// The OpenAPI service of every API, mounted under `/api/v1`.
pub fn openapi(state: &SharedState) -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            AuthApi::new(state.clone()),
            UsersApi::new(state.clone()),
            ContactsApi::new(state.clone()),
            CompaniesApi::new(state.clone()),
            DealsApi::new(state.clone()),
            modules::apis(state),
        ),
        "crm",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Multi-tenant CRM API. Tenant isolation is enforced by PostgreSQL row-level security.",
    )
    .server("/api/v1")
}

fn routes(state: SharedState, config: config::HttpConfig, production: bool) -> impl poem::Endpoint {
    let api = openapi(&state);
    let templates = http::RouteTemplates::from_spec(&api.spec(), "/api/v1");
    let spec = api.spec_endpoint();
    let swagger = api.swagger_ui();
    let redoc = api.redoc();
    Route::new()
        .nest("/api/v1", api.with(http::RateLimit::new(state.clone())))
        .at("/openapi.json", spec)
        .nest("/docs", swagger)
        .nest("/redoc", redoc)
        .at("/health", http::health)
        .at("/ready", http::ready)
        .at("/metrics", http::metrics)
        .with(NormalizePath::new(TrailingSlash::Trim))
        .with(http::Guards {
            max_body_bytes: config.max_body_bytes,
            timeout: config.request_timeout,
        })
        .with_if(!config.cors_origins.is_empty(), cors(&config))
        .data(state.jwt.clone())
        .data(state.clone())
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
