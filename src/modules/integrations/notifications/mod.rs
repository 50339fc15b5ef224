//! Notifications: the messages the CRM sends to a tenant's contacts ([`messages`]),
//! the contacts' consent ([`consents`]), and each tenant's wording of them, per
//! purpose (a [`TemplateKey`]), [`Channel`] and locale, kept as versions. The worker
//! host's notification job renders ([`delivery`]) and sends them.
//!
//! - **Keys** ([`keys`]): the one declaration of each key's channels, the variables it
//!   offers (dotted paths such as `contact.first_name`, with their sample values) and
//!   its English defaults (`defaults/`, embedded).
//! - **Sandbox** ([`render`]): minijinja with strict undefined variables, no loader,
//!   a fuel budget, HTML escaping in the HTML part, size caps, and a `datetime` filter
//!   that formats an instant in an IANA time zone (the tenant's `tz` by default).
//! - **Versions** (`notification_templates`, `migrations/V23__notification_templates.sql`):
//!   saving a (key, channel, locale) again adds the next version; the newest is in
//!   force. Every member reads and previews; owners and admins save (the policy
//!   checks the membership's role again). Rows are never changed or deleted.
//! - **Rules** ([`rules`]): what the tenant's records send by themselves (a viewing's
//!   confirmation, reminders and feedback request), applied by the database in the
//!   transaction that changes the record.
//! - **Settings** ([`settings`]): quiet hours in the tenant's time zone and sending
//!   limits per hour and per day, applied by the worker's claim to every message.
//! - **Unsubscribing** ([`unsubscribe`]): every marketing email ends with a link,
//!   signed by the database, to a public page that opts the contact out.
//! - **Resolution** ([`store::effective`]): for a locale such as `de-CH`, the tenant's
//!   version in force for `de-CH`, else for `de`, else for `en`, else the default.

pub mod consents;
pub mod delivery;
pub mod keys;
pub mod messages;
pub mod render;
pub mod rules;
pub mod settings;
pub mod unsubscribe;

mod api;
mod store;

pub use api::NotificationsApi;
pub use consents::ConsentsApi;
pub use messages::MessagesApi;
pub use rules::RulesApi;
pub use settings::SettingsApi;
pub use unsubscribe::UnsubscribeApi;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object, Tags, types::Example};
use uuid::Uuid;

use crate::platform::{
    error::{ApiError, FieldError},
    module::{Constraint, Meaning, Migration, ModuleInfo},
    validation::Fields,
};
use keys::{Channel, TemplateKey};
use render::Parts;

pub const MODULE: ModuleInfo = ModuleInfo {
    name: "notifications",
    title: "Notifications",
    switchable: false,
    constraints: &[
        Constraint {
            // Two versions of one template saved at the same moment: the second loses.
            name: "notification_templates_version_key",
            meaning: Meaning::Conflict(
                "Another version of this template was saved at the same moment; save again.",
            ),
        },
        Constraint {
            name: "notification_messages_contact_fkey",
            meaning: Meaning::MissingReference("contact_id"),
        },
        Constraint {
            name: "notification_rules_once",
            meaning: Meaning::Conflict(
                "The tenant has a rule for this key, channel and offset already.",
            ),
        },
    ],
    events: &[],
    notified_records: &[],
    migrations: &[
        Migration {
            name: "V23__notification_templates",
            sql: include_str!("migrations/V23__notification_templates.sql"),
        },
        Migration {
            name: "V24__notification_messages",
            sql: include_str!("migrations/V24__notification_messages.sql"),
        },
        Migration {
            name: "V25__notification_rules",
            sql: include_str!("migrations/V25__notification_rules.sql"),
        },
        Migration {
            name: "V27__quiet_hours_and_sending_limits",
            sql: include_str!("migrations/V27__quiet_hours_and_sending_limits.sql"),
        },
        Migration {
            name: "V28__unsubscribe_links",
            sql: include_str!("migrations/V28__unsubscribe_links.sql"),
        },
        Migration {
            name: "V29__resolving_reviews",
            sql: include_str!("migrations/V29__resolving_reviews.sql"),
        },
        Migration {
            name: "V32__locale_per_contact",
            sql: include_str!("migrations/V32__locale_per_contact.sql"),
        },
        Migration {
            name: "V34__reminders_before_quiet_hours",
            sql: include_str!("migrations/V34__reminders_before_quiet_hours.sql"),
        },
        Migration {
            name: "V37__appointment_reminders",
            sql: include_str!("migrations/V37__appointment_reminders.sql"),
        },
    ],
};

