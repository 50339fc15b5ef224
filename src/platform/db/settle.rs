//! [`settle`]: statements in flight meet the request's [`Deadline`] without lying
//! about what they wrote.
//!
//! Dropping a future does not stop what was already sent: PostgreSQL runs the
//! statement and the COMMIT queued behind it whether or not anyone waits. So at the
//! deadline the statement is cancelled on the server, and the flight is awaited to
//! its end; its results tell what happened. An error means the transaction rolled
//! back (answered 503, "nothing was written"); success means it committed before the
//! cancel landed, and the request is answered as the success it was.

use std::{future::Future, time::Duration};

use deadpool_postgres::Object;
use tokio_postgres::NoTls;

use super::DbError;
use crate::platform::deadline::Deadline;

/// The answer to a request whose deadline passed before its statement ran or while it
/// ran, rolled back.
pub(super) const TOO_LONG: DbError =
    DbError::Busy("The request took too long and nothing was written; retry shortly.");

/// How long the cancel request (a connection of its own) may take.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(2);

/// What a flight may do to data: a flight that writes (a COMMIT, an autocommit write)
/// makes the request's guard await its answer, which tells what it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Effect {
    Reads,
    Writes,
}

/// Whether a flight may be cancelled on the server at the deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cancel {
    OnTheServer,
    /// Behind a transaction pooler (see [`settle`]).
    Never,
}

impl Cancel {
    pub(super) fn behind_pooler(pooled: bool) -> Self {
        match pooled {
            true => Self::Never,
            false => Self::OnTheServer,
        }
    }
}

/// Whether the statements were cancelled at the deadline: the connection must then
/// be discarded, so that a cancel arriving late cannot hit another request's statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Settled {
    InTime,
    Cancelled,
}

/// Awaits `flight`, the statements sent on `client`. When the request's deadline
/// passes first, cancels them on the server (`cancel`: none behind a transaction
/// pooler) and awaits the flight's end. For a flight that [`Effect::Writes`],
/// `committed` reads from its outcome whether it did.
///
/// Behind a transaction pooler no cancel is sent: PgBouncer releases before the fix
/// of pgbouncer/pgbouncer#801 exit on a cancel request whose client closes first, as
/// tokio-postgres's does. The flight then ends with its statement (bounded by the
/// statement timeout the transaction sets) and its outcome is answered, late.
pub(super) async fn settle<T>(
    client: &Object,
    cancel: Cancel,
    effect: Effect,
    committed: impl FnOnce(&T) -> bool,
    flight: impl Future<Output = T>,
) -> (T, Settled) {
    let Some(deadline) = Deadline::current() else {
        return (flight.await, Settled::InTime);
    };
    // A request that already wrote runs on to its answer: cancelling its next
    // statements would answer "failed" for a request whose first write stands.
    let wrote_before = deadline.has_written();
    let writes = effect == Effect::Writes;
    let counted = deadline.flight(writes);
    tokio::pin!(flight);
    let (outcome, settled) = tokio::select! {
        biased;
        outcome = &mut flight => (outcome, Settled::InTime),
        () = deadline.passed(), if !wrote_before => match cancel {
            Cancel::OnTheServer => {
                cancel_on_the_server(client).await;
                // Bounded even if the cancel was lost: the statement timeout ends it.
                (flight.await, Settled::Cancelled)
            }
            Cancel::Never => (flight.await, Settled::InTime),
        }
    };
    if writes && !committed(&outcome) {
        counted.rolled_back();
    }
    (outcome, settled)
}

/// Refuses to start statements for a request whose deadline has passed, unless it
/// already wrote: then it runs on, so that its answer can say what it did.
pub(super) fn ensure_time_left() -> Result<(), DbError> {
    let out_of_time = Deadline::current()
        .is_some_and(|deadline| deadline.has_passed() && !deadline.has_written());
    match out_of_time {
        true => Err(TOO_LONG),
        false => Ok(()),
    }
}

/// After a cancel, the statement's "canceled" error (or any busy answer) is told as
/// the deadline it was.
pub(super) fn told_as_deadline(err: DbError, settled: Settled) -> DbError {
    match (settled, err) {
        (Settled::Cancelled, DbError::Busy(_)) => TOO_LONG,
        (_, err) => err,
    }
}

async fn cancel_on_the_server(client: &Object) {
    let token = client.cancel_token();
    match tokio::time::timeout(CANCEL_TIMEOUT, token.cancel_query(NoTls)).await {
        Ok(Ok(())) => tracing::info!("deadline passed: cancelled the statement in flight"),
        Ok(Err(err)) => tracing::warn!(error = %err, "deadline passed: the cancel failed"),
        Err(_) => tracing::warn!("deadline passed: the cancel timed out"),
    }
}
