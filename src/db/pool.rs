//! The application pool: connections log in as the application role, never the owner.

use deadpool_postgres::{Manager, ManagerConfig, RecyclingMethod, Runtime};
use tokio_postgres::{Config as PgConfig, NoTls};

use super::SetupError;
use crate::config::Config;

pub type Pool = deadpool_postgres::Pool;

/// Opens the pool as the application role and verifies, over one of its own
/// connections, that it really is that role and cannot bypass RLS.
pub async fn app_pool(config: &Config) -> Result<Pool, SetupError> {
    let mut pg: PgConfig = config
        .database_url
        .expose()
        .parse()
        .map_err(SetupError::Url)?;
    pg.user(&config.app_role)
        .password(config.app_password.expose())
        .application_name("crm")
        .options(format!(
            "-c statement_timeout={} -c idle_in_transaction_session_timeout={} -c lock_timeout={}",
            config.statement_timeout.as_millis(),
            config.statement_timeout.as_millis() * 2,
            config.statement_timeout.as_millis(),
        ));
    let manager = Manager::from_config(
        pg,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let pool = deadpool_postgres::Pool::builder(manager)
        .max_size(config.pool_size)
        .wait_timeout(Some(config.pool_wait_timeout))
        .create_timeout(Some(config.pool_wait_timeout))
        .recycle_timeout(Some(config.pool_wait_timeout))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|err| SetupError::Pool(err.to_string()))?;
    let client = pool
        .get()
        .await
        .map_err(|err| SetupError::Pool(err.to_string()))?;
    let safe: bool = client
        .query_one(
            "SELECT current_user = $1 AND NOT rolsuper AND NOT rolbypassrls FROM pg_roles WHERE rolname = current_user",
            &[&config.app_role],
        )
        .await
        .map_err(|source| SetupError::Sql { context: "asking the pool who it is", source })?
        .get(0);
    if safe {
        Ok(pool)
    } else {
        Err(SetupError::UnsafePoolRole(config.app_role.clone()))
    }
}
