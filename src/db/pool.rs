//! The application pool: connections log in as the application role, never the owner.
//!
//! Behind PgBouncer in transaction mode (`CRM_PGBOUNCER=true`) a server connection
//! belongs to a client only for one transaction: named statements cannot be cached
//! across transactions and startup options (`-c statement_timeout=…`) are refused.
//! The pool then remembers the timeouts so [`super::TenantTx`] sets them with
//! `set_config(…, true)` inside each transaction.

use std::{ops::Deref, time::Duration};

use deadpool_postgres::{Manager, ManagerConfig, RecyclingMethod, Runtime};
use tokio_postgres::{
    Config as PgConfig, NoTls, Row,
    types::{ToSql, Type},
};

use super::SetupError;
use crate::{config::Config, error::ApiError};

/// The deadpool pool of application-role connections, and how statements must be run
/// on them.
#[derive(Clone)]
pub struct Pool {
    inner: deadpool_postgres::Pool,
    pooler: Option<TransactionPooler>,
}

/// Settings applied inside every transaction when behind a transaction pooler.
#[derive(Clone, Debug)]
pub struct TransactionPooler {
    pub statement_timeout_ms: String,
    pub idle_in_transaction_timeout_ms: String,
}

impl Deref for Pool {
    type Target = deadpool_postgres::Pool;

    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl Pool {
    /// `Some` behind PgBouncer in transaction mode.
    pub fn transaction_pooler(&self) -> Option<&TransactionPooler> {
        self.pooler.as_ref()
    }

    /// Runs one statement outside any tenant (the reviewed SECURITY DEFINER functions
    /// of login, signup and refresh). Directly: a cached prepared statement, one round
    /// trip. Behind a transaction pooler: BEGIN, timeouts, an uncached statement
    /// closed before COMMIT, so nothing named outlives the transaction.
    pub async fn query_once(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, ApiError> {
        let client = self.inner.get().await?;
        let Some(pooler) = &self.pooler else {
            let statement = client.prepare_cached(sql).await?;
            return Ok(client.query(&statement, params).await?);
        };
        // Cancelled mid-transaction (a request deadline, a client gone): the
        // connection is discarded, never returned with a transaction open.
        let mut guard = DiscardUnlessFinished(Some(client));
        let client = guard.client()?;
        let run = async {
            client.batch_execute("BEGIN").await?;
            client.query_typed(SET_TIMEOUTS, &pooler.params()).await?;
            let statement = client.prepare(sql).await?;
            let rows = client.query(&statement, params).await?;
            // Closed (queued before COMMIT) so no name survives on the server.
            drop(statement);
            client.batch_execute("COMMIT").await?;
            Ok::<_, tokio_postgres::Error>(rows)
        };
        let result = run.await;
        let rolled_back = match &result {
            Ok(_) => true,
            Err(_) => client.batch_execute("ROLLBACK").await.is_ok(),
        };
        if rolled_back {
            guard.finish();
        }
        Ok(result?)
    }
}

/// Holds a checked-out connection inside a transaction; dropped before
/// [`Self::finish`], it closes the connection instead of returning it to the pool.
struct DiscardUnlessFinished(Option<deadpool_postgres::Object>);

impl DiscardUnlessFinished {
    fn client(&self) -> Result<&deadpool_postgres::Object, ApiError> {
        self.0
            .as_ref()
            .ok_or_else(|| ApiError::internal("connection already released"))
    }

    /// The transaction ended: the connection may go back to the pool.
    fn finish(&mut self) {
        drop(self.0.take());
    }
}

impl Drop for DiscardUnlessFinished {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            drop(deadpool_postgres::Object::take(client));
        }
    }
}

/// Transaction-local timeouts, for when startup options cannot carry them.
pub(super) const SET_TIMEOUTS: &str = "\
SELECT set_config('statement_timeout', $1, true), \
       set_config('lock_timeout', $1, true), \
       set_config('idle_in_transaction_session_timeout', $2, true)";

impl TransactionPooler {
    pub(super) fn params(&self) -> [(&(dyn ToSql + Sync), Type); 2] {
        [
            (&self.statement_timeout_ms, Type::TEXT),
            (&self.idle_in_transaction_timeout_ms, Type::TEXT),
        ]
    }
}

fn millis(duration: Duration) -> u128 {
    duration.as_millis()
}

/// Opens the pool as the application role and verifies, over one of its own
/// connections, that it really is that role and cannot bypass RLS.
pub async fn app_pool(config: &Config) -> Result<Pool, SetupError> {
    let url = config
        .app_database_url
        .as_ref()
        .unwrap_or(&config.database_url);
    let mut pg: PgConfig = url.expose().parse().map_err(SetupError::Url)?;
    if pg.get_dbname().is_none() {
        // A pooler URL may name only where to connect: the database is the owner's.
        let owner: PgConfig = config
            .database_url
            .expose()
            .parse()
            .map_err(SetupError::Url)?;
        if let Some(name) = owner.get_dbname() {
            pg.dbname(name);
        }
    }
    pg.user(&config.app_role)
        .password(config.app_password.expose())
        .application_name("crm");
    let timeout = millis(config.statement_timeout);
    let pooler = config.pgbouncer.then(|| TransactionPooler {
        statement_timeout_ms: timeout.to_string(),
        idle_in_transaction_timeout_ms: (timeout * 2).to_string(),
    });
    if pooler.is_none() {
        pg.options(format!(
            "-c statement_timeout={timeout} -c idle_in_transaction_session_timeout={} -c lock_timeout={timeout}",
            timeout * 2,
        ));
    }
    let manager = Manager::from_config(
        pg,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let inner = deadpool_postgres::Pool::builder(manager)
        .max_size(config.pool_size)
        .wait_timeout(Some(config.pool_wait_timeout))
        .create_timeout(Some(config.pool_wait_timeout))
        .recycle_timeout(Some(config.pool_wait_timeout))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|err| SetupError::Pool(err.to_string()))?;
    let client = inner
        .get()
        .await
        .map_err(|err| SetupError::Pool(err.to_string()))?;
    // Unnamed (query_typed): works directly and behind a transaction pooler alike.
    let safe: bool = client
        .query_typed(
            "SELECT current_user = $1::text AND NOT rolsuper AND NOT rolbypassrls FROM pg_roles WHERE rolname = current_user",
            &[(&config.app_role, Type::TEXT)],
        )
        .await
        .map_err(|source| SetupError::Sql { context: "asking the pool who it is", source })?
        .first()
        .is_some_and(|row| row.get(0));
    drop(client);
    if safe {
        Ok(Pool { inner, pooler })
    } else {
        Err(SetupError::UnsafePoolRole(config.app_role.clone()))
    }
}
