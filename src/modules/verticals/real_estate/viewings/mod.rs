//! Viewings: a prospective buyer or renter visits a property with an agent. Two
//! viewings that are not cancelled never overlap for one property or one agent: the
//! exclusion constraints say so, so no race between two bookings can break it.

mod api;
mod store;

pub use api::ViewingsApi;
pub use store::BOOK_SQL;

use chrono::{DateTime, Utc};
use poem_openapi::{Object, types::MaybeUndefined};
use uuid::Uuid;

use super::ViewingStatus;
use crate::platform::{
    error::ApiError,
    list::SortOrder,
    validation::{Fields, patch_value},
};

/// How long a viewing lasts when the booking does not say.
pub const DEFAULT_DURATION_MINUTES: i32 = 30;

/// A viewing.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Viewing {
    /// The viewing's id.
    pub id: Uuid,
    /// The property visited.
    pub property_id: Uuid,
    /// The prospective buyer or renter: a contact of the tenant.
    pub contact_id: Uuid,
    /// The agent leading it: a user of the tenant.
    pub agent_id: Uuid,
    /// When it starts.
    pub scheduled_at: DateTime<Utc>,
    /// How long it lasts, in minutes.
    pub duration_minutes: i32,
    /// When it ends (`scheduled_at` plus the duration).
    pub ends_at: DateTime<Utc>,
    /// Notes for the agent.
    #[oai(validator(max_length = 10000))]
    pub notes: Option<String>,
    /// What happened to it.
    pub status: ViewingStatus,
    /// The buyer's feedback, once it took place.
    pub feedback: Option<ViewingFeedback>,
    /// When it was booked.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

/// What the buyer or renter thought of the property.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ViewingFeedback {
    /// Interest, from 1 (none) to 5 (very keen).
    pub interest: i32,
    /// What they said.
    pub comments: Option<String>,
    /// When the feedback was recorded.
    pub recorded_at: DateTime<Utc>,
}

/// Feedback to record.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct FeedbackBody {
    /// Interest, from 1 (none) to 5 (very keen).
    #[oai(validator(minimum(value = "1"), maximum(value = "5")))]
    pub interest: i32,
    /// Up to 10,000 characters.
    #[oai(validator(max_length = 10000))]
    pub comments: Option<String>,
}

/// A booking. Unknown fields (such as `tenant_id` or `status`) are ignored.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct NewViewingBody {
    /// The prospective buyer or renter: a contact of the same tenant.
    pub contact_id: Uuid,
    /// The agent leading it, a user of the same tenant; default: the caller.
    pub agent_id: Option<Uuid>,
    /// When it starts.
    pub scheduled_at: DateTime<Utc>,
    /// 5 to 480 minutes; default 30.
    #[oai(validator(minimum(value = "5"), maximum(value = "480")))]
    pub duration_minutes: Option<i32>,
    /// Up to 10,000 characters.
    #[oai(validator(max_length = 10000))]
    pub notes: Option<String>,
}

/// Changes to a viewing: absent fields stay as they are; `null` clears an optional one.
/// Moving it re-checks double booking; `COMPLETED` and `NO_SHOW` are possible once it
/// has started; `feedback` needs `COMPLETED` (set both in one request if you like).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct ViewingPatchBody {
    /// A contact of the same tenant.
    pub contact_id: Option<Uuid>,
    /// A user of the same tenant.
    pub agent_id: Option<Uuid>,
    /// A new start.
    pub scheduled_at: Option<DateTime<Utc>>,
    /// 5 to 480 minutes.
    #[oai(validator(minimum(value = "5"), maximum(value = "480")))]
    pub duration_minutes: Option<i32>,
    /// Up to 10,000 characters.
    #[oai(validator(max_length = 10000))]
    pub notes: MaybeUndefined<String>,
    /// What happened; `CANCELLED` frees the slot.
    pub status: Option<ViewingStatus>,
    /// The buyer's feedback; `null` removes it.
    pub feedback: MaybeUndefined<FeedbackBody>,
}

/// A list of viewings.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ViewingPage {
    /// The viewings of this page, earliest first.
    pub items: Vec<Viewing>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Filters of the agenda.
#[derive(Default)]
pub struct ViewingFilter {
    pub property_id: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub agent_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    pub status: Option<ViewingStatus>,
}

/// Viewings are listed by start time, earliest first.
#[derive(Debug, Clone, Copy)]
pub struct ByStart;

impl SortOrder for ByStart {
    fn name(self) -> &'static str {
        "scheduled_at"
    }

    fn expression(self) -> &'static str {
        "scheduled_at"
    }

    fn sql_type(self) -> &'static str {
        "timestamptz"
    }

    fn descending(self) -> bool {
        false
    }
}

