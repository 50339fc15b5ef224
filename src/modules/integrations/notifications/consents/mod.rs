//! Consent: per contact and channel, whether the contact opted in or out, where that
//! came from and when (`contact_consents`, migration V24). The database applies it to
//! every message: an opt-out suppresses every message on the channel, and marketing
//! needs an opt-in. No decision recorded means transactional messages go out and
//! marketing does not.

mod api;
mod store;

pub use api::ConsentsApi;

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object, types::Example};
use uuid::Uuid;

use super::keys::Channel;

/// A contact's decision about a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ConsentStatus {
    /// Every message on the channel, marketing included.
    OptedIn,
    /// No message on the channel at all.
    OptedOut,
}

impl ConsentStatus {
    pub fn name(self) -> &'static str {
        match self {
            Self::OptedIn => "opted_in",
            Self::OptedOut => "opted_out",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [Self::OptedIn, Self::OptedOut]
            .into_iter()
            .find(|status| status.name() == name)
    }
}

/// A contact's recorded decision about one channel.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Consent {
    /// The contact it is about.
    pub contact_id: Uuid,
    /// The channel it is about.
    pub channel: Channel,
    /// The decision.
    pub status: ConsentStatus,
    /// Where the decision came from (`web form`, `phone call`, `unsubscribe link`).
    pub source: String,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// Who recorded it; absent when the contact did (an unsubscribe link).
    pub recorded_by: Option<Uuid>,
}

/// A contact's recorded decisions, one per channel with one.
#[derive(Debug, Object)]
pub struct ConsentList {
    /// By channel; a channel without a decision is not listed.
    pub items: Vec<Consent>,
}

/// A decision to record, replacing the channel's earlier one.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ConsentBody {
    /// The channel it is about.
    pub channel: Channel,
    /// The decision.
    pub status: ConsentStatus,
    /// Where the decision came from, 1 to 200 characters.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub source: String,
}

impl Example for ConsentBody {
    fn example() -> Self {
        Self {
            channel: Channel::Email,
            status: ConsentStatus::OptedIn,
            source: "newsletter sign-up form".to_owned(),
        }
    }
}
