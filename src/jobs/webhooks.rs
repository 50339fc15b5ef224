//! The webhook jobs.
//!
//! - [`WebhookJob`] keeps up to `CRM_WEBHOOK_CONCURRENCY` deliveries in flight: it
//!   claims due messages of every tenant through the dispatcher door whenever a
//!   quarter of its slots are free,
//!   delivers each with the platform's [`Guard`] (Standard Webhooks signature, SSRF
//!   guard, timeouts), and settles the attempts that finished together, in one call,
//!   with what each came to (for the delivery log): delivered, or handed back for the
//!   retry schedule the database keeps. A slow receiver holds only its own slots; the
//!   claim keeps any one endpoint and any one tenant to a few of them across every
//!   worker. When the host stops, what is in flight is finished and settled and
//!   nothing more is claimed. A message whose lease ran out meanwhile may be delivered
//!   twice, under the same `webhook-id`; never zero times.
//! - [`WebhookUpkeepJob`] prunes messages settled longer ago than the retention, and
//!   sets the queue's gauges for `/metrics`.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use futures::{FutureExt, StreamExt, future::BoxFuture, stream::FuturesUnordered};

use super::{Job, JobError, Stop};
use crate::platform::{
    db::{ClaimedWebhook, Db, WebhookAttempt},
    metrics::{
        WEBHOOK_DELIVERIES, WEBHOOK_FAILING_ENDPOINTS, WEBHOOK_MESSAGES, WEBHOOK_OLDEST_DUE,
    },
    webhooks::{Guard, Outcome},
};

/// How often to look for new messages while nothing in flight finishes.
const POLL: Duration = Duration::from_millis(500);

/// Delivers the webhook messages.
pub struct WebhookJob {
    db: Db,
    guard: Arc<Guard>,
    /// Deliveries in flight at once.
    concurrency: usize,
}

impl WebhookJob {
    pub fn new(db: Db, guard: Guard, concurrency: usize) -> Self {
        Self {
            db,
            guard: Arc::new(guard),
            concurrency: concurrency.max(1),
        }
    }
}

impl Job for WebhookJob {
    fn name(&self) -> &'static str {
        "webhooks"
    }

    fn every(&self) -> Duration {
        POLL
    }

    fn run(&self, stop: Stop) -> BoxFuture<'static, Result<(), JobError>> {
        let (db, guard, concurrency) = (self.db.clone(), self.guard.clone(), self.concurrency);
        // Claim more once a quarter of the slots are free: fewer round trips than one
        // claim per slot.
        let claim_at = concurrency.div_ceil(4);
        async move {
            let dispatcher = db.dispatcher();
            let mut in_flight = FuturesUnordered::new();
            loop {
                // After every settle (what finished freed its endpoints' slots) and
                // every POLL.
                let room = concurrency - in_flight.len();
                if !stop.is_set() && (room >= claim_at || in_flight.is_empty()) {
                    let claimed = dispatcher.claim_webhooks(room as i32).await?;
                    in_flight.extend(claimed.into_iter().map(|message| attempt(&guard, message)));
                }
                // Deliveries hanging to their timeout must not keep new messages waiting:
                // look for more every POLL meanwhile.
                let first = match tokio::time::timeout(POLL, in_flight.next()).await {
                    Ok(Some(first)) => first,
                    Ok(None) => return Ok(()),
                    Err(_) => continue,
                };
                let mut finished = vec![first];
                while let Some(Some(attempt)) = in_flight.next().now_or_never() {
                    finished.push(attempt);
                }
                settle(&db, &finished).await?;
            }
        }
        .boxed()
    }
}

/// Delivers one claimed message; what it came to, for [`settle`].
async fn attempt(guard: &Guard, message: ClaimedWebhook) -> WebhookAttempt {
    let id = message.message_id.to_string();
    let started = Instant::now();
    let outcome = guard
        .deliver(&message.url, &id, &message.body, &message.secrets)
        .await;
    let took = started.elapsed();
    match &outcome {
        Outcome::Accepted { .. } => {
            WEBHOOK_DELIVERIES.with_label_values(&["delivered"]).inc();
        }
        Outcome::Refused { status, .. } => {
            WEBHOOK_DELIVERIES.with_label_values(&["refused"]).inc();
            tracing::info!(
                tenant_id = %message.tenant_id,
                endpoint_id = %message.endpoint_id,
                attempt = message.attempt,
                status,
                "webhook refused by its receiver"
            );
        }
        Outcome::Unreachable(why) => {
            WEBHOOK_DELIVERIES.with_label_values(&["unreachable"]).inc();
            tracing::info!(
                tenant_id = %message.tenant_id,
                endpoint_id = %message.endpoint_id,
                attempt = message.attempt,
                error = %why,
                "webhook receiver unreachable"
            );
        }
    }
    WebhookAttempt {
        claim: message.claim,
        outcome,
        took,
    }
}

/// Settles the attempts that finished, in one call.
async fn settle(db: &Db, finished: &[WebhookAttempt]) -> Result<(), JobError> {
    let lapsed = db.dispatcher().settle_webhooks(finished).await?;
    if !lapsed.is_empty() {
        tracing::warn!(
            leases = lapsed.len(),
            "webhook leases ran out before their deliveries were settled; they may go out again"
        );
    }
    Ok(())
}

/// Settled messages pruned per call.
const PRUNE_BATCH: i32 = 5_000;

/// Keeps the webhook tables to their retention and the queue's gauges current.
pub struct WebhookUpkeepJob {
    db: Db,
    retention: Duration,
}

impl WebhookUpkeepJob {
    pub fn new(db: Db, retention: Duration) -> Self {
        Self { db, retention }
    }
}

impl Job for WebhookUpkeepJob {
    fn name(&self) -> &'static str {
        "webhook-upkeep"
    }

    fn every(&self) -> Duration {
        Duration::from_secs(15)
    }

    fn run(&self, stop: Stop) -> BoxFuture<'static, Result<(), JobError>> {
        let (db, retention) = (self.db.clone(), self.retention);
        async move {
            let dispatcher = db.dispatcher();
            while !stop.is_set()
                && dispatcher.prune_webhooks(retention, PRUNE_BATCH).await?
                    == i64::from(PRUNE_BATCH)
            {}
            let queue = dispatcher.webhook_queue().await?;
            WEBHOOK_MESSAGES
                .with_label_values(&["pending"])
                .set(queue.pending);
            WEBHOOK_MESSAGES.with_label_values(&["due"]).set(queue.due);
            WEBHOOK_OLDEST_DUE.set(queue.oldest_due_seconds);
            WEBHOOK_FAILING_ENDPOINTS.set(queue.failing_endpoints);
            Ok(())
        }
        .boxed()
    }
}
