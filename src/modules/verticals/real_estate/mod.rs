//! Real Estate: properties on an agency's books, viewings booked without double
//! booking, and buyers' saved requirements matched against properties both ways.
//!
//! - [`properties`]: `/properties` CRUD, filters, sorts and keyset pagination.
//! - [`viewings`]: `/properties/{id}/viewings`, `/viewings` (the agenda) and feedback;
//!   the exclusion constraints `viewings_property_overlap` and `viewings_agent_overlap`
//!   make double booking impossible, whatever the concurrency.
//! - [`buyers`]: `/contacts/{id}/requirements` and the two `matches` queries.
//!
//! Tables: `migrations/V4__real_estate.sql` in this folder. Tests:
//! `tests/api/modules/verticals/real_estate.rs`; pgTAP: `tests/sql/`.

mod buyers;
mod properties;
mod viewings;

/// The SQL of booking a viewing, and its default length, for the benchmark's pgbench
/// scripts.
pub use viewings::{BOOK_SQL, DEFAULT_DURATION_MINUTES};

use poem_openapi::{Enum, Tags};

use crate::platform::{
    db::TenantTx,
    error::ApiError,
    events::{DataSchema, EventKind},
    module::{self, Constraint, Meaning, Migration, ModuleInfo, NotifiedRecord},
    state::SharedState,
    tenancy::TenantContext,
};

/// The Real Estate vertical: switchable per deployment and per tenant.
pub const MODULE: ModuleInfo = ModuleInfo {
    name: "real_estate",
    title: "Real Estate",
    switchable: true,
    constraints: &[
        Constraint {
            name: "properties_owner_contact_fkey",
            meaning: Meaning::MissingReference("owner_contact_id"),
        },
        Constraint {
            name: "properties_agent_fkey",
            meaning: Meaning::MissingReference("agent_id"),
        },
        Constraint {
            name: "viewings_agent_fkey",
            meaning: Meaning::MissingReference("agent_id"),
        },
        Constraint {
            name: "viewings_contact_fkey",
            meaning: Meaning::MissingReference("contact_id"),
        },
        // The property and the buyer are the path's id: like a missing resource.
        Constraint {
            name: "viewings_property_fkey",
            meaning: Meaning::NotFound,
        },
        Constraint {
            name: "buyer_requirements_contact_fkey",
            meaning: Meaning::NotFound,
        },
        Constraint {
            name: "viewings_property_overlap",
            meaning: Meaning::Conflict("The property or the agent is already booked at that time."),
        },
        Constraint {
            name: "viewings_agent_overlap",
            meaning: Meaning::Conflict("The property or the agent is already booked at that time."),
        },
        Constraint {
            name: "viewings_outcome_after_start",
            meaning: Meaning::Invalid {
                field: "status",
                message: "a viewing can be COMPLETED or NO_SHOW only once it has started",
            },
        },
        Constraint {
            name: "viewings_feedback_when_completed",
            meaning: Meaning::Invalid {
                field: "feedback",
                message: "can be recorded only for a COMPLETED viewing",
            },
        },
    ],
    events: &[
        EventKind {
            name: "property.created",
            description: "A property was created; `data` is the property as `GET /properties/{id}` returns it.",
            data: DataSchema::of::<properties::Property>(),
        },
        EventKind {
            name: "property.updated",
            description: "A property changed; `data` is the property as it now is.",
            data: DataSchema::of::<properties::Property>(),
        },
        EventKind {
            name: "property.deleted",
            description: "A property was deleted; `data` is the property as it was.",
            data: DataSchema::of::<properties::Property>(),
        },
        EventKind {
            name: "viewing.booked",
            description: "A viewing was booked; `data` is the viewing as `GET /viewings/{id}` returns it.",
            data: DataSchema::of::<viewings::Viewing>(),
        },
        EventKind {
            name: "viewing.rescheduled",
            description: "A viewing's time or length changed; `data` is the viewing as it now is.",
            data: DataSchema::of::<viewings::Viewing>(),
        },
        EventKind {
            name: "viewing.cancelled",
            description: "A viewing was cancelled; `data` is the viewing as it now is.",
            data: DataSchema::of::<viewings::Viewing>(),
        },
        EventKind {
            name: "viewing.completed",
            description: "A viewing took place; `data` is the viewing as it now is, with the feedback when it was given.",
            data: DataSchema::of::<viewings::Viewing>(),
        },
        EventKind {
            name: "viewing.no_show",
            description: "The buyer did not come to a viewing; `data` is the viewing as it now is.",
            data: DataSchema::of::<viewings::Viewing>(),
        },
        EventKind {
            name: "viewing.updated",
            description: "Anything else about a viewing changed (its notes or its feedback); `data` is the viewing as it now is.",
            data: DataSchema::of::<viewings::Viewing>(),
        },
    ],
    notified_records: &[NotifiedRecord {
        record_type: "viewing",
        variables_sql: "SELECT app.viewing_variables(v) AS variables, v.contact_id \
                        FROM viewings v WHERE v.id = $1",
    }],
    migrations: &[
        Migration {
            name: "V4__real_estate",
            sql: include_str!("migrations/V4__real_estate.sql"),
        },
        Migration {
            name: "V11__city_key",
            sql: include_str!("migrations/V11__city_key.sql"),
        },
        Migration {
            name: "V18__real_estate_events",
            sql: include_str!("migrations/V18__real_estate_events.sql"),
        },
        Migration {
            name: "V26__viewing_notifications",
            sql: include_str!("migrations/V26__viewing_notifications.sql"),
        },
        Migration {
            name: "V33__viewing_variables_for_previews",
            sql: include_str!("migrations/V33__viewing_variables_for_previews.sql"),
        },
        Migration {
            name: "V35__reminders_before_quiet_hours",
            sql: include_str!("migrations/V35__reminders_before_quiet_hours.sql"),
        },
    ],
};

