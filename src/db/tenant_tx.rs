//! [`TenantTx`]: a pooled connection inside a transaction whose first statement sets
//! the tenant, user and role with `set_config(..., true)` (transaction-local).
//!
//! Handlers and data functions receive this type, never a pool or a client, so "forgot
//! the tenant" does not compile. Round trips are the cost to beat: BEGIN, the context
//! and the first statement are sent together, and the `*_and_commit` methods add COMMIT
//! to the same flight, so a single-statement request costs one round trip.

use deadpool_postgres::Object;
use futures::join;
use tokio_postgres::{
    Row,
    types::{ToSql, Type},
};
use uuid::Uuid;

use super::{Pool, TransactionPooler, pool::SET_TIMEOUTS};
use crate::{auth::Role, error::ApiError};

/// Who is acting: taken only from a verified token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantContext {
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub role: Role,
}

/// Sets the context and reports what the connection carried before: anything but
/// NULL or '' means a tenant leaked from an earlier checkout. Public for the
/// benchmark's pgbench scripts, which run the same statement.
pub const SET_CONTEXT: &str = "\
SELECT nullif(current_setting('app.tenant_id', true), '') AS leaked_tenant, \
       set_config('app.tenant_id', $1, true), \
       set_config('app.user_id', $2, true), \
       set_config('app.role', $3, true)";

/// Raises `tenant_modules_disabled` (answered 404) when the tenant switched `$1` off.
const REQUIRE_MODULE: &str = "SELECT app.require_module($1)";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Checked out; BEGIN not sent yet (it goes with the first statement).
    Idle,
    Open,
    Finished,
}

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

pub struct TenantTx {
    client: Option<Object>,
    /// Behind a transaction pooler: uncached statements and in-transaction timeouts.
    pooler: Option<TransactionPooler>,
    context: TenantContext,
    state: State,
    /// The vertical module this transaction serves, checked in its first flight.
    module: Option<&'static str>,
}

impl TenantTx {
    /// Checks out a connection for `context`. Nothing is sent until the first statement.
    pub async fn begin(pool: &Pool, context: TenantContext) -> Result<Self, ApiError> {
        let client = pool.get().await?;
        Ok(Self {
            client: Some(client),
            pooler: pool.transaction_pooler().cloned(),
            context,
            state: State::Idle,
            module: None,
        })
    }

    /// [`Self::begin`] for a request to a vertical `module`: the first flight also asks
    /// (one primary-key lookup) whether the tenant has the module switched on. If not,
    /// the transaction aborts before the request's statement runs and the request
    /// answers 404, without an extra round trip.
    pub async fn begin_in_module(
        pool: &Pool,
        context: TenantContext,
        module: &'static str,
    ) -> Result<Self, ApiError> {
        let mut tx = Self::begin(pool, context).await?;
        tx.module = Some(module);
        Ok(tx)
    }

    pub fn context(&self) -> TenantContext {
        self.context
    }

