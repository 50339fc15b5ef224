//! Messages: every notification the CRM sends to a contact is a row with its status,
//! whether the API queued it or an event or reminder did (migration V24). A message
//! is a template (its key, the values of its variables, a locale) rendered by the
//! worker when it is sent, or content given as it is. The contact's address, the
//! `contact.*` values and the consent rules are applied by the database when the
//! message is queued, and again when it is claimed.

mod api;
mod store;

pub use api::MessagesApi;
pub use store::QUEUE_SQL;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use poem_openapi::{Enum, Object, types::Example};
use uuid::Uuid;

use super::{
    keys::{Channel, TemplateKey},
    render::{MAX_RENDERED_CHARS, MAX_SMS_CHARS, MAX_SUBJECT_CHARS},
};
use crate::platform::{error::ApiError, validation::Fields};

/// How far ahead a message may be scheduled.
const MAX_SCHEDULE_DAYS: i64 = 366;
/// The most variables a message may carry, and the longest value.
const MAX_VARIABLES: usize = 100;
const MAX_VARIABLE_CHARS: usize = 2_000;
/// The longest HTML part of content given as it is.
const MAX_HTML_CHARS: usize = 200_000;

/// Where a message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for its time (`send_at`) or its next attempt.
    Queued,
    /// A worker is sending it.
    Sending,
    /// The provider accepted it.
    Sent,
    /// Given up (`reason` says why): refused for good, a template that would not
    /// render, or five failed attempts.
    Failed,
    /// Never sent, by rule (`reason` says which): opted out, no opt-in for
    /// marketing, no address.
    Suppressed,
    /// The worker stopped after handing it to the provider and before hearing back:
    /// whether it went out is unknown, so it is not sent again by itself.
    Review,
    /// Not sent because what it was about changed (`reason` says what): the viewing
    /// was cancelled, completed, moved too close or deleted, or the rule that queued
    /// it was deleted.
    Cancelled,
}

impl Status {
    const ALL: [Self; 7] = [
        Self::Queued,
        Self::Sending,
        Self::Sent,
        Self::Failed,
        Self::Suppressed,
        Self::Review,
        Self::Cancelled,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Suppressed => "suppressed",
            Self::Review => "review",
            Self::Cancelled => "cancelled",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.name() == name)
    }
}

/// What a message is for, which decides the consent it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Purpose {
    /// About something the contact is doing with the tenant (a viewing booked): sent
    /// unless the contact opted out of the channel.
    Transactional,
    /// Promotion: sent only to a contact who opted in to the channel.
    Marketing,
}

impl Purpose {
    pub fn name(self) -> &'static str {
        match self {
            Self::Transactional => "transactional",
            Self::Marketing => "marketing",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [Self::Transactional, Self::Marketing]
            .into_iter()
            .find(|purpose| purpose.name() == name)
    }
}

/// The record a message concerns.
#[derive(Debug, Clone, Object)]
pub struct RecordRef {
    /// Its kind: `viewing`.
    #[oai(rename = "type")]
    pub kind: String,
    /// Its id.
    pub id: Uuid,
}

/// A message to a contact.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Message {
    /// The message's id.
    pub id: Uuid,
    /// The channel it goes out on.
    pub channel: Channel,
    /// What it is for, which decides the consent it needs.
    pub purpose: Purpose,
    /// The contact it is for; absent once that contact is deleted.
    pub contact_id: Option<Uuid>,
    /// The address or number it goes to, taken from the contact when it was queued;
    /// absent when the contact had none.
    pub recipient: Option<String>,
    /// The template it is rendered from; absent for content given as it is.
    pub template_key: Option<TemplateKey>,
    /// The locale its template is looked up in.
    pub locale: String,
    /// The values of the template's variables, by dotted path.
    pub variables: BTreeMap<String, String>,
    /// The subject (email): as given, or as rendered once handed to the provider.
    pub subject: Option<String>,
    /// The text: as given, or as rendered once handed to the provider.
    pub text: Option<String>,
    /// The HTML part (email): as given, or as rendered.
    pub html: Option<String>,
    /// What queued it: `api`, or what happened to its record (`viewing.booked`,
    /// `viewing.rescheduled`, `viewing.upcoming` for a reminder, `viewing.completed`).
    pub cause: String,
    /// The record it concerns.
    pub record: Option<RecordRef>,
    /// The rule that queued it (absent when the API did, or once the rule is deleted).
    pub rule_id: Option<Uuid>,
    /// When it is (or was) due to be sent.
    pub send_at: DateTime<Utc>,
    /// Where it stands.
    pub status: Status,
    /// Why it was suppressed, failed or cancelled, or why its last attempt failed.
    pub reason: Option<String>,
    /// The provider's id of the message, once sent.
    pub provider_id: Option<String>,
    /// Attempts to send it so far.
    pub attempts: i32,
    /// The key it was queued with.
    pub idempotency_key: Option<String>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// Who queued it (absent for messages queued by an event or a reminder).
    pub created_by: Option<Uuid>,
    /// When its status last changed.
    pub updated_at: DateTime<Utc>,
    /// When the provider accepted it.
    pub sent_at: Option<DateTime<Utc>>,
}

