//! The one declaration of what templates exist: each key's purpose, its channels, the
//! variables it offers (dotted paths, with a description and the sample value previews
//! use) and its default wording, embedded from `defaults/`. Validation, the API's
//! documentation (`GET /notifications/template-keys`), previews and the defaults all
//! read it from here.

use poem_openapi::Enum;

/// What a template is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Enum)]
#[oai(rename_all = "snake_case")]
pub enum TemplateKey {
    /// Sent when a viewing is booked.
    ViewingConfirmation,
    /// Sent ahead of a viewing.
    ViewingReminder,
    /// Sent after a viewing, asking for feedback.
    ViewingFeedbackRequest,
    /// Sent to a person invited to join the tenant.
    Invitation,
    /// Sent to confirm an email address at sign-up.
    EmailVerification,
    /// Sent ahead of a clinic appointment.
    AppointmentReminder,
}

/// How a message reaches its recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Enum)]
#[oai(rename_all = "snake_case")]
pub enum Channel {
    /// Email: a subject, a text part and an optional HTML part.
    Email,
    /// SMS: a text.
    Sms,
}

impl Channel {
    pub fn name(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Self::Email, Self::Sms]
            .into_iter()
            .find(|channel| channel.name() == name)
    }
}

/// A variable a key offers to its templates.
#[derive(Debug)]
pub struct Variable {
    /// As templates write it: `contact.first_name`.
    pub path: &'static str,
    pub description: &'static str,
    /// What previews and the trial render at save time use.
    pub sample: &'static str,
}

/// A key: its purpose, channels and variables.
#[derive(Debug)]
pub struct KeySpec {
    pub key: TemplateKey,
    pub description: &'static str,
    pub channels: &'static [Channel],
    /// Groups of variables, in the order the documentation lists them.
    groups: &'static [&'static [Variable]],
}

impl KeySpec {
    /// Every variable the key offers.
    pub fn variables(&self) -> impl Iterator<Item = &'static Variable> + use<> {
        self.groups.iter().flat_map(|group| group.iter())
    }

    /// Whether `path` is a variable of the key, or an object holding some
    /// (`contact`, `property.address`).
    pub fn offers(&self, path: &str) -> bool {
        self.variables().any(|variable| {
            variable.path == path
                || variable
                    .path
                    .strip_prefix(path)
                    .is_some_and(|rest| rest.starts_with('.'))
        })
    }

    pub fn has_channel(&self, channel: Channel) -> bool {
        self.channels.contains(&channel)
    }
}

/// The tenant's variables, offered by every key.
const TENANT: &[Variable] = &[
    Variable {
        path: "tenant.name",
        description: "The tenant's name.",
        sample: "Acme Estates",
    },
    Variable {
        path: "tz",
        description: "The tenant's IANA time zone (`Europe/Zurich`); the `datetime` filter's default zone.",
        sample: "UTC",
    },
];

const CONTACT: &[Variable] = &[
    Variable {
        path: "contact.first_name",
        description: "The contact's first name.",
        sample: "Ada",
    },
    Variable {
        path: "contact.last_name",
        description: "The contact's last name.",
        sample: "Lovelace",
    },
    Variable {
        path: "contact.email",
        description: "The contact's email address.",
        sample: "ada@example.com",
    },
    Variable {
        path: "contact.phone",
        description: "The contact's phone number.",
        sample: "+41 44 668 18 00",
    },
];

const VIEWING: &[Variable] = &[
    Variable {
        path: "viewing.scheduled_at",
        description: "When the viewing starts, an RFC 3339 instant: format it with `datetime(tz)`.",
        sample: "2026-06-01T14:30:00Z",
    },
    Variable {
        path: "viewing.duration_minutes",
        description: "How long the viewing lasts, in minutes.",
        sample: "30",
    },
    Variable {
        path: "viewing.agent_name",
        description: "The name of the agent showing the property.",
        sample: "Grace Hopper",
    },
];

