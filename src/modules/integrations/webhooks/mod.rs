//! Webhooks: a tenant's managers register endpoints; every change to a subscribed kind
//! of record becomes a message to each subscribed endpoint, written in the transaction
//! of the change, and the worker host delivers it, signed the Standard Webhooks way.
//!
//! Tables and functions: `migrations/V15__webhooks.sql` in this folder, and
//! `V16__events_of_every_module.sql`: the interface every module's triggers emit their
//! events through ([`crate::platform::events`]).
//!
//! - **Endpoints** (`webhook_endpoints`): URL, event-type filter (`contact.created`,
//!   `contact.*`, `*`), description, enabled flag; owners and admins only, under the
//!   tenant guard. The URL is checked when it is saved (http or https, no credentials,
//!   no address literal webhooks may not reach) and again, after DNS, at every delivery
//!   ([`Guard`]). The event types are checked against the deployment's
//!   [`Catalogue`]: every event kind its modules declare.
//! - **Secrets** (`webhook_secrets`): made here ([`new_secret`]), shown once in the answer
//!   that creates the endpoint, never readable again by the application role.
//! - **Messages** (`webhook_messages`): written by the owner's triggers only, so an event
//!   exists if and only if its change committed, and the application role cannot forge
//!   one. Their `data` is the record as the API returns it; the OpenAPI document
//!   describes each kind's message from the schema its kind declares.
//! - **Delivery**: the worker's webhook job claims due messages across tenants through
//!   the dispatcher door, delivers and settles them; retries, give-up and 410 are the
//!   database's decisions (see the migration's reading guide), and so are the caps on
//!   what is in flight to one endpoint and one tenant across every worker (V21).
//!
//! [`Guard`]: crate::platform::webhooks::Guard
//! [`new_secret`]: crate::platform::webhooks::new_secret

mod api;
mod store;

pub use api::WebhooksApi;

use chrono::{DateTime, Utc};
use poem_openapi::{Enum, Object, types::Example};
use uuid::Uuid;

use crate::platform::{
    error::ApiError,
    events::{Catalogue, DataSchema, EventKind},
    module::{Constraint, Meaning, Migration, ModuleInfo},
    validation::Fields,
    webhooks::Guard,
};

pub const MODULE: ModuleInfo = ModuleInfo {
    name: "webhooks",
    title: "Webhooks",
    switchable: false,
    constraints: &[Constraint {
        // A secret for an endpoint of the path that does not exist (for this tenant).
        name: "webhook_secrets_endpoint_fkey",
        meaning: Meaning::NotFound,
    }],
    events: &[],
    notified_records: &[],
    migrations: &[
        Migration {
            name: "V15__webhooks",
            sql: include_str!("migrations/V15__webhooks.sql"),
        },
        Migration {
            name: "V16__events_of_every_module",
            sql: include_str!("migrations/V16__events_of_every_module.sql"),
        },
        Migration {
            name: "V20__webhook_health_and_log",
            sql: include_str!("migrations/V20__webhook_health_and_log.sql"),
        },
        Migration {
            name: "V21__deliveries_across_workers",
            sql: include_str!("migrations/V21__deliveries_across_workers.sql"),
        },
    ],
};

/// The test message (`POST /webhooks/endpoints/{id}/test`): sent to one endpoint on a
/// manager's request, whatever it subscribes to, so it is no kind of the [`Catalogue`].
pub const PING: EventKind = EventKind {
    name: "webhook.test",
    description: "A manager asked for a test message (`POST /webhooks/endpoints/{id}/test`); `data` names the endpoint. Sent whatever the endpoint subscribes to.",
    data: DataSchema::of::<WebhookTest>(),
};

/// The `data` of a `webhook.test` message.
#[derive(Debug, Object)]
pub struct WebhookTest {
    /// The endpoint it was sent to.
    pub endpoint_id: Uuid,
}