#[derive(Tags)]
pub enum NotificationTags {
    /// The messages the CRM sends to contacts, their wording (per key, channel and
    /// locale, versioned, checked and rendered in a sandbox) and the contacts'
    /// consent.
    Notifications,
}

/// The most variables a preview may supply.
const MAX_PREVIEW_VARIABLES: usize = 100;
/// The longest value a preview may supply for a variable.
const MAX_VARIABLE_CHARS: usize = 2_000;

/// Where a template's wording comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Source {
    /// A version the tenant saved.
    Tenant,
    /// The default that ships with the CRM (English).
    Default,
}

/// A saved version of a template.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Template {
    /// The version's id.
    pub id: Uuid,
    /// What the template is for.
    pub key: TemplateKey,
    /// The channel it is written for.
    pub channel: Channel,
    /// Its BCP 47 locale (`en`, `de-CH`).
    pub locale: String,
    /// 1 for the first version of this key, channel and locale.
    pub version: i32,
    /// Whether this is the newest version, the one in force.
    pub in_force: bool,
    /// The subject (email only).
    pub subject: Option<String>,
    /// The text part: the body of a text email, or the SMS.
    pub text: String,
    /// The HTML part (email only, optional).
    pub html: Option<String>,
    /// When this version was saved.
    pub created_at: DateTime<Utc>,
    /// Who saved it.
    pub created_by: Option<Uuid>,
}

/// One page of templates.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TemplateList {
    /// The versions in force oldest first, or a template's versions newest first.
    pub items: Vec<Template>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A template version to save. Unknown fields are ignored.
#[derive(Debug, Clone, Object)]
#[oai(example)]
pub struct NewTemplateBody {
    /// What the template is for (see `GET /notifications/template-keys` for the
    /// variables each key offers).
    pub key: TemplateKey,
    /// The channel: `email` needs a `subject` and may have an `html` part; `sms` has
    /// only `text`. The key must offer the channel.
    pub channel: Channel,
    /// A BCP 47 locale: a language, an optional script and an optional region
    /// (`en`, `de-CH`, `zh-Hant-TW`); `en` when absent. Stored in canonical case.
    #[oai(validator(min_length = 2, max_length = 35))]
    pub locale: Option<String>,
    /// The subject (email only): a template of up to 20,000 characters, rendered on
    /// one line.
    #[oai(validator(min_length = 1, max_length = 20000))]
    pub subject: Option<String>,
    /// The text part: a minijinja template of up to 20,000 characters using the key's
    /// variables (`{{ contact.first_name }}`) and the `datetime` filter
    /// (`{{ viewing.scheduled_at | datetime(tz) }}`; formats `long`, `short`, `date`,
    /// `time` or a strftime pattern). Undefined variables are errors.
    #[oai(validator(min_length = 1, max_length = 20000))]
    pub text: String,
    /// The HTML part (email only): like `text`, with every value HTML-escaped.
    #[oai(validator(min_length = 1, max_length = 20000))]
    pub html: Option<String>,
}

impl Example for NewTemplateBody {
    fn example() -> Self {
        Self {
            key: TemplateKey::ViewingReminder,
            channel: Channel::Email,
            locale: Some("de-CH".to_owned()),
            subject: Some("Erinnerung: Besichtigung {{ property.title }}".to_owned()),
            text: "Hallo {{ contact.first_name }}, bis {{ viewing.scheduled_at | datetime(tz, 'short') }}!"
                .to_owned(),
            html: None,
        }
    }
}

/// What to render: a saved version by id, or a template given inline.
#[derive(Debug, Object)]
#[oai(example)]
pub struct PreviewBody {
    /// A saved version of the tenant (any version, not only the one in force).
    pub template_id: Option<Uuid>,
    /// A template given inline, checked as a save would check it (its `locale` is
    /// not used). Exactly one of `template_id` and `template`.
    pub template: Option<NewTemplateBody>,
    /// A record of the tenant whose values fill the key's variables, as a message
    /// about it would have them (a viewing's time, property and agent, and its
    /// contact's name and address).
    pub record: Option<PreviewRecord>,
    /// Values of the key's variables by dotted path (`{"contact.first_name": "Ada"}`),
    /// up to 100, each up to 2,000 characters; they override the record's, and the
    /// key's sample values fill the rest.
    pub variables: Option<BTreeMap<String, String>>,
    /// The IANA time zone of `tz` (`Europe/Zurich`); the tenant's when absent.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub time_zone: Option<String>,
}

/// A record a preview takes values from.
#[derive(Debug, Object)]
pub struct PreviewRecord {
    /// `contact`, or a record a served module's messages concern: `viewing` (Real
    /// Estate), `appointment` (Clinic).
    #[oai(rename = "type", validator(min_length = 1, max_length = 64))]
    pub record_type: String,
    /// The record's id. Another tenant's id answers like one that does not exist.
    pub id: Uuid,
}