/// One page of messages.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct MessageList {
    /// Newest first.
    pub items: Vec<Message>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A message to queue: a template and the values of its variables, or content as it
/// is. Unknown fields are ignored.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct NewMessageBody {
    /// The contact to send it to, on the address or number on their record.
    pub contact_id: Uuid,
    /// The channel.
    pub channel: Channel,
    /// `transactional` (the default) or `marketing`, which only goes to contacts who
    /// opted in.
    pub purpose: Option<Purpose>,
    /// A template key (one sent to contacts: `viewing_confirmation`,
    /// `viewing_reminder`, `viewing_feedback_request`) offering the channel. Exactly
    /// one of `template_key` and `text`.
    pub template_key: Option<TemplateKey>,
    /// Values of the template's variables by dotted path: every variable of the key
    /// except `contact.*`, `tenant.name` and `tz`, which the CRM fills in (see
    /// `GET /notifications/template-keys`). Up to 100, each up to 2,000 characters.
    pub variables: Option<BTreeMap<String, String>>,
    /// The BCP 47 locale the template is looked up in; when absent, the contact's,
    /// else the tenant's (`PATCH /tenant/settings`).
    #[oai(validator(min_length = 2, max_length = 35))]
    pub locale: Option<String>,
    /// Content as it is: the subject of an email (required with `text` on email, one
    /// line of up to 400 characters).
    #[oai(validator(min_length = 1, max_length = 400))]
    pub subject: Option<String>,
    /// Content as it is: the text of the email (up to 100,000 characters) or the SMS
    /// (up to 1,530).
    #[oai(validator(min_length = 1, max_length = 100000))]
    pub text: Option<String>,
    /// Content as it is: the HTML part of an email (up to 200,000 characters).
    #[oai(validator(min_length = 1, max_length = 200000))]
    pub html: Option<String>,
    /// When to send it (now when absent or past; at most a year ahead).
    pub send_at: Option<DateTime<Utc>>,
    /// A key of your choice, unique in the tenant: queuing again with the same key
    /// answers the message first queued with it (200) instead of queuing another.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub idempotency_key: Option<String>,
}

impl Example for NewMessageBody {
    fn example() -> Self {
        Self {
            contact_id: Uuid::nil(),
            channel: Channel::Sms,
            purpose: None,
            template_key: Some(TemplateKey::ViewingReminder),
            variables: Some(BTreeMap::from([
                (
                    "viewing.scheduled_at".to_owned(),
                    "2026-06-01T14:30:00Z".to_owned(),
                ),
                ("viewing.duration_minutes".to_owned(), "30".to_owned()),
                ("viewing.agent_name".to_owned(), "Grace Hopper".to_owned()),
                ("property.title".to_owned(), "Sunny flat".to_owned()),
                (
                    "property.address.line".to_owned(),
                    "Bahnhofstrasse 1".to_owned(),
                ),
                ("property.address.city".to_owned(), "Zürich".to_owned()),
                ("property.address.country".to_owned(), "CH".to_owned()),
            ])),
            locale: Some("de-CH".to_owned()),
            subject: None,
            text: None,
            html: None,
            send_at: None,
            idempotency_key: Some("reminder-2026-06-01-ada".to_owned()),
        }
    }
}

/// A checked [`NewMessageBody`].
#[derive(Debug)]
pub struct NewMessage {
    pub contact_id: Uuid,
    pub channel: Channel,
    pub purpose: Purpose,
    pub template_key: Option<TemplateKey>,
    pub variables: BTreeMap<String, String>,
    /// `None`: the contact's, else the tenant's, decided when it is queued.
    pub locale: Option<String>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    pub send_at: DateTime<Utc>,
    pub idempotency_key: Option<String>,
}