/// A receiver of the tenant's events.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Endpoint {
    /// The endpoint's id.
    pub id: Uuid,
    /// Where the events are POSTed.
    pub url: String,
    /// What it is for.
    pub description: String,
    /// The events it receives: event types, `<resource>.*` or `*`.
    pub event_types: Vec<String>,
    /// Whether events are sent to it.
    pub enabled: bool,
    /// Why the platform disabled it: the receiver answered 410 Gone, or every delivery
    /// failed for more than 5 days (the tenant's owners and admins were emailed).
    pub disabled_reason: Option<String>,
    /// When its current failure streak began: the first failed attempt since the last
    /// delivery. Absent while deliveries succeed.
    pub failing_since: Option<DateTime<Utc>>,
    /// Failed attempts since the last delivery.
    pub consecutive_failures: i32,
    /// When the endpoint was created.
    pub created_at: DateTime<Utc>,
    /// When the endpoint last changed.
    pub updated_at: DateTime<Utc>,
}

/// A new endpoint and its signing secret, which is shown this once.
#[derive(Debug, Object)]
pub struct CreatedEndpoint {
    #[oai(flatten)]
    pub endpoint: Endpoint,
    /// The signing secret (`whsec_…`): verify each delivery's `webhook-signature` with
    /// it, as the Standard Webhooks libraries do. It is not shown again.
    pub secret: String,
}

/// One page of the tenant's endpoints.
#[derive(Debug, Object)]
pub struct EndpointList {
    /// Oldest first.
    pub items: Vec<Endpoint>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// An endpoint to create. Unknown fields are ignored.
#[derive(Debug, Object)]
#[oai(example)]
pub struct NewEndpointBody {
    /// An http or https URL, up to 2,000 characters; stored as parsed (for example with
    /// a `/` for an empty path).
    #[oai(validator(min_length = 8, max_length = 2000))]
    pub url: String,
    /// Up to 500 characters.
    #[oai(validator(max_length = 500))]
    pub description: Option<String>,
    /// 1 to 50 event types (see `GET /webhooks/event-types`), `<resource>.*` or `*`.
    #[oai(validator(min_items = 1, max_items = 50, unique_items))]
    pub event_types: Vec<String>,
}

impl Example for NewEndpointBody {
    fn example() -> Self {
        Self {
            url: "https://hooks.example.com/crm".to_owned(),
            description: Some("Sync contacts to the mailing list".to_owned()),
            event_types: vec!["contact.*".to_owned()],
        }
    }
}

/// Changes to an endpoint: absent fields stay as they are.
#[derive(Debug, Object)]
#[oai(example)]
pub struct EndpointPatchBody {
    /// An http or https URL, up to 2,000 characters.
    #[oai(validator(min_length = 8, max_length = 2000))]
    pub url: Option<String>,
    /// Up to 500 characters; empty clears it.
    #[oai(validator(max_length = 500))]
    pub description: Option<String>,
    /// 1 to 50 event types, `<resource>.*` or `*`.
    #[oai(validator(min_items = 1, max_items = 50, unique_items))]
    pub event_types: Option<Vec<String>>,
    /// `false` pauses it: changes are not queued for it, and what was queued waits;
    /// `true` resumes it, also after the platform disabled it.
    pub enabled: Option<bool>,
}

impl Example for EndpointPatchBody {
    fn example() -> Self {
        Self {
            url: None,
            description: None,
            event_types: Some(vec!["contact.created".to_owned()]),
            enabled: Some(true),
        }
    }
}

/// What became of an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// The receiver answered 2xx; the message is not sent again.
    Delivered,
    /// It is tried again at `next_attempt_at`.
    Retrying,
    /// No attempt follows (8 attempts, or a 410), unless it is redelivered.
    GivenUp,
}

