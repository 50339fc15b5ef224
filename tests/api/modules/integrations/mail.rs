//! The mail outbox, end to end against a real SMTP server (aiosmtpd) the test starts:
//! a message queued in a committed transaction arrives with its headers and body, a
//! rolled-back one never does, a server that is down is retried with backoff, two
//! workers send each message once, and the application role can neither read the
//! queue nor settle mail it did not claim.

use std::time::Duration;

use crm::{
    modules::integrations::mail,
    platform::{db::DbError, mail::Email},
};
use tokio_postgres::{Client, error::SqlState};
use uuid::Uuid;

use crate::support::{
    TestApp, TestUser,
    mail::{SmtpServer, free_port, smtp_env},
    spawn_app, spawn_app_with, start_server,
};

const ARRIVAL: Duration = Duration::from_secs(20);

fn address(name: &str) -> String {
    format!("{name}-{}@example.test", Uuid::new_v4().simple())
}

/// Queues `email` in a transaction of `user`'s tenant, then commits it or rolls it back.
async fn enqueue(app: &TestApp, user: &TestUser, email: &Email, commit: bool) {
    let mut tx = app
        .db
        .tx(app.context_of(user), &mail::MODULE)
        .await
        .expect("a transaction");
    mail::enqueue(&mut tx, email).await.expect("queued");
    if commit {
        tx.commit().await.expect("committed");
    } else {
        drop(tx);
    }
}

/// The outbox row for `recipient`, as the owner sees it: attempts, seconds until the
/// next attempt, whether sent, the text body, the last error.
async fn outbox_row(
    owner: &Client,
    recipient: &str,
) -> Option<(i32, Option<f64>, bool, String, Option<String>)> {
    owner
        .query_opt(
            "SELECT attempts, extract(epoch FROM next_attempt_at - now())::float8, \
                    sent_at IS NOT NULL, text_body, last_error \
             FROM mail_outbox WHERE recipient = $1",
            &[&recipient],
        )
        .await
        .expect("outbox")
        .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4)))
}

