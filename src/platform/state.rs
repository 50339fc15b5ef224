//! What every API handler shares: the database and its doors, token keys, the password
//! hasher, the served modules, rate limits, metrics, the base of links in mail and the
//! webhooks' network guard.

use std::{sync::Arc, time::Duration};

use crate::platform::{
    auth::{JwtKeys, PasswordHasher},
    config::Secret,
    db::Db,
    deadline::Stopping,
    limits::Limits,
    metrics::Metrics,
    module::ModuleInfo,
    webhooks::Guard,
};

pub struct AppState {
    /// The only way to data: `db.tx(context, &MODULE)` or `db.pre_tenant()`.
    pub db: Db,
    pub jwt: Arc<JwtKeys>,
    pub hasher: PasswordHasher,
    pub refresh_ttl: Duration,
    /// The switchable modules this deployment serves (`CRM_MODULES`).
    pub modules: Vec<&'static ModuleInfo>,
    /// The newest migration this binary knows; `/ready` compares the database to it.
    pub schema_version: i64,
    pub limits: Limits,
    pub metrics: Metrics,
    /// Required by `/metrics` when set.
    pub metrics_token: Option<Secret>,
    /// The base of the links in mail (`CRM_PUBLIC_URL`, no trailing slash).
    pub public_url: String,
    /// Where webhooks may be delivered (endpoint URLs are checked against it).
    pub webhooks: Guard,
    /// Set when the shutdown signal comes: requests get until its stop instant, and
    /// `/ready` answers 503 from then on.
    pub stopping: Stopping,
}

pub type SharedState = Arc<AppState>;