    pub async fn query(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, ApiError> {
        self.run(sql, params, false).await
    }

    pub async fn query_opt(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Option<Row>, ApiError> {
        at_most_one(self.run(sql, params, false).await?)
    }

    pub async fn query_one(&mut self, sql: &str, params: Params<'_>) -> Result<Row, ApiError> {
        at_most_one(self.run(sql, params, false).await?)?.ok_or(ApiError::NotFound)
    }

    /// Runs the last statement of the transaction and COMMIT in the same round trip.
    pub async fn query_and_commit(
        mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Vec<Row>, ApiError> {
        self.run(sql, params, true).await
    }

    /// [`Self::query_and_commit`] for a statement that returns at most one row.
    pub async fn query_opt_and_commit(
        mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Option<Row>, ApiError> {
        at_most_one(self.run(sql, params, true).await?)
    }

    /// Runs the last statement (which must return a row for what it touched, e.g.
    /// `DELETE ... RETURNING id`) with COMMIT; `NotFound` when it touched nothing.
    pub async fn affect_one_and_commit(
        self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<(), ApiError> {
        match self.query_opt_and_commit(sql, params).await? {
            Some(_) => Ok(()),
            None => Err(ApiError::NotFound),
        }
    }

    pub async fn commit(mut self) -> Result<(), ApiError> {
        if self.state == State::Open {
            let client = self.client()?;
            let result = client.batch_execute("COMMIT").await;
            self.state = State::Finished;
            result?;
        }
        Ok(())
    }

    fn client(&self) -> Result<&Object, ApiError> {
        self.client
            .as_ref()
            .ok_or_else(|| ApiError::internal("transaction used after release"))
    }

    async fn run(
        &mut self,
        sql: &str,
        params: Params<'_>,
        commit: bool,
    ) -> Result<Vec<Row>, ApiError> {
        if self.state == State::Finished {
            return Err(ApiError::internal("transaction used after commit"));
        }
        let starting = self.state == State::Idle;
        // Open from here on: if this future is dropped mid-flight, Drop rolls back.
        self.state = State::Open;
        if self.pooler.is_some() {
            return self.run_uncached(sql, params, starting, commit).await;
        }
        let client = self.client()?;
        // Prepare before anything is sent: a statement prepared inside the joined
        // futures would let the query overtake set_config.
        let set_context = if starting {
            Some(client.prepare_cached(SET_CONTEXT).await?)
        } else {
            None
        };
        let module_check = match (starting, self.module) {
            (true, Some(module)) => Some((client.prepare_cached(REQUIRE_MODULE).await?, module)),
            _ => None,
        };
        let statement = client.prepare_cached(sql).await?;
        let (tenant, user, role) = (
            self.context.tenant_id.to_string(),
            self.context.user_id.to_string(),
            self.context.role.as_str(),
        );

        // futures::join! polls in order, so the requests are queued in this order.
        let (began, context, module_checked, rows, committed) = join!(
            async {
                match starting {
                    true => client.batch_execute("BEGIN").await,
                    false => Ok(()),
                }
            },
            async {
                match &set_context {
                    Some(set_context) => client
                        .query_one(set_context, &[&tenant, &user, &role])
                        .await
                        .map(Some),
                    None => Ok(None),
                }
            },
            async {
                match &module_check {
                    Some((check, module)) => client.query(check, &[module]).await.map(drop),
                    None => Ok(()),
                }
            },
            client.query(&statement, params),
            async {
                match commit {
                    true => client.batch_execute("COMMIT").await,
                    false => Ok(()),
                }
            },
        );
        if commit {
            self.state = State::Finished;
        }
        began?;
        if let Some(context) = context? {
            let leaked: Option<String> = context.get("leaked_tenant");
            if leaked.is_some() {
                self.discard_connection();
                return Err(ApiError::internal(
                    "a pooled connection carried a tenant from an earlier checkout",
                ));
            }
        }
        module_checked?;
        let rows = rows?;
        committed?;
        Ok(rows)
    }

    /// [`Self::run`] behind a transaction pooler: the server connection is ours only
    /// until COMMIT, so statements are prepared inside the transaction and closed
    /// before it ends, and the timeouts that startup options would carry are set here.
    async fn run_uncached(
        &mut self,
        sql: &str,
        params: Params<'_>,
        starting: bool,
        commit: bool,
    ) -> Result<Vec<Row>, ApiError> {
        let client = self.client()?;
        if starting {
            let pooler = self
                .pooler
                .as_ref()
                .ok_or_else(|| ApiError::internal("no pooler settings"))?;
            let (tenant, user, role) = (
                self.context.tenant_id.to_string(),
                self.context.user_id.to_string(),
                self.context.role.as_str(),
            );
            let timeouts = pooler.params();
            let context_params: [(&(dyn ToSql + Sync), Type); 3] = [
                (&tenant, Type::TEXT),
                (&user, Type::TEXT),
                (&role, Type::TEXT),
            ];
            let (began, timeouts_set, context) = join!(
                client.batch_execute("BEGIN"),
                client.query_typed(SET_TIMEOUTS, &timeouts),
                client.query_typed(SET_CONTEXT, &context_params),
            );
            began?;
            timeouts_set?;
            let leaked: Option<String> = context?.first().and_then(|row| row.get("leaked_tenant"));
            if leaked.is_some() {
                self.discard_connection();
                return Err(ApiError::internal(
                    "a pooled connection carried a tenant from an earlier checkout",
                ));
            }
        }
        let statement = client.prepare(sql).await?;
        let rows = client.query(&statement, params).await?;
        drop(statement);
        if commit {
            client.batch_execute("COMMIT").await?;
            self.state = State::Finished;
        }
        Ok(rows)
    }

    /// Takes the connection out of the pool for good (it is closed when dropped).
    fn discard_connection(&mut self) {
        if let Some(client) = self.client.take() {
            drop(Object::take(client));
        }
        self.state = State::Finished;
    }
}

fn at_most_one(mut rows: Vec<Row>) -> Result<Option<Row>, ApiError> {
    match rows.len() {
        0 | 1 => Ok(rows.pop()),
        n => Err(ApiError::internal(format!(
            "expected at most one row, got {n}"
        ))),
    }
}

impl Drop for TenantTx {
    /// Dropped inside a transaction (an error, a cancelled request): the connection
    /// goes back to the pool only after ROLLBACK has completed, and is discarded if
    /// ROLLBACK fails. It never returns with a transaction open or a tenant set.
    fn drop(&mut self) {
        if self.state != State::Open {
            return;
        }
        let Some(client) = self.client.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(err) = client.batch_execute("ROLLBACK").await {
                        tracing::warn!(error = %err, "rollback failed; discarding the connection");
                        drop(Object::take(client));
                    }
                });
            }
            Err(_) => drop(Object::take(client)),
        }
    }
}