/// The outbox row for `recipient` once the worker has marked it sent (which follows the
/// SMTP server's acceptance by a moment).
async fn sent_row(owner: &Client, recipient: &str) -> (i32, Option<f64>, String, Option<String>) {
    let deadline = std::time::Instant::now() + ARRIVAL;
    loop {
        let row = outbox_row(owner, recipient).await.expect("the row");
        if row.2 {
            return (row.0, row.1, row.3, row.4);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never marked sent: {row:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A server with a signed-up tenant, then a second instance on its database running
/// the mail worker with `env` (the first has none: the signup's confirmation is read
/// from the outbox before any worker sends and clears it).
async fn signed_up_with_worker(env: Vec<(String, String)>) -> (TestApp, TestUser) {
    let app = spawn_app().await;
    let user = app.sign_up("Acme").await;
    start_server(&app.database, |vars| vars.extend(env)).await;
    (app, user)
}

#[tokio::test]
async fn mail_queued_in_a_committed_transaction_arrives_with_its_headers_and_body() {
    let smtp = SmtpServer::start().await;
    let env = smtp.env();
    let (app, user) = signed_up_with_worker(env).await;
    let to = address("ann");
    let email = Email::new(
        &to,
        "Confirm your address",
        "Hello Ann,\nopen http://127.0.0.1:8000/verify?token=abc123 to confirm.\n",
    )
    .and_then(|email| {
        email.with_html("<p>Open <a href=\"http://127.0.0.1:8000/verify\">this link</a>.</p>")
    })
    .expect("a valid message");
    enqueue(&app, &user, &email, true).await;

    let received = smtp.wait_for_message(&to, ARRIVAL).await;
    assert_eq!(received.header("Subject"), Some("Confirm your address"));
    assert_eq!(
        received.header("From"),
        Some("\"Test CRM\" <crm@example.test>")
    );
    assert_eq!(
        received.header("X-RcptTo"),
        Some(to.as_str()),
        "the envelope recipient"
    );
    assert!(
        received.header("Date").is_some() && received.header("Message-ID").is_some(),
        "{received:?}"
    );
    assert!(
        received
            .header("Content-Type")
            .is_some_and(|value| value.starts_with("multipart/alternative")),
        "{received:?}"
    );
    assert!(
        received
            .body
            .contains("open http://127.0.0.1:8000/verify?token=abc123 to confirm."),
        "{received:?}"
    );
    assert!(received.body.contains("this link</a>"), "{received:?}");

    let owner = app.owner_sql().await;
    let (attempts, next, text, error) = sent_row(&owner, &to).await;
    assert_eq!((attempts, next, error), (1, None, None));
    assert_eq!(text, "", "a sent message's body (and its links) is wiped");
    let metrics = app.get_raw("/metrics").await.text().await.expect("metrics");
    assert!(
        metrics.contains("crm_mail_deliveries_total{outcome=\"sent\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn mail_queued_in_a_rolled_back_transaction_never_arrives() {
    let smtp = SmtpServer::start().await;
    let env = smtp.env();
    let (app, user) = signed_up_with_worker(env).await;
    let (dropped, kept) = (address("dropped"), address("kept"));
    let message = |to: &str| Email::new(to, "Hello", "Hello\n").expect("valid");
    enqueue(&app, &user, &message(&dropped), false).await;
    enqueue(&app, &user, &message(&kept), true).await;

    smtp.wait_for_message(&kept, ARRIVAL).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(smtp.messages_to(&dropped).is_empty());
    assert!(outbox_row(&app.owner_sql().await, &dropped).await.is_none());
}

#[tokio::test]
async fn an_smtp_server_that_is_down_is_retried_with_backoff_until_it_is_up() {
    let port = free_port();
    let (app, user) = signed_up_with_worker(smtp_env(port)).await;
    let to = address("patient");
    enqueue(
        &app,
        &user,
        &Email::new(&to, "Later", "Eventually\n").expect("valid"),
        true,
    )
    .await;

    let owner = app.owner_sql().await;
    let deadline = std::time::Instant::now() + ARRIVAL;
    let (attempts, next, sent, _, error) = loop {
        let row = outbox_row(&owner, &to).await.expect("the row");
        if row.4.is_some() {
            break row;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never attempted: {row:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!((attempts, sent), (1, false));
    assert!(error.is_some_and(|error| !error.is_empty()));
    let wait = next.expect("scheduled again");
    assert!(
        (20.0..=30.0).contains(&wait),
        "backoff of about 30 s, got {wait}"
    );

    let smtp = SmtpServer::start_on(port).await;
    // Time passes: the backoff is over.
    owner
        .execute(
            "UPDATE mail_outbox SET next_attempt_at = now() WHERE recipient = $1",
            &[&to],
        )
        .await
        .expect("fast-forward");
    let received = smtp.wait_for_message(&to, ARRIVAL).await;
    assert_eq!(received.header("Subject"), Some("Later"));
    let (attempts, next, _, error) = sent_row(&owner, &to).await;
    assert_eq!((attempts, next, error), (2, None, None));
}

#[tokio::test]
async fn two_workers_at_once_send_each_message_once() {
    let smtp = SmtpServer::start().await;
    let env = smtp.env();
    let (app, user) = signed_up_with_worker(env.clone()).await;
    start_server(&app.database, |vars| vars.extend(env)).await;
    let to = address("busy");
    let mut tx = app
        .db
        .tx(app.context_of(&user), &mail::MODULE)
        .await
        .expect("a transaction");
    for n in 0..60 {
        let email = Email::new(&to, format!("Message {n}"), "Once\n").expect("valid");
        mail::enqueue(&mut tx, &email).await.expect("queued");
    }
    tx.commit().await.expect("committed");

    let deadline = std::time::Instant::now() + ARRIVAL;
    while smtp.messages_to(&to).len() < 60 {
        assert!(std::time::Instant::now() < deadline, "not all 60 arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut subjects: Vec<String> = smtp
        .messages_to(&to)
        .iter()
        .filter_map(|mail| mail.header("Subject").map(str::to_owned))
        .collect();
    subjects.sort();
    let mut expected: Vec<String> = (0..60).map(|n| format!("Message {n}")).collect();
    expected.sort();
    assert_eq!(subjects, expected, "each message exactly once");
}

fn sqlstate<T: std::fmt::Debug>(result: Result<T, tokio_postgres::Error>) -> SqlState {
    result
        .expect_err("must be refused")
        .code()
        .cloned()
        .expect("a database error")
}

#[tokio::test]
async fn the_app_role_can_queue_mail_but_not_read_steer_or_settle_it() {
    // No SMTP server and no worker: the queued rows stay where they are.
    let app = spawn_app_with(|vars| vars.push(("CRM_RUN_WORKER".into(), "false".into()))).await;
    let a = app.sign_up("A").await;
    let b = app.sign_up("B").await;
    let to = address("secret");
    enqueue(
        &app,
        &b,
        &Email::new(&to, "B's invitation", "token=b-secret\n").expect("valid"),
        true,
    )
    .await;

    let sql = app.app_role_sql().await;
    sql.batch_execute("BEGIN").await.expect("begin");
    app.enter(&sql, a.tenant_id, a.user_id).await;
    for statement in [
        "SELECT count(*) FROM mail_outbox",
        "SELECT count(*) FROM system_mail_outbox",
    ] {
        sql.batch_execute("SAVEPOINT s").await.expect("savepoint");
        assert_eq!(
            sqlstate(sql.query(statement, &[]).await),
            SqlState::INSUFFICIENT_PRIVILEGE,
            "{statement}"
        );
        sql.batch_execute("ROLLBACK TO SAVEPOINT s")
            .await
            .expect("rollback to");
    }
    let id = Uuid::now_v7();
    for (what, statement) in [
        (
            "another tenant's id",
            "INSERT INTO mail_outbox (tenant_id, id, recipient, subject, text_body) VALUES ($1, $2, 'x@example.test', 's', 'b')",
        ),
        (
            "its own bookkeeping",
            "INSERT INTO mail_outbox (id, recipient, subject, text_body, sent_at) SELECT $2, 'x@example.test', 's', 'b', now() WHERE $1::uuid IS NOT NULL",
        ),
        (
            "an update",
            "UPDATE mail_outbox SET recipient = 'eve@example.test' WHERE tenant_id = $1 OR id = $2",
        ),
        (
            "a delete",
            "DELETE FROM mail_outbox WHERE tenant_id = $1 OR id = $2",
        ),
        (
            "the system queue",
            "INSERT INTO system_mail_outbox (id, recipient, subject, text_body) SELECT $2, 'x@example.test', 's', 'b' WHERE $1::uuid IS NOT NULL",
        ),
    ] {
        sql.batch_execute("SAVEPOINT s").await.expect("savepoint");
        assert_eq!(
            sqlstate(sql.execute(statement, &[&b.tenant_id, &id]).await),
            SqlState::INSUFFICIENT_PRIVILEGE,
            "{what}"
        );
        sql.batch_execute("ROLLBACK TO SAVEPOINT s")
            .await
            .expect("rollback to");
    }
    // Claiming and settling are the worker role's door (V13), not the application's:
    // a request (or its credentials) can neither read due mail nor hold it back.
    for statement in [
        "SELECT count(*) FROM app.claim_mail(100) WHERE $1::uuid IS NOT NULL",
        "SELECT app.mail_sent($1)",
        "SELECT app.mail_failed($1, 'x', true)",
    ] {
        sql.batch_execute("SAVEPOINT s").await.expect("savepoint");
        assert_eq!(
            sqlstate(sql.query(statement, &[&Uuid::new_v4()]).await),
            SqlState::INSUFFICIENT_PRIVILEGE,
            "{statement}"
        );
        sql.batch_execute("ROLLBACK TO SAVEPOINT s")
            .await
            .expect("rollback to");
    }
    sql.batch_execute("ROLLBACK").await.expect("rollback");

    // Without a tenant, the tenant door's insert fails closed.
    let no_tenant = sql
        .execute(
            "INSERT INTO mail_outbox (id, recipient, subject, text_body) VALUES ($1, 'x@example.test', 's', 'b')",
            &[&Uuid::now_v7()],
        )
        .await;
    assert!(no_tenant.is_err());

    let owner = app.owner_sql().await;
    let (attempts, _, sent, text, _) = outbox_row(&owner, &to).await.expect("B's row");
    assert_eq!(
        (attempts, sent, text.as_str()),
        (0, false, "token=b-secret\n"),
        "untouched"
    );
}

#[tokio::test]
async fn the_outbox_refuses_an_over_long_subject_even_from_raw_sql() {
    // The outbox's checks hold even if a caller bypasses Email: an over-long subject
    // inserted through the door is refused, not queued.
    let app = spawn_app_with(|vars| vars.push(("CRM_RUN_WORKER".into(), "false".into()))).await;
    let user = app.sign_up("A").await;
    let mut tx = app
        .db
        .tx(app.context_of(&user), &mail::MODULE)
        .await
        .expect("a transaction");
    let long = "s".repeat(401);
    let result = tx
        .query(
            "INSERT INTO mail_outbox (id, recipient, subject, text_body) VALUES ($1, 'x@example.test', $2, 'b')",
            &[&Uuid::now_v7(), &long],
        )
        .await;
    assert!(matches!(result, Err(DbError::OutOfRange)), "{result:?}");
}
