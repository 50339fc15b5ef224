//! What every API handler shares: the application pool, token keys and the hasher.

use std::{sync::Arc, time::Duration};

use crate::{
    auth::{JwtKeys, PasswordHasher},
    db::{Pool, TenantContext, TenantTx},
    error::ApiError,
    limits::Limits,
    metrics::Metrics,
};

pub struct AppState {
    pub pool: Pool,
    pub jwt: Arc<JwtKeys>,
    pub hasher: PasswordHasher,
    pub refresh_ttl: Duration,
    /// The verticals this deployment serves (`CRM_MODULES`).
    pub modules: Vec<&'static str>,
    pub limits: Limits,
    pub metrics: Metrics,
    /// Required by `/metrics` when set.
    pub metrics_token: Option<crate::config::Secret>,
}

impl AppState {
    /// A tenant-scoped transaction for `context` (the only way handlers reach data).
    pub async fn tx(&self, context: TenantContext) -> Result<TenantTx, ApiError> {
        TenantTx::begin(&self.pool, context).await
    }
}

pub type SharedState = Arc<AppState>;
