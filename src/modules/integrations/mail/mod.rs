//! Mail: the durable outbox of transactional email. A feature queues a message in the
//! same transaction as the change that causes it ([`enqueue`]); the worker host's
//! mail job claims due messages across tenants ([`Db::dispatcher`]) and sends them
//! with the platform's [`Mailer`]. A crash between COMMIT and the send loses nothing:
//! the message waits in the table until a worker has sent it.
//!
//! Tables and functions: `migrations/V6__mail_outbox.sql` and `V13__the_workers_door.sql`
//! in this folder.
//!
//! - **Tenant mail** (`mail_outbox`): keyed `(tenant_id, id)` like every tenant table,
//!   RLS enabled and forced with the tenant guard. The application role may only
//!   INSERT the message columns: a request can queue mail but can read no queued
//!   message, not even its own tenant's, nor set attempts, schedule or state.
//! - **Mail outside any tenant** (`system_mail_outbox`): some mail has no tenant to
//!   belong to (a signup's confirmation, "someone tried to sign up with your address").
//!   Rather than a NULL or a made-up "system" tenant in the tenant table (either would
//!   weaken its guard), it has a table of its own without `tenant_id`, on which the
//!   application role holds no privilege at all; only the definer function of the flow
//!   that needs such mail (`app.request_signup`, identity V7) inserts rows, so the app
//!   role cannot send arbitrary text to an arbitrary address.
//! - **Dispatch**: `app.claim_mail(limit)` leases due rows of both tables
//!   (`FOR UPDATE SKIP LOCKED`, a fresh claim token each, five minutes, one attempt
//!   more, at most 100); `app.mail_sent(claim)` and `app.mail_failed(claim, error,
//!   permanent)` settle a lease by its token, with exponential backoff from 30 s
//!   (at most 6 h apart) and at most 10 attempts. Several workers may run at once:
//!   each message goes out once in the normal case, and **at least once** when a
//!   worker dies after the SMTP server accepted a message but before it was marked
//!   sent (the lease runs out and another worker sends it again). A sent message's
//!   bodies are wiped, so its links do not outlive delivery in the database.
//!
//! The worker calls them as its own role (`crm_worker`, migration V13), not as the
//! application role: a request, or whoever holds the application role's
//! credentials, cannot claim, read or settle queued mail.
//!
//! [`Db::dispatcher`]: crate::platform::db::Db::dispatcher
//! [`Mailer`]: crate::platform::mail::Mailer

use uuid::Uuid;

use crate::platform::{
    db::{DbError, TenantTx},
    mail::Email,
    module::{Migration, ModuleInfo},
};

pub const MODULE: ModuleInfo = ModuleInfo {
    name: "mail",
    title: "Mail",
    switchable: false,
    constraints: &[],
    events: &[],
    notified_records: &[],
    migrations: &[
        Migration {
            name: "V6__mail_outbox",
            sql: include_str!("migrations/V6__mail_outbox.sql"),
        },
        Migration {
            name: "V13__the_workers_door",
            sql: include_str!("migrations/V13__the_workers_door.sql"),
        },
    ],
};

/// Queues `email` for the transaction's tenant: sent by the worker once the
/// transaction commits, never if it rolls back.
pub async fn enqueue(tx: &mut TenantTx, email: &Email) -> Result<(), DbError> {
    tx.query(
        "INSERT INTO mail_outbox (id, recipient, subject, text_body, html_body) \
         VALUES ($1, $2, $3, $4, $5)",
        &[
            &Uuid::now_v7(),
            &email.to(),
            &email.subject(),
            &email.text(),
            &email.html(),
        ],
    )
    .await
    .map(drop)
}
