//! Owner-side set-up, run at start-up before any request: create the database if it is
//! missing, apply migrations, make sure the application role exists, and refuse to go
//! on if that role could bypass row-level security.

use std::time::Duration;

use tokio::time::Instant;
use tokio_postgres::{Client, Config as PgConfig, NoTls, error::SqlState};

use super::{Finding, Migrations, audit};
use crate::platform::{
    config::{Config, RoleBounds},
    module::ModuleInfo,
};

/// Serialises migrations between server instances starting at once.
const MIGRATION_LOCK: i64 = 0x6372_6d5f_6d69_6772; // "crm_migr"

/// How often a busy migration lock is tried again.
const MIGRATION_LOCK_RETRY: Duration = Duration::from_millis(100);

/// Revokes from PUBLIC the built-in functions that reach beyond the app role's rows.
const REVOKE_PUBLIC_POWERS: &str = include_str!("revoke_public_powers.sql");

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("DATABASE_URL is not a valid PostgreSQL URL: {0}")]
    Url(#[source] tokio_postgres::Error),
    #[error("cannot connect to PostgreSQL as the owner ({context}): {source}")]
    Connect {
        context: String,
        source: tokio_postgres::Error,
    },
    #[error("database set-up failed ({context}): {}", described(source))]
    Sql {
        context: &'static str,
        source: tokio_postgres::Error,
    },
    #[error("cannot open the application pool (is CRM_APP_PASSWORD right?): {0}")]
    Pool(String),
    #[error("two migrations use one version: {0} and {1}")]
    VersionUsedTwice(String, String),
    #[error("migrations failed: {0}")]
    Migrate(#[from] refinery::Error),
    #[error(
        "the owner role {0:?} must be a superuser or have BYPASSRLS: the reviewed SECURITY \
         DEFINER functions (login, signup) run as the owner"
    )]
    OwnerCannotBypassRls(String),
    #[error("refusing to serve: the row-level security audit failed:\n  - {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  - "))]
    AuditFailed(Vec<Finding>),
    #[error("app.context_keys holds no usable signing key (run `crm context-key rotate`)")]
    NoContextKey,
    #[error("refusing to serve: the pool connected as {0}, which is not a safe application role")]
    UnsafePoolRole(String),
    #[error(
        "the migration lock is still held after {waited:?}, by {holder}: let that migration \
         finish, or end that session (CRM_MIGRATION_LOCK_TIMEOUT_MS sets the wait)"
    )]
    MigrationLockHeld {
        waited: Duration,
        holder: LockHolder,
    },
}

/// The session holding the migration lock, as `pg_stat_activity` shows it.
#[derive(Debug)]
pub enum LockHolder {
    Session {
        pid: i32,
        role: Option<String>,
        application: Option<String>,
        client: Option<String>,
    },
    /// Released between the last try and the look-up.
    Gone,
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unknown = |value: &Option<String>| value.clone().unwrap_or_else(|| "?".to_owned());
        match self {
            Self::Session {
                pid,
                role,
                application,
                client,
            } => write!(
                f,
                "pid {pid} (role {}, application {:?}, client {})",
                unknown(role),
                unknown(application),
                client.as_deref().unwrap_or("local socket")
            ),
            Self::Gone => f.write_str("a session that has just released it"),
        }
    }
}

/// PostgreSQL's own message and SQLSTATE where there is one (the error's `Display`
/// alone says only "db error").
fn described(err: &tokio_postgres::Error) -> String {
    err.as_db_error().map_or_else(
        || err.to_string(),
        |db| format!("{} ({})", db.message(), db.code().code()),
    )
}

fn sql(context: &'static str) -> impl FnOnce(tokio_postgres::Error) -> SetupError {
    move |source| SetupError::Sql { context, source }
}

