//! The worker host: `crm worker` builds and stops like the server, and a stop never
//! cuts a job's run short: it waits for the run in progress (up to the grace period)
//! and starts no other; the mail job, draining a long queue, claims no further batch
//! and finishes the one in hand.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use crm::{
    Worker,
    jobs::{Job, JobError, JobHost, Stop},
    modules::integrations::mail,
    platform::mail::Email,
};
use futures::{FutureExt, future::BoxFuture};
use tokio::sync::oneshot;

use crate::support::{fresh_database, mail::SmtpServer, spawn_app, test_config};

/// A job whose every run takes `takes`, counting the runs started and finished.
struct Slow {
    takes: Duration,
    started: Arc<AtomicUsize>,
    finished: Arc<AtomicUsize>,
}

impl Job for Slow {
    fn name(&self) -> &'static str {
        "slow"
    }

    fn every(&self) -> Duration {
        Duration::from_millis(10)
    }

    fn run(&self, _stop: Stop) -> BoxFuture<'static, Result<(), JobError>> {
        let (takes, started, finished) = (self.takes, self.started.clone(), self.finished.clone());
        async move {
            started.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(takes).await;
            finished.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        .boxed()
    }
}

fn slow(takes: Duration) -> (Arc<Slow>, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let (started, finished) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let job = Arc::new(Slow {
        takes,
        started: started.clone(),
        finished: finished.clone(),
    });
    (job, started, finished)
}

#[tokio::test]
async fn a_stop_waits_for_the_run_in_progress_and_starts_no_other() {
    let (job, started, finished) = slow(Duration::from_millis(400));
    let host = JobHost::new(vec![job], Duration::from_secs(5));
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(host.run_until_stopped_with(async {
        let _ = stopped.await;
    }));
    while started.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.send(()).expect("the host listens");
    running.await.expect("the host stops");
    assert_eq!(
        started.load(Ordering::SeqCst),
        1,
        "no run started after the stop"
    );
    assert_eq!(
        finished.load(Ordering::SeqCst),
        1,
        "the run in progress finished"
    );
}

#[tokio::test]
async fn a_run_longer_than_the_grace_period_is_abandoned() {
    let (job, started, finished) = slow(Duration::from_secs(3600));
    let host = JobHost::new(vec![job], Duration::from_millis(200));
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(host.run_until_stopped_with(async {
        let _ = stopped.await;
    }));
    while started.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.send(()).expect("the host listens");
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the host stops after its grace period")
        .expect("the host stops");
    assert_eq!(finished.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn crm_worker_prepares_the_database_runs_and_stops_on_its_signal() {
    let database = fresh_database().await;
    let worker = Worker::build(test_config(&database.name, |_| {}))
        .await
        .expect("the worker builds");
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(worker.run_until_stopped_with(async {
        let _ = stopped.await;
    }));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!running.is_finished(), "the worker runs until told to stop");
    stop.send(()).expect("the worker listens");
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the worker stops promptly")
        .expect("the worker stops");
}

#[tokio::test]
async fn a_stop_claims_no_further_batch_of_mail_and_holds_none() {
    const QUEUED: usize = 400;
    let smtp = SmtpServer::start().await;
    let app = spawn_app().await;
    let user = app.sign_up("Outbox").await;
    let mut tx = app
        .db
        .tx(app.context_of(&user), &mail::MODULE)
        .await
        .expect("a transaction");
    for n in 0..QUEUED {
        let email = Email::new("many@example.test", format!("Message {n}"), "Hi\n").expect("valid");
        mail::enqueue(&mut tx, &email).await.expect("queued");
    }
    tx.commit().await.expect("committed");

    let env = smtp.env();
    let worker = Worker::build(test_config(&app.database, |vars| vars.extend(env)))
        .await
        .expect("the worker builds");
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(worker.run_until_stopped_with(async {
        let _ = stopped.await;
    }));
    tokio::time::timeout(Duration::from_secs(30), async {
        while smtp.messages().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the worker starts sending");
    stop.send(()).expect("the worker listens");
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the worker stops")
        .expect("the worker stops");

    let outbox = app.owner_sql().await;
    let row = outbox
        .query_one(
            "SELECT count(*) FILTER (WHERE sent_at IS NOT NULL), \
                    count(*) FILTER (WHERE claim IS NOT NULL) \
             FROM mail_outbox",
            &[],
        )
        .await
        .expect("the outbox");
    let (sent, held): (i64, i64) = (row.get(0), row.get(1));
    assert!(
        sent < QUEUED as i64,
        "the worker went on claiming after the stop: {sent} of {QUEUED} sent"
    );
    assert_eq!(held, 0, "the batch in hand was finished, none left leased");
}