/// Whether the CRM fills in `path` itself when a message is queued or sent.
fn filled_in(path: &str) -> bool {
    path.starts_with("contact.") || path == "tenant.name" || path == "tz"
}

impl NewMessage {
    /// Checks the whole body at once: a template or content (not both), the channel
    /// against the key, every variable the key needs and none it does not offer, the
    /// parts' sizes, the locale and the schedule.
    pub fn check(body: NewMessageBody, now: DateTime<Utc>) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let variables = body.variables.unwrap_or_default();
        match (body.template_key, &body.text) {
            (Some(key), None) => check_template(&mut fields, key, body.channel, &variables),
            (None, Some(text)) => {
                check_content(&mut fields, body.channel, &body.subject, text, &body.html);
                if !variables.is_empty() {
                    fields.error("variables", "content given as it is has no variables");
                }
            }
            _ => fields.error("template_key", "give either `template_key` or `text`"),
        }
        if body.template_key.is_some() {
            for (name, part) in [("subject", &body.subject), ("html", &body.html)] {
                if part.is_some() {
                    fields.error(name, "a template's message has no content of its own");
                }
            }
        }
        if variables.len() > MAX_VARIABLES {
            fields.error("variables", format!("at most {MAX_VARIABLES} variables"));
        }
        for (path, value) in &variables {
            if value.chars().count() > MAX_VARIABLE_CHARS {
                fields.error(
                    &format!("variables.{path}"),
                    format!("must be at most {MAX_VARIABLE_CHARS} characters"),
                );
            }
        }
        let locale = body.locale.map(|locale| fields.locale("locale", &locale));
        let send_at = body.send_at.map_or(now, |at| at.max(now));
        if send_at > now + Duration::days(MAX_SCHEDULE_DAYS) {
            fields.error("send_at", "must be within a year");
        }
        fields.finish()?;
        Ok(Self {
            contact_id: body.contact_id,
            channel: body.channel,
            purpose: body.purpose.unwrap_or(Purpose::Transactional),
            template_key: body.template_key,
            variables,
            locale,
            subject: body.subject,
            text: body.text,
            html: body.html,
            send_at,
            idempotency_key: body.idempotency_key,
        })
    }
}

fn check_template(
    fields: &mut Fields,
    key: TemplateKey,
    channel: Channel,
    variables: &BTreeMap<String, String>,
) {
    let spec = key.spec();
    if !key.goes_to_contacts() {
        fields.error(
            "template_key",
            format!("`{}` is not sent to contacts", key.name()),
        );
        return;
    }
    if !spec.has_channel(channel) {
        fields.error(
            "channel",
            format!("`{}` is not sent by {}", key.name(), channel.name()),
        );
    }
    for path in variables.keys() {
        if filled_in(path) {
            fields.error(
                &format!("variables.{path}"),
                "is filled in by the CRM from the contact and the tenant",
            );
        } else if !spec.variables().any(|variable| variable.path == path) {
            fields.error(
                &format!("variables.{path}"),
                format!("is not a variable of `{}`", key.name()),
            );
        }
    }
    for variable in spec.variables() {
        if !filled_in(variable.path) && !variables.contains_key(variable.path) {
            fields.error(
                &format!("variables.{}", variable.path),
                format!("is needed by `{}`", key.name()),
            );
        }
    }
}

fn check_content(
    fields: &mut Fields,
    channel: Channel,
    subject: &Option<String>,
    text: &str,
    html: &Option<String>,
) {
    match channel {
        Channel::Email => {
            match subject {
                None => fields.error("subject", "an email needs a subject"),
                Some(subject) if subject.contains(['\r', '\n']) => {
                    fields.error("subject", "must be one line");
                }
                Some(subject) if subject.chars().count() > MAX_SUBJECT_CHARS => {
                    fields.error(
                        "subject",
                        format!("must be at most {MAX_SUBJECT_CHARS} characters"),
                    );
                }
                Some(_) => {}
            }
            if text.chars().count() > MAX_RENDERED_CHARS {
                fields.error(
                    "text",
                    format!("must be at most {MAX_RENDERED_CHARS} characters"),
                );
            }
            if html
                .as_ref()
                .is_some_and(|html| html.chars().count() > MAX_HTML_CHARS)
            {
                fields.error(
                    "html",
                    format!("must be at most {MAX_HTML_CHARS} characters"),
                );
            }
        }
        Channel::Sms => {
            for (name, part) in [("subject", subject), ("html", html)] {
                if part.is_some() {
                    fields.error(name, "an SMS has only a text");
                }
            }
            if text.chars().count() > MAX_SMS_CHARS {
                fields.error(
                    "text",
                    format!("an SMS is at most {MAX_SMS_CHARS} characters"),
                );
            }
        }
    }
}

