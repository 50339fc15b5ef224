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
    /// The database cannot be reached or is not serving: a connection refused or lost,
    /// the server shutting down, starting up or in recovery, a read-only standby. The
    /// transaction did not commit; worth retrying shortly.
    #[error("database unavailable: {0}")]
    Unavailable(Outage),
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
            return match lost_connection(&err) {
                true => Self::unavailable(Outage::ConnectionLost, err),
                false => Self::internal(err),
            };
        };
        let code = db.code();
        if let Some(outage) = Outage::of(code) {
            return Self::unavailable(outage, err);
        }
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
        use deadpool_postgres::{PoolError, TimeoutType};
        match err {
            PoolError::Backend(err) => match err.as_db_error() {
                Some(_) => Self::classify(err, |_| None),
                // No connection could be opened (refused, unreachable, reset).
                None => {
                    metrics::db_error(&err);
                    Self::unavailable(Outage::CannotConnect, err)
                }
            },
            PoolError::Timeout(TimeoutType::Wait) => {
                Self::Busy("All database connections are busy; retry shortly.")
            }
            PoolError::Timeout(TimeoutType::Create | TimeoutType::Recycle) => {
                Self::unavailable(Outage::CannotConnect, "opening a connection timed out")
            }
            PoolError::Closed => Self::unavailable(Outage::ShuttingDown, "the pool is closed"),
            other => Self::internal(other),
        }
    }
}

impl DbError {
    /// Counts the outage by cause and logs what the database (or the socket) said.
    fn unavailable(outage: Outage, cause: impl std::fmt::Display) -> Self {
        metrics::db_unavailable(outage.label());
        tracing::warn!(cause = outage.label(), error = %cause, "the database is unavailable");
        Self::Unavailable(outage)
    }
}

/// Why the database could not serve a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// No connection could be opened: refused, unreachable, timed out.
    CannotConnect,
    /// The connection broke mid-statement (reset, closed, class 08).
    ConnectionLost,
    /// The server is shutting down or terminated the session (57P01, 57P02), or this
    /// process is stopping and closed its pool.
    ShuttingDown,
    /// The server is starting up or in recovery (57P03).
    Starting,
    /// Connected to a read-only standby (25006): a failover in progress.
    ReadOnly,
}

impl Outage {
    fn of(code: &SqlState) -> Option<Self> {
        match code {
            _ if code.code().starts_with("08") => Some(Self::ConnectionLost),
            &SqlState::ADMIN_SHUTDOWN | &SqlState::CRASH_SHUTDOWN => Some(Self::ShuttingDown),
            &SqlState::CANNOT_CONNECT_NOW => Some(Self::Starting),
            &SqlState::READ_ONLY_SQL_TRANSACTION => Some(Self::ReadOnly),
            _ => None,
        }
    }

    /// The `cause` label of `crm_db_unavailable_total`.
    pub fn label(self) -> &'static str {
        match self {
            Self::CannotConnect => "cannot_connect",
            Self::ConnectionLost => "connection_lost",
            Self::ShuttingDown => "shutting_down",
            Self::Starting => "starting",
            Self::ReadOnly => "read_only",
        }
    }
}

impl std::fmt::Display for Outage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// A client error without SQLSTATE that means the socket is gone (closed, reset, an
/// I/O failure), as opposed to a bug such as a type conversion.
fn lost_connection(err: &tokio_postgres::Error) -> bool {
    use std::error::Error as _;
    err.is_closed()
        || err
            .source()
            .is_some_and(|source| source.is::<std::io::Error>())
}
