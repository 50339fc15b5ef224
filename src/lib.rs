//! `crm`: an API-first, multi-tenant CRM whose tenant isolation is enforced by
//! PostgreSQL row-level security.
//!
//! - [`config`]: every setting, from the environment.
//! - [`db`]: set-up as the owner, the application pool, and [`db::TenantTx`], the one
//!   door to tenant data (`set_config(..., true)` inside every transaction).
//! - [`auth`]: passwords, tokens, and the bearer scheme that yields a tenant context.
//! - [`core`]: users, contacts, companies, deals and the stage pipeline.
//! - [`modules`]: industry verticals (Real Estate), switched per deployment and tenant.
//! - [`http`]: health probes, problem+json for every error, request logging.
//! - [`error`]: the one API error type and its SQLSTATE mapping.

pub mod auth;
pub mod config;
pub mod core;
pub mod db;
pub mod error;
pub mod http;
pub mod modules;
pub mod state;
pub mod telemetry;
pub mod validation;

use std::{net::SocketAddr, sync::Arc};

use poem::{
    EndpointExt, Route, Server,
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
    middleware::{NormalizePath, TrailingSlash},
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
}

/// The server, built and bound, ready to run.
pub struct Application {
    acceptor: TcpAcceptor,
    port: u16,
    state: SharedState,
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
            hasher: PasswordHasher::new(config.password_hashing_concurrency)
                .map_err(StartError::Hasher)?,
            refresh_ttl: config.jwt.refresh_ttl,
            modules: config.modules.clone(),
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
        tracing::info!(port = self.port, "listening");
        Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(
                routes(self.state),
                shutdown_signal(),
                Some(std::time::Duration::from_secs(30)),
            )
            .await
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

fn routes(state: SharedState) -> impl poem::Endpoint {
    let api = openapi(&state);
    let spec = api.spec_endpoint();
    let swagger = api.swagger_ui();
    let redoc = api.redoc();
    Route::new()
        .nest("/api/v1", api)
        .at("/openapi.json", spec)
        .nest("/docs", swagger)
        .nest("/redoc", redoc)
        .at("/health", http::health)
        .at("/ready", http::ready)
        .with(NormalizePath::new(TrailingSlash::Trim))
        .data(state.jwt.clone())
        .data(state)
        .catch_all_error(http::render_error)
        .with(http::RequestLog)
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
    tracing::info!("shutting down: finishing in-flight requests");
}