/// Connects with `config`, driving the connection on a background task.
pub async fn owner_connect(config: &PgConfig) -> Result<Client, SetupError> {
    let (client, connection) =
        config
            .connect(NoTls)
            .await
            .map_err(|source| SetupError::Connect {
                context: format!("database {:?}", config.get_dbname().unwrap_or_default()),
                source,
            })?;
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::warn!(error = %err, "owner connection closed");
        }
    });
    Ok(client)
}

/// Brings the database to the state the server needs, as the owner role: creates it if
/// missing and applies the foundation's and `modules`' migrations.
pub async fn prepare_database(config: &Config, modules: &[&ModuleInfo]) -> Result<(), SetupError> {
    let migrations = Migrations::of(modules)?;
    let owner: PgConfig = config
        .database_url
        .expose()
        .parse()
        .map_err(SetupError::Url)?;
    create_database_if_missing(&owner).await?;
    let mut client = owner_connect(&owner).await?;
    let superuser = check_owner(&client).await?;
    // Replicas starting at once each run all of this: one at a time, or their GRANTs
    // collide ("tuple concurrently updated") and all but one fail to start.
    take_migration_lock(&client, config.migration_lock_timeout).await?;
    let prepared = migrate_and_grant(&mut client, config, &migrations, superuser).await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(sql("releasing the migration lock"))?;
    prepared?;
    let findings = audit(&client, Some(&config.app_role))
        .await
        .map_err(sql("auditing row-level security"))?;
    for warning in findings.iter().filter(|f| !f.is_error()) {
        tracing::warn!(%warning, "row-level security audit");
    }
    let errors: Vec<Finding> = findings.into_iter().filter(Finding::is_error).collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(SetupError::AuditFailed(errors))
    }
}

/// The migrations, the roles and the grants; callers hold the migration lock.
async fn migrate_and_grant(
    client: &mut Client,
    config: &Config,
    migrations: &Migrations,
    superuser: bool,
) -> Result<(), SetupError> {
    migrations.run(client).await?;
    ensure_app_role(client, &config.app_role, config.app_password.expose()).await?;
    ensure_worker_role(client, &config.worker_role, config.worker_password.expose()).await?;
    bound_app_role(client, &config.app_role, config.app_role_bounds).await?;
    revoke_public_powers(client, superuser).await?;
    // `/ready` compares the applied migrations with the binary's.
    client
        .batch_execute("GRANT SELECT ON refinery_schema_history TO crm_api")
        .await
        .map_err(sql("letting the app role read the migration history"))?;
    client
        .batch_execute(
            "DO $$ BEGIN EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database()); END $$",
        )
        .await
        .map_err(sql("revoking TEMPORARY from PUBLIC"))?;
    Ok(())
}

async fn create_database_if_missing(owner: &PgConfig) -> Result<(), SetupError> {
    let name = owner.get_dbname().unwrap_or("postgres").to_owned();
    let mut maintenance = owner.clone();
    maintenance.dbname("postgres");
    let client = owner_connect(&maintenance).await?;
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .map_err(sql("looking up the database"))?
        .is_some();
    if exists {
        return Ok(());
    }
    let ddl: String = client
        .query_one("SELECT format('CREATE DATABASE %I', $1::text)", &[&name])
        .await
        .map_err(sql("quoting the database name"))?
        .get(0);
    match client.batch_execute(&ddl).await {
        Err(err) if err.code() == Some(&SqlState::DUPLICATE_DATABASE) => Ok(()),
        other => {
            other.map_err(sql("creating the database"))?;
            tracing::info!(database = %name, "created database");
            Ok(())
        }
    }
}

/// Checks the owner can bypass RLS; answers whether it is a superuser.
async fn check_owner(client: &Client) -> Result<bool, SetupError> {
    let row = client
        .query_one("SELECT current_user::text, rolsuper OR rolbypassrls, rolsuper FROM pg_roles WHERE rolname = current_user", &[])
        .await
        .map_err(sql("checking the owner role"))?;
    if row.get::<_, bool>(1) {
        Ok(row.get(2))
    } else {
        Err(SetupError::OwnerCannotBypassRls(row.get(0)))
    }
}

