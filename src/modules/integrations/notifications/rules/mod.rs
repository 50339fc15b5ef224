//! Rules: what a tenant's records send by themselves (`notification_rules`, migration
//! V25). A rule names a key, a channel and a locale, and for reminders and feedback
//! requests when they go. The Real Estate vertical's viewings apply them in the
//! database, in the transaction that books, moves, cancels or completes a viewing
//! (its migration V26): the confirmation when it is booked (and again when it moves),
//! the reminders ahead of it, the feedback request after it.

mod api;
mod store;

pub use api::RulesApi;

use chrono::{DateTime, Utc};
use poem_openapi::{Object, types::Example};
use uuid::Uuid;

use super::{keys::Channel, keys::TemplateKey};
use crate::platform::{error::ApiError, validation::Fields};

/// The most rules a tenant keeps.
pub const MAX_RULES: i64 = 50;
/// How far ahead a reminder may go: 30 days.
const MAX_REMINDER_MINUTES: i32 = 43_200;
/// The earliest a reminder may go.
const MIN_REMINDER_MINUTES: i32 = 5;
/// How long after a viewing a feedback request may wait: 7 days.
const MAX_FEEDBACK_DELAY_MINUTES: i32 = 10_080;
/// The longest feedback link.
const MAX_LINK_CHARS: usize = 2_000;

/// A rule of the tenant.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Rule {
    /// The rule's id.
    pub id: Uuid,
    /// What it sends: `viewing_confirmation` when a viewing is booked (and again
    /// when it moves), `viewing_reminder` ahead of it, `viewing_feedback_request`
    /// after it is completed; `appointment_reminder` ahead of a clinic appointment.
    pub template_key: TemplateKey,
    /// The channel it sends on.
    pub channel: Channel,
    /// The locale of the wording it sends (the tenant's templates, V23's fallbacks);
    /// absent: each contact's, else the tenant's.
    pub locale: Option<String>,
    /// A reminder's minutes before the viewing starts; a feedback request's minutes
    /// after the viewing is completed; 0 for a confirmation.
    pub offset_minutes: i32,
    /// A feedback request's link (`feedback.link`), with `{viewing_id}` replaced by
    /// the viewing's id.
    pub link: Option<String>,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// Who added it.
    pub created_by: Option<Uuid>,
}

/// The tenant's rules.
#[derive(Debug, Object)]
pub struct RuleList {
    /// Oldest first; at most 50.
    pub items: Vec<Rule>,
}

/// A rule to add. Unknown fields are ignored.
#[derive(Debug, Object)]
#[oai(example)]
pub struct NewRuleBody {
    /// What it sends (a key messages to contacts use).
    pub template_key: TemplateKey,
    /// The channel; the key must offer it.
    pub channel: Channel,
    /// A BCP 47 locale (`en`, `de-CH`) every message of the rule is worded in; when
    /// absent, each contact's, else the tenant's.
    #[oai(validator(min_length = 2, max_length = 35))]
    pub locale: Option<String>,
    /// A reminder: minutes before the viewing starts, 5 to 43,200 (30 days),
    /// required. A feedback request: minutes after the viewing is completed, 0 to
    /// 10,080 (7 days), 0 when absent. A confirmation: 0 or absent.
    pub offset_minutes: Option<i32>,
    /// A feedback request's link (required for it, refused for the others): an
    /// http(s) URL of up to 2,000 characters; `{viewing_id}` in it becomes the
    /// viewing's id.
    #[oai(validator(min_length = 1, max_length = 2000))]
    pub link: Option<String>,
}

impl Example for NewRuleBody {
    fn example() -> Self {
        Self {
            template_key: TemplateKey::ViewingReminder,
            channel: Channel::Sms,
            locale: Some("de-CH".to_owned()),
            offset_minutes: Some(120),
            link: None,
        }
    }
}

/// A checked [`NewRuleBody`].
#[derive(Debug)]
pub struct NewRule {
    pub template_key: TemplateKey,
    pub channel: Channel,
    pub locale: Option<String>,
    pub offset_minutes: i32,
    pub link: Option<String>,
}

