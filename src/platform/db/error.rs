//! [`DbError`]: what a store tells its caller, with the meaning the module declared
//! for any constraint that fired. Handlers turn it into problem+json
//! (`platform::error`); the worker host reads it as it is.

use tokio_postgres::error::SqlState;

use crate::platform::{metrics, module::Meaning};

type Source = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No row for this tenant: it does not exist, or it belongs to another tenant.
    #[error("not found")]
    NotFound,
    /// A constraint the module declared fired; this is what it means.
    #[error("constraint: {0:?}")]
    Constraint(Meaning),
    /// The tenant has switched off the module this transaction serves.
    #[error("module switched off for this tenant")]
    ModuleOff,
    /// The caller's membership is gone (deactivated, removed, tenant suspended) or the
    /// access token's session was revoked.
    #[error("membership or session no longer active")]
    Revoked,
    /// Timed out, serialization failure, deadlock, too many connections, or every
    /// pooled connection busy: worth retrying shortly.
    #[error("busy: {0}")]
    Busy(&'static str),
    /// The tenant already holds its share of the pool and no slot came free within
    /// the queue time: the tenant should slow down (429), other tenants are served.
    #[error("the tenant is using its whole share of the database")]
    TenantBusy,
    /// The role's privileges or policies refuse the statement (42501).
    #[error("insufficient privilege")]
    Denied,
    /// A unique constraint nobody declared.
    #[error("duplicate")]
    Duplicate,
    /// A foreign key nobody declared.
    #[error("missing reference")]
    MissingReference,
    /// A value out of range or malformed (class 22, or another class-23 check).
    #[error("a value is out of range or malformed")]
    OutOfRange,
    /// Anything else: a bug or an outage, logged with its cause.
    #[error("database failure: {0}")]
    Internal(#[source] Source),
}

impl DbError {
    pub fn internal(err: impl Into<Source>) -> Self {
        Self::Internal(err.into())
    }

    /// Classifies a PostgreSQL error, looking constraint names up with `meaning`.
    pub(super) fn classify(
        err: tokio_postgres::Error,
        meaning: impl Fn(&str) -> Option<Meaning>,
    ) -> Self {
        metrics::db_error(&err);
        let Some(db) = err.as_db_error() else {
            return Self::internal(err);
        };
        let code = db.code();
        if db.constraint() == Some(MODULE_OFF) {
            return Self::ModuleOff;
        }
        if db.constraint() == Some(REVOKED) {
            return Self::Revoked;
        }
        if db.constraint() == Some(NOT_SIGNED) {
            return Self::internal(
                "the database refused the server's signed context: its key was retired \
                 (restart the server to load the newest key) or the clocks differ by minutes",
            );
        }
        if let Some(meaning) = db.constraint().and_then(meaning) {
            return Self::Constraint(meaning);
        }
        if *code == SqlState::QUERY_CANCELED
            || *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::TOO_MANY_CONNECTIONS
        {
            return Self::Busy("The database is busy; retry shortly.");
        }
        if *code == SqlState::INSUFFICIENT_PRIVILEGE {
            return Self::Denied;
        }
        if *code == SqlState::UNIQUE_VIOLATION {
            return Self::Duplicate;
        }
        if *code == SqlState::FOREIGN_KEY_VIOLATION {
            return Self::MissingReference;
        }
        if code.code().starts_with("22")
            || code.code().starts_with("23")
            || *code == SqlState::PROGRAM_LIMIT_EXCEEDED
        {
            return Self::OutOfRange;
        }
        Self::internal(err)
    }
}

/// The constraint name `app.require_module` raises when the tenant switched a module off.
const MODULE_OFF: &str = "tenant_modules_disabled";
/// The constraint name `app.enter` raises for a revoked membership or session.
const REVOKED: &str = "membership_inactive";
/// The constraint name `app.enter` raises for a claim it cannot verify.
const NOT_SIGNED: &str = "context_not_signed";

impl From<deadpool_postgres::PoolError> for DbError {
    fn from(err: deadpool_postgres::PoolError) -> Self {
        match err {
            deadpool_postgres::PoolError::Backend(err) => Self::classify(err, |_| None),
            deadpool_postgres::PoolError::Timeout(_) => {
                Self::Busy("All database connections are busy; retry shortly.")
            }
            other => Self::internal(other),
        }
    }
}
