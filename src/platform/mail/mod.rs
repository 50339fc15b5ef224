//! Outbound email, knowing no feature: the [`Email`] type and the [`Mailer`] that sends
//! one through the configured transport.
//!
//! - SMTP (`CRM_SMTP_HOST` set): lettre's async transport, pooled connections, TLS by
//!   rustls (`none`, `starttls` or implicit `tls`), optional credentials.
//! - The log (no SMTP host): each message is written to the log at `info` with its
//!   recipient, subject and body, so links can be followed on a developer machine with
//!   no mail server. In production the body is withheld (its links act as credentials,
//!   and logs travel further than mailboxes) and start-up warns that nothing is mailed.
//!
//! Requests never send: they queue a message in their own transaction (the `mail`
//! module's outbox), and the worker host's mail job sends it with this type.

mod email;
mod smtp;

pub use email::{
    Email, EmailError, MAX_HTML_CHARS, MAX_RECIPIENT_CHARS, MAX_SUBJECT_CHARS, MAX_TEXT_CHARS,
};

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Tokio1Executor,
    message::{
        Mailbox,
        header::{HeaderName, HeaderValue},
    },
};

use crate::platform::config::{Config, Environment};

/// Sends messages from the configured From address through the configured transport.
pub struct Mailer {
    from: Mailbox,
    transport: Transport,
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// Writes messages to the log; with `bodies` false only recipient and subject.
    Log {
        bodies: bool,
    },
}

/// The SMTP settings cannot make a transport.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the SMTP transport: {0}")]
pub struct MailSetupError(#[source] lettre::transport::smtp::Error);

/// Why one message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The message could not be put together (an address lettre refuses).
    #[error("cannot build the message: {0}")]
    Message(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The SMTP server refused it, or could not be reached.
    #[error("SMTP: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
}

impl SendError {
    /// Sending it again cannot succeed: a malformed message, or a 5xx answer.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Message(_) => true,
            Self::Smtp(err) => err.is_permanent(),
        }
    }
}

impl Mailer {
    /// The mailer `config` describes: SMTP when a host is set, the log otherwise.
    pub fn new(config: &Config) -> Result<Self, MailSetupError> {
        let transport = match &config.mail.smtp {
            Some(smtp) => Transport::Smtp(smtp::transport(smtp).map_err(MailSetupError)?),
            None => {
                let production = config.environment == Environment::Production;
                if production {
                    tracing::warn!(
                        "CRM_SMTP_HOST is not set: mail is not sent, only its recipient and subject are logged"
                    );
                }
                Transport::Log {
                    bodies: !production,
                }
            }
        };
        Ok(Self {
            from: config.mail.from.clone(),
            transport,
        })
    }

    /// Sends `email`; returns its Message-ID once the SMTP server accepted it (or it
    /// was logged).
    pub async fn send(&self, email: &Email) -> Result<String, SendError> {
        let message_id = self.message_id(email);
        match &self.transport {
            Transport::Smtp(transport) => {
                transport.send(self.message(email, &message_id)?).await?;
            }
            Transport::Log { bodies: true } => tracing::info!(
                to = email.to(),
                subject = email.subject(),
                message_id,
                body = email.text(),
                html = email.html(),
                "mail (log transport)"
            ),
            Transport::Log { bodies: false } => tracing::info!(
                to = email.to(),
                subject = email.subject(),
                message_id,
                "mail (log transport, body withheld)"
            ),
        }
        Ok(message_id)
    }

    /// `<id@domain>` (RFC 5322 3.6.4) under the From address's domain, which this
    /// deployment controls: the email's own id, else a new one.
    fn message_id(&self, email: &Email) -> String {
        let id = email.id().unwrap_or_else(uuid::Uuid::new_v4);
        format!("<{id}@{}>", self.from.email.domain())
    }

    fn message(&self, email: &Email, message_id: &str) -> Result<lettre::Message, SendError> {
        let to: Mailbox = email
            .to()
            .parse()
            .map_err(|err| SendError::Message(Box::new(err)))?;
        let builder = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject())
            .message_id(Some(message_id.to_owned()));
        let builder = match email.unsubscribe() {
            None => builder,
            // RFC 2369 and RFC 8058: the URL (checked by Email) answers a one-click POST.
            Some(url) => builder
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe"),
                    format!("<{url}>"),
                ))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".to_owned(),
                )),
        };
        let built = match email.html() {
            None => builder.singlepart(lettre::message::SinglePart::plain(email.text().to_owned())),
            Some(html) => builder.multipart(lettre::message::MultiPart::alternative_plain_html(
                email.text().to_owned(),
                html.to_owned(),
            )),
        };
        built.map_err(|err| SendError::Message(Box::new(err)))
    }
}

#[cfg(test)]
mod tests {
    use std::{
        io::Write,
        sync::{Arc, Mutex},
    };

    use super::*;

    /// Everything the subscriber writes, kept for the test to read.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    async fn logged(vars: &[(&str, &str)], email: &Email) -> String {
        let config = Config::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
        .expect("config");
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let mailer = Mailer::new(&config).expect("the log transport");
        mailer.send(email).await.expect("logged");
        let bytes = captured.0.lock().expect("not poisoned").clone();
        String::from_utf8(bytes).expect("utf-8")
    }

    #[tokio::test]
    async fn without_an_smtp_host_messages_are_logged_with_their_links() {
        let email = Email::new(
            "ann@example.test",
            "Confirm your address",
            "Open http://127.0.0.1:8000/verify?token=abc123",
        )
        .expect("valid");
        let log = logged(&[], &email).await;
        assert!(log.contains("INFO"), "{log}");
        assert!(log.contains("ann@example.test"), "{log}");
        assert!(log.contains("Confirm your address"), "{log}");
        assert!(log.contains("/verify?token=abc123"), "{log}");
    }

    #[tokio::test]
    async fn in_production_the_log_transport_withholds_bodies() {
        let email = Email::new("ann@example.test", "Confirm", "token=abc123").expect("valid");
        let log = logged(
            &[
                ("CRM_ENV", "production"),
                ("DATABASE_URL", "postgres://owner:pw@db/crm"),
                ("CRM_APP_PASSWORD", "app-password"),
                ("CRM_WORKER_PASSWORD", "worker-password"),
                ("CRM_JWT_SECRET", "f1d2c3b4a5968778695a4b3c2d1e0f1234567890"),
                (
                    "CRM_PASSWORD_PEPPER",
                    "1:mail-test-pepper-9d4c2b7e1f6a3058c7e2",
                ),
            ],
            &email,
        )
        .await;
        assert!(log.contains("CRM_SMTP_HOST is not set"), "{log}");
        assert!(log.contains("ann@example.test"), "{log}");
        assert!(!log.contains("abc123"), "{log}");
    }
}