const PROPERTY: &[Variable] = &[
    Variable {
        path: "property.title",
        description: "The property's title.",
        sample: "Sunny three-room flat",
    },
    Variable {
        path: "property.address.line",
        description: "The property's street address.",
        sample: "Bahnhofstrasse 1",
    },
    Variable {
        path: "property.address.city",
        description: "The property's city.",
        sample: "Zürich",
    },
    Variable {
        path: "property.address.country",
        description: "The property's country, an ISO 3166 code.",
        sample: "CH",
    },
];

const FEEDBACK: &[Variable] = &[Variable {
    path: "feedback.link",
    description: "Where the contact gives feedback on the viewing.",
    sample: "https://crm.example.com/feedback/sample",
}];

const INVITATION: &[Variable] = &[
    Variable {
        path: "invitation.link",
        description: "The link that accepts the invitation (it carries its secret).",
        sample: "https://crm.example.com/invitations/accept#token=sample",
    },
    Variable {
        path: "invitation.inviter_name",
        description: "The name of the member who invited.",
        sample: "Grace Hopper",
    },
    Variable {
        path: "invitation.role",
        description: "The role the invitee gets: owner, admin, member or read_only.",
        sample: "member",
    },
    Variable {
        path: "invitation.expires_at",
        description: "When the link stops working, an RFC 3339 instant.",
        sample: "2026-06-08T09:00:00Z",
    },
];

const VERIFICATION: &[Variable] = &[
    Variable {
        path: "verification.link",
        description: "The link that confirms the email address (it carries its secret).",
        sample: "https://crm.example.com/signup/verify#token=sample",
    },
    Variable {
        path: "verification.expires_at",
        description: "When the link stops working, an RFC 3339 instant.",
        sample: "2026-06-02T09:00:00Z",
    },
];

const APPOINTMENT: &[Variable] = &[
    Variable {
        path: "appointment.starts_at",
        description: "When the appointment starts, an RFC 3339 instant: format it with `datetime(tz)`.",
        sample: "2026-06-01T08:30:00Z",
    },
    Variable {
        path: "appointment.duration_minutes",
        description: "How long the appointment lasts, in minutes.",
        sample: "30",
    },
    Variable {
        path: "appointment.type_name",
        description: "What is booked: the appointment type's name.",
        sample: "Initial consultation",
    },
    Variable {
        path: "appointment.practitioner_name",
        description: "The name of the practitioner the appointment is with.",
        sample: "Grace Hopper",
    },
    Variable {
        path: "appointment.practitioner_title",
        description: "The practitioner's title (`Dr. med.`, `Physiotherapist`).",
        sample: "Dr. med.",
    },
    Variable {
        path: "appointment.location_name",
        description: "Where the appointment takes place.",
        sample: "Praxis am See",
    },
];

const BOTH: &[Channel] = &[Channel::Email, Channel::Sms];
const EMAIL: &[Channel] = &[Channel::Email];

/// Every key, in the order of [`TemplateKey`].
pub const KEYS: &[KeySpec] = &[
    KeySpec {
        key: TemplateKey::ViewingConfirmation,
        description: "Confirms a booked viewing to the contact.",
        channels: BOTH,
        groups: &[CONTACT, VIEWING, PROPERTY, TENANT],
    },
    KeySpec {
        key: TemplateKey::ViewingReminder,
        description: "Reminds the contact of an upcoming viewing.",
        channels: BOTH,
        groups: &[CONTACT, VIEWING, PROPERTY, TENANT],
    },
    KeySpec {
        key: TemplateKey::ViewingFeedbackRequest,
        description: "Asks the contact for feedback after a viewing.",
        channels: BOTH,
        groups: &[CONTACT, VIEWING, PROPERTY, FEEDBACK, TENANT],
    },
    KeySpec {
        key: TemplateKey::Invitation,
        description: "Invites a person to join the tenant.",
        channels: EMAIL,
        groups: &[INVITATION, TENANT],
    },
    KeySpec {
        key: TemplateKey::EmailVerification,
        description: "Asks a person signing up to confirm their email address.",
        channels: EMAIL,
        groups: &[VERIFICATION, TENANT],
    },
    KeySpec {
        key: TemplateKey::AppointmentReminder,
        description: "Reminds the patient of an upcoming clinic appointment.",
        channels: BOTH,
        groups: &[CONTACT, APPOINTMENT, TENANT],
    },
];

