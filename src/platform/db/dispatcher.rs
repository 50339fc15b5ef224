//! [`Dispatcher`], the third door: the worker's claim of due outbound mail and webhook
//! messages across tenants, over the worker role's own connections (`crm_worker`, mail
//! migration V13, webhooks V15; the application role cannot make these calls). It holds
//! only the calls of the reviewed SECURITY DEFINER functions of the mail module
//! (`app.claim_mail`, `app.mail_sent`, `app.mail_failed`) and of the webhooks module
//! (`app.claim_webhooks`, `app.webhooks_settled`, `app.webhook_queue`,
//! `app.prune_webhooks`; V15, V20 and V21) and of the notifications module
//! (`app.claim_notifications`, `app.notification_handing_over`,
//! `app.notification_sent`, `app.notification_failed`; V24), which decide the lease, the backoff, the
//! attempt limit, the caps on what is in flight and what may be pruned themselves. A
//! claim is settled by the token the claim returned, so a caller can settle only what
//! it claimed; a lease that ran out (a worker that died) is claimed again, which makes
//! delivery at least once.

use std::time::Duration;

use tokio_postgres::Row;
use uuid::Uuid;

use super::{Db, DbError};
use crate::platform::{
    mail::{Email, EmailError},
    webhooks::Outcome,
};

/// The cross-tenant door of the worker host.
pub struct Dispatcher<'a> {
    db: &'a Db,
}

/// The lease under which one claimed message is being sent. Only a claim mints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MailClaim(Uuid);

/// A message leased to this worker.
#[derive(Debug)]
pub struct ClaimedMail {
    pub claim: MailClaim,
    /// The tenant whose mail it is; `None` for mail sent outside any tenant.
    pub tenant_id: Option<Uuid>,
    /// Which attempt this is (1 for the first).
    pub attempt: i32,
    /// The message, or why the stored row is not one that can be sent.
    pub email: Result<Email, EmailError>,
}

impl<'a> Dispatcher<'a> {
    pub(super) fn new(db: &'a Db) -> Self {
        Self { db }
    }

