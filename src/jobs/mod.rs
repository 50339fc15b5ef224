//! The worker host: runs every module's background jobs (today [`mail::MailJob`], the
//! sender of the mail outbox, [`notifications::NotificationJob`], the sender of the
//! tenants' notifications, and [`webhooks::WebhookJob`], the deliverer of webhook
//! messages; imports of later modules), each in its own
//! loop, and stops them gracefully. `crm worker` runs it alone; `crm serve` runs it
//! in-process unless `CRM_RUN_WORKER=false`.
//!
//! Graceful stop: when the signal comes, no job starts another run; a run in progress
//! is never cut short but awaited, for at most the grace period
//! (`CRM_SHUTDOWN_TIMEOUT_SECS`), after which it is abandoned and logged.

pub mod mail;
pub mod notifications;
pub mod webhooks;

use std::{future::Future, sync::Arc, time::Duration};

use futures::{StreamExt, future::BoxFuture, stream};
use tokio::{sync::watch, task::JoinSet};

use crate::platform::db::DbError;

/// Why one run of a job failed; logged, and the job runs again at its next turn.
pub type JobError = Box<dyn std::error::Error + Send + Sync>;

/// A background job: one run at a time, again `every` after each run.
pub trait Job: Send + Sync + 'static {
    /// The name in logs.
    fn name(&self) -> &'static str;
    /// The pause between the end of one run and the start of the next.
    fn every(&self) -> Duration;
    /// One run. Work that touches tenant data goes through the tenant door of the
    /// tenant it belongs to, like a request. A run that loops over batches claims no
    /// further batch once `stop` is set, and finishes the one it holds.
    fn run(&self, stop: Stop) -> BoxFuture<'static, Result<(), JobError>>;
}

/// Whether the host is stopping, for a run in progress.
#[derive(Clone)]
pub struct Stop(watch::Receiver<bool>);

impl Stop {
    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }
}

/// One run of an outbox's job: claims batches of up to `batch` with `claim` and
/// handles each claimed item with `handle`, `concurrency` at a time, until a batch
/// comes back short or the host stops (the batch in hand is always finished).
async fn drain<T, Claimed, Handled>(
    stop: &Stop,
    batch: i32,
    concurrency: usize,
    claim: impl Fn() -> Claimed,
    handle: impl Fn(T) -> Handled,
) -> Result<(), JobError>
where
    Claimed: Future<Output = Result<Vec<T>, DbError>>,
    Handled: Future<Output = Result<(), JobError>>,
{
    let full_batch = usize::try_from(batch).unwrap_or(usize::MAX);
    while !stop.is_set() {
        let claimed = claim().await?;
        let full = claimed.len() >= full_batch;
        let results: Vec<Result<(), JobError>> = stream::iter(claimed)
            .map(&handle)
            .buffer_unordered(concurrency)
            .collect()
            .await;
        results.into_iter().collect::<Result<(), _>>()?;
        if !full {
            break;
        }
    }
    Ok(())
}

/// The jobs to run and how long a stop may wait for them.
pub struct JobHost {
    jobs: Vec<Arc<dyn Job>>,
    grace: Duration,
}

impl JobHost {
    pub fn new(jobs: Vec<Arc<dyn Job>>, grace: Duration) -> Self {
        Self { jobs, grace }
    }

    /// Runs every job until `signal` completes, then stops them gracefully.
    pub async fn run_until_stopped_with(self, signal: impl Future<Output = ()> + Send) {
        let (stop, stopping) = watch::channel(false);
        let mut running = JoinSet::new();
        for job in self.jobs {
            running.spawn(run_job(job, stopping.clone()));
        }
        tracing::info!(jobs = running.len(), "job host running");
        signal.await;
        let _ = stop.send(true);
        let drained = tokio::time::timeout(self.grace, async {
            while running.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                still_running = running.len(),
                "jobs did not finish within the shutdown grace period; abandoning them"
            );
            running.abort_all();
        }
        tracing::info!("job host stopped");
    }
}

async fn run_job(job: Arc<dyn Job>, mut stopping: watch::Receiver<bool>) {
    loop {
        if *stopping.borrow_and_update() {
            return;
        }
        if let Err(err) = job.run(Stop(stopping.clone())).await {
            tracing::warn!(job = job.name(), error = %err, "job run failed");
        }
        tokio::select! {
            _ = stopping.changed() => return,
            () = tokio::time::sleep(job.every()) => {}
        }
    }
}