/// Takes the migration lock, trying again until `timeout`; then names who holds it
/// instead of waiting forever.
async fn take_migration_lock(client: &Client, timeout: Duration) -> Result<(), SetupError> {
    let deadline = Instant::now() + timeout;
    loop {
        let taken: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(sql("taking the migration lock"))?
            .get(0);
        if taken {
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(SetupError::MigrationLockHeld {
                waited: timeout,
                holder: migration_lock_holder(client).await?,
            });
        }
        tokio::time::sleep(MIGRATION_LOCK_RETRY.min(deadline - now)).await;
    }
}

/// The session holding the migration lock (a bigint key is classid, objid in pg_locks).
const MIGRATION_LOCK_HOLDER: &str = "\
SELECT a.pid, a.usename::text, a.application_name, a.client_addr::text
FROM pg_locks l
JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid::bigint = $1::bigint >> 32 AND l.objid::bigint = $1::bigint & 4294967295
LIMIT 1";

async fn migration_lock_holder(client: &Client) -> Result<LockHolder, SetupError> {
    let row = client
        .query_opt(MIGRATION_LOCK_HOLDER, &[&MIGRATION_LOCK])
        .await
        .map_err(sql("looking up who holds the migration lock"))?;
    Ok(row.map_or(LockHolder::Gone, |row| LockHolder::Session {
        pid: row.get(0),
        role: row.get(1),
        application: row.get(2),
        client: row.get(3),
    }))
}

/// Creates the login role if it is missing and makes it a member of `crm_api`.
/// Roles are cluster-wide and several servers or test binaries may race here, so a
/// concurrent creation is treated as success and grants happen only when missing.
pub async fn ensure_app_role(
    client: &Client,
    role: &str,
    password: &str,
) -> Result<(), SetupError> {
    retrying_catalog_races("creating the application role", || {
        try_ensure_login_role(client, role, password, "crm_api")
    })
    .await
}

/// Creates the job host's login role if it is missing and makes it a member of
/// `crm_worker` (migration V13), as [`ensure_app_role`] does for requests.
pub async fn ensure_worker_role(
    client: &Client,
    role: &str,
    password: &str,
) -> Result<(), SetupError> {
    retrying_catalog_races("creating the worker role", || {
        try_ensure_login_role(client, role, password, "crm_worker")
    })
    .await
}

/// Runs `change` again when a concurrent set-up changed the same catalog rows.
async fn retrying_catalog_races<F, Fut>(
    context: &'static str,
    mut change: F,
) -> Result<(), SetupError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), tokio_postgres::Error>>,
{
    for attempt in 1..=5 {
        match change().await {
            Ok(()) => return Ok(()),
            Err(err) if attempt < 5 && is_concurrent_catalog_update(&err) => {
                tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
            }
            Err(source) => return Err(SetupError::Sql { context, source }),
        }
    }
    unreachable!("the last attempt returns")
}

fn is_concurrent_catalog_update(err: &tokio_postgres::Error) -> bool {
    [
        SqlState::DUPLICATE_OBJECT,
        SqlState::UNIQUE_VIOLATION,
        SqlState::INTERNAL_ERROR,
        SqlState::T_R_SERIALIZATION_FAILURE,
    ]
    .iter()
    .any(|code| err.code() == Some(code))
}