impl NewRule {
    /// Every problem of every field at once.
    pub fn check(body: NewRuleBody) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let key = body.template_key;
        if !key.goes_to_contacts() {
            fields.error(
                "template_key",
                format!("`{}` is not sent by rules", key.name()),
            );
        } else if !key.spec().has_channel(body.channel) {
            fields.error(
                "channel",
                format!("`{}` is not sent by {}", key.name(), body.channel.name()),
            );
        }
        let locale = body.locale.map(|locale| fields.locale("locale", &locale));
        let offset_minutes = checked_offset(&mut fields, key, body.offset_minutes);
        let link = body.link.map(|link| link.trim().to_owned());
        match (key, &link) {
            (TemplateKey::ViewingFeedbackRequest, None) => {
                fields.error("link", "a feedback request needs the link it sends");
            }
            (TemplateKey::ViewingFeedbackRequest, Some(link)) => check_link(&mut fields, link),
            (_, Some(_)) => fields.error("link", "only a feedback request has a link"),
            (_, None) => {}
        }
        fields.finish()?;
        Ok(Self {
            template_key: key,
            channel: body.channel,
            locale,
            offset_minutes,
            link,
        })
    }
}

fn checked_offset(fields: &mut Fields, key: TemplateKey, offset: Option<i32>) -> i32 {
    let (range, default) = match key {
        TemplateKey::ViewingReminder | TemplateKey::AppointmentReminder => {
            (MIN_REMINDER_MINUTES..=MAX_REMINDER_MINUTES, None)
        }
        TemplateKey::ViewingFeedbackRequest => (0..=MAX_FEEDBACK_DELAY_MINUTES, Some(0)),
        _ => (0..=0, Some(0)),
    };
    match offset.or(default) {
        Some(minutes) if range.contains(&minutes) => minutes,
        Some(_) => {
            fields.error(
                "offset_minutes",
                format!(
                    "must be {} to {} for `{}`",
                    range.start(),
                    range.end(),
                    key.name()
                ),
            );
            0
        }
        None => {
            fields.error(
                "offset_minutes",
                "a reminder needs the minutes before the viewing it goes",
            );
            0
        }
    }
}

/// An http(s) URL with a host and no whitespace, as the table's
/// `notification_rules_link_format` wants it.
fn check_link(fields: &mut Fields, link: &str) {
    let valid = link.chars().count() <= MAX_LINK_CHARS
        && (link.starts_with("https://") || link.starts_with("http://"))
        && !link.chars().any(char::is_whitespace)
        && url::Url::parse(link)
            .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some());
    if !valid {
        fields.error(
            "link",
            "must be an http(s) URL such as https://example.com/feedback?viewing={viewing_id}",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(key: TemplateKey, offset: Option<i32>, link: Option<&str>) -> NewRuleBody {
        NewRuleBody {
            template_key: key,
            channel: Channel::Email,
            locale: None,
            offset_minutes: offset,
            link: link.map(str::to_owned),
        }
    }

    fn refused_fields(body: NewRuleBody) -> Vec<String> {
        match NewRule::check(body) {
            Err(ApiError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn each_key_has_its_own_offsets_and_link() {
        let reminder = NewRule::check(body(TemplateKey::ViewingReminder, Some(1440), None))
            .expect("a day ahead");
        assert_eq!(reminder.offset_minutes, 1440);
        let feedback = NewRule::check(body(
            TemplateKey::ViewingFeedbackRequest,
            None,
            Some("https://example.com/f?v={viewing_id}"),
        ))
        .expect("feedback at once");
        assert_eq!(feedback.offset_minutes, 0);
        assert_eq!(
            refused_fields(body(TemplateKey::ViewingReminder, None, None)),
            ["offset_minutes"]
        );
        assert_eq!(
            refused_fields(body(TemplateKey::ViewingReminder, Some(4), None)),
            ["offset_minutes"]
        );
        assert_eq!(
            refused_fields(body(
                TemplateKey::ViewingConfirmation,
                Some(10),
                Some("https://x.io")
            )),
            ["offset_minutes", "link"]
        );
        assert_eq!(
            refused_fields(body(TemplateKey::ViewingFeedbackRequest, Some(-1), None)),
            ["offset_minutes", "link"]
        );
        assert_eq!(
            refused_fields(body(
                TemplateKey::ViewingFeedbackRequest,
                None,
                Some("ftp://x.io/a b")
            )),
            ["link"]
        );
        assert_eq!(
            refused_fields(body(
                TemplateKey::ViewingFeedbackRequest,
                None,
                Some("HTTPS://x.io")
            )),
            ["link"]
        );
        assert_eq!(
            refused_fields(body(TemplateKey::Invitation, None, None)),
            ["template_key"]
        );
    }
}
