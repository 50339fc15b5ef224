//! [`TenantTx`], what the tenant door ([`super::Db::tx`]) opens: a pooled connection
//! inside a transaction whose first statement enters the server-signed context
//! (`app.enter`, see [`super::ContextSigner`]): the database checks the signature, the
//! membership and the session, and sets the transaction-local context the policies
//! verify.
//!
//! Stores receive this type, never a pool or a client, so "forgot the tenant" does not
//! compile. Round trips are the cost to beat: BEGIN, the context
//! and the first statement are sent together, and the `*_and_commit` methods add COMMIT
//! to the same flight, so a single-statement request costs one round trip.

use super::role;
use super::settle::{Cancel, Effect, Settled, ensure_time_left, settle, told_as_deadline};
use super::{DbError, TransactionPooler, budget::Slot, pool::SET_TIMEOUTS};
use crate::platform::{
    module::ModuleInfo,
    tenancy::{Role, TenantContext},
};
use deadpool_postgres::Object;
use futures::join;
use tokio_postgres::{
    Row,
    types::{ToSql, Type},
};

/// Enters the signed claim `$1`: raises `context_not_signed` (a server fault) or
/// `membership_inactive` (answered 401: the membership is gone or the access token's
/// session was revoked), aborting the transaction before the request's statement runs;
/// else answers the caller's current role and whether the connection already carried
/// a context (a leak from an earlier checkout). Public for the benchmark's pgbench
/// scripts, which run the same statement.
pub const ENTER: &str = "SELECT role, leaked FROM app.enter($1)";

/// Raises `tenant_modules_disabled` (answered 404) when the tenant switched `$1` off
/// (the first flight of a switchable module's transaction runs it after [`ENTER`]).
pub const REQUIRE_MODULE: &str = "SELECT app.require_module($1)";

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
    /// The signed claim the first flight enters.
    claim: String,
    state: State,
    /// The module this transaction serves: its switch is checked in the first flight
    /// (when switchable), and its constraint meanings read every violation.
    module: &'static ModuleInfo,
    /// The caller's role as the membership says (read in the first flight).
    role: Role,
    /// The tenant's and the lane's slots (see [`super::budget`]), and one of the
    /// tenant's search budget for a text search; released when this is dropped.
    slots: Vec<Slot>,
}

impl TenantTx {
    pub(super) fn new(
        client: Object,
        pooler: Option<TransactionPooler>,
        context: TenantContext,
        claim: String,
        module: &'static ModuleInfo,
        slots: Vec<Slot>,
    ) -> Self {
        Self {
            client: Some(client),
            pooler,
            context,
            claim,
            state: State::Idle,
            module,
            role: context.role(),
            slots,
        }
    }

    /// Keeps a slot of the tenant's search budget for as long as the transaction.
    pub(super) fn hold_search_slot(&mut self, slot: Slot) {
        self.slots.push(slot);
    }

    pub fn context(&self) -> TenantContext {
        self.context
    }

    /// The caller's current role: the membership's, once the first statement ran
    /// (the token's role may be stale).
    pub fn role(&self) -> Role {
        self.role
    }

    /// Runs only the first flight (context and module switch) and commits: for a
    /// request refused before any statement, so that a tenant without the module gets
    /// 404 whether or not its request was well formed.
    pub async fn ensure_module(self) -> Result<(), DbError> {
        self.query_and_commit("SELECT", &[]).await.map(drop)
    }

    fn classify(&self) -> impl Fn(tokio_postgres::Error) -> DbError + use<> {
        let module = self.module;
        move |err| DbError::classify(err, |name| module.constraint(name))
    }

