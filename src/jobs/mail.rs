//! The mail job: claims due messages of every tenant through the dispatcher door and
//! sends them with the [`Mailer`], a few at a time, until the queue has nothing due.
//! When the host stops, the batch in hand is finished and no other is claimed.
//! A message that fails is handed back for a retry with backoff (or given up on a
//! permanent refusal); one whose lease ran out meanwhile may go out twice, never
//! zero times.

use std::{sync::Arc, time::Duration};

use futures::{FutureExt, future::BoxFuture};

use super::{Job, JobError, Stop, drain};
use crate::platform::{
    db::{ClaimedMail, Db},
    mail::{Mailer, SendError},
    metrics::MAIL_DELIVERIES,
};

/// Messages claimed per round trip.
const BATCH: i32 = 20;
/// Messages in flight to the SMTP server at once.
const CONCURRENCY: usize = 4;

/// Sends the mail outbox.
pub struct MailJob {
    db: Db,
    mailer: Arc<Mailer>,
}

impl MailJob {
    pub fn new(db: Db, mailer: Mailer) -> Self {
        Self {
            db,
            mailer: Arc::new(mailer),
        }
    }
}

impl Job for MailJob {
    fn name(&self) -> &'static str {
        "mail"
    }

    fn every(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn run(&self, stop: Stop) -> BoxFuture<'static, Result<(), JobError>> {
        let (db, mailer) = (self.db.clone(), self.mailer.clone());
        async move {
            let claim = || async { db.dispatcher().claim_mail(BATCH).await };
            let handle = |mail| deliver(&db, &mailer, mail);
            drain(&stop, BATCH, CONCURRENCY, claim, handle).await
        }
        .boxed()
    }
}

/// Sends one claimed message and settles its claim.
async fn deliver(db: &Db, mailer: &Mailer, mail: ClaimedMail) -> Result<(), JobError> {
    let dispatcher = db.dispatcher();
    let sent = match &mail.email {
        Ok(email) => mailer.send(email).await,
        Err(err) => Err(SendError::Message(Box::new(err.clone()))),
    };
    let settled = match &sent {
        Ok(_) => {
            MAIL_DELIVERIES.with_label_values(&["sent"]).inc();
            dispatcher.mail_sent(mail.claim).await?
        }
        Err(err) => {
            let permanent = err.is_permanent();
            MAIL_DELIVERIES.with_label_values(&["failed"]).inc();
            tracing::warn!(
                tenant_id = ?mail.tenant_id,
                attempt = mail.attempt,
                permanent,
                error = %err,
                "mail not sent"
            );
            dispatcher
                .mail_failed(mail.claim, &err.to_string(), permanent)
                .await?
        }
    };
    if !settled {
        tracing::warn!(
            tenant_id = ?mail.tenant_id,
            "a mail lease ran out before the send was settled; it may go out again"
        );
    }
    Ok(())
}