/// What an owner or admin found out about a message under review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ReviewOutcome {
    /// The provider has it: the message is `sent`.
    Sent,
    /// The provider does not have it: the message is queued again, due now.
    SendAgain,
}

impl ReviewOutcome {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::SendAgain => "send_again",
        }
    }
}

/// How a message under review is resolved.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ReviewBody {
    /// Whether the provider has the message (check with the provider first).
    pub outcome: ReviewOutcome,
    /// The provider's id for it, when `sent` and known (up to 200 characters).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub provider_id: Option<String>,
}

impl Example for ReviewBody {
    fn example() -> Self {
        Self {
            outcome: ReviewOutcome::Sent,
            provider_id: Some("SM0123456789abcdef".to_owned()),
        }
    }
}

/// A page of the list: its filters.
#[derive(Debug, Default)]
pub struct Filters {
    pub status: Option<Status>,
    pub channel: Option<Channel>,
    pub contact_id: Option<Uuid>,
    pub record_id: Option<Uuid>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> NewMessageBody {
        NewMessageBody {
            contact_id: Uuid::nil(),
            channel: Channel::Sms,
            purpose: None,
            template_key: None,
            variables: None,
            locale: None,
            subject: None,
            text: Some("Hello".to_owned()),
            html: None,
            send_at: None,
            idempotency_key: None,
        }
    }

    fn fields_of(body: NewMessageBody) -> Vec<String> {
        match NewMessage::check(body, Utc::now()) {
            Ok(_) => Vec::new(),
            Err(ApiError::Validation(errors)) => {
                errors.into_iter().map(|error| error.field).collect()
            }
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_template_needs_every_variable_the_crm_does_not_fill_in() {
        let mut given = NewMessageBody::example();
        assert_eq!(fields_of(given.clone()), Vec::<String>::new());
        given
            .variables
            .as_mut()
            .map(|variables| variables.remove("property.title"));
        assert_eq!(fields_of(given.clone()), ["variables.property.title"]);
        given.variables.as_mut().map(|variables| {
            variables.insert("contact.first_name".to_owned(), "Eve".to_owned());
            variables.insert("viewing.secret".to_owned(), "x".to_owned())
        });
        assert_eq!(
            fields_of(given),
            [
                "variables.contact.first_name",
                "variables.viewing.secret",
                "variables.property.title"
            ]
        );
    }

    #[test]
    fn a_template_or_content_but_not_both() {
        let mut both = NewMessageBody::example();
        both.text = Some("x".to_owned());
        assert_eq!(fields_of(both), ["template_key"]);
        let mut neither = body();
        neither.text = None;
        assert_eq!(fields_of(neither), ["template_key"]);
        let mut identity = NewMessageBody::example();
        identity.template_key = Some(TemplateKey::Invitation);
        assert_eq!(fields_of(identity), ["template_key"]);
    }

    #[test]
    fn content_fits_its_channel() {
        assert!(fields_of(body()).is_empty());
        let mut email = body();
        email.channel = Channel::Email;
        assert_eq!(fields_of(email.clone()), ["subject"]);
        email.subject = Some("two\nlines".to_owned());
        assert_eq!(fields_of(email), ["subject"]);
        let mut sms = body();
        sms.html = Some("<p>x</p>".to_owned());
        sms.text = Some("x".repeat(MAX_SMS_CHARS + 1));
        assert_eq!(fields_of(sms), ["html", "text"]);
    }

    #[test]
    fn the_past_means_now_and_a_year_is_the_horizon() {
        let now = Utc::now();
        let mut past = body();
        past.send_at = Some(now - Duration::days(3));
        let checked = NewMessage::check(past, now).expect("a past time is now");
        assert_eq!(checked.send_at, now);
        let mut far = body();
        far.send_at = Some(now + Duration::days(400));
        assert_eq!(fields_of(far), ["send_at"]);
    }
}
