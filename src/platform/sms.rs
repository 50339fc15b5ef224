//! Outbound text messages, knowing no feature: the [`Texter`] sends one through the
//! configured transport.
//!
//! - A provider (`CRM_SMS_URL` set): the widely used HTTP shape, a form POST of `To`,
//!   `From` and `Body` with basic authentication, answered 2xx with the message's id
//!   in a JSON field `sid`, `id` or `message_id`. Our message id goes along as the
//!   `Idempotency-Key` header for providers that honour one.
//! - The log (no provider): each message is written to the log at `info` with its
//!   recipient and, outside production, its text.

use std::time::Duration;

use crate::platform::config::{Config, Environment, SmsConfig};

/// The longest part of a provider's answer kept as a failure's reason.
const MAX_ANSWER_CHARS: usize = 300;

/// Sends text messages through the configured transport.
pub struct Texter {
    transport: Transport,
}

enum Transport {
    Provider {
        client: reqwest::Client,
        config: SmsConfig,
    },
    Log {
        bodies: bool,
    },
}

/// One text message to send.
#[derive(Debug, Clone, Copy)]
pub struct Sms<'a> {
    /// Our id of the message: the provider's idempotency key.
    pub id: uuid::Uuid,
    /// A number in international form (`+41446681800`).
    pub to: &'a str,
    pub text: &'a str,
}

/// Why one message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// The provider could not be reached or did not answer in time.
    #[error("the SMS provider could not be reached: {0}")]
    Unreachable(String),
    /// The provider answered with an error status.
    #[error("the SMS provider answered {status}: {answer}")]
    Refused { status: u16, answer: String },
}

impl SmsError {
    /// Sending it again cannot succeed: a 4xx answer other than 408 and 429 (a bad
    /// number, bad credentials, a refused sender).
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Refused { status, .. } => {
                (400..500).contains(status) && *status != 408 && *status != 429
            }
            Self::Unreachable(_) => false,
        }
    }
}

/// The SMS client cannot be built (TLS set-up).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the SMS client: {0}")]
pub struct SmsSetupError(#[source] reqwest::Error);

impl Texter {
    /// The texter `config` describes: the provider when a URL is set, the log otherwise.
    pub fn new(config: &Config) -> Result<Self, SmsSetupError> {
        let transport = match &config.sms {
            Some(sms) => Transport::Provider {
                client: reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .timeout(sms.timeout)
                    .connect_timeout(sms.timeout.min(Duration::from_secs(5)))
                    .build()
                    .map_err(SmsSetupError)?,
                config: sms.clone(),
            },
            None => {
                let production = config.environment == Environment::Production;
                if production {
                    tracing::warn!(
                        "CRM_SMS_URL is not set: text messages are not sent, only their recipient is logged"
                    );
                }
                Transport::Log {
                    bodies: !production,
                }
            }
        };
        Ok(Self { transport })
    }

    /// Sends `sms`; returns once the provider accepted it, with the provider's id of
    /// the message when its answer names one (for the log, `log:` and our own id).
    pub async fn send(&self, sms: Sms<'_>) -> Result<Option<String>, SmsError> {
        match &self.transport {
            Transport::Provider { client, config } => post(client, config, sms).await,
            Transport::Log { bodies } => {
                if *bodies {
                    tracing::info!(to = sms.to, text = sms.text, "sms (log transport)");
                } else {
                    tracing::info!(to = sms.to, "sms (log transport, text withheld)");
                }
                Ok(Some(format!("log:{}", sms.id)))
            }
        }
    }
}

async fn post(
    client: &reqwest::Client,
    config: &SmsConfig,
    sms: Sms<'_>,
) -> Result<Option<String>, SmsError> {
    let response = client
        .post(config.url.clone())
        .basic_auth(&config.username, Some(config.password.expose()))
        .header("Idempotency-Key", sms.id.to_string())
        .form(&[("To", sms.to), ("From", &config.from), ("Body", sms.text)])
        .send()
        .await
        // The URL may carry an account id: errors do not repeat it.
        .map_err(|err| SmsError::Unreachable(err.without_url().to_string()))?;
    let status = response.status();
    let answer = response.bytes().await;
    if !status.is_success() {
        let answer = answer.map(|bytes| excerpt(&bytes)).unwrap_or_default();
        return Err(SmsError::Refused {
            status: status.as_u16(),
            answer,
        });
    }
    // Accepted: an answer cut short or without an id does not make it unsent.
    Ok(answer.ok().and_then(|answer| message_id(&answer)))
}

/// The id in a provider's JSON answer: `sid`, `id` or `message_id`, a string or a
/// number.
fn message_id(answer: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(answer).ok()?;
    ["sid", "id", "message_id"]
        .iter()
        .find_map(|field| match value.get(field)? {
            serde_json::Value::String(id) if !id.trim().is_empty() => Some(id.trim().to_owned()),
            serde_json::Value::Number(id) => Some(id.to_string()),
            _ => None,
        })
}

/// The start of an answer as text, for a failure's reason.
fn excerpt(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .take(MAX_ANSWER_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_read_from_the_usual_fields() {
        assert_eq!(message_id(br#"{"sid":"SM123"}"#).as_deref(), Some("SM123"));
        assert_eq!(message_id(br#"{"id":42}"#).as_deref(), Some("42"));
        assert_eq!(
            message_id(br#"{"message_id":" m-1 ","id":""}"#).as_deref(),
            Some("m-1")
        );
        for answer in [&b"{}"[..], b"[]", b"not json", br#"{"sid":""}"#] {
            assert_eq!(message_id(answer), None);
        }
    }

    #[test]
    fn only_client_errors_are_permanent() {
        let refused = |status| SmsError::Refused {
            status,
            answer: String::new(),
        };
        assert!(refused(400).is_permanent());
        assert!(refused(401).is_permanent());
        assert!(!refused(408).is_permanent());
        assert!(!refused(429).is_permanent());
        assert!(!refused(503).is_permanent());
        assert!(!SmsError::Unreachable(String::new()).is_permanent());
    }
}