/// Makes `role` a login role that is a member of `group`.
async fn try_ensure_login_role(
    client: &Client,
    role: &str,
    password: &str,
    group: &str,
) -> Result<(), tokio_postgres::Error> {
    let state = client
        .query_opt(
            "SELECT EXISTS (SELECT 1 FROM pg_auth_members m \
                            WHERE m.roleid = $2::text::regrole AND m.member = r.oid) \
             FROM pg_roles r WHERE r.rolname = $1",
            &[&role, &group],
        )
        .await?;
    let ddl = match state {
        Some(row) if row.get::<_, bool>(0) => return Ok(()),
        Some(_) => {
            client
                .query_one(
                    "SELECT format('GRANT %I TO %I', $1::text, $2::text)",
                    &[&group, &role],
                )
                .await?
        }
        None => {
            client
                .query_one(
                    "SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB \
                     NOCREATEROLE INHERIT PASSWORD %L IN ROLE %I', $1::text, $2::text, $3::text)",
                    &[&role, &password, &group],
                )
                .await?
        }
    };
    let statement: String = ddl.get(0);
    client.batch_execute(&statement).await?;
    tracing::info!(role, group, "login role ready");
    Ok(())
}

/// The DDL that gives `$1` its role-level bounds, or NULL when it has them already
/// (role settings are cluster-wide: set only when different, so concurrent set-ups
/// of one configuration write nothing).
const BOUND_ROLE: &str = "\
SELECT format('ALTER ROLE %1$I CONNECTION LIMIT %2$s; \
               ALTER ROLE %1$I SET statement_timeout = %3$L; \
               ALTER ROLE %1$I SET idle_in_transaction_session_timeout = %4$L',
              rolname, $2::int, $3::text, $4::text)
FROM pg_roles
WHERE rolname = $1
  AND NOT (rolconnlimit = $2::int
           AND coalesce(rolconfig @> ARRAY['statement_timeout=' || $3::text,
                                           'idle_in_transaction_session_timeout=' || $4::text],
                        false))";

/// Bounds every session of the app role, also those the server does not open (a
/// leaked password, an injection's own connections): timeouts as role defaults and
/// a connection limit. A session can still `SET statement_timeout = 0` itself; the
/// connection limit bounds how many such sessions exist. Without the right to alter
/// the role (a role made by a DBA), set-up goes on and the audit warns.
async fn bound_app_role(client: &Client, role: &str, bounds: RoleBounds) -> Result<(), SetupError> {
    let result = retrying_catalog_races("bounding the application role", || {
        try_bound_app_role(client, role, bounds)
    })
    .await;
    match result {
        Err(SetupError::Sql { source, .. })
            if source.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) =>
        {
            tracing::warn!(role, error = %source, "cannot set the application role's bounds");
            Ok(())
        }
        other => other,
    }
}

async fn try_bound_app_role(
    client: &Client,
    role: &str,
    bounds: RoleBounds,
) -> Result<(), tokio_postgres::Error> {
    let statement_ms = bounds.statement_timeout.as_millis().to_string();
    let idle_ms = bounds.idle_in_transaction_timeout().as_millis().to_string();
    let ddl = client
        .query_opt(
            BOUND_ROLE,
            &[&role, &bounds.connection_limit, &statement_ms, &idle_ms],
        )
        .await?;
    if let Some(row) = ddl {
        client.batch_execute(row.get(0)).await?;
        tracing::info!(role, ?bounds, "application role bounded");
    }
    Ok(())
}

/// Revokes from PUBLIC, in this database, the built-in functions that would give the
/// app role power over the server rather than its rows (`revoke_public_powers.sql`).
/// Only a superuser may; with another owner the audit's PWR warnings list what remains.
async fn revoke_public_powers(client: &Client, superuser: bool) -> Result<(), SetupError> {
    if !superuser {
        tracing::warn!(
            "the owner is not a superuser: PUBLIC keeps signalling, advisory locks, large \
             objects and statistics (see the audit's PWR warnings; a superuser can run \
             src/platform/db/revoke_public_powers.sql)"
        );
        return Ok(());
    }
    retrying_catalog_races("revoking PUBLIC's server-wide functions", || {
        client.batch_execute(REVOKE_PUBLIC_POWERS)
    })
    .await
}
