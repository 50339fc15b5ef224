//! What every API handler shares: the application pool, token keys and the hasher.

use std::{sync::Arc, time::Duration};

use crate::{
    auth::{JwtKeys, PasswordHasher},
    db::Pool,
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

pub type SharedState = Arc<AppState>;
