//! The webhook jobs.
//!
//! - [`WebhookJob`] claims due messages of every tenant through the dispatcher door,
//!   delivers them with the platform's [`Guard`] (Standard Webhooks signature, SSRF
//!   guard, timeouts), a few at a time, and settles each claim with what the attempt
//!   came to (for the delivery log): delivered, or handed back for the retry schedule
//!   the database keeps. When the host stops, the batch in hand is finished and no
//!   other is claimed. A message whose lease ran out meanwhile may be delivered twice,
//!   under the same `webhook-id`; never zero times.
//! - [`WebhookUpkeepJob`] prunes messages settled longer ago than the retention, and
//!   sets the queue's gauges for `/metrics`.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use futures::{FutureExt, StreamExt, future::BoxFuture, stream};

use super::{Job, JobError, Stop};
use crate::platform::{
    db::{ClaimedWebhook, Db},
    metrics::{
        WEBHOOK_DELIVERIES, WEBHOOK_FAILING_ENDPOINTS, WEBHOOK_MESSAGES, WEBHOOK_OLDEST_DUE,
    },
    webhooks::{Guard, Outcome},
};

/// Messages claimed per round trip.
const BATCH: i32 = 50;
/// Deliveries in flight at once (the claim already bounds one endpoint to 4 of them and
/// one tenant to 16).
const CONCURRENCY: usize = 16;

/// Delivers the webhook messages.
pub struct WebhookJob {
    db: Db,
    guard: Arc<Guard>,
}

impl WebhookJob {
    pub fn new(db: Db, guard: Guard) -> Self {
        Self {
            db,
            guard: Arc::new(guard),
        }
    }
}

impl Job for WebhookJob {
    fn name(&self) -> &'static str {
        "webhooks"
    }

    fn every(&self) -> Duration {
        Duration::from_millis(500)
    }

    fn run(&self, stop: Stop) -> BoxFuture<'static, Result<(), JobError>> {
        let (db, guard) = (self.db.clone(), self.guard.clone());
        async move {
            while !stop.is_set() {
                let claimed = db.dispatcher().claim_webhooks(BATCH).await?;
                if claimed.is_empty() {
                    break;
                }
                let results: Vec<Result<(), JobError>> = stream::iter(claimed)
                    .map(|message| deliver(&db, &guard, message))
                    .buffer_unordered(CONCURRENCY)
                    .collect()
                    .await;
                results.into_iter().collect::<Result<(), _>>()?;
            }
            Ok(())
        }
        .boxed()
    }
}

/// Delivers one claimed message and settles its claim.
async fn deliver(db: &Db, guard: &Guard, message: ClaimedWebhook) -> Result<(), JobError> {
    let id = message.message_id.to_string();
    let started = Instant::now();
    let outcome = guard
        .deliver(&message.url, &id, &message.body, &message.secrets)
        .await;
    let took = started.elapsed();
    let dispatcher = db.dispatcher();
    let settled = match outcome {
        Outcome::Accepted { status, excerpt } => {
            WEBHOOK_DELIVERIES.with_label_values(&["delivered"]).inc();
            dispatcher
                .webhook_delivered(message.claim, status, took, &excerpt)
                .await?
        }
        Outcome::Refused {
            status,
            retry_after,
            excerpt,
        } => {
            WEBHOOK_DELIVERIES.with_label_values(&["refused"]).inc();
            tracing::info!(
                tenant_id = %message.tenant_id,
                endpoint_id = %message.endpoint_id,
                attempt = message.attempt,
                status,
                "webhook refused by its receiver"
            );
            dispatcher
                .webhook_failed(message.claim, Some(status), &excerpt, retry_after, took)
                .await?
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
            dispatcher
                .webhook_failed(message.claim, None, &why, None, took)
                .await?
        }
    };
    if !settled {
        tracing::warn!(
            tenant_id = %message.tenant_id,
            "a webhook lease ran out before the delivery was settled; it may go out again"
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