/// The record type of a contact, which every deployment has.
pub const CONTACT_RECORD: &str = "contact";

impl Example for PreviewBody {
    fn example() -> Self {
        Self {
            template_id: None,
            template: Some(NewTemplateBody::example()),
            record: Some(PreviewRecord {
                record_type: "viewing".to_owned(),
                id: Uuid::from_u128(0x0193_5f2e_8c1a_7b3d_9e4f_2a6b_8c0d_1e2f),
            }),
            variables: Some(BTreeMap::from([(
                "contact.first_name".to_owned(),
                "Ada".to_owned(),
            )])),
            time_zone: Some("Europe/Zurich".to_owned()),
        }
    }
}

/// A rendered template.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Preview {
    /// What was rendered.
    pub key: TemplateKey,
    /// The channel it was rendered for.
    pub channel: Channel,
    /// The time zone `tz` held.
    pub time_zone: String,
    /// The subject, on one line (email only).
    pub subject: Option<String>,
    /// The text part.
    pub text: String,
    /// The HTML part, values escaped (email only, when the template has one).
    pub html: Option<String>,
}

/// A variable a key offers.
#[derive(Debug, Object)]
pub struct TemplateVariable {
    /// As templates write it: `{{ contact.first_name }}`.
    pub path: String,
    /// What it holds.
    pub description: String,
    /// The value previews use unless told otherwise.
    pub sample: String,
}

/// A key: what its templates are for, their channels and variables.
#[derive(Debug, Object)]
pub struct TemplateKeyInfo {
    /// The key.
    pub key: TemplateKey,
    /// What its templates are for.
    pub description: String,
    /// The channels it may be sent on.
    pub channels: Vec<Channel>,
    /// The variables its templates may use; any other is refused when saved.
    pub variables: Vec<TemplateVariable>,
}

/// Every key.
#[derive(Debug, Object)]
pub struct TemplateKeyList {
    /// In a fixed order.
    pub items: Vec<TemplateKeyInfo>,
}

/// The wording in force for a key and channel in a locale.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct EffectiveTemplate {
    /// The key.
    pub key: TemplateKey,
    /// The channel.
    pub channel: Channel,
    /// The locale of the wording chosen: the one asked for, its language, or `en`.
    pub locale: String,
    /// The tenant's own version, or the default.
    pub source: Source,
    /// The tenant's version (source `tenant`).
    pub template_id: Option<Uuid>,
    /// Its version number (source `tenant`).
    pub version: Option<i32>,
    /// The subject (email only).
    pub subject: Option<String>,
    /// The text part.
    pub text: String,
    /// The HTML part (email only, when there is one).
    pub html: Option<String>,
}

/// The wording in force for every key and channel in a locale.
#[derive(Debug, Object)]
pub struct EffectiveTemplateList {
    /// By key, then channel.
    pub items: Vec<EffectiveTemplate>,
}

/// A checked [`NewTemplateBody`].
#[derive(Debug, Clone)]
pub struct NewTemplate {
    pub key: TemplateKey,
    pub channel: Channel,
    pub locale: String,
    pub subject: Option<String>,
    pub text: String,
    pub html: Option<String>,
}

impl NewTemplate {
    /// Checks the channel against the key, the locale, and the parts in the sandbox
    /// ([`render::check`]): every problem of every field at once.
    pub fn check(body: NewTemplateBody) -> Result<Self, ApiError> {
        Self::check_at(body, "")
    }

    /// [`Self::check`] for a body nested under `prefix` (`template.`).
    fn check_at(body: NewTemplateBody, prefix: &str) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let spec = body.key.spec();
        let field = |name: &str| format!("{prefix}{name}");
        if !spec.has_channel(body.channel) {
            fields.error(
                &field("channel"),
                format!(
                    "`{}` is not sent by {}",
                    body.key.name(),
                    body.channel.name()
                ),
            );
        }
        let locale = match &body.locale {
            Some(locale) => fields.locale(&field("locale"), locale),
            None => keys::DEFAULT_LOCALE.to_owned(),
        };
        match body.channel {
            Channel::Email if body.subject.is_none() => {
                fields.error(&field("subject"), "an email needs a subject");
            }
            Channel::Sms => {
                for (name, part) in [("subject", &body.subject), ("html", &body.html)] {
                    if part.is_some() {
                        fields.error(&field(name), "an SMS has only a text");
                    }
                }
            }
            Channel::Email => {}
        }
        fields.finish()?;
        let parts = Parts {
            subject: body.subject.as_deref(),
            text: &body.text,
            html: body.html.as_deref(),
        };
        render::check(spec, body.channel, parts).map_err(|errors| prefixed(errors, prefix))?;
        Ok(Self {
            key: body.key,
            channel: body.channel,
            locale,
            subject: body.subject,
            text: body.text,
            html: body.html,
        })
    }

    pub fn parts(&self) -> Parts<'_> {
        Parts {
            subject: self.subject.as_deref(),
            text: &self.text,
            html: self.html.as_deref(),
        }
    }
}