    async fn call(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, DbError> {
        self.db.query_once_as_worker(sql, params).await
    }

    /// Leases up to `limit` due messages (the function caps it at 100).
    pub async fn claim_mail(&self, limit: i32) -> Result<Vec<ClaimedMail>, DbError> {
        let rows = self
            .call(
                "SELECT claim, tenant_id, recipient, subject, text_body, html_body, attempts \
                 FROM app.claim_mail($1)",
                &[&limit],
            )
            .await?;
        Ok(rows.iter().map(claimed).collect())
    }

    /// The claimed message went out. False when the lease had already run out (the
    /// message may then be sent again).
    pub async fn mail_sent(&self, claim: MailClaim) -> Result<bool, DbError> {
        let rows = self.call("SELECT app.mail_sent($1)", &[&claim.0]).await?;
        Ok(settled(&rows))
    }

    /// The claimed message was not sent: retried later with backoff, or given up when
    /// `permanent` or out of attempts. False when the lease had already run out.
    pub async fn mail_failed(
        &self,
        claim: MailClaim,
        error: &str,
        permanent: bool,
    ) -> Result<bool, DbError> {
        let rows = self
            .call(
                "SELECT app.mail_failed($1, $2, $3)",
                &[&claim.0, &error, &permanent],
            )
            .await?;
        Ok(settled(&rows))
    }
}

/// The lease under which one claimed webhook message is being delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WebhookClaim(Uuid);

/// What one delivery attempt of a claimed message came to, and how long it took.
#[derive(Debug)]
pub struct WebhookAttempt {
    pub claim: WebhookClaim,
    pub outcome: Outcome,
    pub took: Duration,
}

/// A webhook message leased to this worker.
#[derive(Debug)]
pub struct ClaimedWebhook {
    pub claim: WebhookClaim,
    pub tenant_id: Uuid,
    pub endpoint_id: Uuid,
    pub url: String,
    /// The endpoint's signing secrets, newest first.
    pub secrets: Vec<String>,
    /// The event's id: the `webhook-id` of every attempt.
    pub message_id: Uuid,
    pub body: String,
    /// Which attempt this is (1 for the first).
    pub attempt: i32,
}

impl Dispatcher<'_> {
    /// Leases up to `limit` due webhook messages (the function caps it at 100, and
    /// keeps at most 4 of one endpoint and 16 of one tenant leased at once, counting
    /// every worker's leases).
    pub async fn claim_webhooks(&self, limit: i32) -> Result<Vec<ClaimedWebhook>, DbError> {
        let rows = self
            .call(
                "SELECT claim, tenant_id, endpoint_id, url, secrets, message_id, body, attempts \
                 FROM app.claim_webhooks($1)",
                &[&limit],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| ClaimedWebhook {
                claim: WebhookClaim(row.get("claim")),
                tenant_id: row.get("tenant_id"),
                endpoint_id: row.get("endpoint_id"),
                url: row.get("url"),
                secrets: row.get("secrets"),
                message_id: row.get("message_id"),
                body: row.get("body"),
                attempt: row.get("attempts"),
            })
            .collect())
    }

    /// Settles finished attempts in one call: each is delivered, or handed back for
    /// the retry schedule (or given up) with what its receiver answered. Answers the
    /// claims whose lease had already run out (those messages may go out again).
    pub async fn settle_webhooks(
        &self,
        attempts: &[WebhookAttempt],
    ) -> Result<Vec<WebhookClaim>, DbError> {
        let mut claims = Vec::with_capacity(attempts.len());
        let mut delivered = Vec::with_capacity(attempts.len());
        let mut statuses = Vec::with_capacity(attempts.len());
        let mut responses = Vec::with_capacity(attempts.len());
        let mut waits = Vec::with_capacity(attempts.len());
        let mut durations = Vec::with_capacity(attempts.len());
        for attempt in attempts {
            let (accepted, status, response, wait) = match &attempt.outcome {
                Outcome::Accepted { status, excerpt } => (true, Some(*status), excerpt, None),
                Outcome::Refused {
                    status,
                    retry_after,
                    excerpt,
                } => (false, Some(*status), excerpt, *retry_after),
                Outcome::Unreachable(why) => (false, None, why, None),
            };
            claims.push(attempt.claim.0);
            delivered.push(accepted);
            statuses.push(status.map(i32::from));
            responses.push(response.as_str());
            waits.push(wait.map(|wait| wait.as_secs_f64()));
            durations.push(millis(attempt.took));
        }
        let rows = self
            .call(
                "SELECT app.webhooks_settled($1, $2, $3, $4, $5, $6)",
                &[
                    &claims, &delivered, &statuses, &responses, &waits, &durations,
                ],
            )
            .await?;
        Ok(rows.iter().map(|row| WebhookClaim(row.get(0))).collect())
    }

    /// The webhook queue's gauges.
    pub async fn webhook_queue(&self) -> Result<WebhookQueue, DbError> {
        let rows = self
            .call(
                "SELECT pending, due, oldest_due_seconds, failing_endpoints \
                 FROM app.webhook_queue()",
                &[],
            )
            .await?;
        let row = rows.first().ok_or(DbError::NotFound)?;
        Ok(WebhookQueue {
            pending: row.get("pending"),
            due: row.get("due"),
            oldest_due_seconds: row.get("oldest_due_seconds"),
            failing_endpoints: row.get("failing_endpoints"),
        })
    }

    /// Deletes up to `limit` messages settled more than `retention` ago (the function
    /// keeps at least a day and caps `limit` at 10,000); answers how many.
    pub async fn prune_webhooks(&self, retention: Duration, limit: i32) -> Result<i64, DbError> {
        let rows = self
            .call(
                "SELECT app.prune_webhooks(make_interval(secs => $1), $2)",
                &[&retention.as_secs_f64(), &limit],
            )
            .await?;
        Ok(rows.first().map_or(0, |row| row.get(0)))
    }
}

/// The lease under which one claimed notification is being sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotificationClaim(Uuid);

/// A notification leased to this worker, with what it is rendered from.
#[derive(Debug)]
pub struct ClaimedNotification {
    pub claim: NotificationClaim,
    pub tenant_id: Uuid,
    pub message_id: Uuid,
    /// `email` or `sms`.
    pub channel: String,
    /// The address or number, copied from the contact when it was queued.
    pub recipient: Option<String>,
    /// The template's key; `None` for content given as it is.
    pub template_key: Option<String>,
    pub locale: String,
    /// The values of its variables by dotted path.
    pub variables: serde_json::Value,
    /// The content given as it is.
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    /// Which attempt this is (1 for the first).
    pub attempt: i32,
    pub time_zone: String,
    pub tenant_name: String,
    /// The tenant's versions in force of the template, for the message's locale, its
    /// language and English (in no order).
    pub wordings: Vec<Wording>,
    /// A marketing email's unsubscribe token, for the link the worker adds to it.
    pub unsubscribe_token: Option<String>,
}