impl TemplateKey {
    pub fn name(self) -> &'static str {
        match self {
            Self::ViewingConfirmation => "viewing_confirmation",
            Self::ViewingReminder => "viewing_reminder",
            Self::ViewingFeedbackRequest => "viewing_feedback_request",
            Self::Invitation => "invitation",
            Self::EmailVerification => "email_verification",
            Self::AppointmentReminder => "appointment_reminder",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        KEYS.iter()
            .map(|spec| spec.key)
            .find(|key| key.name() == name)
    }

    /// Whether its messages go to the tenant's contacts (`POST /notifications`, the
    /// events and reminders); the others go to people signing up or invited.
    pub fn goes_to_contacts(self) -> bool {
        matches!(
            self,
            Self::ViewingConfirmation
                | Self::ViewingReminder
                | Self::ViewingFeedbackRequest
                | Self::AppointmentReminder
        )
    }

    /// Its declaration ([`KEYS`] is in the order of the enum; a unit test checks it).
    pub fn spec(self) -> &'static KeySpec {
        &KEYS[self as usize]
    }
}

/// The locale of the defaults.
pub const DEFAULT_LOCALE: &str = "en";

/// The wording that ships for a key and channel, in [`DEFAULT_LOCALE`].
#[derive(Debug)]
pub struct DefaultTemplate {
    pub key: TemplateKey,
    pub channel: Channel,
    pub subject: Option<&'static str>,
    pub text: &'static str,
    pub html: Option<&'static str>,
}

macro_rules! email_default {
    ($key:expr, $name:literal) => {
        DefaultTemplate {
            key: $key,
            channel: Channel::Email,
            subject: Some(include_str!(concat!(
                "defaults/",
                $name,
                ".email.subject.txt"
            ))),
            text: include_str!(concat!("defaults/", $name, ".email.text.txt")),
            html: Some(include_str!(concat!("defaults/", $name, ".email.html"))),
        }
    };
}

macro_rules! sms_default {
    ($key:expr, $name:literal) => {
        DefaultTemplate {
            key: $key,
            channel: Channel::Sms,
            subject: None,
            text: include_str!(concat!("defaults/", $name, ".sms.txt")),
            html: None,
        }
    };
}

/// One default for every key and channel it offers.
pub const DEFAULTS: &[DefaultTemplate] = &[
    email_default!(TemplateKey::ViewingConfirmation, "viewing_confirmation"),
    sms_default!(TemplateKey::ViewingConfirmation, "viewing_confirmation"),
    email_default!(TemplateKey::ViewingReminder, "viewing_reminder"),
    sms_default!(TemplateKey::ViewingReminder, "viewing_reminder"),
    email_default!(
        TemplateKey::ViewingFeedbackRequest,
        "viewing_feedback_request"
    ),
    sms_default!(
        TemplateKey::ViewingFeedbackRequest,
        "viewing_feedback_request"
    ),
    email_default!(TemplateKey::Invitation, "invitation"),
    email_default!(TemplateKey::EmailVerification, "email_verification"),
    email_default!(TemplateKey::AppointmentReminder, "appointment_reminder"),
    sms_default!(TemplateKey::AppointmentReminder, "appointment_reminder"),
];

/// The default of `key` on `channel`, if the key offers the channel.
pub fn default_for(key: TemplateKey, channel: Channel) -> Option<&'static DefaultTemplate> {
    DEFAULTS
        .iter()
        .find(|default| default.key == key && default.channel == channel)
}
