//! [`Dispatcher`], the third door: the worker's claim of due outbound mail across
//! tenants, over the worker role's own connections (`crm_worker`, mail migration V13;
//! the application role cannot make these calls). It holds only the calls of the
//! reviewed SECURITY DEFINER functions of the mail module (`app.claim_mail`,
//! `app.mail_sent`, `app.mail_failed`),
//! which decide the lease, the backoff, the attempt limit and the batch cap
//! themselves. A claim is settled by the token the claim returned, so a caller can
//! settle only what it claimed; a lease that ran out (a worker that died) is claimed
//! again, which makes delivery at least once.

use tokio_postgres::Row;
use uuid::Uuid;

use super::{Db, DbError};
use crate::platform::mail::{Email, EmailError};

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
