//! [`Db`], the application pool: connections log in as the application role, never the
//! owner. It has no `Deref` to the raw pool: SQL reaches it only through its doors,
//! [`Db::tx`] (tenant data) and [`Db::pre_tenant`] (the definer functions).
//!
//! Behind PgBouncer in transaction mode (`CRM_PGBOUNCER=true`) a server connection
//! belongs to a client only for one transaction: named statements cannot be cached
//! across transactions and startup options (`-c statement_timeout=…`) are refused.
//! The pool then remembers the timeouts so [`super::TenantTx`] sets them with
//! `set_config(…, true)` inside each transaction.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, RecyclingMethod, Runtime};
use tokio_postgres::{
    Config as PgConfig, NoTls, Row,
    types::{ToSql, Type},
};

use super::budget::{Budget, Holder, Slot};
use super::settle::{Cancel, Effect, Settled, ensure_time_left, settle, told_as_deadline};
use super::{ContextSigner, DbError, Dispatcher, PreTenant, SetupError, TenantTx};
use crate::platform::{
    config::Config,
    lane::Lane,
    module::{Meaning, ModuleInfo},
    tenancy::TenantContext,
};

/// The deadpool pool of application-role connections, and how statements must be run
/// on them.
#[derive(Clone)]
pub struct Db {
    inner: deadpool_postgres::Pool,
    pooler: Option<TransactionPooler>,
    signer: ContextSigner,
    /// How many of the pool's connections one tenant may hold at once.
    budget: Budget,
    /// How many of those may run text searches at once (no index serves them).
    searches: Budget,
    /// How many of the pool's connections the requests of one lane may hold at once,
    /// all tenants together: most of the pool, never all of it.
    lanes: Budget,
    /// How many of a tenant's share its requests of one lane may hold: most of the
    /// share, never all of it.
    tenant_lanes: Budget,
    /// A few connections as the worker role, for the dispatcher door alone.
    worker: deadpool_postgres::Pool,
    /// One connection of the application role for `/ready` alone, so that a pool
    /// saturated by requests waiting on a lock does not read as a database gone.
    probe: deadpool_postgres::Pool,
}

/// Settings applied inside every transaction when behind a transaction pooler.
#[derive(Clone, Debug)]
pub(super) struct TransactionPooler {
    statement_timeout_ms: String,
    idle_in_transaction_timeout_ms: String,
}

impl Db {
    /// The tenant door: a transaction for `context`, serving `module`. Nothing is sent
    /// until the first statement; that flight carries BEGIN, the signed context
    /// (`app.enter`), the module switch when `module` is switchable, and the
    /// statement. Constraint violations are read with `module`'s meanings.
    ///
    /// The tenant's slots (see [`Budget`]) are taken before the connection, so a
    /// tenant over its share waits (briefly) for its own slots, never for the pool; and
    /// requests of one lane (see [`Lane`]) stuck behind a lock leave connections for
    /// the others.
    pub async fn tx(
        &self,
        context: TenantContext,
        module: &'static ModuleInfo,
    ) -> Result<TenantTx, DbError> {
        ensure_time_left()?;
        let slots = self.slots(context.tenant_id()).await?;
        let client = self.inner.get().await?;
        let claim = self.signer.claim(&context);
        Ok(TenantTx::new(
            client,
            self.pooler.clone(),
            context,
            claim,
            module,
            slots,
        ))
    }

    /// The slots a tenant's transaction holds: of its lane within the tenant's share,
    /// of the tenant, and of its lane across tenants.
    async fn slots(&self, tenant: uuid::Uuid) -> Result<Vec<Slot>, DbError> {
        let mut slots = Vec::with_capacity(4);
        let lane = Lane::current();
        if let Some(lane) = &lane {
            let holder = Holder::TenantLane(tenant, lane.clone());
            slots.push(self.tenant_lanes.acquire(holder).await?);
        }
        slots.push(self.budget.acquire(Holder::Tenant(tenant)).await?);
        if let Some(lane) = lane {
            slots.push(self.lanes.acquire(Holder::Lane(lane)).await?);
        }
        Ok(slots)
    }

    /// [`Self::tx`] for a list page: a text search (`searches`) first takes a slot of
    /// the tenant's search budget, smaller than its share of the pool, so one tenant's
    /// searches cannot take every core the database has.
    pub async fn tx_for(
        &self,
        context: TenantContext,
        module: &'static ModuleInfo,
        searches: bool,
    ) -> Result<TenantTx, DbError> {
        if !searches {
            return self.tx(context, module).await;
        }
        let slot = self
            .searches
            .acquire(Holder::Tenant(context.tenant_id()))
            .await?;
        let mut tx = self.tx(context, module).await?;
        tx.hold_search_slot(slot);
        Ok(tx)
    }

