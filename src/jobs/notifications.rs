//! The notification job: claims due messages of every tenant through the dispatcher
//! door, renders each in the sandbox, records the hand-over, and sends it by email
//! ([`Mailer`]) or SMS ([`Texter`]), a few at a time, until nothing is due. When the
//! host stops, the batch in hand is finished and no other is claimed.
//!
//! At most once to the provider: the rendered message and the moment of the hand-over
//! are recorded before the provider is called, so a worker that dies before that
//! point leaves the message to be claimed again, and one that dies after it leaves it
//! for review (`app.claim_notifications` marks it once its lease runs out). A message
//! that cannot render, or that the provider refuses for good, fails at once with the
//! reason; one that meets a passing failure is queued again with backoff.

use std::{sync::Arc, time::Duration};

use futures::{FutureExt, future::BoxFuture};

use super::{Job, JobError, Stop, drain};
use crate::modules::integrations::notifications::{delivery, keys::Channel, render::Rendered};
use crate::platform::{
    db::{ClaimedNotification, Db},
    mail::{Email, Mailer},
    metrics::NOTIFICATION_SENDS,
    sms::{Sms, Texter},
};

/// Messages claimed per round trip.
const BATCH: i32 = 20;
/// Messages in flight to the providers at once.
const CONCURRENCY: usize = 8;

/// Sends the tenants' notifications.
pub struct NotificationJob {
    db: Db,
    channels: Arc<Channels>,
}

/// The transports of the channels, and where the service is reached (for the
/// unsubscribe links of marketing emails).
pub struct Channels {
    pub mailer: Mailer,
    pub texter: Texter,
    pub public_url: String,
}

impl NotificationJob {
    pub fn new(db: Db, channels: Channels) -> Self {
        Self {
            db,
            channels: Arc::new(channels),
        }
    }
}

impl Job for NotificationJob {
    fn name(&self) -> &'static str {
        "notifications"
    }

    fn every(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn run(&self, stop: Stop) -> BoxFuture<'static, Result<(), JobError>> {
        let (db, channels) = (self.db.clone(), self.channels.clone());
        async move {
            let claim = || async { db.dispatcher().claim_notifications(BATCH).await };
            let handle = |message| deliver(&db, &channels, message);
            drain(&stop, BATCH, CONCURRENCY, claim, handle).await
        }
        .boxed()
    }
}

/// Why one claimed message did not go out.
struct NotSent {
    reason: String,
    permanent: bool,
}

/// Renders, hands over, sends and settles one claimed message.
async fn deliver(
    db: &Db,
    channels: &Channels,
    message: ClaimedNotification,
) -> Result<(), JobError> {
    let dispatcher = db.dispatcher();
    let (channel, ready) = match ready(channels, &message) {
        Ok(ready) => ready,
        Err(err) => {
            return settle_failure(
                db,
                &message,
                NotSent {
                    reason: err.to_string(),
                    permanent: true,
                },
            )
            .await;
        }
    };
    let handed_over = dispatcher
        .notification_handing_over(
            message.claim,
            ready.rendered.subject.as_deref(),
            &ready.rendered.text,
            ready.rendered.html.as_deref(),
        )
        .await?;
    if !handed_over {
        tracing::warn!(
            tenant_id = %message.tenant_id,
            message_id = %message.message_id,
            "a notification's lease ran out before it was handed over; it is not sent now"
        );
        return Ok(());
    }
    match send(channels, &message, channel, &ready).await {
        Ok(provider_id) => {
            NOTIFICATION_SENDS
                .with_label_values(&[channel.name(), "sent"])
                .inc();
            if !dispatcher
                .notification_sent(message.claim, provider_id.as_deref())
                .await?
            {
                tracing::warn!(
                    tenant_id = %message.tenant_id,
                    message_id = %message.message_id,
                    "a notification was sent after its lease ran out; it is marked for review"
                );
            }
            Ok(())
        }
        Err(failure) => settle_failure(db, &message, failure).await,
    }
}

/// What a claimed message says, and where its recipient unsubscribes.
struct Ready {
    rendered: Rendered,
    unsubscribe: Option<String>,
}

/// Renders the message; a marketing email (the claim signed a token for it) ends with
/// its unsubscribe link.
fn ready(
    channels: &Channels,
    message: &ClaimedNotification,
) -> Result<(Channel, Ready), delivery::Unsendable> {
    let (channel, rendered) = delivery::render(message)?;
    let Some(token) = &message.unsubscribe_token else {
        return Ok((
            channel,
            Ready {
                rendered,
                unsubscribe: None,
            },
        ));
    };
    let link = delivery::unsubscribe_link(&channels.public_url, token);
    let rendered = delivery::with_unsubscribe_link(rendered, &link)?;
    Ok((
        channel,
        Ready {
            rendered,
            unsubscribe: Some(link),
        },
    ))
}

async fn settle_failure(
    db: &Db,
    message: &ClaimedNotification,
    failure: NotSent,
) -> Result<(), JobError> {
    NOTIFICATION_SENDS
        .with_label_values(&[message.channel.as_str(), "failed"])
        .inc();
    tracing::warn!(
        tenant_id = %message.tenant_id,
        message_id = %message.message_id,
        attempt = message.attempt,
        permanent = failure.permanent,
        reason = %failure.reason,
        "notification not sent"
    );
    db.dispatcher()
        .notification_failed(message.claim, &failure.reason, failure.permanent)
        .await?;
    Ok(())
}

/// Hands the rendered message to its channel's transport; answers the provider's id.
async fn send(
    channels: &Channels,
    message: &ClaimedNotification,
    channel: Channel,
    ready: &Ready,
) -> Result<Option<String>, NotSent> {
    let recipient = message.recipient.as_deref().ok_or_else(|| NotSent {
        reason: "no_address: the message has no recipient".to_owned(),
        permanent: true,
    })?;
    match channel {
        Channel::Email => {
            let email = email(recipient, ready).map_err(|reason| NotSent {
                reason,
                permanent: true,
            })?;
            channels
                .mailer
                .send(&email.with_id(message.message_id))
                .await
                .map(Some)
                .map_err(|err| NotSent {
                    reason: err.to_string(),
                    permanent: err.is_permanent(),
                })
        }
        Channel::Sms => channels
            .texter
            .send(Sms {
                id: message.message_id,
                to: recipient,
                text: &ready.rendered.text,
            })
            .await
            .map_err(|err| NotSent {
                reason: err.to_string(),
                permanent: err.is_permanent(),
            }),
    }
}

fn email(recipient: &str, ready: &Ready) -> Result<Email, String> {
    let rendered = &ready.rendered;
    let subject = rendered
        .subject
        .clone()
        .ok_or_else(|| "an email needs a subject".to_owned())?;
    let mut email =
        Email::new(recipient, subject, rendered.text.clone()).map_err(|e| e.to_string())?;
    if let Some(html) = &rendered.html {
        email = email.with_html(html.clone()).map_err(|e| e.to_string())?;
    }
    if let Some(link) = &ready.unsubscribe {
        email = email
            .with_unsubscribe(link.clone())
            .map_err(|e| e.to_string())?;
    }
    Ok(email)
}