    pub async fn query(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, DbError> {
        self.run(sql, params, false).await
    }

    pub async fn query_opt(
        &mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Option<Row>, DbError> {
        at_most_one(self.run(sql, params, false).await?)
    }

    pub async fn query_one(&mut self, sql: &str, params: Params<'_>) -> Result<Row, DbError> {
        at_most_one(self.run(sql, params, false).await?)?.ok_or(DbError::NotFound)
    }

    /// Runs the last statement of the transaction and COMMIT in the same round trip.
    pub async fn query_and_commit(
        mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Vec<Row>, DbError> {
        self.run(sql, params, true).await
    }

    /// [`Self::query_and_commit`] for a statement that returns at most one row.
    pub async fn query_opt_and_commit(
        mut self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Option<Row>, DbError> {
        at_most_one(self.run(sql, params, true).await?)
    }

    /// Runs the last statement (which must return a row for what it touched, e.g.
    /// `DELETE ... RETURNING id`) with COMMIT; `NotFound` when it touched nothing.
    pub async fn affect_one_and_commit(self, sql: &str, params: Params<'_>) -> Result<(), DbError> {
        match self.query_opt_and_commit(sql, params).await? {
            Some(_) => Ok(()),
            None => Err(DbError::NotFound),
        }
    }

    pub async fn commit(mut self) -> Result<(), DbError> {
        if self.state == State::Open {
            let client = self.client()?;
            let commit = client.batch_execute("COMMIT");
            let cancel = Cancel::behind_pooler(self.pooler.is_some());
            let (result, settled) =
                settle(client, cancel, Effect::Writes, Result::is_ok, commit).await;
            self.finish(settled);
            result
                .map_err(self.classify())
                .map_err(|err| told_as_deadline(err, settled))?;
        }
        Ok(())
    }

    fn client(&self) -> Result<&Object, DbError> {
        self.client
            .as_ref()
            .ok_or_else(|| DbError::internal("transaction used after release"))
    }

    /// The transaction ended (committed, or rolled back by the database); a connection
    /// whose statement was cancelled never serves again.
    fn finish(&mut self, settled: Settled) {
        self.state = State::Finished;
        if settled == Settled::Cancelled {
            self.discard_connection();
        }
    }

    async fn run(
        &mut self,
        sql: &str,
        params: Params<'_>,
        commit: bool,
    ) -> Result<Vec<Row>, DbError> {
        if self.state == State::Finished {
            return Err(DbError::internal("transaction used after commit"));
        }
        ensure_time_left()?;
        let starting = self.state == State::Idle;
        // Open from here on: if this future is dropped mid-flight, Drop rolls back.
        self.state = State::Open;
        let client = self.client()?;
        let effect = match commit {
            true => Effect::Writes,
            false => Effect::Reads,
        };
        let committed = |outcome: &Result<Flight, DbError>| {
            outcome
                .as_ref()
                .is_ok_and(|flight| flight.rows.is_ok() && flight.committed.is_ok())
        };
        let cancel = Cancel::behind_pooler(self.pooler.is_some());
        let (outcome, settled) = match self.pooler.is_some() {
            true => {
                let flight = self.flight_uncached(client, sql, params, starting, commit);
                settle(client, cancel, effect, committed, flight).await
            }
            false => {
                let flight = self.flight(client, sql, params, starting, commit);
                settle(client, cancel, effect, committed, flight).await
            }
        };
        // A flight sent whole with COMMIT ends the transaction either way (an error
        // anywhere in it rolled it back); a cancelled one ends it too.
        if (commit && outcome.is_ok()) || settled == Settled::Cancelled {
            self.finish(settled);
        }
        outcome
            .and_then(|outcome| self.take(outcome))
            .map_err(|err| told_as_deadline(err, settled))
    }

    /// Reads what the first flight's `app.enter` answered and the statement's rows.
    fn take(&mut self, outcome: Flight) -> Result<Vec<Row>, DbError> {
        let classify = self.classify();
        let Flight {
            began,
            entered,
            module_checked,
            rows,
            committed,
        } = outcome;
        began.map_err(&classify)?;
        if let Some(entered) = entered.map_err(&classify)? {
            let (fresh, leaked) = entered_as(&entered)?;
            if leaked {
                return Err(self.discard_leaked());
            }
            self.role = fresh;
        }
        module_checked.map_err(&classify)?;
        let rows = rows.map_err(&classify)?;
        committed.map_err(&classify)?;
        Ok(rows)
    }

    /// Prepares (before anything is sent: a statement prepared inside the joined
    /// futures would let the query overtake the context), then sends BEGIN, the
    /// context, the module check, the statement and COMMIT as one flight.
    async fn flight(
        &self,
        client: &Object,
        sql: &str,
        params: Params<'_>,
        starting: bool,
        commit: bool,
    ) -> Result<Flight, DbError> {
        let classify = self.classify();
        let enter = match starting {
            true => Some(client.prepare_cached(ENTER).await.map_err(&classify)?),
            false => None,
        };
        let module_check = match starting && self.module.switchable {
            true => Some((
                client
                    .prepare_cached(REQUIRE_MODULE)
                    .await
                    .map_err(&classify)?,
                self.module.name,
            )),
            false => None,
        };
        let statement = client.prepare_cached(sql).await.map_err(&classify)?;
        let claim = &self.claim;

        // futures::join! polls in order, so the requests are queued in this order.
        let (began, entered, module_checked, rows, committed) = join!(
            async {
                match starting {
                    true => client.batch_execute("BEGIN").await,
                    false => Ok(()),
                }
            },
            async {
                match &enter {
                    Some(enter) => client.query_one(enter, &[claim]).await.map(Some),
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
        Ok(Flight {
            began,
            entered,
            module_checked,
            rows,
            committed,
        })
    }

    /// [`Self::flight`] behind a transaction pooler: the server connection is ours
    /// only until COMMIT, so statements are prepared inside the transaction and closed
    /// before it ends, and the timeouts that startup options would carry are set here.
    /// One statement at a time; an error stops the flight (Drop rolls back).
    async fn flight_uncached(
        &self,
        client: &Object,
        sql: &str,
        params: Params<'_>,
        starting: bool,
        commit: bool,
    ) -> Result<Flight, DbError> {
        let classify = self.classify();
        let mut entered = None;
        if starting {
            let pooler = self
                .pooler
                .as_ref()
                .ok_or_else(|| DbError::internal("no pooler settings"))?;
            let timeouts = pooler.params();
            let claim: [(&(dyn ToSql + Sync), Type); 1] = [(&self.claim, Type::TEXT)];
            let (began, timeouts_set, rows) = join!(
                client.batch_execute("BEGIN"),
                client.query_typed(SET_TIMEOUTS, &timeouts),
                client.query_typed(ENTER, &claim),
            );
            began.map_err(&classify)?;
            timeouts_set.map_err(&classify)?;
            let row = rows
                .map_err(&classify)?
                .into_iter()
                .next()
                .ok_or_else(|| DbError::internal("app.enter answered no row"))?;
            if entered_as(&row)?.1 {
                // Read by `take`, which discards the connection.
                return Ok(Flight::answered(Some(row), Vec::new()));
            }
            entered = Some(row);
            if self.module.switchable {
                let module = self.module.name;
                client
                    .query_typed(REQUIRE_MODULE, &[(&module, Type::TEXT)])
                    .await
                    .map_err(&classify)?;
            }
        }
        let statement = client.prepare(sql).await.map_err(&classify)?;
        let rows = client.query(&statement, params).await.map_err(&classify)?;
        drop(statement);
        if commit {
            client.batch_execute("COMMIT").await.map_err(&classify)?;
        }
        Ok(Flight::answered(entered, rows))
    }

    /// The connection carried a context from an earlier checkout: it never serves again.
    fn discard_leaked(&mut self) -> DbError {
        self.discard_connection();
        DbError::internal("a pooled connection carried a tenant context from an earlier checkout")
    }

    /// Takes the connection out of the pool for good (it is closed when dropped).
    fn discard_connection(&mut self) {
        if let Some(client) = self.client.take() {
            drop(Object::take(client));
        }
        self.state = State::Finished;
    }
}

/// What each part of one flight answered, in the order they were sent.
struct Flight {
    began: Result<(), tokio_postgres::Error>,
    entered: Result<Option<Row>, tokio_postgres::Error>,
    module_checked: Result<(), tokio_postgres::Error>,
    rows: Result<Vec<Row>, tokio_postgres::Error>,
    committed: Result<(), tokio_postgres::Error>,
}

impl Flight {
    /// A flight run one statement at a time, every error already returned.
    fn answered(entered: Option<Row>, rows: Vec<Row>) -> Self {
        Self {
            began: Ok(()),
            entered: Ok(entered),
            module_checked: Ok(()),
            rows: Ok(rows),
            committed: Ok(()),
        }
    }
}

/// What `app.enter` answered: the caller's current role, and whether the connection
/// already carried a context.
fn entered_as(row: &Row) -> Result<(Role, bool), DbError> {
    Ok((role(row)?, row.get("leaked")))
}

fn at_most_one(mut rows: Vec<Row>) -> Result<Option<Row>, DbError> {
    match rows.len() {
        0 | 1 => Ok(rows.pop()),
        n => Err(DbError::internal(format!(
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