    /// The pre-tenant door: only the reviewed SECURITY DEFINER calls of login, signup
    /// and refresh.
    pub fn pre_tenant(&self) -> PreTenant<'_> {
        PreTenant::new(self)
    }

    /// The worker's door: the claim of due mail across tenants, and its settlement.
    pub fn dispatcher(&self) -> Dispatcher<'_> {
        Dispatcher::new(self)
    }

    /// Open, idle and waiting connections (for `/metrics`).
    pub fn status(&self) -> deadpool_postgres::Status {
        self.inner.status()
    }

    /// Closes the pools: checked-out connections finish, no new ones are handed out.
    pub fn close(&self) {
        self.inner.close();
        self.worker.close();
        self.probe.close();
    }

    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Whether every pooled connection is in use and requests wait for one.
    pub fn is_saturated(&self) -> bool {
        self.inner.status().waiting > 0
    }

    /// The newest applied migration, or `None` when the database does not answer,
    /// asked over the probe's own connection (simple protocol: no statement to cache,
    /// so this also works behind PgBouncer).
    pub async fn schema_version(&self) -> Option<i64> {
        let client = self.probe.get().await.ok()?;
        let messages = client
            .simple_query("SELECT coalesce(max(version), 0) FROM refinery_schema_history")
            .await
            .ok()?;
        messages.iter().find_map(|message| match message {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0)?.parse().ok(),
            _ => None,
        })
    }

    /// Runs one statement outside any tenant (the reviewed SECURITY DEFINER functions
    /// of login, signup and refresh). Directly: a cached prepared statement, one round
    /// trip. Behind a transaction pooler: BEGIN, timeouts, an uncached statement
    /// closed before COMMIT, so nothing named outlives the transaction.
    pub(super) async fn query_once(
        &self,
        (sql, effect): (&str, Effect),
        params: &[&(dyn ToSql + Sync)],
        meaning: impl Fn(&str) -> Option<Meaning> + Copy,
    ) -> Result<Vec<Row>, DbError> {
        let pooler = self.pooler.as_ref();
        run_once(&self.inner, pooler, (sql, effect), params, meaning).await
    }

    /// [`Self::query_once`] as the worker role (the dispatcher's definer calls).
    pub(super) async fn query_once_as_worker(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, DbError> {
        run_once(&self.worker, None, (sql, Effect::Writes), params, |_| None).await
    }
}

/// One statement in its own transaction on a connection of `pool` (see
/// [`Db::query_once`]); `pooler` when the pool goes through a transaction pooler.
async fn run_once(
    pool: &deadpool_postgres::Pool,
    pooler: Option<&TransactionPooler>,
    (sql, effect): (&str, Effect),
    params: &[&(dyn ToSql + Sync)],
    meaning: impl Fn(&str) -> Option<Meaning> + Copy,
) -> Result<Vec<Row>, DbError> {
    let classify = |err| DbError::classify(err, meaning);
    ensure_time_left()?;
    let client = pool.get().await?;
    // Cancelled mid-transaction (a request deadline, a client gone) or cancelled on
    // the server: the connection is discarded, never returned with a transaction open
    // or a cancel possibly still on its way.
    let mut guard = DiscardUnlessFinished(Some(client));
    let client = guard.client()?;
    let Some(pooler) = pooler else {
        let statement = client.prepare_cached(sql).await.map_err(classify)?;
        // One statement in autocommit: it commits as it ends.
        let query = client.query(&statement, params);
        let cancel = Cancel::OnTheServer;
        let (result, settled) = settle(client, cancel, effect, Result::is_ok, query).await;
        if settled == Settled::InTime {
            guard.finish();
        }
        return result
            .map_err(classify)
            .map_err(|err| told_as_deadline(err, settled));
    };
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
    let (result, settled) = settle(client, Cancel::Never, effect, Result::is_ok, run).await;
    let reusable = settled == Settled::InTime
        && match &result {
            Ok(_) => true,
            Err(_) => client.batch_execute("ROLLBACK").await.is_ok(),
        };
    if reusable {
        guard.finish();
    }
    result
        .map_err(classify)
        .map_err(|err| told_as_deadline(err, settled))
}

/// Holds a checked-out connection inside a transaction; dropped before
/// [`Self::finish`], it closes the connection instead of returning it to the pool.
struct DiscardUnlessFinished(Option<deadpool_postgres::Object>);