/// A validated booking, defaults applied.
pub struct NewViewing {
    pub property_id: Uuid,
    pub contact_id: Uuid,
    pub agent_id: Uuid,
    pub scheduled_at: DateTime<Utc>,
    pub duration_minutes: i32,
    pub notes: Option<String>,
}

impl NewViewing {
    /// Validates `body` for `property_id`; the agent defaults to `caller`.
    pub fn parse(property_id: Uuid, caller: Uuid, body: NewViewingBody) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let viewing = Self {
            property_id,
            contact_id: body.contact_id,
            agent_id: body.agent_id.unwrap_or(caller),
            scheduled_at: fields.instant("scheduled_at", body.scheduled_at),
            duration_minutes: duration(
                &mut fields,
                body.duration_minutes.unwrap_or(DEFAULT_DURATION_MINUTES),
            ),
            notes: fields.optional_text("notes", body.notes.as_deref(), 10_000),
        };
        fields.finish()?;
        Ok(viewing)
    }
}

/// Validated feedback.
pub struct Feedback {
    pub interest: i32,
    pub comments: Option<String>,
}

/// A validated change: `None` keeps a field, `Some(None)` clears an optional one.
pub struct ViewingPatch {
    pub contact_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub duration_minutes: Option<i32>,
    pub notes: Option<Option<String>>,
    pub status: Option<ViewingStatus>,
    pub feedback: Option<Option<Feedback>>,
}

impl TryFrom<ViewingPatchBody> for ViewingPatch {
    type Error = ApiError;

    fn try_from(body: ViewingPatchBody) -> Result<Self, ApiError> {
        let mut fields = Fields::new();
        let patch = Self {
            contact_id: body.contact_id,
            agent_id: body.agent_id,
            scheduled_at: body
                .scheduled_at
                .map(|at| fields.instant("scheduled_at", at)),
            duration_minutes: body.duration_minutes.map(|v| duration(&mut fields, v)),
            notes: patch_value(body.notes, |v| {
                fields.optional_text("notes", Some(&v), 10_000)
            }),
            status: body.status,
            feedback: patch_value(body.feedback, |v| {
                if !(1..=5).contains(&v.interest) {
                    fields.error("feedback.interest", "must be between 1 and 5");
                }
                Some(Feedback {
                    interest: v.interest,
                    comments: fields.optional_text(
                        "feedback.comments",
                        v.comments.as_deref(),
                        10_000,
                    ),
                })
            }),
        };
        fields.finish()?;
        Ok(patch)
    }
}

fn duration(fields: &mut Fields, minutes: i32) -> i32 {
    if !(5..=480).contains(&minutes) {
        fields.error("duration_minutes", "must be between 5 and 480 minutes");
    }
    minutes
}

impl poem_openapi::types::Example for FeedbackBody {
    fn example() -> Self {
        Self {
            interest: 4,
            comments: Some("Loved the light; worried about the stairs.".into()),
        }
    }
}

impl poem_openapi::types::Example for NewViewingBody {
    fn example() -> Self {
        Self {
            contact_id: Uuid::from_u128(0x0190_a8a4_6e2e_7000_8000_0000_0000_0001),
            agent_id: None,
            scheduled_at: DateTime::from_timestamp(1_893_492_000, 0).unwrap_or_default(),
            duration_minutes: Some(45),
            notes: Some("Bring the floor plan.".into()),
        }
    }
}

impl poem_openapi::types::Example for ViewingPatchBody {
    fn example() -> Self {
        Self {
            contact_id: None,
            agent_id: None,
            scheduled_at: None,
            duration_minutes: None,
            notes: MaybeUndefined::Undefined,
            status: Some(ViewingStatus::Completed),
            feedback: MaybeUndefined::Value(
                <FeedbackBody as poem_openapi::types::Example>::example(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booking_defaults_to_the_caller_and_thirty_minutes() {
        let caller = Uuid::now_v7();
        let body = NewViewingBody {
            contact_id: Uuid::now_v7(),
            agent_id: None,
            scheduled_at: Utc::now(),
            duration_minutes: None,
            notes: Some("  ".to_owned()),
        };
        let viewing = NewViewing::parse(Uuid::now_v7(), caller, body).expect("valid");
        assert_eq!(viewing.agent_id, caller);
        assert_eq!(viewing.duration_minutes, 30);
        assert_eq!(viewing.notes, None);
    }

    #[test]
    fn feedback_interest_is_one_to_five() {
        let body = |interest| ViewingPatchBody {
            contact_id: None,
            agent_id: None,
            scheduled_at: None,
            duration_minutes: Some(1),
            notes: MaybeUndefined::Undefined,
            status: None,
            feedback: MaybeUndefined::Value(FeedbackBody {
                interest,
                comments: None,
            }),
        };
        let Err(ApiError::Validation(errors)) = ViewingPatch::try_from(body(6)) else {
            panic!("expected a validation error")
        };
        let named: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(named, ["duration_minutes", "feedback.interest"]);
    }
}