/// The vertical's operations, tagged with its tag.
pub type Api = (
    properties::PropertiesApi,
    viewings::ViewingsApi,
    buyers::BuyersApi,
);

pub fn api(state: &SharedState) -> Api {
    (
        properties::PropertiesApi::new(state.clone()),
        viewings::ViewingsApi::new(state.clone()),
        buyers::BuyersApi::new(state.clone()),
    )
}

/// Every real-estate operation carries this tag in the OpenAPI document.
#[derive(Tags)]
enum RealEstateTags {
    /// Real Estate module: properties, viewings and buyer requirements. Answers 404
    /// when the deployment (`CRM_MODULES`) or the tenant (`/tenant/modules`) has the
    /// module off.
    #[oai(rename = "Real Estate")]
    RealEstate,
}

/// Opens a Real Estate transaction (see [`module::begin`]).
async fn begin<T>(
    state: &SharedState,
    context: TenantContext,
    input: Result<T, ApiError>,
) -> Result<(TenantTx, T), ApiError> {
    module::begin(state, &MODULE, context, input, false).await
}

/// [`begin`] for a list page that may be a text search.
async fn begin_searching<T>(
    state: &SharedState,
    context: TenantContext,
    input: Result<T, ApiError>,
    searches: bool,
) -> Result<(TenantTx, T), ApiError> {
    module::begin(state, &MODULE, context, input, searches).await
}

/// SALE or RENT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ListingType {
    Sale,
    Rent,
}

/// What kind of property it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PropertyType {
    House,
    Apartment,
    Commercial,
    Land,
}

/// Where a property is in its life on the market.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Default)]
#[oai(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PropertyStatus {
    #[default]
    Available,
    Pending,
    Sold,
    Rented,
}

/// What happened to a viewing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Default)]
#[oai(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ViewingStatus {
    #[default]
    Scheduled,
    Completed,
    Cancelled,
    NoShow,
}