impl DiscardUnlessFinished {
    fn client(&self) -> Result<&deadpool_postgres::Object, DbError> {
        self.0
            .as_ref()
            .ok_or_else(|| DbError::internal("connection already released"))
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
/// connections, that it really is that role and cannot bypass RLS. Tenant
/// transactions enter contexts signed by `signer`. Opens the worker's pool beside it.
pub async fn app_pool(config: &Config, signer: ContextSigner) -> Result<Db, SetupError> {
    let url = config
        .app_database_url
        .as_ref()
        .unwrap_or(&config.database_url);
    let mut pg: PgConfig = url.expose().parse().map_err(SetupError::Url)?;
    if pg.get_dbname().is_none() {
        // A pooler URL may name only where to connect: the database is the owner's.
        if let Some(name) = owner_config(config)?.get_dbname() {
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
        pg.options(timeout_options(timeout));
    }
    let inner = build_pool(pg.clone(), config.pool_size, config)?;
    verify_role(&inner, &config.app_role, "crm_worker").await?;
    let probe = build_pool(pg, 1, config)?;
    let (wait, tenant_busy) = (config.tenant_queue_wait, || DbError::TenantBusy);
    Ok(Db {
        inner,
        pooler,
        signer,
        budget: Budget::new(config.tenant_max_connections, wait, tenant_busy),
        searches: Budget::new(config.tenant_max_searches, wait, tenant_busy),
        lanes: Budget::new(most_of(config.pool_size), wait, || DbError::Busy(LANE_BUSY)),
        tenant_lanes: Budget::new(most_of(config.tenant_max_connections), wait, tenant_busy),
        worker: worker_pool(config).await?,
        probe,
    })
}

/// What one lane may hold of `slots`: all but one, so that another lane always finds
/// one (the least that guarantees it: writes bound by commit latency want every
/// connection they can get); all of a single slot.
fn most_of(slots: usize) -> usize {
    slots.saturating_sub(1).max(1)
}

/// The answer when every tenant's requests of a lane hold all the lane may have.
const LANE_BUSY: &str = "Requests on this kind of record are held up; retry shortly.";

/// Connections the job host's claims need at most at once.
const WORKER_POOL_SIZE: usize = 2;

/// The worker role's pool: straight to the database of DATABASE_URL (never through a
/// transaction pooler: a handful of connections), verified like the application's.
async fn worker_pool(config: &Config) -> Result<deadpool_postgres::Pool, SetupError> {
    let mut pg = owner_config(config)?;
    pg.user(&config.worker_role)
        .password(config.worker_password.expose())
        .application_name("crm-worker")
        .options(timeout_options(millis(config.statement_timeout)));
    let pool = build_pool(pg, WORKER_POOL_SIZE, config)?;
    verify_role(&pool, &config.worker_role, "crm_api").await?;
    Ok(pool)
}

fn owner_config(config: &Config) -> Result<PgConfig, SetupError> {
    config
        .database_url
        .expose()
        .parse()
        .map_err(SetupError::Url)
}

fn timeout_options(timeout_ms: u128) -> String {
    format!(
        "-c statement_timeout={timeout_ms} -c idle_in_transaction_session_timeout={} -c lock_timeout={timeout_ms}",
        timeout_ms * 2,
    )
}

fn build_pool(
    pg: PgConfig,
    size: usize,
    config: &Config,
) -> Result<deadpool_postgres::Pool, SetupError> {
    let manager = Manager::from_config(
        pg,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    deadpool_postgres::Pool::builder(manager)
        .max_size(size)
        .wait_timeout(Some(config.pool_wait_timeout))
        .create_timeout(Some(config.pool_wait_timeout))
        .recycle_timeout(Some(config.pool_wait_timeout))
        .runtime(Runtime::Tokio1)
        .build()
        .map_err(|err| SetupError::Pool(err.to_string()))
}

/// Refuses a pool that is not logged in as `role`, or whose role is a superuser, can
/// bypass RLS, or is a member of `other_group` (requests and the worker never share
/// powers).
async fn verify_role(
    pool: &deadpool_postgres::Pool,
    role: &str,
    other_group: &str,
) -> Result<(), SetupError> {
    let client = pool
        .get()
        .await
        .map_err(|err| SetupError::Pool(err.to_string()))?;
    // Unnamed (query_typed): works directly and behind a transaction pooler alike.
    let safe: bool = client
        .query_typed(
            "SELECT current_user = $1::text AND NOT rolsuper AND NOT rolbypassrls \
                    AND NOT pg_has_role(current_user, $2::text, 'MEMBER') \
             FROM pg_roles WHERE rolname = current_user",
            &[(&role, Type::TEXT), (&other_group, Type::TEXT)],
        )
        .await
        .map_err(|source| SetupError::Sql {
            context: "asking the pool who it is",
            source,
        })?
        .first()
        .is_some_and(|row| row.get(0));
    if safe {
        Ok(())
    } else {
        Err(SetupError::UnsafePoolRole(role.to_owned()))
    }
}