/// A tenant's version in force of a template, in one locale.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Wording {
    pub locale: String,
    pub subject: Option<String>,
    pub text: String,
    pub html: Option<String>,
}

impl Dispatcher<'_> {
    /// Leases up to `limit` due notifications (the function caps it at 100); marks
    /// those whose lease ran out after their hand-over for review, and suppresses
    /// those whose contact opted out since they were queued.
    pub async fn claim_notifications(
        &self,
        limit: i32,
    ) -> Result<Vec<ClaimedNotification>, DbError> {
        let rows = self
            .call(
                "SELECT claim, tenant_id, message_id, channel, recipient, template_key, locale, \
                        variables, subject, text_body, html_body, attempts, time_zone, \
                        tenant_name, templates, unsubscribe_token \
                 FROM app.claim_notifications($1)",
                &[&limit],
            )
            .await?;
        rows.iter().map(claimed_notification).collect()
    }

    /// The claimed notification is about to go to the provider, rendered as given.
    /// False when its lease ran out: it must not be sent then.
    pub async fn notification_handing_over(
        &self,
        claim: NotificationClaim,
        subject: Option<&str>,
        text: &str,
        html: Option<&str>,
    ) -> Result<bool, DbError> {
        let rows = self
            .call(
                "SELECT app.notification_handing_over($1, $2, $3, $4)",
                &[&claim.0, &subject, &text, &html],
            )
            .await?;
        Ok(settled(&rows))
    }

    /// The provider accepted the claimed notification. False when the claim is
    /// unknown (its lease ran out after the hand-over: it is under review).
    pub async fn notification_sent(
        &self,
        claim: NotificationClaim,
        provider_id: Option<&str>,
    ) -> Result<bool, DbError> {
        let rows = self
            .call(
                "SELECT app.notification_sent($1, $2)",
                &[&claim.0, &provider_id],
            )
            .await?;
        Ok(settled(&rows))
    }

    /// The claimed notification was not sent: queued again with backoff, or failed
    /// when `permanent` or out of attempts. False when the claim is unknown.
    pub async fn notification_failed(
        &self,
        claim: NotificationClaim,
        reason: &str,
        permanent: bool,
    ) -> Result<bool, DbError> {
        let rows = self
            .call(
                "SELECT app.notification_failed($1, $2, $3)",
                &[&claim.0, &reason, &permanent],
            )
            .await?;
        Ok(settled(&rows))
    }
}

fn claimed_notification(row: &Row) -> Result<ClaimedNotification, DbError> {
    let wordings = serde_json::from_value(row.get("templates"))
        .map_err(|err| DbError::internal(format!("the claim's templates: {err}")))?;
    Ok(ClaimedNotification {
        claim: NotificationClaim(row.get("claim")),
        tenant_id: row.get("tenant_id"),
        message_id: row.get("message_id"),
        channel: row.get("channel"),
        recipient: row.get("recipient"),
        template_key: row.get("template_key"),
        locale: row.get("locale"),
        variables: row.get("variables"),
        subject: row.get("subject"),
        text: row.get("text_body"),
        html: row.get("html_body"),
        attempt: row.get("attempts"),
        time_zone: row.get("time_zone"),
        tenant_name: row.get("tenant_name"),
        wordings,
        unsubscribe_token: row.get("unsubscribe_token"),
    })
}

/// The webhook queue across tenants, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WebhookQueue {
    /// Messages neither delivered nor given up.
    pub pending: i64,
    /// Those of them due now.
    pub due: i64,
    /// How long the oldest due message has waited since it was written (0 when none).
    pub oldest_due_seconds: f64,
    /// Enabled endpoints whose last attempt failed.
    pub failing_endpoints: i64,
}

/// A duration in whole milliseconds, as the delivery log keeps it.
fn millis(took: Duration) -> i32 {
    i32::try_from(took.as_millis()).unwrap_or(i32::MAX)
}

fn claimed(row: &Row) -> ClaimedMail {
    let recipient: String = row.get("recipient");
    let email = Email::new(
        &recipient,
        row.get::<_, String>("subject"),
        row.get::<_, String>("text_body"),
    );
    let html: Option<String> = row.get("html_body");
    ClaimedMail {
        claim: MailClaim(row.get("claim")),
        tenant_id: row.get("tenant_id"),
        attempt: row.get("attempts"),
        email: match html {
            Some(html) => email.and_then(|email| email.with_html(html)),
            None => email,
        },
    }
}

fn settled(rows: &[Row]) -> bool {
    rows.first().is_some_and(|row| row.get(0))
}
