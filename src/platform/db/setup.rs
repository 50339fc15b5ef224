//! Owner-side set-up, run at start-up before any request: create the database if it is
//! missing, apply migrations, make sure the application role exists, and refuse to go
//! on if that role could bypass row-level security.

use tokio_postgres::{Client, Config as PgConfig, NoTls, error::SqlState};

use super::{Finding, Migrations, audit};
use crate::platform::{config::Config, module::ModuleInfo};

/// Serialises migrations between server instances starting at once.
const MIGRATION_LOCK: i64 = 0x6372_6d5f_6d69_6772; // "crm_migr"

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("DATABASE_URL is not a valid PostgreSQL URL: {0}")]
    Url(#[source] tokio_postgres::Error),
    #[error("cannot connect to PostgreSQL as the owner ({context}): {source}")]
    Connect {
        context: String,
        source: tokio_postgres::Error,
    },
    #[error("database set-up failed ({context}): {source}")]
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
    check_owner(&client).await?;
    migrate(&mut client, &migrations).await?;
    ensure_app_role(&client, &config.app_role, config.app_password.expose()).await?;
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

async fn check_owner(client: &Client) -> Result<(), SetupError> {
    let row = client
        .query_one("SELECT current_user::text, rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user", &[])
        .await
        .map_err(sql("checking the owner role"))?;
    if row.get::<_, bool>(1) {
        Ok(())
    } else {
        Err(SetupError::OwnerCannotBypassRls(row.get(0)))
    }
}

async fn migrate(client: &mut Client, migrations: &Migrations) -> Result<(), SetupError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(sql("taking the migration lock"))?;
    let result = migrations.run(client).await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(sql("releasing the migration lock"))?;
    Ok(result?)
}

/// Creates the login role if it is missing and makes it a member of `crm_api`.
/// Roles are cluster-wide and several servers or test binaries may race here, so a
/// concurrent creation is treated as success and grants happen only when missing.
pub async fn ensure_app_role(
    client: &Client,
    role: &str,
    password: &str,
) -> Result<(), SetupError> {
    for attempt in 1..=5 {
        match try_ensure_app_role(client, role, password).await {
            Ok(()) => return Ok(()),
            Err(err) if attempt < 5 && is_concurrent_catalog_update(&err) => {
                tokio::time::sleep(std::time::Duration::from_millis(20 * attempt)).await;
            }
            Err(err) => {
                return Err(SetupError::Sql {
                    context: "creating the application role",
                    source: err,
                });
            }
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

async fn try_ensure_app_role(
    client: &Client,
    role: &str,
    password: &str,
) -> Result<(), tokio_postgres::Error> {
    let state = client
        .query_opt(
            "SELECT EXISTS (SELECT 1 FROM pg_auth_members m \
                            WHERE m.roleid = 'crm_api'::regrole AND m.member = r.oid) \
             FROM pg_roles r WHERE r.rolname = $1",
            &[&role],
        )
        .await?;
    let ddl = match state {
        Some(row) if row.get::<_, bool>(0) => return Ok(()),
        Some(_) => "SELECT format('GRANT crm_api TO %I', $1::text)",
        None => {
            "SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE \
             INHERIT PASSWORD %L IN ROLE crm_api', $1::text, $2::text)"
        }
    };
    let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = if state.is_none() {
        vec![&role, &password]
    } else {
        vec![&role]
    };
    let statement: String = client.query_one(ddl, &params).await?.get(0);
    client.batch_execute(&statement).await?;
    tracing::info!(role, "application role ready");
    Ok(())
}