/// One delivery attempt, as the endpoint's log keeps it.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Attempt {
    /// The attempt's id (the log's cursor names it).
    pub id: Uuid,
    /// The message's id: its `webhook-id`, the same on every attempt.
    pub message_id: Uuid,
    /// The message's event type.
    pub event_type: String,
    /// 1 for the first attempt of the message.
    pub attempt: i32,
    /// When it began (it ended `duration_ms` later).
    pub attempted_at: DateTime<Utc>,
    /// The receiver's HTTP status; absent when it did not answer.
    pub status: Option<i32>,
    /// How long the attempt took, in milliseconds.
    pub duration_ms: i32,
    /// The start of the answer's body, or why there was no answer.
    pub response: String,
    /// What became of it.
    pub outcome: AttemptOutcome,
    /// When the message is tried again (outcome `retrying`).
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// One page of an endpoint's delivery log.
#[derive(Debug, Object)]
pub struct AttemptList {
    /// Newest first.
    pub items: Vec<Attempt>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// What to send again: one message, or every message written since a time.
#[derive(Debug, Clone, Copy)]
pub enum Redelivery {
    Message(Uuid),
    Since(DateTime<Utc>),
}

/// How many messages go out again.
#[derive(Debug, Object)]
pub struct Redelivered {
    /// Messages queued again (those a worker is sending right now are left alone).
    pub requeued: i64,
}

/// The test message queued for an endpoint.
#[derive(Debug, Object)]
pub struct Ping {
    /// The message's id: the `webhook-id` it arrives with, and its id in the log.
    pub message_id: Uuid,
}

/// A new signing secret, shown this once.
#[derive(Debug, Object)]
pub struct RotatedSecret {
    /// The new secret (`whsec_…`); every delivery is signed with it from now on.
    pub secret: String,
    /// Until when deliveries are also signed with the previous secrets.
    pub previous_valid_until: DateTime<Utc>,
}

/// An event type of the catalogue.
#[derive(Debug, Object)]
pub struct EventType {
    /// As endpoints name it, and as the `type` of its messages.
    #[oai(rename = "type")]
    pub name: String,
    /// What it means, and what its `data` is.
    pub description: String,
}

/// Every event type an endpoint may subscribe to.
#[derive(Debug, Object)]
pub struct EventTypeList {
    /// In the order of the catalogue.
    pub items: Vec<EventType>,
}

/// A checked [`EndpointPatchBody`].
#[derive(Debug)]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

impl EndpointPatch {
    /// Checks the fields present as [`NewEndpoint::check`] does.
    pub fn check(
        body: EndpointPatchBody,
        guard: &Guard,
        events: &Catalogue,
    ) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let url = body.url.map(|url| checked_url(&mut fields, guard, &url));
        let description = body
            .description
            .map(|text| checked_description(&mut fields, Some(&text)));
        if let Some(types) = &body.event_types {
            check_event_types(&mut fields, types, events);
        }
        fields.finish()?;
        Ok(Self {
            url,
            description,
            event_types: body.event_types,
            enabled: body.enabled,
        })
    }
}

/// The URL as parsed, or an error on `url`.
fn checked_url(fields: &mut Fields, guard: &Guard, url: &str) -> String {
    let url = fields.text("url", url, 8, 2000);
    match guard.check_url(&url) {
        Ok(parsed) => parsed.to_string(),
        Err(err) => {
            fields.error("url", err.to_string());
            url
        }
    }
}

fn checked_description(fields: &mut Fields, text: Option<&str>) -> String {
    fields
        .optional_text("description", text, 500)
        .unwrap_or_default()
}

fn check_event_types(fields: &mut Fields, types: &[String], events: &Catalogue) {
    for (index, name) in types.iter().enumerate() {
        if !events.subscribable(name) {
            fields.error(
                &format!("event_types[{index}]"),
                "is not an event type (see GET /webhooks/event-types), `<resource>.*` or `*`",
            );
        }
    }
}

/// A checked [`NewEndpointBody`].
#[derive(Debug)]
pub struct NewEndpoint {
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
}

impl NewEndpoint {
    /// Checks the event types against `events` and the URL against `guard`.
    pub fn check(
        body: NewEndpointBody,
        guard: &Guard,
        events: &Catalogue,
    ) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let description = checked_description(&mut fields, body.description.as_deref());
        let url = checked_url(&mut fields, guard, &body.url);
        check_event_types(&mut fields, &body.event_types, events);
        fields.finish()?;
        Ok(Self {
            url,
            description,
            event_types: body.event_types,
        })
    }
}