fn prefixed(errors: Vec<FieldError>, prefix: &str) -> ApiError {
    ApiError::Validation(
        errors
            .into_iter()
            .map(|error| FieldError::new(format!("{prefix}{}", error.field), error.message))
            .collect(),
    )
}

/// The locales a template for `locale` is looked up in, most specific first:
/// `de-CH` → `de-CH`, `de`, `en`.
pub fn fallback_locales(locale: &str) -> Vec<String> {
    let mut chain = vec![locale.to_owned()];
    let language = locale.split('-').next().unwrap_or(locale);
    for candidate in [language, keys::DEFAULT_LOCALE] {
        if !chain.iter().any(|known| known == candidate) {
            chain.push(candidate.to_owned());
        }
    }
    chain
}

/// What a preview renders: a saved version or an inline template, with the
/// caller's values.
#[derive(Debug)]
pub struct PreviewRequest {
    pub source: PreviewSource,
    pub record: Option<PreviewRecord>,
    pub variables: BTreeMap<String, String>,
    pub time_zone: Option<String>,
}

#[derive(Debug)]
pub enum PreviewSource {
    Saved(Uuid),
    Inline(NewTemplate),
}

impl PreviewRequest {
    /// Checks that exactly one template is named, the inline one as a save would, and
    /// the variables and the time zone. The variables of a saved version are checked
    /// against its key once it is read ([`check_variables`]).
    pub fn check(body: PreviewBody) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let source = match (body.template_id, body.template) {
            (Some(id), None) => Some(PreviewSource::Saved(id)),
            (None, Some(template)) => Some(PreviewSource::Inline(NewTemplate::check_at(
                template,
                "template.",
            )?)),
            _ => {
                fields.error("template_id", "give either `template_id` or `template`");
                None
            }
        };
        let variables = body.variables.unwrap_or_default();
        if variables.len() > MAX_PREVIEW_VARIABLES {
            fields.error(
                "variables",
                format!("at most {MAX_PREVIEW_VARIABLES} variables"),
            );
        }
        for (path, value) in &variables {
            if value.chars().count() > MAX_VARIABLE_CHARS {
                fields.error(
                    &format!("variables.{path}"),
                    format!("must be at most {MAX_VARIABLE_CHARS} characters"),
                );
            }
        }
        if let Some(zone) = &body.time_zone {
            if !render::is_time_zone(zone) {
                fields.error(
                    "time_zone",
                    "must be an IANA time zone such as Europe/Zurich",
                );
            }
        }
        if let Some(PreviewSource::Inline(template)) = &source {
            check_variables(&mut fields, template.key, &variables);
        }
        fields.finish()?;
        Ok(Self {
            source: source.ok_or_else(|| ApiError::internal("no preview source"))?,
            record: body.record,
            variables,
            time_zone: body.time_zone,
        })
    }
}

/// Each supplied variable must be one `key` offers.
pub fn check_variables(
    fields: &mut Fields,
    key: TemplateKey,
    variables: &BTreeMap<String, String>,
) {
    let spec = key.spec();
    for path in variables.keys() {
        if !spec.variables().any(|variable| variable.path == path) {
            fields.error(
                &format!("variables.{path}"),
                format!("is not a variable of `{}`", key.name()),
            );
        }
    }
}

impl From<&keys::KeySpec> for TemplateKeyInfo {
    fn from(spec: &keys::KeySpec) -> Self {
        Self {
            key: spec.key,
            description: spec.description.to_owned(),
            channels: spec.channels.to_vec(),
            variables: spec
                .variables()
                .map(|variable| TemplateVariable {
                    path: variable.path.to_owned(),
                    description: variable.description.to_owned(),
                    sample: variable.sample.to_owned(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_fall_back_to_the_language_then_english() {
        assert_eq!(fallback_locales("de-CH"), ["de-CH", "de", "en"]);
        assert_eq!(fallback_locales("de"), ["de", "en"]);
        assert_eq!(fallback_locales("en-GB"), ["en-GB", "en"]);
        assert_eq!(fallback_locales("en"), ["en"]);
    }
}
