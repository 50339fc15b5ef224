//! When a request must be answered: [`Deadline`], the earlier of the request's own
//! deadline (`CRM_REQUEST_TIMEOUT_MS`) and the process's stop ([`Stopping`]).
//!
//! A request is never answered "failed" while a write of it may still commit. The
//! HTTP guard scopes each request in its deadline; when it passes, a transaction in
//! flight cancels its statement on the server and reports what the database did
//! (see [`crate::platform::db::TenantTx`]): rolled back, answered 503; or committed
//! before the cancel landed, answered as a success. The deadline counts the request's
//! statements in flight and its writes ([`Deadline::flight`]) so the guard knows
//! which it may drop: work that sent nothing (waiting for a pool slot, hashing a
//! password) is dropped at once; a request that wrote is awaited for its answer.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::{sync::watch, time::Instant};

tokio::task_local! {
    static CURRENT: Deadline;
}

/// The process's stop, in two steps: draining (readiness fails, requests are still
/// served), then stopping (requests still running must be answered by its instant).
/// Cheap to clone; every clone sees the same stop.
#[derive(Clone)]
pub struct Stopping(watch::Sender<Phase>);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Serving,
    Draining,
    StopBy(Instant),
}

impl Phase {
    fn stop_at(self) -> Option<Instant> {
        match self {
            Self::StopBy(at) => Some(at),
            Self::Serving | Self::Draining => None,
        }
    }
}

impl Default for Stopping {
    fn default() -> Self {
        Self(watch::Sender::new(Phase::Serving))
    }
}

impl Stopping {
    /// The signal came: readiness fails from now on.
    pub fn drain(&self) {
        self.0.send_replace(Phase::Draining);
    }

    /// Requests in flight get until `stop_at`.
    pub fn stop_by(&self, stop_at: Instant) {
        self.0.send_replace(Phase::StopBy(stop_at));
    }

    /// Whether the signal came (draining or stopping).
    pub fn is_stopping(&self) -> bool {
        *self.0.borrow() != Phase::Serving
    }

    fn watch(&self) -> watch::Receiver<Phase> {
        self.0.subscribe()
    }
}

/// One request's deadline, shared by the guard that scoped it and the transactions it
/// runs.
#[derive(Clone)]
pub struct Deadline(Arc<Inner>);

struct Inner {
    at: Instant,
    phase: watch::Receiver<Phase>,
    /// Statements sent and not yet answered.
    flights: AtomicUsize,
    /// Writes that committed, or whose COMMIT is in flight: from then on the
    /// request's answer must say what they did, so it is awaited, never abandoned.
    writes: AtomicUsize,
}

impl Deadline {
    /// `timeout` from now, or the process's stop if that comes first.
    pub fn after(timeout: Duration, stopping: &Stopping) -> Self {
        Self(Arc::new(Inner {
            at: Instant::now() + timeout,
            phase: stopping.watch(),
            flights: AtomicUsize::new(0),
            writes: AtomicUsize::new(0),
        }))
    }

    /// The deadline of the request this task serves, if it serves one (jobs do not).
    pub fn current() -> Option<Self> {
        CURRENT.try_with(Clone::clone).ok()
    }

    /// Runs `work` with this as [`Self::current`].
    pub fn scope<F: Future>(&self, work: F) -> impl Future<Output = F::Output> {
        CURRENT.scope(self.clone(), work)
    }

    fn due(&self) -> Instant {
        match self.0.phase.borrow().stop_at() {
            Some(stop_at) => stop_at.min(self.0.at),
            None => self.0.at,
        }
    }

    pub fn has_passed(&self) -> bool {
        self.due() <= Instant::now()
    }

    /// Completes when the deadline passes (earlier if the process starts stopping).
    pub async fn passed(&self) {
        let mut phase = self.0.phase.clone();
        loop {
            let due = self.due();
            tokio::select! {
                () = tokio::time::sleep_until(due) => {
                    if self.has_passed() {
                        return;
                    }
                }
                changed = phase.changed() => {
                    if changed.is_err() {
                        // The process dropped its stop signal: only the request's own
                        // deadline remains.
                        tokio::time::sleep_until(self.0.at).await;
                        return;
                    }
                }
            }
        }
    }

    /// Counts statements in flight until the returned guard is dropped; `commits`: they
    /// carry a COMMIT (or an autocommit write), counted as written unless the guard is
    /// told it [`Flight::rolled_back`].
    pub fn flight(&self, commits: bool) -> Flight {
        self.0.flights.fetch_add(1, Ordering::SeqCst);
        if commits {
            self.0.writes.fetch_add(1, Ordering::SeqCst);
        }
        Flight {
            deadline: self.clone(),
            commits,
        }
    }

    /// Whether statements of this request are in flight.
    pub fn has_flights(&self) -> bool {
        self.0.flights.load(Ordering::SeqCst) > 0
    }

    /// Whether this request committed a write, or has a COMMIT in flight.
    pub fn has_written(&self) -> bool {
        self.0.writes.load(Ordering::SeqCst) > 0
    }
}

/// See [`Deadline::flight`].
pub struct Flight {
    deadline: Deadline,
    commits: bool,
}

impl Flight {
    /// The flight's transaction did not commit.
    pub fn rolled_back(mut self) {
        if std::mem::take(&mut self.commits) {
            self.deadline.0.writes.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        self.deadline.0.flights.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn passes_at_the_request_deadline() {
        let stopping = Stopping::default();
        let deadline = Deadline::after(Duration::from_secs(3), &stopping);
        assert!(!deadline.has_passed());
        tokio::time::timeout(Duration::from_secs(2), deadline.passed())
            .await
            .expect_err("not before its time");
        tokio::time::timeout(Duration::from_secs(2), deadline.passed())
            .await
            .expect("passed at 3 s");
        assert!(deadline.has_passed());
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_brings_it_forward() {
        let stopping = Stopping::default();
        let deadline = Deadline::after(Duration::from_secs(30), &stopping);
        let waiting = tokio::spawn({
            let deadline = deadline.clone();
            async move { deadline.passed().await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        stopping.stop_by(Instant::now() + Duration::from_secs(2));
        tokio::time::timeout(Duration::from_secs(3), waiting)
            .await
            .expect("passed at the stop, long before 30 s")
            .expect("task");
    }

    #[tokio::test]
    async fn the_current_deadline_is_the_scoped_one() {
        assert!(Deadline::current().is_none());
        let deadline = Deadline::after(Duration::from_secs(1), &Stopping::default());
        let seen = deadline
            .scope(async { Deadline::current().map(|d| d.0.at) })
            .await;
        assert_eq!(seen, Some(deadline.0.at));
    }
}
