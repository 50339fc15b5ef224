//! [`Email`]: one message to one recipient, checked when it is made so that every
//! value of the type can be queued and sent (the outbox's CHECK constraints hold the
//! same limits).

use std::str::FromStr;

use lettre::Address;
use uuid::Uuid;

/// Longest recipient address (RFC 5321 path limit, as the outbox checks).
pub const MAX_RECIPIENT_CHARS: usize = 320;
/// Longest subject.
pub const MAX_SUBJECT_CHARS: usize = 400;
/// Longest plain-text body.
pub const MAX_TEXT_CHARS: usize = 100_000;
/// Longest HTML body.
pub const MAX_HTML_CHARS: usize = 200_000;
/// The longest one-click unsubscribe URL.
pub const MAX_UNSUBSCRIBE_CHARS: usize = 2_000;

/// A message: recipient, subject, a plain-text body and optionally an HTML one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    to: String,
    subject: String,
    text: String,
    html: Option<String>,
    /// Where the recipient stops these messages with one click (RFC 8058).
    unsubscribe: Option<String>,
    /// The left part of its Message-ID, the same on every attempt; a new one per
    /// attempt when absent.
    id: Option<Uuid>,
}

/// Why a message cannot be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("the recipient is not an email address")]
    Recipient,
    #[error("the subject must be 1 to {MAX_SUBJECT_CHARS} characters on one line")]
    Subject,
    #[error("a body is longer than {MAX_TEXT_CHARS} (text) or {MAX_HTML_CHARS} (HTML) characters")]
    Body,
    #[error(
        "the unsubscribe link must be an http(s) URL of at most {MAX_UNSUBSCRIBE_CHARS} characters"
    )]
    Unsubscribe,
}

impl Email {
    /// A plain-text message to `to`.
    pub fn new(
        to: &str,
        subject: impl Into<String>,
        text: impl Into<String>,
    ) -> Result<Self, EmailError> {
        let (subject, text) = (subject.into(), text.into());
        if to.chars().count() > MAX_RECIPIENT_CHARS || Address::from_str(to).is_err() {
            return Err(EmailError::Recipient);
        }
        let subject_chars = subject.chars().count();
        if subject_chars == 0
            || subject_chars > MAX_SUBJECT_CHARS
            || subject.chars().any(char::is_control)
        {
            return Err(EmailError::Subject);
        }
        if text.chars().count() > MAX_TEXT_CHARS {
            return Err(EmailError::Body);
        }
        Ok(Self {
            to: to.to_owned(),
            subject,
            text,
            html: None,
            unsubscribe: None,
            id: None,
        })
    }

    /// The same message with an HTML alternative to its text body.
    pub fn with_html(self, html: impl Into<String>) -> Result<Self, EmailError> {
        let html = html.into();
        if html.chars().count() > MAX_HTML_CHARS {
            return Err(EmailError::Body);
        }
        Ok(Self {
            html: Some(html),
            ..self
        })
    }

    /// The same message with `List-Unsubscribe` headers pointing at `url`, an http(s)
    /// URL that stops these messages when POSTed to (RFC 8058's one click).
    pub fn with_unsubscribe(self, url: impl Into<String>) -> Result<Self, EmailError> {
        let url = url.into();
        if !(url.starts_with("https://") || url.starts_with("http://"))
            || url.len() > MAX_UNSUBSCRIBE_CHARS
            || url
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || c == '>')
        {
            return Err(EmailError::Unsubscribe);
        }
        Ok(Self {
            unsubscribe: Some(url),
            ..self
        })
    }

    /// The same message with a Message-ID made from `id`, so every attempt to send
    /// it carries the same one (receivers and relays drop a duplicate by it).
    pub fn with_id(self, id: Uuid) -> Self {
        Self {
            id: Some(id),
            ..self
        }
    }

    /// The recipient's address.
    pub fn to(&self) -> &str {
        &self.to
    }

    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The plain-text body.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The HTML body, when there is one.
    pub fn html(&self) -> Option<&str> {
        self.html.as_deref()
    }

    /// The one-click unsubscribe URL, when there is one.
    pub fn unsubscribe(&self) -> Option<&str> {
        self.unsubscribe.as_deref()
    }

    /// The id its Message-ID is made from, when it was given one.
    pub fn id(&self) -> Option<Uuid> {
        self.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sendable_messages_can_be_made() {
        assert!(Email::new("ann@example.test", "Hello", "Hi Ann").is_ok());
        assert_eq!(
            Email::new("not an address", "Hello", "x"),
            Err(EmailError::Recipient)
        );
        assert_eq!(
            Email::new("ann@example.test", "", "x"),
            Err(EmailError::Subject)
        );
        assert_eq!(
            Email::new("ann@example.test", "Hello\r\nBcc: eve@example.test", "x"),
            Err(EmailError::Subject),
            "no header injection through the subject"
        );
        assert_eq!(
            Email::new("ann@example.test", "Hello", "x".repeat(MAX_TEXT_CHARS + 1)),
            Err(EmailError::Body)
        );
        let email = Email::new("ann@example.test", "Hello", "x").expect("valid");
        assert_eq!(
            email.clone().with_html("y".repeat(MAX_HTML_CHARS + 1)),
            Err(EmailError::Body)
        );
        assert_eq!(
            email.clone().with_html("<p>x</p>").expect("valid").html(),
            Some("<p>x</p>")
        );
        for forged in [
            "mailto:x@example.test",
            "https://x.test/u>\r\nBcc: eve@example.test",
        ] {
            assert_eq!(
                email.clone().with_unsubscribe(forged),
                Err(EmailError::Unsubscribe),
                "{forged}"
            );
        }
        assert_eq!(
            email
                .with_unsubscribe("https://x.test/u?t=1")
                .expect("valid")
                .unsubscribe(),
            Some("https://x.test/u?t=1")
        );
    }
}
